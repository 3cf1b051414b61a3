//! Control groups, v1 (one hierarchy per controller) and v2 (unified), behind one API.
//!
//! The daemon calls the free functions with a spec's `linux.cgroupsPath` (e.g.
//! `/berth/<id>`); the monitor uses [`Cgroup`] to create, join and remove. The cgroup root
//! is a field so that unit tests can drive the v2 logic against a fake directory tree.

use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the host mounts cgroups.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Legacy or hybrid: one hierarchy per controller (the unified mount is ignored).
    V1,
    /// Unified hierarchy mounted at /sys/fs/cgroup.
    V2,
}

/// Detects the layout: v2 only when /sys/fs/cgroup itself is cgroup2.
#[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
pub fn detect() -> CgroupVersion {
    match nix::sys::statfs::statfs(DEFAULT_ROOT) {
        Ok(s) if s.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    }
}

/// A cgroup v1 hierarchy as mounted on the host.
#[derive(Debug, Clone)]
pub(crate) struct Hierarchy {
    pub mountpoint: PathBuf,
    /// Mount data naming the hierarchy, e.g. `cpu,cpuacct` or `name=systemd`.
    pub options: String,
}

/// All cgroup v1 hierarchies from /proc/self/mountinfo.
pub(crate) fn v1_hierarchies() -> Vec<Hierarchy> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_v1_mountinfo(&info)
}

fn parse_v1_mountinfo(info: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let post: Vec<&str> = post.split(' ').collect();
        if post.first() != Some(&"cgroup") || post.len() < 3 {
            continue;
        }
        let Some(mp) = pre.split(' ').nth(4) else {
            continue;
        };
        let opts: Vec<&str> = post[2]
            .split(',')
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro" | "clone_children" | "noprefix" | "xattr" | "cpuset_v2_mode"
                ) && !o.starts_with("release_agent=")
            })
            .collect();
        if opts.is_empty()
            || out
                .iter()
                .any(|h: &Hierarchy| h.mountpoint == Path::new(mp))
        {
            continue;
        }
        out.push(Hierarchy {
            mountpoint: PathBuf::from(mp.replace("\\040", " ")),
            options: opts.join(","),
        });
    }
    out
}

/// Resource usage of one cgroup, in the units `docker stats` wants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupStats {
    /// Current memory usage in bytes (including page cache).
    pub memory_usage: u64,
    /// Peak memory usage (v1 only; 0 on v2 kernels without memory.peak).
    pub memory_max_usage: u64,
    /// Memory limit in bytes (`u64::MAX`-like huge value when unlimited).
    pub memory_limit: u64,
    /// Page cache bytes (v1 `total_cache`, v2 `file`).
    pub memory_cache: u64,
    /// Raw memory.stat key/values.
    pub memory_stat: HashMap<String, u64>,
    /// Total CPU time used, nanoseconds.
    pub cpu_total_ns: u64,
    /// Per-CPU usage, nanoseconds (v1 only).
    pub cpu_percpu_ns: Vec<u64>,
    /// CPU time in user mode, nanoseconds.
    pub cpu_user_ns: u64,
    /// CPU time in kernel mode, nanoseconds.
    pub cpu_kernel_ns: u64,
    /// Host-wide CPU time from /proc/stat, nanoseconds (docker's `system_cpu_usage`).
    pub system_cpu_ns: u64,
    /// Number of online CPUs.
    pub online_cpus: u32,
    /// Number of tasks.
    pub pids_current: u64,
    /// Task limit, `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// Bytes read from block devices.
    pub blkio_read_bytes: u64,
    /// Bytes written to block devices.
    pub blkio_write_bytes: u64,
}

/// One container's cgroup: a relative path under every hierarchy (v1) or the unified root.
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: CgroupVersion,
    /// v1: (mountpoint, options) per hierarchy; v2: the single root.
    roots: Vec<Hierarchy>,
    path: PathBuf,
}

impl Cgroup {
    /// The cgroup `cgroups_path` on this host.
    pub fn new(cgroups_path: &str) -> Cgroup {
        match detect() {
            CgroupVersion::V2 => Cgroup::v2_at(Path::new(DEFAULT_ROOT), cgroups_path),
            CgroupVersion::V1 => Cgroup {
                version: CgroupVersion::V1,
                roots: v1_hierarchies(),
                path: rel(cgroups_path),
            },
        }
    }

    /// A v2 cgroup under an arbitrary root (tests use a fake tree).
    pub fn v2_at(root: &Path, cgroups_path: &str) -> Cgroup {
        Cgroup {
            version: CgroupVersion::V2,
            roots: vec![Hierarchy {
                mountpoint: root.to_path_buf(),
                options: String::new(),
            }],
            path: rel(cgroups_path),
        }
    }

    /// Which layout this cgroup lives in.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The directories of this cgroup (one per v1 hierarchy, one for v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.roots
            .iter()
            .map(|h| h.mountpoint.join(&self.path))
            .collect()
    }

    fn dir_for(&self, controller: &str) -> Option<PathBuf> {
        if self.version == CgroupVersion::V2 {
            return Some(self.roots[0].mountpoint.join(&self.path));
        }
        self.roots
            .iter()
            .find(|h| h.options.split(',').any(|o| o == controller))
            .map(|h| h.mountpoint.join(&self.path))
    }

    /// Creates the cgroup (parents too) and applies `resources`.
    pub fn create(&self, resources: Option<&LinuxResources>) -> io::Result<()> {
        for h in &self.roots {
            let dir = h.mountpoint.join(&self.path);
            fs::create_dir_all(&dir).map_err(|e| ctx(e, &dir))?;
            if self.version == CgroupVersion::V1 && h.options.split(',').any(|o| o == "cpuset") {
                init_cpuset(&h.mountpoint, &self.path)?;
            }
        }
        if self.version == CgroupVersion::V2 {
            self.enable_controllers();
        }
        if let Some(r) = resources {
            self.apply(r)?;
        }
        Ok(())
    }

    /// v2: delegates the root's controllers down to our cgroup's parent.
    fn enable_controllers(&self) {
        let root = &self.roots[0].mountpoint;
        let avail = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let mut cur = root.clone();
        for c in self.path.components() {
            for ctl in avail.split_whitespace() {
                // A controller that cannot be enabled (e.g. threaded mode) is skipped.
                let _ = write(&cur.join("cgroup.subtree_control"), &format!("+{ctl}"));
            }
            cur.push(c);
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> io::Result<()> {
        for d in self.dirs() {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies (or updates) resource limits.
    pub fn apply(&self, r: &LinuxResources) -> io::Result<()> {
        match self.version {
            CgroupVersion::V1 => self.apply_v1(r),
            CgroupVersion::V2 => self.apply_v2(r),
        }
    }

    fn apply_v1(&self, r: &LinuxResources) -> io::Result<()> {
        if let (Some(m), Some(d)) = (r.memory(), self.dir_for("memory")) {
            let lim = |v: i64| {
                if v < 0 {
                    "-1".to_string()
                } else {
                    v.to_string()
                }
            };
            match (m.limit(), m.swap()) {
                (Some(l), Some(s)) => {
                    // memsw must stay >= limit: order the writes so every step is valid.
                    if write(&d.join("memory.limit_in_bytes"), &lim(l)).is_err() {
                        write(&d.join("memory.memsw.limit_in_bytes"), &lim(s))?;
                        write(&d.join("memory.limit_in_bytes"), &lim(l))?;
                    } else {
                        write_opt(&d.join("memory.memsw.limit_in_bytes"), &lim(s))?;
                    }
                }
                (Some(l), None) => write(&d.join("memory.limit_in_bytes"), &lim(l))?,
                (None, Some(s)) => write_opt(&d.join("memory.memsw.limit_in_bytes"), &lim(s))?,
                (None, None) => {}
            }
            if let Some(v) = m.reservation() {
                write(&d.join("memory.soft_limit_in_bytes"), &lim(v))?;
            }
            if let Some(v) = m.swappiness() {
                if v <= 100 {
                    write_opt(&d.join("memory.swappiness"), &v.to_string())?;
                }
            }
            if m.disable_oom_killer() == Some(true) {
                write(&d.join("memory.oom_control"), "1")?;
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(d) = self.dir_for("cpu") {
                if let Some(v) = c.shares() {
                    write(&d.join("cpu.shares"), &v.to_string())?;
                }
                if let Some(v) = c.period() {
                    write(&d.join("cpu.cfs_period_us"), &v.to_string())?;
                }
                if let Some(v) = c.quota() {
                    write(&d.join("cpu.cfs_quota_us"), &v.to_string())?;
                }
                if let Some(v) = c.realtime_period() {
                    write_opt(&d.join("cpu.rt_period_us"), &v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime() {
                    write_opt(&d.join("cpu.rt_runtime_us"), &v.to_string())?;
                }
            }
            if let Some(d) = self.dir_for("cpuset") {
                if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                    write(&d.join("cpuset.cpus"), v)?;
                }
                if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                    write(&d.join("cpuset.mems"), v)?;
                }
            }
        }
        if let (Some(p), Some(d)) = (r.pids(), self.dir_for("pids")) {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write(&d.join("pids.max"), &v)?;
        }
        if let (Some(b), Some(d)) = (r.block_io(), self.dir_for("blkio")) {
            if let Some(w) = b.weight() {
                // CFQ's file, else BFQ's; kernels with neither only warn in Docker.
                write_first(
                    &[d.join("blkio.weight"), d.join("blkio.bfq.weight")],
                    &w.to_string(),
                )?;
            }
            for wd in b.weight_device().as_deref().unwrap_or(&[]) {
                if let Some(w) = wd.weight() {
                    let _ = write_opt(
                        &d.join("blkio.weight_device"),
                        &format!("{}:{} {}", wd.major(), wd.minor(), w),
                    );
                }
            }
            for (file, list) in [
                (
                    "blkio.throttle.read_bps_device",
                    b.throttle_read_bps_device(),
                ),
                (
                    "blkio.throttle.write_bps_device",
                    b.throttle_write_bps_device(),
                ),
                (
                    "blkio.throttle.read_iops_device",
                    b.throttle_read_iops_device(),
                ),
                (
                    "blkio.throttle.write_iops_device",
                    b.throttle_write_iops_device(),
                ),
            ] {
                for t in list.as_deref().unwrap_or(&[]) {
                    write(
                        &d.join(file),
                        &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                    )?;
                }
            }
        }
        if let (Some(devs), Some(d)) = (r.devices(), self.dir_for("devices")) {
            for dev in devs {
                let t = dev
                    .typ()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or("a".into());
                let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or("*".into());
                let rule = format!(
                    "{} {}:{} {}",
                    t,
                    n(dev.major()),
                    n(dev.minor()),
                    dev.access().as_deref().unwrap_or("rwm")
                );
                let file = if dev.allow() {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write(&d.join(file), &rule)?;
            }
        }
        Ok(())
    }

    fn apply_v2(&self, r: &LinuxResources) -> io::Result<()> {
        let d = self.roots[0].mountpoint.join(&self.path);
        let max = |v: i64| if v < 0 { "max".into() } else { v.to_string() };
        if let Some(m) = r.memory() {
            if let Some(l) = m.limit() {
                write(&d.join("memory.max"), &max(l))?;
            }
            if let Some(s) = m.swap() {
                // OCI swap is memory+swap; v2's swap.max is swap alone.
                let v = match (s, m.limit()) {
                    (s, _) if s < 0 => "max".to_string(),
                    (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write_opt(&d.join("memory.swap.max"), &v)?;
            }
            if let Some(v) = m.reservation() {
                write(&d.join("memory.low"), &max(v))?;
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(s) = c.shares() {
                write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
            }
            if c.quota().is_some() || c.period().is_some() {
                let q = c.quota().map(max).unwrap_or("max".into());
                let p = c.period().unwrap_or(100_000);
                write(&d.join("cpu.max"), &format!("{q} {p}"))?;
            }
            if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                write(&d.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                write(&d.join("cpuset.mems"), v)?;
            }
        }
        if let Some(p) = r.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write(&d.join("pids.max"), &v)?;
        }
        if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
            let v = 1 + (w.clamp(10, 1000) as u64 - 10) * 9999 / 990;
            // Like runc: BFQ's own file (1..1000, no scaling) when the scheduler is loaded —
            // io.weight only acts through iocost, which BFQ-scheduled disks ignore — else
            // io.weight scaled to 1..10000.
            if d.join("io.bfq.weight").exists() {
                write(&d.join("io.bfq.weight"), &w.to_string())?;
            } else {
                write_opt(&d.join("io.weight"), &format!("default {v}"))?;
            }
        }
        if let Some(b) = r.block_io() {
            for wd in b.weight_device().as_deref().unwrap_or(&[]) {
                let Some(w) = wd.weight() else { continue };
                let dev = format!("{}:{}", wd.major(), wd.minor());
                if d.join("io.bfq.weight").exists() {
                    write(&d.join("io.bfq.weight"), &format!("{dev} {w}"))?;
                } else {
                    let v = 1 + (w.clamp(10, 1000) as u64 - 10) * 9999 / 990;
                    write_opt(&d.join("io.weight"), &format!("{dev} {v}"))?;
                }
            }
            // io.max takes every limit of one device on one line.
            let mut limits: std::collections::BTreeMap<(i64, i64), Vec<String>> =
                Default::default();
            for (key, list) in [
                ("rbps", b.throttle_read_bps_device()),
                ("wbps", b.throttle_write_bps_device()),
                ("riops", b.throttle_read_iops_device()),
                ("wiops", b.throttle_write_iops_device()),
            ] {
                for t in list.as_deref().unwrap_or(&[]) {
                    limits
                        .entry((t.major(), t.minor()))
                        .or_default()
                        .push(format!("{key}={}", t.rate()));
                }
            }
            for ((major, minor), parts) in limits {
                write(
                    &d.join("io.max"),
                    &format!("{major}:{minor} {}", parts.join(" ")),
                )?;
            }
        }
        for (k, v) in r.unified().as_ref().into_iter().flatten() {
            if k.contains('/') || k.starts_with('.') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid unified key {k}"),
                ));
            }
            write(&d.join(k), v)?;
        }
        // v2 has no devices.allow: the allow-list is a BPF program on the cgroup.
        if let Some(devs) = r
            .devices()
            .as_ref()
            .filter(|_| crate::device_bpf::on_cgroup2(&d))
        {
            crate::device_bpf::load_and_attach(&d, devs)?;
        }
        Ok(())
    }

    /// PIDs in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let d = self
            .dir_for("pids")
            .or_else(|| self.dirs().into_iter().next());
        d.and_then(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Number of OOM kills the kernel recorded for this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            CgroupVersion::V1 => ("memory.oom_control", "oom_kill"),
            CgroupVersion::V2 => ("memory.events", "oom_kill"),
        };
        self.dir_for("memory")
            .and_then(|d| fs::read_to_string(d.join(file)).ok())
            .map(|s| kv(&s).get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Freezes or thaws every task, waiting until the kernel reports the new state.
    pub fn freeze(&self, frozen: bool) -> io::Result<()> {
        match self.version {
            CgroupVersion::V1 => {
                let d = self
                    .dir_for("freezer")
                    .ok_or_else(|| io::Error::other("no freezer hierarchy"))?;
                let want = if frozen { "FROZEN" } else { "THAWED" };
                for i in 0..1000 {
                    if i % 50 == 0 {
                        write(&d.join("freezer.state"), want)?;
                    }
                    if fs::read_to_string(d.join("freezer.state"))?.trim() == want {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("freezer state did not become {want}"),
                ))
            }
            CgroupVersion::V2 => {
                let d = self.roots[0].mountpoint.join(&self.path);
                write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
                let want = frozen as u64;
                for _ in 0..1000 {
                    let ev = fs::read_to_string(d.join("cgroup.events"))?;
                    if kv(&ev).get("frozen").copied() == Some(want) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "cgroup did not reach the frozen state",
                ))
            }
        }
    }

    /// Collects usage statistics.
    pub fn stats(&self) -> io::Result<CgroupStats> {
        let mut s = CgroupStats::default();
        let (sys, cpus) = system_cpu(Path::new("/proc/stat"));
        s.system_cpu_ns = sys;
        s.online_cpus = cpus;
        match self.version {
            CgroupVersion::V1 => {
                if let Some(d) = self.dir_for("memory") {
                    s.memory_usage = read_u64(&d.join("memory.usage_in_bytes"))?;
                    s.memory_max_usage =
                        read_u64(&d.join("memory.max_usage_in_bytes")).unwrap_or(0);
                    s.memory_limit = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(0);
                    s.memory_stat =
                        kv(&fs::read_to_string(d.join("memory.stat")).unwrap_or_default());
                    s.memory_cache = s
                        .memory_stat
                        .get("total_cache")
                        .or(s.memory_stat.get("cache"))
                        .copied()
                        .unwrap_or(0);
                }
                if let Some(d) = self.dir_for("cpuacct") {
                    s.cpu_total_ns = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
                    s.cpu_percpu_ns = fs::read_to_string(d.join("cpuacct.usage_percpu"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect();
                    let st = kv(&fs::read_to_string(d.join("cpuacct.stat")).unwrap_or_default());
                    let tick = 1_000_000_000 / clk_tck();
                    s.cpu_user_ns = st.get("user").copied().unwrap_or(0) * tick;
                    s.cpu_kernel_ns = st.get("system").copied().unwrap_or(0) * tick;
                }
                if let Some(d) = self.dir_for("pids") {
                    s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
                    s.pids_limit = read_u64(&d.join("pids.max")).ok();
                }
                if let Some(d) = self.dir_for("blkio") {
                    let t = fs::read_to_string(d.join("blkio.throttle.io_service_bytes"))
                        .unwrap_or_default();
                    for l in t.lines() {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        if f.len() == 3 {
                            let v: u64 = f[2].parse().unwrap_or(0);
                            match f[1] {
                                "Read" => s.blkio_read_bytes += v,
                                "Write" => s.blkio_write_bytes += v,
                                _ => {}
                            }
                        }
                    }
                }
            }
            CgroupVersion::V2 => {
                let d = self.roots[0].mountpoint.join(&self.path);
                s.memory_usage = read_u64(&d.join("memory.current"))?;
                s.memory_max_usage = read_u64(&d.join("memory.peak")).unwrap_or(0);
                s.memory_limit = read_u64(&d.join("memory.max")).unwrap_or(u64::MAX);
                s.memory_stat = kv(&fs::read_to_string(d.join("memory.stat")).unwrap_or_default());
                s.memory_cache = s.memory_stat.get("file").copied().unwrap_or(0);
                let cpu = kv(&fs::read_to_string(d.join("cpu.stat")).unwrap_or_default());
                s.cpu_total_ns = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
                s.cpu_user_ns = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
                s.cpu_kernel_ns = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
                s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
                s.pids_limit = read_u64(&d.join("pids.max")).ok();
                for l in fs::read_to_string(d.join("io.stat"))
                    .unwrap_or_default()
                    .lines()
                {
                    for f in l.split_whitespace().skip(1) {
                        if let Some((k, v)) = f.split_once('=') {
                            let v: u64 = v.parse().unwrap_or(0);
                            match k {
                                "rbytes" => s.blkio_read_bytes += v,
                                "wbytes" => s.blkio_write_bytes += v,
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        Ok(s)
    }

    /// SIGKILLs every process left in the cgroup, frozen first so none can fork past the
    /// sweep (runc's `signalAllProcesses`), until the cgroup is empty or a second passed.
    pub fn kill_all(&self) {
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            let frozen = self.freeze(true).is_ok();
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if frozen {
                let _ = self.freeze(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Removes the cgroup directories, retrying while the last tasks finish exiting.
    pub fn remove(&self) -> io::Result<()> {
        let mut first_err = None;
        for d in self.dirs() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) if tries < 100 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        first_err.get_or_insert(ctx(e, &d));
                        break;
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Usage statistics for the cgroup at `cgroups_path`.
pub fn stats(cgroups_path: &str) -> io::Result<CgroupStats> {
    Cgroup::new(cgroups_path).stats()
}

/// Freezes (`docker pause`) or thaws (`docker unpause`) the cgroup.
pub fn freeze(cgroups_path: &str, frozen: bool) -> io::Result<()> {
    Cgroup::new(cgroups_path).freeze(frozen)
}

/// Applies new limits to a running container (`docker update`).
pub fn update(cgroups_path: &str, resources: &LinuxResources) -> io::Result<()> {
    Cgroup::new(cgroups_path).apply(resources)
}

/// PIDs (host namespace) of every process in the cgroup (`docker top`).
pub fn pids(cgroups_path: &str) -> Vec<i32> {
    Cgroup::new(cgroups_path).pids()
}

/// Removes the cgroup (after the container is gone).
pub fn remove(cgroups_path: &str) -> io::Result<()> {
    Cgroup::new(cgroups_path).remove()
}

fn rel(p: &str) -> PathBuf {
    PathBuf::from(p.trim_start_matches('/'))
}

fn ctx(e: io::Error, p: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

fn write(p: &Path, v: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .map_err(|e| ctx(e, p))?;
    f.write_all(v.as_bytes()).map_err(|e| ctx(e, p))
}

/// Write to a file that may not exist on every kernel (swap accounting, blkio weight).
fn write_opt(p: &Path, v: &str) -> io::Result<()> {
    match write(p, v) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Writes `v` to the first of `files` that exists; Ok when none does.
fn write_first(files: &[PathBuf], v: &str) -> io::Result<()> {
    for f in files {
        match write(f, v) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            r => return r,
        }
    }
    Ok(())
}

fn read_u64(p: &Path) -> io::Result<u64> {
    let s = fs::read_to_string(p).map_err(|e| ctx(e, p))?;
    let s = s.trim();
    if s == "max" {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "unlimited"));
    }
    s.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: bad number", p.display()),
        )
    })
}

fn kv(s: &str) -> HashMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

/// Host CPU time (ns) and online CPU count from /proc/stat, as docker computes them.
fn system_cpu(p: &Path) -> (u64, u32) {
    let s = fs::read_to_string(p).unwrap_or_default();
    let mut total = 0;
    let mut cpus = 0;
    for l in s.lines() {
        if let Some(rest) = l.strip_prefix("cpu ") {
            let ticks: u64 = rest
                .split_whitespace()
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum();
            total = ticks * (1_000_000_000 / clk_tck());
        } else if l.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus)
}

/// v1 cpuset cgroups start empty; copy cpus/mems from the parent at each new level so
/// tasks can be attached.
fn init_cpuset(mountpoint: &Path, path: &Path) -> io::Result<()> {
    let mut cur = mountpoint.to_path_buf();
    for c in path.components() {
        let parent = cur.clone();
        cur.push(c);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read_to_string(cur.join(f)).unwrap_or_default();
            if mine.trim().is_empty() {
                let p = fs::read_to_string(parent.join(f)).unwrap_or_default();
                write(&cur.join(f), p.trim())?;
            }
        }
    }
    Ok(())
}

/// v1 cpu.shares → v2 cpu.weight, the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The cgroup directories (host paths) a running process is in, from /proc/<pid>/cgroup;
/// the exec monitor moves the exec'd process into the same ones.
pub(crate) fn dirs_of_pid(pid: i32) -> io::Result<Vec<PathBuf>> {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let version = detect();
    let hier = if version == CgroupVersion::V1 {
        v1_hierarchies()
    } else {
        vec![]
    };
    let mut out = Vec::new();
    for l in s.lines() {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let rp = path.trim_start_matches('/');
        match version {
            CgroupVersion::V2 => {
                if ctrls.is_empty() {
                    out.push(Path::new(DEFAULT_ROOT).join(rp));
                }
            }
            CgroupVersion::V1 => {
                if ctrls.is_empty() {
                    continue;
                }
                if let Some(h) = hier.iter().find(|h| h.options == ctrls) {
                    out.push(h.mountpoint.join(rp));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxResources;

    fn fake_v2() -> (tempfile::TempDir, Cgroup) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids").unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let cg = Cgroup::v2_at(root, "/berth/abc");
        fs::create_dir_all(root.join("berth/abc")).unwrap();
        fs::write(root.join("berth/cgroup.subtree_control"), "").unwrap();
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "cpu.weight",
            "cpu.max",
            "cpuset.cpus",
            "pids.max",
            "io.weight",
            "io.max",
            "cgroup.procs",
            "cgroup.freeze",
        ] {
            fs::write(root.join("berth/abc").join(f), "").unwrap();
        }
        (d, cg)
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn v2_create_and_apply() {
        let (d, cg) = fake_v2();
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 16777216, "swap": 33554432, "reservation": 8388608},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 100},
            "blockIO": {"weight": 500}
        }))
        .unwrap();
        cg.create(Some(&r)).unwrap();
        let c = d.path().join("berth/abc");
        assert_eq!(read(&c.join("memory.max")), "16777216");
        assert_eq!(read(&c.join("memory.swap.max")), "16777216");
        assert_eq!(read(&c.join("memory.low")), "8388608");
        assert_eq!(read(&c.join("cpu.weight")), "39");
        assert_eq!(read(&c.join("cpu.max")), "50000 100000");
        assert_eq!(read(&c.join("cpuset.cpus")), "0");
        assert_eq!(read(&c.join("pids.max")), "100");
        assert_eq!(read(&c.join("io.weight")), "default 4950");
        // The last controller written to each ancestor's subtree_control (fake files keep
        // only the last write).
        assert_eq!(read(&d.path().join("cgroup.subtree_control")), "+pids");
        assert_eq!(
            read(&d.path().join("berth/cgroup.subtree_control")),
            "+pids"
        );

        cg.add_pid(4242).unwrap();
        assert_eq!(read(&c.join("cgroup.procs")), "4242");
        assert_eq!(cg.pids(), vec![4242]);

        let unlimited: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0},
            "cpu": {"quota": -1}
        }))
        .unwrap();
        cg.apply(&unlimited).unwrap();
        assert_eq!(read(&c.join("memory.max")), "max");
        assert_eq!(read(&c.join("memory.swap.max")), "max");
        assert_eq!(read(&c.join("pids.max")), "max");
        assert_eq!(read(&c.join("cpu.max")), "max 100000");
    }

    #[test]
    fn v2_device_limits_go_to_io_max_one_line_per_device() {
        let (d, cg) = fake_v2();
        let c = d.path().join("berth/abc");
        let r: LinuxResources = serde_json::from_value(serde_json::json!({"blockIO": {
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIopsDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "weightDevice": [{"major": 8, "minor": 0, "weight": 200}]
        }}))
        .unwrap();
        cg.apply(&r).unwrap();
        assert_eq!(read(&c.join("io.max")), "8:0 rbps=1048576 wiops=100");
        assert_eq!(read(&c.join("io.weight")), "8:0 1920");
    }

    #[test]
    fn blkio_weight_falls_back_to_bfq() {
        let (d, cg) = fake_v2();
        let c = d.path().join("berth/abc");
        fs::remove_file(c.join("io.weight")).unwrap();
        fs::write(c.join("io.bfq.weight"), "100").unwrap();
        let r: LinuxResources =
            serde_json::from_value(serde_json::json!({"blockIO": {"weight": 300}})).unwrap();
        cg.apply(&r).unwrap();
        assert_eq!(read(&c.join("io.bfq.weight")), "300");
        // With both files (BFQ loaded, iocost built in) BFQ's wins, as in runc.
        fs::write(c.join("io.weight"), "default 100").unwrap();
        let r: LinuxResources =
            serde_json::from_value(serde_json::json!({"blockIO": {"weight": 500}})).unwrap();
        cg.apply(&r).unwrap();
        assert_eq!(read(&c.join("io.bfq.weight")), "500");
        assert_eq!(read(&c.join("io.weight")), "default 100");
        // v1: CFQ's file when present, else BFQ's, else nothing (and no error).
        let v1 = tempfile::tempdir().unwrap();
        let (cfq, bfq) = (
            v1.path().join("blkio.weight"),
            v1.path().join("blkio.bfq.weight"),
        );
        fs::write(&bfq, "100").unwrap();
        write_first(&[cfq.clone(), bfq.clone()], "300").unwrap();
        assert_eq!(read(&bfq), "300");
        assert!(!cfq.exists());
        fs::write(&cfq, "500").unwrap();
        write_first(&[cfq.clone(), bfq.clone()], "700").unwrap();
        assert_eq!((read(&cfq), read(&bfq)), ("700".into(), "300".into()));
        write_first(&[v1.path().join("none")], "1").unwrap();
    }

    #[test]
    fn v2_stats_oom_freeze() {
        let (d, cg) = fake_v2();
        let c = d.path().join("berth/abc");
        fs::write(c.join("memory.current"), "1048576\n").unwrap();
        fs::write(c.join("memory.max"), "max\n").unwrap();
        fs::write(c.join("memory.stat"), "anon 10\nfile 4096\n").unwrap();
        fs::write(
            c.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        )
        .unwrap();
        fs::write(c.join("pids.current"), "3\n").unwrap();
        fs::write(c.join("pids.max"), "max\n").unwrap();
        fs::write(
            c.join("io.stat"),
            "8:0 rbytes=100 wbytes=200 rios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .unwrap();
        fs::write(
            c.join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let s = cg.stats().unwrap();
        assert_eq!(s.memory_usage, 1048576);
        assert_eq!(s.memory_limit, u64::MAX);
        assert_eq!(s.memory_cache, 4096);
        assert_eq!(s.cpu_total_ns, 1_500_000);
        assert_eq!(s.cpu_user_ns, 1_000_000);
        assert_eq!(s.pids_current, 3);
        assert_eq!(s.pids_limit, None);
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (101, 202));
        assert!(s.online_cpus >= 1);
        assert_eq!(cg.oom_kills(), 1);

        fs::write(c.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        cg.freeze(true).unwrap();
        assert_eq!(read(&c.join("cgroup.freeze")), "1");
        fs::write(c.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        cg.freeze(false).unwrap();
        assert_eq!(read(&c.join("cgroup.freeze")), "0");

        for f in fs::read_dir(&c).unwrap() {
            fs::remove_file(f.unwrap().path()).unwrap();
        }
        cg.remove().unwrap();
        assert!(!c.exists());
        cg.remove().unwrap();
    }

    #[test]
    fn mountinfo_parse() {
        let info = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
";
        let h = parse_v1_mountinfo(info);
        let got: Vec<(String, String)> = h
            .iter()
            .map(|h| (h.mountpoint.display().to_string(), h.options.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/sys/fs/cgroup/cpu".into(), "cpu".into()),
                ("/sys/fs/cgroup/systemd".into(), "name=systemd".into()),
                ("/sys/fs/cgroup/cpu,cpuacct".into(), "cpu,cpuacct".into()),
            ]
        );
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10000);
    }
}

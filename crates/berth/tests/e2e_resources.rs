//! End-to-end: resource and user controls on cgroup v1, read back from the host's cgroup
//! files, from inside the container and from `docker inspect`; `docker update` on a running
//! container; and the refusals Docker makes, with its texts.

mod common;

use common::TestDaemon;
use std::path::Path;

/// True when this host mounts cgroup v1 controllers (the tests here read v1 files).
fn v1() -> bool {
    berth_testkit::host_has(
        Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
        "not a cgroup v1 host (the v2 path is e2e_cgroup_v2_vm's)",
    )
}

/// A cgroup file of a container, trimmed; `None` when the kernel lacks the file.
fn cg(d: &TestDaemon, id: &str, ctrl: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/{ctrl}/{}/{id}/{file}",
        d.cgroup_parent
    ))
    .ok()
    .map(|s| s.trim().to_string())
}

#[track_caller]
fn cgv(d: &TestDaemon, id: &str, ctrl: &str, file: &str) -> String {
    cg(d, id, ctrl, file).unwrap_or_else(|| panic!("{ctrl}/{file} missing"))
}

/// The blkio weight file this kernel has (CFQ's or BFQ's), if any.
fn blkio_weight(d: &TestDaemon, id: &str) -> Option<String> {
    cg(d, id, "blkio", "blkio.weight")
        .or_else(|| cg(d, id, "blkio", "blkio.bfq.weight"))
        .map(|s| s.trim_start_matches("default ").to_string())
}

fn has_sys_resource() -> bool {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = common::status_field(&st, "CapEff");
    u64::from_str_radix(&eff, 16).unwrap() & (1 << 24) != 0
}

fn ncpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn memory_flags_v1() {
    daemon!(d);
    if !v1() {
        return;
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "mem",
        "-m",
        "32m",
        "--memory-swap",
        "64m",
        "--memory-reservation",
        "16m",
        "--oom-kill-disable",
        "--oom-score-adj",
        "500",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("mem", "{{.Id}}");
    assert_eq!(cgv(&d, &id, "memory", "memory.limit_in_bytes"), "33554432");
    if let Some(sw) = cg(&d, &id, "memory", "memory.memsw.limit_in_bytes") {
        assert_eq!(sw, "67108864");
    }
    assert_eq!(
        cgv(&d, &id, "memory", "memory.soft_limit_in_bytes"),
        "16777216"
    );
    let oc = cgv(&d, &id, "memory", "memory.oom_control");
    assert!(oc.contains("oom_kill_disable 1"), "{oc}");
    let pid = d.inspect("mem", "{{.State.Pid}}");
    let host_adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(host_adj.trim(), "500");
    // An exec carries the container's score, as in moby.
    assert_eq!(
        d.docker(&["exec", "mem", "cat", "/proc/self/oom_score_adj"])
            .out(),
        "500"
    );
    assert_eq!(
        d.inspect(
            "mem",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} \
             {{.HostConfig.OomKillDisable}} {{.HostConfig.OomScoreAdj}}"
        ),
        "33554432 67108864 16777216 true 500"
    );
    // Lowering the score needs CAP_SYS_RESOURCE, which some sandboxed hosts withhold
    // even from root (Docker fails the same way there).
    if !has_sys_resource() {
        berth_testkit::skip("negative --oom-score-adj: no CAP_SYS_RESOURCE on this host");
        return;
    }
    let adj = d
        .docker(&[
            "run",
            "--rm",
            "--oom-score-adj",
            "-300",
            "busybox",
            "cat",
            "/proc/self/oom_score_adj",
        ])
        .out();
    assert_eq!(adj, "-300");
}

#[test]
fn memory_swap_defaults_and_unlimited() {
    daemon!(d);
    if !v1() {
        return;
    }
    // Docker stores twice the memory as the swap limit when none is given.
    d.docker(&[
        "run", "-d", "--name", "dflt", "-m", "32m", "busybox", "sleep", "1000",
    ])
    .ok();
    let id = d.inspect("dflt", "{{.Id}}");
    assert_eq!(
        d.inspect("dflt", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "33554432 67108864"
    );
    if let Some(sw) = cg(&d, &id, "memory", "memory.memsw.limit_in_bytes") {
        assert_eq!(sw, "67108864");
    }
    // oom_kill_disable stays off by default.
    let oc = cgv(&d, &id, "memory", "memory.oom_control");
    assert!(oc.contains("oom_kill_disable 0"), "{oc}");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "unl",
        "-m",
        "32m",
        "--memory-swap",
        "-1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("unl", "{{.Id}}");
    assert_eq!(d.inspect("unl", "{{.HostConfig.MemorySwap}}"), "-1");
    if let Some(sw) = cg(&d, &id, "memory", "memory.memsw.limit_in_bytes") {
        // "unlimited" reads back as the page-rounded maximum.
        assert!(sw.parse::<u64>().unwrap() > 1 << 60, "{sw}");
    }
}

#[test]
fn cpu_pids_blkio_shm_flags_v1() {
    daemon!(d);
    if !v1() {
        return;
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cpu",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "100",
        "--blkio-weight",
        "300",
        "--shm-size",
        "128m",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("cpu", "{{.Id}}");
    assert_eq!(cgv(&d, &id, "cpu", "cpu.shares"), "512");
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cgv(&d, &id, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(cgv(&d, &id, "pids", "pids.max"), "100");
    if let Some(w) = blkio_weight(&d, &id) {
        assert_eq!(w, "300");
    }
    let df = d.docker(&["exec", "cpu", "df", "-k", "/dev/shm"]).out();
    let size = df
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert_eq!(size, "131072", "{df}");
    let allowed = d
        .docker(&[
            "exec",
            "cpu",
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ])
        .out();
    assert!(allowed.ends_with("\t0"), "{allowed}");
    assert_eq!(
        d.inspect(
            "cpu",
            "{{.HostConfig.CpuShares}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} \
             {{.HostConfig.CpusetCpus}} {{.HostConfig.NanoCpus}} {{.HostConfig.BlkioWeight}} \
             {{.HostConfig.PidsLimit}} {{.HostConfig.ShmSize}}"
        ),
        "512 50000 100000 0 0 300 100 134217728"
    );
    // The default /dev/shm is 64 MiB.
    let df = d
        .docker(&["run", "--rm", "busybox", "df", "-k", "/dev/shm"])
        .out();
    let size = df
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert_eq!(size, "65536", "{df}");
}

#[test]
fn cpus_sets_quota_and_period() {
    daemon!(d);
    if !v1() {
        return;
    }
    let cpus = if ncpu() >= 2 { "1.5" } else { "0.5" };
    d.docker(&[
        "run", "-d", "--name", "nc", "--cpus", cpus, "busybox", "sleep", "1000",
    ])
    .ok();
    let id = d.inspect("nc", "{{.Id}}");
    let quota = if ncpu() >= 2 { "150000" } else { "50000" };
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_quota_us"), quota);
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_period_us"), "100000");
    let nano = if ncpu() >= 2 {
        "1500000000"
    } else {
        "500000000"
    };
    assert_eq!(
        d.inspect(
            "nc",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}"
        ),
        format!("{nano} 0 0")
    );
}

#[test]
fn user_and_group_add() {
    daemon!(d);
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--user",
            "1000:1001",
            "--group-add",
            "nobody",
            "--group-add",
            "1234",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    let field = |k: &str| -> Vec<String> {
        let l = st
            .lines()
            .find(|l| l.starts_with(&format!("{k}:")))
            .unwrap_or_else(|| panic!("{k} missing: {st}"));
        let mut v: Vec<String> = l[k.len() + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(field("Uid"), vec!["1000"; 4]);
    assert_eq!(field("Gid"), vec!["1001"; 4]);
    assert_eq!(field("Groups"), vec!["1234", "65534"]);
    let id = d
        .docker(&["run", "--rm", "--user", "nobody", "busybox", "id"])
        .out();
    assert!(
        id.starts_with("uid=65534(nobody) gid=65534(nobody)"),
        "{id}"
    );
    d.docker(&[
        "create",
        "--name",
        "ga",
        "--group-add",
        "nobody",
        "--group-add",
        "42",
        "busybox",
    ])
    .ok();
    assert_eq!(d.inspect("ga", "{{.HostConfig.GroupAdd}}"), "[nobody 42]");
    let o = d.docker(&[
        "run",
        "--rm",
        "--group-add",
        "nosuchgroup",
        "busybox",
        "true",
    ]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("unable to find group nosuchgroup"),
        "{}",
        o.stderr
    );
}

#[test]
fn update_running_container_v1() {
    daemon!(d);
    if !v1() {
        return;
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "up",
        "-m",
        "32m",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "100",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("up", "{{.Id}}");
    let cpuset = if ncpu() >= 2 { "1" } else { "0" };
    d.docker(&[
        "update",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "256",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        cpuset,
        "--pids-limit",
        "200",
        "--blkio-weight",
        "500",
        "up",
    ])
    .ok();
    assert_eq!(cgv(&d, &id, "memory", "memory.limit_in_bytes"), "67108864");
    if let Some(sw) = cg(&d, &id, "memory", "memory.memsw.limit_in_bytes") {
        assert_eq!(sw, "134217728");
    }
    assert_eq!(
        cgv(&d, &id, "memory", "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(cgv(&d, &id, "cpu", "cpu.shares"), "256");
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(cgv(&d, &id, "cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(cgv(&d, &id, "cpuset", "cpuset.cpus"), cpuset);
    assert_eq!(cgv(&d, &id, "pids", "pids.max"), "200");
    if let Some(w) = blkio_weight(&d, &id) {
        assert_eq!(w, "500");
    }
    let want = format!("67108864 134217728 33554432 256 50000 25000 {cpuset} 200 500");
    let fmt = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} \
               {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuShares}} \
               {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpusetCpus}} \
               {{.HostConfig.PidsLimit}} {{.HostConfig.BlkioWeight}}";
    assert_eq!(d.inspect("up", fmt), want);
    // --cpus conflicts with the quota/period already set, as in Docker.
    let o = d.docker(&["update", "--cpus", "0.5", "up"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
        ),
        "{}",
        o.stderr
    );
    // Persisted: survives a daemon restart-free re-read and a container restart.
    d.docker(&["restart", "-t", "0", "up"]).ok();
    assert_eq!(d.inspect("up", fmt), want);
    assert_eq!(cgv(&d, &id, "cpu", "cpu.shares"), "256");
    assert_eq!(cgv(&d, &id, "memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cgv(&d, &id, "pids", "pids.max"), "200");

    // --cpus on a container without quota/period.
    d.docker(&["run", "-d", "--name", "up2", "busybox", "sleep", "1000"])
        .ok();
    let id2 = d.inspect("up2", "{{.Id}}");
    d.docker(&["update", "--cpus", "0.5", "up2"]).ok();
    assert_eq!(cgv(&d, &id2, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgv(&d, &id2, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(d.inspect("up2", "{{.HostConfig.NanoCpus}}"), "500000000");
    let o = d.docker(&["update", "--cpu-quota", "20000", "up2"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        ),
        "{}",
        o.stderr
    );
    // Memory above the stored swap limit needs the swap limit too.
    d.docker(&["update", "-m", "16m", "up2"]).ok();
    assert_eq!(
        d.inspect("up2", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "16777216 33554432"
    );
    let o = d.docker(&["update", "-m", "64m", "up2"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        ),
        "{}",
        o.stderr
    );
    assert_eq!(d.inspect("up2", "{{.HostConfig.Memory}}"), "16777216");
}

#[test]
fn update_refused_by_kernel_keeps_old_values() {
    daemon!(d);
    if !v1() {
        return;
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "full",
        "-m",
        "64m",
        "--memory-swap",
        "64m",
        "--cpu-shares",
        "512",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("full", "{{.Id}}");
    // 24 MiB of shared memory is charged to the container and cannot be reclaimed
    // without swap, so the kernel refuses an 8 MiB limit.
    d.docker(&[
        "exec",
        "full",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=24",
    ])
    .ok();
    let o = d.docker(&[
        "update",
        "--cpu-shares",
        "256",
        "-m",
        "8m",
        "--memory-swap",
        "8m",
        "full",
    ]);
    assert_ne!(o.code, 0, "{}", o.all());
    assert!(o.stderr.contains("Cannot update container"), "{}", o.stderr);
    assert_eq!(cgv(&d, &id, "memory", "memory.limit_in_bytes"), "67108864");
    if let Some(sw) = cg(&d, &id, "memory", "memory.memsw.limit_in_bytes") {
        assert_eq!(sw, "67108864");
    }
    assert_eq!(cgv(&d, &id, "cpu", "cpu.shares"), "512");
    assert_eq!(
        d.inspect(
            "full",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}}"
        ),
        "67108864 67108864 512"
    );
}

#[track_caller]
fn refused(d: &TestDaemon, args: &[&str], needle: &str) {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["busybox", "true"]);
    let o = d.docker(&a);
    assert_ne!(o.code, 0, "{args:?} was accepted");
    assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
}

#[test]
fn refusals_with_dockers_texts() {
    daemon!(d);
    let n = ncpu();
    refused(
        &d,
        &["-m", "32m", "--memory-swap", "16m"],
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    );
    refused(&d, &["-m", "4m"], "Minimum memory limit allowed is 6MB");
    refused(
        &d,
        &["-m", "32m", "--memory-reservation", "64m"],
        "Minimum memory limit can not be less than memory reservation limit, see usage",
    );
    refused(
        &d,
        &["--cpus", "99"],
        &format!("range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"),
    );
    refused(
        &d,
        &["--cpuset-cpus", "99"],
        &format!(
            "Requested CPUs are not available - requested 99, available: {}",
            if n == 1 {
                "0".to_string()
            } else {
                format!("0-{}", n - 1)
            }
        ),
    );
    refused(
        &d,
        &["--cpuset-cpus", "a-b"],
        "Invalid value a-b for cpuset cpus",
    );
    refused(
        &d,
        &["--oom-score-adj", "2000"],
        "Invalid value 2000, range for oom score adj is [-1000, 1000]",
    );
    refused(
        &d,
        &["--cpus", "1", "--cpu-quota", "50000"],
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
    );
    refused(
        &d,
        &["--cpus", "1", "--cpu-period", "50000"],
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
    );
    refused(
        &d,
        &["--memory-reservation", "1k"],
        "Minimum memory reservation allowed is 6MB",
    );
    refused(
        &d,
        &["--cpu-shares", "-5"],
        "invalid CPU shares (-5): value must be a positive integer",
    );
    refused(&d, &["--stop-signal", "BOGUS"], "Invalid signal: BOGUS");
    refused(
        &d,
        &["-w", "relative"],
        "the working directory 'relative' is invalid, it needs to be an absolute path",
    );
    refused(
        &d,
        &["--cpu-period", "500"],
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    );
    refused(
        &d,
        &["--cpu-quota", "500"],
        "CPU cfs quota can not be less than 1ms (i.e. 1000)",
    );
    refused(
        &d,
        &["--blkio-weight", "5"],
        "Range of blkio weight is from 10 to 1000",
    );
    // The same checks on update.
    d.docker(&["run", "-d", "--name", "upd", "busybox", "sleep", "1000"])
        .ok();
    let o = d.docker(&["update", "--cpuset-cpus", "99", "upd"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr
            .contains("Requested CPUs are not available - requested 99"),
        "{}",
        o.stderr
    );
    let o = d.docker(&["update", "--blkio-weight", "5", "upd"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr
            .contains("Range of blkio weight is from 10 to 1000"),
        "{}",
        o.stderr
    );
    let o = d.docker(&["update", "--cpu-period", "500", "upd"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("CPU cfs period can not be less than 1ms"),
        "{}",
        o.stderr
    );
}

/// A block device of this host named under /dev, as `(path, "major:minor")`.
fn some_block_device() -> Option<(String, String)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for name in ["vda", "sda", "nvme0n1", "xvda", "loop0"] {
        let path = format!("/dev/{name}");
        if let Ok(m) = std::fs::metadata(&path) {
            if m.file_type().is_block_device() {
                let rdev = m.rdev();
                let (maj, min) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
                return Some((path, format!("{maj}:{min}")));
            }
        }
    }
    None
}

#[test]
fn device_io_limits_and_refused_knobs() {
    daemon!(d);
    // Knobs berth cannot honour are refused (or dropped with moby's warning), never ignored.
    let refusals: &[(&[&str], &str)] = &[
        (
            &["--gpus", "all"],
            "could not select device driver \"\" with capabilities: [[gpu]]",
        ),
        (
            &["--isolation", "hyperv"],
            "invalid isolation (hyperv): linux only supports 'default'",
        ),
        (&["--cpu-rt-runtime", "950000"], "real-time scheduler"),
        (
            &["--device-read-bps", "/dev/null:1mb"],
            "/dev/null is not a block device",
        ),
    ];
    for (flags, text) in refusals {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let o = d.docker(&args);
        assert_eq!(o.code, 125, "{flags:?}: {}", o.all());
        assert!(o.all().contains(text), "{flags:?}: {}", o.all());
    }
    // A missing volume plugin is a 404 at create, as in moby; the docker CLI takes any 404
    // there for a missing image and tries a pull first, so the API is asked directly.
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"VolumeDriver":"convoy","Binds":["vd:/x"]}}"#,
    );
    r.assert_error(
        404,
        "error looking up volume plugin convoy: plugin \"convoy\" not found",
    );
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"CpuPercent":50}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["Warnings"][0],
        "linux does not support CPU percent. Percent discarded."
    );

    let Some((dev, numbers)) = some_block_device() else {
        berth_testkit::skip("device limits: no block device under /dev");
        return;
    };
    if !v1() {
        return;
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "io",
        "--device-read-bps",
        &format!("{dev}:1mb"),
        "--device-write-iops",
        &format!("{dev}:100"),
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.inspect("io", "{{.Id}}");
    assert_eq!(
        cgv(&d, &id, "blkio", "blkio.throttle.read_bps_device"),
        format!("{numbers} 1048576")
    );
    assert_eq!(
        cgv(&d, &id, "blkio", "blkio.throttle.write_iops_device"),
        format!("{numbers} 100")
    );
    assert_eq!(
        d.inspect(
            "io",
            "{{range .HostConfig.BlkioDeviceReadBps}}{{.Path}} {{.Rate}}{{end}}"
        ),
        format!("{dev} 1048576")
    );
}

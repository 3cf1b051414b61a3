// End-to-end cases for `berth monitor`, shared by berth-runtime's self-exec harness
// (tests/monitor_e2e.rs) and the berth binary's tests (crates/berth/tests/runtime_monitor.rs).
// The including file defines `fn monitor_command() -> std::process::Command` that runs
// `<binary> monitor`. Needs root, busybox at /bin/busybox, cgroups.

use berth_runtime::protocol::{read_frame, write_frame, ExitStatus, FrameKind};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A bundle with a busybox rootfs and a unique cgroup parent; cleans up on drop.
struct Fixture {
    dir: tempfile::TempDir,
    cg_parent: String,
    monitors: Vec<Child>,
}

fn unique() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{t:x}", std::process::id())
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let out = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .unwrap();
        for app in String::from_utf8_lossy(&out.stdout).lines() {
            if app != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app));
            }
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        Fixture {
            dir,
            cg_parent: format!("berth-test-{}", unique()),
            monitors: Vec::new(),
        }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Docker's default spec for `args`, hostname "testhost", unique cgroup.
    fn spec(&self, id: &str, args: &[&str]) -> Value {
        let mut s = serde_json::to_value(berth_runtime::defaults::default_spec()).unwrap();
        s["root"]["path"] = json!(self.rootfs());
        s["hostname"] = json!("testhost");
        s["process"]["args"] = json!(args);
        s["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", self.cg_parent));
        s
    }

    fn bundle(&self, id: &str) -> PathBuf {
        let b = self.dir.path().join("bundles").join(id);
        std::fs::create_dir_all(&b).unwrap();
        b
    }

    /// Spawns `berth monitor` for `spec`; returns the first stdout line (pid or error).
    fn spawn(&mut self, id: &str, spec: &Value, extra: &[&str]) -> (PathBuf, Value) {
        let b = self.bundle(id);
        std::fs::write(b.join("config.json"), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
        let mut cmd = monitor_command();
        cmd.arg("--bundle")
            .arg(&b)
            .arg("--id")
            .arg(id)
            .arg("--log")
            .arg(b.join("container.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(b.join("monitor.log")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.monitors.push(child);
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            panic!(
                "bad monitor line {line:?}: {e}; monitor.log: {}",
                std::fs::read_to_string(b.join("monitor.log")).unwrap_or_default()
            )
        });
        (b, v)
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(&self.cg_parent))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for m in &mut self.monitors {
            let _ = m.kill();
            let _ = m.wait();
        }
        // Containers whose monitor was killed (a failed test) still run: kill them too.
        let subdirs = |d: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(d)
                .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
                .unwrap_or_default()
        };
        for d in self.cgroup_dirs() {
            for sub in subdirs(&d) {
                let procs = std::fs::read_to_string(sub.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: plain kill(2) of a process in our test cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        for d in self.cgroup_dirs() {
            for sub in subdirs(&d) {
                for _ in 0..100 {
                    if std::fs::remove_dir(&sub).is_ok() || !sub.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = std::fs::remove_dir(&d);
        }
        // Nothing of ours may stay mounted on the host.
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let p = self.dir.path().to_string_lossy().to_string();
        assert!(!mi.contains(&p), "mounts left behind under {p}");
    }
}

struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: ExitStatus,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn connect(bundle: &Path) -> UnixStream {
    let s = UnixStream::connect(bundle.join("monitor.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads frames until Exit.
fn collect(mut s: UnixStream) -> Run {
    let mut r = Run {
        stdout: vec![],
        stderr: vec![],
        exit: ExitStatus {
            exit_code: -1,
            oom_killed: false,
            finished_at: String::new(),
            error: None,
        },
    };
    while let Some((k, p)) = read_frame(&mut s).unwrap() {
        match k {
            FrameKind::Stdout => r.stdout.extend(p),
            FrameKind::Stderr => r.stderr.extend(p),
            FrameKind::Exit => {
                r.exit = serde_json::from_slice(&p).unwrap();
                break;
            }
            _ => panic!("unexpected frame {k:?}"),
        }
    }
    r
}

fn start_and_collect(bundle: &Path) -> Run {
    let mut s = connect(bundle);
    write_frame(&mut s, FrameKind::Start, b"").unwrap();
    collect(s)
}

fn run_spec(f: &mut Fixture, id: &str, spec: &Value) -> (PathBuf, Run) {
    let (b, v) = f.spawn(id, spec, &[]);
    assert!(v["pid"].as_i64().is_some_and(|p| p > 0), "{v}");
    let r = start_and_collect(&b);
    (b, r)
}

fn vm_rss_kb(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn case_echo_and_log() {
    let mut f = Fixture::new();
    let spec = f.spec("echo", &["sh", "-c", "echo hi; echo err >&2"]);
    let (b, r) = run_spec(&mut f, "echo", &spec);
    assert_eq!(r.out(), "hi\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    assert_eq!(r.exit.exit_code, 0);
    assert!(!r.exit.oom_killed);
    let log = std::fs::read_to_string(b.join("container.log")).unwrap();
    let recs: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.len(), 2, "{log}");
    let find = |stream: &str| recs.iter().find(|r| r["stream"] == stream).unwrap().clone();
    assert_eq!(find("stdout")["log"], "hi\n");
    assert_eq!(find("stderr")["log"], "err\n");
    assert!(find("stdout")["time"].as_str().unwrap().ends_with('Z'));
    let ex: ExitStatus =
        serde_json::from_slice(&std::fs::read(b.join("exit.json")).unwrap()).unwrap();
    assert_eq!(ex.exit_code, 0);
    assert!(!b.join("monitor.sock").exists());
    for d in f.cgroup_dirs() {
        assert!(!d.join("echo").exists(), "cgroup {} left behind", d.display());
    }
}

pub fn case_exit_code() {
    let mut f = Fixture::new();
    let spec = f.spec("exit3", &["sh", "-c", "exit 3"]);
    let (_, r) = run_spec(&mut f, "exit3", &spec);
    assert_eq!(r.exit.exit_code, 3);
    let spec = f.spec("sig", &["sh", "-c", "sh -c 'kill -KILL $$'; echo $?"]);
    let (_, r) = run_spec(&mut f, "sig", &spec);
    assert_eq!(r.out(), "137\n");
}

pub fn case_namespaces() {
    let mut f = Fixture::new();
    let spec = f.spec(
        "ns",
        &[
            "sh",
            "-c",
            "hostname; echo $$; grep CapEff /proc/self/status; cat /proc/self/cgroup | grep -c ':/$'; \
             echo masked=$(cat /proc/interrupts | wc -c)$(ls /sys/firmware | wc -l); touch /proc/sys/x 2>/dev/null || echo ro-ok; \
             [ -c /dev/null ] && [ -L /dev/ptmx ] && [ -c /dev/pts/ptmx ] && echo dev-ok; \
             readlink /dev/stdout; ls /sys/fs/cgroup | grep -c memory; echo nofile=$(ulimit -n)",
        ],
    );
    let (_, r) = run_spec(&mut f, "ns", &spec);
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "testhost", "{out}");
    assert_eq!(lines[1], "1", "pid 1 inside: {out}");
    assert!(lines[2].ends_with("00000000a80425fb"), "{out}");
    assert_ne!(lines[3], "0", "cgroup namespace rooted at the container's cgroup: {out}");
    assert!(out.contains("masked=00\n"), "masked paths are empty: {out}");
    assert!(out.contains("ro-ok"), "{out}");
    assert!(out.contains("dev-ok"), "{out}");
    assert!(out.contains("/proc/self/fd/1"), "{out}");
    let nofile = spec["process"]["rlimits"][0]["soft"].as_u64().unwrap();
    assert!(out.contains(&format!("nofile={nofile}\n")), "{out}");
    assert_eq!(r.exit.exit_code, 0, "{out} {}", String::from_utf8_lossy(&r.stderr));
}

pub fn case_oom() {
    let mut f = Fixture::new();
    let mut spec = f.spec(
        "oom",
        &["sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"],
    );
    spec["linux"]["resources"]["memory"] = json!({"limit": 16777216, "swap": 16777216});
    let (_, r) = run_spec(&mut f, "oom", &spec);
    assert!(r.exit.oom_killed, "{:?} {}", r.exit, r.out());
    assert_eq!(r.exit.exit_code, 137);
}

pub fn case_tty() {
    let mut f = Fixture::new();
    let mut spec = f.spec(
        "tty",
        &["sh", "-c", "tty; [ -t 0 ] && echo is-tty; stty size; [ -c /dev/console ] && echo console"],
    );
    spec["process"]["terminal"] = json!(true);
    let (b, v) = f.spawn("tty", &spec, &["--tty"]);
    assert!(v["pid"].as_i64().is_some(), "{v}");
    let mut s = connect(&b);
    let mut rc = Vec::new();
    rc.extend_from_slice(&30u16.to_be_bytes());
    rc.extend_from_slice(&100u16.to_be_bytes());
    write_frame(&mut s, FrameKind::Resize, &rc).unwrap();
    write_frame(&mut s, FrameKind::Start, b"").unwrap();
    let r = collect(s);
    assert_eq!(r.out(), "/dev/pts/0\r\nis-tty\r\n30 100\r\nconsole\r\n");
    assert_eq!(r.exit.exit_code, 0);
}

pub fn case_stdin() {
    let mut f = Fixture::new();
    let spec = f.spec("stdin", &["cat"]);
    let (b, _) = f.spawn("stdin", &spec, &["--stdin"]);
    let mut s = connect(&b);
    write_frame(&mut s, FrameKind::Start, b"").unwrap();
    write_frame(&mut s, FrameKind::Stdin, b"abc\n").unwrap();
    write_frame(&mut s, FrameKind::StdinClose, b"").unwrap();
    let r = collect(s);
    assert_eq!(r.out(), "abc\n");
    assert_eq!(r.exit.exit_code, 0);
}

pub fn case_exec_and_reconnect() {
    let mut f = Fixture::new();
    let mut spec = f.spec("long", &["sh", "-c", "echo started; sleep 30"]);
    spec["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"});
    spec["linux"]["resources"]["pids"] = json!({"limit": 50});
    spec["linux"]["resources"]["memory"] = json!({"limit": 268435456, "reservation": 134217728});
    let (b, v) = f.spawn("long", &spec, &[]);
    let pid = v["pid"].as_i64().unwrap() as i32;
    {
        // First client starts the container and goes away.
        let mut s = connect(&b);
        write_frame(&mut s, FrameKind::Start, b"").unwrap();
        let (k, p) = read_frame(&mut s).unwrap().unwrap();
        assert_eq!((k, p.as_slice()), (FrameKind::Stdout, &b"started\n"[..]));
    }
    let mon_pid: i32 = std::fs::read_to_string(b.join("monitor.pid"))
        .unwrap()
        .parse()
        .unwrap();
    // Give the monitor time to go idle (it trims its memory then).
    std::thread::sleep(Duration::from_millis(2500));
    println!(
        "monitor VmRSS: {} kB ({})",
        vm_rss_kb(mon_pid).map_or("?".into(), |v| v.to_string()),
        std::fs::read_to_string(format!("/proc/{mon_pid}/status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("Rss"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Exec joins the container's namespaces and cgroup.
    let eb = f.dir.path().join("execs/e1");
    std::fs::create_dir_all(&eb).unwrap();
    let mut proc_ = spec["process"].clone();
    proc_["args"] = json!(["sh", "-c", "hostname; echo $$; cat /proc/self/cgroup | grep memory"]);
    std::fs::write(eb.join("process.json"), proc_.to_string()).unwrap();
    let mut cmd = monitor_command();
    cmd.args(["--exec", "--id", "e1", "--target-pid", &pid.to_string()])
        .arg("--bundle")
        .arg(&eb)
        .arg("--process")
        .arg(eb.join("process.json"))
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    f.monitors.push(child);
    let v: Value = serde_json::from_str(line.trim()).unwrap();
    assert!(v["pid"].as_i64().is_some(), "{v}");
    let r = start_and_collect(&eb);
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "testhost", "{out}");
    assert_ne!(lines[1], "1", "{out}");
    assert!(lines[1].parse::<u32>().unwrap() < 100, "pid inside the container ns: {out}");
    assert!(lines[2].ends_with(":/"), "same cgroup (ns root): {out}");
    assert_eq!(r.exit.exit_code, 0);

    // Exec with a tty gets its own pty from the container's devpts.
    let eb2 = f.dir.path().join("execs/e2");
    std::fs::create_dir_all(&eb2).unwrap();
    let mut proc_ = spec["process"].clone();
    proc_["args"] = json!(["tty"]);
    proc_["terminal"] = json!(true);
    std::fs::write(eb2.join("process.json"), proc_.to_string()).unwrap();
    let mut cmd = monitor_command();
    cmd.args(["--exec", "--tty", "--id", "e2", "--target-pid", &pid.to_string()])
        .arg("--bundle")
        .arg(&eb2)
        .arg("--process")
        .arg(eb2.join("process.json"))
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    f.monitors.push(child);
    assert!(line.contains("pid"), "{line}");
    let r = start_and_collect(&eb2);
    assert_eq!(r.out(), "/dev/pts/0\r\n");

    // The daemon's cgroup API against the live container.
    let cgp = format!("/{}/long", f.cg_parent);
    if berth_runtime::cgroups::detect() == berth_runtime::cgroups::CgroupVersion::V1 {
        let rd = |ctl: &str, file: &str| {
            std::fs::read_to_string(format!("/sys/fs/cgroup/{ctl}{cgp}/{file}"))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(rd("cpu", "cpu.shares"), "512");
        assert_eq!(rd("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(rd("cpuset", "cpuset.cpus"), "0");
        assert_eq!(rd("pids", "pids.max"), "50");
        assert_eq!(rd("memory", "memory.limit_in_bytes"), "268435456");
        assert_eq!(rd("memory", "memory.soft_limit_in_bytes"), "134217728");
        let upd: berth_runtime::oci_spec::runtime::LinuxResources =
            serde_json::from_value(json!({"pids": {"limit": 60}})).unwrap();
        berth_runtime::cgroups::update(&cgp, &upd).unwrap();
        assert_eq!(rd("pids", "pids.max"), "60");
    }
    let st = berth_runtime::cgroups::stats(&cgp).unwrap();
    assert!(st.memory_usage > 0 && st.pids_current >= 1, "{st:?}");
    assert!(st.cpu_total_ns > 0 && st.system_cpu_ns > 0, "{st:?}");
    assert!(berth_runtime::cgroups::pids(&cgp).contains(&pid));
    berth_runtime::cgroups::freeze(&cgp, true).unwrap();
    berth_runtime::cgroups::freeze(&cgp, false).unwrap();

    // A new client can connect, Start is ignored, Signal kills the container.
    let mut s = connect(&b);
    write_frame(&mut s, FrameKind::Start, b"").unwrap();
    write_frame(&mut s, FrameKind::Signal, &9u32.to_be_bytes()).unwrap();
    let r = collect(s);
    assert_eq!(r.exit.exit_code, 137);
    assert!(!r.exit.oom_killed);
}

pub fn case_no_fd_leak() {
    let mut f = Fixture::new();
    // An fd without CLOEXEC in the parent would be inherited by the monitor.
    let file = std::fs::File::open("/etc/hostname").unwrap_or_else(|_| std::fs::File::open("/").unwrap());
    let fd = 77;
    // SAFETY: dup2 onto a fixed high number without O_CLOEXEC, closed below.
    unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), fd) };
    let spec = f.spec(
        "fds",
        &["sh", "-c", "if [ -e /proc/self/fd/77 ]; then echo leak; else echo clean; fi"],
    );
    let (_, r) = run_spec(&mut f, "fds", &spec);
    // SAFETY: closing the descriptor we created above.
    unsafe { libc::close(fd) };
    assert_eq!(r.out(), "clean\n");
}

pub fn case_start_errors() {
    let mut f = Fixture::new();
    let spec = f.spec("nosuch", &["nosuch"]);
    let (b, v) = f.spawn("nosuch", &spec, &[]);
    assert_eq!(
        v["error"], "exec: \"nosuch\": executable file not found in $PATH",
        "{v}"
    );
    assert_eq!(v["exit_code"], 127);
    assert!(!b.join("monitor.sock").exists());

    let mut spec = f.spec("cwd", &["pwd"]);
    spec["process"]["cwd"] = json!("../../../tmp");
    let (_, v) = f.spawn("cwd", &spec, &[]);
    assert!(v["error"].as_str().unwrap().contains("cwd"), "{v}");

    let spec = f.spec("noexec", &["/etc/passwd"]);
    let (_, v) = f.spawn("noexec", &spec, &[]);
    assert_eq!(v["exit_code"], 126, "{v}");
    for m in &mut f.monitors {
        assert_eq!(m.wait().unwrap().code(), Some(1));
    }
    for d in f.cgroup_dirs() {
        assert!(!d.join("nosuch").exists());
    }
}

pub fn case_init() {
    let mut f = Fixture::new();
    let mut spec = f.spec("init", &["sh", "-c", "echo $$; exit 5"]);
    spec["annotations"] = json!({"org.berth.init": "true"});
    let (_, r) = run_spec(&mut f, "init", &spec);
    assert_eq!(r.out(), "2\n");
    assert_eq!(r.exit.exit_code, 5);

    // Signals reach the process through the init (a plain pid 1 would ignore SIGTERM).
    // The signal goes only once the command runs: the init forwards signals from before
    // it forks, and a pid 1 with no handler yet would drop it.
    let mut spec = f.spec("init2", &["sh", "-c", "echo ready; exec sleep 30"]);
    spec["annotations"] = json!({"org.berth.init": "true"});
    let (b, v) = f.spawn("init2", &spec, &[]);
    // Until it execs, the container's first process names no host path.
    let pid = v["pid"].as_i64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"berth\0init\0"),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    let mut s = connect(&b);
    write_frame(&mut s, FrameKind::Start, b"").unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("ready") {
        match read_frame(&mut s).unwrap() {
            Some((FrameKind::Stdout, p)) => seen.extend(p),
            Some((FrameKind::Stderr, _)) => {}
            other => panic!("expected the ready line, got {other:?}"),
        }
    }
    write_frame(&mut s, FrameKind::Signal, &15u32.to_be_bytes()).unwrap();
    let r = collect(s);
    assert_eq!(r.exit.exit_code, 143);
}

pub fn case_binds_user_readonly() {
    let mut f = Fixture::new();
    let host_file = f.dir.path().join("hostname");
    std::fs::write(&host_file, "from-host\n").unwrap();
    let host_dir = f.dir.path().join("vol");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::set_permissions(&host_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    // An image symlink pointing at a host path must not redirect a mount destination.
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.rootfs().join("evil")).unwrap();
    let mut spec = f.spec(
        "binds",
        &[
            "sh",
            "-c",
            "cat /etc/hostname; (echo x > /etc/hostname) 2>/dev/null || echo file-ro; \
             echo data > /data/f; touch /rootfile 2>/dev/null || echo root-ro; \
             id -u; id -g; id -G; grep CapEff /proc/self/status; touch /evil/t/x && echo evil-ok",
        ],
    );
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/etc/hostname", "type": "bind",
        "source": host_file, "options": ["rbind", "ro"]}));
    mounts.push(json!({"destination": "/data", "type": "bind",
        "source": host_dir, "options": ["rbind", "rw"]}));
    mounts.push(json!({"destination": "/evil/t", "type": "tmpfs",
        "source": "tmpfs", "options": ["mode=1777"]}));
    spec["root"]["readonly"] = json!(true);
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
    let (_, r) = run_spec(&mut f, "binds", &spec);
    let out = r.out();
    assert_eq!(
        out,
        "from-host\nfile-ro\nroot-ro\n1000\n1000\n1000 10\nCapEff:\t0000000000000000\nevil-ok\n",
        "stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(std::fs::read_to_string(host_dir.join("f")).unwrap(), "data\n");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[allow(dead_code)]
pub const CASES: &[(&str, fn())] = &[
    ("echo_and_log", case_echo_and_log),
    ("exit_code", case_exit_code),
    ("namespaces", case_namespaces),
    ("oom", case_oom),
    ("tty", case_tty),
    ("stdin", case_stdin),
    ("exec_and_reconnect", case_exec_and_reconnect),
    ("no_fd_leak", case_no_fd_leak),
    ("start_errors", case_start_errors),
    ("init", case_init),
    ("binds_user_readonly", case_binds_user_readonly),
];

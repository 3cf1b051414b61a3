//! Containers under OCI runtime binaries (`docker run --runtime runc`, `--add-runtime`,
//! daemon.json `runtimes`), driven by the real docker CLI: the lifecycle subset Docker users
//! rely on, a daemon kill -9 with re-adoption, and the runtime's own arguments.

mod common;

use common::{TestDaemon, DOCKER};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether these tests can run here, and the runtime binary `name` (a counted skip or a
/// failure under the test command when it is missing).
fn prerequisites(name: &str, package: &str) -> Option<PathBuf> {
    if !common::can_run() {
        return None;
    }
    runtime_binary(name, package)
}

/// The runtime binary `name` on this host, or a counted skip when it is missing.
fn runtime_binary(name: &str, package: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    berth_testkit::require(
        found.is_some(),
        &format!("the {name} binary"),
        &format!("apt-get install {package}"),
    );
    found
}

/// The docker CLI under a pty (`script`), for `-it`; returns its exit code and output.
fn docker_tty(d: &TestDaemon, args: &str) -> common::Out {
    let cmd = format!(
        "DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER} {args}",
        d.host(),
        d.docker_config.display(),
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    common::run_cmd(c, Some(b""), Duration::from_secs(60))
}

/// What the runtime says about a container (`<runtime> --root <state> state <id>`).
fn runtime_status(d: &TestDaemon, binary: &Path, root: &str, id: &str) -> String {
    let out = std::process::Command::new(binary)
        .arg("--root")
        .arg(d.exec_root.join("runtimes").join(root))
        .args(["state", id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["status"].as_str().unwrap_or("").to_string()
}

/// The memory limit a container's cgroup holds (v1 or v2).
fn memory_limit(d: &TestDaemon, id: &str) -> String {
    let v1 = PathBuf::from("/sys/fs/cgroup/memory")
        .join(&d.cgroup_parent)
        .join(id)
        .join("memory.limit_in_bytes");
    let v2 = PathBuf::from("/sys/fs/cgroup")
        .join(&d.cgroup_parent)
        .join(id)
        .join("memory.max");
    std::fs::read_to_string(v1)
        .or_else(|_| std::fs::read_to_string(v2))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// run, -d, -it, exec (-it), logs, stop, kill, pause, update, stats, top, a restart
/// policy, --init, and start failures, under the runtime called `name`.
fn lifecycle_subset(d: &TestDaemon, name: &str, binary: &Path, state_root: &str) {
    let o = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        name,
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    o.code(3);
    assert_eq!(o.stdout.trim(), "out", "{o:?}");
    assert_eq!(o.stderr.trim(), "err", "{o:?}");

    // A missing program: Docker's words and exit code, from the runtime's own message.
    let o = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        name,
        "busybox",
        "no-such-program",
    ]);
    o.code(127);
    assert!(
        o.stderr.contains("OCI runtime create failed") && o.stderr.contains("no-such-program"),
        "{o:?}"
    );

    let id = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "svc",
            "--runtime",
            name,
            "--memory",
            "64m",
            "busybox",
            "sh",
            "-c",
            "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ])
        .out();
    assert_eq!(d.inspect("svc", "{{.HostConfig.Runtime}}"), name);
    d.wait_logs("svc", "started");
    assert_eq!(runtime_status(d, binary, state_root, &id), "running");
    assert_eq!(memory_limit(d, &id), (64u64 << 20).to_string());

    // exec: output, exit codes, a missing program, detached, and with a terminal.
    let o = d.docker(&["exec", "svc", "sh", "-c", "echo in-exec; exit 7"]);
    o.code(7);
    assert_eq!(o.stdout.trim(), "in-exec");
    let o = d.docker(&["exec", "svc", "no-such-program"]);
    o.code(127);
    // runc's reason, worded as Docker shows it.
    assert!(
        o.all().contains(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"no-such-program\": executable file not found in $PATH: unknown"
        ) || !name.starts_with("runc"),
        "{o:?}"
    );
    assert!(o.all().contains("OCI runtime exec failed"), "{o:?}");
    d.docker(&["exec", "-d", "svc", "sleep", "300"]).ok();
    let ps = d.docker(&["top", "svc"]).out();
    assert!(ps.contains("sleep 300"), "{ps}");
    let o = docker_tty(d, "exec -it svc sh -c 'tty; exit 4'");
    assert_eq!(o.code, 4, "{o:?}");
    assert!(o.stdout.contains("/dev/pts/"), "{o:?}");

    // pause goes through the runtime: it says so too.
    d.docker(&["pause", "svc"]).ok();
    assert_eq!(d.inspect("svc", "{{.State.Status}}"), "paused");
    assert_eq!(runtime_status(d, binary, state_root, &id), "paused");
    d.docker(&["exec", "svc", "true"]).code(1);
    d.docker(&["unpause", "svc"]).ok();
    assert_eq!(runtime_status(d, binary, state_root, &id), "running");

    // update goes through the runtime to the cgroup.
    d.docker(&["update", "--memory", "96m", "--memory-swap", "192m", "svc"])
        .ok();
    assert_eq!(memory_limit(d, &id), (96u64 << 20).to_string());
    let stats = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.PIDs}} {{.MemUsage}}",
            "svc",
        ])
        .out();
    assert!(
        stats.ends_with("96MiB") && !stats.starts_with("0 "),
        "{stats}"
    );

    d.docker(&["stop", "-t", "5", "svc"]).ok();
    assert_eq!(d.inspect("svc", "{{.State.ExitCode}}"), "0");
    // The runtime's state went with the container.
    assert_eq!(runtime_status(d, binary, state_root, &id), "");
    d.docker(&["start", "svc"]).ok();
    d.docker(&["kill", "svc"]).ok();
    d.wait_status("svc", "exited");
    assert_eq!(d.inspect("svc", "{{.State.ExitCode}}"), "137");
    d.docker(&["rm", "svc"]).ok();

    // A terminal, and its exit code.
    let o = docker_tty(
        d,
        &format!("run -it --rm --runtime {name} busybox sh -c 'tty; exit 5'"),
    );
    assert_eq!(o.code, 5, "{o:?}");
    assert!(o.stdout.contains("/dev/pts/0"), "{o:?}");

    // A restart policy restarts it through the runtime.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--runtime",
        name,
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo try; exit 1",
    ])
    .ok();
    common::wait_for("two restarts", Duration::from_secs(30), || {
        let s = d.inspect("flaky", "{{.RestartCount}} {{.State.Status}}");
        (s == "2 exited").then_some(())
    });
    assert_eq!(d.docker(&["logs", "flaky"]).out().lines().count(), 3);
    d.docker(&["rm", "flaky"]).ok();

    // --init as dockerd does it: the host's docker-init (tini) as pid 1.
    let ps = d
        .docker(&[
            "run",
            "--rm",
            "--init",
            "--runtime",
            name,
            "busybox",
            "ps",
            "-o",
            "pid,args",
        ])
        .out();
    let first = ps.lines().nth(1).unwrap_or("");
    assert!(first.contains("1 /sbin/docker-init -- ps"), "{ps}");
}

#[test]
fn oci_runtime_runc_runs_the_lifecycle_subset() {
    let Some(runc) = prerequisites("runc", "runc") else {
        return;
    };
    let d = TestDaemon::start();
    let info = d.get("/info").json();
    assert_eq!(info["DefaultRuntime"], "berth");
    assert_eq!(info["Runtimes"]["runc"]["path"], runc.display().to_string());
    assert_eq!(
        info["Runtimes"]["io.containerd.runc.v2"]["path"],
        runc.display().to_string()
    );
    let shown = d.docker(&["info", "--format", "{{.DefaultRuntime}}"]).out();
    assert_eq!(shown, "berth");
    lifecycle_subset(&d, "runc", &runc, "runc");
    // containerd's name for runc is the same runc.
    let o = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        "busybox",
        "echo",
        "v2",
    ]);
    assert_eq!(o.out(), "v2");
}

#[test]
fn oci_runtime_runc_containers_survive_a_daemon_kill9() {
    let Some(runc) = prerequisites("runc", "runc") else {
        return;
    };
    let mut d = TestDaemon::start();
    let id = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "kept",
            "--runtime",
            "runc",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done",
        ])
        .out();
    d.wait_logs("kept", "tick");
    d.kill9();
    d.restart_daemon();
    assert_eq!(d.inspect("kept", "{{.State.Status}}"), "running");
    assert_eq!(runtime_status(&d, &runc, "runc", &id), "running");
    assert_eq!(
        d.docker(&["exec", "kept", "echo", "still-here"]).out(),
        "still-here"
    );
    d.docker(&["pause", "kept"]).ok();
    d.docker(&["unpause", "kept"]).ok();
    d.docker(&["stop", "kept"]).ok();
    assert_eq!(d.inspect("kept", "{{.State.ExitCode}}"), "0");
    assert_eq!(runtime_status(&d, &runc, "runc", &id), "");
}

/// A runtime registered in daemon.json (with `runtimeArgs`) and by `--add-runtime`: each
/// is run with its own arguments and state root, and `docker info` lists them.
#[test]
fn oci_runtime_added_runtimes_get_their_arguments() {
    let Some(runc) = prerequisites("runc", "runc") else {
        return;
    };
    // A wrapper that records each call, then is runc.
    let tools = tempfile::tempdir().unwrap();
    let calls = tools.path().join("calls.log");
    let wrapper = tools.path().join("logged-runc");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            runc.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut d = TestDaemon::start_with(common::DaemonOptions {
        args: vec![
            "--add-runtime".into(),
            format!("flagged={}", wrapper.display()),
        ],
        ..Default::default()
    });
    let o = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "flagged",
        "busybox",
        "echo",
        "flagged",
    ]);
    assert_eq!(o.out(), "flagged");
    let log = std::fs::read_to_string(&calls).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with("--root ") && l.contains(" create ")),
        "{log}"
    );
    assert!(
        log.contains(&d.exec_root.join("runtimes/flagged").display().to_string()),
        "{log}"
    );
    std::fs::remove_file(&calls).unwrap();
    d.stop_daemon();
    std::fs::write(
        d.dir.join("daemon.json"),
        serde_json::json!({
            "runtimes": {"logged": {"path": wrapper, "runtimeArgs": ["--rootless=false"]}},
            "default-runtime": "logged",
        })
        .to_string(),
    )
    .unwrap();
    d.restart_daemon();
    let info = d.get("/info").json();
    assert_eq!(info["DefaultRuntime"], "logged");
    assert_eq!(
        info["Runtimes"]["logged"]["runtimeArgs"],
        serde_json::json!(["--rootless=false"])
    );
    let o = d.docker(&[
        "run", "--rm", "--name", "viaw", "busybox", "echo", "wrapped",
    ]);
    assert_eq!(o.out(), "wrapped");
    let log = std::fs::read_to_string(&calls).unwrap();
    for verb in ["create", "start", "delete"] {
        assert!(
            log.lines()
                .any(|l| l.starts_with("--rootless=false --root ")
                    && l.contains(&format!(" {verb} "))),
            "no {verb} with the runtime's arguments:\n{log}"
        );
    }
    assert!(
        log.contains(&d.exec_root.join("runtimes/logged").display().to_string()),
        "{log}"
    );

    // An unknown runtime name is Docker's 400; a flag-added one runs.
    let o = d.docker(&["run", "--rm", "--runtime", "nvidia", "busybox", "true"]);
    assert!(
        o.stderr.contains("unknown or invalid runtime name: nvidia"),
        "{o:?}"
    );
    // Reserved names are refused, as dockerd refuses them.
    let mut bad = d.daemon_command();
    bad.args(["--add-runtime", "runc=/bin/true"]);
    let o = common::run_cmd(bad, None, Duration::from_secs(30));
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("runtime name 'runc' is reserved"),
        "{o:?}"
    );
}

/// crun where this host can run it: crun 1.8 refuses hosts whose cgroup v2 hierarchy holds
/// controllers next to v1 ("hybrid mode"), so this is a counted skip there.
#[test]
fn oci_runtime_crun_runs_the_lifecycle_subset() {
    let Some(crun) = prerequisites("crun", "crun") else {
        return;
    };
    // A container of crun's own default spec, running busybox `true`.
    let probe = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(probe.path().join("rootfs/bin")).unwrap();
    std::fs::copy("/bin/busybox", probe.path().join("rootfs/bin/busybox")).unwrap();
    let spec = std::process::Command::new(&crun)
        .arg("spec")
        .current_dir(probe.path())
        .output()
        .unwrap();
    assert!(spec.status.success(), "crun spec: {spec:?}");
    let path = probe.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/busybox", "true"]);
    std::fs::write(&path, config.to_string()).unwrap();
    let ran = std::process::Command::new(&crun)
        .arg("--root")
        .arg(probe.path().join("state"))
        .args(["run", "--bundle"])
        .arg(probe.path())
        .arg(format!("berth-probe-{}", common::random_hex(8)))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&ran.stderr).to_string();
    if !ran.status.success() && said.contains("hybrid mode not supported") {
        berth_testkit::skip(&format!("crun cannot run on this host: {}", said.trim()));
        return;
    }
    let d = TestDaemon::start_with(common::DaemonOptions {
        args: vec!["--add-runtime".into(), format!("crun={}", crun.display())],
        ..Default::default()
    });
    lifecycle_subset(&d, "crun", &crun, "crun");
}

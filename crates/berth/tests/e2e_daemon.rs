//! End-to-end: the daemon dies (SIGKILL) and comes back; containers survive and are
//! re-adopted. A second daemon on the same data root refuses to start.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn kill9_daemon_then_readopt() {
    daemon!(d);
    let mut d = d;
    d.docker(&[
        "run",
        "-d",
        "--name",
        "surv",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done",
    ])
    .ok();
    d.wait_logs("surv", "tick2");
    let pid = d.inspect("surv", "{{.State.Pid}}");

    d.kill9();
    // The container keeps running without the daemon.
    let pid_n: i32 = pid.parse().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid_n}")).exists(),
        "container died with the daemon"
    );
    std::thread::sleep(Duration::from_millis(600));
    d.restart_daemon();

    let ps = d
        .docker(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .out();
    assert!(ps.starts_with("surv Up"), "{ps}");
    assert_eq!(d.inspect("surv", "{{.State.Pid}}"), pid);

    // Lines written while the daemon was down are in the log; new lines keep coming.
    let before = d.docker(&["logs", "surv"]).out();
    let n_before = before.lines().count();
    assert!(n_before >= 3, "{before}");
    let mut follow = d
        .docker_cmd(&["logs", "-f", "--tail", "0", "surv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        // Read until a few new ticks arrived (or EOF).
        while got.iter().filter(|b| **b == b'\n').count() < 2 {
            match out.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let followed = reader.join().unwrap();
    assert!(
        followed.lines().count() >= 2 && followed.lines().all(|l| l.starts_with("tick")),
        "logs -f after restart got {followed:?}"
    );

    assert_eq!(d.docker(&["exec", "surv", "echo", "in"]).out(), "in");
    d.docker(&["stop", "-t", "1", "surv"]).ok();
    assert_eq!(d.inspect("surv", "{{.State.Status}}"), "exited");
    // A zombie reaped a moment later is fine.
    common::wait_for(
        "the container process to go",
        Duration::from_secs(30),
        || (!std::path::Path::new(&format!("/proc/{pid_n}")).exists()).then_some(()),
    );
}

#[test]
fn exit_while_daemon_down_and_restart_always() {
    daemon!(d);
    let mut d = d;
    d.docker(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 1",
    ])
    .ok();
    let pids: Vec<i32> = ["short", "always"]
        .iter()
        .filter_map(|n| d.inspect(n, "{{.State.Pid}}").parse().ok())
        .filter(|p| *p > 0)
        .collect();
    d.kill9();
    // Both exit while nobody watches (their monitors reap them): wait for that instead of
    // guessing how long `sleep 1` takes on a loaded machine.
    common::wait_for("the containers to exit", Duration::from_secs(30), || {
        pids.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
            .then_some(())
    });
    d.restart_daemon();
    // The exit that happened while nobody watched is recorded.
    d.wait_status("short", "exited");
    assert_eq!(d.inspect("short", "{{.State.ExitCode}}"), "3");
    // The restart policy applies to it as well.
    common::wait_for("always to run again", Duration::from_secs(30), || {
        let s = d.inspect("always", "{{.State.Status}} {{.RestartCount}}");
        let mut it = s.split(' ');
        let (st, n) = (it.next().unwrap().to_string(), it.next().unwrap_or("0"));
        (matches!(st.as_str(), "running" | "restarting") && n.parse::<i64>().unwrap_or(0) >= 1)
            .then_some(())
    });
}

#[test]
fn second_daemon_same_root_refuses() {
    daemon!(d);
    let c = d.daemon_command();
    // Its own socket and pidfile, so only the data root is shared.
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut c2 = std::process::Command::new(c.get_program());
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-H" => {
                c2.arg("-H")
                    .arg(format!("unix://{}", d.dir.join("d2.sock").display()));
                i += 2;
            }
            "--pidfile" => {
                c2.arg("--pidfile").arg(d.dir.join("p2.pid"));
                i += 2;
            }
            "--exec-root" => {
                c2.arg("--exec-root").arg(d.dir.join("x2"));
                i += 2;
            }
            a => {
                c2.arg(a);
                i += 1;
            }
        }
    }
    let o = common::run_cmd(c2, None, Duration::from_secs(30));
    assert_ne!(o.code, 0, "second daemon started: {o:?}");
    assert!(
        o.all().contains("another berth daemon is already running"),
        "{o:?}"
    );
    // The first one is unaffected.
    assert_eq!(d.get("/_ping").status, 200);
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "echo", "ok"]).out(),
        "ok"
    );
}

#[test]
fn graceful_stop_keeps_containers() {
    daemon!(d);
    let mut d = d;
    d.docker(&["run", "-d", "--name", "keep", "busybox", "sleep", "100"])
        .ok();
    let pid = d.inspect("keep", "{{.State.Pid}}");
    d.stop_daemon();
    d.restart_daemon();
    assert_eq!(
        d.inspect("keep", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    d.docker(&["rm", "-f", "keep"]).ok();
    assert!(d.container_ids().is_empty());
}

/// A data root whose store a newer berth wrote is refused with a clear message, and left
/// as it was; this berth's own store records its schema version.
#[test]
fn a_newer_data_root_is_refused() {
    daemon!(d);
    d.docker(&["create", "--name", "kept", "busybox", "true"])
        .ok();
    let mut d = d;
    d.stop_daemon();
    let db = d.data_root.join("berth.db");
    use redb::ReadableTable;
    let meta = redb::TableDefinition::<&str, u64>::new("meta");
    let version = {
        let store = redb::Database::create(&db).unwrap();
        let txn = store.begin_write().unwrap();
        let v = {
            let mut t = txn.open_table(meta).unwrap();
            let v = t.get("schema_version").unwrap().unwrap().value();
            t.insert("schema_version", v + 1).unwrap();
            v
        };
        txn.commit().unwrap();
        v
    };
    assert!(version >= 1);
    let o = common::run_cmd(d.daemon_command(), None, Duration::from_secs(30));
    assert_ne!(o.code, 0, "a daemon started on a newer store: {o:?}");
    assert!(o.all().contains("was written by a newer berth"), "{o:?}");
    // Put back as it was, the store opens again with everything in it.
    {
        let store = redb::Database::create(&db).unwrap();
        let txn = store.begin_write().unwrap();
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", version)
            .unwrap();
        txn.commit().unwrap();
    }
    d.restart_daemon();
    assert_eq!(d.inspect("kept", "{{.Name}}"), "/kept");
}

//! End-to-end: container commands other than run (ps, inspect, logs, exec, stop, kill, rm,
//! wait, top, stats, pause, rename, restart, update, prune, events), through the docker CLI.

mod common;

use std::io::Read;
use std::time::Duration;

#[test]
fn ps_flags_and_formats() {
    daemon!(d);
    d.docker(&["run", "--name", "done0", "busybox", "sh", "-c", "exit 2"])
        .code(2);
    d.docker(&["run", "-d", "--name", "up1", "busybox", "sleep", "100"])
        .ok();
    d.docker(&["create", "--name", "new2", "busybox", "true"])
        .ok();

    let ps = d.docker(&["ps"]).out();
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(
        ps.contains("up1") && !ps.contains("done0") && !ps.contains("new2"),
        "{ps}"
    );

    let all = d.docker(&["ps", "-a"]).out();
    for n in ["done0", "up1", "new2"] {
        assert!(all.contains(n), "ps -a lacks {n}:\n{all}");
    }
    let q = d.docker(&["ps", "-a", "-q"]).out();
    assert_eq!(q.lines().count(), 3, "{q}");
    assert!(q.lines().all(|l| l.len() == 12), "{q}");

    // -n 1: only the latest created.
    let last = d.docker(&["ps", "-n", "1", "--format", "{{.Names}}"]).out();
    assert_eq!(last, "new2");

    let exited = d
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}",
        ])
        .out();
    assert_eq!(exited, "done0");
    let created = d
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Names}}",
        ])
        .out();
    assert_eq!(created, "new2");

    let f = d
        .docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .out();
    let line = |n: &str| f.lines().find(|l| l.starts_with(n)).unwrap().to_string();
    assert!(line("up1").starts_with("up1 Up"), "{f}");
    assert!(line("done0").starts_with("done0 Exited (2)"), "{f}");
    assert_eq!(line("new2"), "new2 Created");

    let by_name = d
        .docker(&["ps", "-a", "--filter", "name=up", "--format", "{{.Names}}"])
        .out();
    assert_eq!(by_name, "up1");
    let by_ancestor = d
        .docker(&["ps", "-a", "--filter", "ancestor=busybox", "-q"])
        .out();
    assert_eq!(by_ancestor.lines().count(), 3);
}

#[test]
fn inspect_formats_and_not_found() {
    daemon!(d);
    d.docker(&[
        "run", "-d", "--name", "insp", "-e", "A=1", "busybox", "sleep", "100",
    ])
    .ok();
    assert_eq!(d.inspect("insp", "{{.State.Status}}"), "running");
    assert_eq!(
        d.inspect("insp", "{{.State.Running}} {{.Name}}"),
        "true /insp"
    );
    let env: Vec<String> =
        serde_json::from_str(&d.inspect("insp", "{{json .Config.Env}}")).unwrap();
    assert!(env.contains(&"A=1".to_string()), "{env:?}");
    // The process itself gets PATH and HOSTNAME (an imported image has no Env).
    let penv = d.docker(&["exec", "insp", "env"]).out();
    assert!(penv.lines().any(|l| l.starts_with("PATH=")), "{penv}");
    assert!(penv.lines().any(|l| l == "A=1"), "{penv}");
    let image = d.inspect("insp", "{{.Image}}");
    assert!(image.starts_with("sha256:"), "{image}");
    assert_eq!(d.inspect("insp", "{{.Config.Image}}"), "busybox");
    // Whole-object JSON is an array of one.
    let v: serde_json::Value = serde_json::from_str(&d.docker(&["inspect", "insp"]).out()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(v[0]["State"]["Pid"].as_i64().unwrap() > 0);

    let o = d.docker(&["inspect", "nosuchthing"]);
    o.code(1);
    assert!(
        o.stderr.contains("Error: No such object: nosuchthing"),
        "stderr: {}",
        o.stderr
    );
    let o = d.docker(&["container", "inspect", "nosuchthing"]);
    o.code(1);
    assert!(
        o.stderr.contains("No such container: nosuchthing"),
        "{}",
        o.stderr
    );
}

#[test]
fn logs_plain_tail_timestamps_since_follow() {
    daemon!(d);
    d.docker(&[
        "run",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
    ])
    .ok();
    let o = d.docker(&["logs", "lg"]);
    assert_eq!(o.stdout, "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(o.stderr, "oops\n");

    let o = d.docker(&["logs", "--tail", "2", "lg"]).ok().to_string();
    // The last two lines overall are line5 (stdout) and oops (stderr).
    assert_eq!(o, "line5\n");
    let o = d.docker(&["logs", "--tail", "2", "lg"]);
    assert_eq!(format!("{}{}", o.stdout, o.stderr), "line5\noops\n");

    let o = d.docker(&["logs", "-t", "lg"]).out();
    for l in o.lines() {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "bad timestamp {ts:?} in {l:?}"
        );
        assert!(rest.starts_with("line"), "{l}");
    }

    // --since in the future shows nothing; in the past shows everything.
    let o = d.docker(&["logs", "--since", "2099-01-01T00:00:00Z", "lg"]);
    assert_eq!(o.all(), "");
    let o = d.docker(&["logs", "--since", "2000-01-01T00:00:00Z", "lg"]);
    assert_eq!(o.stdout.lines().count(), 5);

    // -f follows a running container and ends when it exits.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "lf",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 2; echo second",
    ])
    .ok();
    let o = d.docker(&["logs", "-f", "lf"]);
    assert_eq!(o.out(), "first\nsecond");
}

#[test]
fn exec_options() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "ex", "busybox", "sleep", "100"])
        .ok();
    assert_eq!(
        d.docker(&["exec", "-e", "X=42", "ex", "sh", "-c", "echo $X"])
            .out(),
        "42"
    );
    assert_eq!(d.docker(&["exec", "-w", "/etc", "ex", "pwd"]).out(), "/etc");
    assert_eq!(
        d.docker(&["exec", "-u", "nobody", "ex", "id", "-u"]).out(),
        "65534"
    );
    d.docker(&["exec", "ex", "sh", "-c", "exit 9"]).code(9);
    let o = d.docker(&["exec", "ex", "nope-cmd"]);
    assert_eq!(o.code, 127, "{o:?}");
    assert!(o.all().contains("executable file not found"), "{o:?}");
    // -d: runs in the background.
    d.docker(&["exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg"])
        .ok();
    common::wait_for("detached exec", Duration::from_secs(20), || {
        let o = d.docker(&["exec", "ex", "cat", "/tmp/bg"]);
        (o.code == 0 && o.stdout.trim() == "bg").then_some(())
    });
    // -i with stdin.
    let o = d.docker_stdin(
        &["exec", "-i", "ex", "sh", "-c", "cat; echo end"],
        b"from stdin\n",
    );
    assert_eq!(o.out(), "from stdin\nend");
    // The exec sees the container's pid namespace: sleep is pid 1.
    let o = d.docker(&["exec", "ex", "cat", "/proc/1/cmdline"]).out();
    assert!(o.starts_with("sleep"), "{o:?}");
    // exec into a stopped container is a 409.
    d.docker(&["kill", "ex"]).ok();
    d.wait_status("ex", "exited");
    let o = d.docker(&["exec", "ex", "true"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
}

#[test]
fn stop_default_and_timeout_on_ignored_term() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "st1", "busybox", "sleep", "100"])
        .ok();
    d.docker(&["stop", "st1"]).ok();
    // `sleep` as pid 1 of its namespace ignores SIGTERM (no handler): stop escalates to
    // SIGKILL after the timeout. Either way it ends up stopped.
    assert_eq!(d.inspect("st1", "{{.State.Status}}"), "exited");

    d.docker(&[
        "run",
        "-d",
        "--name",
        "st2",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; echo armed; sleep 100 & wait; sleep 100",
    ])
    .ok();
    d.wait_logs("st2", "armed");
    let o = d.docker(&["stop", "-t", "1", "st2"]);
    assert_eq!(o.out(), "st2");
    assert_eq!(
        d.inspect("st2", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    // Stopping a stopped container is fine (304 under the hood).
    d.docker(&["stop", "st2"]).ok();
}

#[test]
fn kill_with_signal() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "kl",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got USR1; exit 4' USR1; echo ready; while true; do sleep 0.1; done",
    ])
    .ok();
    d.wait_logs("kl", "ready");
    d.docker(&["kill", "-s", "USR1", "kl"]).ok();
    d.wait_status("kl", "exited");
    assert_eq!(d.inspect("kl", "{{.State.ExitCode}}"), "4");
    assert!(d.docker(&["logs", "kl"]).out().contains("got USR1"));
    // Killing a stopped container is an error.
    let o = d.docker(&["kill", "kl"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
}

#[test]
fn rm_running_needs_force() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "rmme", "busybox", "sleep", "100"])
        .ok();
    let o = d.docker(&["rm", "rmme"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("cannot remove container")
            && o.stderr.contains(
                "container is running: stop the container before removing or force remove"
            ),
        "stderr: {}",
        o.stderr
    );
    let r = d.request("DELETE", "/containers/rmme", &[], &[]);
    r.assert_error(409, "container is running");
    assert_eq!(d.docker(&["rm", "-f", "rmme"]).out(), "rmme");
    assert!(d.container_ids().is_empty());
    let o = d.docker(&["rm", "rmme"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("No such container: rmme"), "{}", o.stderr);
}

#[test]
fn wait_prints_exit_code() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "wt",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 6",
    ])
    .ok();
    assert_eq!(d.docker(&["wait", "wt"]).out(), "6");
    // Waiting on an exited container returns at once.
    assert_eq!(d.docker(&["wait", "wt"]).out(), "6");
}

#[test]
fn top_stats_pause_unpause() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "tp", "busybox", "sleep", "100"])
        .ok();
    // `run -d` returns once the process is started, not once it has exec'd `sleep`.
    let top = common::wait_for("sleep 100 in docker top", Duration::from_secs(30), || {
        let top = d.docker(&["top", "tp"]).out();
        top.contains("sleep 100").then_some(top)
    });
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 100"), "{top}");

    let stats = d.docker(&["stats", "--no-stream"]).out();
    assert!(stats.starts_with("CONTAINER ID"), "{stats}");
    let row = stats
        .lines()
        .find(|l| l.contains("tp"))
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(row.contains('%'), "{row}");
    let stats = d
        .docker(&["stats", "--no-stream", "--format", "{{.Name}}", "tp"])
        .out();
    assert_eq!(stats, "tp");

    d.docker(&["pause", "tp"]).ok();
    assert_eq!(
        d.inspect("tp", "{{.State.Paused}} {{.State.Status}}"),
        "true paused"
    );
    let ps = d.docker(&["ps", "--format", "{{.Status}}"]).out();
    assert!(ps.contains("(Paused)"), "{ps}");
    d.docker(&["unpause", "tp"]).ok();
    assert_eq!(
        d.inspect("tp", "{{.State.Paused}} {{.State.Status}}"),
        "false running"
    );
    // Still works after unpause.
    assert_eq!(d.docker(&["exec", "tp", "echo", "alive"]).out(), "alive");
}

#[test]
fn rename_restart_update() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "old", "busybox", "sleep", "100"])
        .ok();
    d.docker(&["rename", "old", "new"]).ok();
    assert_eq!(d.inspect("new", "{{.Name}}"), "/new");
    assert_ne!(d.docker(&["inspect", "old"]).code, 0);
    // The old name is free again.
    d.docker(&["create", "--name", "old", "busybox", "true"])
        .ok();
    let o = d.docker(&["rename", "new", "old"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("already in use"), "{}", o.stderr);

    let pid1 = d.inspect("new", "{{.State.Pid}}");
    d.docker(&["restart", "-t", "1", "new"]).ok();
    assert_eq!(d.inspect("new", "{{.State.Status}}"), "running");
    assert_ne!(d.inspect("new", "{{.State.Pid}}"), pid1);

    d.docker(&["update", "-m", "32m", "--memory-swap", "64m", "new"])
        .ok();
    assert_eq!(
        d.inspect("new", "{{.HostConfig.Memory}}"),
        (32 * 1024 * 1024).to_string()
    );
    // And the running container's cgroup has it.
    let id = d.inspect("new", "{{.Id}}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = if v2 {
        format!("/sys/fs/cgroup/{}/{id}/memory.max", d.cgroup_parent)
    } else {
        format!(
            "/sys/fs/cgroup/memory/{}/{id}/memory.limit_in_bytes",
            d.cgroup_parent
        )
    };
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        (32 * 1024 * 1024).to_string()
    );
}

#[test]
fn container_prune() {
    daemon!(d);
    d.docker(&["run", "--name", "gone1", "busybox", "true"])
        .ok();
    d.docker(&["create", "--name", "gone2", "busybox", "true"])
        .ok();
    d.docker(&["run", "-d", "--name", "stay", "busybox", "sleep", "100"])
        .ok();
    let o = d.docker(&["container", "prune", "-f"]).out();
    assert!(o.contains("Total reclaimed space"), "{o}");
    let names = d.docker(&["ps", "-a", "--format", "{{.Names}}"]).out();
    assert_eq!(names, "stay");
}

#[test]
fn events_for_a_run() {
    daemon!(d);
    let t0 = chrono::Utc::now().timestamp() - 1;
    d.docker(&["run", "--rm", "--name", "evt", "busybox", "true"])
        .ok();
    let t1 = chrono::Utc::now().timestamp() + 1;
    let o = d
        .docker(&[
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &t1.to_string(),
            "--filter",
            "container=evt",
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .out();
    let actions: Vec<&str> = o
        .lines()
        .map(|l| l.trim_start_matches("container "))
        .collect();
    for want in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&want), "no {want} in {actions:?}");
    }
    let pos = |a: &str| actions.iter().position(|x| *x == a).unwrap();
    assert!(
        pos("create") < pos("start") && pos("start") < pos("die") && pos("die") < pos("destroy")
    );
    // die carries the exit code.
    let o = d
        .docker(&[
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &t1.to_string(),
            "--filter",
            "event=die",
            "--format",
            "{{index .Actor.Attributes \"exitCode\"}} {{.Actor.Attributes.name}}",
        ])
        .out();
    assert_eq!(o, "0 evt");
}

#[test]
fn attach_raw_http_logs_stream() {
    // `GET /containers/{id}/logs` without TTY is framed: [stream,0,0,0,len BE] payload.
    daemon!(d);
    d.docker(&[
        "run",
        "--name",
        "fr",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ])
    .ok();
    let r = d.get("/containers/fr/logs?stdout=1&stderr=1");
    assert_eq!(r.status, 200);
    let mut frames = Vec::new();
    let mut b = &r.body[..];
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        frames.push((b[0], String::from_utf8_lossy(&b[8..8 + len]).into_owned()));
        b = &b[8 + len..];
    }
    assert_eq!(frames, [(1, "out\n".to_string()), (2, "err\n".to_string())]);
    let mut none = Vec::new();
    b.read_to_end(&mut none).unwrap();
    assert!(none.is_empty());
}

//! End-to-end: our own CLI (`berth ...`) against a private daemon.

mod common;

use std::time::Duration;

#[test]
fn berth_run_output_exit_code_and_conflict() {
    daemon!(d);
    assert_eq!(
        d.berth(&["run", "--rm", "busybox", "echo", "hi"]).out(),
        "hi"
    );
    d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .code(3);
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(o.stdout.trim(), "out");
    assert_eq!(o.stderr.trim(), "err");
    d.berth(&["create", "--name", "dup", "busybox", "true"])
        .ok();
    let o = d.berth(&["run", "--name", "dup", "busybox", "true"]);
    o.code(125);
    assert!(
        o.stderr
            .contains("Conflict. The container name \"/dup\" is already in use"),
        "{}",
        o.stderr
    );
    let o = d.berth(&["run", "--rm", "busybox", "nosuchcmd"]);
    o.code(127);
    assert!(
        o.stderr.contains("executable file not found"),
        "{}",
        o.stderr
    );
    assert_eq!(d.container_ids().len(), 1);
}

#[test]
fn berth_run_options() {
    daemon!(d);
    let o = d
        .berth(&[
            "run",
            "--rm",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "--hostname",
            "hh",
            "busybox",
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u) $(hostname)",
        ])
        .out();
    assert_eq!(o, "bar /tmp 65534 hh");
    let o = d
        .berth(&["run", "--rm", "--entrypoint", "echo", "busybox", "ep"])
        .out();
    assert_eq!(o, "ep");
    let o = d.berth_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"piped\n");
    assert_eq!(o.out(), "piped");
}

#[test]
fn berth_run_tty() {
    daemon!(d);
    let cmd = format!(
        "{} -H {} run -it --rm busybox sh -c 'tty; exit 5'",
        env!("CARGO_BIN_EXE_berth"),
        d.host()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    let o = common::run_cmd(c, Some(b""), Duration::from_secs(60));
    assert_eq!(o.code, 5, "{o:?}");
    assert!(o.stdout.contains("/dev/pts/0"), "{o:?}");
}

#[test]
fn berth_container_lifecycle() {
    daemon!(d);
    let id = d
        .berth(&[
            "run",
            "-d",
            "--name",
            "life",
            "-l",
            "k=v",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done",
        ])
        .out();
    assert_eq!(id.len(), 64, "{id}");
    let ps = d.berth(&["ps"]).out();
    let row = ps
        .lines()
        .find(|l| l.contains("life"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("Up"), "{row}");
    assert_eq!(
        d.berth(&["ps", "--filter", "label=k", "--format", "{{.Names}}"])
            .out(),
        "life"
    );
    assert_eq!(
        d.berth(&["ps", "--filter", "label=k=v", "-q"]).out(),
        &id[..12]
    );
    // "started" comes after the trap: `stop` below must find the TERM handler set.
    common::wait_for("log line", Duration::from_secs(30), || {
        d.berth(&["logs", "life"])
            .stdout
            .contains("started")
            .then_some(())
    });
    assert_eq!(d.berth(&["exec", "life", "echo", "inside"]).out(), "inside");
    d.berth(&["exec", "life", "sh", "-c", "exit 4"]).code(4);
    assert_eq!(
        d.berth(&["inspect", "--format", "{{.State.Status}}", "life"])
            .out(),
        "running"
    );
    let o = d.berth(&["rm", "life"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("container is running"), "{}", o.stderr);
    d.berth(&["stop", "life"]).ok();
    assert_eq!(
        d.inspect("life", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    d.berth(&["rm", "life"]).ok();
    assert!(d.container_ids().is_empty());
    let o = d.berth(&["inspect", "life"]);
    o.code(1);
    assert!(o.stderr.contains("No such object: life"), "{}", o.stderr);
}

#[test]
fn berth_wait_kill_restart() {
    daemon!(d);
    d.berth(&[
        "run",
        "-d",
        "--name",
        "wk",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 6",
    ])
    .ok();
    assert_eq!(d.berth(&["wait", "wk"]).out(), "6");
    d.berth(&["run", "-d", "--name", "kk", "busybox", "sleep", "100"])
        .ok();
    let pid = d.inspect("kk", "{{.State.Pid}}");
    d.berth(&["restart", "-t", "1", "kk"]).ok();
    assert_ne!(d.inspect("kk", "{{.State.Pid}}"), pid);
    d.berth(&["kill", "kk"]).ok();
    d.wait_status("kk", "exited");
    assert_eq!(d.inspect("kk", "{{.State.ExitCode}}"), "137");
}

#[test]
fn berth_images() {
    daemon!(d);
    let ls = d.berth(&["images"]).out();
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    assert!(ls.lines().any(|l| l.starts_with("busybox")), "{ls}");
    let id = d.inspect("busybox", "{{.Id}}");
    d.berth(&["tag", "busybox", "other:2"]).ok();
    assert_eq!(d.inspect("other:2", "{{.Id}}"), id);
    assert_eq!(d.berth(&["rmi", "other:2"]).out(), "Untagged: other:2");
    let tar = d.dir.join("b.tar");
    d.berth(&["save", "-o", tar.to_str().unwrap(), "busybox"])
        .ok();
    d.berth(&["rmi", "busybox"]).ok();
    assert!(d.image_ids().is_empty());
    let o = d.berth(&["load", "-i", tar.to_str().unwrap()]).out();
    assert!(o.contains("Loaded image: busybox:latest"), "{o}");
    assert_eq!(d.inspect("busybox", "{{.Id}}"), id);
}

#[test]
fn berth_version_format_go_field_names() {
    daemon!(d);
    assert_eq!(
        d.berth(&["version", "--format", "{{.Server.APIVersion}}"])
            .out(),
        "1.50"
    );
}

#[test]
fn berth_version_and_info() {
    daemon!(d);
    let v = d.berth(&["version"]).out();
    assert!(v.contains("1.50"), "{v}");
    let drv = d.berth(&["info", "--format", "{{.Driver}}"]).out();
    assert_eq!(drv, d.docker(&["info", "--format", "{{.Driver}}"]).out());
}

//! End-to-end: the berth CLI (and, when installed, the docker CLI) against a private
//! daemon with its own data root, exec root, socket and cgroup parent. Skipped when
//! not root or when no static busybox is available for the bootstrap image.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private daemon from the shared harness (which cleans up containers, mounts,
/// cgroups and directories on drop, even when a test panics).
struct Daemon {
    _inner: common::TestDaemon,
    host: String,
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

fn busybox() -> Option<&'static str> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn start_daemon() -> Option<Daemon> {
    if !common::can_run_daemon() || busybox().is_none() {
        return None;
    }
    let inner = common::TestDaemon::start();
    let d = Daemon {
        host: inner.host(),
        _inner: inner,
    };
    // The README's way to get a first image, through our CLI.
    let out = berth(
        &d,
        &["image", "bootstrap", "busybox", "--busybox", busybox()?],
    );
    assert!(
        out.status.success(),
        "bootstrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(d)
}

fn berth(d: &Daemon, args: &[&str]) -> Output {
    Command::new(bin())
        .env("BERTH_HOST", &d.host)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run berth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_ps_logs_exec_rm() {
    let Some(d) = start_daemon() else { return };

    let out = berth(&d, &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));

    let out = berth(
        &d,
        &["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 7"],
    );
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(7));

    let out = berth(
        &d,
        &["run", "-d", "--name", "web", "busybox", "sleep", "100"],
    );
    assert_eq!(out.status.code(), Some(0));
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 64);

    let out = berth(&d, &["ps", "--format", "{{.Names}} {{.Image}}"]);
    assert_eq!(text(&out.stdout), "web busybox\n");
    let out = berth(&d, &["ps"]);
    assert!(
        text(&out.stdout).starts_with("CONTAINER ID   IMAGE     COMMAND       CREATED   "),
        "{}",
        text(&out.stdout)
    );

    let out = berth(&d, &["exec", "web", "sh", "-c", "echo out; exit 3"]);
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(out.status.code(), Some(3));

    let out = berth(&d, &["inspect", "--format", "{{.State.Status}}", "web"]);
    assert_eq!(text(&out.stdout), "running\n");
    let out = berth(&d, &["inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Error: No such object: nosuch\n");

    let out = berth(
        &d,
        &[
            "run",
            "--name",
            "lg",
            "busybox",
            "sh",
            "-c",
            "echo a; echo b >&2",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let out = berth(&d, &["logs", "lg"]);
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        ("a\n".into(), "b\n".into())
    );

    let out = berth(&d, &["rm", "-f", "web", "lg", "nosuch"]);
    assert_eq!(text(&out.stdout), "web\nlg\n");
    let out = berth(&d, &["rm", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );

    let out = berth(&d, &["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
}

#[test]
fn flag_errors_and_connect_errors() {
    let out = Command::new(bin())
        .args(["run", "--bogus", "busybox"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).starts_with(
        "unknown flag: --bogus\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    ));
    let out = Command::new(bin())
        .args(["-H", "unix:///nonexistent/x.sock", "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Cannot connect to the berth daemon at unix:///nonexistent/x.sock. Is the berth daemon running?"));
    let out = Command::new(bin()).args(["rm"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("berth: 'berth rm' requires at least 1 argument"));
}

#[test]
fn docker_cli_sees_the_same_tables() {
    if !Path::new("/usr/local/bin/docker").exists() {
        return;
    }
    let Some(d) = start_daemon() else { return };
    let out = berth(
        &d,
        &["run", "-d", "--name", "same", "busybox", "sleep", "100"],
    );
    assert_eq!(out.status.code(), Some(0));
    for args in [
        vec!["ps", "-a"],
        vec!["images"],
        vec!["inspect", "same"],
        vec!["ps", "--format", "{{json .}}"],
    ] {
        // "Less than a second ago" can turn into "1 second ago" between the two calls
        // (and change the column widths): take the first pair that saw the same second.
        // On a loaded machine a pair of calls can take most of a second: try many pairs (a
        // real difference shows in every one).
        let mut ours = berth(&d, &args);
        let mut theirs = Command::new("/usr/local/bin/docker")
            .env("DOCKER_HOST", &d.host)
            .args(&args)
            .output()
            .unwrap();
        for _ in 0..20 {
            if ours.stdout == theirs.stdout {
                break;
            }
            ours = berth(&d, &args);
            theirs = Command::new("/usr/local/bin/docker")
                .env("DOCKER_HOST", &d.host)
                .args(&args)
                .output()
                .unwrap();
        }
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "berth {args:?} differs from docker"
        );
    }
    let _ = berth(&d, &["rm", "-f", "same"]);
}

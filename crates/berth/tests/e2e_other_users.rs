//! End-to-end: other users of the host reach nothing of berth's state (issue 18). A daemon
//! runs containers that hold secrets (environment, logs, a volume's data, a running and a
//! stopped one, an exec, images); then an unprivileged user (`nobody`, through `setpriv`)
//! tries to list every directory, read every file and connect to every socket under the
//! data root and the exec root, and the API socket. Every attempt is listed in the output.

mod common;

use common::access::{assert_unreachable, probe_as, walk, Kind};
use common::{DaemonOptions, TestDaemon};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;

/// Containers with secrets in every place a secret can land: env (database, bundle), logs,
/// a named volume, an exec; one left running, one stopped.
fn make_secrets(d: &TestDaemon, secret: &str) {
    let env = format!("DB_PASSWORD={secret}");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "running",
        "-e",
        &env,
        "-v",
        "secretvol:/data",
        "busybox",
        "sh",
        "-c",
        "echo $DB_PASSWORD > /data/pw; echo log $DB_PASSWORD; echo ready; sleep 1000",
    ])
    .ok();
    d.wait_logs("running", "ready");
    d.docker(&[
        "exec",
        "-e",
        &env,
        "running",
        "sh",
        "-c",
        "echo $DB_PASSWORD",
    ])
    .ok();
    d.docker(&[
        "run",
        "--name",
        "stopped",
        "-e",
        &env,
        "busybox",
        "sh",
        "-c",
        "echo log $DB_PASSWORD",
    ])
    .ok();
}

/// Image layers, container filesystems and volume data keep the modes their content has.
fn in_content(p: &Path) -> bool {
    p.components().any(|c| {
        let c = c.as_os_str();
        c == "diff" || c == "rootfs" || c == "upper" || c == "work" || c == "_data"
    })
}

fn all_paths(d: &TestDaemon) -> Vec<(std::path::PathBuf, Kind)> {
    let mut paths = walk(&[&d.data_root, &d.exec_root]);
    paths.push((d.sock.clone(), Kind::Socket));
    paths
}

#[test]
fn nobody_reads_lists_or_connects_to_nothing() {
    daemon!(d);
    let secret = format!("s3cret-{}", common::random_hex(8));
    make_secrets(&d, &secret);

    let paths = all_paths(&d);
    // The walk saw the places secrets are kept, so the probe tries them.
    let has = |needle: &str| {
        paths
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains(needle))
    };
    for needle in [
        "berth.db",
        "-json.log",
        "config.json",
        "secretvol",
        "monitor.sock",
    ] {
        assert!(has(needle), "walk found no {needle}");
    }
    assert_unreachable("nobody", NOBODY, NOGROUP, &paths);

    // Each layer holds on its own, not only the data root's mode: what can hold a secret is
    // unreadable for others wherever it sits, and no directory is listable by them.
    for (p, k) in &paths {
        let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let name = p.file_name().unwrap().to_string_lossy();
        let secret_file = name == "berth.db"
            || name == "config.json"
            || name == "process.json"
            || name.contains("-json.log");
        if secret_file {
            assert_eq!(mode & 0o037, 0, "{} is {mode:o}", p.display());
        }
        if *k == Kind::Dir && !in_content(p) {
            assert_eq!(mode & 0o004, 0, "{} is {mode:o}", p.display());
        }
    }

    // The pidfile is readable (as dockerd's) but writable by root only.
    let pid = std::fs::metadata(d.dir.join("berth.pid")).unwrap();
    assert_eq!(
        pid.permissions().mode() & 0o022,
        0,
        "pidfile writable by others"
    );
    // The API socket: 0660, root's group when no `berth` group exists (this host has none).
    let sock = std::fs::metadata(&d.sock).unwrap();
    assert_eq!(sock.permissions().mode() & 0o777, 0o660);
    assert_eq!(sock.uid(), 0);

    // The secret itself is still where it belongs: in the container, for root.
    assert_eq!(
        d.docker(&["exec", "running", "cat", "/data/pw"]).out(),
        secret
    );
}

#[test]
fn state_from_an_older_release_is_tightened_on_start() {
    if !common::can_run() {
        return;
    }
    let mut d = TestDaemon::start();
    let secret = format!("s3cret-{}", common::random_hex(8));
    make_secrets(&d, &secret);
    d.stop_daemon();
    // What releases before issue 18 left: everything 0755/0644.
    let mut loosened = Vec::new();
    for (p, k) in walk(&[&d.data_root, &d.exec_root]) {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if in_content(&p) {
            continue;
        }
        let loose = match k {
            Kind::Dir => 0o755,
            Kind::File => 0o644,
            Kind::Socket => 0o755,
        };
        if m.permissions().mode() & 0o777 != loose {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(loose)).unwrap();
            loosened.push(p);
        }
    }
    assert!(!loosened.is_empty());
    d.restart_daemon();
    let log = d.daemon_log();
    assert!(
        log.contains("tightened the modes of"),
        "no log line about the repair:\n{log}"
    );
    assert_unreachable("nobody", NOBODY, NOGROUP, &all_paths(&d));
    // Every path, not only the roots above it, lost what others could do with it.
    for p in &loosened {
        let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o006, 0, "{} is still {mode:o}", p.display());
    }
    // Nothing was lost on the way: logs, the running container and its volume.
    assert!(d.docker(&["logs", "stopped"]).out().contains(&secret));
    assert_eq!(
        d.docker(&["exec", "running", "cat", "/data/pw"]).out(),
        secret
    );
}

#[test]
fn socket_group_admits_its_members_only() {
    if !common::can_run() {
        return;
    }
    // `nogroup` (65534) stands in for a `docker`/`berth` group: no host state is changed.
    let d = TestDaemon::start_with(DaemonOptions {
        args: vec!["-G".into(), "nogroup".into()],
        ..Default::default()
    });
    let sock = std::fs::metadata(&d.sock).unwrap();
    assert_eq!(sock.gid(), NOGROUP);
    assert_eq!(sock.permissions().mode() & 0o777, 0o660);
    let probe = [(d.sock.clone(), Kind::Socket)];
    // Without the group: refused.
    assert_unreachable("nobody", NOBODY, 12345, &probe);
    // With the group as its own: connects.
    let lines = probe_as(NOBODY, NOGROUP, &probe);
    assert!(lines[0].starts_with("REACHED"), "{lines:?}");

    // A group that does not exist is an error at start, as dockerd's.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "-G", "no-such-group-xyz", "--pidfile"])
        .arg(d.dir.join("other.pid"))
        .arg("--data-root")
        .arg(d.dir.join("other"))
        .arg("--exec-root")
        .arg(d.dir.join("otherx"))
        .arg("-H")
        .arg(format!("unix://{}", d.dir.join("other.sock").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group no-such-group-xyz not found"), "{err}");
    assert!(!Path::new(&d.dir.join("other.sock")).exists());
}

//! End-to-end: `berth daemon --userns-remap` (containers in a user namespace whose root is
//! an unprivileged host id from /etc/subuid and /etc/subgid) and per-container time
//! namespaces, through the docker CLI and our own.
//!
//! A test never touches host state it did not make: it appends one entry for a unique,
//! unused numeric uid to /etc/subuid and /etc/subgid (under a lock shared by all tests) and
//! removes exactly those lines when it ends, also on panic.

mod common;

use common::{DaemonOptions, TestDaemon};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const LOCK: &str = "/run/berth-test-subid.lock";
const SIZE: u32 = 65536;

/// One subordinate range in /etc/subuid and /etc/subgid, removed again on drop.
struct SubIds {
    uid: u32,
    start: u32,
    line: String,
}

fn lock() -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .expect("open subid lock");
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).expect("lock subid files")
}

fn rand_u32() -> u32 {
    u32::from_str_radix(&common::random_hex(8), 16).unwrap()
}

impl SubIds {
    fn add() -> SubIds {
        let _l = lock();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        let subgid = std::fs::read_to_string("/etc/subgid").unwrap_or_default();
        let used = |id: u32| {
            let s = format!(":{id}:");
            let p = format!("{id}:");
            passwd.contains(&s) || subuid.contains(&p) || subgid.contains(&p)
        };
        let (uid, start) = loop {
            let uid = 4_000_000 + rand_u32() % 1_000_000;
            let start = 300_000_000 + (rand_u32() % 10_000) * SIZE;
            let taken = |text: &str| {
                text.lines().any(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    let (Some(s), Some(n)) = (
                        f.get(1).and_then(|v| v.parse::<u64>().ok()),
                        f.get(2).and_then(|v| v.parse::<u64>().ok()),
                    ) else {
                        return false;
                    };
                    s < start as u64 + SIZE as u64 && (start as u64) < s + n
                })
            };
            if !used(uid) && !taken(&subuid) && !taken(&subgid) {
                break (uid, start);
            }
        };
        let line = format!("{uid}:{start}:{SIZE}");
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(file)
                .expect("open subid file");
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            writeln!(f, "{sep}{line}").expect("append subid entry");
        }
        SubIds { uid, start, line }
    }

    fn daemon(&self) -> TestDaemon {
        TestDaemon::start_with(DaemonOptions {
            args: vec![
                "--userns-remap".into(),
                format!("{}:{}", self.uid, self.uid),
            ],
            ..Default::default()
        })
    }
}

impl Drop for SubIds {
    fn drop(&mut self) {
        let _l = lock();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|l| *l != self.line)
                    .map(|l| format!("{l}\n"))
                    .collect();
                // Renamed into place: a daemon of another test reading the file at this
                // moment sees the old or the new text, never a truncated one.
                let tmp = format!("{file}.berth-test-{}", self.uid);
                let mode = std::fs::metadata(file).map(|m| m.permissions());
                if std::fs::write(&tmp, kept).is_ok() {
                    if let Ok(m) = mode {
                        let _ = std::fs::set_permissions(&tmp, m);
                    }
                    let _ = std::fs::rename(&tmp, file);
                }
            }
        }
    }
}

fn map_line(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn remapped_daemon_runs_containers_as_shifted_root() {
    if !common::can_run() {
        return;
    }
    let ids = SubIds::add();
    let d = ids.daemon();
    let start = ids.start.to_string();

    // Docker's layout: everything under <data-root>/<rootuid>.<rootgid>.
    let info = d.docker(&["info", "-f", "{{json .SecurityOptions}} {{.DockerRootDir}}"]);
    let info = info.out();
    assert!(info.contains("name=userns"), "{info}");
    assert!(
        info.trim()
            .ends_with(&format!("/{}.{}", ids.start, ids.start)),
        "{info}"
    );

    // Root inside, shifted root outside.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "id; cat /proc/self/uid_map /proc/self/gid_map; stat -c '%u:%g' /bin/busybox /etc/hosts /",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "uid=0(root) gid=0(root)", "{out}");
    assert_eq!(map_line(lines[1]), ["0", start.as_str(), "65536"], "{out}");
    assert_eq!(map_line(lines[2]), ["0", start.as_str(), "65536"], "{out}");
    assert_eq!(&lines[3..6], ["0:0", "0:0", "0:0"], "{out}");
    // On the default bridge the network namespace is the container's own (so it gets a
    // sysfs of its own), with its interface.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "id -u; ls /sys/class/net",
        ])
        .out();
    assert_eq!(out.lines().next(), Some("0"), "{out}");
    assert!(out.contains("eth0") && out.contains("lo"), "{out}");
    // Our CLI too.
    assert_eq!(
        d.berth(&["run", "--rm", "--network", "none", "busybox", "id", "-u"])
            .out()
            .trim(),
        "0"
    );

    // The image's layers are stored with shifted owners.
    let layers = d
        .data_root
        .join(format!("{}.{}", ids.start, ids.start))
        .join("image/layers");
    let mut seen = 0;
    for l in std::fs::read_dir(&layers).unwrap().flatten() {
        let bb = l.path().join("diff/bin/busybox");
        if let Ok(m) = std::fs::symlink_metadata(&bb) {
            assert_eq!(
                (m.uid(), m.gid()),
                (ids.start, ids.start),
                "{}",
                bb.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no unpacked layer under {}", layers.display());

    d.docker(&[
        "run",
        "-d",
        "--name",
        "u1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "touch /made-inside; exec sleep 300",
    ])
    .ok();
    let pid: i32 = d.inspect("u1", "{{.State.Pid}}").trim().parse().unwrap();
    // The process is the shifted uid on the host.
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = common::status_field(&st, "Uid");
    assert_eq!(
        uids.split_whitespace().collect::<Vec<_>>(),
        vec![start.as_str(); 4],
        "{st}"
    );
    // A file made inside belongs to the shifted root in the rw layer.
    let upper = d.inspect("u1", "{{.GraphDriver.Data.UpperDir}}");
    let made = Path::new(upper.trim()).join("made-inside");
    common::wait_for(
        "file in the upper dir",
        std::time::Duration::from_secs(30),
        || made.exists().then_some(()),
    );
    let m = std::fs::metadata(&made).unwrap();
    assert_eq!((m.uid(), m.gid()), (ids.start, ids.start));
    assert_eq!(d.inspect("u1", "{{.HostConfig.UsernsMode}}").trim(), "");

    // exec joins the same user (and time) namespace, as root of it.
    let ns_of = |p: i32, n: &str| std::fs::read_link(format!("/proc/{p}/ns/{n}")).unwrap();
    let out = d
        .docker(&[
            "exec",
            "u1",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/self/ns/time",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(map_line(lines[1]), ["0", start.as_str(), "65536"], "{out}");
    assert_eq!(Path::new(lines[2]), ns_of(pid, "user"), "{out}");
    if Path::new("/proc/self/ns/time").exists() {
        assert_eq!(Path::new(lines[3]), ns_of(pid, "time"), "{out}");
    }
    assert_ne!(ns_of(pid, "user"), ns_of(std::process::id() as i32, "user"));
    // A pty exec works as well.
    let out = d
        .docker(&["exec", "-t", "u1", "sh", "-c", "tty; id -u"])
        .out();
    assert!(out.contains("/dev/pts/"), "{out}");

    // Root in the container is not root on the host: it cannot make device nodes (it has
    // CAP_MKNOD, but only in its own user namespace) nor take over the host's nodes bound
    // into its /dev; a default container can do both.
    let o = d.docker(&[
        "exec",
        "u1",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; mknod /tmp/mem c 1 1 && echo MKNOD-OK; chmod 600 /dev/zero && echo CHMOD-OK; exit 0",
    ]);
    let all = o.all();
    assert!(all.contains("00000000a80425fb"), "{all}");
    assert!(!all.contains("MKNOD-OK"), "{all}");
    assert!(!all.contains("CHMOD-OK"), "{all}");
    assert!(all.contains("Operation not permitted"), "{all}");
    let z = std::fs::metadata("/dev/zero").unwrap();
    assert_eq!(z.mode() & 0o777, 0o666, "the host's /dev/zero changed");
    d.docker(&["rm", "-f", "u1"]).ok();
}

#[test]
fn userns_host_and_privileged_on_a_remapped_daemon() {
    if !common::can_run() {
        return;
    }
    let ids = SubIds::add();
    let d = ids.daemon();
    // --userns host: real host root, no user namespace (layers stay the remapped ones).
    let out = d
        .docker(&[
            "run",
            "--name",
            "uh",
            "--network",
            "none",
            "--userns",
            "host",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(map_line(lines[0]), ["0", "0", "4294967295"], "{out}");
    assert_eq!(lines[1], "0");
    assert_eq!(d.inspect("uh", "{{.HostConfig.UsernsMode}}").trim(), "host");

    // --privileged needs --userns host, with Docker's message.
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--privileged",
        "busybox",
        "true",
    ]);
    o.code(125);
    assert!(
        o.stderr.contains("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"),
        "{}",
        o.stderr
    );
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--privileged",
            "--userns",
            "host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ])
        .out();
    assert_eq!(map_line(&out), ["0", "0", "4294967295"]);
    let o = d.docker(&["run", "--rm", "--network", "host", "busybox", "true"]);
    o.code(125);
    assert!(
        o.stderr
            .contains("cannot share the host's network namespace when user namespaces are enabled"),
        "{}",
        o.stderr
    );
}

#[test]
fn userns_host_without_remap_is_a_no_op() {
    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start();
    let out = d
        .docker(&[
            "run",
            "--name",
            "nr",
            "--network",
            "none",
            "--userns",
            "host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ])
        .out();
    assert_eq!(map_line(&out), ["0", "0", "4294967295"]);
    assert_eq!(d.inspect("nr", "{{.HostConfig.UsernsMode}}").trim(), "host");
    let info = d.docker(&["info", "-f", "{{json .SecurityOptions}}"]).out();
    assert!(!info.contains("userns"), "{info}");
}

#[test]
fn each_container_has_its_own_time_namespace() {
    if !common::can_run() {
        return;
    }
    if !berth_testkit::host_has(
        Path::new("/proc/self/ns/time").exists(),
        "this kernel has no time namespaces",
    ) {
        return;
    }
    let d = TestDaemon::start();
    let host = std::fs::read_link("/proc/self/ns/time").unwrap();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "tn",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let pid: i32 = d.inspect("tn", "{{.State.Pid}}").trim().parse().unwrap();
    let init = std::fs::read_link(format!("/proc/{pid}/ns/time")).unwrap();
    assert_ne!(init, host, "the container shares the host's time namespace");
    let exec = d
        .docker(&["exec", "tn", "readlink", "/proc/self/ns/time"])
        .out();
    assert_eq!(Path::new(exec.trim()), init);
    // Two containers, two namespaces; clocks are not offset.
    let other = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "readlink",
            "/proc/self/ns/time",
        ])
        .out();
    assert_ne!(Path::new(other.trim()), init);
    let up_host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let up_in: f64 = d
        .docker(&["exec", "tn", "cat", "/proc/uptime"])
        .out()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((up_in - up_host).abs() < 60.0, "{up_in} vs {up_host}");
}

#[test]
fn remapped_daemon_volumes_belong_to_the_remapped_root() {
    if !common::can_run() {
        return;
    }
    let ids = SubIds::add();
    let d = ids.daemon();
    let root = d
        .data_root
        .join(format!("{}.{}", ids.start, ids.start))
        .join("volumes");
    d.docker(&["volume", "create", "uv"]).ok();
    let data = root.join("uv/_data");
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (ids.start, ids.start));
    // Root in the container writes to it; files land with the shifted ids.
    d.docker(&[
        "run", "--rm", "-v", "uv:/data", "busybox", "touch", "/data/f",
    ])
    .ok();
    assert_eq!(std::fs::metadata(data.join("f")).unwrap().uid(), ids.start);
    // The first-mount copy keeps the layer's (already shifted) owners.
    d.docker(&["run", "--rm", "-v", "uetc:/etc", "busybox", "true"])
        .ok();
    let passwd = std::fs::metadata(root.join("uetc/_data/passwd")).unwrap();
    assert_eq!(passwd.uid(), ids.start);
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "-v",
            "uetc:/etc",
            "busybox",
            "stat",
            "-c",
            "%u",
            "/etc/passwd"
        ])
        .out(),
        "0"
    );
}

/// Under `--userns-remap` the data root lets others pass (0711, as dockerd: the remapped
/// root walks to `<uid>.<gid>/`), yet nobody reaches any state, and the remapped root
/// itself reaches only what is its own (its containers' filesystems, volumes' data, the
/// hosts files it is given), never the database, logs, bundles or the image store.
#[test]
fn remapped_root_and_other_users_reach_only_their_own() {
    use common::access::{assert_unreachable, walk};
    if !common::can_run() {
        return;
    }
    let ids = SubIds::add();
    let d = ids.daemon();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "DB_PASSWORD=s3cret",
        "-v",
        "vol:/data",
        "busybox",
        "sh",
        "-c",
        "echo log $DB_PASSWORD; echo ready; sleep 1000",
    ])
    .ok();
    d.wait_logs("web", "ready");
    let paths = walk(&[&d.data_root, &d.exec_root]);
    assert_unreachable("nobody", 65534, 65534, &paths);

    let own = |p: &Path| {
        p.components().any(|c| {
            let c = c.as_os_str();
            c == "rootfs" || c == "upper" || c == "work" || c == "_data" || c == "shm"
        }) || ["hosts", "hostname", "resolv.conf"]
            .iter()
            .any(|n| p.file_name().is_some_and(|f| f == *n))
    };
    let foreign: Vec<_> = paths.into_iter().filter(|(p, _)| !own(p)).collect();
    assert_unreachable("the remapped root", ids.start, ids.start, &foreign);
}

//! End-to-end `cp`, `commit`, `diff` and `export` through the unmodified docker CLI and
//! our own: files, directories, symlinks (never followed out of the container; `-L`
//! follows inside), modes and owners, running and stopped containers, `-` tar streams,
//! volumes and bind mounts, Docker's errors, and a race in which the container swaps a
//! path component for a symlink to `/` while we copy in both directions (CVE-2018-15664).

mod common;

use common::{random_hex, TestDaemon};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fresh host directory below the daemon's test dir.
fn host_dir(d: &TestDaemon, name: &str) -> PathBuf {
    let p = d.dir.join(format!("{name}-{}", random_hex(4)));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// `src/` with a file (0640, uid 1234), a subdir, and two symlinks.
fn make_tree(root: &Path) -> PathBuf {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("f.txt"), b"hello from the host\n").unwrap();
    std::fs::set_permissions(src.join("f.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(src.join("f.txt"), Some(1234), Some(4321)).unwrap();
    std::fs::write(src.join("sub/deeper/g"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("f.txt", src.join("rel-link")).unwrap();
    src
}

fn exec(d: &TestDaemon, c: &str, script: &str) -> String {
    d.docker(&["exec", c, "sh", "-c", script]).out()
}

fn cli(d: &TestDaemon, which: &str, args: &[&str]) -> common::Out {
    if which == "docker" {
        d.docker(args)
    } else {
        d.berth(args)
    }
}

#[test]
fn cp_round_trips_with_both_clis() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let c = d
        .docker(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "mkdir /tmp/existing; sleep 1000",
        ])
        .out();
    // The shell makes /tmp/existing after `run -d` returned.
    common::wait_for("/tmp/existing", std::time::Duration::from_secs(30), || {
        (d.docker(&["exec", &c, "test", "-d", "/tmp/existing"]).code == 0).then_some(())
    });
    for which in ["docker", "berth"] {
        let h = host_dir(&d, which);
        let src = make_tree(&h);
        let dst = format!("/tmp/{which}-d");
        // A directory to a new name: the directory becomes that name.
        let out = cli(
            &d,
            which,
            &["cp", src.to_str().unwrap(), &format!("{c}:{dst}")],
        );
        out.ok();
        let listing = exec(&d, &c, &format!("cd {dst} && ls -ln f.txt && cat f.txt && readlink abs-link; readlink rel-link && wc -c < sub/deeper/g"));
        assert!(
            listing.contains("-rw-r-----"),
            "{which}: mode kept: {listing}"
        );
        assert!(
            listing.contains(" 1234 ") && listing.contains(" 4321 "),
            "{which}: owner kept: {listing}"
        );
        assert!(listing.contains("hello from the host"), "{listing}");
        assert!(
            listing.contains("/etc/passwd\nf.txt"),
            "symlinks copied as links: {listing}"
        );
        assert!(listing.trim_end().ends_with("100000"), "{listing}");
        // `-a` with no configured user keeps the tar's owners, as moby does.
        cli(
            &d,
            which,
            &[
                "cp",
                "-a",
                src.join("f.txt").to_str().unwrap(),
                &format!("{c}:/tmp/existing/{which}-a.txt"),
            ],
        )
        .ok();
        assert_eq!(
            exec(
                &d,
                &c,
                &format!("stat -c '%u %g %a' /tmp/existing/{which}-a.txt")
            ),
            "1234 4321 640"
        );
        // Trailing `/.`: the contents into an existing directory.
        cli(
            &d,
            which,
            &[
                "cp",
                &format!("{}/.", src.display()),
                &format!("{c}:/tmp/existing"),
            ],
        )
        .ok();
        assert_eq!(
            exec(&d, &c, "cat /tmp/existing/f.txt"),
            "hello from the host"
        );
        // And back out: to a new host name, into an existing dir, and a single file.
        let back = h.join("back");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:{dst}"), back.to_str().unwrap()],
        )
        .ok();
        assert_eq!(
            std::fs::read(back.join("sub/deeper/g")).unwrap(),
            vec![7u8; 100_000]
        );
        let m = std::fs::symlink_metadata(back.join("f.txt")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(
            std::fs::read_link(back.join("abs-link")).unwrap(),
            Path::new("/etc/passwd")
        );
        let into = host_dir(&d, "into");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:{dst}"), into.to_str().unwrap()],
        )
        .ok();
        assert!(into.join(format!("{which}-d/f.txt")).is_file());
        let contents = host_dir(&d, "contents");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:{dst}/."), contents.to_str().unwrap()],
        )
        .ok();
        assert!(
            contents.join("f.txt").is_file(),
            "trailing /. copies the contents"
        );
        let fresh = h.join("fresh-dir");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:{dst}/."), fresh.to_str().unwrap()],
        )
        .ok();
        assert!(
            fresh.join("sub/deeper/g").is_file(),
            "contents into a new directory"
        );
        let e = cli(
            &d,
            which,
            &[
                "cp",
                &format!("{c}:/etc/passwd"),
                &format!("{}/nodir/", h.display()),
            ],
        );
        assert_ne!(e.code, 0, "a file into a missing directory fails");
        let pw = h.join("passwd");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:/etc/passwd"), pw.to_str().unwrap()],
        )
        .ok();
        let pw_text = std::fs::read_to_string(&pw).unwrap();
        assert_eq!(pw_text, exec(&d, &c, "cat /etc/passwd") + "\n");
        // A symlink out of the container is copied as the link, never followed.
        exec(
            &d,
            &c,
            "ln -sfn / /tmp/rootlink; ln -sfn /etc/passwd /tmp/pwlink",
        );
        let l = h.join("rootlink");
        cli(
            &d,
            which,
            &["cp", &format!("{c}:/tmp/rootlink"), l.to_str().unwrap()],
        )
        .ok();
        assert_eq!(std::fs::read_link(&l).unwrap(), Path::new("/"));
        // Through a symlinked parent, the container's file (resolved in its root).
        let hn = h.join("hostname-via-link");
        cli(
            &d,
            which,
            &[
                "cp",
                &format!("{c}:/tmp/rootlink/etc/passwd"),
                hn.to_str().unwrap(),
            ],
        )
        .ok();
        assert_eq!(std::fs::read_to_string(&hn).unwrap(), pw_text);
        // -L follows a link inside the container.
        let lf = h.join("followed");
        cli(
            &d,
            which,
            &[
                "cp",
                "-L",
                &format!("{c}:/tmp/pwlink"),
                lf.to_str().unwrap(),
            ],
        )
        .ok();
        assert!(std::fs::symlink_metadata(&lf).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&lf).unwrap(), pw_text);
        // Docker's errors.
        let e = cli(
            &d,
            which,
            &["cp", &format!("{c}:/nope"), h.to_str().unwrap()],
        );
        assert_ne!(e.code, 0);
        assert!(
            e.stderr
                .contains(&format!("Could not find the file /nope in container {c}")),
            "{which}: {}",
            e.stderr
        );
        let e = cli(
            &d,
            which,
            &["cp", src.to_str().unwrap(), &format!("{c}:/etc/passwd")],
        );
        assert_ne!(e.code, 0, "a directory onto a file fails");
        assert!(
            e.stderr.contains("cannot copy directory"),
            "{which}: {}",
            e.stderr
        );
        let e = cli(
            &d,
            which,
            &["cp", src.to_str().unwrap(), src.to_str().unwrap()],
        );
        assert!(
            e.stderr
                .contains("must specify at least one container source"),
            "{}",
            e.stderr
        );
    }
    // Our CLI reports like docker's when stderr is a terminal; without one it is quiet.
    d.docker(&["rm", "-f", &c]).ok();
}

#[test]
fn cp_tar_streams_and_stopped_containers() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let c = d
        .docker(&[
            "create",
            "busybox",
            "sh",
            "-c",
            "cat /tmp/in/f.txt /data.txt; ls /tmp/in",
        ])
        .out();
    let h = host_dir(&d, "s");
    let src = make_tree(&h);
    // Into a container that never ran: its rootfs is mounted for the copy only.
    d.docker(&["cp", src.to_str().unwrap(), &format!("{c}:/tmp/in")])
        .ok();
    std::fs::write(h.join("data.txt"), b"data\n").unwrap();
    d.berth(&[
        "cp",
        h.join("data.txt").to_str().unwrap(),
        &format!("{c}:/"),
    ])
    .ok();
    // The whole root, with either CLI, lands under the new name; its tar names start with
    // one slash at most, as moby's root rebase gives.
    for which in ["docker", "berth"] {
        let root_out = h.join(format!("root-{which}"));
        cli(
            &d,
            which,
            &["cp", &format!("{c}:/"), root_out.to_str().unwrap()],
        )
        .ok();
        assert!(root_out.join("bin/busybox").exists(), "{which}: root copy");
        assert!(root_out.join("data.txt").exists(), "{which}: root copy");
    }
    let tar = d
        .docker_cmd(&["cp", &format!("{c}:/"), "-"])
        .output()
        .unwrap()
        .stdout;
    let mut names = Vec::new();
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        names.push(String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned());
    }
    assert_eq!(names[0], "/", "{names:?}");
    assert!(names.iter().any(|n| n == "/bin/busybox"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("//")), "{names:?}");
    // Out of it too, and a tar on stdout.
    let out = h.join("out");
    d.berth(&["cp", &format!("{c}:/tmp/in"), out.to_str().unwrap()])
        .ok();
    assert!(out.join("sub/deeper/g").is_file());
    for which in ["docker", "berth"] {
        let mut cmd = if which == "docker" {
            d.docker_cmd(&["cp", &format!("{c}:/tmp/in"), "-"])
        } else {
            d.berth_cmd(&["cp", &format!("{c}:/tmp/in"), "-"])
        };
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut names: Vec<String> = tar::Archive::new(&o.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert!(
            names.contains(&"in/f.txt".to_string()),
            "{which}: {names:?}"
        );
        assert!(names.contains(&"in/sub/deeper/g".to_string()), "{names:?}");
        // `-` in: a tar from stdin extracted into a directory.
        let mut b = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        hd.set_size(6);
        hd.set_mode(0o600);
        hd.set_uid(42);
        hd.set_gid(43);
        b.append_data(&mut hd, format!("{which}-stdin.txt"), &b"stdin\n"[..])
            .unwrap();
        let t = b.into_inner().unwrap();
        let o = if which == "docker" {
            d.docker_stdin(&["cp", "-", &format!("{c}:/tmp")], &t)
        } else {
            d.berth_stdin(&["cp", "-", &format!("{c}:/tmp")], &t)
        };
        o.ok();
        let o = if which == "docker" {
            d.docker_stdin(&["cp", "-", &format!("{c}:/tmp/in/f.txt")], &t)
        } else {
            d.berth_stdin(&["cp", "-", &format!("{c}:/tmp/in/f.txt")], &t)
        };
        assert!(
            o.stderr.contains("must be a directory"),
            "{which}: {}",
            o.stderr
        );
    }
    d.docker(&["start", "-a", &c]).ok();
    let logs = d.docker(&["logs", &c]).out();
    assert!(
        logs.contains("hello from the host") && logs.contains("data"),
        "{logs}"
    );
    // Stopped now (rootfs unmounted): copy out, and in again.
    let st = d
        .docker_cmd(&["cp", &format!("{c}:/tmp/docker-stdin.txt"), "-"])
        .output()
        .unwrap();
    let mut a = tar::Archive::new(&st.stdout[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (42, 43)
    );
    d.berth(&[
        "cp",
        h.join("data.txt").to_str().unwrap(),
        &format!("{c}:/tmp/in/f.txt"),
    ])
    .ok();
    let back = h.join("f-again");
    d.docker(&["cp", &format!("{c}:/tmp/in/f.txt"), back.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&back).unwrap(), b"data\n");
    // A stat through the API: Go's FileMode bits.
    let r = d.request(
        "HEAD",
        &format!("/containers/{c}/archive?path=/tmp/in"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    let stat = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap()
        .to_string();
    let raw = decode_b64(&stat);
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["name"], "in");
    assert_eq!(v["mode"].as_u64().unwrap() & (1 << 31), 1 << 31, "{v}");
    let r = d.request(
        "PUT",
        &format!("/containers/{c}/archive?path=/tmp/in/f.txt"),
        &[],
        &tar_of("x", b"x"),
    );
    r.assert_error(400, "extraction point is not a directory");
    let r = d.request(
        "GET",
        &format!("/containers/{c}/archive?path=/nope"),
        &[],
        b"",
    );
    r.assert_error(404, "Could not find the file /nope in container");
    d.docker(&["rm", "-f", &c]).ok();
    // `-a` into a container with a user: that user (looked up in the container's
    // /etc/passwd) owns everything.
    let u = d
        .docker(&["create", "--user", "nobody", "busybox", "true"])
        .out();
    d.berth(&[
        "cp",
        "-a",
        h.join("data.txt").to_str().unwrap(),
        &format!("{u}:/tmp/"),
    ])
    .ok();
    let o = d
        .docker_cmd(&["cp", &format!("{u}:/tmp/data.txt"), "-"])
        .output()
        .unwrap();
    let mut a = tar::Archive::new(&o.stdout[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().uid().unwrap(), 65534);
    d.docker(&["rm", "-f", &u]).ok();
}

fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(data.len() as u64);
    hd.set_mode(0o644);
    b.append_data(&mut hd, name, data).unwrap();
    b.into_inner().unwrap()
}

fn decode_b64(s: &str) -> Vec<u8> {
    let o = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(s.as_bytes())?;
            ch.wait_with_output()
        })
        .unwrap();
    o.stdout
}

#[test]
fn cp_into_volumes_and_bind_mounts() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let bind = host_dir(&d, "bind");
    let probe = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/mnt", bind.display()),
        "busybox",
        "true",
    ]);
    probe.ok();
    let vol = format!("v{}", random_hex(6));
    let c = d
        .docker(&[
            "run",
            "-d",
            "-v",
            &format!("{}:/mnt/bind", bind.display()),
            "-v",
            &format!("{vol}:/vol"),
            "busybox",
            "sleep",
            "1000",
        ])
        .out();
    let h = host_dir(&d, "f");
    std::fs::write(h.join("a.txt"), b"to the bind mount\n").unwrap();
    d.docker(&[
        "cp",
        h.join("a.txt").to_str().unwrap(),
        &format!("{c}:/mnt/bind/"),
    ])
    .ok();
    assert_eq!(
        std::fs::read(bind.join("a.txt")).unwrap(),
        b"to the bind mount\n"
    );
    d.berth(&[
        "cp",
        h.join("a.txt").to_str().unwrap(),
        &format!("{c}:/vol/b.txt"),
    ])
    .ok();
    assert_eq!(exec(&d, &c, "cat /vol/b.txt"), "to the bind mount");
    d.docker(&["stop", "-t", "0", &c]).ok();
    // Stopped: the paths under mounts go to the mounts' sources.
    d.berth(&[
        "cp",
        h.join("a.txt").to_str().unwrap(),
        &format!("{c}:/vol/c.txt"),
    ])
    .ok();
    let out = h.join("c-out");
    d.docker(&["cp", &format!("{c}:/vol/c.txt"), out.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&out).unwrap(), b"to the bind mount\n");
    let out = h.join("bind-out");
    d.berth(&["cp", &format!("{c}:/mnt/bind/a.txt"), out.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&out).unwrap(), b"to the bind mount\n");
    d.docker(&["rm", "-f", &c]).ok();
}

/// The container swaps `/x/dir` between a directory and a symlink to `/` (and to the
/// host-looking canary path) as fast as it can, while we copy in and out through that
/// component ~50 times each. Nothing outside the container may be read or written.
#[test]
fn cp_symlink_swap_race_never_escapes() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    // A canary on the host, at a path that also names a directory in the container.
    let canary = PathBuf::from(format!("/tmp/berth-canary-{}", random_hex(6)));
    std::fs::create_dir_all(&canary).unwrap();
    std::fs::write(canary.join("secret"), b"HOST-SECRET-DATA\n").unwrap();
    let before = snapshot(&canary);
    let script = format!(
        "mkdir -p /x/real {c}; echo container-data > /x/real/secret; cp /x/real/secret {c}/secret; \
         while true; do rm -rf /x/dir; ln -s / /x/dir; rm -f /x/dir; ln -s {c} /x/dir; rm -f /x/dir; mkdir /x/dir; cp /x/real/secret /x/dir/secret; done",
        c = canary.display()
    );
    let c = d
        .docker(&["run", "-d", "busybox", "sh", "-c", &script])
        .out();
    let h = host_dir(&d, "race");
    std::fs::write(h.join("secret"), b"from-the-test\n").unwrap();
    let mut copied_out = 0;
    for i in 0..50 {
        let which = if i % 2 == 0 { "docker" } else { "berth" };
        // In: the target directory resolves in the container whatever it is this instant.
        let _ = cli(
            &d,
            which,
            &[
                "cp",
                h.join("secret").to_str().unwrap(),
                &format!("{c}:/x/dir/secret"),
            ],
        );
        let _ = cli(
            &d,
            which,
            &[
                "cp",
                h.join("secret").to_str().unwrap(),
                &format!("{c}:/x/dir/"),
            ],
        );
        // Out: whatever we get must be the container's data.
        let o = if which == "docker" {
            d.docker_cmd(&["cp", &format!("{c}:/x/dir/secret"), "-"])
                .output()
                .unwrap()
        } else {
            d.berth_cmd(&["cp", &format!("{c}:/x/dir/secret"), "-"])
                .output()
                .unwrap()
        };
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("HOST-SECRET"),
            "host data leaked on try {i}"
        );
        let dir_out = if which == "docker" {
            d.docker_cmd(&["cp", &format!("{c}:/x/dir/."), "-"])
                .output()
                .unwrap()
        } else {
            d.berth_cmd(&["cp", &format!("{c}:/x/dir/."), "-"])
                .output()
                .unwrap()
        };
        assert!(!String::from_utf8_lossy(&dir_out.stdout).contains("HOST-SECRET"));
        if o.status.success() {
            copied_out += 1;
        }
    }
    assert_eq!(snapshot(&canary), before, "the host canary was touched");
    assert!(
        !Path::new("/secret").exists()
            || std::fs::read("/secret")
                .map(|b| b != b"from-the-test\n")
                .unwrap_or(true)
    );
    eprintln!("{copied_out}/50 copies out succeeded during the race");
    d.docker(&["rm", "-f", &c]).ok();
    std::fs::remove_dir_all(&canary).unwrap();
}

/// Names, sizes, modes and mtimes of a tree.
fn snapshot(p: &Path) -> Vec<(String, u64, u32, i64)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        v.push((
            e.file_name().to_string_lossy().into_owned(),
            m.len(),
            m.mode(),
            m.mtime(),
        ));
    }
    v.sort();
    v
}

#[test]
fn commit_diff_and_export() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    // A container that changed nothing has no changes (the engine's mount points and the
    // /etc copied up for them are not reported).
    d.docker(&["run", "--name", "fresh", "busybox", "true"])
        .ok();
    assert_eq!(d.docker(&["diff", "fresh"]).out(), "");
    let c = d
        .docker(&["run", "--name", "cm", "busybox", "sh", "-c", "echo new > /etc/added; echo x >> /etc/passwd; rm /etc/group; mkdir -p /data/deep; echo d > /data/deep/f"])
        .out();
    let _ = c;
    let diff = d.docker(&["diff", "cm"]).out();
    for want in [
        "C /etc",
        "A /etc/added",
        "C /etc/passwd",
        "D /etc/group",
        "A /data",
        "A /data/deep/f",
    ] {
        assert!(
            diff.lines().any(|l| l == want),
            "docker diff lacks {want:?}:\n{diff}"
        );
    }
    assert_eq!(
        d.berth(&["diff", "cm"]).out(),
        diff,
        "our diff prints the same"
    );
    // Commit with a message, author and changes; the new image has the files and config.
    let id = d
        .docker(&[
            "commit",
            "-m",
            "msg",
            "-a",
            "me",
            "-c",
            "CMD [\"cat\", \"/etc/added\"]",
            "-c",
            "ENV FOO=bar",
            "cm",
            "committed:v1",
        ])
        .out();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(d.docker(&["run", "--rm", "committed:v1"]).out(), "new");
    let check = d
        .docker(&[
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "echo $FOO; ls /etc/group 2>&1; cat /data/deep/f; tail -n1 /etc/passwd",
        ])
        .all();
    assert!(check.contains("bar"), "{check}");
    assert!(
        check.contains("No such file"),
        "the deletion is a whiteout: {check}"
    );
    assert!(check.contains("d\nx"), "{check}");
    let inspect = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Comment}}|{{.Author}}|{{len .RootFS.Layers}}",
            "committed:v1",
        ])
        .out();
    assert_eq!(inspect, "msg|me|2");
    let hist = d.docker(&["history", "--no-trunc", "committed:v1"]).out();
    assert!(hist.contains("msg"), "{hist}");
    // Our CLI, on a running container, default pause.
    let r = d
        .berth(&[
            "run",
            "-d",
            "--name",
            "live",
            "busybox",
            "sh",
            "-c",
            "echo live > /live; sleep 1000",
        ])
        .out();
    let _ = r;
    common::wait_for("/live", std::time::Duration::from_secs(30), || {
        // `cat` fails (exit 1) until the shell has written the file: poll, don't assert.
        let o = d.docker(&["exec", "live", "cat", "/live"]);
        (o.code == 0 && o.stdout.contains("live")).then_some(())
    });
    let id2 = d
        .berth(&["commit", "-c", "CMD cat /live", "live", "live-img"])
        .out();
    assert!(id2.starts_with("sha256:"));
    assert_eq!(d.berth(&["run", "--rm", "live-img"]).out(), "live");
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}}", "live"])
            .out(),
        "running"
    );
    // Export | import: the same file listing as the container's.
    for (name, which) in [("cm", "docker"), ("live", "berth")] {
        let tarfile = d.dir.join(format!("{name}.tar"));
        cli(
            &d,
            which,
            &["export", "-o", tarfile.to_str().unwrap(), name],
        )
        .ok();
        let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&tarfile).unwrap())
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .display()
                    .to_string()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        names.sort();
        assert!(names.contains(&"etc/added".to_string()) || name == "live");
        assert!(!names.contains(&"etc/group".to_string()) || name == "live");
        let img = format!("imp-{name}");
        let o = cli(&d, which, &["import", tarfile.to_str().unwrap(), &img]);
        o.ok();
        let listing = |image: &str| {
            let out = d
                .docker(&[
                    "run", "--rm", image, "find", "/bin", "/etc", "/data", "/live", "-xdev",
                ])
                .all();
            let mut l: Vec<&str> = out.lines().collect();
            l.sort();
            l.join("\n")
        };
        let a = listing(&img);
        let c_img = d.docker(&["commit", name, &format!("ref-{name}")]).out();
        let _ = c_img;
        let b = listing(&format!("ref-{name}"));
        assert_eq!(a, b, "export | import of {name} lists the same files");
    }
    d.docker(&["rm", "-f", "live", "cm"]).ok();
}

/// A hostile tar through the API: `..` above the root, an absolute name, a symlink
/// followed by a write through it, a hard link to a host path. Nothing lands outside.
#[test]
fn put_archive_refuses_escapes() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let c = d.docker(&["run", "-d", "busybox", "sleep", "1000"]).out();
    let marker = format!("berth-escape-{}", random_hex(6));
    let entry = |b: &mut tar::Builder<Vec<u8>>,
                 name: &str,
                 kind: tar::EntryType,
                 link: Option<&str>,
                 data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                g.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let put = |t: Vec<u8>| {
        d.request(
            "PUT",
            &format!("/containers/{c}/archive?path=/tmp"),
            &[],
            &t,
        )
    };
    // `..` climbing out of the extraction root.
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        &format!("../../../../tmp/{marker}"),
        tar::EntryType::Regular,
        None,
        b"x",
    );
    put(b.into_inner().unwrap()).assert_error(400, "escapes");
    // A symlink to / and a file written through it.
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, "up", tar::EntryType::Symlink, Some("/"), b"");
    entry(
        &mut b,
        &format!("up/tmp/{marker}"),
        tar::EntryType::Regular,
        None,
        b"x",
    );
    put(b.into_inner().unwrap()).assert_error(400, "symlink");
    // A hard link to a path outside.
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        "hl",
        tar::EntryType::Link,
        Some("../../../etc/passwd"),
        b"",
    );
    put(b.into_inner().unwrap()).assert_error(400, "hardlink");
    // An absolute name stays inside (confined, as Docker does).
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        &format!("/{marker}"),
        tar::EntryType::Regular,
        None,
        b"inside",
    );
    assert_eq!(put(b.into_inner().unwrap()).status, 200);
    assert_eq!(exec(&d, &c, &format!("cat /tmp/{marker}")), "inside");
    assert!(
        !Path::new(&format!("/tmp/{marker}")).exists(),
        "nothing on the host"
    );
    assert!(!Path::new(&format!("/{marker}")).exists());
    // A read-only rootfs refuses, as Docker's.
    let ro = d
        .docker(&["run", "-d", "--read-only", "busybox", "sleep", "1000"])
        .out();
    d.request(
        "PUT",
        &format!("/containers/{ro}/archive?path=/tmp"),
        &[],
        &tar_of("x", b"x"),
    )
    .assert_error(400, "container rootfs is marked read-only");
    d.docker(&["rm", "-f", &c, &ro]).ok();
}

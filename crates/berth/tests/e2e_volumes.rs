//! End-to-end volumes and bind mounts on the real kernel, through the unmodified docker
//! CLI and our own: named volumes that outlive their containers, the first-mount copy of
//! image content, anonymous volumes (image `VOLUME`, `-v /path`) and `rm -v`, read-only
//! mounts, binds both ways, `--volumes-from`, in-use refusals, prune, tmpfs mounts and
//! tmpfs volumes, a symlink in the image that tries to aim a mount at the host, and the
//! `berth volume export/import` round trip.

mod common;

use common::{busybox_tar, random_hex, TestDaemon};
use std::path::Path;

/// Imports busybox again as `name`, with Dockerfile `changes` and extra symlinks
/// (`path -> target`) in its rootfs.
fn import_image(d: &TestDaemon, name: &str, changes: &[&str], links: &[(&str, &str)]) {
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(busybox_tar());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        b.append(&h, data.as_slice()).unwrap();
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, path, target).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut q = format!("/images/create?fromSrc=-&repo={name}&tag=latest");
    for c in changes {
        q.push_str("&changes=");
        q.push_str(&urlencode(c));
    }
    let r = d.request("POST", &q, &[("Content-Type", "application/x-tar")], &tar);
    assert_eq!(r.status, 200, "import {name}: {}", r.text());
    assert!(!r.text().contains("\"error"), "import {name}: {}", r.text());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn volume_dir(d: &TestDaemon, name: &str) -> std::path::PathBuf {
    d.data_root.join("volumes").join(name).join("_data")
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    d.docker(&["volume", "ls", "-q"])
        .out()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn named_volume_data_survives_rm_and_is_seen_by_a_new_container() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let t0 = chrono::Utc::now().timestamp() - 1;
    assert_eq!(d.docker(&["volume", "create", "data1"]).out(), "data1");
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "data1:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "-v",
            "data1:/data",
            "busybox",
            "cat",
            "/data/f"
        ])
        .out(),
        "kept"
    );
    // Each run mounted and unmounted the volume, with moby's event attributes.
    let t1 = chrono::Utc::now().timestamp() + 1;
    let events = d
        .docker(&[
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &t1.to_string(),
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"destination\"}} {{index .Actor.Attributes \"read/write\"}}",
        ])
        .out();
    let lines: Vec<&str> = events.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "create data1",
            "mount data1 /data true",
            "unmount data1",
            "mount data1 /data true",
            "unmount data1",
        ],
        "{events}"
    );
    // Our CLI sees the same volume, and the file is in Docker's place on the host.
    assert_eq!(
        d.berth(&["run", "--rm", "-v", "data1:/d", "busybox", "cat", "/d/f"])
            .out(),
        "kept"
    );
    assert_eq!(
        std::fs::read_to_string(volume_dir(&d, "data1").join("f")).unwrap(),
        "kept\n"
    );
    // `-v name:/path` of a missing volume creates it.
    d.berth(&["run", "--rm", "-v", "made:/m", "busybox", "true"])
        .ok();
    assert!(volume_names(&d).contains(&"made".to_string()));

    // ls / inspect as docker shows them.
    let ls = d.berth(&["volume", "ls"]).out();
    assert!(ls.starts_with("DRIVER    VOLUME NAME"), "{ls}");
    assert!(ls.contains("local     data1"), "{ls}");
    assert_eq!(
        d.docker(&[
            "volume",
            "inspect",
            "-f",
            "{{.Mountpoint}} {{.Driver}} {{.Scope}}",
            "data1"
        ])
        .out(),
        format!("{} local local", volume_dir(&d, "data1").display())
    );
    assert_eq!(
        d.berth(&["volume", "inspect", "--format", "{{.Name}}", "data1"])
            .out(),
        "data1"
    );
    d.docker(&["volume", "create", "--label", "team=a", "lab1"])
        .ok();
    assert_eq!(
        d.docker(&["volume", "ls", "-q", "-f", "label=team=a"])
            .out(),
        "lab1"
    );
    assert_eq!(
        d.berth(&["volume", "ls", "-q", "-f", "name=lab"]).out(),
        "lab1"
    );
    let err = d.docker(&["volume", "inspect", "nosuch"]);
    err.code(1);
    assert!(err.all().contains("no such volume"), "{}", err.all());

    // Inspect's Mounts, and HostConfig.Binds kept as given.
    let id = d
        .docker(&["create", "-v", "data1:/data:ro", "busybox", "true"])
        .out();
    assert_eq!(
        d.inspect(&id, "{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.Driver}} {{.Mode}} {{.RW}}{{end}}"),
        format!(
            "volume data1 {} /data local ro false",
            volume_dir(&d, "data1").display()
        )
    );
    assert_eq!(d.inspect(&id, "{{.HostConfig.Binds}}"), "[data1:/data:ro]");
    d.docker(&["rm", &id]).ok();
    d.docker(&["volume", "rm", "data1", "lab1"]).ok();
    assert!(!volume_dir(&d, "data1").exists());
}

#[test]
fn image_content_populates_new_volumes_and_rm_v_removes_anonymous_ones() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    import_image(&d, "volimg", &["CMD [\"sh\"]", "VOLUME [\"/etc\"]"], &[]);
    let a = d
        .docker(&["run", "--name", "va", "volimg", "cat", "/etc/passwd"])
        .out();
    assert!(a.contains("root:"), "{a}");
    let anon = d.inspect("va", "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(anon.len(), 64, "anonymous volume name: {anon}");
    assert!(volume_dir(&d, &anon).join("passwd").is_file());
    assert_eq!(
        d.docker(&["volume", "inspect", "-f", "{{json .Labels}}", &anon])
            .out(),
        r#"{"com.docker.volume.anonymous":""}"#
    );
    // A named volume on a path with image content gets a copy too; nocopy does not.
    d.docker(&["run", "--name", "vb", "-v", "pop:/etc", "busybox", "true"])
        .ok();
    assert!(volume_dir(&d, "pop").join("group").is_file());
    let none = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "nc:/etc:nocopy",
            "busybox",
            "ls",
            "-A",
            "/etc",
        ])
        .out();
    // Only the files every container gets bound over /etc (hosts, hostname, resolv.conf).
    assert!(
        !none.contains("passwd") && !none.contains("group"),
        "{none}"
    );
    // A volume that is not empty is not overwritten.
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "pop:/etc",
        "busybox",
        "sh",
        "-c",
        "rm /etc/group",
    ])
    .ok();
    d.docker(&["run", "--rm", "-v", "pop:/etc", "busybox", "true"])
        .ok();
    assert!(!volume_dir(&d, "pop").join("group").exists());

    // rm -v: anonymous volumes go, named ones stay.
    d.docker(&["rm", "-v", "va", "vb"]).ok();
    assert!(!volume_names(&d).contains(&anon));
    assert!(volume_names(&d).contains(&"pop".to_string()));
    // `-v /path` makes an anonymous volume; `--rm` takes it away with the container.
    let before = volume_names(&d).len();
    d.berth(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ])
    .ok();
    common::wait_for("auto-remove", std::time::Duration::from_secs(30), || {
        (volume_names(&d).len() == before).then_some(())
    });
    // A plain rm keeps them.
    d.docker(&["run", "--name", "vc", "-v", "/keep", "busybox", "true"])
        .ok();
    let kept = d.inspect("vc", "{{range .Mounts}}{{.Name}}{{end}}");
    d.docker(&["rm", "vc"]).ok();
    assert!(volume_names(&d).contains(&kept));
}

#[test]
fn read_only_mounts_refuse_writes() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let host = d.dir.join("robind");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/b:ro", host.display());
    for args in [
        vec!["-v", "ro1:/data:ro"],
        vec!["--mount", "type=volume,src=ro2,dst=/data,readonly"],
        vec!["-v", bind.as_str()],
    ] {
        let dst = if args[1].contains("/b:") {
            "/b"
        } else {
            "/data"
        };
        let mut cmd = vec!["run", "--rm"];
        cmd.extend(args.iter().copied());
        let script = format!("touch {dst}/x");
        cmd.extend(["busybox", "sh", "-c", script.as_str()]);
        let out = d.docker(&cmd);
        assert_ne!(out.code, 0, "{args:?}: write succeeded");
        assert!(
            out.all().contains("Read-only file system"),
            "{args:?}: {}",
            out.all()
        );
    }
    assert!(!host.join("x").exists());
}

/// Unmounts a host mount the test made, even when the test fails.
struct HostMount(std::path::PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn read_only_binds_reach_submounts_as_docker_25_does() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    // A host directory with a mount below it: a plain read-only remount would leave that
    // submount writable inside the container.
    let host = d.dir.join("rec");
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "berth-test", sub.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _guard = HostMount(sub.clone());
    std::fs::write(sub.join("marker"), "in the submount\n").unwrap();
    let h = host.display().to_string();
    let touch = |args: &[&str], path: &str| -> common::Out {
        let mut cmd = vec!["run", "--rm"];
        cmd.extend(args.iter().copied());
        let script = format!("touch {path} && echo wrote");
        cmd.extend(["busybox", "sh", "-c", script.as_str()]);
        d.docker(&cmd)
    };
    let refused = |o: &common::Out, what: &str| {
        assert_ne!(o.code, 0, "{what}: write succeeded");
        assert!(
            o.all().contains("Read-only file system"),
            "{what}: {}",
            o.all()
        );
    };
    // Default (API ≥ 1.44): read-only all the way down, for -v and --mount.
    let v = format!("{h}:/b:ro");
    refused(&touch(&["-v", &v], "/b/sub/x"), "-v ro, submount");
    refused(&touch(&["-v", &v], "/b/x"), "-v ro, top");
    let m = format!("type=bind,src={h},dst=/b,readonly");
    refused(&touch(&["--mount", &m], "/b/sub/x"), "--mount readonly");
    let forced = format!("{m},bind-recursive=readonly,bind-propagation=rprivate");
    refused(
        &touch(&["--mount", &forced], "/b/sub/x"),
        "bind-recursive=readonly",
    );
    // bind-recursive=writable: Docker 24's behaviour, the top only.
    let writable = format!("{m},bind-recursive=writable");
    refused(&touch(&["--mount", &writable], "/b/x"), "writable, top");
    let o = touch(&["--mount", &writable], "/b/sub/w");
    assert_eq!(o.out(), "wrote", "{}", o.all());
    assert!(sub.join("w").exists());
    // bind-recursive=disabled: the submount is not there at all.
    let disabled = format!("type=bind,src={h},dst=/b,bind-recursive=disabled");
    let o = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &disabled,
        "busybox",
        "sh",
        "-c",
        "test -e /b/sub/marker && echo seen || echo absent",
    ]);
    assert_eq!(o.out(), "absent", "{}", o.all());
    // Our CLI maps the same option, with docker's client-side checks.
    let o = d.berth(&[
        "run",
        "--rm",
        "--mount",
        &forced,
        "busybox",
        "sh",
        "-c",
        "touch /b/sub/y",
    ]);
    refused(&o, "berth bind-recursive=readonly");
    let o = d.berth(&[
        "run",
        "--rm",
        "--mount",
        &format!("{m},bind-recursive=sideways"),
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125, "{}", o.all());
    assert!(o.all().contains("must be \"enabled\""), "{}", o.all());
    // A client on API 1.43 keeps the old meaning of read-only: the top only.
    let mut old = d.docker_cmd(&["run", "--rm", "-v", &v, "busybox", "touch", "/b/sub/old"]);
    old.env("DOCKER_API_VERSION", "1.43");
    let o = common::run_cmd(old, None, std::time::Duration::from_secs(90));
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(sub.join("old").exists());
    let body = format!(
        r#"{{"Image":"busybox","HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{h}","Target":"/b","ReadOnly":true,"BindOptions":{{"Propagation":"rprivate","ReadOnlyForceRecursive":true}}}}]}}}}"#
    );
    let r = d.post_json("/v1.43/containers/create", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("needs API v1.44 or newer"),
        "{}",
        r.text()
    );
    // Inspect shows the options as given.
    let r = d.post_json("/containers/create", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let i = d.get(&format!("/containers/{id}/json")).json();
    assert_eq!(
        i["HostConfig"]["Mounts"][0]["BindOptions"]["ReadOnlyForceRecursive"],
        serde_json::json!(true),
        "{i}"
    );
}

#[test]
fn bind_mounts_work_both_ways() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let host = d.dir.join("share");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let spec = format!("{}:/share", host.display());
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "cat /share/in && echo from container > /share/out",
        ])
        .out();
    assert_eq!(out, "from host");
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap(),
        "from container\n"
    );
    // --mount type=bind, with our CLI.
    let m = format!("type=bind,source={},target=/m", host.display());
    assert_eq!(
        d.berth(&["run", "--rm", "--mount", &m, "busybox", "cat", "/m/out"])
            .out(),
        "from container"
    );
    // -v makes a missing host directory; --mount refuses it.
    let missing = d.dir.join("made-by-v");
    let spec = format!("{}:/x", missing.display());
    d.docker(&["run", "--rm", "-v", &spec, "busybox", "true"])
        .ok();
    assert!(missing.is_dir());
    let gone = d.dir.join("not-there");
    let m = format!("type=bind,source={},target=/x", gone.display());
    let out = d.docker(&["run", "--rm", "--mount", &m, "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.all().contains(&format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            gone.display()
        )),
        "{}",
        out.all()
    );
    let id = d
        .docker(&["create", "-v", "/host/a:/a", "busybox", "true"])
        .out();
    assert_eq!(
        d.inspect(&id, "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} {{.Propagation}}{{end}}"),
        "bind /host/a /a true rprivate"
    );
}

#[test]
fn volumes_from_shares_mounts() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    d.docker(&[
        "create", "--name", "src", "-v", "vf:/data", "-v", "/anon", "busybox", "true",
    ])
    .ok();
    d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo shared > /data/s && echo a > /anon/a",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(volume_dir(&d, "vf").join("s")).unwrap(),
        "shared\n"
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /anon/a; touch /data/t",
    ]);
    assert_ne!(out.code, 0);
    assert!(out.all().contains("a\n"), "{}", out.all());
    assert!(out.all().contains("Read-only file system"), "{}", out.all());
    // The --rm container above did not take src's anonymous volume with it.
    let anon = d.inspect(
        "src",
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
    );
    assert!(volume_dir(&d, &anon).join("a").is_file());
}

#[test]
fn volume_in_use_is_refused_and_prune_takes_unused_ones() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let id = d
        .docker(&["create", "-v", "used:/d", "-v", "/anon", "busybox", "true"])
        .out();
    let out = d.docker(&["volume", "rm", "used"]);
    out.code(1);
    assert!(
        out.all()
            .contains(&format!("remove used: volume is in use - [{id}]")),
        "{}",
        out.all()
    );
    d.request("DELETE", "/volumes/used", &[], b"")
        .assert_error(409, "volume is in use");
    let out = d.berth(&["volume", "rm", "used"]);
    out.code(1);
    assert!(out.all().contains("volume is in use"), "{}", out.all());
    // Not found: an error, unless forced.
    d.docker(&["volume", "rm", "nosuch"]).code(1);
    d.docker(&["volume", "rm", "-f", "nosuch"]).ok();

    d.docker(&["volume", "create", "named-unused"]).ok();
    let anon = d.inspect(
        &id,
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
    );
    d.docker(&["rm", &id]).ok();
    // Docker 28: prune takes only anonymous volumes unless --all.
    let out = d.docker(&["volume", "prune", "-f"]).out();
    assert!(
        out.contains("Deleted Volumes:") && out.contains(&anon),
        "{out}"
    );
    let names = volume_names(&d);
    assert!(names.contains(&"named-unused".to_string()) && names.contains(&"used".to_string()));
    let out = d.berth(&["volume", "prune", "-f", "-a"]).out();
    assert!(
        out.contains("named-unused") && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert!(volume_names(&d).is_empty());
    // system df lists volumes.
    d.docker(&["volume", "create", "dfvol"]).ok();
    let df = d.docker(&["system", "df", "-v"]).out();
    assert!(df.contains("dfvol"), "{df}");
}

#[test]
fn tmpfs_mounts_and_tmpfs_volumes() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts; stat -c %a /t",
        ])
        .out();
    assert!(
        out.contains("tmpfs /t tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.ends_with("1770"), "{out}");
    d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ])
    .ok();
    assert_eq!(
        d.docker(&["volume", "inspect", "-f", "{{json .Options}}", "tv"])
            .out(),
        r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#
    );
    let out = d
        .berth(&[
            "run",
            "--rm",
            "-v",
            "tv:/x",
            "busybox",
            "sh",
            "-c",
            "echo hi > /x/f && grep ' /x ' /proc/mounts",
        ])
        .out();
    assert!(
        out.contains("tmpfs /x tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    let bad = d.docker(&["volume", "create", "-o", "bogus=1", "bad1"]);
    bad.code(1);
    assert!(
        bad.all().contains("invalid option: \"bogus\""),
        "{}",
        bad.all()
    );
    d.docker(&["volume", "rm", "tv"]).ok();
    assert!(!d.data_root.join("volumes/tv").exists());
}

#[test]
fn symlink_in_the_image_cannot_aim_a_mount_at_the_host() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let marker = format!("/tmp/bt-escape-{}", random_hex(8));
    let up = format!("/../../../../..{marker}");
    import_image(
        &d,
        "evil",
        &["CMD [\"sh\"]"],
        &[("mnt", up.as_str()), ("data", "/etc")],
    );
    let host = d.dir.join("bindsrc");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "bound").unwrap();
    let bind = format!("{}:/mnt", host.display());
    // The mount lands on the link's target resolved inside the rootfs.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "evil",
            "cat",
            &format!("{marker}/f"),
        ])
        .out();
    assert_eq!(out, "bound");
    assert!(
        !Path::new(&marker).exists(),
        "{marker} was made on the host"
    );
    // A volume over `/data -> /etc` hides the container's /etc, not the host's; the
    // first-mount copy read the image's /etc.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "esc:/data",
            "evil",
            "sh",
            "-c",
            "echo owned > /etc/escape-test; cat /etc/passwd | head -1",
        ])
        .out();
    assert!(out.starts_with("root:"), "{out}");
    assert!(!Path::new("/etc/escape-test").exists());
    assert!(volume_dir(&d, "esc").join("escape-test").is_file());
    assert!(volume_dir(&d, "esc").join("passwd").is_file());
    // And the same through a container's own change: /mnt replaced by a link, then a
    // restart re-mounts through it.
    let id = d
        .docker(&[
            "create",
            "-v",
            "esc2:/mnt/v",
            "busybox",
            "sh",
            "-c",
            "cat /mnt/v/hello 2>/dev/null; mkdir -p /tmp/in; echo hello > /mnt/v/hello",
        ])
        .out();
    d.docker(&["start", "-a", &id]).ok();
    let upper = d.data_root.join("containers").join(&id).join("upper");
    // Replace /mnt in the container's rw layer with a link out of the rootfs.
    let _ = std::fs::remove_dir_all(upper.join("mnt"));
    std::os::unix::fs::symlink(&up, upper.join("mnt")).unwrap();
    let out = d.docker(&["start", "-a", &id]);
    assert!(
        !Path::new(&marker).exists(),
        "{marker} was made on the host: {}",
        out.all()
    );
    d.docker(&["rm", "-f", &id]).ok();
}

/// What a round trip must keep of every entry below `root` (the root itself excluded):
/// type, owner, mode, mtime, xattrs, and content (sha256) or link target.
fn tree_facts(root: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        let mut ents: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        ents.sort();
        for p in ents {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("{:x}", sha2::Sha256::digest(std::fs::read(&p).unwrap()))
            } else {
                String::new()
            };
            let mut xattrs = Vec::new();
            let mut names = vec![0u8; 4096];
            let n = rustix::fs::llistxattr(&p, &mut names[..]).unwrap_or(0);
            for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                let name = String::from_utf8_lossy(name).into_owned();
                let mut v = vec![0u8; 4096];
                let vn = rustix::fs::lgetxattr(&p, name.as_str(), &mut v[..]).unwrap();
                xattrs.push(format!("{name}={:?}", String::from_utf8_lossy(&v[..vn])));
            }
            xattrs.sort();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                rel,
                format!(
                    "{:o} {}:{} mtime={} {what} [{}]",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.mtime(),
                    xattrs.join(",")
                ),
            );
            if ft.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// `berth volume export NAME > x.tar` and `berth volume import NAME2 < x.tar` keep owners,
/// modes (set-id, sticky), mtimes, xattrs, hard links, symlinks, empty dirs, fifos and
/// holes; host GNU tar extracts the same archive to the same tree.
#[test]
fn volume_export_import_round_trip() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    // Something the container wrote, then more from the host side of the volume.
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "exp:/data",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/sub/f && ln -s sub/f /data/l",
    ])
    .ok();
    let src = volume_dir(&d, "exp");
    let own = |p: &Path, uid: u32, gid: u32, mode: u32| {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
        if mode != 0 {
            std::fs::set_permissions(p, PermissionsExt::from_mode(mode)).unwrap();
        }
    };
    std::fs::write(src.join("u1000"), b"private").unwrap();
    own(&src.join("u1000"), 1000, 1000, 0o600);
    std::fs::write(src.join("suid"), b"#!/bin/sh\n").unwrap();
    own(&src.join("suid"), 0, 0, 0o4755);
    std::fs::create_dir(src.join("tmp")).unwrap();
    own(&src.join("tmp"), 65534, 65534, 0o1777);
    std::fs::write(src.join("tmp/nobody"), b"n").unwrap();
    own(&src.join("tmp/nobody"), 65534, 65534, 0o640);
    std::fs::create_dir_all(src.join("sub/empty")).unwrap();
    std::fs::write(src.join("h1"), b"linked").unwrap();
    own(&src.join("h1"), 1000, 100, 0o644);
    std::fs::hard_link(src.join("h1"), src.join("sub/h2")).unwrap();
    std::os::unix::fs::symlink("../h1", src.join("sub/ln")).unwrap();
    own(&src.join("sub/ln"), 1000, 1000, 0);
    let fifo = std::process::Command::new("mkfifo")
        .arg(src.join("sub/fifo"))
        .status()
        .is_ok_and(|s| s.success());
    let xf = rustix::fs::XattrFlags::empty();
    rustix::fs::setxattr(src.join("u1000"), "user.berth.test", b"a\0b\xff", xf).unwrap();
    rustix::fs::setxattr(src.join("tmp"), "user.dir", b"d", xf).unwrap();
    // 64 MiB, three data blocks, a trailing hole.
    let sparse = std::fs::File::create(src.join("sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    for (off, byte) in [(0u64, 1u8), (8 << 20, 2), ((33 << 20) + 4096, 3)] {
        std::os::unix::fs::FileExt::write_all_at(&sparse, &[byte; 4096], off).unwrap();
    }
    drop(sparse);
    // Distinct, old mtimes everywhere (children before their directories).
    let mut all: Vec<_> = tree_facts(&src).into_keys().collect();
    all.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
    for (i, rel) in all.iter().enumerate() {
        let t = rustix::fs::Timespec {
            tv_sec: 1_600_000_000 + i as i64 * 1000,
            tv_nsec: 0,
        };
        let ts = rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            src.join(rel),
            &ts,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
    let want = tree_facts(&src);
    assert!(want.contains_key("sub/empty") && want.contains_key("l"));
    assert_eq!(want.contains_key("sub/fifo"), fifo);

    let probe = d.request(
        "GET",
        "/containers/nosuchcontainer/archive?path=/",
        &[],
        b"",
    );
    let tar_path = d.dir.join("exp.tar");
    let out = {
        let mut c = d.berth_cmd(&["volume", "export", "exp"]);
        c.stdout(std::fs::File::create(&tar_path).unwrap());
        c.output().unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && err.contains("no container archive endpoint") {
        eprintln!(
            "skipped: the daemon has no container archive endpoint yet ({})",
            probe.status
        );
        return;
    }
    assert!(out.status.success(), "{err}");
    // The holes are not in the archive.
    let tar_len = std::fs::metadata(&tar_path).unwrap().len();
    assert!(tar_len < 4 << 20, "archive of {tar_len} bytes");
    let imp = {
        let mut c = d.berth_cmd(&["volume", "import", "imp"]);
        c.stdin(std::fs::File::open(&tar_path).unwrap());
        c.output().unwrap()
    };
    assert!(
        imp.status.success(),
        "{}",
        String::from_utf8_lossy(&imp.stderr)
    );
    let check = |dir: &Path, what: &str| {
        let got = tree_facts(dir);
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "{what}: {k}");
        }
        assert_eq!(got.len(), want.len(), "{what}: {got:#?}");
        let h1 = std::fs::metadata(dir.join("h1")).unwrap();
        let h2 = std::fs::metadata(dir.join("sub/h2")).unwrap();
        assert_eq!((h1.ino(), h1.nlink()), (h2.ino(), 2), "{what}: hard link");
        let sp = std::fs::metadata(dir.join("sparse")).unwrap();
        assert_eq!(sp.len(), 64 << 20);
        assert!(
            sp.blocks() * 512 <= 1 << 20,
            "{what}: sparse file takes {} blocks",
            sp.blocks()
        );
    };
    check(&volume_dir(&d, "imp"), "berth volume import");
    // The container sees it too.
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "-v",
            "imp:/v",
            "busybox",
            "sh",
            "-c",
            "cat /v/sub/f; readlink /v/l; stat -c '%a %u:%g' /v/suid /v/tmp"
        ])
        .out(),
        "one\nsub/f\n4755 0:0\n1777 65534:65534"
    );
    // The archive is standard: host GNU tar lists it and extracts the same tree.
    let list = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&tar_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success() && list.stderr.is_empty(),
        "{text}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(text.contains("./sub/h2 link to ./h1"), "{text}");
    let gnu = d.dir.join("gnu");
    std::fs::create_dir(&gnu).unwrap();
    let x = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpSf"])
        .arg(&tar_path)
        .arg("-C")
        .arg(&gnu)
        .output()
        .unwrap();
    assert!(
        x.status.success() && x.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&x.stderr)
    );
    check(&gnu, "GNU tar -x");
    // No helper container is left behind.
    assert_eq!(d.docker(&["ps", "-aq"]).out(), "");
}

/// `volume-subpath` mounts one directory of a volume; the source is opened without
/// following symlinks (a container could swap one in), and a subpath that leads out of the
/// volume through a link is refused.
#[test]
fn volume_subpath_mounts_one_directory_and_never_follows_links_out() {
    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start();
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "sp:/v",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /v/sub && echo in-sub > /v/sub/f && ln -s /etc /v/out",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=sp,dst=/x,volume-subpath=sub",
            "busybox",
            "cat",
            "/x/f",
        ])
        .out();
    assert_eq!(out, "in-sub");
    let bad = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=sp,dst=/x,volume-subpath=out",
        "busybox",
        "ls",
        "/x",
    ]);
    assert_ne!(bad.code, 0, "{}", bad.all());
    assert!(!bad.stdout.contains("passwd"), "{}", bad.all());
}

#[test]
fn storage_opt_is_refused_as_dockerd_does_without_xfs_quotas() {
    if !common::can_run_daemon() {
        return;
    }
    let d = TestDaemon::start();
    let o = d.docker(&["run", "--rm", "--storage-opt", "size=1G", "busybox", "true"]);
    assert_eq!(o.code, 125, "{}", o.all());
    assert!(
        o.all().contains(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        ),
        "{}",
        o.all()
    );
    let o = d.docker(&["create", "--storage-opt", "inodes=5", "busybox", "true"]);
    assert!(o.all().contains("Unknown option inodes"), "{}", o.all());
    // Nothing was left behind by the refused creates.
    assert_eq!(d.docker(&["ps", "-aq"]).out(), "");
}

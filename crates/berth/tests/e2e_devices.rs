//! End-to-end: `--device`, `--device-cgroup-rule` and `--privileged`'s devices, through
//! the docker CLI, on the real kernel (device cgroup v1 on this host).
//!
//! /dev/zero (1:5) is in Docker's default allow list, so the permission tests use
//! /dev/fuse (10:229), which is not: opening it needs no capability, only the cgroup rule.

mod common;

use berth_runtime::cgroups::{detect, CgroupVersion};

fn v1() -> bool {
    detect() == CgroupVersion::V1
}

fn have_fuse() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::metadata("/dev/fuse")
        .map(|m| m.file_type().is_char_device() && m.rdev() == libc::makedev(10, 229))
        .unwrap_or(false)
}

#[test]
fn device_is_created_at_the_container_path() {
    daemon!(d);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--device",
            "/dev/zero:/dev/myzero",
            "busybox",
            "sh",
            "-c",
            "head -c 4 /dev/myzero | od -An -tx1 && ls -l /dev/myzero",
        ])
        .out();
    assert!(out.contains("00 00 00 00"), "{out}");
    assert!(out.contains("1,   5") || out.contains("1, 5"), "{out}");
    assert!(out.starts_with(' ') || out.contains("\nc"), "{out}");
}

#[test]
fn device_permissions_are_enforced() {
    if !berth_testkit::host_has(have_fuse() && v1(), "needs /dev/fuse and cgroup v1") {
        return;
    }
    daemon!(d);
    // Read-only: opening for reading works, for writing is refused by the device cgroup.
    let out = d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/fuse:/dev/f:r",
        "busybox",
        "sh",
        "-c",
        "ls -l /dev/f; exec 3</dev/f && echo read-ok; exec 4>/dev/f && echo write-ok",
    ]);
    let all = out.all();
    assert!(all.contains("10, 229"), "{all}");
    assert!(all.contains("read-ok"), "{all}");
    assert!(!all.contains("write-ok"), "{all}");
    assert!(all.contains("Operation not permitted"), "{all}");
    // rwm: both work.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--device",
            "/dev/fuse",
            "busybox",
            "sh",
            "-c",
            "exec 3</dev/fuse && exec 4>/dev/fuse && echo rw-ok",
        ])
        .out();
    assert_eq!(out, "rw-ok");
}

#[test]
fn device_cgroup_rules() {
    if !berth_testkit::host_has(have_fuse() && v1(), "needs /dev/fuse and cgroup v1") {
        return;
    }
    daemon!(d);
    let script = "mknod /tmp/f c 10 229 && exec 3</tmp/f && echo opened";
    // Without a rule: mknod is allowed (`c *:* m`), opening is not.
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains("Operation not permitted"),
        "{}",
        out.all()
    );
    assert!(!out.stdout.contains("opened"));
    // With a rule it opens.
    for rule in ["c 10:229 r", "c 10:* rwm", "a *:* rwm"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--device-cgroup-rule",
                rule,
                "busybox",
                "sh",
                "-c",
                script,
            ])
            .out();
        assert_eq!(out, "opened", "{rule}");
    }
    // Read-only rule: writing is refused.
    let out = d.docker(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        "c 10:229 r",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/f c 10 229 && exec 4>/tmp/f && echo opened",
    ]);
    assert!(!out.stdout.contains("opened"), "{}", out.all());
}

#[test]
fn privileged_gets_host_devices_and_all_access() {
    if !berth_testkit::host_has(have_fuse() && v1(), "needs /dev/fuse and cgroup v1") {
        return;
    }
    daemon!(d);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "ls -l /dev/fuse && mknod /tmp/z c 1 5 && head -c1 /tmp/z | od -An -tx1 \
             && mknod /tmp/f c 10 229 && exec 3</tmp/f && echo opened",
        ])
        .out();
    assert!(out.contains("10, 229"), "{out}");
    assert!(out.contains("00"), "{out}");
    assert!(out.ends_with("opened"), "{out}");
}

#[test]
fn bad_devices_are_refused() {
    daemon!(d);
    // The docker CLI checks the mode itself; still exit 125.
    let out = d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/z:x",
        "busybox",
        "true",
    ]);
    out.code(125);
    // The daemon's own checks, through the API.
    let create = |hc: &str| {
        d.post_json(
            "/containers/create",
            &format!("{{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"HostConfig\":{hc}}}"),
        )
    };
    create(
        r#"{"Devices":[{"PathOnHost":"/dev/zero","PathInContainer":"/dev/z","CgroupPermissions":"x"}]}"#,
    )
    .assert_error(400, "invalid device mode: x");
    create(r#"{"DeviceCgroupRules":["c 1:3 rwx"]}"#)
        .assert_error(400, "invalid device cgroup rule format: 'c 1:3 rwx'");
    // A host path that does not exist: create succeeds, start fails (as with Docker); the
    // docker CLI turns a start error saying "no such file or directory" into exit 127.
    let out = d.docker(&["run", "--rm", "--device", "/dev/nope", "busybox", "true"]);
    out.code(127);
    assert!(
        out.all().contains(
            "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
        ),
        "{}",
        out.all()
    );
}

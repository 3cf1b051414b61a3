//! End-to-end: Docker's default seccomp profile on the real kernel, through the docker
//! CLI. A tiny static helper (built here with gcc when there is one) makes raw syscalls
//! with harmless arguments and prints the errno of each, so the filter's verdicts are
//! seen directly, not through busybox's error messages.

mod common;

use std::process::Command;

use common::status_field;

#[test]
fn default_profile_is_installed_and_denies() {
    daemon!(d);
    let st = d
        .docker(&["run", "--rm", "busybox", "cat", "/proc/self/status"])
        .out();
    assert_eq!(status_field(&st, "Seccomp"), "2", "{st}");
    assert_eq!(status_field(&st, "NoNewPrivs"), "0", "{st}");
    // `docker exec` processes get the container's filter too; unconfined containers' don't.
    d.docker(&["run", "-d", "--name", "sc", "busybox", "sleep", "100"])
        .ok();
    let st = d.docker(&["exec", "sc", "cat", "/proc/self/status"]).out();
    assert_eq!(status_field(&st, "Seccomp"), "2", "exec: {st}");
    let o = d.docker(&["exec", "sc", "unshare", "-m", "true"]);
    assert_ne!(o.code, 0, "unshare in exec succeeded: {}", o.all());
    d.docker(&[
        "run",
        "-d",
        "--name",
        "unc",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let st = d.docker(&["exec", "unc", "cat", "/proc/self/status"]).out();
    assert_eq!(status_field(&st, "Seccomp"), "0", "unconfined exec: {st}");
    // Denied: namespaces, mounts, swap.
    for cmd in [
        "unshare -m true",
        "unshare -U true",
        "mount -t tmpfs x /mnt",
        "swapon /etc/hostname",
    ] {
        let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", cmd]);
        assert_ne!(o.code, 0, "{cmd} succeeded: {}", o.all());
        // busybox's mount words EPERM as "permission denied (are you root?)".
        let all = o.all();
        assert!(
            all.contains("Operation not permitted") || all.contains("permission denied"),
            "{cmd}: {all}"
        );
    }
    // Everyday things still work (fork/clone, pipes, sockets, exec).
    let o = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo a | cat; mkdir /x && rmdir /x; nc -l -p 1 & kill $!; echo ok",
        ])
        .out();
    assert!(o.ends_with("ok"), "{o}");
    // With no-new-privileges the filter goes in last, and is there too.
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    assert_eq!(status_field(&st, "Seccomp"), "2", "{st}");
    assert_eq!(status_field(&st, "NoNewPrivs"), "1", "{st}");
}

#[test]
fn unconfined_privileged_and_custom_profiles() {
    daemon!(d);
    for flags in [
        &["--security-opt", "seccomp=unconfined"][..],
        &["--privileged"][..],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "cat", "/proc/self/status"]);
        let st = d.docker(&args).out();
        assert_eq!(status_field(&st, "Seccomp"), "0", "{flags:?}: {st}");
    }
    // The docker CLI reads the file and sends its content.
    let profile = d.dir.join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let o = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "mkdir",
        "/x",
    ]);
    assert_ne!(o.code, 0, "{}", o.all());
    assert!(o.all().contains("Operation not permitted"), "{}", o.all());
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    assert_eq!(status_field(&st, "Seccomp"), "2");
    // Inspect shows the option as given (the profile text, as Docker stores it).
    d.docker(&[
        "create",
        "--name",
        "sec",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        d.inspect("sec", "{{json .HostConfig.SecurityOpt}}"),
        "[\"seccomp=unconfined\"]"
    );
    // Unknown options are refused at create, with dockerd's text.
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"SecurityOpt":["bogus=1"]}}"#,
    );
    r.assert_error(400, "invalid --security-opt 2: \"bogus=1\"");
    // A broken profile fails the start with moby's message.
    let broken = d.dir.join("broken.json");
    std::fs::write(&broken, r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#).unwrap();
    let opt = format!("seccomp={}", broken.display());
    let o = d.docker(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_ne!(o.code, 0);
    assert!(
        o.all().contains("Decoding seccomp profile failed"),
        "{}",
        o.all()
    );
}

const HELPER_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <linux/sched.h>

/* Each call uses arguments that make it fail harmlessly when it is allowed. */
static long call(const char *n) {
    if (!strcmp(n, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL);
    if (!strcmp(n, "bpf")) return syscall(SYS_bpf, -1, NULL, 0);
    if (!strcmp(n, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    if (!strcmp(n, "add_key")) return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
    if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, -1, 0, 0, 0, 0);
    if (!strcmp(n, "init_module")) return syscall(SYS_init_module, NULL, 0, NULL);
    if (!strcmp(n, "clone3")) return syscall(SYS_clone3, NULL, 0);
    if (!strcmp(n, "unshare")) return syscall(SYS_unshare, -1L);
    if (!strcmp(n, "setns")) return syscall(SYS_setns, -1, 0);
    if (!strcmp(n, "mount")) return syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
    if (!strcmp(n, "personality_query")) return syscall(SYS_personality, 0xffffffffUL) < 0 ? -1 : 0;
    if (!strcmp(n, "personality_norandom")) return syscall(SYS_personality, 0x0040000UL) < 0 ? -1 : 0;
    if (!strcmp(n, "socket_vsock")) { long fd = syscall(SYS_socket, 40, SOCK_STREAM, 0); if (fd >= 0) close(fd); return fd < 0 ? -1 : 0; }
    if (!strcmp(n, "socket_inet")) { long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0); if (fd >= 0) close(fd); return fd < 0 ? -1 : 0; }
    if (!strcmp(n, "getpid")) return syscall(SYS_getpid) < 0 ? -1 : 0;
    if (!strcmp(n, "nr_999")) return syscall(999);
    errno = 0;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        errno = 0;
        long r = call(argv[i]);
        printf("%s %d\n", argv[i], r == -1 ? errno : 0);
    }
    return 0;
}
"#;

/// Builds the helper and imports it as `seccomp-helper`; false when there is no gcc.
fn import_helper(d: &common::TestDaemon) -> bool {
    let dir = d.dir.join("helper");
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("h.c"), HELPER_C).unwrap();
    let built = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("root/helper"))
        .arg(dir.join("h.c"))
        .status();
    if !berth_testkit::require(
        matches!(built, Ok(s) if s.success()),
        "gcc -static",
        "apt-get install gcc libc6-dev",
    ) {
        return false;
    }
    let tar = dir.join("helper.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(dir.join("root"))
        .arg("-cf")
        .arg(&tar)
        .arg("helper")
        .status()
        .unwrap();
    assert!(ok.success());
    d.docker(&["import", tar.to_str().unwrap(), "seccomp-helper"])
        .ok();
    true
}

fn errnos(out: &str) -> std::collections::HashMap<String, i32> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(-1)))
        .collect()
}

#[test]
fn raw_syscalls_get_dockers_errnos() {
    daemon!(d);
    if !berth_testkit::require_program("gcc", "gcc libc6-dev") {
        return;
    }
    if !import_helper(&d) {
        return;
    }
    let denied = [
        "kexec_load",
        "bpf",
        "perf_event_open",
        "add_key",
        "keyctl",
        "init_module",
        "unshare",
        "setns",
        "mount",
        "personality_norandom",
        "socket_vsock",
    ];
    let allowed = ["getpid", "personality_query", "socket_inet"];
    let mut args = vec!["run", "--rm", "seccomp-helper", "/helper"];
    args.extend(denied);
    args.extend(allowed);
    args.extend(["clone3", "nr_999"]);
    let got = errnos(&d.docker(&args).out());
    for n in denied {
        assert_eq!(got[n], libc::EPERM, "{n}: {got:?}");
    }
    for n in allowed {
        assert_eq!(got[n], 0, "{n}: {got:?}");
    }
    assert_eq!(got["clone3"], libc::ENOSYS, "{got:?}");
    assert_eq!(got["nr_999"], libc::ENOSYS, "{got:?}");

    // Unconfined: the same harmless calls now reach the kernel and fail (or succeed)
    // for the kernel's own reasons.
    let got = errnos(
        &d.docker(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "seccomp-helper",
            "/helper",
            "clone3",
            "personality_norandom",
            "add_key",
        ])
        .out(),
    );
    assert_ne!(got["clone3"], libc::ENOSYS, "{got:?}");
    assert_eq!(got["personality_norandom"], 0, "{got:?}");
    assert_ne!(got["add_key"], libc::EPERM, "{got:?}");
}

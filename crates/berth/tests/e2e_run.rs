//! End-to-end: `docker run` and its options, through the unmodified docker CLI.

mod common;

use std::time::Duration;

#[test]
fn run_rm_output_and_exit_code() {
    daemon!(d);
    let o = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(o.out(), "hi");
    d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .code(3);
    // stderr is kept apart from stdout.
    let o = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(o.stdout.trim(), "out");
    assert_eq!(o.stderr.trim(), "err");
    // --rm removed them all.
    assert!(d.container_ids().is_empty(), "containers left after --rm");
}

#[test]
fn run_detached_then_ps_shows_up() {
    daemon!(d);
    let id = d
        .docker(&["run", "-d", "--name", "web", "busybox", "sleep", "100"])
        .out();
    assert_eq!(id.len(), 64, "docker run -d prints the full id: {id}");
    let ps = d.docker(&["ps"]).out();
    let row = ps
        .lines()
        .find(|l| l.contains("web"))
        .unwrap_or_else(|| panic!("no row for web in:\n{ps}"));
    assert!(row.contains("Up"), "row: {row}");
    assert!(row.starts_with(&id[..12]), "row: {row}");
    assert!(row.contains("busybox"), "row: {row}");
}

#[test]
fn run_name_conflict() {
    daemon!(d);
    d.docker(&["create", "--name", "xx", "busybox", "true"])
        .ok();
    let o = d.docker(&["run", "--name", "xx", "busybox", "true"]);
    o.code(125);
    assert!(
        o.stderr
            .contains("Conflict. The container name \"/xx\" is already in use"),
        "stderr: {}",
        o.stderr
    );
    assert_eq!(d.container_ids().len(), 1);
}

#[test]
fn run_env_envfile_workdir_user_entrypoint_hostname() {
    daemon!(d);
    let envfile = d.dir.join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n\nSPACED=a b\n").unwrap();
    let o = d
        .docker(&[
            "run",
            "--rm",
            "-e",
            "FOO=bar",
            "--env-file",
            envfile.to_str().unwrap(),
            "busybox",
            "sh",
            "-c",
            "echo $FOO; echo $FROM_FILE; echo \"$SPACED\"",
        ])
        .out();
    assert_eq!(o, "bar\nyes\na b");

    let o = d
        .docker(&["run", "--rm", "-w", "/tmp/wd", "busybox", "pwd"])
        .out();
    assert_eq!(o, "/tmp/wd");

    let o = d
        .docker(&["run", "--rm", "-u", "nobody", "busybox", "id", "-u"])
        .out();
    assert_eq!(o, "65534");
    let o = d
        .docker(&["run", "--rm", "-u", "1234:5678", "busybox", "id"])
        .out();
    assert!(o.contains("uid=1234") && o.contains("gid=5678"), "{o}");

    let o = d
        .docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "entrypoint",
        ])
        .out();
    assert_eq!(o, "via entrypoint");

    let o = d
        .docker(&["run", "--rm", "--hostname", "myhost", "busybox", "hostname"])
        .out();
    assert_eq!(o, "myhost");
}

#[test]
fn run_labels_and_ps_label_filters() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ca",
        "-l",
        "app=web",
        "-l",
        "tier=front",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    d.docker(&[
        "run", "-d", "--name", "cb", "-l", "app=db", "busybox", "sleep", "100",
    ])
    .ok();
    d.docker(&["run", "-d", "--name", "cx", "busybox", "sleep", "100"])
        .ok();
    let names = |filter: &str| -> Vec<String> {
        let mut v: Vec<String> = d
            .docker(&["ps", "--filter", filter, "--format", "{{.Names}}"])
            .out()
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("label=app=web"), ["ca"]);
    assert_eq!(names("label=app"), ["ca", "cb"]);
    assert_eq!(names("label=tier"), ["ca"]);
    assert!(names("label=nope").is_empty());
    assert_eq!(
        d.inspect("ca", "{{index .Config.Labels \"tier\"}}"),
        "front"
    );
}

#[test]
fn run_restart_on_failure_count() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cr",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ])
    .ok();
    common::wait_for("2 restarts then exited", Duration::from_secs(60), || {
        let s = d.inspect(
            "cr",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        );
        (s == "2 exited 1").then_some(())
    });
    // And it stays stopped.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.inspect("cr", "{{.RestartCount}} {{.State.Status}}"),
        "2 exited"
    );
    assert_eq!(d.docker(&["logs", "cr"]).out().lines().count(), 3);
    // A user's start gives the policy its retries again (moby resets the count).
    d.docker(&["start", "cr"]).ok();
    common::wait_for("2 more restarts", Duration::from_secs(60), || {
        let runs = d.docker(&["logs", "cr"]).out().lines().count();
        let s = d.inspect("cr", "{{.RestartCount}} {{.State.Status}}");
        (runs == 6 && s == "2 exited").then_some(())
    });
}

#[test]
fn run_init_and_stop_signal() {
    daemon!(d);
    // With --init, pid 1 is the init and our command a child of it.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
        ])
        .out();
    let mut lines = o.lines();
    let pid: i32 = lines.next().unwrap().trim().parse().unwrap();
    assert_ne!(pid, 1, "with --init the process must not be pid 1: {o}");
    // pid 1 reads like Docker's init, and names no host path.
    let init = lines.next().unwrap_or_default();
    assert!(init.starts_with("/sbin/docker-init -- sh -c "), "{o}");
    assert!(!init.contains("monitor") && !init.contains("/tmp/"), "{o}");
    // Without, it is.
    let o = d
        .docker(&["run", "--rm", "busybox", "sh", "-c", "echo $$"])
        .out();
    assert_eq!(o, "1");

    // --stop-signal: docker stop sends it.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cs",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done",
    ])
    .ok();
    assert_eq!(d.inspect("cs", "{{.Config.StopSignal}}"), "USR1");
    d.wait_logs("cs", "ready");
    d.docker(&["stop", "cs"]).ok();
    assert_eq!(d.inspect("cs", "{{.State.ExitCode}}"), "7");
    assert!(d.docker(&["logs", "cs"]).out().contains("got-usr1"));
}

#[test]
fn run_memory_limit_oom_killed() {
    daemon!(d);
    // Allocate ~64 MB in a 16 MB container: busybox `head -c` into a shell variable.
    let o = d.docker(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived ${#x}",
    ]);
    o.code(137);
    assert_eq!(
        d.inspect(
            "oom",
            "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}"
        ),
        format!("true 137 {}", 16 * 1024 * 1024)
    );
}

#[test]
fn run_pids_limit_and_cpus() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cp",
        "--pids-limit",
        "8",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert_eq!(
        d.inspect("cp", "{{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}"),
        "8 500000000"
    );
    // Forking past the limit fails inside the container.
    let o = d.docker(&[
        "exec",
        "cp",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>/dev/null; wait; echo done",
    ]);
    assert!(
        o.all().contains("can't fork")
            || o.all().contains("Resource temporarily unavailable")
            || o.code != 0,
        "12 background sleeps should hit --pids-limit 8: {o:?}"
    );
    // The cgroup of the container carries the limits.
    let id = d.inspect("cp", "{{.Id}}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (pids_max, cpu) = if v2 {
        let base = format!("/sys/fs/cgroup/{}/{id}", d.cgroup_parent);
        (
            std::fs::read_to_string(format!("{base}/pids.max")).unwrap(),
            std::fs::read_to_string(format!("{base}/cpu.max")).unwrap(),
        )
    } else {
        let p = format!("/sys/fs/cgroup/pids/{}/{id}/pids.max", d.cgroup_parent);
        let q = format!(
            "/sys/fs/cgroup/cpu/{}/{id}/cpu.cfs_quota_us",
            d.cgroup_parent
        );
        let per = format!(
            "/sys/fs/cgroup/cpu/{}/{id}/cpu.cfs_period_us",
            d.cgroup_parent
        );
        (
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")),
            format!(
                "{} {}",
                std::fs::read_to_string(&q).unwrap().trim(),
                std::fs::read_to_string(&per).unwrap().trim()
            ),
        )
    };
    assert_eq!(pids_max.trim(), "8");
    assert_eq!(cpu.trim(), "50000 100000");
}

#[test]
fn run_command_not_found() {
    daemon!(d);
    let o = d.docker(&["run", "--rm", "busybox", "no-such-cmd"]);
    o.code(127);
    assert!(
        o.stderr.contains("no-such-cmd") && o.stderr.contains("executable file not found"),
        "stderr: {}",
        o.stderr
    );
    // A path that isn't there.
    let o = d.docker(&["run", "--rm", "busybox", "/nope/bin"]);
    o.code(127);
    assert!(o.stderr.contains("/nope/bin"), "stderr: {}", o.stderr);
}

#[test]
fn run_interactive_tty() {
    daemon!(d);
    let cmd = format!(
        "DOCKER_HOST={} DOCKER_CONFIG={} {} run -it --rm busybox sh -c 'tty; exit 5'",
        d.host(),
        d.docker_config.display(),
        common::DOCKER
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    let o = common::run_cmd(c, Some(b""), Duration::from_secs(60));
    assert_eq!(o.code, 5, "{o:?}");
    assert!(o.stdout.contains("/dev/pts/0"), "{o:?}");
}

#[test]
fn run_interactive_stdin() {
    daemon!(d);
    let o = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"hi\n");
    assert_eq!(o.out(), "hi");
    // A bigger payload goes through unchanged, and wc sees EOF.
    let data: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let o = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-c"], &data);
    assert_eq!(o.out(), "200000");
}

/// A reader slower than the container receives every byte, as with Docker: the container
/// waits on its writes instead of the daemon dropping what the reader has not taken yet
/// (300 000 small writes read at 1.6 MB/s); the log is complete too.
#[test]
fn a_slow_attached_reader_gets_every_byte() {
    use std::io::{Read, Write};
    daemon!(d);
    const LINES: usize = 300_000;
    d.docker(&[
        "create",
        "--name",
        "flood",
        "busybox",
        "sh",
        "-c",
        &format!("i=0; while [ $i -lt {LINES} ]; do echo $i; i=$((i+1)); done"),
    ])
    .ok();
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.write_all(
        b"POST /containers/flood/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n\
          Host: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let r = d.request("POST", "/containers/flood/start", &[], &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    // About 1.6 MB/s, far slower than the shell writes.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut got = Vec::new();
    let mut rest = &raw[..];
    while rest.len() >= 8 {
        let len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
        got.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    let want: String = (0..LINES).map(|i| format!("{i}\n")).collect();
    let first_difference = got
        .iter()
        .zip(want.as_bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    assert_eq!(
        got.len(),
        want.len(),
        "bytes the slow reader received; they differ from byte {first_difference}: {:?}",
        String::from_utf8_lossy(
            &got[first_difference.saturating_sub(20)..(first_difference + 40).min(got.len())]
        )
    );
    assert!(got == want.as_bytes(), "the output arrived changed");
    let logs = d.docker_cmd(&["logs", "flood"]).output().unwrap();
    assert_eq!(logs.stdout, want.as_bytes(), "the log");
}

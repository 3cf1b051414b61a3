//! End-to-end: a BPF device program on a real cgroup2 directory (the hybrid host's
//! `/sys/fs/cgroup/unified`, or `/sys/fs/cgroup` on a v2 host). Root only; skips otherwise.

use berth_runtime::device_bpf::{attached_programs, load_and_attach};
use oci_spec::runtime::LinuxDeviceCgroup;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[allow(clippy::unnecessary_cast)]
fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            matches!(nix::sys::statfs::statfs(p.as_path()),
                Ok(s) if s.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC)
        })
}

/// Kills the child and removes the cgroup, even when the test fails.
struct Cleanup {
    cg: PathBuf,
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.cg).is_err() && self.cg.exists() {
            if Instant::now() > deadline {
                eprintln!("could not remove {}", self.cg.display());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn rule(allow: bool, maj: i64, min: i64, acc: &str) -> LinuxDeviceCgroup {
    serde_json::from_value(serde_json::json!({
        "allow": allow, "type": "c", "major": maj, "minor": min, "access": acc
    }))
    .unwrap()
}

fn mknod(p: &Path, maj: u64, min: u64) {
    nix::sys::stat::mknod(
        p,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(maj, min),
    )
    .unwrap();
}

const SCRIPT: &str = r#"
read x
cd "$T"
t() { r=$( ( eval "$2" ) 2>&1 ) && echo "$1 ok" || echo "$1 fail $r"; }
t mknod_null 'mknod null2 c 1 3'
t mknod_zero 'mknod zero2 c 1 5'
t mknod_full 'mknod full2 c 1 7'
t null_rw 'exec 3<>null'
t null_r ': <null'
t null_w ': >null'
t zero_r 'head -c 4 zero >/dev/null'
t zero_w ': >zero'
t zero_rw 'exec 3<>zero'
t full_r ': <full'
t full_w ': >full'
echo done
"#;

#[test]
fn device_program_enforces_allow_list() {
    if !berth_testkit::require_root() {
        return;
    }
    let Some(root) = cgroup2_root() else {
        berth_testkit::skip("no cgroup2 mount on this host");
        return;
    };
    let mut rnd = [0u8; 6];
    getrandom_bytes(&mut rnd);
    let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let cg = root.join(format!("berth-test-{name}"));
    std::fs::create_dir(&cg).unwrap();
    let mut guard = Cleanup {
        cg: cg.clone(),
        child: None,
    };

    // First a permissive program, then the real one: the second replaces the first.
    load_and_attach(&cg, &[rule(true, 1, 9, "rwm")]).unwrap();
    assert_eq!(attached_programs(&cg).unwrap().len(), 1);
    let rules = [rule(true, 1, 3, "rwm"), rule(true, 1, 5, "r")];
    load_and_attach(&cg, &rules).unwrap();
    assert_eq!(
        attached_programs(&cg).unwrap().len(),
        1,
        "old program detached"
    );

    // Nodes made outside the cgroup; the child opens them and tries mknod itself.
    let dir = tempfile::tempdir().unwrap();
    mknod(&dir.path().join("null"), 1, 3);
    mknod(&dir.path().join("zero"), 1, 5);
    mknod(&dir.path().join("full"), 1, 7);

    let child = Command::new("/bin/busybox")
        .args(["sh", "-c", SCRIPT])
        .env("T", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    guard.child = Some(child);
    let child = guard.child.as_mut().unwrap();
    std::fs::write(cg.join("cgroup.procs"), pid.to_string()).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();

    let mut got = std::collections::HashMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("child: {line}");
        if line == "done" {
            break;
        }
        let mut it = line.splitn(3, ' ');
        let (k, v, msg) = (it.next().unwrap(), it.next().unwrap_or(""), it.next());
        got.insert(k.to_string(), (v == "ok", msg.unwrap_or("").to_string()));
    }
    let expect = [
        ("mknod_null", true),
        ("mknod_zero", false),
        ("mknod_full", false),
        ("null_rw", true),
        ("null_r", true),
        ("null_w", true),
        ("zero_r", true),
        ("zero_w", false),
        ("zero_rw", false),
        ("full_r", false),
        ("full_w", false),
    ];
    for (k, ok) in expect {
        let (was, msg) = got.get(k).unwrap_or_else(|| panic!("no result for {k}"));
        assert_eq!(*was, ok, "{k}: {msg}");
        if !ok {
            assert!(msg.contains("not permitted"), "{k} should be EPERM: {msg}");
        }
    }
}

fn getrandom_bytes(buf: &mut [u8]) {
    let f = std::fs::File::open("/dev/urandom").unwrap();
    use std::io::Read;
    (&f).read_exact(buf).unwrap();
}

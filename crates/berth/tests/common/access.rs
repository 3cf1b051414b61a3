//! What another user of the host can reach of a daemon's state: every path under its data
//! and exec roots, tried as that user (a `setpriv` child), as issue 18's threat model asks.

use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The kind of a path, as root saw it: what "reaching" it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Listing it (opendir + readdir).
    Dir,
    /// Opening it for reading.
    File,
    /// Connecting to it.
    Socket,
}

/// Every directory, file and socket under `roots` (symlinks and device nodes left out),
/// walked as root without following links and without entering other filesystems (a
/// container's mounted rootfs is its own filesystem; it is reached through its directory,
/// which is listed).
pub fn walk(roots: &[&Path]) -> Vec<(PathBuf, Kind)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, u64)> = Vec::new();
    for r in roots {
        if let Ok(m) = std::fs::symlink_metadata(r) {
            stack.push((r.to_path_buf(), m.dev()));
        }
    }
    while let Some((p, dev)) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let t = m.file_type();
        if t.is_dir() {
            out.push((p.clone(), Kind::Dir));
            if m.dev() != dev {
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    stack.push((e.path(), dev));
                }
            }
        } else if t.is_file() {
            out.push((p, Kind::File));
        } else if t.is_socket() {
            out.push((p, Kind::Socket));
        }
    }
    out.sort();
    out
}

const PROBE: &str = r#"
import os, socket, sys
for line in sys.stdin:
    kind, path = line.rstrip("\n").split(" ", 1)
    try:
        if kind == "dir":
            os.listdir(path)
        elif kind == "file":
            with open(path, "rb") as f:
                f.read(1)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
        print("REACHED", kind, path)
    except OSError as e:
        print("refused", kind, path, "(" + os.strerror(e.errno or 0) + ")")
"#;

/// Tries every path as `uid:gid` (no supplementary groups); returns the probe's lines,
/// `REACHED <kind> <path>` or `refused <kind> <path> (<error>)`, one per path.
pub fn probe_as(uid: u32, gid: u32, paths: &[(PathBuf, Kind)]) -> Vec<String> {
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        // Debian's python3: a per-user interpreter (pyenv) may not be reachable by `uid`.
        .args(["--clear-groups", "/usr/bin/python3", "-c", PROBE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run the probe through setpriv");
    let mut input = String::new();
    for (p, k) in paths {
        let kind = match k {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Socket => "socket",
        };
        input.push_str(&format!("{kind} {}\n", p.display()));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("probe output");
    writer.join().unwrap().expect("feed the probe");
    assert!(out.status.success(), "probe failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts that `uid:gid` reaches none of `paths`; lists every attempt on stderr.
pub fn assert_unreachable(who: &str, uid: u32, gid: u32, paths: &[(PathBuf, Kind)]) {
    assert!(!paths.is_empty());
    let lines = probe_as(uid, gid, paths);
    assert_eq!(lines.len(), paths.len(), "the probe answered every path");
    eprintln!("{} paths tried as {who} ({uid}:{gid}):", lines.len());
    for l in &lines {
        eprintln!("  {l}");
    }
    let reached: Vec<&String> = lines.iter().filter(|l| l.starts_with("REACHED")).collect();
    assert!(
        reached.is_empty(),
        "{who} reached {} of {} paths:\n{}",
        reached.len(),
        lines.len(),
        reached
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

//! A minimal busybox rootfs, built offline from the host's static busybox.
//! `berth image bootstrap busybox` imports it as `busybox:latest`; tests get
//! their images from it, so no registry is needed to run a container.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// Fixed mtime for every entry: the tar (and so the layer's diff id) is
/// reproducible for a given busybox binary.
const MTIME: u64 = 946_684_800; // 2000-01-01T00:00:00Z

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Writes a tar of a minimal rootfs: `bin/busybox` plus a symlink per applet
/// (from `busybox --list`), `etc/passwd` (root, nobody), `etc/group`,
/// `etc/hosts`, `tmp` (1777), `root`, and empty `proc`, `sys`, `dev`,
/// `home`, `var`. `busybox_path` must be a statically linked busybox: the
/// image has no libc.
pub fn busybox_rootfs_tar<W: Write>(busybox_path: &Path, writer: W) -> Result<()> {
    let out = Command::new(busybox_path)
        .arg("--list")
        .output()
        .map_err(|e| Error::io("run --list of", busybox_path, e))?;
    if !out.status.success() {
        return Err(Error::io(
            "run --list of",
            busybox_path,
            io::Error::other(format!("exited with {}", out.status)),
        ));
    }
    let mut applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox" && *a != "." && *a != "..")
        .map(str::to_string)
        .collect();
    if !applets.iter().any(|a| a == "sh") {
        applets.push("sh".to_string());
    }
    applets.sort();
    applets.dedup();

    let werr = |e: io::Error| Error::stream("write busybox rootfs", e);
    let mut tb = tar::Builder::new(writer);
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("var", 0o755),
    ] {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        h.set_path(format!("{dir}/")).map_err(werr)?;
        h.set_cksum();
        tb.append(&h, io::empty()).map_err(werr)?;
    }
    let f = File::open(busybox_path).map_err(|e| Error::io("open", busybox_path, e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io("stat", busybox_path, e))?
        .len();
    let mut h = header(tar::EntryType::Regular, 0o755, len);
    h.set_path("bin/busybox").map_err(werr)?;
    h.set_cksum();
    tb.append(&h, f).map_err(werr)?;
    for a in &applets {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        h.set_path(format!("bin/{a}")).map_err(werr)?;
        h.set_link_name("busybox").map_err(werr)?;
        h.set_cksum();
        tb.append(&h, io::empty()).map_err(werr)?;
    }
    for (path, body, mode) in [
        ("etc/passwd", PASSWD, 0o644),
        ("etc/group", GROUP, 0o644),
        ("etc/hosts", HOSTS, 0o644),
    ] {
        let mut h = header(tar::EntryType::Regular, mode, body.len() as u64);
        h.set_path(path).map_err(werr)?;
        h.set_cksum();
        tb.append(&h, body.as_bytes()).map_err(werr)?;
    }
    tb.into_inner().map_err(werr)?.flush().map_err(werr)?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

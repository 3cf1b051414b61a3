//! Helpers for building tars byte by byte, including names the `tar`
//! crate's safe setters would refuse (`..`, absolute paths).
#![allow(dead_code)]

use std::io::Write;

/// One crafted tar entry.
pub struct E {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub link: Vec<u8>,
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub dev: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
}

fn base(name: &str, kind: tar::EntryType, mode: u32) -> E {
    E {
        name: name.as_bytes().to_vec(),
        kind,
        link: Vec::new(),
        data: Vec::new(),
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        dev: (0, 0),
        pax: Vec::new(),
    }
}

pub fn dir(name: &str) -> E {
    base(name, tar::EntryType::Directory, 0o755)
}

pub fn file(name: &str, data: &[u8]) -> E {
    let mut e = base(name, tar::EntryType::Regular, 0o644);
    e.data = data.to_vec();
    e
}

pub fn symlink(name: &str, target: &str) -> E {
    let mut e = base(name, tar::EntryType::Symlink, 0o777);
    e.link = target.as_bytes().to_vec();
    e
}

pub fn hardlink(name: &str, target: &str) -> E {
    let mut e = base(name, tar::EntryType::Link, 0o644);
    e.link = target.as_bytes().to_vec();
    e
}

pub fn node(name: &str, kind: tar::EntryType, mode: u32, dev: (u32, u32)) -> E {
    let mut e = base(name, kind, mode);
    e.dev = dev;
    e
}

/// Builds an uncompressed tar from crafted entries.
pub fn tar_of(entries: Vec<E>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.pax.is_empty() {
            b.append_pax_extensions(e.pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            assert!(e.name.len() < 100 && e.link.len() < 100);
            old.name[..e.name.len()].copy_from_slice(&e.name);
            old.linkname[..e.link.len()].copy_from_slice(&e.link);
        }
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    g.write_all(data).unwrap();
    g.finish().unwrap()
}

/// A busybox rootfs tar from the host's static busybox.
pub fn busybox_tar() -> Vec<u8> {
    let mut v = Vec::new();
    berth_image::bootstrap::busybox_rootfs_tar(std::path::Path::new("/bin/busybox"), &mut v)
        .unwrap();
    v
}

/// Lists everything under a directory (relative paths), for "nothing was
/// created here" assertions.
pub fn tree(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &std::path::Path, p: &std::path::Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let path = e.path();
                out.push(path.strip_prefix(root).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    walk(root, &path, out);
                }
            }
        }
    }
    walk(p, p, &mut out);
    out.sort();
    out
}

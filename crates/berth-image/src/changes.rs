//! A container's changes, read from its overlay upper directory: the list `docker diff`
//! shows, and the layer tar `docker commit` stores.
//!
//! Overlay marks a deleted file with a character device 0:0 and a directory whose lower
//! contents are hidden with `trusted.overlay.opaque=y`; in a layer tar they become
//! `.wh.<name>` and `<dir>/.wh..wh..opq` (the OCI/Docker whiteout format).
//!
//! The upper directory belongs to a container that may be running; it is walked by file
//! descriptor (`openat` with `O_NOFOLLOW` below an fd of the upper dir), and the lower
//! layers are only ever looked up with `RESOLVE_IN_ROOT`, so no symlink in either leads
//! outside.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::collections::{BTreeSet, HashMap};

use crate::copy::IN_ROOT;

/// `ChangeType` of the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 0: modified
    Modified = 0,
    /// 1: added
    Added = 1,
    /// 2: deleted
    Deleted = 2,
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container.
    pub path: String,
    /// What happened to it.
    pub kind: Kind,
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 2];
    matches!(rfs::fgetxattr(fd, crate::unpack::OPAQUE_XATTR, &mut buf), Ok(1) if buf[0] == b'y')
}

fn open_dir(parent: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        parent,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn names(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut v = Vec::new();
    for ent in rfs::Dir::read_from(fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            v.push(n.to_vec());
        }
    }
    v.sort();
    Ok(v)
}

/// Stats `path` (absolute, in-container) in the topmost lower layer that has it.
fn lower_stat(lowers: &[OwnedFd], path: &[u8]) -> Option<Stat> {
    let (parent, base) = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i.max(1)], &path[i + 1..]),
        None => (&b"/"[..], path),
    };
    for l in lowers {
        let Ok(p) = rfs::openat2(
            l,
            OsStr::from_bytes(parent),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            IN_ROOT,
        ) else {
            continue;
        };
        if let Ok(st) = rfs::statat(&p, OsStr::from_bytes(base), AtFlags::SYMLINK_NOFOLLOW) {
            if is_whiteout(&st) {
                return None;
            }
            return Some(st);
        }
    }
    None
}

/// The changes of a container whose upper dir is `upper` over `lowers` (topmost first),
/// in Docker's order and with Docker's rules: a whiteout or an opaque directory is `D`,
/// a path no lower has is `A`, else `C`; a directory that only holds changes and kept
/// its size, mode and mtime is left out, but the parent of an `A` or `D` is always `C`.
///
/// `exclude` names paths the engine itself put in the upper dir (mount points of
/// /etc/hosts and friends), which Docker keeps in its init layer and never reports.
pub fn changes(
    upper: &Path,
    lowers: &[std::path::PathBuf],
    exclude: &[&str],
) -> io::Result<Vec<Change>> {
    let up = match rfs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let lowers: Vec<OwnedFd> = lowers
        .iter()
        .filter_map(|l| {
            rfs::open(
                l,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        })
        .collect();
    let mut out = Vec::new();
    let mut changed_dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    walk_changes(
        up.as_fd(),
        b"",
        &lowers,
        &mut out,
        &mut changed_dirs,
        exclude,
    )?;
    Ok(out)
}

fn walk_changes(
    dir: BorrowedFd<'_>,
    prefix: &[u8],
    lowers: &[OwnedFd],
    out: &mut Vec<Change>,
    changed_dirs: &mut BTreeSet<Vec<u8>>,
    exclude: &[&str],
) -> io::Result<()> {
    for n in names(dir)? {
        let Ok(st) = rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(&n);
        if exclude.iter().any(|e| e.as_bytes() == path.as_slice()) {
            continue;
        }
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let sub = if is_dir { open_dir(dir, &n).ok() } else { None };
        // A directory copied up only to hold the engine's mount points is not a change.
        if let Some(fd) = sub.as_ref() {
            let kids = names(fd.as_fd())?;
            let only_engine = !kids.is_empty()
                && kids.iter().all(|k| {
                    let mut p = path.clone();
                    p.push(b'/');
                    p.extend_from_slice(k);
                    exclude.iter().any(|e| e.as_bytes() == p.as_slice())
                });
            if only_engine && !is_opaque(fd.as_fd()) {
                continue;
            }
        }
        let kind = if is_whiteout(&st) || sub.as_ref().is_some_and(|fd| is_opaque(fd.as_fd())) {
            Some(Kind::Deleted)
        } else {
            match lower_stat(lowers, &path) {
                None => Some(Kind::Added),
                Some(l) => {
                    let same_dir = is_dir
                        && FileType::from_raw_mode(l.st_mode) == FileType::Directory
                        && l.st_size == st.st_size
                        && l.st_mode == st.st_mode
                        && l.st_mtime == st.st_mtime
                        && l.st_mtime_nsec == st.st_mtime_nsec;
                    (!same_dir).then_some(Kind::Modified)
                }
            }
        };
        if let Some(kind) = kind {
            if is_dir {
                changed_dirs.insert(path.clone());
            }
            // The parent of an added or deleted entry is always listed, even when its own
            // size, mode and mtime match the lower layer's.
            if matches!(kind, Kind::Added | Kind::Deleted)
                && !prefix.is_empty()
                && changed_dirs.insert(prefix.to_vec())
            {
                out.push(Change {
                    path: String::from_utf8_lossy(prefix).into_owned(),
                    kind: Kind::Modified,
                });
            }
            out.push(Change {
                path: String::from_utf8_lossy(&path).into_owned(),
                kind,
            });
        }
        if let Some(fd) = sub {
            walk_changes(fd.as_fd(), &path, lowers, out, changed_dirs, exclude)?;
        }
    }
    Ok(())
}

/// Writes the upper dir `upper` as a layer tar (whiteouts in the OCI format) to `out`.
/// Entries named in `exclude` (absolute paths) are left out, as in [`changes`].
pub fn write_layer_tar<W: Write>(upper: &Path, out: W, exclude: &[&str]) -> io::Result<()> {
    let up = rfs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut w = LayerWriter {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        exclude: exclude
            .iter()
            .map(|e| e.trim_start_matches('/').as_bytes().to_vec())
            .collect(),
    };
    w.dir(up.as_fd(), b"")?;
    w.b.into_inner()?.flush()
}

struct LayerWriter<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    exclude: Vec<Vec<u8>>,
}

fn header(st: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> LayerWriter<W> {
    fn dir(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> io::Result<()> {
        for n in names(dir)? {
            let name = OsStr::from_bytes(&n);
            let Ok(st) = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&n);
            if self.exclude.contains(&path) {
                continue;
            }
            let p = OsStr::from_bytes(&path);
            if is_whiteout(&st) {
                let mut wh = prefix.to_vec();
                if !wh.is_empty() {
                    wh.push(b'/');
                }
                wh.extend_from_slice(b".wh.");
                wh.extend_from_slice(&n);
                let mut h = header(&st, tar::EntryType::Regular);
                h.set_mode(0o600);
                self.b
                    .append_data(&mut h, OsStr::from_bytes(&wh), io::empty())?;
                continue;
            }
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    let Ok(fd) = open_dir(dir, &n) else { continue };
                    let st = rfs::fstat(&fd)?;
                    let mut h = header(&st, tar::EntryType::Directory);
                    self.b.append_data(&mut h, p, io::empty())?;
                    if is_opaque(fd.as_fd()) {
                        let mut opq = path.clone();
                        opq.extend_from_slice(b"/.wh..wh..opq");
                        let mut h = header(&st, tar::EntryType::Regular);
                        h.set_mode(0o600);
                        self.b
                            .append_data(&mut h, OsStr::from_bytes(&opq), io::empty())?;
                    }
                    self.dir(fd.as_fd(), &path)?;
                }
                FileType::RegularFile => {
                    let Ok(fd) = rfs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                        Mode::empty(),
                    ) else {
                        continue;
                    };
                    let st = rfs::fstat(&fd)?;
                    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                        continue;
                    }
                    if st.st_nlink > 1 {
                        let key = (st.st_dev, st.st_ino);
                        if let Some(first) = self.links.get(&key).cloned() {
                            let mut h = header(&st, tar::EntryType::Link);
                            self.b.append_link(&mut h, p, OsStr::from_bytes(&first))?;
                            continue;
                        }
                        self.links.insert(key, path.clone());
                    }
                    let size = st.st_size.max(0) as u64;
                    let mut h = header(&st, tar::EntryType::Regular);
                    h.set_size(size);
                    let data = File::from(fd).take(size).chain(io::repeat(0)).take(size);
                    self.b.append_data(&mut h, p, data)?;
                }
                FileType::Symlink => {
                    let Ok(t) = rfs::readlinkat(dir, name, Vec::new()) else {
                        continue;
                    };
                    let mut h = header(&st, tar::EntryType::Symlink);
                    self.b
                        .append_link(&mut h, p, OsStr::from_bytes(t.as_bytes()))?;
                }
                t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                    let kind = match t {
                        FileType::CharacterDevice => tar::EntryType::Char,
                        FileType::BlockDevice => tar::EntryType::Block,
                        _ => tar::EntryType::Fifo,
                    };
                    let mut h = header(&st, kind);
                    if kind != tar::EntryType::Fifo {
                        h.set_device_major(rfs::major(st.st_rdev))?;
                        h.set_device_minor(rfs::minor(st.st_rdev))?;
                    }
                    self.b.append_data(&mut h, p, io::empty())?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_changes_like_docker() {
        let td = tempfile::tempdir().unwrap();
        let (lower, upper) = (td.path().join("l"), td.path().join("u"));
        for d in ["l/etc", "l/usr", "u/etc", "u/new"] {
            std::fs::create_dir_all(td.path().join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/passwd"), b"x").unwrap();
        std::fs::write(lower.join("gone"), b"x").unwrap();
        std::fs::write(upper.join("etc/passwd"), b"y").unwrap();
        std::fs::write(upper.join("etc/added"), b"y").unwrap();
        std::fs::write(upper.join("new/f"), b"y").unwrap();
        let c: Vec<(String, Kind)> = changes(&upper, &[lower], &[])
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            c,
            vec![
                ("/etc".to_string(), Kind::Modified),
                ("/etc/added".to_string(), Kind::Added),
                ("/etc/passwd".to_string(), Kind::Modified),
                ("/new".to_string(), Kind::Added),
                ("/new/f".to_string(), Kind::Added),
            ]
        );
    }
}

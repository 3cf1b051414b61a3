//! Secure layer unpack.
//!
//! Threat model: the layer tar is hostile. It may name paths outside the
//! destination (`../../etc/x`, `/abs`), plant a symlink and then write
//! through it, hardlink host files, or swap a directory for a symlink halfway
//! through. The defence is structural rather than lexical: every write
//! happens relative to a directory file descriptor that was opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the layer root, and
//! every final component is created with `O_EXCL`/`O_NOFOLLOW` or an `*at`
//! call that does not follow symlinks. Symlinks themselves are stored as
//! data and never traversed. So no write can land outside the layer
//! directory, whatever the archive says.
//!
//! Absolute names and `..` that stays inside are confined lexically (as
//! Docker does); `..` that climbs above the root is an error, as is writing
//! below a symlink. Whiteouts become overlayfs whiteouts (char device 0:0)
//! and opaque markers (`trusted.overlay.opaque=y`).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::fs::{Gid, Uid};
use rustix::io::Errno;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::idmap::IdMap;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// The xattr overlayfs reads to hide a lower directory's contents.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What unpacking a layer learned about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar stream: the layer's diff id.
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Sum of regular file sizes: what `docker images` reports as size.
    pub content_size: u64,
}

/// Unpacks an *uncompressed* layer tar into `dest`, which must be an
/// existing, empty directory. On error everything written into `dest` is
/// removed again, and the error names the offending entry.
pub fn unpack_layer<R: Read>(tar: R, dest: &Path) -> Result<UnpackStats> {
    unpack_layer_mapped(tar, dest, None)
}

/// Like [`unpack_layer`], with every owner shifted through `map` (a `--userns-remap`
/// daemon): uid 0 in the layer becomes the remapped root on the host, and so on. An owner
/// outside the map is an error, as with Docker. The layer directory itself belongs to the
/// remapped root.
pub fn unpack_layer_mapped<R: Read>(
    tar: R,
    dest: &Path,
    map: Option<&IdMap>,
) -> Result<UnpackStats> {
    unpack_layer_recorded(tar, dest, map, None)
}

/// Like [`unpack_layer_mapped`], telling `split` (whose [`crate::tarsplit::SplitReader`]
/// must sit under `tar`) what each entry becomes, so that the tar can be rebuilt from the
/// unpacked files.
pub fn unpack_layer_recorded<R: Read>(
    tar: R,
    dest: &Path,
    map: Option<&IdMap>,
    split: Option<crate::tarsplit::SharedRecorder>,
) -> Result<UnpackStats> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open layer directory", dest, e.into()))?;
    if let Some(m) = map {
        let (uid, gid) = m.root_pair().ok_or_else(|| {
            Error::io(
                "chown layer directory",
                dest,
                io::Error::other("the id map has no root"),
            )
        })?;
        rfs::fchown(&root, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| Error::io("chown layer directory", dest, e.into()))?;
    }
    let mut u = Unpacker {
        root,
        dirs: Vec::new(),
        content_size: 0,
        map: map.cloned(),
        copy: None,
        buf: Vec::new(),
        split,
    };
    let res = u.run(tar);
    if res.is_err() {
        clear_dir(&u.root);
    }
    res
}

/// How `docker cp` extracts into a container ([`extract_into`]).
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Every entry gets this owner (container ids) instead of the tar's.
    pub owner: Option<(u32, u32)>,
    /// Refuse to replace a directory with a non-directory or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner shift of a remapped daemon (container ids → host ids).
    pub map: Option<IdMap>,
    /// Renames entries `old` and `old/...` to `new` and `new/...` first (the `docker cp`
    /// client's `RebaseArchiveEntries`); hard link targets too.
    pub rebase: Option<(Vec<u8>, Vec<u8>)>,
}

/// `old` → `new` at the start of a tar name, on a component boundary.
fn rebase_name(name: &[u8], rebase: &Option<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let Some((old, new)) = rebase else {
        return name.to_vec();
    };
    // A container's root arrives as `/`, `/bin`...: all of it moves under `new`.
    if old.as_slice() == b"/" {
        let rest = name.strip_prefix(b"/").unwrap_or(name);
        let mut v = new.clone();
        if !rest.is_empty() {
            v.push(b'/');
            v.extend_from_slice(rest);
        }
        return v;
    }
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    if trimmed == old.as_slice() || name.starts_with(&[old.as_slice(), b"/"].concat()) {
        let mut v = new.clone();
        v.extend_from_slice(&name[old.len()..]);
        return v;
    }
    name.to_vec()
}

/// Extracts a plain tar into the directory `dest` (an fd the caller resolved safely) with
/// the same defences as a layer unpack, for `docker cp`: no whiteout processing, and what
/// was written stays when a later entry fails. Returns the bytes of file content written.
pub fn extract_into<R: Read>(tar: R, dest: OwnedFd, opts: ExtractOptions) -> Result<u64> {
    let mut u = Unpacker {
        root: dest,
        dirs: Vec::new(),
        content_size: 0,
        map: opts.map.clone(),
        copy: Some(opts),
        buf: Vec::new(),
        split: None,
    };
    // Headers are read 512 bytes at a time: buffer them.
    let mut tar = io::BufReader::with_capacity(256 * 1024, tar);
    u.entries(&mut tar)?;
    u.finish_dirs();
    // Read to the end (record padding after the end blocks), as a layer unpack does.
    io::copy(&mut tar, &mut io::sink()).map_err(|e| Error::stream("read layer tar", e))?;
    Ok(u.content_size)
}

struct Unpacker {
    root: OwnedFd,
    /// Directories whose mtime is set at the end, after their children.
    dirs: Vec<(Vec<u8>, Timestamps)>,
    content_size: u64,
    /// Owner shift of a remapped daemon.
    map: Option<IdMap>,
    /// Set for `docker cp` extraction.
    copy: Option<ExtractOptions>,
    /// File content passes through here, in large writes.
    buf: Vec<u8>,
    /// Told what each entry becomes, when the layer's tar-split is recorded.
    split: Option<crate::tarsplit::SharedRecorder>,
}

/// Metadata of one entry, merged from the header and PAX records.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    times: Timestamps,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn entry_err(name: &[u8], e: impl Into<io::Error>) -> Error {
    Error::Entry {
        entry: String::from_utf8_lossy(name).into_owned(),
        source: e.into(),
    }
}

fn unsafe_entry(name: &[u8], reason: impl Into<String>) -> Error {
    Error::UnsafeEntry {
        entry: String::from_utf8_lossy(name).into_owned(),
        reason: reason.into(),
    }
}

/// Lexically cleans a tar name into components below the root. Leading `/`
/// is dropped (confined); `..` that would climb above the root is refused.
fn clean(name: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer root");
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

impl Unpacker {
    fn run<R: Read>(&mut self, tar: R) -> Result<UnpackStats> {
        let mut hashing = HashingReader::new(tar);
        self.entries(&mut hashing)?;
        self.finish_dirs();
        let (diff_id, tar_size) = hashing
            .drain_and_finish()
            .map_err(|e| Error::stream("read layer tar", e))?;
        Ok(UnpackStats {
            diff_id,
            tar_size,
            content_size: self.content_size,
        })
    }

    /// Applies every entry of `tar` (no digest: `extract_into` needs none).
    fn entries<R: Read>(&mut self, tar: R) -> Result<()> {
        let mut archive = tar::Archive::new(tar);
        let entries = archive
            .entries()
            .map_err(|e| Error::stream("read layer tar", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::stream("read layer tar", e))?;
            let name = entry.path_bytes().into_owned();
            let name = match &self.copy {
                Some(c) if c.rebase.is_some() => rebase_name(&name, &c.rebase),
                _ => name,
            };
            self.apply(&name, &mut entry)?;
        }
        Ok(())
    }

    fn meta<R: Read>(name: &[u8], entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let mut m = Meta {
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            times: Timestamps {
                last_access: Timespec {
                    tv_sec: h.mtime().unwrap_or(0) as i64,
                    tv_nsec: 0,
                },
                last_modification: Timespec {
                    tv_sec: h.mtime().unwrap_or(0) as i64,
                    tv_nsec: 0,
                },
            },
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(|e| entry_err(name, e))? {
            for ext in pax {
                let ext = ext.map_err(|e| entry_err(name, e))?;
                let Ok(key) = ext.key() else { continue };
                let val = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(val)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                };
                match key {
                    "uid" => m.uid = num().unwrap_or(m.uid),
                    "gid" => m.gid = num().unwrap_or(m.gid),
                    "mtime" | "atime" => {
                        if let Some(ts) = parse_pax_time(val) {
                            if key == "mtime" {
                                m.times.last_modification = ts;
                            } else {
                                m.times.last_access = ts;
                            }
                        }
                    }
                    k => {
                        if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                            m.xattrs.push((x.to_string(), val.to_vec()));
                        }
                    }
                }
            }
        }
        // Docker sets atime = mtime; so do we unless PAX said otherwise.
        if m.times.last_access.tv_sec == 0 && m.times.last_access.tv_nsec == 0 {
            m.times.last_access = m.times.last_modification;
        }
        Ok(m)
    }

    fn apply<R: Read>(&mut self, raw: &[u8], entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        let comps = clean(raw).map_err(|r| unsafe_entry(raw, r))?;
        let mut meta = Self::meta(raw, entry)?;
        if let Some((uid, gid)) = self.copy.as_ref().and_then(|c| c.owner) {
            meta.uid = uid;
            meta.gid = gid;
        }
        if let Some(m) = &self.map {
            meta.uid = m.host_uid(meta.uid).ok_or_else(|| {
                unsafe_entry(
                    raw,
                    format!("container ID {} cannot be mapped to a host ID", meta.uid),
                )
            })?;
            meta.gid = m.host_gid(meta.gid).ok_or_else(|| {
                unsafe_entry(
                    raw,
                    format!("container ID {} cannot be mapped to a host ID", meta.gid),
                )
            })?;
        }

        let Some((&base, parent_comps)) = comps.split_last() else {
            // The root itself (`./`): only its metadata applies — except for `docker cp`,
            // which leaves the existing destination directory as it is (moby skips ".").
            if kind.is_dir() && self.copy.is_none() {
                self.set_fd_meta(raw, &self.root, &meta, false)?;
                self.dirs.push((Vec::new(), meta.times));
            }
            return Ok(());
        };

        // Whiteouts first: they name a sibling, not themselves.
        if self.copy.is_none() && base.starts_with(WHITEOUT_PREFIX) {
            let parent = self.open_parent(raw, parent_comps, true)?;
            if base == WHITEOUT_OPAQUE {
                let dir = self.open_dir_rw(raw, parent_comps)?;
                rfs::fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| entry_err(raw, e))?;
            } else if base.starts_with(WHITEOUT_META_PREFIX) {
                tracing::debug!(entry = %String::from_utf8_lossy(raw), "skipping aufs metadata");
            } else {
                let target = &base[WHITEOUT_PREFIX.len()..];
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(unsafe_entry(raw, "invalid whiteout name"));
                }
                if let Some(rec) = &self.split {
                    let mut at = parent_comps.to_vec();
                    at.push(target);
                    rec.borrow_mut().other(&join(&at));
                }
                remove_existing(&parent, target).map_err(|e| entry_err(raw, e))?;
                rfs::mknodat(
                    &parent,
                    target,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rfs::makedev(0, 0),
                )
                .map_err(|e| entry_err(raw, e))?;
                chown_at(&parent, target, &meta).map_err(|e| entry_err(raw, e))?;
            }
            return Ok(());
        }

        let parent = self.open_parent(raw, parent_comps, true)?;
        if self
            .copy
            .as_ref()
            .is_some_and(|c| c.no_overwrite_dir_non_dir)
        {
            if let Ok(st) = rfs::statat(&parent, base, AtFlags::SYMLINK_NOFOLLOW) {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                let name = String::from_utf8_lossy(&join(&comps)).into_owned();
                if is_dir && !kind.is_dir() {
                    return Err(unsafe_entry(
                        raw,
                        format!("cannot overwrite directory \"/{name}\" with non-directory"),
                    ));
                }
                if !is_dir && kind.is_dir() {
                    return Err(unsafe_entry(
                        raw,
                        format!("cannot overwrite non-directory \"/{name}\" with directory"),
                    ));
                }
            }
        }
        use tar::EntryType as T;
        if let Some(rec) = &self.split {
            let mut rec = rec.borrow_mut();
            let path = join(&comps);
            match kind {
                T::Directory => rec.dir(&path),
                T::Regular | T::Continuous => {
                    rec.file(&path, entry.raw_file_position(), entry.size())
                }
                T::GNUSparse => rec.unusable(),
                _ => rec.other(&path),
            }
        }
        match kind {
            T::Directory => {
                match rfs::statat(&parent, base, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        remove_existing(&parent, base).map_err(|e| entry_err(raw, e))?;
                        mkdir(&parent, base).map_err(|e| entry_err(raw, e))?;
                    }
                    Err(Errno::NOENT) => mkdir(&parent, base).map_err(|e| entry_err(raw, e))?,
                    Err(e) => return Err(entry_err(raw, e)),
                }
                let fd = rfs::openat(
                    &parent,
                    base,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| entry_err(raw, e))?;
                self.set_fd_meta(raw, &fd, &meta, false)?;
                self.dirs.push((join(&comps), meta.times));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(&parent, base).map_err(|e| entry_err(raw, e))?;
                let fd = rfs::openat(
                    &parent,
                    base,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| entry_err(raw, e))?;
                let mut file = File::from(fd);
                let n = if kind == T::GNUSparse {
                    copy_sparse(entry, &file)
                } else {
                    copy_big(entry, &mut file, &mut self.buf)
                }
                .map_err(|e| entry_err(raw, e))?;
                self.content_size += n;
                let fd = OwnedFd::from(file);
                self.set_fd_meta(raw, &fd, &meta, true)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(raw, "symlink without target"))?
                    .into_owned();
                remove_existing(&parent, base).map_err(|e| entry_err(raw, e))?;
                rfs::symlinkat(OsStr::from_bytes(&target), &parent, base)
                    .map_err(|e| entry_err(raw, e))?;
                chown_at(&parent, base, &meta).map_err(|e| entry_err(raw, e))?;
                rfs::utimensat(&parent, base, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| entry_err(raw, e))?;
            }
            T::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(raw, "hardlink without target"))?
                    .into_owned();
                let target_raw = match &self.copy {
                    Some(c) => rebase_name(&target_raw, &c.rebase),
                    None => target_raw,
                };
                let tcomps = clean(&target_raw)
                    .map_err(|_| unsafe_entry(raw, "hardlink target escapes the layer root"))?;
                let Some((&tbase, tparent_comps)) = tcomps.split_last() else {
                    return Err(unsafe_entry(raw, "hardlink to the layer root"));
                };
                let tparent = self
                    .open_parent(raw, tparent_comps, false)
                    .map_err(|_| unsafe_entry(raw, "hardlink target is not inside the layer"))?;
                match rfs::statat(&tparent, tbase, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return Err(unsafe_entry(raw, "hardlink to a directory"));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(unsafe_entry(raw, "hardlink target is not inside the layer"))
                    }
                }
                if comps == tcomps {
                    return Ok(());
                }
                remove_existing(&parent, base).map_err(|e| entry_err(raw, e))?;
                rfs::linkat(&tparent, tbase, &parent, base, AtFlags::empty())
                    .map_err(|e| entry_err(raw, e))?;
            }
            T::Char | T::Block | T::Fifo => {
                let ft = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let h = entry.header();
                let dev = rfs::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                remove_existing(&parent, base).map_err(|e| entry_err(raw, e))?;
                rfs::mknodat(&parent, base, ft, Mode::from_raw_mode(meta.mode), dev)
                    .map_err(|e| entry_err(raw, e))?;
                chown_at(&parent, base, &meta).map_err(|e| entry_err(raw, e))?;
                // chown may clear mode bits; the node is not a symlink (we
                // just made it), so following is moot.
                rfs::chmodat(
                    &parent,
                    base,
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )
                .map_err(|e| entry_err(raw, e))?;
                rfs::utimensat(&parent, base, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| entry_err(raw, e))?;
            }
            other => {
                tracing::debug!(entry = %String::from_utf8_lossy(raw), kind = ?other, "skipping unsupported tar entry");
            }
        }
        Ok(())
    }

    /// Opens (as `O_PATH`) the directory `comps` below the root without
    /// following any symlink; creates missing directories when `create`.
    fn open_parent(&self, raw: &[u8], comps: &[&[u8]], create: bool) -> Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if comps.is_empty() {
            return rfs::openat(&self.root, ".", flags, Mode::empty())
                .map_err(|e| entry_err(raw, e));
        }
        match rfs::openat2(&self.root, join(comps), flags, Mode::empty(), BENEATH) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => {}
            Err(e) => return Err(parent_error(raw, e)),
        }
        let mut cur =
            rfs::openat(&self.root, ".", flags, Mode::empty()).map_err(|e| entry_err(raw, e))?;
        for c in comps {
            let next = match rfs::openat2(&cur, *c, flags, Mode::empty(), BENEATH) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    mkdir(&cur, c).map_err(|e| entry_err(raw, e))?;
                    rfs::openat2(&cur, *c, flags, Mode::empty(), BENEATH)
                        .map_err(|e| parent_error(raw, e))?
                }
                Err(e) => return Err(parent_error(raw, e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Opens a directory below the root for reading (so xattrs can be set
    /// on the fd), refusing symlinks anywhere on the way.
    fn open_dir_rw(&self, raw: &[u8], comps: &[&[u8]]) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let path = if comps.is_empty() {
            b".".to_vec()
        } else {
            join(comps)
        };
        rfs::openat2(&self.root, path, flags, Mode::empty(), BENEATH)
            .map_err(|e| parent_error(raw, e))
    }

    fn set_fd_meta(&self, raw: &[u8], fd: &OwnedFd, m: &Meta, times: bool) -> Result<()> {
        rfs::fchown(fd, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid)))
            .map_err(|e| entry_err(raw, e))?;
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode)).map_err(|e| entry_err(raw, e))?;
        for (k, v) in &m.xattrs {
            if k.starts_with("trusted.overlay.") {
                // Only whiteout conversion may set overlay's own attributes;
                // a layer that carries them could redirect lookups.
                tracing::warn!(entry = %String::from_utf8_lossy(raw), xattr = %k, "dropping overlay xattr from layer");
                continue;
            }
            match rfs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty()) {
                Ok(()) => {}
                Err(e) if e == Errno::NOTSUP || e == Errno::PERM => {
                    tracing::warn!(entry = %String::from_utf8_lossy(raw), xattr = %k, "xattr not supported here; dropped");
                }
                Err(e) => return Err(entry_err(raw, e)),
            }
        }
        if times {
            rfs::futimens(fd, &m.times).map_err(|e| entry_err(raw, e))?;
        }
        Ok(())
    }

    fn finish_dirs(&mut self) {
        for (path, ts) in self.dirs.drain(..).rev() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let p = if path.is_empty() { b".".to_vec() } else { path };
            // A directory replaced later in the archive is simply skipped.
            if let Ok(fd) = rfs::openat2(&self.root, p, flags, Mode::empty(), BENEATH) {
                let _ = rfs::futimens(&fd, &ts);
            }
        }
    }
}

fn parent_error(raw: &[u8], e: Errno) -> Error {
    match e {
        Errno::LOOP | Errno::XDEV => unsafe_entry(
            raw,
            "a parent directory is a symlink; refusing to write through it",
        ),
        Errno::NOTDIR => unsafe_entry(raw, "a parent path is not a directory"),
        e => entry_err(raw, e),
    }
}

fn mkdir(parent: &OwnedFd, name: &[u8]) -> rustix::io::Result<()> {
    match rfs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
        Err(Errno::EXIST) => Ok(()),
        r => r,
    }
}

fn chown_at(parent: &OwnedFd, name: &[u8], m: &Meta) -> rustix::io::Result<()> {
    rfs::chownat(
        parent,
        name,
        Some(Uid::from_raw(m.uid)),
        Some(Gid::from_raw(m.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

/// Removes whatever is at `parent/name` (a directory recursively), never
/// following symlinks. Missing is fine.
pub(crate) fn remove_existing(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            let dir = rfs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            clear_dir_fd(&dir)?;
            rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
            Ok(())
        }
        Ok(_) => Ok(rfs::unlinkat(parent, name, AtFlags::empty())?),
    }
}

fn clear_dir_fd(dir: &OwnedFd) -> io::Result<()> {
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(dir)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_existing(dir, &n)?;
    }
    Ok(())
}

fn clear_dir(dir: &OwnedFd) {
    if let Err(e) = clear_dir_fd(dir) {
        tracing::warn!(error = %e, "could not clean up partially unpacked layer");
    }
}

/// `io::copy` in writes of up to 256 KiB (its own are 8 KiB).
fn copy_big(r: &mut impl Read, w: &mut File, buf: &mut Vec<u8>) -> io::Result<u64> {
    use std::io::Write;
    if buf.is_empty() {
        buf.resize(256 * 1024, 0);
    }
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        w.write_all(&buf[..filled])?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

/// Block size holes are recreated at.
const HOLE_BLOCK: usize = 4096;

fn is_zero(b: &[u8]) -> bool {
    let (chunks, rest) = b.split_at(b.len() / 16 * 16);
    chunks
        .chunks_exact(16)
        .all(|c| u128::from_ne_bytes(c.try_into().unwrap_or([1; 16])) == 0)
        && rest.iter().all(|&x| x == 0)
}

/// Writes a sparse entry's content (holes read back as zeros) to `f`, seeking over every
/// all-zero 4 KiB block instead of writing it, and sets the length at the end: the holes
/// come back as holes.
fn copy_sparse(r: &mut impl Read, f: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 * HOLE_BLOCK];
    let mut pos = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut i = 0;
        while i < filled {
            let end = (i + HOLE_BLOCK).min(filled);
            if is_zero(&buf[i..end]) {
                i = end;
                continue;
            }
            let start = i;
            i = end;
            while i < filled {
                let e = (i + HOLE_BLOCK).min(filled);
                if is_zero(&buf[i..e]) {
                    break;
                }
                i = e;
            }
            f.write_all_at(&buf[start..i], pos + start as u64)?;
        }
        pos += filled as u64;
        if filled < buf.len() {
            break;
        }
    }
    f.set_len(pos)?;
    Ok(pos)
}

fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let tv_sec: i64 = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let tv_nsec: i64 = digits.parse().ok()?;
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_names() {
        assert_eq!(clean(b"./a/b/").unwrap(), vec![&b"a"[..], b"b"]);
        assert_eq!(clean(b"/abs/path").unwrap(), vec![&b"abs"[..], b"path"]);
        assert_eq!(clean(b"a/../b").unwrap(), vec![&b"b"[..]]);
        assert!(clean(b"./").unwrap().is_empty());
        assert!(clean(b"../x").is_err());
        assert!(clean(b"a/../../x").is_err());
    }

    #[test]
    fn pax_times() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1700000000, 500_000_000));
        assert!(parse_pax_time(b"x").is_none());
    }
}

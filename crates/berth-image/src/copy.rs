//! `docker cp` and `docker export` on the daemon's side: stat a path inside a container's
//! filesystem, write a tar of it, find the directory a tar is extracted into.
//!
//! Threat model: the container is hostile and runs while we work (CVE-2018-15664). Every
//! path from the request is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! relative to a file descriptor of the container's root, so `..` and symlinks (absolute
//! ones included) stay inside it. Below that point the walk is done on file descriptors
//! only: every child is opened with `openat(dirfd, name, O_NOFOLLOW)` and its type is
//! taken from `fstat` of the fd we opened, so a component swapped for a symlink while we
//! walk fails to open (or is archived as the symlink it now is) and never leads outside.
//! Nothing from the container is executed or loaded.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use std::os::unix::fs::FileExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, SeekFrom, Stat};
use rustix::io::Errno;

/// How every container path is resolved: inside the root, no magic links.
pub const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// A path inside a container as `docker cp` sends it, cleaned lexically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPath {
    /// Components below `/`, without `.`/`..` (cleaned the way Go's `filepath.Clean` does).
    pub comps: Vec<Vec<u8>>,
    /// The path ends in `/` or `/.`: its last symlink is followed, and it must be a dir.
    pub follow_last: bool,
    /// The name its tar entries start with: the base name, or `.` for a trailing `/.`.
    pub name: Vec<u8>,
}

impl CpPath {
    /// Parses a request's `path=`.
    pub fn parse(raw: &str) -> CpPath {
        let b = raw.as_bytes();
        let mut comps: Vec<Vec<u8>> = Vec::new();
        for c in b.split(|&x| x == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    comps.pop();
                }
                c => comps.push(c.to_vec()),
            }
        }
        let dot = b == b"." || b.ends_with(b"/.");
        let follow_last = comps.is_empty() || dot || b.ends_with(b"/");
        let name = if dot {
            b".".to_vec()
        } else {
            comps.last().cloned().unwrap_or_else(|| b"/".to_vec())
        };
        CpPath {
            comps,
            follow_last,
            name,
        }
    }

    /// The cleaned absolute path (`/a/b`), as error messages show it.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.comps.join(&b'/')))
    }

    fn joined(&self) -> Vec<u8> {
        if self.comps.is_empty() {
            b"/".to_vec()
        } else {
            let mut v = b"/".to_vec();
            v.extend(self.comps.join(&b'/'));
            v
        }
    }

    fn parent(&self) -> Vec<u8> {
        match self.comps.split_last() {
            Some((_, p)) if !p.is_empty() => {
                let mut v = b"/".to_vec();
                v.extend(p.join(&b'/'));
                v
            }
            _ => b"/".to_vec(),
        }
    }
}

/// `X-Docker-Container-Path-Stat`: what `HEAD /containers/{id}/archive` answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStat {
    /// Base name (`.` for a trailing `/.`, `/` for the root).
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go's `os.FileMode` bits (type bits high, permissions low).
    pub mode: u32,
    /// RFC 3339 modification time.
    pub mtime: String,
    /// For a symlink: the absolute path it resolves to inside the container.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` of a `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        FileType::BlockDevice => 1 << 26,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

fn o_path_dir() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Opens `root` (a host path the daemon owns) as the fd everything is resolved against.
pub fn open_root(root: &std::path::Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(root, o_path_dir(), Mode::empty())?)
}

/// Where a path is: its parent directory (resolved in the root) and its last component,
/// or the directory itself when the last component is followed (trailing `/`, `/.`, `/`).
enum Located {
    Child(OwnedFd, Vec<u8>),
    Dir(OwnedFd),
}

fn locate(root: BorrowedFd<'_>, p: &CpPath) -> io::Result<Located> {
    if p.follow_last {
        let fd = rfs::openat2(
            root,
            OsStr::from_bytes(&p.joined()),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            IN_ROOT,
        )?;
        return Ok(Located::Dir(fd));
    }
    let parent = rfs::openat2(
        root,
        OsStr::from_bytes(&p.parent()),
        o_path_dir(),
        Mode::empty(),
        IN_ROOT,
    )?;
    let base = p.comps.last().cloned().unwrap_or_default();
    Ok(Located::Child(parent, base))
}

fn fd_path(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    std::fs::read_link(link)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

fn mtime_text(st: &Stat) -> String {
    chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Stats `p` inside `root` without following its last symlink (unless the path ends in
/// `/` or `/.`). `NotFound` means the path is not there.
pub fn stat(root: BorrowedFd<'_>, p: &CpPath) -> io::Result<PathStat> {
    let (st, link_target) = match locate(root, p)? {
        Located::Dir(fd) => (rfs::fstat(&fd)?, String::new()),
        Located::Child(parent, base) => {
            let st = rfs::statat(&parent, OsStr::from_bytes(&base), AtFlags::SYMLINK_NOFOLLOW)?;
            let target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                link_target(root, &parent, &base, p)
            } else {
                String::new()
            };
            (st, target)
        }
    };
    Ok(PathStat {
        name: String::from_utf8_lossy(&p.name).into_owned(),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: mtime_text(&st),
        link_target,
    })
}

/// The absolute in-container path a symlink resolves to: found by resolving it in the
/// root and reading back where the kernel landed; lexically when the target is missing.
fn link_target(root: BorrowedFd<'_>, parent: &OwnedFd, base: &[u8], p: &CpPath) -> String {
    let resolved = rfs::openat2(
        root,
        OsStr::from_bytes(&p.joined()),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    );
    if let (Ok(fd), Some(rootp)) = (resolved, fd_path(root)) {
        if let Some(fp) = fd_path(fd.as_fd()) {
            if rootp == b"/" {
                return String::from_utf8_lossy(&fp).into_owned();
            }
            if let Some(rest) = fp.strip_prefix(rootp.as_slice()) {
                if rest.is_empty() {
                    return "/".into();
                }
                if rest.starts_with(b"/") {
                    return String::from_utf8_lossy(rest).into_owned();
                }
            }
        }
    }
    let text = rfs::readlinkat(parent, OsStr::from_bytes(base), Vec::new())
        .map(|t| t.into_bytes())
        .unwrap_or_default();
    let mut joined = if text.starts_with(b"/") {
        Vec::new()
    } else {
        p.parent()
    };
    joined.push(b'/');
    joined.extend(text);
    CpPath::parse(&String::from_utf8_lossy(&joined)).display()
}

/// Filesystems a walk never descends into (their files are not files).
fn pseudo_fs(fd: BorrowedFd<'_>) -> bool {
    const PROC: i64 = 0x9fa0;
    const SYSFS: i64 = 0x6265_6572;
    const CGROUP: i64 = 0x27e0eb;
    const CGROUP2: i64 = 0x6367_7270;
    // `f_type`'s width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    match rfs::fstatfs(fd) {
        Ok(s) => matches!(s.f_type as i64, PROC | SYSFS | CGROUP | CGROUP2),
        Err(_) => false,
    }
}

/// Writes a tar of `p` (inside `root`) to `out`, its entries named as docker names them:
/// `name`, `name/child`... (`./child` for a trailing `/.`). Returns the bytes of file
/// content written. Entries that vanish or change type during the walk are skipped.
pub fn write_tar<W: Write>(root: BorrowedFd<'_>, p: &CpPath, out: W) -> io::Result<u64> {
    write_tar_with(root, p, TarOptions::default(), out)
}

/// How a tar is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct TarOptions {
    /// Files with holes become old-GNU sparse entries (type `S`: GNU tar, bsdtar, Go and
    /// the `tar` crate read them). Off by default: Docker never writes them, and the docker
    /// CLI's extractor (moby `createTarFile`) refuses type `S` ("unhandled tar header type").
    pub sparse: bool,
}

/// [`write_tar`] with options.
pub fn write_tar_with<W: Write>(
    root: BorrowedFd<'_>,
    p: &CpPath,
    opts: TarOptions,
    out: W,
) -> io::Result<u64> {
    let mut t = TarWalk::new(out);
    t.sparse = opts.sparse;
    match locate(root, p)? {
        Located::Dir(fd) => t.dir(fd, p.name.clone(), true)?,
        Located::Child(parent, base) => {
            // The entry must exist, or the caller's 404 check raced with a removal.
            rfs::statat(&parent, OsStr::from_bytes(&base), AtFlags::SYMLINK_NOFOLLOW)?;
            t.child(parent.as_fd(), &base, p.name.clone())?
        }
    }
    t.finish()
}

/// Writes a flat tar of a whole tree (`docker export`): entries `bin/`, `etc/passwd`...
/// with no entry for the root itself.
pub fn write_tree_tar<W: Write>(root: BorrowedFd<'_>, out: W) -> io::Result<u64> {
    let dir = rfs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut t = TarWalk::new(out);
    t.dir(dir, Vec::new(), false)?;
    t.finish()
}

/// Writes a tar of a host path for `cp` into a container (the client's side): `name` is
/// the first component of every entry; with `contents` (a trailing `/.`) the directory's
/// own entry is `name` (`.`) and its children `./child`. Returns the content bytes.
pub fn write_host_tar<W: Write>(
    path: &std::path::Path,
    contents: bool,
    name: Vec<u8>,
    out: W,
) -> io::Result<u64> {
    write_host_tar_with(path, contents, name, TarOptions::default(), out)
}

/// [`write_host_tar`] with options.
pub fn write_host_tar_with<W: Write>(
    path: &std::path::Path,
    contents: bool,
    name: Vec<u8>,
    opts: TarOptions,
    out: W,
) -> io::Result<u64> {
    let mut t = TarWalk::new(out);
    t.sparse = opts.sparse;
    if contents {
        let fd = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        t.dir(fd, name, true)?;
    } else {
        let parent = path.parent().unwrap_or(std::path::Path::new("/"));
        let parent = rfs::open(
            if parent.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                parent
            },
            o_path_dir(),
            Mode::empty(),
        )?;
        let base = path
            .file_name()
            .map(|b| b.as_bytes().to_vec())
            .unwrap_or_else(|| b".".to_vec());
        rfs::statat(&parent, OsStr::from_bytes(&base), AtFlags::SYMLINK_NOFOLLOW)?;
        t.child(parent.as_fd(), &base, name)?;
    }
    t.finish()
}

struct TarWalk<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    copied: u64,
    /// Write files with holes as sparse entries.
    sparse: bool,
}

fn skippable(e: Errno) -> bool {
    matches!(
        e,
        Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::NXIO | Errno::ISDIR
    )
}

fn header_for(st: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn child_name(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        return name.to_vec();
    }
    // The container's root is archived as `/`, its children as `/bin`... (moby's rebase of
    // the root gives one leading slash, never two).
    if prefix == b"/" {
        let mut v = b"/".to_vec();
        v.extend_from_slice(name);
        return v;
    }
    let mut v = prefix.to_vec();
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

impl<W: Write> TarWalk<W> {
    fn new(out: W) -> Self {
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Complete);
        b.follow_symlinks(false);
        TarWalk {
            b,
            links: HashMap::new(),
            copied: 0,
            sparse: false,
        }
    }

    /// Appends an entry with its name (and link target) written verbatim, so `./x` stays
    /// `./x` as Docker writes it; long ones get GNU long-name records first.
    fn put(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long(tar::EntryType::GNULongName, name)?;
        }
        if let Some(l) = link.filter(|l| l.len() > 100) {
            self.long(tar::EntryType::GNULongLink, l)?;
        }
        if let Some(g) = h.as_gnu_mut() {
            let n = name.len().min(100);
            g.name = [0; 100];
            g.name[..n].copy_from_slice(&name[..n]);
            if let Some(l) = link {
                let n = l.len().min(100);
                g.linkname = [0; 100];
                g.linkname[..n].copy_from_slice(&l[..n]);
            }
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    fn long(&mut self, kind: tar::EntryType, data: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        if let Some(g) = h.as_gnu_mut() {
            g.name[..13].copy_from_slice(b"././@LongLink");
        }
        h.set_mode(0o644);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64 + 1);
        h.set_cksum();
        self.b.append(&h, data.chain(&[0u8][..]))
    }

    /// Writes a PAX header with the archivable xattrs of `fd` (`SCHILY.xattr.NAME`, as GNU
    /// tar and Docker write them) for the entry `name` that follows; nothing when it has none.
    fn xattrs(&mut self, fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
        let attrs = read_xattrs(fd);
        if attrs.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for (k, v) in &attrs {
            pax_record(&mut body, &[b"SCHILY.xattr.", k.as_slice()].concat(), v);
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        let base = name
            .strip_suffix(b"/")
            .unwrap_or(name)
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default();
        let mut pname = b"PaxHeaders.0/".to_vec();
        pname.extend_from_slice(&base[..base.len().min(80)]);
        if let Some(u) = h.as_ustar_mut() {
            u.name[..pname.len()].copy_from_slice(&pname);
        }
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(body.len() as u64);
        h.set_cksum();
        self.b.append(&h, &body[..])
    }

    /// Appends a file with holes as an old-GNU sparse entry (type `S`): the map of its data
    /// chunks in the header (4) and extension blocks (21 each), then only those chunks.
    fn sparse(
        &mut self,
        st: &Stat,
        name: &[u8],
        file: File,
        size: u64,
        map: Vec<(u64, u64)>,
    ) -> io::Result<()> {
        let mut entries = map.clone();
        if entries.last().is_none_or(|&(o, l)| o + l < size) {
            // The map must end at the real size (a trailing hole).
            entries.push((size, 0));
        }
        let stored: u64 = map.iter().map(|c| c.1).sum();
        let mut h = header_for(st, tar::EntryType::GNUSparse);
        h.set_size(stored);
        let (head, rest) = entries.split_at(entries.len().min(4));
        if let Some(g) = h.as_gnu_mut() {
            g.set_real_size(size);
            for (slot, &(o, l)) in g.sparse.iter_mut().zip(head) {
                slot.set_offset(o);
                slot.set_length(l);
            }
            g.set_is_extended(!rest.is_empty());
        }
        let mut ext = Vec::new();
        let mut groups = rest.chunks(21).peekable();
        while let Some(group) = groups.next() {
            let mut e = tar::GnuExtSparseHeader::new();
            for (slot, &(o, l)) in e.sparse.iter_mut().zip(group) {
                slot.set_offset(o);
                slot.set_length(l);
            }
            e.set_is_extended(groups.peek().is_some());
            ext.extend_from_slice(e.as_bytes());
        }
        let data = ChunkReader {
            file,
            chunks: map,
            i: 0,
            done: 0,
        };
        // The extension blocks go between the header and the data; `size` counts the data.
        self.put(h, name, None, io::Cursor::new(ext).chain(data))
    }

    fn finish(self) -> io::Result<u64> {
        let copied = self.copied;
        self.b.into_inner()?.flush()?;
        Ok(copied)
    }

    /// Archives the directory `fd` as `name` (`name` empty: no entry of its own), then its
    /// children in name order.
    fn dir(&mut self, fd: OwnedFd, name: Vec<u8>, own_entry: bool) -> io::Result<()> {
        let st = rfs::fstat(&fd)?;
        if own_entry {
            let h = header_for(&st, tar::EntryType::Directory);
            let mut n = name.clone();
            if n != b"/" {
                n.push(b'/');
            }
            self.xattrs(fd.as_fd(), &n)?;
            self.put(h, &n, None, io::empty())?;
        }
        if pseudo_fs(fd.as_fd()) {
            return Ok(());
        }
        let mut names = Vec::new();
        for ent in rfs::Dir::read_from(&fd)? {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            self.child(fd.as_fd(), &n, child_name(&name, &n))?;
        }
        Ok(())
    }

    /// Archives `parent/base` (never following it) as `name`.
    fn child(&mut self, parent: BorrowedFd<'_>, base: &[u8], name: Vec<u8>) -> io::Result<()> {
        let b = OsStr::from_bytes(base);
        let st = match rfs::statat(parent, b, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(e) if skippable(e) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = match rfs::openat(
                    parent,
                    b,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(e) if skippable(e) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                self.dir(fd, name, true)?;
            }
            FileType::RegularFile => {
                let fd = match rfs::openat(
                    parent,
                    b,
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::NONBLOCK
                        | OFlags::NOCTTY
                        | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(e) if skippable(e) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // What we opened is what we archive, whatever the name points at now.
                let st = rfs::fstat(&fd)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Ok(());
                }
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let first = first.clone();
                        let h = header_for(&st, tar::EntryType::Link);
                        self.put(h, &name, Some(&first), io::empty())?;
                        return Ok(());
                    }
                    self.links.insert(key, name.clone());
                }
                self.xattrs(fd.as_fd(), &name)?;
                let size = st.st_size.max(0) as u64;
                // Fewer blocks than bytes: it may have holes, written as a sparse entry.
                let map = if self.sparse && (st.st_blocks.max(0) as u64).saturating_mul(512) < size
                {
                    data_map(fd.as_fd(), size)
                } else {
                    None
                };
                if let Some(map) = map {
                    self.sparse(&st, &name, File::from(fd), size, map)?;
                    self.copied += size;
                    return Ok(());
                }
                let mut h = header_for(&st, tar::EntryType::Regular);
                h.set_size(size);
                // A file that shrinks or grows meanwhile still fills exactly `size` bytes.
                let data = File::from(fd).take(size).chain(io::repeat(0)).take(size);
                self.put(h, &name, None, data)?;
                self.copied += size;
            }
            FileType::Symlink => {
                let target = match rfs::readlinkat(parent, b, Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(e) if skippable(e) || e == Errno::INVAL => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let h = header_for(&st, tar::EntryType::Symlink);
                self.put(h, &name, Some(&target), io::empty())?;
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match t {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header_for(&st, kind);
                if kind != tar::EntryType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                self.put(h, &name, None, io::empty())?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Which xattrs travel in an archive: `user.*`, `trusted.*` (but never overlayfs's own) and
/// file capabilities; not LSM labels or ACLs of the host.
fn archivable_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.")
        || (name.starts_with(b"trusted.") && !name.starts_with(b"trusted.overlay."))
        || name == b"security.capability"
}

/// The archivable xattrs of `fd`, sorted by name. Errors (no support, a race) yield none.
fn read_xattrs(fd: BorrowedFd<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut list = vec![0u8; 1024];
    let n = loop {
        match rfs::flistxattr(fd, &mut list[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => match rfs::flistxattr_query(fd) {
                Ok(need) => list.resize(need.max(list.len() * 2), 0),
                Err(_) => return Vec::new(),
            },
            Err(_) => return Vec::new(),
        }
    };
    let mut out = Vec::new();
    for name in list[..n].split(|&b| b == 0) {
        if name.is_empty() || !archivable_xattr(name) {
            continue;
        }
        let Ok(name_str) = std::str::from_utf8(name) else {
            continue;
        };
        let mut val = vec![0u8; 256];
        let got = loop {
            match rfs::fgetxattr(fd, name_str, &mut val[..]) {
                Ok(n) => break Some(n),
                Err(Errno::RANGE) => match rfs::fgetxattr_query(fd, name_str) {
                    Ok(need) => val.resize(need.max(val.len() * 2), 0),
                    Err(_) => break None,
                },
                Err(_) => break None,
            }
        };
        if let Some(len) = got {
            val.truncate(len);
            out.push((name.to_vec(), val));
        }
    }
    out.sort();
    out
}

/// One PAX record: `LEN KEY=VALUE\n`, where LEN counts the whole record, itself included.
fn pax_record(out: &mut Vec<u8>, key: &[u8], val: &[u8]) {
    let rest = key.len() + val.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(val);
    out.push(b'\n');
}

/// The data chunks `(offset, length)` of a file of `size` bytes found with
/// `SEEK_DATA`/`SEEK_HOLE`, on 512-byte boundaries (as tar readers want them), or `None`
/// when it has no hole (or the filesystem cannot tell).
fn data_map(fd: BorrowedFd<'_>, size: u64) -> Option<Vec<(u64, u64)>> {
    let mut chunks: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0;
    while pos < size {
        let start = match rfs::seek(fd, SeekFrom::Data(pos)) {
            Ok(o) => o,
            Err(Errno::NXIO) => break,
            Err(_) => return None,
        };
        if start >= size {
            break;
        }
        let end = rfs::seek(fd, SeekFrom::Hole(start)).ok()?.min(size);
        if end <= start {
            return None;
        }
        let s = start / 512 * 512;
        let e = (end.div_ceil(512) * 512).min(size);
        match chunks.last_mut() {
            Some(last) if last.0 + last.1 >= s => last.1 = e - last.0,
            _ => chunks.push((s, e - s)),
        }
        pos = end;
    }
    if chunks.len() == 1 && chunks[0] == (0, size) {
        return None;
    }
    Some(chunks)
}

/// Reads the chunks of a sparse file back to back, each exactly its length (zeros where
/// the file shrank meanwhile).
struct ChunkReader {
    file: File,
    chunks: Vec<(u64, u64)>,
    i: usize,
    done: u64,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(&(off, len)) = self.chunks.get(self.i) {
            if self.done >= len {
                self.i += 1;
                self.done = 0;
                continue;
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let want = buf.len().min((len - self.done) as usize);
            let mut n = self.file.read_at(&mut buf[..want], off + self.done)?;
            if n == 0 {
                buf[..want].fill(0);
                n = want;
            }
            self.done += n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Why a directory cannot take an extraction.
#[derive(Debug)]
pub enum ExtractPointError {
    /// The path does not exist.
    NotFound,
    /// The path exists but is not a directory.
    NotDirectory,
    /// Anything else.
    Io(io::Error),
}

/// Opens the directory `p` (inside `root`) that a `PUT /archive` extracts into. Its last
/// component is not followed when it is a symlink, as with Docker (the CLI resolves
/// symlinks itself first).
pub fn open_extract_dir(
    root: BorrowedFd<'_>,
    p: &CpPath,
) -> std::result::Result<OwnedFd, ExtractPointError> {
    let map = |e: Errno| match e {
        Errno::NOENT => ExtractPointError::NotFound,
        Errno::NOTDIR | Errno::LOOP => ExtractPointError::NotDirectory,
        e => ExtractPointError::Io(e.into()),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match locate(root, p) {
        Ok(Located::Dir(fd)) => Ok(fd),
        Ok(Located::Child(parent, base)) => {
            let st = rfs::statat(&parent, OsStr::from_bytes(&base), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(map)?;
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return Err(ExtractPointError::NotDirectory);
            }
            rfs::openat(
                &parent,
                OsStr::from_bytes(&base),
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(map)
        }
        Err(e) => Err(match e.raw_os_error() {
            Some(libc::ENOENT) => ExtractPointError::NotFound,
            Some(libc::ENOTDIR) => ExtractPointError::NotDirectory,
            _ => ExtractPointError::Io(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_like_docker() {
        let p = CpPath::parse("/etc/../etc/passwd");
        assert_eq!(p.display(), "/etc/passwd");
        assert!(!p.follow_last);
        assert_eq!(p.name, b"passwd");
        let p = CpPath::parse("/etc/.");
        assert!(p.follow_last);
        assert_eq!(p.name, b".");
        let p = CpPath::parse("/etc/");
        assert!(p.follow_last);
        assert_eq!(p.name, b"etc");
        let p = CpPath::parse("../../..");
        assert_eq!(p.display(), "/");
        assert!(p.follow_last);
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o104755), (1 << 23) | 0o755);
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let td = tempfile::tempdir().unwrap();
        let r = td.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/f"), b"in").unwrap();
        std::os::unix::fs::symlink("/", r.join("d/up")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("esc")).unwrap();
        let root = open_root(r).unwrap();
        // /esc resolves to /etc inside the root, which does not exist there.
        assert_eq!(
            stat(root.as_fd(), &CpPath::parse("/esc/."))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        let s = stat(root.as_fd(), &CpPath::parse("/d/up")).unwrap();
        assert_eq!(s.link_target, "/");
        assert_ne!(s.mode & (1 << 27), 0);
        let mut out = Vec::new();
        write_tar(root.as_fd(), &CpPath::parse("/d/up/d/."), &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["./", "./f", "./up"]);
    }

    /// Owners, modes, xattrs, hard links, symlinks, fifos and holes survive a round trip
    /// through `write_host_tar` and `extract_into`; GNU tar reads the same archive.
    #[test]
    fn round_trip_keeps_metadata_hardlinks_xattrs_and_holes() {
        use crate::unpack::{extract_into, ExtractOptions};
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let td = tempfile::tempdir().unwrap();
        let src = td.path().join("src");
        std::fs::create_dir_all(src.join("d/empty")).unwrap();
        std::fs::write(src.join("d/f"), b"data").unwrap();
        std::fs::hard_link(src.join("d/f"), src.join("d/f2")).unwrap();
        std::os::unix::fs::symlink("f", src.join("d/l")).unwrap();
        let xattr_ok = rfs::setxattr(
            src.join("d/f"),
            "user.berth",
            b"v\0\xff",
            rfs::XattrFlags::empty(),
        )
        .is_ok();
        let root_ids =
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
        if root_ids {
            rfs::chown(
                src.join("d/f"),
                Some(rfs::Uid::from_raw(1000)),
                Some(rfs::Gid::from_raw(1001)),
            )
            .unwrap();
        }
        // After the chown, which clears set-id bits.
        std::fs::set_permissions(src.join("d/f"), PermissionsExt::from_mode(0o4755)).unwrap();
        // 64 MiB with 3 data blocks (one at the end of a 6 KiB chunk) and a trailing hole.
        let sp = File::create(src.join("d/sparse")).unwrap();
        sp.set_len(64 << 20).unwrap();
        sp.write_all_at(&[7u8; 6144], 0).unwrap();
        sp.write_all_at(&[8u8; 4096], 1 << 20).unwrap();
        sp.write_all_at(&[9u8; 100], 40 << 20).unwrap();
        drop(sp);
        let sparse_src = std::fs::read(src.join("d/sparse")).unwrap();
        // Many chunks: the map needs extension blocks.
        let many = File::create(src.join("d/many")).unwrap();
        for i in 0..30u64 {
            many.write_all_at(&[i as u8 + 1; 512], i * 65536).unwrap();
        }
        drop(many);

        let mut tar = Vec::new();
        let sparse = TarOptions { sparse: true };
        write_host_tar_with(&src.join("d"), false, b"d".to_vec(), sparse, &mut tar).unwrap();
        let mut kinds = std::collections::BTreeMap::new();
        for e in tar::Archive::new(&tar[..]).entries().unwrap() {
            let e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            kinds.insert(name, e.header().entry_type());
        }
        assert_eq!(kinds["d/sparse"], tar::EntryType::GNUSparse);
        assert_eq!(kinds["d/many"], tar::EntryType::GNUSparse);
        assert_eq!(kinds["d/f"], tar::EntryType::Regular);
        assert_eq!(kinds["d/f2"], tar::EntryType::Link);
        // The archive holds the data blocks, not 64 MiB of zeros.
        assert!(tar.len() < 1 << 20, "{}", tar.len());
        // Without the option (Docker's format) the same file is a plain regular entry.
        let mut plain = Vec::new();
        write_host_tar(&src.join("d/sparse"), false, b"s".to_vec(), &mut plain).unwrap();
        let mut a = tar::Archive::new(&plain[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().entry_type(), tar::EntryType::Regular);

        let dest = td.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let fd = rfs::open(&dest, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        extract_into(&tar[..], fd, ExtractOptions::default()).unwrap();
        let check = |out: &std::path::Path| {
            assert_eq!(std::fs::read(out.join("d/sparse")).unwrap(), sparse_src);
            assert_eq!(
                std::fs::read(out.join("d/many")).unwrap(),
                std::fs::read(src.join("d/many")).unwrap()
            );
            let m = std::fs::metadata(out.join("d/sparse")).unwrap();
            assert!(
                m.blocks() * 512 < 1 << 20,
                "holes kept: {} blocks",
                m.blocks()
            );
            let f = std::fs::metadata(out.join("d/f")).unwrap();
            let f2 = std::fs::metadata(out.join("d/f2")).unwrap();
            assert_eq!((f.ino(), f.nlink()), (f2.ino(), 2));
            assert_eq!(f.mode() & 0o7777, 0o4755);
            if root_ids {
                assert_eq!((f.uid(), f.gid()), (1000, 1001));
            }
            assert_eq!(
                std::fs::read_link(out.join("d/l")).unwrap(),
                std::path::Path::new("f")
            );
            assert!(out.join("d/empty").is_dir());
            if xattr_ok {
                let mut v = [0u8; 16];
                let n = rfs::getxattr(out.join("d/f"), "user.berth", &mut v[..]).unwrap();
                assert_eq!(&v[..n], b"v\0\xff");
            }
        };
        check(&dest);

        // GNU tar, where there is one, lists and extracts the same archive (holes too).
        let gnu = td.path().join("gnu");
        std::fs::create_dir(&gnu).unwrap();
        let tar_file = td.path().join("a.tar");
        std::fs::write(&tar_file, &tar).unwrap();
        let Ok(out) = std::process::Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "-xpSf"])
            .arg(&tar_file)
            .arg("-C")
            .arg(&gnu)
            .output()
        else {
            return;
        };
        // No warnings either (unknown headers, bad sparse maps).
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        check(&gnu);
        let list = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&tar_file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&list.stdout);
        assert!(list.status.success() && list.stderr.is_empty(), "{text}");
        assert!(text.contains("67108864"), "sparse file's real size: {text}");
        assert!(text.contains("d/f2 link to d/f"), "{text}");
    }

    #[test]
    fn extracts_for_cp_with_rebase_owner_and_no_overwrite() {
        use crate::unpack::{extract_into, ExtractOptions};
        use std::os::unix::fs::MetadataExt;
        let td = tempfile::tempdir().unwrap();
        let src = td.path().join("src");
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/.wh.f"), b"not a whiteout").unwrap();
        std::fs::write(src.join("d/f"), b"data").unwrap();
        let mut tar = Vec::new();
        write_host_tar(&src.join("d"), false, b"d".to_vec(), &mut tar).unwrap();
        let dest = td.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .unwrap();
        let open = |p: &std::path::Path| {
            rfs::open(p, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
        };
        let opts = ExtractOptions {
            owner: Some((4242, 4343)),
            no_overwrite_dir_non_dir: true,
            map: None,
            rebase: Some((b"d".to_vec(), b"renamed".to_vec())),
        };
        extract_into(&tar[..], open(&dest), opts.clone()).unwrap();
        assert_eq!(
            std::fs::read(dest.join("renamed/.wh.f")).unwrap(),
            b"not a whiteout"
        );
        let m = std::fs::metadata(dest.join("renamed/f")).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4343));
        // A "./" entry leaves the destination directory as it is.
        let mut tar = Vec::new();
        write_host_tar(&src.join("d"), true, b".".to_vec(), &mut tar).unwrap();
        extract_into(&tar[..], open(&dest), ExtractOptions::default()).unwrap();
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o7777, 0o1777);
        // A file where a directory is: refused with noOverwriteDirNonDir.
        std::fs::create_dir(dest.join("g")).unwrap();
        let mut tar = Vec::new();
        write_host_tar(&src.join("d/f"), false, b"g".to_vec(), &mut tar).unwrap();
        let err = extract_into(&tar[..], open(&dest), opts).unwrap_err();
        assert!(
            err.to_string().contains("cannot overwrite directory"),
            "{err}"
        );
    }
}

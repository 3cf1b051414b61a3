//! /dev/null, the devpts ptmx and /dev/console, each opened and checked by fd before use.

use super::*;

pub(super) const RESOLVE_NO_XDEV: u64 = 0x01;

pub(super) const RESOLVE_NO_SYMLINKS: u64 = 0x04;

pub(super) const RESOLVE_BENEATH: u64 = 0x08;

pub(super) const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

pub(super) fn not_a(path: &Path, what: &str) -> io::Error {
    io::Error::other(format!("{} is not {what}", path.display()))
}

/// Opens the null device at `path` as the source for masking, refusing anything else that
/// a container (an image, a volume over /dev, a racing process) may have put there: a
/// symlink to, say, /proc/sys/kernel/core_pattern would otherwise turn "mask" into "bind
/// a writable host knob into the container" (CVE-2025-31133). Callers bind from
/// `/proc/self/fd/N` of the returned descriptor, never from the path.
pub(crate) fn open_dev_null(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::FileTypeExt;
    let fd = sys::openat2(
        libc::AT_FDCWD,
        path,
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        RESOLVE_NO_SYMLINKS,
    )?;
    let f = File::from(fd);
    let meta = f.metadata()?;
    if !meta.file_type().is_char_device() || meta.rdev() != libc::makedev(1, 3) {
        return Err(not_a(path, "the null device (char 1:3)"));
    }
    Ok(OwnedFd::from(f))
}

/// Opens a new pty master through the container's devpts instance: `/dev/pts` must be a
/// devpts mount reached without symlinks, and `ptmx` in it the ptmx device of that same
/// mount (char 5:2), so a symlink or a foreign node planted as `/dev/pts/ptmx` is never
/// followed (CVE-2025-52565).
#[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
pub(crate) fn open_ptmx() -> io::Result<OwnedFd> {
    use std::os::unix::fs::FileTypeExt;
    let pts = sys::openat2(
        libc::AT_FDCWD,
        Path::new("/dev/pts"),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
        RESOLVE_NO_SYMLINKS,
    )?;
    let fs = nix::sys::statfs::fstatfs(&pts)?;
    if fs.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        return Err(not_a(Path::new("/dev/pts"), "a devpts mount"));
    }
    let master = sys::openat2(
        pts.as_raw_fd(),
        Path::new("ptmx"),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_NOFOLLOW,
        0,
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
    )?;
    let m = File::from(master);
    let meta = m.metadata()?;
    let dir = File::from(pts).metadata()?;
    if !meta.file_type().is_char_device()
        || meta.rdev() != libc::makedev(5, 2)
        || meta.dev() != dir.dev()
    {
        return Err(not_a(Path::new("/dev/pts/ptmx"), "the devpts ptmx device"));
    }
    Ok(OwnedFd::from(m))
}

/// Binds the pty `slave` over a fresh `/dev/console`: whatever the container's /dev held
/// under that name (a symlink to a host-sensitive file included) is removed, the mount
/// point is created with `O_EXCL | O_NOFOLLOW` and the bind goes through descriptors, so
/// it can only ever land on that new file (CVE-2025-52565).
pub(crate) fn bind_console(slave: &OwnedFd) -> Result<(), RuntimeError> {
    let dev = sys::openat2(
        libc::AT_FDCWD,
        Path::new("/dev"),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
        RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| err("open /dev", e))?;
    match nix::unistd::unlinkat(
        Some(dev.as_raw_fd()),
        "console",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(err("remove /dev/console", e)),
    }
    let target = sys::openat2(
        dev.as_raw_fd(),
        Path::new("console"),
        libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        0o600,
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
    )
    .map_err(|e| err("create /dev/console", e))?;
    mount(
        Some(&fd_path(slave)),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err("bind /dev/console", e))
}

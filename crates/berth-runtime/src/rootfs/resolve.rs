//! Paths inside a rootfs, resolved with `openat2(RESOLVE_IN_ROOT)`: a symlink planted in
//! the image never sends a read or a mount outside the container's root.

use super::*;

pub(super) const RESOLVE_IN_ROOT: u64 = 0x10;

pub(super) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

/// Opens `path` (absolute or relative, as found in an image) for reading inside `root`,
/// resolving `..` and symlinks as if `root` were `/`. Used by the daemon to read the image's
/// /etc/passwd and /etc/group without following links out of the rootfs.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<File> {
    let rootfd = sys::openat2(libc::AT_FDCWD, root, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
    let fd = sys::openat2(
        rootfd.as_raw_fd(),
        Path::new(path),
        libc::O_RDONLY,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )?;
    Ok(File::from(fd))
}

pub(super) fn resolve(rootfd: &OwnedFd, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    sys::openat2(
        rootfd.as_raw_fd(),
        path,
        flags,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// Creates `path` (and missing parents) inside the root; the last component is a
/// directory or, with `file`, an empty regular file. Returns an `O_PATH` fd to it.
pub(crate) fn ensure_in_root(rootfd: &OwnedFd, path: &Path, file: bool) -> io::Result<OwnedFd> {
    ensure_depth(rootfd, path, file, 0)
}

pub(super) fn ensure_depth(
    rootfd: &OwnedFd,
    path: &Path,
    file: bool,
    depth: u32,
) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    if let Ok(fd) = resolve(rootfd, path, libc::O_PATH) {
        return Ok(fd);
    }
    let comps: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    for (i, c) in comps.iter().enumerate() {
        let parent = resolve(rootfd, &cur, libc::O_PATH | libc::O_DIRECTORY)?;
        cur.push(c);
        let last = i + 1 == comps.len();
        if resolve(rootfd, &cur, libc::O_PATH).is_ok() {
            continue;
        }
        let name = sys::cstr(c)?;
        // SAFETY: valid dirfd and C string; creation happens relative to a resolved parent.
        let r = unsafe {
            if last && file {
                let fd = libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                fd.min(0)
            } else {
                libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755)
            }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
            if resolve(rootfd, &cur, libc::O_PATH).is_err() {
                // A dangling symlink (the last component too, as runc's SecureJoin): create
                // its target, resolved inside the root, instead.
                let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), *c)
                    .map_err(io::Error::from)?;
                let mut next = cur.parent().unwrap_or(Path::new("/")).join(target);
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                return ensure_depth(rootfd, &next, file, depth + 1);
            }
        }
    }
    resolve(rootfd, path, libc::O_PATH)
}

pub(super) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

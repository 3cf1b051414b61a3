//! Device nodes: made by fd (never through a symlink), or bound from the host inside a
//! user namespace.

use super::*;

/// One device node: path, kind (`S_IFCHR`...), mode, major, minor, owner.
pub(super) type DeviceNode = (
    PathBuf,
    libc::mode_t,
    u32,
    i64,
    i64,
    Option<u32>,
    Option<u32>,
);

/// The device nodes a container gets: the spec's, then Docker's defaults not named there.
pub(super) fn device_list(spec: &Spec) -> Vec<DeviceNode> {
    let mut out = Vec::new();
    let devs = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for d in &devs {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => continue,
        };
        out.push((
            d.path().clone(),
            kind,
            d.file_mode().unwrap_or(0o666),
            d.major(),
            d.minor(),
            d.uid(),
            d.gid(),
        ));
    }
    for (p, maj, min) in crate::defaults::DEFAULT_DEVICES {
        if !out.iter().any(|d| d.0 == Path::new(p)) {
            out.push((PathBuf::from(p), libc::S_IFCHR, 0o666, maj, min, None, None));
        }
    }
    out
}

/// In a user namespace `mknod` is refused: bind each host node (same path on the host,
/// checked to be the same kind and number) over an empty file in the container's /dev, as
/// runc does. Runs before pivot_root, while the host's /dev is still reachable.
pub(super) fn bind_devices(rootfd: &OwnedFd, spec: &Spec) -> Result<(), RuntimeError> {
    use std::os::unix::fs::FileTypeExt;
    for (path, kind, _, major, minor, _, _) in device_list(spec) {
        if kind == libc::S_IFIFO {
            continue;
        }
        let host = sys::openat2(
            libc::AT_FDCWD,
            &path,
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            RESOLVE_NO_SYMLINKS,
        )
        .map_err(|e| err(format!("open host device {}", path.display()), e))?;
        let meta = File::from(host.try_clone().map_err(|e| err("dup", e))?)
            .metadata()
            .map_err(|e| err(format!("stat host device {}", path.display()), e))?;
        let ft = meta.file_type();
        let same_kind = if kind == libc::S_IFBLK {
            ft.is_block_device()
        } else {
            ft.is_char_device()
        };
        if !same_kind || meta.rdev() != libc::makedev(major as u32, minor as u32) {
            return Err(RuntimeError::spec(format!(
                "device {} ({major}:{minor}) has no matching node on the host to bind into a user namespace",
                path.display()
            )));
        }
        let target = ensure_in_root(rootfd, &path, true)
            .map_err(|e| err(format!("create {}", path.display()), e))?;
        mount(
            Some(&fd_path(&host)),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(format!("bind device {}", path.display()), e))?;
    }
    Ok(())
}

/// Creates the spec's device nodes (plus Docker's defaults) and the /dev symlinks. Runs
/// after pivot_root, so every path is inside the container.
pub(crate) fn create_devices(spec: &Spec) -> Result<(), RuntimeError> {
    // SAFETY: umask only changes this process's creation mask.
    let old = unsafe { libc::umask(0) };
    // In a user namespace the nodes were bound from the host before pivot_root (fifos
    // need no privilege and are still made here).
    let userns = crate::userns::in_userns();
    for (path, kind, mode, major, minor, uid, gid) in device_list(spec) {
        if !userns || kind == libc::S_IFIFO {
            mknod(&path, kind, mode, major, minor, uid, gid)?;
        }
    }
    // SAFETY: restoring the previous mask.
    unsafe { libc::umask(old) };
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, link)?;
    }
    if Path::new("/dev/pts/ptmx").exists() {
        let _ = std::fs::remove_file("/dev/ptmx");
        symlink("pts/ptmx", "/dev/ptmx")?;
    }
    Ok(())
}

pub(super) fn symlink(target: &str, link: &str) -> Result<(), RuntimeError> {
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(format!("symlink {link}"), e)),
    }
}

/// Opens (creating with mode 0755 where missing) the directory `dir` of the container, one
/// component at a time, refusing symlinks anywhere on the way: a `/dev/x -> /proc/...`
/// left by an image or a volume never redirects where a node is made.
pub(super) fn open_dir_nofollow(dir: &Path) -> Result<OwnedFd, RuntimeError> {
    let open = |at: &OwnedFd, name: &Path| {
        sys::openat2(
            at.as_raw_fd(),
            name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
            RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        )
    };
    let mut fd = sys::openat2(
        libc::AT_FDCWD,
        Path::new("/"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        0,
    )
    .map_err(|e| err("open /", e))?;
    for c in dir.components() {
        let name = match c {
            Component::Normal(n) => Path::new(n),
            Component::RootDir | Component::CurDir => continue,
            _ => {
                return Err(RuntimeError::spec(format!(
                    "invalid device path {}",
                    dir.display()
                )))
            }
        };
        let next = match open(&fd, name) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let cname = sys::cstr(name)?;
                // SAFETY: `fd` is an open directory descriptor and `cname` a valid C string
                // naming one component (no slash) below it.
                if unsafe { libc::mkdirat(fd.as_raw_fd(), cname.as_ptr(), 0o755) } != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(err(format!("mkdir {}", dir.display()), e));
                    }
                }
                open(&fd, name).map_err(|e| err(dir.display(), e))?
            }
            Err(e) => return Err(err(dir.display(), e)),
        };
        fd = next;
    }
    Ok(fd)
}

/// Makes the node `path` (type `kind`, permissions `mode`, `major:minor`, owner) by
/// descriptor: the parent is reached without symlinks, an existing non-directory entry of
/// that name is replaced, and the owner is set without following the new name.
pub(super) fn mknod(
    path: &Path,
    kind: libc::mode_t,
    mode: u32,
    major: i64,
    minor: i64,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), RuntimeError> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(RuntimeError::spec(format!(
            "invalid device path {}",
            path.display()
        )));
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(RuntimeError::spec(format!(
            "invalid device path {}",
            path.display()
        )));
    };
    let dir = open_dir_nofollow(parent)?;
    let c = sys::cstr(Path::new(name))?;
    // SAFETY: `dir` is an open directory descriptor, `c` a valid single-component name;
    // unlinkat without AT_REMOVEDIR never removes a directory or follows a symlink.
    unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    let dev = libc::makedev(major as u32, minor as u32);
    // SAFETY: as above; mknodat creates the node in that directory, never through a link.
    if unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), kind | (mode & 0o7777), dev) } != 0 {
        return Err(err(
            format!("mknod {}", path.display()),
            io::Error::last_os_error(),
        ));
    }
    if uid.is_some() || gid.is_some() {
        let id = |v: Option<u32>| v.unwrap_or(u32::MAX);
        // SAFETY: as above; AT_SYMLINK_NOFOLLOW chowns the entry itself (u32::MAX = -1
        // leaves that id unchanged).
        if unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                c.as_ptr(),
                id(uid),
                id(gid),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        } != 0
        {
            return Err(err(
                format!("chown {}", path.display()),
                io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

//! Root filesystem: safe path resolution inside a rootfs, the spec's mounts, pivot_root,
//! device nodes, masked and read-only paths.
//!
//! Every path that comes from an image is resolved with `openat2(RESOLVE_IN_ROOT)`, so a
//! symlink planted in the image (`/etc/passwd -> /host/...`, `/proc -> /`) can never send a
//! read or a mount outside the container's root.

use crate::error::RuntimeError;
use crate::sys;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

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

fn resolve(rootfd: &OwnedFd, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
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

fn ensure_depth(rootfd: &OwnedFd, path: &Path, file: bool, depth: u32) -> io::Result<OwnedFd> {
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

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Mount option (berth's own, ignored by other runtimes as an `x-` userspace option): open
/// the bind source with `RESOLVE_NO_SYMLINKS` and mount that descriptor, so a path the
/// daemon checked cannot be redirected through a symlink swapped in afterwards.
pub const NOFOLLOW_SOURCE_OPTION: &str = "x-berth.nofollow-source";

/// Mount flags and filesystem data parsed from OCI mount options.
#[derive(Debug, PartialEq)]
pub(crate) struct MountOpts {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: MsFlags,
    pub data: String,
    /// `rro`: read-only for the mount and every submount (runc's option name).
    pub recursive_read_only: bool,
}

pub(crate) fn parse_options(opts: &[String]) -> MountOpts {
    let mut m = MountOpts {
        flags: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: String::new(),
        recursive_read_only: false,
    };
    for o in opts {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rro" => {
                m.recursive_read_only = true;
                (MsFlags::MS_RDONLY, MsFlags::empty())
            }
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            NOFOLLOW_SOURCE_OPTION => continue,
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                m.propagation |= propagation_flag(o).unwrap_or(MsFlags::empty());
                continue;
            }
            other => {
                if !m.data.is_empty() {
                    m.data.push(',');
                }
                m.data.push_str(other);
                continue;
            }
        };
        m.flags = (m.flags | set) & !clear;
        m.clear |= clear;
    }
    m
}

/// Mount propagation flags for a propagation name (`rslave`, `private`, ...).
pub(crate) fn propagation_flag(s: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match s {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

fn err(
    what: impl std::fmt::Display,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> RuntimeError {
    RuntimeError::step(what, e)
}

/// Makes the mount tree private/slave, binds the rootfs onto itself and mounts every spec
/// mount inside it. Runs in the container's new mount namespace, before pivot_root.
pub(crate) fn prepare(spec: &Spec, rootfs: &Path) -> Result<(), RuntimeError> {
    let linux = spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .map_err(|e| err("make / private", e))?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err(format!("bind rootfs {}", rootfs.display()), e))?;
    let rootfd = sys::openat2(
        libc::AT_FDCWD,
        rootfs,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        0,
    )
    .map_err(|e| err(format!("open rootfs {}", rootfs.display()), e))?;
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        mount_one(&rootfd, m).map_err(|e| {
            err(
                format!(
                    "error mounting {:?} to rootfs at {:?}",
                    m.source()
                        .as_ref()
                        .map(|s| s.display().to_string())
                        .unwrap_or_default(),
                    m.destination().display().to_string()
                ),
                e,
            )
        })?;
    }
    if crate::userns::in_userns() {
        bind_devices(&rootfd, spec)?;
    }
    Ok(())
}

/// One device node: path, kind (`S_IFCHR`...), mode, major, minor, owner.
type DeviceNode = (
    PathBuf,
    libc::mode_t,
    u32,
    i64,
    i64,
    Option<u32>,
    Option<u32>,
);

/// The device nodes a container gets: the spec's, then Docker's defaults not named there.
fn device_list(spec: &Spec) -> Vec<DeviceNode> {
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
fn bind_devices(rootfd: &OwnedFd, spec: &Spec) -> Result<(), RuntimeError> {
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

fn mount_one(rootfd: &OwnedFd, m: &Mount) -> Result<(), RuntimeError> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let is_bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(RuntimeError::spec("mount destination must be absolute"));
    }
    if is_bind {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| RuntimeError::spec("bind mount without source"))?;
        let nofollow = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == NOFOLLOW_SOURCE_OPTION);
        // Pinned before anything else: with the option, no symlink anywhere in the path.
        let src_fd = if nofollow {
            Some(
                sys::openat2(
                    libc::AT_FDCWD,
                    src,
                    libc::O_PATH | libc::O_CLOEXEC,
                    0,
                    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                )
                .map_err(|e| {
                    err(
                        src.display(),
                        format!("{e} (symlinks are not followed here)"),
                    )
                })?,
            )
        } else {
            None
        };
        let src_path = src_fd.as_ref().map(fd_path).unwrap_or_else(|| src.clone());
        let meta = std::fs::metadata(&src_path).map_err(|e| err(src.display(), e))?;
        let target = ensure_in_root(rootfd, dest, !meta.is_dir())?;
        let tp = fd_path(&target);
        mount(
            Some(src_path.as_path()),
            &tp,
            None::<&str>,
            opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None::<&str>,
        )?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            // Re-open: the fd still points at the covered inode, not the new mount.
            let target = resolve(rootfd, dest, libc::O_PATH)?;
            let tp = fd_path(&target);
            // In a user namespace the kernel locks the flags of a mount from the host:
            // a remount must repeat them.
            let locked = if crate::userns::in_userns() {
                current_flags(&tp.to_string_lossy())
            } else {
                MsFlags::empty()
            };
            mount(
                None::<&str>,
                &tp,
                None::<&str>,
                extra | locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(|e| err("remount", e))?;
            if opts.recursive_read_only {
                sys::make_read_only_recursively(target.as_raw_fd()).map_err(|e| {
                    err(format!("make {} recursively read-only", dest.display()), e)
                })?;
            }
        }
    } else if typ == "cgroup" {
        mount_cgroup(rootfd, dest, &opts)?;
    } else if typ == "sysfs" && crate::userns::in_userns() {
        mount_sysfs_in_userns(rootfd, dest, &opts)?;
    } else {
        let target = ensure_in_root(rootfd, dest, false)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let src = m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| typ.to_string());
        mount(
            Some(src.as_str()),
            &fd_path(&target),
            Some(typ),
            opts.flags,
            data,
        )?;
    }
    if !opts.propagation.is_empty() {
        let target = resolve(rootfd, dest, libc::O_PATH)?;
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// sysfs in a user namespace: a new instance only where the network namespace belongs to
/// the container's user namespace; otherwise (a joined network namespace) the host's /sys
/// is rbound, read-only when asked, keeping its locked flags (runc's fallback).
fn mount_sysfs_in_userns(
    rootfd: &OwnedFd,
    dest: &Path,
    opts: &MountOpts,
) -> Result<(), RuntimeError> {
    let target = ensure_in_root(rootfd, dest, false)?;
    match mount(
        Some("sysfs"),
        &fd_path(&target),
        Some("sysfs"),
        opts.flags,
        None::<&str>,
    ) {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EPERM) => {}
        Err(e) => return Err(e.into()),
    }
    mount(
        Some("/sys"),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("rbind /sys", e))?;
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        let target = resolve(rootfd, dest, libc::O_PATH)?;
        let tp = fd_path(&target);
        mount(
            None::<&str>,
            &tp,
            None::<&str>,
            current_flags(&tp.to_string_lossy())
                | MsFlags::MS_RDONLY
                | MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .map_err(|e| err("remount /sys read-only", e))?;
    }
    Ok(())
}

/// Mounts the container's view of the cgroup tree: cgroup2 directly, or for v1 a tmpfs
/// with one mount per host hierarchy (shown from the container's cgroup namespace root).
fn mount_cgroup(rootfd: &OwnedFd, dest: &Path, opts: &MountOpts) -> Result<(), RuntimeError> {
    let flags = opts.flags;
    let target = ensure_in_root(rootfd, dest, false)?;
    if crate::cgroups::detect() == crate::cgroups::CgroupVersion::V2 {
        return mount(
            Some("cgroup2"),
            &fd_path(&target),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .map_err(RuntimeError::from);
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        (flags & !MsFlags::MS_RDONLY) | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    for h in crate::cgroups::v1_hierarchies() {
        let Some(name) = h.mountpoint.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let t = match ensure_in_root(rootfd, &sub, false) {
            Ok(t) => t,
            Err(_) => continue,
        };
        // A hierarchy we cannot mount (e.g. a named one) is left out, as runc does.
        let _ = mount(
            Some("cgroup"),
            &fd_path(&t),
            Some("cgroup"),
            flags,
            Some(h.options.as_str()),
        );
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let target = resolve(rootfd, dest, libc::O_PATH)?;
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .map_err(|e| err("remount cgroup tmpfs read-only", e))?;
    }
    Ok(())
}

/// Switches the root to `rootfs` with the `pivot_root(".", ".")` trick (no put_old dir
/// needed inside the image) and detaches the old root.
pub(crate) fn pivot(rootfs: &Path) -> Result<(), RuntimeError> {
    let newroot = File::open(rootfs).map_err(|e| err("open new root", e))?;
    let oldroot = File::open("/").map_err(|e| err("open old root", e))?;
    nix::unistd::fchdir(newroot.as_raw_fd()).map_err(|e| err("chdir new root", e))?;
    sys::pivot_root(Path::new("."), Path::new(".")).map_err(|e| err("pivot_root", e))?;
    nix::unistd::fchdir(oldroot.as_raw_fd()).map_err(|e| err("chdir old root", e))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("make old root slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| err("unmount old root", e))?;
    std::env::set_current_dir("/").map_err(|e| err("chdir /", e))?;
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

fn symlink(target: &str, link: &str) -> Result<(), RuntimeError> {
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(format!("symlink {link}"), e)),
    }
}

/// Opens (creating with mode 0755 where missing) the directory `dir` of the container, one
/// component at a time, refusing symlinks anywhere on the way: a `/dev/x -> /proc/...`
/// left by an image or a volume never redirects where a node is made.
fn open_dir_nofollow(dir: &Path) -> Result<OwnedFd, RuntimeError> {
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
fn mknod(
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

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

fn not_a(path: &Path, what: &str) -> io::Error {
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

/// Hides Docker's masked paths: /dev/null over files, a read-only empty tmpfs over dirs.
/// The /dev/null bound over files is opened once and verified ([`open_dev_null`]).
pub(crate) fn mask_paths(paths: &[String]) -> Result<(), RuntimeError> {
    let mut null: Option<OwnedFd> = None;
    for p in paths {
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let r = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                p.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            if null.is_none() {
                null = Some(
                    open_dev_null(Path::new("/dev/null"))
                        .map_err(|e| err(format!("mask {p}: open /dev/null"), e))?,
                );
            }
            let src = null.as_ref().map(fd_path);
            mount(
                src.as_deref(),
                p.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        r.map_err(|e| err(format!("mask {p}"), e))?;
    }
    Ok(())
}

/// Remounts each existing path read-only (bind onto itself, then remount).
pub(crate) fn readonly_paths(paths: &[String]) -> Result<(), RuntimeError> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(
            Some(p.as_str()),
            p.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| err(format!("bind {p}"), e))?;
        let flags = current_flags(p);
        mount(
            None::<&str>,
            p.as_str(),
            None::<&str>,
            flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| err(format!("remount {p} read-only"), e))?;
    }
    Ok(())
}

/// Flags already on the mount at `p` that a bind remount must keep (nosuid/nodev/noexec,
/// atime): the kernel refuses to clear them on a mount locked by a user namespace.
fn current_flags(p: &str) -> MsFlags {
    match nix::sys::statvfs::statvfs(p) {
        Ok(s) => {
            use nix::sys::statvfs::FsFlags;
            let f = s.flags();
            let mut m = MsFlags::empty();
            if f.contains(FsFlags::ST_NOSUID) {
                m |= MsFlags::MS_NOSUID;
            }
            if f.contains(FsFlags::ST_NODEV) {
                m |= MsFlags::MS_NODEV;
            }
            if f.contains(FsFlags::ST_NOEXEC) {
                m |= MsFlags::MS_NOEXEC;
            }
            // The atime flags are locked too on mounts a user namespace inherited.
            if f.contains(FsFlags::ST_NOATIME) {
                m |= MsFlags::MS_NOATIME;
            }
            if f.contains(FsFlags::ST_NODIRATIME) {
                m |= MsFlags::MS_NODIRATIME;
            }
            if f.contains(FsFlags::ST_RELATIME) {
                m |= MsFlags::MS_RELATIME;
            }
            m
        }
        Err(_) => MsFlags::empty(),
    }
}

/// Makes the container's `/` read-only (`root.readonly`).
pub(crate) fn readonly_root() -> Result<(), RuntimeError> {
    let flags = current_flags("/");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| err("remount / read-only", e))
}

/// Same device? Used to tell whether a cwd is still under the container root.
pub(crate) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse_options(&[
            "nosuid".into(),
            "ro".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rslave".into(),
            "rbind".into(),
        ]);
        assert!(o
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_RDONLY | MsFlags::MS_BIND));
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = parse_options(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        let o = parse_options(&["rbind".into(), "rro".into()]);
        assert!(o.recursive_read_only && o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.data.is_empty());
    }

    #[test]
    fn open_in_root_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("secret"), "host secret").unwrap();
        // Absolute and relative symlinks that try to leave the root.
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("etc/rel")).unwrap();
        let s = std::io::read_to_string(open_in_root(&root, "/etc/passwd").unwrap()).unwrap();
        assert!(s.starts_with("root:"));
        assert!(open_in_root(&root, "/etc/abs").is_err());
        assert!(open_in_root(&root, "etc/rel").is_err());
        assert!(open_in_root(&root, "/../secret").is_err());
        // A link that stays inside works.
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/p2")).unwrap();
        assert!(open_in_root(&root, "/etc/p2").is_ok());
        assert!(open_in_root(&root, "/proc/self/root/etc/passwd").is_err());
    }

    #[test]
    fn ensure_creates_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        let rootfd = sys::openat2(libc::AT_FDCWD, &root, libc::O_PATH, 0, 0).unwrap();
        ensure_in_root(&rootfd, Path::new("/evil/x/y"), false).unwrap();
        ensure_in_root(&rootfd, Path::new("/a/b/file"), true).unwrap();
        // A dangling link as the last component: its target is made inside the root.
        std::os::unix::fs::symlink("/../../../../outside/z", root.join("mnt")).unwrap();
        ensure_in_root(&rootfd, Path::new("/mnt"), false).unwrap();
        assert!(root.join("outside/z").is_dir());
        assert!(!outside.join("z").exists());
        assert!(root.join("a/b/file").is_file());
        // The symlink's absolute target was resolved inside the root, not on the host.
        assert!(!outside.join("x").exists());
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("x/y")
            .is_dir());
    }
}

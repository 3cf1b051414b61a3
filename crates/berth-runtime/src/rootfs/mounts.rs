//! The spec's mounts, each made on a target resolved inside the rootfs.

use super::*;

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

pub(super) fn mount_one(rootfd: &OwnedFd, m: &Mount) -> Result<(), RuntimeError> {
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
pub(super) fn mount_sysfs_in_userns(
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
pub(super) fn mount_cgroup(
    rootfd: &OwnedFd,
    dest: &Path,
    opts: &MountOpts,
) -> Result<(), RuntimeError> {
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

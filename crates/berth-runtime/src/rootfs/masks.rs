//! Masked and read-only paths, and the read-only root.

use super::*;

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
pub(super) fn current_flags(p: &str) -> MsFlags {
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

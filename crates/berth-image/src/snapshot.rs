//! Container root filesystems from image layers: overlayfs over the
//! layers' `diff/` directories, with fallbacks for the shapes overlay
//! cannot mount (no lower at all; a single lower with no upper).
//!
//! Overlays are made with the new mount API, one lower layer per `fsconfig`
//! (`lowerdir+`, Linux ≥ 6.8), so neither the number of layers nor the length
//! of the data root is bounded by `mount(2)`'s one-page option string; overlayfs
//! itself stacks at most 500 lower layers. Older kernels get `mount(2)`, where a
//! stack whose paths pass 4095 bytes is refused with a clear error.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// Longest option string the kernel accepts for a mount (one page).
const MAX_MOUNT_DATA: usize = 4095;
/// Lower layers overlayfs stacks at most (the kernel's `OVL_MAX_STACK`).
pub const OVERLAY_MAX_LOWERS: usize = 500;

fn mount_err(target: &Path, reason: impl Into<String>) -> Error {
    Error::Mount {
        op: "mount",
        target: target.to_path_buf(),
        reason: reason.into(),
    }
}

fn check_path(target: &Path, p: &Path) -> Result<String> {
    let s = p
        .to_str()
        .ok_or_else(|| mount_err(target, format!("path {} is not valid UTF-8", p.display())))?;
    // overlay's option parser splits on ',' and lowerdir on ':'.
    if s.contains([',', ':']) || s.is_empty() {
        return Err(mount_err(
            target,
            format!("path {s:?} cannot be used in overlay options"),
        ));
    }
    Ok(s.to_string())
}

/// Mounts a writable container rootfs at `target`: `lowers` are the image's
/// layer dirs, topmost first (as [`crate::ImageStore::image_lower_dirs`]
/// returns them); `upper` and `work` are the container's own empty dirs on
/// the same filesystem. An image with no layers gets a bind mount of
/// `upper`, since overlay requires a lowerdir.
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    if lowers.is_empty() {
        return bind(upper, target, false);
    }
    let lower = lowers
        .iter()
        .map(|l| check_path(target, l))
        .collect::<Result<Vec<_>>>()?;
    let (upper, work) = (check_path(target, upper)?, check_path(target, work)?);
    if overlay_fsconfig(&lower, Some((&upper, &work)), target, false)? {
        return Ok(());
    }
    let data = format!(
        "lowerdir={},upperdir={upper},workdir={work}",
        lower.join(":")
    );
    overlay(&data, target, MsFlags::empty())
}

/// Mounts an overlay through the new mount API, adding the lower layers one at a time
/// (`lowerdir+`). `Ok(false)` where the kernel has no such API or key, so that the caller
/// falls back to `mount(2)`.
fn overlay_fsconfig(
    lowers: &[String],
    upper_work: Option<(&str, &str)>,
    target: &Path,
    readonly: bool,
) -> Result<bool> {
    use rustix::io::Errno as E;
    use rustix::mount::{
        fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags,
        FsOpenFlags, MountAttrFlags, MoveMountFlags,
    };
    let fail = |what: &str, e: E| mount_err(target, format!("overlay: {what}: {e}"));
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(E::NOSYS | E::NODEV | E::PERM) => return Ok(false),
        Err(e) => return Err(fail("fsopen", e)),
    };
    for (i, l) in lowers.iter().enumerate() {
        match fsconfig_set_string(&fs, "lowerdir+", l.as_str()) {
            Ok(()) => {}
            // Kernels before 6.8 do not know the key.
            Err(E::INVAL) if i == 0 => return Ok(false),
            Err(E::INVAL) if i >= OVERLAY_MAX_LOWERS => {
                return Err(mount_err(
                    target,
                    format!(
                        "the image has {} layers; overlayfs stacks at most {OVERLAY_MAX_LOWERS}",
                        lowers.len()
                    ),
                ))
            }
            Err(e) => {
                return Err(fail(
                    &format!("lower layer {l} ({} of {})", i + 1, lowers.len()),
                    e,
                ))
            }
        }
    }
    if let Some((upper, work)) = upper_work {
        fsconfig_set_string(&fs, "upperdir", upper).map_err(|e| fail("upperdir", e))?;
        fsconfig_set_string(&fs, "workdir", work).map_err(|e| fail("workdir", e))?;
    }
    match fsconfig_create(&fs) {
        Ok(()) => {}
        // Before 6.5 overlay takes options through the legacy context, which accepts any
        // key and refuses `lowerdir+` only here: use mount(2) then.
        Err(E::INVAL) => return Ok(false),
        Err(e) => return Err(fail(&format!("create with {} layers", lowers.len()), e)),
    }
    let attrs = if readonly {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| fail("fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| fail("move_mount", e))?;
    Ok(true)
}

/// Mounts an image's layers read-only at `target` (for `docker cp` from an
/// image, build contexts, inspection): overlay with two or more lowers, a
/// read-only bind mount for exactly one (overlay refuses a single lower
/// without an upper on older kernels), an error for none.
pub fn mount_readonly(lowers: &[PathBuf], target: &Path) -> Result<()> {
    match lowers {
        [] => Err(mount_err(target, "image has no layers")),
        [one] => bind(one, target, true),
        many => {
            let lower = many
                .iter()
                .map(|l| check_path(target, l))
                .collect::<Result<Vec<_>>>()?;
            if overlay_fsconfig(&lower, None, target, true)? {
                return Ok(());
            }
            overlay(
                &format!("lowerdir={}", lower.join(":")),
                target,
                MsFlags::MS_RDONLY,
            )
        }
    }
}

fn overlay(data: &str, target: &Path, flags: MsFlags) -> Result<()> {
    if data.len() > MAX_MOUNT_DATA {
        return Err(mount_err(
            target,
            format!("overlay options are {} bytes, more than the kernel's {MAX_MOUNT_DATA}: too many layers", data.len()),
        ));
    }
    mount(Some("overlay"), target, Some("overlay"), flags, Some(data))
        .map_err(|e| mount_err(target, format!("overlay ({data}): {e}")))
}

fn bind(src: &Path, target: &Path, readonly: bool) -> Result<()> {
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| mount_err(target, format!("bind {}: {e}", src.display())))?;
    if readonly {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if let Err(e) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
            let _ = umount2(target, MntFlags::MNT_DETACH);
            return Err(mount_err(target, format!("remount read-only: {e}")));
        }
    }
    Ok(())
}

/// Unmounts `target`. A busy mount is lazily detached instead (it goes away
/// once the last user does), so stopping a container never wedges on a
/// stray open file. Not being mounted is not an error: cleanup is
/// idempotent.
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).map_err(|e| Error::Mount {
            op: "unmount",
            target: target.to_path_buf(),
            reason: format!("lazy detach: {e}"),
        }),
        Err(e) => Err(Error::Mount {
            op: "unmount",
            target: target.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

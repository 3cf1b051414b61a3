//! Root filesystem: safe path resolution inside a rootfs, the spec's mounts, pivot_root,
//! device nodes, masked and read-only paths.
//!
//! Every path that comes from an image is resolved with `openat2(RESOLVE_IN_ROOT)`, so a
//! symlink planted in the image (`/etc/passwd -> /host/...`, `/proc -> /`) can never send a
//! read or a mount outside the container's root.
//!
//! Here: the order of it all (`prepare`, `pivot`); `resolve` (paths inside the root),
//! `mounts` (each spec mount), `devices` (nodes and host binds), `console` (/dev/null, ptmx,
//! /dev/console, checked by fd), `masks` (masked and read-only paths).

mod console;
mod devices;
mod masks;
mod mounts;
mod resolve;

pub(crate) use console::*;
pub(crate) use devices::*;
pub(crate) use masks::*;
pub use mounts::NOFOLLOW_SOURCE_OPTION;
pub(crate) use mounts::*;
pub use resolve::open_in_root;
pub(crate) use resolve::*;

use crate::error::RuntimeError;
use crate::sys;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

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

//! The first-mount copy: a new, empty volume gets the image's content at the mount's
//! destination, keeping owners, modes, times, xattrs, symlinks (as links), hard links and
//! special files, like dockerd's `copyExistingContents`.
//!
//! The source is the container's rootfs, which the image controls: its directory is opened
//! with `openat2(RESOLVE_IN_ROOT)` (a `/data -> /etc` link resolves to the rootfs' /etc,
//! never the host's) and everything below is walked by file descriptor with
//! `O_NOFOLLOW`, so no link is ever followed. The destination is the daemon's own
//! `_data` directory, also written by descriptor.

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid,
};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

type Res<T> = std::result::Result<T, String>;

fn e(what: &str, err: impl std::fmt::Display) -> String {
    format!("{what}: {err}")
}

/// Copies the rootfs' `dest_in_root` (resolved inside `rootfs`) into `data` when `data` is
/// empty and the source is a non-empty directory; `data` then takes the source's owner
/// and mode. A missing source is no error (nothing to copy).
pub fn populate_from_image(rootfs: &Path, dest_in_root: &str, data: &Path) -> Res<()> {
    let dst = rfs::open(
        data,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|x| e(&format!("open {}", data.display()), x))?;
    if dir_entries(&dst)?.next().is_some() {
        return Ok(());
    }
    let root = rfs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|x| e(&format!("open {}", rootfs.display()), x))?;
    let src = match rfs::openat2(
        &root,
        dest_in_root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(()),
        Err(x) => return Err(e(&format!("open {dest_in_root} in the rootfs"), x)),
    };
    if dir_entries(&src)?.next().is_none() {
        return Ok(());
    }
    let mut links = HashMap::new();
    copy_dir(&src, &dst, &mut links, 0)?;
    let st = rfs::fstat(&src).map_err(|x| e("stat source", x))?;
    set_meta(&dst, &st)?;
    copy_xattrs(&src, &dst);
    Ok(())
}

/// The names in a directory, without `.` and `..`.
fn dir_entries(dir: &OwnedFd) -> Res<impl Iterator<Item = CString>> {
    let d = rfs::Dir::read_from(dir).map_err(|x| e("read directory", x))?;
    Ok(d.filter_map(|ent| ent.ok())
        .map(|ent| ent.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b".."))
}

fn ts(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    }
}

fn times(st: &rfs::Stat) -> Timestamps {
    Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec as i64),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec as i64),
    }
}

/// Owner, then mode (a chown clears set-id bits), then times.
fn set_meta(fd: &OwnedFd, st: &rfs::Stat) -> Res<()> {
    rfs::fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(|x| e("chown", x))?;
    rfs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777)).map_err(|x| e("chmod", x))?;
    rfs::futimens(fd, &times(st)).map_err(|x| e("set times", x))?;
    Ok(())
}

/// Extended attributes (best effort: a filesystem without them is no failure).
fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rfs::flistxattr(src, &mut names[..]) else {
        return;
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 65536];
        if let Ok(len) = rfs::fgetxattr(src, cname.as_c_str(), &mut val[..]) {
            let _ = rfs::fsetxattr(dst, cname.as_c_str(), &val[..len], rfs::XattrFlags::empty());
        }
    }
}

fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    links: &mut HashMap<(u64, u64), (OwnedFd, CString)>,
    depth: u32,
) -> Res<()> {
    if depth > 512 {
        return Err("directory tree too deep".into());
    }
    for name in dir_entries(src)? {
        let name: &CStr = name.as_c_str();
        let shown = name.to_string_lossy();
        let st = rfs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|x| e(&format!("stat {shown}"), x))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some((dir, first)) = links.get(&key) {
                rfs::linkat(dir, first.as_c_str(), dst, name, AtFlags::empty())
                    .map_err(|x| e(&format!("link {shown}"), x))?;
                continue;
            }
        }
        match ft {
            FileType::Directory => {
                rfs::mkdirat(dst, name, Mode::from_raw_mode(0o700))
                    .map_err(|x| e(&format!("mkdir {shown}"), x))?;
                let s = rfs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|x| e(&format!("open {shown}"), x))?;
                let d = rfs::openat(
                    dst,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|x| e(&format!("open {shown}"), x))?;
                copy_dir(&s, &d, links, depth + 1)?;
                set_meta(&d, &st)?;
                copy_xattrs(&s, &d);
            }
            FileType::RegularFile => {
                let s = rfs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|x| e(&format!("open {shown}"), x))?;
                let d = rfs::openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|x| e(&format!("create {shown}"), x))?;
                let mut sf =
                    std::fs::File::from(s.as_fd().try_clone_to_owned().map_err(|x| e("dup", x))?);
                let mut df =
                    std::fs::File::from(d.as_fd().try_clone_to_owned().map_err(|x| e("dup", x))?);
                std::io::copy(&mut sf, &mut df).map_err(|x| e(&format!("copy {shown}"), x))?;
                set_meta(&d, &st)?;
                copy_xattrs(&s, &d);
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(src, name, Vec::new())
                    .map_err(|x| e(&format!("readlink {shown}"), x))?;
                rfs::symlinkat(target.as_c_str(), dst, name)
                    .map_err(|x| e(&format!("symlink {shown}"), x))?;
                rfs::chownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|x| e(&format!("chown {shown}"), x))?;
                let _ = rfs::utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW);
            }
            FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                rfs::mknodat(
                    dst,
                    name,
                    ft,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )
                .map_err(|x| e(&format!("mknod {shown}"), x))?;
                rfs::chownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|x| e(&format!("chown {shown}"), x))?;
                let _ = rfs::chmodat(
                    dst,
                    name,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    AtFlags::empty(),
                );
                let _ = rfs::utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW);
            }
            // Sockets and anything unknown are not content.
            _ => continue,
        }
        if ft != FileType::Directory && st.st_nlink > 1 {
            let dup = dst.as_fd().try_clone_to_owned().map_err(|x| e("dup", x))?;
            links.insert((st.st_dev, st.st_ino), (dup, name.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_content_links_and_modes_without_leaving_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        let data = t.path().join("data");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root.join("srv/sub")).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "host").unwrap();
        std::fs::write(root.join("srv/a"), "hello").unwrap();
        std::fs::set_permissions(root.join("srv/a"), std::fs::Permissions::from_mode(0o751))
            .unwrap();
        std::fs::hard_link(root.join("srv/a"), root.join("srv/sub/b")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("srv/link")).unwrap();
        std::fs::set_permissions(root.join("srv"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        // A link out of the root: resolved inside it, so it names the rootfs' /srv.
        std::os::unix::fs::symlink("../../../../../../srv", root.join("vol")).unwrap();
        populate_from_image(&root, "/vol", &data).unwrap();
        assert_eq!(std::fs::read_to_string(data.join("a")).unwrap(), "hello");
        let a = std::fs::metadata(data.join("a")).unwrap();
        let b = std::fs::metadata(data.join("sub/b")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hard link kept");
        assert_eq!(a.mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::read_link(data.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o7777, 0o1777);
        // Not empty any more: a second populate copies nothing.
        std::fs::remove_file(data.join("a")).unwrap();
        populate_from_image(&root, "/vol", &data).unwrap();
        assert!(!data.join("a").exists());
        // Missing source: nothing to do.
        let empty = t.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        populate_from_image(&root, "/nope", &empty).unwrap();
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    }
}

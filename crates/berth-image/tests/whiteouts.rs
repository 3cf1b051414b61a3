//! Whiteout conversion to overlayfs' on-disk form.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::unpack::{unpack_layer, OPAQUE_XATTR};
use common::*;

#[test]
fn whiteouts_become_char_devices_and_opaque_xattrs() {
    let t = tempfile::tempdir().unwrap();
    let layer = t.path().join("l");
    fs::create_dir(&layer).unwrap();
    unpack_layer(
        &tar_of(vec![
            dir("etc"),
            file("etc/.wh.motd", b""),
            dir("var/cache"),
            file("var/cache/.wh..wh..opq", b""),
            file("var/cache/new", b"n"),
            file(".wh..wh.plnk", b""),
            file("deep/missing/.wh.gone", b""),
        ])[..],
        &layer,
    )
    .unwrap();
    for p in ["etc/motd", "deep/missing/gone"] {
        let m = fs::symlink_metadata(layer.join(p)).unwrap();
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!(m.rdev(), 0, "{p}");
    }
    assert!(!layer.join("etc/.wh.motd").exists());
    assert!(!layer.join(".wh..wh.plnk").exists());
    assert!(!layer.join("var/cache/.wh..wh..opq").exists());
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(
        layer.join("var/cache").as_path(),
        OPAQUE_XATTR,
        &mut buf[..],
    )
    .unwrap();
    assert_eq!(&buf[..n], b"y");
    assert_eq!(fs::read(layer.join("var/cache/new")).unwrap(), b"n");
}

#[test]
fn whiteout_through_symlink_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let layer = t.path().join("l");
    let outside = t.path().join("o");
    fs::create_dir(&layer).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), b"v").unwrap();
    let o = outside.display().to_string();
    let err = unpack_layer(
        &tar_of(vec![symlink("s", &o), file("s/.wh.victim", b"")])[..],
        &layer,
    )
    .unwrap_err();
    assert!(err.to_string().contains("s/.wh.victim"));
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"v");
    let err = unpack_layer(
        &tar_of(vec![symlink("s", &o), file("s/.wh..wh..opq", b"")])[..],
        &layer,
    )
    .unwrap_err();
    assert!(err.to_string().contains("s/.wh..wh..opq"));
    assert!(rustix::fs::getxattr(outside.as_path(), OPAQUE_XATTR, &mut [0u8; 8][..]).is_err());
}

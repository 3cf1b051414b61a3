//! Hostile layer tars: nothing outside the layer dir may be created or
//! modified, and refusals name the entry.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::unpack::unpack_layer;
use berth_image::Error;
use common::*;

struct Fixture {
    _t: tempfile::TempDir,
    base: PathBuf,
    layer: PathBuf,
    outside: PathBuf,
}

/// base/ holds `outside/` (with a file) and `a/b/layer/` (the destination),
/// so `..` escapes of one and two levels both have somewhere to land.
fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().to_path_buf();
    let layer = base.join("a/b/layer");
    fs::create_dir_all(&layer).unwrap();
    let outside = base.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("file"), b"original").unwrap();
    Fixture {
        _t: t,
        base,
        layer,
        outside,
    }
}

fn base_tree_without_layer(f: &Fixture) -> Vec<String> {
    tree(&f.base)
        .into_iter()
        .filter(|p| !p.starts_with("a/b/layer/"))
        .collect()
}

fn expect_refused(f: &Fixture, entries: Vec<E>, entry_name: &str) {
    let before = base_tree_without_layer(f);
    let err =
        unpack_layer(&tar_of(entries)[..], &f.layer).expect_err("hostile tar must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(entry_name),
        "error {msg:?} should name {entry_name:?}"
    );
    assert_eq!(
        base_tree_without_layer(f),
        before,
        "something was created outside the layer"
    );
    assert_eq!(fs::read(f.outside.join("file")).unwrap(), b"original");
    assert_eq!(fs::metadata(f.outside.join("file")).unwrap().nlink(), 1);
    assert!(
        tree(&f.layer).is_empty(),
        "partial unpack not cleaned: {:?}",
        tree(&f.layer)
    );
}

#[test]
fn dotdot_escape_is_refused() {
    let f = fixture();
    assert!(!Path::new("/etc/x").exists());
    expect_refused(&f, vec![file("../../etc/x", b"pwned")], "../../etc/x");
    expect_refused(&f, vec![file("ok", b"1"), file("../x", b"pwned")], "../x");
    expect_refused(&f, vec![file("d/../../x", b"pwned")], "d/../../x");
    assert!(!Path::new("/etc/x").exists());
    assert!(!f.base.join("a/x").exists());
    assert!(!f.base.join("a/b/x").exists());
}

#[test]
fn absolute_paths_are_confined() {
    let f = fixture();
    let abs = format!("{}/abs/path", f.outside.display());
    unpack_layer(
        &tar_of(vec![file("/abs/path", b"x"), file(&abs, b"y")])[..],
        &f.layer,
    )
    .unwrap();
    assert_eq!(fs::read(f.layer.join("abs/path")).unwrap(), b"x");
    let confined = f.layer.join(abs.trim_start_matches('/'));
    assert_eq!(fs::read(confined).unwrap(), b"y");
    assert!(!Path::new("/abs").exists());
    assert!(!f.outside.join("abs").exists());
}

#[test]
fn write_through_absolute_symlink_is_refused() {
    let f = fixture();
    let target = f.outside.display().to_string();
    expect_refused(
        &f,
        vec![symlink("a", &target), file("a/pwned", b"x")],
        "a/pwned",
    );
    assert!(!f.outside.join("pwned").exists());
    // Also through a symlink to a file outside: overwrite, not follow.
    let file_target = f.outside.join("file").display().to_string();
    unpack_layer(
        &tar_of(vec![symlink("s", &file_target), file("s", b"new")])[..],
        &f.layer,
    )
    .unwrap();
    assert_eq!(fs::read(f.outside.join("file")).unwrap(), b"original");
    assert_eq!(fs::read(f.layer.join("s")).unwrap(), b"new");
    assert!(fs::symlink_metadata(f.layer.join("s")).unwrap().is_file());
}

#[test]
fn write_through_dotdot_symlink_is_refused() {
    let f = fixture();
    expect_refused(&f, vec![symlink("up", ".."), file("up/x", b"x")], "up/x");
    expect_refused(
        &f,
        vec![
            dir("d"),
            symlink("d/up", "../../.."),
            dir("d/up/outside/newdir"),
        ],
        "d/up/outside/newdir",
    );
    assert!(!f.base.join("a/b/x").exists());
    assert!(!f.outside.join("newdir").exists());
}

#[test]
fn symlinks_are_stored_verbatim() {
    let f = fixture();
    unpack_layer(
        &tar_of(vec![
            symlink("abs", "/etc/passwd"),
            symlink("rel", "../../.."),
        ])[..],
        &f.layer,
    )
    .unwrap();
    assert_eq!(
        fs::read_link(f.layer.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(f.layer.join("rel")).unwrap(),
        Path::new("../../..")
    );
}

#[test]
fn hardlink_outside_is_refused() {
    let f = fixture();
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    expect_refused(&f, vec![hardlink("h", "/etc/passwd")], "h");
    expect_refused(&f, vec![hardlink("h", "../../../outside/file")], "h");
    expect_refused(&f, vec![hardlink("h", "../outside/file")], "h");
    // Through a symlinked directory inside the layer.
    let t = f.outside.display().to_string();
    expect_refused(&f, vec![symlink("o", &t), hardlink("h", "o/file")], "h");
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn hardlink_inside_and_to_symlink() {
    let f = fixture();
    unpack_layer(
        &tar_of(vec![
            file("a", b"data"),
            hardlink("b", "a"),
            hardlink("/c", "/a"),
            symlink("l", "/etc/passwd"),
            hardlink("hl", "l"),
        ])[..],
        &f.layer,
    )
    .unwrap();
    let a = fs::metadata(f.layer.join("a")).unwrap();
    assert_eq!(a.nlink(), 3);
    assert_eq!(fs::read(f.layer.join("c")).unwrap(), b"data");
    // A hardlink to a symlink is a second symlink, not a link to its target.
    assert!(fs::symlink_metadata(f.layer.join("hl"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), 1);
}

#[test]
fn directory_replaced_by_symlink_mid_archive() {
    let f = fixture();
    let t = f.outside.display().to_string();
    expect_refused(
        &f,
        vec![
            dir("d"),
            file("d/f", b"1"),
            symlink("d", &t),
            file("d/g", b"2"),
        ],
        "d/g",
    );
    assert!(!f.outside.join("g").exists());
    assert!(
        f.outside.join("file").exists(),
        "replacing d must not delete through the link"
    );
    // Replacing alone is fine; the symlink is stored.
    unpack_layer(
        &tar_of(vec![dir("d"), file("d/f", b"1"), symlink("d", &t)])[..],
        &f.layer,
    )
    .unwrap();
    assert_eq!(fs::read_link(f.layer.join("d")).unwrap(), f.outside);
    assert!(f.outside.join("file").exists());
}

#[test]
fn file_replaced_by_dir_and_back() {
    let f = fixture();
    unpack_layer(
        &tar_of(vec![
            file("x", b"1"),
            dir("x"),
            file("x/y", b"2"),
            file("x", b"3"),
        ])[..],
        &f.layer,
    )
    .unwrap();
    assert_eq!(fs::read(f.layer.join("x")).unwrap(), b"3");
}

#[test]
fn metadata_is_preserved() {
    let f = fixture();
    let mut owned = file("bin/su", b"#!");
    owned.uid = 1000;
    owned.gid = 2000;
    owned.mode = 0o4755;
    owned.mtime = 1_234_567_890;
    owned.pax = vec![("SCHILY.xattr.user.note".to_string(), b"hello".to_vec())];
    let mut d = dir("srv");
    d.mode = 0o700;
    d.uid = 33;
    d.mtime = 1_111_111_111;
    let mut ln = symlink("lnk", "bin/su");
    ln.uid = 7;
    ln.gid = 8;
    unpack_layer(
        &tar_of(vec![
            dir("bin"),
            owned,
            d,
            file("srv/child", b"c"),
            node("dev/null", tar::EntryType::Char, 0o666, (1, 3)),
            node("dev/loop0", tar::EntryType::Block, 0o660, (7, 0)),
            node("run/fifo", tar::EntryType::Fifo, 0o600, (0, 0)),
            ln,
        ])[..],
        &f.layer,
    )
    .unwrap();
    let m = fs::metadata(f.layer.join("bin/su")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 2000));
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m.mtime(), 1_234_567_890);
    let x = rustix::fs::getxattr(
        f.layer.join("bin/su").as_path(),
        "user.note",
        &mut [0u8; 64][..],
    )
    .unwrap();
    assert_eq!(x, 5);
    let d = fs::metadata(f.layer.join("srv")).unwrap();
    assert_eq!(d.permissions().mode() & 0o7777, 0o700);
    assert_eq!(d.uid(), 33);
    // Directory mtime is set after its children were written.
    assert_eq!(d.mtime(), 1_111_111_111);
    let n = fs::metadata(f.layer.join("dev/null")).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(n.permissions().mode() & 0o7777, 0o666);
    assert!(fs::metadata(f.layer.join("dev/loop0"))
        .unwrap()
        .file_type()
        .is_block_device());
    assert!(fs::metadata(f.layer.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let l = fs::symlink_metadata(f.layer.join("lnk")).unwrap();
    assert_eq!((l.uid(), l.gid()), (7, 8));
}

#[test]
fn overlay_xattrs_from_the_tar_are_dropped() {
    let f = fixture();
    let mut d = dir("d");
    d.pax = vec![(
        "SCHILY.xattr.trusted.overlay.redirect".to_string(),
        b"/etc".to_vec(),
    )];
    unpack_layer(&tar_of(vec![d])[..], &f.layer).unwrap();
    assert!(rustix::fs::getxattr(
        f.layer.join("d").as_path(),
        "trusted.overlay.redirect",
        &mut [0u8; 64][..]
    )
    .is_err());
}

#[test]
fn unknown_entry_types_are_skipped_and_diff_id_computed() {
    let f = fixture();
    let mut weird = file("weird", b"");
    weird.kind = tar::EntryType::new(b'Z');
    let bytes = tar_of(vec![weird, file("ok", b"1")]);
    let stats = unpack_layer(&bytes[..], &f.layer).unwrap();
    assert!(!f.layer.join("weird").exists());
    assert!(f.layer.join("ok").exists());
    assert_eq!(stats.diff_id, berth_image::Digest::of_bytes(&bytes));
    assert_eq!(stats.tar_size, bytes.len() as u64);
    assert_eq!(stats.content_size, 1);
}

#[test]
fn errors_are_typed() {
    let f = fixture();
    match unpack_layer(&tar_of(vec![file("../x", b"")])[..], &f.layer) {
        Err(Error::UnsafeEntry { entry, .. }) => assert_eq!(entry, "../x"),
        other => panic!("unexpected {other:?}"),
    }
}

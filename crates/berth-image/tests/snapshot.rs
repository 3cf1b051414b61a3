//! Overlay mounts of image layers (needs root and overlayfs, as berth does).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use berth_image::snapshot::{mount_overlay, mount_readonly, unmount};
use berth_image::store::ImageStore;
use berth_image::{import_rootfs, Digest, ImportOptions};
use common::*;

/// Unmounts on drop so a failing assertion does not leak a mount.
struct Mounted(PathBuf);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

fn is_mountpoint(p: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.display().to_string();
    mounts
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
}

fn two_layer_image(s: &ImageStore) -> Digest {
    let base = import_rootfs(s, &busybox_tar()[..], ImportOptions::default()).unwrap();
    let cfg = s.image_config(&base).unwrap();
    let l2 = tar_of(vec![
        file("etc/.wh.hosts", b""),
        dir("root"),
        file("root/.wh..wh..opq", b""),
        file("root/new", b"n"),
        file("srv/app", b"app"),
    ]);
    let info = s
        .apply_layer(Some(&cfg.chain_ids()[0]), &l2[..], None)
        .unwrap();
    let json = format!(
        r#"{{"os":"linux","rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        cfg.rootfs.diff_ids[0], info.diff_id
    );
    s.put_image_config(json.as_bytes()).unwrap()
}

#[test]
fn overlay_rootfs_with_whiteouts() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path().join("root")).unwrap();
    // Put a file in the base layer's /root so the opaque marker has something to hide.
    let id = two_layer_image(&s);
    let lowers = s.image_lower_dirs(&id).unwrap();
    fs::write(lowers[1].join("root/secret"), b"s").unwrap();
    let (upper, work, target) = (t.path().join("u"), t.path().join("w"), t.path().join("m"));
    for d in [&upper, &work, &target] {
        fs::create_dir(d).unwrap();
    }
    mount_overlay(&lowers, &upper, &work, &target).unwrap();
    let _g = Mounted(target.clone());
    assert!(is_mountpoint(&target));
    assert!(target.join("bin/busybox").is_file());
    assert_eq!(fs::read(target.join("srv/app")).unwrap(), b"app");
    assert!(
        !target.join("etc/hosts").exists(),
        "whiteout must hide etc/hosts"
    );
    assert!(target.join("etc/passwd").exists());
    assert!(
        !target.join("root/secret").exists(),
        "opaque dir must hide lower contents"
    );
    assert!(target.join("root/new").exists());
    fs::write(target.join("tmp/written"), b"w").unwrap();
    assert!(upper.join("tmp/written").exists());
    assert!(!lowers[0].join("tmp/written").exists() && !lowers[1].join("tmp/written").exists());
    unmount(&target).unwrap();
    assert!(!is_mountpoint(&target));
    // Idempotent.
    unmount(&target).unwrap();
}

#[test]
fn readonly_and_layerless_mounts() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path().join("root")).unwrap();
    let one = import_rootfs(&s, &busybox_tar()[..], ImportOptions::default()).unwrap();
    let target = t.path().join("m");
    fs::create_dir(&target).unwrap();

    // Single layer, no upper: read-only bind.
    mount_readonly(&s.image_lower_dirs(&one).unwrap(), &target).unwrap();
    let g = Mounted(target.clone());
    assert!(target.join("bin/busybox").is_file());
    assert!(
        fs::write(target.join("x"), b"").is_err(),
        "must be read-only"
    );
    drop(g);
    assert!(!is_mountpoint(&target));

    // Two layers, no upper: read-only overlay.
    let two = two_layer_image(&s);
    mount_readonly(&s.image_lower_dirs(&two).unwrap(), &target).unwrap();
    let g = Mounted(target.clone());
    assert!(target.join("srv/app").is_file() && target.join("bin/sh").exists());
    assert!(fs::write(target.join("x"), b"").is_err());
    drop(g);

    assert!(mount_readonly(&[], &target).is_err());

    // No layers with an upper: the upper itself becomes the rootfs.
    let (upper, work) = (t.path().join("u"), t.path().join("w"));
    fs::create_dir(&upper).unwrap();
    fs::create_dir(&work).unwrap();
    mount_overlay(&[], &upper, &work, &target).unwrap();
    let g = Mounted(target.clone());
    fs::write(target.join("f"), b"1").unwrap();
    assert!(upper.join("f").exists());
    drop(g);

    // Paths overlay cannot express are refused up front.
    let err = mount_overlay(&[PathBuf::from("/a,b")], &upper, &work, &target).unwrap_err();
    assert!(err.to_string().contains("cannot be used"), "{err}");
}

#[test]
fn busy_mount_is_lazily_detached() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path().join("root")).unwrap();
    let id = two_layer_image(&s);
    let target = t.path().join("m");
    fs::create_dir(&target).unwrap();
    mount_readonly(&s.image_lower_dirs(&id).unwrap(), &target).unwrap();
    let _g = Mounted(target.clone());
    // An open file keeps the mount busy: plain umount fails with EBUSY.
    let f = fs::File::open(target.join("srv/app")).unwrap();
    unmount(&target).unwrap();
    assert!(!is_mountpoint(&target));
    drop(f);
}

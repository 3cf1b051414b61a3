//! Content store, layer sharing, import of a busybox rootfs, gc.

mod common;

use std::fs;
use std::io::Read;

use berth_image::import::apply_change;
use berth_image::store::ImageStore;
use berth_image::{import_rootfs, ContainerConfig, Digest, Error, ImportOptions};
use common::*;

fn store() -> (tempfile::TempDir, ImageStore) {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path().join("root")).unwrap();
    (t, s)
}

fn tmp_is_empty(s: &ImageStore) -> bool {
    fs::read_dir(s.root().join("tmp")).unwrap().next().is_none()
}

#[test]
fn blobs_are_verified() {
    let (_t, s) = store();
    let d = s.put_blob(&b"hello"[..]).unwrap();
    assert_eq!(d, Digest::of_bytes(b"hello"));
    assert!(s.has_blob(&d));
    assert_eq!(s.read_blob(&d).unwrap(), b"hello");
    assert_eq!(s.blob_path(&d), s.root().join("blobs/sha256").join(d.hex()));
    // Idempotent.
    assert_eq!(s.put_blob(&b"hello"[..]).unwrap(), d);
    s.put_blob_expect(&b"world"[..], &Digest::of_bytes(b"world"))
        .unwrap();
    let err = s
        .put_blob_expect(&b"evil"[..], &Digest::of_bytes(b"good"))
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!s.has_blob(&Digest::of_bytes(b"evil")));
    assert!(!s.has_blob(&Digest::of_bytes(b"good")));
    assert!(tmp_is_empty(&s));
    assert!(matches!(
        s.read_blob(&Digest::of_bytes(b"nope")),
        Err(Error::BlobNotFound(_))
    ));
}

#[test]
fn import_busybox_and_run_the_lower_dirs() {
    let (_t, s) = store();
    let mut changes = ContainerConfig::default();
    apply_change(&mut changes, r#"CMD ["sh"]"#).unwrap();
    let tarball = busybox_tar();
    let id = import_rootfs(
        &s,
        &gzip(&tarball)[..],
        ImportOptions {
            changes,
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = s.image_config(&id).unwrap();
    assert_eq!(cfg.os, "linux");
    assert_eq!(cfg.config.as_ref().unwrap().cmd.as_deref().unwrap(), ["sh"]);
    assert_eq!(cfg.rootfs.diff_ids, vec![Digest::of_bytes(&tarball)]);
    assert_eq!(cfg.history[0].comment.as_deref(), Some("Imported from -"));
    assert!(cfg.created.is_some());
    // The id is the digest of the stored bytes.
    assert_eq!(Digest::of_bytes(&s.image_config_bytes(&id).unwrap()), id);

    let lowers = s.image_lower_dirs(&id).unwrap();
    assert_eq!(lowers.len(), 1);
    let root = &lowers[0];
    assert_eq!(*root, s.layer_diff_path(&cfg.rootfs.diff_ids[0]));
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert!(fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .starts_with("root:x:0:0:"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    for d in ["proc", "sys", "dev", "root"] {
        assert!(root.join(d).is_dir(), "{d}");
    }
    let out = std::process::Command::new(root.join("bin/busybox"))
        .args(["echo", "ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");
    let size = s.image_size(&id).unwrap();
    assert!(size >= fs::metadata("/bin/busybox").unwrap().len());

    // A second import of the same tarball shares the layer.
    let id2 = import_rootfs(&s, &tarball[..], ImportOptions::default()).unwrap();
    assert_ne!(id, id2);
    assert_eq!(s.layers().unwrap().len(), 1);
    assert!(tmp_is_empty(&s));

    // The layer tar was kept and reads back identically.
    let (mut r, info) = s.open_layer_tar(&cfg.rootfs.diff_ids[0]).unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back, tarball);
    assert_eq!(info.tar_size, tarball.len() as u64);
}

#[test]
fn layers_stack_by_chain_id() {
    let (_t, s) = store();
    let l1 = tar_of(vec![file("a", b"1")]);
    let l2 = tar_of(vec![file("b", b"2"), file(".wh.a", b"")]);
    let i1 = s.apply_layer(None, &l1[..], None).unwrap();
    let i2 = s.apply_layer(Some(&i1.chain_id), &l2[..], None).unwrap();
    assert_eq!(
        i2.chain_id,
        Digest::chain_id(Some(&i1.chain_id), &Digest::of_bytes(&l2))
    );
    assert_eq!(i2.parent.as_ref(), Some(&i1.chain_id));
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        i1.diff_id, i2.diff_id
    );
    let id = s.put_image_config(cfg.as_bytes()).unwrap();
    let lowers = s.image_lower_dirs(&id).unwrap();
    assert_eq!(
        lowers,
        vec![
            s.layer_diff_path(&i2.chain_id),
            s.layer_diff_path(&i1.chain_id)
        ]
    );
    // Wrong diff id: nothing kept.
    let before = s.blobs().unwrap().len();
    let l3 = tar_of(vec![file("c", b"3")]);
    let err = s
        .apply_layer(None, &l3[..], Some(&Digest::of_bytes(b"other")))
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(s.blobs().unwrap().len(), before);
    assert_eq!(s.layers().unwrap().len(), 2);
    assert!(tmp_is_empty(&s));
    // Config referring to a missing layer is refused.
    let bad = r#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
    assert!(s.put_image_config(bad.as_bytes()).is_err());
}

#[test]
fn failed_unpack_leaves_nothing() {
    let (_t, s) = store();
    let err = s
        .apply_layer(
            None,
            &tar_of(vec![file("ok", b"1"), file("../../x", b"2")])[..],
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("../../x"), "{err}");
    assert!(s.layers().unwrap().is_empty());
    assert!(s.blobs().unwrap().is_empty());
    assert!(tmp_is_empty(&s));
}

#[test]
fn concurrent_unpack_of_the_same_layer_is_harmless() {
    let (_t, s) = store();
    let tarball = busybox_tar();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            let t = tarball.clone();
            std::thread::spawn(move || s.apply_layer(None, &t[..], None).unwrap())
        })
        .collect();
    let infos: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(infos.windows(2).all(|w| w[0].chain_id == w[1].chain_id));
    assert_eq!(s.layers().unwrap().len(), 1);
    assert!(tmp_is_empty(&s));
}

#[test]
fn gc_removes_unused_layers_and_blobs() {
    let (_t, s) = store();
    let a = import_rootfs(
        &s,
        &tar_of(vec![file("a", b"a")])[..],
        ImportOptions::default(),
    )
    .unwrap();
    let b = import_rootfs(
        &s,
        &tar_of(vec![file("b", b"b")])[..],
        ImportOptions::default(),
    )
    .unwrap();
    let manifest = s.put_blob_bytes(b"{\"manifest\":true}").unwrap();
    let stray = s.put_blob_bytes(b"stray").unwrap();
    let a_layer = s.image_config(&a).unwrap().chain_ids()[0].clone();
    let b_layer = s.image_config(&b).unwrap().chain_ids()[0].clone();
    let stats = s.gc(&[a.clone(), manifest.clone()]).unwrap();
    assert_eq!(stats.layers_removed, vec![b_layer.clone()]);
    assert!(stats.blobs_removed.contains(&b));
    assert!(stats.blobs_removed.contains(&stray));
    assert!(stats.bytes_freed >= 6, "stray (5) + layer content (1)");
    assert!(s.has_layer(&a_layer) && !s.has_layer(&b_layer));
    assert!(!s.layer_diff_path(&b_layer).exists());
    assert!(s.has_blob(&a) && s.has_blob(&manifest) && !s.has_blob(&b));
    // a's layer tar blob survives, so a can still be saved.
    assert!(s.open_layer_tar(&a_layer).is_ok());
    s.image_lower_dirs(&a).unwrap();
    let stats = s.gc(&[]).unwrap();
    assert_eq!(stats.layers_removed, vec![a_layer]);
    assert!(s.blobs().unwrap().is_empty());
}

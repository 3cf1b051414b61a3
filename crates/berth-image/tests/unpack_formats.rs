//! Ordinary-but-tricky layer shapes: long names, the root entry, missing
//! parents, compressed streams through the store.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use berth_image::store::ImageStore;
use berth_image::unpack::unpack_layer;
use berth_image::Digest;
use common::*;

#[test]
fn long_names_root_entry_and_missing_parents() {
    let t = tempfile::tempdir().unwrap();
    let layer = t.path().join("l");
    fs::create_dir(&layer).unwrap();
    let long_dir = "d".repeat(120);
    let long_file = format!("{long_dir}/{}", "f".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut root = tar::Header::new_gnu();
    root.set_entry_type(tar::EntryType::Directory);
    root.set_path("./").unwrap();
    root.set_mode(0o711);
    root.set_mtime(1_000_000_000);
    root.set_size(0);
    root.set_cksum();
    b.append(&root, &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_size(4);
    h.set_mtime(1);
    b.append_data(&mut h, &long_file, &b"long"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "deep/no/parents/link", "x".repeat(200))
        .unwrap();
    let bytes = b.into_inner().unwrap();
    let stats = unpack_layer(&bytes[..], &layer).unwrap();
    assert_eq!(stats.diff_id, Digest::of_bytes(&bytes));
    assert_eq!(fs::read(layer.join(&long_file)).unwrap(), b"long");
    assert_eq!(
        fs::read_link(layer.join("deep/no/parents/link"))
            .unwrap()
            .as_os_str()
            .len(),
        200
    );
    let m = fs::metadata(&layer).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o711);
    assert_eq!(m.mtime(), 1_000_000_000);
    assert!(layer.join("deep/no/parents").is_dir());
}

#[test]
fn compressed_layers_through_the_store() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let plain = tar_of(vec![file("a", b"1")]);
    let gz = gzip(&plain);
    let zs = zstd::encode_all(&plain[..], 1).unwrap();
    let diff = Digest::of_bytes(&plain);
    let i1 = s.apply_layer(None, &gz[..], Some(&diff)).unwrap();
    assert_eq!(i1.diff_id, diff);
    assert_eq!(i1.blob, None, "the tar is rebuilt from the files");
    assert!(i1.tar_split);
    assert_eq!(i1.tar_size, plain.len() as u64);
    let mut rebuilt = Vec::new();
    std::io::Read::read_to_end(&mut s.open_layer_tar(&i1.chain_id).unwrap().0, &mut rebuilt)
        .unwrap();
    assert_eq!(rebuilt, plain);
    // Same content again, zstd this time: already there, nothing read.
    let i2 = s.apply_layer(None, &zs[..], Some(&diff)).unwrap();
    assert_eq!(i2, i1);
    // Without an expected diff id it is unpacked, found identical, shared.
    let i3 = s.apply_layer(None, &zs[..], None).unwrap();
    assert_eq!(i3.chain_id, i1.chain_id);
    assert_eq!(s.layers().unwrap().len(), 1);
    // A layer whose blob is already stored (registry pull shape).
    let other = gzip(&tar_of(vec![file("b", b"2")]));
    let blob = s.put_blob(&other[..]).unwrap();
    let i4 = s.apply_layer_blob(Some(&i1.chain_id), &blob, None).unwrap();
    assert_eq!(i4.parent, Some(i1.chain_id.clone()));
    assert!(s.layer_diff_path(&i4.chain_id).join("b").is_file());
    // Unsupported compression is a clear error.
    let err = s.apply_layer(None, &b"BZh91AY&SY"[..], None).unwrap_err();
    assert!(err.to_string().contains("unsupported compression"), "{err}");
}

#[test]
fn bootstrap_tar_lists_applets() {
    let bytes = busybox_tar();
    let mut a = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        names.push(e.path().unwrap().display().to_string());
    }
    for n in [
        "bin/busybox",
        "bin/sh",
        "bin/ls",
        "etc/passwd",
        "etc/group",
        "tmp/",
        "proc/",
        "root/",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing");
    }
    // Reproducible: the same busybox gives the same diff id.
    assert_eq!(Digest::of_bytes(&bytes), Digest::of_bytes(&busybox_tar()));
}

//! Tar-split: the store keeps a layer once (its files) and gives back the exact tar —
//! every header, PAX record, long name, link, whiteout and padding byte — with the same
//! diff ID; tars it cannot replay keep their blob; a layer file changed behind the store's
//! back fails the rebuild instead of yielding another tar.

mod common;

use std::fs;
use std::io::Read;

use berth_image::store::ImageStore;
use berth_image::Digest;
use common::*;

fn rebuilt(s: &ImageStore, chain: &Digest) -> std::io::Result<Vec<u8>> {
    let (mut r, _) = s.open_layer_tar(chain).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

/// Random-looking bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One PAX record, `<len> key=value\n`, its length counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

/// A tar with every kind of entry a layer has, PAX and GNU long names, and the record
/// padding `tar` writes after the end blocks.
fn tricky_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut root = tar::Header::new_gnu();
    root.set_entry_type(tar::EntryType::Directory);
    root.set_path("./").unwrap();
    root.set_mode(0o755);
    root.set_size(0);
    root.set_cksum();
    b.append(&root, &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(3 << 20);
    b.append_data(&mut h, "etc/big", &noise(3 << 20, 7)[..])
        .unwrap();
    // A GNU long name (tar crate writes ././@LongLink for names over 100 bytes).
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(140));
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(5);
    b.append_data(&mut h, &long, &b"long\n"[..]).unwrap();
    // A PAX header with xattrs and a path, before a ustar entry.
    let mut pax = tar::Header::new_ustar();
    pax.set_entry_type(tar::EntryType::XHeader);
    let records = [
        pax_record("path", "pax/named/by/pax-record"),
        pax_record("SCHILY.xattr.user.k", "value-v"),
    ]
    .concat();
    let records = records.as_bytes();
    pax.set_size(records.len() as u64);
    pax.set_path("PaxHeaders/x").unwrap();
    pax.set_cksum();
    b.append(&pax, records).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("placeholder").unwrap();
    h.set_mode(0o644);
    h.set_size(7);
    h.set_cksum();
    b.append(&h, &b"by-pax\n"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(0);
    b.append_data(&mut h, "empty", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "etc/link", "big").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "etc/hard", "etc/big").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0);
    h.set_size(0);
    b.append_data(&mut h, "gone/.wh.old", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1000);
    b.append_data(&mut h, "odd-size", &noise(1000, 3)[..])
        .unwrap();
    let mut out = b.into_inner().unwrap();
    // GNU tar pads the archive to a 10240-byte record.
    out.resize(out.len().div_ceil(10240) * 10240, 0);
    out
}

#[test]
fn the_exact_tar_comes_back_from_the_files() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let tar = tricky_tar();
    for input in [tar.clone(), gzip(&tar)] {
        let info = s.apply_layer(None, &input[..], None).unwrap();
        assert!(info.tar_split, "recorded as a tar-split");
        assert_eq!(info.blob, None);
        assert_eq!(info.diff_id, Digest::of_bytes(&tar));
        assert_eq!(rebuilt(&s, &info.chain_id).unwrap(), tar);
        let diff = s.layer_diff_path(&info.chain_id);
        assert_eq!(
            fs::read(diff.join("pax/named/by/pax-record")).unwrap(),
            b"by-pax\n"
        );
        s.delete_layer(&info.chain_id).unwrap();
    }
    // Nothing of the stream stayed as a blob.
    assert!(s.blobs().unwrap().is_empty());
}

#[test]
fn one_copy_of_a_layer_on_disk() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let size = 16 << 20;
    let tar = tar_of(vec![file("data/blob", &noise(size, 11)), file("x", b"y")]);
    let info = s.apply_layer(None, &tar[..], None).unwrap();
    let on_disk = s.layer_disk_usage(&info.chain_id).unwrap();
    assert!(
        on_disk as f64 <= 1.1 * info.size as f64,
        "{on_disk} bytes on disk for {} bytes of files",
        info.size
    );
    assert!(s.blobs().unwrap().is_empty());
}

#[test]
fn tars_the_files_cannot_replay_keep_their_blob() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let cases = [
        // The same path twice: the first contents are gone from the layer.
        tar_of(vec![file("a", b"first"), file("a", b"second")]),
        // A file, then a directory tree in its place.
        tar_of(vec![file("d", b"file"), dir("d"), file("d/x", b"1")]),
        // A file under a directory that a later file replaces.
        tar_of(vec![dir("p"), file("p/f", b"1"), file("p", b"2")]),
        // A whiteout of a file of the same layer.
        tar_of(vec![file("w", b"1"), file(".wh.w", b"")]),
    ];
    for tar in cases {
        let info = s.apply_layer(None, &tar[..], None).unwrap();
        assert!(!info.tar_split);
        let blob = info.blob.clone().expect("blob kept");
        assert_eq!(blob, Digest::of_bytes(&tar));
        assert_eq!(rebuilt(&s, &info.chain_id).unwrap(), tar);
    }
}

#[test]
fn a_changed_file_fails_the_rebuild() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let tar = tar_of(vec![file("f", b"original"), file("g", b"other")]);
    let info = s.apply_layer(None, &tar[..], None).unwrap();
    let diff = s.layer_diff_path(&info.chain_id);
    // Same length, other bytes: only the digest can tell.
    fs::write(diff.join("f"), b"ORIGINAL").unwrap();
    let err = rebuilt(&s, &info.chain_id).unwrap_err();
    assert!(err.to_string().contains("rebuilt from its files"), "{err}");
    // Another length, or a symlink in its place: refused before reading.
    fs::write(diff.join("f"), b"longer than before").unwrap();
    assert!(rebuilt(&s, &info.chain_id).is_err());
    fs::remove_file(diff.join("f")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", diff.join("f")).unwrap();
    let err = rebuilt(&s, &info.chain_id).unwrap_err();
    assert!(err.to_string().contains("layer file f"), "{err}");
}

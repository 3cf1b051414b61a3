//! docker save / docker load formats.

mod common;

use std::collections::HashMap;
use std::io::Read;

use berth_image::store::ImageStore;
use berth_image::{import_rootfs, load, save, Digest, ImportOptions};
use common::*;
use serde_json::{json, Value};

fn store() -> (tempfile::TempDir, ImageStore) {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path().join("root")).unwrap();
    (t, s)
}

/// An outer archive built with the tar crate's normal API.
fn archive(files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(&name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn read_archive(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(bytes);
    let mut out = HashMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        out.insert(p, v);
    }
    out
}

fn config_for(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"], "Hostname": ""},
        "created": "2024-05-01T10:00:00.000000001Z",
        "docker_version": "24.0.7",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "ADD"}],
        "moby.extra": {"kept": true}
    }))
    .unwrap()
}

fn nothing_left(s: &ImageStore) {
    assert!(
        s.layers().unwrap().is_empty(),
        "layers left: {:?}",
        s.layers().unwrap()
    );
    assert!(
        s.blobs().unwrap().is_empty(),
        "blobs left: {:?}",
        s.blobs().unwrap()
    );
    assert!(std::fs::read_dir(s.root().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn save_then_load_round_trips() {
    let (_t, s) = store();
    let l1 = busybox_tar();
    let base = import_rootfs(&s, &l1[..], ImportOptions::default()).unwrap();
    // A two-layer image on top of it.
    let base_cfg = s.image_config(&base).unwrap();
    let l2 = tar_of(vec![
        dir("srv"),
        file("srv/hello", b"hi"),
        file("etc/.wh.hosts", b""),
    ]);
    let info = s
        .apply_layer(Some(&base_cfg.chain_ids()[0]), &gzip(&l2)[..], None)
        .unwrap();
    let cfg2 = config_for(&[base_cfg.rootfs.diff_ids[0].clone(), info.diff_id.clone()]);
    let top = s.put_image_config(&cfg2).unwrap();

    let mut out = Vec::new();
    save(
        &s,
        &[
            (
                top.clone(),
                vec![
                    "example/app:1".to_string(),
                    "localhost:5000/app:latest".to_string(),
                ],
            ),
            (base.clone(), vec![]),
        ],
        &mut out,
    )
    .unwrap();

    // Shape of what docker 25+ writes.
    let files = read_archive(&out);
    for f in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(files.contains_key(f), "{f} missing");
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", top.hex()));
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["example/app:1", "localhost:5000/app:latest"])
    );
    assert_eq!(
        manifest[0]["Layers"][1],
        format!("blobs/sha256/{}", info.diff_id.hex())
    );
    assert_eq!(manifest[1]["RepoTags"], Value::Null);
    // Layers are saved uncompressed, named by diff id.
    assert_eq!(files[&format!("blobs/sha256/{}", info.diff_id.hex())], l2);
    assert_eq!(files[&format!("blobs/sha256/{}", top.hex())], cfg2);
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/example/app:1"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    let repos: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repos["example/app"]["1"], info.diff_id.hex());
    // Every blob's name is its digest.
    for (p, b) in &files {
        if let Some(hex) = p.strip_prefix("blobs/sha256/") {
            if !hex.is_empty() {
                assert_eq!(Digest::of_bytes(b).hex(), hex);
            }
        }
    }

    // Load into a fresh store: same ids, same bytes, same files.
    let (_t2, s2) = store();
    let loaded = load(&s2, &out[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, top);
    assert_eq!(
        loaded[0].repo_tags,
        vec!["example/app:1", "localhost:5000/app:latest"]
    );
    assert_eq!(loaded[1].id, base);
    assert!(loaded[1].repo_tags.is_empty());
    assert_eq!(s2.image_config_bytes(&top).unwrap(), cfg2);
    let lowers = s2.image_lower_dirs(&top).unwrap();
    assert_eq!(std::fs::read(lowers[0].join("srv/hello")).unwrap(), b"hi");
    assert!(lowers[1].join("bin/busybox").is_file());
    // Loading again is idempotent.
    assert_eq!(load(&s2, &out[..]).unwrap()[0].id, top);

    // The OCI-layout view of the same archive (index.json only) loads too.
    let mut oci_only = read_archive(&out);
    oci_only.remove("manifest.json");
    oci_only.remove("repositories");
    let (_t3, s3) = store();
    let loaded = load(&s3, &archive(oci_only.into_iter().collect())[..]).unwrap();
    assert_eq!(loaded[0].id, top);
    assert_eq!(
        loaded[0].repo_tags,
        vec!["example/app:1", "localhost:5000/app:latest"]
    );
    assert_eq!(loaded[1].id, base);
}

#[test]
fn loads_legacy_docker_archive() {
    // docker < 25: <v1id>/layer.tar, <hex>.json config, a symlinked
    // duplicate layer, gzip-compressed outer archive.
    let l1 = tar_of(vec![dir("bin"), file("bin/tool", b"v1")]);
    let l2 = tar_of(vec![file("bin/tool", b"v2")]);
    let d1 = Digest::of_bytes(&l1);
    let d2 = Digest::of_bytes(&l2);
    let cfg = config_for(&[d1.clone(), d2.clone()]);
    let id = Digest::of_bytes(&cfg);
    let v1a = "a".repeat(64);
    let v1b = "b".repeat(64);
    let manifest = json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": ["legacy:v1", "docker.io/library/legacy:v2"],
        "Layers": [format!("{v1a}/layer.tar"), format!("{v1b}/layer.tar")]
    }]);
    let repositories = json!({"legacy": {"v1": v1b}});
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(&format!("{v1a}/VERSION"), b"1.0");
    add(&format!("{v1a}/json"), b"{}");
    add(&format!("{v1a}/layer.tar"), &l1);
    add(&format!("{v1b}/VERSION"), b"1.0");
    add(&format!("{}.json", id.hex()), &cfg);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    add("repositories", &serde_json::to_vec(&repositories).unwrap());
    // The second layer is stored once elsewhere and symlinked, as docker
    // does for duplicate layers.
    add("shared/layer.tar", &l2);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_path(format!("{v1b}/layer.tar")).unwrap();
    h.set_link_name("../shared/layer.tar").unwrap();
    h.set_size(0);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let bytes = gzip(&b.into_inner().unwrap());

    let (_t, s) = store();
    let loaded = load(&s, &bytes[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].repo_tags, vec!["legacy:v1", "legacy:v2"]);
    let lowers = s.image_lower_dirs(&id).unwrap();
    assert_eq!(std::fs::read(lowers[0].join("bin/tool")).unwrap(), b"v2");
    assert_eq!(std::fs::read(lowers[1].join("bin/tool")).unwrap(), b"v1");
    // Unknown config fields survive byte for byte.
    assert_eq!(s.image_config_bytes(&id).unwrap(), cfg);
    assert_eq!(
        s.image_config(&id).unwrap().extra["moby.extra"]["kept"],
        true
    );
}

/// A plain OCI image layout as skopeo/buildah/containerd export it, with
/// gzip and zstd layers and a nested index.
fn oci_layout(l1: &[u8], l2: &[u8], corrupt_layer: bool) -> (Vec<u8>, Digest) {
    let gz = gzip(l1);
    let zs = zstd::encode_all(l2, 3).unwrap();
    let cfg = config_for(&[Digest::of_bytes(l1), Digest::of_bytes(l2)]);
    let id = Digest::of_bytes(&cfg);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": cfg.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of_bytes(&gz), "size": gz.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": Digest::of_bytes(&zs), "size": zs.len()}
        ]
    }))
    .unwrap();
    let md = Digest::of_bytes(&manifest);
    let inner_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
             "platform": {"os": "linux", "architecture": berth_image::config::host_architecture()}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": format!("sha256:{}", "c".repeat(64)), "size": 10,
             "platform": {"os": "linux", "architecture": "other"}}
        ]
    }))
    .unwrap();
    let ii = Digest::of_bytes(&inner_index);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": ii, "size": inner_index.len(),
             "annotations": {"org.opencontainers.image.ref.name": "quay.io/org/thing:2.0"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}
        ]
    }))
    .unwrap();
    let mut gz_stored = gz.clone();
    if corrupt_layer {
        let n = gz_stored.len();
        gz_stored[n / 2] ^= 0xff;
    }
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (blob(&Digest::of_bytes(&gz)), gz_stored),
        (blob(&Digest::of_bytes(&zs)), zs),
        (blob(&id), cfg),
        (blob(&md), manifest),
        (blob(&ii), inner_index),
        ("index.json".to_string(), index),
    ];
    (archive(files), id)
}

#[test]
fn loads_oci_layout_with_gzip_and_zstd_layers() {
    let l1 = busybox_tar();
    let l2 = tar_of(vec![file("etc/motd", b"hello")]);
    let (bytes, id) = oci_layout(&l1, &l2, false);
    let (_t, s) = store();
    let loaded = load(&s, &bytes[..]).unwrap();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0].id, id);
    // Full names are taken; a bare tag without a repository is not.
    assert_eq!(loaded[0].repo_tags, vec!["quay.io/org/thing:2.0"]);
    let lowers = s.image_lower_dirs(&id).unwrap();
    assert_eq!(std::fs::read(lowers[0].join("etc/motd")).unwrap(), b"hello");
    // The compressed blobs are what the store keeps; save decompresses.
    let mut out = Vec::new();
    save(&s, &[(id.clone(), vec!["thing:1".to_string()])], &mut out).unwrap();
    let files = read_archive(&out);
    assert_eq!(
        files[&format!("blobs/sha256/{}", Digest::of_bytes(&l2).hex())],
        l2
    );
}

#[test]
fn corrupt_blob_is_rejected_leaving_nothing() {
    let l1 = tar_of(vec![file("a", b"1")]);
    let l2 = tar_of(vec![file("b", b"2")]);
    let (bytes, _) = oci_layout(&l1, &l2, true);
    let (_t, s) = store();
    let err = load(&s, &bytes[..]).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    nothing_left(&s);
}

#[test]
fn wrong_diff_id_is_rejected_leaving_nothing() {
    // Layer content that does not match the config's diff ids: the first
    // layer is fine and gets unpacked, the second is not; both must go.
    let l1 = tar_of(vec![file("a", b"1")]);
    let l2 = tar_of(vec![file("b", b"2")]);
    let cfg = config_for(&[Digest::of_bytes(&l1), Digest::of_bytes(b"not the layer")]);
    let id = Digest::of_bytes(&cfg);
    let manifest = json!([{"Config": format!("blobs/sha256/{}", id.hex()), "RepoTags": ["x:1"],
        "Layers": ["l1/layer.tar", "l2/layer.tar"]}]);
    let bytes = archive(vec![
        (format!("blobs/sha256/{}", id.hex()), cfg),
        ("l1/layer.tar".into(), l1),
        ("l2/layer.tar".into(), l2),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ]);
    let (_t, s) = store();
    let err = load(&s, &bytes[..]).unwrap_err();
    assert!(err.to_string().contains("diff id"), "{err}");
    nothing_left(&s);
}

#[test]
fn mislabeled_config_is_rejected() {
    let l1 = tar_of(vec![file("a", b"1")]);
    let cfg = config_for(&[Digest::of_bytes(&l1)]);
    let fake = "d".repeat(64);
    let manifest = json!([{"Config": format!("blobs/sha256/{fake}"), "Layers": ["l1/layer.tar"]}]);
    let bytes = archive(vec![
        (format!("blobs/sha256/{fake}"), cfg),
        ("l1/layer.tar".into(), l1),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ]);
    let (_t, s) = store();
    assert!(load(&s, &bytes[..])
        .unwrap_err()
        .to_string()
        .contains("digest mismatch"));
    nothing_left(&s);
}

#[test]
fn garbage_is_rejected() {
    let (_t, s) = store();
    assert!(load(&s, &b"not a tar at all"[..]).is_err());
    let bytes = archive(vec![("hello".into(), b"x".to_vec())]);
    let err = load(&s, &bytes[..]).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
    nothing_left(&s);
}

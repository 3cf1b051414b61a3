//! Layers of a `--userns-remap` daemon: owners shifted through the id map.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_image::idmap::{IdMap, IdRange};
use berth_image::unpack::unpack_layer_mapped;
use common::*;

fn map() -> IdMap {
    IdMap {
        uids: vec![IdRange {
            container_id: 0,
            host_id: 300_000,
            size: 65536,
        }],
        gids: vec![IdRange {
            container_id: 0,
            host_id: 400_000,
            size: 65536,
        }],
    }
}

#[test]
fn owners_are_shifted_and_unmapped_ids_refused() {
    if !berth_testkit::require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layer = t.path().join("l");
    fs::create_dir(&layer).unwrap();
    let mut owned = file("home/web/x", b"x");
    owned.uid = 1000;
    owned.gid = 1001;
    let mut link = symlink("bin/sh", "busybox");
    link.uid = 0;
    unpack_layer_mapped(
        &tar_of(vec![dir("etc"), file("etc/passwd", b"root"), owned, link])[..],
        &layer,
        Some(&map()),
    )
    .unwrap();
    let owner = |p: &str| {
        let m = fs::symlink_metadata(layer.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("etc/passwd"), (300_000, 400_000));
    assert_eq!(owner("etc"), (300_000, 400_000));
    assert_eq!(owner("home/web/x"), (301_000, 401_001));
    assert_eq!(owner("bin/sh"), (300_000, 400_000));
    // The layer root itself belongs to the remapped root.
    assert_eq!(
        (
            fs::metadata(&layer).unwrap().uid(),
            fs::metadata(&layer).unwrap().gid()
        ),
        (300_000, 400_000)
    );

    let bad = t.path().join("bad");
    fs::create_dir(&bad).unwrap();
    let mut far = file("x", b"x");
    far.uid = 70_000;
    let e = unpack_layer_mapped(&tar_of(vec![far])[..], &bad, Some(&map())).unwrap_err();
    assert!(
        e.to_string().contains("cannot be mapped to a host ID"),
        "{e}"
    );
    assert!(fs::read_dir(&bad).unwrap().next().is_none());
}

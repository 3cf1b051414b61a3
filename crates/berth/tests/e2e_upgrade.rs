//! Upgrades keep everything: a data root written by berth at ea2a40c (the release before
//! the store had a schema version; fixtures/make-upgrade-fixture.sh made it) opens under
//! this daemon with its images, containers, volumes and networks intact, is migrated to
//! the current schema, and its containers start. Every later change of the store keeps a
//! fixture like this one.

mod common;

use common::{DaemonOptions, TestDaemon};
use std::path::Path;
use std::time::Duration;

/// The data root, as ea2a40c left it after `make-upgrade-fixture.sh`.
const FIXTURE: &[u8] = include_bytes!("fixtures/data-root-ea2a40c.tar.gz");
/// Where it was made (records hold absolute paths, as dockerd's do).
const ROOT: &str = "/tmp/berth-upgrade-fixture";

fn unpack_fixture() {
    let root = Path::new(ROOT);
    if root.exists() {
        // A run that was killed: nothing of it may stay mounted.
        common::unmount_under(root);
        std::fs::remove_dir_all(root).unwrap();
    }
    let o = common::run_cmd(
        {
            let mut c = std::process::Command::new("tar");
            c.args(["-xzf", "-", "-C", "/"]);
            c
        },
        Some(FIXTURE),
        Duration::from_secs(60),
    );
    assert_eq!(o.code, 0, "unpack the fixture: {o:?}");
}

#[test]
fn a_data_root_from_ea2a40c_opens_with_everything_in_it() {
    if !common::can_run() {
        return;
    }
    unpack_fixture();
    let mut d = TestDaemon::start_with(DaemonOptions {
        dir: Some(ROOT.into()),
        bridge: Some(("btupfx0".into(), "10.254.78.0/24".into())),
        no_busybox: true,
        ..Default::default()
    });

    // Images, with both names.
    let images = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .out();
    let ids: Vec<&str> = images.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert!(
        images.contains("busybox:latest") && images.contains("fixture/busybox:v1"),
        "{images}"
    );
    assert!(ids.len() == 2 && ids[0] == ids[1], "{images}");

    // Containers, as they were left.
    let ps = d
        .docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .out();
    assert!(ps.contains("created1 Created"), "{ps}");
    assert!(ps.contains("exited3 Exited (3)"), "{ps}");
    assert!(ps.contains("netted Exited (137)"), "{ps}");
    assert_eq!(d.inspect("exited3", "{{.State.ExitCode}}"), "3");
    assert!(d
        .inspect("exited3", "{{json .Config.Env}}")
        .contains("KEPT=yes"));
    assert_eq!(d.docker(&["logs", "exited3"]).out(), "first run");
    assert_eq!(
        d.inspect(
            "netted",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 2"
    );
    assert_eq!(
        d.inspect("created1", "{{index .Config.Labels \"made-by\"}}"),
        "ea2a40c"
    );

    // The volume and what was written into it.
    let vols = d
        .docker(&[
            "volume",
            "ls",
            "--filter",
            "label=made-by=ea2a40c",
            "--format",
            "{{.Name}}",
        ])
        .out();
    assert_eq!(vols, "fxvol");
    let o = d.docker(&["run", "--rm", "-v", "fxvol:/v", "busybox", "cat", "/v/file"]);
    assert_eq!(o.out(), "kept in a volume");

    // The network.
    assert_eq!(
        d.docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}} {{index .Labels \"made-by\"}}",
            "fxnet"
        ])
        .out(),
        "10.254.79.0/24 ea2a40c"
    );

    // The old containers start under the new daemon, with what they were made with.
    d.docker(&["start", "-a", "exited3"]).code(3);
    assert_eq!(d.docker(&["logs", "exited3"]).out(), "first run\nfirst run");
    assert_eq!(
        d.docker(&["start", "-a", "created1"]).out(),
        "never started"
    );
    // It ran under the built-in runtime then; the migration keeps it there (runc is the
    // runc binary now).
    assert_eq!(d.inspect("viarunc", "{{.HostConfig.Runtime}}"), "berth");
    assert_eq!(
        d.docker(&["start", "-a", "viarunc"]).out(),
        "ran under berth"
    );
    d.docker(&["start", "netted"]).ok();
    let ip = d.inspect("netted", "{{.NetworkSettings.Networks.fxnet.IPAddress}}");
    assert!(ip.starts_with("10.254.79."), "{ip}");
    let aliases = d.inspect("netted", "{{json .NetworkSettings.Networks.fxnet.Aliases}}");
    assert!(aliases.contains("fxalias"), "{aliases}");
    assert_eq!(
        d.docker(&["exec", "netted", "cat", "/v/file"]).out(),
        "kept in a volume"
    );
    d.docker(&["rm", "-f", "netted"]).ok();

    // The store was migrated to the current schema version in the open.
    d.stop_daemon();
    {
        use redb::ReadableTable;
        let db = redb::Database::create(d.data_root.join("berth.db")).unwrap();
        let tx = db.begin_read().unwrap();
        let meta = tx
            .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap();
        let v = meta.get("schema_version").unwrap().unwrap().value();
        assert_eq!(v, berth_daemon::store::SCHEMA_VERSION);
        assert!(meta.iter().unwrap().count() >= 1);
    }
    d.restart_daemon();
    assert!(d.docker(&["ps", "-a"]).out().contains("exited3"));
}

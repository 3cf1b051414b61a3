//! Volumes, `local` driver: one row per volume in the `volumes` table, its data in
//! `<data-root>/volumes/<name>/_data` (as Docker lays it out), the Engine API verbs on them
//! (`handlers`), the mounts of a container (`mounts`: Binds, Mounts, image VOLUMEs,
//! VolumesFrom) and the first-mount copy of the image's content into a new volume (`copy`).
//!
//! A volume's row is written after its directory exists and deleted before the directory
//! goes, so a crash leaves at most an unreferenced directory, never a row without data.
//! A volume created with the local driver's `type/device/o` options is mounted on its
//! `_data` when a container first needs it and stays mounted until the volume is removed.

pub mod copy;
pub mod handlers;
pub mod mounts;

use crate::error::{DaemonError, Result};
use crate::store::{Op, Store, Table};
use berth_api::volume::Volume;
use berth_api::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The label Docker puts on volumes created for a container without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What the daemon persists about a volume.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Whether the volume is a mount of its own (tmpfs, a device, a bind) on `_data`.
    pub fn needs_mount(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

/// The daemon's volumes.
pub struct Volumes {
    by_name: Mutex<HashMap<String, VolumeRecord>>,
    /// `<data-root>/volumes`.
    pub root: PathBuf,
    /// The host ids of root in remapped containers (volume directories belong to it).
    owner: Option<(u32, u32)>,
}

/// Docker's name check for local volumes, with its texts.
pub fn validate_name(name: &str) -> std::result::Result<(), ApiError> {
    if name.len() < 2 {
        return Err(ApiError::invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    if !crate::ids::valid_name(name) {
        return Err(ApiError::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// The local driver's option check (moby `local.validateOpts`).
pub fn validate_options(opts: &BTreeMap<String, String>) -> std::result::Result<(), ApiError> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
            return Err(ApiError::invalid(format!("invalid option: \"{k}\"")));
        }
    }
    if opts.contains_key("size") {
        return Err(ApiError::invalid(
            "quota size requested but no quota support",
        ));
    }
    let need = |k: &str| -> std::result::Result<(), ApiError> {
        if opts.contains_key(k) {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "missing required option: \"{k}\""
            )))
        }
    };
    if opts.contains_key("o") || opts.contains_key("type") {
        need("device")?;
    }
    if opts.contains_key("device") || opts.contains_key("o") {
        need("type")?;
    }
    Ok(())
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("get {name}: no such volume"))
}

impl Volumes {
    pub fn new(data_root: &Path, owner: Option<(u32, u32)>) -> Volumes {
        Volumes {
            by_name: Mutex::new(HashMap::new()),
            root: data_root.join("volumes"),
            owner,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, VolumeRecord>> {
        self.by_name.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<data-root>/volumes/<name>/_data`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Loads the records at start-up and makes the volumes directory.
    pub fn load(&self, store: &dyn Store) -> Result<()> {
        berth_perms::create_dir_all(&self.root, berth_perms::Mode::VOLUMES_DIR)
            .map_err(|e| DaemonError::io(format!("create {}", self.root.display()), e))?;
        let mut map = self.map();
        for (name, value) in store.list(Table::Volumes)? {
            match serde_json::from_slice::<VolumeRecord>(&value) {
                Ok(v) => {
                    map.insert(name, v);
                }
                Err(e) => tracing::error!("volume {name}: unreadable record: {e}"),
            }
        }
        Ok(())
    }

    pub fn all(&self) -> Vec<VolumeRecord> {
        let mut v: Vec<VolumeRecord> = self.map().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn get(&self, name: &str) -> std::result::Result<VolumeRecord, ApiError> {
        self.map().get(name).cloned().ok_or_else(|| no_such(name))
    }

    /// The Engine API view.
    pub fn resource(&self, v: &VolumeRecord) -> Volume {
        Volume {
            created_at: v.created_at.clone(),
            driver: v.driver.clone(),
            labels: v.labels.clone(),
            mountpoint: self.data_dir(&v.name).to_string_lossy().into_owned(),
            name: v.name.clone(),
            options: (!v.options.is_empty()).then(|| v.options.clone()),
            scope: "local".into(),
            usage_data: None,
        }
    }

    /// Creates a volume, or returns the existing one of that name (as Docker does).
    /// Returns the record and whether it was made now.
    pub fn create(
        &self,
        store: &dyn Store,
        name: &str,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool)> {
        let driver = if driver.is_empty() { "local" } else { driver };
        if driver != "local" {
            return Err(ApiError::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            ))
            .into());
        }
        validate_name(name)?;
        validate_options(&options)?;
        let mut map = self.map();
        if let Some(v) = map.get(name) {
            return Ok((v.clone(), false));
        }
        let rec = VolumeRecord {
            name: name.to_string(),
            driver: driver.to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options,
        };
        let dir = self.root.join(name);
        let data = dir.join("_data");
        berth_perms::create_dir_all(&dir, berth_perms::Mode::VOLUMES_DIR)
            .map_err(|e| DaemonError::io(format!("create {}", dir.display()), e))?;
        // `_data` is the volume's root as containers see it: 0755 as in dockerd (the first
        // mount copies the image directory's mode over it).
        std::fs::create_dir_all(&data)
            .map_err(|e| DaemonError::io(format!("create {}", data.display()), e))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .map_err(|e| DaemonError::io(format!("chown {}", data.display()), e))?;
        }
        store
            .apply(vec![Op::Put {
                table: Table::Volumes,
                key: name.to_string(),
                value: serde_json::to_vec(&rec).map_err(|e| DaemonError::Other(e.to_string()))?,
            }])?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))?;
        map.insert(name.to_string(), rec.clone());
        Ok((rec, true))
    }

    /// Deletes a volume's row, then its files (unmounting its own mount first).
    pub fn delete(&self, store: &dyn Store, name: &str) -> Result<()> {
        let mut map = self.map();
        if !map.contains_key(name) {
            return Err(no_such(name).into());
        }
        store
            .apply(vec![Op::Delete {
                table: Table::Volumes,
                key: name.to_string(),
            }])?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))?;
        map.remove(name);
        drop(map);
        let data = self.data_dir(name);
        while nix::mount::umount2(&data, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
        let dir = self.root.join(name);
        std::fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| DaemonError::io(format!("remove {}", dir.display()), e))
    }

    /// Mounts a volume made with `type/device/o` on its `_data`, once.
    pub fn ensure_mounted(&self, v: &VolumeRecord) -> Result<()> {
        if !v.needs_mount() {
            return Ok(());
        }
        let data = self.data_dir(&v.name);
        if is_mountpoint(&data) {
            return Ok(());
        }
        let typ = v.options.get("type").cloned().unwrap_or_default();
        let device = v.options.get("device").cloned().unwrap_or_default();
        let mut flags = nix::mount::MsFlags::empty();
        let mut data_opts: Vec<&str> = Vec::new();
        let o = v.options.get("o").cloned().unwrap_or_default();
        for opt in o.split(',').filter(|s| !s.is_empty()) {
            use nix::mount::MsFlags as F;
            match opt {
                "bind" => flags |= F::MS_BIND,
                "rbind" => flags |= F::MS_BIND | F::MS_REC,
                "ro" => flags |= F::MS_RDONLY,
                "rw" => {}
                "nosuid" => flags |= F::MS_NOSUID,
                "nodev" => flags |= F::MS_NODEV,
                "noexec" => flags |= F::MS_NOEXEC,
                "noatime" => flags |= F::MS_NOATIME,
                other => data_opts.push(other),
            }
        }
        let data_str = data_opts.join(",");
        let fstype = (typ != "none" && !typ.is_empty()).then_some(typ.as_str());
        nix::mount::mount(
            Some(device.as_str()),
            &data,
            fstype,
            flags,
            (!data_str.is_empty()).then_some(data_str.as_str()),
        )
        .map_err(|e| {
            DaemonError::Other(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , data: {data_str}: {e}",
                data.display(),
                data.display()
            ))
        })?;
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(&data, Some(uid), Some(gid));
        }
        Ok(())
    }
}

/// Whether `p` is the root of a mount (its device differs from its parent's, or
/// mountinfo names it).
pub fn is_mountpoint(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp.replace("\\040", " ") == want)
}

/// A random name for an anonymous volume (64 hex, like Docker's).
pub fn anonymous_name() -> String {
    crate::ids::new_id()
}

/// Containers (any state) whose mounts use volume `name`: their IDs.
pub fn users(daemon: &crate::daemon::Daemon, name: &str) -> Vec<String> {
    let mut ids: Vec<String> = daemon
        .containers
        .all()
        .into_iter()
        .filter(|c| {
            c.rec()
                .mounts
                .iter()
                .any(|m| m.kind == "volume" && m.name == name)
        })
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Size of a directory tree in bytes (not following links, not crossing into other
/// mounts' special files); for `system df`.
pub fn dir_size(p: &Path) -> i64 {
    let mut total = 0i64;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len() as i64;
            }
        }
    }
    total
}

/// After a container is removed: its anonymous volumes go too, unless another container
/// still uses them (`docker rm -v`, and `--rm` containers).
pub fn remove_anonymous(
    daemon: &crate::daemon::Daemon,
    mounts: &[berth_api::container::MountPoint],
) {
    for m in mounts.iter().filter(|m| m.kind == "volume") {
        let Ok(v) = daemon.volumes.get(&m.name) else {
            continue;
        };
        if !v.is_anonymous() || !users(daemon, &m.name).is_empty() {
            continue;
        }
        match daemon.volumes.delete(&*daemon.store, &m.name) {
            Ok(()) => volume_event(daemon, &m.name, "destroy"),
            Err(e) => tracing::warn!("remove volume {}: {e}", m.name),
        }
    }
}

/// `volume mount` for each volume of a container that just started, with moby's
/// attributes (binds and tmpfs mounts have no event, as in moby).
pub fn mount_events(
    daemon: &crate::daemon::Daemon,
    container_id: &str,
    plan: &[mounts::MountPlan],
) {
    for m in plan.iter().filter(|m| m.kind == "volume") {
        daemon.events.publish(
            "volume",
            "mount",
            &m.name,
            BTreeMap::from([
                ("driver".to_string(), "local".to_string()),
                ("container".to_string(), container_id.to_string()),
                ("destination".to_string(), m.destination.clone()),
                ("read/write".to_string(), m.rw.to_string()),
                ("propagation".to_string(), m.propagation.clone()),
            ]),
        );
    }
}

/// `volume unmount` for each volume of a container that ended (before its `die`, as moby).
pub fn unmount_events(
    daemon: &crate::daemon::Daemon,
    container_id: &str,
    plan: &[mounts::MountPlan],
) {
    for m in plan.iter().filter(|m| m.kind == "volume") {
        daemon.events.publish(
            "volume",
            "unmount",
            &m.name,
            BTreeMap::from([
                ("driver".to_string(), "local".to_string()),
                ("container".to_string(), container_id.to_string()),
            ]),
        );
    }
}

/// A `volume` event (`create`, `destroy`, `prune`).
pub fn volume_event(daemon: &crate::daemon::Daemon, name: &str, action: &str) {
    daemon.events.publish(
        "volume",
        action,
        name,
        BTreeMap::from([("driver".to_string(), "local".to_string())]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_options_like_docker() {
        assert!(validate_name("ab").is_ok());
        assert!(validate_name("a")
            .unwrap_err()
            .message
            .contains("volume name is too short"));
        assert!(validate_name("a/b")
            .unwrap_err()
            .message
            .contains("includes invalid characters for a local volume name"));
        let o = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_options(&o(&[])).is_ok());
        assert!(validate_options(&o(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert_eq!(
            validate_options(&o(&[("foo", "1")])).unwrap_err().message,
            "invalid option: \"foo\""
        );
        assert_eq!(
            validate_options(&o(&[("type", "tmpfs")]))
                .unwrap_err()
                .message,
            "missing required option: \"device\""
        );
    }

    #[test]
    fn create_is_idempotent_and_delete_removes_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::RedbStore::open(&dir.path().join("db")).unwrap();
        let vols = Volumes::new(dir.path(), None);
        vols.load(&store).unwrap();
        let (a, made) = vols
            .create(&store, "data", "", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(made);
        assert!(vols.data_dir("data").is_dir());
        let (b, made) = vols
            .create(&store, "data", "local", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(!made);
        assert_eq!(a, b);
        let again = Volumes::new(dir.path(), None);
        again.load(&store).unwrap();
        assert_eq!(again.get("data").unwrap(), a);
        vols.delete(&store, "data").unwrap();
        assert!(!dir.path().join("volumes/data").exists());
        assert!(vols.get("data").is_err());
        assert!(vols
            .create(&store, "x1", "nfs", BTreeMap::new(), BTreeMap::new())
            .is_err());
    }
}

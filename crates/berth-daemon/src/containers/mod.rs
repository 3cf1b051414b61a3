//! Containers: the record we persist, the live handle we keep in memory, and one
//! module per lifecycle verb.

pub mod archive;
pub mod attach;
pub mod changes;
pub mod commit;
pub mod create;
pub mod devices;
pub mod exec;
pub mod health;
pub mod host_options;
pub mod inspect;
pub mod kill;
pub mod list;
pub mod logs;
pub mod monitor_link;
pub mod namespaces;
pub mod output;
pub mod pause;
pub mod prune;
pub mod remove;
pub mod rename;
pub mod restart_policy;
pub mod restore;
pub mod security_opt;
pub mod spec;
pub mod spec_caps;
pub mod spec_oci;
pub mod start;
pub mod state;
pub mod stats;
pub mod stop;
pub mod top;
pub mod update;
pub mod wait;

use berth_api::container::{Config, ContainerState, HostConfig};
use berth_api::ApiError;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::sync::watch;

/// What the daemon persists about a container (one row of the `containers` table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading '/'.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    /// The image ID (`sha256:…`); the name the user gave is `config.image`.
    pub image_id: String,
    pub state: ContainerState,
    #[serde(default)]
    pub restart_count: i64,
    /// Set by `stop`/`kill` through the API so restart policies stand down.
    #[serde(default)]
    pub manually_stopped: bool,
    #[serde(default)]
    pub has_been_started: bool,
    #[serde(default)]
    pub monitor_pid: i64,
    /// Mounts as inspect shows them.
    #[serde(default)]
    pub mounts: Vec<berth_api::container::MountPoint>,
    /// The mounts as planned at create (volumes, binds, tmpfs), used at each start.
    #[serde(default)]
    pub mount_plan: Vec<crate::volumes::mounts::MountPlan>,
    /// Endpoints by network name: what was asked for, plus addresses while running.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, berth_api::network::EndpointSettings>,
    /// Interface name of each endpoint inside the container while it runs.
    #[serde(default)]
    pub ifnames: std::collections::BTreeMap<String, String>,
    /// `NetworkSettings.Ports` while running.
    #[serde(default)]
    pub ports: std::collections::BTreeMap<String, Option<Vec<berth_api::network::PortBinding>>>,
}

/// Output chunks queued for each reader of a container's output (see `output`): a reader
/// this far behind holds the relay back. Queues grow as they fill, so an idle container
/// pays nothing for them.
pub const OUTPUT_BUFFER: usize = 256;

/// One chunk of container output, or the end of the run.
#[derive(Debug, Clone)]
pub enum Output {
    /// stream 1 = stdout, 2 = stderr
    Data(u8, Bytes),
    Exit(i64),
}

/// Lifecycle counters that `/wait` watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub exits: u64,
    pub running: bool,
    pub removed: bool,
    pub exit_code: i64,
}

/// A container as the daemon holds it while it exists.
pub struct Container {
    pub id: String,
    rec: Mutex<ContainerRecord>,
    pub output: output::OutputHub,
    pub lifecycle: watch::Sender<Lifecycle>,
    /// Serializes start/stop/kill/remove/restart so they never interleave.
    pub op_lock: tokio::sync::Mutex<()>,
    /// The write half of the connection to this container's monitor, while it runs.
    pub monitor: tokio::sync::Mutex<Option<monitor_link::MonitorWriter>>,
    /// The healthcheck monitor, while one runs.
    pub health: health::Monitor,
}

impl Container {
    pub fn new(rec: ContainerRecord) -> Arc<Container> {
        let output = output::OutputHub::default();
        let lifecycle = Lifecycle {
            running: rec.state.running,
            exit_code: rec.state.exit_code,
            ..Default::default()
        };
        let (lifecycle, _) = watch::channel(lifecycle);
        Arc::new(Container {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            output,
            lifecycle,
            op_lock: tokio::sync::Mutex::new(()),
            monitor: tokio::sync::Mutex::new(None),
            health: Default::default(),
        })
    }

    /// The record, locked briefly; never hold it across an await.
    pub fn rec(&self) -> MutexGuard<'_, ContainerRecord> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> ContainerRecord {
        self.rec().clone()
    }

    pub fn name(&self) -> String {
        self.rec().name.clone()
    }

    pub fn is_running(&self) -> bool {
        self.rec().state.running
    }

    /// Where the container is in its life.
    pub fn status(&self) -> state::Status {
        state::Status::of(&self.rec().state)
    }

    /// Moves the container to its next state (see `state::Transition`); the caller
    /// persists it and tells the world.
    pub fn transition(
        &self,
        t: state::Transition,
    ) -> std::result::Result<state::Status, state::InvalidTransition> {
        let id = self.id.clone();
        t.apply(&mut self.rec().state).inspect_err(|e| {
            tracing::warn!("container {id}: {e}");
        })
    }
}

/// Where a container's files live.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    /// `<data-root>/containers/<id>`: logs, hosts files, upper/work dirs, rootfs mountpoint.
    pub dir: PathBuf,
    /// `<exec-root>/containers/<id>`: the OCI bundle, monitor socket and pid files.
    pub bundle: PathBuf,
}

impl ContainerPaths {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// Mountpoint of the `--ipc shareable` `/dev/shm` tmpfs.
    pub fn shm(&self) -> PathBuf {
        self.dir.join("shm")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}-json.log"))
    }
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    pub fn socket(&self) -> PathBuf {
        self.bundle.join("monitor.sock")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.bundle.join("exit.json")
    }
    pub fn monitor_pid_file(&self) -> PathBuf {
        self.bundle.join("monitor.pid")
    }
}

/// All containers, by ID, with name and prefix lookup.
#[derive(Default)]
pub struct Registry {
    by_id: RwLock<HashMap<String, Arc<Container>>>,
}

impl Registry {
    pub fn insert(&self, c: Arc<Container>) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), c);
    }

    pub fn remove(&self, id: &str) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full ID, exact name (with or without '/'), or unique ID prefix,
    /// in Docker's order. Errors are Docker's texts and statuses.
    pub fn find(&self, key: &str) -> Result<Arc<Container>, ApiError> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if key.is_empty() {
            return Err(ApiError::no_such_container(key));
        }
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = map.values().find(|c| c.rec().name == name) {
            return Ok(c.clone());
        }
        let mut found: Option<&Arc<Container>> = None;
        for (id, c) in map.iter() {
            if id.starts_with(key) {
                if found.is_some() {
                    return Err(ApiError::invalid(format!(
                        "multiple IDs found with provided prefix: {key}"
                    )));
                }
                found = Some(c);
            }
        }
        found
            .cloned()
            .ok_or_else(|| ApiError::no_such_container(key))
    }

    /// Whether any container (running or not) uses this image ID.
    pub fn users_of_image(&self, image_id: &str) -> Vec<Arc<Container>> {
        self.all()
            .into_iter()
            .filter(|c| c.rec().image_id == image_id)
            .collect()
    }
}

/// Docker's RFC 3339 time with nanoseconds, as inspect prints it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The zero time Docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

//! The daemon's shared state and its start-up / shutdown sequence.

use crate::config::DaemonConfig;
use crate::containers::{Container, ContainerPaths, ContainerRecord, Registry};
use crate::error::{DaemonError, IoContext, Result};
use crate::events::Events;
use crate::store::{Op, RedbStore, Store, Table};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Everything a handler may touch.
pub struct Daemon {
    pub config: DaemonConfig,
    pub store: Box<dyn Store>,
    pub images: crate::images::ImageService,
    pub containers: Registry,
    pub networks: crate::networks::Networks,
    pub volumes: crate::volumes::Volumes,
    pub execs: Mutex<HashMap<String, Arc<crate::containers::exec::ExecInstance>>>,
    pub events: Events,
    /// Path of this binary, exec'd as `berth monitor`.
    pub self_exe: PathBuf,
    /// A sealed in-memory copy of this binary that monitors are spawned from, so no
    /// process entering a container ever exposes the host binary (CVE-2019-5736). Made once
    /// at start-up; `None` when the kernel cannot (the monitor then copies itself).
    pub monitor_exe: Option<berth_runtime::sealed_exe::SealedExe>,
    /// The runtimes containers can run under (`--runtime`).
    pub runtimes: crate::runtimes::Runtimes,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// API requests served so far; the idle trimmer watches it.
    pub requests: std::sync::atomic::AtomicU64,
}

impl Daemon {
    pub fn container_paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.config.data_root.join("containers").join(id),
            bundle: self.config.exec_root.join("containers").join(id),
        }
    }

    pub fn exec_dir(&self, exec_id: &str) -> PathBuf {
        self.config.exec_root.join("execs").join(exec_id)
    }

    /// The cgroup path (relative to each hierarchy's root) of a container.
    pub fn cgroup_path(&self, rec: &ContainerRecord) -> String {
        let parent = if rec.host_config.resources.cgroup_parent.is_empty() {
            self.config.cgroup_parent.trim_matches('/').to_string()
        } else {
            rec.host_config
                .resources
                .cgroup_parent
                .trim_matches('/')
                .to_string()
        };
        format!("/{parent}/{}", rec.id)
    }

    /// Writes a container's record in one transaction.
    pub fn persist(&self, c: &Container) -> Result<()> {
        let rec = c.snapshot();
        let value = serde_json::to_vec(&rec).map_err(|e| DaemonError::Other(e.to_string()))?;
        self.store
            .apply(vec![Op::Put {
                table: Table::Containers,
                key: rec.id.clone(),
                value,
            }])?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))
    }

    /// Publishes a container event with the attributes Docker attaches (name, image, labels).
    pub fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let rec = c.rec();
        let mut attrs = std::collections::BTreeMap::new();
        if let Some(labels) = &rec.config.labels {
            for (k, v) in labels {
                attrs.insert(k.clone(), v.clone());
            }
        }
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.config.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        let id = rec.id.clone();
        drop(rec);
        self.events.publish("container", action, &id, attrs);
    }
}

/// Holds the data-root lock for the daemon's lifetime.
struct RootLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

fn lock_root(root: &std::path::Path) -> Result<RootLock> {
    let path = root.join("berth.lock");
    let file = berth_perms::open_options(berth_perms::Mode::SECRET_FILE)
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx(|| format!("open {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(RootLock { _file: l }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(DaemonError::Other(format!(
            "another berth daemon is already running with data root {} (lock {} is held)",
            root.display(),
            path.display()
        ))),
        Err((_, e)) => Err(DaemonError::io(
            format!("lock {}", path.display()),
            e.into(),
        )),
    }
}

/// Starts the daemon and serves until SIGINT/SIGTERM. Running containers are left
/// running (their monitors own them) and re-adopted by the next start.
pub async fn run(mut config: DaemonConfig) -> Result<()> {
    let self_exe = std::env::current_exe().ctx(|| "locate own executable".into())?;
    // Checked before anything is made, like -G below.
    let runtimes = crate::runtimes::Runtimes::from_config(&config, &self_exe)?;
    // Checked before anything is made: a wrong -G must not leave a half-started daemon.
    let socket_gid = crate::state_dirs::socket_group(config.group.as_deref())?;
    crate::state_dirs::make_data_root(&config.data_root, config.userns_remap.is_some())?;
    if let Some(value) = config.userns_remap.clone() {
        // Like dockerd: everything of a remapped daemon lives under
        // <data-root>/<rootuid>.<rootgid>, its layers owned by the remapped ids.
        let remap = crate::userns::resolve(&value)?;
        config.data_root = crate::userns::setup_data_root(&config.data_root, &remap)?;
        tracing::info!(
            "user namespaces: remapping root to {}:{} ({}:{})",
            remap.root_uid,
            remap.root_gid,
            remap.user,
            remap.group
        );
        config.remap = Some(remap);
    }
    berth_perms::create_dir_all(&config.exec_root, berth_perms::Mode::PRIVATE_DIR)
        .ctx(|| format!("create {}", config.exec_root.display()))?;
    let _lock = lock_root(&config.data_root)?;
    crate::state_dirs::repair(&config);
    crate::state_dirs::prepare(&config)?;
    crate::state_dirs::write_pidfile(&config.pidfile)?;

    let store: Box<dyn Store> = Box::new(RedbStore::open(&config.data_root.join("berth.db"))?);
    let images = crate::images::ImageService::open_mapped(
        &config.data_root,
        config.remap.as_ref().map(|r| r.map.clone()),
    )?;
    let monitor_exe = match berth_runtime::sealed_exe::SealedExe::of_self() {
        Ok(_) if berth_runtime::sealed_exe::protection_disabled() => {
            tracing::warn!(
                "{} is set: monitors run from the host binary, which a container can overwrite (CVE-2019-5736)",
                berth_runtime::sealed_exe::UNSAFE_HOST_BINARY_ENV
            );
            None
        }
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no sealed copy of the berth binary, each monitor makes its own: {e}");
            None
        }
    };
    let daemon = Arc::new(Daemon {
        config: config.clone(),
        store,
        images,
        containers: Registry::default(),
        networks: crate::networks::Networks::new(crate::networks::table_name(&config.data_root)),
        volumes: crate::volumes::Volumes::new(
            &config.data_root,
            config.remap.as_ref().map(|r| (r.root_uid, r.root_gid)),
        ),
        execs: Mutex::new(HashMap::new()),
        events: Events::new(),
        self_exe,
        monitor_exe,
        runtimes,
        started_at: chrono::Utc::now(),
        requests: std::sync::atomic::AtomicU64::new(0),
    });
    daemon.images.load(&*daemon.store)?;
    daemon.volumes.load(&*daemon.store)?;
    {
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || crate::networks::setup::init(&d))
            .await
            .map_err(|e| DaemonError::Other(format!("network setup: {e}")))??;
    }
    crate::containers::restore::restore(&daemon).await?;
    {
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || crate::networks::setup::apply_firewall(&d))
            .await
            .map_err(|e| DaemonError::Other(format!("firewall setup: {e}")))??;
    }

    let mut listeners = Vec::new();
    let paths = config
        .socket_paths()
        .map_err(|e| DaemonError::Other(e.to_string()))?;
    for path in &paths {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(path);
        let l =
            tokio::net::UnixListener::bind(path).ctx(|| format!("listen on {}", path.display()))?;
        crate::state_dirs::secure_socket(path, socket_gid)?;
        listeners.push(l);
    }
    for l in listeners {
        tokio::spawn(crate::server::serve(l, daemon.clone()));
    }
    tracing::info!(
        "berth daemon listening on {} (data root {}, exec root {})",
        config.hosts.join(", "),
        config.data_root.display(),
        config.exec_root.display()
    );

    tokio::spawn(release_memory_when_idle(daemon.clone()));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .ctx(|| "install SIGTERM handler".into())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .ctx(|| "install SIGINT handler".into())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!(
        "shutting down; running containers stay up and are re-adopted on the next start"
    );
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    {
        let d = daemon.clone();
        let _ = tokio::task::spawn_blocking(move || crate::networks::setup::shutdown(&d)).await;
    }
    let _ = std::fs::remove_file(&config.pidfile);
    Ok(())
}

/// After a quiet spell with no API request, gives back code pages and heap touched while
/// busy: the daemon's memory is paid all the time, its bursts of work are short.
async fn release_memory_when_idle(daemon: Arc<Daemon>) {
    const QUIET: std::time::Duration = std::time::Duration::from_secs(5);
    let mut seen = u64::MAX;
    loop {
        tokio::time::sleep(QUIET).await;
        let now = daemon.requests.load(std::sync::atomic::Ordering::Relaxed);
        if now != seen {
            seen = now;
            continue;
        }
        // Quiet for a whole period since the last change: trim once, then wait for work.
        let _ = tokio::task::spawn_blocking(berth_runtime::sys::release_idle_memory).await;
        while daemon.requests.load(std::sync::atomic::Ordering::Relaxed) == seen {
            tokio::time::sleep(QUIET).await;
        }
    }
}

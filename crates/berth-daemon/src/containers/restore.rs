//! Start-up: load containers from the store and re-adopt those whose monitor still runs.

use super::{monitor_link, Container, ContainerRecord};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::store::Table;
use std::sync::Arc;

/// Whether the monitor recorded in `pid_file` still runs. Its command line names the
/// container ID, so a recycled pid is not mistaken for it.
fn monitor_alive(pid_file: &std::path::Path, id: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.contains(&&b"monitor"[..]) && args.contains(&id.as_bytes())
}

pub async fn restore(daemon: &Arc<Daemon>) -> Result<()> {
    let mut to_restart = Vec::new();
    for (id, value) in daemon.store.list(Table::Containers)? {
        let rec: ContainerRecord = match serde_json::from_slice(&value) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("container {id}: unreadable record: {e}");
                continue;
            }
        };
        let paths = daemon.container_paths(&rec.id);
        let was_running = rec.state.running;
        let c = Container::new(rec);
        daemon.containers.insert(c.clone());
        if !was_running {
            // A daemon killed between spawning a monitor and recording the start leaves a
            // monitor holding an init that never got "go": end it.
            if monitor_alive(&paths.monitor_pid_file(), &c.id) {
                if let Some(pid) = std::fs::read_to_string(paths.monitor_pid_file())
                    .ok()
                    .and_then(|t| t.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = std::fs::remove_dir_all(&paths.bundle);
            continue;
        }
        if monitor_alive(&paths.monitor_pid_file(), &c.id) && paths.socket().exists() {
            // Before the link, so that an exit seen by the link always stops it.
            super::health::init(daemon, &c);
            match monitor_link::link_container(daemon, &c, false).await {
                Ok(()) => {
                    crate::networks::endpoints::readopt(daemon, &c);
                    tracing::info!("re-adopted running container {}", c.id);
                    continue;
                }
                Err(e) => tracing::warn!("re-adopt {}: {e}", c.id),
            }
        }
        // The monitor is gone: the container ended while we were down.
        let status = monitor_link::read_exit_file(&paths.exit_file());
        monitor_link::handle_exit(daemon, &c, status).await;
        to_restart.push(c);
    }
    sweep_orphans(daemon);
    // Containers with `always` / `unless-stopped` that were not stopped by the user come
    // back after a daemon restart (handled by handle_exit's restart path).
    let _ = to_restart;
    Ok(())
}

/// Removes what a crash can leave behind: directories of containers that are no longer
/// in the database (removal commits the record first), rootfs mounts of containers that
/// are not running, and image content no image refers to.
fn sweep_orphans(daemon: &Daemon) {
    let known: std::collections::HashSet<String> = daemon
        .containers
        .all()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    for base in [
        daemon.config.data_root.join("containers"),
        daemon.config.exec_root.join("containers"),
    ] {
        let Ok(rd) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !known.contains(&name) {
                let _ = berth_image::snapshot::unmount(&e.path().join("rootfs"));
                tracing::info!("removing leftovers of deleted container {name}");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    for c in daemon.containers.all() {
        if !c.is_running() {
            let _ = berth_image::snapshot::unmount(&daemon.container_paths(&c.id).rootfs());
        }
    }
    daemon.images.gc();
}

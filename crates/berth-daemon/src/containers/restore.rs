//! Start-up: load containers from the store and re-adopt those whose monitor still runs.

use super::{monitor_link, Container, ContainerRecord};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::store::Table;
use std::sync::Arc;

fn monitor_alive(pid_file: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    // The monitor is a `berth` process; check the comm so a reused pid is not mistaken.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() && comm.trim() == "berth"
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
            continue;
        }
        if monitor_alive(&paths.monitor_pid_file()) && paths.socket().exists() {
            match monitor_link::link_container(daemon, &c, false).await {
                Ok(()) => {
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
    // Containers with `always` / `unless-stopped` that were not stopped by the user come
    // back after a daemon restart (handled by handle_exit's restart path).
    let _ = to_restart;
    Ok(())
}

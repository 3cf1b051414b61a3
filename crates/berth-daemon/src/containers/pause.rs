//! `POST /containers/{id}/pause` and `/unpause`: through the container's runtime.

use super::state::Transition;
use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

pub async fn set_frozen(daemon: &Arc<Daemon>, c: &Arc<Container>, frozen: bool) -> Result<()> {
    let rec = c.snapshot();
    let runtime = daemon.runtimes.get(&rec.host_config.runtime)?;
    let bundle = daemon.container_paths(&rec.id).bundle;
    runtime
        .set_frozen(&rec.id, &daemon.cgroup_path(&rec), &bundle, frozen)
        .await?;
    c.transition(if frozen {
        Transition::Paused
    } else {
        Transition::Unpaused
    })
    .map_err(|e| DaemonError::Other(e.to_string()))?;
    Ok(())
}

pub async fn pause(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _g = c.op_lock.lock().await;
    c.status().can_pause(&c.id)?;
    set_frozen(daemon, c, true).await?;
    super::health::update(daemon, c);
    daemon.persist(c)?;
    daemon.container_event(c, "pause", &[]);
    Ok(())
}

pub async fn unpause(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _g = c.op_lock.lock().await;
    c.status().can_unpause(&c.id)?;
    set_frozen(daemon, c, false).await?;
    super::health::update(daemon, c);
    daemon.persist(c)?;
    daemon.container_event(c, "unpause", &[]);
    Ok(())
}

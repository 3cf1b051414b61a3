//! `POST /containers/{id}/pause` and `/unpause`: through the container's runtime.

use super::Container;
use crate::daemon::Daemon;
use crate::error::Result;
use berth_api::ApiError;
use std::sync::Arc;

pub async fn set_frozen(daemon: &Arc<Daemon>, c: &Arc<Container>, frozen: bool) -> Result<()> {
    let rec = c.snapshot();
    let runtime = daemon.runtimes.get(&rec.host_config.runtime)?;
    let bundle = daemon.container_paths(&rec.id).bundle;
    runtime
        .set_frozen(&rec.id, &daemon.cgroup_path(&rec), &bundle, frozen)
        .await?;
    c.rec().state.paused = frozen;
    c.rec().state.status = if frozen {
        "paused".into()
    } else {
        "running".into()
    };
    Ok(())
}

pub async fn pause(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _g = c.op_lock.lock().await;
    let (running, paused, id) = {
        let r = c.rec();
        (r.state.running, r.state.paused, r.id.clone())
    };
    if !running {
        return Err(ApiError::conflict(format!("container {id} is not running")).into());
    }
    if paused {
        return Err(ApiError::conflict(format!("Container {id} is already paused")).into());
    }
    set_frozen(daemon, c, true).await?;
    super::health::update(daemon, c);
    daemon.persist(c)?;
    daemon.container_event(c, "pause", &[]);
    Ok(())
}

pub async fn unpause(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _g = c.op_lock.lock().await;
    let (paused, id) = {
        let r = c.rec();
        (r.state.paused, r.id.clone())
    };
    if !paused {
        return Err(ApiError::conflict(format!("Container {id} is not paused")).into());
    }
    set_frozen(daemon, c, false).await?;
    super::health::update(daemon, c);
    daemon.persist(c)?;
    daemon.container_event(c, "unpause", &[]);
    Ok(())
}

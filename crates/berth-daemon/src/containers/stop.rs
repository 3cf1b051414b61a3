//! `POST /containers/{id}/stop` and `/restart`.

use super::Container;
use crate::daemon::Daemon;
use crate::error::Result;
use berth_api::ApiError;
use std::sync::Arc;
use std::time::Duration;

/// Waits until the container has exited `target` times in total, or the timeout passes.
async fn wait_exits(c: &Container, target: u64, timeout: Option<Duration>) -> bool {
    let mut rx = c.lifecycle.subscribe();
    let fut = async {
        loop {
            if rx.borrow_and_update().exits >= target {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
        None => {
            fut.await;
            true
        }
    }
}

/// Stops a running container: its stop signal, then SIGKILL after `timeout` seconds
/// (negative waits forever).
pub async fn stop_locked(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    signal: Option<&str>,
    timeout: Option<i64>,
) -> Result<()> {
    let (sig_name, default_timeout) = {
        let r = c.rec();
        (
            r.config
                .stop_signal
                .clone()
                .unwrap_or_else(|| "SIGTERM".into()),
            r.config.stop_timeout.unwrap_or(10),
        )
    };
    let signo = super::kill::parse_signal(signal.unwrap_or(&sig_name))?;
    let timeout = timeout.unwrap_or(default_timeout);
    c.rec().manually_stopped = true;
    let target = c.lifecycle.borrow().exits + 1;
    if c.is_running() {
        let _ = super::kill::signal(daemon, c, signo).await;
        let limit = if timeout < 0 {
            None
        } else {
            Some(Duration::from_secs(timeout as u64))
        };
        if !wait_exits(c, target, limit).await {
            let _ = super::kill::signal(daemon, c, libc::SIGKILL).await;
            wait_exits(c, target, Some(Duration::from_secs(30))).await;
        }
    } else {
        // Cancel a pending restart.
        let _ = c.transition(super::state::Transition::RestartCancelled);
    }
    let _ = daemon.persist(c);
    daemon.container_event(c, "stop", &[]);
    Ok(())
}

pub async fn stop(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    signal: Option<&str>,
    timeout: Option<i64>,
) -> Result<()> {
    let _guard = c.op_lock.lock().await;
    let (running, restarting) = {
        let r = c.rec();
        (r.state.running, r.state.restarting)
    };
    if !running && !restarting {
        return Err(ApiError::not_modified().into());
    }
    stop_locked(daemon, c, signal, timeout).await
}

pub async fn restart(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    signal: Option<&str>,
    timeout: Option<i64>,
) -> Result<()> {
    let _guard = c.op_lock.lock().await;
    if c.is_running() {
        stop_locked(daemon, c, signal, timeout).await?;
    }
    // A user's restart starts the restart policy afresh (moby's ResetRestartManager).
    {
        let mut r = c.rec();
        r.manually_stopped = false;
        r.restart_count = 0;
    }
    super::start::start_locked(daemon, c).await?;
    daemon.container_event(c, "restart", &[]);
    Ok(())
}

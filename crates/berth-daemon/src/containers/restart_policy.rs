//! What happens after a container exits: auto-remove, or a restart per its policy.

use super::state::Transition;
use super::Container;
use crate::daemon::Daemon;
use std::sync::Arc;

/// Whether the policy asks for a restart after this exit.
pub fn should_restart(
    name: &str,
    max_retries: i64,
    exit_code: i64,
    restart_count: i64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match name {
        "always" | "unless-stopped" => true,
        "on-failure" => exit_code != 0 && (max_retries <= 0 || restart_count < max_retries),
        _ => false,
    }
}

/// Validates a restart policy the way dockerd does at create time.
pub fn validate(
    policy: &berth_api::container::RestartPolicy,
    auto_remove: bool,
) -> Result<(), berth_api::ApiError> {
    match policy.name.as_str() {
        "" | "no" => {
            if policy.maximum_retry_count != 0 {
                return Err(berth_api::ApiError::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
        }
        "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                return Err(berth_api::ApiError::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
            if auto_remove {
                return Err(berth_api::ApiError::invalid(
                    "conflicting options: cannot specify both --restart and --rm",
                ));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(berth_api::ApiError::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
            if auto_remove {
                return Err(berth_api::ApiError::invalid(
                    "conflicting options: cannot specify both --restart and --rm",
                ));
            }
        }
        other => {
            return Err(berth_api::ApiError::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )))
        }
    }
    Ok(())
}

/// Runs after every exit (in its own task).
pub async fn after_exit(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    let rec = c.snapshot();
    if rec.host_config.auto_remove {
        if let Err(e) = super::remove::remove(daemon, c, true, true).await {
            tracing::warn!("auto-remove {}: {e}", c.id);
        }
        return;
    }
    let policy = &rec.host_config.restart_policy;
    if !should_restart(
        &policy.name,
        policy.maximum_retry_count,
        rec.state.exit_code,
        rec.restart_count,
        rec.manually_stopped,
    ) {
        return;
    }
    // Docker's back-off: 100 ms doubling, reset when a run lasted 10 s or more.
    let ran_for = chrono::DateTime::parse_from_rfc3339(&rec.state.finished_at)
        .ok()
        .zip(chrono::DateTime::parse_from_rfc3339(&rec.state.started_at).ok())
        .map(|(f, s)| (f - s).num_milliseconds())
        .unwrap_or(0);
    let delay_ms = if ran_for >= 10_000 {
        100
    } else {
        100u64 << rec.restart_count.clamp(0, 10)
    };
    if c.transition(Transition::RestartPending).is_err() {
        return;
    }
    tokio::time::sleep(std::time::Duration::from_millis(delay_ms.min(60_000))).await;
    let _guard = c.op_lock.lock().await;
    // A stop or removal during the delay cancels the restart.
    let still_wanted = {
        let r = c.rec();
        r.state.restarting && !r.manually_stopped
    };
    if !still_wanted || daemon.containers.find(&c.id).is_err() {
        let _ = c.transition(Transition::RestartCancelled);
        return;
    }
    c.rec().restart_count += 1;
    if let Err(e) = super::start::start_locked(daemon, c).await {
        tracing::warn!("restart {}: {e}", c.id);
        let _ = c.transition(Transition::RestartCancelled);
        c.rec().state.error = e.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(should_restart("always", 0, 0, 5, false));
        assert!(!should_restart("always", 0, 0, 5, true));
        assert!(should_restart("on-failure", 2, 1, 1, false));
        assert!(!should_restart("on-failure", 2, 1, 2, false));
        assert!(!should_restart("on-failure", 0, 0, 0, false));
        assert!(!should_restart("no", 0, 1, 0, false));
        assert!(should_restart("unless-stopped", 0, 0, 0, false));
    }
}

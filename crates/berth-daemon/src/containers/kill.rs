//! `POST /containers/{id}/kill`: deliver a signal through the monitor.

use super::Container;
use crate::daemon::Daemon;
use crate::error::Result;
use berth_api::ApiError;
use berth_runtime::protocol::FrameKind;
use std::sync::Arc;

/// Parses `SIGKILL`, `KILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Result<i32, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(libc::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(ApiError::invalid(format!("Invalid signal: {s}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN+") {
        if let Ok(n) = rest.parse::<i32>() {
            return Ok(libc::SIGRTMIN() + n);
        }
    }
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| ApiError::invalid(format!("Invalid signal: {s}")))
}

/// Sends a signal to the container's init; errors if it is not running.
pub async fn signal(daemon: &Arc<Daemon>, c: &Arc<Container>, signo: i32) -> Result<()> {
    let (running, paused) = {
        let r = c.rec();
        (r.state.running, r.state.paused)
    };
    if !running {
        let r = c.rec();
        return Err(ApiError::conflict(format!(
            "cannot kill container: {}: container {} is not running",
            r.name, r.id
        ))
        .into());
    }
    if paused && signo == libc::SIGKILL {
        // A frozen task dies only once thawed.
        super::pause::set_frozen(daemon, c, false).await.ok();
    }
    let mut guard = c.monitor.lock().await;
    match guard.as_mut() {
        Some(w) => {
            w.send(FrameKind::Signal, &(signo as u32).to_be_bytes())
                .await
                .map_err(|e| crate::DaemonError::io(format!("signal container {}", c.id), e))?;
        }
        None => {
            // No link (daemon restarted and monitor unreachable): fall back to the pid.
            let pid = c.rec().state.pid;
            if pid > 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::try_from(signo).ok(),
                );
            }
        }
    }
    drop(guard);
    daemon.container_event(c, "kill", &[("signal", signo.to_string())]);
    Ok(())
}

/// The API handler body: `docker kill` marks the container as stopped by the user.
pub async fn kill(daemon: &Arc<Daemon>, c: &Arc<Container>, signal_name: &str) -> Result<()> {
    let signo = parse_signal(signal_name).map_err(|e| {
        ApiError::invalid(format!(
            "cannot kill container: {}: {}",
            c.rec().name,
            e.message
        ))
    })?;
    if signo == libc::SIGKILL || signo == libc::SIGTERM {
        c.rec().manually_stopped = true;
    }
    signal(daemon, c, signo).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("HUP").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}

//! How long each step of a request took, at debug level, so a reader can see where the
//! time of `docker run` goes: `berth daemon --debug`, or
//! `RUST_LOG=berth_daemon::phase=debug` for these lines alone. Each line names the phase,
//! the container (short ID) and the microseconds it took.

use std::time::Instant;

/// Logs its phase's duration when dropped (at the end of the scope it times).
#[must_use = "a phase is timed until it is dropped"]
pub struct Phase {
    name: &'static str,
    container: String,
    start: Instant,
}

/// Starts timing `name` for container `id`.
pub fn phase(name: &'static str, id: &str) -> Phase {
    Phase {
        name,
        container: id.chars().take(12).collect(),
        start: Instant::now(),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        tracing::debug!(
            target: "berth_daemon::phase",
            phase = self.name,
            container = %self.container,
            us = self.start.elapsed().as_micros() as u64,
        );
    }
}

//! The runtime's error: why a step of making or entering a container failed. Its text is
//! what users see (through [`StartError`](crate::StartError)), worded as runc words it.

/// Why a step of making or entering a container failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A system call or file operation of a named step failed.
    #[error("{step}: {source}")]
    Step {
        /// What was being done (`bind rootfs /x`, `setns pid`, ...).
        step: String,
        /// The failure underneath.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An I/O failure that names its own path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A system call's errno.
    #[error(transparent)]
    Errno(#[from] nix::errno::Errno),
    /// The spec asks for what cannot be done as given.
    #[error("{0}")]
    Spec(String),
}

impl RuntimeError {
    /// A failed step: `what` then the reason.
    pub(crate) fn step(
        what: impl std::fmt::Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> RuntimeError {
        RuntimeError::Step {
            step: what.to_string(),
            source: source.into(),
        }
    }

    /// A spec the runtime cannot carry out.
    pub(crate) fn spec(msg: impl Into<String>) -> RuntimeError {
        RuntimeError::Spec(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_step_then_the_reason() {
        let e = RuntimeError::step("bind rootfs /r", nix::errno::Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "bind rootfs /r: EPERM: Operation not permitted"
        );
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            RuntimeError::from(io).to_string(),
            "No such file or directory (os error 2)"
        );
        assert_eq!(RuntimeError::spec("no process").to_string(), "no process");
        let e = RuntimeError::step("write /proc/1/uid_map", std::io::Error::other("boom"));
        assert!(std::error::Error::source(&e).is_some());
    }
}

//! The daemon's error type and its mapping onto Engine API errors.

use berth_api::{ApiError, ErrorKind};

pub type Result<T, E = DaemonError> = std::result::Result<T, E>;

/// Anything a handler can fail with. API errors carry their status; the rest are 500s.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Image(#[from] berth_image::Error),
    #[error("database: {0}")]
    Store(String),
    #[error("{0}")]
    Other(String),
}

impl DaemonError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DaemonError::Io {
            context: context.into(),
            source,
        }
    }

    /// The API form of this error: status class plus message.
    pub fn to_api(&self) -> ApiError {
        match self {
            DaemonError::Api(e) => e.clone(),
            DaemonError::Image(e) => image_error_to_api(e),
            other => ApiError::new(ErrorKind::System, other.to_string()),
        }
    }
}

/// Shorthand for an I/O error with context.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| DaemonError::io(context(), e))
    }
}

/// Hostile or malformed input is the client's fault (400); missing content and I/O are ours.
fn image_error_to_api(e: &berth_image::Error) -> ApiError {
    use berth_image::Error as E;
    let kind = match e {
        E::InvalidReference(_)
        | E::InvalidDigest { .. }
        | E::DigestMismatch { .. }
        | E::UnsafeEntry { .. }
        | E::Entry { .. }
        | E::InvalidArchive(_)
        | E::Json { .. }
        | E::InvalidChange(_)
        | E::NotAChangeCommand(_)
        | E::Stream { .. } => ErrorKind::InvalidParameter,
        _ => ErrorKind::System,
    };
    ApiError::new(kind, e.to_string())
}

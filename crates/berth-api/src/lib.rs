//! Docker Engine API types (moby `api/swagger.yaml` at v28.2.2, API 1.50).
//!
//! This crate is the contract between every berth client and the daemon. It
//! knows no server and no kernel: serde types, the error-to-status mapping,
//! the stream framing and the version constants. Field names follow the
//! swagger exactly (PascalCase) because real clients decode them by name.

pub mod container;
pub mod de;
pub mod duration;
pub mod error;
pub mod event;
pub mod exec;
pub mod filters;
pub mod image;
pub mod network;
pub mod progress;
pub mod stream;
pub mod system;
pub mod units;
pub mod version;
pub mod volume;

pub use error::{ApiError, ErrorKind, ErrorResponse};
pub use version::{API_VERSION, MIN_API_VERSION};

//! berth-image: everything about images that is not a name in the daemon's
//! database — references and digests, the image config model, the content
//! store (verified blobs, layers unpacked once and shared), secure layer
//! unpack with overlay whiteouts, rootfs import, docker-archive / OCI-layout
//! load and save, overlay snapshots, and the busybox bootstrap image.
//!
//! The crate is `unsafe`-free: every syscall goes through `rustix` or `nix`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod bootstrap;
pub mod changes;
pub mod compression;
pub mod config;
pub mod copy;
pub mod digest;
pub mod error;
pub mod idmap;
pub mod import;
pub mod reference;
pub mod snapshot;
pub mod store;
pub mod tarsplit;
pub mod unpack;

pub use archive::{load, save, LoadedImage};
pub use import::{import_rootfs, ImportOptions};

pub use config::{ContainerConfig, Healthcheck, History, ImageConfig, RootFs};
pub use digest::Digest;
pub use error::{Error, Result};

pub use reference::Reference;
pub use store::{ImageStore, LayerInfo};

//! The OCI distribution protocol (and Docker's registry v2 dialect of it), client side.
//!
//! [`pull::pull`] brings an image from any registry into a [`berth_image::ImageStore`]:
//! the manifest (Docker schema 2, OCI manifest, Docker manifest list or OCI index, with the
//! host's platform chosen from lists), the config, and the layers, each verified against its
//! digest while it streams and unpacked as soon as its parent is. It reports what it does as
//! [`pull::PullEvent`]s, which the daemon turns into moby's progress messages; errors carry
//! moby's texts ([`Error`]), so clients see what Docker users see.
//!
//! [`client::Registry`] speaks HTTP(S) to one registry for one repository: the `/v2/` ping,
//! anonymous and authenticated Bearer tokens (cached per scope until they expire), Basic
//! auth, and plain HTTP for loopback and `insecure-registries` hosts after HTTPS fails, as
//! dockerd does; Docker Hub pulls try `registry-mirrors` first; TLS trusts the system's roots
//! plus each host's `certs.d` CAs and presents its client certificate.
//!
//! [`search::search`] asks an index's v1 search API (`docker search`).

pub mod auth;
pub mod client;
pub mod error;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod search;

/// A transfer slot of a pull or push: taken at once when one is free, else after `waiting`
/// has run (moby reports `Waiting` then).
pub(crate) async fn take_slot<F: std::future::Future<Output = ()>>(
    slots: &std::sync::Arc<tokio::sync::Semaphore>,
    waiting: impl FnOnce() -> F,
) -> Result<tokio::sync::OwnedSemaphorePermit> {
    match slots.clone().try_acquire_owned() {
        Ok(p) => Ok(p),
        Err(_) => {
            waiting().await;
            slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| Error::Transport(e.to_string()))
        }
    }
}

pub use auth::Credentials;
pub use client::{Opened, Registry, RegistryConfig, Upload};
pub use error::{Error, Result};
pub use pull::{
    inspect_distribution, list_tags, pull, DistributionInfo, LayerStatus, PullEvent, PullRequest,
    Pulled,
};
pub use push::{push, PushEvent, PushRequest, PushStatus, Pushed};
pub use search::{search, SearchResult};

//! `GET /containers/{id}/changes` (`docker diff`): the container's upper dir against its
//! image's layers (`berth_image::changes`).

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use serde_json::{json, Value};
use std::sync::Arc;

/// Mount points the engine itself creates in every container's upper dir; Docker keeps
/// them in the container's init layer (moby's `initlayer.Setup`), so neither `diff` nor
/// `commit` shows them. /dev, /proc and /sys only ever hold mount points in the upper dir:
/// the container's writes there land in the filesystems mounted over them.
pub const ENGINE_FILES: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/.dockerenv",
    "/dev",
    "/proc",
    "/sys",
];

pub async fn changes(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<Value> {
    let rec = c.snapshot();
    let upper = daemon.container_paths(&rec.id).upper();
    let lowers = daemon.images.lower_dirs(&rec.image_id)?;
    let list = tokio::task::spawn_blocking(move || {
        berth_image::changes::changes(&upper, &lowers, ENGINE_FILES)
    })
    .await
    .map_err(|e| DaemonError::Other(e.to_string()))?
    .map_err(|e| DaemonError::Other(format!("changes of {}: {e}", rec.id)))?;
    Ok(Value::Array(
        list.into_iter()
            .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
            .collect(),
    ))
}

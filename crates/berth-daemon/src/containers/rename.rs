//! `POST /containers/{id}/rename`.

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::store::{Op, Refusal, Table};
use berth_api::ApiError;
use std::sync::Arc;

pub async fn rename(daemon: &Arc<Daemon>, c: &Arc<Container>, new_name: &str) -> Result<()> {
    let new_name = new_name.trim_start_matches('/');
    if new_name.is_empty() {
        return Err(ApiError::invalid("Neither old nor new names may be empty").into());
    }
    if !crate::ids::valid_name(new_name) {
        return Err(ApiError::invalid(format!(
            "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
        .into());
    }
    let _g = c.op_lock.lock().await;
    let old = c.name();
    if old == new_name {
        return Err(ApiError::conflict(
            "Renaming a container with the same name as its current name",
        )
        .into());
    }
    let mut rec = c.snapshot();
    rec.name = new_name.to_string();
    let value = serde_json::to_vec(&rec).map_err(|e| DaemonError::Other(e.to_string()))?;
    let ops = vec![
        Op::Insert {
            table: Table::Names,
            key: new_name.to_string(),
            value: rec.id.as_bytes().to_vec(),
        },
        Op::Delete {
            table: Table::Names,
            key: old.clone(),
        },
        Op::Put {
            table: Table::Containers,
            key: rec.id.clone(),
            value,
        },
    ];
    match daemon.store.apply(ops)? {
        Ok(()) => {}
        Err(Refusal::Conflict(_, _)) => {
            let other = daemon
                .store
                .get(Table::Names, new_name)?
                .map(|v| String::from_utf8_lossy(&v).to_string())
                .unwrap_or_default();
            return Err(ApiError::conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            ))
            .into());
        }
    }
    c.rec().name = new_name.to_string();
    daemon.container_event(c, "rename", &[("oldName", format!("/{old}"))]);
    Ok(())
}

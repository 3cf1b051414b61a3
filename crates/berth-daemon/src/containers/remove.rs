//! `DELETE /containers/{id}`.

use super::{Container, Lifecycle};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::store::{Op, Table};
use berth_api::ApiError;
use std::sync::Arc;

/// Removes a container; `force` kills it first when running. `internal` is the
/// auto-remove path (no 409 for a container already being removed).
pub async fn remove(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    force: bool,
    internal: bool,
) -> Result<()> {
    let _guard = c.op_lock.lock().await;
    if daemon.containers.find(&c.id).is_err() {
        return if internal {
            Ok(())
        } else {
            Err(ApiError::no_such_container(&c.id).into())
        };
    }
    // An internal removal (auto-remove) may follow one already marked.
    match c.status() {
        super::state::Status::Removing if internal => {}
        status => status.can_remove(&c.id, &c.name(), force)?,
    }
    if c.is_running() {
        c.rec().manually_stopped = true;
        let target = c.lifecycle.borrow().exits + 1;
        super::kill::signal(daemon, c, libc::SIGKILL).await.ok();
        let mut rx = c.lifecycle.subscribe();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while rx.borrow_and_update().exits < target {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }
    let _ = c.transition(super::state::Transition::Removing);
    let (id, name) = {
        let r = c.rec();
        (r.id.clone(), r.name.clone())
    };
    daemon
        .store
        .apply(vec![
            Op::Delete {
                table: Table::Containers,
                key: id.clone(),
            },
            Op::Delete {
                table: Table::Names,
                key: name,
            },
        ])?
        .map_err(|r| crate::DaemonError::Other(format!("remove: {r:?}")))?;
    daemon.containers.remove(&id);
    // Its exec instances go with it, whichever way it went (rm, --rm, prune).
    super::exec::forget_container(daemon, &id);
    daemon.container_event(c, "destroy", &[]);
    if internal {
        // Auto-remove (`--rm`) takes the container's anonymous volumes with it, as dockerd.
        crate::volumes::remove_anonymous(daemon, &c.snapshot().mounts);
    }
    c.lifecycle
        .send_modify(|l: &mut Lifecycle| l.removed = true);
    // Files go after the answer: nothing refers to them any more, and a crash before
    // they are gone is swept at the next start.
    let paths = daemon.container_paths(&id);
    let cgroup = daemon.cgroup_path(&c.snapshot());
    tokio::task::spawn_blocking(move || {
        let _ = berth_image::snapshot::unmount(&paths.rootfs());
        let _ = std::fs::remove_dir_all(&paths.dir);
        let _ = std::fs::remove_dir_all(&paths.bundle);
        let _ = berth_runtime::cgroups::remove(&cgroup);
        berth_runtime::sys::trim_heap();
    });
    Ok(())
}

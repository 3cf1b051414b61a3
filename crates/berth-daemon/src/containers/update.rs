//! `POST /containers/{id}/update`: resources and restart policy, live.

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::container::{UpdateRequest, UpdateResponse};
use berth_api::ApiError;
use std::sync::Arc;

pub async fn update(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    req: UpdateRequest,
) -> Result<UpdateResponse> {
    let _g = c.op_lock.lock().await;
    let mut rec = c.snapshot();
    let r = &req.resources;
    let cur = &mut rec.host_config.resources;
    if r.memory != 0 {
        if r.memory < 6 * 1024 * 1024 {
            return Err(ApiError::invalid("Minimum memory limit allowed is 6MB").into());
        }
        cur.memory = r.memory;
    }
    if r.memory_swap != 0 {
        cur.memory_swap = r.memory_swap;
    }
    if r.memory_reservation != 0 {
        cur.memory_reservation = r.memory_reservation;
    }
    if r.nano_cpus != 0 {
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1);
        if r.nano_cpus < 0 || r.nano_cpus > ncpu * 1_000_000_000 {
            return Err(ApiError::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            ))
            .into());
        }
        cur.nano_cpus = r.nano_cpus;
    }
    if r.cpu_shares != 0 {
        cur.cpu_shares = r.cpu_shares;
    }
    if r.cpu_period != 0 {
        cur.cpu_period = r.cpu_period;
    }
    if r.cpu_quota != 0 {
        cur.cpu_quota = r.cpu_quota;
    }
    if !r.cpuset_cpus.is_empty() {
        cur.cpuset_cpus = r.cpuset_cpus.clone();
    }
    if !r.cpuset_mems.is_empty() {
        cur.cpuset_mems = r.cpuset_mems.clone();
    }
    if r.pids_limit.is_some() {
        cur.pids_limit = r.pids_limit;
    }
    if r.blkio_weight != 0 {
        cur.blkio_weight = r.blkio_weight;
    }
    if cur.memory > 0 && cur.memory_swap > 0 && cur.memory_swap < cur.memory {
        return Err(ApiError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        )
        .into());
    }
    if let Some(p) = &req.restart_policy {
        if !p.name.is_empty() {
            super::restart_policy::validate(p, rec.host_config.auto_remove)?;
            rec.host_config.restart_policy = p.clone();
        }
    }
    if rec.state.running {
        let path = daemon.cgroup_path(&rec);
        let mut resources = super::spec::resources(&rec.host_config.resources)?;
        // Device rules do not change on update; rewriting the defaults would drop the
        // container's own allows (--device, --device-cgroup-rule, --privileged).
        resources.set_devices(None);
        tokio::task::spawn_blocking(move || berth_runtime::cgroups::update(&path, &resources))
            .await
            .map_err(|e| DaemonError::Other(e.to_string()))?
            .map_err(|e| ApiError::system(format!("Cannot update container {}: {e}", rec.id)))?;
    }
    *c.rec() = rec;
    daemon.persist(c)?;
    daemon.container_event(c, "update", &[]);
    Ok(UpdateResponse { warnings: vec![] })
}

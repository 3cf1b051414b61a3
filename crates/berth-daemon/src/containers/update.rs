//! `POST /containers/{id}/update`: resources and restart policy, live.

use super::Container;
use crate::daemon::Daemon;
use crate::error::Result;
use berth_api::container::{Resources, UpdateRequest, UpdateResponse};
use berth_api::ApiError;
use std::sync::Arc;

pub async fn update(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    req: UpdateRequest,
) -> Result<UpdateResponse> {
    let _g = c.op_lock.lock().await;
    let old = c.snapshot();
    let mut rec = old.clone();
    merge(&mut rec.host_config.resources, &req.resources)?;
    if let Some(p) = &req.restart_policy {
        if !p.name.is_empty() {
            if rec.host_config.auto_remove && p.name != "no" {
                return Err(ApiError::conflict(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                )
                .into());
            }
            super::restart_policy::validate(p, rec.host_config.auto_remove)?;
            rec.host_config.restart_policy = p.clone();
        }
    }
    if rec.state.running && rec.host_config.resources != old.host_config.resources {
        let path = daemon.cgroup_path(&rec);
        // Device rules do not change on update; rewriting the defaults would drop the
        // container's own allows (--device, --device-cgroup-rule, --privileged).
        let mut resources = super::spec::resources(&rec.host_config.resources)?;
        resources.set_devices(None);
        let mut previous = super::spec::resources(&old.host_config.resources)?;
        previous.set_devices(None);
        let runtime = daemon.runtimes.get(&rec.host_config.runtime)?;
        let bundle = daemon.container_paths(&rec.id).bundle;
        runtime
            .update(&rec.id, &path, &bundle, resources, previous)
            .await
            .map_err(|e| ApiError::system(format!("Cannot update container {}: {e}", rec.id)))?;
    }
    *c.rec() = rec;
    daemon.persist(c)?;
    daemon.container_event(c, "update", &[]);
    Ok(UpdateResponse { warnings: vec![] })
}

fn conflict(msg: &str) -> ApiError {
    ApiError::invalid(msg.to_string())
}

/// Merges the limits of an update request into the container's, with Docker's checks
/// (`container.UpdateContainer` and `verifyContainerResources`); zero means "unchanged".
fn merge(cur: &mut Resources, r: &Resources) -> std::result::Result<(), ApiError> {
    // NanoCPUs sets quota and period itself; once one style is set the other is refused.
    if r.nano_cpus > 0 && cur.cpu_period > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if r.nano_cpus > 0 && cur.cpu_quota > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if r.cpu_period > 0 && cur.nano_cpus > 0 {
        return Err(conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if r.cpu_quota > 0 && cur.nano_cpus > 0 {
        return Err(conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if r.memory != 0 {
        if r.memory < 6 * 1024 * 1024 {
            return Err(ApiError::invalid("Minimum memory limit allowed is 6MB"));
        }
        if cur.memory_swap > 0 && r.memory > cur.memory_swap && r.memory_swap == 0 {
            return Err(conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        if cur.memory_swap == 0 && r.memory_swap == 0 {
            // As at create: swap defaults to twice the memory.
            cur.memory_swap = r.memory * 2;
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
                "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
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
    if let Some(l) = r.pids_limit {
        // moby: zero or negative means "unlimited", stored as 0 on update.
        cur.pids_limit = Some(l.max(0));
    }
    if r.blkio_weight != 0 {
        cur.blkio_weight = r.blkio_weight;
    }
    if cur.memory > 0 && cur.memory_swap > 0 && cur.memory_swap < cur.memory {
        return Err(ApiError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if cur.memory > 0 && cur.memory_reservation > cur.memory {
        return Err(ApiError::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    super::create::validate_limits(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cur: &mut Resources, r: Resources) -> String {
        merge(cur, &r).unwrap_err().to_string()
    }

    #[test]
    fn merge_applies_and_checks_like_docker() {
        let mut cur = Resources::default();
        merge(
            &mut cur,
            &Resources {
                memory: 16 << 20,
                cpu_shares: 256,
                pids_limit: Some(50),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((cur.memory, cur.memory_swap), (16 << 20, 32 << 20));
        assert_eq!((cur.cpu_shares, cur.pids_limit), (256, Some(50)));
        assert!(err(
            &mut cur.clone(),
            Resources {
                memory: 64 << 20,
                ..Default::default()
            }
        )
        .contains("Memory limit should be smaller than already set memoryswap limit"));
        merge(
            &mut cur,
            &Resources {
                memory: 64 << 20,
                memory_swap: -1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((cur.memory, cur.memory_swap), (64 << 20, -1));

        let mut nano = Resources {
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        assert!(err(
            &mut nano,
            Resources {
                cpu_quota: 20_000,
                ..Default::default()
            }
        )
        .contains("CPU Quota cannot be updated as NanoCPUs has already been set"));
        let mut quota = Resources {
            cpu_period: 50_000,
            ..Default::default()
        };
        assert!(err(
            &mut quota,
            Resources {
                nano_cpus: 500_000_000,
                ..Default::default()
            }
        )
        .contains("Nano CPUs cannot be updated as CPU Period has already been set"));
        assert!(err(
            &mut Resources::default(),
            Resources {
                blkio_weight: 5,
                ..Default::default()
            }
        )
        .contains("Range of blkio weight is from 10 to 1000"));
        assert!(err(
            &mut Resources::default(),
            Resources {
                cpu_period: 500,
                ..Default::default()
            }
        )
        .contains("CPU cfs period can not be less than 1ms"));
    }
}

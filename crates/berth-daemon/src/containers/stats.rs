//! `GET /containers/{id}/stats`: cgroup counters in Docker's stats JSON.

use super::Container;
use crate::daemon::Daemon;
use crate::server::http::{self, HandlerResult, Req};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;

fn sample(daemon: &Daemon, c: &Container) -> Value {
    let rec = c.snapshot();
    let now = super::now_rfc3339();
    if !rec.state.running {
        return json!({
            "read": super::ZERO_TIME, "preread": super::ZERO_TIME, "name": format!("/{}", rec.name), "id": rec.id,
            "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": null}, "num_procs": 0,
            "storage_stats": {}, "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods":0,"throttled_periods":0,"throttled_time":0}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods":0,"throttled_periods":0,"throttled_time":0}},
            "memory_stats": {}
        });
    }
    let path = daemon.cgroup_path(&rec);
    let s = berth_runtime::cgroups::stats(&path).unwrap_or_default();
    // An unlimited cgroup reports a huge number; docker shows the host's memory instead.
    let host_mem = crate::system::mem_total();
    let mem_limit = if s.memory_limit == 0 || s.memory_limit > host_mem {
        host_mem
    } else {
        s.memory_limit
    };
    let percpu: Value = if s.cpu_percpu_ns.is_empty() {
        Value::Null
    } else {
        json!(s.cpu_percpu_ns)
    };
    json!({
        "read": now,
        "preread": super::ZERO_TIME,
        "name": format!("/{}", rec.name),
        "id": rec.id,
        "num_procs": 0,
        "pids_stats": {"current": s.pids_current, "limit": s.pids_limit.unwrap_or(u64::MAX)},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.blkio_read_bytes},
            {"major": 0, "minor": 0, "op": "write", "value": s.blkio_write_bytes}
        ]},
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": s.cpu_total_ns, "percpu_usage": percpu, "usage_in_kernelmode": s.cpu_kernel_ns, "usage_in_usermode": s.cpu_user_ns},
            "system_cpu_usage": s.system_cpu_ns,
            "online_cpus": s.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {
            "usage": s.memory_usage,
            "limit": mem_limit,
            "stats": s.memory_stat
        },
        "networks": if rec.host_config.network_mode == "host" {
            Value::Null
        } else {
            json!(berth_net::counters::of_pid(rec.state.pid as i32))
        }
    })
}

pub async fn stats(daemon: &Arc<Daemon>, c: &Arc<Container>, req: &Req) -> HandlerResult {
    let stream = req.q("stream").map(|_| req.qbool("stream")).unwrap_or(true);
    let one_shot = req.qbool("one-shot");
    if stream && one_shot {
        return Err(
            berth_api::ApiError::invalid("cannot have stream=true and one-shot=true").into(),
        );
    }
    let (d, c1) = (daemon.clone(), c.clone());
    let mut first = tokio::task::spawn_blocking(move || sample(&d, &c1))
        .await
        .unwrap_or(Value::Null);
    if !stream {
        if !one_shot && c.is_running() {
            // A CPU percentage needs two samples; docker waits a second between them.
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            let (d, c1) = (daemon.clone(), c.clone());
            let mut second = tokio::task::spawn_blocking(move || sample(&d, &c1))
                .await
                .unwrap_or(Value::Null);
            second["precpu_stats"] = first["cpu_stats"].clone();
            second["preread"] = first["read"].clone();
            first = second;
        }
        return Ok(http::json(hyper::StatusCode::OK, &first));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let daemon = daemon.clone();
    let c = c.clone();
    tokio::spawn(async move {
        let mut prev = first;
        let mut line = serde_json::to_vec(&prev).unwrap_or_default();
        line.push(b'\n');
        if tx.send(Bytes::from(line)).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if daemon.containers.find(&c.id).is_err() {
                return;
            }
            let (d, c1) = (daemon.clone(), c.clone());
            let mut next = tokio::task::spawn_blocking(move || sample(&d, &c1))
                .await
                .unwrap_or(Value::Null);
            next["precpu_stats"] = prev["cpu_stats"].clone();
            next["preread"] = prev["read"].clone();
            let mut line = serde_json::to_vec(&next).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
            prev = next;
        }
    });
    Ok(http::streaming("application/json", rx))
}

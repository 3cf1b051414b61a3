//! `GET /containers/{id}/json`.

use super::Container;
use crate::daemon::Daemon;
use berth_api::container::ContainerInspect;
use serde_json::json;
use std::sync::Arc;

/// `NetworkSettings` as dockerd shows it: one entry per network (addresses only while
/// running), the deprecated top-level fields from the default bridge's endpoint, and
/// `Ports` while running.
pub fn network_settings(rec: &super::ContainerRecord) -> serde_json::Value {
    let mode = rec.host_config.network_mode.as_str();
    let mut networks = serde_json::Map::new();
    for (name, ep) in &rec.networks {
        networks.insert(
            name.clone(),
            serde_json::to_value(ep).unwrap_or(serde_json::Value::Null),
        );
    }
    if networks.is_empty() && !mode.starts_with("container:") {
        let ep = berth_api::network::EndpointSettings::default();
        networks.insert(
            mode.to_string(),
            serde_json::to_value(ep).unwrap_or(serde_json::Value::Null),
        );
    }
    let bridge = rec.networks.get("bridge").cloned().unwrap_or_default();
    let running = rec.state.running;
    json!({
        "Bridge": "",
        "SandboxID": if running { rec.id.clone() } else { String::new() },
        "SandboxKey": if running && !mode.starts_with("container:") && mode != "host" {
            format!("/proc/{}/ns/net", rec.state.pid)
        } else {
            String::new()
        },
        // moby: `{}` until the first start, the map while running, `null` once stopped.
        "Ports": if running {
            serde_json::to_value(&rec.ports).unwrap_or(json!({}))
        } else if rec.has_been_started {
            serde_json::Value::Null
        } else {
            json!({})
        },
        "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.endpoint_id, "Gateway": bridge.gateway, "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": bridge.ip_address,
        "IPPrefixLen": bridge.ip_prefix_len, "IPv6Gateway": "", "MacAddress": bridge.mac_address,
        "Networks": networks
    })
}

pub fn inspect(daemon: &Arc<Daemon>, c: &Arc<Container>) -> ContainerInspect {
    let rec = c.snapshot();
    let paths = daemon.container_paths(&rec.id);
    let execs: Vec<String> = daemon
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .filter(|e| e.container_id == rec.id)
        .map(|e| e.id.clone())
        .collect();
    let mut state = rec.state.clone();
    if state.status.is_empty() {
        state.status = "created".into();
    }
    ContainerInspect {
        id: rec.id.clone(),
        created: rec.created.clone(),
        path: rec.path.clone(),
        args: rec.args.clone(),
        state,
        image: rec.image_id.clone(),
        resolv_conf_path: paths.resolv_conf().display().to_string(),
        hostname_path: paths.hostname().display().to_string(),
        hosts_path: paths.hosts().display().to_string(),
        log_path: if rec.host_config.log_config.kind == "none" {
            String::new()
        } else {
            paths.log(&rec.id).display().to_string()
        },
        name: format!("/{}", rec.name),
        restart_count: rec.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: if execs.is_empty() { None } else { Some(execs) },
        host_config: rec.host_config.clone(),
        graph_driver: json!({
            "Name": "overlay2",
            "Data": {
                "ID": rec.id,
                "LowerDir": daemon
                    .images
                    .lower_dirs(&rec.image_id)
                    .map(|l| l.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"))
                    .unwrap_or_default(),
                "MergedDir": paths.rootfs().display().to_string(),
                "UpperDir": paths.upper().display().to_string(),
                "WorkDir": paths.work().display().to_string(),
            }
        }),
        mounts: rec.mounts.clone(),
        config: rec.config.clone(),
        network_settings: network_settings(&rec),
        size_rw: None,
        size_root_fs: None,
    }
}

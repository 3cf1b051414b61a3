//! The `/networks` verbs of the Engine API.

use super::endpoints;
use super::{NetworkRecord, OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQ, OPT_MTU};
use crate::containers::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::filters::{label_matches, Filters};
use berth_api::network::{
    EndpointSettings, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource,
};
use berth_api::{ApiError, ErrorKind};
use berth_net::ipam::{Ipv4Net, NetworkIpam};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Forbidden, msg)
}

/// Running containers with an endpoint on a network (dockerd's "active endpoints").
fn active(daemon: &Daemon, id: &str) -> Vec<Arc<Container>> {
    daemon
        .containers
        .all()
        .into_iter()
        .filter(|c| {
            let r = c.rec();
            r.state.running && r.networks.values().any(|ep| ep.network_id == id)
        })
        .collect()
}

/// `Containers` of network inspect: running containers with their addresses.
fn attached(daemon: &Daemon, n: &NetworkRecord) -> BTreeMap<String, NetworkContainer> {
    let mut out = BTreeMap::new();
    for c in active(daemon, &n.id) {
        let r = c.rec();
        for ep in r.networks.values().filter(|ep| ep.network_id == n.id) {
            out.insert(
                r.id.clone(),
                NetworkContainer {
                    name: r.name.clone(),
                    endpoint_id: ep.endpoint_id.clone(),
                    mac_address: ep.mac_address.clone(),
                    ipv4_address: if ep.ip_address.is_empty() {
                        String::new()
                    } else {
                        format!("{}/{}", ep.ip_address, ep.ip_prefix_len)
                    },
                    ipv6_address: String::new(),
                },
            );
        }
    }
    out
}

/// `GET /networks`.
pub fn list(daemon: &Daemon, f: &Filters) -> Result<Vec<NetworkResource>> {
    f.validate(&["driver", "id", "label", "name", "scope", "type", "dangling"])?;
    for t in f.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::invalid(format!("invalid filter: 'type'='{t}'")).into());
        }
    }
    let dangling_filter = match f.get("dangling") {
        [] => None,
        [d] => match d.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                return Err(ApiError::invalid(
                    "invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")",
                )
                .into())
            }
        },
        _ => {
            return Err(ApiError::invalid(
                "got more than one value for filter key \"dangling\"",
            )
            .into())
        }
    };
    let mut out = Vec::new();
    for n in daemon.networks.all() {
        let any = |key: &str, test: &dyn Fn(&str) -> bool| {
            let v = f.get(key);
            v.is_empty() || v.iter().any(|x| test(x))
        };
        if !any("driver", &|d| d == n.driver)
            || !f.matches("id", &n.id)
            || !f.matches("name", &n.name)
            || !any("scope", &|s| s == "local")
            || !any("type", &|t| (t == "builtin") == n.is_predefined())
        {
            continue;
        }
        if !f.get("label").iter().all(|l| label_matches(l, &n.labels)) {
            continue;
        }
        if let Some(want) = dangling_filter {
            let dangling = !n.is_predefined() && active(daemon, &n.id).is_empty();
            if want != dangling {
                continue;
            }
        }
        out.push(n.resource(BTreeMap::new()));
    }
    Ok(out)
}

/// `GET /networks/{id}`.
pub fn inspect(daemon: &Daemon, key: &str) -> Result<NetworkResource> {
    let n = daemon.networks.find(key)?;
    let containers = attached(daemon, &n);
    Ok(n.resource(containers))
}

fn parse_net(s: &str, what: &str) -> std::result::Result<Ipv4Net, ApiError> {
    s.parse::<Ipv4Net>()
        .map_err(|_| ApiError::invalid(format!("invalid {what}: {s}")))
}

/// `POST /networks/create`.
pub async fn create(
    daemon: &Arc<Daemon>,
    req: NetworkCreateRequest,
) -> Result<NetworkCreateResponse> {
    let name = req.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("invalid name: name is empty").into());
    }
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !name_ok {
        return Err(ApiError::invalid(format!(
            "invalid network name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
        .into());
    }
    let driver = if req.driver.is_empty() {
        "bridge".to_string()
    } else {
        req.driver.clone()
    };
    match driver.as_str() {
        "bridge" => {}
        "host" | "null" => {
            return Err(forbidden(format!(
                "only one instance of \"{driver}\" network is allowed"
            ))
            .into())
        }
        other => {
            return Err(ApiError::not_found(format!(
                "could not find plugin {other} in v1 plugin registry: plugin not found"
            ))
            .into())
        }
    }
    if req.enable_ipv6 == Some(true) {
        return Err(ApiError::invalid("IPv6 networks are not supported by berth yet").into());
    }
    if req.ingress {
        return Err(ApiError::invalid("ingress networks need swarm mode").into());
    }
    if req.config_only {
        return Err(ApiError::invalid("berth does not support config-only networks yet").into());
    }
    if let Some(from) = req
        .config_from
        .as_ref()
        .and_then(|c| c.get("Network"))
        .filter(|n| !n.is_empty())
    {
        // No config-only network can exist here, so none can be a source.
        return Err(ApiError::not_found(format!(
            "configuration network \"{from}\" does not exist"
        ))
        .into());
    }
    // Held until the bridge (and so its route) exists, so that concurrent creates can
    // neither take one name twice nor one free subnet twice: see `lock_host_subnets`.
    let _subnets = tokio::task::spawn_blocking(super::setup::lock_host_subnets)
        .await
        .ok()
        .flatten();
    if daemon.networks.all().iter().any(|n| n.name == name) {
        return Err(ApiError::conflict(format!("network with name {name} already exists")).into());
    }
    let options = req.options.clone().unwrap_or_default();
    let mtu = match options.get(OPT_MTU) {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|m| (68..=65535).contains(m))
            .ok_or_else(|| ApiError::invalid(format!("invalid MTU number: {v}")))?,
        None => daemon.config.network.mtu,
    };
    for key in [OPT_ICC, OPT_MASQ] {
        if let Some(v) = options.get(key) {
            if v.parse::<bool>().is_err() {
                return Err(ApiError::invalid(format!("invalid value for {key}: {v}")).into());
            }
        }
    }
    for key in [super::OPT_GATEWAY_MODE_V4, super::OPT_GATEWAY_MODE_V6] {
        let Some(v) = options.get(key) else { continue };
        let mode = berth_net::firewall::GatewayMode::parse(v).map_err(|why| {
            ApiError::invalid(format!("failed to parse {key} value: {v} ({why})"))
        })?;
        if mode == berth_net::firewall::GatewayMode::Isolated && !req.internal {
            return Err(ApiError::invalid(
                "gateway mode 'isolated' can only be used for an internal network",
            )
            .into());
        }
    }
    let configs: Vec<_> = req
        .ipam
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !c.subnet.contains(':'))
        .collect();
    if configs.len() > 1 {
        return Err(ApiError::invalid("berth supports one IPv4 subnet per network").into());
    }
    let cfg = configs.into_iter().next().unwrap_or_default();
    let id = crate::ids::new_id();
    let bridge = options
        .get(OPT_BRIDGE_NAME)
        .cloned()
        .unwrap_or_else(|| format!("br-{}", &id[..12]));
    if !berth_net::firewall::valid_ifname(&bridge) {
        return Err(ApiError::invalid(format!(
            "invalid bridge name {bridge:?}: at most 15 characters of [a-zA-Z0-9_.-]"
        ))
        .into());
    }
    // A name the host already uses (eth0, another engine's bridge) is never taken over:
    // removing the network would delete that interface.
    let taken_on_host = berth_net::link::Netlink::open()
        .and_then(|nl| nl.link_index(&bridge))
        .map(|i| i.is_some())
        .unwrap_or(false);
    if taken_on_host || daemon.networks.all().iter().any(|n| n.bridge == bridge) {
        return Err(ApiError::conflict(format!(
            "bridge name {bridge} is already in use on this host"
        ))
        .into());
    }
    let taken = daemon.networks.subnets();
    let subnet = if cfg.subnet.is_empty() {
        if !cfg.ip_range.is_empty() || !cfg.gateway.is_empty() {
            return Err(ApiError::invalid("ip-range and gateway need a subnet").into());
        }
        super::setup::choose_free_subnet(&daemon.config.network.address_pools, taken).ok_or_else(
            || ApiError::system("all predefined address pools have been fully subnetted"),
        )?
    } else {
        let s = parse_net(&cfg.subnet, "subnet")?;
        if s.prefix > 30 {
            return Err(ApiError::invalid(format!(
                "invalid subnet {s}: a bridge network needs at least a /30"
            ))
            .into());
        }
        if taken.iter().any(|t| t.overlaps(&s)) {
            return Err(forbidden(
                "invalid pool request: Pool overlaps with other one on this address space",
            )
            .into());
        }
        s
    };
    let gateway: Option<Ipv4Addr> =
        if cfg.gateway.is_empty() {
            None
        } else {
            Some(cfg.gateway.parse().map_err(|_| {
                ApiError::invalid(format!("invalid gateway address: {}", cfg.gateway))
            })?)
        };
    let ip_range = if cfg.ip_range.is_empty() {
        None
    } else {
        Some(parse_net(&cfg.ip_range, "ip-range")?)
    };
    let mut ipam = NetworkIpam::new(subnet, gateway, ip_range)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let aux = cfg.auxiliary_addresses.clone().unwrap_or_default();
    for (k, v) in &aux {
        let ip: Option<Ipv4Addr> = v.parse().ok();
        match ip {
            Some(ip) if subnet.contains(ip) => {
                ipam.allocate(Some(ip))
                    .map_err(|e| ApiError::invalid(format!("auxiliary address {k}={v}: {e}")))?;
            }
            _ => {
                return Err(forbidden(format!(
                    "auxiliary address: ({k}:{v}) must belong to the master pool: {subnet}"
                ))
                .into())
            }
        }
    }
    let mut opts = options.clone();
    opts.retain(|k, _| k != super::OPT_DEFAULT_BRIDGE);
    let rec = NetworkRecord {
        id: id.clone(),
        name: name.clone(),
        created: crate::containers::now_rfc3339(),
        driver,
        bridge,
        internal: req.internal,
        attachable: req.attachable,
        labels: req.labels.clone().unwrap_or_default(),
        options: opts,
        ipam: Some(ipam),
        user_subnet: !cfg.subnet.is_empty(),
        ip_range_given: ip_range.is_some(),
        mtu,
        aux_addresses: aux,
        ipam_options: req.ipam.as_ref().and_then(|i| i.options.clone()),
    };
    daemon.networks.persist(&*daemon.store, &[&rec])?;
    let d = daemon.clone();
    let r2 = rec.clone();
    let made = tokio::task::spawn_blocking(move || -> Result<()> {
        let nl = berth_net::link::Netlink::open()
            .map_err(|e| DaemonError::Other(format!("open netlink: {e}")))?;
        super::setup::ensure_bridge(&nl, &r2)?;
        super::setup::apply_firewall(&d)?;
        super::setup::coexist_with_docker(&d);
        Ok(())
    })
    .await
    .map_err(|e| DaemonError::Other(format!("network task: {e}")))?;
    if let Err(e) = made {
        let _ = remove_kernel(daemon, &rec).await;
        let _ = daemon.networks.delete(&*daemon.store, &rec.id);
        return Err(e);
    }
    daemon.events.publish(
        "network",
        "create",
        &id,
        [
            ("name".to_string(), name),
            ("type".to_string(), "bridge".to_string()),
        ]
        .into(),
    );
    Ok(NetworkCreateResponse {
        id,
        warning: String::new(),
    })
}

async fn remove_kernel(daemon: &Arc<Daemon>, rec: &NetworkRecord) -> Result<()> {
    let bridge = rec.bridge.clone();
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        berth_net::firewall::withdraw_from_docker(std::slice::from_ref(&bridge));
        if let Ok(nl) = berth_net::link::Netlink::open() {
            nl.delete_link(&bridge)
                .map_err(|e| DaemonError::Other(format!("delete bridge {bridge}: {e}")))?;
        }
        super::setup::apply_firewall(&d)
    })
    .await
    .map_err(|e| DaemonError::Other(format!("network task: {e}")))?
}

/// `DELETE /networks/{id}`.
pub async fn remove(daemon: &Arc<Daemon>, key: &str) -> Result<()> {
    let n = daemon.networks.find(key)?;
    if n.is_predefined() {
        return Err(forbidden(format!(
            "{} is a pre-defined network and cannot be removed",
            n.name
        ))
        .into());
    }
    let users = active(daemon, &n.id);
    if !users.is_empty() {
        let list: Vec<String> = users
            .iter()
            .map(|c| format!("name:\"{}\" id:\"{}\"", c.name(), &c.id[..12]))
            .collect();
        return Err(forbidden(format!(
            "error while removing network: network {} has active endpoints ({})",
            n.name,
            list.join(", ")
        ))
        .into());
    }
    daemon.networks.delete(&*daemon.store, &n.id)?;
    remove_kernel(daemon, &n).await?;
    daemon.events.publish(
        "network",
        "destroy",
        &n.id,
        [
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), "bridge".to_string()),
        ]
        .into(),
    );
    Ok(())
}

/// `POST /networks/prune`.
pub async fn prune(daemon: &Arc<Daemon>, f: &Filters) -> Result<NetworkPruneResponse> {
    f.validate(&["label", "label!", "until"])?;
    let until = match f.get("until").first() {
        Some(u) => Some(crate::containers::prune::parse_until(u)?),
        None => None,
    };
    let mut deleted = Vec::new();
    for n in daemon.networks.all() {
        if n.is_predefined() || !active(daemon, &n.id).is_empty() {
            continue;
        }
        if !f.get("label").iter().all(|l| label_matches(l, &n.labels))
            || f.get("label!").iter().any(|l| label_matches(l, &n.labels))
        {
            continue;
        }
        if let Some(u) = until {
            let created = chrono::DateTime::parse_from_rfc3339(&n.created)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            if created >= u {
                continue;
            }
        }
        if remove(daemon, &n.id).await.is_ok() {
            deleted.push(n.name.clone());
        }
    }
    daemon.events.publish(
        "network",
        "prune",
        "",
        BTreeMap::from([("reclaimed".to_string(), "0".to_string())]),
    );
    Ok(NetworkPruneResponse {
        networks_deleted: Some(deleted),
    })
}

/// `POST /networks/{id}/connect`: records the endpoint, and plumbs it at once when the
/// container runs.
pub async fn connect(daemon: &Arc<Daemon>, key: &str, req: NetworkConnectRequest) -> Result<()> {
    let n = daemon.networks.find(key)?;
    let c = daemon.containers.find(&req.container)?;
    let _guard = c.op_lock.lock().await;
    let mode = c.rec().host_config.network_mode.clone();
    if !n.is_bridge() || endpoints::mode_network(&mode).is_none() {
        return Err(forbidden(
            "container cannot be disconnected from host network or connected to host network",
        )
        .into());
    }
    if c.rec().networks.contains_key(&n.name) {
        return Err(forbidden(format!(
            "endpoint with name {} already exists in network {}",
            c.name(),
            n.name
        ))
        .into());
    }
    let mut ep: EndpointSettings = req.endpoint_config.unwrap_or_default();
    endpoints::check_endpoint(&n, &ep)?;
    ep.network_id = n.id.clone();
    c.rec().networks.insert(n.name.clone(), ep);
    if c.is_running() {
        if let Err(e) = endpoints::connect_running(daemon, &c, &n.name).await {
            c.rec().networks.remove(&n.name);
            return Err(e);
        }
    }
    daemon.persist(&c)?;
    daemon.events.publish(
        "network",
        "connect",
        &n.id,
        [
            ("container".to_string(), c.id.clone()),
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), "bridge".to_string()),
        ]
        .into(),
    );
    Ok(())
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    daemon: &Arc<Daemon>,
    key: &str,
    req: NetworkDisconnectRequest,
) -> Result<()> {
    let n = daemon.networks.find(key)?;
    let c = match daemon.containers.find(&req.container) {
        Ok(c) => c,
        Err(e) => return Err(e.into()),
    };
    let _guard = c.op_lock.lock().await;
    if !n.is_bridge() {
        return Err(forbidden(
            "container cannot be disconnected from host network or connected to host network",
        )
        .into());
    }
    if !c.rec().networks.contains_key(&n.name) {
        return Err(forbidden(format!(
            "container {} is not connected to network {}",
            c.id, n.name
        ))
        .into());
    }
    if c.is_running() {
        endpoints::disconnect_running(daemon, &c, &n.name).await?;
    }
    c.rec().networks.remove(&n.name);
    daemon.persist(&c)?;
    daemon.events.publish(
        "network",
        "disconnect",
        &n.id,
        [
            ("container".to_string(), c.id.clone()),
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), "bridge".to_string()),
        ]
        .into(),
    );
    Ok(())
}

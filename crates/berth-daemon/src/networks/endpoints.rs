//! A container's endpoints: chosen at create, given addresses at start (before the
//! container's /etc/hosts is written), plumbed into its namespace once its init exists
//! (between the runtime's create and start), and released when it exits.

use super::{ports, NetworkRecord};
use crate::containers::{Container, ContainerRecord};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::network::{EndpointSettings, NetworkingConfig};
use berth_api::ApiError;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::Arc;

/// The network a `NetworkMode` names, if it names one (not `none`/`host`/`container:`).
pub fn mode_network(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" => Some("bridge"),
        "none" | "host" => None,
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

/// Checks the network settings of a create request and returns the endpoints to record,
/// by network name. Errors are dockerd's.
pub fn plan_create(
    daemon: &Daemon,
    mode: &str,
    networking: Option<&NetworkingConfig>,
) -> std::result::Result<BTreeMap<String, EndpointSettings>, ApiError> {
    let mut asked: BTreeMap<String, EndpointSettings> = BTreeMap::new();
    for (k, v) in networking
        .and_then(|n| n.endpoints_config.as_ref())
        .into_iter()
        .flatten()
    {
        asked.insert(k.clone(), v.clone().unwrap_or_default());
    }
    // The CLI keys the endpoint of `--network` by the mode as given ("default" too); an
    // empty "default" endpoint of a mode that has no network means nothing.
    if mode_network(mode).is_none() {
        if let Some(ep) = asked.get("default") {
            if *ep == EndpointSettings::default() {
                asked.remove("default");
            }
        }
    }
    if let Some(primary) = mode_network(mode) {
        for alias in ["default", mode] {
            if alias != primary {
                if let Some(ep) = asked.remove(alias) {
                    asked.insert(primary.to_string(), ep);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(target) = mode.strip_prefix("container:") {
        daemon.containers.find(target)?;
        if !asked.is_empty() {
            return Err(ApiError::invalid(
                "conflicting options: networking settings and container network mode",
            ));
        }
        return Ok(out);
    }
    let primary = match mode_network(mode) {
        Some(n) => n.to_string(),
        None => {
            let n = daemon.networks.find(mode)?;
            if asked.keys().any(|k| k != mode) {
                let names: Vec<String> = asked.keys().cloned().collect();
                return Err(ApiError::invalid(format!(
                    "Container cannot be connected to network endpoints: {}",
                    names.join(", ")
                )));
            }
            let mut ep = asked.remove(mode).unwrap_or_default();
            ep.network_id = n.id.clone();
            out.insert(n.name.clone(), ep);
            return Ok(out);
        }
    };
    let mut names: Vec<String> = vec![primary.clone()];
    names.extend(asked.keys().filter(|k| **k != primary).cloned());
    for key in names {
        let n = daemon.networks.find(&key)?;
        if !n.is_bridge() {
            let mut names = vec![primary.clone()];
            names.extend(asked.keys().filter(|k| **k != primary).cloned());
            return Err(ApiError::invalid(format!(
                "Container cannot be connected to network endpoints: {}",
                names.join(", ")
            )));
        }
        let mut ep = asked
            .remove(&key)
            .or_else(|| asked.remove(&n.id))
            .unwrap_or_default();
        check_endpoint(&n, &ep)?;
        ep.network_id = n.id.clone();
        out.insert(n.name.clone(), ep);
    }
    Ok(out)
}

/// dockerd's checks of what one endpoint asks for.
/// `--link-local-ip` addresses of an endpoint.
fn link_local_ips(ep: &EndpointSettings) -> Vec<String> {
    ep.ipam_config
        .as_ref()
        .and_then(|c| c.link_local_ips.clone())
        .unwrap_or_default()
}

/// `--link-local-ip`: extra /16 addresses on the container's interface, as libnetwork
/// adds them.
fn add_link_local(
    netns: std::os::fd::BorrowedFd<'_>,
    ifname: &str,
    ep: &EndpointSettings,
) -> Result<()> {
    let addrs: Vec<Ipv4Addr> = link_local_ips(ep)
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    if addrs.is_empty() {
        return Ok(());
    }
    berth_net::link::add_addresses(netns, ifname, &addrs, 16)
        .map_err(|e| DaemonError::Other(format!("add link-local addresses on {ifname}: {e}")))
}

pub fn check_endpoint(
    n: &NetworkRecord,
    ep: &EndpointSettings,
) -> std::result::Result<(), ApiError> {
    let ip = ep
        .ipam_config
        .as_ref()
        .map(|c| c.ipv4_address.clone())
        .unwrap_or_default();
    for ll in link_local_ips(ep) {
        ll.parse::<Ipv4Addr>().map_err(|_| {
            ApiError::invalid(format!(
                "invalid link-local address {ll}: berth supports IPv4 addresses only"
            ))
        })?;
    }
    if n.is_default_bridge() {
        if !ip.is_empty() {
            return Err(ApiError::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
    }
    if !ip.is_empty() {
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid IPv4 address: {ip}")))?;
        if !n.user_subnet {
            return Err(ApiError::invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets",
            ));
        }
        if let Some(subnet) = n.subnet() {
            if !subnet.contains(addr) {
                return Err(ApiError::invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
    }
    if !ep.mac_address.is_empty() && berth_net::link::parse_mac(&ep.mac_address).is_none() {
        return Err(ApiError::invalid(format!(
            "invalid MAC address: {}",
            ep.mac_address
        )));
    }
    Ok(())
}

/// The names a container answers to on a network (`DNSNames`, as dockerd lists them).
pub fn dns_names(rec: &ContainerRecord, n: &NetworkRecord, ep: &EndpointSettings) -> Vec<String> {
    let mut names = vec![rec.name.clone()];
    if !n.is_default_bridge() {
        for a in ep.aliases.iter().flatten() {
            names.push(a.clone());
        }
        names.push(rec.id.chars().take(12).collect());
        if !rec.config.hostname.is_empty() {
            names.push(rec.config.hostname.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Network names of a container in interface order: its `NetworkMode` network first.
pub fn ordered(rec: &ContainerRecord) -> Vec<String> {
    let primary = mode_network(&rec.host_config.network_mode).map(str::to_string);
    let mut v: Vec<String> = Vec::new();
    if let Some(p) = &primary {
        if rec.networks.contains_key(p) {
            v.push(p.clone());
        }
    }
    v.extend(
        rec.networks
            .keys()
            .filter(|k| Some(*k) != primary.as_ref())
            .cloned(),
    );
    v
}

/// Gives one endpoint an address (persisted with the network) and fills in what inspect
/// shows while the container runs.
fn allocate(
    daemon: &Daemon,
    rec: &ContainerRecord,
    name: &str,
) -> std::result::Result<EndpointSettings, DaemonError> {
    let ep = rec.networks.get(name).cloned().unwrap_or_default();
    let n = daemon
        .networks
        .find(if ep.network_id.is_empty() {
            name
        } else {
            &ep.network_id
        })
        .map_err(|_| ApiError::not_found(format!("network {name} not found")))?;
    let mut ep = ep;
    ep.network_id = n.id.clone();
    if !n.is_bridge() {
        return Ok(ep);
    }
    let preferred: Option<Ipv4Addr> = ep
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.parse().ok());
    let ip = daemon.networks.update(&*daemon.store, &n.id, |net| {
        let ipam = net
            .ipam
            .as_mut()
            .ok_or_else(|| ApiError::system(format!("network {} has no address pool", net.name)))?;
        ipam.allocate(preferred).map_err(|e| {
            let msg = e.to_string();
            if preferred.is_some() && msg.contains("in use") {
                ApiError::new(berth_api::ErrorKind::Forbidden, "Address already in use")
            } else {
                ApiError::system(msg)
            }
        })
    })?;
    let subnet = n.subnet().expect("bridge network has a subnet");
    ep.ip_address = ip.to_string();
    ep.ip_prefix_len = subnet.prefix as i64;
    ep.gateway = n.gateway().map(|g| g.to_string()).unwrap_or_default();
    let mac =
        berth_net::link::parse_mac(&ep.mac_address).unwrap_or_else(|| berth_net::link::mac_for(ip));
    ep.mac_address = berth_net::link::format_mac(mac);
    ep.endpoint_id = crate::ids::new_id();
    // moby fills DNSNames only on user-defined networks (the embedded DNS serves those).
    ep.dns_names = (!n.is_default_bridge()).then(|| dns_names(rec, &n, &ep));
    Ok(ep)
}

/// Releases an endpoint's address and clears what only a running container has.
fn release_endpoint(daemon: &Daemon, ep: &mut EndpointSettings) {
    if let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() {
        let _ = daemon.networks.update(&*daemon.store, &ep.network_id, |n| {
            if let Some(i) = n.ipam.as_mut() {
                i.release(ip);
            }
            Ok(())
        });
    }
    // A MAC the user asked for stays; the one generated from the address (02:42:<ip>)
    // goes with it, as moby clears a stopped container's MacAddress.
    if let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() {
        if ep.mac_address == berth_net::link::format_mac(berth_net::link::mac_for(ip)) {
            ep.mac_address.clear();
        }
    }
    ep.ip_address.clear();
    ep.ip_prefix_len = 0;
    ep.gateway.clear();
    ep.endpoint_id.clear();
    ep.dns_names = None;
}

/// `network connect` / `network disconnect` events for every network of a container
/// that starts or stops, as moby's connectToNetwork / disconnectFromNetwork emit them.
pub fn endpoint_events(daemon: &Daemon, c: &Container, action: &str) {
    let nets: Vec<String> = c
        .rec()
        .networks
        .values()
        .map(|ep| ep.network_id.clone())
        .collect();
    for id in nets {
        let Some(n) = daemon.networks.get(&id) else {
            continue;
        };
        daemon.events.publish(
            "network",
            action,
            &n.id,
            [
                ("container".to_string(), c.id.clone()),
                ("name".to_string(), n.name.clone()),
                ("type".to_string(), n.driver.clone()),
            ]
            .into(),
        );
    }
}

/// What a start prepared before the container's process exists.
#[derive(Default)]
pub struct Prepared {
    pub published: Option<ports::Published>,
    /// Where the embedded DNS forwards (from the resolv.conf the start wrote).
    pub dns_upstreams: Vec<std::net::SocketAddr>,
}

/// Step one of a start: addresses for every endpoint and the published ports reserved.
/// On error everything taken so far is given back.
pub fn prepare(daemon: &Daemon, c: &Container) -> Result<Prepared> {
    let rec = c.snapshot();
    for link in rec.host_config.links.iter().flatten() {
        let target = link
            .split(':')
            .next()
            .unwrap_or(link)
            .trim_start_matches('/');
        match daemon.containers.find(target) {
            Ok(t) if t.is_running() => {}
            Ok(_) => {
                let alias = link.split(':').nth(1).unwrap_or(target);
                return Err(ApiError::invalid(format!(
                    "Cannot link to a non running container: /{target} AS /{}/{alias}",
                    rec.name
                ))
                .into());
            }
            Err(_) => {
                return Err(
                    ApiError::invalid(format!("could not get container for {target}")).into(),
                )
            }
        }
    }
    let mut done: BTreeMap<String, EndpointSettings> = BTreeMap::new();
    let undo = |daemon: &Daemon, done: &mut BTreeMap<String, EndpointSettings>| {
        for ep in done.values_mut() {
            release_endpoint(daemon, ep);
        }
    };
    for name in ordered(&rec) {
        match allocate(daemon, &rec, &name) {
            Ok(ep) => {
                done.insert(name, ep);
            }
            Err(e) => {
                undo(daemon, &mut done);
                return Err(e);
            }
        }
    }
    let reqs = ports::requests(
        rec.host_config.port_bindings.as_ref(),
        rec.config.exposed_ports.as_ref(),
        rec.host_config.publish_all_ports,
    );
    let published = match reqs {
        Err(e) => {
            undo(daemon, &mut done);
            return Err(e.into());
        }
        Ok(reqs) => {
            // Ports go to the first bridge endpoint (dockerd: the default gateway's one).
            let target = ordered(&rec)
                .into_iter()
                .filter_map(|n| done.get(&n).map(|ep| (n, ep.clone())))
                .find(|(_, ep)| !ep.ip_address.is_empty());
            match target {
                Some((net, ep)) => {
                    let (bridge, mode) = daemon
                        .networks
                        .get(&ep.network_id)
                        .map(|n| (n.bridge.clone(), n.gateway_mode()))
                        .unwrap_or_default();
                    let ip: Ipv4Addr = ep.ip_address.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
                    let exposed = rec.config.exposed_ports.as_ref();
                    match ports::publish(&reqs, exposed, ip, &bridge, mode) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            undo(daemon, &mut done);
                            let _ = net;
                            return Err(ApiError::system(format!(
                                "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): {}",
                                rec.name, ep.endpoint_id, e.message
                            ))
                            .into());
                        }
                    }
                }
                None => None,
            }
        }
    };
    {
        let mut r = c.rec();
        for (k, v) in done {
            r.networks.insert(k, v);
        }
        r.ports = published
            .as_ref()
            .map(|p| p.ports.clone())
            .unwrap_or_default();
    }
    Ok(Prepared {
        published,
        dns_upstreams: Vec::new(),
    })
}

/// Step two, once the container's init exists (created, not started): veth pairs made
/// directly inside its network namespace, addresses and routes, the published ports'
/// rules, and the embedded DNS server on user-defined networks.
pub async fn plumb(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    pid: i64,
    prep: Prepared,
) -> Result<()> {
    let rec = c.snapshot();
    let mut links: Vec<(String, NetworkRecord, EndpointSettings)> = Vec::new();
    for name in ordered(&rec) {
        let Some(ep) = rec.networks.get(&name) else {
            continue;
        };
        let Some(n) = daemon.networks.get(&ep.network_id) else {
            continue;
        };
        if n.is_bridge() && !ep.ip_address.is_empty() {
            links.push((name, n, ep.clone()));
        }
    }
    let needs_dns = links.iter().any(|(_, n, _)| !n.is_default_bridge());
    // (A namespace with no endpoint has only its loopback; the runtime brings it up.)
    if links.is_empty() && prep.published.is_none() {
        return Ok(());
    }
    let ns = berth_net::netns::open_netns_of(pid as i32)
        .map_err(|e| DaemonError::io(format!("open network namespace of {}", c.id), e))?;
    let mut ifnames = BTreeMap::new();
    for (i, (name, _, _)) in links.iter().enumerate() {
        ifnames.insert(name.clone(), format!("eth{i}"));
    }
    let work_links = links.clone();
    let work_ifnames = ifnames.clone();
    let ns_dup = ns
        .try_clone()
        .map_err(|e| DaemonError::io("dup netns", e))?;
    tokio::task::spawn_blocking(move || -> Result<()> {
        let nl = berth_net::link::Netlink::open()
            .map_err(|e| DaemonError::Other(format!("open netlink: {e}")))?;
        let mut gateway_set = false;
        for (name, n, ep) in &work_links {
            let ifname = &work_ifnames[name];
            let master = nl
                .link_index(&n.bridge)
                .ok()
                .flatten()
                .ok_or_else(|| DaemonError::Other(format!("bridge {} is missing", n.bridge)))?;
            let host_end = format!("veth{}", &crate::ids::new_id()[..7]);
            let mac = berth_net::link::parse_mac(&ep.mac_address);
            let mtu = if n.mtu > 0 { n.mtu } else { 1500 };
            nl.create_veth(&host_end, master, mtu, ifname, ns_dup.as_fd(), mac)
                .map_err(|e| DaemonError::Other(format!("create veth for {name}: {e}")))?;
            if !n.icc() {
                nl.isolate_port(&host_end)
                    .map_err(|e| DaemonError::Other(format!("icc=false on {name}: {e}")))?;
            }
            let ip: Ipv4Addr = ep.ip_address.parse().map_err(|_| {
                DaemonError::Other(format!("bad address {} on {name}", ep.ip_address))
            })?;
            let gw = if !n.internal && !gateway_set {
                gateway_set = true;
                n.gateway()
            } else {
                None
            };
            berth_net::link::configure_container_side(
                ns_dup.as_fd(),
                ifname,
                ip,
                ep.ip_prefix_len as u8,
                gw,
            )
            .map_err(|e| DaemonError::Other(format!("configure {ifname} on {name}: {e}")))?;
            add_link_local(ns_dup.as_fd(), ifname, ep)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| DaemonError::Other(format!("network task: {e}")))??;
    c.rec().ifnames = ifnames;
    if let Some(p) = prep.published {
        if !p.rules.is_empty() {
            daemon
                .networks
                .published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.id.clone(), p);
            let d = daemon.clone();
            tokio::task::spawn_blocking(move || super::setup::apply_ports(&d))
                .await
                .map_err(|e| DaemonError::Other(format!("firewall task: {e}")))??;
        }
    }
    if needs_dns {
        start_dns(daemon, &c.id, ns, prep.dns_upstreams)?;
    }
    Ok(())
}

/// Serves 127.0.0.11 inside the container's network namespace, forwarding to `external`
/// (the servers its resolv.conf was written from; the host's when empty).
pub fn start_dns(
    daemon: &Arc<Daemon>,
    id: &str,
    ns: std::os::fd::OwnedFd,
    external: Vec<std::net::SocketAddr>,
) -> Result<()> {
    let (udp, tcp) = berth_net::dns::bind_in_netns(ns.as_fd())
        .map_err(|e| DaemonError::io("start embedded DNS server", e))?;
    let upstreams = if external.is_empty() {
        daemon
            .networks
            .upstreams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    } else {
        Arc::new(berth_net::dns::Upstreams::new(external))
    };
    let resolver = Arc::new(super::dns::Resolver::new(daemon));
    let handle = berth_net::dns::serve(udp, tcp, id.to_string(), resolver, upstreams);
    daemon
        .networks
        .dns_servers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_string(), handle);
    Ok(())
}

/// The external servers a container's embedded DNS forwards to, worked out again from its
/// record (after a daemon restart, or when it joins its first user network).
fn external_servers(daemon: &Daemon, rec: &ContainerRecord) -> Vec<std::net::SocketAddr> {
    super::etc_files::generate(daemon, rec)
        .map(|f| f.dns_upstreams)
        .unwrap_or_default()
}

/// After the container's process is gone (or its start failed): DNS server stopped,
/// ports and rules given back, addresses released.
pub async fn release(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    daemon
        .networks
        .dns_servers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&c.id);
    let had_rules = daemon
        .networks
        .published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&c.id)
        .is_some();
    if had_rules {
        let d = daemon.clone();
        let _ = tokio::task::spawn_blocking(move || super::setup::apply_ports(&d)).await;
    }
    let mut nets = std::mem::take(&mut c.rec().networks);
    for ep in nets.values_mut() {
        release_endpoint(daemon, ep);
    }
    let mut r = c.rec();
    r.networks = nets;
    r.ifnames.clear();
    r.ports.clear();
}

/// A running container re-adopted after a daemon restart: its ports are reserved again
/// and its DNS server restarted (the rules come back with the firewall regeneration).
pub fn readopt(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    let rec = c.snapshot();
    let mut reqs = Vec::new();
    for (key, binds) in &rec.ports {
        let Ok(cp) = ports::ContainerPort::parse(key) else {
            continue;
        };
        for b in binds.iter().flatten() {
            let port: u16 = b.host_port.parse().unwrap_or(0);
            reqs.push(ports::Request {
                container: cp,
                host_ip: b
                    .host_ip
                    .parse()
                    .ok()
                    .filter(|ip: &Ipv4Addr| !ip.is_unspecified()),
                host_ports: (port, port),
            });
        }
    }
    let target = ordered(&rec)
        .into_iter()
        .filter_map(|n| rec.networks.get(&n).cloned())
        .find(|ep| !ep.ip_address.is_empty());
    if let (false, Some(ep)) = (reqs.is_empty(), &target) {
        let (bridge, mode) = daemon
            .networks
            .get(&ep.network_id)
            .map(|n| (n.bridge.clone(), n.gateway_mode()))
            .unwrap_or_default();
        let ip = ep.ip_address.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
        match ports::publish(&reqs, rec.config.exposed_ports.as_ref(), ip, &bridge, mode) {
            Ok(p) => {
                daemon
                    .networks
                    .published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(c.id.clone(), p);
            }
            Err(e) => tracing::warn!("re-publish ports of {}: {}", c.id, e.message),
        }
    }
    let user_net = rec.networks.values().any(|ep| {
        daemon
            .networks
            .get(&ep.network_id)
            .is_some_and(|n| n.is_bridge() && !n.is_default_bridge())
    });
    if user_net && rec.state.pid > 0 {
        match berth_net::netns::open_netns_of(rec.state.pid as i32) {
            Ok(ns) => {
                if let Err(e) = start_dns(daemon, &c.id, ns, external_servers(daemon, &rec)) {
                    tracing::warn!("restart DNS of {}: {e}", c.id);
                }
            }
            Err(e) => tracing::warn!("netns of {}: {e}", c.id),
        }
    }
}

/// Whether the container's resolv.conf should point at the embedded DNS server.
pub fn uses_internal_resolver(daemon: &Daemon, rec: &ContainerRecord) -> bool {
    rec.networks.values().any(|ep| {
        daemon
            .networks
            .get(&ep.network_id)
            .is_some_and(|n| n.is_bridge() && !n.is_default_bridge())
    })
}

/// `network connect` on a running container: an address, a new interface inside its
/// namespace, and the DNS server if this is its first user-defined network.
pub async fn connect_running(daemon: &Arc<Daemon>, c: &Arc<Container>, name: &str) -> Result<()> {
    let rec = c.snapshot();
    let had_dns = uses_internal_resolver(daemon, &{
        let mut r = rec.clone();
        r.networks.remove(name);
        r
    });
    let ep = allocate(daemon, &rec, name)?;
    let n = daemon
        .networks
        .get(&ep.network_id)
        .ok_or_else(|| ApiError::not_found(format!("network {name} not found")))?;
    let used: std::collections::HashSet<String> = rec.ifnames.values().cloned().collect();
    let ifname = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(n))
        .expect("some interface name is free");
    let has_gateway = rec.networks.iter().any(|(k, e)| {
        k != name
            && !e.ip_address.is_empty()
            && daemon
                .networks
                .get(&e.network_id)
                .is_some_and(|n| !n.internal)
    });
    let ns = berth_net::netns::open_netns_of(rec.state.pid as i32)
        .map_err(|e| DaemonError::io(format!("open network namespace of {}", c.id), e))?;
    let (n2, ep2, if2) = (n.clone(), ep.clone(), ifname.clone());
    let ns2 = ns
        .try_clone()
        .map_err(|e| DaemonError::io("dup netns", e))?;
    let plumbed = tokio::task::spawn_blocking(move || -> Result<()> {
        let nl = berth_net::link::Netlink::open()
            .map_err(|e| DaemonError::Other(format!("open netlink: {e}")))?;
        let master = nl
            .link_index(&n2.bridge)
            .ok()
            .flatten()
            .ok_or_else(|| DaemonError::Other(format!("bridge {} is missing", n2.bridge)))?;
        let host_end = format!("veth{}", &crate::ids::new_id()[..7]);
        let mtu = if n2.mtu > 0 { n2.mtu } else { 1500 };
        nl.create_veth(
            &host_end,
            master,
            mtu,
            &if2,
            ns2.as_fd(),
            berth_net::link::parse_mac(&ep2.mac_address),
        )
        .map_err(|e| DaemonError::Other(format!("create veth: {e}")))?;
        if !n2.icc() {
            nl.isolate_port(&host_end)
                .map_err(|e| DaemonError::Other(format!("icc=false: {e}")))?;
        }
        let ip: Ipv4Addr = ep2
            .ip_address
            .parse()
            .map_err(|_| DaemonError::Other("bad address".into()))?;
        let gw = if !n2.internal && !has_gateway {
            n2.gateway()
        } else {
            None
        };
        berth_net::link::configure_container_side(
            ns2.as_fd(),
            &if2,
            ip,
            ep2.ip_prefix_len as u8,
            gw,
        )
        .map_err(|e| DaemonError::Other(format!("configure {if2}: {e}")))?;
        add_link_local(ns2.as_fd(), &if2, &ep2)
    })
    .await
    .map_err(|e| DaemonError::Other(format!("network task: {e}")))?;
    if let Err(e) = plumbed {
        let mut ep = ep;
        release_endpoint(daemon, &mut ep);
        return Err(e);
    }
    {
        let mut r = c.rec();
        r.networks.insert(name.to_string(), ep);
        r.ifnames.insert(name.to_string(), ifname);
    }
    if !had_dns && !n.is_default_bridge() {
        // Like dockerd's rebuildDNS: the container now has the embedded resolver, so its
        // resolv.conf (bind-mounted; rewritten in place) points at 127.0.0.11.
        let rec = c.snapshot();
        let files = super::etc_files::generate(daemon, &rec)?;
        start_dns(daemon, &c.id, ns, files.dns_upstreams)?;
        let path = daemon.container_paths(&c.id).resolv_conf();
        if let Err(e) = std::fs::write(&path, files.resolv_conf) {
            tracing::warn!("rewrite {}: {e}", path.display());
        }
    }
    Ok(())
}

/// `network disconnect` on a running container: its interface on that network goes.
pub async fn disconnect_running(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    name: &str,
) -> Result<()> {
    let (pid, ifname) = {
        let r = c.rec();
        (r.state.pid, r.ifnames.get(name).cloned())
    };
    if let Some(ifname) = ifname {
        let ns = berth_net::netns::open_netns_of(pid as i32)
            .map_err(|e| DaemonError::io(format!("open network namespace of {}", c.id), e))?;
        tokio::task::spawn_blocking(move || {
            berth_net::netns::run_in_netns(ns.as_fd(), || {
                let nl = berth_net::link::Netlink::open().map_err(std::io::Error::other)?;
                nl.delete_link(&ifname).map_err(std::io::Error::other)
            })
        })
        .await
        .map_err(|e| DaemonError::Other(format!("network task: {e}")))?
        .map_err(|e| DaemonError::io("remove interface", e))?;
    }
    let ep = c.rec().networks.get(name).cloned();
    if let Some(mut ep) = ep {
        release_endpoint(daemon, &mut ep);
    }
    {
        let mut r = c.rec();
        r.ifnames.remove(name);
    }
    if !uses_internal_resolver(daemon, &{
        let mut r = c.snapshot();
        r.networks.remove(name);
        r
    }) {
        daemon
            .networks
            .dns_servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
    }
    Ok(())
}

/// Points the spec's network namespace at another container's (`container:<id>`).
pub fn join_netns(spec: &mut oci_spec::runtime::Spec, path: &std::path::Path) {
    if let Some(linux) = spec.linux_mut() {
        if let Some(nss) = linux.namespaces_mut() {
            for ns in nss.iter_mut() {
                if ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
                    ns.set_path(Some(path.to_path_buf()));
                }
            }
        }
    }
}

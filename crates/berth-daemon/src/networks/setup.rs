//! Start-up and shutdown of networking: the predefined networks (`bridge`, `host`,
//! `none`), the bridges in the kernel, forwarding, and this daemon's nftables table,
//! regenerated from the records (leftover rules of a crashed daemon disappear with it).

use super::{NetworkRecord, Networks, OPT_BRIDGE_NAME, OPT_DEFAULT_BRIDGE, OPT_HOST_BINDING};
use super::{OPT_ICC, OPT_MASQ, OPT_MTU};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_net::firewall::{FirewallPlan, NetworkRule};
use berth_net::ipam::{Ipv4Net, NetworkIpam};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Parses `--bip` (`172.18.0.1/16`: the bridge's own address and the prefix).
pub fn parse_bip(bip: &str) -> Result<(Ipv4Addr, u8)> {
    match bip.parse::<Ipv4Net>() {
        Ok(n) if (8..=30).contains(&n.prefix) => Ok((n.addr, n.prefix)),
        _ => Err(DaemonError::Other(format!(
            "invalid --bip {bip:?}: want an IPv4 CIDR"
        ))),
    }
}

fn predefined(name: &str, driver: &str) -> NetworkRecord {
    NetworkRecord {
        id: crate::ids::new_id(),
        name: name.into(),
        created: crate::containers::now_rfc3339(),
        driver: driver.into(),
        bridge: String::new(),
        internal: false,
        attachable: false,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        ipam: None,
        user_subnet: false,
        ip_range_given: false,
        mtu: 0,
        aux_addresses: BTreeMap::new(),
        ipam_options: None,
    }
}

/// Host routes, for choosing subnets that do not shadow anything on this machine.
fn host_routes() -> Vec<Ipv4Net> {
    berth_net::link::Netlink::open()
        .and_then(|nl| nl.ipv4_routes())
        .map(|r| {
            r.into_iter()
                .filter(|(_, p)| *p > 0)
                .filter_map(|(a, p)| Ipv4Net::new(a, p).map(|n| n.network()))
                .collect()
        })
        .unwrap_or_default()
}

/// The first subnet of `pools` that overlaps neither `known` (networks berth has) nor any
/// host route, so a new bridge never shadows something on this machine. Call it with the
/// lock of [`lock_host_subnets`] held.
pub fn choose_free_subnet(pools: &[(Ipv4Net, u8)], mut known: Vec<Ipv4Net>) -> Option<Ipv4Net> {
    known.extend(host_routes());
    berth_net::ipam::choose_subnet(pools, &known)
}

/// Host-wide lock file that serializes choosing a subnet with bringing up its bridge.
const SUBNET_LOCK: &str = "/run/lock/berth-subnets.lock";

/// Takes the host-wide subnet lock (blocking), so that two berth daemons, or two
/// network creates in one daemon, cannot both pick the same free subnet before either
/// bridge's route exists. Held until the returned file is dropped; `None` (no lock)
/// where the lock file cannot be opened.
pub fn lock_host_subnets() -> Option<std::fs::File> {
    let path = std::path::Path::new(SUBNET_LOCK);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = berth_perms::open_options(berth_perms::Mode::SECRET_FILE)
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .inspect_err(|e| tracing::warn!("open {SUBNET_LOCK}: {e}"))
        .ok()?;
    file.lock()
        .inspect_err(|e| tracing::warn!("lock {SUBNET_LOCK}: {e}"))
        .ok()?;
    Some(file)
}

/// Makes sure the predefined networks exist (in the database and in the kernel), turns
/// on forwarding, and writes the firewall table. Called once at start-up, before
/// containers are re-adopted.
pub fn init(daemon: &Daemon) -> Result<()> {
    let _subnets = lock_host_subnets();
    let nets = &daemon.networks;
    nets.load(&*daemon.store)?;
    let cfg = &daemon.config.network;
    let existing = nets.all();
    let mut new_recs = Vec::new();
    for (name, driver) in [("host", "host"), ("none", "null")] {
        if !existing.iter().any(|n| n.name == name) {
            new_recs.push(predefined(name, driver));
        }
    }
    // The default bridge follows the flags of this start: its bridge name, address and
    // options are rewritten when they changed, as dockerd does for docker0.
    if let Some(bridge) = &cfg.bridge {
        let old = existing.iter().find(|n| n.is_default_bridge()).cloned();
        let mut rec = old
            .clone()
            .unwrap_or_else(|| predefined("bridge", "bridge"));
        let (gateway, prefix) = match &cfg.bip {
            Some(bip) => parse_bip(bip)?,
            None => match old.as_ref().and_then(|o| o.ipam.as_ref()) {
                Some(i) if old.as_ref().map(|o| &o.bridge) == Some(bridge) => {
                    (i.gateway, i.subnet.prefix)
                }
                _ => {
                    let others = existing
                        .iter()
                        .filter(|n| !n.is_default_bridge())
                        .filter_map(|n| n.subnet())
                        .collect();
                    let subnet =
                        choose_free_subnet(&cfg.address_pools, others).ok_or_else(|| {
                            DaemonError::Other(
                                "no free subnet for the default bridge; set --bip".into(),
                            )
                        })?;
                    (subnet.first_host(), subnet.prefix)
                }
            },
        };
        let subnet = Ipv4Net::new(gateway, prefix)
            .ok_or_else(|| DaemonError::Other("--bip: bad prefix".into()))?
            .network();
        let keep_alloc = rec
            .ipam
            .as_ref()
            .filter(|i| i.subnet == subnet && i.gateway == gateway)
            .cloned();
        rec.ipam = Some(match keep_alloc {
            Some(i) => i,
            None => NetworkIpam::new(subnet, Some(gateway), None)
                .map_err(|e| DaemonError::Other(format!("default bridge: {e}")))?,
        });
        rec.bridge = bridge.clone();
        rec.mtu = cfg.mtu;
        rec.user_subnet = false;
        rec.options = BTreeMap::from([
            (OPT_DEFAULT_BRIDGE.to_string(), "true".to_string()),
            (OPT_ICC.to_string(), cfg.icc.to_string()),
            (OPT_MASQ.to_string(), cfg.ip_masq.to_string()),
            (OPT_HOST_BINDING.to_string(), "0.0.0.0".to_string()),
            (OPT_BRIDGE_NAME.to_string(), bridge.clone()),
            (OPT_MTU.to_string(), cfg.mtu.to_string()),
        ]);
        new_recs.push(rec);
    } else if let Some(old) = existing.iter().find(|n| n.is_default_bridge()) {
        nets.delete(&*daemon.store, &old.id)?;
    }
    let refs: Vec<&NetworkRecord> = new_recs.iter().collect();
    nets.persist(&*daemon.store, &refs)?;

    if cfg.ip_forward {
        if let Err(e) = berth_net::link::enable_ip_forward() {
            tracing::warn!("enable IP forwarding: {e}");
        }
    }
    let nl = berth_net::link::Netlink::open()
        .map_err(|e| DaemonError::Other(format!("open netlink: {e}")))?;
    for n in nets.all().iter().filter(|n| n.is_bridge()) {
        ensure_bridge(&nl, n)?;
    }
    if let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") {
        let host = berth_net::resolvconf::parse(&text);
        let servers = host
            .nameservers
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, 53))
            .collect();
        *nets.upstreams.lock().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(berth_net::dns::Upstreams::new(servers));
    }
    coexist_with_docker(daemon);
    Ok(())
}

/// Creates a network's bridge if it is missing and lets DNAT reach it from 127.0.0.1.
pub fn ensure_bridge(nl: &berth_net::link::Netlink, n: &NetworkRecord) -> Result<()> {
    let Some(ipam) = &n.ipam else { return Ok(()) };
    nl.ensure_bridge(
        &n.bridge,
        (n.mtu > 0).then_some(n.mtu),
        ipam.gateway,
        ipam.subnet.prefix,
    )
    .map_err(|e| DaemonError::Other(format!("create bridge {}: {e}", n.bridge)))?;
    if let Err(e) = berth_net::link::set_route_localnet(&n.bridge, true) {
        tracing::warn!("route_localnet on {}: {e}", n.bridge);
    }
    Ok(())
}

/// The firewall as the records say it should be: every bridge network, and the ports
/// published by running containers.
pub fn plan(nets: &Networks) -> FirewallPlan {
    let networks = nets
        .all()
        .into_iter()
        .filter(|n| n.is_bridge())
        .filter_map(|n| {
            Some(NetworkRule {
                subnet: n.subnet()?,
                gateway: n.gateway()?,
                gateway_mode: n.gateway_mode(),
                internal: n.internal,
                masquerade: n.masquerade(),
                icc: n.icc(),
                bridge: n.bridge.clone(),
            })
        })
        .collect();
    let mut ports = Vec::new();
    for p in nets
        .published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
    {
        ports.extend(p.rules.iter().cloned());
    }
    ports.sort_by_key(|r| (r.host_port, r.container_port));
    FirewallPlan {
        table: nets.table.clone(),
        networks,
        ports,
    }
}

/// Rewrites this daemon's nftables table from the records (one atomic nft transaction).
pub fn apply_firewall(daemon: &Daemon) -> Result<()> {
    if !daemon.config.network.iptables {
        return Ok(());
    }
    let nets = &daemon.networks;
    let _k = nets.kernel.lock().unwrap_or_else(|p| p.into_inner());
    let plan = plan(nets);
    berth_net::firewall::apply(&plan).map_err(|e| {
        let hint = match e {
            berth_net::firewall::FirewallError::Spawn { .. } => {
                " (install nftables, or start the daemon with --iptables=false)"
            }
            _ => "",
        };
        DaemonError::Other(format!("firewall table {}: {e}{hint}", nets.table))
    })
}

/// After published ports changed: refills only the table's `ports` chain (cheap), or
/// rewrites the whole table when that fails (e.g. someone deleted it).
pub fn apply_ports(daemon: &Daemon) -> Result<()> {
    if !daemon.config.network.iptables {
        return Ok(());
    }
    {
        let nets = &daemon.networks;
        let _k = nets.kernel.lock().unwrap_or_else(|p| p.into_inner());
        if berth_net::firewall::apply_ports(&plan(nets)).is_ok() {
            return Ok(());
        }
    }
    apply_firewall(daemon)
}

/// Lets our bridges through a Docker engine's forward drop policy (see
/// `berth_net::firewall::allow_through_docker`); checked at start-up and whenever a
/// network is created.
pub fn coexist_with_docker(daemon: &Daemon) {
    if !daemon.config.network.iptables {
        return;
    }
    let bridges: Vec<String> = daemon
        .networks
        .all()
        .into_iter()
        .filter(|n| n.is_bridge())
        .map(|n| n.bridge)
        .collect();
    if berth_net::firewall::allow_through_docker(&bridges) {
        tracing::info!("a Docker engine shares this host: our bridges are accepted in DOCKER-USER");
    }
}

/// On shutdown with nothing running, the daemon's rules and user networks' bridges are not
/// needed by anyone: remove them (the next start recreates them). With containers still running
/// (they outlive the daemon), everything stays so their traffic keeps flowing.
pub fn shutdown(daemon: &Daemon) {
    if daemon.containers.all().iter().any(|c| c.is_running()) {
        return;
    }
    if daemon.config.network.iptables {
        let _ = berth_net::firewall::delete_table(&daemon.networks.table);
        let bridges: Vec<String> = daemon
            .networks
            .all()
            .into_iter()
            .filter(|n| n.is_bridge())
            .map(|n| n.bridge)
            .collect();
        berth_net::firewall::withdraw_from_docker(&bridges);
    }
    // User networks' bridges are always ours (create refuses a name the host uses). The
    // default bridge may be one the admin made for `--bridge` (dockerd's usage): it stays,
    // as docker0 does.
    if let Ok(nl) = berth_net::link::Netlink::open() {
        for n in daemon
            .networks
            .all()
            .iter()
            .filter(|n| n.is_bridge() && !n.is_default_bridge())
        {
            let _ = nl.delete_link(&n.bridge);
        }
    }
}

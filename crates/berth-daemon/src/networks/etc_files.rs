//! The /etc/hosts and /etc/resolv.conf a container gets, as dockerd writes them: its own
//! addresses under its hostname, `--add-host` and `--link` entries, and on user-defined
//! networks the embedded resolver (127.0.0.11) in front of the host's servers.

use super::endpoints;
use crate::containers::ContainerRecord;
use crate::daemon::Daemon;
use berth_api::ApiError;
use berth_net::hosts::HostsEntry;
use berth_net::resolvconf::DnsOverrides;
use std::net::{IpAddr, Ipv4Addr};

/// The contents of a container's hosts and resolv.conf files.
pub struct EtcFiles {
    pub hosts: String,
    pub resolv_conf: String,
    /// Where the embedded DNS server forwards this container's other queries.
    pub dns_upstreams: Vec<std::net::SocketAddr>,
}

/// The address `host-gateway` stands for: the default bridge's gateway (dockerd's
/// default), else the first bridge network's.
fn host_gateway(daemon: &Daemon) -> Option<Ipv4Addr> {
    daemon
        .networks
        .default_bridge()
        .and_then(|n| n.gateway())
        .or_else(|| daemon.networks.all().iter().find_map(|n| n.gateway()))
}

/// Computes both files for a container whose endpoints already have addresses.
pub fn generate(daemon: &Daemon, rec: &ContainerRecord) -> Result<EtcFiles, ApiError> {
    let hc = &rec.host_config;
    let host_net = hc.network_mode == "host";
    let hostname = if host_net {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    } else {
        rec.config.hostname.clone()
    };
    let ips: Vec<IpAddr> = endpoints::ordered(rec)
        .iter()
        .filter_map(|n| rec.networks.get(n))
        .filter_map(|ep| ep.ip_address.parse::<Ipv4Addr>().ok())
        .map(IpAddr::V4)
        .collect();
    let own = if host_net {
        Vec::new()
    } else {
        berth_net::hosts::own_entries(&hostname, &rec.config.domainname, &ips)
    };
    let mut extra: Vec<HostsEntry> = Vec::new();
    let gw = host_gateway(daemon);
    for h in hc.extra_hosts.iter().flatten() {
        extra.push(berth_net::hosts::parse_add_host(h, gw).map_err(ApiError::invalid)?);
    }
    for link in hc.links.iter().flatten() {
        let mut parts = link.splitn(2, ':');
        let target = parts.next().unwrap_or_default().trim_start_matches('/');
        let alias = parts
            .next()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_string());
        let Ok(t) = daemon.containers.find(target) else {
            continue;
        };
        let tr = t.rec();
        let ip = tr
            .networks
            .values()
            .find(|ep| !ep.ip_address.is_empty())
            .map(|ep| ep.ip_address.clone());
        if let Some(ip) = ip {
            let mut names: Vec<String> = Vec::new();
            if let Some(a) = &alias {
                names.push(a.clone());
            }
            names.push(tr.id.chars().take(12).collect());
            names.push(tr.name.clone());
            names.dedup();
            extra.push(HostsEntry { ip, names });
        }
    }
    let hosts = berth_net::hosts::container_hosts(&own, &extra);
    let host_rc = berth_net::resolvconf::load(berth_net::resolvconf::host_resolv_conf_path())
        .unwrap_or_else(|_| berth_net::resolvconf::parse(""));
    let mut servers = hc.dns.clone().unwrap_or_default();
    if servers.is_empty() {
        servers = daemon.config.network.dns.clone();
    }
    let overrides = DnsOverrides {
        servers,
        search: hc.dns_search.clone().unwrap_or_default(),
        options: hc.dns_options.clone().unwrap_or_default(),
    };
    berth_net::resolvconf::validate_overrides(&overrides).map_err(ApiError::invalid)?;
    let (resolv_conf, dns_upstreams) = if host_net {
        (
            berth_net::resolvconf::host_network_resolv_conf(&host_rc, &overrides),
            Vec::new(),
        )
    } else {
        let internal = endpoints::uses_internal_resolver(daemon, rec);
        berth_net::resolvconf::container_resolv_conf(&host_rc, &overrides, internal)
    };
    Ok(EtcFiles {
        hosts,
        resolv_conf,
        dns_upstreams,
    })
}

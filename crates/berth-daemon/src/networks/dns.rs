//! Names for the embedded DNS server: a container sees the running containers that share
//! a user-defined network with it, by name, alias, short ID or hostname (optionally
//! qualified with the network's name), and nothing on the networks it is not on.

use crate::daemon::Daemon;
use berth_net::dns::{Lookup, Resolve};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Weak};

pub struct Resolver {
    daemon: Weak<Daemon>,
}

impl Resolver {
    pub fn new(daemon: &Arc<Daemon>) -> Resolver {
        Resolver {
            daemon: Arc::downgrade(daemon),
        }
    }

    /// IDs of the user-defined networks a container is on.
    fn user_networks(daemon: &Daemon, requester: &str) -> Vec<(String, String)> {
        let Ok(c) = daemon.containers.find(requester) else {
            return Vec::new();
        };
        let rec = c.rec();
        rec.networks
            .values()
            .filter_map(|ep| daemon.networks.get(&ep.network_id))
            .filter(|n| n.is_bridge() && !n.is_default_bridge())
            .map(|n| (n.id, n.name))
            .collect()
    }
}

impl Resolve for Resolver {
    fn lookup_a(&self, requester: &str, name: &str) -> Lookup {
        let Some(daemon) = self.daemon.upgrade() else {
            return Lookup::Forward;
        };
        let nets = Self::user_networks(&daemon, requester);
        let mut found: BTreeSet<Ipv4Addr> = BTreeSet::new();
        for c in daemon.containers.all() {
            let rec = c.rec();
            if !rec.state.running {
                continue;
            }
            for ep in rec.networks.values() {
                let Some((_, net_name)) = nets.iter().find(|(id, _)| *id == ep.network_id) else {
                    continue;
                };
                let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
                    continue;
                };
                let hit = ep.dns_names.iter().flatten().any(|n| {
                    let n = n.to_ascii_lowercase();
                    name == n || name == format!("{n}.{}", net_name.to_ascii_lowercase())
                });
                if hit {
                    found.insert(ip);
                }
            }
        }
        if found.is_empty() {
            Lookup::Forward
        } else {
            Lookup::Found(found.into_iter().collect())
        }
    }

    fn lookup_ptr(&self, requester: &str, ip: Ipv4Addr) -> Option<String> {
        let daemon = self.daemon.upgrade()?;
        let nets = Self::user_networks(&daemon, requester);
        let want = ip.to_string();
        for c in daemon.containers.all() {
            let rec = c.rec();
            for ep in rec.networks.values() {
                if ep.ip_address != want {
                    continue;
                }
                if let Some((_, net_name)) = nets.iter().find(|(id, _)| *id == ep.network_id) {
                    return Some(format!("{}.{}", rec.name, net_name));
                }
            }
        }
        None
    }

    fn may_forward(&self, requester: &str) -> bool {
        let Some(daemon) = self.daemon.upgrade() else {
            return false;
        };
        let Ok(c) = daemon.containers.find(requester) else {
            return false;
        };
        let rec = c.rec();
        rec.networks
            .values()
            .filter_map(|ep| daemon.networks.get(&ep.network_id))
            .any(|n| !n.internal)
    }
}

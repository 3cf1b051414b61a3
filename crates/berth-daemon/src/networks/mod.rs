//! Networks: the records the daemon keeps (one row per network in the `networks` table),
//! the Engine API verbs on them, and a container's endpoints on them.
//!
//! The kernel work (bridges, veth pairs, nftables, the DNS listener) is `berth-net`'s;
//! this module decides what should exist and keeps the database and the kernel in step:
//! a network's row is written before its bridge is made and deleted after its bridge is
//! gone, addresses are allocated in the same transaction that records them, and the
//! whole nftables table is regenerated from the records whenever it changes.

pub mod dns;
pub mod endpoints;
pub mod etc_files;
pub mod handlers;
pub mod ports;
pub mod setup;

use crate::error::{DaemonError, Result};
use crate::store::{Op, Store, Table};
use berth_api::network::{Ipam, IpamConfig, NetworkContainer, NetworkResource};
use berth_api::ApiError;
use berth_net::ipam::{Ipv4Net, NetworkIpam};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Driver option naming a bridge network's Linux bridge.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQ: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
/// How the outside reaches the network's containers (moby 28): `nat` (default),
/// `nat-unprotected`, `routed`, `isolated` (internal networks only).
pub const OPT_GATEWAY_MODE_V4: &str = "com.docker.network.bridge.gateway_mode_ipv4";
pub const OPT_GATEWAY_MODE_V6: &str = "com.docker.network.bridge.gateway_mode_ipv6";

/// What the daemon persists about a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// The Linux bridge (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Addresses and allocations (bridge driver only).
    #[serde(default)]
    pub ipam: Option<NetworkIpam>,
    /// Whether the user gave the subnet (then `--ip` is allowed, as in Docker).
    #[serde(default)]
    pub user_subnet: bool,
    #[serde(default)]
    pub ip_range_given: bool,
    #[serde(default)]
    pub mtu: u32,
    /// `--aux-address name=ip`: reserved in the IPAM, never given to a container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
    /// `--ipam-opt` as given (inspect shows them; the default IPAM driver uses none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<BTreeMap<String, String>>,
}

impl NetworkRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The default `bridge` network: no embedded DNS, no aliases, no `--ip`.
    pub fn is_default_bridge(&self) -> bool {
        self.options.get(OPT_DEFAULT_BRIDGE).map(String::as_str) == Some("true")
    }

    pub fn is_predefined(&self) -> bool {
        self.is_default_bridge() || self.driver == "host" || self.driver == "null"
    }

    fn opt_bool(&self, key: &str, default: bool) -> bool {
        self.options
            .get(key)
            .map(|v| matches!(v.as_str(), "true" | "1" | "yes"))
            .unwrap_or(default)
    }

    pub fn icc(&self) -> bool {
        self.opt_bool(OPT_ICC, true)
    }

    pub fn masquerade(&self) -> bool {
        self.opt_bool(OPT_MASQ, true)
    }

    /// The IPv4 gateway mode (checked at create, so an unknown value is `nat` here).
    pub fn gateway_mode(&self) -> berth_net::firewall::GatewayMode {
        self.options
            .get(OPT_GATEWAY_MODE_V4)
            .and_then(|v| berth_net::firewall::GatewayMode::parse(v).ok())
            .unwrap_or_default()
    }

    pub fn subnet(&self) -> Option<Ipv4Net> {
        self.ipam.as_ref().map(|i| i.subnet)
    }

    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.ipam.as_ref().map(|i| i.gateway)
    }

    /// The Engine API view; `containers` is filled by the caller (inspect only).
    pub fn resource(&self, containers: BTreeMap<String, NetworkContainer>) -> NetworkResource {
        let config = self.ipam.as_ref().map(|i| {
            vec![IpamConfig {
                subnet: i.subnet.to_string(),
                ip_range: i.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: i.gateway.to_string(),
                auxiliary_addresses: (!self.aux_addresses.is_empty())
                    .then(|| self.aux_addresses.clone()),
            }]
        });
        NetworkResource {
            name: self.name.clone(),
            id: self.id.clone(),
            created: self.created.clone(),
            scope: "local".into(),
            driver: self.driver.clone(),
            enable_ipv4: self.is_bridge(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: self.ipam_options.clone(),
                config: Some(config.unwrap_or_default()),
            },
            internal: self.internal,
            attachable: self.attachable,
            ingress: false,
            config_from: BTreeMap::from([("Network".to_string(), String::new())]),
            config_only: false,
            containers,
            options: self.options.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// The daemon's networks, with the kernel-side state that is not persisted.
pub struct Networks {
    by_id: Mutex<HashMap<String, NetworkRecord>>,
    /// This daemon's nftables table (`berth` for the default data root).
    pub table: String,
    /// Serializes kernel changes and firewall regeneration.
    pub kernel: Mutex<()>,
    /// Published ports of running containers, by container ID.
    pub published: Mutex<HashMap<String, ports::Published>>,
    /// Embedded DNS servers of running containers on user-defined networks.
    pub dns_servers: Mutex<HashMap<String, berth_net::dns::ServerHandle>>,
    /// The host's resolvers (forward targets of the embedded DNS).
    pub upstreams: Mutex<std::sync::Arc<berth_net::dns::Upstreams>>,
    /// Whether nftables could be used at all (`nft` present and permitted).
    pub firewall_ok: std::sync::atomic::AtomicBool,
}

/// The nftables table of a daemon: `berth` for the default data root, else one per data
/// root, so two daemons on one host never touch each other's rules.
pub fn table_name(data_root: &std::path::Path) -> String {
    if data_root == std::path::Path::new("/var/lib/berth") {
        return "berth".into();
    }
    use sha2::Digest;
    let h = sha2::Sha256::digest(data_root.as_os_str().as_encoded_bytes());
    format!("berth_{}", &hex::encode(h)[..10])
}

impl Networks {
    pub fn new(table: String) -> Networks {
        Networks {
            by_id: Mutex::new(HashMap::new()),
            table,
            kernel: Mutex::new(()),
            published: Mutex::new(HashMap::new()),
            dns_servers: Mutex::new(HashMap::new()),
            upstreams: Mutex::new(std::sync::Arc::new(berth_net::dns::Upstreams::new(vec![]))),
            firewall_ok: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, NetworkRecord>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<NetworkRecord> = self.map().values().cloned().collect();
        v.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        v
    }

    /// Finds a network by full ID, exact name, or unique ID prefix (Docker's order).
    pub fn find(&self, key: &str) -> std::result::Result<NetworkRecord, ApiError> {
        let map = self.map();
        let not_found = || ApiError::not_found(format!("network {key} not found"));
        if key.is_empty() {
            return Err(not_found());
        }
        if let Some(n) = map.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = map.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let matches: Vec<&NetworkRecord> = map.values().filter(|n| n.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(not_found()),
            _ => Err(ApiError::invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    pub fn get(&self, id: &str) -> Option<NetworkRecord> {
        self.map().get(id).cloned()
    }

    /// Loads the records at start-up.
    pub fn load(&self, store: &dyn Store) -> Result<()> {
        let mut map = self.map();
        for (id, value) in store.list(Table::Networks)? {
            match serde_json::from_slice::<NetworkRecord>(&value) {
                Ok(n) => {
                    map.insert(id, n);
                }
                Err(e) => tracing::error!("network {id}: unreadable record: {e}"),
            }
        }
        Ok(())
    }

    /// Writes records in one transaction and updates the in-memory view.
    pub fn persist(&self, store: &dyn Store, recs: &[&NetworkRecord]) -> Result<()> {
        let mut ops = Vec::new();
        for r in recs {
            ops.push(Op::Put {
                table: Table::Networks,
                key: r.id.clone(),
                value: serde_json::to_vec(r).map_err(|e| DaemonError::Other(e.to_string()))?,
            });
        }
        store
            .apply(ops)?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))?;
        let mut map = self.map();
        for r in recs {
            map.insert(r.id.clone(), (*r).clone());
        }
        Ok(())
    }

    pub fn delete(&self, store: &dyn Store, id: &str) -> Result<()> {
        store
            .apply(vec![Op::Delete {
                table: Table::Networks,
                key: id.to_string(),
            }])?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))?;
        self.map().remove(id);
        Ok(())
    }

    /// Runs `f` on a network's record under the map lock and persists the result; the
    /// record in memory changes only if the write succeeded.
    pub fn update<T>(
        &self,
        store: &dyn Store,
        id: &str,
        f: impl FnOnce(&mut NetworkRecord) -> std::result::Result<T, ApiError>,
    ) -> Result<T> {
        let mut map = self.map();
        let cur = map
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("network {id} not found")))?;
        let mut next = cur;
        let out = f(&mut next)?;
        store
            .apply(vec![Op::Put {
                table: Table::Networks,
                key: next.id.clone(),
                value: serde_json::to_vec(&next).map_err(|e| DaemonError::Other(e.to_string()))?,
            }])?
            .map_err(|r| DaemonError::Other(format!("unexpected conflict: {r:?}")))?;
        map.insert(next.id.clone(), next);
        Ok(out)
    }

    /// The default bridge network, if the daemon has one.
    pub fn default_bridge(&self) -> Option<NetworkRecord> {
        self.map().values().find(|n| n.is_default_bridge()).cloned()
    }

    /// Subnets of every bridge network (to keep new ones from overlapping).
    pub fn subnets(&self) -> Vec<Ipv4Net> {
        self.map().values().filter_map(|n| n.subnet()).collect()
    }
}

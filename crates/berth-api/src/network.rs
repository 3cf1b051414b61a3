//! Networks: `/networks/*` bodies and the endpoint settings containers carry.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One address pool of a network (`IPAM.Config[]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::de::null_default"
    )]
    pub subnet: String,
    #[serde(
        default,
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::de::null_default"
    )]
    pub ip_range: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::de::null_default"
    )]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// `IPAM` of a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub driver: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub config: Option<Vec<IpamConfig>>,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    pub name: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub scope: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub attachable: bool,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub ingress: bool,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub config_only: bool,
    /// `{"Network": "<config-only network>"}` (`--config-from`).
    #[serde(default)]
    pub config_from: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(default, rename = "EnableIPv4")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateResponse {
    pub id: String,
    pub warning: String,
}

/// A container as a network lists it (`Containers` in network inspect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `GET /networks/{id}` and one row of `GET /networks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: BTreeMap<String, String>,
    pub config_only: bool,
    pub containers: BTreeMap<String, NetworkContainer>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `IPAMConfig` of an endpoint (the addresses a user asked for).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointIpamConfig {
    #[serde(
        default,
        rename = "IPv4Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    #[serde(
        default,
        rename = "IPv6Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    #[serde(
        default,
        rename = "LinkLocalIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub link_local_ips: Option<Vec<String>>,
}

/// `EndpointSettings`: what a container has (or asks for) on one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub mac_address: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub gw_priority: i64,
    #[serde(
        default,
        rename = "NetworkID",
        deserialize_with = "crate::de::null_default"
    )]
    pub network_id: String,
    #[serde(
        default,
        rename = "EndpointID",
        deserialize_with = "crate::de::null_default"
    )]
    pub endpoint_id: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub gateway: String,
    #[serde(
        default,
        rename = "IPAddress",
        deserialize_with = "crate::de::null_default"
    )]
    pub ip_address: String,
    #[serde(
        default,
        rename = "IPPrefixLen",
        deserialize_with = "crate::de::null_default"
    )]
    pub ip_prefix_len: i64,
    #[serde(
        default,
        rename = "IPv6Gateway",
        deserialize_with = "crate::de::null_default"
    )]
    pub ipv6_gateway: String,
    #[serde(
        default,
        rename = "GlobalIPv6Address",
        deserialize_with = "crate::de::null_default"
    )]
    pub global_ipv6_address: String,
    #[serde(
        default,
        rename = "GlobalIPv6PrefixLen",
        deserialize_with = "crate::de::null_default"
    )]
    pub global_ipv6_prefix_len: i64,
    #[serde(default, rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `NetworkingConfig` of a create request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkingConfig {
    #[serde(default)]
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointSettings>>>,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    pub container: String,
    #[serde(default)]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDisconnectRequest {
    pub container: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub force: bool,
}

/// `POST /networks/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneResponse {
    pub networks_deleted: Option<Vec<String>>,
}

/// One published port binding (`HostConfig.PortBindings` and `NetworkSettings.Ports`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub host_ip: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub host_port: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_decode_like_go() {
        // What docker-py 7.1 sends for networks.create(ipam=IPAMConfig(pool_configs=[...])).
        let body = r#"{"Name": "n", "Driver": "bridge", "Options": null, "IPAM": {"Driver": "default",
            "Config": [{"Subnet": "10.1.0.0/24", "IPRange": null, "Gateway": null,
            "AuxiliaryAddresses": null}], "Options": null}, "Internal": false, "Labels": null,
            "EnableIPv6": null, "Attachable": null, "Scope": null, "Ingress": null}"#;
        let r: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        let cfg = &r.ipam.unwrap().config.unwrap()[0];
        assert_eq!(cfg.subnet, "10.1.0.0/24");
        assert_eq!(cfg.gateway, "");
        assert!(!r.attachable);
    }
}

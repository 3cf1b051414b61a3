//! Network endpoints (`/networks/...`), with the request and answer shapes of
//! Engine API 1.50 (`Network`, `NetworkCreateRequest`, `EndpointSettings`...).
//!
//! The types are kept here, loose (every field defaulted), so the CLI works against
//! any Docker-compatible daemon; inspect keeps the daemon's raw JSON.

use crate::{query, seg, Bytes, Client, Result};
use berth_api::filters::Filters;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One IPAM pool of a network (`IPAMConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    #[serde(rename = "Subnet", default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(rename = "IPRange", default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(rename = "Gateway", default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(
        rename = "AuxiliaryAddresses",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: BTreeMap<String, String>,
}

/// A network's address management (`IPAM`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ipam {
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Config", default, deserialize_with = "null_default")]
    pub config: Vec<IpamConfig>,
    #[serde(rename = "Options", default, deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
}

/// A network as `GET /networks` and `GET /networks/{id}` describe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkSummary {
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    /// RFC 3339 (nano) time text.
    #[serde(rename = "Created", default)]
    pub created: String,
    #[serde(rename = "Scope", default)]
    pub scope: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "EnableIPv4", default)]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM", default, deserialize_with = "null_default")]
    pub ipam: Ipam,
    #[serde(rename = "Internal", default)]
    pub internal: bool,
    #[serde(rename = "Attachable", default)]
    pub attachable: bool,
    #[serde(rename = "Ingress", default)]
    pub ingress: bool,
    #[serde(rename = "ConfigOnly", default)]
    pub config_only: bool,
    #[serde(rename = "Options", default, deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels", default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// `ConfigFrom` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigReference {
    #[serde(rename = "Network")]
    pub network: String,
}

/// `POST /networks/create` body (`NetworkCreateRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkCreateRequest {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Scope", skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    #[serde(rename = "ConfigFrom", skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// The answer to a create.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkCreateResponse {
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Warning", default, deserialize_with = "null_default")]
    pub warning: String,
}

/// `EndpointIPAMConfig`: the addresses asked for on connect.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
}

/// The configuration part of `EndpointSettings`, as `docker network connect` sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointConfig {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: EndpointIpamConfig,
    #[serde(rename = "Links")]
    pub links: Vec<String>,
    #[serde(rename = "Aliases")]
    pub aliases: Vec<String>,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(rename = "GwPriority")]
    pub gw_priority: i64,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkConnectRequest {
    #[serde(rename = "Container")]
    pub container: String,
    #[serde(rename = "EndpointConfig")]
    pub endpoint_config: EndpointConfig,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkDisconnectRequest {
    #[serde(rename = "Container")]
    pub container: String,
    #[serde(rename = "Force")]
    pub force: bool,
}

/// The answer to `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkPruneResponse {
    #[serde(rename = "NetworksDeleted", default, deserialize_with = "null_default")]
    pub networks_deleted: Vec<String>,
}

fn filters_query(filters: &Filters) -> String {
    query(&[("filters", (!filters.is_empty()).then(|| filters.to_json()))])
}

/// The path of `GET /networks/{id}`.
pub fn inspect_path(name: &str, verbose: bool) -> String {
    format!(
        "/networks/{}{}",
        seg(name),
        query(&[("verbose", verbose.then(|| "true".to_string()))])
    )
}

impl Client {
    pub async fn list_networks(&self, filters: &Filters) -> Result<Vec<NetworkSummary>> {
        let v: Option<Vec<NetworkSummary>> = self
            .get_json(&format!("/networks{}", filters_query(filters)))
            .await?;
        Ok(v.unwrap_or_default())
    }

    pub async fn inspect_network(&self, name: &str) -> Result<NetworkSummary> {
        self.get_json(&inspect_path(name, false)).await
    }

    /// Inspect as the daemon's raw JSON (key order kept for printing).
    pub async fn inspect_network_raw(&self, name: &str, verbose: bool) -> Result<Bytes> {
        self.get_raw(&inspect_path(name, verbose)).await
    }

    pub async fn create_network(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse> {
        self.post_json("/networks/create", req).await
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        self.delete(&format!("/networks/{}", seg(name))).await
    }

    pub async fn connect_network(&self, network: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.post_json_empty(&format!("/networks/{}/connect", seg(network)), req)
            .await?;
        Ok(())
    }

    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let req = NetworkDisconnectRequest {
            container: container.to_string(),
            force,
        };
        self.post_json_empty(&format!("/networks/{}/disconnect", seg(network)), &req)
            .await?;
        Ok(())
    }

    pub async fn prune_networks(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        let v: Option<NetworkPruneResponse> = self
            .post_json(
                &format!("/networks/prune{}", filters_query(filters)),
                &serde_json::Value::Null,
            )
            .await?;
        Ok(v.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_request_json() {
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        let r = NetworkCreateRequest {
            name: "n1".into(),
            driver: "bridge".into(),
            enable_ipv6: Some(true),
            ipam: Some(Ipam {
                driver: "default".into(),
                config: vec![IpamConfig {
                    subnet: "10.5.0.0/16".into(),
                    gateway: "10.5.0.1".into(),
                    ..Default::default()
                }],
                options: BTreeMap::new(),
            }),
            internal: true,
            labels,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"Name":"n1","Driver":"bridge","EnableIPv6":true,
                "IPAM":{"Driver":"default","Config":[{"Subnet":"10.5.0.0/16","Gateway":"10.5.0.1"}],"Options":{}},
                "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,
                "Options":{},"Labels":{"a":"b"}})
        );
    }

    #[test]
    fn connect_request_json() {
        let r = NetworkConnectRequest {
            container: "web".into(),
            endpoint_config: EndpointConfig {
                ipam_config: EndpointIpamConfig {
                    ipv4_address: "10.5.0.9".into(),
                    ..Default::default()
                },
                aliases: vec!["db".into()],
                ..Default::default()
            },
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"Container":"web","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.5.0.9"},
                "Links":[],"Aliases":["db"],"DriverOpts":{},"GwPriority":0}})
        );
        assert_eq!(
            serde_json::to_value(NetworkDisconnectRequest {
                container: "web".into(),
                force: true
            })
            .unwrap(),
            json!({"Container":"web","Force":true})
        );
    }

    #[test]
    fn decodes_network_with_nulls() {
        let n: NetworkSummary = serde_json::from_value(json!({
            "Name":"bridge","Id":"abc","Created":"2024-01-02T03:04:05.5Z","Scope":"local","Driver":"bridge",
            "EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":null},
            "Internal":false,"Containers":{},"Options":null,"Labels":null,"Extra":1
        }))
        .unwrap();
        assert_eq!(n.id, "abc");
        assert!(n.labels.is_empty() && n.ipam.config.is_empty());
        let p: NetworkPruneResponse =
            serde_json::from_value(json!({"NetworksDeleted":null})).unwrap();
        assert!(p.networks_deleted.is_empty());
        assert_eq!(inspect_path("a b", true), "/networks/a%20b?verbose=true");
    }
}

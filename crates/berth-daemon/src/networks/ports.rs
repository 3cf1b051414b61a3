//! Published ports: what `-p`/`-P` ask for, the host ports reserved for a running
//! container, and the DNAT rules that carry traffic to it.
//!
//! A host port is reserved by holding a bound socket on it for as long as the container
//! runs (as dockerd does), so a conflict with any process on the host — or another
//! container — is found before the container starts, and nothing else can take the port
//! while the rules point at the container. Traffic itself never touches that socket: the
//! DNAT rules rewrite it before the socket lookup.

use berth_api::network::PortBinding;
use berth_api::ApiError;
use berth_net::firewall::{GatewayMode, PortRule, Proto};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A container port as the API keys it: `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Proto,
}

impl ContainerPort {
    /// Parses `80`, `80/tcp`, `53/udp`; `sctp` is refused (no SCTP NAT here).
    pub fn parse(key: &str) -> Result<ContainerPort, ApiError> {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" | "" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => {
                return Err(ApiError::invalid(format!(
                    "invalid proto '{other}' in port spec {key}: berth publishes tcp and udp ports"
                )))
            }
        };
        let port: u16 =
            port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                ApiError::invalid(format!("invalid port specification: \"{key}\""))
            })?;
        Ok(ContainerPort { port, proto })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.port, proto_name(self.proto))
    }
}

pub fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// One binding asked for: a host address (None = all) and a host port range (0 = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub container: ContainerPort,
    pub host_ip: Option<Ipv4Addr>,
    pub host_ports: (u16, u16),
}

fn parse_host_ports(s: &str, key: &str) -> Result<(u16, u16), ApiError> {
    let bad = || ApiError::invalid(format!("invalid port specification: \"{s}\" (port {key})"));
    if s.is_empty() {
        return Ok((0, 0));
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// Everything a container asks to publish: its `PortBindings`, plus every exposed port
/// without a binding when `PublishAllPorts` is set. IPv6 host addresses are skipped (this
/// engine publishes on IPv4).
pub fn requests(
    bindings: Option<&berth_api::container::PortMap>,
    exposed: Option<&BTreeMap<String, Value>>,
    publish_all: bool,
) -> Result<Vec<Request>, ApiError> {
    let mut out = Vec::new();
    let mut bound = std::collections::BTreeSet::new();
    if let Some(map) = bindings {
        for (key, list) in map {
            let cp = ContainerPort::parse(key)?;
            bound.insert(cp);
            let list: Vec<PortBinding> = match list {
                None => vec![PortBinding::default()],
                Some(l) => l.clone(),
            };
            for b in list {
                let host_ip = match b.host_ip.trim_matches(['[', ']']) {
                    "" | "0.0.0.0" => None,
                    "::" => continue,
                    ip => match ip.parse::<Ipv4Addr>() {
                        Ok(a) => Some(a),
                        Err(_) if ip.parse::<std::net::Ipv6Addr>().is_ok() => continue,
                        Err(_) => {
                            return Err(ApiError::invalid(format!(
                                "invalid host IP address: {}",
                                b.host_ip
                            )))
                        }
                    },
                };
                out.push(Request {
                    container: cp,
                    host_ip,
                    host_ports: parse_host_ports(&b.host_port, key)?,
                });
            }
        }
    }
    if publish_all {
        for key in exposed.map(|m| m.keys()).into_iter().flatten() {
            let cp = ContainerPort::parse(key)?;
            if bound.insert(cp) {
                out.push(Request {
                    container: cp,
                    host_ip: None,
                    host_ports: (0, 0),
                });
            }
        }
    }
    Ok(out)
}

/// The ports a running container holds, and the rules that point at it.
pub struct Published {
    pub rules: Vec<PortRule>,
    /// `NetworkSettings.Ports` (with exposed, unpublished ports as `null`).
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    _reservations: Vec<Reservation>,
}

enum Reservation {
    Tcp(#[allow(dead_code)] std::net::TcpListener),
    Udp(#[allow(dead_code)] std::net::UdpSocket),
}

fn reserve(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<(Reservation, u16)> {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        Proto::Tcp => {
            // Bound, never accepting: TcpListener is the std type that binds; the backlog
            // is never served because DNAT takes every connection first.
            let l = std::net::TcpListener::bind(addr)?;
            let p = l.local_addr()?.port();
            Ok((Reservation::Tcp(l), p))
        }
        Proto::Udp => {
            let s = std::net::UdpSocket::bind(addr)?;
            let p = s.local_addr()?.port();
            Ok((Reservation::Udp(s), p))
        }
    }
}

/// Reserves the first free host port of a request's range, with dockerd's message when
/// none is free.
fn reserve_range(r: &Request) -> Result<(Reservation, u16), ApiError> {
    let ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    if r.host_ports.0 == 0 {
        reserve(r.container.proto, ip, 0)
    } else {
        let mut last = None;
        let mut got = None;
        for p in r.host_ports.0..=r.host_ports.1 {
            match reserve(r.container.proto, ip, p) {
                Ok(x) => {
                    got = Some(x);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match got {
            Some(x) => Ok(x),
            None => Err(last.unwrap_or_else(|| std::io::Error::other("no port"))),
        }
    }
    .map_err(|e| {
        let shown = if r.host_ports.0 == r.host_ports.1 {
            r.host_ports.0.to_string()
        } else {
            format!("{}-{}", r.host_ports.0, r.host_ports.1)
        };
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "port is already allocated".to_string()
        } else {
            e.to_string()
        };
        ApiError::system(format!("Bind for {ip}:{shown} failed: {why}"))
    })
}

/// Reserves host ports for `requests` and builds the rules to `container_ip` on `bridge`.
/// Fails with dockerd's message when a port is taken; nothing stays reserved then.
///
/// On a `routed` network nothing is translated: the container port is opened at the
/// container's own address, no host port is reserved, and the binding reads
/// `0.0.0.0:0` (moby 28: "Host port ignored, because NAT is disabled").
pub fn publish(
    requests: &[Request],
    exposed: Option<&BTreeMap<String, Value>>,
    container_ip: Ipv4Addr,
    bridge: &str,
    mode: GatewayMode,
) -> Result<Published, ApiError> {
    let mut rules = Vec::new();
    let mut ports: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    let mut held = Vec::new();
    for key in exposed.map(|m| m.keys()).into_iter().flatten() {
        if let Ok(cp) = ContainerPort::parse(key) {
            ports.entry(cp.key()).or_insert(None);
        }
    }
    for r in requests {
        // Routed: nothing translated, nothing reserved; the binding reads 0.0.0.0:0.
        let (host_ip, port) = if mode == GatewayMode::Routed {
            if r.host_ports.0 != 0 || r.host_ip.is_some() {
                tracing::info!(
                    "{}: host address and port ignored, because NAT is disabled (routed network)",
                    r.container.key()
                );
            }
            (None, 0)
        } else {
            let (res, port) = reserve_range(r)?;
            held.push(res);
            (r.host_ip, port)
        };
        rules.push(PortRule {
            proto: r.container.proto,
            host_ip,
            host_port: port,
            container_ip,
            container_port: r.container.port,
            bridge: bridge.to_string(),
        });
        ports
            .entry(r.container.key())
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                host_port: port.to_string(),
            });
    }
    Ok(Published {
        rules,
        ports,
        _reservations: held,
    })
}

/// `Ports` of a container list row from its `NetworkSettings.Ports`.
pub fn summary(
    ports: &BTreeMap<String, Option<Vec<PortBinding>>>,
) -> Vec<berth_api::container::Port> {
    use berth_api::container::Port;
    let mut out = Vec::new();
    for (key, binds) in ports {
        let Ok(cp) = ContainerPort::parse(key) else {
            continue;
        };
        match binds {
            Some(list) if !list.is_empty() => {
                for b in list {
                    out.push(Port {
                        ip: b.host_ip.clone(),
                        private_port: cp.port,
                        public_port: b.host_port.parse::<u16>().unwrap_or(0),
                        kind: proto_name(cp.proto).to_string(),
                    });
                }
            }
            _ => out.push(Port {
                private_port: cp.port,
                kind: proto_name(cp.proto).to_string(),
                ..Default::default()
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bindings_and_publish_all() {
        let map = |v: serde_json::Value| -> berth_api::container::PortMap {
            serde_json::from_value(v).unwrap()
        };
        let b = map(serde_json::json!({
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}, {"HostIp": "::", "HostPort": "53"}],
            "9000": [{"HostIp": "", "HostPort": "9000-9010"}],
        }));
        let exposed = BTreeMap::from([
            ("80/tcp".to_string(), serde_json::json!({})),
            ("443/tcp".to_string(), serde_json::json!({})),
        ]);
        let r = requests(Some(&b), Some(&exposed), true).unwrap();
        assert_eq!(r.len(), 4);
        assert!(r.contains(&Request {
            container: ContainerPort {
                port: 53,
                proto: Proto::Udp
            },
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: (0, 0)
        }));
        assert!(r.iter().any(|x| x.host_ports == (9000, 9010)));
        assert!(r
            .iter()
            .any(|x| x.container.port == 443 && x.host_ports == (0, 0)));
        assert!(requests(Some(&map(serde_json::json!({"x/tcp": null}))), None, false).is_err());
        assert!(requests(
            Some(&map(serde_json::json!({"80/sctp": null}))),
            None,
            false
        )
        .is_err());
    }

    #[test]
    fn a_taken_port_is_refused_like_docker() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let r = vec![Request {
            container: ContainerPort {
                port: 80,
                proto: Proto::Tcp,
            },
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: (port, port),
        }];
        let nat = GatewayMode::Nat;
        let e = publish(&r, None, Ipv4Addr::new(10, 0, 0, 2), "br0", nat)
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        let ok = publish(
            &[Request {
                host_ports: (0, 0),
                ..r[0].clone()
            }],
            None,
            Ipv4Addr::new(10, 0, 0, 2),
            "br0",
            nat,
        )
        .unwrap();
        assert_eq!(ok.rules.len(), 1);
        assert_ne!(ok.rules[0].host_port, 0);
        let s = summary(&ok.ports);
        assert_eq!(s[0].private_port, 80);
        // Routed: the taken host port does not matter, nothing is reserved or translated.
        let routed = publish(
            &r,
            None,
            Ipv4Addr::new(10, 0, 0, 2),
            "br0",
            GatewayMode::Routed,
        )
        .unwrap();
        assert_eq!(routed.rules[0].host_port, 0);
        assert_eq!(routed.ports["80/tcp"].as_ref().unwrap()[0].host_port, "0");
    }
}

//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports of a container,
//! read from `NetworkSettings.Ports` of its inspect, in docker's words and order.

use super::super::{CliResult, Ctx, Fail};
use super::parse;
use clap::Parser;
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Parser)]
#[command(
    name = "port",
    bin_name = "berth port",
    override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
    about = "List port mappings or a specific mapping for the container"
)]
struct PortArgs {
    args: Vec<String>,
}

/// Go's `net.JoinHostPort`: brackets hosts that contain a colon.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `sortorder.NaturalLess`: digit runs compare as numbers, digits sort before others.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (s1, s2) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < s1.len() && j < s2.len() {
        let (c1, c2) = (s1[i], s2[j]);
        let (d1, d2) = (c1.is_ascii_digit(), c2.is_ascii_digit());
        if d1 != d2 {
            return if d1 {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !d1 {
            if c1 != c2 {
                return c1.cmp(&c2);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < s1.len() && s1[i] == b'0' {
            i += 1;
        }
        while j < s2.len() && s2[j] == b'0' {
            j += 1;
        }
        let (nz1, nz2) = (i, j);
        while i < s1.len() && s1[i].is_ascii_digit() {
            i += 1;
        }
        while j < s2.len() && s2[j].is_ascii_digit() {
            j += 1;
        }
        let (l1, l2) = (i - nz1, j - nz2);
        if l1 != l2 {
            return l1.cmp(&l2);
        }
        if s1[nz1..i] != s2[nz2..j] {
            return s1[nz1..i].cmp(&s2[nz2..j]);
        }
        if nz1 != nz2 {
            return nz1.cmp(&nz2);
        }
    }
    s1.len().cmp(&s2.len())
}

/// `HostIp:HostPort` texts of one list of port bindings.
fn frontends(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|b| {
                    let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
                    let port = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
                    join_host_port(ip, port)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The lines docker prints for `port` given the container's `NetworkSettings.Ports`
/// map; `Err` carries docker's error text.
pub fn port_lines(
    ports: &Value,
    container: &str,
    want: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    match want {
        Some(w) => {
            let (port, proto) = w.split_once('/').unwrap_or((w, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if port.parse::<u16>().is_err() {
                let why = if port.is_empty() || port.bytes().any(|c| !c.is_ascii_digit()) {
                    "invalid syntax"
                } else {
                    "value out of range"
                };
                return Err(format!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": {why}"
                ));
            }
            let found = ports
                .get(format!("{port}/{proto}"))
                .map(frontends)
                .unwrap_or_default();
            if found.is_empty() {
                return Err(format!(
                    "Error: No public port '{w}' published for {container}"
                ));
            }
            out = found;
        }
        None => {
            if let Some(m) = ports.as_object() {
                for (from, v) in m {
                    for f in frontends(v) {
                        out.push(format!("{from} -> {f}"));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

pub async fn port(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PortArgs = parse(args)?;
    if a.args.is_empty() || a.args.len() > 2 {
        // cobra's RangeArgs(1, 2)
        return Err(Fail::new(
            "berth: 'berth port' requires at least 1 and at most 2 arguments\n\nUsage:  berth port CONTAINER [PRIVATE_PORT[/PROTO]]\n\nRun 'berth port --help' for more information",
            1,
        ));
    }
    let name = &a.args[0];
    let c = ctx.client.inspect_container_value(name, false).await?;
    let ports = c
        .get("NetworkSettings")
        .and_then(|n| n.get("Ports"))
        .cloned()
        .unwrap_or(Value::Null);
    let lines =
        port_lines(&ports, name, a.args.get(1).map(String::as_str)).map_err(|e| Fail::new(e, 1))?;
    if !lines.is_empty() {
        println!("{}", lines.join("\n"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn natural_order() {
        let mut v = vec!["net10", "net2", "net1", "a", "net02"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "net1", "net2", "net02", "net10"]);
        assert_eq!(natural_cmp("1", "a"), Ordering::Less);
    }

    #[test]
    fn lines() {
        let ports = json!({
            "80/tcp": [{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
            "443/tcp": null,
            "9000/tcp": [{"HostIp":"0.0.0.0","HostPort":"9000"}],
            "53/udp": [{"HostIp":"127.0.0.1","HostPort":"5353"}]
        });
        assert_eq!(
            port_lines(&ports, "web", None).unwrap(),
            [
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "9000/tcp -> 0.0.0.0:9000"
            ]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("80")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("53/udp")).unwrap(),
            ["127.0.0.1:5353"]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("443/tcp")).unwrap_err(),
            "Error: No public port '443/tcp' published for web"
        );
        assert_eq!(
            port_lines(&ports, "web", Some("81")).unwrap_err(),
            "Error: No public port '81' published for web"
        );
        assert_eq!(
            port_lines(&ports, "web", Some("x/tcp")).unwrap_err(),
            "Error: invalid port (x): strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert!(port_lines(&Value::Null, "web", None).unwrap().is_empty());
    }
}

//! NAT, published ports and network isolation with nftables, through the `nft` tool.
//!
//! All of berth's rules live in one table of family `ip` (IPv4), rebuilt whole from a
//! [`FirewallPlan`] on every change: `apply` feeds `nft -f -` a script that creates the
//! table (so the delete cannot fail), deletes it and defines it again. nft runs a
//! script as one transaction, so the kernel switches from the old rule set to the new
//! one atomically and a failed apply leaves the old one in place.
//!
//! Chains and priorities. Every base chain has policy `accept`: other engines' traffic
//! (a Docker on the same host keeps its own iptables tables) passes our chains
//! untouched; we only ever `drop` our own bridges' traffic, and a drop is final in
//! any table, whereas an accept only ends our chain. The priorities are the standard
//! ones iptables-nft uses for the same hooks (`dstnat` -100, `srcnat` 100, `filter`
//! 0; the output hook's -100 is written as a number because nft 1.0.6 accepts the
//! name `dstnat` only on prerouting), so our chains run at the same point as Docker's `nat`/`filter` chains and
//! neither sees the other half-translated. For NAT only the first chain that
//! translates a connection counts; Docker's rules never match our bridges' subnets or
//! our ports, so the order between equal priorities does not matter.
//!
//! - `direct_access` (filter, hook prerouting, priority raw, before routing and NAT): on
//!   `nat` networks, packets to the subnet (but its gateway) that did not come in through
//!   the network's bridge are dropped, so a host that routes the subnet through this one
//!   reaches published ports at the host's addresses only (moby 28); on every bridge,
//!   packets to 127.0.0.0/8 are dropped (`route_localnet` is on there).
//! - `prerouting` (nat, dstnat) and `output` (nat, hook output, for connections from
//!   the host itself, 127.0.0.1 included) jump to `ports` for packets to a local
//!   address (`fib daddr type local`); `ports` DNATs each published port.
//! - `postrouting` (nat, srcnat): masquerade 127.0.0.0/8 sources leaving through a
//!   bridge (localhost DNAT; the bridge needs `route_localnet`), masquerade each
//!   non-internal subnet leaving through any other interface (when masquerading is
//!   on), and hairpin: masquerade DNATed connections from a subnet back into its own
//!   bridge, so a container reaching a published port of its neighbour (or itself)
//!   gets answers through the host.
//! - `forward` (filter): internal networks forward nothing in or out of their bridge;
//!   DNATed connections (published ports) are let through; other traffic between two
//!   berth bridges is dropped (isolation); `icc = false` drops bridge-to-same-bridge
//!   forwarding (seen only with `br_netfilter` loaded; without it, the daemon marks the
//!   network's bridge ports isolated, see [`crate::link::Netlink::isolate_port`]); then,
//!   into each bridge from elsewhere: answers to its containers' connections, on `routed`
//!   networks ICMP and the published container ports (the regular `published` chain), and
//!   nothing else (`nat-unprotected` networks take everything).
//!
//! A Docker engine on the same host sets the iptables `FORWARD` policy to drop; its chain
//! would then drop our forwarded traffic whatever our table says. Docker's documented
//! way to let other bridges through is its `DOCKER-USER` chain: [`allow_through_docker`]
//! puts an accept for each of our bridges there when that chain exists (and
//! [`withdraw_from_docker`] takes them out again); Docker never flushes that chain.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::ipam::Ipv4Net;

/// Errors of applying or deleting the rule table.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The `nft` tool could not be run.
    #[error("run nft for table {table}: {source}")]
    Spawn {
        /// The table being changed.
        table: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// nft rejected the script; `stderr` is its explanation.
    #[error("nft rejected rules for table {table}: {stderr}")]
    Nft {
        /// The table being changed.
        table: String,
        /// nft's error output.
        stderr: String,
    },
    /// A name that cannot be put in an nft script safely.
    #[error("invalid name {0:?} in firewall plan")]
    InvalidName(String),
}

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// How traffic from outside the host reaches a network's containers
/// (`com.docker.network.bridge.gateway_mode_ipv4`, moby 28's gateway modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayMode {
    /// Masquerade out, published ports through the host's addresses only: packets sent
    /// straight to a container's address by a host that routes the subnet through this one
    /// are dropped before routing, unpublished ports are closed to forwarded traffic.
    #[default]
    Nat,
    /// As `nat`, without the protection: a routing peer reaches every port of every
    /// container (Docker ≤ 27's behaviour).
    NatUnprotected,
    /// No NAT at all: containers keep their addresses on the way out, published ports are
    /// reached at the container's own address (the host port is ignored), ICMP passes,
    /// everything else from outside is dropped.
    Routed,
    /// Only with `--internal`: no gateway, nothing in or out.
    Isolated,
}

impl GatewayMode {
    /// Parses a gateway mode option's value, with moby's explanation when it is unknown.
    pub fn parse(value: &str) -> Result<GatewayMode, String> {
        match value {
            "" | "nat" => Ok(GatewayMode::Nat),
            "nat-unprotected" => Ok(GatewayMode::NatUnprotected),
            "routed" => Ok(GatewayMode::Routed),
            "isolated" => Ok(GatewayMode::Isolated),
            other => Err(format!("unknown gateway mode {other}")),
        }
    }
}

/// The rules of one bridge network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRule {
    /// Bridge interface name.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// The bridge's own address: a host address, reachable as any other (the default
    /// bridge's is `host-gateway` for containers of every network).
    pub gateway: Ipv4Addr,
    /// How the outside reaches the network.
    #[serde(default)]
    pub gateway_mode: GatewayMode,
    /// No traffic in or out of the bridge, no masquerading (`--internal`).
    pub internal: bool,
    /// Masquerade traffic leaving the host (`com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
    /// Inter-container communication on this bridge (`com.docker.network.bridge.enable_icc`).
    pub icc: bool,
}

/// One published port: host `host_ip:host_port` → `container_ip:container_port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRule {
    /// TCP or UDP.
    pub proto: Proto,
    /// Host address to accept on; `None` (or 0.0.0.0) for every local address.
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The container's port.
    pub container_port: u16,
    /// The bridge the container sits on.
    pub bridge: String,
}

/// Everything berth wants in its table; rendered whole by [`FirewallPlan::script`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallPlan {
    /// Table name (family `ip`).
    pub table: String,
    /// Bridge networks.
    pub networks: Vec<NetworkRule>,
    /// Published ports.
    pub ports: Vec<PortRule>,
}

fn valid_table(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether an interface name can be a bridge of ours: the kernel's 15-byte limit, and only
/// characters that need no quoting anywhere (nft scripts, sysctl paths, ip commands).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl FirewallPlan {
    /// Checks that every name can be quoted into a script.
    pub fn validate(&self) -> Result<(), FirewallError> {
        if !valid_table(&self.table) {
            return Err(FirewallError::InvalidName(self.table.clone()));
        }
        let bridges = self.networks.iter().map(|n| &n.bridge);
        for b in bridges.chain(self.ports.iter().map(|p| &p.bridge)) {
            if !valid_ifname(b) {
                return Err(FirewallError::InvalidName(b.clone()));
            }
        }
        Ok(())
    }

    fn mode_of(&self, bridge: &str) -> GatewayMode {
        self.networks
            .iter()
            .find(|n| n.bridge == bridge)
            .map_or(GatewayMode::Nat, |n| n.gateway_mode)
    }

    /// DNAT rules of the ports published through the host's addresses (not `routed`).
    fn port_rules(&self) -> Vec<String> {
        self.ports
            .iter()
            .filter(|p| self.mode_of(&p.bridge) != GatewayMode::Routed)
            .map(|p| {
                let daddr = match p.host_ip {
                    Some(ip) if !ip.is_unspecified() => format!("ip daddr {ip} "),
                    _ => String::new(),
                };
                format!(
                    "{daddr}{} dport {} dnat to {}:{}",
                    p.proto.as_str(),
                    p.host_port,
                    p.container_ip,
                    p.container_port
                )
            })
            .collect()
    }

    /// Forward accepts of the ports published on `routed` networks: reached at the
    /// container's own address, from anywhere but its own bridge.
    fn routed_port_rules(&self) -> Vec<String> {
        self.ports
            .iter()
            .filter(|p| self.mode_of(&p.bridge) == GatewayMode::Routed)
            .map(|p| {
                format!(
                    "oifname \"{b}\" iifname != \"{b}\" ip daddr {} {} dport {} accept",
                    p.container_ip,
                    p.proto.as_str(),
                    p.container_port,
                    b = p.bridge
                )
            })
            .collect()
    }

    /// The nft script that refills only the `ports` and `published` chains (one
    /// transaction). Replacing the whole table re-registers its base chains' hooks, which
    /// costs ~20 ms of RCU grace periods; a regular chain's flush and refill costs about
    /// what starting nft does.
    pub fn ports_script(&self) -> String {
        let t = &self.table;
        let mut s = format!("flush chain ip {t} ports\nflush chain ip {t} published\n");
        for r in self.port_rules() {
            let _ = writeln!(s, "add rule ip {t} ports {r}");
        }
        for r in self.routed_port_rules() {
            let _ = writeln!(s, "add rule ip {t} published {r}");
        }
        s
    }

    /// The nft script that replaces the table atomically (pure, deterministic).
    pub fn script(&self) -> String {
        let t = &self.table;
        let mut s = format!("table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{\n");
        let rule = |s: &mut String, r: &str| {
            let _ = writeln!(s, "\t\t{r}");
        };

        // Before routing and before NAT (raw priority): packets for a container's address
        // that did not come in through its bridge are dropped on `nat` networks (moby 28's
        // direct-access protection; published ports are reached through the host's
        // addresses, which this does not see); and nothing from a bridge may be addressed
        // to 127.0.0.0/8 (route_localnet is on there for localhost DNAT, so a container
        // could otherwise reach ports the host published on 127.0.0.1).
        s.push_str(
            "\tchain direct_access {\n\t\ttype filter hook prerouting priority raw; policy accept;\n",
        );
        for n in &self.networks {
            let b = &n.bridge;
            if !n.internal && n.gateway_mode == GatewayMode::Nat {
                rule(
                    &mut s,
                    &format!(
                        "iifname != \"{b}\" ip daddr {} ip daddr != {} drop",
                        n.subnet.network(),
                        n.gateway
                    ),
                );
            }
            rule(
                &mut s,
                &format!("iifname \"{b}\" ip daddr 127.0.0.0/8 drop"),
            );
        }
        s.push_str("\t}\n");

        // The jumps are there even with no port published: `ports` is refilled on its
        // own (see `ports_script`), without touching the base chains.
        s.push_str(
            "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
        );
        rule(&mut s, "fib daddr type local jump ports");
        s.push_str("\t}\n");
        s.push_str("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
        rule(&mut s, "fib daddr type local jump ports");
        s.push_str("\t}\n");
        s.push_str("\tchain ports {\n");
        for r in self.port_rules() {
            rule(&mut s, &r);
        }
        s.push_str("\t}\n");

        s.push_str("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        for n in self.networks.iter().filter(|n| !n.internal) {
            let (b, net) = (&n.bridge, n.subnet.network());
            rule(
                &mut s,
                &format!("oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade"),
            );
            if n.masquerade && n.gateway_mode != GatewayMode::Routed {
                rule(
                    &mut s,
                    &format!("ip saddr {net} oifname != \"{b}\" masquerade"),
                );
            }
            rule(
                &mut s,
                &format!("ct status dnat ip saddr {net} oifname \"{b}\" masquerade"),
            );
        }
        s.push_str("\t}\n");

        s.push_str(
            "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n",
        );
        for n in self.networks.iter().filter(|n| n.internal) {
            let b = &n.bridge;
            rule(&mut s, &format!("iifname \"{b}\" oifname != \"{b}\" drop"));
            rule(&mut s, &format!("oifname \"{b}\" iifname != \"{b}\" drop"));
        }
        rule(&mut s, "ct status dnat accept");
        if self.networks.len() > 1 {
            for n in &self.networks {
                let others: Vec<String> = self
                    .networks
                    .iter()
                    .filter(|o| o.bridge != n.bridge)
                    .map(|o| format!("\"{}\"", o.bridge))
                    .collect();
                if !others.is_empty() {
                    rule(
                        &mut s,
                        &format!(
                            "iifname \"{}\" oifname {{ {} }} drop",
                            n.bridge,
                            others.join(", ")
                        ),
                    );
                }
            }
        }
        for n in self.networks.iter().filter(|n| !n.icc) {
            let b = &n.bridge;
            rule(&mut s, &format!("iifname \"{b}\" oifname \"{b}\" drop"));
        }
        // What comes from outside a bridge into it: answers to its containers' own
        // connections, then (routed) published ports and ICMP, then nothing else — except
        // on `nat-unprotected` networks, which take everything (moby's DOCKER chain).
        rule(&mut s, "jump published");
        for n in self.networks.iter().filter(|n| !n.internal) {
            let b = &n.bridge;
            match n.gateway_mode {
                GatewayMode::NatUnprotected | GatewayMode::Isolated => continue,
                GatewayMode::Routed => {
                    rule(&mut s, &format!("oifname \"{b}\" ip protocol icmp accept"));
                }
                GatewayMode::Nat => {}
            }
            rule(
                &mut s,
                &format!("oifname \"{b}\" iifname != \"{b}\" ct state established,related accept"),
            );
            rule(&mut s, &format!("oifname \"{b}\" iifname != \"{b}\" drop"));
        }
        s.push_str("\t}\n\tchain published {\n");
        for r in self.routed_port_rules() {
            rule(&mut s, &r);
        }
        s.push_str("\t}\n}\n");
        s
    }
}

fn run_nft(table: &str, args: &[&str], script: &str) -> Result<(), FirewallError> {
    let spawn = |source| FirewallError::Spawn {
        table: table.to_string(),
        source,
    };
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Nft {
            table: table.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Replaces table `ip <plan.table>` with the plan's rules in one nft transaction.
pub fn apply(plan: &FirewallPlan) -> Result<(), FirewallError> {
    plan.validate()?;
    run_nft(&plan.table, &["-f", "-"], &plan.script())
}

/// Refills only the `ports` chain of an existing table (published ports changed, the
/// networks did not). Fails when the table is missing: call [`apply`] then.
pub fn apply_ports(plan: &FirewallPlan) -> Result<(), FirewallError> {
    plan.validate()?;
    run_nft(&plan.table, &["-f", "-"], &plan.ports_script())
}

/// Validates the plan with `nft -c` (check only, nothing changes; needs root).
pub fn check(plan: &FirewallPlan) -> Result<(), FirewallError> {
    plan.validate()?;
    run_nft(&plan.table, &["-c", "-f", "-"], &plan.script())
}

/// Deletes table `ip <table>`; `Ok` if it does not exist.
pub fn delete_table(table: &str) -> Result<(), FirewallError> {
    if !valid_table(table) {
        return Err(FirewallError::InvalidName(table.to_string()));
    }
    run_nft(
        table,
        &["-f", "-"],
        &format!("table ip {table} {{}}\ndelete table ip {table}\n"),
    )
}

/// Runs `iptables` with `args`; true when it exited 0.
fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .args(["-w", "5"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// When a Docker engine shares the host (its `DOCKER-USER` chain exists), makes sure
/// its drop policy lets our bridges' traffic through: `-i <bridge> -j ACCEPT` and
/// `-o <bridge> -j ACCEPT` in `DOCKER-USER`. Best effort, idempotent; returns whether
/// the chain was found.
pub fn allow_through_docker(bridges: &[String]) -> bool {
    if !iptables(&["-S", "DOCKER-USER"]) {
        return false;
    }
    for b in bridges {
        for dir in ["-i", "-o"] {
            let rule = [dir, b.as_str(), "-j", "ACCEPT"];
            let mut check = vec!["-C", "DOCKER-USER"];
            check.extend_from_slice(&rule);
            if !iptables(&check) {
                let mut insert = vec!["-I", "DOCKER-USER"];
                insert.extend_from_slice(&rule);
                iptables(&insert);
            }
        }
    }
    true
}

/// Removes the `DOCKER-USER` accepts [`allow_through_docker`] added for these bridges.
pub fn withdraw_from_docker(bridges: &[String]) {
    if !iptables(&["-S", "DOCKER-USER"]) {
        return;
    }
    for b in bridges {
        for dir in ["-i", "-o"] {
            while iptables(&["-D", "DOCKER-USER", dir, b, "-j", "ACCEPT"]) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(bridge: &str, subnet: &str, internal: bool, icc: bool) -> NetworkRule {
        let subnet: Ipv4Net = subnet.parse().unwrap();
        NetworkRule {
            bridge: bridge.into(),
            subnet,
            gateway: subnet.first_host(),
            gateway_mode: GatewayMode::Nat,
            internal,
            masquerade: true,
            icc,
        }
    }

    fn typical() -> FirewallPlan {
        FirewallPlan {
            table: "berth".into(),
            networks: vec![
                net("berth0", "172.17.0.0/16", false, true),
                net("br-1", "172.18.0.0/16", false, false),
                net("br-2", "10.9.0.0/24", true, true),
            ],
            ports: vec![
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 80,
                    bridge: "berth0".into(),
                },
                PortRule {
                    proto: Proto::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 5353,
                    container_ip: "172.18.0.3".parse().unwrap(),
                    container_port: 53,
                    bridge: "br-1".into(),
                },
            ],
        }
    }

    const TYPICAL: &str = "table ip berth {}
delete table ip berth
table ip berth {
\tchain direct_access {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname != \"berth0\" ip daddr 172.17.0.0/16 ip daddr != 172.17.0.1 drop
\t\tiifname \"berth0\" ip daddr 127.0.0.0/8 drop
\t\tiifname != \"br-1\" ip daddr 172.18.0.0/16 ip daddr != 172.18.0.1 drop
\t\tiifname \"br-1\" ip daddr 127.0.0.0/8 drop
\t\tiifname \"br-2\" ip daddr 127.0.0.0/8 drop
\t}
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local jump ports
\t}
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local jump ports
\t}
\tchain ports {
\t\ttcp dport 8080 dnat to 172.17.0.2:80
\t\tip daddr 127.0.0.1 udp dport 5353 dnat to 172.18.0.3:53
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"berth0\" ip saddr 127.0.0.0/8 masquerade
\t\tip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade
\t\tct status dnat ip saddr 172.17.0.0/16 oifname \"berth0\" masquerade
\t\toifname \"br-1\" ip saddr 127.0.0.0/8 masquerade
\t\tip saddr 172.18.0.0/16 oifname != \"br-1\" masquerade
\t\tct status dnat ip saddr 172.18.0.0/16 oifname \"br-1\" masquerade
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname \"br-2\" oifname != \"br-2\" drop
\t\toifname \"br-2\" iifname != \"br-2\" drop
\t\tct status dnat accept
\t\tiifname \"berth0\" oifname { \"br-1\", \"br-2\" } drop
\t\tiifname \"br-1\" oifname { \"berth0\", \"br-2\" } drop
\t\tiifname \"br-2\" oifname { \"berth0\", \"br-1\" } drop
\t\tiifname \"br-1\" oifname \"br-1\" drop
\t\tjump published
\t\toifname \"berth0\" iifname != \"berth0\" ct state established,related accept
\t\toifname \"berth0\" iifname != \"berth0\" drop
\t\toifname \"br-1\" iifname != \"br-1\" ct state established,related accept
\t\toifname \"br-1\" iifname != \"br-1\" drop
\t}
\tchain published {
\t}
}
";

    #[test]
    fn typical_plan_script() {
        assert_eq!(typical().script(), TYPICAL);
    }

    #[test]
    fn ports_script_refills_only_the_port_chains() {
        let s = typical().ports_script();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "flush chain ip berth ports",
                "flush chain ip berth published"
            ]
        );
        assert!(lines[2..]
            .iter()
            .all(|l| l.starts_with("add rule ip berth ports ")));
    }

    #[test]
    fn gateway_modes() {
        let mut plan = typical();
        plan.networks[0].gateway_mode = GatewayMode::Routed;
        plan.networks[1].gateway_mode = GatewayMode::NatUnprotected;
        let s = plan.script();
        // Routed: no masquerade, no DNAT, the published container port opened in place,
        // ICMP in, the rest dropped; no raw-table protection (nothing to protect).
        assert!(!s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(!s.contains("dnat to 172.17.0.2:80"));
        assert!(s.contains(
            "\t\toifname \"berth0\" iifname != \"berth0\" ip daddr 172.17.0.2 tcp dport 80 accept\n"
        ));
        assert!(s.contains("oifname \"berth0\" ip protocol icmp accept"));
        assert!(s.contains("oifname \"berth0\" iifname != \"berth0\" drop"));
        assert!(!s.contains("ip daddr 172.17.0.0/16 ip daddr != 172.17.0.1 drop"));
        assert!(plan.ports_script().contains(
            "add rule ip berth published oifname \"berth0\" iifname != \"berth0\" ip daddr 172.17.0.2 tcp dport 80 accept"
        ));
        // Unprotected: DNAT and masquerade as nat, but nothing dropped on the way in.
        assert!(s.contains("dnat to 172.18.0.3:53"));
        assert!(!s.contains("oifname \"br-1\" iifname != \"br-1\" drop"));
        assert!(!s.contains("ip daddr 172.18.0.0/16 ip daddr != 172.18.0.1 drop"));
        assert_eq!(
            GatewayMode::parse("bogus").unwrap_err(),
            "unknown gateway mode bogus"
        );
        assert_eq!(
            GatewayMode::parse("nat-unprotected"),
            Ok(GatewayMode::NatUnprotected)
        );
    }

    #[test]
    fn empty_plan_script() {
        let plan = FirewallPlan {
            table: "berth".into(),
            ..Default::default()
        };
        assert_eq!(
            plan.script(),
            "table ip berth {}\ndelete table ip berth\ntable ip berth {\n\
             \tchain direct_access {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n\
             \tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
             \t\tfib daddr type local jump ports\n\t}\n\
             \tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\
             \t\tfib daddr type local jump ports\n\t}\n\
             \tchain ports {\n\t}\n\
             \tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n\
             \tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tct status dnat accept\n\t\tjump published\n\t}\n\tchain published {\n\t}\n}\n"
        );
    }

    #[test]
    fn masquerade_off_keeps_hairpin() {
        let mut n = net("br-x", "10.3.0.0/24", false, true);
        n.masquerade = false;
        let plan = FirewallPlan {
            table: "t".into(),
            networks: vec![n],
            ports: vec![],
        };
        let s = plan.script();
        assert!(!s.contains("oifname != \"br-x\" masquerade"));
        assert!(s.contains("ct status dnat ip saddr 10.3.0.0/24 oifname \"br-x\" masquerade"));
    }

    #[test]
    fn names_are_validated() {
        let mut plan = typical();
        plan.validate().unwrap();
        plan.networks[0].bridge = "bad\"name".into();
        assert!(matches!(
            plan.validate(),
            Err(FirewallError::InvalidName(_))
        ));
        plan = typical();
        plan.table = "1; flush ruleset".into();
        assert!(matches!(
            plan.validate(),
            Err(FirewallError::InvalidName(_))
        ));
        assert!(matches!(
            delete_table("a b"),
            Err(FirewallError::InvalidName(_))
        ));
    }

    #[test]
    fn nft_accepts_generated_scripts() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 || Command::new("nft").arg("-v").output().is_err() {
            eprintln!("skipped: needs root and nft");
            return;
        }
        let mut plan = typical();
        plan.table = format!("berth_chk{}", std::process::id());
        check(&plan).unwrap();
        plan.networks.clear();
        plan.ports.clear();
        check(&plan).unwrap();
    }
}

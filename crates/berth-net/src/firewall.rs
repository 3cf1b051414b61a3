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
//!   network's bridge ports isolated, see [`crate::link::Netlink::isolate_port`]).
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

/// The rules of one bridge network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRule {
    /// Bridge interface name.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Ipv4Net,
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

    fn port_rules(&self) -> Vec<String> {
        self.ports
            .iter()
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

    /// The nft script that refills only the `ports` chain (one transaction). Replacing the
    /// whole table re-registers its base chains' hooks, which costs ~20 ms of RCU grace
    /// periods; a regular chain's flush and refill costs about what starting nft does.
    pub fn ports_script(&self) -> String {
        let t = &self.table;
        let mut s = format!("flush chain ip {t} ports\n");
        for r in self.port_rules() {
            let _ = writeln!(s, "add rule ip {t} ports {r}");
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
            if n.masquerade {
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
        NetworkRule {
            bridge: bridge.into(),
            subnet: subnet.parse().unwrap(),
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
\t}
}
";

    #[test]
    fn typical_plan_script() {
        assert_eq!(typical().script(), TYPICAL);
    }

    #[test]
    fn ports_script_refills_only_the_ports_chain() {
        assert_eq!(
            typical().ports_script().lines().next(),
            Some("flush chain ip berth ports")
        );
        assert!(typical()
            .ports_script()
            .lines()
            .skip(1)
            .all(|l| l.starts_with("add rule ip berth ports ")));
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
             \tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
             \t\tfib daddr type local jump ports\n\t}\n\
             \tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\
             \t\tfib daddr type local jump ports\n\t}\n\
             \tchain ports {\n\t}\n\
             \tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n\
             \tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tct status dnat accept\n\t}\n}\n"
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

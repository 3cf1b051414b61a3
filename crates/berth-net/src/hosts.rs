//! The container's `/etc/hosts`, laid out the way Docker 28 writes it.
//!
//! Order: the localhost and IPv6 boilerplate, then `--add-host`/`--link` entries in
//! the order given, then the container's own address(es) and hostname. Each line is
//! `IP<TAB>names`, addresses in canonical form (Go's `netip` prints the same as Rust).

use std::net::{IpAddr, Ipv4Addr};

/// One line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// The address, as text (canonicalised when written if it parses).
    pub ip: String,
    /// Host names for the address, written space-separated.
    pub names: Vec<String>,
}

impl HostsEntry {
    /// Convenience constructor.
    pub fn new(ip: impl Into<String>, names: &[&str]) -> Self {
        Self {
            ip: ip.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The name `--add-host` accepts instead of an address.
pub const HOST_GATEWAY: &str = "host-gateway";

const DEFAULT_V4: &[(&str, &str)] = &[("127.0.0.1", "localhost")];
const DEFAULT_V6: &[(&str, &str)] = &[
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::", "ip6-localnet"),
    ("ff00::", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
];

/// Parses an address, turning IPv4-mapped IPv6 into plain IPv4 as Docker does.
fn canonical(ip: &str) -> Option<IpAddr> {
    let addr: IpAddr = ip.parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    })
}

/// The container's own entries: `fqdn [short]` for each address, from hostname and
/// domainname, the way Docker derives them (a dotted hostname also gets its first label).
pub fn own_entries(hostname: &str, domainname: &str, ips: &[IpAddr]) -> Vec<HostsEntry> {
    let mut fqdn = hostname.to_string();
    if !domainname.is_empty() {
        fqdn.push('.');
        fqdn.push_str(domainname);
    }
    let mut names = vec![fqdn.clone()];
    if let Some((short, _)) = fqdn.split_once('.') {
        names.push(short.to_string());
    }
    ips.iter()
        .map(|ip| HostsEntry {
            ip: ip.to_string(),
            names: names.clone(),
        })
        .collect()
}

/// The hosts file for a container whose namespace has IPv6 (Docker's usual case).
pub fn container_hosts(own: &[HostsEntry], extra: &[HostsEntry]) -> String {
    container_hosts_with(own, extra, true)
}

/// The hosts file; with `ipv6 == false` the IPv6 boilerplate and IPv6 entries are
/// left out, as Docker does when the container has IPv6 disabled.
pub fn container_hosts_with(own: &[HostsEntry], extra: &[HostsEntry], ipv6: bool) -> String {
    let mut out = String::with_capacity(256);
    let mut line = |ip: &str, names: &str| {
        out.push_str(ip);
        out.push('\t');
        out.push_str(names);
        out.push('\n');
    };
    for (ip, names) in DEFAULT_V4 {
        line(ip, names);
    }
    if ipv6 {
        for (ip, names) in DEFAULT_V6 {
            line(ip, names);
        }
    }
    for e in extra.iter().chain(own) {
        let parsed = canonical(&e.ip);
        if !ipv6 && parsed.is_some_and(|a| a.is_ipv6()) {
            continue;
        }
        let ip = parsed.map_or_else(|| e.ip.clone(), |a| a.to_string());
        line(&ip, &e.names.join(" "));
    }
    out
}

/// Go's `%q` for the plain strings that appear in these messages.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Parses one `--add-host` value: `name:ip` or `name=ip`, the IP optionally in
/// brackets (for IPv6), or the special value `host-gateway`, which becomes
/// `host_gateway`. Errors carry Docker's messages, since clients show them verbatim.
pub fn parse_add_host(s: &str, host_gateway: Option<Ipv4Addr>) -> Result<HostsEntry, String> {
    // "=" first: with ":" alone an IPv6 address would be split in the wrong place.
    let split = s.split_once('=').or_else(|| s.split_once(':'));
    let (name, value) = match split {
        Some((k, v)) if !k.is_empty() && !k.contains(':') => (k, v),
        _ => return Err(format!("bad format for add-host: {}", quote(s))),
    };
    let ip = if value == HOST_GATEWAY {
        match host_gateway {
            Some(gw) => IpAddr::V4(gw),
            None => return Err("unable to derive the IP value for host-gateway".to_string()),
        }
    } else {
        let inner = if value.len() > 2 && value.starts_with('[') && value.ends_with(']') {
            &value[1..value.len() - 1]
        } else {
            value
        };
        canonical(inner.trim())
            .ok_or_else(|| format!("invalid IP address in add-host: {}", quote(inner)))?
    };
    Ok(HostsEntry {
        ip: ip.to_string(),
        names: vec![name.to_string()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOILER: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

    #[test]
    fn typical_user_network_container() {
        let own = own_entries("70daeb4cf098", "", &["172.18.0.2".parse().unwrap()]);
        assert_eq!(
            container_hosts(&own, &[]),
            format!("{BOILER}172.18.0.2\t70daeb4cf098\n")
        );
    }

    #[test]
    fn add_hosts_come_before_own_entry_in_order() {
        let own = own_entries("web", "example.com", &["172.18.0.2".parse().unwrap()]);
        let extra = vec![
            parse_add_host("db:10.0.0.5", None).unwrap(),
            parse_add_host("v6=[::ffff:10.0.0.6]", None).unwrap(),
            parse_add_host("gw:host-gateway", Some(Ipv4Addr::new(172, 17, 0, 1))).unwrap(),
            parse_add_host("six:2001:db8:0:0::1", None).unwrap(),
        ];
        assert_eq!(
            container_hosts(&own, &extra),
            format!(
                "{BOILER}10.0.0.5\tdb\n10.0.0.6\tv6\n172.17.0.1\tgw\n2001:db8::1\tsix\n\
                 172.18.0.2\tweb.example.com web\n"
            )
        );
        assert_eq!(
            container_hosts_with(&own, &extra, false),
            "127.0.0.1\tlocalhost\n10.0.0.5\tdb\n10.0.0.6\tv6\n172.17.0.1\tgw\n172.18.0.2\tweb.example.com web\n"
        );
    }

    #[test]
    fn add_host_errors() {
        assert_eq!(
            parse_add_host("localhost", None).unwrap_err(),
            "bad format for add-host: \"localhost\""
        );
        assert_eq!(
            parse_add_host(":1.2.3.4", None).unwrap_err(),
            "bad format for add-host: \":1.2.3.4\""
        );
        assert_eq!(
            parse_add_host("a:b=1.2.3.4", None).unwrap_err(),
            "bad format for add-host: \"a:b=1.2.3.4\""
        );
        assert_eq!(
            parse_add_host("h:host-gateway", None).unwrap_err(),
            "unable to derive the IP value for host-gateway"
        );
        assert_eq!(
            parse_add_host("h:nope", None).unwrap_err(),
            "invalid IP address in add-host: \"nope\""
        );
        assert_eq!(
            parse_add_host("h=[::1]", None).unwrap(),
            HostsEntry::new("::1", &["h"])
        );
    }
}

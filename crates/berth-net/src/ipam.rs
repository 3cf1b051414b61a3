//! IPv4 address management: subnets, picking a free subnet for a new network, and
//! handing out container addresses inside one network.
//!
//! Pure data and arithmetic, serde-serializable so the daemon can persist it. The
//! behaviour and the error texts follow moby (`api/types/network/ipam.go`,
//! `libnetwork/ipams/defaultipam`, `libnetwork/ipamapi`), because clients match on them:
//! a subnet with host bits set is rejected ("invalid subnet 10.1.2.3/16: it should be
//! 10.1.0.0/16"), `--ip` must lie inside the subnet (not necessarily the ip-range),
//! addresses are handed out serially after the last one given, wrapping around, so a
//! released address is not reused at once.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors of subnet parsing, network configuration and address allocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Text that is not `a.b.c.d/len` (moby's wording, used for subnets and ip-ranges).
    #[error("invalid subnet {0}: invalid CIDR block notation")]
    InvalidCidr(String),
    /// One or more problems in a network's IPAM config, joined like moby's `errJoin`.
    #[error("invalid network config:\n{}", join_errors(.0))]
    InvalidConfig(Vec<String>),
    /// The network has no free address left (in its ip-range, if it has one).
    #[error("no available IPv4 addresses on this network's address pools")]
    NoAvailableIps,
    /// The requested address is taken (by a container, the gateway, or it is the
    /// network or broadcast address).
    #[error("Address already in use")]
    AddressInUse,
    /// A requested (`--ip`) address outside the network's subnet.
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    NotInSubnet(Ipv4Addr),
}

fn join_errors(errs: &[String]) -> String {
    if errs.len() == 1 {
        return errs[0].trim().to_string();
    }
    let items: Vec<String> = errs.iter().map(|e| e.replace('\n', "\n\t")).collect();
    format!("* {}", items.join("\n* "))
}

/// An IPv4 prefix such as `10.1.0.0/16`. Parsing keeps host bits (so they can be
/// reported); [`Ipv4Net::network`] masks them off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    /// The address as written (host bits possibly set).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// Builds a prefix; `None` if `prefix > 32`.
    pub const fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
        if prefix > 32 {
            None
        } else {
            Some(Ipv4Net { addr, prefix })
        }
    }

    /// The netmask as a number (`/24` → `0xffffff00`).
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The same prefix with host bits cleared.
    pub fn network(&self) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    /// Whether no host bits are set (what Docker requires of subnets and ip-ranges).
    pub fn is_canonical(&self) -> bool {
        self.network().addr == self.addr
    }

    /// The all-ones (broadcast) address of the prefix.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies inside the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// Whether `other` lies entirely inside this prefix.
    pub fn contains_net(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Number of addresses in the prefix.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// First usable host address (the network address itself for /31 and /32, RFC 3021).
    pub fn first_host(&self) -> Ipv4Addr {
        let net = u32::from(self.network().addr);
        if self.prefix >= 31 {
            Ipv4Addr::from(net)
        } else {
            Ipv4Addr::from(net + 1)
        }
    }

    /// Last usable host address (the broadcast address itself for /31 and /32).
    pub fn last_host(&self) -> Ipv4Addr {
        let bc = u32::from(self.broadcast());
        if self.prefix >= 31 {
            Ipv4Addr::from(bc)
        } else {
            Ipv4Addr::from(bc - 1)
        }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Ipv4Net, IpamError> {
        let bad = || IpamError::InvalidCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Ipv4Net::new(addr, prefix).ok_or_else(bad)
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = IpamError;
    fn try_from(s: String) -> Result<Ipv4Net, IpamError> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

const fn net(a: u8, b: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net {
        addr: Ipv4Addr::new(a, b, 0, 0),
        prefix,
    }
}

/// Docker's default local address pools (`ipamutils.localScopeDefaultNetworks`), as
/// (base, size of each network carved from it): 172.17–172.31 as /16s, then
/// 192.168.0.0/16 split into /20s.
pub const DEFAULT_POOLS: [(Ipv4Net, u8); 16] = [
    (net(172, 17, 16), 16),
    (net(172, 18, 16), 16),
    (net(172, 19, 16), 16),
    (net(172, 20, 16), 16),
    (net(172, 21, 16), 16),
    (net(172, 22, 16), 16),
    (net(172, 23, 16), 16),
    (net(172, 24, 16), 16),
    (net(172, 25, 16), 16),
    (net(172, 26, 16), 16),
    (net(172, 27, 16), 16),
    (net(172, 28, 16), 16),
    (net(172, 29, 16), 16),
    (net(172, 30, 16), 16),
    (net(172, 31, 16), 16),
    (net(192, 168, 16), 20),
];

/// Picks the first network of each pool's size, in pool order, that overlaps none of
/// `taken` (existing networks and host routes). `None` when every pool is used up.
pub fn choose_subnet(pools: &[(Ipv4Net, u8)], taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    for (base, size) in pools {
        let base = base.network();
        if *size < base.prefix || *size > 32 {
            continue;
        }
        let step = 1u64 << (32 - u32::from(*size));
        let start = u64::from(u32::from(base.addr));
        let end = start + base.size();
        let mut cur = start;
        while cur < end {
            let cand = Ipv4Net {
                addr: Ipv4Addr::from(cur as u32),
                prefix: *size,
            };
            match taken
                .iter()
                .filter(|t| t.overlaps(&cand))
                .map(|t| t.network())
                .max_by_key(|t| u64::from(u32::from(t.broadcast())))
            {
                None => return Some(cand),
                // Skip past the furthest-reaching conflict, aligned to `step`.
                Some(t) => {
                    let past = u64::from(u32::from(t.broadcast())) + 1;
                    cur = past.div_ceil(step).max(cur / step + 1) * step;
                }
            }
        }
    }
    None
}

/// Checks a network's IPAM config given as text, the way `docker network create`
/// does (moby `ValidateIPAM`), and returns the typed values.
pub fn validate_config(
    subnet: &str,
    ip_range: Option<&str>,
    gateway: Option<&str>,
) -> Result<(Ipv4Net, Option<Ipv4Net>, Option<Ipv4Addr>), IpamError> {
    let subnet_net: Ipv4Net = subnet.parse().map_err(|_| {
        IpamError::InvalidConfig(vec![format!(
            "invalid subnet {subnet}: invalid CIDR block notation"
        )])
    })?;
    let mut errs = Vec::new();
    if !subnet_net.is_canonical() {
        errs.push(format!(
            "invalid subnet {subnet_net}: it should be {}",
            subnet_net.network()
        ));
    }
    let mut range_net = None;
    if let Some(r) = ip_range.filter(|r| !r.is_empty()) {
        match r.parse::<Ipv4Net>() {
            Err(_) => errs.push(format!("invalid ip-range {r}: invalid CIDR block notation")),
            Ok(rn) => {
                errs.extend(range_errors(&rn, &subnet_net));
                range_net = Some(rn);
            }
        }
    }
    let mut gw = None;
    if let Some(g) = gateway.filter(|g| !g.is_empty()) {
        match g.parse::<Ipv4Addr>() {
            Err(_) => errs.push(format!("invalid gateway {g}: invalid address")),
            Ok(a) if !subnet_net.contains(a) => errs.push(format!(
                "invalid gateway {g}: parent subnet {subnet_net} doesn't contain this address"
            )),
            Ok(a) => gw = Some(a),
        }
    }
    if errs.is_empty() {
        Ok((subnet_net, range_net, gw))
    } else {
        Err(IpamError::InvalidConfig(errs))
    }
}

fn range_errors(range: &Ipv4Net, subnet: &Ipv4Net) -> Vec<String> {
    let mut errs = Vec::new();
    if range.prefix < subnet.prefix {
        errs.push(format!(
            "invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}"
        ));
    }
    if !range.is_canonical() {
        errs.push(format!(
            "invalid ip-range {range}: it should be {}",
            range.network()
        ));
    }
    if !subnet.overlaps(range) {
        errs.push(format!(
            "invalid ip-range {range}: parent subnet {subnet} doesn't contain ip-range"
        ));
    }
    errs
}

/// Address bookkeeping of one network: which addresses are handed out and where the
/// serial allocator stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkIpam {
    /// The network's subnet (canonical).
    pub subnet: Ipv4Net,
    /// The bridge's address; never handed to a container.
    pub gateway: Ipv4Addr,
    /// Dynamic allocations come from here when set (`--ip-range`).
    pub ip_range: Option<Ipv4Net>,
    /// Addresses currently held by endpoints.
    pub allocated: BTreeSet<Ipv4Addr>,
    /// The last address handed out dynamically; the next search starts after it.
    pub last: Option<Ipv4Addr>,
}

impl NetworkIpam {
    /// Validates the config (moby's rules and texts) and starts an empty allocator. The
    /// gateway defaults to the subnet's first host.
    pub fn new(
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        ip_range: Option<Ipv4Net>,
    ) -> Result<NetworkIpam, IpamError> {
        let mut errs = Vec::new();
        if !subnet.is_canonical() {
            errs.push(format!(
                "invalid subnet {subnet}: it should be {}",
                subnet.network()
            ));
        }
        if let Some(r) = &ip_range {
            errs.extend(range_errors(r, &subnet));
        }
        if let Some(g) = gateway {
            if !subnet.contains(g) {
                errs.push(format!(
                    "invalid gateway {g}: parent subnet {subnet} doesn't contain this address"
                ));
            }
        }
        if !errs.is_empty() {
            return Err(IpamError::InvalidConfig(errs));
        }
        Ok(NetworkIpam {
            subnet,
            gateway: gateway.unwrap_or_else(|| subnet.first_host()),
            ip_range,
            allocated: BTreeSet::new(),
            last: None,
        })
    }

    /// Whether `ip` can never be handed out: network and broadcast address (except in
    /// /31 and /32), or the gateway.
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.gateway
            || (self.subnet.prefix < 31
                && (ip == self.subnet.addr || ip == self.subnet.broadcast()))
    }

    /// Whether `ip` is currently unavailable (allocated or reserved).
    pub fn in_use(&self, ip: Ipv4Addr) -> bool {
        self.reserved(ip) || self.allocated.contains(&ip)
    }

    /// Hands out an address: `preferred` if given (it must be inside the subnet and
    /// free), otherwise the next free one after the last handed out, wrapping around,
    /// inside the ip-range when set.
    pub fn allocate(&mut self, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = preferred {
            if !self.subnet.contains(ip) {
                return Err(IpamError::NotInSubnet(ip));
            }
            if self.in_use(ip) {
                return Err(IpamError::AddressInUse);
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let range = self.ip_range.map_or(self.subnet, |r| r.network());
        let lo = u64::from(u32::from(range.addr));
        let size = range.size();
        let start = match self.last {
            Some(l) if range.contains(l) => u64::from(u32::from(l)) - lo + 1,
            _ => 0,
        };
        for i in 0..size {
            let ip = Ipv4Addr::from((lo + (start + i) % size) as u32);
            if !self.in_use(ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(IpamError::NoAvailableIps)
    }

    /// Gives an address back; returns whether it was allocated.
    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        self.allocated.remove(&addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(n("10.1.0.0/16").to_string(), "10.1.0.0/16");
        assert_eq!(n("10.1.2.3/16").network(), n("10.1.0.0/16"));
        assert!(!n("10.1.2.3/16").is_canonical());
        for bad in [
            "10.1.0.0",
            "10.1.0.0/33",
            "10.1.0/16",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            assert_eq!(
                bad.parse::<Ipv4Net>(),
                Err(IpamError::InvalidCidr(bad.to_string())),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&n("172.18.0.0/16")).unwrap();
        assert_eq!(json, "\"172.18.0.0/16\"");
        assert_eq!(
            serde_json::from_str::<Ipv4Net>(&json).unwrap(),
            n("172.18.0.0/16")
        );
    }

    #[test]
    fn arithmetic() {
        let s = n("10.1.0.0/16");
        assert!(s.contains(ip("10.1.255.255")));
        assert!(!s.contains(ip("10.2.0.0")));
        assert_eq!(s.first_host(), ip("10.1.0.1"));
        assert_eq!(s.last_host(), ip("10.1.255.254"));
        assert_eq!(s.broadcast(), ip("10.1.255.255"));
        assert!(s.overlaps(&n("10.1.3.0/24")));
        assert!(n("10.0.0.0/8").overlaps(&s));
        assert!(!s.overlaps(&n("10.2.0.0/16")));
        assert!(s.contains_net(&n("10.1.3.0/24")));
        assert!(!n("10.1.3.0/24").contains_net(&s));
        assert_eq!(n("10.0.0.4/31").first_host(), ip("10.0.0.4"));
        assert_eq!(n("10.0.0.4/31").last_host(), ip("10.0.0.5"));
        assert_eq!(n("0.0.0.0/0").mask(), 0);
        assert!(n("0.0.0.0/0").contains(ip("8.8.8.8")));
    }

    #[test]
    fn choose_subnet_skips_taken() {
        assert_eq!(choose_subnet(&DEFAULT_POOLS, &[]), Some(n("172.17.0.0/16")));
        let taken = [n("172.17.0.0/16"), n("172.18.5.0/24")];
        assert_eq!(
            choose_subnet(&DEFAULT_POOLS, &taken),
            Some(n("172.19.0.0/16"))
        );
        // A host route covering all of 172.16/12 leaves the 192.168 /20s.
        assert_eq!(
            choose_subnet(&DEFAULT_POOLS, &[n("172.16.0.0/12")]),
            Some(n("192.168.0.0/20"))
        );
        let taken = [
            n("172.16.0.0/12"),
            n("192.168.0.0/20"),
            n("192.168.17.0/24"),
        ];
        assert_eq!(
            choose_subnet(&DEFAULT_POOLS, &taken),
            Some(n("192.168.32.0/20"))
        );
        assert_eq!(
            choose_subnet(&DEFAULT_POOLS, &[n("172.16.0.0/12"), n("192.168.0.0/16")]),
            None
        );
        assert_eq!(
            choose_subnet(&[(n("10.0.0.0/8"), 24)], &[n("0.0.0.0/1")]),
            None
        );
    }

    #[test]
    fn validate_config_like_docker() {
        let e = validate_config("10.1.2.3/16", None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network config:\ninvalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
        );
        let e = validate_config("10.0.0.0/33", None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network config:\ninvalid subnet 10.0.0.0/33: invalid CIDR block notation"
        );
        let e = validate_config("10.0.0.0/24", Some("10.0.1.0/24"), Some("10.1.0.1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network config:\n* invalid ip-range 10.0.1.0/24: parent subnet 10.0.0.0/24 doesn't contain ip-range\n* invalid gateway 10.1.0.1: parent subnet 10.0.0.0/24 doesn't contain this address"
        );
        assert_eq!(
            validate_config("10.0.0.0/16", Some("10.0.4.0/24"), Some("10.0.0.254")).unwrap(),
            (
                n("10.0.0.0/16"),
                Some(n("10.0.4.0/24")),
                Some(ip("10.0.0.254"))
            )
        );
    }

    #[test]
    fn new_validates_and_defaults_gateway() {
        let ipam = NetworkIpam::new(n("10.5.0.0/24"), None, None).unwrap();
        assert_eq!(ipam.gateway, ip("10.5.0.1"));
        assert!(NetworkIpam::new(n("10.5.0.0/24"), Some(ip("10.6.0.1")), None).is_err());
        assert!(NetworkIpam::new(n("10.5.0.0/24"), None, Some(n("10.5.0.0/23"))).is_err());
        assert!(NetworkIpam::new(n("10.5.0.1/24"), None, None).is_err());
    }

    #[test]
    fn allocate_serially_without_reuse() {
        let mut ipam = NetworkIpam::new(n("10.5.0.0/29"), None, None).unwrap();
        // .0 network, .1 gateway, .7 broadcast: .2 ..= .6 are usable.
        let a: Vec<_> = (0..5).map(|_| ipam.allocate(None).unwrap()).collect();
        assert_eq!(
            a,
            ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"].map(ip)
        );
        assert_eq!(ipam.allocate(None), Err(IpamError::NoAvailableIps));
        assert!(ipam.release(ip("10.5.0.3")));
        assert!(!ipam.release(ip("10.5.0.3")));
        assert!(ipam.release(ip("10.5.0.5")));
        // Wraps past the end and takes the first free one after `last`.
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.3")));
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.5")));
        assert_eq!(ipam.allocate(None), Err(IpamError::NoAvailableIps));
        // A released address is not the next one handed out.
        ipam.release(ip("10.5.0.4"));
        ipam.release(ip("10.5.0.6"));
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.6")));
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.4")));
    }

    #[test]
    fn preferred_addresses() {
        let mut ipam = NetworkIpam::new(
            n("10.5.0.0/24"),
            Some(ip("10.5.0.254")),
            Some(n("10.5.0.128/25")),
        )
        .unwrap();
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.128")));
        // --ip may lie outside the ip-range but not outside the subnet.
        assert_eq!(ipam.allocate(Some(ip("10.5.0.9"))), Ok(ip("10.5.0.9")));
        assert_eq!(
            ipam.allocate(Some(ip("10.5.0.9"))),
            Err(IpamError::AddressInUse)
        );
        assert_eq!(
            ipam.allocate(Some(ip("10.5.0.254"))),
            Err(IpamError::AddressInUse)
        );
        assert_eq!(
            ipam.allocate(Some(ip("10.5.0.0"))),
            Err(IpamError::AddressInUse)
        );
        assert_eq!(
            ipam.allocate(Some(ip("10.5.0.255"))),
            Err(IpamError::AddressInUse)
        );
        assert_eq!(
            ipam.allocate(Some(ip("10.6.0.9"))).unwrap_err().to_string(),
            "no configured subnet or ip-range contain the IP address 10.6.0.9"
        );
        // The preferred allocation does not move the serial cursor.
        assert_eq!(ipam.allocate(None), Ok(ip("10.5.0.129")));
        // Dynamic allocation stays in the range and skips the gateway and broadcast.
        let mut got = BTreeSet::new();
        while let Ok(a) = ipam.allocate(None) {
            assert!(n("10.5.0.128/25").contains(a));
            assert!(got.insert(a));
        }
        assert_eq!(got.len(), 128 - 2 - 2);
        let json = serde_json::to_string(&ipam).unwrap();
        assert_eq!(serde_json::from_str::<NetworkIpam>(&json).unwrap(), ipam);
    }
}

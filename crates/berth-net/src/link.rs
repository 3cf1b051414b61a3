//! Links, addresses and routes over a synchronous rtnetlink (`NETLINK_ROUTE`) socket,
//! plus the few sysctls a bridge network needs.
//!
//! A [`Netlink`] works in the network namespace it was opened in (a socket stays in
//! its namespace), so the container side is configured by opening one on a thread that
//! joined the container's namespace ([`configure_container_side`]). Requests are
//! serialised through a mutex, so one `Netlink` can be shared between threads.
//!
//! The veth pair is created with its peer directly in the container's namespace
//! (`IFLA_NET_NS_FD` in the peer's info): one message instead of create-then-move, and
//! the peer's name never collides with a link of the host.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Errors of link, address and route operations, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The netlink socket could not be opened or bound.
    #[error("open netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused a request (or it could not be sent or read).
    #[error("{op} {object}: {source}")]
    Request {
        /// What was attempted, e.g. "create bridge".
        op: &'static str,
        /// The link, address or route concerned.
        object: String,
        /// The kernel's error, with its extended-ack message when it gave one.
        #[source]
        source: io::Error,
    },
    /// A link that must exist does not.
    #[error("no such link: {0}")]
    NoSuchLink(String),
    /// A link exists under the name but is not a bridge (never reuse, never delete it).
    #[error("interface {0} exists and is not a bridge")]
    NotABridge(String),
    /// Joining the target network namespace failed.
    #[error("enter network namespace: {0}")]
    Netns(#[source] io::Error),
    /// Writing a sysctl failed.
    #[error("set sysctl {key}: {source}")]
    Sysctl {
        /// The sysctl, dotted (`net.ipv4.ip_forward`).
        key: String,
        /// The write error.
        #[source]
        source: io::Error,
    },
}

impl LinkError {
    /// The errno behind a refused request (e.g. `EEXIST` for a veth name taken).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            LinkError::Request { source, .. }
            | LinkError::Socket(source)
            | LinkError::Netns(source)
            | LinkError::Sysctl { source, .. } => source.raw_os_error(),
            LinkError::NoSuchLink(_) => Some(libc::ENODEV),
            LinkError::NotABridge(_) => Some(libc::EEXIST),
        }
    }
}

fn req_err(op: &'static str, object: impl Into<String>) -> impl FnOnce(io::Error) -> LinkError {
    let object = object.into();
    move |source| LinkError::Request { op, object, source }
}

/// An rtnetlink socket in the network namespace where it was opened.
pub struct Netlink {
    socket: Mutex<Socket>,
    seq: AtomicU32,
}

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, LinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Socket)?;
        socket.bind_auto().map_err(LinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Socket)?;
        // Best effort: the kernel's explanation in errors, and short acks.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket: Mutex::new(socket),
            seq: AtomicU32::new(1),
        })
    }

    /// Sends one request and collects the replies: the objects of a dump, or nothing
    /// but the ack of a change.
    fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);

        let socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        socket.send(&out, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        loop {
            buf.clear();
            let n = socket.recv(&mut buf, 0)?;
            if n > buf.len() {
                return Err(io::Error::other("netlink reply truncated"));
            }
            let mut off = 0;
            while off + 16 <= buf.len() {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                if len < 16 || off + len > buf.len() {
                    return Err(io::Error::other("malformed netlink reply"));
                }
                let raw = &buf[off..off + len];
                off += (len + 3) & !3;
                let rseq = u32::from_ne_bytes(raw[8..12].try_into().expect("4 bytes"));
                if rseq != seq {
                    continue;
                }
                let parsed = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw) {
                    Ok(p) => p,
                    // An object this crate version cannot parse: skip it, keep the rest.
                    Err(_) if dump => continue,
                    Err(e) => return Err(io::Error::other(format!("parse netlink reply: {e}"))),
                };
                let rflags = parsed.header.flags;
                match parsed.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => {
                            let base = io::Error::from_raw_os_error(-code.get());
                            return Err(match ext_ack_message(&e.header, rflags) {
                                Some(m) => io::Error::new(base.kind(), format!("{base}: {m}")),
                                None => base,
                            });
                        }
                    },
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    fn ack(&self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags).map(drop)
    }

    fn dump(&self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.request(msg, NLM_F_DUMP)
    }

    /// The index of link `name`, `None` if there is none.
    pub fn link_index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::EINVAL)) => {
                Ok(None)
            }
            Err(e) => Err(req_err("look up link", name)(e)),
        }
    }

    /// Whether link `name` is a bridge; `None` when there is no such link.
    pub fn is_bridge(&self, name: &str) -> Result<Option<bool>, LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.attributes.iter().any(|a| {
                    matches!(a, LinkAttribute::LinkInfo(infos)
                        if infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))))
                })),
                _ => None,
            })),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::EINVAL)) => {
                Ok(None)
            }
            Err(e) => Err(req_err("look up link", name)(e)),
        }
    }

    fn require_index(&self, name: &str) -> Result<u32, LinkError> {
        self.link_index(name)?
            .ok_or_else(|| LinkError::NoSuchLink(name.to_string()))
    }

    /// Creates the bridge if missing (idempotent), sets its MTU if given, adds
    /// `addr/prefix` unless present and sets it up. Returns its index.
    pub fn ensure_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<u32, LinkError> {
        let existing = self.is_bridge(name)?;
        if existing == Some(false) {
            return Err(LinkError::NotABridge(name.to_string()));
        }
        if existing.is_none() {
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName(name.to_string()));
            if let Some(m) = mtu {
                msg.attributes.push(LinkAttribute::Mtu(m));
            }
            msg.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            match self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL) {
                Ok(()) => {}
                // Created concurrently: fine, it is configured below.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(req_err("create bridge", name)(e)),
            }
        } else if let Some(m) = mtu {
            self.set_attr(name, "set mtu of", LinkAttribute::Mtu(m))?;
        }
        let index = self.require_index(name)?;
        if !self.has_address(index, addr, prefix)? {
            self.add_address(name, addr, prefix)?;
        }
        self.set_up(name)?;
        Ok(index)
    }

    fn has_address(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<bool, LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self
            .dump(RouteNetlinkMessage::GetAddress(msg))
            .map_err(req_err("list addresses of link", index.to_string()))?;
        Ok(replies.iter().any(|r| match r {
            RouteNetlinkMessage::NewAddress(a) => {
                a.header.index == index
                    && a.header.prefix_len == prefix
                    && a.attributes.iter().any(
                        |at| matches!(at, AddressAttribute::Local(IpAddr::V4(x)) if *x == addr),
                    )
            }
            _ => false,
        }))
    }

    /// Deletes link `name`; `Ok` if it does not exist. Deleting one end of a veth pair
    /// deletes both.
    pub fn delete_link(&self, name: &str) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.ack(RouteNetlinkMessage::DelLink(msg), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r.map_err(req_err("delete link", name)),
        }
    }

    /// Creates a veth pair in one request: `host_name` up, enslaved to bridge `master`
    /// with `mtu`; the peer `peer_name` is created directly inside `peer_netns` with
    /// `mtu` and `mac`. Then turns hairpin mode on for the host end's bridge port (the
    /// kernel ignores port options in a creating request, so that is a second one).
    pub fn create_veth(
        &self,
        host_name: &str,
        master: u32,
        mtu: u32,
        peer_name: &str,
        peer_netns: BorrowedFd<'_>,
        mac: Option<[u8; 6]>,
    ) -> Result<(), LinkError> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        if let Some(m) = mac {
            peer.attributes.push(LinkAttribute::Address(m.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::Controller(master));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(req_err(
                "create veth",
                format!("{host_name} (peer {peer_name})"),
            ))?;

        let mut port = LinkMessage::default();
        port.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        port.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(port), 0)
            .map_err(req_err("set hairpin mode on", host_name))
    }

    /// Marks bridge port `host_name` isolated: the bridge forwards nothing between two
    /// isolated ports (Linux ≥ 4.18), while each still reaches the bridge itself (the
    /// gateway). That is `icc = false` at layer 2, without br_netfilter or firewall rules.
    pub fn isolate_port(&self, host_name: &str) -> Result<(), LinkError> {
        let mut port = LinkMessage::default();
        port.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        port.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::Isolated(
                true,
            )])),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(port), 0)
            .map_err(req_err("isolate bridge port", host_name))
    }

    fn set_attr(&self, name: &str, op: &'static str, attr: LinkAttribute) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(attr);
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
            .map_err(req_err(op, name))
    }

    /// Brings link `name` up.
    pub fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
            .map_err(req_err("set up link", name))
    }

    /// Adds `addr/prefix` (with its broadcast address) to link `name`; `Ok` if present.
    pub fn add_address(&self, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
        let index = self.require_index(name)?;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        if prefix < 31 {
            let host = if prefix == 0 {
                u32::MAX
            } else {
                u32::MAX >> prefix
            };
            let bc = Ipv4Addr::from(u32::from(addr) | host);
            msg.attributes.push(AddressAttribute::Broadcast(bc));
        }
        match self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map_err(req_err("add address", format!("{addr}/{prefix} to {name}"))),
        }
    }

    /// Sets (or replaces) the default route via `gateway` in the main table.
    pub fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map_err(req_err("add default route via", gateway.to_string()))
    }

    /// Sets the MAC address of link `name`.
    pub fn set_mac(&self, name: &str, mac: [u8; 6]) -> Result<(), LinkError> {
        self.set_attr(
            name,
            "set mac address of",
            LinkAttribute::Address(mac.to_vec()),
        )
    }

    /// Names of links whose name starts with `prefix` (to reconcile leftovers after a
    /// crash).
    pub fn links_with_prefix(&self, prefix: &str) -> Result<Vec<String>, LinkError> {
        let replies = self
            .dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))
            .map_err(req_err("list links", format!("with prefix {prefix}")))?;
        let mut names: Vec<String> = replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) if n.starts_with(prefix) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The host's IPv4 unicast routes in the main table as (destination, prefix),
    /// default route excluded: new networks must not overlap them (as Docker does).
    pub fn ipv4_routes(&self) -> Result<Vec<(Ipv4Addr, u8)>, LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self
            .dump(RouteNetlinkMessage::GetRoute(msg))
            .map_err(req_err("list routes", "ipv4"))?;
        let mut routes = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewRoute(m) = r else {
                continue;
            };
            let table = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(m.header.table));
            if table != u32::from(RouteHeader::RT_TABLE_MAIN)
                || m.header.kind != RouteType::Unicast
                || m.header.destination_prefix_length == 0
            {
                continue;
            }
            if let Some(dst) = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
                _ => None,
            }) {
                routes.push((dst, m.header.destination_prefix_length));
            }
        }
        routes.sort();
        routes.dedup();
        Ok(routes)
    }
}

/// The kernel's extended-ack text (`NLMSGERR_ATTR_MSG`) from an error's payload.
fn ext_ack_message(payload: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 16 {
        return None;
    }
    // The payload is the original request: only its header when capped.
    let orig_len = u32::from_ne_bytes(payload[0..4].try_into().ok()?) as usize;
    let mut off = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        (orig_len + 3) & !3
    };
    while off + 4 <= payload.len() {
        let len = u16::from_ne_bytes(payload[off..off + 2].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(payload[off + 2..off + 4].try_into().ok()?) & 0x3fff;
        if len < 4 || off + len > payload.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &payload[off + 4..off + len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        off += (len + 3) & !3;
    }
    None
}

/// Configures the container's end inside `netns`: `lo` up, `ifname` gets
/// `addr/prefix` and goes up, and the default route goes via `gateway` when given
/// (Docker gives internal networks no default route, so the daemon passes `None`).
pub fn configure_container_side(
    netns: BorrowedFd<'_>,
    ifname: &str,
    addr: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<(), LinkError> {
    crate::netns::run_in_netns(netns, || {
        Ok((|| {
            let nl = Netlink::open()?;
            nl.set_up("lo")?;
            nl.add_address(ifname, addr, prefix)?;
            nl.set_up(ifname)?;
            if let Some(gw) = gateway {
                nl.add_default_route(gw)?;
            }
            Ok(())
        })())
    })
    .map_err(LinkError::Netns)?
}

/// Adds `addrs` (each `/prefix`) to `ifname` inside `netns` (`--link-local-ip`).
pub fn add_addresses(
    netns: BorrowedFd<'_>,
    ifname: &str,
    addrs: &[Ipv4Addr],
    prefix: u8,
) -> Result<(), LinkError> {
    crate::netns::run_in_netns(netns, || {
        Ok((|| {
            let nl = Netlink::open()?;
            for a in addrs {
                nl.add_address(ifname, *a, prefix)?;
            }
            Ok(())
        })())
    })
    .map_err(LinkError::Netns)?
}

/// Docker's MAC for an IPv4 address, `02:42:` followed by the address bytes, so a
/// container's MAC is stable and unique on its network.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Parses `aa:bb:cc:dd:ee:ff` (also with `-`); `None` if malformed.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Formats a MAC the way Docker shows it: lower-case hex, colon-separated.
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn write_sysctl(key: &str, value: &str) -> Result<(), LinkError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|source| LinkError::Sysctl {
        key: key.to_string(),
        source,
    })
}

/// Turns on IPv4 forwarding (`net.ipv4.ip_forward`), needed for containers to reach
/// beyond their bridge. Idempotent; the error is for logging.
pub fn enable_ip_forward() -> Result<(), LinkError> {
    write_sysctl("net.ipv4.ip_forward", "1")
}

/// Sets `net.ipv4.conf.<bridge>.route_localnet`, which lets packets from 127.0.0.1 be
/// routed out of the bridge, so a published port answers on localhost through DNAT.
/// Idempotent; the error is for logging.
pub fn set_route_localnet(bridge: &str, on: bool) -> Result<(), LinkError> {
    if bridge.is_empty() || bridge.contains(['/', '.']) {
        return Err(LinkError::NoSuchLink(bridge.to_string()));
    }
    // Written directly: a dotted key cannot carry a name with dots.
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    let value = if on { "1" } else { "0" };
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|source| LinkError::Sysctl {
        key: format!("net.ipv4.conf.{bridge}.route_localnet"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Netlink>();
    }

    #[test]
    fn macs() {
        let m = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:AC:11:00:02"), Some(m));
        assert_eq!(parse_mac("02-42-ac-11-00-02"), Some(m));
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "zz:42:ac:11:00:02",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn ext_ack_text_is_extracted() {
        // Capped payload: 16-byte original header, then NLMSGERR_ATTR_MSG.
        let mut p = vec![0u8; 16];
        p[0..4].copy_from_slice(&40u32.to_ne_bytes());
        let text = b"Unknown device type\0";
        p.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(text);
        assert_eq!(
            ext_ack_message(&p, NLM_F_CAPPED | NLM_F_ACK_TLVS).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(ext_ack_message(&p, NLM_F_CAPPED), None);
    }
}

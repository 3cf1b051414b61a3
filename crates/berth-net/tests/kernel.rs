//! Bridge, veth, addresses, routes and nftables NAT on the real kernel.
//!
//! Needs root, `ip`, `nft`, `python3` and `busybox` (for ping); skipped otherwise.
//! Every object gets a random suffix and is removed by a drop guard even when an
//! assertion fails. Traffic only goes to addresses of this machine. IPv4 forwarding
//! is switched on and left on (as the daemon does): restoring it would break a run of
//! this test going on at the same time in another process.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_net::firewall::{self, FirewallPlan, GatewayMode, NetworkRule, PortRule, Proto};
use berth_net::ipam::Ipv4Net;
use berth_net::link::{self, Netlink};

fn usable() -> bool {
    berth_testkit::require_root()
        && berth_testkit::require_program("ip", "iproute2")
        && berth_testkit::require_program("nft", "nftables")
        && berth_testkit::require_program("python3", "python3")
        && berth_testkit::require_program("busybox", "busybox-static")
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("getrandom");
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .expect("run command");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Removes everything the test created, in reverse dependency order.
#[derive(Default)]
struct Guard {
    children: Vec<Child>,
    tables: Vec<String>,
    links: Vec<String>,
    netns: Vec<String>,
    /// Bridges let through a Docker engine's FORWARD drop (its DOCKER-USER chain).
    docker_user: Vec<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for t in &self.tables {
            let _ = firewall::delete_table(t);
        }
        firewall::withdraw_from_docker(&self.docker_user);
        for l in &self.links {
            let _ = sh(&["ip", "link", "del", l]);
        }
        for n in &self.netns {
            let _ = sh(&["ip", "netns", "del", n]);
        }
    }
}

/// A random 10.200-249.x.0/`prefix` that overlaps no route of this host.
fn free_subnet(nl: &Netlink, prefix: u8, avoid: &[Ipv4Net]) -> Ipv4Net {
    let routes: Vec<Ipv4Net> = nl
        .ipv4_routes()
        .unwrap()
        .into_iter()
        .map(|(a, p)| Ipv4Net { addr: a, prefix: p })
        .collect();
    loop {
        let r = random_bytes::<2>();
        let cand = Ipv4Net {
            addr: Ipv4Addr::new(10, 200 + r[0] % 50, r[1], 0),
            prefix,
        };
        if !routes.iter().chain(avoid).any(|t| t.overlaps(&cand)) {
            return cand;
        }
    }
}

fn open_netns(name: &str) -> OwnedFd {
    OwnedFd::from(File::open(format!("/run/netns/{name}")).expect("open netns"))
}

fn host_address(exclude: &[&str]) -> Ipv4Addr {
    let (_, out) = sh(&["ip", "-4", "-o", "addr", "show", "scope", "global"]);
    out.lines()
        .filter(|l| {
            !exclude
                .iter()
                .any(|e| l.split_whitespace().nth(1) == Some(e))
        })
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|x| *x == "inet")?;
            f.get(i + 1)?.split('/').next()?.parse().ok()
        })
        .expect("a global IPv4 address on this host")
}

fn free_port() -> u16 {
    loop {
        let r = random_bytes::<2>();
        let p = 20000 + u16::from_ne_bytes(r) % 20000;
        if TcpListener::bind(("0.0.0.0", p)).is_ok() && UdpSocket::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
}

fn tcp_get(addr: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn udp_get(addr: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.send_to(b"ping", (addr, port))?;
    let mut buf = [0u8; 100];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

const SERVER: &str = r#"
import socket, threading
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 80))
    while True:
        d, a = u.recvfrom(100)
        u.sendto(b"hi udp", a)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall(b"hi tcp from " + a[0].encode())
    c.close()
"#;

fn client_cmd(ns: &str, proto: &str, addr: Ipv4Addr, port: u16) -> (bool, String) {
    let py = if proto == "tcp" {
        format!(
            "import socket;s=socket.create_connection(('{addr}',{port}),3);s.settimeout(3);print(s.recv(100).decode())"
        )
    } else {
        format!(
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3);s.sendto(b'x',('{addr}',{port}));print(s.recv(100).decode())"
        )
    };
    sh(&["ip", "netns", "exec", ns, "python3", "-c", &py])
}

#[test]
fn bridge_veth_and_published_ports() {
    if !usable() {
        return;
    }
    let mut g = Guard::default();
    let id = hex(&random_bytes::<3>());
    let bridge = format!("btn{id}");
    let veth = format!("btv{id}");
    let cveth = format!("btw{id}");
    let ns = format!("btns{id}");
    let cns = format!("btnc{id}");
    let bridge2 = format!("btb{id}");
    let (veth2, veth3) = (format!("btu{id}"), format!("btx{id}"));
    let (ns2, ns3) = (format!("btne{id}"), format!("btnd{id}"));
    let table = format!("berth_t{id}");
    g.links
        .extend([bridge.clone(), veth.clone(), cveth.clone()]);
    g.netns
        .extend([ns.clone(), cns.clone(), ns2.clone(), ns3.clone()]);
    g.links
        .extend([veth2.clone(), veth3.clone(), bridge2.clone()]);
    g.tables.push(table.clone());

    let nl = Netlink::open().unwrap();
    let subnet = free_subnet(&nl, 24, &[]);
    let gw = subnet.first_host();
    let cip = Ipv4Addr::from(u32::from(gw) + 1);

    // Bridge: created once, the second call only checks.
    let idx = nl.ensure_bridge(&bridge, Some(1500), gw, 24).unwrap();
    assert_eq!(nl.ensure_bridge(&bridge, Some(1500), gw, 24).unwrap(), idx);
    assert_eq!(nl.link_index(&bridge).unwrap(), Some(idx));
    assert!(nl
        .ipv4_routes()
        .unwrap()
        .contains(&(subnet.addr, subnet.prefix)));
    let (_, addrs) = sh(&["ip", "-4", "-o", "addr", "show", "dev", &bridge]);
    assert_eq!(addrs.matches("inet ").count(), 1, "{addrs}");
    link::enable_ip_forward().unwrap();
    link::set_route_localnet(&bridge, true).unwrap();

    // Container side: veth straight into a fresh netns, then its addresses.
    assert!(sh(&["ip", "netns", "add", &ns]).0);
    let nsfd = open_netns(&ns);
    let mac = link::mac_for(cip);
    let t0 = Instant::now();
    nl.create_veth(&veth, idx, 1500, "eth0", nsfd.as_fd(), Some(mac))
        .unwrap();
    let t1 = Instant::now();
    link::configure_container_side(nsfd.as_fd(), "eth0", cip, 24, Some(gw)).unwrap();
    let t2 = Instant::now();
    eprintln!(
        "veth into fresh netns: create {:?}, configure {:?}, total {:?}",
        t1 - t0,
        t2 - t1,
        t2 - t0
    );
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(
        read(&format!("/sys/class/net/{veth}/brport/hairpin_mode")).trim(),
        "1"
    );
    assert_eq!(read(&format!("/sys/class/net/{veth}/mtu")).trim(), "1500");
    assert!(read(&format!("/sys/class/net/{veth}/operstate")).trim() != "down");
    let (ok, out) = sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert!(ok && out.trim() == link::format_mac(mac), "{out}");
    let (_, out) = sh(&["ip", "netns", "exec", &ns, "ip", "-4", "route"]);
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    let (ok, out) = sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "busybox",
        "ping",
        "-c1",
        "-W1",
        &gw.to_string(),
    ]);
    assert!(ok, "ping gateway: {out}");

    // A server in the container, reachable first directly.
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, "python3", "-c", SERVER])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    g.children.push(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tcp_get(cip, 80).is_err() {
        assert!(
            Instant::now() < deadline,
            "server in container never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Publish host port P → container :80, TCP and UDP.
    let port = free_port();
    let plan = FirewallPlan {
        table: table.clone(),
        networks: vec![NetworkRule {
            bridge: bridge.clone(),
            subnet,
            gateway: gw,
            gateway_mode: GatewayMode::Nat,
            internal: false,
            masquerade: true,
            icc: true,
        }],
        ports: [Proto::Tcp, Proto::Udp]
            .map(|proto| PortRule {
                proto,
                host_ip: None,
                host_port: port,
                container_ip: cip,
                container_port: 80,
                bridge: bridge.clone(),
            })
            .to_vec(),
    };
    let t0 = Instant::now();
    firewall::apply(&plan).unwrap();
    firewall::apply(&plan).unwrap();
    // With a Docker engine on the host (FORWARD policy DROP), forwarded traffic needs its
    // DOCKER-USER accepts, as the daemon adds them.
    g.docker_user.push(bridge.clone());
    firewall::allow_through_docker(&g.docker_user);
    eprintln!("two firewall applies: {:?}", t0.elapsed());

    let host = host_address(&[&bridge, "lo"]);
    let got = tcp_get(Ipv4Addr::LOCALHOST, port).unwrap();
    assert!(got.starts_with("hi tcp from "), "{got}");
    let got = tcp_get(host, port).unwrap();
    assert!(got.starts_with("hi tcp from "), "{got}");
    assert_eq!(udp_get(Ipv4Addr::LOCALHOST, port).unwrap(), "hi udp");
    assert_eq!(udp_get(host, port).unwrap(), "hi udp");

    // Hairpin: the container reaches its own published port through the host address.
    let (ok, out) = client_cmd(&ns, "tcp", host, port);
    assert!(
        ok && out.contains(&format!("hi tcp from {gw}")),
        "hairpin: {out}"
    );

    // A second namespace routed through the host reaches the published port.
    let csub = free_subnet(&nl, 30, &[subnet]);
    let chost = Ipv4Addr::from(u32::from(csub.addr) + 1);
    let cpeer = Ipv4Addr::from(u32::from(csub.addr) + 2);
    assert!(sh(&["ip", "netns", "add", &cns]).0);
    let (ok, out) = sh(&[
        "ip", "link", "add", &cveth, "type", "veth", "peer", "name", "eth0", "netns", &cns,
    ]);
    assert!(ok, "{out}");
    nl.add_address(&cveth, chost, 30).unwrap();
    nl.set_up(&cveth).unwrap();
    let cfd = open_netns(&cns);
    link::configure_container_side(cfd.as_fd(), "eth0", cpeer, 30, Some(chost)).unwrap();
    let (ok, out) = client_cmd(&cns, "tcp", host, port);
    assert!(
        ok && out.contains(&format!("hi tcp from {cpeer}")),
        "from second netns: {out}"
    );
    let (ok, out) = client_cmd(&cns, "udp", host, port);
    assert!(ok && out.contains("hi udp"), "udp from second netns: {out}");
    // That peer routes the container subnet through the host, yet the container's own
    // address is closed to it (moby 28's direct-access protection) — unless the network
    // is `nat-unprotected`.
    assert!(
        sh(&[
            "ip",
            "-n",
            &cns,
            "route",
            "add",
            &subnet.to_string(),
            "via",
            &chost.to_string()
        ])
        .0
    );
    let (ok, out) = client_cmd(&cns, "tcp", cip, 80);
    assert!(!ok, "a routing peer reached the container directly: {out}");
    let mut unprotected = plan.clone();
    unprotected.networks[0].gateway_mode = GatewayMode::NatUnprotected;
    firewall::apply(&unprotected).unwrap();
    let (ok, out) = client_cmd(&cns, "tcp", cip, 80);
    assert!(
        ok && out.contains(&format!("hi tcp from {cpeer}")),
        "nat-unprotected: {out}"
    );
    firewall::apply(&plan).unwrap();

    // A second container on the same bridge reaches the first through the published
    // port (hairpin masquerade); a container on another berth network reaches the
    // published port but not the container directly (isolation).
    assert!(sh(&["ip", "netns", "add", &ns2]).0);
    let fd2 = open_netns(&ns2);
    let ip2 = Ipv4Addr::from(u32::from(cip) + 1);
    nl.create_veth(&veth2, idx, 1500, "eth0", fd2.as_fd(), None)
        .unwrap();
    link::configure_container_side(fd2.as_fd(), "eth0", ip2, 24, Some(gw)).unwrap();
    let (ok, out) = client_cmd(&ns2, "tcp", host, port);
    assert!(
        ok && out.contains(&format!("hi tcp from {gw}")),
        "neighbour: {out}"
    );

    let subnet2 = free_subnet(&nl, 24, &[subnet, csub]);
    let gw2 = subnet2.first_host();
    let ip3 = Ipv4Addr::from(u32::from(gw2) + 1);
    let idx2 = nl.ensure_bridge(&bridge2, None, gw2, 24).unwrap();
    assert!(sh(&["ip", "netns", "add", &ns3]).0);
    let fd3 = open_netns(&ns3);
    nl.create_veth(&veth3, idx2, 1500, "eth0", fd3.as_fd(), None)
        .unwrap();
    link::configure_container_side(fd3.as_fd(), "eth0", ip3, 24, Some(gw2)).unwrap();
    // Unprotected, so that only the isolation between networks stands in the way.
    let mut plan2 = unprotected.clone();
    firewall::apply(&plan2).unwrap();
    plan2.networks.push(NetworkRule {
        bridge: bridge2.clone(),
        subnet: subnet2,
        gateway: gw2,
        gateway_mode: GatewayMode::Nat,
        internal: false,
        masquerade: true,
        icc: true,
    });
    let (ok, out) = client_cmd(&ns3, "tcp", cip, 80);
    assert!(ok, "before isolation: {out}");
    firewall::apply(&plan2).unwrap();
    g.docker_user.push(bridge2.clone());
    firewall::allow_through_docker(&g.docker_user);
    let (ok, out) = client_cmd(&ns3, "tcp", cip, 80);
    assert!(!ok, "isolated network reached the container: {out}");
    let (ok, out) = client_cmd(&ns3, "tcp", host, port);
    assert!(
        ok && out.contains("hi tcp from"),
        "published port from other network: {out}"
    );
    // An internal network forwards nothing out of its bridge.
    plan2.networks[1].internal = true;
    firewall::apply(&plan2).unwrap();
    let (ok, out) = client_cmd(&ns3, "tcp", host, port);
    assert!(!ok, "internal network got out: {out}");

    // Reconciliation helpers see our links.
    let ours = nl.links_with_prefix("bt").unwrap();
    for l in [&bridge, &veth, &cveth, &bridge2, &veth2, &veth3] {
        assert!(ours.contains(l), "{l} missing from {ours:?}");
    }

    // Tear down and check nothing is left.
    for c in &mut g.children {
        let _ = c.kill();
        let _ = c.wait();
    }
    g.children.clear();
    firewall::delete_table(&table).unwrap();
    firewall::delete_table(&table).unwrap();
    nl.delete_link(&veth).unwrap();
    nl.delete_link(&cveth).unwrap();
    nl.delete_link(&veth2).unwrap();
    nl.delete_link(&veth3).unwrap();
    nl.delete_link(&bridge2).unwrap();
    nl.delete_link(&bridge).unwrap();
    nl.delete_link(&bridge).unwrap();
    for n in [&ns, &cns, &ns2, &ns3] {
        assert!(sh(&["ip", "netns", "del", n]).0);
    }
    let (_, tables) = sh(&["nft", "list", "tables"]);
    assert!(!tables.contains(&table), "{tables}");
    let (_, links) = sh(&["ip", "-o", "link", "show"]);
    assert!(!links.contains(&id), "{links}");
    assert!(nl
        .links_with_prefix("bt")
        .unwrap()
        .iter()
        .all(|l| !l.contains(&id)));
}

#[test]
fn missing_links_and_mac() {
    if !usable() {
        return;
    }
    let mut g = Guard::default();
    let id = hex(&random_bytes::<3>());
    let bridge = format!("btm{id}");
    g.links.push(bridge.clone());
    let nl = Netlink::open().unwrap();
    assert_eq!(nl.link_index(&format!("btx{id}")).unwrap(), None);
    nl.delete_link(&format!("btx{id}")).unwrap();
    let err = nl.set_up(&format!("btx{id}")).unwrap_err();
    assert!(err.to_string().contains(&format!("btx{id}")), "{err}");
    let subnet = free_subnet(&nl, 24, &[]);
    nl.ensure_bridge(&bridge, None, subnet.first_host(), 24)
        .unwrap();
    let mac = [0x02, 0x42, 0x0a, 0x01, 0x02, 0x03];
    nl.set_mac(&bridge, mac).unwrap();
    let got = std::fs::read_to_string(format!("/sys/class/net/{bridge}/address")).unwrap();
    assert_eq!(link::parse_mac(got.trim()), Some(mac));
    // Re-running with an MTU on an existing bridge only changes the MTU.
    nl.ensure_bridge(&bridge, Some(1400), subnet.first_host(), 24)
        .unwrap();
    let mtu = std::fs::read_to_string(format!("/sys/class/net/{bridge}/mtu")).unwrap();
    assert_eq!(mtu.trim(), "1400");
    nl.delete_link(&bridge).unwrap();
    assert_eq!(nl.link_index(&bridge).unwrap(), None);
}

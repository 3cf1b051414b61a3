//! End-to-end networking on the real kernel, through the unmodified docker CLI and our
//! own: the default bridge, published ports (from the host, from another network
//! namespace, hairpin, UDP), user-defined networks with the embedded DNS server,
//! `--internal`, live connect/disconnect, cleanup and daemon restarts.
//!
//! Every daemon here has its own bridge and /24 (see `common::TestDaemon`); every other
//! address used is on this machine.

mod common;

use common::netns::{ip, Netns};
use common::{random_hex, wait_for, TestDaemon};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// An HTTP/1.0 GET; returns the body, or None when nothing answered.
fn http_get(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// Waits until `addr` serves `want` (the server in the container needs a moment).
fn wait_http(addr: &str, want: &str) {
    wait_for(
        &format!("{want} at {addr}"),
        Duration::from_secs(30),
        || http_get(addr).filter(|b| b.contains(want)),
    );
}

/// Waits until a process in container `c` listens on TCP `port` (read from its network
/// namespace's /proc/net/tcp{,6} through an exec): `run -d` returns before the command in
/// the container has got that far.
fn wait_listening(d: &TestDaemon, c: &str, port: u16) {
    let local = format!(":{port:04X}");
    wait_for(
        &format!("{c} to listen on {port}"),
        Duration::from_secs(30),
        || {
            let o = d.docker(&["exec", c, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
            o.stdout
                .lines()
                .any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.get(1).is_some_and(|a| a.ends_with(&local)) && f.get(3) == Some(&"0A")
                })
                .then_some(())
        },
    );
}

/// `run -d` of a busybox web server answering `body` on port 80.
fn web(d: &TestDaemon, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker(&args).out()
}

/// The first global IPv4 address of this host (not loopback, not a test bridge).
fn host_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let dev = f.get(1)?;
        if dev.starts_with("bt") || dev.starts_with("br-") || dev.starts_with("veth") {
            return None;
        }
        Some(f.get(3)?.split('/').next()?.to_string())
    })
}

/// A second "host": a network namespace joined to this one by a veth pair on its own /30.
struct TestHost {
    ns: String,
    host_end: String,
    /// The address on this host's side (what the test host connects to).
    near: String,
}

impl TestHost {
    fn new() -> TestHost {
        let tag = random_hex(6);
        let ns = format!("bthost{tag}");
        let host_end = format!("bth{tag}");
        let peer = format!("btp{tag}");
        let octet = u32::from_str_radix(&tag[..4], 16).unwrap();
        let (a, b) = (250 + (octet % 5), (octet >> 3) % 64 * 4);
        let near = format!("10.{a}.{}.{}", (octet >> 9) % 256, b + 1);
        let far = format!("10.{a}.{}.{}", (octet >> 9) % 256, b + 2);
        ip(&["netns", "add", &ns]);
        let h = TestHost {
            ns: ns.clone(),
            host_end: host_end.clone(),
            near: near.clone(),
        };
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["link", "set", &peer, "netns", &ns]);
        ip(&["addr", "add", &format!("{near}/30"), "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("{far}/30"), "dev", &peer]);
        ip(&["-n", &ns, "link", "set", &peer, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "route", "add", "default", "via", &near]);
        h
    }

    /// An HTTP GET from inside the test host with busybox nc.
    fn http_get(&self, addr: &str, port: u16) -> String {
        let mut c = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "/bin/busybox",
                "nc",
                "-w",
                "3",
                addr,
            ])
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nc");
        c.stdin
            .take()
            .unwrap()
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn default_bridge_gives_an_address_a_route_and_hosts_entries() {
    daemon!(d);
    let gw = d.gateway();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--hostname",
            "box1",
            "--add-host",
            "db.local:10.9.8.7",
            "--add-host",
            "gw:host-gateway",
            "busybox",
            "sh",
            "-c",
            &format!("ip -4 -o addr show eth0; ip route; cat /etc/hosts; ping -c1 -W2 {gw} >/dev/null && echo PING-OK"),
        ])
        .out();
    let prefix = d.subnet.trim_end_matches("0/24");
    assert!(out.contains(&format!("inet {prefix}")), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    assert!(out.contains("PING-OK"), "{out}");
    assert!(out.contains("10.9.8.7\tdb.local"), "{out}");
    assert!(out.contains(&format!("{gw}\tgw")), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(prefix) && l.ends_with("\tbox1")),
        "{out}"
    );

    // Two containers get two addresses; inspect shows them; removal frees them.
    let a = d.docker(&["run", "-d", "busybox", "sleep", "60"]).out();
    let b = d.docker(&["run", "-d", "busybox", "sleep", "60"]).out();
    let ip_a = d.inspect(&a, "{{.NetworkSettings.IPAddress}}");
    let ip_b = d.inspect(&b, "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert!(
        ip_a.starts_with(prefix) && ip_b.starts_with(prefix),
        "{ip_a} {ip_b}"
    );
    assert_ne!(ip_a, ip_b);
    assert_eq!(
        d.inspect(&a, "{{.NetworkSettings.Networks.bridge.Gateway}}"),
        gw
    );
    let mac = d.inspect(&a, "{{.NetworkSettings.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "{mac}");
    // Containers on the default bridge reach each other by address.
    d.docker(&["exec", &b, "ping", "-c1", "-W2", &ip_a]).ok();
    // docker stats counts the traffic of the container's interfaces.
    let net_io = d
        .docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", &b])
        .out();
    assert!(!net_io.starts_with("0B"), "stats NetIO: {net_io}");
    let listed = d
        .docker(&["network", "inspect", "bridge", "-f", "{{len .Containers}}"])
        .out();
    assert_eq!(listed, "2");
    d.docker(&["rm", "-f", &a, &b]).ok();
    let listed = d
        .docker(&["network", "inspect", "bridge", "-f", "{{len .Containers}}"])
        .out();
    assert_eq!(listed, "0");
    // A stopped container shows no address (Docker's behaviour).
    let c = d.docker(&["create", "busybox", "true"]).out();
    assert_eq!(d.inspect(&c, "{{.NetworkSettings.IPAddress}}"), "");
}

#[test]
fn published_ports_answer_from_the_host_and_from_another_namespace() {
    daemon!(d);
    let port = free_port();
    let id = web(&d, &["-p", &format!("{port}:80")], "hello-published");
    // Reachable as soon as `run -d` returned (the server itself needs a moment to bind).
    wait_http(&format!("127.0.0.1:{port}"), "hello-published");
    if let Some(addr) = host_address() {
        wait_http(&format!("{addr}:{port}"), "hello-published");
    }
    let th = TestHost::new();
    // The fresh veth pair may need a moment before the first connection goes through.
    let got = wait_for(
        "the port from the test host",
        Duration::from_secs(30),
        || {
            let got = th.http_get(&th.near, port);
            got.contains("hello-published").then_some(got)
        },
    );
    assert!(got.contains("hello-published"), "from test host: {got:?}");

    // docker port and ps show the mapping.
    let p = d.docker(&["port", &id]).out();
    assert_eq!(p, format!("80/tcp -> 0.0.0.0:{port}"));
    let ps = d.docker(&["ps", "--format", "{{.Ports}}"]).out();
    assert_eq!(ps, format!("0.0.0.0:{port}->80/tcp"));
    // berth port agrees.
    assert_eq!(
        d.berth(&["port", &id, "80"]).out(),
        format!("0.0.0.0:{port}")
    );

    // The same host port again is refused before the container runs.
    let clash = d.docker(&[
        "run",
        "-d",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "5",
    ]);
    assert_ne!(clash.code, 0);
    assert!(
        clash.stderr.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        clash.stderr
    );
    // A port another process holds is refused too.
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let hp = held.local_addr().unwrap().port();
    let clash = d.docker(&["run", "-d", "-p", &format!("{hp}:80"), "busybox", "true"]);
    assert!(
        clash.stderr.contains("port is already allocated"),
        "{}",
        clash.stderr
    );

    // Removing the container frees the port and its rules.
    d.docker(&["rm", "-f", &id]).ok();
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
    std::net::TcpListener::bind(("0.0.0.0", port)).expect("port is free again");
}

#[test]
fn ephemeral_ports_publish_all_ranges_and_host_ip() {
    daemon!(d);
    // -p 127.0.0.1::80 → an ephemeral port on loopback only.
    let id = web(&d, &["-p", "127.0.0.1::80"], "ephemeral");
    let p = d.docker(&["port", &id, "80/tcp"]).out();
    let (ip, port) = p.rsplit_once(':').unwrap();
    assert_eq!(ip, "127.0.0.1");
    wait_http(&format!("127.0.0.1:{port}"), "ephemeral");
    if let Some(addr) = host_address() {
        assert!(
            http_get(&format!("{addr}:{port}")).is_none(),
            "bound to loopback only"
        );
    }
    // -P publishes every EXPOSEd port.
    let all = web(
        &d,
        &["-P", "--expose", "80", "--expose", "81/udp"],
        "publish-all",
    );
    let p = d.docker(&["port", &all]).out();
    assert_eq!(p.lines().count(), 2, "{p}");
    let tcp = p.lines().find(|l| l.starts_with("80/tcp")).unwrap();
    let port = tcp.rsplit_once(':').unwrap().1;
    wait_http(&format!("127.0.0.1:{port}"), "publish-all");
    // A host port range picks a free port in it.
    let base = free_port();
    let ranged = d
        .docker(&[
            "run",
            "-d",
            "-p",
            &format!("{base}-{}:80", base as u32 + 5),
            "busybox",
            "sleep",
            "30",
        ])
        .out();
    let p = d.docker(&["port", &ranged, "80"]).out();
    let got: u32 = p.rsplit_once(':').unwrap().1.parse().unwrap();
    assert!((base as u32..=base as u32 + 5).contains(&got), "{p}");
}

/// A static UDP echo server (busybox has no UDP server): compiled with the host's gcc and
/// imported as a one-file image. None when gcc or a static libc is missing.
fn udp_echo_image(d: &TestDaemon) -> Option<&'static str> {
    let dir = d.dir.join("udpecho");
    std::fs::create_dir_all(dir.join("root")).ok()?;
    std::fs::write(
        dir.join("echo.c"),
        "#include <sys/socket.h>\n#include <netinet/in.h>\n\
         int main(void){int s=socket(AF_INET,SOCK_DGRAM,0);struct sockaddr_in a={0};\
         a.sin_family=AF_INET;a.sin_port=htons(5353);if(bind(s,(void*)&a,sizeof a))return 1;\
         char b[1500];for(;;){struct sockaddr_in f;socklen_t l=sizeof f;\
         int n=recvfrom(s,b,sizeof b,0,(void*)&f,&l);if(n>0)sendto(s,b,n,0,(void*)&f,l);}}\n",
    )
    .ok()?;
    let ok = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("root/udpecho"))
        .arg(dir.join("echo.c"))
        .status()
        .ok()?
        .success();
    if !berth_testkit::require(ok, "gcc -static", "apt-get install gcc libc6-dev") {
        return None;
    }
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir.join("root"))
        .args(["-c", "."])
        .output()
        .ok()?
        .stdout;
    d.docker_stdin(&["import", "-", "udpecho:1"], &tar).ok();
    Some("udpecho:1")
}

#[test]
fn udp_and_hairpin() {
    daemon!(d);
    if let Some(image) = udp_echo_image(&d) {
        let port = free_port();
        d.docker(&[
            "run",
            "-d",
            "-p",
            &format!("{port}:5353/udp"),
            image,
            "/udpecho",
        ])
        .ok();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let got = wait_for("udp echo", Duration::from_secs(30), || {
            sock.send_to(b"udp-hello", ("127.0.0.1", port)).ok()?;
            let mut buf = [0u8; 64];
            let (n, _) = sock.recv_from(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        });
        assert_eq!(got, "udp-hello");
    }

    // Hairpin: a container reaches another one's published port through the host.
    let hp = free_port();
    web(&d, &["-p", &format!("{hp}:80")], "hairpin-ok");
    wait_http(&format!("127.0.0.1:{hp}"), "hairpin-ok");
    let gw = d.gateway();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("echo 'GET / HTTP/1.0\r\n' | nc -w 3 {gw} {hp}"),
        ])
        .out();
    assert!(out.contains("hairpin-ok"), "{out}");
}

#[test]
fn user_network_names_aliases_isolation_and_internal() {
    daemon!(d);
    let sub_a = common::free_test_subnet();
    let net = format!("app{}", random_hex(4));
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &sub_a,
        "--label",
        "tier=web",
        "-o",
        "com.docker.network.driver.mtu=1400",
        &net,
    ])
    .ok();
    let ls = d
        .docker(&[
            "network",
            "ls",
            "--filter",
            "label=tier=web",
            "--format",
            "{{.Name}} {{.Driver}}",
        ])
        .out();
    assert_eq!(ls, format!("{net} bridge"));
    assert_eq!(
        d.docker(&[
            "network",
            "inspect",
            &net,
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}"
        ])
        .out(),
        sub_a
    );
    // A server known by name and by an alias; two more behind one shared alias.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "--network-alias",
        "api",
        "busybox",
        "sh",
        "-c",
        "echo from-srv | nc -l -p 7000 && sleep 60",
    ])
    .ok();
    let r1 = d
        .docker(&[
            "run",
            "-d",
            "--network",
            &net,
            "--network-alias",
            "pool",
            "busybox",
            "sleep",
            "60",
        ])
        .out();
    let r2 = d
        .docker(&[
            "run",
            "-d",
            "--network",
            &net,
            "--network-alias",
            "pool",
            "busybox",
            "sleep",
            "60",
        ])
        .out();
    let ip1 = d.inspect(
        &r1,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let ip2 = d.inspect(
        &r2,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let listed = d
        .docker(&["ps", "-q", "--filter", &format!("network={net}")])
        .out();
    assert_eq!(listed.lines().count(), 3, "ps --filter network: {listed}");
    // srv's `nc -l` serves one connection: it must be listening before the client below.
    wait_listening(&d, "srv", 7000);
    let out = d
        .docker(&[
            "run", "--rm", "--network", &net, "busybox", "sh", "-c",
            "cat /etc/resolv.conf; ip link show eth0; nslookup api; nslookup pool; nc -w 3 srv 7000",
        ])
        .out();
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains("options ndots:0"), "{out}");
    assert!(out.contains("mtu 1400"), "{out}");
    assert!(
        out.contains(&ip1) && out.contains(&ip2),
        "round robin alias: {out}"
    );
    assert!(out.contains("from-srv"), "{out}");

    // Another network cannot resolve or reach them.
    let other = format!("other{}", random_hex(4));
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &common::free_test_subnet(),
        &other,
    ])
    .ok();
    let out = d.docker(&[
        "run", "--rm", "--network", &other, "busybox", "sh", "-c",
        &format!("nslookup srv 127.0.0.11 >/dev/null 2>&1 && echo RESOLVED; ping -c1 -W1 {ip1} >/dev/null 2>&1 && echo REACHED; echo done"),
    ]);
    let text = out.out();
    assert!(
        !text.contains("RESOLVED") && !text.contains("REACHED"),
        "{text}"
    );

    // --internal: no route out, not even to the host.
    let internal = format!("int{}", random_hex(4));
    d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &common::free_test_subnet(),
        &internal,
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &internal,
            "busybox",
            "sh",
            "-c",
            "ip route; ping -c1 -W1 192.0.2.2 >/dev/null 2>&1 && echo OUT; echo done",
        ])
        .out();
    assert!(!out.contains("default"), "{out}");
    assert!(!out.contains("OUT"), "{out}");

    // icc=false: containers on the network reach the gateway but not each other (bridge
    // ports isolated; no br_netfilter needed), and names still resolve.
    let noicc = format!("noicc{}", random_hex(4));
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &common::free_test_subnet(),
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        &noicc,
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "lonely",
        "--network",
        &noicc,
        "busybox",
        "sh",
        "-c",
        "while true; do echo from-lonely | nc -l -p 7000; done",
    ])
    .ok();
    // Listening, so that the icc=false check below really had something to miss.
    wait_listening(&d, "lonely", 7000);
    let gw = d
        .docker(&[
            "network",
            "inspect",
            &noicc,
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
        ])
        .out();
    let out = d
        .docker(&[
            "run", "--rm", "--network", &noicc, "busybox", "sh", "-c",
            &format!("nslookup lonely >/dev/null && echo RESOLVED; nc -w 2 lonely 7000; ping -c1 -W2 {gw} >/dev/null && echo GATEWAY; echo done"),
        ])
        .out();
    assert!(out.contains("RESOLVED") && out.contains("GATEWAY"), "{out}");
    assert!(
        !out.contains("from-lonely"),
        "icc=false let a neighbour through: {out}"
    );
    // The same server on a network with icc answers (the check above can fail).
    d.docker(&["network", "connect", &net, "lonely"]).ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "nc",
            "-w",
            "3",
            "lonely",
            "7000",
        ])
        .out();
    assert_eq!(out, "from-lonely");

    // Removing a network in use is refused; prune leaves it alone and takes the unused one.
    let rm = d.docker(&["network", "rm", &net]);
    assert_ne!(rm.code, 0);
    assert!(rm.stderr.contains("has active endpoints"), "{}", rm.stderr);
    let pruned = d.docker(&["network", "prune", "-f"]).out();
    assert!(
        pruned.contains(&other) && pruned.contains(&internal),
        "{pruned}"
    );
    assert!(!pruned.contains(&net), "{pruned}");
}

#[test]
fn connect_disconnect_ip_and_container_mode() {
    daemon!(d);
    let sub = common::free_test_subnet();
    let net = format!("lv{}", random_hex(4));
    d.berth(&["network", "create", "--subnet", &sub, &net]).ok();
    let fixed = sub.replace(".0/24", ".77");
    let c = d
        .docker(&["run", "-d", "--name", "live", "busybox", "sleep", "60"])
        .out();
    d.docker(&[
        "network", "connect", "--ip", &fixed, "--alias", "lv-alias", &net, "live",
    ])
    .ok();
    let out = d.docker(&["exec", &c, "ip", "-4", "-o", "addr"]).out();
    assert!(
        out.contains(&format!("eth1    inet {fixed}/24"))
            || out.contains(&format!("inet {fixed}/24")),
        "{out}"
    );
    // Others on that network resolve the alias to the fixed address.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "nslookup",
            "lv-alias",
        ])
        .out();
    assert!(out.contains(&fixed), "{out}");
    // The same --ip again is refused.
    let dup = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &fixed,
        "busybox",
        "true",
    ]);
    assert_ne!(dup.code, 0);
    assert!(
        dup.stderr.contains("Address already in use"),
        "{}",
        dup.stderr
    );
    // --ip on the default bridge is Docker's error.
    let bad = d.docker(&["run", "--rm", "--ip", "10.1.1.1", "busybox", "true"]);
    assert!(
        bad.stderr
            .contains("user specified IP address is supported on user defined networks only"),
        "{}",
        bad.stderr
    );

    d.docker(&["network", "disconnect", &net, "live"]).ok();
    let out = d.docker(&["exec", &c, "ip", "-o", "link"]).out();
    assert!(!out.contains("eth1"), "{out}");
    // The address is free again.
    d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &fixed,
        "busybox",
        "true",
    ])
    .ok();

    // container:<id> shares the namespace (same eth0 address).
    let mine = d.inspect(&c, "{{.NetworkSettings.IPAddress}}");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "container:live",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .out();
    assert!(out.contains(&format!("inet {mine}/")), "{out}");
    // `berth inspect` falls back to networks, as docker's does.
    assert_eq!(
        d.berth(&["inspect", "-f", "{{.Driver}}", &net]).out(),
        "bridge"
    );
    // Our CLI lists and removes networks too.
    assert!(d.berth(&["network", "ls", "-q"]).out().lines().count() >= 4);
    d.docker(&["rm", "-f", "live"]).ok();
    d.berth(&["network", "rm", &net]).ok();
    let gone = d.docker(&["network", "inspect", &net]);
    assert_ne!(gone.code, 0);
    assert!(
        gone.stderr.contains(&format!("network {net} not found")),
        "{}",
        gone.stderr
    );
}

#[test]
fn daemon_restart_keeps_ports_and_dns_and_cleans_up_on_stop() {
    if !common::can_run() {
        return;
    }
    let mut d = TestDaemon::start();
    let sub = common::free_test_subnet();
    let net = format!("rs{}", random_hex(4));
    d.docker(&["network", "create", "--subnet", &sub, &net])
        .ok();
    let port = free_port();
    web(
        &d,
        &[
            "--name",
            "keep",
            "--network",
            &net,
            "-p",
            &format!("{port}:80"),
        ],
        "survives",
    );
    wait_http(&format!("127.0.0.1:{port}"), "survives");
    d.kill9();
    // The rules live in the kernel: traffic flows while the daemon is down.
    wait_http(&format!("127.0.0.1:{port}"), "survives");
    d.restart_daemon();
    wait_http(&format!("127.0.0.1:{port}"), "survives");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "nslookup",
            "keep",
        ])
        .out();
    let ip = d.inspect(
        "keep",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    assert!(out.contains(&ip), "{out}");
    // No address was handed out twice across the restart.
    let other = d
        .docker(&["run", "-d", "--network", &net, "busybox", "sleep", "30"])
        .out();
    let ip2 = d.inspect(
        &other,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    assert_ne!(ip, ip2);
    // A container that ends while the daemon is down: the next start releases its
    // address, its port and its rule (nothing leaks).
    let gone_port = free_port();
    let gone = web(
        &d,
        &["--network", &net, "-p", &format!("{gone_port}:80")],
        "short-lived",
    );
    wait_http(&format!("127.0.0.1:{gone_port}"), "short-lived");
    let gone_ip = d.inspect(
        &gone,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let pid: i32 = d.inspect(&gone, "{{.State.Pid}}").parse().unwrap();
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the container to end", Duration::from_secs(30), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    d.restart_daemon();
    assert_eq!(d.inspect(&gone, "{{.State.Running}}"), "false");
    let members = d
        .docker(&[
            "network",
            "inspect",
            &net,
            "-f",
            "{{range .Containers}}{{.IPv4Address}} {{end}}",
        ])
        .out();
    assert!(!members.contains(&format!("{gone_ip}/")), "{members}");
    assert!(http_get(&format!("127.0.0.1:{gone_port}")).is_none());
    std::net::TcpListener::bind(("0.0.0.0", gone_port)).expect("the port is free again");
    let rules = String::from_utf8(
        Command::new("nft")
            .args([
                "list",
                "table",
                "ip",
                &berth_daemon::networks::table_name(&d.data_root),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!rules.contains(&format!("dport {gone_port} ")), "{rules}");
    d.docker(&["rm", "-f", "keep", &other, &gone]).ok();
    // With nothing running, a clean stop removes this daemon's table and user bridges.
    let user_bridge = format!(
        "br-{}",
        &d.docker(&["network", "inspect", &net, "-f", "{{.Id}}"])
            .out()[..12]
    );
    let table = berth_daemon::networks::table_name(&d.data_root);
    let listed = String::from_utf8(
        Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(listed.contains(&table), "{listed}");
    d.stop_daemon();
    let listed = String::from_utf8(
        Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!listed.contains(&table), "{listed}");
    let links = String::from_utf8(
        Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains(&format!(" {user_bridge}:")), "{links}");
    // The default bridge stays, as docker0 does (an admin may have made it for --bridge).
    assert!(links.contains(&format!(" {}:", d.bridge)), "{links}");
    d.restart_daemon();
}

#[test]
fn two_daemons_do_not_disturb_each_other() {
    if !common::can_run() {
        return;
    }
    let a = TestDaemon::start();
    let mut b = TestDaemon::start();
    let (pa, pb) = (free_port(), free_port());
    web(&a, &["-p", &format!("{pa}:80")], "daemon-a");
    web(&b, &["-p", &format!("{pb}:80")], "daemon-b");
    wait_http(&format!("127.0.0.1:{pa}"), "daemon-a");
    wait_http(&format!("127.0.0.1:{pb}"), "daemon-b");
    // B goes away entirely; A's container keeps its port and its way out.
    let ids = b.container_ids();
    for id in ids {
        b.docker(&["rm", "-f", &id]).ok();
    }
    b.stop_daemon();
    wait_http(&format!("127.0.0.1:{pa}"), "daemon-a");
    let gw = a.gateway();
    a.docker(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &gw])
        .ok();
    b.restart_daemon();
    let _ = Ipv4Addr::LOCALHOST;
}

fn in_ns(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec")
}

/// A Docker engine on the same host sets the iptables FORWARD policy to DROP and sends
/// forwarded traffic through its DOCKER-USER chain first. Simulated in a namespace of our
/// own (the daemon runs inside it, with a second namespace as "the outside world"): berth's
/// containers still get out, because berth accepts its bridges in DOCKER-USER — and
/// without those accepts (protection off) they do not.
#[test]
fn containers_get_out_past_a_docker_engines_forward_drop() {
    if !common::can_run() || Command::new("iptables").arg("--version").output().is_err() {
        return;
    }
    let tag = random_hex(6);
    let host = Netns::add(format!("btdk{tag}"));
    let outside = Netns::add(format!("btout{tag}"));
    let octet = u32::from_str_radix(&tag[..2], 16).unwrap();
    let (_near, far) = host.join("up0", &outside, "down0", 249, octet);
    // What dockerd does to a host's filter table.
    for rule in [
        vec!["iptables", "-P", "FORWARD", "DROP"],
        vec!["iptables", "-N", "DOCKER-USER"],
        vec!["iptables", "-A", "DOCKER-USER", "-j", "RETURN"],
        vec!["iptables", "-I", "FORWARD", "-j", "DOCKER-USER"],
    ] {
        let o = in_ns(&host.0, &rule);
        assert!(
            o.status.success(),
            "{rule:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let d = TestDaemon::start_with(common::DaemonOptions {
        netns: Some(host.0.clone()),
        ..Default::default()
    });
    let ping = |d: &TestDaemon| {
        d.docker(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &far])
            .code
    };
    assert_eq!(
        ping(&d),
        0,
        "a berth container reaches the outside past the DROP policy"
    );
    let rules = String::from_utf8_lossy(&in_ns(&host.0, &["iptables", "-S", "DOCKER-USER"]).stdout)
        .into_owned();
    assert!(
        rules.contains(&format!("-A DOCKER-USER -i {} -j ACCEPT", d.bridge)),
        "{rules}"
    );
    // Protection off: without berth's accepts Docker's policy drops the traffic.
    for dir in ["-i", "-o"] {
        in_ns(
            &host.0,
            &[
                "iptables",
                "-D",
                "DOCKER-USER",
                dir,
                &d.bridge,
                "-j",
                "ACCEPT",
            ],
        );
    }
    assert_ne!(
        ping(&d),
        0,
        "Docker's DROP policy applies once the accepts are gone"
    );
    drop(d);
    // The daemon's clean stop took its accepts out of DOCKER-USER.
    let rules = String::from_utf8_lossy(&in_ns(&host.0, &["iptables", "-S", "DOCKER-USER"]).stdout)
        .into_owned();
    assert!(!rules.contains("ACCEPT"), "{rules}");
}

/// A fake upstream resolver: knows one external name.
struct FakeUpstream;

impl berth_net::dns::Resolve for FakeUpstream {
    fn lookup_a(&self, _requester: &str, name: &str) -> berth_net::dns::Lookup {
        if name == "external.example" {
            berth_net::dns::Lookup::Found(vec![Ipv4Addr::new(203, 0, 113, 7)])
        } else {
            berth_net::dns::Lookup::NotFound
        }
    }
    fn lookup_ptr(&self, _requester: &str, _ip: Ipv4Addr) -> Option<String> {
        None
    }
    fn may_forward(&self, _requester: &str) -> bool {
        false
    }
}

/// Names that are not containers go to the host's resolvers (from the daemon's side), and
/// containers only on an internal network get no answer for them. The daemon runs in a
/// namespace of its own whose /etc/resolv.conf (`ip netns exec` binds /etc/netns/<ns>/)
/// names a fake upstream on that namespace's loopback.
#[test]
fn embedded_dns_forwards_to_the_hosts_resolvers() {
    if !common::can_run() {
        return;
    }
    let ns = Netns::add(format!("btdns{}", random_hex(6)));
    struct EtcDir(std::path::PathBuf);
    impl Drop for EtcDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let etc = EtcDir(std::path::PathBuf::from(format!("/etc/netns/{}", ns.0)));
    std::fs::create_dir_all(&etc.0).unwrap();
    std::fs::write(
        etc.0.join("resolv.conf"),
        "nameserver 127.0.0.1\nsearch corp.example\n",
    )
    .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let nsfd = std::fs::File::open(format!("/var/run/netns/{}", ns.0)).unwrap();
    let (udp, tcp) = berth_net::netns::run_in_netns(std::os::fd::AsFd::as_fd(&nsfd), || {
        berth_net::dns::bind_at("127.0.0.1:53".parse().unwrap())
    })
    .expect("bind the fake upstream");
    let _server = rt.block_on(async {
        berth_net::dns::serve(
            udp,
            tcp,
            "upstream".into(),
            std::sync::Arc::new(FakeUpstream),
            std::sync::Arc::new(berth_net::dns::Upstreams::new(vec![])),
        )
    });

    let d = TestDaemon::start_with(common::DaemonOptions {
        netns: Some(ns.0.clone()),
        ..Default::default()
    });
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &common::free_test_subnet(),
        "fwd",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "fwd",
            "busybox",
            "sh",
            "-c",
            "cat /etc/resolv.conf; nslookup external.example",
        ])
        .out();
    assert!(out.contains("# ExtServers: [host(127.0.0.1)]"), "{out}");
    assert!(out.contains("search corp.example"), "{out}");
    assert!(out.contains("203.0.113.7"), "forwarded: {out}");
    d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &common::free_test_subnet(),
        "closed",
    ])
    .ok();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "closed",
        "busybox",
        "nslookup",
        "external.example",
    ]);
    assert!(
        !out.all().contains("203.0.113.7"),
        "internal: {}",
        out.all()
    );
    // The default bridge has no embedded DNS: the host's loopback resolver is unusable
    // there, so Docker's fallback servers are written.
    let rc = d
        .docker(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"])
        .out();
    assert!(rc.contains("nameserver 8.8.8.8"), "{rc}");
    drop(d);
}

#[test]
fn run_flags_for_names_addresses_and_resolvers() {
    daemon!(d);
    // --dns / --dns-search / --dns-option / --mac-address on the default bridge.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:3",
            "--mac-address",
            "02:42:de:ad:be:ef",
            "busybox",
            "sh",
            "-c",
            "cat /etc/resolv.conf; ip link show eth0",
        ])
        .out();
    assert!(out.contains("nameserver 192.0.2.53"), "{out}");
    assert!(out.contains("search example.test"), "{out}");
    assert!(out.contains("options ndots:3"), "{out}");
    assert!(out.contains("link/ether 02:42:de:ad:be:ef"), "{out}");
    // --link: the target by alias and name in /etc/hosts.
    d.docker(&["run", "-d", "--name", "db", "busybox", "sleep", "60"])
        .ok();
    let db_ip = d.inspect("db", "{{.NetworkSettings.IPAddress}}");
    let hosts = d
        .docker(&[
            "run",
            "--rm",
            "--link",
            "db:database",
            "busybox",
            "cat",
            "/etc/hosts",
        ])
        .out();
    let line = hosts
        .lines()
        .find(|l| l.starts_with(&format!("{db_ip}\t")))
        .unwrap_or("");
    assert!(line.contains("database") && line.contains("db"), "{hosts}");
    // --gateway and --ip-range: the bridge takes the gateway, containers the range.
    let sub = common::free_test_subnet();
    let base = sub.trim_end_matches("0/24");
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &sub,
        "--gateway",
        &format!("{base}254"),
        "--ip-range",
        &format!("{base}128/25"),
        "ranged",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "ranged",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ip route",
        ])
        .out();
    assert!(out.contains(&format!("inet {base}128/24")), "{out}");
    assert!(out.contains(&format!("default via {base}254")), "{out}");
    let gw = d
        .docker(&[
            "network",
            "inspect",
            "ranged",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).IPRange}}",
        ])
        .out();
    assert_eq!(gw, format!("{base}254 {base}128/25"));
    // Bad values are refused with Docker's messages.
    let bad = d.docker(&["network", "create", "--subnet", "10.1.2.3/16", "badnet"]);
    assert!(
        bad.stderr
            .contains("invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"),
        "{}",
        bad.stderr
    );
    let dup = d.docker(&["network", "create", "ranged"]);
    assert!(
        dup.stderr
            .contains("network with name ranged already exists"),
        "{}",
        dup.stderr
    );
    // A host interface is never taken over as a bridge (removing the network would
    // delete it).
    let taken = d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.name=lo",
        "lonet",
    ]);
    assert!(
        taken
            .stderr
            .contains("bridge name lo is already in use on this host"),
        "{}",
        taken.stderr
    );
    let rm = d.docker(&["network", "rm", "bridge"]);
    assert!(
        rm.stderr
            .contains("bridge is a pre-defined network and cannot be removed"),
        "{}",
        rm.stderr
    );
    // --link-local-ip: an extra /16 on the interface, as libnetwork adds it.
    let ll = d
        .docker(&[
            "run",
            "--rm",
            "--link-local-ip",
            "169.254.7.7",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .out();
    assert!(ll.contains("inet 169.254.7.7/16"), "{ll}");
}

/// `--bridge none` (dockerd's way to disable the default network): no `bridge` network, and
/// containers without `--network` get only loopback.
#[test]
fn bridge_none_disables_the_default_network() {
    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start_with(common::DaemonOptions {
        args: vec!["--bridge".into(), "none".into()],
        ..Default::default()
    });
    let nets = d.docker(&["network", "ls", "--format", "{{.Name}}"]).out();
    assert!(!nets.lines().any(|l| l == "bridge"), "{nets}");
    let links = d
        .docker(&["run", "--rm", "busybox", "ls", "/sys/class/net"])
        .out();
    assert_eq!(links, "lo");
}

/// `--default-address-pool` (dockerd's flag) decides where networks without `--subnet`
/// come from, and two daemons creating networks at once from the same pool never get
/// the same subnet (the choice and the bridge's route are made under one host-wide lock).
#[test]
fn address_pools_are_shared_safely_between_daemons() {
    if !common::can_run() {
        return;
    }
    let pool = common::free_test_subnet();
    let opts = || common::DaemonOptions {
        args: vec![
            "--default-address-pool".into(),
            format!("base={pool},size=28"),
        ],
        ..Default::default()
    };
    let (a, b) = (
        TestDaemon::start_with(opts()),
        TestDaemon::start_with(opts()),
    );
    let subnets: Vec<String> = std::thread::scope(|s| {
        let jobs: Vec<_> = [&a, &b]
            .into_iter()
            .flat_map(|d| (0..4).map(move |i| (d, format!("pool{i}"))))
            .map(|(d, name)| {
                s.spawn(move || {
                    d.docker(&["network", "create", &name]).ok();
                    d.docker(&[
                        "network",
                        "inspect",
                        "-f",
                        "{{(index .IPAM.Config 0).Subnet}}",
                        &name,
                    ])
                    .out()
                })
            })
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let prefix = pool.trim_end_matches("0/24");
    let mut distinct = subnets.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{subnets:?}");
    assert!(
        subnets
            .iter()
            .all(|s| s.starts_with(prefix) && s.ends_with("/28")),
        "{subnets:?}"
    );
    // One name created four times at once: one network, three conflicts.
    let made = std::thread::scope(|s| {
        let jobs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| b.docker(&["network", "create", "same"]).code))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap())
            .filter(|c| *c == 0)
            .count()
    });
    assert_eq!(made, 1);
    // A container on one of them gets an address of that /28.
    let net = &subnets[0];
    let ip = a
        .docker(&[
            "run",
            "--rm",
            "--network",
            "pool0",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .out();
    let own = a
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "pool0",
        ])
        .out();
    assert!(
        !own.is_empty() && ip.contains(own.rsplit_once('.').unwrap().0),
        "{net} {ip}"
    );
    // The pool (16 /28s; 9 taken so far) is used up after 7 more, with dockerd's message.
    for i in 0..7 {
        a.docker(&["network", "create", &format!("more{i}")]).ok();
    }
    let full = a.docker(&["network", "create", "one-too-many"]);
    assert_ne!(full.code, 0);
    assert!(
        full.all()
            .contains("all predefined address pools have been fully subnetted"),
        "{full:?}"
    );
}

//! End-to-end: what another host on the network reaches of berth's containers (issue 18),
//! for each gateway mode of moby 28 (`com.docker.network.bridge.gateway_mode_ipv4`).
//!
//! The daemon runs in a network namespace of its own (the berth host); a second namespace
//! (the LAN peer) is joined to it by a veth pair and routes every container subnet through
//! the berth host, as a neighbour with `ip route add <subnet> via <host>` would. Traffic
//! never leaves the two namespaces.

mod common;

use common::netns::{ip, Netns};
use common::{random_hex, DaemonOptions, TestDaemon};
use std::process::{Command, Stdio};

/// Whether `url` answers within 3 s, fetched from namespace `ns`.
fn reaches(ns: &str, url: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-sf",
            "-m",
            "3",
            "-o",
            "/dev/null",
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn pings(ns: &str, addr: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "busybox", "ping", "-c1", "-W2", addr])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A web server on ports 80 (published as `host_port`) and 81 (not published).
fn serve(d: &TestDaemon, name: &str, net: &str, host_port: u16) -> String {
    d.docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "-p",
        &format!("{host_port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir /www; echo hi > /www/index.html; httpd -p 80 -h /www; httpd -p 81 -h /www; \
         echo ready; sleep 1000",
    ])
    .ok();
    d.wait_logs(name, "ready");
    d.inspect(
        name,
        &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
    )
    .trim()
    .to_string()
}

#[test]
fn gateway_modes_decide_what_a_routing_peer_reaches() {
    if !common::can_run() {
        return;
    }
    let tag = random_hex(6);
    let host = Netns::add(format!("btgh{tag}"));
    let peer = Netns::add(format!("btgp{tag}"));
    let octet = u32::from_str_radix(&tag[..2], 16).unwrap();
    let (near, _far) = host.join("lan0", &peer, "lan0", 248, octet);
    let d = TestDaemon::start_with(DaemonOptions {
        netns: Some(host.0.clone()),
        ..Default::default()
    });

    let modes = [
        ("natnet", ""),
        ("unprot", "nat-unprotected"),
        ("routed", "routed"),
    ];
    let mut addrs = Vec::new();
    for (i, (name, mode)) in modes.iter().enumerate() {
        let subnet = common::free_test_subnet();
        let mut args = vec!["network", "create", "--subnet", subnet.as_str()];
        let opt = format!("com.docker.network.bridge.gateway_mode_ipv4={mode}");
        if !mode.is_empty() {
            args.extend(["-o", opt.as_str()]);
        }
        args.push(name);
        d.docker(&args).ok();
        // The peer sends each container subnet to the berth host.
        ip(&["-n", &peer.0, "route", "add", &subnet, "via", &near]);
        let port = 18080 + i as u16;
        addrs.push((serve(&d, &format!("web-{name}"), name, port), port));
    }
    let url = |addr: &str, port: u16| format!("http://{addr}:{port}/");

    // nat (the default): published ports through the host's address only; the container's
    // own address is closed to the peer, published port or not.
    let (cip, hp) = &addrs[0];
    assert!(
        reaches(&peer.0, &url(&near, *hp)),
        "nat: published port via the host"
    );
    assert!(
        !reaches(&peer.0, &url(cip, 80)),
        "nat: container's published port, directly"
    );
    assert!(
        !reaches(&peer.0, &url(cip, 81)),
        "nat: unpublished port, directly"
    );
    assert!(!pings(&peer.0, cip), "nat: ping of the container");
    // The host itself still reaches every port of its containers, as with Docker.
    assert!(
        reaches(&host.0, &url(cip, 81)),
        "nat: the host reaches an unpublished port"
    );

    // nat-unprotected: Docker ≤ 27's behaviour, every port open to the peer.
    let (cip, hp) = &addrs[1];
    assert!(
        reaches(&peer.0, &url(&near, *hp)),
        "unprotected: published port via the host"
    );
    assert!(
        reaches(&peer.0, &url(cip, 81)),
        "unprotected: unpublished port, directly"
    );

    // routed: no NAT; the published container port is open at the container's address,
    // nothing else is, ping is; the host port is ignored.
    let (cip, hp) = &addrs[2];
    assert!(
        reaches(&peer.0, &url(cip, 80)),
        "routed: published port, directly"
    );
    assert!(
        !reaches(&peer.0, &url(cip, 81)),
        "routed: unpublished port, directly"
    );
    assert!(pings(&peer.0, cip), "routed: ping of the container");
    assert!(
        !reaches(&peer.0, &url(&near, *hp)),
        "routed: no DNAT on the host port"
    );
    assert_eq!(d.docker(&["port", "web-routed", "80"]).out(), "0.0.0.0:0");

    // The option as given, in inspect; bad values refused with moby's words.
    assert_eq!(
        d.inspect(
            "routed",
            "{{index .Options \"com.docker.network.bridge.gateway_mode_ipv4\"}}"
        )
        .trim(),
        "routed"
    );
    let o = d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.gateway_mode_ipv4=bogus",
        "bad1",
    ]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains(
            "failed to parse com.docker.network.bridge.gateway_mode_ipv4 value: bogus (unknown gateway mode bogus)"
        ),
        "{}",
        o.stderr
    );
    let o = d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.gateway_mode_ipv4=isolated",
        "bad2",
    ]);
    assert!(
        o.stderr
            .contains("gateway mode 'isolated' can only be used for an internal network"),
        "{}",
        o.stderr
    );
    d.docker(&[
        "network",
        "create",
        "--internal",
        "-o",
        "com.docker.network.bridge.gateway_mode_ipv4=isolated",
        "good",
    ])
    .ok();
}

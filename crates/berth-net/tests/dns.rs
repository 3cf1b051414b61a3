//! The embedded DNS server end to end: real sockets on loopback, a fake name
//! database and fake upstream servers started by each test.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_net::dns::{self, Lookup, Resolve, ServerHandle, Upstreams};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const WEB: [Ipv4Addr; 3] = [
    Ipv4Addr::new(172, 18, 0, 2),
    Ipv4Addr::new(172, 18, 0, 3),
    Ipv4Addr::new(172, 18, 0, 4),
];

struct FakeDb;

impl Resolve for FakeDb {
    fn lookup_a(&self, _requester: &str, name: &str) -> Lookup {
        match name {
            "web" | "web.mynet" => Lookup::Found(WEB.to_vec()),
            "blocked.local" => Lookup::NotFound,
            _ => Lookup::Forward,
        }
    }

    fn lookup_ptr(&self, _requester: &str, ip: Ipv4Addr) -> Option<String> {
        (ip == WEB[0]).then(|| "web.mynet".to_string())
    }

    fn may_forward(&self, requester: &str) -> bool {
        requester != "internal-only"
    }
}

/// A fake upstream on 127.0.0.2 (UDP and TCP on one port):
/// example.com → 93.184.216.34; big.example → truncated over UDP, 6 addresses over
/// TCP; fail.example → SERVFAIL; anything else → NXDOMAIN.
struct FakeUpstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn upstream_reply(query: &Message, tcp: bool) -> Message {
    let q = &query.queries[0];
    let mut m = Message::response(query.metadata.id, OpCode::Query);
    m.queries = vec![q.clone()];
    m.metadata.recursion_available = true;
    let name = q.name.to_ascii().to_ascii_lowercase();
    let a = |ip: Ipv4Addr| Record::from_rdata(q.name.clone(), 60, RData::A(rdata::A(ip)));
    match name.as_str() {
        "example.com." => m.answers = vec![a(Ipv4Addr::new(93, 184, 216, 34))],
        "big.example." if !tcp => m.metadata.truncation = true,
        "big.example." => m.answers = (1..=6).map(|i| a(Ipv4Addr::new(10, 9, 9, i))).collect(),
        "fail.example." => m.metadata.response_code = ResponseCode::ServFail,
        _ => m.metadata.response_code = ResponseCode::NXDomain,
    }
    m
}

async fn start_upstream() -> FakeUpstream {
    let udp = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let udp_queries = Arc::new(AtomicUsize::new(0));
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let uq = udp_queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            uq.fetch_add(1, Ordering::SeqCst);
            let q = Message::from_vec(&buf[..n]).unwrap();
            let reply = upstream_reply(&q, false).to_vec().unwrap();
            udp.send_to(&reply, peer).await.unwrap();
        }
    });
    let tq = tcp_queries.clone();
    let tcp_task = tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            tq.fetch_add(1, Ordering::SeqCst);
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.unwrap();
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf).unwrap();
            let reply = upstream_reply(&q, true).to_vec().unwrap();
            let mut out = (reply.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&reply);
            s.write_all(&out).await.unwrap();
        }
    });
    FakeUpstream {
        addr,
        udp_queries,
        tcp_queries,
        _tasks: vec![udp_task, tcp_task],
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for t in &self._tasks {
            t.abort();
        }
    }
}

/// An address on loopback where nothing listens (UDP gets "port unreachable").
fn dead_server() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    s.local_addr().unwrap()
}

struct Server {
    udp: SocketAddr,
    tcp: SocketAddr,
    _handle: ServerHandle,
}

fn start_server(requester: &str, upstreams: Vec<SocketAddr>) -> Server {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (ua, ta) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let ups = Arc::new(Upstreams::new(upstreams).with_timeout(Duration::from_millis(500)));
    let handle = dns::serve(udp, tcp, requester.to_string(), Arc::new(FakeDb), ups);
    Server {
        udp: ua,
        tcp: ta,
        _handle: handle,
    }
}

fn query(name: &str, ty: RecordType) -> Message {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), ty));
    m.metadata.recursion_desired = true;
    m
}

async fn ask_udp_from(sock: &UdpSocket, server: SocketAddr, q: &Message) -> Message {
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("no reply from the dns server")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(
        reply.metadata.id, q.metadata.id,
        "reply id must match the query id"
    );
    assert_eq!(reply.metadata.message_type, MessageType::Response);
    reply
}

async fn ask_udp(server: SocketAddr, q: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ask_udp_from(&sock, server, q).await
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_query_round_robins_across_all_addresses() {
    let srv = start_server("c1", vec![]);
    let mut firsts = std::collections::HashSet::new();
    for i in 0..30 {
        let name = if i % 2 == 0 { "web." } else { "WeB.MyNet." };
        let reply = ask_udp(srv.udp, &query(name, RecordType::A)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.recursion_available);
        let mut got = a_records(&reply);
        assert_eq!(reply.answers[0].ttl, 600);
        assert_eq!(
            reply.answers[0].name.to_ascii(),
            name,
            "answer echoes the asked name"
        );
        firsts.insert(got[0]);
        got.sort();
        assert_eq!(got, WEB.to_vec());
    }
    assert!(firsts.len() > 1, "addresses are shuffled between replies");
}

#[tokio::test]
async fn aaaa_and_mx_for_local_name_are_empty_noerror() {
    let srv = start_server("c1", vec![]);
    for ty in [RecordType::AAAA, RecordType::MX] {
        let reply = ask_udp(srv.udp, &query("web.", ty)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
        assert_eq!(reply.queries.len(), 1);
    }
}

#[tokio::test]
async fn not_found_is_nxdomain_without_forwarding() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![up.addr]);
    let reply = ask_udp(srv.udp, &query("blocked.local.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_names_are_forwarded_past_dead_servers() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![dead_server(), up.addr]);
    let reply = ask_udp(srv.udp, &query("example.com.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(93, 184, 216, 34)]);
    assert_eq!(reply.answers[0].ttl, 60, "upstream answer is relayed as is");

    let reply = ask_udp(srv.udp, &query("nothing.example.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);

    // Other types go upstream too.
    let before = up.udp_queries.load(Ordering::SeqCst);
    let reply = ask_udp(srv.udp, &query("web.", RecordType::TXT)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn servfail_when_upstreams_fail_or_forwarding_is_not_allowed() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![dead_server()]);
    let reply = ask_udp(srv.udp, &query("example.com.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    let srv = start_server("c1", vec![up.addr]);
    let reply = ask_udp(srv.udp, &query("fail.example.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    let internal = start_server("internal-only", vec![up.addr]);
    let before = up.udp_queries.load(Ordering::SeqCst);
    let reply = ask_udp(internal.udp, &query("example.com.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        up.udp_queries.load(Ordering::SeqCst),
        before,
        "internal networks never forward"
    );
    // Local names still resolve there.
    let reply = ask_udp(internal.udp, &query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 3);
}

#[tokio::test]
async fn ptr_for_container_address_and_forward_for_others() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![up.addr]);
    let reply = ask_udp(srv.udp, &query("2.0.18.172.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    match &reply.answers[..] {
        [r] => {
            assert_eq!(r.ttl, 600);
            match &r.data {
                RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web.mynet."),
                other => panic!("unexpected record {other:?}"),
            }
        }
        other => panic!("unexpected answers {other:?}"),
    }
    let reply = ask_udp(srv.udp, &query("9.0.18.172.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 1);
}

async fn ask_tcp(stream: &mut TcpStream, q: &Message) -> Message {
    let bytes = q.to_vec().unwrap();
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    stream.write_all(&out).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len))
        .await
        .expect("no tcp reply")
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

#[tokio::test]
async fn tcp_serves_several_queries_per_connection() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![up.addr]);
    let mut stream = TcpStream::connect(srv.tcp).await.unwrap();
    let reply = ask_tcp(&mut stream, &query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 3);
    let reply = ask_tcp(&mut stream, &query("example.com.", RecordType::A)).await;
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(93, 184, 216, 34)]);
    assert_eq!(
        up.tcp_queries.load(Ordering::SeqCst),
        1,
        "tcp clients are forwarded over tcp"
    );
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 0);
    let reply = ask_tcp(&mut stream, &query("big.example.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 6);
}

#[tokio::test]
async fn truncated_upstream_reply_is_retried_over_tcp() {
    let up = start_upstream().await;
    let srv = start_server("c1", vec![up.addr]);

    // A client that accepts large UDP replies gets the full TCP answer.
    let mut q = query("big.example.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.edns = Some(edns);
    let reply = ask_udp(srv.udp, &q).await;
    assert!(!reply.metadata.truncation);
    assert_eq!(a_records(&reply).len(), 6);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn garbage_is_ignored_and_server_keeps_answering() {
    let srv = start_server("c1", vec![]);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![0x12; 12],
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc".to_vec(),
    ];
    // A response (QR set) must not be answered either, or two servers could loop.
    let mut resp = query("web.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    garbage.push(resp.to_vec().unwrap());
    for g in &garbage {
        sock.send_to(g, srv.udp).await.unwrap();
    }
    let mut buf = [0u8; 512];
    let got = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await;
    assert!(got.is_err(), "no reply to malformed packets");
    let reply = ask_udp_from(&sock, srv.udp, &query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 3);

    // Garbage over TCP does not kill the listener either.
    let mut s = TcpStream::connect(srv.tcp).await.unwrap();
    s.write_all(b"\x00\x05hello").await.unwrap();
    let reply = ask_tcp(&mut s, &query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 3);
}

#[tokio::test]
async fn many_answers_are_truncated_for_small_udp_clients() {
    struct Many;
    impl Resolve for Many {
        fn lookup_a(&self, _: &str, _: &str) -> Lookup {
            Lookup::Found((1..=100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect())
        }
        fn lookup_ptr(&self, _: &str, _: Ipv4Addr) -> Option<String> {
            None
        }
        fn may_forward(&self, _: &str) -> bool {
            true
        }
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (ua, ta) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let _h = dns::serve(
        udp,
        tcp,
        "c".into(),
        Arc::new(Many),
        Arc::new(Upstreams::new(vec![])),
    );
    let reply = ask_udp(ua, &query("svc.", RecordType::A)).await;
    assert!(reply.metadata.truncation);
    assert!(reply.to_vec().unwrap().len() <= 512);
    let mut s = TcpStream::connect(ta).await.unwrap();
    let reply = ask_tcp(&mut s, &query("svc.", RecordType::A)).await;
    assert!(!reply.metadata.truncation);
    assert_eq!(a_records(&reply).len(), 100);
}

/// A named network namespace, deleted on drop.
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_127_0_0_11_inside_a_network_namespace() {
    if !berth_testkit::require_root() || !berth_testkit::require_program("ip", "iproute2") {
        return;
    }
    let name = format!("berth-dns-test-{}", std::process::id());
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap()
        .success();
    if !berth_testkit::host_has(ok, "cannot create a network namespace here") {
        return;
    }
    let guard = NetnsGuard(name.clone());
    let ns = std::fs::File::open(format!("/run/netns/{}", guard.0)).unwrap();

    // Bind before loopback is up (IP_FREEBIND), then bring it up to carry traffic.
    let (udp, tcp) = dns::bind_in_netns(ns.as_fd()).expect("bind in netns");
    assert!(std::process::Command::new("ip")
        .args(["-n", &name, "link", "set", "lo", "up"])
        .status()
        .unwrap()
        .success());
    let _h = dns::serve(
        udp,
        tcp,
        "c1".into(),
        Arc::new(FakeDb),
        Arc::new(Upstreams::new(vec![])),
    );

    let client = berth_net::netns::run_in_netns(ns.as_fd(), || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .unwrap();
    let client = UdpSocket::from_std(client).unwrap();
    let server: SocketAddr = "127.0.0.11:53".parse().unwrap();
    let reply = ask_udp_from(&client, server, &query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply).len(), 3);

    let tcp_client = berth_net::netns::run_in_netns(ns.as_fd(), || {
        let s = std::net::TcpStream::connect("127.0.0.11:53")?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .unwrap();
    let mut tcp_client = TcpStream::from_std(tcp_client).unwrap();
    let reply = ask_tcp(
        &mut tcp_client,
        &query("2.0.18.172.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    assert_eq!(reply.answers.len(), 1);

    drop(guard);
}

//! The embedded DNS server containers on user-defined networks query at 127.0.0.11.
//!
//! It behaves like Docker's embedded resolver: names the daemon knows (containers,
//! aliases) are answered locally with TTL 600 and shuffled addresses, so several
//! containers behind one alias share the load; everything else is relayed to the
//! host's nameservers. The listening sockets are created inside the container's
//! network namespace (see [`bind_in_netns`]) but served from the daemon's runtime,
//! so upstream queries leave from the daemon's namespace, like Docker's queries to
//! servers taken from the host's resolv.conf.
//!
//! Policy (which names exist, search domains, aliases) lives behind [`Resolve`];
//! this module only speaks DNS. Malformed packets are dropped; a flood is capped by
//! semaphores rather than allowed to grow tasks without bound.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{rdata, DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

use crate::netns::run_in_netns;

/// The address containers use to reach the embedded server (Docker's choice).
pub const RESOLVER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// TTL of locally answered records; Docker uses 600 seconds.
pub const LOCAL_TTL: u32 = 600;

/// Per-try timeout towards an upstream server (Docker: 4s).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// At most this many upstream servers are tried per query (Docker: 3).
const MAX_UPSTREAMS: usize = 3;
/// Outstanding forwarded queries per upstream set (Docker: 1024).
const MAX_FORWARDS: usize = 1024;
/// UDP queries being handled at once per server; more are dropped.
const MAX_UDP_INFLIGHT: usize = 1024;
/// Open TCP connections per server; more are closed at once.
const MAX_TCP_CONNS: usize = 128;
/// A TCP connection with no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(8);
/// Largest UDP reply without EDNS (RFC 1035).
const MIN_UDP_SIZE: usize = 512;

/// What the daemon knows about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A local name with these IPv4 addresses. An empty list answers NOERROR with
    /// no records (e.g. a single-label name the daemon wants the client to retry
    /// with its search domains).
    Found(Vec<Ipv4Addr>),
    /// A name that must not be forwarded and does not exist: answered NXDOMAIN.
    NotFound,
    /// Not a local name: ask the upstream servers.
    Forward,
}

/// The daemon's name database, seen from one container. Calls are made on the
/// runtime's threads, so they must be quick (in-memory lookups).
pub trait Resolve: Send + Sync + 'static {
    /// A name asked by container `requester` (lower-cased, trailing dot removed).
    fn lookup_a(&self, requester: &str, name: &str) -> Lookup;
    /// Reverse lookup of a container address (PTR), e.g. "172.18.0.2" → "web.mynet".
    fn lookup_ptr(&self, requester: &str, ip: Ipv4Addr) -> Option<String>;
    /// Whether the requester may reach outside resolvers (false when it is only on
    /// `--internal` networks); if not, unknown names get SERVFAIL, as in Docker.
    fn may_forward(&self, requester: &str) -> bool;
}

/// External nameservers (from the host's resolv.conf or `--dns`) that queries for
/// non-local names are relayed to, in order, over the client's transport.
#[derive(Debug)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    slots: Semaphore,
}

/// Outcome of relaying a query upstream.
enum Forwarded {
    /// The upstream reply, with the client's id restored.
    Reply(Vec<u8>),
    /// Too many queries in flight: the client gets REFUSED, as in Docker.
    Busy,
    /// No server gave a usable answer: the client gets SERVFAIL.
    Failed,
}

impl Upstreams {
    /// Upstreams to try in order; like Docker only the first three are used.
    pub fn new(mut servers: Vec<SocketAddr>) -> Self {
        servers.truncate(MAX_UPSTREAMS);
        Self {
            servers,
            timeout: UPSTREAM_TIMEOUT,
            slots: Semaphore::new(MAX_FORWARDS),
        }
    }

    /// Changes the per-server timeout (4s by default); tests use a short one.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The servers queries are relayed to.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Relays `query` to each server in turn until one answers with anything but
    /// SERVFAIL/REFUSED (Docker moves on for those, and for timeouts).
    async fn forward(&self, query: &[u8], tcp: bool, udp_limit: usize) -> Forwarded {
        let Some(qend) = question_end(query) else {
            return Forwarded::Failed;
        };
        for server in &self.servers {
            let permit = match timeout(self.timeout, self.slots.acquire()).await {
                Ok(Ok(p)) => p,
                _ => {
                    tracing::warn!("dns: more than {MAX_FORWARDS} concurrent forwarded queries");
                    return Forwarded::Busy;
                }
            };
            let reply = self.exchange(*server, query, qend, tcp, udp_limit).await;
            drop(permit);
            let Some(mut reply) = reply else { continue };
            // RCODE 2 is SERVFAIL, 5 is REFUSED.
            let rcode = reply[3] & 0x0f;
            if rcode == 2 || rcode == 5 {
                tracing::debug!(%server, rcode, "dns: upstream failed, trying the next one");
                continue;
            }
            reply[..2].copy_from_slice(&query[..2]);
            return Forwarded::Reply(reply);
        }
        Forwarded::Failed
    }

    /// One query to one server, under a fresh random id so that replies cannot be
    /// spoofed by guessing the client's id. A truncated UDP reply is retried over
    /// TCP and the full answer used if it fits the client's UDP limit; otherwise the
    /// truncated one is relayed so the client retries over TCP itself.
    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        qend: usize,
        tcp: bool,
        udp_limit: usize,
    ) -> Option<Vec<u8>> {
        let mut msg = query.to_vec();
        msg[..2].copy_from_slice(&random_u32().to_be_bytes()[..2]);
        if tcp {
            return self.tcp_exchange(server, &msg, qend).await;
        }
        let reply = match timeout(self.timeout, udp_exchange(server, &msg, qend)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(%server, "dns: udp query to upstream failed: {e}");
                return None;
            }
            Err(_) => {
                tracing::debug!(%server, "dns: upstream timed out");
                return None;
            }
        };
        if reply[2] & 0x02 != 0 {
            if let Some(full) = self.tcp_exchange(server, &msg, qend).await {
                if full.len() <= udp_limit {
                    return Some(full);
                }
            }
        }
        Some(reply)
    }

    async fn tcp_exchange(&self, server: SocketAddr, msg: &[u8], qend: usize) -> Option<Vec<u8>> {
        match timeout(self.timeout, tcp_exchange(server, msg, qend)).await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                tracing::debug!(%server, "dns: tcp query to upstream failed: {e}");
                None
            }
            Err(_) => {
                tracing::debug!(%server, "dns: upstream timed out over tcp");
                None
            }
        }
    }
}

async fn udp_exchange(server: SocketAddr, msg: &[u8], qend: usize) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await?;
    // Connected: the kernel then drops datagrams from anyone but `server`.
    sock.connect(server).await?;
    sock.send(msg).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        if is_reply_to(&buf[..n], msg, qend) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(server: SocketAddr, msg: &[u8], qend: usize) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::other("query too large for tcp"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    stream.write_all(&out).await?;
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        if is_reply_to(&buf, msg, qend) {
            return Ok(buf);
        }
    }
}

/// Whether `reply` answers `query`: same id, QR set, and (when it carries one) the
/// same question.
fn is_reply_to(reply: &[u8], query: &[u8], qend: usize) -> bool {
    if reply.len() < 12 || reply[..2] != query[..2] || reply[2] & 0x80 == 0 {
        return false;
    }
    let qdcount = u16::from_be_bytes([reply[4], reply[5]]);
    qdcount == 0 || (reply.len() >= qend && reply[12..qend].eq_ignore_ascii_case(&query[12..qend]))
}

/// End offset of the (single, uncompressed) question of a wire-format query.
fn question_end(packet: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*packet.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        i += 1 + len;
    }
    let end = i + 4;
    (end <= packet.len()).then_some(end)
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // getrandom only fails without any entropy source; a fixed value is then still
    // a working (if guessable) id and shuffle.
    let _ = getrandom::getrandom(&mut b);
    u32::from_ne_bytes(b)
}

fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = (random_u32() as usize) % (i + 1);
        v.swap(i, j);
    }
}

/// Everything a query handler needs.
struct Ctx {
    requester: String,
    resolver: Arc<dyn Resolve>,
    upstreams: Arc<Upstreams>,
}

/// A reply skeleton the way Docker builds one: id, opcode, RD and CD copied, the
/// question echoed.
fn reply_to(query: &Message, rcode: ResponseCode, recursion_available: bool) -> Message {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.checking_disabled = query.metadata.checking_disabled;
    m.metadata.recursion_available = recursion_available;
    m.metadata.response_code = rcode;
    m.queries = query.queries.iter().take(1).cloned().collect();
    m
}

/// Encodes `msg`, dropping answers (and setting TC) until it fits `limit`.
fn encode(mut msg: Message, limit: usize, udp: bool) -> Option<Vec<u8>> {
    loop {
        let bytes = match msg.to_vec() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("dns: encoding a reply: {e}");
                return None;
            }
        };
        if bytes.len() <= limit || msg.answers.is_empty() {
            return Some(bytes);
        }
        msg.answers.pop();
        if udp {
            msg.metadata.truncation = true;
        }
    }
}

/// "2.0.18.172.in-addr.arpa" → 172.18.0.2.
fn parse_ptr_name(name: &str) -> Option<Ipv4Addr> {
    let rev = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = rev.split('.');
    for slot in octets.iter_mut().rev() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The local answer for `query`, if the daemon is responsible for it.
fn answer_locally(query: &Message, ctx: &Ctx) -> Option<Message> {
    let q = query.queries.first()?;
    if q.query_class != DNSClass::IN {
        return None;
    }
    let ascii = q.name.to_ascii().to_ascii_lowercase();
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    let requester = ctx.requester.as_str();
    match q.query_type {
        RecordType::A => match ctx.resolver.lookup_a(requester, name) {
            Lookup::Found(mut ips) => {
                shuffle(&mut ips);
                let mut m = reply_to(query, ResponseCode::NoError, true);
                m.answers = ips
                    .into_iter()
                    .map(|ip| Record::from_rdata(q.name.clone(), LOCAL_TTL, RData::A(rdata::A(ip))))
                    .collect();
                Some(m)
            }
            Lookup::NotFound => Some(reply_to(query, ResponseCode::NXDomain, true)),
            Lookup::Forward => None,
        },
        // No IPv6 for containers, and no mail: a known name answers "exists, but
        // no such records", which stops clients from asking upstream.
        RecordType::AAAA | RecordType::MX => match ctx.resolver.lookup_a(requester, name) {
            Lookup::Found(_) => Some(reply_to(query, ResponseCode::NoError, true)),
            Lookup::NotFound => Some(reply_to(query, ResponseCode::NXDomain, true)),
            Lookup::Forward => None,
        },
        RecordType::PTR => {
            let ip = parse_ptr_name(name)?;
            let host = ctx.resolver.lookup_ptr(requester, ip)?;
            let host = host.trim_end_matches('.');
            if host.is_empty() {
                return None;
            }
            let target = match Name::from_ascii(format!("{host}.")) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("dns: bad ptr target {host:?}: {e}");
                    return Some(reply_to(query, ResponseCode::ServFail, false));
                }
            };
            let mut m = reply_to(query, ResponseCode::NoError, true);
            m.answers = vec![Record::from_rdata(
                q.name.clone(),
                LOCAL_TTL,
                RData::PTR(rdata::PTR(target)),
            )];
            Some(m)
        }
        _ => None,
    }
}

/// Handles one wire-format query; `None` means "send nothing".
async fn handle(packet: &[u8], tcp: bool, ctx: &Ctx) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        query.edns.as_ref().map_or(MIN_UDP_SIZE, |e| {
            usize::from(e.max_payload()).max(MIN_UDP_SIZE)
        })
    };
    if query.metadata.op_code != OpCode::Query {
        return encode(reply_to(&query, ResponseCode::NotImp, false), limit, !tcp);
    }
    if query.queries.len() != 1 {
        return encode(reply_to(&query, ResponseCode::FormErr, false), limit, !tcp);
    }
    if let Some(local) = answer_locally(&query, ctx) {
        return encode(local, limit, !tcp);
    }
    if !ctx.resolver.may_forward(&ctx.requester) {
        return encode(reply_to(&query, ResponseCode::ServFail, false), limit, !tcp);
    }
    match ctx.upstreams.forward(packet, tcp, limit).await {
        Forwarded::Reply(bytes) => Some(bytes),
        Forwarded::Busy => encode(reply_to(&query, ResponseCode::Refused, false), limit, !tcp),
        Forwarded::Failed => encode(reply_to(&query, ResponseCode::ServFail, false), limit, !tcp),
    }
}

/// Binds UDP and TCP 127.0.0.11:53 inside the network namespace `netns` and returns
/// the sockets (non-blocking, close-on-exec) for [`serve`]. The sockets stay in the
/// container's namespace while the daemon serves them from its own threads.
pub fn bind_in_netns(
    netns: BorrowedFd<'_>,
) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let addr = SocketAddrV4::new(RESOLVER_ADDR, 53);
    run_in_netns(netns, move || bind_at(addr)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("binding the embedded dns server to {addr} in the container: {e}"),
        )
    })
}

/// Binds UDP and TCP sockets at `addr` in the calling thread's namespace. The
/// sockets use IP_FREEBIND so that binding works before the loopback device is up.
pub fn bind_at(addr: SocketAddrV4) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let udp = bound_socket(libc::SOCK_DGRAM, addr)
        .map_err(|e| ctx_err(e, format!("binding udp {addr}")))?;
    let tcp = bound_socket(libc::SOCK_STREAM, addr)
        .map_err(|e| ctx_err(e, format!("binding tcp {addr}")))?;
    // SAFETY: `tcp` is a valid, bound stream socket owned by this function.
    if unsafe { libc::listen(tcp.as_raw_fd(), 128) } != 0 {
        return Err(ctx_err(
            io::Error::last_os_error(),
            format!("listening on tcp {addr}"),
        ));
    }
    Ok((
        std::net::UdpSocket::from(udp),
        std::net::TcpListener::from(tcp),
    ))
}

fn ctx_err(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A non-blocking, close-on-exec IPv4 socket of type `ty` bound to `addr`.
fn bound_socket(ty: libc::c_int, addr: SocketAddrV4) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET,
            ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    let mut opts = vec![(libc::SOL_IP, libc::IP_FREEBIND)];
    if ty == libc::SOCK_STREAM {
        opts.push((libc::SOL_SOCKET, libc::SO_REUSEADDR));
    }
    for (level, name) in opts {
        // SAFETY: `one` outlives the call and its size is passed along.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in and its exact size is passed.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The running server for one container; dropping it stops the server and any
/// query still being handled.
#[derive(Debug)]
pub struct ServerHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops serving now (also done on drop).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Whether both serving tasks have ended (stopped, or failed to start).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(|t| t.is_finished())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Serves both sockets on the current tokio runtime until the returned handle is
/// dropped. `requester` identifies the container to `resolver`. Must be called
/// from within a runtime.
pub fn serve(
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    requester: String,
    resolver: Arc<dyn Resolve>,
    upstreams: Arc<Upstreams>,
) -> ServerHandle {
    let ctx = Arc::new(Ctx {
        requester,
        resolver,
        upstreams,
    });
    let udp_task = tokio::spawn(serve_udp(udp, ctx.clone()));
    let tcp_task = tokio::spawn(serve_tcp(tcp, ctx));
    ServerHandle {
        tasks: vec![udp_task, tcp_task],
    }
}

async fn serve_udp(sock: std::net::UdpSocket, ctx: Arc<Ctx>) {
    let sock = match sock
        .set_nonblocking(true)
        .and_then(|()| UdpSocket::from_std(sock))
    {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(requester = %ctx.requester, "dns: registering the udp socket: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_UDP_INFLIGHT));
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, peer) = match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!("dns: udp receive: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::debug!("dns: too many queries in flight, dropping one");
                    continue;
                };
                let packet = buf[..n].to_vec();
                let (sock, ctx) = (sock.clone(), ctx.clone());
                tasks.spawn(async move {
                    let _permit = permit;
                    if let Some(reply) = handle(&packet, false, &ctx).await {
                        if let Err(e) = sock.send_to(&reply, peer).await {
                            tracing::debug!(%peer, "dns: sending reply: {e}");
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

async fn serve_tcp(listener: std::net::TcpListener, ctx: Arc<Ctx>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(requester = %ctx.requester, "dns: registering the tcp listener: {e}");
            return;
        }
    };
    let conns = Arc::new(Semaphore::new(MAX_TCP_CONNS));
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let stream = match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::debug!("dns: tcp accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Ok(permit) = conns.clone().try_acquire_owned() else {
                    tracing::debug!("dns: too many tcp connections, closing one");
                    continue;
                };
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    serve_conn(stream, &ctx).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// Answers length-prefixed queries on one connection, in order, until the peer
/// closes it or stays idle for [`TCP_IDLE`].
async fn serve_conn(mut stream: TcpStream, ctx: &Ctx) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let Some(reply) = handle(&packet, true, ctx).await else {
            continue;
        };
        let Ok(rlen) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&rlen.to_be_bytes());
        out.extend_from_slice(&reply);
        if !matches!(timeout(TCP_IDLE, stream.write_all(&out)).await, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_names() {
        assert_eq!(
            parse_ptr_name("2.0.18.172.in-addr.arpa"),
            Some(Ipv4Addr::new(172, 18, 0, 2))
        );
        assert_eq!(parse_ptr_name("0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_ptr_name("1.2.0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_ptr_name("256.0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_ptr_name("+1.0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_ptr_name("example.com"), None);
    }

    #[test]
    fn question_end_walks_labels() {
        let mut q = vec![0u8; 12];
        q.extend_from_slice(b"\x03web\x05mynet\x00\x00\x01\x00\x01");
        assert_eq!(question_end(&q), Some(q.len()));
        assert_eq!(question_end(&q[..q.len() - 1]), None);
        assert_eq!(question_end(&[0u8; 5]), None);
    }

    #[test]
    fn shuffle_keeps_elements() {
        let mut v: Vec<u32> = (0..50).collect();
        shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}

//! The PROXY protocol in front of HTTP, over real sockets: a trusted peer's
//! header sets `ctx.remote_addr()`; a missing, malformed or untrusted
//! header never does.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brisk_http::{ProxyAddresses, ProxyCommand, ProxyHeader, ProxyTransport, ProxyVersion};
use brisk_server::{ConfigError, ConnState, ProxyPolicy, Server, ServerBuilder};

use crate::support::{Client, TestServer};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const V1: &[u8] = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 80\r\n";

/// A server whose handler answers with `ctx.remote_addr()`.
fn echo(policy: ProxyPolicy) -> TestServer {
    echo_with(policy, |b| b)
}

fn echo_with(
    policy: ProxyPolicy,
    configure: impl FnOnce(brisk_server::ServerBuilder) -> brisk_server::ServerBuilder,
) -> TestServer {
    TestServer::start(
        |ctx| {
            let who = ctx.remote_addr().to_string();
            ctx.set_body(who.as_bytes());
        },
        |b| configure(b.proxy_protocol(policy)),
    )
}

fn trust_local() -> ProxyPolicy {
    ProxyPolicy::required().trust("127.0.0.1/32".parse().unwrap())
}

fn v2(addresses: ProxyAddresses<'_>, command: ProxyCommand, tlvs: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ProxyHeader {
        version: ProxyVersion::V2,
        command,
        addresses,
        tlvs,
    }
    .encode(&mut out)
    .expect("encodes");
    out
}

fn v2_inet6() -> Vec<u8> {
    let src = SocketAddrV6::new("2001:db8::7".parse::<Ipv6Addr>().unwrap(), 4242, 0, 0);
    let dst = SocketAddrV6::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 443, 0, 0);
    // ALPN, AUTHORITY and a CRC32C (filled in by `encode`).
    let tlvs = [
        &[0x01, 0, 2][..],
        b"h2",
        &[0x02, 0, 11],
        b"example.com",
        &[0x03, 0, 4, 0, 0, 0, 0],
    ]
    .concat();
    v2(
        ProxyAddresses::Inet6 {
            transport: ProxyTransport::Stream,
            source: src,
            destination: dst,
        },
        ProxyCommand::Proxy,
        &tlvs,
    )
}

/// The connection is closed without a response byte.
fn closed_silently(c: &mut Client) {
    assert!(c.is_closed(), "the server answered instead of closing");
}

#[test]
fn v1_sets_remote_addr_for_every_request_on_the_connection() {
    let srv = echo(trust_local());
    let mut c = srv.connect();
    c.send(V1);
    assert_eq!(c.get("/").body_str(), "192.0.2.7:56324");
    // Keep-alive: the next requests keep the header's address.
    assert_eq!(c.get("/again").body_str(), "192.0.2.7:56324");
    assert_eq!(c.get("/third").body_str(), "192.0.2.7:56324");
}

#[test]
fn v2_ipv6_with_tlvs_sets_remote_addr() {
    let srv = echo(trust_local());
    let mut c = srv.connect();
    c.send(&v2_inet6());
    assert_eq!(c.get("/").body_str(), "[2001:db8::7]:4242");
}

#[test]
fn header_split_across_writes() {
    let srv = echo(trust_local());
    for header in [V1.to_vec(), v2_inet6()] {
        let mut c = srv.connect();
        // One byte per write (TCP_NODELAY: a segment each), a pause between
        // some so that the server sees the header in pieces.
        for (i, b) in header.iter().enumerate() {
            c.send(&[*b]);
            if i % 8 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let want = if header == V1 {
            "192.0.2.7:56324"
        } else {
            "[2001:db8::7]:4242"
        };
        assert_eq!(c.get("/").body_str(), want);
    }
}

#[test]
fn pipelined_requests_in_the_same_packet_as_the_header() {
    let srv = echo(trust_local());
    let mut c = srv.connect();
    c.send(&[V1, GET, GET].concat());
    assert_eq!(c.read_response().body_str(), "192.0.2.7:56324");
    assert_eq!(c.read_response().body_str(), "192.0.2.7:56324");
    let mut c = srv.connect();
    c.send(&[&v2_inet6()[..], GET].concat());
    assert_eq!(c.read_response().body_str(), "[2001:db8::7]:4242");
}

#[test]
fn local_keeps_the_socket_address() {
    let srv = echo(trust_local());
    let mut c = srv.connect();
    let me = c.stream.local_addr().unwrap().to_string();
    c.send(&v2(ProxyAddresses::Unspecified, ProxyCommand::Local, &[]));
    assert_eq!(c.get("/").body_str(), me);
    // v1 UNKNOWN too.
    let mut c = srv.connect();
    let me = c.stream.local_addr().unwrap().to_string();
    c.send(b"PROXY UNKNOWN\r\n");
    assert_eq!(c.get("/").body_str(), me);
}

#[test]
fn missing_header_is_closed_when_required() {
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    let srv = TestServer::start(
        move |ctx| {
            seen.fetch_add(1, Ordering::Relaxed);
            ctx.set_body(b"ok");
        },
        |b| b.proxy_protocol(trust_local()),
    );
    let mut c = srv.connect();
    c.send(GET);
    closed_silently(&mut c);
    assert_eq!(ran.load(Ordering::Relaxed), 0);
}

#[test]
fn garbage_and_malformed_headers_are_closed() {
    let srv = echo(trust_local());
    let bad: [&[u8]; 5] = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 056324 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"PROXY TCP6 192.0.2.7 198.51.100.1 1 80\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x05\x00\x00\x00\x00\x00",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0d\xc0\x00\x02\x07\xc6\x33\x64\x01\xdc\x04\x01\xbb\x03",
    ];
    for b in bad {
        let mut c = srv.connect();
        c.send(b);
        closed_silently(&mut c);
    }
    // A header longer than the server reads.
    let mut c = srv.connect();
    let big = v2(
        ProxyAddresses::Inet {
            transport: ProxyTransport::Stream,
            source: SocketAddrV4::new([192, 0, 2, 7].into(), 1),
            destination: SocketAddrV4::new([192, 0, 2, 1].into(), 2),
        },
        ProxyCommand::Proxy,
        &[[0xe0, 0x13, 0x88].as_slice(), &[0; 5000]].concat(),
    );
    c.send(&big[..16]);
    closed_silently(&mut c);
}

#[test]
fn header_cut_short_is_closed() {
    // The peer ends its side mid-header: closed at once.
    let srv = echo(trust_local());
    let mut c = srv.connect();
    c.send(&V1[..20]);
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    closed_silently(&mut c);
    // The peer stays silent mid-header: closed by the first-byte timeout.
    let srv = echo_with(trust_local(), |b| {
        b.first_byte_timeout(Duration::from_millis(100))
    });
    let mut c = srv.connect();
    c.send(&V1[..20]);
    closed_silently(&mut c);
}

#[test]
fn untrusted_peer_cannot_set_its_address() {
    // 127.0.0.1 is not trusted: its bytes go to the HTTP parser.
    let srv = echo(ProxyPolicy::required().trust("192.0.2.0/24".parse().unwrap()));
    for header in [V1.to_vec(), v2_inet6()] {
        let mut c = srv.connect();
        c.send(&[&header[..], GET].concat());
        let r = c.read_response();
        assert_eq!(r.status, 400, "{:?}", r.body_str());
        assert!(r.closes());
        closed_silently(&mut c);
    }
    // Without a header it is an ordinary client.
    let mut c = srv.connect();
    let me = c.stream.local_addr().unwrap().to_string();
    assert_eq!(c.get("/").body_str(), me);
}

#[test]
fn optional_header() {
    let policy = ProxyPolicy::optional().trust("127.0.0.0/8".parse().unwrap());
    let srv = echo(policy);
    let mut c = srv.connect();
    let me = c.stream.local_addr().unwrap().to_string();
    assert_eq!(c.get("/").body_str(), me, "no header: the socket's address");
    let mut c = srv.connect();
    c.send(V1);
    assert_eq!(c.get("/").body_str(), "192.0.2.7:56324");
    // Leading empty lines are HTTP, not the start of a v2 signature.
    let mut c = srv.connect();
    let me = c.stream.local_addr().unwrap().to_string();
    assert_eq!(
        c.request(&[b"\r\n".as_slice(), GET].concat()).body_str(),
        me
    );
    // A malformed header is still refused.
    let mut c = srv.connect();
    c.send(b"PROXY TCP4 1.2.3.4\r\n");
    closed_silently(&mut c);
}

#[test]
fn per_ip_limit_counts_the_header_address() {
    let srv = echo_with(trust_local(), |b| b.max_conns_per_ip(1));
    let header = |ip: &str| format!("PROXY TCP4 {ip} 198.51.100.1 1000 80\r\n").into_bytes();
    // Two clients behind the same proxy address: both served.
    let mut a = srv.connect();
    a.send(&header("192.0.2.1"));
    assert_eq!(a.get("/").body_str(), "192.0.2.1:1000");
    let mut b = srv.connect();
    b.send(&header("192.0.2.2"));
    assert_eq!(b.get("/").body_str(), "192.0.2.2:1000");
    // A second connection of the same client: 429.
    let mut c = srv.connect();
    c.send(&[&header("192.0.2.1")[..], GET].concat());
    assert_eq!(c.read_response().status, 429);
    // Once the first closes, its client may connect again.
    drop(a);
    let ok = crate::support::wait_until(Duration::from_secs(10), || {
        let mut d = srv.connect();
        d.send(&[&header("192.0.2.1")[..], GET].concat());
        d.read_response().status == 200
    });
    assert!(ok, "the header's address was not released at close");
}

#[test]
fn conn_state_hook_sees_the_header_address() {
    let seen: Arc<Mutex<Vec<(ConnState, SocketAddr)>>> = Arc::default();
    let log = seen.clone();
    let srv = echo_with(trust_local(), move |b| {
        b.conn_state_handler(move |_, addr, state| log.lock().unwrap().push((state, addr)))
    });
    let mut c = srv.connect();
    c.send(V1);
    c.get("/");
    drop(c);
    // A connection closed in its preface reports nothing.
    let mut c = srv.connect();
    c.send(b"nope");
    closed_silently(&mut c);
    let client: SocketAddr = "192.0.2.7:56324".parse().unwrap();
    let done = crate::support::wait_until(Duration::from_secs(10), || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| e.0 == ConnState::Closed)
    });
    assert!(done);
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.first(), Some(&(ConnState::New, client)));
    assert!(events.iter().all(|e| e.1 == client), "{events:?}");
    assert_eq!(events.iter().filter(|e| e.0 == ConnState::New).count(), 1);
}

#[test]
fn a_policy_trusting_nobody_is_refused() {
    let err = Server::builder()
        .handler(|_| {})
        .proxy_protocol(ProxyPolicy::required())
        .build()
        .err()
        .expect("refused");
    assert_eq!(err, ConfigError::ProxyTrustsNobody);
    assert!(err.to_string().contains("ProxyPolicy::trust"));
}

/// A server on two listeners, A and B, whose policy (trusting this host)
/// covers A only; its handler answers with the client's address.
struct TwoListeners {
    a: SocketAddr,
    b: SocketAddr,
    stop: brisk_server::ShutdownHandle,
    thread: std::thread::JoinHandle<Result<(), brisk_server::ServeError>>,
}

impl TwoListeners {
    fn start(configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> TwoListeners {
        let la = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lb = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, b) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
        let builder = Server::builder()
            .handler(|ctx| {
                let who = ctx.remote_addr().to_string();
                ctx.set_body(who.as_bytes());
            })
            .loops(1)
            .proxy_protocol(trust_local().on_port(a.port()));
        let server = configure(builder).build().unwrap();
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.serve_listeners(vec![la, lb]));
        TwoListeners { a, b, stop, thread }
    }

    fn stop(self) {
        self.stop.shutdown();
        self.thread.join().unwrap().unwrap();
    }
}

#[test]
fn a_policy_covers_only_the_listeners_on_its_ports() {
    let srv = TwoListeners::start(|b| b);
    let (addr_a, addr_b) = (srv.a, srv.b);

    // Port A: the header is required and sets the address.
    let mut c = Client::connect(addr_a);
    c.send(V1);
    assert_eq!(c.get("/").body_str(), "192.0.2.7:56324");
    let mut c = Client::connect(addr_a);
    c.send(GET);
    closed_silently(&mut c);

    // Port B: plain HTTP for the same (trusted) peer; a header is a bad request.
    let mut c = Client::connect(addr_b);
    let me = c.stream.local_addr().unwrap().to_string();
    assert_eq!(c.get("/").body_str(), me);
    let mut c = Client::connect(addr_b);
    c.send(&[V1, GET].concat());
    assert_eq!(c.read_response().status, 400);

    srv.stop();
}

#[test]
fn a_policy_on_a_port_nothing_listens_on_is_refused_at_serve() {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = a.local_addr().unwrap().port();
    let other = if port == 65535 { 1 } else { port + 1 };
    let server = Server::builder()
        .handler(|ctx| ctx.set_body(b"ok"))
        .loops(1)
        .proxy_protocol(trust_local().on_port(other))
        .build()
        .unwrap();
    let err = server.serve_listeners(vec![a]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("port {other}")) && msg.contains("on_port"),
        "{msg}"
    );
}

#[test]
fn an_uncovered_listener_counts_the_peer_against_the_per_ip_limit() {
    let srv = TwoListeners::start(|b| b.max_conns_per_ip(1));
    let (addr_a, addr_b) = (srv.a, srv.b);

    // Port B serves the trusted peer as itself: its own address is the key.
    let mut first = Client::connect(addr_b);
    assert_eq!(first.get("/").status, 200);
    let mut second = Client::connect(addr_b);
    second.send(GET);
    assert_eq!(second.read_response().status, 429);
    // Port A counts the header's client instead, so it is not refused.
    let mut c = Client::connect(addr_a);
    c.send(V1);
    assert_eq!(c.get("/").status, 200);
    // Once the first closes, the peer may connect to B again.
    drop(first);
    let ok = crate::support::wait_until(Duration::from_secs(10), || {
        let mut d = Client::connect(addr_b);
        d.send(GET);
        d.read_response().status == 200
    });
    assert!(ok, "the peer's address was not released at close");

    srv.stop();
}

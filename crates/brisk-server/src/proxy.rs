//! The PROXY protocol (v1 and v2) in front of HTTP: which peers may send
//! a header ([`ProxyPolicy`], networks as [`Cidr`]s), and the preface that
//! reads it before the connection proper starts.
//!
//! The example is on [`ProxyPolicy`].
//!
//!
//! # How a connection goes
//!
//! At accept, a connection whose peer address lies in a trusted network
//! enters its *preface* (`State::Preface` in `conn.rs`): on each input
//! event the loop peeks at the socket (`recv` with `MSG_PEEK`, into a
//! stack buffer: the connection holds no buffer while it waits) and parses
//! what is there with [`brisk_http::parse_proxy_header`]. Once a header is
//! complete it receives exactly the header's bytes, so whatever follows
//! (a request, a TLS ClientHello) is still in the socket for the
//! connection proper, which starts at once. A header cut short waits for
//! more bytes, bounded by `first_byte_timeout` from accept.
//!
//! A connection from any other peer never has a preface: its bytes go to
//! the HTTP parser, which answers a PROXY header with 400 Bad Request (or
//! another 4xx: it is not a request line) and closes. Only trusted peers
//! can set a client address.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use brisk_http::{ProxyError, ProxyStatus, parse_proxy_header};
use log::{debug, warn};

use crate::conn::Next;
use crate::error::ServerError;
use crate::event_loop::{TcpConn, reject};
use crate::hooks::ConnState;
use crate::scratch::Scratch;
use crate::server::Core;
use crate::sys;

/// The longest PROXY header the server reads (a v2 header's TLVs
/// included); a longer one closes the connection.
pub const MAX_PROXY_HEADER: usize = 4096;

/// Which peers may open their connections with a PROXY protocol header,
/// and whether they must. Set with
/// [`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol);
/// it applies to every listener of the server.
///
/// **The trust rule**: only a peer whose socket address lies in one of the
/// [`trust`](Self::trust)ed networks may set the client address. Its
/// connection is read for a header before anything else; a peer outside
/// them is an ordinary HTTP client, and a PROXY header it sends is
/// answered 400 by the HTTP parser and closed. List exactly your load
/// balancers: anyone in a trusted network can claim any address.
///
/// ```
/// use brisk_server::{ProxyPolicy, Server};
///
/// // The load balancers live in 10.1.0.0/16; each of their connections
/// // must open with a PROXY header, whose client address then becomes
/// // `ctx.remote_addr()`. Other peers are served as plain HTTP clients.
/// let policy = ProxyPolicy::required().trust("10.1.0.0/16".parse()?);
/// let server = Server::builder()
///     .handler(|ctx| {
///         let who = ctx.remote_addr().to_string();
///         ctx.set_body(who.as_bytes());
///     })
///     .proxy_protocol(policy)
///     .build()?;
/// # drop(server);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyPolicy {
    trusted: Vec<Cidr>,
    header: ProxyHeaderRule,
    /// Local ports of the listeners it applies to; empty: every listener.
    ports: Vec<u16>,
}

/// Whether a trusted peer must send a PROXY header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeaderRule {
    /// Every connection from a trusted peer must open with a valid header;
    /// one that does not (other bytes, a malformed header, nothing before
    /// `first_byte_timeout`) is closed without an answer and logged.
    Required,
    /// A trusted peer's connection may open with a header; if its first
    /// bytes are not a PROXY signature it is served as plain HTTP from the
    /// peer's own address. A malformed header is still closed.
    Optional,
}

/// An IP network: an address and a prefix length (`10.0.0.0/8`,
/// `2001:db8::/32`). Parsed from that notation, or from a bare address
/// (a single host: `/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a [`Cidr`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// Not `ADDRESS/PREFIX` or `ADDRESS`.
    Syntax(String),
    /// The prefix is longer than the address (over 32 for IPv4, 128 for
    /// IPv6).
    PrefixTooLong {
        /// The prefix given.
        prefix: u8,
        /// The family's longest prefix.
        max: u8,
    },
    /// Bits below the prefix are set (`10.0.0.1/8`): the network is most
    /// likely not what was meant.
    HostBitsSet {
        /// The network with those bits cleared (the likely intent).
        network: Cidr,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Syntax(s) => write!(
                f,
                "`{s}` is not a network: expected ADDRESS/PREFIX (10.0.0.0/8, 2001:db8::/32) or an address"
            ),
            CidrError::PrefixTooLong { prefix, max } => write!(
                f,
                "network prefix /{prefix} is longer than the address: at most /{max}"
            ),
            CidrError::HostBitsSet { network } => write!(
                f,
                "network has bits set below its prefix: did you mean {network}?"
            ),
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The network of `addr` with a `prefix`-bit mask. Refuses a prefix
    /// longer than the address and an address with bits below the prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix, max });
        }
        let network = Cidr {
            addr: mask(addr, prefix),
            prefix,
        };
        if network.addr != addr {
            return Err(CidrError::HostBitsSet { network });
        }
        Ok(network)
    }

    /// Whether `ip` lies in the network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, how a dual-stack listener sees IPv4 peers) is
    /// matched as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                let prefix: u8 = if digits {
                    p.parse().map_err(|_| syntax())?
                } else {
                    return Err(syntax());
                };
                (a.parse::<IpAddr>().map_err(|_| syntax())?, Some(prefix))
            }
            None => (s.parse::<IpAddr>().map_err(|_| syntax())?, None),
        };
        let prefix = prefix.unwrap_or(match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        });
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl ProxyPolicy {
    /// Trusted peers must send a header ([`ProxyHeaderRule::Required`]);
    /// add them with [`trust`](Self::trust).
    pub fn required() -> ProxyPolicy {
        ProxyPolicy {
            trusted: Vec::new(),
            header: ProxyHeaderRule::Required,
            ports: Vec::new(),
        }
    }

    /// Trusted peers may send a header ([`ProxyHeaderRule::Optional`]);
    /// add them with [`trust`](Self::trust).
    pub fn optional() -> ProxyPolicy {
        ProxyPolicy {
            header: ProxyHeaderRule::Optional,
            ..ProxyPolicy::required()
        }
    }

    /// Trusts the peers of `network` to send PROXY headers.
    pub fn trust(mut self, network: Cidr) -> ProxyPolicy {
        self.trusted.push(network);
        self
    }

    /// Applies the policy only to the listeners bound to local port
    /// `port` (call it again for more ports). Without it the policy covers
    /// every listener of the server. A listener it does not cover serves
    /// plain HTTP to everyone: a PROXY header sent there is a bad request
    /// (400), as from an untrusted peer. Serving fails with
    /// [`ServeError::Setup`](crate::ServeError::Setup) when no listener is
    /// bound to a port named here.
    ///
    /// ```
    /// use brisk_server::ProxyPolicy;
    /// // The load balancer reaches port 80; port 8080 is for direct,
    /// // internal clients, which must not be able to send a header.
    /// let policy = ProxyPolicy::required()
    ///     .trust("10.1.0.0/16".parse().unwrap())
    ///     .on_port(80);
    /// assert!(policy.covers_port(80) && !policy.covers_port(8080));
    /// ```
    pub fn on_port(mut self, port: u16) -> ProxyPolicy {
        self.ports.push(port);
        self
    }

    /// Whether the policy applies to a listener bound to local port `port`
    /// (always, when no [`on_port`](Self::on_port) was given).
    pub fn covers_port(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&port)
    }

    /// The ports given with [`on_port`](Self::on_port) (empty: every
    /// listener).
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Whether a peer at `ip` may send a header.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// The trusted networks.
    pub fn trusted(&self) -> &[Cidr] {
        &self.trusted
    }

    /// Whether trusted peers must send a header.
    pub fn header_rule(&self) -> ProxyHeaderRule {
        self.header
    }
}

/// Whether a header error was logged at `warn` yet (the first one is;
/// later ones only with `log_all_errors`, else at `debug`).
static WARNED: AtomicBool = AtomicBool::new(false);

/// Runs a connection's preface on an input event: `Some(next)` while it
/// waits or once it failed, `None` when the header is read (or, when
/// optional, absent) and the connection proper should be driven now.
#[cold]
#[inline(never)]
pub(crate) fn preface(conn: &mut TcpConn, s: &mut Scratch, core: &Core) -> Option<Next> {
    let Some(policy) = core.cfg.proxy.as_deref() else {
        conn.end_preface(None);
        return None;
    };
    if !policy.ports.is_empty() && !covers_listener(policy, conn.io.socket()) {
        // A trusted peer on a listener the policy does not cover: plain
        // HTTP, as from anyone (a header sent here is a bad request).
        return admitted(conn, s, core, None);
    }
    if !conn.may_read() {
        // An output edge (the first event after accept): nothing to peek.
        return Some(Next::Keep);
    }
    let peer = conn.info.remote;
    let mut buf = [0u8; MAX_PROXY_HEADER];
    let n = match sys::recv_plain(conn.io.socket(), &mut buf, true) {
        Ok(0) => {
            // A health check that connects and leaves: routine.
            if core.cfg.log_all_errors {
                debug!(
                    "conn {} from {peer}: closed before a PROXY header",
                    conn.info.id
                );
            }
            return Some(Next::Close);
        }
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Next::Keep),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Some(Next::Again),
        Err(_) => return Some(Next::Close),
    };
    let (client, consumed) = match parse_proxy_header(&buf[..n]) {
        Ok(ProxyStatus::Incomplete { need }) => {
            if n + need > MAX_PROXY_HEADER {
                failed(core, conn.info.id, peer, &HeaderTooLong(n + need));
                return Some(Next::Close);
            }
            if conn.peer_hung_up() {
                failed(
                    core,
                    conn.info.id,
                    peer,
                    &"the peer closed within its PROXY header",
                );
                return Some(Next::Close);
            }
            return Some(Next::Keep);
        }
        Ok(ProxyStatus::Done { header, consumed }) => (header.source(), consumed),
        Err(ProxyError::NotProxy) if policy.header == ProxyHeaderRule::Optional => (None, 0),
        Err(e) => {
            failed(core, conn.info.id, peer, &e);
            return Some(Next::Close);
        }
    };
    // Take exactly the header: what follows stays queued for the
    // connection proper.
    let mut taken = 0;
    while taken < consumed {
        match sys::recv_plain(conn.io.socket(), &mut buf[taken..consumed], false) {
            Ok(0) => return Some(Next::Close),
            Ok(k) => taken += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The bytes were peeked: they are there.
            Err(_) => return Some(Next::Close),
        }
    }
    admitted(conn, s, core, client)
}

/// Whether the listener `sock` was accepted on is one the policy covers
/// ([`ProxyPolicy::on_port`]). Checked here, on the connection's first
/// event and only when the policy names ports, rather than at accept: the
/// accept path is inlined into the event loop, whose per-request code
/// shifts (callgrind: +38 instructions per pipelined request) when it grows.
fn covers_listener(policy: &ProxyPolicy, sock: &socket2::Socket) -> bool {
    match local_port(sock) {
        Some(port) => policy.covers_port(port),
        // The local port cannot be told: no header is taken (the safe side).
        None => false,
    }
}

/// The local port of an inet socket (a listener, or a connection accepted
/// on one: the same port).
pub(crate) fn local_port(sock: &socket2::Socket) -> Option<u16> {
    Some(sock.local_addr().ok()?.as_socket()?.port())
}

/// The preface is over (a header read, an optional one absent, or the
/// listener not covered): the connection counts against its client's
/// address (`client`, else the peer's) and starts serving.
fn admitted(
    conn: &mut TcpConn,
    s: &mut Scratch,
    core: &Core,
    client: Option<SocketAddr>,
) -> Option<Next> {
    let peer = conn.info.remote;
    let addr = client.unwrap_or(peer);
    if core.cfg.max_conns_per_ip > 0 {
        if !core.ip_acquire(addr.ip()) {
            if core.cfg.log_all_errors {
                warn!("rejected {addr} (through {peer}): too many connections from this address");
            }
            reject(
                core,
                s,
                conn.io.socket(),
                addr,
                ServerError::TooManyConnectionsPerIp,
            );
            return Some(Next::Close);
        }
        conn.ip_counted = true;
    }
    conn.end_preface(client);
    core.hooks
        .conn_state(conn.info.id, conn.info.remote, ConnState::New);
    None
}

/// A header longer than [`MAX_PROXY_HEADER`] (its announced length).
struct HeaderTooLong(usize);

impl fmt::Display for HeaderTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PROXY header of at least {} bytes is longer than the {MAX_PROXY_HEADER} bytes read",
            self.0
        )
    }
}

/// Logs why a trusted peer's connection is closed in its preface.
#[cold]
fn failed(core: &Core, id: u64, peer: SocketAddr, why: &dyn fmt::Display) {
    if core.cfg.log_all_errors || !WARNED.swap(true, Ordering::Relaxed) {
        warn!(
            "conn {id} from trusted proxy {peer}: closed: {why} (later PROXY header errors \
             are logged at debug level unless log_all_errors is set)"
        );
    } else {
        debug!("conn {id} from trusted proxy {peer}: closed: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parse_and_match() {
        let n: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains(ip("10.1.255.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped peer");
        assert!(!n.contains(ip("2001:db8::1")));
        let h: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(h.to_string(), "192.0.2.7/32");
        assert!(h.contains(ip("192.0.2.7")) && !h.contains(ip("192.0.2.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let any6: Cidr = "::/0".parse().unwrap();
        assert!(any6.contains(ip("::1")));
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
    }

    #[test]
    fn cidr_errors() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/x",
            "10.0.0/8",
            "10.0.0.0/+8",
            "host/8",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong {
                prefix: 33,
                max: 32
            })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong {
                prefix: 129,
                max: 128
            })
        );
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "network has bits set below its prefix: did you mean 10.0.0.0/8?"
        );
        assert!(
            "nope"
                .parse::<Cidr>()
                .unwrap_err()
                .to_string()
                .contains("`nope` is not a network")
        );
    }

    proptest::proptest! {
        /// Any network prints and parses back to itself, holds its own
        /// address and every address sharing its prefix, and no other;
        /// any string either parses or is a typed error.
        #[test]
        fn cidr_round_trip(bits in proptest::prelude::any::<u128>(), v6 in proptest::prelude::any::<bool>(),
                           prefix in 0u8..=128, other in proptest::prelude::any::<u128>(), junk in ".{0,48}") {
            let (addr, prefix) = if v6 {
                (IpAddr::V6(Ipv6Addr::from(bits)), prefix)
            } else {
                (IpAddr::V4(Ipv4Addr::from(bits as u32)), prefix % 33)
            };
            let net = Cidr::new(mask(addr, prefix), prefix).unwrap();
            proptest::prop_assert_eq!(net.to_string().parse::<Cidr>(), Ok(net));
            proptest::prop_assert!(net.contains(addr));
            let probe = if v6 { IpAddr::V6(Ipv6Addr::from(other)) } else { IpAddr::V4(Ipv4Addr::from(other as u32)) };
            proptest::prop_assert_eq!(net.contains(probe), mask(probe, prefix) == net.addr);
            let _ = junk.parse::<Cidr>();
        }
    }

    #[test]
    fn policy_trust() {
        let p = ProxyPolicy::optional()
            .trust("127.0.0.1".parse().unwrap())
            .trust("fd00::/8".parse().unwrap());
        assert_eq!(p.header_rule(), ProxyHeaderRule::Optional);
        assert!(p.trusts(ip("127.0.0.1")) && p.trusts(ip("fd12::1")));
        assert!(!p.trusts(ip("127.0.0.2")));
        assert!(!ProxyPolicy::required().trusts(ip("127.0.0.1")));
    }
}

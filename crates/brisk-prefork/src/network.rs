//! Networks, address resolution and socket creation.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, ParseNetworkError};

/// The network to listen on, named as in Go's `net` package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// `"tcp"`: IPv4 or IPv6. A wildcard host (`":8080"`) listens dual-stack
    /// on `[::]` when the machine has IPv6, else on `0.0.0.0`.
    Tcp,
    /// `"tcp4"`: IPv4 only. The default, as in fasthttp.
    #[default]
    Tcp4,
    /// `"tcp6"`: IPv6 only (the socket is `IPV6_V6ONLY`).
    Tcp6,
}

/// The fallback `listen(2)` backlog where `somaxconn` cannot be read.
const DEFAULT_BACKLOG: i32 = 4096;

impl Network {
    /// The Go-style name: `"tcp"`, `"tcp4"` or `"tcp6"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Tcp => "tcp",
            Network::Tcp4 => "tcp4",
            Network::Tcp6 => "tcp6",
        }
    }

    /// Whether an address of this family is acceptable for the network.
    #[inline]
    fn accepts(self, ip: IpAddr) -> bool {
        match self {
            Network::Tcp => true,
            Network::Tcp4 => ip.is_ipv4(),
            Network::Tcp6 => ip.is_ipv6(),
        }
    }

    pub(crate) fn family_name(self) -> &'static str {
        match self {
            Network::Tcp => "IPv4 or IPv6",
            Network::Tcp4 => "IPv4",
            Network::Tcp6 => "IPv6",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = ParseNetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Network::Tcp),
            "tcp4" => Ok(Network::Tcp4),
            "tcp6" => Ok(Network::Tcp6),
            _ => Err(ParseNetworkError {
                input: s.to_owned(),
            }),
        }
    }
}

/// Splits `host:port` (Go syntax: `[v6]:port`, `host:port`, `:port`) without
/// any lookup. Never panics.
pub(crate) fn split_host_port(addr: &str) -> Result<(&str, u16), &'static str> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an opening '[' has no closing ']'")?;
        let port = after
            .strip_prefix(':')
            .ok_or("missing \":port\" after the bracketed host")?;
        (host, port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or("missing port; use host:port, e.g. 127.0.0.1:8080 or :8080")?;
        if host.contains(':') {
            return Err("IPv6 hosts need brackets, e.g. [::1]:8080");
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number in 0..=65535");
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| "the port must be a number in 0..=65535")?;
    Ok((host, port))
}

/// Resolves a Go-style address for `network` to one socket address.
///
/// An empty host is the wildcard address. Literal IPs are not looked up;
/// names are, and the first address of the network's family wins (IPv4
/// first for [`Network::Tcp`], like Go).
pub(crate) fn resolve(addr: &str, network: Network) -> Result<SocketAddr, Error> {
    let (host, port) = split_host_port(addr).map_err(|reason| Error::InvalidAddress {
        addr: addr.to_owned(),
        reason,
    })?;
    let no_address = || Error::NoAddressForNetwork {
        addr: addr.to_owned(),
        network,
    };
    if host.is_empty() {
        let ip = match network {
            Network::Tcp4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Network::Tcp6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Network::Tcp if ipv6_available() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Network::Tcp => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        return Ok(SocketAddr::new(ip, port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if network.accepts(ip) {
            Ok(SocketAddr::new(ip, port))
        } else {
            Err(no_address())
        };
    }
    let candidates: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            addr: addr.to_owned(),
            source,
        })?
        .collect();
    let pick = |want_v4: bool| {
        candidates
            .iter()
            .copied()
            .find(|sa| sa.is_ipv4() == want_v4 && network.accepts(sa.ip()))
    };
    match network {
        Network::Tcp => pick(true).or_else(|| pick(false)),
        Network::Tcp4 => pick(true),
        Network::Tcp6 => pick(false),
    }
    .ok_or_else(no_address)
}

/// Creates a TCP socket bound to `addr` (with `SO_REUSEADDR`, and
/// `SO_REUSEPORT` when asked) and listening. The socket is close-on-exec.
pub(crate) fn bind(addr: SocketAddr, network: Network, reuseport: bool) -> Result<Socket, Error> {
    bind_inner(addr, network, reuseport).map_err(|source| Error::Bind { addr, source })
}

fn bind_inner(addr: SocketAddr, network: Network, reuseport: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuseport {
        set_reuse_port(&socket)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(network == Network::Tcp6)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog())?;
    Ok(socket)
}

#[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not supported on this platform; use fd passing (reuseport(false))",
    ))
}

/// The bound address of a socket, as a `SocketAddr`.
pub(crate) fn local_addr(socket: &Socket) -> io::Result<SocketAddr> {
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket is not an IP socket"))
}

fn ipv6_available() -> bool {
    Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).is_ok()
}

/// The kernel's accept-queue cap; larger backlogs are clamped to it anyway.
fn backlog() -> i32 {
    #[cfg(target_os = "linux")]
    if let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
        if let Ok(n) = text.trim().parse::<i32>() {
            if n > 0 {
                return n;
            }
        }
    }
    DEFAULT_BACKLOG
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn network_parses_and_prints_go_names() {
        for (text, network) in [
            ("tcp", Network::Tcp),
            ("tcp4", Network::Tcp4),
            ("tcp6", Network::Tcp6),
        ] {
            assert_eq!(text.parse::<Network>().unwrap(), network);
            assert_eq!(network.to_string(), text);
        }
        let err = "udp".parse::<Network>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown network \"udp\"; use \"tcp\", \"tcp4\" or \"tcp6\""
        );
        assert_eq!(Network::default(), Network::Tcp4);
    }

    #[test]
    fn split_host_port_table() {
        let ok: &[(&str, &str, u16)] = &[
            ("127.0.0.1:8080", "127.0.0.1", 8080),
            (":80", "", 80),
            ("[::1]:0", "::1", 0),
            ("[::]:65535", "::", 65535),
            ("localhost:1", "localhost", 1),
        ];
        for &(input, host, port) in ok {
            assert_eq!(split_host_port(input), Ok((host, port)), "{input}");
        }
        let bad: &[(&str, &str)] = &[
            ("127.0.0.1", "missing port"),
            ("::1:80", "brackets"),
            ("[::1:80", "closing"),
            ("[::1]80", "missing \":port\""),
            ("host:", "0..=65535"),
            ("host:65536", "0..=65535"),
            ("host:+1", "0..=65535"),
            ("host:http", "0..=65535"),
        ];
        for &(input, needle) in bad {
            let reason = split_host_port(input).unwrap_err();
            assert!(reason.contains(needle), "{input}: {reason}");
        }
    }

    #[test]
    fn resolve_checks_the_family() {
        let v4 = resolve("127.0.0.1:9", Network::Tcp4).unwrap();
        assert_eq!(v4, "127.0.0.1:9".parse().unwrap());
        let v6 = resolve("[::1]:9", Network::Tcp6).unwrap();
        assert_eq!(v6, "[::1]:9".parse().unwrap());
        assert_eq!(
            resolve("[::1]:9", Network::Tcp).unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert!(matches!(
            resolve("[::1]:9", Network::Tcp4),
            Err(Error::NoAddressForNetwork {
                network: Network::Tcp4,
                ..
            })
        ));
        assert!(matches!(
            resolve("127.0.0.1:9", Network::Tcp6),
            Err(Error::NoAddressForNetwork { .. })
        ));
        assert!(matches!(
            resolve("nonsense", Network::Tcp4),
            Err(Error::InvalidAddress { .. })
        ));
    }

    #[test]
    fn resolve_wildcards() {
        assert_eq!(
            resolve(":7", Network::Tcp4).unwrap(),
            "0.0.0.0:7".parse().unwrap()
        );
        assert_eq!(
            resolve(":7", Network::Tcp6).unwrap(),
            "[::]:7".parse().unwrap()
        );
        let any = resolve(":7", Network::Tcp).unwrap();
        assert!(any.ip().is_unspecified());
        assert_eq!(any.port(), 7);
    }

    #[test]
    fn resolve_names_prefers_ipv4_for_tcp() {
        let sa = resolve("localhost:5", Network::Tcp4).unwrap();
        assert!(sa.ip().is_loopback() && sa.is_ipv4());
        let sa = resolve("localhost:5", Network::Tcp).unwrap();
        assert!(sa.ip().is_loopback() && sa.is_ipv4());
    }

    #[test]
    fn bind_errors_name_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        for reuseport in [false, true] {
            let err = bind(addr, Network::Tcp4, reuseport).unwrap_err();
            assert!(
                matches!(&err, Error::Bind { addr: a, .. } if *a == addr),
                "{err}"
            );
            assert!(err.to_string().contains(&addr.to_string()));
        }
    }

    #[test]
    fn reuseport_listeners_share_the_port() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = bind(any, Network::Tcp4, true).unwrap();
        let addr = local_addr(&first).unwrap();
        assert_ne!(addr.port(), 0);
        let a = bind(addr, Network::Tcp4, true).unwrap();
        let b = bind(addr, Network::Tcp4, true).unwrap();
        assert_eq!(local_addr(&a).unwrap(), addr);
        assert_eq!(local_addr(&b).unwrap(), addr);
        // With `first` and `b` gone, every connection reaches `a`.
        drop((first, b));
        let listener = std::net::TcpListener::from(a);
        listener.set_nonblocking(true).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match listener.accept() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no connection accepted"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        }
    }

    proptest! {
        #[test]
        fn split_never_panics(s in ".{0,40}") {
            let _ = split_host_port(&s);
        }

        #[test]
        fn literal_addresses_round_trip(ip in any::<IpAddr>(), port in any::<u16>()) {
            let sa = SocketAddr::new(ip, port);
            let network = if ip.is_ipv4() { Network::Tcp4 } else { Network::Tcp6 };
            // SocketAddr's Display brackets v6 and drops nothing but scope ids.
            let text = sa.to_string();
            let parsed = resolve(&text, network).unwrap();
            prop_assert_eq!(parsed.port(), port);
            prop_assert_eq!(parsed.ip(), ip);
        }
    }
}

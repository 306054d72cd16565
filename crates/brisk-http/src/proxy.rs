//! The PROXY protocol, versions 1 and 2 (HAProxy's specification "The
//! PROXY protocol Versions 1 & 2"): the header an L4 load balancer sends
//! before the client's bytes, carrying the client's address.
//!
//! [`parse_proxy_header`] reads a header from the start of a byte slice
//! that may hold only part of it ([`ProxyStatus::Incomplete`]: call again
//! with more bytes), or holds the header and whatever follows it
//! ([`ProxyStatus::Done`] says how many bytes the header took). It is pure:
//! no I/O, no allocation, no state between calls. [`ProxyHeader::encode`]
//! writes a header (for clients, proxies in tests, round trips).
//!
//! The example is on [`parse_proxy_header`].
//!
//!
//! # What is checked
//!
//! - **v1**: `PROXY` SP (`TCP4` | `TCP6`) SP src SP dst SP sport SP dport
//!   CRLF, or `PROXY UNKNOWN` followed by anything up to CRLF (ignored, as
//!   the specification says). Single spaces only; addresses must be of the
//!   declared family (dotted-quad IPv4 without leading zeros, or textual
//!   IPv6); ports are decimal 0–65535 without leading zeros; the line ends
//!   with CRLF within 107 bytes.
//! - **v2**: the 12-byte signature; version 2; command LOCAL or PROXY;
//!   for PROXY a defined family/protocol byte (`UNSPEC`, or `INET`/`INET6`/
//!   `UNIX` over `STREAM`/`DGRAM`) and a length that holds its addresses.
//!   The TLVs after the addresses must be well-formed (each one's length
//!   inside the header, an SSL TLV's fixed part and sub-TLVs too, a
//!   `UNIQUE_ID` of at most 128 bytes, at most one `CRC32C`). A `CRC32C`
//!   TLV, when present, is verified over the whole header
//!   ([`ProxyError::V2Checksum`] on a mismatch). Unknown TLV types are
//!   accepted and yielded as [`Tlv::Other`].
//! - A LOCAL header (v2) says "health check from the proxy itself": its
//!   address block, family and TLVs are skipped, as the specification
//!   asks. So is a PROXY header of family `UNSPEC`. Both, and v1's
//!   `UNKNOWN`, have [`ProxyAddresses::Unspecified`]: keep the socket's
//!   addresses.
//!
//! Not supported: nothing of the specification is left out on the parsing
//! side, but the TLVs are exposed as bytes (ALPN, authority, SSL fields),
//! not interpreted further (an authority is not checked to be UTF-8).

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The 12 bytes that open every v2 header.
pub const PROXY_V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included.
pub const PROXY_V1_MAX_LEN: usize = 107;
/// The shortest v1 header (`PROXY UNKNOWN\r\n`).
const V1_MIN_LEN: usize = 15;
/// The fixed part of a v2 header.
const V2_FIXED_LEN: usize = 16;
const V1_PREFIX: &[u8] = b"PROXY ";
/// Bytes of a UNIX address in a v2 header (each of the two).
const UNIX_ADDR_LEN: usize = 108;
/// The longest `UNIQUE_ID` TLV value (specification §2.2.5).
const MAX_UNIQUE_ID: usize = 128;

/// What [`parse_proxy_header`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyStatus<'a> {
    /// The bytes so far are the start of a valid header: at least `need`
    /// more bytes are required (exactly that many for a v2 header once its
    /// 16-byte fixed part has arrived; a lower bound otherwise).
    Incomplete {
        /// Bytes still to receive, at least 1.
        need: usize,
    },
    /// A whole header: the first `consumed` bytes of the input. What
    /// follows belongs to the proxied stream.
    Done {
        /// The header (it borrows TLVs and UNIX paths from the input).
        header: ProxyHeader<'a>,
        /// Length of the header on the wire.
        consumed: usize,
    },
}

/// Which version of the protocol a header was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// The human-readable line (`PROXY TCP4 …\r\n`).
    V1,
    /// The binary header (12-byte signature, addresses, TLVs).
    V2,
}

/// What the proxy says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyCommand {
    /// v2 LOCAL: the connection was opened by the proxy itself (a health
    /// check); use the socket's own addresses.
    Local,
    /// The connection is relayed for a client; its addresses follow (v1
    /// headers are always this command).
    Proxy,
}

/// The transport protocol of the relayed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyTransport {
    /// `STREAM` (TCP; v1 `TCP4`/`TCP6`).
    Stream,
    /// `DGRAM` (UDP).
    Dgram,
}

/// The relayed connection's addresses, by family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyAddresses<'a> {
    /// None given: v1 `UNKNOWN`, v2 LOCAL, or v2 PROXY with family
    /// `UNSPEC`. Keep the socket's addresses.
    Unspecified,
    /// IPv4 (v1 `TCP4`, v2 `INET`).
    Inet {
        /// Stream or datagram.
        transport: ProxyTransport,
        /// The client.
        source: SocketAddrV4,
        /// The address the client connected to.
        destination: SocketAddrV4,
    },
    /// IPv6 (v1 `TCP6`, v2 `INET6`).
    Inet6 {
        /// Stream or datagram.
        transport: ProxyTransport,
        /// The client.
        source: SocketAddrV6,
        /// The address the client connected to.
        destination: SocketAddrV6,
    },
    /// UNIX socket paths (v2 only): each up to 108 bytes, here without
    /// the NUL padding.
    Unix {
        /// Stream or datagram.
        transport: ProxyTransport,
        /// The client's path.
        source: &'a [u8],
        /// The path the client connected to.
        destination: &'a [u8],
    },
}

/// A parsed PROXY protocol header.
///
/// Built by [`parse_proxy_header`] (then its `tlvs` are well-formed), or by
/// hand for [`encode`](Self::encode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxyHeader<'a> {
    /// The version it was (or is to be) written in.
    pub version: ProxyVersion,
    /// LOCAL or PROXY.
    pub command: ProxyCommand,
    /// The relayed connection's addresses ([`ProxyAddresses::Unspecified`]
    /// for LOCAL).
    pub addresses: ProxyAddresses<'a>,
    /// The v2 TLV area as sent (empty for v1, LOCAL and `UNSPEC`); read it
    /// with [`tlvs`](Self::tlvs).
    pub tlvs: &'a [u8],
}

/// One type-length-value field of a v2 header (or of its SSL TLV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tlv<'a> {
    /// `PP2_TYPE_ALPN` (0x01): the negotiated application protocol.
    Alpn(&'a [u8]),
    /// `PP2_TYPE_AUTHORITY` (0x02): the host name the client asked for
    /// (TLS SNI), UTF-8 by the specification (not checked).
    Authority(&'a [u8]),
    /// `PP2_TYPE_CRC32C` (0x03): the header's checksum (already verified
    /// by the parser).
    Crc32c(u32),
    /// `PP2_TYPE_NOOP` (0x04): padding.
    Noop,
    /// `PP2_TYPE_UNIQUE_ID` (0x05): the proxy's connection id (≤ 128 bytes).
    UniqueId(&'a [u8]),
    /// `PP2_TYPE_SSL` (0x20): the client's TLS connection to the proxy.
    Ssl(SslInfo<'a>),
    /// `PP2_SUBTYPE_SSL_VERSION` (0x21, inside [`Tlv::Ssl`]).
    SslVersion(&'a [u8]),
    /// `PP2_SUBTYPE_SSL_CN` (0x22, inside [`Tlv::Ssl`]): the client
    /// certificate's Common Name.
    SslCn(&'a [u8]),
    /// `PP2_SUBTYPE_SSL_CIPHER` (0x23, inside [`Tlv::Ssl`]).
    SslCipher(&'a [u8]),
    /// `PP2_SUBTYPE_SSL_SIG_ALG` (0x24, inside [`Tlv::Ssl`]).
    SslSigAlg(&'a [u8]),
    /// `PP2_SUBTYPE_SSL_KEY_ALG` (0x25, inside [`Tlv::Ssl`]).
    SslKeyAlg(&'a [u8]),
    /// `PP2_TYPE_NETNS` (0x30): the network namespace's name.
    Netns(&'a [u8]),
    /// Any other type (custom 0xE0–0xEF, experimental 0xF0, future ones):
    /// accepted and passed on as is.
    Other {
        /// The type byte.
        kind: u8,
        /// The value.
        value: &'a [u8],
    },
}

/// The `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SslInfo<'a> {
    /// `PP2_CLIENT_*` bits: 0x01 the client used TLS, 0x02 it presented
    /// a certificate on this connection, 0x04 on this TLS session.
    pub client: u8,
    /// 0 when the client presented a certificate that was verified.
    pub verify: u32,
    /// The sub-TLVs (version, CN, cipher, algorithms); read them with
    /// [`sub_tlvs`](Self::sub_tlvs).
    pub sub: &'a [u8],
}

/// An iterator over TLVs; it ends at the first malformed one (the parser
/// has already refused headers with malformed TLVs).
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

/// Why bytes are not a PROXY protocol header (or, from
/// [`ProxyHeader::encode`], why a header cannot be written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyError {
    /// The input starts with neither `PROXY ` (v1) nor the v2 signature:
    /// the peer sent no PROXY protocol header (is the proxy configured to
    /// send one?).
    NotProxy,
    /// No CRLF within the first 107 bytes of a v1 header.
    V1TooLong,
    /// A v1 header line ends with a bare LF instead of CRLF.
    V1LineEnd,
    /// A field of a v1 header is missing or malformed.
    V1Field(V1Field),
    /// The v2 version nibble is not 2.
    V2Version,
    /// The v2 command nibble is neither LOCAL (0) nor PROXY (1).
    V2Command,
    /// The v2 family/protocol byte is not one the specification defines.
    V2Family,
    /// The v2 length is too short for the addresses of the declared family.
    V2AddressLength {
        /// Bytes the family's addresses take.
        needed: u16,
        /// The header's length field.
        got: u16,
    },
    /// A v2 TLV is malformed: its length runs past the header, an SSL TLV
    /// is shorter than 5 bytes or holds malformed sub-TLVs, a
    /// `UNIQUE_ID` is longer than 128 bytes, a `CRC32C` is not 4 bytes, or
    /// there are two `CRC32C`s.
    V2Tlv,
    /// The v2 header's `CRC32C` TLV does not match its contents.
    V2Checksum,
    /// ([`ProxyHeader::encode`] only) the header cannot be written in the
    /// requested version: v1 has neither LOCAL, datagrams, UNIX sockets
    /// nor TLVs.
    NotExpressible,
    /// ([`ProxyHeader::encode`] only) addresses and TLVs exceed the 65 535
    /// bytes a v2 length can say, or a UNIX path is longer than 108 bytes.
    TooLong,
}

/// The field of a v1 header that is missing or malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V1Field {
    /// Not `TCP4`, `TCP6` or `UNKNOWN`.
    Protocol,
    /// The source address (missing, not of the declared family, or not
    /// separated by exactly one space).
    SourceAddress,
    /// The destination address.
    DestinationAddress,
    /// The source port.
    SourcePort,
    /// The destination port.
    DestinationPort,
    /// Something after the destination port.
    Trailing,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::NotProxy => f.write_str(
                "no PROXY protocol header: the connection starts with neither `PROXY ` (v1) \
                 nor the v2 signature (is the proxy configured to send one?)",
            ),
            ProxyError::V1TooLong => {
                f.write_str("PROXY v1 header has no CRLF within its maximum of 107 bytes")
            }
            ProxyError::V1LineEnd => {
                f.write_str("PROXY v1 header line ends with a bare LF; CRLF is required")
            }
            ProxyError::V1Field(field) => {
                let what = match field {
                    V1Field::Protocol => "protocol (expected TCP4, TCP6 or UNKNOWN)",
                    V1Field::SourceAddress => {
                        "source address (expected an address of the declared family, after one space)"
                    }
                    V1Field::DestinationAddress => {
                        "destination address (expected an address of the declared family, after one space)"
                    }
                    V1Field::SourcePort => {
                        "source port (expected 0-65535 in decimal, no leading zero)"
                    }
                    V1Field::DestinationPort => {
                        "destination port (expected 0-65535 in decimal, no leading zero)"
                    }
                    V1Field::Trailing => "data after the destination port (expected CRLF)",
                };
                write!(f, "PROXY v1 header: invalid {what}")
            }
            ProxyError::V2Version => f.write_str("PROXY v2 header: version is not 2"),
            ProxyError::V2Command => {
                f.write_str("PROXY v2 header: command is neither LOCAL (0) nor PROXY (1)")
            }
            ProxyError::V2Family => f.write_str(
                "PROXY v2 header: undefined address family/protocol byte (expected 0x00, \
                 0x11, 0x12, 0x21, 0x22, 0x31 or 0x32)",
            ),
            ProxyError::V2AddressLength { needed, got } => write!(
                f,
                "PROXY v2 header: length {got} is shorter than the {needed} bytes of its addresses"
            ),
            ProxyError::V2Tlv => f.write_str(
                "PROXY v2 header: malformed TLV (length past the header, short SSL TLV, \
                 UNIQUE_ID over 128 bytes, or a bad or repeated CRC32C)",
            ),
            ProxyError::V2Checksum => {
                f.write_str("PROXY v2 header: CRC32C checksum does not match the header")
            }
            ProxyError::NotExpressible => f.write_str(
                "PROXY header cannot be written as v1: v1 has no LOCAL, datagram, UNIX \
                 addresses or TLVs (use v2)",
            ),
            ProxyError::TooLong => f.write_str(
                "PROXY v2 header too long: addresses and TLVs over 65535 bytes, or a UNIX \
                 path over 108 bytes",
            ),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`.
///
/// `Ok(Incomplete)` when `buf` is a proper prefix of a header that may
/// still be valid; parsing a longer prefix of the same bytes gives either
/// `Incomplete` again or the same final answer (the same header or the
/// same error), so a caller may retry as bytes arrive. An error is final:
/// the peer did not send a valid header.
///
/// ```
/// use brisk_http::{parse_proxy_header, ProxyAddresses, ProxyCommand, ProxyStatus};
///
/// let wire = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
/// // The first bytes alone: more are needed.
/// assert!(matches!(parse_proxy_header(&wire[..10]), Ok(ProxyStatus::Incomplete { .. })));
/// let ProxyStatus::Done { header, consumed } = parse_proxy_header(wire)? else { unreachable!() };
/// assert_eq!(&wire[consumed..], b"GET / HTTP/1.1\r\n");
/// assert_eq!(header.command, ProxyCommand::Proxy);
/// assert_eq!(header.source(), Some("192.0.2.7:56324".parse()?));
/// assert!(matches!(header.addresses, ProxyAddresses::Inet { .. }));
///
/// // A malformed header is a typed error with a message saying what broke.
/// let err = parse_proxy_header(b"PROXY TCP4 192.0.2.7 198.51.100.1 056324 443\r\n").unwrap_err();
/// assert_eq!(err.to_string(), "PROXY v1 header: invalid source port (expected 0-65535 in decimal, no leading zero)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_proxy_header(buf: &[u8]) -> Result<ProxyStatus<'_>, ProxyError> {
    match buf.first() {
        None => Ok(ProxyStatus::Incomplete { need: V1_MIN_LEN }),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

fn parse_v1(buf: &[u8]) -> Result<ProxyStatus<'_>, ProxyError> {
    let start = buf.len().min(V1_PREFIX.len());
    if buf[..start] != V1_PREFIX[..start] {
        return Err(ProxyError::NotProxy);
    }
    let window = &buf[..buf.len().min(PROXY_V1_MAX_LEN)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        if buf.len() >= PROXY_V1_MAX_LEN {
            return Err(ProxyError::V1TooLong);
        }
        let need = V1_MIN_LEN.saturating_sub(buf.len()).max(1);
        return Ok(ProxyStatus::Incomplete { need });
    };
    // `lf >= 6`: the prefix matched and holds no LF.
    if buf[lf - 1] != b'\r' {
        return Err(ProxyError::V1LineEnd);
    }
    let line = &buf[V1_PREFIX.len()..lf - 1];
    let (proto, rest) = match memchr::memchr(b' ', line) {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let addresses = match proto {
        b"UNKNOWN" => ProxyAddresses::Unspecified,
        b"TCP4" => {
            let (s, d, sp, dp) = v1_fields::<Ipv4Addr>(rest)?;
            ProxyAddresses::Inet {
                transport: ProxyTransport::Stream,
                source: SocketAddrV4::new(s, sp),
                destination: SocketAddrV4::new(d, dp),
            }
        }
        b"TCP6" => {
            let (s, d, sp, dp) = v1_fields::<Ipv6Addr>(rest)?;
            ProxyAddresses::Inet6 {
                transport: ProxyTransport::Stream,
                source: SocketAddrV6::new(s, sp, 0, 0),
                destination: SocketAddrV6::new(d, dp, 0, 0),
            }
        }
        _ => return Err(ProxyError::V1Field(V1Field::Protocol)),
    };
    Ok(ProxyStatus::Done {
        header: ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy,
            addresses,
            tlvs: &[],
        },
        consumed: lf + 1,
    })
}

/// Parses `src SP dst SP sport SP dport`, field by field: the first
/// field that is missing, empty (a doubled space) or malformed is the
/// error; a fifth field is [`V1Field::Trailing`].
fn v1_fields<A: core::str::FromStr>(rest: Option<&[u8]>) -> Result<(A, A, u16, u16), ProxyError> {
    let mut parts = rest.map(|r| r.split(|&b| b == b' '));
    let mut next = |field: V1Field| match parts.as_mut().and_then(Iterator::next) {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(ProxyError::V1Field(field)),
    };
    let src = v1_ip(next(V1Field::SourceAddress)?, V1Field::SourceAddress)?;
    let dst = v1_ip(
        next(V1Field::DestinationAddress)?,
        V1Field::DestinationAddress,
    )?;
    let sport = v1_port(next(V1Field::SourcePort)?, true)?;
    let dport = v1_port(next(V1Field::DestinationPort)?, false)?;
    if parts.as_mut().and_then(Iterator::next).is_some() {
        return Err(ProxyError::V1Field(V1Field::Trailing));
    }
    Ok((src, dst, sport, dport))
}

fn v1_ip<A: core::str::FromStr>(field: &[u8], which: V1Field) -> Result<A, ProxyError> {
    // std's parsers refuse IPv4 octets with leading zeros, as the
    // specification's "no leading zeroes" needs.
    core::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProxyError::V1Field(which))
}

fn v1_port(field: &[u8], source: bool) -> Result<u16, ProxyError> {
    let err = ProxyError::V1Field(if source {
        V1Field::SourcePort
    } else {
        V1Field::DestinationPort
    });
    let digits_ok = !field.is_empty()
        && field.len() <= 5
        && field.iter().all(u8::is_ascii_digit)
        && (field[0] != b'0' || field.len() == 1);
    if !digits_ok {
        return Err(err);
    }
    let n = field
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| err)
}

fn parse_v2(buf: &[u8]) -> Result<ProxyStatus<'_>, ProxyError> {
    let sig = buf.len().min(PROXY_V2_SIGNATURE.len());
    if buf[..sig] != PROXY_V2_SIGNATURE[..sig] {
        return Err(ProxyError::NotProxy);
    }
    // Each byte is checked as soon as it is there, so that a prefix gives
    // the same error as the whole.
    let command = match buf.get(12) {
        None => None,
        Some(&b) if b >> 4 != 2 => return Err(ProxyError::V2Version),
        Some(&b) => Some(match b & 0x0F {
            0 => ProxyCommand::Local,
            1 => ProxyCommand::Proxy,
            _ => return Err(ProxyError::V2Command),
        }),
    };
    let family = match (command, buf.get(13)) {
        (Some(ProxyCommand::Proxy), Some(&b)) => Some(v2_family(b)?),
        _ => None,
    };
    if buf.len() < V2_FIXED_LEN {
        return Ok(ProxyStatus::Incomplete {
            need: V2_FIXED_LEN - buf.len(),
        });
    }
    let len = u16::from_be_bytes([buf[14], buf[15]]);
    let addr_len = family.map_or(0, |f| f.addr_len());
    if len < addr_len {
        return Err(ProxyError::V2AddressLength {
            needed: addr_len,
            got: len,
        });
    }
    let total = V2_FIXED_LEN + usize::from(len);
    if buf.len() < total {
        return Ok(ProxyStatus::Incomplete {
            need: total - buf.len(),
        });
    }
    let block = &buf[V2_FIXED_LEN..total];
    let (addresses, tlvs) = match family {
        None | Some(Family::Unspec) => (ProxyAddresses::Unspecified, &[][..]),
        Some(Family::Inet(transport)) => {
            let ip = |at: usize| {
                Ipv4Addr::from([block[at], block[at + 1], block[at + 2], block[at + 3]])
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            (
                ProxyAddresses::Inet {
                    transport,
                    source: SocketAddrV4::new(ip(0), port(8)),
                    destination: SocketAddrV4::new(ip(4), port(10)),
                },
                &block[12..],
            )
        }
        Some(Family::Inet6(transport)) => {
            let ip = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(o)
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            (
                ProxyAddresses::Inet6 {
                    transport,
                    source: SocketAddrV6::new(ip(0), port(32), 0, 0),
                    destination: SocketAddrV6::new(ip(16), port(34), 0, 0),
                },
                &block[36..],
            )
        }
        Some(Family::Unix(transport)) => {
            let path = |at: usize| {
                let raw = &block[at..at + UNIX_ADDR_LEN];
                &raw[..memchr::memchr(0, raw).unwrap_or(UNIX_ADDR_LEN)]
            };
            (
                ProxyAddresses::Unix {
                    transport,
                    source: path(0),
                    destination: path(UNIX_ADDR_LEN),
                },
                &block[2 * UNIX_ADDR_LEN..],
            )
        }
    };
    check_tlvs(&buf[..total], total - tlvs.len())?;
    Ok(ProxyStatus::Done {
        header: ProxyHeader {
            version: ProxyVersion::V2,
            command: command.unwrap_or(ProxyCommand::Local),
            addresses,
            tlvs,
        },
        consumed: total,
    })
}

/// A v2 family/protocol byte.
#[derive(Clone, Copy)]
enum Family {
    Unspec,
    Inet(ProxyTransport),
    Inet6(ProxyTransport),
    Unix(ProxyTransport),
}

impl Family {
    fn addr_len(self) -> u16 {
        match self {
            Family::Unspec => 0,
            Family::Inet(_) => 12,
            Family::Inet6(_) => 36,
            Family::Unix(_) => 216,
        }
    }

    fn byte(self) -> u8 {
        let proto = |t: ProxyTransport| match t {
            ProxyTransport::Stream => 1,
            ProxyTransport::Dgram => 2,
        };
        match self {
            Family::Unspec => 0x00,
            Family::Inet(t) => 0x10 | proto(t),
            Family::Inet6(t) => 0x20 | proto(t),
            Family::Unix(t) => 0x30 | proto(t),
        }
    }
}

fn v2_family(b: u8) -> Result<Family, ProxyError> {
    let transport = match b & 0x0F {
        1 => ProxyTransport::Stream,
        2 => ProxyTransport::Dgram,
        _ if b == 0 => return Ok(Family::Unspec),
        _ => return Err(ProxyError::V2Family),
    };
    match b >> 4 {
        1 => Ok(Family::Inet(transport)),
        2 => Ok(Family::Inet6(transport)),
        3 => Ok(Family::Unix(transport)),
        _ => Err(ProxyError::V2Family),
    }
}

const TYPE_ALPN: u8 = 0x01;
const TYPE_AUTHORITY: u8 = 0x02;
const TYPE_CRC32C: u8 = 0x03;
const TYPE_NOOP: u8 = 0x04;
const TYPE_UNIQUE_ID: u8 = 0x05;
const TYPE_SSL: u8 = 0x20;
const SUBTYPE_SSL_VERSION: u8 = 0x21;
const SUBTYPE_SSL_CN: u8 = 0x22;
const SUBTYPE_SSL_CIPHER: u8 = 0x23;
const SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
const SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
const TYPE_NETNS: u8 = 0x30;

/// Splits one TLV off `rest`: (type, value, what follows), or `None`
/// when fewer bytes remain than it declares.
fn split_tlv(rest: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let [kind, hi, lo, tail @ ..] = rest else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    (tail.len() >= len).then(|| (*kind, &tail[..len], &tail[len..]))
}

/// Checks the TLVs of `header` (a whole v2 header) from offset `at`, and
/// its CRC32C when one is present.
fn check_tlvs(header: &[u8], at: usize) -> Result<(), ProxyError> {
    let mut rest = &header[at..];
    let mut crc_at = None;
    while !rest.is_empty() {
        let (kind, value, tail) = split_tlv(rest).ok_or(ProxyError::V2Tlv)?;
        let value_at = header.len() - tail.len() - value.len();
        match kind {
            TYPE_CRC32C if value.len() != 4 || crc_at.is_some() => return Err(ProxyError::V2Tlv),
            TYPE_CRC32C => crc_at = Some(value_at),
            TYPE_UNIQUE_ID if value.len() > MAX_UNIQUE_ID => return Err(ProxyError::V2Tlv),
            TYPE_SSL => {
                let Some(mut sub) = value.get(5..) else {
                    return Err(ProxyError::V2Tlv);
                };
                while !sub.is_empty() {
                    sub = split_tlv(sub).ok_or(ProxyError::V2Tlv)?.2;
                }
            }
            _ => {}
        }
        rest = tail;
    }
    if let Some(i) = crc_at {
        let sent = u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if header_crc32c(header, i) != sent {
            return Err(ProxyError::V2Checksum);
        }
    }
    Ok(())
}

/// The CRC32C of `header` with the 4 checksum bytes at `at` taken as zero
/// (how the specification defines the value to send).
fn header_crc32c(header: &[u8], at: usize) -> u32 {
    let crc = crc32c_update(!0, &header[..at]);
    let crc = crc32c_update(crc, &[0; 4]);
    !crc32c_update(crc, &header[at + 4..])
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup
/// per byte: headers are short and checksums rare.
fn crc32c_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    crc
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32C of `bytes` (the checksum the v2 `CRC32C` TLV carries).
pub fn crc32c(bytes: &[u8]) -> u32 {
    !crc32c_update(!0, bytes)
}

impl<'a> ProxyHeader<'a> {
    /// The client's address: the source of a PROXY header with IPv4 or
    /// IPv6 addresses; `None` for LOCAL, `UNKNOWN`/`UNSPEC` and UNIX
    /// addresses (keep the socket's peer address then).
    pub fn source(&self) -> Option<SocketAddr> {
        match (self.command, self.addresses) {
            (ProxyCommand::Proxy, ProxyAddresses::Inet { source, .. }) => Some(source.into()),
            (ProxyCommand::Proxy, ProxyAddresses::Inet6 { source, .. }) => Some(source.into()),
            _ => None,
        }
    }

    /// The address the client connected to (the proxy's front end), when
    /// [`source`](Self::source) is known.
    pub fn destination(&self) -> Option<SocketAddr> {
        match (self.command, self.addresses) {
            (ProxyCommand::Proxy, ProxyAddresses::Inet { destination, .. }) => {
                Some(destination.into())
            }
            (ProxyCommand::Proxy, ProxyAddresses::Inet6 { destination, .. }) => {
                Some(destination.into())
            }
            _ => None,
        }
    }

    /// The TLVs, in order (none for v1).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs { rest: self.tlvs }
    }

    /// The `ALPN` TLV's value, if sent.
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.tlvs().find_map(|t| match t {
            Tlv::Alpn(v) => Some(v),
            _ => None,
        })
    }

    /// The `AUTHORITY` TLV's value (the TLS SNI host name), if sent.
    pub fn authority(&self) -> Option<&'a [u8]> {
        self.tlvs().find_map(|t| match t {
            Tlv::Authority(v) => Some(v),
            _ => None,
        })
    }

    /// The `UNIQUE_ID` TLV's value, if sent.
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.tlvs().find_map(|t| match t {
            Tlv::UniqueId(v) => Some(v),
            _ => None,
        })
    }

    /// The `SSL` TLV, if sent.
    pub fn ssl(&self) -> Option<SslInfo<'a>> {
        self.tlvs().find_map(|t| match t {
            Tlv::Ssl(v) => Some(v),
            _ => None,
        })
    }

    /// Appends the header to `out` in its [`version`](Self::version):
    /// the bytes written.
    ///
    /// v1 writes `TCP4`/`TCP6` for stream addresses and `UNKNOWN` for
    /// [`ProxyAddresses::Unspecified`]; a LOCAL command, datagram or UNIX
    /// addresses, or TLVs are [`ProxyError::NotExpressible`] in v1. v2
    /// writes the TLVs only after addresses (a LOCAL or `UNSPEC` header
    /// carries none, as the parser skips them), and recomputes the value
    /// of a `CRC32C` TLV over the written header. On an error `out` is
    /// left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, ProxyError> {
        let start = out.len();
        match self.version {
            ProxyVersion::V1 => self.encode_v1(out)?,
            ProxyVersion::V2 => self.encode_v2(out)?,
        }
        Ok(out.len() - start)
    }

    fn encode_v1(&self, out: &mut Vec<u8>) -> Result<(), ProxyError> {
        use std::io::Write;
        if self.command == ProxyCommand::Local || !self.tlvs.is_empty() {
            return Err(ProxyError::NotExpressible);
        }
        let stream = ProxyTransport::Stream;
        // Writing to a Vec cannot fail.
        let _ = match self.addresses {
            ProxyAddresses::Unspecified => out.write_all(b"PROXY UNKNOWN\r\n"),
            ProxyAddresses::Inet {
                transport,
                source: s,
                destination: d,
            } if transport == stream => write!(
                out,
                "PROXY TCP4 {} {} {} {}\r\n",
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            ),
            ProxyAddresses::Inet6 {
                transport,
                source: s,
                destination: d,
            } if transport == stream => write!(
                out,
                "PROXY TCP6 {} {} {} {}\r\n",
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            ),
            _ => return Err(ProxyError::NotExpressible),
        };
        Ok(())
    }

    fn encode_v2(&self, out: &mut Vec<u8>) -> Result<(), ProxyError> {
        let (family, tlvs) = match (self.command, self.addresses) {
            (ProxyCommand::Local, _) | (_, ProxyAddresses::Unspecified) => {
                (Family::Unspec, &[][..])
            }
            (_, ProxyAddresses::Inet { transport, .. }) => (Family::Inet(transport), self.tlvs),
            (_, ProxyAddresses::Inet6 { transport, .. }) => (Family::Inet6(transport), self.tlvs),
            (
                _,
                ProxyAddresses::Unix {
                    transport,
                    source,
                    destination,
                },
            ) => {
                if source.len() > UNIX_ADDR_LEN || destination.len() > UNIX_ADDR_LEN {
                    return Err(ProxyError::TooLong);
                }
                (Family::Unix(transport), self.tlvs)
            }
        };
        let len = u16::try_from(usize::from(family.addr_len()) + tlvs.len())
            .map_err(|_| ProxyError::TooLong)?;
        let start = out.len();
        out.extend_from_slice(&PROXY_V2_SIGNATURE);
        out.push(match self.command {
            ProxyCommand::Local => 0x20,
            ProxyCommand::Proxy => 0x21,
        });
        out.push(family.byte());
        out.extend_from_slice(&len.to_be_bytes());
        match self.addresses {
            _ if matches!(family, Family::Unspec) => {}
            ProxyAddresses::Inet {
                source: s,
                destination: d,
                ..
            } => {
                out.extend_from_slice(&s.ip().octets());
                out.extend_from_slice(&d.ip().octets());
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
            ProxyAddresses::Inet6 {
                source: s,
                destination: d,
                ..
            } => {
                out.extend_from_slice(&s.ip().octets());
                out.extend_from_slice(&d.ip().octets());
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
            ProxyAddresses::Unix {
                source,
                destination,
                ..
            } => {
                for path in [source, destination] {
                    out.extend_from_slice(path);
                    out.resize(out.len() + UNIX_ADDR_LEN - path.len(), 0);
                }
            }
            ProxyAddresses::Unspecified => {}
        }
        let tlv_start = out.len();
        out.extend_from_slice(tlvs);
        // Recompute a CRC32C TLV's value over what was written.
        let header = &mut out[start..];
        let mut rest_at = tlv_start - start;
        let mut crc_at = None;
        while let Some((kind, value, tail)) = split_tlv(&header[rest_at..]) {
            let value_at = header.len() - tail.len() - value.len();
            if kind == TYPE_CRC32C && value.len() == 4 && crc_at.is_none() {
                crc_at = Some(value_at);
            }
            rest_at = header.len() - tail.len();
        }
        if let Some(at) = crc_at {
            let crc = header_crc32c(header, at);
            header[at..at + 4].copy_from_slice(&crc.to_be_bytes());
        }
        Ok(())
    }
}

impl<'a> SslInfo<'a> {
    /// Whether the client reached the proxy over TLS (`PP2_CLIENT_SSL`).
    pub fn client_ssl(&self) -> bool {
        self.client & 0x01 != 0
    }

    /// Whether the client presented a certificate that was verified
    /// (`PP2_CLIENT_CERT_CONN` or `PP2_CLIENT_CERT_SESS`, and `verify` 0).
    pub fn client_cert_verified(&self) -> bool {
        self.client & 0x06 != 0 && self.verify == 0
    }

    /// The sub-TLVs (version, CN, cipher, signature and key algorithms).
    pub fn sub_tlvs(&self) -> Tlvs<'a> {
        Tlvs { rest: self.sub }
    }

    /// The TLS version (e.g. `TLSv1.3`), if sent.
    pub fn version(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().find_map(|t| match t {
            Tlv::SslVersion(v) => Some(v),
            _ => None,
        })
    }

    /// The client certificate's Common Name, if sent.
    pub fn common_name(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().find_map(|t| match t {
            Tlv::SslCn(v) => Some(v),
            _ => None,
        })
    }

    /// The cipher (e.g. `ECDHE-RSA-AES128-GCM-SHA256`), if sent.
    pub fn cipher(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().find_map(|t| match t {
            Tlv::SslCipher(v) => Some(v),
            _ => None,
        })
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let Some((kind, value, tail)) = split_tlv(self.rest) else {
            self.rest = &[];
            return None;
        };
        self.rest = tail;
        Some(match kind {
            TYPE_ALPN => Tlv::Alpn(value),
            TYPE_AUTHORITY => Tlv::Authority(value),
            TYPE_CRC32C => match value {
                &[a, b, c, d] => Tlv::Crc32c(u32::from_be_bytes([a, b, c, d])),
                _ => Tlv::Other { kind, value },
            },
            TYPE_NOOP => Tlv::Noop,
            TYPE_UNIQUE_ID => Tlv::UniqueId(value),
            TYPE_SSL => match value {
                &[client, a, b, c, d, ref sub @ ..] => Tlv::Ssl(SslInfo {
                    client,
                    verify: u32::from_be_bytes([a, b, c, d]),
                    sub,
                }),
                _ => Tlv::Other { kind, value },
            },
            SUBTYPE_SSL_VERSION => Tlv::SslVersion(value),
            SUBTYPE_SSL_CN => Tlv::SslCn(value),
            SUBTYPE_SSL_CIPHER => Tlv::SslCipher(value),
            SUBTYPE_SSL_SIG_ALG => Tlv::SslSigAlg(value),
            SUBTYPE_SSL_KEY_ALG => Tlv::SslKeyAlg(value),
            TYPE_NETNS => Tlv::Netns(value),
            _ => Tlv::Other { kind, value },
        })
    }
}

#[cfg(test)]
mod tests;

//! Property tests of the PROXY protocol codec: encode → parse gives the
//! header back (with whatever follows it left alone), and parsing any
//! prefix of a header is `Incomplete` or the same answer.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use brisk_http::{
    ProxyAddresses, ProxyCommand, ProxyHeader, ProxyStatus, ProxyTransport, ProxyVersion, Tlv,
    parse_proxy_header,
};
use proptest::prelude::*;

/// A header as the generators describe it (owning its UNIX paths and TLVs).
#[derive(Clone, Debug)]
struct Gen {
    version: ProxyVersion,
    command: ProxyCommand,
    addrs: Addrs,
    tlvs: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Addrs {
    Unspecified,
    Inet(ProxyTransport, SocketAddrV4, SocketAddrV4),
    Inet6(ProxyTransport, SocketAddrV6, SocketAddrV6),
    Unix(ProxyTransport, Vec<u8>, Vec<u8>),
}

impl Gen {
    fn header(&self) -> ProxyHeader<'_> {
        ProxyHeader {
            version: self.version,
            command: self.command,
            addresses: match &self.addrs {
                Addrs::Unspecified => ProxyAddresses::Unspecified,
                &Addrs::Inet(transport, source, destination) => ProxyAddresses::Inet {
                    transport,
                    source,
                    destination,
                },
                &Addrs::Inet6(transport, source, destination) => ProxyAddresses::Inet6 {
                    transport,
                    source,
                    destination,
                },
                Addrs::Unix(transport, s, d) => ProxyAddresses::Unix {
                    transport: *transport,
                    source: s,
                    destination: d,
                },
            },
            tlvs: &self.tlvs,
        }
    }
}

fn transport() -> impl Strategy<Value = ProxyTransport> {
    prop_oneof![Just(ProxyTransport::Stream), Just(ProxyTransport::Dgram)]
}

fn sa4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddrV4::new(Ipv4Addr::from(ip), p))
}

fn sa6() -> impl Strategy<Value = SocketAddrV6> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, p)| SocketAddrV6::new(Ipv6Addr::from(ip), p, 0, 0))
}

fn unix_path() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..=108)
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&(value.len() as u16).to_be_bytes());
    t.extend_from_slice(value);
    t
}

/// Well-formed TLVs: the usual types, an SSL TLV with sub-TLVs, custom
/// types, and sometimes a CRC32C (its value is filled in by `encode`).
fn tlvs() -> impl Strategy<Value = Vec<u8>> {
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    let one = prop_oneof![
        (
            prop::sample::select(vec![0x01u8, 0x02, 0x04, 0x30, 0xe0, 0xea, 0xf0]),
            bytes(40)
        )
            .prop_map(|(k, v)| tlv(k, &v)),
        bytes(129).prop_map(|v| tlv(0x05, &v)),
        (
            any::<u8>(),
            any::<u32>(),
            proptest::collection::vec((0x21u8..=0x25, bytes(20)), 0..4)
        )
            .prop_map(|(client, verify, subs)| {
                let mut v = vec![client];
                v.extend_from_slice(&verify.to_be_bytes());
                for (k, s) in subs {
                    v.extend(tlv(k, &s));
                }
                tlv(0x20, &v)
            }),
    ];
    (proptest::collection::vec(one, 0..5), any::<bool>()).prop_map(|(ts, crc)| {
        let mut out = ts.concat();
        if crc {
            out.extend(tlv(0x03, &[0; 4]));
        }
        out
    })
}

fn header() -> impl Strategy<Value = Gen> {
    let v1 = prop_oneof![
        Just(Addrs::Unspecified),
        (sa4(), sa4()).prop_map(|(s, d)| Addrs::Inet(ProxyTransport::Stream, s, d)),
        (sa6(), sa6()).prop_map(|(s, d)| Addrs::Inet6(ProxyTransport::Stream, s, d)),
    ]
    .prop_map(|addrs| Gen {
        version: ProxyVersion::V1,
        command: ProxyCommand::Proxy,
        addrs,
        tlvs: Vec::new(),
    });
    let local = Just(Gen {
        version: ProxyVersion::V2,
        command: ProxyCommand::Local,
        addrs: Addrs::Unspecified,
        tlvs: Vec::new(),
    });
    let addrs = prop_oneof![
        (transport(), sa4(), sa4()).prop_map(|(t, s, d)| Addrs::Inet(t, s, d)),
        (transport(), sa6(), sa6()).prop_map(|(t, s, d)| Addrs::Inet6(t, s, d)),
        (transport(), unix_path(), unix_path()).prop_map(|(t, s, d)| Addrs::Unix(t, s, d)),
    ];
    let v2 = (addrs, tlvs()).prop_map(|(addrs, tlvs)| Gen {
        version: ProxyVersion::V2,
        command: ProxyCommand::Proxy,
        addrs,
        tlvs,
    });
    prop_oneof![2 => v1, 1 => local, 4 => v2]
}

/// `tlvs` with the value of its CRC32C TLV (if any) zeroed.
fn zero_crc(tlvs: &[u8]) -> Vec<u8> {
    let mut out = tlvs.to_vec();
    let mut i = 0;
    while i + 3 <= out.len() {
        let len = usize::from(u16::from_be_bytes([out[i + 1], out[i + 2]]));
        if out[i] == 0x03 {
            out[i + 3..i + 7].fill(0);
        }
        i += 3 + len;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 256 }, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_parse(g in header(), rest in proptest::collection::vec(any::<u8>(), 0..40)) {
        let want = g.header();
        let mut wire = Vec::new();
        let len = want.encode(&mut wire).expect("generated headers encode");
        wire.extend_from_slice(&rest);
        let Ok(ProxyStatus::Done { header, consumed }) = parse_proxy_header(&wire) else {
            panic!("{:?} does not parse", &wire[..len]);
        };
        prop_assert_eq!(consumed, len);
        prop_assert_eq!(&wire[consumed..], &rest[..]);
        prop_assert_eq!(header.version, want.version);
        prop_assert_eq!(header.command, want.command);
        prop_assert_eq!(header.addresses, want.addresses);
        prop_assert_eq!(zero_crc(header.tlvs), zero_crc(want.tlvs));
        let crcs = header.tlvs().filter(|t| matches!(t, Tlv::Crc32c(_))).count();
        prop_assert_eq!(crcs, usize::from(has_crc(&g.tlvs)));
    }

    #[test]
    fn any_prefix_is_incomplete_or_the_same(g in header(), rest in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut wire = Vec::new();
        let len = g.header().encode(&mut wire).expect("generated headers encode");
        wire.extend_from_slice(&rest);
        let whole = parse_proxy_header(&wire);
        for n in 0..wire.len() {
            match parse_proxy_header(&wire[..n]) {
                Ok(ProxyStatus::Incomplete { need }) => {
                    prop_assert!(n < len, "incomplete with the whole header ({n} >= {len})");
                    prop_assert!(need >= 1 && n + need <= len, "need {} at {} for {}", need, n, len);
                }
                r => {
                    prop_assert!(n >= len);
                    prop_assert_eq!(r, whole);
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        brisk_http::_fuzz::proxy(&data);
    }
}

fn has_crc(tlvs: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 <= tlvs.len() {
        if tlvs[i] == 0x03 {
            return true;
        }
        i += 3 + usize::from(u16::from_be_bytes([tlvs[i + 1], tlvs[i + 2]]));
    }
    false
}

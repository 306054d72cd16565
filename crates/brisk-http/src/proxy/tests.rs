//! Table tests of the PROXY protocol parser, from the specification's
//! examples and its edge cases.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::*;

/// Parses `input` whole and checks that every proper prefix is
/// `Incomplete` (with a `need` that does not overshoot) or the same
/// answer.
fn parse(input: &[u8]) -> Result<ProxyStatus<'_>, ProxyError> {
    let whole = parse_proxy_header(input);
    for n in 0..input.len() {
        match parse_proxy_header(&input[..n]) {
            Ok(ProxyStatus::Incomplete { need }) => {
                assert!(need >= 1, "need 0 at {n}");
                if let Ok(ProxyStatus::Done { consumed, .. }) = whole {
                    assert!(
                        n + need <= consumed,
                        "need {need} at {n} overshoots {consumed}"
                    );
                }
            }
            r => assert_eq!(r, whole, "prefix of {n} bytes differs"),
        }
    }
    whole
}

fn done(input: &[u8]) -> (ProxyHeader<'_>, usize) {
    match parse(input) {
        Ok(ProxyStatus::Done { header, consumed }) => (header, consumed),
        r => panic!(
            "{:?}: expected a header, got {r:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn err(input: &[u8]) -> ProxyError {
    match parse(input) {
        Err(e) => e,
        r => panic!(
            "{:?}: expected an error, got {r:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn v4(ip: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}

fn v6(ip: &str, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(ip.parse::<Ipv6Addr>().unwrap(), port, 0, 0)
}

/// A v2 header written by hand: signature, version/command, family,
/// length of `body`, `body`.
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut out = PROXY_V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn inet_body(tlvs: &[u8]) -> Vec<u8> {
    let mut b = vec![192, 0, 2, 7, 198, 51, 100, 1];
    b.extend_from_slice(&56324u16.to_be_bytes());
    b.extend_from_slice(&443u16.to_be_bytes());
    b.extend_from_slice(tlvs);
    b
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&(value.len() as u16).to_be_bytes());
    t.extend_from_slice(value);
    t
}

#[test]
fn v1_specification_examples() {
    // The specification's worst cases and its UNKNOWN forms.
    let tcp4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    let (h, n) = done(tcp4);
    assert_eq!(n, tcp4.len());
    assert_eq!(h.version, ProxyVersion::V1);
    assert_eq!(h.command, ProxyCommand::Proxy);
    assert_eq!(
        h.addresses,
        ProxyAddresses::Inet {
            transport: ProxyTransport::Stream,
            source: v4([255; 4], 65535),
            destination: v4([255; 4], 65535),
        }
    );

    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let tcp6 = format!("PROXY TCP6 {f} {f} 65535 65535\r\n");
    assert_eq!(tcp6.len(), 104);
    let (h, n) = done(tcp6.as_bytes());
    assert_eq!(n, 104);
    assert_eq!(h.source(), Some(v6(f, 65535).into()));

    let (h, n) = done(b"PROXY UNKNOWN\r\n");
    assert_eq!((h.addresses, n), (ProxyAddresses::Unspecified, 15));
    assert_eq!(h.source(), None);

    // UNKNOWN ignores what follows it, up to the longest line (107).
    let unknown = format!("PROXY UNKNOWN {f} {f} 65535 65535\r\n");
    assert_eq!(unknown.len(), PROXY_V1_MAX_LEN);
    let (h, n) = done(unknown.as_bytes());
    assert_eq!((h.addresses, n), (ProxyAddresses::Unspecified, 107));
}

#[test]
fn v1_leaves_what_follows() {
    let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
    let (h, n) = done(wire);
    assert_eq!(&wire[n..n + 3], b"GET");
    assert_eq!(h.source(), Some(v4([192, 168, 0, 1], 56324).into()));
    assert_eq!(h.destination(), Some(v4([192, 168, 0, 11], 443).into()));
    // Ports at the ends of their range, IPv4-mapped and short IPv6 forms.
    done(b"PROXY TCP4 0.0.0.0 1.2.3.4 0 1\r\n");
    let (h, _) = done(b"PROXY TCP6 ::1 ::ffff:10.0.0.1 1 65535\r\n");
    assert_eq!(h.destination(), Some(v6("::ffff:10.0.0.1", 65535).into()));
}

#[test]
fn v1_field_errors() {
    use V1Field::*;
    let rows: &[(&[u8], ProxyError)] = &[
        // Not a PROXY header at all.
        (b"GET / HTTP/1.1\r\n", ProxyError::NotProxy),
        (b"PROXX TCP4", ProxyError::NotProxy),
        (b"PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n", ProxyError::NotProxy),
        (b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", ProxyError::NotProxy),
        // Line end.
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyError::V1LineEnd),
        (b"PROXY UNKNOWN\n", ProxyError::V1LineEnd),
        // Protocol.
        (
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(Protocol),
        ),
        (
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(Protocol),
        ),
        (
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(Protocol),
        ),
        (b"PROXY UNKNOWNX\r\n", ProxyError::V1Field(Protocol)),
        (b"PROXY \r\n", ProxyError::V1Field(Protocol)),
        // Source address.
        (b"PROXY TCP4\r\n", ProxyError::V1Field(SourceAddress)),
        (b"PROXY TCP4 \r\n", ProxyError::V1Field(SourceAddress)),
        (
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP6 ::1%eth0 ::1 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        (
            b"PROXY TCP4 \xff.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::V1Field(SourceAddress),
        ),
        // Destination address.
        (
            b"PROXY TCP4 1.2.3.4\r\n",
            ProxyError::V1Field(DestinationAddress),
        ),
        (
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            ProxyError::V1Field(DestinationAddress),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n",
            ProxyError::V1Field(DestinationAddress),
        ),
        (
            b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
            ProxyError::V1Field(DestinationAddress),
        ),
        // Source port.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
            ProxyError::V1Field(SourcePort),
        ),
        // Destination port.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            ProxyError::V1Field(DestinationPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
            ProxyError::V1Field(DestinationPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
            ProxyError::V1Field(DestinationPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
            ProxyError::V1Field(DestinationPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
            ProxyError::V1Field(DestinationPort),
        ),
        // Trailing data.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            ProxyError::V1Field(Trailing),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            ProxyError::V1Field(Trailing),
        ),
    ];
    for (input, want) in rows {
        assert_eq!(err(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn v1_length_limit() {
    // 107 bytes without LF: too long; 106 without LF: still incomplete.
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(PROXY_V1_MAX_LEN, b'x');
    assert_eq!(err(&long), ProxyError::V1TooLong);
    assert!(matches!(
        parse_proxy_header(&long[..106]),
        Ok(ProxyStatus::Incomplete { need: 1 })
    ));
    // A CRLF at 107..109 is one byte too far.
    let mut over = long[..106].to_vec();
    over.extend_from_slice(b"\r\n");
    assert_eq!(err(&over), ProxyError::V1TooLong);
}

#[test]
fn incomplete_needs() {
    assert_eq!(
        parse_proxy_header(b""),
        Ok(ProxyStatus::Incomplete { need: 15 })
    );
    assert_eq!(
        parse_proxy_header(b"PROXY"),
        Ok(ProxyStatus::Incomplete { need: 10 })
    );
    assert_eq!(
        parse_proxy_header(b"\r\n\r\n"),
        Ok(ProxyStatus::Incomplete { need: 12 })
    );
    let h = v2(0x21, 0x11, &inet_body(&[]));
    assert_eq!(
        parse_proxy_header(&h[..16]),
        Ok(ProxyStatus::Incomplete { need: 12 })
    );
    assert_eq!(
        parse_proxy_header(&h[..27]),
        Ok(ProxyStatus::Incomplete { need: 1 })
    );
}

#[test]
fn v2_inet_and_inet6() {
    let h = v2(0x21, 0x11, &inet_body(&[]));
    let mut wire = h.clone();
    wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let (hd, n) = done(&wire);
    assert_eq!(n, 28);
    assert_eq!(hd.version, ProxyVersion::V2);
    assert_eq!(
        hd.addresses,
        ProxyAddresses::Inet {
            transport: ProxyTransport::Stream,
            source: v4([192, 0, 2, 7], 56324),
            destination: v4([198, 51, 100, 1], 443),
        }
    );
    assert_eq!(hd.tlvs().count(), 0);

    let mut body = Vec::new();
    body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&[0xdb, 0x04, 0x01, 0xbb]);
    let wire = v2(0x21, 0x22, &body);
    let (hd, n) = done(&wire);
    assert_eq!(n, 16 + 36);
    assert_eq!(
        hd.addresses,
        ProxyAddresses::Inet6 {
            transport: ProxyTransport::Dgram,
            source: v6("2001:db8::7", 0xdb04),
            destination: v6("2001:db8::1", 443),
        }
    );
    assert_eq!(hd.source(), Some(v6("2001:db8::7", 0xdb04).into()));
}

#[test]
fn v2_unix() {
    let mut body = vec![0u8; 216];
    body[..9].copy_from_slice(b"/run/a.sk");
    body[108..108 + 4].copy_from_slice(b"/b.s");
    let wire = v2(0x21, 0x31, &body);
    let (hd, _) = done(&wire);
    assert_eq!(
        hd.addresses,
        ProxyAddresses::Unix {
            transport: ProxyTransport::Stream,
            source: b"/run/a.sk",
            destination: b"/b.s",
        }
    );
    assert_eq!(hd.source(), None, "no IP: keep the socket's address");
    // A path filling all 108 bytes has no NUL.
    let body = vec![b'a'; 216];
    let wire = v2(0x21, 0x32, &body);
    let (hd, _) = done(&wire);
    let ProxyAddresses::Unix { source, .. } = hd.addresses else {
        panic!()
    };
    assert_eq!(source.len(), 108);
}

#[test]
fn v2_local_and_unspec_keep_the_socket_address() {
    // LOCAL: family and block ignored, whatever they hold.
    for (fam, body) in [
        (0x00, &[][..]),
        (0x11, &inet_body(&[])[..]),
        (0xff, b"junk"),
    ] {
        let wire = v2(0x20, fam, body);
        let (hd, n) = done(&wire);
        assert_eq!(n, 16 + body.len());
        assert_eq!(hd.command, ProxyCommand::Local);
        assert_eq!(hd.addresses, ProxyAddresses::Unspecified);
        assert_eq!(hd.source(), None);
        assert!(hd.tlvs.is_empty());
    }
    // PROXY over UNSPEC: accepted, block skipped.
    let wire = v2(0x21, 0x00, b"anything");
    let (hd, n) = done(&wire);
    assert_eq!(
        (hd.command, hd.addresses, n),
        (ProxyCommand::Proxy, ProxyAddresses::Unspecified, 24)
    );
    assert_eq!(hd.source(), None);
}

#[test]
fn v2_errors() {
    let good = v2(0x21, 0x11, &inet_body(&[]));
    // Wrong signature, at each of its bytes.
    for i in 0..12 {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert_eq!(err(&bad), ProxyError::NotProxy, "signature byte {i}");
    }
    let rows: &[(Vec<u8>, ProxyError)] = &[
        (v2(0x11, 0x11, &inet_body(&[])), ProxyError::V2Version),
        (v2(0x31, 0x11, &inet_body(&[])), ProxyError::V2Version),
        (v2(0x22, 0x11, &inet_body(&[])), ProxyError::V2Command),
        (v2(0x2f, 0x11, &inet_body(&[])), ProxyError::V2Command),
        (v2(0x21, 0x10, &inet_body(&[])), ProxyError::V2Family),
        (v2(0x21, 0x13, &inet_body(&[])), ProxyError::V2Family),
        (v2(0x21, 0x01, &inet_body(&[])), ProxyError::V2Family),
        (v2(0x21, 0x41, &inet_body(&[])), ProxyError::V2Family),
        (
            v2(0x21, 0x11, &inet_body(&[])[..11]),
            ProxyError::V2AddressLength {
                needed: 12,
                got: 11,
            },
        ),
        (
            v2(0x21, 0x21, &inet_body(&[])),
            ProxyError::V2AddressLength {
                needed: 36,
                got: 12,
            },
        ),
        (
            v2(0x21, 0x31, &[0; 215]),
            ProxyError::V2AddressLength {
                needed: 216,
                got: 215,
            },
        ),
        // TLVs: truncated header, truncated value, bad SSL, long
        // UNIQUE_ID, bad CRC length, two CRCs.
        (v2(0x21, 0x11, &inet_body(&[0x01, 0x00])), ProxyError::V2Tlv),
        (
            v2(0x21, 0x11, &inet_body(&[0x01, 0x00, 0x05, b'h', b'2'])),
            ProxyError::V2Tlv,
        ),
        (
            v2(0x21, 0x11, &inet_body(&tlv(0x20, &[1, 0, 0, 0]))),
            ProxyError::V2Tlv,
        ),
        (
            v2(
                0x21,
                0x11,
                &inet_body(&tlv(0x20, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'x'])),
            ),
            ProxyError::V2Tlv,
        ),
        (
            v2(0x21, 0x11, &inet_body(&tlv(0x05, &[7; 129]))),
            ProxyError::V2Tlv,
        ),
        (
            v2(0x21, 0x11, &inet_body(&tlv(0x03, &[0; 3]))),
            ProxyError::V2Tlv,
        ),
        (
            v2(
                0x21,
                0x11,
                &inet_body(&[tlv(0x03, &[0; 4]), tlv(0x03, &[0; 4])].concat()),
            ),
            ProxyError::V2Tlv,
        ),
        (
            v2(0x21, 0x11, &inet_body(&tlv(0x03, &[0; 4]))),
            ProxyError::V2Checksum,
        ),
    ];
    for (input, want) in rows {
        assert_eq!(err(input), *want, "{input:02x?}");
    }
    // A UNIQUE_ID of exactly 128 bytes is fine.
    done(&v2(0x21, 0x11, &inet_body(&tlv(0x05, &[7; 128]))));
}

#[test]
fn v2_truncated_is_incomplete() {
    let good = v2(0x21, 0x11, &inet_body(&tlv(0x01, b"h2")));
    for n in 0..good.len() {
        let r = parse_proxy_header(&good[..n]);
        assert!(
            matches!(r, Ok(ProxyStatus::Incomplete { .. })),
            "{n}: {r:?}"
        );
    }
}

#[test]
fn v2_tlvs() {
    let ssl = [
        &[0x07, 0, 0, 0, 0][..],
        &tlv(0x21, b"TLSv1.3"),
        &tlv(0x22, b"client.example"),
        &tlv(0x23, b"TLS_AES_128_GCM_SHA256"),
        &tlv(0x24, b"SHA256"),
        &tlv(0x25, b"RSA2048"),
    ]
    .concat();
    let tlvs = [
        tlv(0x01, b"h2"),
        tlv(0x02, b"example.com"),
        tlv(0x04, &[0; 3]),
        tlv(0x05, b"id-17"),
        tlv(0x20, &ssl),
        tlv(0x30, b"blue"),
        tlv(0xea, b"vpce-0123"),
        tlv(0x03, &[0; 4]),
    ]
    .concat();
    let mut body = inet_body(&tlvs);
    // Fill in the checksum: header with the value zeroed.
    let mut header = v2(0x21, 0x11, &body);
    let at = header.len() - 4;
    let crc = crc32c(&header);
    header[at..].copy_from_slice(&crc.to_be_bytes());
    body = header[16..].to_vec();
    let (hd, _) = done(&header);
    assert_eq!(hd.tlvs, &body[12..]);
    assert_eq!(hd.alpn(), Some(&b"h2"[..]));
    assert_eq!(hd.authority(), Some(&b"example.com"[..]));
    assert_eq!(hd.unique_id(), Some(&b"id-17"[..]));
    let s = hd.ssl().expect("SSL TLV");
    assert!(s.client_ssl() && s.client_cert_verified());
    assert_eq!(s.version(), Some(&b"TLSv1.3"[..]));
    assert_eq!(s.common_name(), Some(&b"client.example"[..]));
    assert_eq!(s.cipher(), Some(&b"TLS_AES_128_GCM_SHA256"[..]));
    let subs: Vec<_> = s.sub_tlvs().collect();
    assert_eq!(subs[3], Tlv::SslSigAlg(b"SHA256"));
    assert_eq!(subs[4], Tlv::SslKeyAlg(b"RSA2048"));
    let all: Vec<_> = hd.tlvs().collect();
    assert_eq!(all.len(), 8);
    assert_eq!(all[2], Tlv::Noop);
    assert_eq!(all[5], Tlv::Netns(b"blue"));
    assert_eq!(
        all[6],
        Tlv::Other {
            kind: 0xea,
            value: b"vpce-0123"
        }
    );
    assert_eq!(all[7], Tlv::Crc32c(crc));
    // One flipped bit anywhere is caught by the checksum (or by a check
    // before it).
    // (Byte 12 would turn PROXY into LOCAL, which skips the block, and the
    // CRC32C TLV's type byte would turn it into another TLV.)
    for i in (13..header.len()).filter(|&i| i != header.len() - 7) {
        let mut bad = header.clone();
        bad[i] ^= 1;
        let r = parse_proxy_header(&bad);
        assert!(
            !matches!(r, Ok(ProxyStatus::Done { .. })),
            "byte {i}: {r:?}"
        );
    }
}

#[test]
fn crc32c_check_value() {
    // The standard check value of CRC-32C.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn encode_round_trips_and_refuses_what_v1_cannot_say() {
    let headers = [
        ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy,
            addresses: ProxyAddresses::Inet6 {
                transport: ProxyTransport::Stream,
                source: v6("2001:db8::7", 1),
                destination: v6("::ffff:1.2.3.4", 2),
            },
            tlvs: &[],
        },
        ProxyHeader {
            version: ProxyVersion::V2,
            command: ProxyCommand::Local,
            addresses: ProxyAddresses::Unspecified,
            tlvs: &[],
        },
    ];
    for h in headers {
        let mut out = Vec::new();
        let n = h.encode(&mut out).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(done(&out).0, h);
    }
    let mut out = b"kept".to_vec();
    for bad in [
        ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Local,
            addresses: ProxyAddresses::Unspecified,
            tlvs: &[],
        },
        ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy,
            addresses: ProxyAddresses::Inet {
                transport: ProxyTransport::Dgram,
                source: v4([1; 4], 1),
                destination: v4([2; 4], 2),
            },
            tlvs: &[],
        },
        ProxyHeader {
            version: ProxyVersion::V1,
            command: ProxyCommand::Proxy,
            addresses: ProxyAddresses::Unix {
                transport: ProxyTransport::Stream,
                source: b"/a",
                destination: b"/b",
            },
            tlvs: &[],
        },
    ] {
        assert_eq!(bad.encode(&mut out), Err(ProxyError::NotExpressible));
    }
    let long = [b'a'; 109];
    let h = ProxyHeader {
        version: ProxyVersion::V2,
        command: ProxyCommand::Proxy,
        addresses: ProxyAddresses::Unix {
            transport: ProxyTransport::Stream,
            source: &long,
            destination: b"/b",
        },
        tlvs: &[],
    };
    assert_eq!(h.encode(&mut out), Err(ProxyError::TooLong));
    let big = vec![0u8; 65535];
    let h = ProxyHeader {
        version: ProxyVersion::V2,
        command: ProxyCommand::Proxy,
        addresses: ProxyAddresses::Inet {
            transport: ProxyTransport::Stream,
            source: v4([1; 4], 1),
            destination: v4([2; 4], 2),
        },
        tlvs: &big,
    };
    assert_eq!(h.encode(&mut out), Err(ProxyError::TooLong));
    assert_eq!(out, b"kept");
}

#[test]
fn messages_are_specific() {
    let all = [
        ProxyError::NotProxy,
        ProxyError::V1TooLong,
        ProxyError::V1LineEnd,
        ProxyError::V1Field(V1Field::Protocol),
        ProxyError::V1Field(V1Field::SourceAddress),
        ProxyError::V1Field(V1Field::DestinationAddress),
        ProxyError::V1Field(V1Field::SourcePort),
        ProxyError::V1Field(V1Field::DestinationPort),
        ProxyError::V1Field(V1Field::Trailing),
        ProxyError::V2Version,
        ProxyError::V2Command,
        ProxyError::V2Family,
        ProxyError::V2AddressLength { needed: 12, got: 3 },
        ProxyError::V2Tlv,
        ProxyError::V2Checksum,
        ProxyError::NotExpressible,
        ProxyError::TooLong,
    ];
    let msgs: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), all.len(), "two errors share a message");
    assert!(
        msgs.iter()
            .all(|m| m.starts_with("PROXY") || m.starts_with("no PROXY"))
    );
}

//! Property tests: parse(serialize(x)) == x for generated requests,
//! splitting at any byte boundary changes nothing, and chunked encoding
//! round-trips through the in-place decoder with any chunk and read sizes.

use brisk_buf::ByteBuffer;
use brisk_http::{BodyKind, ChunkedDecoder, ChunkedEncoder, Limits, Status, Version};
use proptest::prelude::*;

use crate::support::{Req, parse_one, parse_split};

const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PCHAR: &[u8] = b"abcxyzABCXYZ0189-._~!$&'()*+,;=:@%";

fn token(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop::sample::select(TCHAR.to_vec()), 1..max)
}

fn method() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"])
            .prop_map(|m| m.as_bytes().to_vec()),
        1 => token(10).prop_filter("CONNECT needs authority-form", |m| m != b"CONNECT"),
    ]
}

fn target() -> impl Strategy<Value = Vec<u8>> {
    let seg = proptest::collection::vec(prop::sample::select(PCHAR.to_vec()), 0..12);
    let path = proptest::collection::vec(seg, 0..5).prop_map(|segs| {
        let mut p = Vec::new();
        for s in segs {
            p.push(b'/');
            p.extend(s);
        }
        if p.is_empty() {
            p.push(b'/');
        }
        p
    });
    let query = proptest::option::of(proptest::collection::vec(
        prop::sample::select(b"abc=&+%/?:@-._~\\".to_vec()),
        0..20,
    ));
    let origin = (path.clone(), query).prop_map(|(mut p, q)| {
        if let Some(q) = q {
            p.push(b'?');
            p.extend(q);
        }
        p
    });
    let absolute = ("[a-z]{1,10}(\\.[a-z]{2,3})?(:[0-9]{1,5})?", path)
        .prop_map(|(host, p)| [b"http://".as_slice(), host.as_bytes(), &p].concat());
    prop_oneof![4 => origin, 1 => absolute]
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![10 => 0x21u8..0x7f, 2 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
        0..60,
    )
    .prop_map(|mut v| {
        // The parser trims surrounding whitespace; generate trimmed values.
        while matches!(v.first(), Some(b' ' | b'\t')) {
            v.remove(0);
        }
        while matches!(v.last(), Some(b' ' | b'\t')) {
            v.pop();
        }
        v
    })
}

/// Names whose values the parser validates or that decide framing.
const SPECIAL: [&[u8]; 5] = [
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"expect",
    b"connection",
];

fn request() -> impl Strategy<Value = Req> {
    (
        method(),
        target(),
        any::<bool>(),
        proptest::collection::vec((token(24), field_value()), 0..24),
        "[a-z0-9.-]{0,20}(:[0-9]{1,5})?",
        prop_oneof![
            Just(BodyKind::None),
            any::<u64>().prop_map(BodyKind::Length),
            Just(BodyKind::Chunked)
        ],
    )
        .prop_map(|(method, target, v11, fields, host, body)| {
            let version = if v11 {
                Version::Http11
            } else {
                Version::Http10
            };
            let mut headers: Vec<_> = fields
                .into_iter()
                .filter(|(n, _)| !SPECIAL.iter().any(|s| n.eq_ignore_ascii_case(s)))
                .collect();
            if version == Version::Http11 {
                let at = headers.len() / 2;
                headers.insert(at, (b"Host".to_vec(), host.into_bytes()));
            }
            let body = if version == Version::Http10 && body == BodyKind::Chunked {
                BodyKind::None
            } else {
                body
            };
            Req {
                method,
                target,
                version,
                headers,
                body,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 128 }, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trip(req in request()) {
        let buf = req.serialize();
        let (r, h) = parse_one(&buf);
        prop_assert_eq!(r, Ok(Status::Complete(buf.len())));
        prop_assert_eq!(Req::from_parsed(&buf, &h), req);
        // Spans point where they should.
        let target = h.target().get(&buf);
        if target.starts_with(b"/") {
            let q = target.iter().position(|&b| b == b'?');
            prop_assert_eq!(h.path().get(&buf), &target[..q.unwrap_or(target.len())]);
            prop_assert_eq!(h.query().map(|s| s.get(&buf)), q.map(|q| &target[q + 1..]));
        }
    }

    #[test]
    fn random_splits_change_nothing(req in request(), cuts in proptest::collection::vec(0usize..2000, 0..12)) {
        let buf = req.serialize();
        let (one, h1) = parse_one(&buf);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (split, h2) = parse_split(&buf, &cuts, &Limits::default());
        prop_assert_eq!(one, split);
        prop_assert_eq!(h1, h2);
    }

    #[test]
    fn chunked_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        chunks in proptest::collection::vec(1usize..700, 1..20),
        reads in proptest::collection::vec(1usize..300, 1..20),
        compact in any::<bool>(),
    ) {
        let mut enc = ChunkedEncoder::new();
        let mut wire = ByteBuffer::new();
        let mut rest = &body[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = chunks[k % chunks.len()].min(rest.len());
            k += 1;
            enc.write_chunk(&rest[..n], &mut wire);
            rest = &rest[n..];
        }
        enc.finish(&mut wire);
        wire.extend_from_slice(b"NEXT");
        let wire = wire.into_vec();

        let mut dec = ChunkedDecoder::new(&Limits::default());
        let mut buf = Vec::new();
        let (mut read, mut written, mut fed, mut dropped) = (0, 0, 0, 0);
        let mut k = 0;
        let done = loop {
            let n = reads[k % reads.len()].min(wire.len() - fed);
            k += 1;
            buf.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            let p = dec.decode(&mut buf, read, written).unwrap();
            prop_assert!(p.written <= p.read && p.read <= buf.len());
            (read, written) = (p.read, p.written);
            if p.done {
                break p;
            }
            prop_assert!(fed < wire.len(), "input ended before the last chunk");
            if compact {
                buf.drain(written..read);
                dropped += read - written;
                read = written;
            }
        };
        prop_assert_eq!(&buf[..done.written], &body[..]);
        prop_assert_eq!(done.read + dropped, wire.len() - 4);
    }
}

/// Every byte boundary of a few fixed requests: `parse(buf[..k])` then
/// `parse(buf)` equals one call on `buf`.
#[test]
fn every_byte_boundary() {
    let inputs: [&[u8]; 4] = [
        b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n",
        b"\r\nPOST http://h:8080/up?x HTTP/1.1\r\nHost: h:8080\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"PUT /x HTTP/1.0\r\nContent-Length: 5, 5\r\nConnection: keep-alive\r\nX-Long-Header-Name-For-Two-Blocks: value\twith tab\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\nExpect: 100-continue\r\nContent-Length: 0\r\nCookie: a=1; b=2\r\n\r\n",
    ];
    for buf in inputs {
        let (one, h1) = parse_one(buf);
        for k in 0..=buf.len() {
            let (r, h2) = parse_split(buf, &[k], &Limits::default());
            assert_eq!(r, one, "split at {k}: {}", buf.escape_ascii());
            assert_eq!(h1, h2, "split at {k}: {}", buf.escape_ascii());
        }
    }
}

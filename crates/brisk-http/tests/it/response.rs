//! The response serializer, read back with the test parser.

use brisk_buf::ByteBuffer;
use brisk_http::{
    HeaderError, ResponseBody, ResponseHeader, WriteOptions, status_has_no_body, status_text,
    write_response, write_response_head,
};
use proptest::prelude::*;

use crate::support::parse_response_head;

fn token() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop::sample::select(b"abcxyzABCXYZ0189-_.!#$%&'*+^`|~".to_vec()),
        1..16,
    )
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
        0..40,
    )
}

fn body() -> impl Strategy<Value = ResponseBody> {
    prop_oneof![
        (0u64..1 << 40).prop_map(ResponseBody::Length),
        Just(ResponseBody::Chunked),
        Just(ResponseBody::None),
    ]
}

const RESERVED: [&[u8]; 6] = [
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"server",
    b"date",
    b"content-type",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 128 }, ..ProptestConfig::default() })]

    /// parse(serialize(x)) == x for the status, reason, the response's own
    /// headers, and the framing/connection headers the serializer adds.
    #[test]
    fn response_head_round_trip(
        status in 100u16..=999,
        reason in proptest::option::of(proptest::collection::vec(0x20u8..0x7f, 0..20)),
        headers in proptest::collection::vec((token(), value()), 0..12),
        body in body(),
        keep_alive in any::<bool>(),
        http10 in any::<bool>(),
        close in any::<bool>(),
        default_ct in any::<bool>(),
        server in proptest::option::of(token()),
    ) {
        let mut h = ResponseHeader::new();
        h.set_status(status).unwrap();
        if let Some(r) = &reason {
            h.set_reason(r).unwrap();
        }
        let mut added = Vec::new();
        for (n, v) in &headers {
            if RESERVED.iter().any(|r| n.eq_ignore_ascii_case(r)) {
                continue;
            }
            h.add(n, v).unwrap();
            added.push((n.clone(), v.clone()));
        }
        h.set_connection_close(close);
        let opts = WriteOptions {
            server_name: server.as_deref(),
            date: true,
            default_content_type: default_ct,
            keep_alive,
            head_request: false,
            http10,
        };
        let mut out = ByteBuffer::new();
        let keep = write_response_head(&h, body, &opts, &mut out);
        let (resp, len) = parse_response_head(out.as_slice()).unwrap();
        prop_assert_eq!(len, out.len());
        prop_assert_eq!(resp.status, status);
        let want_reason = reason.clone().unwrap_or_else(|| status_text(status).as_bytes().to_vec());
        prop_assert_eq!(&resp.reason, &want_reason);

        // The response's own headers come last, in order, unchanged.
        let tail = &resp.headers[resp.headers.len() - added.len()..];
        prop_assert_eq!(tail, &added[..]);

        let informational_or_204 = status < 200 || status == 204;
        let cl = resp.get("content-length");
        match body {
            ResponseBody::Length(n) if !informational_or_204 => {
                let n = n.to_string();
                prop_assert_eq!(cl, Some(n.as_bytes()));
            }
            _ => prop_assert_eq!(cl, None),
        }
        let chunked = body == ResponseBody::Chunked && !status_has_no_body(status) && !http10;
        prop_assert_eq!(resp.get("transfer-encoding"), chunked.then_some(&b"chunked"[..]));
        let forced_close = body == ResponseBody::Chunked && !status_has_no_body(status) && http10;
        let want_close = !keep_alive || close || forced_close;
        prop_assert_eq!(keep, !want_close);
        let conn = resp.get("connection");
        if status == 101 {
            prop_assert_eq!(conn, Some(&b"Upgrade"[..]));
        } else if want_close {
            prop_assert_eq!(conn, Some(&b"close"[..]));
        } else if http10 {
            prop_assert_eq!(conn, Some(&b"keep-alive"[..]));
        } else {
            prop_assert_eq!(conn, None);
        }
        prop_assert_eq!(resp.get("server"), server.as_deref());
        prop_assert_eq!(resp.get("date").map(<[u8]>::len), Some(29));
        let want_ct = default_ct && !status_has_no_body(status);
        prop_assert_eq!(resp.get("content-type"), want_ct.then_some(&b"text/plain; charset=utf-8"[..]));
        for name in ["content-length", "transfer-encoding", "connection", "server", "date", "content-type"] {
            prop_assert!(resp.count(name) <= 1, "{} twice", name);
        }
    }

    /// A header value can never inject a line: every CR, LF or other
    /// control byte is refused when added.
    #[test]
    fn no_response_splitting(v in proptest::collection::vec(any::<u8>(), 0..30)) {
        let mut h = ResponseHeader::new();
        let bad = v.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        let r = h.add(b"X-Test", &v);
        prop_assert_eq!(r.is_err(), bad);
        if bad {
            prop_assert_eq!(r, Err(HeaderError::InvalidValue));
            prop_assert_eq!(h.set_reason(&v), Err(HeaderError::InvalidReason));
        }
        let mut out = ByteBuffer::new();
        write_response_head(&h, ResponseBody::Length(0), &WriteOptions::default(), &mut out);
        let (resp, _) = parse_response_head(out.as_slice()).unwrap();
        prop_assert_eq!(resp.headers.len(), if bad { 3 } else { 4 });
    }
}

#[test]
fn small_200_is_what_the_bench_writes() {
    let mut h = ResponseHeader::new();
    h.set_content_type(b"text/plain; charset=utf-8").unwrap();
    let opts = WriteOptions {
        server_name: Some(b"brisk"),
        ..WriteOptions::default()
    };
    let mut out = ByteBuffer::new();
    assert!(write_response(&h, b"Hello, World!", &opts, &mut out));
    let (resp, len) = parse_response_head(out.as_slice()).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.get("content-length"), Some(&b"13"[..]));
    assert_eq!(&out[len..], b"Hello, World!");
    let names: Vec<_> = resp
        .headers
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(names, ["Server", "Date", "Content-Length", "Content-Type"]);
}

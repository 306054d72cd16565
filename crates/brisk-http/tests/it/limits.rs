//! Limits: exact boundaries, and linear cost when a head arrives one byte
//! at a time.

use brisk_http::{ErrorKind, Limits, RequestHeader, RequestParser, Status};

/// Sizes for the byte-at-a-time tests (small under Miri, which is slow).
const VALUE_BYTES: usize = if cfg!(miri) { 2000 } else { 60 * 1024 - 28 };
const TARGET_BYTES: usize = if cfg!(miri) { 500 } else { 8000 };

fn parse_with(limits: &Limits, buf: &[u8]) -> Result<Status, ErrorKind> {
    let mut p = RequestParser::new(limits.clone());
    let mut h = RequestHeader::new();
    p.parse(buf, &mut h).map_err(|e| e.kind())
}

fn request_with_target_len(n: usize) -> Vec<u8> {
    // "GET " + target + " HTTP/1.1" is the request line.
    let mut v = b"GET /".to_vec();
    v.resize(4 + n, b'a');
    v.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    v
}

#[test]
fn request_line_limit_is_exact() {
    let limits = Limits {
        max_request_line: 100,
        ..Limits::default()
    };
    // The line is 4 + n + 9 bytes.
    let ok = request_with_target_len(100 - 13);
    assert!(matches!(parse_with(&limits, &ok), Ok(Status::Complete(_))));
    let long = request_with_target_len(100 - 12);
    assert_eq!(
        parse_with(&limits, &long),
        Err(ErrorKind::RequestLineTooLong)
    );
    assert_eq!(ErrorKind::RequestLineTooLong.status(), 414);
    // Refused before the line ends.
    assert_eq!(
        parse_with(&limits, &long[..103]),
        Err(ErrorKind::RequestLineTooLong)
    );
    assert_eq!(parse_with(&limits, &long[..101]), Ok(Status::Partial));
    // The default is 8 KiB.
    assert!(matches!(
        parse_with(&Limits::default(), &request_with_target_len(8192 - 13)),
        Ok(Status::Complete(_))
    ));
    assert_eq!(
        parse_with(&Limits::default(), &request_with_target_len(8192 - 12)),
        Err(ErrorKind::RequestLineTooLong)
    );
}

#[test]
fn header_count_limit_is_exact() {
    let limits = Limits {
        max_headers: 10,
        ..Limits::default()
    };
    let head = |n: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..n {
            v.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    assert!(matches!(
        parse_with(&limits, &head(10)),
        Ok(Status::Complete(_))
    ));
    assert_eq!(
        parse_with(&limits, &head(11)),
        Err(ErrorKind::TooManyHeaders)
    );
    assert_eq!(ErrorKind::TooManyHeaders.status(), 431);
    // Default 100; more than the 32 stored inline spill without trouble.
    assert!(matches!(
        parse_with(&Limits::default(), &head(100)),
        Ok(Status::Complete(_))
    ));
    assert_eq!(
        parse_with(&Limits::default(), &head(101)),
        Err(ErrorKind::TooManyHeaders)
    );
}

#[test]
fn head_size_limit_is_exact() {
    let limits = Limits {
        max_head_size: 64,
        ..Limits::default()
    };
    let head = |value_len: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        v.resize(v.len() + value_len, b'v');
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    let base = head(0).len();
    let exact = head(64 - base);
    assert_eq!(parse_with(&limits, &exact), Ok(Status::Complete(64)));
    let over = head(65 - base);
    assert_eq!(parse_with(&limits, &over), Err(ErrorKind::HeadTooLarge));
    assert_eq!(ErrorKind::HeadTooLarge.status(), 431);
    // Refused as soon as the cap is reached without an end of head.
    assert_eq!(
        parse_with(&limits, &over[..64]),
        Err(ErrorKind::HeadTooLarge)
    );
    assert_eq!(parse_with(&limits, &over[..63]), Ok(Status::Partial));
    // Empty lines before the request count too.
    let mut padded = vec![b'\r', b'\n'];
    padded.extend_from_slice(&exact);
    assert_eq!(parse_with(&limits, &padded), Err(ErrorKind::HeadTooLarge));
}

#[test]
fn byte_at_a_time_is_linear() {
    // A 60 KiB head fed one byte per call: each call only looks at
    // the new byte, so this takes 60 K cheap calls, not 1.8 G byte visits.
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    buf.resize(VALUE_BYTES + 28, b'v');
    buf.extend_from_slice(b"\r\n\r\n");
    let mut p = RequestParser::new(Limits::default());
    let mut h = RequestHeader::new();
    for n in 0..buf.len() {
        assert_eq!(p.parse(&buf[..n], &mut h), Ok(Status::Partial));
    }
    assert_eq!(p.parse(&buf, &mut h), Ok(Status::Complete(buf.len())));
    assert_eq!(h.header(&buf, b"x").map(<[u8]>::len), Some(VALUE_BYTES));
}

#[test]
fn long_request_line_byte_at_a_time() {
    let buf = request_with_target_len(TARGET_BYTES);
    let mut p = RequestParser::new(Limits::default());
    let mut h = RequestHeader::new();
    for n in 0..buf.len() {
        assert_eq!(p.parse(&buf[..n], &mut h), Ok(Status::Partial));
    }
    assert_eq!(p.parse(&buf, &mut h), Ok(Status::Complete(buf.len())));
    assert_eq!(h.path().len as usize, TARGET_BYTES);
}

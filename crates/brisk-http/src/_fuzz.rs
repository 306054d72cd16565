//! Invariant checks shared by the fuzz targets (`fuzz/fuzz_targets/`) and
//! the corpus-replay test (`tests/it/corpus.rs`). Not a stable API.
//!
//! Each function takes arbitrary bytes and panics if an invariant breaks;
//! it must never panic for any other reason.

use brisk_buf::{ByteBuffer, Span};

use crate::{
    BodyKind, ChunkedDecoder, ChunkedEncoder, ErrorKind, Limits, ParseError, RequestHeader,
    RequestParser, Status, TargetForm, Version, decode_arg, normalize_header_names, normalize_path,
    parse_args, parse_cookies,
};

/// Checks the head parser on `data`: one-shot parse == restartable parse in
/// pieces (sizes derived from the data) == byte-by-byte parse (for short
/// inputs); spans lie inside the head; captured fields agree with the
/// header table; normalizing names changes nothing but case. Runs with the
/// default limits and with small ones so that every limit is reached.
pub fn head(data: &[u8]) {
    let small = Limits {
        max_request_line: 40,
        max_headers: 4,
        max_head_size: 200,
        ..Limits::default()
    };
    for limits in [Limits::default(), small] {
        head_with(data, &limits);
    }
}

fn head_with(data: &[u8], limits: &Limits) {
    let mut p = RequestParser::new(limits.clone());
    let mut one = RequestHeader::new();
    let r1 = p.parse(data, &mut one);
    // Sticky outcome.
    assert_eq!(p.parse(data, &mut one.clone()), r1, "second call differs");

    // In pieces whose sizes come from the data itself.
    let mut p2 = RequestParser::new(limits.clone());
    let mut inc = RequestHeader::new();
    let mut end = 0;
    let mut k = 0;
    let r2 = loop {
        let step = 1 + usize::from(data.get(k).copied().unwrap_or(0) % 37);
        k += 1;
        end = (end + step).min(data.len());
        let r = p2.parse(&data[..end], &mut inc);
        match r {
            Ok(Status::Partial) if end < data.len() => continue,
            r => break r,
        }
    };
    assert_eq!(r1, r2, "restartable parse differs from one-shot");
    assert_eq!(one, inc, "restartable header differs from one-shot");

    if data.len() <= 2048 {
        let mut p3 = RequestParser::new(limits.clone());
        let mut bb = RequestHeader::new();
        let mut r3 = Ok(Status::Partial);
        for n in 0..=data.len() {
            r3 = p3.parse(&data[..n], &mut bb);
            if r3 != Ok(Status::Partial) {
                break;
            }
        }
        assert_eq!(r1, r3, "byte-by-byte parse differs from one-shot");
        if r1.is_ok() {
            assert_eq!(one, bb, "byte-by-byte header differs");
        }
    }

    match r1 {
        Ok(Status::Complete(n)) => check_complete(data, n, &one, limits),
        Ok(Status::Partial) => {
            // A partial head never exceeds the caps it would be refused for.
            assert!(
                data.len() < limits.max_head_size,
                "partial beyond max_head_size"
            );
        }
        Err(e) => check_error(e),
    }
}

fn check_complete(data: &[u8], n: usize, req: &RequestHeader, limits: &Limits) {
    assert!(n <= data.len() && n <= limits.max_head_size);
    assert_eq!(req.head_len(), n);
    assert!(req.is_complete());
    assert_eq!(&data[n - 4..n], b"\r\n\r\n");
    let head = &data[..n];
    let inside = |s: Span| assert!(s.end() <= n, "span {s:?} beyond head {n}");
    for s in [req.method_span(), req.target(), req.path()] {
        inside(s);
    }
    assert!(!req.method_span().is_empty() && !req.target().is_empty());
    let target = req.target();
    let within_target = |s: Span| {
        assert!(
            s.start >= target.start && s.end() <= target.end(),
            "{s:?} not in {target:?}"
        )
    };
    within_target(req.path());
    if let Some(q) = req.query() {
        within_target(q);
        assert_eq!(head[q.start as usize - 1], b'?');
    }
    match req.target_form() {
        TargetForm::Origin => assert_eq!(req.path().get(head).first(), Some(&b'/')),
        TargetForm::Asterisk => assert_eq!(req.target().get(head), b"*"),
        TargetForm::Authority => assert!(req.path().is_empty()),
        TargetForm::Absolute => assert!(req.path().is_empty() || req.path().get(head)[0] == b'/'),
    }
    assert!(req.headers().len() <= limits.max_headers);
    for h in req.headers() {
        inside(h.name);
        inside(h.value);
        assert!(!h.name.is_empty());
        let v = h.value.get(head);
        assert!(!v.contains(&b'\r') && !v.contains(&b'\n') && !v.contains(&0));
        assert!(
            !v.starts_with(b" ")
                && !v.ends_with(b" ")
                && !v.starts_with(b"\t")
                && !v.ends_with(b"\t")
        );
    }
    let count = |name: &[u8]| req.headers_named(head, name).count();
    match req.version() {
        Version::Http11 => assert_eq!(count(b"host"), 1),
        Version::Http10 => assert!(count(b"host") <= 1),
    }
    assert_eq!(req.host().map(|s| s.get(head)), req.header(head, b"host"));
    assert_eq!(
        req.user_agent().map(|s| s.get(head)),
        req.header(head, b"user-agent")
    );
    assert_eq!(
        req.cookie().map(|s| s.get(head)),
        req.header(head, b"cookie")
    );
    assert_eq!(
        req.content_type().map(|s| s.get(head)),
        req.header(head, b"content-type")
    );
    assert_eq!(
        req.upgrade().map(|s| s.get(head)),
        req.header(head, b"upgrade")
    );
    match req.body_kind() {
        BodyKind::Chunked => {
            assert!(count(b"transfer-encoding") >= 1 && count(b"content-length") == 0);
            assert_eq!(req.version(), Version::Http11);
        }
        BodyKind::Length(l) => {
            assert_eq!(count(b"transfer-encoding"), 0);
            assert_eq!(req.content_length(), Some(l));
            for v in req.headers_named(head, b"content-length") {
                for e in v.split(|&b| b == b',') {
                    let e = crate::parser::trim_ows(e);
                    assert_eq!(crate::parser::parse_decimal(e), Some(l));
                }
            }
        }
        BodyKind::None => assert_eq!(count(b"transfer-encoding") + count(b"content-length"), 0),
    }
    if let Some(c) = req.cookie() {
        let v = c.get(head);
        for (a, b) in parse_cookies(v) {
            assert!(a.end() <= v.len() && b.end() <= v.len());
        }
    }

    // Normalizing names changes only their case, and the result reparses
    // to the same spans.
    let mut copy = data.to_vec();
    normalize_header_names(&mut copy, req);
    for (a, b) in data.iter().zip(&copy) {
        assert!(a.eq_ignore_ascii_case(b));
    }
    let mut p = RequestParser::new(limits.clone());
    let mut again = RequestHeader::new();
    assert_eq!(p.parse(&copy, &mut again), Ok(Status::Complete(n)));
    assert_eq!(&again, req);
    for h in again.headers() {
        let name = h.name.get(&copy);
        assert!(name[0].is_ascii_uppercase() || !name[0].is_ascii_alphabetic());
    }
}

fn check_error(e: ParseError) {
    assert!(
        matches!(e.status(), 400 | 414 | 417 | 431 | 501 | 505),
        "{e:?}"
    );
    assert_ne!(e.kind(), ErrorKind::InvalidDecoderState);
    assert!(!e.to_string().is_empty() && !e.reason().is_empty());
}

/// Checks the chunked decoder on `data`: one-shot decode == decoding while
/// the buffer grows in pieces == the same while the caller compacts the
/// buffer between calls; offsets stay ordered and in range; once done, the
/// decoded body re-encodes and decodes to itself.
pub fn chunked(data: &[u8]) {
    let limits = Limits {
        max_chunk_ext: 16,
        max_trailer_size: 64,
        ..Limits::default()
    };
    let one = decode_pieces(data, &limits, usize::MAX, false);
    let grown = decode_pieces(data, &limits, 0, false);
    let compacted = decode_pieces(data, &limits, 0, true);
    assert_eq!(one, grown, "incremental decode differs from one-shot");
    assert_eq!(one, compacted, "decode with caller compaction differs");
    if let Ok(Decoded {
        body, done: true, ..
    }) = one
    {
        let mut enc = ChunkedEncoder::new();
        let mut out = ByteBuffer::new();
        let mut rest = &body[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = (1 + usize::from(data.get(k).copied().unwrap_or(7))).min(rest.len());
            k += 1;
            enc.write_chunk(&rest[..n], &mut out);
            rest = &rest[n..];
        }
        enc.finish(&mut out);
        let again = decode_pieces(out.as_slice(), &limits, usize::MAX, false)
            .expect("re-encoded body decodes");
        assert!(again.done);
        assert_eq!(again.body, body);
        assert_eq!(again.consumed, out.len());
    }
}

/// What a decode run produced.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    body: Vec<u8>,
    /// Input bytes consumed (relative to the input, not the buffer).
    consumed: usize,
    done: bool,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Feeds `data` in pieces (`first` bytes, then sizes derived from the
/// data); with `compact`, moves unconsumed input down to `written` between
/// calls as a memory-tight caller would.
fn decode_pieces(
    data: &[u8],
    limits: &Limits,
    first: usize,
    compact: bool,
) -> Result<Decoded, ErrorKind> {
    let mut dec = ChunkedDecoder::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let (mut read, mut written, mut fed, mut dropped) = (0usize, 0usize, 0usize, 0usize);
    let mut k = 0;
    loop {
        let step = if fed == 0 && first != 0 {
            first
        } else {
            let s = 1 + usize::from(data.get(k).copied().unwrap_or(0) % 13);
            k += 1;
            s
        };
        let n = step.min(data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        let p = dec.decode(&mut buf, read, written).map_err(|e| e.kind())?;
        assert!(
            p.written <= p.read && p.read <= buf.len(),
            "offsets out of order: {p:?}"
        );
        assert!(p.read >= read && p.written >= written, "offsets went back");
        (read, written) = (p.read, p.written);
        if p.done {
            let again = dec.decode(&mut buf, read, written).map_err(|e| e.kind())?;
            assert_eq!(again, p, "done is not sticky");
            let trailers = dec
                .trailers()
                .iter()
                .map(|f| {
                    assert!(
                        f.name.end() <= read
                            && f.value.end() <= read
                            && f.name.start as usize >= written
                    );
                    (f.name.get(&buf).to_vec(), f.value.get(&buf).to_vec())
                })
                .collect();
            return Ok(Decoded {
                body: buf[..written].to_vec(),
                consumed: read + dropped,
                done: true,
                trailers,
            });
        }
        if fed == data.len() {
            return Ok(Decoded {
                body: buf[..written].to_vec(),
                consumed: read + dropped,
                done: false,
                trailers: Vec::new(),
            });
        }
        if compact && read > written {
            buf.drain(written..read);
            dropped += read - written;
            read = written;
        }
    }
}

/// Checks the path normalizer and the argument/cookie splitters on `data`:
/// the normalized path is rooted, has no empty, `.` or `..` segments,
/// matches a simple reference implementation, and is a fixed point when
/// it contains no `%`.
pub fn path(data: &[u8]) {
    let mut out = Vec::new();
    match normalize_path(data, &mut out) {
        Ok(()) => {
            assert_eq!(out.first(), Some(&b'/'));
            let segs: Vec<&[u8]> = out[1..].split(|&b| b == b'/').collect();
            for (i, s) in segs.iter().enumerate() {
                assert!(*s != b"." && *s != b"..", "dot segment left in {out:?}");
                assert!(
                    !s.is_empty() || i == segs.len() - 1,
                    "empty segment in {out:?}"
                );
            }
            assert_eq!(out, reference_normalize(data), "differs from the reference");
            if !out.contains(&b'%') {
                let mut again = Vec::new();
                normalize_path(&out, &mut again).expect("normalized path is valid");
                assert_eq!(again, out, "not idempotent");
            }
        }
        Err(_) => assert!(data.contains(&b'%')),
    }
    let mut dec = Vec::new();
    for (k, v) in parse_args(data) {
        assert!(k.end() <= data.len() && v.end() <= data.len());
        let raw = v.get(data);
        decode_arg(raw, &mut dec);
        assert!(dec.len() <= raw.len());
    }
    for (n, v) in parse_cookies(data) {
        assert!(n.end() <= data.len() && v.end() <= data.len());
    }
}

/// Straightforward normalization: decode, split, use a segment stack.
fn reference_normalize(raw: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let h = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            decoded.push(h(raw[i + 1]) * 16 + h(raw[i + 2]));
            i += 3;
        } else {
            decoded.push(raw[i]);
            i += 1;
        }
    }
    let segs: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    let mut stack: Vec<&[u8]> = Vec::new();
    let mut trailing = false;
    for (k, s) in segs.iter().enumerate() {
        let last = k == segs.len() - 1;
        match *s {
            b"" => trailing = last && !stack.is_empty(),
            b"." => trailing = last,
            b".." => {
                stack.pop();
                trailing = last;
            }
            s => {
                stack.push(s);
                trailing = false;
            }
        }
    }
    let mut out = vec![b'/'];
    out.extend(stack.join(&b'/'));
    if trailing && out.len() > 1 {
        out.push(b'/');
    }
    out
}

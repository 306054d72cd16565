//! Invariant checks shared by the fuzz targets (`fuzz/fuzz_targets/`) and
//! the corpus-replay test (`tests/it/corpus.rs`). Not a stable API.
//!
//! Each function takes arbitrary bytes and panics if an invariant breaks;
//! it must never panic for any other reason.

use brisk_buf::{ByteBuffer, Span};

use crate::{
    BodyKind, ChunkedDecoder, ChunkedEncoder, ErrorKind, Limits, ParseError, PathError,
    RequestHeader, RequestParser, Status, TargetForm, Version, decode_arg, normalize_header_names,
    normalize_path, parse_args, parse_cookies,
};
use crate::{ProxyAddresses, ProxyStatus, ProxyVersion, parse_proxy_header};

/// Checks the head parser on `data`: one-shot parse == restartable parse in
/// pieces (sizes derived from the data) == byte-by-byte parse (for short
/// inputs); spans lie inside the head; the path holds no `\`; captured
/// fields agree with the header table; normalizing names changes nothing
/// but case. Runs with the default limits and with small ones so that
/// every limit is reached.
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

    // A parser that has seen other requests (state kept across `reset`,
    // such as the remembered Host) parses the same: primed with another
    // Host, then with this input twice, so its own Host is remembered.
    let mut p4 = RequestParser::new(limits.clone());
    let mut warm = RequestHeader::new();
    for prime in [
        &b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9200\r\n\r\n"[..],
        data,
        data,
    ] {
        p4.reset();
        let _ = p4.parse(prime, &mut warm);
    }
    // (A fresh head: a reused one keeps stale spans behind unset flags,
    // which its accessors never show but `==` would see.)
    p4.reset();
    let mut after = RequestHeader::new();
    let r4 = p4.parse(data, &mut after);
    assert_eq!(r1, r4, "parse after other requests differs");
    if r1.is_ok() {
        assert_eq!(one, after, "header after other requests differs");
    }

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

    // No raw backslash in a path (it is refused before any `?`).
    assert!(
        !req.path().get(head).contains(&b'\\'),
        "backslash in the path"
    );

    // A path the parser calls plain is what normalizing it gives.
    if req.path_is_plain() {
        let path = req.path().get(head);
        let mut out = Vec::new();
        assert!(crate::normalize_path(path, &mut out).is_ok());
        assert_eq!(&out[..], path, "a plain path changed when normalized");
    }

    // Normalizing names changes only their case, and the result reparses
    // to the same spans.
    // A head the parser did not flag as miscased has canonical names
    // already (normalizing changes nothing); after normalizing, none is
    // flagged.
    let mut copy = data.to_vec();
    normalize_header_names(&mut copy, req);
    for (a, b) in data.iter().zip(&copy) {
        assert!(a.eq_ignore_ascii_case(b));
    }
    if req.flags & crate::request::flag::MISCASED == 0 {
        assert_eq!(&copy[..], data);
    }
    let mut p = RequestParser::new(limits.clone());
    let mut again = RequestHeader::new();
    assert_eq!(p.parse(&copy, &mut again), Ok(Status::Complete(n)));
    let mut canonical = req.clone();
    canonical.flags &= !crate::request::flag::MISCASED;
    assert_eq!(again, canonical);
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
/// the normalized path is rooted, has no empty, `.` or `..` segments, no
/// NUL, no `\` and no overlong UTF-8 form, matches a simple reference
/// implementation, and is a fixed point when it contains no `%`; a refused
/// path is refused with the error the reference gives.
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
            assert!(!out.contains(&0), "nul in {out:?}");
            assert!(!out.contains(&b'\\'), "backslash in {out:?}");
            assert!(
                !out.windows(2)
                    .any(|w| matches!(w, [0xe0, 0x80..=0x9f] | [0xf0, 0x80..=0x8f]))
                    && !out.iter().any(|&b| b == 0xc0 || b == 0xc1),
                "overlong UTF-8 in {out:?}"
            );
            assert_eq!(out, reference_normalize(data), "differs from the reference");
            if !out.contains(&b'%') {
                let mut again = Vec::new();
                normalize_path(&out, &mut again).expect("normalized path is valid");
                assert_eq!(again, out, "not idempotent");
            }
        }
        Err(e) => assert_eq!(Some(e), reference_path_error(data), "unexpected error"),
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

/// `raw` percent-decoded, or `None` when an escape is invalid.
fn reference_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
    let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if !hex(raw.get(i + 1)) || !hex(raw.get(i + 2)) {
                return None;
            }
            decoded.push(digit(raw[i + 1]) * 16 + digit(raw[i + 2]));
            i += 3;
        } else {
            decoded.push(raw[i]);
            i += 1;
        }
    }
    Some(decoded)
}

/// The error [`normalize_path`] should give for `raw`, if any: an invalid
/// escape anywhere, else the first refused byte of the decoded path.
fn reference_path_error(raw: &[u8]) -> Option<PathError> {
    let Some(mut decoded) = reference_decode(raw) else {
        return Some(PathError::InvalidEscape);
    };
    decoded.push(0x7f); // so that every byte has a next one
    decoded.windows(2).find_map(|w| match *w {
        [0, _] => Some(PathError::NulByte),
        [b'\\', _] => Some(PathError::Backslash),
        [0xc0 | 0xc1, _] | [0xe0, 0x80..=0x9f] | [0xf0, 0x80..=0x8f] => {
            Some(PathError::OverlongUtf8)
        }
        _ => None,
    })
}

/// Straightforward normalization: decode, split, use a segment stack.
fn reference_normalize(raw: &[u8]) -> Vec<u8> {
    let decoded = reference_decode(raw).expect("normalize_path accepted an invalid escape");
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

/// Checks the query/form-argument splitter and decoder on `data` (taken as
/// a query string without its `?`, or a form body): [`parse_args`] yields
/// exactly the pairs of a reference splitter, in input order, as spans
/// inside the input that never overlap; it is deterministic and a clone
/// taken mid-way continues identically; [`Args::get`](crate::Args::get)
/// agrees with the first match of the iteration; [`decode_arg`] matches a
/// reference decoder, never lengthens its input, and percent-encoding the
/// decoded pairs and parsing again gives the same decoded pairs back.
pub fn args(data: &[u8]) {
    let pairs: Vec<(Span, Span)> = parse_args(data).collect();
    assert_eq!(
        pairs,
        parse_args(data).collect::<Vec<_>>(),
        "not deterministic"
    );
    assert_eq!(
        pairs,
        crate::Args::new(data).collect::<Vec<_>>(),
        "Args::new differs from parse_args"
    );
    let raw: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.get(data), v.get(data)))
        .collect();
    assert_eq!(
        raw,
        reference_args(data),
        "differs from the reference splitter"
    );

    // Spans: inside the input, key before value, pairs in input order and
    // disjoint (separated by at least one `&`).
    let mut prev_end = None;
    for &(k, v) in &pairs {
        assert!(
            k.end() <= data.len() && v.end() <= data.len(),
            "{k:?} {v:?} beyond input"
        );
        if let Some(p) = prev_end {
            assert!(k.start as usize > p, "pairs out of order or overlapping");
            assert!(data[p..k.start as usize].iter().all(|&b| b == b'&'));
        }
        let (kb, vb) = (k.get(data), v.get(data));
        assert!(!kb.contains(&b'&') && !kb.contains(&b'=') && !vb.contains(&b'&'));
        if v.start as usize == k.end() {
            // No `=`: an empty value at the end of the key.
            assert!(v.is_empty() && !k.is_empty());
        } else {
            assert_eq!(v.start as usize, k.end() + 1);
            assert_eq!(data[k.end()], b'=');
        }
        prev_end = Some(v.end());
    }

    // A clone taken after each step yields the same remainder.
    check_resumable(parse_args(data), &pairs);

    // `get` == first match of the iteration; a key holding `&` is absent.
    let args = parse_args(data);
    check_get(&raw, |k| args.get(k));
    assert_eq!(args.get(b"&"), None);
    if raw.is_empty() {
        assert_eq!(args.get(b""), None);
    }

    // Decoding: reference equality, never longer, `out` cleared first.
    let mut out = b"stale".to_vec();
    let mut decoded = Vec::new();
    for (k, v) in &raw {
        let mut pair = [Vec::new(), Vec::new()];
        for (part, slot) in [*k, *v].into_iter().zip(&mut pair) {
            decode_arg(part, &mut out);
            assert!(out.len() <= part.len(), "decoded longer than raw");
            assert_eq!(
                out,
                reference_decode_arg(part),
                "decode differs from the reference"
            );
            if !part.contains(&b'%') && !part.contains(&b'+') {
                assert_eq!(out, part);
            }
            slot.clone_from(&out);
        }
        decoded.push(pair);
    }
    // Also the whole input as one value (any bytes, `&` and `=` included).
    decode_arg(data, &mut out);
    assert_eq!(out, reference_decode_arg(data));

    // Round trip: encode the decoded pairs, parse and decode again.
    let mut enc = Vec::new();
    for (i, [k, v]) in decoded.iter().enumerate() {
        if i > 0 {
            enc.push(b'&');
        }
        percent_encode(k, &mut enc);
        enc.push(b'=');
        percent_encode(v, &mut enc);
    }
    let again: Vec<[Vec<u8>; 2]> = parse_args(&enc)
        .map(|(k, v)| {
            let mut dk = Vec::new();
            let mut dv = Vec::new();
            decode_arg(k.get(&enc), &mut dk);
            decode_arg(v.get(&enc), &mut dv);
            [dk, dv]
        })
        .collect();
    assert_eq!(again, decoded, "encode/parse/decode round trip differs");
}

/// Whether to run a check that costs O(n) at position `i` of `n`: the
/// first 32 positions, the middle and the last two, so that the checks
/// stay O(n) overall and long inputs do not slow the fuzzer down.
fn sampled(i: usize, n: usize) -> bool {
    i < 32 || i + 2 >= n || i == n / 2
}

/// A clone of `it` taken after each (sampled) step yields exactly the
/// remaining `pairs`, and the iterator stays ended once it has ended.
fn check_resumable<I>(mut it: I, pairs: &[(Span, Span)])
where
    I: Iterator<Item = (Span, Span)> + Clone,
{
    for i in 0..=pairs.len() {
        if sampled(i, pairs.len()) {
            let rest: Vec<_> = it.clone().collect();
            assert_eq!(rest, pairs[i..], "clone at {i} differs");
        }
        it.next();
    }
    assert_eq!(it.next(), None, "iterator resumed after the end");
}

/// `get(key)` is the value of the first pair with that key, for (sampled)
/// keys of `raw`.
fn check_get<'a>(raw: &[(&'a [u8], &'a [u8])], get: impl Fn(&[u8]) -> Option<&'a [u8]>) {
    for (i, (k, _)) in raw.iter().enumerate() {
        if !sampled(i, raw.len()) {
            continue;
        }
        let first = raw.iter().find(|(k2, _)| k2 == k).map(|&(_, v)| v);
        assert_eq!(get(k), first, "get disagrees with iteration");
    }
}

/// `&`-separated, empty pairs skipped, split at the first `=`.
fn reference_args(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    data.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[p.len()..]),
        })
        .collect()
}

/// `+` is a space, `%XX` (two hex digits) a byte, anything else itself.
fn reference_decode_arg(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let escape = match raw[i..] {
            [b'%', h, l, ..] => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (raw[i], escape) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Percent-encodes every byte but ASCII alphanumerics and `-._~`; spaces
/// become `+` half the time so both encodings of a space are exercised.
fn percent_encode(s: &[u8], out: &mut Vec<u8>) {
    for (i, &b) in s.iter().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else if b == b' ' && i % 2 == 0 {
            out.push(b'+');
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

/// Checks the Cookie header splitter on `data` (a header value):
/// [`parse_cookies`] yields exactly the pairs of a reference splitter, in
/// input order, as spans inside the input that never overlap; names carry
/// no `;`, `=` or surrounding whitespace; values carry no `;`; it is
/// deterministic and a clone taken mid-way continues identically;
/// [`Cookies::get`](crate::Cookies::get) agrees with the first match of the
/// iteration; and when `data` can be sent as a Cookie header, the head
/// parser's view of that header yields the same cookies.
pub fn cookies(data: &[u8]) {
    let pairs: Vec<(Span, Span)> = parse_cookies(data).collect();
    assert_eq!(
        pairs,
        parse_cookies(data).collect::<Vec<_>>(),
        "not deterministic"
    );
    let raw: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(n, v)| (n.get(data), v.get(data)))
        .collect();
    assert_eq!(
        raw,
        reference_cookies(data),
        "differs from the reference splitter"
    );

    let ws = |b: &u8| matches!(b, b' ' | b'\t');
    let mut prev_end: Option<usize> = None;
    for &(n, v) in &pairs {
        assert!(
            n.end() <= data.len() && v.end() <= data.len(),
            "{n:?} {v:?} beyond input"
        );
        if let Some(p) = prev_end {
            assert!(n.start as usize >= p, "pairs out of order or overlapping");
            assert!(
                data[p..n.start as usize].contains(&b';'),
                "pairs not separated by `;`"
            );
        }
        assert!(n.end() <= v.start as usize, "name after value");
        let (nb, vb) = (n.get(data), v.get(data));
        assert!(!nb.contains(&b';') && !nb.contains(&b'=') && !vb.contains(&b';'));
        assert!(!nb.first().is_some_and(ws) && !nb.last().is_some_and(ws));
        // Between name and value: whitespace, `=`, whitespace, maybe `"`.
        let gap = &data[n.end()..v.start as usize];
        assert!(gap.iter().filter(|&&b| b == b'=').count() <= 1);
        assert!(gap.iter().all(|b| ws(b) || matches!(b, b'=' | b'"')));
        prev_end = Some(v.end());
    }

    check_resumable(parse_cookies(data), &pairs);

    let cookies = parse_cookies(data);
    check_get(&raw, |n| cookies.get(n));
    assert_eq!(cookies.get(b";"), None);

    // Through the head parser: the Cookie value it captures (OWS trimmed)
    // splits into the same cookies.
    let sendable = data
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
    if sendable {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nCookie: ".to_vec();
        req.extend_from_slice(data);
        req.extend_from_slice(b"\r\n\r\n");
        let limits = Limits::default();
        let fits = req.len() <= limits.max_head_size;
        let mut p = RequestParser::new(limits);
        let mut h = RequestHeader::new();
        if let Ok(Status::Complete(_)) = p.parse(&req, &mut h) {
            let v = h.cookie().expect("Cookie header captured").get(&req);
            let via_head: Vec<(&[u8], &[u8])> = parse_cookies(v)
                .map(|(n, val)| (n.get(v), val.get(v)))
                .collect();
            assert_eq!(via_head, raw, "cookies differ through the head parser");
        } else {
            // Only size limits may refuse a sendable value.
            assert!(!fits, "head with a sendable Cookie value refused");
        }
    }
}

/// `;`-separated; SP/HTAB trimmed around the pair, the name and the value;
/// empty pairs skipped; split at the first `=`; one pair of double quotes
/// around the value dropped.
fn reference_cookies(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    fn trim(s: &[u8]) -> &[u8] {
        let ws = |b: &u8| matches!(b, b' ' | b'\t');
        let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
        let end = s.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
        &s[start..end]
    }
    data.split(|&b| b == b';')
        .map(trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (trim(&p[..i]), trim(&p[i + 1..])),
                None => (p, &p[p.len()..]),
            };
            let v = match v {
                [b'"', inner @ .., b'"'] => inner,
                v => v,
            };
            (n, v)
        })
        .collect()
}

/// Checks that [`ChunkedEncoder`] then [`ChunkedDecoder`] give back the
/// input whatever the piece sizes: the first byte says how many of the
/// following bytes are piece sizes (0 = an empty `write_chunk`, which must
/// write nothing), bit 3 of it whether to finish with trailers, and the
/// rest is the body. The encoding has the expected length, writes after
/// `finish` add nothing, and decoding it one-shot, in pieces, with caller
/// compaction and with a pipelined request behind it yields the body, the
/// trailers and exactly the encoded length.
pub fn chunked_roundtrip(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let (sizes, body) = rest.split_at(usize::from(ctl & 7).min(rest.len()));
    let with_trailers = ctl & 8 != 0;

    let mut enc = ChunkedEncoder::new();
    let mut out = ByteBuffer::new();
    let mut expected_len = 0;
    let mut left = body;
    let mut k = 0;
    while !left.is_empty() {
        let want = sizes
            .get(k % sizes.len().max(1))
            .copied()
            .map_or(left.len(), usize::from);
        k += 1;
        let n = want.min(left.len());
        let before = out.len();
        enc.write_chunk(&left[..n], &mut out);
        if n == 0 {
            assert_eq!(out.len(), before, "empty write_chunk wrote something");
            if sizes.iter().all(|&s| s == 0) {
                // Only empty pieces: send the rest in one.
                enc.write_chunk(left, &mut out);
                expected_len += format!("{:x}", left.len()).len() + 4 + left.len();
                break;
            }
            continue;
        }
        expected_len += format!("{n:x}").len() + 4 + n;
        left = &left[n..];
    }
    assert!(!enc.is_finished());
    let trailer_name = b"x-len";
    let trailer_value = format!("{}", body.len()).into_bytes();
    if with_trailers {
        enc.finish_with_trailers(&[(trailer_name, &trailer_value)], &mut out)
            .expect("valid trailer");
        expected_len += 3 + trailer_name.len() + 2 + trailer_value.len() + 2 + 2;
    } else {
        enc.finish(&mut out);
        expected_len += 5;
    }
    assert!(enc.is_finished());
    assert_eq!(out.len(), expected_len, "unexpected encoded length");
    let len = out.len();
    enc.write_chunk(b"late", &mut out);
    enc.finish(&mut out);
    assert_eq!(out.len(), len, "writes after finish");
    assert!(enc.finish_with_trailers(&[], &mut out).is_ok());
    assert_eq!(out.len(), len, "writes after finish");

    let limits = Limits::default();
    let encoded = out.as_slice();
    let expected_trailers = if with_trailers {
        vec![(trailer_name.to_vec(), trailer_value)]
    } else {
        Vec::new()
    };
    let mut pipelined = encoded.to_vec();
    pipelined.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    for (input, first, compact) in [
        (encoded, usize::MAX, false),
        (encoded, 0, false),
        (encoded, 0, true),
        (&pipelined[..], usize::MAX, false),
    ] {
        let d = decode_pieces(input, &limits, first, compact).expect("encoded body decodes");
        assert!(d.done, "encoded body not done");
        assert_eq!(d.body, body, "round trip changed the body");
        assert_eq!(d.consumed, len, "consumed != encoded length");
        assert_eq!(d.trailers, expected_trailers);
    }
}

/// Checks the PROXY protocol parser on `data`, and on `data` as the body
/// of a v2 PROXY header (first byte: the family byte) so that the fuzzer
/// reaches the address and TLV code without finding the signature:
/// every prefix is `Incomplete` (never asking for more than the header
/// takes) or the same answer; a header lies inside the input, re-encodes
/// to a header that parses the same (byte for byte for v2 addresses), and
/// its TLVs iterate without panicking; errors have a message.
pub fn proxy(data: &[u8]) {
    proxy_one(data);
    if let Some((&fam, body)) = data.split_first() {
        let body = &body[..body.len().min(usize::from(u16::MAX))];
        let mut wire = crate::PROXY_V2_SIGNATURE.to_vec();
        wire.push(0x21);
        wire.push(fam);
        wire.extend_from_slice(&(body.len() as u16).to_be_bytes());
        wire.extend_from_slice(body);
        proxy_one(&wire);
    }
}

fn proxy_one(data: &[u8]) {
    let whole = parse_proxy_header(data);
    assert_eq!(parse_proxy_header(data), whole, "not deterministic");
    for n in 0..data.len() {
        if !sampled(n, data.len()) && data.len() > 512 {
            continue;
        }
        match parse_proxy_header(&data[..n]) {
            Ok(ProxyStatus::Incomplete { need }) => {
                assert!(need >= 1, "need 0");
                if let Ok(ProxyStatus::Done { consumed, .. }) = whole {
                    assert!(n + need <= consumed, "need overshoots the header");
                }
            }
            r => assert_eq!(r, whole, "prefix of {n} bytes differs"),
        }
    }
    match whole {
        Ok(ProxyStatus::Incomplete { need }) => assert!(need >= 1),
        Ok(ProxyStatus::Done { header, consumed }) => {
            assert!(consumed <= data.len());
            if header.version == ProxyVersion::V1 {
                assert!(consumed <= crate::PROXY_V1_MAX_LEN);
                assert!(data[..consumed].ends_with(b"\r\n"));
            }
            let mut tlv_bytes = 0;
            for t in header.tlvs() {
                if let crate::Tlv::Ssl(ssl) = t {
                    tlv_bytes += ssl.sub_tlvs().count();
                }
                tlv_bytes += 1;
            }
            assert!(tlv_bytes <= header.tlvs.len());
            let _ = (
                header.alpn(),
                header.authority(),
                header.unique_id(),
                header.ssl(),
            );
            let mut out = Vec::new();
            let n = header.encode(&mut out).expect("a parsed header encodes");
            assert_eq!(n, out.len());
            match parse_proxy_header(&out) {
                Ok(ProxyStatus::Done {
                    header: again,
                    consumed: c,
                }) => {
                    assert_eq!(again, header, "re-encoded header parses differently");
                    assert_eq!(c, out.len());
                }
                r => panic!("re-encoded header does not parse: {r:?}"),
            }
            let exact = header.version == ProxyVersion::V2
                && matches!(
                    header.addresses,
                    ProxyAddresses::Inet { .. } | ProxyAddresses::Inet6 { .. }
                );
            if exact {
                assert_eq!(out, &data[..consumed], "v2 re-encoding differs");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Fuzz target `accept_encoding`: the first byte picks the codings the
/// server offers (a bit each, in a rotated order), the rest is an
/// `Accept-Encoding` value. Checks: [`parse_accept_encoding`](crate::parse_accept_encoding) yields
/// tokens and weights that an independent reading of the value agrees
/// with, and stops after its first error; [`negotiate_encoding`](crate::negotiate_encoding) returns
/// an offered coding or identity, never one the client excluded, and one
/// of the highest weight among the offered codings (with the server's
/// order breaking ties).
pub fn accept_encoding(data: &[u8]) {
    use crate::{Coding, negotiate_encoding, parse_accept_encoding};
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let order = [Coding::Zstd, Coding::Br, Coding::Gzip, Coding::Deflate];
    let offered: Vec<Coding> = (0..4)
        .map(|i| order[(i + usize::from(pick >> 4)) % 4])
        .filter(|c| pick & (1 << (*c as u8 - 1)) != 0)
        .collect();

    // Reference: split on commas, trim, read `token[;q=w]` by hand.
    let mut reference: Vec<Option<(&[u8], u16)>> = Vec::new();
    for raw in value.split(|&b| b == b',') {
        let el = raw.trim_ascii_matches_ows();
        if el.is_empty() {
            continue;
        }
        let parsed = reference_element(el);
        let failed = parsed.is_none();
        reference.push(parsed);
        if failed {
            break;
        }
    }
    let got: Vec<Option<(&[u8], u16)>> = parse_accept_encoding(value)
        .map(|r| r.ok().map(|p| (p.token, p.q)))
        .collect();
    assert_eq!(got, reference, "parser differs from the reference reading");

    let result = negotiate_encoding(Some(value), &offered);
    let malformed = reference.iter().any(Option::is_none);
    if malformed {
        assert_eq!(
            result,
            Some(Coding::Identity),
            "malformed header must mean identity"
        );
        return;
    }
    let weight = |c: Coding| -> Option<u16> {
        let named = reference
            .iter()
            .flatten()
            .filter(|(t, _)| Coding::from_token(t) == Some(c))
            .map(|&(_, q)| q)
            .max();
        named.or_else(|| {
            reference
                .iter()
                .flatten()
                .filter(|(t, _)| *t == b"*")
                .map(|&(_, q)| q)
                .max()
        })
    };
    let best = offered
        .iter()
        .map(|&c| weight(c).unwrap_or(0))
        .max()
        .unwrap_or(0);
    match result {
        Some(Coding::Identity) => {
            assert!(weight(Coding::Identity) != Some(0), "identity was excluded");
            assert!(
                best == 0 || weight(Coding::Identity).is_some_and(|q| q > best),
                "identity chosen over an acceptable offered coding"
            );
        }
        Some(c) => {
            let q = weight(c).unwrap_or(0);
            assert!(offered.contains(&c) && q > 0, "{c} not offered or excluded");
            assert_eq!(q, best, "{c} is not of the highest weight");
            let first = offered.iter().find(|&&o| weight(o).unwrap_or(0) == best);
            assert_eq!(first, Some(&c), "tie not broken by the server's order");
        }
        None => {
            assert_eq!(best, 0, "refused although an offered coding is acceptable");
            assert_eq!(
                weight(Coding::Identity),
                Some(0),
                "None without identity excluded"
            );
        }
    }
}

trait TrimOws {
    fn trim_ascii_matches_ows(&self) -> &[u8];
}

impl TrimOws for [u8] {
    fn trim_ascii_matches_ows(&self) -> &[u8] {
        let mut s = self;
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = s {
            s = rest;
        }
        s
    }
}

fn reference_element(el: &[u8]) -> Option<(&[u8], u16)> {
    let (token, params) = match el.iter().position(|&b| b == b';') {
        Some(i) => (el[..i].trim_ascii_matches_ows(), Some(&el[i + 1..])),
        None => (el, None),
    };
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if token.is_empty() || !token.iter().all(|&b| tchar(b)) {
        return None;
    }
    let Some(params) = params else {
        return Some((token, 1000));
    };
    // Exactly one parameter, `q = weight`.
    if params.contains(&b';') {
        return None;
    }
    let p = params.trim_ascii_matches_ows();
    let eq = p.iter().position(|&b| b == b'=')?;
    let name = p[..eq].trim_ascii_matches_ows();
    if !name.eq_ignore_ascii_case(b"q") {
        return None;
    }
    let w = std::str::from_utf8(p[eq + 1..].trim_ascii_matches_ows()).ok()?;
    let ok = match w.split_once('.') {
        None => w == "0" || w == "1",
        Some((int, frac)) => {
            frac.len() <= 3
                && frac.bytes().all(|b| b.is_ascii_digit())
                && (int == "0" || (int == "1" && frac.bytes().all(|b| b == b'0')))
        }
    };
    if !ok {
        return None;
    }
    let (int, frac) = w.split_once('.').unwrap_or((w, ""));
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    Some((token, if int == "1" { 1000 } else { frac }))
}

/// Fuzz target `range`: the first byte picks what is checked, the next
/// two give a representation length (0..65535), the rest is a header
/// value.
///
/// - `Range` (first byte even): [`parse_range`](crate::parse_range)
///   agrees with an independent reading (numbers in `u128`, clamped by
///   hand); every range it returns is non-empty and inside the
///   representation, at most [`MAX_RANGES`](crate::MAX_RANGES) of them,
///   adding up to no more than the length; `Content-Range` of each reads
///   back.
/// - Otherwise the value is an entity-tag list and a date:
///   [`etag_list_matches`](crate::etag_list_matches) with strong
///   comparison implies weak; a list matches a tag it contains; a date
///   that parses formats back to one that parses to the same second.
pub fn range(data: &[u8]) {
    use crate::{RangeOutcome, parse_range};
    let [pick, a, b, value @ ..] = data else {
        return;
    };
    let len = u64::from(u16::from_le_bytes([*a, *b]));
    if pick % 2 == 0 {
        let got = parse_range(value, len);
        let want = reference_range(value, len);
        match (&got, &want) {
            (RangeOutcome::Partial(r), Some(Ok(w))) => {
                let g: Vec<(u64, u64)> = r.as_slice().iter().map(|r| (r.start, r.end)).collect();
                assert_eq!(&g, w, "ranges differ from the reference");
                assert!(g.len() <= crate::MAX_RANGES);
                assert!(r.total() <= len, "ranges add up to more than the length");
                for r in r.as_slice() {
                    assert!(
                        r.start < r.end && r.end <= len,
                        "range {r:?} outside 0..{len}"
                    );
                    let mut v = Vec::new();
                    crate::write_content_range(&mut v, *r, len);
                    let want = format!("bytes {}-{}/{len}", r.start, r.end - 1);
                    assert_eq!(v, want.as_bytes());
                }
            }
            (RangeOutcome::Unsatisfiable, Some(Ok(w))) => assert!(w.is_empty()),
            (RangeOutcome::TooMany, Some(Ok(w))) => {
                let total: u64 = w.iter().map(|(s, e)| e - s).sum();
                assert!(
                    w.len() > crate::MAX_RANGES || total > len,
                    "TooMany for {w:?}"
                );
            }
            (RangeOutcome::TooMany, Some(Err(()))) => {} // too many specs
            (RangeOutcome::Ignore, None) => {}
            _ => panic!("parse_range gave {got:?}, the reference {want:?}"),
        }
    } else {
        use crate::{etag_list_matches, parse_http_date};
        let tag = b"\"v1\"";
        let strong = etag_list_matches(value, tag, true);
        let weak = etag_list_matches(value, tag, false);
        assert_eq!(
            strong.is_ok(),
            weak.is_ok(),
            "strong and weak disagree on syntax"
        );
        if strong == Ok(true) {
            assert_eq!(weak, Ok(true), "a strong match is a weak one");
        }
        if weak.is_ok() {
            let mut with = value.to_vec();
            with.extend_from_slice(b", \"v1\"");
            if value.iter().filter(|&&c| c == b'"').count() % 2 == 0 && value.trim_ascii() != b"*" {
                assert_eq!(etag_list_matches(&with, tag, true), Ok(true));
            }
        }
        if let Some(t) = parse_http_date(value) {
            let again = crate::date::format_http_date(t);
            assert_eq!(parse_http_date(&again), Some(t.min(253_402_300_799)));
        }
    }
}

/// The reference reading of a `Range` value: `None` to ignore it,
/// `Some(Err(()))` for more than 16 specs, else the satisfiable ranges
/// (half-open), clamped.
#[allow(clippy::type_complexity)]
fn reference_range(value: &[u8], len: u64) -> Option<Result<Vec<(u64, u64)>, ()>> {
    let s = std::str::from_utf8(value).ok()?;
    let (unit, set) = s.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let num = |t: &str| -> Option<u128> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Saturates like the parser: anything past u64 is "past the end".
        Some(
            t.parse::<u128>()
                .unwrap_or(u128::MAX)
                .min(u128::from(u64::MAX)),
        )
    };
    let mut out = Vec::new();
    let mut specs = 0;
    for el in set.split(',') {
        let el = el.trim_matches([' ', '\t']);
        if el.is_empty() {
            continue;
        }
        let (f, l) = el.split_once('-')?;
        let len = u128::from(len);
        let r = if f.is_empty() {
            let n = num(l)?;
            (n > 0 && len > 0).then(|| (len.saturating_sub(n), len))
        } else {
            let first = num(f)?;
            let last = if l.is_empty() { None } else { Some(num(l)?) };
            if last.is_some_and(|l| l < first) {
                return None;
            }
            (first < len).then(|| (first, last.map_or(len, |l| (l + 1).min(len))))
        };
        specs += 1;
        if let Some((a, b)) = r {
            out.push((a as u64, b as u64));
        }
    }
    if specs == 0 {
        return None;
    }
    if specs > 16 {
        return Some(Err(()));
    }
    Some(Ok(out))
}

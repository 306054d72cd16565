//! Paths, query arguments and form bodies: [`normalize_path`],
//! [`parse_args`], [`decode_arg`].

use brisk_buf::Span;

use crate::chars::HEX;
use crate::error::PathError;

/// Percent-decodes and normalizes a raw request path into `out` (cleared
/// first, allocation reused).
///
/// Steps, in order: every `%XX` escape is decoded (`%2F` included, so
/// encoded separators and dots cannot sneak a `..` past the next steps);
/// the decoded bytes are checked (see Errors); then `.` segments are
/// removed, `..` segments remove the segment before them (never climbing
/// above the root), and repeated slashes collapse. The result always
/// starts with `/`; a trailing slash is kept (and `/a/.` or `/a/b/..` end
/// in `/`). `+` is not a space in paths. Bytes from 0x80 that are not an
/// overlong form pass through as they are (the path need not be UTF-8:
/// `%FF` and Latin-1 `%E9` are kept).
///
/// So a path this returns starts with `/`, has no empty, `.` or `..`
/// segment (an empty last segment, a kept trailing slash, aside), and holds
/// no NUL, no `\` and no overlong UTF-8 form.
///
/// # Errors
///
/// - [`PathError::InvalidEscape`]: a `%` not followed by two hex digits.
///
/// Then, in the decoded path (a byte counts whether it came raw or as an
/// escape):
/// - [`PathError::NulByte`]: a NUL byte (`%00`);
/// - [`PathError::Backslash`]: a `\` (`%5C`), a separator to Windows file
///   systems and to some proxies;
/// - [`PathError::OverlongUtf8`]: a byte 0xC0 or 0xC1, 0xE0 followed by
///   0x80..=0x9F, or 0xF0 followed by 0x80..=0x8F (`%C0%AE` is a `.` to a
///   lenient UTF-8 decoder).
///
/// An invalid escape anywhere is reported first; otherwise the first
/// offending decoded byte decides. `out` is unspecified after an error.
///
/// The path is decoded exactly once: `/%252e%252e/x` becomes `/%2e%2e/x`,
/// a safe path whose first segment is the literal text `%2e%2e`. Code that
/// percent-decodes the result again (to map it onto files, say) brings the
/// `..` back; use the result as it is, or normalize again after decoding.
///
/// ```
/// use brisk_http::{normalize_path, PathError};
/// let mut out = Vec::new();
/// normalize_path(b"/a//b/./c/../%7Euser/%2e%2e/x%20y", &mut out).unwrap();
/// assert_eq!(out, b"/a/b/x y");
/// normalize_path(b"/../../etc/passwd", &mut out).unwrap();
/// assert_eq!(out, b"/etc/passwd");
/// assert_eq!(normalize_path(b"/a/..%5c..%5cwin.ini", &mut out), Err(PathError::Backslash));
/// assert_eq!(normalize_path(b"/%c0%ae%c0%ae/etc", &mut out), Err(PathError::OverlongUtf8));
/// ```
pub fn normalize_path(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.clear();
    out.reserve(raw.len() + 1);
    if raw.first() != Some(&b'/') {
        out.push(b'/');
    }
    let mut i = 0;
    while i < raw.len() {
        let Some(k) = memchr::memchr(b'%', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            break;
        };
        out.extend_from_slice(&raw[i..i + k]);
        i += k;
        let b = hex_pair(raw.get(i + 1..i + 3)).ok_or(PathError::InvalidEscape)?;
        out.push(b);
        i += 3;
    }
    check_decoded(out)?;
    remove_dot_segments(out);
    Ok(())
}

/// Decoded path bytes that may be refused: NUL, `\` and the lead bytes of
/// overlong UTF-8 forms (0xC0, 0xC1, 0xE0, 0xF0).
static SUSPECT: [bool; 256] = {
    let mut t = [false; 256];
    t[0] = true;
    t[b'\\' as usize] = true;
    t[0xc0] = true;
    t[0xc1] = true;
    t[0xe0] = true;
    t[0xf0] = true;
    t
};

/// Refuses a decoded path holding a NUL, a `\` or an overlong UTF-8 form,
/// with the error for the first such byte (see [`normalize_path`]).
fn check_decoded(p: &[u8]) -> Result<(), PathError> {
    for (k, &b) in p.iter().enumerate() {
        if !SUSPECT[b as usize] {
            continue;
        }
        let next = p.get(k + 1).copied().unwrap_or(0);
        match b {
            0 => return Err(PathError::NulByte),
            b'\\' => return Err(PathError::Backslash),
            0xc0 | 0xc1 => return Err(PathError::OverlongUtf8),
            0xe0 if matches!(next, 0x80..=0x9f) => return Err(PathError::OverlongUtf8),
            0xf0 if matches!(next, 0x80..=0x8f) => return Err(PathError::OverlongUtf8),
            _ => {}
        }
    }
    Ok(())
}

/// Removes dot segments and empty segments in place; `p` starts with `/`.
fn remove_dot_segments(p: &mut Vec<u8>) {
    let n = p.len();
    // INVARIANT: w <= r; p[..w] is the output so far and ends with '/'
    // unless the last segment was copied without a following slash (only
    // at the very end).
    let mut w = 1;
    let mut r = 1;
    while r <= n {
        let e = memchr::memchr(b'/', &p[r..]).map_or(n, |k| r + k);
        match &p[r..e] {
            b"" | b"." => {}
            b".." => {
                if w > 1 {
                    w -= 1;
                    while p[w - 1] != b'/' {
                        w -= 1;
                    }
                }
            }
            _ => {
                p.copy_within(r..e, w);
                w += e - r;
                if e < n {
                    p[w] = b'/';
                    w += 1;
                }
            }
        }
        r = e + 1;
    }
    p.truncate(w);
}

/// The byte of a two-hex-digit escape, if `pair` is one.
#[inline]
fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    match pair {
        Some(&[h, l]) => {
            let (h, l) = (HEX[h as usize], HEX[l as usize]);
            (h != 0xff && l != 0xff).then_some(h << 4 | l)
        }
        _ => None,
    }
}

/// Lazy iterator over `key=value` pairs of a query string or an
/// `application/x-www-form-urlencoded` body, as raw (undecoded) spans
/// relative to the parsed bytes.
///
/// Pairs are separated by `&`; empty pairs are skipped; a pair without `=`
/// has an empty value (a zero-length span at the end of the key). Decode a
/// key or value with [`decode_arg`].
///
/// ```
/// use brisk_http::parse_args;
/// let q = b"a=1&b=x+y&&flag&c=%41";
/// let pairs: Vec<_> = parse_args(q).map(|(k, v)| (k.get(q), v.get(q))).collect();
/// assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"x+y"), (b"flag", b""), (b"c", b"%41")]);
/// assert_eq!(parse_args(q).get(b"b"), Some(&b"x+y"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct Args<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Iterates over the arguments in `bytes` (a query without its `?`, or a
/// form body). Nothing is parsed until the iterator is advanced.
#[inline]
pub fn parse_args(bytes: &[u8]) -> Args<'_> {
    Args::new(bytes)
}

impl<'a> Args<'a> {
    /// An iterator over the arguments in `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Args<'a> {
        Args { bytes, pos: 0 }
    }

    /// The raw value of the first argument whose raw key equals `key`.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        Args::new(bytes)
            .find(|(k, _)| k.get(bytes) == key)
            .map(|(_, v)| v.get(bytes))
    }
}

impl Iterator for Args<'_> {
    type Item = (Span, Span);

    fn next(&mut self) -> Option<(Span, Span)> {
        let b = self.bytes;
        while self.pos < b.len() {
            let start = self.pos;
            let end = memchr::memchr(b'&', &b[start..]).map_or(b.len(), |k| start + k);
            self.pos = end + 1;
            if end == start {
                continue;
            }
            let (k, v) = match memchr::memchr(b'=', &b[start..end]) {
                Some(eq) => ((start, start + eq), (start + eq + 1, end)),
                None => ((start, end), (end, end)),
            };
            return Some((span(k.0, k.1)?, span(v.0, v.1)?));
        }
        None
    }
}

#[inline]
fn span(start: usize, end: usize) -> Option<Span> {
    Span::from_range(start, end)
}

/// Decodes a query or form key or value into `out` (cleared first):
/// `+` becomes a space and `%XX` the byte it names. A `%` not followed by
/// two hex digits is kept as is, as browsers do (WHATWG URL,
/// application/x-www-form-urlencoded parsing).
///
/// ```
/// let mut out = Vec::new();
/// brisk_http::decode_arg(b"a+b%20c%zz%4", &mut out);
/// assert_eq!(out, b"a b c%zz%4");
/// ```
pub fn decode_arg(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match hex_pair(raw.get(i + 1..i + 3)) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &[u8]) -> Result<String, PathError> {
        let mut out = b"garbage".to_vec();
        normalize_path(p, &mut out).map(|()| String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn paths() {
        for (i, o) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/a", "/a"),
            ("a", "/a"),
            ("*", "/*"),
            ("/a/", "/a/"),
            ("/a//b///c", "/a/b/c"),
            ("/a/./b", "/a/b"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("/..", "/"),
            ("/../..", "/"),
            ("/../a/../../b", "/b"),
            ("/.../a", "/.../a"),
            ("/..a/.b/a..", "/..a/.b/a.."),
            ("/a/%2e%2E/b", "/b"),
            ("/a%2fb", "/a/b"),
            ("/a%2F..%2Fb", "/b"),
            ("/%7e%7E", "/~~"),
            ("/x%20y", "/x y"),
            ("/a+b", "/a+b"),
            ("/./", "/"),
            ("/a/./", "/a/"),
            ("/a/../", "/"),
        ] {
            assert_eq!(norm(i.as_bytes()).as_deref(), Ok(o), "{i:?}");
        }
        assert_eq!(norm(b"/%"), Err(PathError::InvalidEscape));
        assert_eq!(norm(b"/%4"), Err(PathError::InvalidEscape));
        assert_eq!(norm(b"/%zz"), Err(PathError::InvalidEscape));
        assert_eq!(norm(b"/%00"), Err(PathError::NulByte));
        let mut out = Vec::new();
        normalize_path(b"/%ff%C3%A9", &mut out).unwrap();
        assert_eq!(out, b"/\xff\xc3\xa9");
    }

    /// Traversal vectors: each with the exact normalized path or the exact
    /// error.
    #[test]
    fn traversal_vectors() {
        use PathError::*;
        type Want = Result<&'static [u8], PathError>;
        let ok = |o: &'static str| -> Want { Ok(o.as_bytes()) };
        let cases: &[(&[u8], Want)] = &[
            // Dot segments.
            (b"/a/../../x", ok("/x")),
            (b"/./", ok("/")),
            (b"/..", ok("/")),
            (b"/../", ok("/")),
            (b"/a/b/../../../../c/", ok("/c/")),
            (b"/a/./../b/.", ok("/b/")),
            (b"..", ok("/")),
            (b"../x", ok("/x")),
            // Encoded dots, any case, alone or next to a raw dot.
            (b"/%2e%2e/x", ok("/x")),
            (b"/%2E%2E/x", ok("/x")),
            (b"/a/.%2e/x", ok("/x")),
            (b"/a/%2e./x", ok("/x")),
            (b"/a/%2e/b", ok("/a/b")),
            (b"/a/%2E", ok("/a/")),
            (b"/%2e%2e/%2e%2e/etc/passwd", ok("/etc/passwd")),
            (b"/%2e%2e%2e", ok("/...")),
            (b"/.%2e.", ok("/...")),
            // Encoded slashes, combined with dots.
            (b"/a%2f..%2f..%2fetc", ok("/etc")),
            (b"/a%2F..%2F..%2Fetc%2Fpasswd", ok("/etc/passwd")),
            (b"/%2e%2e%2f%2e%2e%2fetc/passwd", ok("/etc/passwd")),
            (
                b"/a/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                ok("/etc/passwd"),
            ),
            (b"/..%2f..%2f", ok("/")),
            (b"/a/b%2f%2e%2e", ok("/a/")),
            (b"%2f%2f..%2fx", ok("/x")),
            // Decoded once only: a double-encoded dot stays text.
            (b"/%252e%252e/x", ok("/%2e%2e/x")),
            // NUL, raw or encoded, wherever it is (even in a removed segment).
            (b"/%00", Err(NulByte)),
            (b"/a%00b", Err(NulByte)),
            (b"/a/%00/../b", Err(NulByte)),
            (b"/a\0b", Err(NulByte)),
            (b"/x.txt%00.html", Err(NulByte)),
            // Overlong UTF-8.
            (b"/%c0%ae%c0%ae/", Err(OverlongUtf8)),
            (b"/%C0%AE%C0%AE/etc", Err(OverlongUtf8)),
            (b"/%c0%af", Err(OverlongUtf8)),
            (b"/a%c0%afb", Err(OverlongUtf8)),
            (b"/%e0%80%ae", Err(OverlongUtf8)),
            (b"/%e0%9f%bf", Err(OverlongUtf8)),
            (b"/%f0%80%80%ae", Err(OverlongUtf8)),
            (b"/%f0%8f%bf%bf", Err(OverlongUtf8)),
            (b"/%c1%9c", Err(OverlongUtf8)),
            (b"/%c1", Err(OverlongUtf8)),
            (b"/\xc0\xae", Err(OverlongUtf8)),
            (b"/a/%c0%ae%c0%ae/../b", Err(OverlongUtf8)),
            // Not overlong: shortest forms, other invalid UTF-8, Latin-1.
            (b"/%e0%a0%80", Ok(b"/\xe0\xa0\x80")),
            (b"/%f0%90%80%80", Ok(b"/\xf0\x90\x80\x80")),
            (b"/%c2%ae", Ok(b"/\xc2\xae")),
            (b"/%e0", Ok(b"/\xe0")),
            (b"/%e0/%80", Ok(b"/\xe0/\x80")),
            (b"/%f0/%8f", Ok(b"/\xf0/\x8f")),
            (b"/%ff%fe", Ok(b"/\xff\xfe")),
            (b"/caf%e9", Ok(b"/caf\xe9")),
            (b"/%ae%ae", Ok(b"/\xae\xae")),
            // Backslashes.
            (b"/%5c..%5c", Err(Backslash)),
            (b"/..%5C", Err(Backslash)),
            (b"/..%5c..%5cwindows%5cwin.ini", Err(Backslash)),
            (b"/a%5cb", Err(Backslash)),
            (b"/a\\b", Err(Backslash)),
            (b"/a/%5c/../b", Err(Backslash)),
            // Invalid escapes (the issue's vectors among them).
            (b"/a/../../x%zz", Err(InvalidEscape)),
            (b"/%2e%2e/%2e%2e/etc/passwd%zz", Err(InvalidEscape)),
            (b"/%2", Err(InvalidEscape)),
            (b"/%%32%65", Err(InvalidEscape)),
            (b"/%g0", Err(InvalidEscape)),
            // Mixes: an invalid escape wins, else the first offending byte.
            (b"/%00%zz", Err(InvalidEscape)),
            (b"/%c0%ae%", Err(InvalidEscape)),
            (b"/%5c%00", Err(Backslash)),
            (b"/%00%5c", Err(NulByte)),
            (b"/%c0%ae%5c", Err(OverlongUtf8)),
            (b"/%5c%c0%ae", Err(Backslash)),
            (b"/%2e%2e%5c%2e%2e", Err(Backslash)),
            (b"/a/%2e%2e/%c0%af%2e%2e", Err(OverlongUtf8)),
            (b"/.%2e/%2E./a%2f%2e/./b", ok("/a/b")),
        ];
        let mut out = Vec::new();
        for &(raw, want) in cases {
            let got = normalize_path(raw, &mut out).map(|()| &out[..]);
            assert_eq!(got, want, "{}", raw.escape_ascii());
        }
    }

    /// Whether `p` holds an overlong UTF-8 lead (see [`normalize_path`]).
    fn has_overlong(p: &[u8]) -> bool {
        p.windows(2)
            .any(|w| matches!(w, [0xe0, 0x80..=0x9f] | [0xf0, 0x80..=0x8f]))
            || p.iter().any(|&b| b == 0xc0 || b == 0xc1)
    }

    /// What every successful normalization gives (see [`normalize_path`]).
    fn check_normalized(raw: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        use proptest::prop_assert;
        let mut out = Vec::new();
        if normalize_path(raw, &mut out).is_err() {
            return Ok(());
        }
        prop_assert!(out.first() == Some(&b'/'), "{:?}", out.escape_ascii());
        let segs: Vec<&[u8]> = out[1..].split(|&b| b == b'/').collect();
        for (k, s) in segs.iter().enumerate() {
            prop_assert!(
                *s != b"." && *s != b"..",
                "dot segment: {}",
                out.escape_ascii()
            );
            prop_assert!(
                !s.is_empty() || k + 1 == segs.len(),
                "empty segment: {}",
                out.escape_ascii()
            );
        }
        prop_assert!(!out.contains(&0), "nul: {}", out.escape_ascii());
        prop_assert!(!out.contains(&b'\\'), "backslash: {}", out.escape_ascii());
        prop_assert!(!has_overlong(&out), "overlong: {}", out.escape_ascii());
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: if cfg!(miri) { 4 } else { 2048 },
            ..proptest::test_runner::Config::default()
        })]

        #[test]
        fn normalized_paths_are_safe_for_any_bytes(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            check_normalized(&raw)?;
        }

        #[test]
        fn normalized_paths_are_safe_for_traversal_pieces(
            pieces in proptest::collection::vec(
                proptest::sample::select(&[
                    "/", ".", "%", "2e", "2E", "2f", "5c", "c0", "ae", "00", "a", "b",
                    "e0", "80", "f0", "8f", "\\",
                ][..]),
                0..32,
            ),
        ) {
            check_normalized(pieces.concat().as_bytes())?;
        }
    }

    #[test]
    fn args() {
        let q = b"&&a=1&=v&k=&x=y=z&";
        let v: Vec<_> = parse_args(q).map(|(k, v)| (k.get(q), v.get(q))).collect();
        assert_eq!(
            v,
            [
                (&b"a"[..], &b"1"[..]),
                (b"", b"v"),
                (b"k", b""),
                (b"x", b"y=z")
            ]
        );
        assert_eq!(parse_args(b"").count(), 0);
        assert_eq!(parse_args(q).get(b"x"), Some(&b"y=z"[..]));
        assert_eq!(parse_args(q).get(b"nope"), None);
        let mut out = vec![1, 2, 3];
        decode_arg(b"", &mut out);
        assert!(out.is_empty());
        decode_arg(b"%e2%82%ac+%", &mut out);
        assert_eq!(out, "€ %".as_bytes());
    }
}

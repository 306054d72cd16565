//! Paths, query arguments and form bodies: [`normalize_path`],
//! [`parse_args`], [`decode_arg`].

use brisk_buf::Span;

use crate::chars::HEX;
use crate::error::PathError;

/// Percent-decodes and normalizes a raw request path into `out` (cleared
/// first, allocation reused).
///
/// Steps, in order: every `%XX` escape is decoded (`%2F` included, so
/// encoded separators and dots cannot sneak a `..` past the next step);
/// then `.` segments are removed, `..` segments remove the segment before
/// them (never climbing above the root), and repeated slashes collapse. The
/// result always starts with `/`; a trailing slash is kept (and `/a/.` or
/// `/a/b/..` end in `/`). `+` is not a space in paths.
///
/// # Errors
///
/// [`PathError::InvalidEscape`] for `%` not followed by two hex digits and
/// [`PathError::NulByte`] for `%00`; `out` is unspecified then.
///
/// ```
/// let mut out = Vec::new();
/// brisk_http::normalize_path(b"/a//b/./c/../%7Euser/%2e%2e/x%20y", &mut out).unwrap();
/// assert_eq!(out, b"/a/b/x y");
/// brisk_http::normalize_path(b"/../../etc/passwd", &mut out).unwrap();
/// assert_eq!(out, b"/etc/passwd");
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
        if b == 0 {
            return Err(PathError::NulByte);
        }
        out.push(b);
        i += 3;
    }
    remove_dot_segments(out);
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

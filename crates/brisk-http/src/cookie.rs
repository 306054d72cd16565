//! Request cookies: [`parse_cookies`].

use brisk_buf::Span;

/// Lazy iterator over the `name=value` pairs of a Cookie header value
/// (RFC 6265 §5.4), as spans relative to that value.
///
/// Pairs are separated by `;`; whitespace around names and values is
/// dropped, and so are the double quotes around a quoted value; empty pairs
/// are skipped; a pair without `=` has an empty value. Nothing is decoded.
///
/// ```
/// use brisk_http::parse_cookies;
/// let v = b"sid=abc123; theme=\"dark\";; flag ; a=b=c";
/// let all: Vec<_> = parse_cookies(v).map(|(n, val)| (n.get(v), val.get(v))).collect();
/// assert_eq!(all, [(&b"sid"[..], &b"abc123"[..]), (b"theme", b"dark"), (b"flag", b""), (b"a", b"b=c")]);
/// assert_eq!(parse_cookies(v).get(b"theme"), Some(&b"dark"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct Cookies<'a> {
    value: &'a [u8],
    pos: usize,
}

/// Iterates over the cookies in a Cookie header value.
#[inline]
pub fn parse_cookies(header_value: &[u8]) -> Cookies<'_> {
    Cookies {
        value: header_value,
        pos: 0,
    }
}

impl<'a> Cookies<'a> {
    /// The value of the first cookie named `name` (case-sensitive).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        let v = self.value;
        parse_cookies(v)
            .find(|(n, _)| n.get(v) == name)
            .map(|(_, val)| val.get(v))
    }
}

impl Iterator for Cookies<'_> {
    type Item = (Span, Span);

    fn next(&mut self) -> Option<(Span, Span)> {
        let b = self.value;
        while self.pos < b.len() {
            let start = self.pos;
            let end = memchr::memchr(b';', &b[start..]).map_or(b.len(), |k| start + k);
            self.pos = end + 1;
            let (s, e) = trim(b, start, end);
            if s == e {
                continue;
            }
            let (name, mut val) = match memchr::memchr(b'=', &b[s..e]) {
                Some(eq) => (trim(b, s, s + eq), trim(b, s + eq + 1, e)),
                None => ((s, e), (e, e)),
            };
            if val.1 - val.0 >= 2 && b[val.0] == b'"' && b[val.1 - 1] == b'"' {
                val = (val.0 + 1, val.1 - 1);
            }
            return Some((
                Span::from_range(name.0, name.1)?,
                Span::from_range(val.0, val.1)?,
            ));
        }
        None
    }
}

/// `start..end` without surrounding SP / HTAB.
fn trim(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && matches!(b[s], b' ' | b'\t') {
        s += 1;
    }
    while e > s && matches!(b[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(v: &[u8]) -> Vec<(&[u8], &[u8])> {
        parse_cookies(v)
            .map(|(n, val)| (n.get(v), val.get(v)))
            .collect()
    }

    #[test]
    fn cookies() {
        assert!(all(b"").is_empty());
        assert!(all(b" ; ;; ").is_empty());
        assert_eq!(all(b"a=1"), [(&b"a"[..], &b"1"[..])]);
        assert_eq!(all(b" a = 1 ;b=2"), [(&b"a"[..], &b"1"[..]), (b"b", b"2")]);
        assert_eq!(all(b"q=\"\""), [(&b"q"[..], &b""[..])]);
        assert_eq!(all(b"q=\""), [(&b"q"[..], &b"\""[..])]);
        assert_eq!(all(b"=v"), [(&b""[..], &b"v"[..])]);
        assert_eq!(parse_cookies(b"a=1; a=2").get(b"a"), Some(&b"1"[..]));
        assert_eq!(parse_cookies(b"a=1").get(b"A"), None);
    }
}

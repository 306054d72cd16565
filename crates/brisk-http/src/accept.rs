//! `Accept-Encoding` (RFC 9110 §12.5.3): [`parse_accept_encoding`] reads
//! the header's elements and [`negotiate_encoding`] picks the content
//! coding to answer with.
//!
//! ```
//! use brisk_http::{negotiate_encoding, Coding};
//!
//! let offered = [Coding::Zstd, Coding::Br, Coding::Gzip];
//! // The client's weights win; the server's order breaks ties.
//! assert_eq!(negotiate_encoding(Some(b"gzip, br;q=0.8"), &offered), Some(Coding::Gzip));
//! assert_eq!(negotiate_encoding(Some(b"gzip, br"), &offered), Some(Coding::Br));
//! // No header, or nothing offered that the client takes: the body as it is.
//! assert_eq!(negotiate_encoding(None, &offered), Some(Coding::Identity));
//! assert_eq!(negotiate_encoding(Some(b"deflate"), &offered), Some(Coding::Identity));
//! // The client refuses the body as it is and takes nothing offered: None
//! // (answer 406, or send identity anyway as RFC 9110 permits).
//! assert_eq!(negotiate_encoding(Some(b"identity;q=0, deflate"), &offered), None);
//! ```

use core::fmt;

/// A content coding brisk can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    /// No transformation.
    Identity,
    /// `gzip` (also spelled `x-gzip`).
    Gzip,
    /// `deflate` (zlib framing, RFC 1950).
    Deflate,
    /// `br` (Brotli, RFC 7932).
    Br,
    /// `zstd` (Zstandard, RFC 8878).
    Zstd,
}

impl Coding {
    /// The token as sent in `Content-Encoding` (`identity` for
    /// [`Coding::Identity`], which is never sent).
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The coding named by `token` (ASCII case-insensitive; `x-gzip` is
    /// gzip), or `None` for a coding brisk does not know.
    pub fn from_token(token: &[u8]) -> Option<Coding> {
        const NAMES: [(&[u8], Coding); 6] = [
            (b"identity", Coding::Identity),
            (b"gzip", Coding::Gzip),
            (b"x-gzip", Coding::Gzip),
            (b"deflate", Coding::Deflate),
            (b"br", Coding::Br),
            (b"zstd", Coding::Zstd),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|&(_, c)| c)
    }
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One element of an `Accept-Encoding` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingPref<'a> {
    /// The coding token as sent (`*` for any other coding); compare it
    /// ASCII case-insensitively, or use [`Coding::from_token`].
    pub token: &'a [u8],
    /// The weight in thousandths: 1000 is `q=1` (the default), 0 is
    /// "not acceptable".
    pub q: u16,
}

/// Why an `Accept-Encoding` element could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// An element's coding is not a token (RFC 9110 §5.6.2).
    BadToken,
    /// A weight is not `q=` followed by `0`, `0.ddd`, `1` or `1.000`
    /// (at most three decimals, RFC 9110 §12.4.2).
    BadWeight,
    /// A parameter other than the weight (Accept-Encoding has none).
    UnknownParameter,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcceptError::BadToken => "Accept-Encoding: a coding is not a token",
            AcceptError::BadWeight => {
                "Accept-Encoding: a weight is not q=0, q=0.ddd, q=1 or q=1.000"
            }
            AcceptError::UnknownParameter => {
                "Accept-Encoding: a parameter other than q (the header takes none)"
            }
        })
    }
}

impl std::error::Error for AcceptError {}

/// The elements of an `Accept-Encoding` value, in order; empty list
/// elements (`gzip,,br`) are skipped. An element that breaks the grammar
/// yields an error, after which the iterator ends.
///
/// ```
/// use brisk_http::{parse_accept_encoding, EncodingPref};
/// let v = b"gzip;q=0.5, BR , *;q=0";
/// let all: Vec<_> = parse_accept_encoding(v).collect::<Result<_, _>>().unwrap();
/// assert_eq!(all, [
///     EncodingPref { token: b"gzip", q: 500 },
///     EncodingPref { token: b"BR", q: 1000 },
///     EncodingPref { token: b"*", q: 0 },
/// ]);
/// ```
pub fn parse_accept_encoding(value: &[u8]) -> AcceptEncoding<'_> {
    AcceptEncoding {
        rest: value,
        failed: false,
    }
}

/// Iterator returned by [`parse_accept_encoding`].
#[derive(Clone, Debug)]
pub struct AcceptEncoding<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for AcceptEncoding<'a> {
    type Item = Result<EncodingPref<'a>, AcceptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let end = self
                .rest
                .iter()
                .position(|&b| b == b',')
                .unwrap_or(self.rest.len());
            let element = trim(&self.rest[..end]);
            self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
            if element.is_empty() {
                continue;
            }
            let parsed = parse_element(element);
            self.failed = parsed.is_err();
            return Some(parsed);
        }
    }
}

fn parse_element(element: &[u8]) -> Result<EncodingPref<'_>, AcceptError> {
    let mut parts = element.split(|&b| b == b';');
    let token = trim(parts.next().unwrap_or(&[]));
    if token.is_empty() || !token.iter().all(|&b| crate::chars::is_token(b)) {
        return Err(AcceptError::BadToken);
    }
    let mut q = 1000;
    let mut seen_q = false;
    for param in parts {
        let param = trim(param);
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (trim(&param[..i]), trim(&param[i + 1..])),
            None => (param, &b""[..]),
        };
        if !name.eq_ignore_ascii_case(b"q") || seen_q {
            return Err(AcceptError::UnknownParameter);
        }
        seen_q = true;
        q = parse_weight(value).ok_or(AcceptError::BadWeight)?;
    }
    Ok(EncodingPref { token, q })
}

/// `0(.d{0,3})? | 1(.0{0,3})?` in thousandths.
fn parse_weight(v: &[u8]) -> Option<u16> {
    let (&first, rest) = v.split_first()?;
    let decimals = match rest {
        [] => &[][..],
        [b'.', d @ ..] if d.len() <= 3 && d.iter().all(u8::is_ascii_digit) => d,
        _ => return None,
    };
    let mut frac = 0u16;
    for i in 0..3 {
        frac = frac * 10 + decimals.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match first {
        b'0' => Some(frac),
        b'1' if frac == 0 => Some(1000),
        _ => None,
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// Picks the content coding for a response from the request's
/// `Accept-Encoding` value (`None` when the header is absent) and the
/// codings the server can produce, in its order of preference (identity
/// need not be listed: the body as it is is always available).
///
/// - The offered coding with the highest weight wins; among equal weights
///   the one earlier in `offered`. A weight of 0 excludes a coding.
/// - `*` gives its weight to every coding the header does not name.
/// - Identity is chosen when no offered coding is acceptable, and also
///   when the client names it with a weight above the best offered one.
///   It is refused only by `identity;q=0`, or by `*;q=0` without an
///   `identity` element: then `None` (RFC 9110: answer 406, or send the
///   body unencoded anyway).
/// - No header, an empty value, or a value that breaks the grammar:
///   identity (a malformed header asks for nothing).
pub fn negotiate_encoding(header: Option<&[u8]>, offered: &[Coding]) -> Option<Coding> {
    let Some(value) = header else {
        return Some(Coding::Identity);
    };
    // Weight per coding as stated by the client: explicit, then `*`.
    let mut explicit: [Option<u16>; 5] = [None; 5];
    let mut star: Option<u16> = None;
    for element in parse_accept_encoding(value) {
        let Ok(pref) = element else {
            return Some(Coding::Identity);
        };
        if pref.token == b"*" {
            star = Some(star.map_or(pref.q, |s| s.max(pref.q)));
        } else if let Some(c) = Coding::from_token(pref.token) {
            let slot = &mut explicit[c as usize];
            *slot = Some(slot.map_or(pref.q, |s| s.max(pref.q)));
        }
    }
    let weight = |c: Coding| explicit[c as usize].or(star).unwrap_or(0);
    let mut best: Option<(Coding, u16)> = None;
    for &c in offered.iter().filter(|&&c| c != Coding::Identity) {
        let q = weight(c);
        if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((c, q));
        }
    }
    let identity_q = explicit[Coding::Identity as usize];
    let identity_ok = match identity_q {
        Some(q) => q > 0,
        None => star != Some(0),
    };
    match best {
        Some((_, bq)) if identity_q.is_some_and(|q| q > bq) => Some(Coding::Identity),
        Some((c, _)) => Some(c),
        None if identity_ok => Some(Coding::Identity),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Coding; 4] = [Coding::Zstd, Coding::Br, Coding::Gzip, Coding::Deflate];

    #[test]
    fn weights() {
        for (v, q) in [
            (&b"0"[..], Some(0)),
            (b"0.", Some(0)),
            (b"0.5", Some(500)),
            (b"0.05", Some(50)),
            (b"0.001", Some(1)),
            (b"0.999", Some(999)),
            (b"1", Some(1000)),
            (b"1.", Some(1000)),
            (b"1.000", Some(1000)),
            (b"1.001", None),
            (b"0.0001", None),
            (b"2", None),
            (b".5", None),
            (b"", None),
            (b"0,5", None),
            (b"0.5x", None),
            (b"-0", None),
        ] {
            assert_eq!(parse_weight(v), q, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn elements() {
        fn all(v: &[u8]) -> Vec<Result<EncodingPref<'_>, AcceptError>> {
            parse_accept_encoding(v).collect()
        }
        assert_eq!(all(b""), []);
        assert_eq!(all(b" , ,"), []);
        assert_eq!(
            all(b"gzip ; q=0.3 ,deflate"),
            [
                Ok(EncodingPref {
                    token: b"gzip",
                    q: 300
                }),
                Ok(EncodingPref {
                    token: b"deflate",
                    q: 1000
                })
            ]
        );
        assert_eq!(
            all(b"gzip;level=9, br"),
            [Err(AcceptError::UnknownParameter)]
        );
        assert_eq!(all(b"gzip;q=1;q=0"), [Err(AcceptError::UnknownParameter)]);
        assert_eq!(all(b"gz ip"), [Err(AcceptError::BadToken)]);
        assert_eq!(all(b";q=1"), [Err(AcceptError::BadToken)]);
        assert_eq!(all(b"gzip;q=high"), [Err(AcceptError::BadWeight)]);
        assert_eq!(all(b"gzip;q"), [Err(AcceptError::BadWeight)]);
    }

    #[test]
    fn negotiation_table() {
        use Coding::*;
        let cases: &[(Option<&[u8]>, Option<Coding>)] = &[
            (None, Some(Identity)),
            (Some(b""), Some(Identity)),
            (Some(b"gzip"), Some(Gzip)),
            (Some(b"x-gzip"), Some(Gzip)),
            (Some(b"GZIP"), Some(Gzip)),
            (Some(b"gzip, deflate, br, zstd"), Some(Zstd)),
            (Some(b"gzip, deflate, br"), Some(Br)),
            (Some(b"gzip;q=1, br;q=0.9"), Some(Gzip)),
            (Some(b"br;q=0, gzip;q=0.1"), Some(Gzip)),
            (Some(b"*"), Some(Zstd)),
            (Some(b"*;q=0.5, gzip"), Some(Gzip)),
            (Some(b"*, zstd;q=0"), Some(Br)),
            (Some(b"compress"), Some(Identity)),
            (Some(b"gzip;q=0"), Some(Identity)),
            (Some(b"identity"), Some(Identity)),
            (Some(b"identity;q=0"), None),
            (Some(b"identity;q=0, gzip"), Some(Gzip)),
            (Some(b"*;q=0"), None),
            (Some(b"*;q=0, identity"), Some(Identity)),
            (Some(b"*;q=0, gzip;q=0.2"), Some(Gzip)),
            (Some(b"identity, gzip;q=0.5"), Some(Identity)),
            (Some(b"identity;q=0.5, gzip;q=0.5"), Some(Gzip)),
            (Some(b"gzip;q=0, gzip;q=0.5"), Some(Gzip)),
            (Some(b"gzip;q=2"), Some(Identity)),
            (Some(b"gzip, br;foo=1"), Some(Identity)),
        ];
        for &(h, want) in cases {
            assert_eq!(
                negotiate_encoding(h, &ALL),
                want,
                "{:?}",
                h.map(String::from_utf8_lossy)
            );
        }
        // The server's order breaks ties.
        assert_eq!(
            negotiate_encoding(Some(b"gzip, br"), &[Gzip, Br]),
            Some(Gzip)
        );
        // Nothing offered: identity unless refused.
        assert_eq!(negotiate_encoding(Some(b"gzip"), &[]), Some(Identity));
        assert_eq!(negotiate_encoding(Some(b"*;q=0"), &[]), None);
    }

    #[test]
    fn tokens_round_trip() {
        for c in [
            Coding::Identity,
            Coding::Gzip,
            Coding::Deflate,
            Coding::Br,
            Coding::Zstd,
        ] {
            assert_eq!(Coding::from_token(c.as_str().as_bytes()), Some(c));
        }
        assert_eq!(Coding::from_token(b"compress"), None);
    }
}

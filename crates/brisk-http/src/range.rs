//! Range requests and conditional requests (RFC 9110 §13 and §14), without
//! I/O: [`parse_range`] resolves a `Range` value against a representation's
//! length, [`evaluate_preconditions`] runs the `If-*` headers in the order
//! RFC 9110 §13.2.2 gives, [`etag_list_matches`] compares an entity-tag
//! list, and [`parse_http_date`] reads the three HTTP date forms.
//!
//! ```
//! use brisk_http::{parse_range, ByteRange, RangeOutcome};
//!
//! // A single range of a 100-byte representation.
//! let RangeOutcome::Partial(r) = parse_range(b"bytes=0-9", 100) else { panic!() };
//! assert_eq!(r.as_slice(), &[ByteRange { start: 0, end: 10 }]);
//! // The last 10 bytes, and a range that runs past the end (clamped).
//! let RangeOutcome::Partial(r) = parse_range(b"bytes=-10, 95-200", 100) else { panic!() };
//! assert_eq!(r.as_slice(), &[ByteRange { start: 90, end: 100 }, ByteRange { start: 95, end: 100 }]);
//! // Nothing satisfiable: 416. Bad syntax: the header is ignored (200).
//! assert_eq!(parse_range(b"bytes=100-", 100), RangeOutcome::Unsatisfiable);
//! assert_eq!(parse_range(b"bytes=9-1", 100), RangeOutcome::Ignore);
//! ```

use core::fmt;

/// Most ranges [`parse_range`] accepts in one `Range` value; more is
/// [`RangeOutcome::TooMany`].
pub const MAX_RANGES: usize = 16;

/// A satisfiable byte range, half-open: `start..end`, `start < end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// Its length in bytes (never 0).
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always `false`: a satisfiable range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The satisfiable ranges of a `Range` value, in the order requested (at
/// most [`MAX_RANGES`]; no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    items: [ByteRange; MAX_RANGES],
    n: u8,
}

impl Ranges {
    /// The ranges, in request order.
    pub fn as_slice(&self) -> &[ByteRange] {
        &self.items[..usize::from(self.n)]
    }

    /// How many ranges (at least 1 in a [`RangeOutcome::Partial`]).
    pub fn len(&self) -> usize {
        usize::from(self.n)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The sum of the ranges' lengths.
    pub fn total(&self) -> u64 {
        self.as_slice()
            .iter()
            .fold(0u64, |t, r| t.saturating_add(r.len()))
    }
}

impl fmt::Debug for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// What a `Range` value asks of a representation of a given length.
///
/// A stack value of about 270 bytes: the ranges are held inline so that
/// parsing allocates nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Not a valid `bytes` range set (a syntax error, another unit, a
    /// `first-pos` after its `last-pos`): RFC 9110 §14.2 says to ignore
    /// the header and send the whole representation (200).
    Ignore,
    /// At least one range is satisfiable: these (the unsatisfiable ones
    /// left out), to be sent as 206.
    Partial(Ranges),
    /// Valid, but no range is satisfiable: 416 with
    /// `Content-Range: bytes */len`.
    Unsatisfiable,
    /// More than [`MAX_RANGES`] ranges, or satisfiable ranges whose sizes
    /// add up to more than the representation (they overlap): RFC 9110
    /// §14.2 lets a server ignore such a request; answer with the whole
    /// representation (200) rather than amplify it.
    TooMany,
}

/// Reads a `Range` value (RFC 9110 §14.1.2: `bytes=` then a list of
/// `first-last`, `first-` or `-suffix`, with optional whitespace around the
/// commas and empty list elements allowed) against a representation of
/// `len` bytes. The unit is matched case-insensitively. Numbers too large
/// for `u64` saturate (a position past any file).
///
/// Each range is clamped to the representation; unsatisfiable ones (a
/// `first-pos` at or past `len`, a zero suffix) are dropped, and when none
/// is left the outcome is [`RangeOutcome::Unsatisfiable`]. The request
/// order is kept (no coalescing).
pub fn parse_range(value: &[u8], len: u64) -> RangeOutcome {
    let Some(set) = strip_unit(value) else {
        return RangeOutcome::Ignore;
    };
    let mut out = Ranges {
        items: [ByteRange::default(); MAX_RANGES],
        n: 0,
    };
    let mut specs = 0usize;
    for raw in set.split(|&b| b == b',') {
        let spec = trim_ows(raw);
        if spec.is_empty() {
            continue;
        }
        let Some((first, last)) = split_once(spec, b'-') else {
            return RangeOutcome::Ignore;
        };
        let range = if first.is_empty() {
            // suffix-range
            let Some(suffix) = parse_digits(last) else {
                return RangeOutcome::Ignore;
            };
            (suffix > 0 && len > 0).then(|| ByteRange {
                start: len.saturating_sub(suffix),
                end: len,
            })
        } else {
            let Some(first) = parse_digits(first) else {
                return RangeOutcome::Ignore;
            };
            let last = if last.is_empty() {
                None
            } else {
                match parse_digits(last) {
                    Some(l) if l >= first => Some(l),
                    _ => return RangeOutcome::Ignore,
                }
            };
            (first < len).then(|| ByteRange {
                start: first,
                end: last.map_or(len, |l| l.saturating_add(1).min(len)),
            })
        };
        specs += 1;
        // Past the limit the rest is still checked: a value that breaks
        // the grammar anywhere is ignored, however many ranges it names.
        if let (Some(r), true) = (range, specs <= MAX_RANGES) {
            out.items[usize::from(out.n)] = r;
            out.n += 1;
        }
    }
    if specs == 0 {
        return RangeOutcome::Ignore;
    }
    if specs > MAX_RANGES {
        return RangeOutcome::TooMany;
    }
    if out.n == 0 {
        return RangeOutcome::Unsatisfiable;
    }
    if out.total() > len {
        return RangeOutcome::TooMany;
    }
    RangeOutcome::Partial(out)
}

/// The range set after `bytes=`, or `None` for another unit or no `=`.
fn strip_unit(value: &[u8]) -> Option<&[u8]> {
    let (unit, set) = split_once(value, b'=')?;
    unit.eq_ignore_ascii_case(b"bytes").then_some(set)
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Optional whitespace (space, tab) off both ends.
fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else { return &[] };
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .unwrap_or(start);
    &s[start..=end]
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn parse_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Writes a `Content-Range` value for `range` of a representation of
/// `len` bytes: `bytes 0-9/100` (the end inclusive, as sent).
pub fn write_content_range(out: &mut Vec<u8>, range: ByteRange, len: u64) {
    out.extend_from_slice(b"bytes ");
    push_u64(out, range.start);
    out.push(b'-');
    push_u64(out, range.end - 1);
    out.push(b'/');
    push_u64(out, len);
}

/// Appends `n` in decimal.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes the `Content-Range` value of a 416: `bytes */len`.
pub fn write_unsatisfied_range(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(b"bytes */");
    push_u64(out, len);
}

// ---- entity tags ----

/// Why an entity-tag list could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EtagError {
    /// An element is not `[W/]"opaque"` (or `*` is not alone).
    Syntax,
}

impl fmt::Display for EtagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed entity-tag list")
    }
}

impl std::error::Error for EtagError {}

/// One entity-tag: whether it is weak (`W/`) and its opaque part, quotes
/// included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// Sent with the `W/` prefix.
    pub weak: bool,
    /// The quoted string, quotes included (`"abc"`).
    pub opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Reads one entity-tag (`"abc"` or `W/"abc"`); `None` if it is not one.
    pub fn parse(s: &'a [u8]) -> Option<EntityTag<'a>> {
        let (weak, opaque) = match s.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let inner = opaque.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        // etagc = %x21 / %x23-7E / obs-text
        if !inner
            .iter()
            .all(|&c| c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80)
        {
            return None;
        }
        Some(EntityTag { weak, opaque })
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong, same opaque part.
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: the same opaque part, weak or not.
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Whether the `If-Match`/`If-None-Match` value `list` (`*`, or a list of
/// entity-tags) matches `current` (an entity-tag as [`EntityTag::parse`]
/// reads it), with strong (`If-Match`) or weak (`If-None-Match`)
/// comparison. `*` matches any current representation.
pub fn etag_list_matches(list: &[u8], current: &[u8], strong: bool) -> Result<bool, EtagError> {
    let cur = EntityTag::parse(current).ok_or(EtagError::Syntax)?;
    if trim_ows(list) == b"*" {
        return Ok(true);
    }
    let mut matched = false;
    let mut any = false;
    for raw in split_etag_list(list) {
        let el = trim_ows(raw?);
        if el.is_empty() {
            continue;
        }
        let tag = EntityTag::parse(el).ok_or(EtagError::Syntax)?;
        any = true;
        matched |= if strong {
            tag.strong_eq(&cur)
        } else {
            tag.weak_eq(&cur)
        };
    }
    if !any {
        return Err(EtagError::Syntax);
    }
    Ok(matched)
}

/// Splits on commas outside quoted strings (an opaque tag may hold a
/// comma).
fn split_etag_list(list: &[u8]) -> impl Iterator<Item = Result<&[u8], EtagError>> {
    let mut rest = Some(list);
    core::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        for (i, &b) in s.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(Ok(&s[..i]));
                }
                _ => {}
            }
        }
        rest = None;
        Some(if quoted {
            Err(EtagError::Syntax)
        } else {
            Ok(s)
        })
    })
}

// ---- HTTP dates ----

/// Reads an HTTP date (RFC 9110 §5.6.7): IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms every
/// recipient must accept, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`, a
/// two-digit year read as the nearest in 1970–2069) and asctime
/// (`Sun Nov  6 08:49:37 1994`). Seconds since the Unix epoch, or `None`
/// (a date before 1970 is `None`). The day name is not checked against the
/// date.
///
/// ```
/// use brisk_http::parse_http_date;
/// assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
/// assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(784111777));
/// assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(784111777));
/// assert_eq!(parse_http_date(b"yesterday"), None);
/// ```
pub fn parse_http_date(s: &[u8]) -> Option<u64> {
    let s = trim_ows(s);
    let comma = s.iter().position(|&b| b == b',');
    let (day, month, year, time) = match comma {
        Some(3) => {
            // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
            if s.len() != 29 || &s[4..5] != b" " || &s[25..] != b" GMT" {
                return None;
            }
            let day = num2(&s[5..7])?;
            expect(s[7], b' ')?;
            let month = month(&s[8..11])?;
            expect(s[11], b' ')?;
            let year = num(&s[12..16])?;
            expect(s[16], b' ')?;
            (day, month, year, &s[17..25])
        }
        Some(c) if (6..=9).contains(&c) => {
            // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
            let r = &s[c + 1..];
            if r.len() != 23 || r[0] != b' ' || &r[19..] != b" GMT" {
                return None;
            }
            let day = num2(&r[1..3])?;
            expect(r[3], b'-')?;
            let month = month(&r[4..7])?;
            expect(r[7], b'-')?;
            let yy = num2(&r[8..10])?;
            expect(r[10], b' ')?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (day, month, year, &r[11..19])
        }
        Some(_) => return None,
        None => {
            // asctime: "Sun Nov  6 08:49:37 1994"
            if s.len() != 24 || s[3] != b' ' || s[7] != b' ' || s[10] != b' ' || s[19] != b' ' {
                return None;
            }
            let month = month(&s[4..7])?;
            let day = match s[8] {
                b' ' => num(&s[9..10])?,
                _ => num2(&s[8..10])?,
            };
            let year = num(&s[20..24])?;
            (day, month, year, &s[11..19])
        }
    };
    if time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (h, m, sec) = (num2(&time[0..2])?, num2(&time[3..5])?, num2(&time[6..8])?);
    // 60 is a leap second, accepted as the next second's start.
    if h > 23 || m > 59 || sec > 60 || year < 1970 || day == 0 || day > days_in(month, year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

fn expect(b: u8, want: u8) -> Option<()> {
    (b == want).then_some(())
}

fn num(s: &[u8]) -> Option<u64> {
    parse_digits(s)
}

fn num2(s: &[u8]) -> Option<u64> {
    if s.len() == 2 { parse_digits(s) } else { None }
}

fn month(s: &[u8]) -> Option<u64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.as_slice() == s)
        .map(|i| i as u64 + 1)
}

fn days_in(month: u64, year: u64) -> u64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date at or after it (the civil-calendar
/// algorithm, counted in 400-year eras from March 1st).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---- preconditions ----

/// The conditional request headers of one request (each the raw value,
/// `None` when absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct Conditionals<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
}

/// The validators of the selected representation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Validators<'a> {
    /// Its entity-tag as sent in `ETag` (`"…"` or `W/"…"`).
    pub etag: Option<&'a [u8]>,
    /// Its modification time, seconds since the Unix epoch (as sent in
    /// `Last-Modified`).
    pub last_modified: Option<u64>,
}

/// What the preconditions say (RFC 9110 §13.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Go on; `range`: whether a `Range` header may be honoured (`If-Range`
    /// absent or matching).
    Proceed {
        /// A `Range` header may be honoured.
        range: bool,
    },
    /// 304 Not Modified (GET or HEAD only).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the preconditions in RFC 9110 §13.2.2's order: `If-Match`
/// (strong comparison; `*` matches), else `If-Unmodified-Since`; then
/// `If-None-Match` (weak comparison; a match is 304 for GET/HEAD, 412
/// otherwise), else `If-Modified-Since` (GET/HEAD only); then `If-Range`
/// (an entity-tag must match strongly, a date must equal `Last-Modified`
/// exactly). A header that does not parse is ignored, as if absent, except
/// that an unreadable `If-Match` fails (a client that conditions a change
/// on it must not see it applied) and an unreadable `If-Range` disables
/// the range. `safe`: the method is GET or HEAD.
pub fn evaluate_preconditions(
    safe: bool,
    c: &Conditionals<'_>,
    v: &Validators<'_>,
) -> Precondition {
    if let Some(im) = c.if_match {
        let ok = v
            .etag
            .is_some_and(|e| etag_list_matches(im, e, true).unwrap_or(false))
            || (trim_ows(im) == b"*" && v.etag.is_some());
        if !ok {
            return Precondition::Failed;
        }
    } else if let (Some(ius), Some(lm)) = (c.if_unmodified_since, v.last_modified) {
        if let Some(date) = parse_http_date(ius) {
            if lm > date {
                return Precondition::Failed;
            }
        }
    }
    if let Some(inm) = c.if_none_match {
        let matched = match v.etag {
            Some(e) => etag_list_matches(inm, e, false).unwrap_or(false),
            None => false,
        };
        if matched {
            return if safe {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if let (true, Some(ims), Some(lm)) = (safe, c.if_modified_since, v.last_modified) {
        if let Some(date) = parse_http_date(ims) {
            if lm <= date {
                return Precondition::NotModified;
            }
        }
    }
    let range = match c.if_range {
        None => true,
        Some(ir) => {
            let ir = trim_ows(ir);
            if ir.starts_with(b"\"") || ir.starts_with(b"W/") {
                match (EntityTag::parse(ir), v.etag.and_then(EntityTag::parse)) {
                    (Some(a), Some(b)) => a.strong_eq(&b),
                    _ => false,
                }
            } else {
                matches!((parse_http_date(ir), v.last_modified), (Some(d), Some(lm)) if d == lm)
            }
        }
    };
    Precondition::Proceed { range }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(v: &str, len: u64) -> Vec<(u64, u64)> {
        match parse_range(v.as_bytes(), len) {
            RangeOutcome::Partial(r) => r.as_slice().iter().map(|r| (r.start, r.end)).collect(),
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(partial("bytes=0-9", 100), [(0, 10)]);
        assert_eq!(partial("BYTES=0-", 100), [(0, 100)]);
        assert_eq!(partial("bytes=-1", 100), [(99, 100)]);
        assert_eq!(partial("bytes=-500", 100), [(0, 100)]);
        assert_eq!(partial("bytes=90-1000", 100), [(90, 100)]);
        assert_eq!(partial("bytes=0-0,-1", 100), [(0, 1), (99, 100)]);
        assert_eq!(partial("bytes= 0-1 ,\t5-6 , ", 100), [(0, 2), (5, 7)]);
        assert_eq!(partial("bytes=,0-1", 100), [(0, 2)]);
        // Unsatisfiable ones are dropped when another is satisfiable.
        assert_eq!(partial("bytes=200-300,0-1", 100), [(0, 2)]);
        assert_eq!(partial("bytes=0-99999999999999999999999", 100), [(0, 100)]);
    }

    #[test]
    fn range_refusals() {
        use RangeOutcome::*;
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=--1",
            "bytes=5-1",
            "bytes=0-1-2",
            "bytes=+1-2",
            "bytes=0 -1",
            "bytes =0-1",
            "bytes=-",
        ] {
            assert_eq!(parse_range(bad.as_bytes(), 100), Ignore, "{bad:?}");
        }
        assert_eq!(parse_range(b"bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-5", 0), Unsatisfiable);
        assert_eq!(
            parse_range(b"bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
        let many = format!("bytes={}", vec!["0-0"; 17].join(","));
        assert_eq!(parse_range(many.as_bytes(), 100), TooMany);
        let sixteen = format!(
            "bytes={}",
            (0..16)
                .map(|i| format!("{i}-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(matches!(parse_range(sixteen.as_bytes(), 100), Partial(r) if r.len() == 16));
        assert_eq!(parse_range(b"bytes=0-60,40-99", 100), TooMany);
    }

    #[test]
    fn content_range() {
        let mut v = Vec::new();
        write_content_range(&mut v, ByteRange { start: 0, end: 10 }, 100);
        assert_eq!(v, b"bytes 0-9/100");
        v.clear();
        write_unsatisfied_range(&mut v, 100);
        assert_eq!(v, b"bytes */100");
    }

    #[test]
    fn etags() {
        assert_eq!(etag_list_matches(b"\"a\"", b"\"a\"", true), Ok(true));
        assert_eq!(etag_list_matches(b"W/\"a\"", b"\"a\"", true), Ok(false));
        assert_eq!(etag_list_matches(b"W/\"a\"", b"\"a\"", false), Ok(true));
        assert_eq!(
            etag_list_matches(b"\"x\", \"a,b\"", b"\"a,b\"", true),
            Ok(true)
        );
        assert_eq!(etag_list_matches(b" * ", b"\"a\"", true), Ok(true));
        assert_eq!(
            etag_list_matches(b"\"b\" ,, \"c\"", b"\"a\"", false),
            Ok(false)
        );
        assert_eq!(
            etag_list_matches(b"a", b"\"a\"", false),
            Err(EtagError::Syntax)
        );
        assert_eq!(
            etag_list_matches(b"\"a", b"\"a\"", false),
            Err(EtagError::Syntax)
        );
        assert_eq!(
            etag_list_matches(b"", b"\"a\"", false),
            Err(EtagError::Syntax)
        );
        assert_eq!(
            etag_list_matches(b"\"a\"", b"a", false),
            Err(EtagError::Syntax)
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date(b"Tue, 29 Feb 2000 23:59:59 GMT"),
            Some(951_868_799)
        );
        assert_eq!(
            parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        assert_eq!(
            parse_http_date(b"Thursday, 01-Jan-70 00:00:00 GMT"),
            Some(0)
        );
        assert_eq!(
            parse_http_date(b"Tue Feb 29 23:59:59 2000"),
            Some(951_868_799)
        );
        for bad in [
            "Tue, 29 Feb 2001 00:00:00 GMT",
            "Tue, 00 Feb 2001 00:00:00 GMT",
            "Tue, 01 Feb 2001 24:00:00 GMT",
            "Tue, 01 Foo 2001 00:00:00 GMT",
            "Tue, 01 Feb 2001 00:00:00 UTC",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Tue, 1 Feb 2001 00:00:00 GMT",
            "",
            "Tue,",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad}");
        }
        for t in [
            0u64,
            784_111_777,
            951_868_799,
            1_700_000_000,
            253_402_300_799,
        ] {
            assert_eq!(parse_http_date(&crate::date::format_http_date(t)), Some(t));
        }
    }

    #[test]
    fn preconditions() {
        let v = Validators {
            etag: Some(b"\"v1\""),
            last_modified: Some(1_000_000),
        };
        let at = |t: u64| crate::date::format_http_date(t);
        let (old, same, new) = (at(999_999), at(1_000_000), at(1_000_001));
        let eval = |safe, c: Conditionals<'_>| evaluate_preconditions(safe, &c, &v);
        let go = Precondition::Proceed { range: true };
        assert_eq!(eval(true, Conditionals::default()), go);
        let c = |f: fn(&mut Conditionals<'static>)| {
            let mut c = Conditionals::default();
            f(&mut c);
            c
        };
        assert_eq!(eval(true, c(|c| c.if_match = Some(b"\"v1\""))), go);
        assert_eq!(
            eval(true, c(|c| c.if_match = Some(b"W/\"v1\""))),
            Precondition::Failed
        );
        assert_eq!(eval(true, c(|c| c.if_match = Some(b"*"))), go);
        assert_eq!(
            eval(true, c(|c| c.if_match = Some(b"junk"))),
            Precondition::Failed
        );
        assert_eq!(
            eval(true, c(|c| c.if_none_match = Some(b"\"v1\""))),
            Precondition::NotModified
        );
        assert_eq!(
            eval(true, c(|c| c.if_none_match = Some(b"W/\"v1\""))),
            Precondition::NotModified
        );
        assert_eq!(
            eval(true, c(|c| c.if_none_match = Some(b"*"))),
            Precondition::NotModified
        );
        assert_eq!(
            eval(false, c(|c| c.if_none_match = Some(b"*"))),
            Precondition::Failed
        );
        assert_eq!(eval(true, c(|c| c.if_none_match = Some(b"\"v0\""))), go);

        let mut cc = Conditionals {
            if_modified_since: Some(&same),
            ..Conditionals::default()
        };
        assert_eq!(eval(true, cc), Precondition::NotModified);
        assert_eq!(eval(false, cc), go);
        cc.if_modified_since = Some(&old);
        assert_eq!(eval(true, cc), go);
        // If-None-Match wins over If-Modified-Since.
        cc.if_modified_since = Some(&new);
        cc.if_none_match = Some(b"\"v0\"");
        assert_eq!(eval(true, cc), go);

        let mut cc = Conditionals {
            if_unmodified_since: Some(&old),
            ..Conditionals::default()
        };
        assert_eq!(eval(true, cc), Precondition::Failed);
        cc.if_unmodified_since = Some(&same);
        assert_eq!(eval(true, cc), go);
        cc.if_unmodified_since = Some(b"garbage");
        assert_eq!(eval(true, cc), go);

        let no_range = Precondition::Proceed { range: false };
        let mut cc = Conditionals {
            if_range: Some(b"\"v1\""),
            ..Conditionals::default()
        };
        assert_eq!(eval(true, cc), go);
        cc.if_range = Some(b"W/\"v1\"");
        assert_eq!(eval(true, cc), no_range);
        cc.if_range = Some(b"\"v2\"");
        assert_eq!(eval(true, cc), no_range);
        cc.if_range = Some(&same);
        assert_eq!(eval(true, cc), go);
        cc.if_range = Some(&new);
        assert_eq!(eval(true, cc), no_range);
        cc.if_range = Some(b"nonsense");
        assert_eq!(eval(true, cc), no_range);
    }

    /// Generated range sets: each spec is resolved by a model of RFC 9110
    /// §14.1.2 and compared, in order, with what `parse_range` returns.
    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Spec {
            FromTo(u64, u64),
            From(u64),
            Suffix(u64),
        }

        fn spec() -> impl Strategy<Value = Spec> {
            prop_oneof![
                (0u64..300, 0u64..300).prop_map(|(a, b)| Spec::FromTo(a.min(b), a.max(b))),
                (0u64..300).prop_map(Spec::From),
                (0u64..300).prop_map(Spec::Suffix),
            ]
        }

        proptest! {
            #[test]
            fn matches_the_model(
                specs in prop::collection::vec(spec(), 1..20),
                len in 0u64..250,
                ows in any::<bool>(),
            ) {
                let sep = if ows { " ,\t" } else { "," };
                let text: Vec<String> = specs
                    .iter()
                    .map(|s| match s {
                        Spec::FromTo(a, b) => format!("{a}-{b}"),
                        Spec::From(a) => format!("{a}-"),
                        Spec::Suffix(n) => format!("-{n}"),
                    })
                    .collect();
                let value = format!("bytes={}", text.join(sep));
                let want: Vec<ByteRange> = specs
                    .iter()
                    .filter_map(|s| {
                        let (start, end) = match *s {
                            Spec::FromTo(a, b) => (a, (b + 1).min(len)),
                            Spec::From(a) => (a, len),
                            Spec::Suffix(0) => return None,
                            Spec::Suffix(n) => (len.saturating_sub(n), len),
                        };
                        (start < len && start < end).then_some(ByteRange { start, end })
                    })
                    .collect();
                let total: u64 = want.iter().map(ByteRange::len).sum();
                let got = parse_range(value.as_bytes(), len);
                if specs.len() > MAX_RANGES {
                    prop_assert_eq!(got, RangeOutcome::TooMany);
                } else if want.is_empty() {
                    prop_assert_eq!(got, RangeOutcome::Unsatisfiable);
                } else if total > len {
                    prop_assert_eq!(got, RangeOutcome::TooMany);
                } else {
                    match got {
                        RangeOutcome::Partial(r) => prop_assert_eq!(r.as_slice(), &want[..]),
                        other => prop_assert!(false, "{:?} for {}", other, value),
                    }
                }
            }
        }
    }
}

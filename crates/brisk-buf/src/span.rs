//! `Span`: a (start, len) pair that names bytes inside a buffer.

/// Names `len` bytes starting at `start` inside some buffer, without
/// borrowing it.
///
/// Parsers return spans instead of slices so that the parsed result does not
/// borrow the input buffer; callers resolve a span against the same buffer
/// with [`Span::get`] (no copy). A span is 8 bytes, so a header table of spans
/// stays small and `Copy`.
///
/// ```
/// use brisk_buf::Span;
/// let buf = b"GET /index.html HTTP/1.1";
/// let path = Span::new(4, 11);
/// assert_eq!(path.get(buf), b"/index.html");
/// assert!(Span::new(0, 3).eq_ignore_ascii_case(buf, b"get"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Span {
    /// The empty span at offset 0.
    pub const EMPTY: Span = Span { start: 0, len: 0 };

    /// A span of `len` bytes starting at `start`.
    #[inline]
    pub const fn new(start: u32, len: u32) -> Span {
        Span { start, len }
    }

    /// The span covering `start..end` (byte offsets).
    ///
    /// Returns `None` when `end < start` or an offset does not fit in `u32`.
    #[inline]
    pub fn from_range(start: usize, end: usize) -> Option<Span> {
        if end < start {
            return None;
        }
        let s = u32::try_from(start).ok()?;
        let l = u32::try_from(end - start).ok()?;
        Some(Span { start: s, len: l })
    }

    /// Offset one past the last byte.
    #[inline]
    pub const fn end(self) -> usize {
        self.start as usize + self.len as usize
    }

    /// Whether the span names no bytes.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The span as a `Range<usize>`.
    #[inline]
    pub const fn range(self) -> core::ops::Range<usize> {
        self.start as usize..self.end()
    }

    /// Borrows the named bytes from `buf` without copying.
    ///
    /// A span that does not lie inside `buf` yields the empty slice rather
    /// than panicking; use [`Span::try_get`] to tell the two apart.
    #[inline]
    pub fn get(self, buf: &[u8]) -> &[u8] {
        self.try_get(buf).unwrap_or(&[])
    }

    /// Borrows the named bytes from `buf`, or `None` if the span does not lie
    /// inside `buf`.
    #[inline]
    pub fn try_get(self, buf: &[u8]) -> Option<&[u8]> {
        buf.get(self.range())
    }

    /// Mutably borrows the named bytes (for in-place rewriting such as
    /// header-name normalization). Out-of-range spans yield an empty slice.
    #[inline]
    pub fn get_mut(self, buf: &mut [u8]) -> &mut [u8] {
        match buf.get_mut(self.range()) {
            Some(s) => s,
            None => &mut [],
        }
    }

    /// The named bytes as `&str`, if they lie inside `buf` and are UTF-8.
    #[inline]
    pub fn as_str(self, buf: &[u8]) -> Option<&str> {
        core::str::from_utf8(self.try_get(buf)?).ok()
    }

    /// Whether the named bytes equal `other`, ignoring ASCII case.
    #[inline]
    pub fn eq_ignore_ascii_case(self, buf: &[u8], other: &[u8]) -> bool {
        self.try_get(buf)
            .is_some_and(|s| s.eq_ignore_ascii_case(other))
    }

    /// Whether the named bytes start with `prefix`, ignoring ASCII case.
    #[inline]
    pub fn starts_with_ignore_ascii_case(self, buf: &[u8], prefix: &[u8]) -> bool {
        self.try_get(buf)
            .is_some_and(|s| starts_with_ignore_ascii_case(s, prefix))
    }

    /// The span moved `delta` bytes later (for spans relative to a sub-slice).
    /// Returns `None` on overflow.
    #[inline]
    pub fn offset(self, delta: usize) -> Option<Span> {
        let d = u32::try_from(delta).ok()?;
        Some(Span {
            start: self.start.checked_add(d)?,
            len: self.len,
        })
    }

    /// The sub-span `from..to` relative to this span's start, or `None` if it
    /// does not fit inside this span.
    #[inline]
    pub fn sub(self, from: usize, to: usize) -> Option<Span> {
        if from > to || to > self.len as usize {
            return None;
        }
        Some(Span {
            start: self.start + from as u32,
            len: (to - from) as u32,
        })
    }
}

/// Whether `a` starts with `prefix`, ignoring ASCII case.
#[inline]
pub fn starts_with_ignore_ascii_case(a: &[u8], prefix: &[u8]) -> bool {
    a.len() >= prefix.len() && a[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether `a` equals `b`, ignoring ASCII case (a `const`-free, inlinable
/// helper for byte strings of header names and tokens).
#[inline]
pub fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_in_and_out_of_range() {
        let buf = b"hello world";
        assert_eq!(Span::new(6, 5).get(buf), b"world");
        assert_eq!(Span::new(6, 6).get(buf), b"");
        assert_eq!(Span::new(6, 6).try_get(buf), None);
        assert_eq!(Span::new(u32::MAX, u32::MAX).try_get(buf), None);
        assert_eq!(Span::EMPTY.get(buf), b"");
    }

    #[test]
    fn from_range_and_sub() {
        assert_eq!(Span::from_range(2, 5), Some(Span::new(2, 3)));
        assert_eq!(Span::from_range(5, 2), None);
        let s = Span::new(10, 6);
        assert_eq!(s.sub(1, 3), Some(Span::new(11, 2)));
        assert_eq!(s.sub(1, 7), None);
        assert_eq!(s.offset(5), Some(Span::new(15, 6)));
        assert_eq!(Span::new(u32::MAX, 1).offset(1), None);
    }

    #[test]
    fn case_insensitive() {
        let buf = b"Content-Type: text/plain";
        let name = Span::new(0, 12);
        assert!(name.eq_ignore_ascii_case(buf, b"content-type"));
        assert!(!name.eq_ignore_ascii_case(buf, b"content-typ"));
        assert!(name.starts_with_ignore_ascii_case(buf, b"CONTENT-"));
        assert!(!Span::new(100, 1).eq_ignore_ascii_case(buf, b""));
        let mut owned = buf.to_vec();
        name.get_mut(&mut owned).make_ascii_lowercase();
        assert_eq!(&owned[..12], b"content-type");
        assert_eq!(name.as_str(buf), Some("Content-Type"));
    }
}

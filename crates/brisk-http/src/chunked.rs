//! Chunked transfer coding (RFC 9112 §7.1): the in-place incremental
//! [`ChunkedDecoder`] and the [`ChunkedEncoder`].

use brisk_buf::{ByteBuffer, Span};
use smallvec::SmallVec;

use crate::chars::{HEX, VALUE, is_token, is_token_str, is_value_str};
use crate::error::{ErrorKind, HeaderError, ParseError};
use crate::parser::Limits;
use crate::request::HeaderField;

/// Incremental, in-place decoder of a chunked request body.
///
/// The caller keeps the raw body bytes in one buffer and calls
/// [`decode`](Self::decode) whenever more arrived. Payload bytes are moved
/// down (compacted) inside the same buffer, so the decoded body ends up
/// contiguous at its front with no second buffer and no copy beyond that
/// one move.
///
/// Strictness: chunk sizes are 1 to 16 hexadecimal digits (no sign, no
/// `0x`, no whitespace); extensions must be `;name[=token|quoted-string]`
/// and fit in [`Limits::max_chunk_ext`]; every line ends with CRLF (bare CR
/// or LF is an error); chunk data must be followed by CRLF; the trailer
/// section follows the header-field rules and must fit in
/// [`Limits::max_trailer_size`]. The decoder does not limit the body size:
/// the caller compares `written` with its own maximum.
///
/// ```
/// use brisk_http::{ChunkedDecoder, Limits};
/// let mut buf = b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nExpires: never\r\n\r\nNEXT".to_vec();
/// let mut dec = ChunkedDecoder::new(&Limits::default());
/// let p = dec.decode(&mut buf, 0, 0).unwrap();
/// assert!(p.done);
/// assert_eq!(&buf[..p.written], b"Wikipedia");
/// assert_eq!(&buf[p.read..], b"NEXT"); // the next pipelined request
/// let t = dec.trailers()[0];
/// assert_eq!(t.name.get(&buf), b"Expires");
/// assert_eq!(t.value.get(&buf), b"never");
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    max_trailer_size: usize,
    max_chunk_ext: usize,
    state: DecodeState,
    /// Trailer fields. INVARIANT: relative to the start of the trailer
    /// section while `state` is `Trailers`; absolute offsets into the buffer
    /// of the `decode` call that finished once `state` is `Done`.
    trailers: SmallVec<[HeaderField; 4]>,
    /// Bytes of the trailer section (from its start) already split into
    /// complete, validated lines.
    trailer_lines: usize,
    /// Bytes of the trailer section (from its start) known to contain no LF
    /// after `trailer_lines`: where the next search for a line end resumes.
    trailer_scan: usize,
}

/// What one [`ChunkedDecoder::decode`] call achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkedProgress {
    /// Raw input consumed up to here: `buf[read..]` is still to be decoded
    /// (or, when `done`, belongs to the next message).
    pub read: usize,
    /// Decoded body so far: `buf[..written]`.
    pub written: usize,
    /// Whether the last chunk, the trailers and the final CRLF were read.
    pub done: bool,
}

/// Writes a body with the chunked transfer coding.
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use brisk_http::ChunkedEncoder;
/// let mut out = ByteBuffer::new();
/// let mut enc = ChunkedEncoder::new();
/// enc.write_chunk(b"hello, ", &mut out);
/// enc.write_chunk(b"", &mut out); // empty chunks are skipped: "0" would end the body
/// enc.write_chunk(b"world", &mut out);
/// enc.finish(&mut out);
/// assert_eq!(out.as_slice(), b"7\r\nhello, \r\n5\r\nworld\r\n0\r\n\r\n");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkedEncoder {
    finished: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecodeState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data; the value is the number of bytes still to come.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Inside the trailer section (after the last chunk).
    Trailers,
    /// The message is complete.
    Done,
}

/// Most hex digits in a chunk size: 16 digits fill 64 bits.
const MAX_SIZE_DIGITS: usize = 16;

impl ChunkedDecoder {
    /// A decoder enforcing `limits.max_chunk_ext` and
    /// `limits.max_trailer_size`.
    pub fn new(limits: &Limits) -> ChunkedDecoder {
        ChunkedDecoder {
            max_trailer_size: limits.max_trailer_size,
            max_chunk_ext: limits.max_chunk_ext,
            state: DecodeState::Size,
            trailers: SmallVec::new(),
            trailer_lines: 0,
            trailer_scan: 0,
        }
    }

    /// Ready for the next body (keeps the limits and allocations).
    pub fn reset(&mut self) {
        self.state = DecodeState::Size;
        self.trailers.clear();
        self.trailer_lines = 0;
        self.trailer_scan = 0;
    }

    /// Whether the whole chunked message has been decoded.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// Bytes of chunk data announced by the current chunk's size line and
    /// not yet received (0 between chunks). A caller enforcing a body limit
    /// may reject early when `written + remaining_in_chunk()` exceeds it.
    #[inline]
    pub fn remaining_in_chunk(&self) -> u64 {
        match self.state {
            DecodeState::Data(n) => n,
            _ => 0,
        }
    }

    /// Decodes as much as possible.
    ///
    /// On entry `buf[..written]` is body already decoded and `buf[read..]`
    /// raw input not yet consumed (`written <= read <= buf.len()`). Payload
    /// bytes are moved down so that afterwards `buf[..progress.written]` is
    /// the decoded body so far, and `progress.read` is how far input was
    /// consumed; bytes between them are garbage the caller may overwrite.
    /// An unfinished line (chunk size or trailer) is not consumed: it is
    /// read again, from `progress.read`, on the next call. Between calls the
    /// caller may move the unconsumed input anywhere (for example down to
    /// `written`) as long as it passes the new offsets.
    ///
    /// When `done`, `progress.read` is one past the end of the message and
    /// any bytes after it belong to the next pipelined request; further
    /// calls return the same offsets.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for a malformed or over-limit chunk size, extension,
    /// data terminator or trailer, or [`ErrorKind::InvalidDecoderState`] if
    /// the offsets are inconsistent.
    pub fn decode(
        &mut self,
        buf: &mut [u8],
        read: usize,
        written: usize,
    ) -> Result<ChunkedProgress, ParseError> {
        if written > read || read > buf.len() {
            return Err(ParseError::new(ErrorKind::InvalidDecoderState));
        }
        let mut r = read;
        let mut w = written;
        loop {
            match self.state {
                DecodeState::Size => match size_line(&buf[r..], self.max_chunk_ext)? {
                    None => break,
                    Some((0, len)) => {
                        r += len;
                        self.state = DecodeState::Trailers;
                        self.trailers.clear();
                        self.trailer_lines = 0;
                        self.trailer_scan = 0;
                    }
                    Some((size, len)) => {
                        r += len;
                        self.state = DecodeState::Data(size);
                    }
                },
                DecodeState::Data(rem) => {
                    let avail = buf.len() - r;
                    let n = rem.min(avail as u64) as usize;
                    if n == 0 {
                        break;
                    }
                    if w != r {
                        buf.copy_within(r..r + n, w);
                    }
                    r += n;
                    w += n;
                    let left = rem - n as u64;
                    self.state = if left == 0 {
                        DecodeState::DataEnd
                    } else {
                        DecodeState::Data(left)
                    };
                }
                DecodeState::DataEnd => match buf.get(r..) {
                    Some([b'\r', b'\n', ..]) => {
                        r += 2;
                        self.state = DecodeState::Size;
                    }
                    Some([] | [b'\r']) => break,
                    _ => return Err(ParseError::new(ErrorKind::InvalidChunkData)),
                },
                DecodeState::Trailers => match self.trailer_section(&buf[r..])? {
                    None => break,
                    Some(len) => {
                        // Relative offsets become absolute; a buffer beyond
                        // 4 GiB cannot be named by spans, so the (validated)
                        // trailers are dropped then.
                        match u32::try_from(r + len) {
                            Ok(_) => {
                                for f in &mut self.trailers {
                                    f.name.start += r as u32;
                                    f.value.start += r as u32;
                                }
                            }
                            Err(_) => self.trailers.clear(),
                        }
                        r += len;
                        self.state = DecodeState::Done;
                    }
                },
                DecodeState::Done => break,
            }
        }
        Ok(ChunkedProgress {
            read: r,
            written: w,
            done: self.state == DecodeState::Done,
        })
    }

    /// The trailer fields, once [`decode`](Self::decode) reported `done`
    /// (empty before). Their spans are offsets into the buffer given to the
    /// `decode` call that finished, valid until the caller moves those bytes
    /// (empty if the trailers end beyond 4 GiB into that buffer, where spans
    /// cannot reach).
    pub fn trailers(&self) -> &[HeaderField] {
        if self.state == DecodeState::Done {
            &self.trailers
        } else {
            &[]
        }
    }

    /// Scans the trailer section at the start of `t` (relative offsets).
    /// `Ok(Some(len))`: complete, `len` bytes including the final CRLF.
    fn trailer_section(&mut self, t: &[u8]) -> Result<Option<usize>, ParseError> {
        let cap = self.max_trailer_size.min(u32::MAX as usize - 1);
        let (win, at_cap) = match t.get(..cap) {
            Some(w) => (w, true),
            None => (t, false),
        };
        loop {
            let start = self.trailer_lines;
            let from = self.trailer_scan.max(start);
            let Some(lf) = win
                .get(from..)
                .and_then(|s| memchr::memchr(b'\n', s))
                .map(|k| from + k)
            else {
                self.trailer_scan = win.len();
                if at_cap {
                    return Err(ParseError::new(ErrorKind::TrailersTooLarge));
                }
                return Ok(None);
            };
            if lf == start || win[lf - 1] != b'\r' {
                return Err(ParseError::new(ErrorKind::BareLf));
            }
            let line = &win[start..lf - 1];
            self.trailer_lines = lf + 1;
            self.trailer_scan = lf + 1;
            if line.is_empty() {
                return Ok(Some(lf + 1));
            }
            let (name_end, vstart, vend) = field_line(line)?;
            self.trailers.push(HeaderField {
                name: Span::new(start as u32, name_end as u32),
                value: Span::new((start + vstart) as u32, (vend - vstart) as u32),
            });
        }
    }
}

/// Parses a chunk-size line at the start of `s`.
/// `Ok(Some((size, line_len)))` when complete, `Ok(None)` when partial.
fn size_line(s: &[u8], max_ext: usize) -> Result<Option<(u64, usize)>, ParseError> {
    let mut size: u64 = 0;
    let mut i = 0;
    loop {
        let Some(&b) = s.get(i) else { return Ok(None) };
        let d = HEX[b as usize];
        if d == 0xff {
            break;
        }
        if i == MAX_SIZE_DIGITS {
            return Err(ParseError::new(ErrorKind::ChunkSizeOverflow));
        }
        size = (size << 4) | u64::from(d);
        i += 1;
    }
    if i == 0 {
        return Err(ParseError::new(ErrorKind::InvalidChunkSize));
    }
    match s[i] {
        b'\r' => match s.get(i + 1) {
            Some(b'\n') => Ok(Some((size, i + 2))),
            Some(_) => Err(ParseError::new(ErrorKind::BareCr)),
            None => Ok(None),
        },
        b'\n' => Err(ParseError::new(ErrorKind::BareLf)),
        b';' | b' ' | b'\t' => {
            let lim = i.saturating_add(max_ext).saturating_add(2);
            let (win, at_cap) = match s.get(..lim) {
                Some(w) => (w, true),
                None => (s, false),
            };
            match chunk_ext(win, i)? {
                Some(end) => Ok(Some((size, end))),
                None if at_cap => Err(ParseError::new(ErrorKind::ChunkExtensionTooLong)),
                None => Ok(None),
            }
        }
        _ => Err(ParseError::new(ErrorKind::InvalidChunkSize)),
    }
}

/// Validates `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
/// followed by CRLF, starting at `s[i]`. Returns the offset after the LF,
/// or `None` if `s` ends first.
fn chunk_ext(s: &[u8], mut i: usize) -> Result<Option<usize>, ParseError> {
    let err = |k| Err(ParseError::new(k));
    let mut seen_ext = false;
    loop {
        // BWS ";"  or the line end
        while let Some(b' ' | b'\t') = s.get(i) {
            i += 1;
        }
        match s.get(i) {
            None => return Ok(None),
            Some(b';') => i += 1,
            Some(b'\r')
                if seen_ext && matches!(s.get(i - 1), Some(b) if *b != b' ' && *b != b'\t') =>
            {
                return match s.get(i + 1) {
                    Some(b'\n') => Ok(Some(i + 2)),
                    Some(_) => err(ErrorKind::BareCr),
                    None => Ok(None),
                };
            }
            Some(b'\r' | b'\n') if !seen_ext => return err(ErrorKind::InvalidChunkSize),
            Some(b'\n') => return err(ErrorKind::BareLf),
            Some(_) => return err(ErrorKind::InvalidChunkExtension),
        }
        seen_ext = true;
        // BWS name
        while let Some(b' ' | b'\t') = s.get(i) {
            i += 1;
        }
        let name_start = i;
        while let Some(&b) = s.get(i) {
            if !is_token(b) {
                break;
            }
            i += 1;
        }
        if i == s.len() {
            return Ok(None);
        }
        if i == name_start {
            return err(ErrorKind::InvalidChunkExtension);
        }
        // [ BWS "=" BWS value ]
        let mut j = i;
        while let Some(b' ' | b'\t') = s.get(j) {
            j += 1;
        }
        match s.get(j) {
            None => return Ok(None),
            Some(b'=') => {
                i = j + 1;
                while let Some(b' ' | b'\t') = s.get(i) {
                    i += 1;
                }
                match s.get(i) {
                    None => return Ok(None),
                    Some(b'"') => {
                        i += 1;
                        loop {
                            match s.get(i) {
                                None => return Ok(None),
                                Some(b'"') => {
                                    i += 1;
                                    break;
                                }
                                Some(b'\\') => match s.get(i + 1) {
                                    None => return Ok(None),
                                    Some(&q) if VALUE[q as usize] => i += 2,
                                    Some(_) => return err(ErrorKind::InvalidChunkExtension),
                                },
                                Some(&q) if VALUE[q as usize] => i += 1,
                                Some(_) => return err(ErrorKind::InvalidChunkExtension),
                            }
                        }
                    }
                    Some(&b) if is_token(b) => {
                        while let Some(&b) = s.get(i) {
                            if !is_token(b) {
                                break;
                            }
                            i += 1;
                        }
                        if i == s.len() {
                            return Ok(None);
                        }
                    }
                    Some(_) => return err(ErrorKind::InvalidChunkExtension),
                }
            }
            Some(_) => {}
        }
    }
}

/// Validates one complete field line (without its CRLF) with the header
/// rules. Returns `(name_end, value_start, value_end)`.
fn field_line(line: &[u8]) -> Result<(usize, usize, usize), ParseError> {
    let err = |k| Err(ParseError::new(k));
    let name_end = line
        .iter()
        .position(|&b| !is_token(b))
        .unwrap_or(line.len());
    match line.get(name_end) {
        Some(b':') if name_end > 0 => {}
        _ if name_end == 0 => {
            return err(match line.first() {
                Some(b' ' | b'\t') => ErrorKind::ObsFold,
                _ => ErrorKind::InvalidHeaderName,
            });
        }
        Some(b' ' | b'\t') => return err(ErrorKind::WhitespaceBeforeColon),
        None | Some(b'\r') => return err(ErrorKind::MissingColon),
        Some(_) => return err(ErrorKind::InvalidHeaderName),
    }
    let mut vstart = name_end + 1;
    while let Some(b' ' | b'\t') = line.get(vstart) {
        vstart += 1;
    }
    let mut vend = line.len();
    if let Some(k) = line[vstart..].iter().position(|&b| !VALUE[b as usize]) {
        return err(if line[vstart + k] == b'\r' {
            ErrorKind::BareCr
        } else {
            ErrorKind::InvalidHeaderValue
        });
    }
    while vend > vstart && matches!(line[vend - 1], b' ' | b'\t') {
        vend -= 1;
    }
    Ok((name_end, vstart, vend))
}

impl ChunkedEncoder {
    /// An encoder at the start of a body.
    pub const fn new() -> ChunkedEncoder {
        ChunkedEncoder { finished: false }
    }

    /// Ready for another body.
    pub fn reset(&mut self) {
        self.finished = false;
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Appends `data` as one chunk (`size CRLF data CRLF`). An empty `data`
    /// writes nothing (a zero-size chunk would end the body), and so does
    /// any call after [`finish`](Self::finish).
    pub fn write_chunk(&mut self, data: &[u8], out: &mut ByteBuffer) {
        if data.is_empty() || self.finished {
            return;
        }
        out.reserve(data.len() + 20);
        out.write_hex(data.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the last chunk and an empty trailer section
    /// (`0 CRLF CRLF`). Calling it again writes nothing.
    pub fn finish(&mut self, out: &mut ByteBuffer) {
        if !self.finished {
            self.finished = true;
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }

    /// Like [`finish`](Self::finish), with trailer fields.
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidName`] or [`HeaderError::InvalidValue`] (CR,
    /// LF, NUL or other control characters); nothing is written then.
    pub fn finish_with_trailers(
        &mut self,
        trailers: &[(&[u8], &[u8])],
        out: &mut ByteBuffer,
    ) -> Result<(), HeaderError> {
        for (n, v) in trailers {
            if !is_token_str(n) {
                return Err(HeaderError::InvalidName);
            }
            if !is_value_str(v) {
                return Err(HeaderError::InvalidValue);
            }
        }
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        out.extend_from_slice(b"0\r\n");
        for (n, v) in trailers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), ErrorKind> {
        let mut buf = input.to_vec();
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.decode(&mut buf, 0, 0).map_err(|e| e.kind())?;
        if !p.done {
            return Err(ErrorKind::InvalidDecoderState); // stands for "partial" here
        }
        Ok((buf[..p.written].to_vec(), p.read))
    }

    #[test]
    fn basic() {
        assert_eq!(
            decode_all(b"3\r\nabc\r\n0\r\n\r\n"),
            Ok((b"abc".to_vec(), 13))
        );
        assert_eq!(decode_all(b"0\r\n\r\n"), Ok((vec![], 5)));
        assert_eq!(
            decode_all(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap().0,
            b"0123456789"
        );
        assert_eq!(
            decode_all(b"0000000000000001\r\nx\r\n0\r\n\r\n").unwrap().0,
            b"x"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(
            decode_all(b"+3\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkSize)
        );
        assert_eq!(
            decode_all(b"0x3\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkSize)
        );
        assert_eq!(
            decode_all(b" 3\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkSize)
        );
        assert_eq!(
            decode_all(b"3 \r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkSize)
        );
        assert_eq!(decode_all(b"\r\n"), Err(ErrorKind::InvalidChunkSize));
        assert_eq!(
            decode_all(b"10000000000000000\r\n"),
            Err(ErrorKind::ChunkSizeOverflow)
        );
        assert_eq!(decode_all(b"3\nabc\r\n0\r\n\r\n"), Err(ErrorKind::BareLf));
        assert_eq!(decode_all(b"3\rabc\r\n0\r\n\r\n"), Err(ErrorKind::BareCr));
        assert_eq!(
            decode_all(b"3\r\nabcd\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkData)
        );
        assert_eq!(
            decode_all(b"3\r\nabc\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkData)
        );
    }

    #[test]
    fn extensions() {
        assert!(decode_all(b"3;a\r\nabc\r\n0\r\n\r\n").is_ok());
        assert!(decode_all(b"3 ; a = b ; c=\"q \\\" x\"\r\nabc\r\n0;z\r\n\r\n").is_ok());
        assert_eq!(
            decode_all(b"3;\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkExtension)
        );
        assert_eq!(
            decode_all(b"3;a=\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkExtension)
        );
        assert_eq!(
            decode_all(b"3;a \r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkExtension)
        );
        assert_eq!(
            decode_all(b"3;a=\"x\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkExtension)
        );
        assert_eq!(
            decode_all(b"3;a\x00\r\nabc\r\n0\r\n\r\n"),
            Err(ErrorKind::InvalidChunkExtension)
        );
        let mut long = b"3;".to_vec();
        long.extend(std::iter::repeat_n(b'a', 300));
        long.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
        assert_eq!(decode_all(&long), Err(ErrorKind::ChunkExtensionTooLong));
    }

    #[test]
    fn ext_limit_is_exact() {
        let limits = Limits {
            max_chunk_ext: 4,
            ..Limits::default()
        };
        for (ext, ok) in [
            (&b";abc"[..], true),
            (b";abcd", false),
            (b" ;ab", true),
            (b" ; ab", false),
        ] {
            let mut input = b"1".to_vec();
            input.extend_from_slice(ext);
            input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            let mut d = ChunkedDecoder::new(&limits);
            let r = d.decode(&mut input, 0, 0);
            assert_eq!(r.is_ok(), ok, "{:?}: {r:?}", ext.escape_ascii().to_string());
            if !ok {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::ChunkExtensionTooLong);
            }
        }
    }

    #[test]
    fn trailers() {
        let mut buf = b"1\r\nx\r\n0\r\nA: 1\r\nB-b:  two words \r\n\r\nrest".to_vec();
        let mut d = ChunkedDecoder::new(&Limits::default());
        assert!(d.trailers().is_empty());
        let p = d.decode(&mut buf, 0, 0).unwrap();
        assert!(p.done && d.is_done());
        assert_eq!(&buf[p.read..], b"rest");
        let t: Vec<_> = d
            .trailers()
            .iter()
            .map(|f| (f.name.get(&buf), f.value.get(&buf)))
            .collect();
        assert_eq!(t, [(&b"A"[..], &b"1"[..]), (b"B-b", b"two words")]);
        // Further calls are idempotent.
        assert_eq!(d.decode(&mut buf, p.read, p.written).unwrap(), p);

        for (input, kind) in [
            (&b"0\r\nA : 1\r\n\r\n"[..], ErrorKind::WhitespaceBeforeColon),
            (b"0\r\n A: 1\r\n\r\n", ErrorKind::ObsFold),
            (b"0\r\nA\r\n\r\n", ErrorKind::MissingColon),
            (b"0\r\nA: \x01\r\n\r\n", ErrorKind::InvalidHeaderValue),
            (b"0\r\nA: x\ry\r\n\r\n", ErrorKind::BareCr),
            (b"0\r\nA: x\n\r\n", ErrorKind::BareLf),
            (b"0\r\n\n", ErrorKind::BareLf),
            (b"0\r\n:x\r\n\r\n", ErrorKind::InvalidHeaderName),
            (b"0\r\nA(: x\r\n\r\n", ErrorKind::InvalidHeaderName),
        ] {
            assert_eq!(
                decode_all(input),
                Err(kind),
                "{:?}",
                input.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn trailer_limit() {
        let limits = Limits {
            max_trailer_size: 10,
            ..Limits::default()
        };
        for (t, ok) in [(&b"A: 1234\r\n\r\n"[..], false), (b"A: 123\r\n\r\n", true)] {
            let mut input = b"0\r\n".to_vec();
            input.extend_from_slice(t);
            let mut d = ChunkedDecoder::new(&limits);
            let r = d.decode(&mut input, 0, 0);
            if ok {
                assert!(r.unwrap().done);
            } else {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::TrailersTooLarge);
            }
        }
    }

    #[test]
    fn incremental_and_in_place() {
        let input = b"5\r\nhello\r\n1;e=\"v\"\r\n \r\n6\r\nworld!\r\n0\r\nT: v\r\n\r\nGET";
        for step in 1..input.len() {
            // Simulate a connection buffer that grows by `step` bytes per read.
            let mut buf: Vec<u8> = Vec::new();
            let mut d = ChunkedDecoder::new(&Limits::default());
            let (mut read, mut written) = (0, 0);
            let mut fed = 0;
            let p = loop {
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
                let p = d.decode(&mut buf, read, written).unwrap();
                assert!(p.written <= p.read && p.read <= buf.len());
                read = p.read;
                written = p.written;
                if p.done {
                    break p;
                }
                assert!(fed < input.len(), "step {step}: not done at end of input");
            };
            assert_eq!(&buf[..p.written], b"hello world!");
            assert_eq!(&buf[p.read..], &input[p.read..fed]);
            let t = d.trailers()[0];
            assert_eq!(
                (t.name.get(&buf), t.value.get(&buf)),
                (&b"T"[..], &b"v"[..])
            );
        }
    }

    #[test]
    fn caller_may_compact_between_calls() {
        let input = b"3\r\nabc\r\n0\r\nX: y\r\n\r\n";
        let mut buf = input[..12].to_vec();
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.decode(&mut buf, 0, 0).unwrap();
        assert_eq!((p.written, p.done), (3, false));
        // Move the unconsumed input down to `written`, then append the rest.
        buf.drain(p.written..p.read);
        buf.extend_from_slice(&input[12..]);
        let p = d.decode(&mut buf, 3, 3).unwrap();
        assert!(p.done);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(p.read, buf.len());
        let t = d.trailers()[0];
        assert_eq!(t.value.get(&buf), b"y");
    }

    #[test]
    fn bad_offsets() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let mut buf = *b"0\r\n\r\n";
        assert_eq!(
            d.decode(&mut buf, 1, 2).unwrap_err().kind(),
            ErrorKind::InvalidDecoderState
        );
        assert_eq!(
            d.decode(&mut buf, 9, 0).unwrap_err().kind(),
            ErrorKind::InvalidDecoderState
        );
        assert_eq!(d.remaining_in_chunk(), 0);
    }

    #[test]
    fn remaining() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let mut buf = *b"ff\r\nabc";
        let p = d.decode(&mut buf, 0, 0).unwrap();
        assert_eq!(p.written, 3);
        assert_eq!(d.remaining_in_chunk(), 0xff - 3);
        d.reset();
        assert_eq!(d.remaining_in_chunk(), 0);
    }

    #[test]
    fn encoder() {
        let mut out = ByteBuffer::new();
        let mut e = ChunkedEncoder::new();
        e.write_chunk(&[b'x'; 300], &mut out);
        assert!(out.starts_with(b"12c\r\nxxx"));
        assert!(!e.is_finished());
        assert_eq!(
            e.finish_with_trailers(&[(b"A b", b"1")], &mut out),
            Err(HeaderError::InvalidName)
        );
        assert_eq!(
            e.finish_with_trailers(&[(b"A", b"1\r\n")], &mut out),
            Err(HeaderError::InvalidValue)
        );
        e.finish_with_trailers(&[(b"Checksum", b"abc")], &mut out)
            .unwrap();
        assert!(out.ends_with(b"\r\n0\r\nChecksum: abc\r\n\r\n"));
        let len = out.len();
        e.write_chunk(b"late", &mut out);
        e.finish(&mut out);
        assert_eq!(out.len(), len);
        e.reset();
        e.finish(&mut out);
        assert!(out.ends_with(b"0\r\n\r\n"));
        let mut buf = out.into_vec();
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.decode(&mut buf, 0, 0).unwrap();
        assert_eq!(p.written, 300);
    }
}

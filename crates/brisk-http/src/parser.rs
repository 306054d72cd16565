//! The restartable request-head parser: [`RequestParser`], [`Limits`],
//! [`Status`].

use brisk_buf::Span;
use core::ops::Range;

use crate::chars::{PATH, REG_NAME, VALUE, first_lane, is_token, value_stop_mask};
use crate::error::{ErrorKind, ParseError};
use crate::request::{HeaderField, Method, RequestHeader, TargetForm, Version, flag};
use crate::simd;

/// Outcome of a parse call that found no error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The head is complete; the value is its length in bytes, including
    /// the final CRLFCRLF (and any empty lines skipped before the request
    /// line). The body, if any, starts at this offset.
    Complete(usize),
    /// More bytes are needed; call again with a longer slice.
    Partial,
}

/// Limits on what a request may send, and parser switches.
///
/// Every limit exceeded is an error with its own [`ErrorKind`] and status.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Longest request line in bytes, CRLF excluded (default 8 KiB);
    /// exceeding it is [`ErrorKind::RequestLineTooLong`] (414).
    pub max_request_line: usize,
    /// Most field lines in a head (default 100); more is
    /// [`ErrorKind::TooManyHeaders`] (431).
    pub max_headers: usize,
    /// Largest head in bytes, final CRLFCRLF included (default 64 KiB);
    /// exceeding it is [`ErrorKind::HeadTooLarge`] (431). Values above
    /// `u32::MAX - 1` are treated as `u32::MAX - 1` (spans are 32-bit).
    pub max_head_size: usize,
    /// Largest trailer section of a chunked body, final CRLF included
    /// (default 8 KiB); exceeding it is [`ErrorKind::TrailersTooLarge`].
    pub max_trailer_size: usize,
    /// Longest chunk extension part of one chunk-size line (default 256);
    /// exceeding it is [`ErrorKind::ChunkExtensionTooLong`].
    pub max_chunk_ext: usize,
    /// Whether the server should rewrite header names to canonical case
    /// with [`normalize_header_names`](crate::normalize_header_names)
    /// after a complete parse (default true). The parser itself never
    /// writes to the buffer.
    pub normalize_header_names: bool,
}

/// A restartable HTTP/1.1 request-head parser.
///
/// It holds only the resume point of an unfinished head (a few words) plus
/// its [`Limits`]; the parsed head goes into a [`RequestHeader`]. When a head
/// arrives in many small reads, each call continues where the previous one
/// stopped, so the total work is linear in the head size.
///
/// # Strictness
///
/// The parser follows RFC 9112 and rejects rather than guesses: tokens for
/// methods and field names, exactly one space between the request-line
/// parts, CRLF line ends (a bare LF or bare CR is an error), no obs-fold, no
/// control characters in values, HTTP/1.0 and HTTP/1.1 only, exactly one
/// valid Host on HTTP/1.1, one Content-Length value (repeated equal values
/// collapse), chunked as the only and final transfer coding, never both
/// Content-Length and Transfer-Encoding. Empty lines (CRLF) before the
/// request line are skipped (RFC 9112 §2.2), counted in the head size.
///
/// ```
/// use brisk_http::{Limits, RequestHeader, RequestParser, Status};
/// let full = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
/// let mut parser = RequestParser::new(Limits::default());
/// let mut req = RequestHeader::new();
/// // The head arrives in two reads: the second call resumes.
/// assert_eq!(parser.parse(&full[..10], &mut req), Ok(Status::Partial));
/// assert_eq!(parser.parse(full, &mut req), Ok(Status::Complete(full.len())));
/// assert_eq!(req.path().get(full), b"/hello");
/// // Ready for the next request on the connection.
/// parser.reset();
/// req.clear();
/// ```
#[derive(Clone, Debug)]
pub struct RequestParser {
    limits: Limits,
    /// `limits.max_head_size`, clamped so every offset fits a span.
    head_cap: u32,
    /// INVARIANT: when `phase` is a field phase, every field line before
    /// `line` is parsed and stored in the `RequestHeader`; `line` is the
    /// start of the line being parsed (the request line in request-line
    /// phases).
    line: u32,
    /// Resume position inside the current line: every byte before it has
    /// been examined by the current phase.
    i: u32,
    /// Phase-specific mark: end of the method, or end of the field name.
    a: u32,
    /// Phase-specific mark: position of the first `?` in the target
    /// (`u32::MAX` if none), or start of the field value.
    b: u32,
    phase: Phase,
    /// The head length once complete, or the error once failed.
    outcome: Outcome,
    /// The last `Host` value found valid, kept across requests (`reset`
    /// leaves it): a client sends the same one every time, and a byte
    /// compare replaces the validation.
    host_memo: HostMemo,
}

/// Up to 16 bytes of a `Host` value that passed validation: its `len`
/// bytes as one word (`bytes`, the rest zero) and the `mask` that keeps
/// them. The default holds the empty value, which is valid too.
#[derive(Clone, Copy, Debug, Default)]
struct HostMemo {
    bytes: u128,
    mask: u128,
    len: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Skipping empty lines before the request line.
    Start,
    Method,
    Target,
    Version,
    /// At the start of a field line (or of the final empty line).
    LineStart,
    Name,
    Ows,
    Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Running,
    Complete(u32),
    Failed(ParseError),
}

const NO_QUERY: u32 = u32::MAX;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_headers: 100,
            max_head_size: 64 * 1024,
            max_trailer_size: 8 * 1024,
            max_chunk_ext: 256,
            normalize_header_names: true,
        }
    }
}

impl RequestParser {
    /// A parser with the given limits, ready for the first request.
    pub fn new(limits: Limits) -> RequestParser {
        let head_cap = limits.max_head_size.min(u32::MAX as usize - 1) as u32;
        RequestParser {
            limits,
            head_cap,
            line: 0,
            i: 0,
            a: 0,
            b: NO_QUERY,
            phase: Phase::Start,
            outcome: Outcome::Running,
            host_memo: HostMemo::default(),
        }
    }

    /// The limits this parser enforces.
    #[inline]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets the resume state: the next call to [`parse`](Self::parse)
    /// starts a new request at byte 0 of the slice it is given.
    #[inline]
    pub fn reset(&mut self) {
        self.line = 0;
        self.i = 0;
        self.a = 0;
        self.b = NO_QUERY;
        self.phase = Phase::Start;
        self.outcome = Outcome::Running;
    }

    /// The method of the request being parsed, once its token is complete
    /// (the space after it seen), including after the parse failed later in
    /// the head; `None` before that, or when the failure is in the method
    /// or before it. `buf` and `req` are the ones given to
    /// [`parse`](Self::parse).
    ///
    /// A server answering an error needs it: a response to HEAD carries no
    /// content. The answer depends only on the bytes before the point the
    /// parse reached, never on how many arrived after it.
    ///
    /// ```
    /// use brisk_http::{Limits, Method, RequestHeader, RequestParser};
    /// let mut p = RequestParser::new(Limits::default());
    /// let mut req = RequestHeader::new();
    /// let buf = b"HEAD / HTTP/1.1\r\nBad\nHost: x\r\n\r\n";
    /// assert!(p.parse(buf, &mut req).is_err());
    /// assert_eq!(p.method_seen(buf, &req), Some(Method::Head));
    /// p.reset();
    /// let buf = b"\nHEAD / HTTP/1.1\r\n\r\n";
    /// assert!(p.parse(buf, &mut req).is_err());
    /// assert_eq!(p.method_seen(buf, &req), None);
    /// ```
    pub fn method_seen(&self, buf: &[u8], req: &RequestHeader) -> Option<Method> {
        match self.phase {
            Phase::Start | Phase::Method => None,
            Phase::Target | Phase::Version => {
                Some(method_from(buf.get(self.line as usize..self.a as usize)?))
            }
            Phase::LineStart | Phase::Name | Phase::Ows | Phase::Value => Some(req.method),
        }
    }

    /// Parses as much of the head in `buf` as possible into `req`.
    ///
    /// `buf` starts at the first byte of the request and may grow between
    /// calls (same prefix, more bytes appended): after
    /// [`Status::Partial`], call again with the longer slice and the same
    /// `req`; the parse resumes where it stopped, so every byte is looked
    /// at a bounded number of times however the head is split. The first call
    /// after [`new`](Self::new) or [`reset`](Self::reset) starts a new
    /// request in `req` (its header table is emptied, keeping its
    /// allocation; the accessors of an unfinished head are meaningless).
    /// Once the head is complete or an error was found, further calls
    /// return the same result until `reset`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the violation and the status to answer with.
    pub fn parse(&mut self, buf: &[u8], req: &mut RequestHeader) -> Result<Status, ParseError> {
        match self.outcome {
            Outcome::Running => {}
            Outcome::Complete(n) => return Ok(Status::Complete(n as usize)),
            Outcome::Failed(e) => return Err(e),
        }
        let head_cap = self.head_cap as usize;
        let (buf, at_cap) = match buf.get(..head_cap) {
            Some(b) => (b, true),
            None => (buf, false),
        };
        if self.phase == Phase::Start && self.line == 0 && self.i == 0 {
            // Everything else is written before it is read (or guarded by
            // a flag), so this is all a new request needs.
            req.headers.clear();
            req.flags = 0;
            req.head_len = 0;
            if let Some(r) = self.head_fast(buf, req) {
                return r.map_err(|k| self.fail(k));
            }
        }
        let r = if self.phase as u8 <= Phase::Version as u8 {
            match self.request_line(buf, at_cap, req) {
                Ok(true) => self.fields(buf, at_cap, req),
                Ok(false) => Ok(Status::Partial),
                Err(k) => Err(k),
            }
        } else {
            self.fields(buf, at_cap, req)
        };
        match r {
            Ok(s) => Ok(s),
            Err(k) => Err(self.fail(k)),
        }
    }

    #[cold]
    fn fail(&mut self, k: ErrorKind) -> ParseError {
        let e = ParseError::new(k);
        self.outcome = Outcome::Failed(e);
        e
    }

    /// Parses the request line. `Ok(true)`: done, the field phases follow;
    /// `Ok(false)`: partial, state saved.
    fn request_line(
        &mut self,
        buf: &[u8],
        at_head_cap: bool,
        req: &mut RequestHeader,
    ) -> Result<bool, ErrorKind> {
        // `head_fast` already tried the request line's fast path.
        if self.phase == Phase::Start {
            let mut p = self.line as usize;
            loop {
                match buf.get(p) {
                    Some(b'\r') => match buf.get(p + 1) {
                        Some(b'\n') => p += 2,
                        Some(_) => return Err(ErrorKind::BareCr),
                        None => break,
                    },
                    Some(b'\n') => return Err(ErrorKind::BareLf),
                    _ => break,
                }
            }
            self.line = p as u32;
            self.i = p as u32;
            if let None | Some(b'\r') = buf.get(p) {
                // Nothing but empty lines (and maybe the CR of one) so far.
                return self.partial_rl(at_head_cap, false);
            }
            self.phase = Phase::Method;
        }
        let start = self.line as usize;
        let lim = start
            .saturating_add(self.limits.max_request_line)
            .saturating_add(2);
        let (lb, at_rl_cap) = match buf.get(..lim) {
            Some(b) => (b, true),
            None => (buf, false),
        };
        let mut i = self.i as usize;

        if self.phase == Phase::Method {
            // The usual method, in one compare.
            if i == start && lb.get(i..i + 4) == Some(b"GET ") {
                i += 3;
            }
            loop {
                match lb.get(i) {
                    Some(&b) if is_token(b) => i += 1,
                    Some(b' ') if i > start => break,
                    Some(b' ' | b'\t' | b'\r' | b'\n') => {
                        return Err(ErrorKind::InvalidRequestLine);
                    }
                    Some(_) => return Err(ErrorKind::InvalidMethod),
                    None => {
                        self.i = i as u32;
                        return self.partial_rl(at_head_cap, at_rl_cap);
                    }
                }
            }
            self.a = i as u32;
            self.b = NO_QUERY;
            i += 1;
            self.phase = Phase::Target;
        }

        if self.phase == Phase::Target {
            let tstart = self.a as usize + 1;
            loop {
                while let Some(c) = lb.get(i..).and_then(|s| s.first_chunk::<16>()) {
                    let m = simd::path_stops(c);
                    if m != 0 {
                        i += m.trailing_zeros() as usize;
                        break;
                    }
                    i += 16;
                }
                match lb.get(i) {
                    Some(&b) if PATH[b as usize] => i += 1,
                    Some(b'?') => {
                        if self.b == NO_QUERY {
                            self.b = i as u32;
                        }
                        i += 1;
                    }
                    // Not in a path, but allowed in a query (see `PATH`).
                    Some(b'\\') if self.b != NO_QUERY => i += 1,
                    Some(b' ') if i > tstart => break,
                    Some(b' ' | b'\t' | b'\r' | b'\n') => {
                        return Err(ErrorKind::InvalidRequestLine);
                    }
                    Some(_) => return Err(ErrorKind::InvalidTarget),
                    None => {
                        self.i = i as u32;
                        return self.partial_rl(at_head_cap, at_rl_cap);
                    }
                }
            }
            i += 1;
            self.i = i as u32;
            self.phase = Phase::Version;
        }

        // Phase::Version: `i` is the first byte of the version.
        let v = i;
        let method_end = self.a as usize;
        let tstart = method_end + 1;
        let tend = v - 1;
        let words = version_words(lb, v);
        let version = match words {
            Some((HTTP11, CRLF)) => Version::Http11,
            Some((HTTP10, CRLF)) => Version::Http10,
            Some((HTTP20, CRLF))
                if lb.get(start..method_end) == Some(b"PRI")
                    && lb.get(tstart..tend) == Some(b"*") =>
            {
                return Err(ErrorKind::Http2Preface);
            }
            _ => {
                check_version(lb.get(v..).unwrap_or_default())?;
                return self.partial_rl(at_head_cap, at_rl_cap);
            }
        };

        // The whole line is here: classify the method and the target.
        let method_bytes = lb.get(start..method_end).unwrap_or_default();
        let method = method_from(method_bytes);
        let target = lb.get(tstart..tend).unwrap_or_default();
        let q = if self.b == NO_QUERY {
            None
        } else {
            Some(self.b as usize)
        };
        req.method = method;
        req.method_span = span(start, method_end);
        req.target = span(tstart, tend);
        req.version = version;
        if target.first() == Some(&b'/') && method != Method::Connect {
            // origin-form, the usual case.
            let plain = path_is_plain(lb.get(tstart..q.unwrap_or(tend)).unwrap_or_default());
            set_origin_form(req, tstart, tend, q, plain);
        } else {
            classify_target(req, method, target, tstart, tend, q)?;
        }
        self.line_done(v + 10);
        Ok(true)
    }

    /// The usual head, whole in `buf`: the request line and every field
    /// line through their fast paths, in one frame. `None` hands over to
    /// the phased parser where the fast paths stopped (at the request line,
    /// or at the start of a field line, with the lines before it stored),
    /// so this decides nothing the phased parser would not.
    #[inline(always)]
    fn head_fast(
        &mut self,
        buf: &[u8],
        req: &mut RequestHeader,
    ) -> Option<Result<Status, ErrorKind>> {
        self.request_line_fast(buf, req)?;
        let max_headers = self.limits.max_headers;
        let mut p = self.line as usize;
        // Clients send `Host` first (RFC 9110 asks for it); only that line
        // is tried against the remembered value.
        match self.known_host(buf, p, req, max_headers) {
            Some(Ok(next)) => p = next,
            Some(Err(k)) => return Some(Err(k)),
            None => {}
        }
        loop {
            if buf.get(p..p + 2) == Some(b"\r\n") {
                return Some(self.finish(p + 2, req));
            }
            let next = match buf.get(p) {
                Some(&b) if is_token(b) => self.fast_field(buf, p, req, max_headers),
                _ => None,
            };
            match next {
                Some(Ok(next)) => p = next,
                Some(Err(k)) => return Some(Err(k)),
                None => {
                    self.line_done(p);
                    return None;
                }
            }
        }
    }

    /// The field line at `p` (its first byte a token byte) through
    /// [`fast_line`]: stored, and the start of the next line returned;
    /// `None` when the line is not that shape.
    #[inline(always)]
    fn fast_field(
        &mut self,
        buf: &[u8],
        p: usize,
        req: &mut RequestHeader,
        max_headers: usize,
    ) -> Option<Result<usize, ErrorKind>> {
        let (name_end, vstart, vend, cr, miscased) = fast_line(buf, p)?;
        if miscased {
            req.flags |= flag::MISCASED;
        }
        let field = (p..name_end, vstart..vend);
        let stored = add_field(req, buf, field, max_headers, &mut self.host_memo);
        Some(stored.map(|()| cr + 2))
    }

    /// The first field line, at `p`, when it is exactly `Host: `, the
    /// remembered `Host` value and CRLF (a client sends the same line every
    /// time, and first): stored as [`fast_line`] and [`add_field`] would
    /// store it, with the same error for a zero `max_headers`, and the
    /// start of the next line returned. `None` for any other line. The
    /// remembered value passed validation and holds no space or control
    /// byte, so the generic path would find this very name, value and line
    /// end; and as the first field line it cannot repeat a `Host`.
    #[inline(always)]
    fn known_host(
        &self,
        buf: &[u8],
        p: usize,
        req: &mut RequestHeader,
        max_headers: usize,
    ) -> Option<Result<usize, ErrorKind>> {
        const HOST: u64 = u64::from_le_bytes(*b"Host: \0\0");
        const SIX: u64 = (1 << 48) - 1;
        let w = u64::from_le_bytes(*buf.get(p..)?.first_chunk::<8>()?);
        if w & SIX != HOST {
            return None;
        }
        let v = p + 6;
        let block = u128::from_le_bytes(*buf.get(v..)?.first_chunk::<16>()?);
        let memo = &self.host_memo;
        if block & memo.mask != memo.bytes {
            return None;
        }
        let end = v + memo.len as usize;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        if req.headers.len() >= max_headers {
            return Some(Err(ErrorKind::TooManyHeaders));
        }
        debug_assert!(req.flags & flag::HAS_HOST == 0, "not the first field line");
        let value = span(v, end);
        req.headers.push(HeaderField {
            name: span(p, p + 4),
            value,
        });
        req.flags |= flag::HAS_HOST;
        req.host = value;
        Some(Ok(end + 2))
    }

    /// The request line ended at `next` (the first byte after its CRLF):
    /// the field lines follow.
    #[inline(always)]
    fn line_done(&mut self, next: usize) {
        self.line = next as u32;
        self.i = self.line;
        self.phase = Phase::LineStart;
    }

    /// The usual request line, whole in `buf` at its start: `GET` or `POST`,
    /// an origin-form target (a path, maybe a query) and `HTTP/1.1` or
    /// `HTTP/1.0`, scanned 16 bytes at a time with no per-phase state.
    /// `Some(())` when it parsed the line; `None` leaves everything
    /// (including every error and limit) to the phased parser, so this
    /// accepts exactly what that would and decides nothing else.
    #[inline(always)]
    fn request_line_fast(&mut self, buf: &[u8], req: &mut RequestHeader) -> Option<()> {
        const GET: u32 = u32::from_le_bytes(*b"GET ");
        const POST: u32 = u32::from_le_bytes(*b"POST");
        let first = u32::from_le_bytes(*buf.first_chunk::<4>()?);
        let (method, tstart) = match first {
            GET => (Method::Get, 4),
            POST if buf.get(4) == Some(&b' ') => (Method::Post, 5),
            _ => return None,
        };
        if buf.get(tstart) != Some(&b'/') {
            return None;
        }
        // The line may not pass max_request_line (the phased parser says
        // which error applies).
        let lim = self.limits.max_request_line.saturating_add(2);
        let mut i = tstart + 1;
        let c = buf.get(i..)?.first_chunk::<16>()?;
        let m = simd::path_stops(c);
        let (q, plain) = if m != 0 && buf.get(i + m.trailing_zeros() as usize) == Some(&b' ') {
            // The usual short target: its end within 16 bytes, no query.
            let n = m.trailing_zeros();
            i += n as usize;
            (None, block_plain(c, n, true).0)
        } else {
            let mut q = None;
            // The path so far has no `%`, `//` or `/.` (`slash`: it ends in `/`).
            let (mut plain, mut slash) = (true, true);
            loop {
                let c = buf.get(i..)?.first_chunk::<16>()?;
                let m = simd::path_stops(c);
                if q.is_none() && plain {
                    let n = if m == 0 { 16 } else { m.trailing_zeros() };
                    (plain, slash) = block_plain(c, n, slash);
                }
                if m == 0 {
                    i += 16;
                } else {
                    i += m.trailing_zeros() as usize;
                    match buf.get(i) {
                        Some(b' ') => break,
                        Some(b'?') => {
                            q.get_or_insert(i);
                            i += 1;
                        }
                        Some(b'\\') if q.is_some() => i += 1,
                        _ => return None,
                    }
                }
                if i >= lim {
                    return None;
                }
            }
            (q, plain)
        };
        let tend = i;
        let version = match version_words(buf, i + 1)? {
            (HTTP11, CRLF) => Version::Http11,
            (HTTP10, CRLF) => Version::Http10,
            _ => return None,
        };
        if i + 11 > lim {
            return None;
        }
        req.method = method;
        req.method_span = span(0, tstart - 1);
        req.target = span(tstart, tend);
        req.version = version;
        set_origin_form(req, tstart, tend, q, plain);
        self.line_done(i + 11);
        Some(())
    }

    /// Partial request line: a limit error if a cap was reached.
    #[cold]
    fn partial_rl(&mut self, at_head_cap: bool, at_rl_cap: bool) -> Result<bool, ErrorKind> {
        if at_rl_cap {
            Err(ErrorKind::RequestLineTooLong)
        } else if at_head_cap {
            Err(ErrorKind::HeadTooLarge)
        } else {
            Ok(false)
        }
    }

    /// Parses field lines up to the empty line.
    fn fields(
        &mut self,
        buf: &[u8],
        at_head_cap: bool,
        req: &mut RequestHeader,
    ) -> Result<Status, ErrorKind> {
        let mut p = self.line as usize;
        let mut i = self.i as usize;
        let mut name_end = self.a as usize;
        let mut vstart = self.b as usize;
        let mut phase = self.phase;
        let max_headers = self.limits.max_headers;
        loop {
            if phase == Phase::LineStart {
                match buf.get(p) {
                    Some(&b) if is_token(b) => {}
                    Some(b'\r') => match buf.get(p + 1) {
                        Some(b'\n') => return self.finish(p + 2, req),
                        Some(_) => return Err(ErrorKind::BareCr),
                        None => {
                            i = p;
                            break;
                        }
                    },
                    Some(b'\n') => return Err(ErrorKind::BareLf),
                    Some(b' ' | b'\t') => return Err(ErrorKind::ObsFold),
                    Some(_) => return Err(ErrorKind::InvalidHeaderName),
                    None => {
                        i = p;
                        break;
                    }
                }
                if let Some(next) = self.fast_field(buf, p, req, max_headers) {
                    p = next?;
                    continue;
                }
                i = p + 1;
                phase = Phase::Name;
            }
            if phase == Phase::Name {
                i = scan_name(buf, i).ok_or(ErrorKind::InvalidHeaderName)?;
                match buf.get(i) {
                    Some(b':') => {}
                    Some(b' ' | b'\t') => return Err(ErrorKind::WhitespaceBeforeColon),
                    Some(b'\r' | b'\n') => return Err(ErrorKind::MissingColon),
                    Some(_) => return Err(ErrorKind::InvalidHeaderName),
                    None => break,
                }
                name_end = i;
                i += 1;
                phase = Phase::Ows;
            }
            if phase == Phase::Ows {
                while let Some(b' ' | b'\t') = buf.get(i) {
                    i += 1;
                }
                if i >= buf.len() {
                    break;
                }
                vstart = i;
                phase = Phase::Value;
            }
            // Phase::Value: skip plain bytes a word at a time, then look at
            // the byte that stopped the scan.
            let cr = loop {
                i = scan_value(buf, i);
                match buf.get(i) {
                    Some(b'\r') => match buf.get(i + 1) {
                        Some(b'\n') => break Some(i),
                        Some(_) => return Err(ErrorKind::BareCr),
                        None => break None,
                    },
                    Some(&b) if VALUE[b as usize] => i += 1,
                    Some(b'\n') => return Err(ErrorKind::BareLf),
                    Some(_) => return Err(ErrorKind::InvalidHeaderValue),
                    None => break None,
                }
            };
            let Some(cr) = cr else { break };
            let mut vend = cr;
            while vend > vstart && matches!(buf.get(vend - 1), Some(b' ' | b'\t')) {
                vend -= 1;
            }
            if !is_canonical(buf.get(p..name_end).unwrap_or_default()) {
                req.flags |= flag::MISCASED;
            }
            add_field(
                req,
                buf,
                (p..name_end, vstart..vend),
                max_headers,
                &mut self.host_memo,
            )?;
            p = cr + 2;
            phase = Phase::LineStart;
        }
        // Partial: save the resume point.
        if at_head_cap {
            return Err(ErrorKind::HeadTooLarge);
        }
        self.line = p as u32;
        self.i = i as u32;
        self.a = name_end as u32;
        self.b = vstart as u32;
        self.phase = phase;
        Ok(Status::Partial)
    }

    /// The empty line ending the head: cross-field checks, then done.
    #[inline(always)]
    fn finish(&mut self, head_len: usize, req: &mut RequestHeader) -> Result<Status, ErrorKind> {
        let f = req.flags;
        if f & flag::HAS_HOST == 0 && req.version == Version::Http11 {
            return Err(ErrorKind::MissingHost);
        }
        if f & flag::TE_SEEN != 0 {
            if f & flag::TE_CHUNKED == 0 {
                return Err(ErrorKind::TransferEncodingNotChunked);
            }
            if f & flag::TE_OTHER != 0 {
                return Err(ErrorKind::UnsupportedTransferCoding);
            }
        }
        req.flags |= flag::COMPLETE;
        req.head_len = head_len as u32;
        self.outcome = Outcome::Complete(head_len as u32);
        Ok(Status::Complete(head_len))
    }
}

/// Stores one field line (`name` and `value` are the byte ranges of its
/// name and trimmed value) and records what the server needs from it.
#[inline(always)]
fn add_field(
    req: &mut RequestHeader,
    buf: &[u8],
    (name, value): (Range<usize>, Range<usize>),
    max_headers: usize,
    memo: &mut HostMemo,
) -> Result<(), ErrorKind> {
    if req.headers.len() >= max_headers {
        return Err(ErrorKind::TooManyHeaders);
    }
    let field = HeaderField {
        name: span(name.start, name.end),
        value: span(value.start, value.end),
    };
    req.headers.push(field);
    capture(req, buf, field, memo)
}

/// The common case of a field line at `p`, all of it in `buf`: a name of
/// at most 31 bytes in `[A-Za-z0-9-]` (other token bytes are checked one
/// by one), `:`, spaces, a value without tabs or controls, CRLF. Returns
/// `(name_end, value_start, value_end, cr, miscased)`, `miscased` telling
/// whether a letter of the name is not in canonical case (`Content-Type`),
/// or `None` for anything else (including every error), which the phased
/// parser then handles byte by byte, so this function decides nothing on
/// its own.
///
/// The line end is searched from `p` in parallel with the name: every
/// control byte also ends a name, so the first control byte after the
/// colon is the first one of the line.
#[inline(always)]
fn fast_line(buf: &[u8], p: usize) -> Option<(usize, usize, usize, usize, bool)> {
    let c0 = buf.get(p..)?.first_chunk::<16>()?;
    let (v0, n0, f0) = simd::line_block(c0);
    let (a0, l0, d0) = simd::case_block(c0);
    // Name stops, fast name bytes and value stops over 16 or 32 bytes, and
    // the letter, case-bit and dash masks.
    let (names, fast, values, seen, (alpha, lower, dash)) = if n0 != 0 {
        (n0, f0, v0, 16, (a0, l0, d0))
    } else {
        let c1 = buf.get(p + 16..)?.first_chunk::<16>()?;
        let (v1, n1, f1) = simd::line_block(c1);
        let (a1, l1, d1) = simd::case_block(c1);
        (
            n1 << 16,
            f0 | f1 << 16,
            v0 | v1 << 16,
            32,
            (a0 | a1 << 16, l0 | l1 << 16, d0 | d1 << 16),
        )
    };
    if names == 0 {
        return None;
    }
    let c = names.trailing_zeros() as usize;
    if buf.get(p + c) != Some(&b':') {
        return None;
    }
    let mut slow = ((1u32 << c) - 1) & !fast;
    while slow != 0 {
        if !is_token(*buf.get(p + slow.trailing_zeros() as usize)?) {
            return None;
        }
        slow &= slow - 1;
    }
    let after = values & !((2u32 << c).wrapping_sub(1));
    let cr = if after != 0 {
        p + after.trailing_zeros() as usize
    } else {
        scan_value(buf, p + seen)
    };
    if buf.get(cr..cr + 2)? != b"\r\n" {
        return None;
    }
    let mut vstart = p + c + 1;
    while buf.get(vstart) == Some(&b' ') {
        vstart += 1;
    }
    let mut vend = cr;
    while vend > vstart && buf.get(vend - 1) == Some(&b' ') {
        vend -= 1;
    }
    let miscased = simd::miscased((alpha, lower, dash), true) & ((1u32 << c) - 1) != 0;
    Some((p + c, vstart, vend, cr, miscased))
}

/// The first `n` bytes of `c`, path bytes following a `/` when `slash`:
/// whether they hold no `%`, `//` or `/.`, and whether they end in `/`
/// (`slash` again for `n == 0`).
#[inline(always)]
fn block_plain(c: &[u8; 16], n: u32, slash: bool) -> (bool, bool) {
    let (pct, slashes, dots) = simd::path_marks(c);
    let lanes = ((1u64 << n) - 1) as u32;
    let after_slash = slashes << 1 | u32::from(slash);
    let plain = (pct | (after_slash & (slashes | dots))) & lanes == 0;
    let ends_in_slash = if n > 0 {
        slashes >> (n - 1) & 1 == 1
    } else {
        slash
    };
    (plain, ends_in_slash)
}

/// Whether an origin-form path needs no normalization: no `%` and no `/`
/// followed by `/` or `.` (it starts with `/`). The request-line fast path
/// finds the same 16 bytes at a time.
fn path_is_plain(p: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in p {
        if b == b'%' || (prev == b'/' && (b == b'/' || b == b'.')) {
            return false;
        }
        prev = b;
    }
    true
}

/// Whether a field name is in canonical case (`Content-Type`): letters
/// upper case at the start and after `-`, lower case elsewhere. For the
/// lines the 16-byte path does not take.
fn is_canonical(name: &[u8]) -> bool {
    let mut upper = true;
    for &b in name {
        if (upper && b.is_ascii_lowercase()) || (!upper && b.is_ascii_uppercase()) {
            return false;
        }
        upper = b == b'-';
    }
    true
}

/// Index of the byte that ends the field name starting before `i` (`:`,
/// whitespace, a control or a non-ASCII byte), every byte from `i` to it
/// being a token character; `buf.len()` if the name runs to the end.
/// `None` if a non-token byte comes first.
#[inline(always)]
fn scan_name(buf: &[u8], mut i: usize) -> Option<usize> {
    while let Some(c) = buf.get(i..).and_then(|s| s.first_chunk::<16>()) {
        let (stops, fast) = simd::name_block(c);
        // Bytes before the first stop (all 16 if none) must be tokens.
        let before = (stops & stops.wrapping_neg()).wrapping_sub(1) & 0xffff;
        let slow = before & !fast;
        if slow != 0 {
            // Not in [A-Za-z0-9-]: check this byte with the table.
            let k = slow.trailing_zeros() as usize;
            if !is_token(c[k]) {
                return None;
            }
            i += k + 1;
            continue;
        }
        if stops != 0 {
            return Some(i + stops.trailing_zeros() as usize);
        }
        i += 16;
    }
    while let Some(&b) = buf.get(i) {
        if !is_token(b) {
            return Some(i);
        }
        i += 1;
    }
    Some(i)
}

/// Index of the first byte from `i` that may end a field value (below
/// 0x20 or 0x7f; rarely a plain byte, which the caller re-checks), or the
/// start of the last few bytes of `buf` for the caller to look at one by
/// one.
#[inline(always)]
fn scan_value(buf: &[u8], mut i: usize) -> usize {
    while let Some(c) = buf.get(i..).and_then(|s| s.first_chunk::<16>()) {
        let m = simd::value_stops(c);
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    while let Some(c) = buf.get(i..).and_then(|s| s.first_chunk::<8>()) {
        let m = value_stop_mask(u64::from_le_bytes(*c));
        if m != 0 {
            return i + first_lane(m);
        }
        i += 8;
    }
    i
}

const HTTP11: u64 = u64::from_le_bytes(*b"HTTP/1.1");
const HTTP10: u64 = u64::from_le_bytes(*b"HTTP/1.0");
const HTTP20: u64 = u64::from_le_bytes(*b"HTTP/2.0");
const CRLF: u16 = u16::from_le_bytes(*b"\r\n");

/// The ten bytes at `v` as a word and a half-word, for the version and
/// its CRLF in two compares; `None` if fewer than ten bytes are there.
#[inline(always)]
fn version_words(buf: &[u8], v: usize) -> Option<(u64, u16)> {
    let w = buf.get(v..)?.first_chunk::<10>()?;
    let (a, b) = w.split_at(8);
    Some((
        u64::from_le_bytes(*a.first_chunk::<8>()?),
        u16::from_le_bytes(*b.first_chunk::<2>()?),
    ))
}

/// Fills the path and query of an origin-form target `tstart..tend` whose
/// `?` (if any) is at `q`; `plain` says the path needs no normalization.
#[inline(always)]
fn set_origin_form(
    req: &mut RequestHeader,
    tstart: usize,
    tend: usize,
    q: Option<usize>,
    plain: bool,
) {
    req.target_form = TargetForm::Origin;
    match q {
        None => req.path = span(tstart, tend),
        Some(q) => {
            req.path = span(tstart, q);
            req.query = span(q + 1, tend);
            req.flags |= flag::HAS_QUERY;
        }
    }
    if plain {
        req.flags |= flag::PATH_PLAIN;
    }
}

/// A span for `start..end`; both are below the head cap (< `u32::MAX`).
#[inline(always)]
fn span(start: usize, end: usize) -> Span {
    Span::new(start as u32, (end - start) as u32)
}

/// Slow path of the version check, for anything but `HTTP/1.x CRLF`:
/// validates the bytes present so far against `HTTP/DIGIT.DIGIT CRLF`.
/// `Ok(())`: partial (a complete well-formed version is unsupported).
#[cold]
fn check_version(v: &[u8]) -> Result<(), ErrorKind> {
    const PAT: &[u8; 10] = b"HTTP/d.d\r\n";
    for (k, &b) in v.iter().take(10).enumerate() {
        let ok = match PAT[k] {
            b'H' if b == b' ' || b == b'\t' => return Err(ErrorKind::InvalidRequestLine),
            b'd' => b.is_ascii_digit(),
            b'\n' => b == b'\n',
            b'\r' if b == b'\n' => return Err(ErrorKind::BareLf),
            b'\r' if b == b' ' || b == b'\t' => return Err(ErrorKind::InvalidRequestLine),
            p => b == p,
        };
        if !ok {
            return Err(if k == 9 {
                ErrorKind::BareCr
            } else {
                ErrorKind::InvalidVersion
            });
        }
    }
    if v.len() < 10 {
        return Ok(());
    }
    Err(ErrorKind::UnsupportedVersion)
}

/// The method enum for its bytes (case-sensitive).
#[inline]
fn method_from(m: &[u8]) -> Method {
    match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        b"PUT" => Method::Put,
        b"DELETE" => Method::Delete,
        b"CONNECT" => Method::Connect,
        b"OPTIONS" => Method::Options,
        b"TRACE" => Method::Trace,
        b"PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

/// Decides the target form and fills `path` and `query` (RFC 9112 §3.2).
fn classify_target(
    req: &mut RequestHeader,
    method: Method,
    target: &[u8],
    tstart: usize,
    tend: usize,
    q: Option<usize>,
) -> Result<(), ErrorKind> {
    let path_end = q.unwrap_or(tend);
    if let Some(q) = q {
        req.query = span(q + 1, tend);
        req.flags |= flag::HAS_QUERY;
    }
    if method == Method::Connect {
        // authority-form: host ":" port, nothing else.
        let Some(colon) = target.iter().rposition(|&b| b == b':') else {
            return Err(ErrorKind::InvalidTarget);
        };
        if q.is_some() || colon == 0 || colon + 1 == target.len() || !valid_host(target) {
            return Err(ErrorKind::InvalidTarget);
        }
        req.target_form = TargetForm::Authority;
        req.path = span(tend, tend);
        return Ok(());
    }
    match target.first() {
        Some(b'/') => {
            req.target_form = TargetForm::Origin;
            req.path = span(tstart, path_end);
            Ok(())
        }
        Some(b'*') if target.len() == 1 && method == Method::Options => {
            req.target_form = TargetForm::Asterisk;
            req.path = span(tstart, tend);
            Ok(())
        }
        Some(b) if b.is_ascii_alphabetic() => {
            // absolute-form: scheme "://" authority path-abempty ["?" query]
            let before_q = &target[..path_end - tstart];
            let Some(colon) = before_q.iter().position(|&b| b == b':') else {
                return Err(ErrorKind::InvalidTarget);
            };
            let scheme_ok = target[..colon]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            let rest = &before_q[colon + 1..];
            if !scheme_ok || !rest.starts_with(b"//") {
                return Err(ErrorKind::InvalidTarget);
            }
            let auth = &rest[2..];
            let auth_len = auth.iter().position(|&b| b == b'/').unwrap_or(auth.len());
            let authority = &auth[..auth_len];
            if authority.is_empty() || !valid_host(authority) {
                // Empty host, userinfo ('@') or junk (RFC 9110 §4.2.1, §4.2.4).
                return Err(ErrorKind::InvalidTarget);
            }
            let path_start = tstart + colon + 3 + auth_len;
            req.target_form = TargetForm::Absolute;
            req.path = span(path_start, path_end);
            let path = &target[path_start - tstart..path_end - tstart];
            if path.first() == Some(&b'/') && path_is_plain(path) {
                req.flags |= flag::PATH_PLAIN;
            }
            Ok(())
        }
        _ => Err(ErrorKind::InvalidTarget),
    }
}

/// Records what the server needs from one field line (name dispatch on
/// length, then a case-insensitive compare) and validates framing fields.
#[inline(always)]
fn capture(
    req: &mut RequestHeader,
    buf: &[u8],
    f: HeaderField,
    memo: &mut HostMemo,
) -> Result<(), ErrorKind> {
    let name = f.name.get(buf);
    match name.len() {
        4 if eq_lower(name, b"host") => on_host(req, buf, f.value, memo),
        6 if eq_lower(name, b"cookie") => {
            set_first(req, flag::HAS_COOKIE, f.value, |r| &mut r.cookie);
            Ok(())
        }
        6 if eq_lower(name, b"expect") => on_expect(req, f.value.get(buf)),
        7 if eq_lower(name, b"upgrade") => {
            set_first(req, flag::HAS_UPGRADE, f.value, |r| &mut r.upgrade);
            Ok(())
        }
        10 if eq_lower(name, b"connection") => {
            on_connection(req, f.value.get(buf));
            Ok(())
        }
        10 if eq_lower(name, b"user-agent") => {
            set_first(req, flag::HAS_USER_AGENT, f.value, |r| &mut r.user_agent);
            Ok(())
        }
        12 if eq_lower(name, b"content-type") => {
            set_first(req, flag::HAS_CONTENT_TYPE, f.value, |r| {
                &mut r.content_type
            });
            Ok(())
        }
        14 if eq_lower(name, b"content-length") => on_content_length(req, f.value.get(buf)),
        17 if eq_lower(name, b"transfer-encoding") => on_transfer_encoding(req, f.value.get(buf)),
        _ => Ok(()),
    }
}

/// `name` equals the lowercase literal `lit` (letters and `-`) ignoring
/// ASCII case. `name` is a field name or value, so it holds no CR (0x0d),
/// the only byte besides `-` itself that `| 0x20` maps to `-`.
///
/// Compared as two overlapping words (the literal folds to constants), not
/// byte by byte.
#[inline(always)]
fn eq_lower(name: &[u8], lit: &[u8]) -> bool {
    #[inline(always)]
    fn w4(s: &[u8], at: usize) -> u32 {
        s.get(at..)
            .and_then(|s| s.first_chunk::<4>())
            .map_or(0, |c| u32::from_le_bytes(*c))
    }
    #[inline(always)]
    fn w8(s: &[u8], at: usize) -> u64 {
        s.get(at..)
            .and_then(|s| s.first_chunk::<8>())
            .map_or(0, |c| u64::from_le_bytes(*c))
    }
    const L4: u32 = 0x2020_2020;
    const L8: u64 = 0x2020_2020_2020_2020;
    let n = lit.len();
    if name.len() != n {
        return false;
    }
    match n {
        4..=8 => w4(name, 0) | L4 == w4(lit, 0) && w4(name, n - 4) | L4 == w4(lit, n - 4),
        9..=16 => w8(name, 0) | L8 == w8(lit, 0) && w8(name, n - 8) | L8 == w8(lit, n - 8),
        _ => name.iter().zip(lit).all(|(&a, &b)| a | 0x20 == b),
    }
}

#[inline(always)]
fn set_first(
    req: &mut RequestHeader,
    bit: u32,
    v: Span,
    slot: impl FnOnce(&mut RequestHeader) -> &mut Span,
) {
    if req.flags & bit == 0 {
        req.flags |= bit;
        *slot(req) = v;
    }
}

#[inline(always)]
fn on_host(
    req: &mut RequestHeader,
    buf: &[u8],
    v: Span,
    memo: &mut HostMemo,
) -> Result<(), ErrorKind> {
    if req.flags & flag::HAS_HOST != 0 {
        return Err(ErrorKind::DuplicateHost);
    }
    let len = v.len as usize;
    let block = buf
        .get(v.start as usize..)
        .and_then(|s| s.first_chunk::<16>())
        .filter(|_| len <= 16);
    match block {
        Some(c)
            if len == memo.len as usize && u128::from_le_bytes(*c) & memo.mask == memo.bytes => {}
        Some(c) => host_miss(c, v.get(buf), memo)?,
        None => {
            if !valid_host(v.get(buf)) {
                return Err(ErrorKind::InvalidHost);
            }
        }
    }
    req.flags |= flag::HAS_HOST;
    req.host = v;
    Ok(())
}

/// A `Host` value of at most 16 bytes (`c` starts with it) that is not the
/// remembered one: validated, and remembered when valid. Out of line, so
/// the usual hit keeps the field loop's registers.
#[inline(never)]
fn host_miss(c: &[u8; 16], host: &[u8], memo: &mut HostMemo) -> Result<(), ErrorKind> {
    let len = host.len();
    if !host_is_simple(c, len) && !valid_host(host) {
        return Err(ErrorKind::InvalidHost);
    }
    let mask = u128::MAX.checked_shr((16 - len) as u32 * 8).unwrap_or(0);
    *memo = HostMemo {
        bytes: u128::from_le_bytes(*c) & mask,
        mask,
        len: len as u8,
    };
    Ok(())
}

/// The usual `Host`, checked 16 bytes at once: the first `len` (at most
/// 16) bytes of `c` are `[A-Za-z0-9.-]` (a name or IPv4 address), then
/// maybe `:` and digits. `true` means valid; `false` means "not this
/// shape", for [`valid_host`] to decide.
#[inline(always)]
fn host_is_simple(c: &[u8; 16], len: usize) -> bool {
    let (simple, colon, digit) = simd::host_block(c);
    let all = ((1u32 << len) - 1) & 0xffff;
    let colon = colon & all;
    // One colon at most; everything before it simple, digits after it.
    let up_to_colon = colon | colon.wrapping_sub(1);
    let after = all & !up_to_colon;
    colon & colon.wrapping_sub(1) == 0 && (simple | colon) & all == all && digit & after == after
}

/// `uri-host [":" port]` (RFC 9110 §7.2); empty is allowed (RFC 9112 §3.2).
/// The host is a reg-name / IPv4 (unreserved, pct-encoded, sub-delims) or
/// a bracketed IP literal; the port is digits.
fn valid_host(h: &[u8]) -> bool {
    // One pass over the reg-name part; `:`, `[` and anything else stop it.
    let n = h
        .iter()
        .position(|&b| !REG_NAME[b as usize])
        .unwrap_or(h.len());
    let port = match h.get(n) {
        None => return true,
        Some(b':') => &h[n + 1..],
        Some(b'[') if n == 0 => {
            let Some(close) = h.iter().position(|&b| b == b']') else {
                return false;
            };
            let inner = &h[1..close];
            if inner.is_empty() || !inner.iter().all(|&b| REG_NAME[b as usize] || b == b':') {
                return false;
            }
            match &h[close + 1..] {
                [] => return true,
                [b':', port @ ..] => port,
                _ => return false,
            }
        }
        Some(_) => return false,
    };
    port.iter().all(u8::is_ascii_digit)
}

fn on_expect(req: &mut RequestHeader, v: &[u8]) -> Result<(), ErrorKind> {
    if req.version == Version::Http10 || v.is_empty() {
        return Ok(());
    }
    if v.eq_ignore_ascii_case(b"100-continue") {
        req.flags |= flag::EXPECT_CONTINUE;
        Ok(())
    } else {
        Err(ErrorKind::UnsupportedExpectation)
    }
}

fn on_connection(req: &mut RequestHeader, v: &[u8]) {
    // Single-option values first: one length check and one compare.
    let bit = match v.len() {
        5 if eq_lower(v, b"close") => flag::CONN_CLOSE,
        7 if eq_lower(v, b"upgrade") => flag::CONN_UPGRADE,
        10 if eq_lower(v, b"keep-alive") => flag::CONN_KEEP_ALIVE,
        _ => 0,
    };
    if bit != 0 {
        req.flags |= bit;
        return;
    }
    for opt in v.split(|&b| b == b',') {
        let opt = trim_ows(opt);
        if opt.eq_ignore_ascii_case(b"close") {
            req.flags |= flag::CONN_CLOSE;
        } else if opt.eq_ignore_ascii_case(b"keep-alive") {
            req.flags |= flag::CONN_KEEP_ALIVE;
        } else if opt.eq_ignore_ascii_case(b"upgrade") {
            req.flags |= flag::CONN_UPGRADE;
        }
    }
}

fn on_content_length(req: &mut RequestHeader, v: &[u8]) -> Result<(), ErrorKind> {
    if req.flags & flag::TE_SEEN != 0 {
        return Err(ErrorKind::ContentLengthWithTransferEncoding);
    }
    // Fast path: plain digits.
    let n = match parse_decimal(v) {
        Some(n) => n,
        None => {
            // A list of equal values collapses (RFC 9110 §8.6).
            let mut first = None;
            for elem in v.split(|&b| b == b',') {
                let n = parse_decimal(trim_ows(elem)).ok_or(ErrorKind::InvalidContentLength)?;
                match first {
                    None => first = Some(n),
                    Some(f) if f == n => {}
                    Some(_) => return Err(ErrorKind::ConflictingContentLength),
                }
            }
            first.ok_or(ErrorKind::InvalidContentLength)?
        }
    };
    if req.flags & flag::HAS_CONTENT_LENGTH != 0 && req.content_length != n {
        return Err(ErrorKind::ConflictingContentLength);
    }
    req.flags |= flag::HAS_CONTENT_LENGTH;
    req.content_length = n;
    Ok(())
}

/// `1*DIGIT` as a `u64`, `None` if empty, not digits, or overflowing.
#[inline]
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

fn on_transfer_encoding(req: &mut RequestHeader, v: &[u8]) -> Result<(), ErrorKind> {
    if req.version == Version::Http10 {
        return Err(ErrorKind::TransferEncodingHttp10);
    }
    if req.flags & flag::HAS_CONTENT_LENGTH != 0 {
        return Err(ErrorKind::ContentLengthWithTransferEncoding);
    }
    let mut any = false;
    for coding in v.split(|&b| b == b',') {
        let coding = trim_ows(coding);
        if coding.is_empty() {
            continue; // empty list elements are ignored (RFC 9110 §5.6.1)
        }
        if !coding.iter().all(|&b| is_token(b)) {
            // Parameters, quoted strings or inner whitespace.
            return Err(ErrorKind::InvalidTransferEncoding);
        }
        any = true;
        let chunked = coding.eq_ignore_ascii_case(b"chunked");
        if req.flags & flag::TE_CHUNKED != 0 {
            return Err(if chunked {
                ErrorKind::RepeatedChunked
            } else {
                ErrorKind::TransferEncodingNotChunked
            });
        }
        if chunked {
            req.flags |= flag::TE_CHUNKED;
        } else {
            req.flags |= flag::TE_OTHER;
        }
    }
    if !any {
        return Err(ErrorKind::InvalidTransferEncoding);
    }
    req.flags |= flag::TE_SEEN;
    Ok(())
}

/// Strips leading and trailing SP / HTAB.
#[inline]
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<(Status, RequestHeader), ErrorKind> {
        let mut p = RequestParser::new(Limits::default());
        let mut r = RequestHeader::new();
        p.parse(buf, &mut r).map(|s| (s, r)).map_err(|e| e.kind())
    }

    #[test]
    fn simple_get() {
        let buf = b"GET /a/b?c=d HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
        let (s, r) = parse(buf).unwrap();
        assert_eq!(s, Status::Complete(buf.len()));
        assert_eq!(r.method(), Method::Get);
        assert_eq!(r.method_span().get(buf), b"GET");
        assert_eq!(r.target().get(buf), b"/a/b?c=d");
        assert_eq!(r.path().get(buf), b"/a/b");
        assert_eq!(r.query().unwrap().get(buf), b"c=d");
        assert_eq!(r.headers().len(), 2);
        assert_eq!(r.user_agent().unwrap().get(buf), b"t");
        assert!(r.keep_alive());
        assert_eq!(r.head_len(), buf.len());
        assert!(r.is_complete());
    }

    #[test]
    fn byte_by_byte_equals_one_shot() {
        let buf = b"\r\nPOST http://h:1/p?q HTTP/1.1\r\nHost: h:1\r\nTransfer-Encoding: chunked\r\nX:  y \t\r\n\r\n";
        let (s, one) = parse(buf).unwrap();
        let mut p = RequestParser::new(Limits::default());
        let mut r = RequestHeader::new();
        for n in 0..buf.len() {
            assert_eq!(p.parse(&buf[..n], &mut r), Ok(Status::Partial), "at {n}");
        }
        assert_eq!(p.parse(buf, &mut r), Ok(s));
        assert_eq!(r, one);
        assert_eq!(r.target_form(), TargetForm::Absolute);
        assert_eq!(r.path().get(buf), b"/p");
        assert_eq!(r.header(buf, b"x"), Some(&b"y"[..]));
    }

    #[test]
    fn outcome_is_sticky_until_reset() {
        let mut p = RequestParser::new(Limits::default());
        let mut r = RequestHeader::new();
        assert_eq!(
            p.parse(b"GET / HTTP/1.1\r\n\r\n", &mut r)
                .unwrap_err()
                .kind(),
            ErrorKind::MissingHost
        );
        assert_eq!(
            p.parse(b"GET / HTTP/1.0\r\n\r\n", &mut r)
                .unwrap_err()
                .kind(),
            ErrorKind::MissingHost
        );
        p.reset();
        assert_eq!(
            p.parse(b"GET / HTTP/1.0\r\n\r\n", &mut r),
            Ok(Status::Complete(18))
        );
        assert_eq!(p.parse(b"", &mut r), Ok(Status::Complete(18)));
    }

    #[test]
    fn a_shrinking_buffer_never_panics() {
        // A caller bug (the slice must only grow), but it must not panic.
        let full = b"GET /abc?d HTTP/1.1\r\nHost: example.com\r\nX-Some-Long-Header-Name: some value here\r\n\r\n";
        for first in 0..full.len() {
            for second in 0..first {
                let mut p = RequestParser::new(Limits::default());
                let mut r = RequestHeader::new();
                let _ = p.parse(&full[..first], &mut r);
                let _ = p.parse(&full[..second], &mut r);
                let _ = p.parse(full, &mut r);
            }
        }
    }

    #[test]
    fn version_slow_path() {
        assert_eq!(
            parse(b"GET / HTTP/1.2\r\n\r\n").unwrap_err(),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(parse(b"GET / HTTP/1.1\n").unwrap_err(), ErrorKind::BareLf);
        assert_eq!(
            parse(b"GET / HTTP/1.1 \r\n").unwrap_err(),
            ErrorKind::InvalidRequestLine
        );
        assert_eq!(parse(b"GET / HTTP/1.1\rx").unwrap_err(), ErrorKind::BareCr);
        assert_eq!(
            parse(b"GET / HTTP/1.10\r\n").unwrap_err(),
            ErrorKind::InvalidVersion
        );
        assert_eq!(
            parse(b"GET / http/1.1\r\n").unwrap_err(),
            ErrorKind::InvalidVersion
        );
        assert_eq!(parse(b"GET / HTTP/1.").unwrap().0, Status::Partial);
        assert_eq!(parse(b"GET / HTTP/1.1\r").unwrap().0, Status::Partial);
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b"1 "), None);
    }

    /// A raw `\` is refused in the path part of the target (origin-form
    /// and absolute-form, in and beyond the fast path's first block) and
    /// allowed in the query; one call (fast paths) and byte by byte
    /// (phased parser) agree.
    #[test]
    fn backslash_refused_in_paths_allowed_in_queries() {
        let bad: [&[u8]; 10] = [
            b"GET /a\\b HTTP/1.1",
            b"GET /\\ HTTP/1.1",
            b"GET \\ HTTP/1.1",
            b"GET /..\\..\\windows\\win.ini HTTP/1.1",
            b"GET /0123456789abcdef/x\\y HTTP/1.1",
            b"POST /0123456789abcdef0123456789abcdef\\ HTTP/1.1",
            b"GET /a\\b?c HTTP/1.1",
            b"GET http://h/a\\b HTTP/1.1",
            b"GET http://h\\/a HTTP/1.1",
            b"CONNECT h\\:80 HTTP/1.1",
        ];
        let good: [(&[u8], &[u8], &[u8]); 6] = [
            (b"GET /a?b\\c HTTP/1.1", b"/a", b"b\\c"),
            (b"GET /?\\ HTTP/1.1", b"/", b"\\"),
            (b"GET /a?\\?\\ HTTP/1.1", b"/a", b"\\?\\"),
            (
                b"POST /0123456789abcdef?x=\\y&z=0123456789abcdef\\ HTTP/1.1",
                b"/0123456789abcdef",
                b"x=\\y&z=0123456789abcdef\\",
            ),
            (b"GET http://h/a?b\\c HTTP/1.1", b"/a", b"b\\c"),
            (b"GET http://h?\\ HTTP/1.1", b"", b"\\"),
        ];
        let byte_by_byte = |buf: &[u8]| {
            let mut p = RequestParser::new(Limits::default());
            let mut r = RequestHeader::new();
            for n in 0..buf.len() {
                match p.parse(&buf[..n], &mut r) {
                    Ok(Status::Partial) => {}
                    e => return e.map(|s| (s, r)).map_err(|e| e.kind()),
                }
            }
            p.parse(buf, &mut r).map(|s| (s, r)).map_err(|e| e.kind())
        };
        let head = |line: &[u8]| [line, b"\r\nHost: h\r\n\r\n"].concat();
        for line in bad {
            let buf = head(line);
            let what = line.escape_ascii().to_string();
            assert_eq!(parse(&buf).unwrap_err(), ErrorKind::InvalidTarget, "{what}");
            assert_eq!(
                byte_by_byte(&buf).unwrap_err(),
                ErrorKind::InvalidTarget,
                "{what}"
            );
            // Refused as soon as the backslash arrives.
            let at = line.iter().position(|&b| b == b'\\').unwrap_or(0);
            assert_eq!(
                parse(&line[..=at]).unwrap_err(),
                ErrorKind::InvalidTarget,
                "{what}"
            );
        }
        for (line, path, query) in good {
            let buf = head(line);
            let what = line.escape_ascii().to_string();
            let (s, r) = parse(&buf).expect(&what);
            assert_eq!(s, Status::Complete(buf.len()), "{what}");
            assert_eq!(r.path().get(&buf), path, "{what}");
            assert_eq!(r.query().map(|q| q.get(&buf)), Some(query), "{what}");
            assert_eq!(byte_by_byte(&buf), Ok((s, r)), "{what}");
        }
    }

    /// `RequestHeader::path_is_plain` for every target form: set exactly
    /// when the path starts with `/` and has no `%`, `//` or `/.`.
    #[test]
    fn plain_paths_are_flagged_in_every_target_form() {
        let cases: [(&[u8], bool); 10] = [
            (b"GET / HTTP/1.1", true),
            (b"GET /a/b.c/d HTTP/1.1", true),
            (b"GET /a//b HTTP/1.1", false),
            (b"GET /a/./b HTTP/1.1", false),
            (b"GET /a/%41 HTTP/1.1", false),
            (b"OPTIONS * HTTP/1.1", false),
            (b"CONNECT h:443 HTTP/1.1", false),
            (b"GET http://h/a/b HTTP/1.1", true),
            (b"GET http://h/a/../b HTTP/1.1", false),
            (b"GET http://h HTTP/1.1", false),
        ];
        for (line, plain) in cases {
            let mut buf = line.to_vec();
            buf.extend_from_slice(b"\r\nHost: h\r\n\r\n");
            let mut req = RequestHeader::new();
            let r = RequestParser::new(Limits::default()).parse(&buf, &mut req);
            assert!(matches!(r, Ok(Status::Complete(_))), "{r:?}");
            assert_eq!(
                req.path_is_plain(),
                plain,
                "{:?}",
                line.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn hosts() {
        for h in [
            &b""[..],
            b"a",
            b"a.b:80",
            b"[::1]",
            b"[::1]:8080",
            b"x_y.z",
            b"a:",
        ] {
            assert!(valid_host(h), "{:?}", h.escape_ascii().to_string());
        }
        for h in [
            &b"a b"[..],
            b"a/b",
            b"u@h",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a:b",
            b"a:1:2",
            b"a]",
        ] {
            assert!(!valid_host(h), "{:?}", h.escape_ascii().to_string());
        }
    }

    /// The 16-byte fast path never accepts what `valid_host` refuses, and
    /// accepts the usual shapes itself.
    /// `host_is_simple` on the first `len` bytes of `buf`, as `on_host`
    /// calls it (at most 16 bytes, a whole block readable).
    fn simple(buf: &[u8], len: usize) -> bool {
        len <= 16
            && buf
                .first_chunk::<16>()
                .is_some_and(|c| host_is_simple(c, len))
    }

    /// A parser that saw a valid `Host` still checks a different one of the
    /// same length, and one whose bytes after the value differ is the same.
    #[test]
    fn known_host_lines_parse_as_the_generic_path() {
        const HOST: &[u8] = b"example.com:8080";
        let cases: &[(&[u8], usize)] = &[
            (b"Host: example.com:8080\r\n", 100),
            (b"Host: example.com:8080\r\nX-A: 1\r\n", 100),
            (b"X-A: 1\r\nHost: example.com:8080\r\n", 100),
            (b"Host: example.com:8080 \r\n", 100),
            (b"Host:  example.com:8080\r\n", 100),
            (b"Host:example.com:8080\r\n", 100),
            (b"host: example.com:8080\r\n", 100),
            (b"HOST: example.com:8080\r\n", 100),
            (b"Host: example.com:80801\r\n", 100),
            (b"Host: example.com:808\r\n", 100),
            (b"Host: example.com:8080\rX\n", 100),
            (b"Host: example.com:8080\n", 100),
            (b"Host: example.com:8080\r\nHost: example.com:8080\r\n", 100),
            (b"X-A: 1\r\nHost: example.com:8080\r\n", 1),
            (b"Host: example.com:8080\r\n", 0),
            (b"Host: example.com:8080\r\n", 1),
            (b"Host: \r\n", 100),
            // With no field allowed the priming request fails too, so the
            // remembered value stays the empty one (the line after gives
            // the 16 bytes the shortcut looks at).
            (b"Host: \r\nX-Padding: 0123456789\r\n", 0),
        ];
        for &(lines, max_headers) in cases {
            let limits = Limits {
                max_headers,
                ..Limits::default()
            };
            let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
            buf.extend_from_slice(lines);
            buf.extend_from_slice(b"\r\n");
            let what = buf.escape_ascii().to_string();
            // The reference: a fresh parser fed one byte at a time, which
            // sees no line whole at its start and so takes no fast path.
            let mut fresh = RequestParser::new(limits.clone());
            let mut want = RequestHeader::new();
            let mut r = Ok(Status::Partial);
            for k in 0..=buf.len() {
                r = fresh.parse(&buf[..k], &mut want);
                if r != Ok(Status::Partial) {
                    break;
                }
            }
            // A parser that remembers HOST, whole and byte by byte.
            let mut warm = RequestParser::new(limits.clone());
            let mut prime = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            prime.extend_from_slice(HOST);
            prime.extend_from_slice(b"\r\n\r\n");
            let _ = warm.parse(&prime, &mut RequestHeader::new());
            warm.reset();
            let mut got = RequestHeader::new();
            assert_eq!(warm.parse(&buf, &mut got), r, "{what}");
            // Equal even after an error: the fields stored before it.
            assert_eq!(got, want, "{what}");
            for n in 0..=buf.len() {
                let _ = warm.parse(&prime, &mut RequestHeader::new());
                warm.reset();
                let mut got = RequestHeader::new();
                let mut out = Ok(Status::Partial);
                for k in n..=buf.len() {
                    out = warm.parse(&buf[..k], &mut got);
                    if out != Ok(Status::Partial) {
                        break;
                    }
                }
                assert_eq!(out, r, "{what} from {n}");
                assert_eq!(got, want, "{what} from {n}");
                warm.reset();
            }
        }
    }

    #[test]
    fn host_memo_matches_only_the_same_bytes() {
        let mut parser = RequestParser::new(Limits::default());
        let mut req = RequestHeader::new();
        let mut parse = |host: &[u8], after: &[u8]| {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(host);
            buf.extend_from_slice(b"\r\n");
            buf.extend_from_slice(after);
            buf.extend_from_slice(b"\r\n");
            parser.reset();
            let r = parser
                .parse(&buf, &mut req)
                .map(|_| req.host().map(|h| h.get(&buf).to_vec()));
            let mut fresh = RequestParser::new(Limits::default());
            let mut fresh_req = RequestHeader::new();
            let f = fresh
                .parse(&buf, &mut fresh_req)
                .map(|_| fresh_req.host().map(|h| h.get(&buf).to_vec()));
            assert_eq!(r, f, "{:?}", buf.escape_ascii().to_string());
            r.is_ok()
        };
        assert!(parse(b"abc:1", b""));
        assert!(!parse(b"abc:x", b""));
        assert!(!parse(b"abc:1:", b""));
        assert!(parse(b"abc:1", b"X-Long-Field: 0123456789abcdef"));
        assert!(!parse(b"abc:1", b"Host: abc:1"));
        assert!(parse(b"0123456789abcdef", b""));
        assert!(!parse(b"0123456789abcde/", b""));
        assert!(parse(b"0123456789abcdef", b""));
        assert!(!parse(b"0123456789abcdef/", b""));
        assert!(parse(b"", b""));
        assert!(!parse(b"a b", b""));
        assert!(parse(b"[::1]:80", b""));
        assert!(!parse(b"[::1]:8x", b""));
    }

    #[test]
    fn simple_hosts_agree_with_valid_host() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"a.Z9-:0[]_%/ @\x7f\x80";
        for round in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 19) as usize;
            let mut buf: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (k * 3 % 60)) as usize + round) % alphabet.len()])
                .collect();
            buf.extend_from_slice(b"\r\n\r\n0123456789abcdef");
            if simple(&buf, len) {
                assert!(
                    valid_host(&buf[..len]),
                    "{:?}",
                    buf[..len].escape_ascii().to_string()
                );
            }
        }
        for h in [
            &b"127.0.0.1:9200"[..],
            b"example.com",
            b"a-b.c:8080",
            b"",
            b"x:",
        ] {
            let mut buf = h.to_vec();
            buf.extend_from_slice(&[b'\r'; 16]);
            assert!(simple(&buf, h.len()), "{h:?}");
        }
        for h in [&b"a:b"[..], b"a:1:2", b"[::1]", b"x_y", b"a b"] {
            let mut buf = h.to_vec();
            buf.extend_from_slice(&[b'\r'; 16]);
            assert!(!simple(&buf, h.len()), "{h:?}");
        }
    }

    #[test]
    fn trim() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    /// `method_seen` after a parse is the same however the head arrived
    /// (whole, or byte by byte), and names HEAD only once `HEAD ` was read.
    #[test]
    fn method_seen_depends_only_on_bytes_before_the_error() {
        let cases: &[(&[u8], Option<Method>)] = &[
            (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", Some(Method::Head)),
            (b"HEAD / HTTP/1.1\r\n\r\n", Some(Method::Head)), // no Host
            (b"HEAD / HTTP/1.1\r\nBad\n\r\n", Some(Method::Head)),
            (b"HEAD /a\\b HTTP/1.1\r\n\r\n", Some(Method::Head)), // in the target
            (b"HEAD / HTTP/9.9\r\n\r\n", Some(Method::Head)),
            (b"\r\n\r\nHEAD / HTTP/1.1\r\n\r\n", Some(Method::Head)),
            (b"\nHEAD / HTTP/1.1\r\n\r\n", None),
            (b"\r\rHEAD / HTTP/1.1\r\n\r\n", None),
            (b"HE\x01AD / HTTP/1.1\r\n\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Some(Method::Get)),
            (b"POST /x HTTP/1.1\r\nBad\n\r\n", Some(Method::Post)),
        ];
        for (input, want) in cases {
            let mut p = RequestParser::new(Limits::default());
            let mut req = RequestHeader::new();
            let _ = p.parse(input, &mut req);
            assert_eq!(
                p.method_seen(input, &req),
                *want,
                "{}",
                input.escape_ascii()
            );
            let mut p = RequestParser::new(Limits::default());
            let mut req = RequestHeader::new();
            for end in 1..=input.len() {
                if !matches!(p.parse(&input[..end], &mut req), Ok(Status::Partial)) {
                    break;
                }
            }
            assert_eq!(
                p.method_seen(input, &req),
                *want,
                "byte by byte: {}",
                input.escape_ascii()
            );
        }
    }
}

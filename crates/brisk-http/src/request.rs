//! The parsed request head: [`RequestHeader`] and its small enums.

use brisk_buf::Span;

/// The request method (RFC 9110 §9). Methods are case-sensitive: `get` is
/// a legal extension method and parses as [`Method::Other`]; the exact bytes
/// are always available from [`RequestHeader::method_span`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other token.
    Other,
}

/// The protocol version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

/// How the request body is framed, decided from the head (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// Neither Content-Length nor Transfer-Encoding: no body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with
    /// [`ChunkedDecoder`](crate::ChunkedDecoder).
    Chunked,
}

/// One field line: spans of its name and its value (without surrounding
/// whitespace) in the parsed buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeaderField {
    /// The field name, as sent (or as normalized by
    /// [`normalize_header_names`]).
    pub name: Span,
    /// The field value, leading and trailing whitespace excluded.
    pub value: Span,
}

/// The form of the request target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://host/path?query`, as sent to proxies.
    Absolute,
    /// `host:port`, only with CONNECT.
    Authority,
    /// `*`, only with OPTIONS.
    Asterisk,
}

/// A parsed request head: spans into the caller's buffer, nothing copied.
///
/// Filled by [`RequestParser::parse`](crate::RequestParser::parse) and
/// reused across requests ([`clear`](RequestHeader::clear) keeps the header
/// table's allocation). Every span is relative to the slice that was given to
/// `parse`; resolve it with [`Span::get`].
///
/// The fields a server needs (Content-Length, Transfer-Encoding, Connection,
/// Host, Expect, Content-Type, Cookie, User-Agent, Upgrade) are captured
/// during the same single pass over the bytes; when a field appears more than
/// once the accessors return the first occurrence (Host, Content-Length and
/// Transfer-Encoding are validated across all of them).
///
/// ```
/// use brisk_http::{BodyKind, Limits, Method, RequestHeader, RequestParser, Status};
/// let buf = b"POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc";
/// let mut req = RequestHeader::new();
/// let mut parser = RequestParser::new(Limits::default());
/// assert_eq!(parser.parse(buf, &mut req), Ok(Status::Complete(67)));
/// assert_eq!(req.method(), Method::Post);
/// assert_eq!(req.path().get(buf), b"/upload");
/// assert_eq!(req.query().map(|q| q.get(buf)), Some(&b"x=1"[..]));
/// assert_eq!(req.host().map(|h| h.get(buf)), Some(&b"example.com"[..]));
/// assert_eq!(req.body_kind(), BodyKind::Length(3));
/// assert_eq!(req.header(buf, b"content-length"), Some(&b"3"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// The field lines. A plain `Vec`: a head is reused request after
    /// request (`clear` keeps the allocation), so it allocates only while
    /// it first grows, and a push is one capacity check.
    pub(crate) headers: Vec<HeaderField>,
    pub(crate) method_span: Span,
    pub(crate) target: Span,
    pub(crate) path: Span,
    pub(crate) query: Span,
    pub(crate) host: Span,
    pub(crate) content_type: Span,
    pub(crate) cookie: Span,
    pub(crate) user_agent: Span,
    pub(crate) upgrade: Span,
    pub(crate) content_length: u64,
    pub(crate) head_len: u32,
    pub(crate) flags: u32,
    pub(crate) method: Method,
    pub(crate) version: Version,
    pub(crate) target_form: TargetForm,
}

/// Bits of [`RequestHeader::flags`].
pub(crate) mod flag {
    pub const HAS_QUERY: u32 = 1 << 0;
    pub const HAS_HOST: u32 = 1 << 1;
    pub const HAS_CONTENT_TYPE: u32 = 1 << 2;
    pub const HAS_COOKIE: u32 = 1 << 3;
    pub const HAS_USER_AGENT: u32 = 1 << 4;
    pub const HAS_UPGRADE: u32 = 1 << 5;
    pub const HAS_CONTENT_LENGTH: u32 = 1 << 6;
    pub const CONN_CLOSE: u32 = 1 << 7;
    pub const CONN_KEEP_ALIVE: u32 = 1 << 8;
    pub const CONN_UPGRADE: u32 = 1 << 9;
    pub const EXPECT_CONTINUE: u32 = 1 << 10;
    /// A Transfer-Encoding field was seen.
    pub const TE_SEEN: u32 = 1 << 11;
    /// The last transfer coding seen so far is `chunked`.
    pub const TE_CHUNKED: u32 = 1 << 12;
    /// A coding other than `chunked` was seen.
    pub const TE_OTHER: u32 = 1 << 13;
    /// The head is complete and its framing validated.
    pub const COMPLETE: u32 = 1 << 14;
    /// Some field name may not be in canonical case (clear: all are).
    pub const MISCASED: u32 = 1 << 15;
    /// Origin-form target whose path needs no normalization.
    pub const PATH_PLAIN: u32 = 1 << 16;
}

impl Default for RequestHeader {
    fn default() -> RequestHeader {
        RequestHeader::new()
    }
}

impl RequestHeader {
    /// An empty head (method GET, version HTTP/1.1, no headers).
    pub fn new() -> RequestHeader {
        RequestHeader {
            headers: Vec::new(),
            method_span: Span::EMPTY,
            target: Span::EMPTY,
            path: Span::EMPTY,
            query: Span::EMPTY,
            host: Span::EMPTY,
            content_type: Span::EMPTY,
            cookie: Span::EMPTY,
            user_agent: Span::EMPTY,
            upgrade: Span::EMPTY,
            content_length: 0,
            head_len: 0,
            flags: 0,
            method: Method::Get,
            version: Version::Http11,
            target_form: TargetForm::Origin,
        }
    }

    /// Forgets the previous request, keeping the header table's allocation.
    #[inline]
    pub fn clear(&mut self) {
        self.headers.clear();
        self.method_span = Span::EMPTY;
        self.target = Span::EMPTY;
        self.path = Span::EMPTY;
        self.query = Span::EMPTY;
        self.host = Span::EMPTY;
        self.content_type = Span::EMPTY;
        self.cookie = Span::EMPTY;
        self.user_agent = Span::EMPTY;
        self.upgrade = Span::EMPTY;
        self.content_length = 0;
        self.head_len = 0;
        self.flags = 0;
        self.method = Method::Get;
        self.version = Version::Http11;
        self.target_form = TargetForm::Origin;
    }

    /// Whether a complete, valid head has been parsed into `self`.
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.flags & flag::COMPLETE != 0
    }

    /// Length of the head in bytes, final CRLFCRLF included (0 until complete).
    #[inline]
    pub fn head_len(&self) -> usize {
        self.head_len as usize
    }

    /// The method.
    #[inline]
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method's bytes.
    #[inline]
    pub fn method_span(&self) -> Span {
        self.method_span
    }

    /// The raw request target, exactly as sent.
    #[inline]
    pub fn target(&self) -> Span {
        self.target
    }

    /// The form of the request target.
    #[inline]
    pub fn target_form(&self) -> TargetForm {
        self.target_form
    }

    /// The raw (not decoded, not normalized) path: for origin-form the target
    /// up to `?`; for absolute-form the part after the authority (possibly
    /// empty); `*` for asterisk-form; empty for authority-form. Use
    /// [`normalize_path`](crate::normalize_path) for a decoded, normalized
    /// path.
    #[inline]
    pub fn path(&self) -> Span {
        self.path
    }

    /// Whether the path needs no normalization: the target is origin-form
    /// or absolute-form, the path starts with `/` and has no `%`, `//` or
    /// `/.`, so [`normalize_path`](crate::normalize_path) would return it
    /// unchanged. Found while parsing, so asking costs nothing.
    #[inline]
    pub fn path_is_plain(&self) -> bool {
        self.flags & flag::PATH_PLAIN != 0
    }

    /// The query, without the `?` (present but empty for a target ending in
    /// `?`). Parse it with [`parse_args`](crate::parse_args).
    #[inline]
    pub fn query(&self) -> Option<Span> {
        (self.flags & flag::HAS_QUERY != 0).then_some(self.query)
    }

    /// The protocol version.
    #[inline]
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every field line, in order.
    #[inline]
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    #[inline]
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.len as usize == name.len() && h.name.eq_ignore_ascii_case(buf, name))
            .map(|h| h.value.get(buf))
    }

    /// The values of every field named `name` (ASCII case-insensitive), in
    /// order.
    pub fn headers_named<'s, 'b>(
        &'s self,
        buf: &'b [u8],
        name: &'s [u8],
    ) -> impl Iterator<Item = &'b [u8]> + use<'s, 'b> {
        self.headers
            .iter()
            .filter(move |h| {
                h.name.len as usize == name.len() && h.name.eq_ignore_ascii_case(buf, name)
            })
            .map(move |h| h.value.get(buf))
    }

    /// How the body is framed.
    #[inline]
    pub fn body_kind(&self) -> BodyKind {
        if self.flags & flag::TE_SEEN != 0 {
            BodyKind::Chunked
        } else if self.flags & flag::HAS_CONTENT_LENGTH != 0 {
            BodyKind::Length(self.content_length)
        } else {
            BodyKind::None
        }
    }

    /// Whether the connection may stay open after this request: on HTTP/1.1
    /// unless `Connection: close`; on HTTP/1.0 only with
    /// `Connection: keep-alive` (and no `close`).
    #[inline]
    pub fn keep_alive(&self) -> bool {
        if self.flags & flag::CONN_CLOSE != 0 {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.flags & flag::CONN_KEEP_ALIVE != 0,
        }
    }

    /// Whether a Connection field lists `close`.
    #[inline]
    pub fn connection_close(&self) -> bool {
        self.flags & flag::CONN_CLOSE != 0
    }

    /// Whether a Connection field lists `keep-alive`.
    #[inline]
    pub fn connection_keep_alive(&self) -> bool {
        self.flags & flag::CONN_KEEP_ALIVE != 0
    }

    /// Whether a Connection field lists `upgrade`.
    #[inline]
    pub fn connection_upgrade(&self) -> bool {
        self.flags & flag::CONN_UPGRADE != 0
    }

    /// Whether the client sent `Expect: 100-continue` (any case) on an
    /// HTTP/1.1 request and waits for `100 Continue` before sending the body.
    ///
    /// Any other expectation on HTTP/1.1 fails the parse with
    /// [`ErrorKind::UnsupportedExpectation`](crate::ErrorKind::UnsupportedExpectation)
    /// (status 417, RFC 9110 §10.1.1); Expect on HTTP/1.0 is ignored, as
    /// RFC 9110 §10.1.1 requires for 100-continue.
    #[inline]
    pub fn expect_continue(&self) -> bool {
        self.flags & flag::EXPECT_CONTINUE != 0
    }

    /// The Host value (validated; exactly one is required on HTTP/1.1).
    #[inline]
    pub fn host(&self) -> Option<Span> {
        self.opt(flag::HAS_HOST, self.host)
    }

    /// The first Content-Type value.
    #[inline]
    pub fn content_type(&self) -> Option<Span> {
        self.opt(flag::HAS_CONTENT_TYPE, self.content_type)
    }

    /// The first Cookie value; parse it with
    /// [`parse_cookies`](crate::parse_cookies).
    #[inline]
    pub fn cookie(&self) -> Option<Span> {
        self.opt(flag::HAS_COOKIE, self.cookie)
    }

    /// The first User-Agent value.
    #[inline]
    pub fn user_agent(&self) -> Option<Span> {
        self.opt(flag::HAS_USER_AGENT, self.user_agent)
    }

    /// The first Upgrade value.
    #[inline]
    pub fn upgrade(&self) -> Option<Span> {
        self.opt(flag::HAS_UPGRADE, self.upgrade)
    }

    /// The Content-Length (all occurrences agree, or the parse failed).
    #[inline]
    pub fn content_length(&self) -> Option<u64> {
        (self.flags & flag::HAS_CONTENT_LENGTH != 0).then_some(self.content_length)
    }

    /// A copy of this head that describes the body after its content
    /// coding was removed (request decompression): the `Content-Encoding`,
    /// `Content-Length` and `Transfer-Encoding` fields are left out,
    /// [`content_length`](Self::content_length) is `decoded_len` and
    /// [`body_kind`](Self::body_kind) is `Length(decoded_len)`. `buf` is
    /// the buffer the head was parsed from; the copy's spans still point
    /// into it.
    ///
    /// ```
    /// use brisk_http::{BodyKind, Limits, RequestHeader, RequestParser};
    /// let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc";
    /// let mut req = RequestHeader::new();
    /// RequestParser::new(Limits::default()).parse(buf, &mut req).unwrap();
    /// let decoded = req.without_content_coding(buf, 10);
    /// assert_eq!(decoded.header(buf, b"content-encoding"), None);
    /// assert_eq!(decoded.header(buf, b"content-length"), None);
    /// assert_eq!(decoded.header(buf, b"x-a"), Some(&b"1"[..]));
    /// assert_eq!(decoded.body_kind(), BodyKind::Length(10));
    /// ```
    pub fn without_content_coding(&self, buf: &[u8], decoded_len: u64) -> RequestHeader {
        let mut head = self.clone();
        head.headers.retain(|h| {
            ![
                &b"content-encoding"[..],
                b"content-length",
                b"transfer-encoding",
            ]
            .iter()
            .any(|n| h.name.len as usize == n.len() && h.name.eq_ignore_ascii_case(buf, n))
        });
        head.flags &= !(flag::TE_SEEN | flag::TE_CHUNKED | flag::TE_OTHER);
        head.flags |= flag::HAS_CONTENT_LENGTH;
        head.content_length = decoded_len;
        head
    }

    #[inline]
    fn opt(&self, bit: u32, span: Span) -> Option<Span> {
        (self.flags & bit != 0).then_some(span)
    }
}

/// Rewrites every header name of `req` inside `buf` to canonical case, in
/// place: the first letter and every letter after `-` upper case, the others
/// lower case (`content-type` → `Content-Type`, `X-FORWARDED-FOR` →
/// `X-Forwarded-For`).
///
/// `buf` must be the buffer `req` was parsed from; spans that do not lie
/// inside it are skipped. The server calls this after a complete parse when
/// [`Limits::normalize_header_names`](crate::Limits::normalize_header_names)
/// is on.
///
/// ```
/// use brisk_http::{normalize_header_names, Limits, RequestHeader, RequestParser};
/// let mut buf = b"GET / HTTP/1.1\r\nhost: a\r\nx-REQUEST-id: 7\r\n\r\n".to_vec();
/// let mut req = RequestHeader::new();
/// RequestParser::new(Limits::default()).parse(&buf, &mut req).unwrap();
/// normalize_header_names(&mut buf, &req);
/// assert_eq!(&buf[..], b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: 7\r\n\r\n");
/// ```
#[inline]
pub fn normalize_header_names(buf: &mut [u8], req: &RequestHeader) {
    // The parser flags heads with a name that may need changing; most
    // clients send canonical names, and then there is nothing to do.
    if req.flags & flag::MISCASED != 0 {
        canonicalize_names(buf, req);
    }
}

/// [`normalize_header_names`] for a head with a miscased name.
#[inline(never)]
fn canonicalize_names(buf: &mut [u8], req: &RequestHeader) {
    for h in req.headers() {
        canonicalize_at(buf, h.name.start as usize, h.name.len as usize);
    }
}

/// Canonical case for name bytes, in place, one at a time: `upper` says
/// whether the first one starts a word (true at the start of a name).
fn canonicalize_from(name: &mut [u8], mut upper: bool) {
    for b in name {
        *b = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        upper = *b == b'-';
    }
}

/// Canonical case for the name at `buf[start..start + len]`, 16 bytes at a
/// time with `simd::case_block` (the parser's check), flipping only the
/// letters in the wrong case; byte by byte where fewer than 16 bytes of
/// `buf` are left.
#[inline]
fn canonicalize_at(buf: &mut [u8], start: usize, len: usize) {
    let mut i = 0;
    let mut upper = true;
    while i < len {
        let n = (len - i).min(16);
        let Some(chunk) = buf
            .get_mut(start + i..)
            .and_then(|s| s.first_chunk_mut::<16>())
        else {
            if let Some(rest) = buf.get_mut(start + i..start + len) {
                canonicalize_from(rest, upper);
            }
            return;
        };
        let masks = crate::simd::case_block(chunk);
        let mut wrong = crate::simd::miscased(masks, upper) & ((1u32 << n) - 1);
        while wrong != 0 {
            if let Some(b) = chunk.get_mut(wrong.trailing_zeros() as usize) {
                *b ^= 0x20;
            }
            wrong &= wrong - 1;
        }
        upper = (masks.2 >> (n - 1)) & 1 == 1;
        i += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time path equals the byte loop, for names of every
    /// length up to 40 at every distance from the end of the buffer.
    #[test]
    fn canonicalize_at_matches_the_byte_loop() {
        let alphabet = b"aZ-x-Y09_.!~-q@[`{\xc3\x80";
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 41) as usize;
            let tail = ((x >> 8) % 12) as usize;
            let lead = ((x >> 16) % 5) as usize;
            let name: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (k % 50)) as usize + k * 7 + round) % alphabet.len()])
                .collect();
            let mut buf = vec![b'#'; lead];
            buf.extend_from_slice(&name);
            buf.extend(std::iter::repeat_n(b':', tail));
            let mut want = buf.clone();
            canonicalize_from(&mut want[lead..lead + len], true);
            canonicalize_at(&mut buf, lead, len);
            assert_eq!(buf, want, "{:?}", name.escape_ascii().to_string());
        }
    }

    #[test]
    fn canonical_case() {
        for (i, o) in [
            (&b"content-type"[..], &b"Content-Type"[..]),
            (b"CONTENT-LENGTH", b"Content-Length"),
            (b"x-forwarded-for", b"X-Forwarded-For"),
            (b"te", b"Te"),
            (b"-a--b-", b"-A--B-"),
            (b"www-authenticate", b"Www-Authenticate"),
            (b"x_y", b"X_y"),
            (b"", b""),
        ] {
            let mut v = i.to_vec();
            canonicalize_from(&mut v, true);
            assert_eq!(v, o);
        }
    }

    #[test]
    fn defaults_and_clear() {
        let mut h = RequestHeader::default();
        assert!(!h.is_complete());
        assert_eq!(h.body_kind(), BodyKind::None);
        assert!(h.keep_alive());
        h.flags = flag::HAS_HOST | flag::CONN_CLOSE | flag::COMPLETE;
        h.version = Version::Http10;
        h.headers.push(HeaderField::default());
        assert!(!h.keep_alive());
        h.clear();
        assert_eq!(h, RequestHeader::new());
    }

    #[test]
    fn http10_keep_alive_needs_the_token() {
        let mut h = RequestHeader::new();
        h.version = Version::Http10;
        assert!(!h.keep_alive());
        h.flags |= flag::CONN_KEEP_ALIVE;
        assert!(h.keep_alive());
        h.flags |= flag::CONN_CLOSE;
        assert!(!h.keep_alive());
    }

    #[test]
    fn normalize_skips_out_of_range_spans() {
        let mut h = RequestHeader::new();
        h.headers.push(HeaderField {
            name: Span::new(100, 4),
            value: Span::EMPTY,
        });
        h.headers.push(HeaderField {
            name: Span::new(0, 4),
            value: Span::EMPTY,
        });
        // A hand-made head: say its names may need work, as the parser does.
        h.flags |= flag::MISCASED;
        let mut buf = b"host".to_vec();
        normalize_header_names(&mut buf, &h);
        assert_eq!(buf, b"Host");
    }

    /// The parser flags exactly the heads with a name out of canonical case
    /// (16 bytes at a time, or byte by byte near the end of the buffer and
    /// for long names), and normalizing gives the canonical names.
    #[test]
    fn parser_flags_miscased_names() {
        use crate::{Limits, RequestParser};
        let cases: &[(&[u8], bool)] = &[
            (b"Host: a\r\nContent-Type: b\r\nX-Request-Id: 1\r\n", false),
            (b"Host: a\r\nA-B-C: d\r\nWww-Authenticate: e\r\n", false),
            (b"host: a\r\n", true),
            (b"Host: a\r\nContent-type: b\r\n", true),
            (b"Host: a\r\nAccept: */*\r\n", false),
            (b"Host: a\r\naccept: */*\r\n", true),
            (
                b"Host: a\r\nAccept-Encoding-And-Then-More-Words: x\r\n",
                false,
            ),
            (
                b"Host: a\r\nAccept-Encoding-And-Then-More-words: x\r\n",
                true,
            ),
            (b"HOST: a\r\n", true),
            (b"Host: a\r\nX-LONG-NAME-WITH-MANY-PARTS-HERE: v\r\n", true),
            (b"Host: a\r\nX-Long-Name-With-Many-Parts-Here: v\r\n", false),
            (b"Host: a\r\nx-long-name-with-many-parts-her: v\r\n", true),
        ];
        for &(fields, miscased) in cases {
            let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
            buf.extend_from_slice(fields);
            buf.extend_from_slice(b"\r\n");
            let mut h = RequestHeader::new();
            RequestParser::new(Limits::default())
                .parse(&buf, &mut h)
                .unwrap();
            let text = fields.escape_ascii().to_string();
            assert_eq!(h.flags & flag::MISCASED != 0, miscased, "{text}");
            let mut want = buf.clone();
            for f in h.headers() {
                canonicalize_from(f.name.get_mut(&mut want), true);
            }
            normalize_header_names(&mut buf, &h);
            assert_eq!(buf, want, "{text}");
        }
    }
}

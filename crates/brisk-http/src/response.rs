//! The response head and its serializer: [`ResponseHeader`],
//! [`write_response_head`], [`write_response`].

use brisk_buf::{ByteBuffer, Span, eq_ignore_ascii_case};
use smallvec::SmallVec;

use crate::chars::{is_token_str, is_value_str};
use crate::date::{HTTP_DATE_LEN, http_date};
use crate::error::HeaderError;
use crate::status::{status_has_no_body, status_text};

/// A response head owned by the server and reused across requests.
///
/// Names and values are copied into one internal byte buffer; `reset` keeps
/// its allocation, so a warmed-up header allocates nothing per response.
///
/// Header rules, checked when a header is added, never when it is written:
/// names are tokens and values contain no CR, LF, NUL or other control
/// character except tab (this is what makes response splitting impossible).
/// The serializer owns the framing: `Content-Length`, `Transfer-Encoding`
/// and `Connection` are refused with [`HeaderError::Reserved`] (use
/// [`ResponseBody`] and [`set_connection_close`](Self::set_connection_close)).
/// A `Server` or `Date` header set here replaces the one the serializer
/// would write, and a `Content-Type` set here replaces the default one.
///
/// ```
/// use brisk_http::{HeaderError, ResponseHeader};
/// let mut h = ResponseHeader::new();
/// h.set_status(201).unwrap();
/// h.set_content_type(b"application/json").unwrap();
/// h.add(b"Set-Cookie", b"a=1").unwrap();
/// h.add(b"Set-Cookie", b"b=2").unwrap();
/// assert_eq!(h.add(b"X-Evil", b"x\r\nSet-Cookie: pwned=1"), Err(HeaderError::InvalidValue));
/// assert_eq!(h.add(b"Content-Length", b"5"), Err(HeaderError::Reserved));
/// assert_eq!(h.get(b"set-cookie"), Some(&b"a=1"[..]));
/// assert_eq!(h.iter().count(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    status: u16,
    connection_close: bool,
    /// Reason phrase bytes; used when `has_reason`.
    reason: Vec<u8>,
    has_reason: bool,
    /// Names and values, back to back. INVARIANT: every span in `fields`
    /// lies inside `data`, and spans appear in `data` in field order.
    data: Vec<u8>,
    fields: SmallVec<[(Span, Span); 8]>,
    /// `USER_*` bits for headers that replace serializer defaults.
    user: u8,
}

const USER_SERVER: u8 = 1;
const USER_DATE: u8 = 2;
const USER_CONTENT_TYPE: u8 = 4;

/// How the response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseBody {
    /// `Content-Length: n` (not written for 1xx and 204 responses, which
    /// never have a body).
    Length(u64),
    /// `Transfer-Encoding: chunked`, with the body written through a
    /// [`ChunkedEncoder`](crate::ChunkedEncoder). Not available to HTTP/1.0
    /// clients: with [`WriteOptions::http10`] no framing header is written,
    /// `Connection: close` is, and the body must be sent raw and ended by
    /// closing the connection.
    Chunked,
    /// No framing header at all: for 1xx, 204 and 304 responses, or when
    /// the connection is closed after the body.
    None,
}

/// Options of [`write_response_head`], mostly from the server's
/// configuration. `Default` gives: no server name, a Date header, the
/// default content type, keep-alive, not HEAD, not HTTP/1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions<'a> {
    /// Value of the `Server` header, if any (not written when the response
    /// sets its own). Must be a valid header value; an invalid one is not
    /// written (see [`is_valid_header_value`]).
    pub server_name: Option<&'a [u8]>,
    /// Whether to write `Date` (the cached [`http_date`]).
    pub date: bool,
    /// Whether to write `Content-Type: text/plain; charset=utf-8` when the
    /// response has no Content-Type and may have a body.
    pub default_content_type: bool,
    /// Whether the connection stays open after this response; `false`
    /// writes `Connection: close`.
    pub keep_alive: bool,
    /// Whether this answers a HEAD request: the head is the same as for GET
    /// (RFC 9110 §9.3.2); [`write_response`] then omits the body.
    pub head_request: bool,
    /// Whether the request was HTTP/1.0: keep-alive is then announced with
    /// `Connection: keep-alive`, and chunked framing is unavailable.
    pub http10: bool,
}

/// The default Content-Type.
pub const DEFAULT_CONTENT_TYPE: &[u8] = b"text/plain; charset=utf-8";

impl Default for ResponseHeader {
    fn default() -> ResponseHeader {
        ResponseHeader::new()
    }
}

impl Default for WriteOptions<'_> {
    fn default() -> Self {
        WriteOptions {
            server_name: None,
            date: true,
            default_content_type: true,
            keep_alive: true,
            head_request: false,
            http10: false,
        }
    }
}

impl ResponseHeader {
    /// An empty `200 OK` head.
    pub fn new() -> ResponseHeader {
        ResponseHeader {
            status: 200,
            connection_close: false,
            reason: Vec::new(),
            has_reason: false,
            data: Vec::new(),
            fields: SmallVec::new(),
            user: 0,
        }
    }

    /// Back to an empty `200 OK` head, keeping allocations.
    pub fn reset(&mut self) {
        self.status = 200;
        self.connection_close = false;
        self.reason.clear();
        self.has_reason = false;
        self.data.clear();
        self.fields.clear();
        self.user = 0;
    }

    /// The status code.
    #[inline]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sets the status code.
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidStatus`] outside `100..=999` (the status is
    /// then unchanged).
    #[inline]
    pub fn set_status(&mut self, code: u16) -> Result<(), HeaderError> {
        if !(100..=999).contains(&code) {
            return Err(HeaderError::InvalidStatus);
        }
        self.status = code;
        Ok(())
    }

    /// The custom reason phrase, if one was set.
    pub fn reason(&self) -> Option<&[u8]> {
        self.has_reason.then_some(&self.reason[..])
    }

    /// Sets a custom reason phrase (instead of [`status_text`]).
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidReason`] if it contains CR, LF or another
    /// control character other than tab.
    pub fn set_reason(&mut self, reason: &[u8]) -> Result<(), HeaderError> {
        if !is_value_str(reason) {
            return Err(HeaderError::InvalidReason);
        }
        self.reason.clear();
        self.reason.extend_from_slice(reason);
        self.has_reason = true;
        Ok(())
    }

    /// Drops the custom reason phrase.
    pub fn clear_reason(&mut self) {
        self.reason.clear();
        self.has_reason = false;
    }

    /// Sets `Content-Type` (replacing any).
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidValue`] for a value with control characters.
    #[inline]
    pub fn set_content_type(&mut self, v: &[u8]) -> Result<(), HeaderError> {
        self.set(b"Content-Type", v)
    }

    /// The `Content-Type` set on this response, if any.
    #[inline]
    pub fn content_type(&self) -> Option<&[u8]> {
        if self.user & USER_CONTENT_TYPE == 0 {
            return None;
        }
        self.get(b"content-type")
    }

    /// Appends a header (keeping existing ones with that name).
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidName`] for a non-token name,
    /// [`HeaderError::InvalidValue`] for CR, LF, NUL or other control
    /// characters in the value, [`HeaderError::Reserved`] for
    /// Content-Length, Transfer-Encoding and Connection.
    pub fn add(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
        let bit = check(name, value)?;
        self.push(name, value);
        self.user |= bit;
        Ok(())
    }

    /// Sets a header, replacing every existing one with that name
    /// (ASCII case-insensitive).
    ///
    /// # Errors
    ///
    /// As for [`add`](Self::add); on error nothing changes.
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
        let bit = check(name, value)?;
        self.remove(name);
        self.push(name, value);
        self.user |= bit;
        Ok(())
    }

    /// The first value of the header `name` (ASCII case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| eq_ignore_ascii_case(n.get(&self.data), name))
            .map(|(_, v)| v.get(&self.data))
    }

    /// Removes every header named `name` (ASCII case-insensitive).
    pub fn remove(&mut self, name: &[u8]) {
        let data = &self.data;
        if !self
            .fields
            .iter()
            .any(|(n, _)| eq_ignore_ascii_case(n.get(data), name))
        {
            return;
        }
        self.fields
            .retain(|(n, _)| !eq_ignore_ascii_case(n.get(data), name));
        // Compact the remaining names and values (they are in order).
        let mut w = 0usize;
        for (n, v) in &mut self.fields {
            let start = n.start as usize;
            let end = v.end();
            let len = end - start;
            self.data.copy_within(start..end, w);
            let shift = (start - w) as u32;
            n.start -= shift;
            v.start -= shift;
            w += len;
        }
        self.data.truncate(w);
        self.user = 0;
        for (n, _) in &self.fields {
            self.user |= user_bit(n.get(&self.data));
        }
    }

    /// Every header as `(name, value)`, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (n.get(&self.data), v.get(&self.data)))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no header was added.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Asks for `Connection: close` (the server closes after this response).
    #[inline]
    pub fn set_connection_close(&mut self, close: bool) {
        self.connection_close = close;
    }

    /// Whether [`set_connection_close`](Self::set_connection_close) asked to
    /// close.
    #[inline]
    pub fn connection_close(&self) -> bool {
        self.connection_close
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        let ns = self.data.len();
        self.data.extend_from_slice(name);
        self.data.extend_from_slice(value);
        let n = Span::new(ns as u32, name.len() as u32);
        let v = Span::new((ns + name.len()) as u32, value.len() as u32);
        self.fields.push((n, v));
    }
}

/// Validates a header for [`ResponseHeader::add`]; returns its `USER_*` bit.
fn check(name: &[u8], value: &[u8]) -> Result<u8, HeaderError> {
    if !is_token_str(name) {
        return Err(HeaderError::InvalidName);
    }
    if !is_value_str(value) || value.len() > u32::MAX as usize / 2 {
        return Err(HeaderError::InvalidValue);
    }
    if eq_ignore_ascii_case(name, b"content-length")
        || eq_ignore_ascii_case(name, b"transfer-encoding")
        || eq_ignore_ascii_case(name, b"connection")
    {
        return Err(HeaderError::Reserved);
    }
    Ok(user_bit(name))
}

fn user_bit(name: &[u8]) -> u8 {
    if eq_ignore_ascii_case(name, b"server") {
        USER_SERVER
    } else if eq_ignore_ascii_case(name, b"date") {
        USER_DATE
    } else if eq_ignore_ascii_case(name, b"content-type") {
        USER_CONTENT_TYPE
    } else {
        0
    }
}

/// Whether `name` is a valid header name (a non-empty token).
#[inline]
pub fn is_valid_header_name(name: &[u8]) -> bool {
    is_token_str(name)
}

/// Whether `value` is a valid header value: no CR, LF, NUL or other control
/// character except tab.
#[inline]
pub fn is_valid_header_value(value: &[u8]) -> bool {
    is_value_str(value)
}

/// Appends the status line, the headers and the final CRLF (not the body)
/// to `out`, and returns whether the connection may stay open after this
/// response.
///
/// Order: status line (`HTTP/1.1`, the code, the custom reason or
/// [`status_text`]), `Server`, `Date`, `Content-Type`, the framing header
/// (`Content-Length` or `Transfer-Encoding: chunked`), `Connection`, then
/// the response's own headers in insertion order.
///
/// - 1xx and 204 responses get no framing header and no default
///   Content-Type (RFC 9110 §8.6, §6.4.1); 304 gets no default Content-Type
///   and keeps a Content-Length only if given.
/// - `Connection: close` when `!opts.keep_alive` or the head asked to
///   close; `Connection: keep-alive` on a kept-alive HTTP/1.0 connection;
///   `Connection: Upgrade` on `101 Switching Protocols`.
/// - For HTTP/1.0, [`ResponseBody::Chunked`] writes no framing header and
///   forces `Connection: close` (the return value is then `false`).
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use brisk_http::{write_response_head, ResponseBody, ResponseHeader, WriteOptions};
/// let h = ResponseHeader::new();
/// let mut out = ByteBuffer::new();
/// let opts = WriteOptions { date: false, ..WriteOptions::default() };
/// assert!(write_response_head(&h, ResponseBody::Length(2), &opts, &mut out));
/// assert_eq!(
///     out.as_slice(),
///     &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n"[..]
/// );
/// ```
pub fn write_response_head(
    h: &ResponseHeader,
    body: ResponseBody,
    opts: &WriteOptions<'_>,
    out: &mut ByteBuffer,
) -> bool {
    out.reserve(128 + h.data.len() + h.fields.len() * 4 + h.reason.len());
    write_prefix(h, opts, &http_date(), out);
    write_rest(h, body, opts, out)
}

/// The part of a head before the framing headers: status line, `Server`,
/// `Date` and the default `Content-Type`.
fn write_prefix(
    h: &ResponseHeader,
    opts: &WriteOptions<'_>,
    date: &[u8; HTTP_DATE_LEN],
    out: &mut ByteBuffer,
) {
    let status = h.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut code = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ];
    if status > 999 {
        code[..3].copy_from_slice(b"500");
    }
    out.extend_from_slice(&code);
    if h.has_reason {
        out.extend_from_slice(&h.reason);
    } else {
        out.extend_from_slice(status_text(status).as_bytes());
    }
    out.extend_from_slice(b"\r\n");

    if h.user & USER_SERVER == 0 {
        if let Some(name) = opts.server_name.filter(|n| is_value_str(n)) {
            out.extend_from_slice(b"Server: ");
            out.extend_from_slice(name);
            out.extend_from_slice(b"\r\n");
        }
    }
    if opts.date && h.user & USER_DATE == 0 {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    if opts.default_content_type && h.user & USER_CONTENT_TYPE == 0 && !status_has_no_body(status) {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(DEFAULT_CONTENT_TYPE);
        out.extend_from_slice(b"\r\n");
    }
}

/// The framing headers, `Connection`, the user's fields and the blank line.
fn write_rest(
    h: &ResponseHeader,
    body: ResponseBody,
    opts: &WriteOptions<'_>,
    out: &mut ByteBuffer,
) -> bool {
    let status = h.status;
    let mut close = !opts.keep_alive || h.connection_close;
    let informational_or_204 = status < 200 || status == 204;
    match body {
        ResponseBody::Length(n) if !informational_or_204 => {
            out.extend_from_slice(b"Content-Length: ");
            out.write_u64(n);
            out.extend_from_slice(b"\r\n");
        }
        ResponseBody::Chunked if !status_has_no_body(status) => {
            if opts.http10 {
                close = true;
            } else {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        }
        _ => {}
    }
    if status == 101 {
        out.extend_from_slice(b"Connection: Upgrade\r\n");
    } else if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if opts.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    for (n, v) in &h.fields {
        out.extend_from_slice(n.get(&h.data));
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.get(&h.data));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    !close
}

/// [`write_response_head`] for a server that writes many responses on one
/// thread: it keeps the start of the last `200 OK` head it wrote (status
/// line, `Server`, `Date`, default `Content-Type`) and copies it in one
/// piece while the second, the options and the header's overrides are the
/// same. The output is byte for byte what [`write_response_head`] writes.
///
/// Keep one per thread (it is not shared); it allocates only when the
/// cached start first grows.
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use brisk_http::{HeadCache, ResponseBody, ResponseHeader, WriteOptions, write_response_head};
///
/// let mut cache = HeadCache::new();
/// let opts = WriteOptions { server_name: Some(b"brisk"), ..WriteOptions::default() };
/// let h = ResponseHeader::new();
/// let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
/// cache.write(&h, ResponseBody::Length(2), &opts, &mut a);
/// write_response_head(&h, ResponseBody::Length(2), &opts, &mut b);
/// # if a != b { // the second may have turned between the two calls
/// #     a.reset(); b.reset();
/// #     cache.write(&h, ResponseBody::Length(2), &opts, &mut a);
/// #     write_response_head(&h, ResponseBody::Length(2), &opts, &mut b);
/// # }
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Default)]
pub struct HeadCache {
    /// The cached start; empty when nothing is cached.
    prefix: Vec<u8>,
    /// What it was made from: the second (when it holds a Date), the
    /// server name written (empty for none), and the `include` bits.
    secs: u64,
    server: Vec<u8>,
    include: u8,
    /// The whole head of a response with no fields of its own and a
    /// `Content-Length`: `prefix` then the framing lines. Valid for
    /// `full_key` while `prefix` is.
    full: Vec<u8>,
    full_key: FullKey,
    /// The key of the last such response that missed: `full` is filled only
    /// when a key repeats, so responses of varying length cost no copy.
    last_miss: FullKey,
    /// `full` followed by the `'static` body `whole_body`: the whole
    /// response of a handler that answers with the same static body every
    /// time. Valid only while `whole_body` is set, which every change of
    /// `full` clears.
    whole: Vec<u8>,
    whole_body: Option<&'static [u8]>,
    /// The static body of the last response written through
    /// [`write_static_at`](HeadCache::write_static_at): `whole` is filled
    /// only when a body repeats.
    last_static: Option<&'static [u8]>,
}

/// What the framing lines after the cached prefix depend on, for a `200 OK`
/// with no user fields: the `Content-Length` and whether the connection
/// closes (`Connection: close`) or is HTTP/1.0 (`Connection: keep-alive`).
/// Packed in one word (length, then the two flags above it) so a key
/// compares in one go; `NO_KEY` (all ones) is no key's value and matches
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FullKey(u128);

impl FullKey {
    #[inline(always)]
    fn new(len: u64, close: bool, http10: bool) -> FullKey {
        FullKey(u128::from(len) | u128::from(close) << 64 | u128::from(http10) << 65)
    }

    /// The key of a response of `h` with a `Content-Length` of `len` under
    /// `opts`.
    #[inline(always)]
    fn of(len: u64, h: &ResponseHeader, opts: &WriteOptions<'_>) -> FullKey {
        FullKey::new(len, !opts.keep_alive || h.connection_close, opts.http10)
    }

    /// Whether the head says `Connection: close`.
    #[inline(always)]
    fn closes(self) -> bool {
        self.0 >> 64 & 1 == 1
    }
}

const NO_KEY: FullKey = FullKey(u128::MAX);

impl Default for FullKey {
    fn default() -> FullKey {
        NO_KEY
    }
}

impl HeadCache {
    /// An empty cache.
    pub const fn new() -> HeadCache {
        HeadCache {
            prefix: Vec::new(),
            secs: 0,
            server: Vec::new(),
            include: 0,
            full: Vec::new(),
            full_key: NO_KEY,
            last_miss: NO_KEY,
            whole: Vec::new(),
            whole_body: None,
            last_static: None,
        }
    }

    /// Appends the head of a response to `out`, exactly as
    /// [`write_response_head`] does, and returns whether the connection may
    /// stay open.
    pub fn write(
        &mut self,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        self.write_at(crate::date::unix_secs(), h, body, opts, out)
    }

    /// [`write`](HeadCache::write) with the current time given by the
    /// caller, in seconds since the Unix epoch, for a server that reads the
    /// clock once per batch of responses rather than once per response.
    /// The `Date` header is formatted from `unix_secs`.
    #[inline(always)]
    pub fn write_at(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        // The usual response first: a `200 OK` with nothing of its own whose
        // framing repeats the cached whole head, under the same options and
        // within the same second. One copy, no per-line work.
        if let ResponseBody::Length(len) = body {
            let key = FullKey::of(len, h, opts);
            if self.full_hit(key, unix_secs, h, opts) {
                out.extend_from_slice(&self.full);
                return !key.closes();
            }
        }
        self.write_miss(unix_secs, h, body, opts, out)
    }

    /// Appends a whole response whose body is `'static`: exactly what
    /// [`write_at`](Self::write_at) with `ResponseBody::Length(body.len())`
    /// followed by `body` appends, and the same return value. When the same
    /// response repeats (the whole head is cached and `body` is the same
    /// slice as last time, by address and length, so its bytes are the same
    /// too), head and body go out in one copy.
    ///
    /// Call it only when the body belongs in the response (not for a HEAD
    /// request, nor for a 1xx, 204 or 304 status).
    ///
    /// ```
    /// use brisk_buf::ByteBuffer;
    /// use brisk_http::{HeadCache, ResponseBody, ResponseHeader, WriteOptions};
    /// let (h, opts) = (ResponseHeader::new(), WriteOptions::default());
    /// let mut cache = HeadCache::new();
    /// let mut a = ByteBuffer::new();
    /// for _ in 0..3 {
    ///     a.reset();
    ///     cache.write_static_at(1_700_000_000, &h, b"hello", &opts, &mut a);
    /// }
    /// let mut b = ByteBuffer::new();
    /// HeadCache::new().write_at(1_700_000_000, &h, ResponseBody::Length(5), &opts, &mut b);
    /// b.extend_from_slice(b"hello");
    /// assert_eq!(a.as_slice(), b.as_slice());
    /// ```
    #[inline(always)]
    pub fn write_static_at(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: &'static [u8],
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        let key = FullKey::of(body.len() as u64, h, opts);
        if self.whole_body.is_some_and(|b| core::ptr::eq(b, body))
            && self.full_hit(key, unix_secs, h, opts)
        {
            out.extend_from_slice(&self.whole);
            return !key.closes();
        }
        self.write_static_miss(unix_secs, h, body, opts, out)
    }

    /// [`write_static_at`](Self::write_static_at) when the whole response
    /// is not cached: the head, then the body, and `whole` is filled when
    /// the whole head was cached and the body repeats.
    #[inline(never)]
    fn write_static_miss(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: &'static [u8],
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        let len = body.len() as u64;
        let start = out.len();
        let keep = self.write_at(unix_secs, h, ResponseBody::Length(len), opts, out);
        out.extend_from_slice(body);
        let key = FullKey::of(len, h, opts);
        let repeats = self.last_static.is_some_and(|b| core::ptr::eq(b, body));
        if repeats && self.full_hit(key, unix_secs, h, opts) {
            self.whole.clear();
            self.whole.extend_from_slice(&out[start..]);
            self.whole_body = Some(body);
        }
        self.last_static = Some(body);
        keep
    }

    /// Whether `full` is the head of `h` with framing `key` under `opts`
    /// at `unix_secs`: a `200 OK` with nothing of its own, the same
    /// defaults, second and server name as the cached one.
    #[inline(always)]
    fn full_hit(
        &self,
        key: FullKey,
        unix_secs: u64,
        h: &ResponseHeader,
        opts: &WriteOptions<'_>,
    ) -> bool {
        key == self.full_key
            && h.status == 200
            && !h.has_reason
            && h.user == 0
            && h.fields.is_empty()
            && self.include & !USER_SERVER == default_bits(opts) & !USER_SERVER
            && self.secs == if opts.date { unix_secs } else { 0 }
            // Equal names are both empty or both not, so `include`'s server
            // bit (set for a non-empty name) matches too.
            && same_bytes(&self.server, opts.server_name.unwrap_or_default())
    }

    /// [`write_at`](Self::write_at) when the whole head is not cached.
    #[inline(never)]
    fn write_miss(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        if h.status != 200 || h.has_reason {
            out.reserve(128 + h.data.len() + h.fields.len() * 4 + h.reason.len());
            write_prefix(h, opts, &crate::date::http_date_at(unix_secs), out);
            return write_rest(h, body, opts, out);
        }
        // Which defaults the start holds, as `USER_*` bits.
        let server = match opts.server_name {
            Some(n) if h.user & USER_SERVER == 0 => n,
            _ => &[],
        };
        let mut include = 0;
        if !server.is_empty() {
            include |= USER_SERVER;
        }
        if opts.date && h.user & USER_DATE == 0 {
            include |= USER_DATE;
        }
        if opts.default_content_type && h.user & USER_CONTENT_TYPE == 0 {
            include |= USER_CONTENT_TYPE;
        }
        let secs = if include & USER_DATE != 0 {
            unix_secs
        } else {
            0
        };
        if self.prefix.is_empty()
            || self.include != include
            || self.secs != secs
            || !same_bytes(&self.server, server)
        {
            self.refill(h, opts, include, secs, server);
        }
        // The whole head, when this response's framing lines repeat the
        // last ones (the usual case: the same handler answering again).
        let key = match body {
            ResponseBody::Length(len) if h.fields.is_empty() => FullKey::of(len, h, opts),
            _ => NO_KEY,
        };
        if key != NO_KEY && key == self.full_key {
            out.extend_from_slice(&self.full);
            return !key.closes();
        }
        out.reserve(self.prefix.len() + 64 + h.data.len() + h.fields.len() * 4);
        let start = out.len();
        out.extend_from_slice(&self.prefix);
        let keep = write_rest(h, body, opts, out);
        if key != NO_KEY {
            if key == self.last_miss {
                self.full.clear();
                self.full.extend_from_slice(&out[start..]);
                self.full_key = key;
                self.whole_body = None;
            }
            self.last_miss = key;
        }
        keep
    }

    #[cold]
    fn refill(
        &mut self,
        h: &ResponseHeader,
        opts: &WriteOptions<'_>,
        include: u8,
        secs: u64,
        server: &[u8],
    ) {
        let mut buf = ByteBuffer::from_vec(core::mem::take(&mut self.prefix));
        buf.reset();
        let date = if include & USER_DATE != 0 {
            crate::date::http_date_at(secs)
        } else {
            [0; HTTP_DATE_LEN]
        };
        write_prefix(h, opts, &date, &mut buf);
        self.prefix = buf.into_vec();
        self.full_key = NO_KEY;
        self.last_miss = NO_KEY;
        self.whole_body = None;
        self.include = include;
        self.secs = secs;
        self.server.clear();
        self.server.extend_from_slice(server);
    }
}

/// The `USER_*` bits of the defaults `opts` asks for, as the cache's
/// `include` holds them for a response that overrides none (an empty server
/// name writes no `Server` line).
#[inline(always)]
fn default_bits(opts: &WriteOptions<'_>) -> u8 {
    let mut bits = 0;
    if opts.server_name.is_some_and(|n| !n.is_empty()) {
        bits |= USER_SERVER;
    }
    if opts.date {
        bits |= USER_DATE;
    }
    if opts.default_content_type {
        bits |= USER_CONTENT_TYPE;
    }
    bits
}

/// `a == b`, for the short strings a server name is, with two overlapping
/// word compares instead of a call to `memcmp`.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const W: usize>(s: &[u8], at: usize) -> Option<[u8; W]> {
        s.get(at..).and_then(|s| s.first_chunk::<W>()).copied()
    }
    match n {
        0 => true,
        1..=3 => a == b,
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// Appends a whole response with a fixed body: the head (with
/// `Content-Length: body.len()`) and then `body`, except that the body is
/// left out for HEAD requests and for 1xx, 204 and 304 responses. Returns
/// whether the connection may stay open.
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use brisk_http::{write_response, ResponseHeader, WriteOptions};
/// let mut out = ByteBuffer::new();
/// let opts = WriteOptions { date: false, default_content_type: false, ..WriteOptions::default() };
/// write_response(&ResponseHeader::new(), b"hi", &opts, &mut out);
/// assert_eq!(out.as_slice(), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
/// ```
pub fn write_response(
    h: &ResponseHeader,
    body: &[u8],
    opts: &WriteOptions<'_>,
    out: &mut ByteBuffer,
) -> bool {
    let no_body = status_has_no_body(h.status);
    let framing = if no_body {
        ResponseBody::None
    } else {
        ResponseBody::Length(body.len() as u64)
    };
    let keep = write_response_head(h, framing, opts, out);
    if !no_body && !opts.head_request {
        out.extend_from_slice(body);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(h: &ResponseHeader, body: ResponseBody, opts: &WriteOptions<'_>) -> (String, bool) {
        let mut out = ByteBuffer::new();
        let keep = write_response_head(h, body, opts, &mut out);
        (String::from_utf8(out.into_vec()).unwrap(), keep)
    }

    const NO_DATE: WriteOptions<'static> = WriteOptions {
        server_name: None,
        date: false,
        default_content_type: true,
        keep_alive: true,
        head_request: false,
        http10: false,
    };

    #[test]
    fn same_bytes_is_equality() {
        let words: Vec<Vec<u8>> = (0..40)
            .map(|n| (0..n).map(|k| b'a' + (k % 26) as u8).collect())
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b);
                for k in 0..b.len() {
                    let mut c = b.clone();
                    c[k] ^= 0x20;
                    assert_eq!(same_bytes(a, &c), a == &c, "{a:?} {c:?}");
                }
            }
        }
    }

    #[test]
    fn status_and_reason() {
        let mut h = ResponseHeader::new();
        assert_eq!(h.set_status(99), Err(HeaderError::InvalidStatus));
        assert_eq!(h.set_status(1000), Err(HeaderError::InvalidStatus));
        assert_eq!(h.status(), 200);
        h.set_status(404).unwrap();
        assert_eq!(
            head(&h, ResponseBody::Length(0), &NO_DATE).0.lines().next(),
            Some("HTTP/1.1 404 Not Found")
        );
        assert_eq!(
            h.set_reason(b"Nope\r\nX: y"),
            Err(HeaderError::InvalidReason)
        );
        h.set_reason(b"Gone Fishing").unwrap();
        assert_eq!(h.reason(), Some(&b"Gone Fishing"[..]));
        assert!(
            head(&h, ResponseBody::Length(0), &NO_DATE)
                .0
                .starts_with("HTTP/1.1 404 Gone Fishing\r\n")
        );
        h.clear_reason();
        h.set_status(799).unwrap();
        assert!(
            head(&h, ResponseBody::Length(0), &NO_DATE)
                .0
                .starts_with("HTTP/1.1 799 Unknown Status Code\r\n")
        );
    }

    #[test]
    fn splitting_is_refused() {
        let mut h = ResponseHeader::new();
        for v in [&b"a\rb"[..], b"a\nb", b"a\0b", b"\x7f", b"\x1b[31m"] {
            assert_eq!(h.add(b"X", v), Err(HeaderError::InvalidValue));
            assert_eq!(h.set(b"X", v), Err(HeaderError::InvalidValue));
        }
        for n in [&b""[..], b"X Y", b"X:", b"X\r\n", b"\xc3\xa9"] {
            assert_eq!(h.add(n, b"v"), Err(HeaderError::InvalidName));
        }
        for n in [&b"content-length"[..], b"Transfer-Encoding", b"CONNECTION"] {
            assert_eq!(h.add(n, b"1"), Err(HeaderError::Reserved));
        }
        h.add(b"X", b"tab\tand obs-text \xff ok").unwrap();
        assert!(!h.is_empty() && h.len() == 1);
    }

    #[test]
    fn set_get_remove_compacts() {
        let mut h = ResponseHeader::new();
        h.add(b"A", b"1").unwrap();
        h.add(b"B", b"2").unwrap();
        h.add(b"a", b"3").unwrap();
        h.add(b"C", b"4").unwrap();
        h.set(b"a", b"5").unwrap();
        let all: Vec<_> = h.iter().collect();
        assert_eq!(all, [(&b"B"[..], &b"2"[..]), (b"C", b"4"), (b"a", b"5")]);
        assert_eq!(h.data, b"B2C4a5");
        h.remove(b"b");
        assert_eq!(h.get(b"B"), None);
        assert_eq!(h.get(b"c"), Some(&b"4"[..]));
        h.remove(b"nothing");
        assert_eq!(h.len(), 2);
        h.reset();
        assert!(h.is_empty());
        assert_eq!(h, ResponseHeader::new());
    }

    #[test]
    fn defaults_and_overrides() {
        let mut h = ResponseHeader::new();
        let opts = WriteOptions {
            server_name: Some(b"brisk"),
            ..NO_DATE
        };
        let (s, keep) = head(&h, ResponseBody::Length(13), &opts);
        assert!(keep);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nServer: brisk\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\n"
        );
        h.set(b"server", b"mine").unwrap();
        h.set_content_type(b"text/html").unwrap();
        assert_eq!(h.content_type(), Some(&b"text/html"[..]));
        h.add(b"Date", b"yesterday").unwrap();
        let (s, _) = head(
            &h,
            ResponseBody::Length(1),
            &WriteOptions { date: true, ..opts },
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nserver: mine\r\nContent-Type: text/html\r\nDate: yesterday\r\n\r\n"
        );
        h.remove(b"content-type");
        assert_eq!(h.content_type(), None);
        let (s, _) = head(&h, ResponseBody::Length(1), &opts);
        assert!(s.contains("Content-Type: text/plain"));
        // An invalid configured server name is never written.
        let (s, _) = head(
            &ResponseHeader::new(),
            ResponseBody::None,
            &WriteOptions {
                server_name: Some(b"x\r\ny: z"),
                ..NO_DATE
            },
        );
        assert!(!s.contains("Server"));
    }

    #[test]
    fn date_is_written() {
        let (s, _) = head(
            &ResponseHeader::new(),
            ResponseBody::None,
            &WriteOptions::default(),
        );
        let line = s.lines().nth(1).unwrap();
        assert!(
            line.starts_with("Date: ") && line.ends_with(" GMT") && line.len() == 35,
            "{line}"
        );
    }

    #[test]
    fn framing_and_connection() {
        let mut h = ResponseHeader::new();
        let o = WriteOptions {
            default_content_type: false,
            ..NO_DATE
        };
        assert_eq!(
            head(&h, ResponseBody::Chunked, &o),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                true
            )
        );
        assert_eq!(
            head(
                &h,
                ResponseBody::Chunked,
                &WriteOptions { http10: true, ..o }
            ),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), false)
        );
        assert_eq!(
            head(
                &h,
                ResponseBody::Length(0),
                &WriteOptions { http10: true, ..o }
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n".into(),
                true
            )
        );
        assert_eq!(
            head(
                &h,
                ResponseBody::Length(0),
                &WriteOptions {
                    keep_alive: false,
                    ..o
                }
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                false
            )
        );
        h.set_connection_close(true);
        assert!(h.connection_close());
        assert_eq!(
            head(&h, ResponseBody::None, &o),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), false)
        );
        h.set_connection_close(false);
        h.set_status(204).unwrap();
        assert_eq!(
            head(&h, ResponseBody::Length(5), &NO_DATE).0,
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
        h.set_status(304).unwrap();
        assert_eq!(
            head(&h, ResponseBody::Length(5), &NO_DATE).0,
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
        );
        assert_eq!(
            head(&h, ResponseBody::Chunked, &NO_DATE).0,
            "HTTP/1.1 304 Not Modified\r\n\r\n"
        );
        h.set_status(101).unwrap();
        h.add(b"Upgrade", b"websocket").unwrap();
        assert_eq!(
            head(&h, ResponseBody::None, &NO_DATE).0,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        );
    }

    #[test]
    fn whole_response_and_head() {
        let h = ResponseHeader::new();
        let o = WriteOptions {
            default_content_type: false,
            ..NO_DATE
        };
        let mut out = ByteBuffer::new();
        write_response(
            &h,
            b"hello",
            &WriteOptions {
                head_request: true,
                ..o
            },
            &mut out,
        );
        assert_eq!(
            out.as_slice(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        );
        let mut h = ResponseHeader::new();
        h.set_status(204).unwrap();
        out.reset();
        write_response(&h, b"ignored", &o, &mut out);
        assert_eq!(out.as_slice(), b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    /// `HeadCache::write` writes exactly what `write_response_head` writes,
    /// for every status, override and option, in any order of calls (the
    /// cache is shared across the whole sequence).
    #[test]
    fn head_cache_matches_the_plain_serializer() {
        let mut headers = Vec::new();
        for status in [200u16, 201, 204, 304, 101, 404] {
            for variant in 0..6 {
                let mut h = ResponseHeader::new();
                h.set_status(status).unwrap();
                match variant {
                    1 => h.set_reason(b"Fine").unwrap(),
                    2 => h.set_content_type(b"application/json").unwrap(),
                    3 => h.add(b"Server", b"mine").unwrap(),
                    4 => h.add(b"Date", b"yesterday").unwrap(),
                    5 => {
                        h.add(b"X-A", b"1").unwrap();
                        h.set_connection_close(true);
                    }
                    _ => {}
                }
                headers.push(h);
            }
        }
        let names: [Option<&[u8]>; 4] =
            [None, Some(b"brisk"), Some(b"other/1.0"), Some(b"bad\r\n")];
        let bodies = [
            ResponseBody::Length(13),
            ResponseBody::Chunked,
            ResponseBody::None,
        ];
        let mut cache = HeadCache::new();
        let mut n = 0;
        for round in 0..2 {
            for h in &headers {
                for (k, &server_name) in names.iter().enumerate() {
                    for bits in 0..32u8 {
                        let opts = WriteOptions {
                            server_name,
                            date: bits & 1 != 0,
                            default_content_type: bits & 2 != 0,
                            keep_alive: bits & 4 != 0,
                            head_request: bits & 8 != 0,
                            http10: bits & 16 != 0,
                        };
                        let body = bodies[(k + bits as usize + round) % bodies.len()];
                        // Retry once if the second turned between the calls.
                        let mut same = false;
                        for _ in 0..2 {
                            let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
                            let ka = cache.write(h, body, &opts, &mut a);
                            let kb = write_response_head(h, body, &opts, &mut b);
                            // Again, twice: the repeated key fills the
                            // whole-head copy, the third write uses it.
                            let (mut a2, mut a3) = (ByteBuffer::new(), ByteBuffer::new());
                            let ka2 = cache.write(h, body, &opts, &mut a2);
                            let ka3 = cache.write(h, body, &opts, &mut a3);
                            if a.as_slice() == b.as_slice()
                                && a2.as_slice() == b.as_slice()
                                && a3.as_slice() == b.as_slice()
                            {
                                assert_eq!((ka, ka2, ka3), (kb, kb, kb));
                                same = true;
                                break;
                            }
                        }
                        assert!(same, "status {} opts {opts:?} body {body:?}", h.status);
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 2 * 36 * 4 * 32);
    }

    /// The whole-head copy is used only while everything it was made from
    /// holds: each single change after it is filled gets a fresh head.
    #[test]
    fn head_cache_whole_head_follows_each_change() {
        let base = WriteOptions {
            server_name: Some(b"brisk"),
            ..WriteOptions::default()
        };
        let plain = ResponseHeader::new();
        let mut closing = ResponseHeader::new();
        closing.set_connection_close(true);
        let mut other_type = ResponseHeader::new();
        other_type.set_content_type(b"text/html").unwrap();
        let mut created = ResponseHeader::new();
        created.set_status(201).unwrap();
        let mut with_field = ResponseHeader::new();
        with_field.add(b"X-A", b"1").unwrap();
        type Change = fn(&mut WriteOptions<'static>);
        let changes: [(&str, Change, usize, u64); 12] = [
            (
                "same server name length",
                |o| o.server_name = Some(b"krisb"),
                0,
                13,
            ),
            ("empty server name", |o| o.server_name = Some(b""), 0, 13),
            ("no server name", |o| o.server_name = None, 0, 13),
            ("no date", |o| o.date = false, 0, 13),
            ("no default type", |o| o.default_content_type = false, 0, 13),
            ("close", |o| o.keep_alive = false, 0, 13),
            ("http/1.0", |o| o.http10 = true, 0, 13),
            ("length", |_| {}, 0, 14),
            ("connection_close", |_| {}, 1, 13),
            ("content type", |_| {}, 2, 13),
            ("status", |_| {}, 3, 13),
            ("field", |_| {}, 4, 13),
        ];
        let heads = [&plain, &closing, &other_type, &created, &with_field];
        for (what, change, hi, len) in changes {
            // The second may turn between writes: retry once.
            let mut ok = false;
            for _ in 0..2 {
                let mut cache = HeadCache::new();
                for _ in 0..3 {
                    cache.write(
                        &plain,
                        ResponseBody::Length(13),
                        &base,
                        &mut ByteBuffer::new(),
                    );
                }
                let mut opts = base;
                change(&mut opts);
                let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
                let ka = cache.write(heads[hi], ResponseBody::Length(len), &opts, &mut a);
                let kb = write_response_head(heads[hi], ResponseBody::Length(len), &opts, &mut b);
                if a == b {
                    assert_eq!(ka, kb, "{what}");
                    ok = true;
                    break;
                }
            }
            assert!(ok, "{what}: the whole-head copy was reused");
        }
    }

    #[test]
    fn head_cache_whole_response_follows_each_change() {
        static HELLO: [u8; 13] = *b"Hello, World!";
        static HELLO_TOO: [u8; 13] = *b"Hello, World!";
        static OTHER: [u8; 13] = *b"Other, world!";
        static LONGER: [u8; 14] = *b"Hello, World!!";
        let bodies: [&'static [u8]; 5] = [&HELLO, &HELLO_TOO, &OTHER, &LONGER, &HELLO[..12]];
        let mut closing = ResponseHeader::new();
        closing.set_connection_close(true);
        let mut created = ResponseHeader::new();
        created.set_status(201).unwrap();
        let mut with_field = ResponseHeader::new();
        with_field.add(b"X-A", b"1").unwrap();
        let plain = ResponseHeader::new();
        let heads = [&plain, &plain, &plain, &closing, &created, &with_field];
        let base = WriteOptions {
            server_name: Some(b"brisk"),
            ..WriteOptions::default()
        };
        type Change = fn(&mut WriteOptions<'static>);
        let changes: [Change; 6] = [
            |_| {},
            |_| {},
            |o| o.server_name = Some(b"krisb"),
            |o| o.keep_alive = false,
            |o| o.http10 = true,
            |o| o.date = false,
        ];
        // A fixed pseudo-random walk over body, head, options and second,
        // with long runs of the same response so the whole copy is made and
        // used; every step is compared with a fresh cache's output.
        let mut cache = HeadCache::new();
        let mut x: u32 = 0x2545_f491;
        let (mut bi, mut hi, mut ci, mut secs) = (0, 0, 0, 1_700_000_000u64);
        let mut whole_hits = 0;
        for step in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 16 {
                0 => bi = (x / 16) as usize % bodies.len(),
                1 => hi = (x / 16) as usize % heads.len(),
                2 => ci = (x / 16) as usize % changes.len(),
                3 => secs += 1,
                _ => {}
            }
            let mut opts = base;
            changes[ci](&mut opts);
            let body = bodies[bi];
            let hit = cache.whole_body.is_some_and(|b| core::ptr::eq(b, body));
            let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
            let len = ResponseBody::Length(body.len() as u64);
            // Now and then a run of heads written without the static path
            // (a HEAD request, a copied body), which may refill `full`.
            let head_only = (x >> 8) % 8 == 0 || (step / 50) % 5 == 4;
            let ka = if head_only {
                cache.write_at(secs, heads[hi], len, &opts, &mut a)
            } else {
                cache.write_static_at(secs, heads[hi], body, &opts, &mut a)
            };
            let kb = HeadCache::new().write_at(secs, heads[hi], len, &opts, &mut b);
            if !head_only {
                b.extend_from_slice(body);
            }
            assert_eq!(a, b, "step {step}: body {bi}, head {hi}, change {ci}");
            assert_eq!(ka, kb, "step {step}");
            if hit && a.as_slice() == cache.whole.as_slice() {
                whole_hits += 1;
            }
        }
        assert!(whole_hits > 500, "the whole copy served only {whole_hits}");
    }
}

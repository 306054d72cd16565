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
    pub(crate) status: u16,
    pub(crate) connection_close: bool,
    /// Reason phrase bytes; used when `has_reason`.
    pub(crate) reason: Vec<u8>,
    pub(crate) has_reason: bool,
    /// Names and values, back to back. INVARIANT: every span in `fields`
    /// lies inside `data`, and spans appear in `data` in field order.
    pub(crate) data: Vec<u8>,
    pub(crate) fields: SmallVec<[(Span, Span); 8]>,
    /// `USER_*` bits for headers that replace serializer defaults.
    pub(crate) user: u8,
}

pub(crate) const USER_SERVER: u8 = 1;
pub(crate) const USER_DATE: u8 = 2;
pub(crate) const USER_CONTENT_TYPE: u8 = 4;

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
pub(crate) fn write_prefix(
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
pub(crate) fn write_rest(
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
}

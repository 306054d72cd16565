//! `RequestCtx`: one request and its response, handed to the handler.

use std::any::{Any, TypeId};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use brisk_buf::ByteBuffer;

use crate::hijack::{HijackHandler, Hijacked};
use crate::push::{BodySender, PushFilter, PushShared};
use brisk_http::{
    HeaderError, HeaderField, Method, RequestHeader, ResponseHeader, Span, TargetForm, Version,
};

/// One request and the response being built for it.
///
/// A `RequestCtx` borrows the request's bytes from the connection's read
/// buffer (nothing is copied) and the response from per-thread scratch space
/// that is reused for every request, so serving a request allocates nothing.
/// The borrow ends when the handler returns: keeping request data past the
/// handler is a compile error, not a data race.
///
/// ```
/// use brisk_server::RequestCtx;
/// fn handler(ctx: &mut RequestCtx<'_>) {
///     match ctx.path() {
///         b"/" => ctx.set_body(b"Hello, World!"),
///         b"/json" => {
///             ctx.set_content_type(b"application/json");
///             ctx.set_body(br#"{"message":"Hello, World!"}"#);
///         }
///         _ => {
///             ctx.set_status(404);
///             ctx.set_body(b"not found");
///         }
///     }
/// }
/// # let _ = handler;
/// ```
pub struct RequestCtx<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) head: &'a RequestHeader,
    pub(crate) body: &'a [u8],
    pub(crate) path: &'a [u8],
    pub(crate) info: &'a ConnInfo,
    pub(crate) received: Instant,
    pub(crate) resp: &'a mut Response,
    pub(crate) values: &'a mut UserValues,
    /// The request body as a stream, when it is not buffered
    /// (`stream_request_body`).
    pub(crate) body_reader: Option<BodyReader<'a>>,
}

/// A request body read as it arrives, from
/// [`RequestCtx::body_reader`]: the handler runs on a worker thread and
/// its reads wait for the client (at most `read_timeout` for each next
/// piece). Chunked bodies are decoded; trailers are available once the
/// body has been read to its end.
///
/// Errors: `UnexpectedEof` when the client closes before the end of the
/// body (or sends less than its `Content-Length`), `TimedOut` when it stops
/// sending for `read_timeout`, `InvalidData` for a body over
/// `max_request_body_size` or broken chunked framing. After an error the
/// connection closes once the response is sent; so it does when the
/// handler returns without reading the body to its end.
pub struct BodyReader<'a> {
    pub(crate) src: &'a mut dyn BodySource,
}

/// What a [`BodyReader`] reads from (the connection's streamed body).
pub(crate) trait BodySource {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize>;
    /// Trailer fields, once the body was read to its end.
    fn trailers(&self) -> Vec<(&[u8], &[u8])>;
    fn bytes_read(&self) -> u64;
    fn content_length(&self) -> Option<u64>;
    fn is_done(&self) -> bool;
}

impl BodyReader<'_> {
    /// The trailer fields of a chunked body (name, value), once it was read
    /// to its end; empty before that and for other bodies.
    pub fn trailers(&self) -> Vec<(&[u8], &[u8])> {
        self.src.trailers()
    }

    /// Body bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.src.bytes_read()
    }

    /// The body's declared length (`Content-Length`), if any.
    pub fn content_length(&self) -> Option<u64> {
        self.src.content_length()
    }

    /// Whether the body was read to its end.
    pub fn is_done(&self) -> bool {
        self.src.is_done()
    }
}

impl io::Read for BodyReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.src.read(out)
    }
}

impl fmt::Debug for BodyReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("bytes_read", &self.bytes_read())
            .field("content_length", &self.content_length())
            .field("done", &self.is_done())
            .finish()
    }
}

/// Facts about the connection a request arrived on.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub(crate) remote: SocketAddr,
    pub(crate) id: u64,
    pub(crate) request_num: u64,
    /// The connection's name in its loop (slot and generation), for a
    /// [`BodySender`] to wake it.
    pub(crate) token: u64,
}

/// The response under construction; per-thread scratch, reset per request.
pub(crate) struct Response {
    pub(crate) header: ResponseHeader,
    pub(crate) body: ByteBuffer,
    pub(crate) static_body: Option<&'static [u8]>,
    /// A body the connection sends after the head itself.
    pub(crate) deferred: Deferred,
    /// `'static` bodies of this many bytes or more are deferred (the
    /// write buffer's size: they are sent without a copy).
    big_static: usize,
    /// Bytes a [`BodySender`]'s queue holds (`push_buffer_size`).
    push_cap: usize,
    pub(crate) close: bool,
}

/// A response body that is not written with the head: the connection sends
/// it afterwards, so the serving path tests one field for both.
/// `repr(u8)`: testing for `None` is one byte compare.
#[repr(u8)]
pub(crate) enum Deferred {
    /// The body is `body` or `static_body`.
    None,
    /// Produced piece by piece (`set_body_stream`).
    Stream(Box<BodyStream>),
    /// A large `'static` body, sent after the head with vectored writes
    /// instead of being copied.
    Static(&'static [u8]),
    /// Written by a [`BodySender`] from any thread.
    Push(Arc<PushShared>),
    /// A slice of a file, sent after the head (`sendfile(2)` on plain TCP).
    File(Box<FileBody>),
    /// Not a body: after the response, the connection is the handler's
    /// ([`RequestCtx::hijack`]).
    Hijack(Box<HijackHandler>),
}

/// A file body: `len` bytes of `file` from `offset`
/// ([`RequestCtx::set_body_file`]). Boxed where it is held, so that
/// `Deferred` and the connection's `State` keep their size (measured: an
/// unboxed one cost the plain path about 40 instructions per request).
pub(crate) struct FileBody {
    pub(crate) file: Arc<std::fs::File>,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// A streamed response body: called whenever the connection can take more
/// output; appends the next piece and returns `true` while more follows.
pub type BodyStream = dyn FnMut(&mut BodyWriter<'_>) -> bool + Send + 'static;

/// Where a [`BodyStream`] writes the next piece of a streamed body.
///
/// Each call's output goes out as one chunk (`Transfer-Encoding: chunked`;
/// for an HTTP/1.0 client the bytes are sent raw and the connection closes at
/// the end).
pub struct BodyWriter<'a> {
    pub(crate) buf: &'a mut ByteBuffer,
    /// The producer called `flush` on this piece.
    flushed: bool,
}

impl<'a> BodyWriter<'a> {
    /// A writer appending to `buf`: what the connection hands a
    /// [`BodyStream`], and what a wrapper that transforms a stream (such as
    /// compression in `brisk-handlers`) hands the stream it wraps.
    pub fn new(buf: &'a mut ByteBuffer) -> BodyWriter<'a> {
        BodyWriter {
            buf,
            flushed: false,
        }
    }

    /// Whether the producer called [`flush`](io::Write::flush) on this
    /// piece: it asks for what it wrote so far to reach the client now
    /// (the connection sends every piece at once anyway; a compressing
    /// wrapper flushes its encoder).
    pub fn flushed(&self) -> bool {
        self.flushed
    }
    /// Appends bytes to this piece.
    pub fn write(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes written to this piece so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written to this piece yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl io::Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushed = true;
        Ok(())
    }
}

impl fmt::Write for BodyWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What the response body currently is, from
/// [`RequestCtx::response_body_kind`]: for wrappers that transform a
/// response after the handler ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBodyKind {
    /// Bytes held by the response ([`RequestCtx::set_body`],
    /// [`RequestCtx::append_body`]); also an empty body.
    Buffered,
    /// A `'static` slice ([`RequestCtx::set_body_static`]).
    Static(&'static [u8]),
    /// Produced piece by piece ([`RequestCtx::set_body_stream`]); a wrapper
    /// takes it with [`RequestCtx::take_body_stream`].
    Stream,
    /// Written by a [`BodySender`]; a wrapper transforms it with
    /// [`RequestCtx::filter_pushed_body`].
    Pushed,
    /// Not a body: the connection is taken over ([`RequestCtx::hijack`]).
    Hijack,
    /// A slice of a file, sent after the head with `sendfile(2)`
    /// ([`RequestCtx::set_body_file`]); a wrapper cannot see its bytes.
    File,
}

/// Drops a deferred stream or pushed body (out of line: rare, and user
/// code may run in a producer's drop).
#[cold]
#[inline(never)]
fn drop_deferred(d: Deferred) {
    drop(d);
}

/// Typed per-request values; a `Vec` that never allocates unless used.
#[derive(Default)]
pub(crate) struct UserValues {
    items: Vec<(TypeId, Box<dyn Any + Send>)>,
}

impl UserValues {
    #[inline]
    pub(crate) fn clear(&mut self) {
        #[cold]
        #[inline(never)]
        fn drop_all(v: &mut UserValues) {
            v.items.clear();
        }
        if !self.items.is_empty() {
            drop_all(self);
        }
    }
}

impl Response {
    /// A response whose `'static` bodies of `big_static` bytes or more are
    /// deferred, and whose pushed bodies queue up to `push_cap` bytes.
    pub(crate) fn new(big_static: usize, push_cap: usize) -> Response {
        Response {
            header: ResponseHeader::new(),
            body: ByteBuffer::new(),
            static_body: None,
            deferred: Deferred::None,
            big_static,
            push_cap,
            close: false,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.header.reset();
        self.body.reset();
        self.static_body = None;
        self.drop_stream();
        self.close = false;
    }

    /// Drops a deferred body the handler set (the drop itself out of line:
    /// there is usually none).
    #[inline]
    pub(crate) fn drop_stream(&mut self) {
        #[cold]
        #[inline(never)]
        fn drop_it(r: &mut Response) {
            r.deferred = Deferred::None;
        }
        if !matches!(self.deferred, Deferred::None) {
            drop_it(self);
        }
    }

    /// Sets the deferred body. The old one usually holds nothing to drop
    /// (callers clear it first): that case costs no call to the drop glue.
    #[inline(always)]
    pub(crate) fn defer(&mut self, d: Deferred) {
        let old = std::mem::replace(&mut self.deferred, d);
        if matches!(old, Deferred::None | Deferred::Static(_)) {
            // Nothing in these variants needs dropping.
            std::mem::forget(old);
        } else {
            drop_deferred(old);
        }
    }

    /// A deferred static body becomes an ordinary one (a response that
    /// must be written whole, such as an error's); a stream is dropped.
    pub(crate) fn undefer(&mut self) {
        if let Deferred::Static(b) = self.deferred {
            self.static_body = Some(b);
        }
        self.drop_stream();
    }

    /// A response with this one's settings and nothing in it (for an
    /// [`OwnedRequest`](crate::OwnedRequest)).
    pub(crate) fn empty_like(&self) -> Response {
        Response::new(self.big_static, self.push_cap)
    }

    /// Takes everything `from` holds; `from` is left empty.
    pub(crate) fn take_from(&mut self, from: &mut Response) {
        self.header.clone_from(&from.header);
        from.header.reset();
        self.body.reset();
        self.body.extend_from_slice(from.body.as_slice());
        from.body.reset();
        self.static_body = from.static_body.take();
        self.defer(std::mem::replace(&mut from.deferred, Deferred::None));
        self.close = std::mem::take(&mut from.close);
    }

    pub(crate) fn body_bytes(&self) -> &[u8] {
        match (self.static_body, &self.deferred) {
            (Some(b), _) | (None, &Deferred::Static(b)) => b,
            _ => self.body.as_slice(),
        }
    }
}

impl<'a> RequestCtx<'a> {
    // ---- request ----

    /// The request method.
    #[inline]
    pub fn method(&self) -> Method {
        self.head.method()
    }

    /// The request method's bytes, as sent (e.g. `b"GET"`).
    #[inline]
    pub fn method_bytes(&self) -> &'a [u8] {
        self.head.method_span().get(self.buf)
    }

    /// Whether the method is GET.
    #[inline]
    pub fn is_get(&self) -> bool {
        self.head.method() == Method::Get
    }

    /// Whether the method is POST.
    #[inline]
    pub fn is_post(&self) -> bool {
        self.head.method() == Method::Post
    }

    /// Whether the method is HEAD (the response body is not sent).
    #[inline]
    pub fn is_head(&self) -> bool {
        self.head.method() == Method::Head
    }

    /// The request target exactly as sent (the "request URI").
    #[inline]
    pub fn uri(&self) -> &'a [u8] {
        self.head.target().get(self.buf)
    }

    /// The form of the request target (origin, absolute, authority, asterisk).
    #[inline]
    pub fn target_form(&self) -> TargetForm {
        self.head.target_form()
    }

    /// The path, percent-decoded and normalized (dot segments resolved,
    /// repeated slashes collapsed; [`brisk_http::normalize_path`]). Route on
    /// this: it never holds a `.` or `..` segment, a NUL byte or an invalid
    /// escape, because a request whose path cannot be normalized is
    /// answered 400 ([`ServerError::InvalidPath`](crate::ServerError))
    /// before the handler runs.
    #[inline]
    pub fn path(&self) -> &'a [u8] {
        self.path
    }

    /// The path as sent, before decoding and normalization.
    #[inline]
    pub fn raw_path(&self) -> &'a [u8] {
        self.head.path().get(self.buf)
    }

    /// The query string without the `?` (empty when there is none).
    #[inline]
    pub fn query_string(&self) -> &'a [u8] {
        self.head.query().map_or(&[][..], |s| s.get(self.buf))
    }

    /// The query arguments as raw (still percent-encoded) name/value pairs,
    /// parsed lazily. Decode a value with [`brisk_http::decode_arg`].
    pub fn query_args(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let q: &'a [u8] = self.query_string();
        brisk_http::parse_args(q).map(move |(n, v)| (n.get(q), v.get(q)))
    }

    /// The first query argument named `name` (raw, percent-encoded).
    pub fn query_arg(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.query_args().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The `application/x-www-form-urlencoded` body arguments as raw pairs
    /// (empty for other content types), parsed lazily.
    pub fn post_args(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let form = self.content_type().is_some_and(|ct| {
            brisk_buf::starts_with_ignore_ascii_case(ct, b"application/x-www-form-urlencoded")
        });
        let body: &'a [u8] = if form { self.body } else { &[] };
        brisk_http::parse_args(body).map(move |(n, v)| (n.get(body), v.get(body)))
    }

    /// The protocol version.
    #[inline]
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// The first header named `name` (ASCII case-insensitive).
    #[inline]
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.head.header(self.buf, name)
    }

    /// Every request header as (name, value), in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf: &'a [u8] = self.buf;
        self.head
            .headers()
            .iter()
            .map(move |h: &HeaderField| (h.name.get(buf), h.value.get(buf)))
    }

    /// The `Host` header.
    #[inline]
    pub fn host(&self) -> Option<&'a [u8]> {
        self.span(self.head.host())
    }

    /// The `Content-Type` header.
    #[inline]
    pub fn content_type(&self) -> Option<&'a [u8]> {
        self.span(self.head.content_type())
    }

    /// The `User-Agent` header.
    #[inline]
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        self.span(self.head.user_agent())
    }

    /// The cookies as (name, value) pairs, parsed lazily from `Cookie`.
    pub fn cookies(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let raw: &'a [u8] = self.span(self.head.cookie()).unwrap_or(&[]);
        brisk_http::parse_cookies(raw).map(move |(n, v)| (n.get(raw), v.get(raw)))
    }

    /// The value of the cookie named `name`.
    pub fn cookie(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The request body (chunked bodies are already decoded). Empty when
    /// the body is streamed: see [`body_reader`](Self::body_reader).
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The request body as a stream, when the server streams it
    /// ([`ServerBuilder::stream_request_body`](crate::ServerBuilder::stream_request_body):
    /// a chunked body or one larger than the read buffer); `None` when it
    /// is buffered in [`body`](Self::body). The handler then runs on a
    /// worker thread, so it may block on the reads.
    ///
    /// ```
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
    /// use std::io::Read;
    /// let mut total = 0u64;
    /// if let Some(body) = ctx.body_reader() {
    ///     let mut buf = [0u8; 16 * 1024];
    ///     loop {
    ///         match body.read(&mut buf) {
    ///             Ok(0) => break,
    ///             Ok(n) => total += n as u64,
    ///             Err(e) => return ctx.error(&e.to_string(), 400),
    ///         }
    ///     }
    /// }
    /// ctx.set_body_string(&total.to_string());
    /// # }
    /// ```
    #[inline]
    pub fn body_reader(&mut self) -> Option<&mut BodyReader<'a>> {
        self.body_reader.as_mut()
    }

    /// The parsed request head (spans into [`request_bytes`](Self::request_bytes)).
    #[inline]
    pub fn request_header(&self) -> &'a RequestHeader {
        self.head
    }

    /// The raw request bytes the head's spans point into.
    #[inline]
    pub fn request_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The client's address.
    #[inline]
    pub fn remote_addr(&self) -> SocketAddr {
        self.info.remote
    }

    /// A server-unique id of the connection.
    #[inline]
    pub fn conn_id(&self) -> u64 {
        self.info.id
    }

    /// The number of this request on its connection (the first is 1).
    #[inline]
    pub fn conn_request_num(&self) -> u64 {
        self.info.request_num
    }

    /// When the server started handling this request's bytes (coarse: read
    /// once per event-loop turn).
    #[inline]
    pub fn received_at(&self) -> Instant {
        self.received
    }

    // ---- response ----

    /// Sets the response status code (default 200). Codes outside
    /// `100..=999` are refused and leave the status unchanged.
    ///
    /// A final status of 1xx is not sent: `100 Continue` is the server's
    /// (see `Expect: 100-continue`) and `101 Switching Protocols` needs a
    /// protocol upgrade, which brisk does not support yet. A handler that
    /// returns with a 1xx status gets a 500 (logged, and through the error
    /// hook as [`ServerError::InformationalStatus`](crate::ServerError)),
    /// and the connection closes.
    pub fn set_status(&mut self, code: u16) {
        // Out-of-range codes are refused by the header; keep the old status.
        let _ = self.resp.header.set_status(code);
    }

    /// The response status code.
    #[inline]
    pub fn status(&self) -> u16 {
        self.resp.header.status()
    }

    /// Sets the response `Content-Type` (default `text/plain; charset=utf-8`).
    /// A value with CR, LF or another control byte is refused and ignored;
    /// use [`try_set_content_type`](Self::try_set_content_type) to see the error.
    pub fn set_content_type(&mut self, value: &[u8]) {
        let _ = self.try_set_content_type(value);
    }

    /// Sets the response `Content-Type`, or says why the value is refused.
    pub fn try_set_content_type(&mut self, value: &[u8]) -> Result<(), HeaderError> {
        self.resp.header.set_content_type(value)
    }

    /// Sets a response header, replacing any with the same name. Refuses
    /// names that are not tokens and values with CR, LF or NUL (response
    /// splitting), and headers the server writes itself.
    pub fn set_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
        self.resp.header.set(name, value)
    }

    /// Adds a response header (repeats allowed, e.g. `Set-Cookie`).
    pub fn add_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
        self.resp.header.add(name, value)
    }

    /// The response header, for everything the shortcuts do not cover.
    #[inline]
    pub fn response_header(&mut self) -> &mut ResponseHeader {
        &mut self.resp.header
    }

    /// Replaces the response body with a copy of `body`.
    pub fn set_body(&mut self, body: &[u8]) {
        self.resp.static_body = None;
        self.resp.drop_stream();
        self.resp.body.reset();
        self.resp.body.extend_from_slice(body);
    }

    /// Replaces the response body with a `'static` slice (not copied until
    /// it is written to the socket; one at least as large as the write
    /// buffer is not copied at all: it is sent after the head with vectored
    /// writes).
    #[inline]
    pub fn set_body_static(&mut self, body: &'static [u8]) {
        self.resp.body.reset();
        self.resp.drop_stream();
        if body.len() < self.resp.big_static {
            self.resp.static_body = Some(body);
        } else {
            self.resp.static_body = None;
            self.resp.defer(Deferred::Static(body));
        }
    }

    /// Sends `len` bytes of `file` from `offset` as the response body
    /// (`Content-Length: len`), after the head, without reading them here:
    /// on plain TCP with `sendfile(2)` (no copy through user space), on
    /// other transports in pieces read with `pread`. The file's position
    /// is not used, so one `Arc<File>` may serve many requests at once.
    /// Any body set before is dropped.
    ///
    /// The connection holds its clone of `file` until the body is sent,
    /// the connection closes, or it turns out no body is sent (HEAD, 204,
    /// 304): then it is dropped (the file is closed with its last clone).
    /// A slow client holds back the sending, never the loop. The length is
    /// the caller's promise: if the file has fewer bytes when they are
    /// sent, the connection closes after those it had (the client sees a
    /// short body).
    ///
    /// ```no_run
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) -> std::io::Result<()> {
    /// let file = std::fs::File::open("/srv/www/big.iso")?;
    /// let len = file.metadata()?.len();
    /// ctx.set_content_type(b"application/octet-stream");
    /// ctx.set_body_file(std::sync::Arc::new(file), 0, len);
    /// # Ok(()) }
    /// ```
    pub fn set_body_file(&mut self, file: Arc<std::fs::File>, offset: u64, len: u64) {
        self.reset_body();
        self.resp
            .defer(Deferred::File(Box::new(FileBody { file, offset, len })));
    }

    /// Streams the response body: after the handler returns, `producer` is
    /// called each time the connection can take more output (so a slow
    /// client holds back production instead of filling memory) and appends
    /// the next piece through the [`BodyWriter`]; it returns `false` after
    /// the last piece. The body is sent chunked. Any body set before is
    /// dropped; a HEAD request gets the head only.
    ///
    /// The producer runs on the event loop and must not wait. One that
    /// returns `true` without writing is called again soon: after 64 such
    /// calls in a row the connection yields, the loop serves the others,
    /// and then it calls the producer again. So it never stalls the loop,
    /// but it keeps a core busy while it has nothing to give. For data
    /// that arrives later (a relayed upstream, events) use
    /// [`body_sender`](Self::body_sender), which wakes the connection only
    /// when there is something to send.
    ///
    /// ```
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
    /// let mut left = 1000;
    /// ctx.set_body_stream(move |w| {
    ///     w.write(b"line\n");
    ///     left -= 1;
    ///     left > 0
    /// });
    /// # }
    /// ```
    pub fn set_body_stream<F>(&mut self, producer: F)
    where
        F: FnMut(&mut BodyWriter<'_>) -> bool + Send + 'static,
    {
        self.reset_body();
        self.resp.defer(Deferred::Stream(Box::new(producer)));
    }

    /// Sends the response body from a [`BodySender`] that any thread may
    /// write to after the handler returns (server-sent events, long polls,
    /// a proxy relaying an upstream body). `length` is the body's
    /// `Content-Length` when known; otherwise the body is sent chunked (to
    /// an HTTP/1.0 client: raw, and the connection closes after it). Any
    /// body set before is dropped.
    ///
    /// Writes wait in a bounded queue (`push_buffer_size`, 64 KiB by
    /// default): a client that reads slowly makes [`BodySender::write`]
    /// block (or [`BodySender::try_write`] return `WouldBlock`), and one
    /// that goes away makes them fail with `BrokenPipe`. The connection is
    /// woken by writes and never polls an idle sender; it closes when a
    /// pushed body stays silent longer than `idle_timeout`. Requests
    /// pipelined behind it wait until the body ends
    /// ([`BodySender::finish`]).
    ///
    /// ```no_run
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
    /// ctx.set_content_type(b"text/event-stream");
    /// let mut events = ctx.body_sender(None);
    /// std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         if events.write(format!("data: tick {i}\n\n").as_bytes()).is_err() {
    ///             return; // the client went away
    ///         }
    ///         std::thread::sleep(std::time::Duration::from_secs(1));
    ///     }
    ///     let _ = events.finish();
    /// });
    /// # }
    /// ```
    pub fn body_sender(&mut self, length: Option<u64>) -> BodySender {
        self.reset_body();
        let shared = PushShared::new(self.resp.push_cap, length);
        self.resp.defer(Deferred::Push(shared.clone()));
        BodySender::new(shared)
    }

    /// Takes the connection over once the response is sent: `handler`
    /// runs on a worker thread with the socket and the bytes the client
    /// sent past this request ([`Hijacked`]), and the server no longer
    /// tracks the connection (it leaves its loop and no longer counts as
    /// open; [`Server::hijacked_connections`](crate::Server::hijacked_connections)
    /// counts it while the handler runs). This is how a protocol upgrade
    /// works: set status 101 and the `Upgrade` header (the server writes
    /// `Connection: Upgrade`), then hijack; a 101 without a hijack is
    /// refused. A response of another status is sent with its body first.
    /// A body set with [`set_body_stream`](Self::set_body_stream) or
    /// [`body_sender`](Self::body_sender) is replaced. Not over TLS
    /// (feature `tls`): there the request is answered 501
    /// ([`ServerError::HijackOverTls`](crate::ServerError::HijackOverTls))
    /// and `handler` is dropped without running.
    ///
    /// ```no_run
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
    /// use std::io::{Read, Write};
    /// ctx.set_status(101);
    /// ctx.set_header(b"Upgrade", b"echo").unwrap();
    /// ctx.hijack(|mut conn| {
    ///     let mut buf = [0u8; 4096];
    ///     while let Ok(n) = conn.read(&mut buf) {
    ///         if n == 0 || conn.write_all(&buf[..n]).is_err() {
    ///             break;
    ///         }
    ///     }
    /// });
    /// # }
    /// ```
    pub fn hijack<F>(&mut self, handler: F)
    where
        F: FnOnce(Hijacked) + Send + 'static,
    {
        self.resp.drop_stream();
        self.resp.defer(Deferred::Hijack(Box::new(handler)));
    }

    /// What the response body is (buffered, static, streamed, pushed, a
    /// file, or a hijack).
    pub fn response_body_kind(&self) -> ResponseBodyKind {
        match (&self.resp.deferred, self.resp.static_body) {
            (Deferred::Stream(_), _) => ResponseBodyKind::Stream,
            (Deferred::Push(_), _) => ResponseBodyKind::Pushed,
            (Deferred::Hijack(_), _) => ResponseBodyKind::Hijack,
            (Deferred::File(_), _) => ResponseBodyKind::File,
            (&Deferred::Static(b), _) | (Deferred::None, Some(b)) => ResponseBodyKind::Static(b),
            (Deferred::None, None) => ResponseBodyKind::Buffered,
        }
    }

    /// Takes the producer of a streamed body back out of the response
    /// (which is then empty), so that a wrapper can set a stream of its own
    /// around it with [`set_body_stream`](Self::set_body_stream); `None`
    /// when the body is not a stream.
    pub fn take_body_stream(&mut self) -> Option<Box<BodyStream>> {
        if !matches!(self.resp.deferred, Deferred::Stream(_)) {
            return None;
        }
        match std::mem::replace(&mut self.resp.deferred, Deferred::None) {
            Deferred::Stream(f) => Some(f),
            _ => None,
        }
    }

    /// Passes a pushed body ([`body_sender`](Self::body_sender)) through
    /// `filter` (e.g. a compressor): bytes already queued are filtered at
    /// once, later writes as they are made (on the writer's thread), and
    /// the filter's [`finish`](PushFilter::finish) output ends the body.
    /// The body is then sent chunked, even when a length was declared (the
    /// writes are still checked against it). The queue's bound applies to
    /// the bytes written; the filter's output may pass it by the little a
    /// coding adds. Returns `false`, and drops `filter`, when the body is
    /// not pushed, already has a filter, or its sender already ended it
    /// short.
    pub fn filter_pushed_body(&mut self, filter: Box<dyn PushFilter>) -> bool {
        match &self.resp.deferred {
            Deferred::Push(shared) => shared.set_filter(filter),
            _ => false,
        }
    }

    /// Runs `f` with a view of this request whose body is `body` (e.g. the
    /// request body after its content coding was removed) and whose head
    /// leaves out `Content-Encoding`, `Content-Length` and
    /// `Transfer-Encoding` ([`RequestHeader::without_content_coding`]: its
    /// `content_length()` is `body.len()`); the response and the user values
    /// are this request's. The view has no [`body_reader`](Self::body_reader).
    pub fn with_decoded_body<R>(
        &mut self,
        body: &[u8],
        f: impl FnOnce(&mut RequestCtx<'_>) -> R,
    ) -> R {
        let head = self
            .head
            .without_content_coding(self.buf, body.len() as u64);
        let mut view = RequestCtx {
            buf: self.buf,
            head: &head,
            body,
            path: self.path,
            info: self.info,
            received: self.received,
            resp: &mut *self.resp,
            values: &mut *self.values,
            body_reader: None,
        };
        f(&mut view)
    }

    /// Whether the handler asked to take the connection over.
    pub fn is_hijacked(&self) -> bool {
        matches!(self.resp.deferred, Deferred::Hijack(_))
    }

    /// Replaces the response body with a string.
    pub fn set_body_string(&mut self, body: &str) {
        self.set_body(body.as_bytes());
    }

    /// Appends to the response body.
    pub fn append_body(&mut self, data: &[u8]) {
        self.resp.undefer();
        if let Some(s) = self.resp.static_body.take() {
            self.resp.body.extend_from_slice(s);
        }
        self.resp.body.extend_from_slice(data);
    }

    /// The response body written so far.
    #[inline]
    pub fn response_body(&self) -> &[u8] {
        self.resp.body_bytes()
    }

    /// Clears the response body (and a body stream).
    pub fn reset_body(&mut self) {
        self.resp.static_body = None;
        self.resp.drop_stream();
        self.resp.body.reset();
    }

    /// Answers with `status` and a plain-text `message` body, as
    /// fasthttp's `Error` does: the response is reset first (status,
    /// headers set so far, `Set-Cookie` and custom ones included, content
    /// type and body), then the status and the message are set (with the
    /// server's default content type, `text/plain; charset=utf-8` unless
    /// turned off). Whether the connection stays open is not changed.
    ///
    /// ```
    /// # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
    /// ctx.add_header(b"Set-Cookie", b"a=1").unwrap();
    /// ctx.error("no such item", 404);
    /// assert_eq!(ctx.status(), 404);
    /// assert_eq!(ctx.response_body(), b"no such item");
    /// assert!(ctx.response_header().get(b"Set-Cookie").is_none());
    /// # }
    /// ```
    pub fn error(&mut self, message: &str, status: u16) {
        self.resp.header.reset();
        self.set_status(status);
        self.set_body(message.as_bytes());
    }

    /// Redirects to `location` with `status` (301, 302, 303, 307 or 308;
    /// anything else becomes 302). A location with CR, LF or NUL is refused.
    pub fn redirect(&mut self, location: &[u8], status: u16) -> Result<(), HeaderError> {
        let status = match status {
            301 | 302 | 303 | 307 | 308 => status,
            _ => 302,
        };
        self.resp.header.set(b"Location", location)?;
        self.set_status(status);
        self.reset_body();
        Ok(())
    }

    /// Closes the connection after this response (sends `Connection: close`).
    pub fn set_connection_close(&mut self) {
        self.resp.close = true;
    }

    /// Whether the connection will close after this response.
    #[inline]
    pub fn connection_close(&self) -> bool {
        self.resp.close
    }

    // ---- user values ----

    /// Stores a typed value for the rest of this request (replacing one of
    /// the same type). Values are dropped when the request ends.
    pub fn set_user_value<T: Any + Send>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        if let Some(slot) = self.values.items.iter_mut().find(|(t, _)| *t == id) {
            slot.1 = Box::new(value);
        } else {
            self.values.items.push((id, Box::new(value)));
        }
    }

    /// The value of type `T` stored for this request.
    pub fn user_value<T: Any + Send>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.values
            .items
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref())
    }

    /// The value of type `T` stored for this request, mutably.
    pub fn user_value_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.values
            .items
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_mut())
    }

    /// Removes and returns the value of type `T`.
    pub fn take_user_value<T: Any + Send>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        let i = self.values.items.iter().position(|(t, _)| *t == id)?;
        let (_, v) = self.values.items.swap_remove(i);
        v.downcast().ok().map(|b| *b)
    }

    #[inline]
    fn span(&self, s: Option<Span>) -> Option<&'a [u8]> {
        s.map(|s| s.get(self.buf))
    }
}

impl io::Write for RequestCtx<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.append_body(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for RequestCtx<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.append_body(s.as_bytes());
        Ok(())
    }
}

impl fmt::Debug for RequestCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCtx")
            .field("method", &self.method())
            .field("uri", &self.uri().escape_ascii().to_string())
            .field("remote", &self.info.remote)
            .field("conn_id", &self.info.id)
            .field("request_num", &self.info.request_num)
            .field("status", &self.status())
            .finish()
    }
}

//! One connection's state machine: read → parse head → body → handler →
//! serialize → flush, with pipelining, backpressure and lingering close.
//!
//! A `Conn` is driven by exactly one thread at a time (the one that took it
//! out of its loop's slab); nothing here locks or touches loop state.

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use brisk_buf::ByteBuffer;
use brisk_http::{
    BodyKind, ChunkedDecoder, ChunkedEncoder, HeadCache, Method, RequestHeader, RequestParser,
    ResponseBody, Version, WriteOptions,
};
use log::{debug, error, warn};
use socket2::Socket;

use crate::ctx::{BodyStream, BodyWriter, ConnInfo, RequestCtx, Response, UserValues};
use crate::error::ServerError;
use crate::server::Core;
use crate::sys;

/// Reads/flushes per connection per event before others get a turn. A turn
/// answers at most what fits under the backpressure bound (3 KiB of
/// output by default), so a client that pipelines without pause gets a
/// quantum of a few tens of microseconds, and one loop shared with 2000 of
/// them still answers a polite client within milliseconds.
const MAX_TURNS: usize = 2;
/// How long a closing connection keeps discarding input after its last
/// response, so the client reads that response instead of a reset.
const LINGER_MS: u64 = 2_000;
/// Slack above `max_request_body_size` for chunk framing held in the buffer.
const CHUNK_SLACK: usize = 16 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the loop should do with a connection after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for the next event (or timer).
    Keep,
    /// Drive it again soon without waiting for an event (turn budget spent).
    Again,
    /// Close it now.
    Close,
}

/// Why a connection's timer is set (decides what a timeout does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connected, no byte received yet.
    New,
    /// Between requests on a keep-alive connection.
    Idle,
    /// Part of a request (head or body) is buffered.
    Reading,
    /// Output is waiting for the client to read.
    Writing,
    /// Closing: discarding input until the client closes.
    Lingering,
}

/// Per-thread scratch reused for every request (never per connection).
// The boxes move between connections and the free list by pointer.
#[allow(clippy::vec_box)]
pub(crate) struct Scratch {
    inflight: Vec<Box<InFlight>>,
    resp: Response,
    values: UserValues,
    path_buf: Vec<u8>,
    empty_head: RequestHeader,
    /// The start of the last `200 OK` head, reused within its second.
    head_cache: HeadCache,
    /// Wall-clock seconds for the `Date` header, read once per poll.
    pub(crate) unix_secs: u64,
    /// One empty read buffer and one write buffer of the configured sizes,
    /// kept by this thread in front of the pool: a busy connection drains
    /// and refills its buffers every batch, and these make that a move
    /// instead of a pool round trip. They belong to the thread, not to a
    /// connection, so an idle connection still holds no buffer.
    spare: [Option<ByteBuffer>; 2],
}

/// Index in `Scratch::spare` of a connection's read or write buffer.
const READ: usize = 0;
const WRITE: usize = 1;

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            inflight: Vec::new(),
            resp: Response::new(),
            values: UserValues::default(),
            path_buf: Vec::new(),
            empty_head: RequestHeader::new(),
            head_cache: HeadCache::new(),
            unix_secs: brisk_http::date::unix_secs(),
            spare: [None, None],
        }
    }

    /// An empty buffer for a connection's reads (`READ`) or writes
    /// (`WRITE`), of at least the configured size.
    #[inline(always)]
    fn get_buf(&mut self, core: &Core, which: usize) -> ByteBuffer {
        match self.spare[which].take() {
            Some(b) => b,
            None => pool_buf(core, which),
        }
    }

    /// Takes back a connection's buffer: kept as the spare if there is none
    /// and it has its configured size class, else given to the pool.
    #[inline]
    fn put_buf(&mut self, core: &Core, which: usize, mut b: ByteBuffer) {
        let size = buf_size(core, which);
        if self.spare[which].is_none() && (size..size.saturating_mul(2)).contains(&b.capacity()) {
            b.reset();
            self.spare[which] = Some(b);
        } else {
            pool_put(core, b);
        }
    }

    /// Gives the spare buffers back to the pool (the thread leaves its loop).
    pub(crate) fn release(&mut self, core: &Core) {
        for b in self.spare.iter_mut().filter_map(Option::take) {
            core.pool.put(b);
        }
    }

    #[inline]
    fn take_inflight(&mut self, core: &Core) -> Box<InFlight> {
        match self.inflight.pop() {
            Some(r) => r,
            None => new_inflight(core),
        }
    }

    fn put_inflight(&mut self, mut r: Box<InFlight>) {
        r.recycle();
        if self.inflight.len() < 64 {
            self.inflight.push(r);
        } else {
            drop_inflight(r);
        }
    }
}

/// A request being received: the parser's resume state, the head, and the
/// body's progress. Boxed and recycled through [`Scratch`], so an idle
/// connection holds none and a busy one costs a pointer move per request.
struct InFlight {
    parser: RequestParser,
    head: RequestHeader,
    decoder: ChunkedDecoder,
    /// Set once the head is complete.
    body: Option<BodyWait>,
    continue_sent: bool,
}

impl InFlight {
    /// Ready for the next request. The head needs no clearing: the parser
    /// starts a new head on its first call after `reset`.
    #[inline]
    fn recycle(&mut self) {
        self.parser.reset();
        self.body = None;
        self.continue_sent = false;
    }
}

/// The body still to arrive for a head that is complete. Offsets are from
/// the request's first byte (`Conn::rpos`).
enum BodyWait {
    /// The whole request is `total` bytes (head + Content-Length body).
    Length { head_len: usize, total: usize },
    /// Chunked: `read`/`written` are offsets from the body's first byte.
    Chunked {
        head_len: usize,
        read: usize,
        written: usize,
    },
}

pub(crate) struct Conn {
    pub(crate) sock: Socket,
    rbuf: Option<ByteBuffer>,
    /// Offset in `rbuf` of the first byte of the request being received.
    rpos: usize,
    wbuf: Option<ByteBuffer>,
    /// Bytes of `wbuf` already sent.
    wpos: usize,
    /// The request being received, if any.
    req: Option<Box<InFlight>>,
    /// A streamed response body still being produced.
    stream: Option<Box<BodyStream>>,
    pub(crate) info: ConnInfo,
    /// ms (server clock) the current request's first byte arrived; 0 = none.
    req_started: u64,
    /// ms of the last progress (accept, response written, output drained).
    last_active: u64,
    /// Lingering close deadline (ms); 0 = not lingering.
    linger_until: u64,
    /// Edge-triggered: the socket may have unread input.
    pub(crate) readable: bool,
    /// Edge-triggered: the socket may take more output. Cleared when a send
    /// would block, set by the next EPOLLOUT; while it is clear, input events
    /// do not retry the send (a client that never reads would otherwise cost
    /// a failing `send` per segment it sends).
    pub(crate) writable: bool,
    eof: bool,
    /// Close once the pending output is sent.
    close: bool,
    /// Input may be left unread at close: linger instead of a bare close.
    linger: bool,
    /// The stream is close-delimited (HTTP/1.0), not chunked.
    stream_raw: bool,
    pub(crate) ip_counted: bool,
}

impl Conn {
    pub(crate) fn new(sock: Socket, remote: SocketAddr, id: u64, now_ms: u64) -> Conn {
        Conn {
            sock,
            rbuf: None,
            rpos: 0,
            wbuf: None,
            wpos: 0,
            req: None,
            stream: None,
            info: ConnInfo {
                remote,
                id,
                request_num: 0,
            },
            req_started: 0,
            last_active: now_ms,
            linger_until: 0,
            readable: true,
            writable: true,
            eof: false,
            close: false,
            linger: false,
            stream_raw: false,
            ip_counted: false,
        }
    }

    /// The connection's phase, which decides its deadline and what a
    /// timeout does.
    pub(crate) fn phase(&self) -> Phase {
        if self.linger_until != 0 {
            Phase::Lingering
        } else if self.has_output() {
            Phase::Writing
        } else if self.req_started != 0 {
            Phase::Reading
        } else if self.info.request_num == 0 {
            Phase::New
        } else {
            Phase::Idle
        }
    }

    /// The absolute deadline (ms, server clock) for the current phase.
    pub(crate) fn deadline(&self, core: &Core) -> u64 {
        let c = &core.cfg;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        match self.phase() {
            Phase::Lingering => self.linger_until,
            Phase::Writing => self.last_active + ms(c.write_timeout),
            Phase::Reading => self.req_started + ms(c.read_timeout),
            Phase::New => self.last_active + ms(c.first_byte_timeout),
            Phase::Idle => self.last_active + ms(c.idle_timeout),
        }
        .max(1)
    }

    /// Whether the connection holds no buffered request bytes and no output
    /// (an idle keep-alive connection: it owns no buffers).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.phase(), Phase::New | Phase::Idle)
    }

    /// ms (server clock) of the last progress on this connection.
    pub(crate) fn last_active(&self) -> u64 {
        self.last_active
    }

    #[inline]
    fn has_output(&self) -> bool {
        self.wbuf.as_ref().is_some_and(|w| w.len() > self.wpos)
    }

    #[inline]
    fn pending_output(&self) -> usize {
        self.wbuf.as_ref().map_or(0, |w| w.len() - self.wpos)
    }

    #[inline]
    fn unprocessed(&self) -> usize {
        self.rbuf.as_ref().map_or(0, |r| r.len() - self.rpos)
    }

    /// Drives the connection as far as it can go without blocking.
    pub(crate) fn drive(
        &mut self,
        s: &mut Scratch,
        core: &Core,
        now_ms: u64,
        now: Instant,
    ) -> Next {
        if self.linger_until != 0 {
            return self.linger_read();
        }
        for _ in 0..MAX_TURNS {
            if self.has_output() {
                if !self.writable {
                    return self.settle(s, core);
                }
                match self.flush(s, core, now_ms) {
                    Err(_) => return Next::Close,
                    Ok(false) => return self.settle(s, core),
                    Ok(true) => {}
                }
            }
            if self.stream.is_some() {
                self.pump(s, core);
                continue;
            }
            if self.close {
                return self.finish_close(s, core, now_ms);
            }
            let served = self.info.request_num;
            self.process(s, core, now_ms, now);
            if self.has_output() {
                match self.flush(s, core, now_ms) {
                    Err(_) => return Next::Close,
                    Ok(false) => return self.settle(s, core),
                    Ok(true) => {}
                }
            }
            if self.stream.is_some() {
                continue;
            }
            if self.close {
                return self.finish_close(s, core, now_ms);
            }
            if self.info.request_num != served && self.unprocessed() > 0 {
                // Backpressure paused a pipelined batch and the output has
                // drained: answer the rest before reading more.
                continue;
            }
            if self.eof {
                // Everything complete was answered; a partial request can
                // never finish now.
                return Next::Close;
            }
            if !self.readable {
                return self.settle(s, core);
            }
            match self.read(s, core, now_ms) {
                Ok(0) => {
                    self.eof = true;
                    self.readable = false;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return self.settle(s, core);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("conn {}: read error: {e}", self.info.id);
                    return Next::Close;
                }
            }
        }
        self.settle(s, core);
        Next::Again
    }

    /// Handles an expired deadline. Returns what to do with the connection.
    pub(crate) fn on_timeout(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> Next {
        match self.phase() {
            Phase::Reading => {
                let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));
                self.respond_error(&mut w, s, core, ServerError::ReadTimeout);
                self.wbuf = Some(w);
                match self.flush(s, core, now_ms) {
                    Ok(true) => self.finish_close(s, core, now_ms),
                    Ok(false) => {
                        self.settle(s, core);
                        Next::Keep
                    }
                    Err(_) => Next::Close,
                }
            }
            Phase::New | Phase::Idle | Phase::Writing | Phase::Lingering => Next::Close,
        }
    }

    /// Starts a graceful shutdown for this connection: idle ones close now,
    /// others finish their current request with `Connection: close`.
    pub(crate) fn begin_shutdown(&mut self) -> bool {
        if self.is_idle() && !self.readable {
            return false;
        }
        true
    }

    /// Gives the buffers back to the pool when they hold nothing.
    fn settle(&mut self, s: &mut Scratch, core: &Core) -> Next {
        if self.unprocessed() == 0 && self.req.is_none() {
            if let Some(b) = self.rbuf.take() {
                s.put_buf(core, READ, b);
            }
            self.rpos = 0;
        }
        if !self.has_output() {
            if let Some(b) = self.wbuf.take() {
                s.put_buf(core, WRITE, b);
            }
            self.wpos = 0;
        }
        Next::Keep
    }

    /// All buffers back to the pool (the connection is closing).
    pub(crate) fn release(&mut self, core: &Core, s: &mut Scratch) {
        if let Some(b) = self.rbuf.take() {
            s.put_buf(core, READ, b);
        }
        if let Some(b) = self.wbuf.take() {
            s.put_buf(core, WRITE, b);
        }
        if let Some(r) = self.req.take() {
            s.put_inflight(r);
        }
    }

    /// The response is out; close now, or linger if input may be unread.
    #[inline(never)]
    fn finish_close(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> Next {
        if !self.linger && !self.readable && self.unprocessed() == 0 {
            return Next::Close;
        }
        if self.eof {
            return Next::Close;
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
        self.settle(s, core);
        if let Some(b) = self.rbuf.take() {
            s.put_buf(core, READ, b);
        }
        self.rpos = 0;
        self.linger_until = now_ms + LINGER_MS;
        self.readable = true;
        self.linger_read()
    }

    /// Discards input until the client closes (or the linger deadline).
    #[cold]
    #[inline(never)]
    fn linger_read(&mut self) -> Next {
        let mut sink = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        for _ in 0..MAX_TURNS * 4 {
            match self.sock.recv(&mut sink) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Next::Keep;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        Next::Again
    }

    fn read(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<usize> {
        let rb = self.rbuf.get_or_insert_with(|| s.get_buf(core, READ));
        if self.rpos > 0 {
            if self.rpos == rb.len() {
                rb.reset();
                self.rpos = 0;
            } else if rb.capacity() - rb.len() < rb.capacity() / 2 {
                let v = rb.as_mut_vec();
                v.copy_within(self.rpos.., 0);
                v.truncate(v.len() - self.rpos);
                self.rpos = 0;
            }
        }
        let v = rb.as_mut_vec();
        let spare = v.capacity() - v.len();
        if spare == 0 {
            // Only reachable when a head filled the buffer; `process` answers
            // 431 before asking for more, so treat it as a stall.
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "read buffer full",
            ));
        }
        let was_empty = v.len() == self.rpos;
        let n = sys::recv_into_spare(&self.sock, v, spare)?;
        if n < spare {
            // A short read drained the socket; the next edge reports more.
            self.readable = false;
        }
        if n > 0 && was_empty && self.req_started == 0 {
            self.req_started = now_ms;
        }
        Ok(n)
    }

    /// Sends pending output. `Ok(true)` when all of it is out.
    fn flush(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<bool> {
        let Some(w) = self.wbuf.as_mut() else {
            return Ok(true);
        };
        while self.wpos < w.len() {
            match sys::send(&self.sock, &w[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    self.last_active = now_ms;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        w.reset();
        self.wpos = 0;
        self.writable = true;
        if !self.close {
            // Keep the buffer only while more responses are coming.
            if let Some(b) = self.wbuf.take() {
                s.put_buf(core, WRITE, b);
            }
        }
        Ok(true)
    }

    /// Produces streamed body pieces while the output is under the
    /// backpressure bound; ends the body when the producer is done.
    #[inline(never)]
    fn pump(&mut self, s: &mut Scratch, core: &Core) {
        let Some(mut f) = self.stream.take() else {
            return;
        };
        let w = self.wbuf.get_or_insert_with(|| s.get_buf(core, WRITE));
        while w.len() - self.wpos < core.cfg.max_pending_output {
            s.resp.body.reset();
            let mut bw = BodyWriter {
                buf: &mut s.resp.body,
            };
            let more = match catch_unwind(AssertUnwindSafe(|| f(&mut bw))) {
                Ok(more) => more,
                Err(_) => {
                    // The head is out: all we can do is cut the body short.
                    error!(
                        "conn {} ({}): body stream panicked; closing the connection",
                        self.info.id, self.info.remote
                    );
                    self.close = true;
                    self.linger = false;
                    s.resp.body.reset();
                    return;
                }
            };
            let piece = s.resp.body.as_slice();
            if self.stream_raw {
                w.extend_from_slice(piece);
            } else {
                ChunkedEncoder::new().write_chunk(piece, w);
            }
            if !more {
                if !self.stream_raw {
                    ChunkedEncoder::new().finish(w);
                }
                s.resp.body.reset();
                return;
            }
        }
        s.resp.body.reset();
        self.stream = Some(f);
    }

    /// Answers every complete request in the read buffer, in order, until
    /// the output passes the backpressure bound.
    ///
    /// The read and write buffers are taken out of the connection for the
    /// batch and handed to each step by reference, so no step re-checks
    /// that they exist; an unused write buffer goes straight back.
    fn process(&mut self, s: &mut Scratch, core: &Core, now_ms: u64, now: Instant) {
        let max_out = core.cfg.max_pending_output;
        if self.close
            || self.stream.is_some()
            || self.pending_output() >= max_out
            || self.unprocessed() == 0
        {
            return;
        }
        let Some(mut rb) = self.rbuf.take() else {
            return;
        };
        let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));
        // One `InFlight` carried from one pipelined request to the next:
        // kept by the connection when a request is incomplete, else back to
        // the scratch list when the batch ends.
        let mut req = match self.req.take() {
            Some(r) => r,
            None => s.take_inflight(core),
        };
        let base = base_options(core);
        loop {
            if self.req_started == 0 {
                self.req_started = now_ms;
            }
            let ready = (req.body.is_some() || self.parse_head(&mut req, &mut rb, &mut w, s, core))
                && self.body_ready(&mut req, &mut rb, &mut w, s, core);
            if !ready {
                if self.close {
                    s.put_inflight(req);
                } else {
                    self.maybe_continue(&mut req, &mut w);
                    self.req = Some(req);
                }
                break;
            }
            self.serve(&req, &rb, &mut w, s, core, &base, now_ms, now);
            req.recycle();
            if self.close
                || self.stream.is_some()
                || w.len() - self.wpos >= max_out
                || rb.len() == self.rpos
            {
                s.put_inflight(req);
                break;
            }
        }
        self.rbuf = Some(rb);
        if w.is_empty() {
            s.put_buf(core, WRITE, w);
            self.wpos = 0;
        } else {
            self.wbuf = Some(w);
        }
    }

    /// Parses the head of the request at `rpos`. `true` when it is complete
    /// (`req.body` then describes the body); errors are answered here.
    fn parse_head(
        &mut self,
        req: &mut InFlight,
        rb: &mut ByteBuffer,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
    ) -> bool {
        let buf = &rb[self.rpos..];
        match req.parser.parse(buf, &mut req.head) {
            Ok(brisk_http::Status::Partial) => {
                if buf.len() >= core.cfg.read_buffer_size {
                    // A full buffer without one complete line: the request
                    // line itself is too long (414), else the head is (431).
                    let err = if memchr::memchr(b'\n', buf).is_some() {
                        ServerError::HeadTooLarge
                    } else {
                        ServerError::UriTooLong
                    };
                    self.respond_error(w, s, core, err);
                }
                false
            }
            Ok(brisk_http::Status::Complete(head_len)) => {
                if core.cfg.limits.normalize_header_names {
                    brisk_http::normalize_header_names(
                        &mut rb.as_mut_slice()[self.rpos..],
                        &req.head,
                    );
                }
                if core.cfg.get_only && !matches!(req.head.method(), Method::Get | Method::Head) {
                    self.respond_error(w, s, core, ServerError::MethodNotAllowed);
                    return false;
                }
                req.body = Some(match req.head.body_kind() {
                    BodyKind::None => BodyWait::Length {
                        head_len,
                        total: head_len,
                    },
                    BodyKind::Length(n) => {
                        // Refused before a byte of it is read.
                        if n > core.cfg.max_request_body_size as u64 {
                            self.respond_error(w, s, core, ServerError::BodyTooLarge);
                            return false;
                        }
                        BodyWait::Length {
                            head_len,
                            total: head_len + n as usize,
                        }
                    }
                    BodyKind::Chunked => {
                        req.decoder.reset();
                        BodyWait::Chunked {
                            head_len,
                            read: 0,
                            written: 0,
                        }
                    }
                });
                true
            }
            Err(e) => {
                if core.cfg.log_all_errors {
                    self.log_bad_request(core, &rb[self.rpos..], &e.to_string());
                }
                self.respond_error(w, s, core, ServerError::Parse(e));
                false
            }
        }
    }

    /// Whether the whole body of `req` is in the buffer (decoding chunked
    /// input in place as it arrives); errors are answered here.
    fn body_ready(
        &mut self,
        req: &mut InFlight,
        rb: &mut ByteBuffer,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
    ) -> bool {
        let max_body = core.cfg.max_request_body_size;
        let v = rb.as_mut_vec();
        let err = match req.body.as_mut() {
            None => return false,
            Some(BodyWait::Length { total, .. }) => {
                let total = *total;
                if v.len() - self.rpos >= total {
                    return true;
                }
                // Make room as the body arrives: move the request to the
                // front, then double the buffer when it is full, never past
                // the declared total (already checked against
                // max_request_body_size). Memory follows the bytes actually
                // received, not what a client claims it will send.
                if self.rpos + total > v.capacity() && self.rpos > 0 {
                    v.copy_within(self.rpos.., 0);
                    v.truncate(v.len() - self.rpos);
                    self.rpos = 0;
                }
                if v.len() == v.capacity() {
                    let grow = v.capacity().max(1024).min(total - v.len());
                    v.reserve_exact(grow);
                }
                return false;
            }
            Some(BodyWait::Chunked {
                head_len,
                read,
                written,
            }) => {
                let start = self.rpos + *head_len;
                match req.decoder.decode(&mut v[start..], *read, *written) {
                    Err(e) => ServerError::Parse(e),
                    Ok(p) if p.written > max_body => ServerError::BodyTooLarge,
                    Ok(p) => {
                        *read = p.read;
                        *written = p.written;
                        if p.done {
                            return true;
                        }
                        // Drop the consumed framing so input keeps fitting.
                        let (raw, to) = (start + p.read, start + p.written);
                        if raw > to {
                            v.copy_within(raw.., to);
                            v.truncate(v.len() - (raw - to));
                            *read = *written;
                        }
                        if v.len() < v.capacity() {
                            return false;
                        }
                        let limit = *head_len + max_body + CHUNK_SLACK;
                        let cap = v.capacity() - self.rpos;
                        if cap >= limit {
                            ServerError::BodyTooLarge
                        } else {
                            v.reserve(cap.min(limit - cap).max(1024));
                            return false;
                        }
                    }
                }
            }
        };
        self.respond_error(w, s, core, err);
        false
    }

    /// Sends `100 Continue` once when the client asked for it and the body
    /// has not arrived yet.
    #[inline(never)]
    fn maybe_continue(&mut self, req: &mut InFlight, w: &mut ByteBuffer) {
        if req.continue_sent
            || req.body.is_none()
            || !req.head.expect_continue()
            || req.head.version() != Version::Http11
        {
            return;
        }
        req.continue_sent = true;
        w.extend_from_slice(CONTINUE);
    }

    /// Runs the handler for the complete request at `rpos`, serializes its
    /// response and recycles `req`.
    #[allow(clippy::too_many_arguments)]
    fn serve(
        &mut self,
        req: &InFlight,
        rb: &ByteBuffer,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        base: &WriteOptions<'_>,
        now_ms: u64,
        now: Instant,
    ) {
        let Some(body) = req.body.as_ref() else {
            return;
        };
        let (body_range, consumed) = match *body {
            BodyWait::Length { head_len, total } => (head_len..total, total),
            BodyWait::Chunked {
                head_len,
                read,
                written,
            } => (head_len..head_len + written, head_len + read),
        };
        let head = &req.head;
        let buf = &rb[self.rpos..self.rpos + body_range.end];
        self.info.request_num += 1;

        // The normalized path: the raw one when the parser found it plain
        // (or normalizing fails: `*`, an authority-form target).
        let raw_path = head.path().get(buf);
        let path: &[u8] = if !head.path_is_plain() {
            match brisk_http::normalize_path(raw_path, &mut s.path_buf) {
                Ok(()) => &s.path_buf,
                Err(_) => raw_path,
            }
        } else {
            raw_path
        };

        s.resp.reset();
        let is_head = head.method() == Method::Head;
        let mut ctx = RequestCtx {
            buf,
            head,
            body: &buf[body_range],
            path,
            info: &self.info,
            received: now,
            resp: &mut s.resp,
            values: &mut s.values,
        };
        let handler = &core.handler;
        let panicked = catch_unwind(AssertUnwindSafe(|| handler(&mut ctx))).is_err();
        s.values.clear();
        if panicked {
            self.handler_panicked(s);
        }

        let keep_alive = !s.resp.close
            && !s.resp.header.connection_close()
            && head.keep_alive()
            && !core.cfg.disable_keepalive
            && !core.shutting_down()
            && !self.eof
            && (core.cfg.max_requests_per_conn == 0
                || self.info.request_num < core.cfg.max_requests_per_conn);
        let http10 = head.version() == Version::Http10;
        let keep_alive = if s.resp.stream.is_none() {
            write_response(
                w,
                &s.resp,
                &mut s.head_cache,
                s.unix_secs,
                base,
                keep_alive,
                is_head,
                http10,
                None,
            );
            keep_alive
        } else {
            self.start_stream(w, s, base, keep_alive, is_head, http10)
        };

        // On to the next request.
        self.rpos += consumed;
        self.last_active = now_ms;
        let more = rb.len() > self.rpos;
        self.req_started = if more { now_ms } else { 0 };
        if !keep_alive {
            self.close = true;
            if more {
                self.linger = true;
            }
        }
    }

    /// The handler panicked: the response becomes a 500 and the connection
    /// closes after it.
    #[cold]
    #[inline(never)]
    fn handler_panicked(&mut self, s: &mut Scratch) {
        error!(
            "conn {} ({}): handler panicked on request {}; answered 500 and closing",
            self.info.id, self.info.remote, self.info.request_num
        );
        s.resp.reset();
        let _ = s.resp.header.set_status(500);
        s.resp.body.extend_from_slice(b"internal server error");
        s.resp.close = true;
        self.linger = true;
    }

    /// Writes the head of a response whose body the handler streams
    /// (`set_body_stream`) and keeps the producer for [`pump`](Self::pump);
    /// for a HEAD request the producer is dropped. Returns whether the
    /// connection stays open: a streamed body to an HTTP/1.0 client ends
    /// with the connection.
    #[cold]
    #[inline(never)]
    fn start_stream(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        base: &WriteOptions<'_>,
        keep_alive: bool,
        is_head: bool,
        http10: bool,
    ) -> bool {
        let stream = s.resp.stream.take().filter(|_| !is_head);
        let keep_alive = keep_alive && !(stream.is_some() && http10);
        let framing = match (&stream, http10) {
            (None, _) => None,
            (Some(_), false) => Some(ResponseBody::Chunked),
            (Some(_), true) => Some(ResponseBody::None),
        };
        write_response(
            w,
            &s.resp,
            &mut s.head_cache,
            s.unix_secs,
            base,
            keep_alive,
            is_head,
            http10,
            framing,
        );
        if stream.is_some() {
            self.stream = stream;
            self.stream_raw = http10;
        }
        keep_alive
    }

    /// Queues the error response for `err` and marks the connection to
    /// close (lingering: the client may still be sending).
    #[cold]
    #[inline(never)]
    fn respond_error(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        err: ServerError,
    ) {
        s.resp.reset();
        let _ = s.resp.header.set_status(err.status());
        s.resp.body.extend_from_slice(err.reason().as_bytes());
        if let Some(eh) = core.error_handler.as_ref() {
            let mut ctx = RequestCtx {
                buf: &[],
                head: &s.empty_head,
                body: &[],
                path: &[],
                info: &self.info,
                received: Instant::now(),
                resp: &mut s.resp,
                values: &mut s.values,
            };
            if catch_unwind(AssertUnwindSafe(|| eh(&mut ctx, &err))).is_err() {
                error!(
                    "conn {}: error handler panicked; sending the default error response",
                    self.info.id
                );
                s.resp.reset();
                let _ = s.resp.header.set_status(err.status());
                s.resp.body.extend_from_slice(err.reason().as_bytes());
            }
            s.values.clear();
        }
        if core.cfg.log_all_errors {
            debug!(
                "conn {} ({}): answered {err}",
                self.info.id, self.info.remote
            );
        }
        write_response(
            w,
            &s.resp,
            &mut s.head_cache,
            s.unix_secs,
            &base_options(core),
            false,
            false,
            false,
            None,
        );
        self.close = true;
        self.linger = true;
        self.req_started = 0;
    }

    #[cold]
    #[inline(never)]
    fn log_bad_request(&self, core: &Core, request: &[u8], what: &str) {
        if core.cfg.secure_error_log_message {
            warn!(
                "conn {} ({}): bad request: {what}",
                self.info.id, self.info.remote
            );
        } else {
            let bytes = &request[..request.len().min(256)];
            warn!(
                "conn {} ({}): bad request: {what}; request starts {:?}",
                self.info.id,
                self.info.remote,
                bytes.escape_ascii().to_string()
            );
        }
    }
}

/// A buffer from the pool when the thread's spare is out (out of line: the
/// spare is the usual case).
#[inline(never)]
fn pool_buf(core: &Core, which: usize) -> ByteBuffer {
    core.pool.get_with_capacity(buf_size(core, which))
}

/// The server's response options; `keep_alive`, `head_request` and
/// `http10` are set per response.
fn base_options(core: &Core) -> WriteOptions<'_> {
    WriteOptions {
        server_name: if core.cfg.no_default_server_header {
            None
        } else {
            Some(&core.cfg.name)
        },
        date: !core.cfg.no_default_date,
        default_content_type: !core.cfg.no_default_content_type,
        keep_alive: true,
        head_request: false,
        http10: false,
    }
}

/// Gives a buffer to the pool (out of line: the thread's spare usually
/// takes it).
#[cold]
#[inline(never)]
fn pool_put(core: &Core, b: ByteBuffer) {
    core.pool.put(b);
}

/// Frees an `InFlight` the full scratch list has no room for.
#[cold]
#[inline(never)]
fn drop_inflight(r: Box<InFlight>) {
    drop(r);
}

/// A new `InFlight` (out of line: the scratch list usually has one).
#[cold]
#[inline(never)]
fn new_inflight(core: &Core) -> Box<InFlight> {
    Box::new(InFlight {
        parser: RequestParser::new(core.cfg.limits.clone()),
        head: RequestHeader::new(),
        decoder: ChunkedDecoder::new(&core.cfg.limits),
        body: None,
        continue_sent: false,
    })
}

/// The configured size of a connection's read or write buffer.
#[inline]
fn buf_size(core: &Core, which: usize) -> usize {
    if which == READ {
        core.cfg.read_buffer_size
    } else {
        core.cfg.write_buffer_size
    }
}

/// Serializes `resp` (head and, unless HEAD, body) into `w`. `framing`
/// overrides the body framing (a streamed body: its pieces follow later).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_response(
    w: &mut ByteBuffer,
    resp: &Response,
    cache: &mut HeadCache,
    unix_secs: u64,
    base: &WriteOptions<'_>,
    keep_alive: bool,
    is_head: bool,
    http10: bool,
    framing: Option<ResponseBody>,
) {
    let status = resp.header.status();
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let opts = WriteOptions {
        keep_alive,
        head_request: is_head,
        http10,
        ..*base
    };
    match (resp.static_body, framing) {
        // The usual fast handler: a `'static` body, sent whole.
        (Some(body), None) if !is_head && !no_body => {
            cache.write_static_at(unix_secs, &resp.header, body, &opts, w);
        }
        (_, framing) => {
            let body = resp.body_bytes();
            let with_body = !is_head && !no_body && framing.is_none();
            let framing = match framing {
                _ if no_body => ResponseBody::None,
                Some(f) => f,
                None => ResponseBody::Length(body.len() as u64),
            };
            cache.write_at(unix_secs, &resp.header, framing, &opts, w);
            if with_body {
                w.extend_from_slice(body);
            }
        }
    }
}

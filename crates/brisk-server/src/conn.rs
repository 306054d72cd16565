//! One connection's state machine: read → parse head → body → handler →
//! serialize → flush, with pipelining, backpressure and lingering close,
//! over any [`Transport`].
//!
//! A `Conn` is driven by exactly one thread at a time (the one that took it
//! out of its loop's slab); nothing here locks or touches loop state, and
//! nothing here makes a system call except through its transport. The
//! event loop drives `Conn<TcpTransport>`; the model test and the `conn`
//! fuzz target drive `Conn<MemTransport>` (see `mem.rs`) through the same
//! code.
//!
//! # States
//!
//! What the connection is doing is one [`State`]; each variant holds what
//! only it needs, so a connection cannot be, say, lingering with a request
//! half parsed. Output waiting to be sent is orthogonal to the state (a
//! pipelining client may have responses pending while its next request
//! arrives); readiness is the driver's and lives beside the state.
//!
//! ```text
//!            first byte                head + body complete
//!   Idle ─────────────────▶ Reading ──────────────────────▶ (handler)
//!    ▲                         │                                │
//!    │  response written,      │ framing error, limit,          │
//!    │  keep-alive             │ timeout: error response        │
//!    ├─────────────────────────┼────────────────────────────────┤
//!    │                         ▼                                ▼
//!    │ body ended,        Closing{linger} ◀── not keep-alive ── response
//!    │ keep-alive              │                                │
//!    └──────────── Streaming ◀─┼─────── body streamed ──────────┘
//!                              ▼ output sent
//!                   Lingering{until} ──▶ closed (dropped)
//! ```

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use brisk_buf::ByteBuffer;
use brisk_http::{BodyKind, ChunkedEncoder, Method, ResponseBody, Version, WriteOptions};
use log::{debug, error, warn};

use std::sync::Arc;

use crate::access_log::{Answer, StreamLog};
use crate::ctx::{BodyStream, BodyWriter, ConnInfo, Deferred, FileBody, RequestCtx};
use crate::error::ServerError;
use crate::hijack::HijackHandler;
use crate::hooks::{ConnState, ContinueAction, RequestHead, RequestLimits};
use crate::push::{End, PushShared};
use crate::respond::{Failed, base_options, is_head, write_error, write_response};
use crate::scratch::{BodyWait, InFlight, READ, ReqLimits, Scratch, Stage, WRITE};
use crate::server::Core;
use crate::transport::Transport;

/// Reads/flushes per connection per event before others get a turn. A turn
/// answers at most what fits under the backpressure bound (3 KiB of
/// output by default), so a client that pipelines without pause gets a
/// quantum of a few tens of microseconds, and one loop shared with 2000 of
/// them still answers a polite client within milliseconds.
const MAX_TURNS: usize = 2;

/// Most empty pieces a pull producer may give in one pump before the
/// connection yields to the loop (a producer with nothing to give yet
/// would otherwise hold the loop forever).
const MAX_EMPTY_PIECES: u32 = 64;
/// How long a closing connection keeps discarding input after its last
/// response, so the client reads that response instead of a reset.
const LINGER_MS: u64 = 2_000;
/// Slack above `max_request_body_size` for chunk framing held in the buffer.
const CHUNK_SLACK: usize = 16 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// Bytes of a file body one [`Conn::send_file`] call sends at most before
/// the connection lets others have a turn (a client that reads as fast as
/// the loop sends would otherwise keep the loop for the whole file).
const FILE_QUANTUM: u64 = 1 << 20;

/// What the loop should do with a connection after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for the next event (or timer).
    Keep,
    /// Drive it again soon without waiting for an event (turn budget spent).
    Again,
    /// Close it now.
    Close,
    /// Hand it to a worker thread (its state is `Detaching`).
    Detach,
}

/// Which deadline applies to a connection, derived from its state and its
/// pending output (and what a timeout does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connected, no byte received yet.
    New,
    /// Between requests on a keep-alive connection.
    Idle,
    /// Part of a request (head or body) is buffered.
    Reading,
    /// Output is waiting for the client to read (or a body is streaming).
    Writing,
    /// Closing: discarding input until the client closes.
    Lingering,
}

/// What a connection is doing. See the module docs for the transitions.
///
/// `repr(u8)`: a plain tag byte, so the per-event matches on the state are
/// one load and compare (the niche-packed layout took several).
#[repr(u8)]
enum State {
    /// No request is being received. With nothing to send either, the
    /// connection holds no buffer. Bytes of a pipelined request may wait in
    /// the read buffer behind a streamed body that just ended.
    Idle,
    /// A request is partly received: its parse state, and when (ms, server
    /// clock) its first byte arrived.
    Reading { req: Box<InFlight>, since: u64 },
    /// The handler's producer is still giving the response body; requests
    /// behind it wait in the read buffer.
    Streaming(Stream),
    /// A body is being sent after the write buffer: a large `'static`
    /// one with vectored writes instead of a copy, or a file; requests
    /// behind it wait. Then `then`.
    Sending { rest: Rest, then: Persist },
    /// The last response is queued and no request is read after it. Once
    /// it is sent the connection closes, after discarding input when
    /// `linger` (the client may still be sending).
    Closing { linger: bool },
    /// The last response is out; input is discarded until the client
    /// closes or `until` (ms).
    Lingering { until: u64 },
    /// The connection goes to a worker thread (it leaves its loop's epoll
    /// set meanwhile): a request whose body the handler reads as a stream.
    Detaching(Box<InFlight>),
    /// The response is queued; then the connection leaves the server for
    /// the handler that took it over.
    Hijacking(Box<HijackHandler>),
    /// Before anything else: waiting for the PROXY protocol header of a
    /// trusted peer, which the loop reads from the socket itself
    /// (`proxy.rs`, before any transport layer); `drive` is not called
    /// until it ends (then `Idle`). It holds nothing.
    Preface,
}

/// The body a [`State::Sending`] connection sends after its write buffer.
/// One state for both kinds (not a `SendingFile` of its own): measured,
/// another state variant cost the plain path about 30 instructions per
/// request in the matches on the state.
enum Rest {
    /// The rest of a large `'static` body (see [`Conn::send_static`]).
    Static(&'static [u8]),
    /// The rest of a file body (see [`Conn::send_file`]); boxed, so that
    /// `State` keeps its size.
    File(Box<FileBody>),
}

impl Rest {
    /// Bytes still to send.
    fn len(&self) -> u64 {
        match self {
            Rest::Static(b) => b.len() as u64,
            Rest::File(f) => f.len,
        }
    }
}

/// A response body still being produced.
struct Stream {
    source: Source,
    framing: StreamFraming,
    /// What follows the body's end.
    then: Persist,
}

/// Where a streamed body comes from.
enum Source {
    /// The handler's producer, called while the output has room
    /// (`set_body_stream`).
    Pull(Box<BodyStream>),
    /// A [`BodySender`](crate::BodySender)'s queue, written from any thread.
    Push(Arc<PushShared>),
}

/// How a streamed body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamFraming {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Raw bytes: a declared `Content-Length`, or ended by closing the
    /// connection (HTTP/1.0; `then` says close).
    Raw,
}

/// What one [`Conn::pump`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pumped {
    /// Bytes moved (or the output is full): flush, then pump again.
    Progress,
    /// A pushed body has nothing queued: wait until its writer wakes the
    /// connection.
    Waiting,
    /// The body ended (or was cut short); the state moved on.
    Ended,
}

/// What follows a response once it is sent: the keep-alive decision, made
/// once per response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persist {
    /// Read the next request.
    KeepAlive,
    /// Close; `linger` when input may be left unread.
    Close { linger: bool },
}

/// The input direction, as readiness events and reads left it. Ordered:
/// the two states in which `drive` reads come first, so it tells them from
/// the others with one compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum ReadSide {
    /// Input may be waiting (an edge fired since the last read drained it).
    Ready = 0,
    /// The peer ended its side (the driver saw it, e.g. EPOLLRDHUP) and
    /// the end has not been read yet: reads go on, however short, until
    /// one returns it. (A short read followed by the end in the same edge
    /// would otherwise wait for an edge that never comes.)
    Hangup = 1,
    /// The last read drained the transport; wait for the next edge.
    Drained = 2,
    /// The client ended its side (a read returned 0).
    Closed = 3,
}

pub(crate) struct Conn<T> {
    pub(crate) io: T,
    rbuf: Option<ByteBuffer>,
    /// Offset in `rbuf` of the first byte not yet consumed (the request
    /// being received, or the next pipelined one).
    rpos: usize,
    wbuf: Option<ByteBuffer>,
    /// Bytes of `wbuf` already sent.
    wpos: usize,
    state: State,
    pub(crate) info: ConnInfo,
    /// ms of the last progress (accept, response written, output drained).
    last_active: u64,
    read_side: ReadSide,
    /// Edge-triggered: the transport may take more output. Cleared when a
    /// write would block, set by the next output edge; while it is clear,
    /// input events do not retry the write (a client that never reads would
    /// otherwise cost a failing `send` per segment it sends).
    writable: bool,
    pub(crate) ip_counted: bool,
    /// The access record of the body being streamed (`State::Streaming`),
    /// written when it ends; only with an access log. Here rather than in
    /// `Stream`: a larger `State` makes every state change copy more.
    stream_log: Option<Box<StreamLog>>,
}

impl<T: Transport> Conn<T> {
    /// A new connection; not readable until the driver says so.
    pub(crate) fn new(io: T, info: ConnInfo, now_ms: u64) -> Conn<T> {
        Conn {
            io,
            rbuf: None,
            rpos: 0,
            wbuf: None,
            wpos: 0,
            state: State::Idle,
            info,
            last_active: now_ms,
            read_side: ReadSide::Drained,
            writable: true,
            ip_counted: false,
            stream_log: None,
        }
    }

    /// Moves to `next`. The old state usually holds nothing to drop (the
    /// caller took its request or stream out): that case costs no call.
    #[inline(always)]
    fn enter(&mut self, next: State) {
        let old = std::mem::replace(&mut self.state, next);
        // A file body's state is left through `send_file` only, which
        // takes the file out first (`Sending` is tested by its tag alone,
        // as before file bodies: measured cheaper on the plain path).
        debug_assert!(!matches!(
            old,
            State::Sending {
                rest: Rest::File(_),
                ..
            }
        ));
        if matches!(
            old,
            State::Idle
                | State::Sending { .. }
                | State::Closing { .. }
                | State::Lingering { .. }
                | State::Preface
        ) {
            // Nothing in these variants needs dropping; forgetting skips
            // the out-of-line drop glue of `State`.
            std::mem::forget(old);
        } else {
            drop_state(old);
        }
    }

    /// An input edge (or an event whose kind is unknown).
    #[inline]
    pub(crate) fn on_readable(&mut self) {
        if self.read_side == ReadSide::Drained {
            self.read_side = ReadSide::Ready;
        }
    }

    /// An output edge (or an event whose kind is unknown).
    #[inline]
    pub(crate) fn on_writable(&mut self) {
        self.writable = true;
    }

    /// The peer ended its side: the end is read even after a short read.
    #[inline]
    pub(crate) fn on_hangup(&mut self) {
        if self.read_side != ReadSide::Closed {
            self.read_side = ReadSide::Hangup;
        }
    }

    /// Whether the connection will read no further request: what it is
    /// sending ends with a close (its input is only ever discarded).
    #[cfg(feature = "uring")]
    pub(crate) fn reads_no_more(&self) -> bool {
        match &self.state {
            State::Closing { .. } | State::Lingering { .. } => true,
            State::Sending { then, .. } | State::Streaming(Stream { then, .. }) => {
                matches!(then, Persist::Close { .. })
            }
            _ => false,
        }
    }

    /// Whether input may be waiting to be read.
    pub(crate) fn may_read(&self) -> bool {
        matches!(self.read_side, ReadSide::Ready | ReadSide::Hangup)
    }

    /// The connection's phase, which decides its deadline and what a
    /// timeout does.
    pub(crate) fn phase(&self) -> Phase {
        match self.state {
            State::Lingering { .. } => Phase::Lingering,
            State::Preface => Phase::New,
            _ if self.has_output() => Phase::Writing,
            State::Reading { .. } | State::Detaching(_) => Phase::Reading,
            State::Streaming(_)
            | State::Sending { .. }
            | State::Closing { .. }
            | State::Hijacking(_) => Phase::Writing,
            State::Idle if self.unprocessed() > 0 => Phase::Reading,
            State::Idle if self.info.request_num == 0 => Phase::New,
            State::Idle => Phase::Idle,
        }
    }

    /// The absolute deadline (ms, server clock) for the current phase
    /// (the same cases as [`phase`](Self::phase), in the same order).
    #[inline]
    pub(crate) fn deadline(&self, core: &Core) -> u64 {
        let d = &core.timeouts;
        let at = match self.state {
            State::Lingering { until } => until,
            // The header is bounded by the first-byte timeout from accept.
            State::Preface => self.last_active + d.first_byte,
            _ if self.has_output() => self.last_active + d.write,
            State::Reading { since, ref req } => {
                since
                    + req
                        .limits
                        .map_or(d.read, |l| l.read_timeout.as_millis() as u64)
            }
            State::Detaching(_) => self.last_active + d.read,
            // A pushed body whose writer is silent: its connection may wait
            // as long as an idle one.
            State::Streaming(Stream {
                source: Source::Push(_),
                ..
            }) => self.last_active + d.idle,
            State::Streaming(_)
            | State::Sending { .. }
            | State::Closing { .. }
            | State::Hijacking(_) => self.last_active + d.write,
            State::Idle if self.unprocessed() > 0 => self.last_active + d.read,
            State::Idle if self.info.request_num == 0 => match self.io.handshake_deadline() {
                // TLS: the handshake's own deadline, counted from accept.
                Some(at) => at,
                None => self.last_active + d.first_byte,
            },
            State::Idle => self.last_active + d.idle,
        };
        at.max(1)
    }

    /// Whether the connection holds no buffered request bytes and no output
    /// (an idle keep-alive connection: it owns no buffers).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.phase(), Phase::New | Phase::Idle)
    }

    /// Whether the connection holds no buffer and no request state (what
    /// an idle connection promises; checked by the model test).
    #[cfg(test)]
    pub(crate) fn holds_nothing(&self) -> bool {
        self.rbuf.is_none()
            && self.wbuf.is_none()
            && matches!(self.state, State::Idle | State::Lingering { .. })
    }

    /// ms (server clock) of the last progress on this connection.
    pub(crate) fn last_active(&self) -> u64 {
        self.last_active
    }

    /// Output not yet sent: in the write buffer, or held by the transport
    /// (a `Sending` state's body is the state's).
    #[inline]
    fn has_output(&self) -> bool {
        self.wbuf.as_ref().is_some_and(|w| w.len() > self.wpos) || self.io.has_pending_output()
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
        if matches!(self.state, State::Lingering { .. }) {
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
            match self.state {
                State::Streaming(_) => {
                    if self.pump(s, core) == Pumped::Waiting {
                        return self.settle_waiting(s, core);
                    }
                    continue;
                }
                State::Sending { .. } => {
                    // Its write buffer was empty; the body is still to go.
                    match self.send_deferred(s, core, now_ms) {
                        Err(_) => return Next::Close,
                        Ok(false) => return self.settle(s, core),
                        Ok(true) => continue,
                    }
                }
                State::Closing { .. } => return self.finish_close(s, core, now_ms),
                _ => {}
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
            match self.state {
                State::Streaming(_) | State::Sending { .. } => continue,
                State::Closing { .. } => return self.finish_close(s, core, now_ms),
                State::Detaching(_) | State::Hijacking(_) => return Next::Detach,
                _ => {}
            }
            if self.info.request_num != served && self.unprocessed() > 0 {
                // Backpressure paused a pipelined batch and the output has
                // drained: answer the rest before reading more.
                continue;
            }
            if self.read_side > ReadSide::Hangup {
                // Everything complete was answered; after the client's end
                // a partial request can never finish.
                if self.read_side == ReadSide::Closed {
                    return Next::Close;
                }
                return self.settle(s, core);
            }
            match self.read(s, core, now_ms) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_side = ReadSide::Drained;
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
        if self.phase() != Phase::Reading {
            return Next::Close;
        }
        let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));
        let rb = self.rbuf.take();
        let pending: &[u8] = rb.as_ref().map_or(&[], |r| &r[self.rpos..]);
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Reading { req, .. } => {
                let complete = matches!(req.stage, Stage::Body { .. });
                let failed = complete.then(|| failed_view(&req, pending));
                let head = req.parser.method_seen(pending, &req.head) == Some(Method::Head);
                self.respond_error(&mut w, s, core, ServerError::ReadTimeout, failed, head);
                s.put_inflight(req);
            }
            _ => {
                // Bytes behind a streamed body, not parsed yet.
                self.respond_error(&mut w, s, core, ServerError::ReadTimeout, None, false);
            }
        }
        self.rbuf = rb;
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

    /// Starts a graceful shutdown for this connection: `false` when it can
    /// close now (idle, nothing to read), else it finishes its current
    /// request with `Connection: close`.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !matches!(self.state, State::Preface) && (!self.is_idle() || self.may_read())
    }

    /// Starts the connection in its PROXY protocol preface (at accept).
    pub(crate) fn begin_preface(&mut self) {
        self.enter(State::Preface);
    }

    /// Whether the connection waits for its PROXY protocol header.
    #[inline]
    pub(crate) fn in_preface(&self) -> bool {
        matches!(self.state, State::Preface)
    }

    /// The header was read: the connection proper starts, with the
    /// client's address from the header when it gave one.
    pub(crate) fn end_preface(&mut self, client: Option<std::net::SocketAddr>) {
        if let Some(addr) = client {
            self.info.remote = addr;
        }
        self.enter(State::Idle);
    }

    /// Whether the peer ended its side and the end was not read yet (a
    /// header cut short will not be completed).
    pub(crate) fn peer_hung_up(&self) -> bool {
        self.read_side == ReadSide::Hangup
    }

    /// Closes an idle connection when the server drains: a FIN now, then
    /// input discarded until the client closes (or the linger deadline).
    /// A request that crossed the close (sent before the client saw the
    /// FIN, not read yet) then meets a clean end of stream, which a client
    /// may retry, and never a reset, which it may not (RFC 9112 §9.3.1).
    pub(crate) fn close_idle_for_shutdown(
        &mut self,
        s: &mut Scratch,
        core: &Core,
        now_ms: u64,
    ) -> Next {
        self.enter(State::Closing { linger: true });
        self.finish_close(s, core, now_ms)
    }

    /// Gives the buffers back to the pool when they hold nothing (inlined,
    /// as `flush`).
    #[inline(always)]
    fn settle(&mut self, s: &mut Scratch, core: &Core) -> Next {
        if self.unprocessed() == 0 && !matches!(self.state, State::Reading { .. }) {
            if let Some(b) = self.rbuf.take() {
                s.put_buf(core, READ, b);
            }
            self.rpos = 0;
        }
        if self.pending_output() == 0 {
            if let Some(b) = self.wbuf.take() {
                s.put_buf(core, WRITE, b);
            }
            self.wpos = 0;
        }
        Next::Keep
    }

    /// [`settle`](Self::settle) for a pushed body waiting for its writer
    /// (out of line: `settle` is inlined at every other exit of `drive`).
    #[cold]
    #[inline(never)]
    fn settle_waiting(&mut self, s: &mut Scratch, core: &Core) -> Next {
        self.settle(s, core)
    }

    /// Buffers and request state back to the thread (the connection is
    /// closing).
    pub(crate) fn release(&mut self, core: &Core, s: &mut Scratch) {
        let unsent = self.pending_output();
        if let Some(b) = self.rbuf.take() {
            s.put_buf(core, READ, b);
        }
        if let Some(b) = self.wbuf.take() {
            s.put_buf(core, WRITE, b);
        }
        self.rpos = 0;
        self.wpos = 0;
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Reading { req, .. } | State::Detaching(req) => s.put_inflight(req),
            State::Streaming(st) => end_stream(st, self.stream_log.take(), s, unsent),
            _ => {}
        }
    }

    /// The response is out; close now, or linger if input may be unread.
    #[inline(never)]
    fn finish_close(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> Next {
        let linger = matches!(self.state, State::Closing { linger: true });
        if self.read_side == ReadSide::Closed
            || (!linger && self.read_side == ReadSide::Drained && self.unprocessed() == 0)
        {
            return Next::Close;
        }
        let _ = self.io.shutdown_write();
        self.settle(s, core);
        if let Some(b) = self.rbuf.take() {
            s.put_buf(core, READ, b);
        }
        self.rpos = 0;
        self.enter(State::Lingering {
            until: now_ms + LINGER_MS,
        });
        self.read_side = ReadSide::Ready;
        self.linger_read()
    }

    /// Discards input until the client closes (or the linger deadline).
    #[cold]
    #[inline(never)]
    fn linger_read(&mut self) -> Next {
        for _ in 0..MAX_TURNS * 4 {
            match self.io.discard(4096) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_side = ReadSide::Drained;
                    return Next::Keep;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        Next::Again
    }

    fn read(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<()> {
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
        let f = self.io.read_into(v, spare)?;
        if s.obs.is_some() {
            count_in(s, f.n);
        }
        if f.n == 0 {
            self.read_side = ReadSide::Closed;
            return Ok(());
        }
        if f.drained && self.read_side == ReadSide::Ready {
            // A short read drained the transport; the next edge reports more.
            self.read_side = ReadSide::Drained;
        }
        if was_empty && matches!(self.state, State::Idle) {
            self.enter(State::Reading {
                req: s.take_inflight(core),
                since: now_ms,
            });
            core.hooks
                .conn_state(self.info.id, self.info.remote, ConnState::Active);
        }
        Ok(())
    }

    /// Sends pending output. `Ok(true)` when all of it is out. Inlined:
    /// out of line, its call and spills cost about 30 instructions per
    /// plain request.
    #[inline(always)]
    fn flush(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<bool> {
        if let State::Sending { .. } = self.state {
            return self.send_deferred(s, core, now_ms);
        }
        if let Some(w) = self.wbuf.as_mut() {
            while self.wpos < w.len() {
                match self.io.write(&w[self.wpos..]) {
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
            self.wpos = 0;
            if let Some(b) = self.wbuf.take() {
                s.put_buf(core, WRITE, b);
            }
        }
        self.flush_transport(now_ms)
    }

    /// [`flush`](Self::flush) in the `Sending` state (cold: the plain
    /// path's block layout and registers go to the usual case).
    #[cold]
    #[inline(never)]
    fn send_deferred(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<bool> {
        if let State::Sending {
            rest: Rest::File(_),
            ..
        } = self.state
        {
            self.send_file(s, core, now_ms)
        } else {
            self.send_static(s, core, now_ms)
        }
    }

    /// [`flush`](Self::flush) in the `Sending` state with a file: the rest of the
    /// write buffer, then the file, through [`Transport::send_file`]
    /// (`sendfile(2)` on TCP). At most [`FILE_QUANTUM`] bytes per call:
    /// `Ok(true)` with the state unchanged means "more to send, give the
    /// others a turn" (`drive` comes back to it, or answers `Next::Again`).
    #[cold]
    #[inline(never)]
    fn send_file(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<bool> {
        let mut budget = FILE_QUANTUM;
        while let State::Sending {
            rest: Rest::File(file),
            then,
        } = &mut self.state
        {
            let then = *then;
            if budget == 0 {
                break;
            }
            let head: &[u8] = self.wbuf.as_ref().map_or(&[], |w| &w[self.wpos..]);
            let take = file.len.min(budget);
            match self.io.send_file(head, &file.file, file.offset, take) {
                Ok(0) if !head.is_empty() || take > 0 => {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => {
                    let in_head = n.min(head.len());
                    self.wpos += in_head;
                    self.last_active = now_ms;
                    let body = (n - in_head) as u64;
                    file.offset += body;
                    file.len -= body;
                    budget = budget.saturating_sub(body);
                    if file.len == 0 && self.wbuf.as_ref().is_none_or(|w| self.wpos == w.len()) {
                        // The file's handle is dropped here (`enter` would
                        // forget it).
                        drop(std::mem::replace(&mut self.state, State::Idle));
                        self.enter(match then {
                            Persist::KeepAlive => State::Idle,
                            Persist::Close { linger } => State::Closing { linger },
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("conn {}: sending a file body: {e}", self.info.id);
                    return Err(e);
                }
            }
        }
        if self.wbuf.as_ref().is_some_and(|w| self.wpos == w.len()) {
            if let Some(b) = self.wbuf.take() {
                s.put_buf(core, WRITE, b);
            }
            self.wpos = 0;
        }
        self.flush_transport(now_ms)
    }

    /// [`flush`](Self::flush) in the `Sending` state: the rest of the
    /// write buffer and the static body go out in vectored writes; then
    /// the state's `then`.
    #[inline(never)]
    fn send_static(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) -> io::Result<bool> {
        while let State::Sending {
            rest: Rest::Static(rest),
            then,
        } = self.state
        {
            let head: &[u8] = self.wbuf.as_ref().map_or(&[], |w| &w[self.wpos..]);
            let r = if head.is_empty() {
                self.io.write(rest)
            } else {
                self.io
                    .write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(rest)])
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let in_head = n.min(head.len());
                    self.wpos += in_head;
                    self.last_active = now_ms;
                    let rest = &rest[n - in_head..];
                    self.enter(if !rest.is_empty() {
                        State::Sending {
                            rest: Rest::Static(rest),
                            then,
                        }
                    } else {
                        match then {
                            Persist::KeepAlive => State::Idle,
                            Persist::Close { linger } => State::Closing { linger },
                        }
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // The body is queued last: the buffer went out before it.
        if let Some(b) = self.wbuf.take() {
            debug_assert_eq!(self.wpos, b.len());
            s.put_buf(core, WRITE, b);
        }
        self.wpos = 0;
        self.flush_transport(now_ms)
    }

    /// Sends what the transport holds itself (nothing, for TCP).
    #[inline]
    fn flush_transport(&mut self, now_ms: u64) -> io::Result<bool> {
        if self.io.has_pending_output() {
            match self.io.flush() {
                Ok(()) => self.last_active = now_ms,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        self.writable = true;
        Ok(true)
    }

    /// Moves streamed body bytes into the write buffer while the output is
    /// under the backpressure bound, from the handler's producer or from a
    /// [`BodySender`](crate::BodySender)'s queue; ends the body when its
    /// source is done.
    #[inline(never)]
    fn pump(&mut self, s: &mut Scratch, core: &Core) -> Pumped {
        let State::Streaming(mut st) = std::mem::replace(&mut self.state, State::Idle) else {
            return Pumped::Ended;
        };
        let w = self.wbuf.get_or_insert_with(|| s.get_buf(core, WRITE));
        let room = core
            .cfg
            .max_pending_output
            .saturating_sub(w.len() - self.wpos);
        let before = w.len();
        let outcome = match &mut st.source {
            Source::Pull(f) => pull(f, st.framing, room, w, &mut s.resp.body),
            Source::Push(shared) => push(shared, st.framing, room, w),
        };
        if let Some(o) = &s.obs {
            let n = w.len() - before;
            o.bytes_out(n);
            if let Some(l) = &mut self.stream_log {
                l.body_bytes += n as u64;
            }
        }
        match outcome {
            Ok(Pumped::Ended) => {
                self.enter(match st.then {
                    Persist::KeepAlive => State::Idle,
                    Persist::Close { linger } => State::Closing { linger },
                });
                end_stream(st, self.stream_log.take(), s, 0);
                Pumped::Ended
            }
            Ok(p) => {
                self.enter(State::Streaming(st));
                p
            }
            Err(why) => {
                // The head is out: all that is left is to cut the body short.
                error!(
                    "conn {} ({}): {why}; closing the connection",
                    self.info.id, self.info.remote
                );
                end_stream(st, self.stream_log.take(), s, 0);
                self.enter(State::Closing { linger: false });
                Pumped::Ended
            }
        }
    }

    /// Answers every complete request in the read buffer, in order, until
    /// the output passes the backpressure bound.
    ///
    /// The read and write buffers are taken out of the connection for the
    /// batch and handed to each step by reference, so no step re-checks
    /// that they exist; an unused write buffer goes straight back. The
    /// batch's `InFlight` is a local too, carried from one pipelined
    /// request to the next.
    fn process(&mut self, s: &mut Scratch, core: &Core, now_ms: u64, now: Instant) {
        let max_out = core.cfg.max_pending_output;
        if self.unprocessed() == 0 || self.pending_output() >= max_out {
            return;
        }
        let (mut req, mut since) = match std::mem::replace(&mut self.state, State::Idle) {
            State::Reading { req, since } => (req, since),
            State::Idle => (s.take_inflight(core), now_ms),
            other => {
                self.enter(other);
                return;
            }
        };
        let Some(mut rb) = self.rbuf.take() else {
            self.enter(State::Reading { req, since });
            return;
        };
        let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));
        let base = base_options(core);
        loop {
            let ready = (matches!(req.stage, Stage::Body { .. })
                || self.parse_head(&mut req, &mut rb, &mut w, s, core))
                && self.body_ready(&mut req, &mut rb, &mut w, s, core);
            if !ready {
                if matches!(self.state, State::Closing { .. }) {
                    // An error was answered; nothing after it is read.
                    s.put_inflight(req);
                } else if matches!(req.stage, Stage::Streamed { .. }) {
                    // The body is the handler's to read, on a worker.
                    self.enter(State::Detaching(req));
                } else {
                    self.maybe_continue(&mut req, &mut w);
                    self.enter(State::Reading { req, since });
                }
                break;
            }
            self.serve(&req, &rb, &mut w, s, core, &base, now_ms, now);
            req.recycle();
            if !matches!(self.state, State::Idle) || rb.len() == self.rpos {
                // Streaming, sending a static body, closing, or nothing
                // more to answer.
                s.put_inflight(req);
                if core.hooks.conn.is_some() {
                    self.tell_idle(core);
                }
                break;
            }
            since = now_ms;
            if w.len() - self.wpos >= max_out {
                self.enter(State::Reading { req, since });
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
    /// and accepted (`req.stage` then describes the body); errors are
    /// answered here.
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
                    let head = req.parser.method_seen(buf, &req.head) == Some(Method::Head);
                    self.respond_error(w, s, core, err, None, head);
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
                let kind = req.head.body_kind();
                let method = req.head.method();
                // The largest body read into the buffer (above it: refused,
                // or streamed with `stream_request_body`).
                let limit = core.buffer_limit;
                // One test for every reason to refuse (or stream) a complete
                // head; the usual request fails it and pays nothing more.
                if !req.head.path_is_plain()
                    || matches!(kind, BodyKind::Length(n) if n > limit)
                    || matches!(kind, BodyKind::Chunked) && core.cfg.stream_request_body
                    || !matches!(method, Method::Get | Method::Head)
                        && (method == Method::Connect || core.cfg.get_only)
                    || core.inspects_heads
                {
                    match refusal(req, &rb[self.rpos..], core, self.info.remote) {
                        Err(err) => {
                            self.refuse(req, &rb[self.rpos..], w, s, core, err);
                            return false;
                        }
                        Ok(true) => {
                            // `process` hands the request to a worker.
                            req.stage = Stage::Streamed { head_len };
                            return false;
                        }
                        Ok(false) => {}
                    }
                }
                req.stage = Stage::Body {
                    wait: match kind {
                        BodyKind::None => BodyWait::Length {
                            head_len,
                            total: head_len,
                        },
                        BodyKind::Length(n) => BodyWait::Length {
                            head_len,
                            total: head_len + n as usize,
                        },
                        BodyKind::Chunked => {
                            req.decoder.reset();
                            BodyWait::Chunked {
                                head_len,
                                read: 0,
                                written: 0,
                            }
                        }
                    },
                    continued: false,
                };
                true
            }
            Err(e) => {
                if core.cfg.log_all_errors {
                    self.log_bad_request(core, buf, &e.to_string());
                }
                let head = req.parser.method_seen(buf, &req.head) == Some(Method::Head);
                self.respond_error(w, s, core, ServerError::Parse(e), None, head);
                false
            }
        }
    }

    /// Answers `err` for a complete head that is refused before its body.
    #[cold]
    #[inline(never)]
    fn refuse(
        &mut self,
        req: &InFlight,
        buf: &[u8],
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        err: ServerError,
    ) {
        let failed = failed_view(req, buf);
        self.respond_error(w, s, core, err, Some(failed), is_head(&req.head));
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
        let v = rb.as_mut_vec();
        let Stage::Body { wait, .. } = &mut req.stage else {
            return false;
        };
        let err = match wait {
            BodyWait::Length { total, .. } => {
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
            BodyWait::Chunked {
                head_len,
                read,
                written,
            } => {
                let max_body = req
                    .limits
                    .map_or(core.cfg.max_request_body_size, |l| l.max_body);
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
        self.refuse(req, &rb[self.rpos..], w, s, core, err);
        false
    }

    /// Sends `100 Continue` once when the client asked for it and the body
    /// has not arrived yet.
    #[inline(never)]
    fn maybe_continue(&mut self, req: &mut InFlight, w: &mut ByteBuffer) {
        let Stage::Body { continued, .. } = &mut req.stage else {
            return;
        };
        if *continued || !req.head.expect_continue() || req.head.version() != Version::Http11 {
            return;
        }
        *continued = true;
        w.extend_from_slice(CONTINUE);
    }

    /// Runs the handler for the complete request at `rpos` and serializes
    /// its response.
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
        let Stage::Body { wait, .. } = req.stage else {
            return;
        };
        let (body_range, consumed) = match wait {
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
        let path: &[u8] = if head.path_is_plain() {
            head.path().get(buf)
        } else {
            &req.path
        };

        s.resp.reset();
        let mut ctx = RequestCtx {
            buf,
            head,
            body: &buf[body_range],
            path,
            info: &self.info,
            received: now,
            resp: &mut s.resp,
            values: &mut s.values,
            body_reader: None,
        };
        let handler = &core.handler;
        let panicked = catch_unwind(AssertUnwindSafe(|| handler(&mut ctx))).is_err();
        s.values.clear();
        self.rpos += consumed;
        self.last_active = now_ms;
        let more = rb.len() > self.rpos;
        if panicked || s.resp.header.status() < 200 && !upgrades(s) {
            // The response cannot go out as the handler left it.
            let failed = Failed { head, buf, path };
            self.handler_failed(w, s, core, failed, panicked);
            return;
        }

        let keep_alive = self.keeps_alive(s, core, head);
        if s.obs.is_some() {
            self.send_observed(w, s, core, base, (head, buf), keep_alive, more, now);
            return;
        }
        self.send_response(w, s, core, base, head, keep_alive, more);
    }

    /// [`send_response`](Self::send_response), then
    /// [`observe`](Self::observe) (out of line: observation is off by
    /// default, and then the serving path pays one test for it).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn send_observed(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        base: &WriteOptions<'_>,
        (head, buf): (&brisk_http::RequestHeader, &[u8]),
        keep_alive: bool,
        linger: bool,
        received: Instant,
    ) {
        let before = w.len();
        self.send_response(w, s, core, base, head, keep_alive, linger);
        self.observe(w.len() - before, s, head, buf, received);
    }

    /// Counts (metrics) and logs (access log) the response just queued for
    /// `head` (`bytes` of it in the write buffer); a streamed body is
    /// logged when it ends.
    #[inline]
    pub(crate) fn observe(
        &mut self,
        bytes: usize,
        s: &mut Scratch,
        head: &brisk_http::RequestHeader,
        buf: &[u8],
        received: Instant,
    ) {
        let Some(obs) = s.obs.as_deref_mut() else {
            return;
        };
        let status = s.resp.header.status();
        let mut queued = bytes;
        if let State::Sending { rest, .. } = &self.state {
            queued += rest.len() as usize;
        }
        obs.served(status, queued, received);
        if obs.log.is_some() {
            self.log_served(bytes, s, head, buf, received);
        }
    }

    /// The access log part of [`observe`](Self::observe) (out of line:
    /// metrics are often on without it).
    #[cold]
    #[inline(never)]
    fn log_served(
        &mut self,
        bytes: usize,
        s: &mut Scratch,
        head: &brisk_http::RequestHeader,
        buf: &[u8],
        received: Instant,
    ) {
        let Some(obs) = s.obs.as_deref_mut() else {
            return;
        };
        let status = s.resp.header.status();
        let mut a = Answer {
            remote: self.info.remote,
            conn_id: self.info.id,
            status,
            bytes_sent: bytes as u64,
            body_bytes: 0,
            received: Some(received),
            unix_secs: s.unix_secs,
        };
        match &mut self.state {
            State::Streaming(_) => {
                self.stream_log = Some(StreamLog::new(head, buf, &a));
                return;
            }
            State::Sending { rest, .. } => {
                a.body_bytes = rest.len();
                a.bytes_sent += a.body_bytes;
            }
            State::Hijacking(_) => {}
            _ if head.method() == Method::Head || brisk_http::status_has_no_body(status) => {}
            _ => a.body_bytes = s.resp.body_bytes().len() as u64,
        }
        crate::access_log::log_response(obs, Some((head, buf)), &a);
    }

    /// Writes the handler's response, or its head and the start of its
    /// deferred body, and moves to closing when the connection does not
    /// stay open; `linger`: input the server has not read may follow (a
    /// pipelined request, an unread body), so the close must drain it.
    /// Shared by requests served on the loop and on a worker.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn send_response(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        base: &WriteOptions<'_>,
        head: &brisk_http::RequestHeader,
        keep_alive: bool,
        linger: bool,
    ) {
        let is_head = head.method() == Method::Head;
        let http10 = head.version() == Version::Http10;
        if matches!(s.resp.deferred, Deferred::None) {
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
            if !keep_alive {
                self.enter(State::Closing { linger });
            }
        } else {
            self.start_deferred(w, s, core, base, keep_alive, is_head, http10, linger);
        }
    }

    /// Tells the connection-state hook the connection went idle, if it did
    /// (out of line: the hook is usually not set).
    #[cold]
    #[inline(never)]
    fn tell_idle(&self, core: &Core) {
        if matches!(self.state, State::Idle) {
            core.hooks
                .conn_state(self.info.id, self.info.remote, ConnState::Idle);
        }
    }

    /// Whether the connection stays open after the response the handler
    /// left in `s.resp` to the request `head` (the keep-alive decision).
    #[inline(always)]
    fn keeps_alive(&self, s: &Scratch, core: &Core, head: &brisk_http::RequestHeader) -> bool {
        !s.resp.close
            && !s.resp.header.connection_close()
            && head.keep_alive()
            && !core.cfg.disable_keepalive
            && !core.shutting_down()
            && self.read_side != ReadSide::Closed
            && (core.cfg.max_requests_per_conn == 0
                || self.info.request_num < core.cfg.max_requests_per_conn)
    }

    /// The handler panicked, or left a status the server cannot send as a
    /// final response (1xx): answered through the error path, and the
    /// connection closes.
    #[cold]
    #[inline(never)]
    fn handler_failed(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        failed: Failed<'_>,
        panicked: bool,
    ) {
        let err = if panicked {
            error!(
                "conn {} ({}): handler panicked on request {}; answered 500 and closing",
                self.info.id, self.info.remote, self.info.request_num
            );
            ServerError::HandlerPanicked
        } else {
            let status = s.resp.header.status();
            error!(
                "conn {} ({}): handler set status {status} on request {}: a 1xx status \
                 cannot be a final response (101 needs a protocol upgrade, which brisk does \
                 not support yet); answered 500 and closing",
                self.info.id, self.info.remote, self.info.request_num
            );
            ServerError::InformationalStatus(status)
        };
        self.respond_error(w, s, core, err, Some(failed), is_head(failed.head));
    }

    /// Writes the head of a response whose body follows it later and moves
    /// to the state that sends it: a body the handler streams
    /// (`set_body_stream`: [`Streaming`](State::Streaming), see
    /// [`pump`](Self::pump)) or a `'static` one too large to copy
    /// ([`Sending`](State::Sending), see [`send_static`](Self::send_static)).
    /// A HEAD request (or a status without content) gets the head only; a
    /// streamed body to an HTTP/1.0 client ends with the connection.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn start_deferred(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        base: &WriteOptions<'_>,
        keep_alive: bool,
        is_head: bool,
        http10: bool,
        linger: bool,
    ) {
        let deferred = std::mem::replace(&mut s.resp.deferred, Deferred::None);
        if let Deferred::Hijack(handler) = deferred {
            if !self.io.can_hijack() {
                // TLS: the session cannot be handed over as a socket; the
                // handler never runs and the client learns why.
                drop(handler);
                self.respond_error(w, s, core, ServerError::HijackOverTls, None, is_head);
                return;
            }
            // The response goes out as it is, then the connection is the
            // handler's (101: the server writes `Connection: Upgrade`).
            write_response(
                w,
                &s.resp,
                &mut s.head_cache,
                s.unix_secs,
                base,
                true,
                is_head,
                http10,
                None,
            );
            self.enter(State::Hijacking(handler));
            return;
        }
        let sends_body = !is_head && !brisk_http::status_has_no_body(s.resp.header.status());
        let declared = match &deferred {
            Deferred::Static(b) => Some(b.len() as u64),
            Deferred::File(f) => Some(f.len),
            Deferred::Push(p) => p.lock().declared(),
            _ => None,
        };
        // A body of unknown length to HTTP/1.0 ends with the connection.
        let until_close = http10 && sends_body && declared.is_none();
        let keep_alive = keep_alive && !until_close;
        // The head a HEAD request gets is the one GET would get.
        let (framing, stream_framing) = match declared {
            Some(n) => (ResponseBody::Length(n), StreamFraming::Raw),
            None if http10 => (ResponseBody::None, StreamFraming::Raw),
            None => (ResponseBody::Chunked, StreamFraming::Chunked),
        };
        let framing = Some(framing);
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
        let then = if keep_alive {
            Persist::KeepAlive
        } else {
            Persist::Close { linger }
        };
        let stream = |source| {
            State::Streaming(Stream {
                source,
                framing: stream_framing,
                then,
            })
        };
        self.enter(match deferred {
            Deferred::Stream(body) if sends_body => stream(Source::Pull(body)),
            Deferred::Push(shared) if sends_body => {
                if let Some(waker) = s.waker.clone() {
                    shared.bind(waker, self.info.token);
                }
                stream(Source::Push(shared))
            }
            Deferred::Static(rest) if sends_body && !rest.is_empty() => State::Sending {
                rest: Rest::Static(rest),
                then,
            },
            Deferred::File(file) if sends_body && file.len > 0 => State::Sending {
                rest: Rest::File(file),
                then,
            },
            other => {
                if let Deferred::Push(shared) = &other {
                    // HEAD, 204 or 304: nothing is sent; writes are dropped.
                    shared.gone(true);
                }
                drop_deferred(other);
                match then {
                    Persist::KeepAlive => State::Idle,
                    Persist::Close { linger } => State::Closing { linger },
                }
            }
        });
    }

    /// Queues the error response for `err` (through the error hook) and
    /// moves to `Closing` with lingering: the client may still be sending.
    /// The caller has taken any request state out of `self.state`.
    #[cold]
    #[inline(never)]
    fn respond_error(
        &mut self,
        w: &mut ByteBuffer,
        s: &mut Scratch,
        core: &Core,
        err: ServerError,
        request: Option<Failed<'_>>,
        is_head: bool,
    ) {
        debug_assert!(matches!(self.state, State::Idle));
        write_error(w, s, core, &self.info, err, request, is_head);
        self.enter(State::Closing { linger: true });
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

/// The request view the error hook gets for a request whose head was
/// parsed (`buf` starts at the request).
fn failed_view<'a>(req: &'a InFlight, buf: &'a [u8]) -> Failed<'a> {
    let head = &req.head;
    // A path that needed normalizing is in `req.path`, which is empty when
    // the path could not be normalized: the hook never sees such a path as
    // `ctx.path()` (only as `ctx.raw_path()`).
    let path = if head.path_is_plain() {
        head.path().get(buf)
    } else {
        &req.path
    };
    Failed { head, buf, path }
}

/// Whether a complete head is refused before its body (`Err`), and if not
/// whether its body is streamed (`Ok(true)`): a path that cannot be
/// normalized (a path that needs it is normalized into `req.path` here, the
/// handler never sees one that cannot), CONNECT, another method than GET or
/// HEAD under `get_only`, a declared body over the limit; with
/// `stream_request_body`, a chunked body or one larger than the read
/// buffer. Out of line: the usual request is none of these.
#[cold]
#[inline(never)]
fn refusal(
    req: &mut InFlight,
    buf: &[u8],
    core: &Core,
    remote: std::net::SocketAddr,
) -> Result<bool, ServerError> {
    if !req.head.path_is_plain() {
        // The path first: the error hook may show it.
        let raw = req.head.path().get(buf);
        if let Err(e) = brisk_http::normalize_path(raw, &mut req.path) {
            req.path.clear();
            return Err(ServerError::InvalidPath(e));
        }
    }
    match req.head.method() {
        // A tunnel, opted into: served on a worker, where its answer is
        // framed as CONNECT needs (`Conn::answer_connect`).
        Method::Connect if core.cfg.allow_connect => return Ok(true),
        Method::Connect => return Err(ServerError::ConnectRefused),
        Method::Get | Method::Head => {}
        _ if core.cfg.get_only => return Err(ServerError::MethodNotAllowed),
        _ => {}
    }
    let kind = req.head.body_kind();
    let mut limits = RequestLimits {
        max_body_size: core.cfg.max_request_body_size,
        read_timeout: core.cfg.read_timeout,
        stream_body: match kind {
            BodyKind::Length(n) => n > core.buffer_limit,
            BodyKind::Chunked => core.cfg.stream_request_body,
            BodyKind::None => false,
        },
    };
    if core.inspects_heads {
        let view = RequestHead {
            head: &req.head,
            buf,
            remote,
        };
        if let Some(hook) = &core.hooks.head {
            hook(&view, &mut limits);
            req.limits = Some(ReqLimits {
                max_body: limits.max_body_size,
                read_timeout: limits.read_timeout,
            });
        }
        if let (Some(hook), true) = (&core.hooks.cont, req.head.expect_continue()) {
            if let ContinueAction::Reject(status) = hook(&view) {
                return Err(ServerError::ExpectationRejected(status));
            }
        }
    }
    match kind {
        // Refused before a byte of it is read.
        BodyKind::Length(n) if n > limits.max_body_size as u64 => Err(ServerError::BodyTooLarge),
        // A body larger than the buffer is streamed, whatever the hook
        // said: buffering it would grow the read buffer past its bound.
        BodyKind::Length(n) => Ok(limits.stream_body || n > core.buffer_limit),
        BodyKind::Chunked => Ok(limits.stream_body),
        BodyKind::None => Ok(false),
    }
}

/// Drops a state that holds a request or a stream (out of line: the
/// callers of `Conn::enter` take those out first).
#[cold]
#[inline(never)]
fn drop_state(st: State) {
    drop(st);
}

/// Whether a 1xx status is a protocol upgrade the server can send: 101
/// with a hijack.
#[cold]
fn upgrades(s: &Scratch) -> bool {
    s.resp.header.status() == 101 && matches!(s.resp.deferred, Deferred::Hijack(_))
}

/// Drops a deferred body that is not sent (a HEAD request's stream).
#[cold]
#[inline(never)]
fn drop_deferred(d: Deferred) {
    drop(d);
}

/// Drops a streamed body's source: a pushed body's writer learns the
/// connection is gone (out of line: user code may run in a producer's
/// drop).
#[cold]
#[inline(never)]
fn drop_stream(st: Stream) {
    if let Source::Push(shared) = &st.source {
        shared.gone(false);
    }
    drop(st);
}

/// Counts bytes read (out of line: metrics are off by default).
#[cold]
#[inline(never)]
fn count_in(s: &Scratch, n: usize) {
    if let Some(o) = &s.obs {
        o.bytes_in(n);
    }
}

/// Ends a streamed body: logs its access record, if it has one (`unsent`:
/// bytes of it still in the output when the connection closes), and
/// drops its source.
#[cold]
#[inline(never)]
fn end_stream(st: Stream, log: Option<Box<StreamLog>>, s: &mut Scratch, unsent: usize) {
    if let (Some(log), Some(obs)) = (log, s.obs.as_deref_mut()) {
        log.finish(obs, unsent);
    }
    drop_stream(st);
}

/// Calls the handler's producer while the output has `room`, framing each
/// piece into `w`.
fn pull(
    f: &mut Box<BodyStream>,
    framing: StreamFraming,
    mut room: usize,
    w: &mut ByteBuffer,
    piece: &mut ByteBuffer,
) -> Result<Pumped, &'static str> {
    let mut empty = 0;
    while room > 0 {
        piece.reset();
        let mut bw = BodyWriter::new(piece);
        let more =
            catch_unwind(AssertUnwindSafe(|| f(&mut bw))).map_err(|_| "body stream panicked")?;
        let before = w.len();
        match framing {
            StreamFraming::Raw => w.extend_from_slice(piece),
            StreamFraming::Chunked => ChunkedEncoder::new().write_chunk(piece, w),
        }
        room = room.saturating_sub(w.len() - before);
        if !more {
            if framing == StreamFraming::Chunked {
                ChunkedEncoder::new().finish(w);
            }
            piece.reset();
            return Ok(Pumped::Ended);
        }
        if piece.is_empty() {
            // Nothing this time (a compressor that buffers gives many such
            // pieces in a row; a producer with nothing yet, only these):
            // after a few, yield to the loop (the connection comes back
            // after MAX_TURNS, behind the others) instead of calling it
            // again here forever.
            empty += 1;
            if empty == MAX_EMPTY_PIECES {
                break;
            }
        }
    }
    piece.reset();
    Ok(Pumped::Progress)
}

/// Takes what fits in `room` from a pushed body's queue, framing it into
/// `w`; when the queue is empty, ends the body (the writer finished) or
/// waits for the writer.
fn push(
    shared: &PushShared,
    framing: StreamFraming,
    room: usize,
    w: &mut ByteBuffer,
) -> Result<Pumped, &'static str> {
    let mut st = shared.lock();
    let n = room.min(st.queued.len());
    if n > 0 {
        match framing {
            StreamFraming::Raw => w.extend_from_slice(&st.queued[..n]),
            StreamFraming::Chunked => ChunkedEncoder::new().write_chunk(&st.queued[..n], w),
        }
        st.queued.drain(..n);
    }
    let outcome = if !st.queued.is_empty() {
        Ok(Pumped::Progress)
    } else {
        match &st.end {
            End::Open => {
                st.waiting = true;
                Ok(if n > 0 {
                    Pumped::Progress
                } else {
                    Pumped::Waiting
                })
            }
            End::Finished(trailers) => {
                if framing == StreamFraming::Chunked {
                    let t: Vec<(&[u8], &[u8])> =
                        trailers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
                    // Validated by the sender.
                    let _ = ChunkedEncoder::new().finish_with_trailers(&t, w);
                }
                Ok(Pumped::Ended)
            }
            End::Aborted => Err("the body's sender was dropped or ended it short"),
        }
    };
    drop(st);
    if n > 0 {
        shared.took();
    }
    outcome
}

mod detach;
#[cfg(test)]
mod tests;

//! A connection on a worker thread: the handler of a request whose body is
//! streamed (`stream_request_body`) runs here and reads the body as it
//! arrives, with reads that block (each at most `read_timeout`), while the
//! connection's loop serves its other connections.
//!
//! The worker only runs the handler and queues the response; the
//! connection then goes back to its loop, which sends it (with the usual
//! backpressure) and reads the next request. Bytes read past the body (a
//! pipelined request) go back with it.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use brisk_buf::ByteBuffer;
use brisk_http::{BodyKind, ChunkedDecoder, Method, Version};
use log::debug;

use super::{CONTINUE, Conn, ReadSide, State};
use crate::ctx::{BodyReader, BodySource, RequestCtx};
use crate::error::ServerError;
use crate::hijack::HijackHandler;
use crate::respond::{Failed, base_options, is_head, write_response};
use crate::scratch::{InFlight, READ, Scratch, Stage, WRITE};
use crate::server::Core;
use crate::transport::Transport;

impl<T: Transport> Conn<T> {
    /// Whether the connection is to be taken over (`Hijacking`).
    pub(crate) fn is_hijacking(&self) -> bool {
        matches!(self.state, State::Hijacking(_))
    }

    /// For a `Hijacking` connection on a worker thread: sends what is
    /// queued (blocking, at most `write_timeout` without progress), then
    /// returns the hijack handler and the bytes read past the request; the
    /// buffers go back.
    pub(crate) fn hijack_parts(
        &mut self,
        s: &mut Scratch,
        core: &Core,
    ) -> io::Result<(Box<HijackHandler>, Vec<u8>)> {
        let State::Hijacking(handler) = std::mem::replace(&mut self.state, State::Idle) else {
            return Err(io::Error::other("the connection is not being hijacked"));
        };
        if let Some(mut w) = self.wbuf.take() {
            let sent = send_all(&mut self.io, &w[self.wpos..], core.cfg.write_timeout);
            w.reset();
            self.wpos = 0;
            s.put_buf(core, WRITE, w);
            sent?;
        }
        let buffered = match self.rbuf.take() {
            Some(mut rb) => {
                let rest = rb[self.rpos..].to_vec();
                rb.reset();
                s.put_buf(core, READ, rb);
                rest
            }
            None => Vec::new(),
        };
        self.rpos = 0;
        Ok((handler, buffered))
    }

    /// Writes the handler's answer to a CONNECT (`allow_connect`): a 2xx
    /// has no framing headers and no body, the tunnel follows it (RFC 9110
    /// §9.3.6), so the handler must have hijacked the connection (without
    /// a hijack it closes: nothing after a 2xx to CONNECT is HTTP). Any
    /// other status is an ordinary response, and the connection closes.
    #[cold]
    fn answer_connect(&mut self, w: &mut ByteBuffer, s: &mut Scratch, core: &Core) {
        let deferred = std::mem::replace(&mut s.resp.deferred, crate::ctx::Deferred::None);
        let tunnel = (200..300).contains(&s.resp.header.status());
        let base = brisk_http::WriteOptions {
            // Nothing to type in a tunnel's answer.
            default_content_type: !tunnel && !core.cfg.no_default_content_type,
            ..base_options(core)
        };
        if tunnel {
            s.resp.static_body = None;
            s.resp.body.reset();
        }
        let framing = tunnel.then_some(brisk_http::ResponseBody::None);
        write_response(
            w,
            &s.resp,
            &mut s.head_cache,
            s.unix_secs,
            &base,
            tunnel,
            false,
            false,
            framing,
        );
        match deferred {
            crate::ctx::Deferred::Hijack(handler) if tunnel => {
                self.enter(State::Hijacking(handler));
            }
            other => {
                if tunnel {
                    log::warn!(
                        "conn {} ({}): a 2xx to CONNECT without a hijack; closing",
                        self.info.id,
                        self.info.remote
                    );
                }
                drop(other);
                self.enter(State::Closing { linger: !tunnel });
            }
        }
    }

    /// The transport (a hijacked connection's socket).
    pub(crate) fn into_io(self) -> T {
        self.io
    }
    /// Refuses to serve a `Detaching` connection (no worker is free): 503,
    /// then it closes.
    #[cold]
    pub(crate) fn refuse_detached(&mut self, s: &mut Scratch, core: &Core) {
        let State::Detaching(req) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));
        let head = is_head(&req.head);
        self.respond_error(&mut w, s, core, ServerError::Overloaded, None, head);
        s.put_inflight(req);
        self.wbuf = Some(w);
    }

    /// Serves the request of a `Detaching` connection on this (worker)
    /// thread: runs the handler with the body as a stream, queues its
    /// response, and leaves the connection ready to go back to its loop
    /// (bytes read past the body in its read buffer).
    pub(crate) fn serve_detached(&mut self, s: &mut Scratch, core: &Core, now_ms: u64) {
        let State::Detaching(mut req) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let (Stage::Streamed { head_len }, Some(mut rb)) = (&req.stage, self.rbuf.take()) else {
            s.put_inflight(req);
            return;
        };
        let head_len = *head_len;
        let head_end = self.rpos + head_len;
        // The head stays where it is (the context borrows it); the body has
        // a buffer of its own, starting with what was read with the head.
        let mut body_buf = s.get_buf(core, READ);
        body_buf.extend_from_slice(&rb[head_end..]);
        rb.as_mut_vec().truncate(head_end);
        let mut w = self.wbuf.take().unwrap_or_else(|| s.get_buf(core, WRITE));

        let InFlight {
            head,
            decoder,
            path: norm_path,
            limits,
            ..
        } = &mut *req;
        let limits = *limits;
        let kind = match head.body_kind() {
            BodyKind::Length(n) => Framing::Length { left: n },
            BodyKind::Chunked => {
                decoder.reset();
                Framing::Chunked
            }
            BodyKind::None => Framing::Length { left: 0 },
        };
        let expects = head.expect_continue() && head.version() == Version::Http11;
        let declared = match head.body_kind() {
            BodyKind::Length(n) => Some(n),
            _ => None,
        };
        let mut body = Streamed {
            io: &mut self.io,
            buf: body_buf,
            pos: 0,
            decoded: 0,
            framing: kind,
            decoder,
            declared,
            total: 0,
            raw: 0,
            limit: limits.map_or(core.cfg.max_request_body_size, |l| l.max_body) as u64,
            timeout: limits.map_or(core.cfg.read_timeout, |l| l.read_timeout),
            write_timeout: core.cfg.write_timeout,
            out: Some((&mut w, &mut self.wpos)).filter(|_| expects),
            // No body at all (a CONNECT): done before the first read, and
            // every byte read with the head is the next thing's.
            state: if kind == (Framing::Length { left: 0 }) {
                Progress::Done
            } else {
                Progress::Reading
            },
            trailers: Vec::new(),
        };
        let buf = &rb[self.rpos..head_end];
        self.info.request_num += 1;
        let path: &[u8] = if head.path_is_plain() {
            head.path().get(buf)
        } else {
            norm_path
        };
        s.resp.reset();
        let received = Instant::now();
        let mut ctx = RequestCtx {
            buf,
            head,
            body: &[],
            path,
            info: &self.info,
            received,
            resp: &mut s.resp,
            values: &mut s.values,
            body_reader: Some(BodyReader { src: &mut body }),
        };
        let handler = &core.handler;
        let panicked = catch_unwind(AssertUnwindSafe(|| handler(&mut ctx))).is_err();
        s.values.clear();
        let complete = body.is_done();
        if let Some(o) = &s.obs {
            o.bytes_in(body.raw as usize);
        }
        if let Progress::Failed(e) = body.state {
            debug!(
                "conn {} ({}): streamed request body: {e}",
                self.info.id, self.info.remote
            );
        }
        // What was read past the body is the next request's.
        let leftover_from = if complete { body.pos } else { body.buf.len() };
        let mut body_buf = std::mem::take(&mut body.buf);
        drop(body);
        self.last_active = now_ms;

        let head = &req.head;
        let failed = Failed {
            head,
            buf: &rb[self.rpos..head_end],
            path: if head.path_is_plain() {
                head.path().get(&rb[self.rpos..head_end])
            } else {
                &req.path
            },
        };
        let more = complete && body_buf.len() > leftover_from;
        if panicked || s.resp.header.status() < 200 && !super::upgrades(s) {
            self.handler_failed(&mut w, s, core, failed, panicked);
        } else if head.method() == Method::Connect {
            let before = w.len();
            self.answer_connect(&mut w, s, core);
            if s.obs.is_some() {
                let buf = &rb[self.rpos..head_end];
                self.observe(w.len() - before, s, head, buf, received);
            }
        } else {
            // A body not read to its end leaves the connection unusable,
            // and its unread rest must be drained before the close.
            let keep_alive = complete && self.keeps_alive(s, core, head);
            let base = base_options(core);
            let before = w.len();
            self.send_response(&mut w, s, core, &base, head, keep_alive, !complete || more);
            if s.obs.is_some() {
                let buf = &rb[self.rpos..head_end];
                self.observe(w.len() - before, s, head, buf, received);
            }
        }
        // The read buffer now holds what follows the body.
        rb.reset();
        if complete {
            rb.extend_from_slice(&body_buf[leftover_from..]);
        }
        self.rpos = 0;
        body_buf.reset();
        s.put_buf(core, READ, body_buf);
        if rb.is_empty() {
            s.put_buf(core, READ, rb);
        } else {
            self.rbuf = Some(rb);
        }
        self.wbuf = Some(w);
        // The loop reads again when it gets the connection back.
        if self.read_side == ReadSide::Drained {
            self.read_side = ReadSide::Ready;
        }
        s.put_inflight(req);
    }
}

/// Writes all of `data`, waiting (at most `timeout` each time) while the
/// transport is full.
fn send_all<T: Transport>(io: &mut T, mut data: &[u8], timeout: Duration) -> io::Result<()> {
    while !data.is_empty() {
        match io.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !io.wait(true, timeout)? {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    while io.has_pending_output() {
        match io.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !io.wait(true, timeout)? {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How the streamed body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// `left` bytes to go.
    Length { left: u64 },
    /// Chunked, decoded in place in `buf`.
    Chunked,
}

/// Where a streamed body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Reading,
    /// Read to its end (trailers included).
    Done,
    /// Cut short; the error every later read returns.
    Failed(io::ErrorKind),
}

/// A request body read from the transport as the handler asks for it.
///
/// `buf` holds, for a Content-Length body, the bytes read and not yet
/// delivered from `pos` (possibly followed by the next request's); for a
/// chunked one, decoded bytes not yet delivered in `pos..decoded` and raw
/// bytes not yet decoded after them (the decoder's own offsets start at
/// `decoded`).
struct Streamed<'a, T> {
    io: &'a mut T,
    buf: ByteBuffer,
    pos: usize,
    decoded: usize,
    framing: Framing,
    decoder: &'a mut ChunkedDecoder,
    declared: Option<u64>,
    /// Body bytes delivered.
    total: u64,
    /// Bytes read from the transport (framing included), for the metrics.
    raw: u64,
    limit: u64,
    /// Longest wait for the next bytes.
    timeout: Duration,
    write_timeout: Duration,
    /// Where `100 Continue` goes before the first read, when the client
    /// asked for it: the connection's write buffer and its sent count.
    out: Option<(&'a mut ByteBuffer, &'a mut usize)>,
    state: Progress,
    /// A chunked body's trailer fields, once it is done.
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<T: Transport> Streamed<'_, T> {
    fn fail(&mut self, kind: io::ErrorKind, why: &'static str) -> io::Error {
        self.state = Progress::Failed(kind);
        io::Error::new(kind, why)
    }

    /// Sends `100 Continue` (after any output still pending), once.
    fn send_continue(&mut self) -> io::Result<()> {
        let Some((w, wpos)) = self.out.take() else {
            return Ok(());
        };
        w.extend_from_slice(CONTINUE);
        while *wpos < w.len() {
            match self.io.write(&w[*wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.io.wait(true, self.write_timeout)? {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        w.reset();
        *wpos = 0;
        Ok(())
    }

    /// Reads more bytes from the transport into `buf` (after dropping what
    /// was delivered), waiting at most `timeout`.
    fn fill(&mut self) -> io::Result<()> {
        let v = self.buf.as_mut_vec();
        let keep_from = match self.framing {
            Framing::Length { .. } => self.pos,
            Framing::Chunked => self.decoded,
        };
        if keep_from > 0 {
            v.copy_within(keep_from.., 0);
            v.truncate(v.len() - keep_from);
            self.pos -= keep_from;
            if self.framing == Framing::Chunked {
                self.decoded -= keep_from;
            }
        }
        let spare = v.capacity() - v.len();
        if spare == 0 {
            return Err(self.fail(
                io::ErrorKind::InvalidData,
                "a chunk-size line or trailer does not fit in the read buffer",
            ));
        }
        loop {
            match self.io.read_into(self.buf.as_mut_vec(), spare) {
                Ok(f) if f.n == 0 => {
                    return Err(self.fail(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection before the end of the body",
                    ));
                }
                Ok(f) => {
                    self.raw += f.n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.io.wait(false, self.timeout)? {
                        return Err(self.fail(
                            io::ErrorKind::TimedOut,
                            "the client sent no body bytes for read_timeout",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.state = Progress::Failed(e.kind());
                    return Err(e);
                }
            }
        }
    }

    fn read_length(&mut self, out: &mut [u8], left: u64) -> io::Result<usize> {
        if left == 0 {
            self.state = Progress::Done;
            return Ok(0);
        }
        while self.buf.len() == self.pos {
            self.fill()?;
        }
        let n = out
            .len()
            .min(self.buf.len() - self.pos)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        let left = left - n as u64;
        self.framing = Framing::Length { left };
        if left == 0 {
            self.state = Progress::Done;
        }
        Ok(n)
    }

    fn read_chunked(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.decoded {
                let n = out.len().min(self.decoded - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.state == Progress::Done {
                return Ok(0);
            }
            // Decode what is buffered after the delivered bytes, in place.
            let start = self.decoded;
            let v = self.buf.as_mut_vec();
            match self.decoder.decode(&mut v[start..], 0, 0) {
                Err(_) => {
                    return Err(self.fail(io::ErrorKind::InvalidData, "malformed chunked body"));
                }
                Ok(p) => {
                    if p.done {
                        // The trailers' spans point into the framing that
                        // goes next: keep copies.
                        let region = &v[start..];
                        self.trailers = self
                            .decoder
                            .trailers()
                            .iter()
                            .map(|f| (f.name.get(region).to_vec(), f.value.get(region).to_vec()))
                            .collect();
                    }
                    // Raw framing between the decoded bytes and the rest
                    // goes, so the buffer holds decoded bytes then raw ones.
                    let (raw, to) = (start + p.read, start + p.written);
                    v.copy_within(raw.., to);
                    v.truncate(v.len() - (raw - to));
                    self.decoded = to;
                    if p.done {
                        // What follows the trailers is the next request's:
                        // it starts at `decoded` once the body is delivered.
                        self.state = Progress::Done;
                        if self.pos == self.decoded {
                            return Ok(0);
                        }
                        continue;
                    }
                    if p.written > 0 {
                        continue;
                    }
                }
            }
            self.fill()?;
        }
    }
}

impl<T: Transport> BodySource for Streamed<'_, T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.state {
            Progress::Failed(kind) => return Err(io::Error::new(kind, "the body was cut short")),
            Progress::Done if self.pos >= self.decoded_end() => return Ok(0),
            _ => {}
        }
        if out.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.send_continue() {
            self.state = Progress::Failed(e.kind());
            return Err(e);
        }
        let n = match self.framing {
            Framing::Length { left } => self.read_length(out, left)?,
            Framing::Chunked => self.read_chunked(out)?,
        };
        self.total += n as u64;
        if self.total > self.limit {
            return Err(self.fail(
                io::ErrorKind::InvalidData,
                "the request body is larger than max_request_body_size",
            ));
        }
        Ok(n)
    }

    fn trailers(&self) -> Vec<(&[u8], &[u8])> {
        self.trailers
            .iter()
            .map(|(n, v)| (&n[..], &v[..]))
            .collect()
    }

    fn bytes_read(&self) -> u64 {
        self.total
    }

    fn content_length(&self) -> Option<u64> {
        self.declared
    }

    fn is_done(&self) -> bool {
        self.state == Progress::Done && self.pos >= self.decoded_end()
    }
}

impl<T> Streamed<'_, T> {
    /// The end of the bytes still to deliver once the body is done.
    fn decoded_end(&self) -> usize {
        match self.framing {
            Framing::Length { .. } => self.pos,
            Framing::Chunked => self.decoded,
        }
    }
}

//! Per-thread state reused for every request: [`Scratch`] (the response
//! under construction, user values, spare buffers, the head cache) and the
//! recycled [`InFlight`] boxes that hold a request while it is received.

use brisk_buf::ByteBuffer;
use brisk_http::{ChunkedDecoder, HeadCache, RequestHeader, RequestParser};

use std::sync::Arc;

use crate::ctx::{Response, UserValues};
use crate::push::Wake;
use crate::server::Core;

/// Index in `Scratch::spare` of a connection's read or write buffer.
pub(crate) const READ: usize = 0;
/// See [`READ`].
pub(crate) const WRITE: usize = 1;

/// Per-thread scratch reused for every request (never per connection).
// The boxes move between connections and the free list by pointer.
#[allow(clippy::vec_box)]
pub(crate) struct Scratch {
    inflight: Vec<Box<InFlight>>,
    pub(crate) resp: Response,
    pub(crate) values: UserValues,
    pub(crate) empty_head: RequestHeader,
    /// The start of the last `200 OK` head, reused within its second.
    pub(crate) head_cache: HeadCache,
    /// Wall-clock seconds for the `Date` header, read once per poll.
    pub(crate) unix_secs: u64,
    /// One empty read buffer and one write buffer of the configured sizes,
    /// kept by this thread in front of the pool: a busy connection drains
    /// and refills its buffers every batch, and these make that a move
    /// instead of a pool round trip. They belong to the thread, not to a
    /// connection, so an idle connection still holds no buffer.
    spare: [Option<ByteBuffer>; 2],
    /// Wakes a connection of this thread's loop (for pushed bodies).
    pub(crate) waker: Option<Arc<dyn Wake>>,
    /// Metrics and access log state of this thread (`None`: both off).
    pub(crate) obs: Option<Box<crate::metrics::Observer>>,
}

impl Scratch {
    pub(crate) fn new(core: &Core) -> Scratch {
        Scratch {
            inflight: Vec::new(),
            resp: Response::new(core.cfg.write_buffer_size, core.cfg.push_buffer_size),
            values: UserValues::default(),
            empty_head: RequestHeader::new(),
            head_cache: HeadCache::new(),
            unix_secs: brisk_http::date::unix_secs(),
            spare: [None, None],
            waker: None,
            obs: crate::metrics::Observer::for_thread(core),
        }
    }

    /// An empty buffer for a connection's reads (`READ`) or writes
    /// (`WRITE`), of at least the configured size.
    #[inline(always)]
    pub(crate) fn get_buf(&mut self, core: &Core, which: usize) -> ByteBuffer {
        match self.spare[which].take() {
            Some(b) => b,
            None => pool_buf(core, which),
        }
    }

    /// Takes back a connection's buffer: kept as the spare if there is none
    /// and it has its configured size class, else given to the pool.
    #[inline]
    pub(crate) fn put_buf(&mut self, core: &Core, which: usize, mut b: ByteBuffer) {
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

    /// A recycled `InFlight` (ready for a new request).
    #[inline]
    pub(crate) fn take_inflight(&mut self, core: &Core) -> Box<InFlight> {
        match self.inflight.pop() {
            Some(r) => r,
            None => new_inflight(core),
        }
    }

    /// Recycles an `InFlight` for the next request on any connection.
    pub(crate) fn put_inflight(&mut self, mut r: Box<InFlight>) {
        r.recycle();
        if self.inflight.len() < 64 {
            self.inflight.push(r);
        } else {
            drop_inflight(r);
        }
    }
}

/// A request being received: the parser's resume state, the head, the
/// body's progress and, for a path that needed it, the normalized path.
/// Boxed and recycled through [`Scratch`], so an idle connection holds none
/// and a busy one costs a pointer move per request.
pub(crate) struct InFlight {
    pub(crate) parser: RequestParser,
    pub(crate) head: RequestHeader,
    pub(crate) decoder: ChunkedDecoder,
    /// Where the request is: still in its head, or waiting for its body.
    pub(crate) stage: Stage,
    /// The normalized path when the head's path is not plain
    /// (`RequestHeader::path_is_plain`); the allocation is reused.
    pub(crate) path: Vec<u8>,
    /// This request's limits, when a head hook set them.
    pub(crate) limits: Option<ReqLimits>,
}

/// A request's limits set by a head hook (in the loops' units).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReqLimits {
    pub(crate) max_body: usize,
    pub(crate) read_timeout: std::time::Duration,
}

/// How far a request has been received.
pub(crate) enum Stage {
    /// The head is incomplete.
    Head,
    /// The head is complete and its body is to be streamed: the request
    /// goes to a worker thread (`State::Detaching`).
    Streamed { head_len: usize },
    /// The head is complete (and accepted); the body may still be arriving.
    Body {
        wait: BodyWait,
        /// `100 Continue` was sent for this request.
        continued: bool,
    },
}

/// The body still to arrive for a head that is complete. Offsets are from
/// the request's first byte.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BodyWait {
    /// The whole request is `total` bytes (head + Content-Length body).
    Length { head_len: usize, total: usize },
    /// Chunked: `read`/`written` are offsets from the body's first byte.
    Chunked {
        head_len: usize,
        read: usize,
        written: usize,
    },
}

impl InFlight {
    /// Ready for the next request. The head needs no clearing: the parser
    /// starts a new head on its first call after `reset`.
    #[inline]
    pub(crate) fn recycle(&mut self) {
        self.parser.reset();
        self.stage = Stage::Head;
        self.limits = None;
    }
}

/// A buffer from the pool when the thread's spare is out (out of line: the
/// spare is the usual case).
#[inline(never)]
fn pool_buf(core: &Core, which: usize) -> ByteBuffer {
    core.pool.get_with_capacity(buf_size(core, which))
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
        stage: Stage::Head,
        path: Vec::new(),
        limits: None,
    })
}

/// The configured size of a connection's read or write buffer.
#[inline]
pub(crate) fn buf_size(core: &Core, which: usize) -> usize {
    if which == READ {
        core.cfg.read_buffer_size
    } else {
        core.cfg.write_buffer_size
    }
}

//! The in-memory driver: runs a `Conn<MemTransport>` the way the event loop
//! runs a TCP connection (edge-triggered readiness, the turn budget,
//! deadlines), without sockets, threads or a clock. The model test
//! (`conn/tests.rs`) and the `conn` fuzz target (`_fuzz.rs`) drive the
//! state machine through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use brisk_buf::BufferPool;

use crate::config::ServerBuilder;
use crate::conn::{Conn, Next};
use crate::ctx::ConnInfo;
use crate::push::Wake;
use crate::scratch::Scratch;
use crate::server::Core;
use crate::transport::MemTransport;

/// The in-memory driver's stand-in for a loop's eventfd: a
/// [`BodySender`](crate::BodySender) write that wakes the connection sets
/// it, and [`MemConn::wake_up`] drives the connection.
#[derive(Default)]
struct MemWaker {
    woken: AtomicBool,
}

impl Wake for MemWaker {
    fn wake(&self, _token: u64) {
        self.woken.store(true, Ordering::Release);
    }
}

/// A fixed wall clock for the `Date` header, so outputs compare equal.
const UNIX_SECS: u64 = 1_700_000_000;

thread_local! {
    /// The buffer pool of the connections this thread drives: only this
    /// thread touches it, so its counters are exact (see
    /// `brisk_buf::PoolStats`). Leaked once per thread on purpose (a
    /// server's pool is `'static`); the thread-local keeps it reachable.
    static POOL: &'static BufferPool = Box::leak(Box::new(BufferPool::new()));
}

/// Buffers a [`MemConn`] took from its pool and gave back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Balance {
    pub(crate) gets: u64,
    pub(crate) puts: u64,
}

/// One connection driven in memory, with its own thread scratch and a
/// buffer pool only its thread uses (so a test can see every buffer come
/// back).
pub(crate) struct MemConn {
    conn: Option<Box<Conn<MemTransport>>>,
    scratch: Scratch,
    core: Arc<Core>,
    /// The server clock (ms); moves only by [`advance`](Self::advance).
    now_ms: u64,
    /// Everything the connection sent, moved out of its transport.
    out: Vec<u8>,
    /// `Next::Again` results in a row allowed before the driver calls it a
    /// livelock.
    again_limit: usize,
    /// The pool's counters when the connection was made.
    start: brisk_buf::PoolStats,
    /// Read by the tests' `wake_up` (the fuzz check drives no pushed body).
    #[cfg_attr(not(test), allow(dead_code))]
    waker: Arc<MemWaker>,
}

impl MemConn {
    /// A connection of a server built from `builder` (its handler and
    /// settings), with a fresh buffer pool.
    pub(crate) fn new(builder: ServerBuilder) -> MemConn {
        let server = builder.build().expect("a valid test configuration");
        let mut core = server.into_core();
        let pool = POOL.with(|p| *p);
        let start = pool.stats();
        Arc::get_mut(&mut core)
            .expect("the core is not shared before serving")
            .pool = pool;
        let now_ms = 1;
        let info = ConnInfo {
            remote: "127.0.0.1:40000".parse().expect("an address"),
            id: 1,
            request_num: 0,
            token: 7,
        };
        let io = MemTransport {
            write_budget: usize::MAX,
            ..MemTransport::default()
        };
        let waker = Arc::new(MemWaker::default());
        let mut scratch = Scratch::new(&core);
        scratch.unix_secs = UNIX_SECS;
        scratch.waker = Some(waker.clone());
        MemConn {
            conn: Some(Box::new(Conn::new(io, info, now_ms))),
            scratch,
            core,
            now_ms,
            out: Vec::new(),
            again_limit: 100_000,
            start,
            waker,
        }
    }

    /// The connection's transport (to set read and write sizes).
    pub(crate) fn io(&mut self) -> Option<&mut MemTransport> {
        self.conn.as_mut().map(|c| &mut c.io)
    }

    /// The connection, while it is open.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> Option<&Conn<MemTransport>> {
        self.conn.as_deref()
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.conn.is_none()
    }

    /// The peer sends `bytes`: they are queued and an input event fires
    /// (reporting output readiness too when the transport has room, as
    /// epoll reports every ready direction). Returns `true` while the
    /// connection is open. Ignored once it closed (as a reset would be).
    pub(crate) fn send(&mut self, bytes: &[u8]) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        c.io.inbox.extend(bytes);
        self.input_event()
    }

    /// The peer closes its output: an input event (the end of the input).
    pub(crate) fn close_input(&mut self) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        c.io.peer_closed = true;
        // epoll reports the end as EPOLLRDHUP along with the input event.
        c.on_hangup();
        self.input_event()
    }

    fn input_event(&mut self) -> bool {
        if let Some(c) = self.conn.as_mut() {
            c.on_readable();
            if c.io.write_budget > 0 {
                c.on_writable();
            }
        }
        self.run()
    }

    /// The peer reads: the transport takes `n` more bytes. An output event
    /// fires only when the transport was full (an edge), as with epoll;
    /// otherwise nothing runs. Returns `true` while the connection is open.
    pub(crate) fn grant(&mut self, n: usize) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        let was_full = c.io.write_budget == 0;
        c.io.write_budget = c.io.write_budget.saturating_add(n);
        if !was_full || n == 0 {
            return true;
        }
        c.on_writable();
        if !c.io.inbox.is_empty() || c.io.peer_closed {
            c.on_readable();
        }
        self.run()
    }

    /// Drives the connection if a pushed body's writer woke it since (as
    /// the loop does when its eventfd fires). Returns `true` while it is
    /// open.
    #[cfg(test)]
    pub(crate) fn wake_up(&mut self) -> bool {
        if self.waker.woken.swap(false, Ordering::AcqRel) {
            self.run()
        } else {
            !self.is_closed()
        }
    }

    /// Whether a pushed body's writer woke the connection and it was not
    /// driven since.
    #[cfg(test)]
    pub(crate) fn is_woken(&self) -> bool {
        self.waker.woken.load(Ordering::Acquire)
    }

    /// Runs the connection until it waits for an event or closes, as the
    /// event loop does after an event. Returns `true` while it is open.
    ///
    /// # Panics
    ///
    /// If the connection asks to be driven again more than `again_limit`
    /// times in a row (a livelock).
    fn run(&mut self) -> bool {
        let mut again = 0;
        loop {
            let Some(c) = self.conn.as_mut() else {
                return false;
            };
            let next = c.drive(&mut self.scratch, &self.core, self.now_ms, Instant::now());
            self.out.append(&mut c.io.sent);
            match next {
                Next::Keep => return true,
                Next::Again => {
                    again += 1;
                    assert!(again <= self.again_limit, "livelock: Next::Again forever");
                }
                Next::Close => {
                    self.close();
                    return false;
                }
                Next::Detach if self.conn.as_ref().is_some_and(|c| c.is_hijacking()) => {
                    // No socket to hand over in memory: the connection
                    // leaves as a hijacked one would, unserved.
                    self.close();
                    return false;
                }
                Next::Detach => {
                    // The worker's part, here and now (nothing else runs:
                    // a body that has not arrived is a timeout).
                    if let Some(c) = self.conn.as_mut() {
                        c.serve_detached(&mut self.scratch, &self.core, self.now_ms);
                        self.out.append(&mut c.io.sent);
                    }
                }
            }
        }
    }

    /// Moves the server clock `ms` forward and handles the connection's
    /// deadline if it passed. Returns `true` while it is open.
    #[cfg(test)]
    pub(crate) fn advance(&mut self, ms: u64) -> bool {
        self.now_ms += ms;
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        if c.deadline(&self.core) > self.now_ms {
            return true;
        }
        let next = c.on_timeout(&mut self.scratch, &self.core, self.now_ms);
        self.out.append(&mut c.io.sent);
        match next {
            Next::Close => {
                self.close();
                false
            }
            Next::Keep => true,
            Next::Again | Next::Detach => self.run(),
        }
    }

    /// The server begins draining while the connection is idle: it closes
    /// as the loop closes it (`close_idle_for_shutdown`). Returns `true`
    /// while it is open (lingering).
    #[cfg(test)]
    pub(crate) fn drain_idle(&mut self) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        match c.close_idle_for_shutdown(&mut self.scratch, &self.core, self.now_ms) {
            Next::Close => {
                self.close();
                false
            }
            Next::Keep => true,
            Next::Again | Next::Detach => self.run(),
        }
    }

    /// The deadline of the connection (ms), while it is open.
    #[cfg(test)]
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.conn.as_ref().map(|c| c.deadline(&self.core))
    }

    /// The current server clock (ms).
    #[cfg(test)]
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Everything the connection sent so far.
    pub(crate) fn output(&self) -> &[u8] {
        &self.out
    }

    /// Closes the connection as the loop does: its buffers and request
    /// state go back.
    fn close(&mut self) {
        if let Some(mut c) = self.conn.take() {
            self.out.append(&mut c.io.sent);
            c.release(&self.core, &mut self.scratch);
        }
    }

    /// Closes the connection if it is open and the thread's spare buffers
    /// go back to the pool (the thread leaves its loop). Returns what the
    /// connection took from the pool and gave back: every buffer is back
    /// when `gets == puts`.
    pub(crate) fn finish(&mut self) -> Balance {
        self.close();
        self.scratch.release(&self.core);
        let now = self.core.pool.stats();
        Balance {
            gets: now.gets - self.start.gets,
            puts: now.puts - self.start.puts,
        }
    }
}

/// The handler the model test and the fuzz target serve: what it answers
/// is a function of the request alone, so an oracle can predict it.
///
/// - `/stream/N` (N ≤ 64): a streamed body of N pieces `piece I;`;
/// - `/big/N` (N ≤ 65536): N bytes `a`..`z` repeated;
/// - `/static/N` (N ≤ 65536): N bytes `A`..`Z` repeated, a `'static` body;
/// - `/file/O/N`: bytes `O..O+N` of [`PATTERN`] (clamped to it), a file
///   body ([`model_file`]);
/// - `/close`: the describing body, with `Connection: close`;
/// - `/status/N` (100 ≤ N ≤ 399): that status and the describing body;
/// - `/panic` (only when `panics` is set): the handler panics;
/// - anything else: [`describe`].
pub(crate) fn model_handler(ctx: &mut crate::RequestCtx<'_>, panics: bool) {
    let path = ctx.path();
    let num = |p: &[u8]| -> Option<usize> { std::str::from_utf8(p).ok()?.parse().ok() };
    if let Some(n) = path.strip_prefix(b"/stream/").and_then(num) {
        let n = n.min(64);
        let mut i = 0;
        ctx.set_body_stream(move |w| {
            if i < n {
                w.write(format!("piece {i};").as_bytes());
                i += 1;
            }
            i < n
        });
        return;
    }
    if let Some(n) = path.strip_prefix(b"/static/").and_then(num) {
        ctx.set_body_static(&PATTERN[..n.min(PATTERN.len())]);
        return;
    }
    if let Some(rest) = path.strip_prefix(b"/file/") {
        let mut parts = rest.splitn(2, |&b| b == b'/');
        if let (Some(o), Some(n)) = (parts.next().and_then(num), parts.next().and_then(num)) {
            let o = o.min(PATTERN.len());
            let n = n.min(PATTERN.len() - o);
            ctx.set_body_file(model_file(), o as u64, n as u64);
            return;
        }
    }
    if let Some(n) = path.strip_prefix(b"/big/").and_then(num) {
        let body: Vec<u8> = (0..n.min(65536)).map(|i| b'a' + (i % 26) as u8).collect();
        ctx.set_body(&body);
        return;
    }
    if panics && path == b"/panic" {
        panic!("the model handler panics on /panic (expected by the test)");
    }
    let body = describe(ctx);
    ctx.set_body(body.as_bytes());
    if path == b"/close" {
        ctx.set_connection_close();
    }
    if let Some(n) = path.strip_prefix(b"/status/").and_then(num) {
        if (100..=399).contains(&n) {
            ctx.set_status(n as u16);
        }
    }
}

/// The `/static/N` bodies: `A`..`Z` repeated.
pub(crate) static PATTERN: [u8; 65536] = {
    let mut a = [0u8; 65536];
    let mut i = 0;
    while i < a.len() {
        a[i] = b'A' + (i % 26) as u8;
        i += 1;
    }
    a
};

/// An open file holding [`PATTERN`], shared by every model connection of
/// the process (its name is removed at once: only the handle lives).
pub(crate) fn model_file() -> Arc<std::fs::File> {
    static FILE: std::sync::OnceLock<Arc<std::fs::File>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!(
            "brisk-model-file-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::File::create(&path).expect("a temporary file for the model");
        f.write_all(&PATTERN).expect("writing the model file");
        let r = std::fs::File::open(&path).expect("reopening the model file");
        let _ = std::fs::remove_file(&path);
        Arc::new(r)
    })
    .clone()
}

/// `"<request number> <method> <path> <body length> <body checksum>\n"`
/// (FNV-1a of the body, hex). Contains no `HTTP/1.1 ` and no CR or LF but
/// the last.
pub(crate) fn describe(ctx: &crate::RequestCtx<'_>) -> String {
    format!(
        "{} {} {} {} {:016x}\n",
        ctx.conn_request_num(),
        String::from_utf8_lossy(ctx.method_bytes()),
        String::from_utf8_lossy(ctx.path()),
        ctx.body().len(),
        fnv1a(ctx.body())
    )
}

/// FNV-1a, 64 bits.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `out` without its interim `100 Continue` responses (whether one is sent
/// depends on how the request was split, which the oracles ignore).
pub(crate) fn without_continues(out: &[u8]) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut v = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        if out[i..].starts_with(CONTINUE) {
            i += CONTINUE.len();
        } else {
            v.push(out[i]);
            i += 1;
        }
    }
    v
}

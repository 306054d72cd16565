//! Server metrics: counters and a request-duration histogram, kept per
//! thread without shared atomics and summed when asked.
//!
//! ```
//! use brisk_server::{Metrics, Server};
//!
//! let metrics = Metrics::new();
//! let server = Server::builder()
//!     .handler(|ctx| ctx.set_body(b"ok"))
//!     .metrics(&metrics)
//!     .build()
//!     .expect("valid configuration");
//! // From any thread, while the server serves (or after):
//! let snap = metrics.snapshot();
//! assert_eq!(snap.requests.total, 0);
//! assert_eq!(snap.connections.open, 0);
//! # drop(server);
//! ```
//!
//! See [`Metrics`] for how they are kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use brisk_pool::PoolStats;

use crate::error::ServerError;
use crate::server::Core;

/// The statuses counted one by one ([`RequestCounts::by_status`]), in this
/// order; every other status is counted in its class only.
pub const TRACKED_STATUSES: [u16; 22] = [
    200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501,
    502, 503, 505,
];

/// Upper bounds (inclusive, in microseconds) of the request-duration
/// histogram's buckets, log-spaced from 10 µs to 10 s; a last bucket holds
/// everything slower.
pub const DURATION_BOUNDS_US: [u64; 19] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A server's metrics: create one, give it to
/// [`ServerBuilder::metrics`](crate::ServerBuilder::metrics), and read
/// [`snapshot`](Self::snapshot)s from any thread (cheap to clone: the
/// clones share the counters). One `Metrics` belongs to one server.
///
/// # How they are kept
///
/// Metrics are opt-in ([`ServerBuilder::metrics`](crate::ServerBuilder::metrics));
/// a server without them pays one pointer test where each event would be
/// counted. With them, every thread that drives connections (an event
/// loop's owner, a worker serving a streamed body) leases a *shard*: a
/// cache-line-aligned block of counters that only the leasing thread
/// writes, with plain (relaxed load + store) updates, no read-modify-write
/// and no line shared with another writer. A shard goes back to the
/// registry's free list when its thread leaves the loop, and the next
/// thread continues from its counts. [`Metrics::snapshot`] sums every
/// shard with relaxed loads: each counter is exact up to the updates still
/// in flight on other cores, and counters are not read at one single
/// instant (the totals may disagree by the few requests in flight).
#[derive(Clone)]
pub struct Metrics {
    pub(crate) reg: Arc<Registry>,
}

/// What a server counted, summed over its threads (see
/// [`Metrics::snapshot`]). Counters count from the server's build; gauges
/// (`open`, the pools) are read at the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Connections.
    pub connections: ConnectionCounts,
    /// Responses, by status.
    pub requests: RequestCounts,
    /// Error responses the server sent itself, by kind.
    pub errors: ErrorCounts,
    /// Bytes read from clients' connections (by the event loops, and by
    /// the workers that stream request bodies; not the PROXY protocol
    /// headers of trusted peers).
    pub bytes_read: u64,
    /// Bytes of responses (head and body) queued on connections: a
    /// buffered response counts when it is queued, a streamed body as it
    /// is produced. Bytes a connection could not deliver before it closed
    /// are counted too; interim `100 Continue` lines are not.
    pub bytes_written: u64,
    /// Handlers' request durations: from the event that completed the
    /// request (or the start of a worker's streamed request) to its
    /// response head being queued. Server-answered errors are not in it.
    pub duration: DurationHistogram,
    /// The threads that run the event loops and take blocked loops over
    /// (`loops + max_blocking_threads` at most); `None` while not serving.
    pub loop_threads: Option<PoolStats>,
    /// The worker threads that serve streamed request bodies
    /// (`max_worker_conns` at most); `None` while not serving.
    pub workers: Option<PoolStats>,
}

/// Connection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionCounts {
    /// Connections accepted and served (refused ones are not).
    pub accepted: u64,
    /// Connections open now (a gauge; hijacked ones are not counted).
    pub open: u64,
    /// Accepted connections that were closed.
    pub closed: u64,
    /// Connections taken over by a hijack handler (they leave the
    /// server's count: `accepted == open + closed + hijacked`, up to the
    /// connections being accepted or closed at the snapshot).
    pub hijacked: u64,
    /// Connections refused at accept with 503 (`concurrency`).
    pub refused_busy: u64,
    /// Connections refused at accept with 429 (`max_conns_per_ip`).
    pub refused_per_ip: u64,
}

/// Responses counted by status: the handler's and the server's own error
/// responses (not the 503/429 of a connection refused at accept, which
/// has no request: see [`ConnectionCounts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Every response: the sum of `by_class` and `other`.
    pub total: u64,
    /// By class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub by_class: [u64; 5],
    /// Statuses 600..=999 (a handler may set them).
    pub other: u64,
    /// By status, for the statuses of [`TRACKED_STATUSES`] (same order).
    pub by_status: [u64; TRACKED_STATUSES.len()],
}

impl RequestCounts {
    /// The count of responses with `status`, if it is one of
    /// [`TRACKED_STATUSES`].
    pub fn status(&self, status: u16) -> Option<u64> {
        let i = TRACKED_STATUSES.iter().position(|&s| s == status)?;
        Some(self.by_status[i])
    }
}

/// Error responses the server sent on the client's behalf, one counter per
/// [`ServerError`] kind (the 503/429 at accept included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorCounts {
    /// [`ServerError::Parse`]: a malformed head or chunked body.
    pub parse: u64,
    /// [`ServerError::HeadTooLarge`] (431).
    pub head_too_large: u64,
    /// [`ServerError::UriTooLong`] (414).
    pub uri_too_long: u64,
    /// [`ServerError::BodyTooLarge`] (413).
    pub body_too_large: u64,
    /// [`ServerError::ReadTimeout`]: requests timed out (408).
    pub read_timeout: u64,
    /// [`ServerError::MethodNotAllowed`] (405).
    pub method_not_allowed: u64,
    /// [`ServerError::TooManyConnections`] (503 at accept).
    pub too_many_connections: u64,
    /// [`ServerError::TooManyConnectionsPerIp`] (429 at accept).
    pub too_many_connections_per_ip: u64,
    /// [`ServerError::HandlerPanicked`]: handler panics (500).
    pub handler_panicked: u64,
    /// [`ServerError::InvalidPath`] (400).
    pub invalid_path: u64,
    /// [`ServerError::ConnectRefused`] (501).
    pub connect_refused: u64,
    /// [`ServerError::InformationalStatus`] (500).
    pub informational_status: u64,
    /// [`ServerError::Overloaded`]: no worker free for a streamed body (503).
    pub overloaded: u64,
    /// [`ServerError::ExpectationRejected`] (the continue hook's status).
    pub expectation_rejected: u64,
    /// [`ServerError::HijackOverTls`] (501, feature `tls`).
    pub hijack_over_tls: u64,
}

impl ErrorCounts {
    /// Every error response.
    pub fn total(&self) -> u64 {
        self.as_array().iter().map(|(_, n)| n).sum()
    }

    /// `(name, count)` for every kind, in declaration order; the names are
    /// the field names (what the Prometheus formatter uses as labels).
    pub fn as_array(&self) -> [(&'static str, u64); ERROR_KINDS] {
        [
            ("parse", self.parse),
            ("head_too_large", self.head_too_large),
            ("uri_too_long", self.uri_too_long),
            ("body_too_large", self.body_too_large),
            ("read_timeout", self.read_timeout),
            ("method_not_allowed", self.method_not_allowed),
            ("too_many_connections", self.too_many_connections),
            (
                "too_many_connections_per_ip",
                self.too_many_connections_per_ip,
            ),
            ("handler_panicked", self.handler_panicked),
            ("invalid_path", self.invalid_path),
            ("connect_refused", self.connect_refused),
            ("informational_status", self.informational_status),
            ("overloaded", self.overloaded),
            ("expectation_rejected", self.expectation_rejected),
            ("hijack_over_tls", self.hijack_over_tls),
        ]
    }
}

/// The number of [`ServerError`] kinds counted in [`ErrorCounts`].
pub const ERROR_KINDS: usize = 15;

/// Request durations in fixed log-spaced buckets
/// ([`DURATION_BOUNDS_US`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DurationHistogram {
    /// Requests per bucket (not cumulative): `counts[i]` took at most
    /// `DURATION_BOUNDS_US[i]` µs and more than the bound before it; the
    /// last entry counts those slower than 10 s.
    pub counts: [u64; DURATION_BOUNDS_US.len() + 1],
    /// The sum of all durations, in nanoseconds.
    pub sum_ns: u64,
}

impl DurationHistogram {
    /// Requests measured (the sum of `counts`).
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of all durations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Cumulative counts per bound, Prometheus's `le` buckets: entry `i`
    /// counts requests of at most `DURATION_BOUNDS_US[i]` µs; the last is
    /// the total (`le="+Inf"`).
    pub fn cumulative(&self) -> [u64; DURATION_BOUNDS_US.len() + 1] {
        let mut out = self.counts;
        for i in 1..out.len() {
            out[i] += out[i - 1];
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("attached", &self.reg.core.get().is_some())
            .finish()
    }
}

impl Metrics {
    /// New metrics, all zero, not attached to a server yet.
    pub fn new() -> Metrics {
        Metrics {
            reg: Arc::new(Registry {
                shards: Mutex::new(Vec::new()),
                free: Mutex::new(Vec::new()),
                core: OnceLock::new(),
                pools: Mutex::new(Pools::default()),
            }),
        }
    }

    /// Sums the counters of every thread and reads the gauges. Cost: a
    /// lock and about a hundred loads per thread that ever served; call it
    /// per scrape, not per request.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut sum = [0u64; N];
        for shard in lock(&self.reg.shards).iter() {
            for (acc, c) in sum.iter_mut().zip(shard.c.iter()) {
                *acc = acc.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        let mut snap = MetricsSnapshot::default();
        let e = |kind: usize| sum[ERR + kind];
        snap.errors = ErrorCounts {
            parse: e(0),
            head_too_large: e(1),
            uri_too_long: e(2),
            body_too_large: e(3),
            read_timeout: e(4),
            method_not_allowed: e(5),
            too_many_connections: e(6),
            too_many_connections_per_ip: e(7),
            handler_panicked: e(8),
            invalid_path: e(9),
            connect_refused: e(10),
            informational_status: e(11),
            overloaded: e(12),
            expectation_rejected: e(13),
            hijack_over_tls: e(14),
        };
        let open = self
            .reg
            .core
            .get()
            .and_then(Weak::upgrade)
            .map_or(0, |core| core.open.load(Ordering::Acquire) as u64);
        snap.connections = ConnectionCounts {
            accepted: sum[ACCEPTED],
            open,
            closed: sum[CLOSED],
            hijacked: sum[HIJACKED],
            refused_busy: snap.errors.too_many_connections,
            refused_per_ip: snap.errors.too_many_connections_per_ip,
        };
        let r = &mut snap.requests;
        r.by_class.copy_from_slice(&sum[CLASS..CLASS + 5]);
        r.other = sum[CLASS + 5];
        r.total = sum[CLASS..CLASS + 6].iter().sum();
        r.by_status
            .copy_from_slice(&sum[STATUS..STATUS + TRACKED_STATUSES.len()]);
        snap.bytes_read = sum[BYTES_IN];
        snap.bytes_written = sum[BYTES_OUT];
        snap.duration
            .counts
            .copy_from_slice(&sum[HIST..HIST + DURATION_BOUNDS_US.len() + 1]);
        snap.duration.sum_ns = sum[HIST_SUM];
        let pools = lock(&self.reg.pools);
        snap.loop_threads = pools.loops.as_ref().and_then(|f| f());
        snap.workers = pools.workers.as_ref().and_then(|f| f());
        snap
    }
}

// ---- the counters -------------------------------------------------------

const ACCEPTED: usize = 0;
const CLOSED: usize = 1;
const HIJACKED: usize = 2;
const BYTES_IN: usize = 3;
const BYTES_OUT: usize = 4;
/// 1xx..5xx, then 600..=999.
const CLASS: usize = 5;
const STATUS: usize = CLASS + 6;
const ERR: usize = STATUS + TRACKED_STATUSES.len();
const HIST: usize = ERR + ERROR_KINDS;
const HIST_SUM: usize = HIST + DURATION_BOUNDS_US.len() + 1;
const N: usize = HIST_SUM + 1;
/// [`DURATION_BOUNDS_US`] in nanoseconds.
const DURATION_BOUNDS_NS: [u64; DURATION_BOUNDS_US.len()] = {
    let mut t = [0; DURATION_BOUNDS_US.len()];
    let mut i = 0;
    while i < t.len() {
        t[i] = DURATION_BOUNDS_US[i] * 1_000;
        i += 1;
    }
    t
};
/// "not tracked" in [`STATUS_SLOT`].
const UNTRACKED: u8 = u8::MAX;

/// Status → index in [`TRACKED_STATUSES`] (or `UNTRACKED`), for 0..1000.
static STATUS_SLOT: [u8; 1000] = {
    let mut t = [UNTRACKED; 1000];
    let mut i = 0;
    while i < TRACKED_STATUSES.len() {
        t[TRACKED_STATUSES[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// One thread's counters. Aligned to two cache lines (the adjacent-line
/// prefetcher pairs them) so no two shards share a line.
#[repr(C, align(128))]
pub(crate) struct Shard {
    c: [AtomicU64; N],
}

impl Shard {
    /// Adds `n` to counter `i`. Only the shard's one writer calls this, so
    /// a relaxed load and store (plain moves) cannot lose an update.
    #[inline(always)]
    fn add(&self, i: usize, n: u64) {
        let c = &self.c[i];
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

/// Every shard of one server, the free ones, and what else a snapshot
/// reads.
pub(crate) struct Registry {
    shards: Mutex<Vec<Arc<Shard>>>,
    free: Mutex<Vec<Arc<Shard>>>,
    /// The server these metrics belong to (set once, at build).
    core: OnceLock<Weak<Core>>,
    pools: Mutex<Pools>,
}

type Probe = Box<dyn Fn() -> Option<PoolStats> + Send + Sync>;

/// Where the pools' stats come from while the server serves.
#[derive(Default)]
struct Pools {
    loops: Option<Probe>,
    workers: Option<Probe>,
}

impl Registry {
    /// Ties these metrics to their server; `false` if they already belong
    /// to one.
    pub(crate) fn attach(&self, core: Weak<Core>) -> bool {
        self.core.set(core).is_ok()
    }

    /// A serve call started: the snapshot reads these pools' stats.
    pub(crate) fn serving(&self, loops: Probe, workers: Probe) {
        let mut p = lock(&self.pools);
        p.loops = Some(loops);
        p.workers = Some(workers);
    }

    fn lease(self: &Arc<Registry>) -> Lease {
        let shard = lock(&self.free).pop().unwrap_or_else(|| {
            let s = Arc::new(Shard {
                c: std::array::from_fn(|_| AtomicU64::new(0)),
            });
            lock(&self.shards).push(s.clone());
            s
        });
        Lease {
            shard,
            home: self.clone(),
        }
    }
}

/// A shard leased by one thread; back on the free list when dropped (the
/// mutex orders its last writes before the next leaser's).
struct Lease {
    shard: Arc<Shard>,
    home: Arc<Registry>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        lock(&self.home.free).push(self.shard.clone());
    }
}

/// Per-thread observation state, in `Scratch` (`None` there when neither
/// metrics nor an access log is on): the leased shard, the access log and
/// its reused line buffer.
pub(crate) struct Observer {
    shard: Option<Lease>,
    pub(crate) log: Option<Arc<crate::access_log::Sink>>,
    /// The access log's line, reused.
    pub(crate) line: Vec<u8>,
    /// The last request arrival time seen, and its [`monotonic_ns`] value.
    batch: Option<(Instant, u64)>,
}

impl Observer {
    /// The observer for a new thread scratch of `core`'s server, if it
    /// observes anything.
    pub(crate) fn for_thread(core: &Core) -> Option<Box<Observer>> {
        if core.metrics.is_none() && core.hooks.access.is_none() {
            return None;
        }
        Some(Box::new(Observer {
            shard: core.metrics.as_ref().map(|m| m.reg.lease()),
            log: core.hooks.access.clone(),
            line: Vec::new(),
            batch: None,
        }))
    }

    #[inline(always)]
    fn add(&self, i: usize, n: u64) {
        if let Some(l) = &self.shard {
            l.shard.add(i, n);
        }
    }

    /// Bytes read from a connection.
    #[inline]
    pub(crate) fn bytes_in(&self, n: usize) {
        self.add(BYTES_IN, n as u64);
    }

    /// Bytes of responses queued.
    #[inline]
    pub(crate) fn bytes_out(&self, n: usize) {
        self.add(BYTES_OUT, n as u64);
    }

    /// A connection was accepted.
    pub(crate) fn accepted(&self) {
        self.add(ACCEPTED, 1);
    }

    /// A connection was closed.
    pub(crate) fn closed(&self) {
        self.add(CLOSED, 1);
    }

    /// A connection was hijacked.
    pub(crate) fn hijacked(&self) {
        self.add(HIJACKED, 1);
    }

    /// The handler's response with `status`, `bytes` long, was queued for
    /// a request that arrived at `received`.
    #[inline]
    pub(crate) fn served(&mut self, status: u16, bytes: usize, received: Instant) {
        if let Some(l) = &self.shard {
            let s = &l.shard;
            count_status(s, status);
            s.add(BYTES_OUT, bytes as u64);
            // The requests of one batch of events share `received`: its
            // clock value is worked out once (an `Instant` is opaque, and
            // subtracting two costs more than reading the clock).
            let end = monotonic_ns();
            let start = match self.batch {
                Some((at, ns)) if at == received => ns,
                _ => {
                    let ago = received.elapsed();
                    let ns = end.saturating_sub(
                        ago.as_secs()
                            .saturating_mul(1_000_000_000)
                            .saturating_add(u64::from(ago.subsec_nanos())),
                    );
                    self.batch = Some((received, ns));
                    ns
                }
            };
            let ns = end.saturating_sub(start);
            // Linear from the fastest bucket: a fast request stops at once.
            let mut b = 0;
            while b < DURATION_BOUNDS_NS.len() && ns > DURATION_BOUNDS_NS[b] {
                b += 1;
            }
            s.add(HIST + b, 1);
            s.add(HIST_SUM, ns);
        }
    }

    /// The server answered `err` itself with `status` (the error hook may
    /// have changed it), which is counted too unless it refused a
    /// connection at accept: no request there.
    pub(crate) fn error(&self, err: &ServerError, status: u16) {
        self.add(ERR + error_kind(err), 1);
        if let (Some(l), false) = (
            &self.shard,
            matches!(
                err,
                ServerError::TooManyConnections | ServerError::TooManyConnectionsPerIp
            ),
        ) {
            count_status(&l.shard, status);
        }
    }
}

/// Nanoseconds on the monotonic clock (the clock of `Instant` on Linux):
/// a vDSO call and integer arithmetic.
#[inline]
fn monotonic_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64),
        Err(_) => 0,
    }
}

/// Counts a response's status in its class, and by itself if tracked.
#[inline(always)]
fn count_status(s: &Shard, status: u16) {
    // Statuses are 100..=999 (`ResponseHeader::set_status`).
    let slot = STATUS_SLOT
        .get(status as usize)
        .copied()
        .unwrap_or(UNTRACKED);
    let class = match status / 100 {
        c @ 1..=5 => c as usize - 1,
        _ => 5,
    };
    s.add(CLASS + class, 1);
    if slot != UNTRACKED {
        s.add(STATUS + slot as usize, 1);
    }
}

/// The index of `err`'s kind in [`ErrorCounts::as_array`].
fn error_kind(err: &ServerError) -> usize {
    match err {
        ServerError::Parse(_) => 0,
        ServerError::HeadTooLarge => 1,
        ServerError::UriTooLong => 2,
        ServerError::BodyTooLarge => 3,
        ServerError::ReadTimeout => 4,
        ServerError::MethodNotAllowed => 5,
        ServerError::TooManyConnections => 6,
        ServerError::TooManyConnectionsPerIp => 7,
        ServerError::HandlerPanicked => 8,
        ServerError::InvalidPath(_) => 9,
        ServerError::ConnectRefused => 10,
        ServerError::InformationalStatus(_) => 11,
        ServerError::Overloaded => 12,
        ServerError::ExpectationRejected(_) => 13,
        ServerError::HijackOverTls => 14,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observer(m: &Metrics) -> Observer {
        Observer {
            shard: Some(m.reg.lease()),
            log: None,
            line: Vec::new(),
            batch: None,
        }
    }

    #[test]
    fn counts_sum_over_shards_and_survive_their_threads() {
        let m = Metrics::new();
        let mut a = observer(&m);
        let mut b = observer(&m);
        let now = Instant::now();
        a.served(200, 3, now);
        let earlier = now.checked_sub(Duration::from_millis(3)).unwrap_or(now);
        std::thread::sleep(Duration::from_millis(3));
        b.served(404, 4, earlier);
        b.error(&ServerError::ExpectationRejected(299), 299);
        a.bytes_in(10);
        drop(a);
        let snap = m.snapshot();
        assert_eq!(snap.requests.total, 3);
        assert_eq!(snap.requests.by_class, [0, 2, 0, 1, 0]);
        assert_eq!(snap.requests.status(200), Some(1));
        assert_eq!(snap.requests.status(404), Some(1));
        assert_eq!(snap.requests.status(299), None);
        assert_eq!(snap.errors.expectation_rejected, 1);
        assert_eq!((snap.bytes_read, snap.bytes_written), (10, 7));
        assert_eq!(snap.duration.count(), 2);
        // At least 3 ms (above 2.5 ms); a loaded machine may take longer.
        let slow = DURATION_BOUNDS_US.iter().position(|&b| b == 2_500).unwrap();
        assert_eq!(snap.duration.counts[slow + 1..].iter().sum::<u64>(), 1);
        assert!(snap.duration.sum() >= Duration::from_millis(3));
        assert_eq!(*snap.duration.cumulative().last().unwrap(), 2);
        // The dropped lease is reused, not a new shard.
        let c = observer(&m);
        assert_eq!(lock(&m.reg.shards).len(), 2);
        c.accepted();
        assert_eq!(m.snapshot().connections.accepted, 1);
    }

    #[test]
    fn slow_and_odd_requests_land_in_the_edges() {
        let m = Metrics::new();
        let mut o = observer(&m);
        let now = Instant::now();
        let Some(long_ago) = now.checked_sub(Duration::from_secs(11)) else {
            return; // a monotonic clock this young cannot go back 11 s
        };
        o.served(999, 0, long_ago);
        o.served(101, 0, now);
        let snap = m.snapshot();
        assert_eq!(snap.requests.other, 1);
        assert_eq!(snap.requests.by_class[0], 1);
        let h = snap.duration.counts;
        assert_eq!(h[DURATION_BOUNDS_US.len()], 1, "11 s is in +Inf");
        assert_eq!(h.iter().sum::<u64>(), 2);
    }

    #[test]
    fn errors_count_by_kind_and_accept_refusals_are_not_requests() {
        let m = Metrics::new();
        let o = observer(&m);
        o.error(&ServerError::ReadTimeout, 408);
        o.error(&ServerError::HandlerPanicked, 500);
        o.error(&ServerError::TooManyConnectionsPerIp, 429);
        let snap = m.snapshot();
        assert_eq!(snap.errors.read_timeout, 1);
        assert_eq!(snap.errors.handler_panicked, 1);
        assert_eq!(snap.errors.total(), 3);
        assert_eq!(snap.connections.refused_per_ip, 1);
        assert_eq!(snap.requests.total, 2);
        assert_eq!(snap.requests.status(408), Some(1));
        assert_eq!(snap.requests.status(429), Some(0));
        assert_eq!(snap.duration.count(), 0);
    }

    #[test]
    fn every_tracked_status_has_its_slot() {
        for (i, &s) in TRACKED_STATUSES.iter().enumerate() {
            assert_eq!(STATUS_SLOT[s as usize] as usize, i);
        }
        assert_eq!(std::mem::align_of::<Shard>(), 128);
    }
}

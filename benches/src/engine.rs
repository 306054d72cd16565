//! The load loop: one epoll event loop per thread, each owning its connections.
//!
//! Per connection the steady state is the same as wrk's: write a batch of
//! `pipeline` requests in one `write`, read responses as they come (one
//! `read` per readiness event), and write the next batch as soon as the last
//! response of the batch is framed. Interest in writability is only
//! registered while a write is blocked or a connect is pending, so a
//! keep-alive request costs one `read`, one `write` and a share of one
//! `epoll_wait`.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::errno::Errno;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::unistd::Pid;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::{LoadConfig, LoadError, Stop};
use crate::report::{ErrorCounts, Report, StatusCounts};
use crate::response::{Progress, ResponseParser};

/// Runs the load described by `config` and returns what was measured.
///
/// Blocks for the whole run; always ends (after the duration, or once the
/// request count is used up).
///
/// # Errors
///
/// A [`LoadError`] when the config is invalid or a thread cannot be set up.
/// Failures of the server under load are not errors: they are counted in
/// [`Report::errors`].
pub fn run(config: &LoadConfig) -> Result<Report, LoadError> {
    config.validate()?;
    let request = config
        .request
        .to_bytes(!config.keep_alive)
        .map_err(LoadError::Request)?;
    let batch = request.repeat(config.pipeline);
    let start = Instant::now();
    let (measure_from, deadline) = match config.stop {
        Stop::After(d) => (start + config.warmup, Some(start + config.warmup + d)),
        Stop::Requests(_) => (start, None),
    };
    let plan = Plan {
        addr: SockAddr::from(config.addr),
        domain: Domain::for_address(config.addr),
        batch: &batch,
        request_len: request.len(),
        pipeline: config.pipeline,
        keep_alive: config.keep_alive,
        head_requests: config.request.is_head(),
        timeout: config.timeout,
        read_buffer: config.read_buffer,
        measure_from,
        deadline,
    };
    let threads = config.threads;
    let results: Vec<Result<Stats, LoadError>> = thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let conns = share(config.connections as u64, threads, t) as usize;
            let quota = match config.stop {
                Stop::Requests(n) => Some(share(n, threads, t)),
                Stop::After(_) => None,
            };
            let cpu = (!config.cpus.is_empty()).then(|| config.cpus[t % config.cpus.len()]);
            let plan = &plan;
            let spawned = thread::Builder::new()
                .name(format!("brisk-load-{t}"))
                .spawn_scoped(scope, move || Worker::new(plan, conns, quota, cpu)?.run());
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(source) => {
                    return vec![Err(LoadError::Io {
                        what: "spawning a load thread",
                        source,
                    })];
                }
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(LoadError::ThreadPanicked)))
            .collect()
    });
    let mut report = Report {
        elapsed: Duration::ZERO,
        requests: 0,
        status: StatusCounts::default(),
        errors: ErrorCounts::default(),
        bytes_read: 0,
        bytes_written: 0,
        connects: 0,
        latency: new_histogram(),
    };
    for result in results {
        let stats = result?;
        report.elapsed = report.elapsed.max(stats.elapsed);
        report.requests += stats.requests;
        report.status.merge(&stats.status);
        report.errors.merge(&stats.errors);
        report.bytes_read += stats.bytes_read;
        report.bytes_written += stats.bytes_written;
        report.connects += stats.connects;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = report.latency.add(&stats.latency);
    }
    Ok(report)
}

/// Fixed inputs shared (read-only) by all threads.
struct Plan<'a> {
    addr: SockAddr,
    domain: Domain,
    /// `pipeline` copies of the request, back to back.
    batch: &'a [u8],
    request_len: usize,
    pipeline: usize,
    keep_alive: bool,
    head_requests: bool,
    timeout: Duration,
    read_buffer: usize,
    /// Counters are reset when this instant passes (end of warm-up).
    measure_from: Instant,
    /// Duration runs end here; count runs have none.
    deadline: Option<Instant>,
}

/// One thread's counters.
struct Stats {
    elapsed: Duration,
    requests: u64,
    status: StatusCounts,
    errors: ErrorCounts,
    bytes_read: u64,
    bytes_written: u64,
    connects: u64,
    latency: Histogram<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No socket; (re)opened once `retry_at` has passed.
    Idle,
    /// Non-blocking connect in progress.
    Connecting,
    /// Connected: writing a batch and/or reading its responses.
    Ready,
    /// No more requests to send (count runs): stays closed.
    Done,
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    Connect,
    Read,
    Write,
    Timeout,
    Parse,
    Closed,
}

struct Conn {
    sock: Option<Socket>,
    /// Bumped on every close, so stale events for an old socket are ignored.
    generation: u32,
    phase: Phase,
    retry_at: Instant,
    /// Requests of the current batch without a response yet.
    in_flight: usize,
    /// Requests set aside for the first batch while connecting (count runs),
    /// so that no connection is opened just to find nothing left to send.
    reserved: usize,
    /// Bytes of the current batch, and how many of them are written.
    batch_len: usize,
    written: usize,
    /// EPOLLOUT is registered (a write is blocked).
    want_write: bool,
    /// The server said it closes after the last response.
    server_closes: bool,
    /// When the current batch was written (or the connect started, in
    /// connection-per-request mode): latency and timeouts count from here.
    since: Instant,
    /// INVARIANT: `buf[..filled]` are received bytes the parser has not consumed.
    buf: Box<[u8]>,
    filled: usize,
    parser: ResponseParser,
}

struct Worker<'p, 'b> {
    plan: &'p Plan<'b>,
    epoll: Epoll,
    conns: Vec<Conn>,
    /// Connections waiting to be (re)opened; each `Idle` connection is here once.
    idle: Vec<usize>,
    /// Scratch list for `idle` while it is being processed (keeps its capacity).
    reopening: Vec<usize>,
    /// Requests this thread may still send (count runs only).
    to_issue: Option<u64>,
    /// Requests sent and not yet answered or failed, over all connections.
    in_flight: u64,
    /// Sum of the connections' `reserved`.
    reserved: u64,
    measuring: bool,
    measure_start: Instant,
    stats: Stats,
}

/// Epoll wake-up period for timeouts and deadlines.
const TICK: Duration = Duration::from_millis(50);
/// Pause before reconnecting after a failed connect.
const RETRY: Duration = Duration::from_millis(10);

impl<'p, 'b> Worker<'p, 'b> {
    fn new(
        plan: &'p Plan<'b>,
        connections: usize,
        quota: Option<u64>,
        cpu: Option<usize>,
    ) -> Result<Self, LoadError> {
        if let Some(cpu) = cpu {
            pin_current_thread(cpu)?;
        }
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| LoadError::Io {
            what: "creating an epoll instance",
            source: e.into(),
        })?;
        let now = Instant::now();
        let conns = (0..connections)
            .map(|_| Conn {
                sock: None,
                generation: 0,
                phase: Phase::Idle,
                retry_at: now,
                in_flight: 0,
                reserved: 0,
                batch_len: 0,
                written: 0,
                want_write: false,
                server_closes: false,
                since: now,
                buf: vec![0; plan.read_buffer].into_boxed_slice(),
                filled: 0,
                parser: ResponseParser::new(plan.head_requests),
            })
            .collect();
        Ok(Worker {
            plan,
            epoll,
            conns,
            idle: (0..connections).collect(),
            reopening: Vec::with_capacity(connections),
            to_issue: quota,
            in_flight: 0,
            reserved: 0,
            measuring: false,
            measure_start: now,
            stats: Stats {
                elapsed: Duration::ZERO,
                requests: 0,
                status: StatusCounts::default(),
                errors: ErrorCounts::default(),
                bytes_read: 0,
                bytes_written: 0,
                connects: 0,
                latency: new_histogram(),
            },
        })
    }

    fn run(mut self) -> Result<Stats, LoadError> {
        let mut events = vec![EpollEvent::empty(); self.conns.len().clamp(16, 1024)];
        let mut next_tick = Instant::now() + TICK;
        let mut now = Instant::now();
        loop {
            if !self.measuring && now >= self.plan.measure_from {
                self.start_measuring(now);
            }
            if self.plan.deadline.is_some_and(|d| now >= d)
                || (self.to_issue == Some(0) && self.in_flight == 0 && self.reserved == 0)
            {
                break;
            }
            if now >= next_tick {
                self.expire(now);
                next_tick = now + TICK;
            }
            let mut wake = next_tick;
            if !self.idle.is_empty() {
                std::mem::swap(&mut self.idle, &mut self.reopening);
                for k in 0..self.reopening.len() {
                    let i = self.reopening[k];
                    let conn = &self.conns[i];
                    if conn.phase != Phase::Idle {
                        continue;
                    }
                    if conn.retry_at <= now {
                        self.open(i, now);
                    } else {
                        self.idle.push(i);
                    }
                }
                self.reopening.clear();
                // Including connections whose reopening just failed.
                for &i in &self.idle {
                    wake = wake.min(self.conns[i].retry_at);
                }
            }
            if let Some(deadline) = self.plan.deadline {
                wake = wake.min(deadline);
            }
            if !self.measuring {
                wake = wake.min(self.plan.measure_from);
            }
            let wait = wake.saturating_duration_since(now);
            // Round up so that a sub-millisecond wait does not spin.
            let millis = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let n = match self.epoll.wait(&mut events, EpollTimeout::from(millis)) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    return Err(LoadError::Io {
                        what: "waiting on epoll",
                        source: e.into(),
                    });
                }
            };
            for event in &events[..n] {
                self.handle(event.data(), event.events());
            }
            now = Instant::now();
        }
        self.stats.elapsed = now.saturating_duration_since(self.measure_start);
        Ok(self.stats)
    }

    /// Drops warm-up counts: measuring starts now.
    fn start_measuring(&mut self, now: Instant) {
        self.measuring = true;
        self.measure_start = now;
        let s = &mut self.stats;
        s.requests = 0;
        s.status = StatusCounts::default();
        s.errors = ErrorCounts::default();
        s.bytes_read = 0;
        s.bytes_written = 0;
        s.connects = 0;
        s.latency.reset();
    }

    fn handle(&mut self, token: u64, flags: EpollFlags) {
        let i = (token & u64::from(u32::MAX)) as usize;
        let conn = &self.conns[i];
        if u64::from(conn.generation) != token >> 32 || conn.sock.is_none() {
            return; // an event for a socket closed earlier in this batch
        }
        match conn.phase {
            Phase::Connecting => self.finish_connect(i),
            Phase::Ready => {
                if flags.contains(EpollFlags::EPOLLOUT) && conn.want_write {
                    self.write(i);
                }
                let readable = EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR;
                if flags.intersects(readable) && self.conns[i].phase == Phase::Ready {
                    self.read(i);
                }
            }
            Phase::Idle | Phase::Done => {}
        }
    }

    fn open(&mut self, i: usize, now: Instant) {
        if self.conns[i].phase != Phase::Idle {
            return;
        }
        if self.to_issue == Some(0) {
            self.conns[i].phase = Phase::Done;
            return;
        }
        let sock = match self.connect() {
            Ok(sock) => sock,
            Err(_) => return self.fail(i, Failure::Connect, now),
        };
        let conn = &mut self.conns[i];
        let token = (u64::from(conn.generation) << 32) | i as u64;
        let interest = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT;
        if self
            .epoll
            .add(&sock, EpollEvent::new(interest, token))
            .is_err()
        {
            return self.fail(i, Failure::Connect, now);
        }
        conn.sock = Some(sock);
        conn.phase = Phase::Connecting;
        conn.since = now;
        if let Some(left) = &mut self.to_issue {
            let k = (*left).min(self.plan.pipeline as u64);
            *left -= k;
            conn.reserved = k as usize;
            self.reserved += k;
        }
    }

    fn connect(&self) -> io::Result<Socket> {
        let sock = Socket::new(self.plan.domain, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        sock.set_tcp_nodelay(true)?;
        match sock.connect(&self.plan.addr) {
            Ok(()) => Ok(sock),
            Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => Ok(sock),
            Err(e) => Err(e),
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let now = Instant::now();
        let conn = &mut self.conns[i];
        let Some(sock) = &conn.sock else { return };
        match sock.take_error() {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return self.fail(i, Failure::Connect, now),
        }
        let token = (u64::from(conn.generation) << 32) | i as u64;
        if self
            .epoll
            .modify(sock, &mut EpollEvent::new(EpollFlags::EPOLLIN, token))
            .is_err()
        {
            return self.fail(i, Failure::Connect, now);
        }
        conn.phase = Phase::Ready;
        self.stats.connects += 1;
        self.send_batch(i, now);
    }

    /// Writes the next batch of requests, or retires the connection when the
    /// request count is used up.
    fn send_batch(&mut self, i: usize, now: Instant) {
        let reserved = std::mem::take(&mut self.conns[i].reserved);
        self.reserved -= reserved as u64;
        let k = match &mut self.to_issue {
            _ if reserved > 0 => reserved,
            Some(left) => {
                let k = (*left).min(self.plan.pipeline as u64);
                *left -= k;
                k as usize
            }
            None => self.plan.pipeline,
        };
        if k == 0 {
            self.close(i, false);
            self.conns[i].phase = Phase::Done;
            return;
        }
        self.in_flight += k as u64;
        let conn = &mut self.conns[i];
        conn.in_flight = k;
        conn.batch_len = k * self.plan.request_len;
        conn.written = 0;
        if self.plan.keep_alive {
            conn.since = now;
        }
        self.write(i);
    }

    fn write(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        let Some(sock) = &conn.sock else { return };
        while conn.written < conn.batch_len {
            match (&*sock).write(&self.plan.batch[conn.written..conn.batch_len]) {
                Ok(0) => return self.fail(i, Failure::Write, Instant::now()),
                Ok(n) => {
                    conn.written += n;
                    self.stats.bytes_written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !conn.want_write {
                        conn.want_write = true;
                        let token = (u64::from(conn.generation) << 32) | i as u64;
                        let interest = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT;
                        if self
                            .epoll
                            .modify(sock, &mut EpollEvent::new(interest, token))
                            .is_err()
                        {
                            return self.fail(i, Failure::Write, Instant::now());
                        }
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, Failure::Write, Instant::now()),
            }
        }
        if conn.want_write {
            conn.want_write = false;
            let token = (u64::from(conn.generation) << 32) | i as u64;
            if self
                .epoll
                .modify(sock, &mut EpollEvent::new(EpollFlags::EPOLLIN, token))
                .is_err()
            {
                self.fail(i, Failure::Write, Instant::now());
            }
        }
    }

    fn read(&mut self, i: usize) {
        loop {
            let conn = &mut self.conns[i];
            let Some(sock) = &conn.sock else { return };
            let n = match (&*sock).read(&mut conn.buf[conn.filled..]) {
                Ok(0) => return self.eof(i),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(i, Failure::Read, Instant::now()),
            };
            let now = Instant::now();
            let filled_buffer = conn.filled + n == conn.buf.len();
            conn.filled += n;
            self.stats.bytes_read += n as u64;
            let latency = now.saturating_duration_since(conn.since);
            let mut pos = 0;
            while pos < conn.filled {
                match conn.parser.feed(&conn.buf[pos..conn.filled]) {
                    Ok(Progress::Complete {
                        consumed,
                        status,
                        close,
                    }) => {
                        pos += consumed;
                        if conn.in_flight == 0 {
                            // A response nobody asked for: the stream is out of step.
                            return self.fail(i, Failure::Parse, now);
                        }
                        conn.in_flight -= 1;
                        self.in_flight -= 1;
                        conn.server_closes |= close;
                        record(&mut self.stats, status, latency);
                    }
                    Ok(Progress::Partial { consumed }) => {
                        pos += consumed;
                        break;
                    }
                    Err(_) => return self.fail(i, Failure::Parse, now),
                }
            }
            conn.buf.copy_within(pos..conn.filled, 0);
            conn.filled -= pos;
            if conn.filled == conn.buf.len() {
                // A head (or chunk line) that does not fit in the read buffer.
                return self.fail(i, Failure::Parse, now);
            }
            if conn.in_flight == 0 && conn.written == conn.batch_len {
                if !self.plan.keep_alive || conn.server_closes {
                    // Done with this connection: replace it at once.
                    self.close(i, !self.plan.keep_alive);
                    self.conns[i].retry_at = now;
                } else {
                    self.send_batch(i, now);
                }
                return;
            }
            if !filled_buffer {
                return; // the socket is very likely drained: wait for the next event
            }
        }
    }

    /// The server closed its side.
    fn eof(&mut self, i: usize) {
        let now = Instant::now();
        let conn = &mut self.conns[i];
        if let Some(status) = conn.parser.finish_at_eof() {
            if conn.in_flight > 0 {
                conn.in_flight -= 1;
                self.in_flight -= 1;
                let latency = now.saturating_duration_since(conn.since);
                record(&mut self.stats, status, latency);
            }
        }
        if conn.in_flight > 0 || !conn.parser.is_between_responses() {
            return self.fail(i, Failure::Closed, now);
        }
        self.close(i, false);
        self.conns[i].retry_at = now;
    }

    /// Counts a failure, drops the connection's unanswered requests and
    /// schedules a replacement connection.
    fn fail(&mut self, i: usize, failure: Failure, now: Instant) {
        let e = &mut self.stats.errors;
        match failure {
            Failure::Connect => e.connect += 1,
            Failure::Read => e.read += 1,
            Failure::Write => e.write += 1,
            Failure::Timeout => e.timeout += 1,
            Failure::Parse => e.parse += 1,
            Failure::Closed => e.closed += 1,
        }
        let connecting = self.conns[i].phase != Phase::Ready;
        self.close(i, false);
        let mut delay = Duration::ZERO;
        if connecting {
            delay = RETRY;
            // A failed connect uses up one request, so count runs end even
            // when the server is gone.
            if let Some(left) = &mut self.to_issue {
                *left = left.saturating_sub(1);
            }
        }
        self.conns[i].retry_at = now + delay;
    }

    /// Closes connection `i` (if open) and forgets its state. With `reset`,
    /// the close sends an RST (no TIME_WAIT left on this side).
    fn close(&mut self, i: usize, reset: bool) {
        let conn = &mut self.conns[i];
        if let Some(sock) = conn.sock.take() {
            if reset {
                let _ = sock.set_linger(Some(Duration::ZERO));
            }
            drop(sock); // closing the only descriptor also removes it from epoll
        }
        self.in_flight -= conn.in_flight as u64;
        conn.in_flight = 0;
        let reserved = std::mem::take(&mut conn.reserved);
        if let Some(left) = &mut self.to_issue {
            *left += reserved as u64;
        }
        self.reserved -= reserved as u64;
        conn.generation = conn.generation.wrapping_add(1);
        conn.phase = Phase::Idle;
        conn.batch_len = 0;
        conn.written = 0;
        conn.want_write = false;
        conn.server_closes = false;
        conn.filled = 0;
        conn.parser.reset();
        self.idle.push(i);
    }

    /// Fails connections whose connect or batch has waited past the timeout.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let waiting =
                c.phase == Phase::Connecting || (c.phase == Phase::Ready && c.in_flight > 0);
            if waiting && now.saturating_duration_since(c.since) > self.plan.timeout {
                self.fail(i, Failure::Timeout, now);
            }
        }
    }
}

#[inline]
fn record(stats: &mut Stats, status: u16, latency: Duration) {
    stats.requests += 1;
    stats.status.add(status);
    stats
        .latency
        .saturating_record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
}

/// Part `t` of `total` split over `parts` as evenly as possible.
fn share(total: u64, parts: usize, t: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((t as u64) < total % parts)
}

/// Histogram from 1 ns to 60 s with 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant histogram bounds are valid")
}

fn pin_current_thread(cpu: usize) -> Result<(), LoadError> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| LoadError::Pin {
        cpu,
        source: e.into(),
    })?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| LoadError::Pin {
        cpu,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(100u64, 1usize), (100, 3), (7, 4), (1, 2)] {
            let sum: u64 = (0..parts).map(|t| share(total, parts, t)).sum();
            assert_eq!(sum, total);
            let max = (0..parts).map(|t| share(total, parts, t)).max().unwrap();
            let min = (0..parts).map(|t| share(total, parts, t)).min().unwrap();
            assert!(max - min <= 1);
        }
    }

    #[test]
    fn pinning_to_a_missing_cpu_is_an_error() {
        assert!(matches!(
            pin_current_thread(100_000),
            Err(LoadError::Pin { cpu: 100_000, .. })
        ));
    }
}

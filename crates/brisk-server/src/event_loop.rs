//! One event loop: an epoll set, its connections (a slab), its timer wheel,
//! and the ownership hand-off that lets another thread take the loop over
//! while a handler blocks.
//!
//! # Ownership
//!
//! `LoopState` sits behind a mutex that only the loop's current owner holds.
//! To drive a connection the owner takes the `Conn` out of its slab slot
//! (the slot is marked checked out), publishes "away" in `ctl` (an odd
//! value), unlocks, and drives the connection — which may run the handler
//! for as long as it likes. Afterwards it tries to flip `ctl` back to even:
//!
//! * success: nobody took over; it relocks the (uncontended) mutex and files
//!   the connection back in its slot;
//! * failure: the monitor saw it away for `blocking_threshold` and a spare
//!   thread claimed the loop with its own compare-and-swap (the protocol is
//!   in `handoff.rs`). The old thread no longer owns anything but its
//!   `Conn`: it hands the `Conn` back through `returns` (waking the loop
//!   with its eventfd) and leaves.
//!
//! Events already taken from `epoll_wait` live in `LoopState` with a cursor,
//! so the thread taking over continues the same batch. Timers and events
//! name connections by (slot index, generation), never by pointer, and skip
//! slots that are checked out.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use log::{debug, error, warn};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use socket2::{Socket, TcpKeepalive};

use crate::conn::{Conn, Next, Phase};
use crate::ctx::ConnInfo;
use crate::error::ServerError;
use crate::handoff::{Ctl, Returns};
use crate::hijack::Hijacked;
use crate::hooks::ConnState;
use crate::push::Wake;
use crate::respond::write_error;
use crate::scratch::{Scratch, WRITE};
use crate::server::{Core, Run};
use crate::slab::Slab;
use crate::sys;
use crate::timer::{Entry, Wheel};
use crate::transport::{LoopTransport, TcpTransport};

/// The loop's connections: the state machine over a TCP socket, plain or
/// (feature `tls`) TLS.
pub(crate) type TcpConn = Conn<LoopTransport>;

pub(crate) const MAX_EVENTS: usize = 1024;
/// Connections that used up their turn budget resumed per `epoll_wait`.
pub(crate) const READY_PER_POLL: usize = 16;
const MAX_ACCEPTS_PER_EVENT: usize = 64;
const TOKEN_WAKE: u64 = u64::MAX;
const TOKEN_LISTENER_BASE: u64 = u64::MAX - 1024;
/// After EMFILE with nothing to reclaim, accepting pauses this long.
pub(crate) const ACCEPT_PAUSE_MS: u64 = 100;
/// At most one descriptor-exhaustion log line per this many ms.
pub(crate) const EMFILE_LOG_EVERY_MS: u64 = 10_000;

pub(crate) struct LoopShared {
    pub(crate) idx: usize,
    epoll: Epoll,
    pub(crate) wake: EventFd,
    /// The take-over word: whether the owner is in loop code or away
    /// driving a connection (maybe in a handler), and since when
    /// (`sys::monotonic_us`).
    pub(crate) ctl: Ctl,
    /// Kernel thread id of the thread that owns the loop (0 = unknown), for
    /// the monitor to tell a blocked owner from a preempted one.
    pub(crate) owner_tid: std::sync::atomic::AtomicI32,
    state: Mutex<LoopState>,
    returns: Returns<Returned>,
    /// Connections a [`BodySender`](crate::BodySender) write woke: driven
    /// again at the next wake-up.
    pub(crate) woken: Mutex<Vec<u64>>,
    /// The io_uring loop that runs instead of the epoll one (`None`:
    /// epoll; see `uring::run_loop`).
    #[cfg(feature = "uring")]
    pub(crate) uring: Option<crate::uring::UringLoop>,
}

struct Returned {
    idx: u32,
    generation: u32,
    conn: Box<TcpConn>,
}

struct LoopState {
    slab: Slab,
    out: usize,
    events: Vec<EpollEvent>,
    ev_len: usize,
    ev_cursor: usize,
    wheel: Wheel,
    due: Vec<Entry>,
    ready: Vec<u64>,
    listeners: Vec<Arc<Socket>>,
    accepting: bool,
    accept_resume_at: u64,
    emfile_logged_at: u64,
    shutdown_seen: bool,
    now_ms: u64,
    now: Instant,
}

impl LoopShared {
    pub(crate) fn new(
        idx: usize,
        listeners: Vec<Arc<Socket>>,
        core: &Core,
    ) -> io::Result<LoopShared> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(&wake, EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_WAKE))?;
        for (i, l) in listeners.iter().enumerate() {
            epoll.add(l.as_fd(), listener_event(i, listeners.len() > 1))?;
        }
        let now_ms = core.now_ms();
        Ok(LoopShared {
            idx,
            epoll,
            wake,
            ctl: Ctl::new(),
            owner_tid: std::sync::atomic::AtomicI32::new(0),
            state: Mutex::new(LoopState {
                slab: Slab::new(),
                out: 0,
                events: vec![EpollEvent::empty(); MAX_EVENTS],
                ev_len: 0,
                ev_cursor: 0,
                wheel: Wheel::new(now_ms),
                due: Vec::new(),
                ready: Vec::new(),
                listeners,
                accepting: true,
                accept_resume_at: 0,
                emfile_logged_at: 0,
                shutdown_seen: false,
                now_ms,
                now: Instant::now(),
            }),
            returns: Returns::new(),
            woken: Mutex::new(Vec::new()),
            #[cfg(feature = "uring")]
            uring: None,
        })
    }

    /// Wakes the loop (shutdown, returned connections).
    pub(crate) fn wake(&self) {
        let _ = self.wake.write(1);
    }

    /// A worker is done with a connection of this loop: it is watched
    /// again, then handed back through `returns` (the loop files it in its
    /// slot and drives it).
    fn give_back(&self, idx: u32, generation: u32, conn: Box<TcpConn>) {
        if let Err(e) = self
            .epoll
            .add(conn.io.socket().as_fd(), conn_event(idx, generation))
        {
            error!(
                "loop {}: cannot watch conn {} again after a worker: {e}",
                self.idx, conn.info.id
            );
        }
        self.returns.give(Returned {
            idx,
            generation,
            conn,
        });
        LoopShared::wake(self);
    }
}

impl Wake for LoopShared {
    fn wake(&self, token: u64) {
        lock(&self.woken).push(token);
        LoopShared::wake(self);
    }
}

fn listener_event(i: usize, own: bool) -> EpollEvent {
    // A listener shared by all loops wakes only one of them per connection.
    let mut flags = EpollFlags::EPOLLIN;
    if !own {
        flags |= EpollFlags::EPOLLEXCLUSIVE;
    }
    EpollEvent::new(flags, TOKEN_LISTENER_BASE + i as u64)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Loop code does not panic while holding these locks (handlers run
    // unlocked, under catch_unwind); recover the data if it ever happened.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[inline]
pub(crate) fn token(idx: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(idx)
}

/// How a connection is registered: edge-triggered, both directions.
fn conn_event(idx: u32, generation: u32) -> EpollEvent {
    EpollEvent::new(
        EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET,
        token(idx, generation),
    )
}

/// Work for the threads that serve connections away from their loops.
pub(crate) enum WorkerJob {
    /// Serve a `Detaching` connection's request (its body streamed), then
    /// give the connection back to its loop.
    Serve {
        conn: Box<TcpConn>,
        idx: u32,
        generation: u32,
        home: Arc<LoopShared>,
    },
    /// The same for a connection of an io_uring loop.
    #[cfg(feature = "uring")]
    Ring(crate::uring::RingJob),
}

/// On a hijacked connection's own thread: sends its response, then runs
/// its hijack handler with the socket (blocking).
#[allow(clippy::boxed_local)] // the connection lives in a box in the slab
fn run_hijack(core: &Core, mut conn: Box<TcpConn>) {
    let mut s = Scratch::new(core);
    let parts = conn.hijack_parts(&mut s, core);
    s.release(core);
    let id = conn.info.id;
    match parts {
        Ok((handler, buffered)) => {
            let Some(sock) = conn.into_io().into_socket() else {
                // Unreachable: a TLS connection's hijack is answered 501
                // before it gets here (`Transport::can_hijack`).
                error!("conn {id}: a TLS connection cannot be hijacked; closed");
                core.hijack_ended(id);
                return;
            };
            let _ = sock.set_nonblocking(false);
            let stream = std::net::TcpStream::from(sock);
            core.hijack_started(id, &stream);
            let hijacked = Hijacked::new(stream, buffered);
            if catch_unwind(AssertUnwindSafe(|| handler(hijacked))).is_err() {
                error!("conn {id}: hijack handler panicked; its connection is closed");
            }
        }
        Err(e) => debug!("conn {id}: the response before a hijack failed: {e}"),
    }
    core.hijack_ended(id);
}

impl WorkerJob {
    /// Runs the job on this worker thread.
    pub(crate) fn run(self, core: &Core) {
        match self {
            WorkerJob::Serve {
                mut conn,
                idx,
                generation,
                home,
            } => {
                let mut s = Scratch::new(core);
                s.waker = Some(home.clone());
                conn.serve_detached(&mut s, core, core.now_ms());
                s.release(core);
                home.give_back(idx, generation, conn);
            }
            #[cfg(feature = "uring")]
            WorkerJob::Ring(job) => job.run(core),
        }
    }
}

/// Runs loop `li` on this thread until the server stops or another thread
/// takes the loop over. `seq` is the even `ctl` value this thread owns.
pub(crate) fn run_loop(run: &Run, li: usize, mut seq: u64) {
    let shared = &run.loops[li];
    let core = &*run.core;
    let mut scratch = Scratch::new(core);
    scratch.waker = Some(run.loops[li].clone());
    let mut st = lock(&shared.state);
    shared
        .owner_tid
        .store(crate::sys::thread_id(), Ordering::Relaxed);
    loop {
        if st.ev_cursor >= st.ev_len {
            if st.finished(core) {
                drop(st);
                scratch.release(core);
                run.loop_done(li);
                return;
            }
            st.slab.trim();
            st.poll(shared, core);
            scratch.unix_secs = brisk_http::date::unix_secs();
            st.handle_timers(&mut scratch, core);
        }
        while st.ev_cursor < st.ev_len {
            let ev = st.events[st.ev_cursor];
            st.ev_cursor += 1;
            let tok = ev.data();
            if tok == TOKEN_WAKE {
                st.handle_wake(shared, core);
                continue;
            }
            if tok >= TOKEN_LISTENER_BASE {
                st.accept(
                    shared,
                    core,
                    (tok - TOKEN_LISTENER_BASE) as usize,
                    &mut scratch,
                );
                continue;
            }
            let (idx, generation) = (tok as u32, (tok >> 32) as u32);
            let Some(mut conn) = st.checkout(idx, generation) else {
                continue;
            };
            let flags = ev.events();
            if flags.intersects(
                EpollFlags::EPOLLIN
                    | EpollFlags::EPOLLRDHUP
                    | EpollFlags::EPOLLHUP
                    | EpollFlags::EPOLLERR,
            ) {
                conn.on_readable();
                if flags.intersects(EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP) {
                    conn.on_hangup();
                }
            }
            if flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR)
            {
                conn.on_writable();
            }
            let (now_ms, now) = (st.now_ms, st.now);

            // Away: the loop may be taken over while we drive this one.
            let away = shared.ctl.go_away(seq, sys::monotonic_us(), &run.gate);
            drop(st);
            // A PROXY protocol header first (proxy.rs); once it is read,
            // the connection proper in the same turn.
            let preface = if conn.in_preface() {
                crate::proxy::preface(&mut conn, &mut scratch, core)
            } else {
                None
            };
            let next = preface.unwrap_or_else(|| conn.drive(&mut scratch, core, now_ms, now));
            if !shared.ctl.come_back(away) {
                // Taken over: hand the connection back and leave.
                let _ = next;
                hand_back(
                    shared,
                    core,
                    li,
                    Returned {
                        idx,
                        generation,
                        conn,
                    },
                    &mut scratch,
                );
                return;
            }
            seq = away + 1;
            st = lock(&shared.state);
            st.checkin(idx, generation, conn, next, run, li, &mut scratch);
        }
    }
}

/// The loop was taken over while this thread drove `r`'s connection: the
/// connection goes back to the loop (its new owner picks it up from
/// `returns`) and this thread's spare buffers to the pool.
#[cold]
#[inline(never)]
fn hand_back(shared: &LoopShared, core: &Core, li: usize, r: Returned, scratch: &mut Scratch) {
    debug!(
        "loop {li}: taken over while a handler ran; returning conn {}",
        r.conn.info.id
    );
    shared.returns.give(r);
    shared.wake();
    scratch.release(core);
}

impl LoopState {
    /// Whether the loop has nothing left to do after a shutdown.
    fn finished(&mut self, core: &Core) -> bool {
        if !core.shutting_down() {
            return false;
        }
        if self.slab.live() == 0 && self.out == 0 {
            return true;
        }
        // Past the shutdown deadline connections are closed by force.
        self.now_ms = core.now_ms();
        false
    }

    fn poll(&mut self, shared: &LoopShared, core: &Core) {
        let now_ms = core.now_ms();
        if !self.accepting && !core.shutting_down() && now_ms >= self.accept_resume_at {
            self.resume_accept(shared);
        }
        // Connections that used up their turns wait behind new events: at
        // most READY_PER_POLL of them per batch, so a new connection or a
        // newly readable one is looked at within a few quanta.
        let reserve = self.ready.len().min(READY_PER_POLL);
        let mut timeout: Option<u64> = if reserve > 0 {
            Some(0)
        } else {
            self.wheel.next_timeout(now_ms)
        };
        if !self.accepting && !core.shutting_down() {
            let t = self.accept_resume_at.saturating_sub(now_ms);
            timeout = Some(timeout.map_or(t, |x| x.min(t)));
        }
        if core.shutting_down() {
            let t = core.shutdown_deadline_ms().saturating_sub(now_ms).max(1);
            timeout = Some(timeout.map_or(t, |x| x.min(t)));
        }
        let to = match timeout {
            None => EpollTimeout::NONE,
            Some(ms) => EpollTimeout::try_from(ms.min(60_000)).unwrap_or(EpollTimeout::NONE),
        };
        let cap = MAX_EVENTS - reserve;
        let n = match shared.epoll.wait(&mut self.events[..cap], to) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => {
                error!("loop {}: epoll_wait failed: {e}", shared.idx);
                std::thread::sleep(std::time::Duration::from_millis(10));
                0
            }
        };
        // Connections that used up their turn budget get another turn.
        let mut k = n;
        for tok in self.ready.drain(..reserve) {
            self.events[k] = EpollEvent::new(EpollFlags::EPOLLIN, tok);
            k += 1;
        }
        self.ev_len = k;
        self.ev_cursor = 0;
        self.now_ms = core.now_ms();
        self.now = Instant::now();
    }

    fn handle_timers(&mut self, s: &mut Scratch, core: &Core) {
        let now = self.now_ms;
        let mut due = std::mem::take(&mut self.due);
        self.wheel.advance(now, &mut due);
        for e in due.drain(..) {
            let Some(slot) = self.slab.slots.get_mut(e.idx as usize) else {
                continue;
            };
            if slot.generation != e.generation || !self.wheel.fire(e, &mut slot.timer, now) {
                continue;
            }
            let Some(mut conn) = slot.conn.take() else {
                continue; // checked out: its driver sets a new deadline
            };
            let next = conn.on_timeout(s, core, now);
            if next == Next::Close && core.cfg.log_all_errors {
                debug!(
                    "conn {}: timed out in phase {:?}",
                    conn.info.id,
                    conn.phase()
                );
            }
            self.put_back(e.idx, e.generation, conn, next, core, s);
        }
        // A burst's deadlines do not keep their memory.
        due.shrink_to(1024);
        self.due = due;
        if core.shutting_down() && now >= core.shutdown_deadline_ms() {
            self.close_all(core, s);
        }
    }

    fn handle_wake(&mut self, shared: &LoopShared, core: &Core) {
        let _ = shared.wake.read();
        // Connections whose pushed body has new bytes: drive them again
        // (stale names miss at checkout).
        self.ready.append(&mut lock(&shared.woken));
        let returned = shared.returns.take_all();
        for r in returned {
            if let Some(slot) = self.slab.slots.get_mut(r.idx as usize) {
                if slot.generation == r.generation && slot.out {
                    slot.out = false;
                    self.out -= 1;
                    slot.missed = false;
                    slot.conn = Some(r.conn);
                    self.ready.push(token(r.idx, r.generation));
                    continue;
                }
            }
            error!(
                "loop {}: a returned connection has no slot; closing it",
                shared.idx
            );
        }
        if core.shutting_down() && !self.shutdown_seen {
            self.shutdown_seen = true;
            // Close the listeners now, not when serving ends: a client that
            // connects during the drain is refused at once (or, with
            // SO_REUSEPORT, sent to another process still listening on the
            // port) instead of waiting in the backlog to be reset at exit.
            // A listener shared by the loops closes with the last of them.
            for l in self.listeners.drain(..) {
                let _ = shared.epoll.delete(l.as_fd());
            }
            self.accepting = false;
            // Busy connections close after their response. Idle ones (and
            // those waiting for a PROXY header) are read once more (a
            // request whose edge was not handled yet is answered, with
            // `Connection: close`); finding nothing, they close with a FIN
            // and linger (`put_back`, `close_idle_for_shutdown`).
            for i in 0..self.slab.slots.len() {
                let slot = &mut self.slab.slots[i];
                let Some(conn) = slot.conn.as_mut() else {
                    continue;
                };
                if !conn.begin_shutdown() {
                    conn.on_readable();
                    self.ready.push(token(i as u32, slot.generation));
                }
            }
        }
    }

    fn close_all(&mut self, core: &Core, s: &mut Scratch) {
        for i in 0..self.slab.slots.len() {
            let generation = self.slab.slots[i].generation;
            if let Some(conn) = self.slab.slots[i].conn.take() {
                self.put_back(i as u32, generation, conn, Next::Close, core, s);
            }
        }
    }

    fn checkout(&mut self, idx: u32, generation: u32) -> Option<Box<TcpConn>> {
        let slot = self.slab.slots.get_mut(idx as usize)?;
        if slot.generation != generation {
            return None;
        }
        if slot.out {
            slot.missed = true;
            return None;
        }
        let conn = slot.conn.take()?;
        slot.out = true;
        self.out += 1;
        Some(conn)
    }

    #[allow(clippy::too_many_arguments)]
    fn checkin(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<TcpConn>,
        mut next: Next,
        run: &Run,
        li: usize,
        s: &mut Scratch,
    ) {
        let core = &*run.core;
        if next == Next::Detach {
            return self.detach(idx, generation, conn, run, li, s);
        }
        let Some(slot) = self.slab.slots.get_mut(idx as usize) else {
            return;
        };
        slot.out = false;
        self.out -= 1;
        if std::mem::take(&mut slot.missed) && next == Next::Keep {
            // The missed event's kind is unknown: assume both directions.
            conn.on_readable();
            conn.on_writable();
            next = Next::Again;
        }
        self.put_back(idx, generation, conn, next, core, s);
    }

    /// Hands a `Detaching` connection to a worker thread: it leaves the
    /// epoll set and its slot stays checked out until the worker gives it
    /// back (`LoopShared::give_back`). With no worker free, its request is
    /// answered 503 here.
    #[cold]
    #[inline(never)]
    fn detach(
        &mut self,
        idx: u32,
        generation: u32,
        conn: Box<TcpConn>,
        run: &Run,
        li: usize,
        s: &mut Scratch,
    ) {
        let core = &*run.core;
        let shared = &run.loops[li];
        let _ = shared.epoll.delete(conn.io.socket().as_fd());
        if conn.is_hijacking() {
            // The connection leaves the server: its slot is freed and it no
            // longer counts as open.
            core.conn_closed(&conn);
            core.hooks
                .conn_state(conn.info.id, conn.info.remote, ConnState::Hijacked);
            if let Some(o) = &s.obs {
                o.hijacked();
            }
            if let Some(slot) = self.slab.slots.get_mut(idx as usize) {
                slot.out = false;
                self.out -= 1;
                slot.missed = false;
                self.wheel.arm(&mut slot.timer, idx, generation, 0);
                self.slab.free(idx);
            }
            // A thread of its own: the handler may keep the connection as
            // long as it likes, and `serve` does not wait for it.
            core.hijacked.fetch_add(1, Ordering::AcqRel);
            let owner = run.core.clone();
            let spawned = std::thread::Builder::new()
                .name("brisk-hijack".into())
                .spawn(move || run_hijack(&owner, conn));
            if let Err(e) = spawned {
                error!("loop {li}: cannot start a thread for a hijacked connection ({e}); closed");
                core.hijacked.fetch_sub(1, Ordering::AcqRel);
            }
            return;
        }
        // The slot stays checked out (as while it was driven).
        let job = WorkerJob::Serve {
            conn,
            idx,
            generation,
            home: shared.clone(),
        };
        if let Err(WorkerJob::Serve { mut conn, .. }) = run.workers.serve(job) {
            if core.cfg.log_all_errors {
                warn!(
                    "loop {li}: no worker free (max_worker_conns) for a streamed request; answered 503"
                );
            }
            let _ = shared
                .epoll
                .add(conn.io.socket().as_fd(), conn_event(idx, generation));
            conn.refuse_detached(s, core);
            if let Some(slot) = self.slab.slots.get_mut(idx as usize) {
                slot.out = false;
                self.out -= 1;
                slot.missed = false;
            }
            self.put_back(idx, generation, conn, Next::Again, core, s);
        }
    }

    /// Files a connection back in its slot (or closes it) and sets its timer.
    fn put_back(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<TcpConn>,
        mut next: Next,
        core: &Core,
        s: &mut Scratch,
    ) {
        // Draining: an idle connection with nothing more to read, or one
        // whose PROXY header has not come, closes (a FIN, then lingering).
        if self.shutdown_seen
            && next != Next::Close
            && conn.is_idle()
            && (!conn.may_read() || conn.in_preface())
        {
            next = conn.close_idle_for_shutdown(s, core, core.now_ms());
        }
        if next == Next::Close {
            self.close_conn(idx, generation, conn, core, s);
            return;
        }
        let slot = &mut self.slab.slots[idx as usize];
        let deadline = conn.deadline(core);
        slot.conn = Some(conn);
        self.wheel.arm(&mut slot.timer, idx, generation, deadline);
        if next == Next::Again {
            self.ready.push(token(idx, generation));
        }
    }

    /// Closes a connection and frees its slot (a new generation for the
    /// slot, so stale events and timers miss).
    #[cold]
    #[inline(never)]
    fn close_conn(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<TcpConn>,
        core: &Core,
        s: &mut Scratch,
    ) {
        // (A connection still in its PROXY preface was never `New`.)
        let announced = !conn.in_preface();
        conn.release(core, s);
        core.conn_closed(&conn);
        if let Some(o) = &s.obs {
            o.closed();
        }
        if announced {
            core.hooks
                .conn_state(conn.info.id, conn.info.remote, ConnState::Closed);
        }
        drop(conn);
        let slot = &mut self.slab.slots[idx as usize];
        self.wheel.arm(&mut slot.timer, idx, generation, 0);
        self.slab.free(idx);
    }

    fn accept(&mut self, shared: &LoopShared, core: &Core, li: usize, s: &mut Scratch) {
        let Some(listener) = self.listeners.get(li).cloned() else {
            return;
        };
        if !self.accepting {
            return;
        }
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            match sys::accept(&listener) {
                Ok((sock, addr)) => {
                    let remote = addr
                        .as_socket()
                        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
                    self.admit(shared, core, s, sock, remote);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_fd_exhaustion(&e) => {
                    self.on_fd_exhaustion(shared, core, s, &e);
                    return;
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM)
                    ) => {}
                Err(e) => {
                    error!("loop {}: accept failed: {e}", shared.idx);
                    return;
                }
            }
        }
    }

    fn admit(
        &mut self,
        shared: &LoopShared,
        core: &Core,
        s: &mut Scratch,
        sock: Socket,
        remote: SocketAddr,
    ) {
        if core.open.fetch_add(1, Ordering::AcqRel) >= core.cfg.concurrency {
            core.open.fetch_sub(1, Ordering::AcqRel);
            if core.cfg.log_all_errors {
                warn!("rejected {remote}: the server is at its concurrency limit");
            }
            reject(core, s, &sock, remote, ServerError::TooManyConnections);
            return;
        }
        // A trusted proxy's connections count against the client address
        // its PROXY header gives (proxy.rs), not its own.
        let preface = core
            .cfg
            .proxy
            .as_ref()
            .is_some_and(|p| p.trusts(remote.ip()));
        let ip_counted = core.cfg.max_conns_per_ip > 0 && !preface;
        if ip_counted && !core.ip_acquire(remote.ip()) {
            core.open.fetch_sub(1, Ordering::AcqRel);
            if core.cfg.log_all_errors {
                warn!("rejected {remote}: too many connections from this address");
            }
            reject(core, s, &sock, remote, ServerError::TooManyConnectionsPerIp);
            return;
        }
        if core.cfg.tcp_nodelay {
            let _ = sock.set_tcp_nodelay(true);
        }
        if core.cfg.tcp_keepalive {
            let ka = TcpKeepalive::new().with_time(core.cfg.tcp_keepalive_period);
            let _ = sock.set_tcp_keepalive(&ka);
        }
        let idx = self.slab.alloc();
        let generation = self.slab.slots[idx as usize].generation;
        let info = ConnInfo {
            remote,
            id: core.next_conn_id(),
            request_num: 0,
            token: token(idx, generation),
        };
        let io = match transport(core, sock, self.now_ms) {
            Ok(io) => io,
            Err(e) => {
                error!(
                    "loop {}: cannot start TLS on a new connection: {e}",
                    shared.idx
                );
                core.open.fetch_sub(1, Ordering::AcqRel);
                if ip_counted {
                    core.ip_release(remote.ip());
                }
                self.slab.unalloc(idx);
                return;
            }
        };
        let mut conn = Box::new(Conn::new(io, info, self.now_ms));
        conn.ip_counted = ip_counted;
        if preface {
            conn.begin_preface();
        }
        let ev = conn_event(idx, generation);
        if let Err(e) = shared.epoll.add(conn.io.socket().as_fd(), ev) {
            error!("loop {}: cannot watch a new connection: {e}", shared.idx);
            core.conn_closed(&conn);
            self.slab.unalloc(idx);
            return;
        }
        // Not readable until epoll says so (it reports data already queued).
        let deadline = conn.deadline(core);
        if !preface {
            core.hooks
                .conn_state(conn.info.id, conn.info.remote, ConnState::New);
        }
        if let Some(o) = &s.obs {
            o.accepted();
        }
        let slot = &mut self.slab.slots[idx as usize];
        slot.conn = Some(conn);
        self.wheel.arm(&mut slot.timer, idx, generation, deadline);
    }

    /// EMFILE/ENFILE: free descriptors by closing the idle keep-alive
    /// connections that have waited longest; with none to close, pause
    /// accepting briefly so the loop neither spins nor floods the log.
    fn on_fd_exhaustion(
        &mut self,
        shared: &LoopShared,
        core: &Core,
        s: &mut Scratch,
        e: &io::Error,
    ) {
        let now = self.now_ms;
        let mut idle: Vec<(u64, u32)> = self
            .slab
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let c = slot.conn.as_ref()?;
                matches!(c.phase(), Phase::Idle | Phase::New).then_some((c.last_active(), i as u32))
            })
            .collect();
        let reclaim = 8.min(idle.len());
        if reclaim > 0 {
            idle.select_nth_unstable(reclaim - 1);
        }
        let mut closed = 0;
        for &(_, i) in &idle[..reclaim] {
            let generation = self.slab.slots[i as usize].generation;
            if let Some(conn) = self.slab.slots[i as usize].conn.take() {
                self.put_back(i, generation, conn, Next::Close, core, s);
                closed += 1;
            }
        }
        if now >= self.emfile_logged_at + EMFILE_LOG_EVERY_MS || self.emfile_logged_at == 0 {
            self.emfile_logged_at = now.max(1);
            warn!(
                "loop {}: accept failed: {e}; closed {closed} idle connections to free descriptors \
                 (raise RLIMIT_NOFILE; this message repeats at most every {}s)",
                shared.idx,
                EMFILE_LOG_EVERY_MS / 1000
            );
        }
        if closed == 0 {
            self.pause_accept(shared, now + ACCEPT_PAUSE_MS);
        }
    }

    fn pause_accept(&mut self, shared: &LoopShared, until: u64) {
        if self.accepting {
            for l in &self.listeners {
                let _ = shared.epoll.delete(l.as_fd());
            }
            self.accepting = false;
        }
        self.accept_resume_at = until;
    }

    fn resume_accept(&mut self, shared: &LoopShared) {
        let own = self.listeners.len() > 1;
        for (i, l) in self.listeners.iter().enumerate() {
            let _ = shared.epoll.add(l.as_fd(), listener_event(i, own));
        }
        self.accepting = true;
    }
}

/// The transport of an accepted socket: TLS when the server has it.
#[inline]
fn transport(core: &Core, sock: Socket, now_ms: u64) -> io::Result<LoopTransport> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &core.tls {
        let t = tls.accept(sock, now_ms).map_err(io::Error::other)?;
        return Ok(LoopTransport::Tls(Box::new(t)));
    }
    let _ = (core, now_ms);
    Ok(LoopTransport::Tcp(TcpTransport::new(sock)))
}

pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Answers a connection refused at accept (best effort: one send, then
/// close), through the error path like every other error response.
#[cold]
#[inline(never)]
pub(crate) fn reject(
    core: &Core,
    s: &mut Scratch,
    sock: &Socket,
    remote: SocketAddr,
    err: ServerError,
) {
    let info = ConnInfo {
        remote,
        id: core.next_conn_id(),
        request_num: 0,
        token: 0,
    };
    #[cfg(feature = "tls")]
    if core.tls.is_some() {
        // No handshake yet, so no way to answer in HTTP: close.
        let _ = (s, sock, info, err);
        return;
    }
    let mut w = s.get_buf(core, WRITE);
    write_error(&mut w, s, core, &info, err, None, false);
    let _ = sys::send(sock, &w);
    let _ = sock.shutdown(std::net::Shutdown::Write);
    s.put_buf(core, WRITE, w);
}

/// Per-IP connection counts (only used when `max_conns_per_ip` is set).
#[derive(Default)]
pub(crate) struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    pub(crate) fn acquire(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = lock(&self.counts);
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    pub(crate) fn release(&self, ip: IpAddr) {
        let mut m = lock(&self.counts);
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle keep-alive connection costs its boxed `Conn` (plus malloc's
    /// 16-byte header) and its slab slot: at most 256 bytes of user memory.
    #[test]
    fn idle_connection_fits_in_256_bytes() {
        let conn = std::mem::size_of::<super::TcpConn>();
        let slot = std::mem::size_of::<crate::slab::Slot>();
        assert!(
            conn + 16 + slot <= 256,
            "Conn {conn} + malloc 16 + Slot {slot} > 256"
        );
    }
}

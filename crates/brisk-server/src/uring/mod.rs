//! The io_uring event loop: the same connection state machine (as
//! `Conn<UringTransport>`, see [`io`]), slab, timer wheel and take-over
//! protocol as the epoll loop, with the system calls replaced by one
//! `io_uring_enter` per loop turn.
//!
//! ```no_run
//! use brisk_server::{Backend, Server};
//!
//! let server = Server::builder()
//!     .handler(|ctx| ctx.set_body(b"Hello, World!"))
//!     .backend(Backend::Uring) // falls back to epoll, with a log line
//!     .build()
//!     .expect("valid configuration");
//! server.listen_and_serve("127.0.0.1:8080").expect("serve");
//! ```
//!
//! # The loop
//!
//! * **Accept**: one multishot accept per listener; a completion is a new
//!   socket (its address from `getpeername`).
//! * **Receive**: one multishot receive per connection, from the loop's
//!   provided-buffer ring ([`bufring`]): an idle connection owns no buffer,
//!   the kernel picks one when bytes arrive. The loop lends the filled buffer
//!   to the connection, drives it (its parser reads from there through the
//!   transport), and recycles the buffer before the turn ends (see
//!   [`io`] for who owns which bytes when).
//! * **Send**: the transport copies output into a buffer of its own; after
//!   the drive the loop queues one send per connection. All the turn's
//!   sends, re-armed receives and cancels go to the kernel with the next
//!   wait: one `io_uring_enter` (`submit_and_wait`, with the timer wheel's
//!   timeout) per turn.
//! * **Completions** are copied into the loop state with a cursor, as the
//!   epoll loop's events are, so a thread that takes the loop over (a
//!   handler blocked) continues the same batch. Completions for a
//!   connection that is checked out are kept (`stash`) and applied when it
//!   is filed back.
//! * **Leaving the ring**: a connection whose request body is streamed on a
//!   worker thread, or that is hijacked, first has its receive cancelled
//!   and its send completed (`parked` until both completions are in), then
//!   goes on with system calls on its socket (`Recv::Direct`), the bytes
//!   the ring delivered first.
//!
//! What is not done on this backend: registered (fixed) files, zero-copy
//! sends, and `SO_REUSEPORT` listener groups beyond what the epoll loop
//! does (each loop arms accepts on the listeners it was given).

// The spares are boxes that move in and out of connections (whose
// transport holds an `Option<Box<RingBufs>>`, 8 bytes while idle): a
// `Vec<Box<_>>` hands them over without moving their contents.
#![allow(clippy::vec_box)]

mod bufring;
pub(crate) mod io;

pub(crate) use io::{RingIo, UringTransport};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use log::{debug, error, warn};
use socket2::{Socket, TcpKeepalive};

use crate::conn::{Conn, Next, Phase};
use crate::ctx::ConnInfo;
use crate::error::ServerError;
use crate::event_loop::{
    ACCEPT_PAUSE_MS, EMFILE_LOG_EVERY_MS, LoopShared, MAX_EVENTS, READY_PER_POLL, WorkerJob,
    is_fd_exhaustion, lock, reject, token,
};
use crate::handoff::Returns;
use crate::hijack::Hijacked;
use crate::hooks::ConnState;
use crate::scratch::Scratch;
use crate::server::{Core, Run};
use crate::slab::Slab;
use crate::sys;
use crate::timer::{Entry, Wheel};

/// The io_uring loop's connections.
pub(crate) type UringConn = Conn<UringTransport>;

use bufring::BufRing;
use io::{RX_HIGH, RX_LIMIT, Recv, RingBufs};

/// A connection of an io_uring loop back from a worker thread.
struct Returned {
    idx: u32,
    generation: u32,
    conn: Box<UringConn>,
}

/// Serve a `Detaching` connection's request on a worker thread (its body
/// streamed, with system calls), then give it back to its io_uring loop.
pub(crate) struct RingJob {
    conn: Box<UringConn>,
    idx: u32,
    generation: u32,
    home: Arc<LoopShared>,
}

impl RingJob {
    /// Runs the job on this worker thread.
    pub(crate) fn run(self, core: &Core) {
        let RingJob {
            mut conn,
            idx,
            generation,
            home,
        } = self;
        let mut s = Scratch::new(core);
        s.waker = Some(home.clone());
        conn.serve_detached(&mut s, core, core.now_ms());
        s.release(core);
        if let Some(ul) = home.uring.as_ref() {
            ul.returns.give(Returned {
                idx,
                generation,
                conn,
            });
        }
        home.wake();
    }
}

/// On a hijacked connection's own thread: sends its response, then runs
/// its hijack handler with the socket (blocking), the bytes the ring
/// delivered first.
#[allow(clippy::boxed_local)] // the connection lives in a box in the slab
fn run_hijack(core: &Core, mut conn: Box<UringConn>) {
    let mut s = Scratch::new(core);
    let parts = conn.hijack_parts(&mut s, core);
    s.release(core);
    let id = conn.info.id;
    match parts {
        Ok((handler, mut buffered)) => {
            let (sock, rest) = conn.into_io().into_socket();
            buffered.extend_from_slice(&rest);
            let _ = sock.set_nonblocking(false);
            let stream = std::net::TcpStream::from(sock);
            core.hijack_started(id, &stream);
            let hijacked = Hijacked::new(stream, buffered);
            let run = std::panic::AssertUnwindSafe(|| handler(hijacked));
            if std::panic::catch_unwind(run).is_err() {
                error!("conn {id}: hijack handler panicked; its connection is closed");
            }
        }
        Err(e) => debug!("conn {id}: the response before a hijack failed: {e}"),
    }
    core.hijack_ended(id);
}

/// Checks everything the loop relies on, in the order a kernel gained it.
pub(crate) fn probe() -> Result<(), String> {
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if v.trim() == "2" {
            return Err("disabled by /proc/sys/kernel/io_uring_disabled = 2".into());
        }
    }
    let mut ring = IoUring::new(8).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring_setup: ENOSYS (kernel without io_uring)".to_string(),
        Some(libc::EPERM) => {
            "io_uring_setup: EPERM (forbidden by seccomp or io_uring_disabled)".to_string()
        }
        _ => format!("io_uring_setup failed: {e}"),
    })?;
    if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
        return Err("the kernel lacks IORING_FEAT_EXT_ARG/NODROP (needs 5.11 or later)".into());
    }
    let mut p = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| format!("cannot probe io_uring opcodes: {e}"))?;
    for (code, name) in [
        (opcode::RecvMulti::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::AsyncCancel::CODE, "async_cancel"),
        (opcode::PollAdd::CODE, "poll_add"),
    ] {
        if !p.is_supported(code) {
            return Err(format!("the kernel's io_uring has no {name} operation"));
        }
    }
    let bufs = BufRing::new(&ring, 2, 64, 0)
        .map_err(|e| format!("no provided-buffer rings (needs 5.19 or later): {e}"))?;
    // Multishot receive (6.0): one byte through a socket pair.
    let (a, b) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| format!("cannot probe multishot receive: {e}"))?;
    let e = opcode::RecvMulti::new(types::Fd(a.as_raw_fd()), bufs.bgid())
        .build()
        .user_data(1);
    // SAFETY: the receive writes only into the buffer ring `bufs`, which
    // is dropped after `ring` (below: closing the ring ends the receive),
    // and reads from `a`, which outlives both.
    unsafe { push_entry(&mut ring, &e) };
    std::io::Write::write_all(&mut &b, b"x").map_err(|e| format!("probe write: {e}"))?;
    let ts = types::Timespec::new().sec(2);
    let args = types::SubmitArgs::new().timespec(&ts);
    let _ = ring.submitter().submit_with_args(1, &args);
    let got = ring.completion().next().map(|c| (c.result(), c.flags()));
    drop(ring);
    drop(bufs);
    match got {
        Some((1, flags)) if cqueue::more(flags) && cqueue::buffer_select(flags).is_some() => Ok(()),
        Some((res, _)) if res < 0 => Err(format!(
            "multishot receive failed ({}; needs 6.0 or later)",
            std::io::Error::from_raw_os_error(-res)
        )),
        _ => Err("multishot receive did not behave (needs 6.0 or later)".into()),
    }
}

/// Pushes `e`, submitting first if the submission queue is full.
///
/// # Safety
///
/// Whatever `e` points to (buffers, the fd) stays valid until its
/// completion.
unsafe fn push_entry(ring: &mut IoUring, e: &squeue::Entry) {
    loop {
        // SAFETY: the caller's promise.
        if unsafe { ring.submission().push(e) }.is_ok() {
            return;
        }
        if let Err(err) = ring.submit() {
            if err.raw_os_error() != Some(libc::EBUSY) {
                error!("io_uring submit failed: {err}");
            }
        }
    }
}

/// Submission queue size (completions: four times as many; the kernel
/// keeps overflowing completions, FEAT_NODROP).
const SQ_ENTRIES: u32 = 2048;
/// Provided buffers per loop, and their size: 1 MiB per loop, whatever the
/// number of connections. A completion takes a whole buffer however few
/// bytes it carries, so many small buffers serve many connections at once
/// (1000 connections each sending a request in one turn: 1024 buffers;
/// with 512 × 2 KiB the rest ran out, ended their receives and had them
/// armed again, about 6% more CPU per request in `many`); a request head
/// larger than 1 KiB spans several.
const RING_BUFS: u16 = 1024;
const RING_BUF_SIZE: u32 = 1024;
/// The buffer group of the receive buffers.
const BGID: u16 = 0;

// What a completion is about: the top four bits of its user data; below,
// 28 bits of the slot's generation and its 32-bit index (a listener's index
// for accepts).
const K_RECV: u64 = 1;
const K_SEND: u64 = 2;
const K_ACCEPT: u64 = 3;
const K_WAKE: u64 = 4;
const K_CANCEL: u64 = 5;
/// Not from the kernel: a connection that used up its turns (or was woken
/// by a `BodySender`) gets another.
const K_READY: u64 = 6;
const GEN_MASK: u32 = 0x0FFF_FFFF;

#[inline]
fn ud(kind: u64, idx: u32, generation: u32) -> u64 {
    (kind << 60) | (u64::from(generation & GEN_MASK) << 32) | u64::from(idx)
}

#[inline]
fn ud_parts(u: u64) -> (u64, u32, u32) {
    (u >> 60, u as u32, ((u >> 32) as u32) & GEN_MASK)
}

/// One completion, copied out of the kernel's queue.
#[derive(Clone, Copy)]
struct Cqe {
    ud: u64,
    res: i32,
    flags: u32,
}

/// A completion for a connection that was checked out when it came.
struct Stashed {
    idx: u32,
    generation: u32,
    kind: u64,
    res: i32,
    more: bool,
    /// The received bytes (copied: the ring buffer went back at once).
    data: Vec<u8>,
}

/// A connection leaving the ring, waiting for its receive's and send's
/// last completions.
struct Parked {
    idx: u32,
    generation: u32,
    conn: Box<UringConn>,
}

/// The io_uring side of one loop (in `LoopShared::uring`).
pub(crate) struct UringLoop {
    state: Mutex<UState>,
    /// Connections back from worker threads.
    returns: Returns<Returned>,
}

struct UState {
    // Dropped first: closing the ring ends every request that refers to
    // the buffers below.
    ring: IoUring,
    bufs: BufRing,
    slab: Slab<UringConn>,
    out: usize,
    cqes: Vec<Cqe>,
    cq_len: usize,
    cq_cursor: usize,
    wheel: Wheel,
    due: Vec<Entry>,
    ready: Vec<u64>,
    listeners: Vec<Arc<Socket>>,
    /// Per listener: a multishot accept is armed.
    accept_armed: Vec<bool>,
    accepting: bool,
    accept_resume_at: u64,
    emfile_logged_at: u64,
    shutdown_seen: bool,
    wake_armed: bool,
    now_ms: u64,
    now: Instant,
    spares: Vec<Box<RingBufs>>,
    stash: Vec<Stashed>,
    parked: Vec<Parked>,
    /// Output of closed connections whose send is still with the kernel,
    /// by the send's user data.
    orphans: Vec<(u64, Box<RingBufs>)>,
    /// Multishot receives that delivered again after their cancel: a
    /// cancel that finds the request running (it is between its poll and
    /// its task work) answers `ENOENT` and the receive goes on, so the
    /// loop asks again with the next submission, until the last
    /// completion comes.
    recancel: Vec<u64>,
    /// A parked connection became quiescent: it leaves the ring at once.
    parked_ready: bool,
    /// The loop's index (log lines).
    idx: usize,
}

impl UringLoop {
    /// A ring, its buffer ring, and the listeners' accepts (armed at the
    /// first turn).
    pub(crate) fn new(
        idx: usize,
        listeners: Vec<Arc<Socket>>,
        core: &Core,
    ) -> std::io::Result<UringLoop> {
        let ring = IoUring::builder()
            .setup_cqsize(SQ_ENTRIES * 4)
            .setup_coop_taskrun()
            .build(SQ_ENTRIES)
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(SQ_ENTRIES * 4)
                    .build(SQ_ENTRIES)
            })?;
        let bufs = BufRing::new(&ring, RING_BUFS, RING_BUF_SIZE, BGID)?;
        let now_ms = core.now_ms();
        let n = listeners.len();
        Ok(UringLoop {
            state: Mutex::new(UState {
                ring,
                bufs,
                slab: Slab::new(),
                out: 0,
                cqes: Vec::with_capacity(MAX_EVENTS),
                cq_len: 0,
                cq_cursor: 0,
                wheel: Wheel::new(now_ms),
                due: Vec::new(),
                ready: Vec::new(),
                listeners,
                accept_armed: vec![false; n],
                accepting: true,
                accept_resume_at: 0,
                emfile_logged_at: 0,
                shutdown_seen: false,
                wake_armed: false,
                now_ms,
                now: Instant::now(),
                spares: Vec::new(),
                stash: Vec::new(),
                parked: Vec::new(),
                orphans: Vec::new(),
                recancel: Vec::new(),
                parked_ready: false,
                idx,
            }),
            returns: Returns::new(),
        })
    }
}

/// Runs io_uring loop `li` on this thread until the server stops or another
/// thread takes the loop over (the epoll loop's `run_loop`, completion by
/// completion).
#[inline(never)]
pub(crate) fn run_loop(run: &Run, li: usize, mut seq: u64) {
    let shared = &run.loops[li];
    let Some(ul) = shared.uring.as_ref() else {
        return;
    };
    let core = &*run.core;
    let mut scratch = Scratch::new(core);
    scratch.waker = Some(run.loops[li].clone());
    let mut st = lock(&ul.state);
    shared.owner_tid.store(sys::thread_id(), Ordering::Relaxed);
    loop {
        if st.cq_cursor >= st.cq_len {
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
        while st.cq_cursor < st.cq_len {
            let c = st.cqes[st.cq_cursor];
            st.cq_cursor += 1;
            let (kind, idx, generation) = ud_parts(c.ud);
            match kind {
                K_RECV | K_SEND | K_READY => {}
                K_WAKE => {
                    st.handle_wake(shared, core, &mut scratch, c);
                    continue;
                }
                K_ACCEPT => {
                    st.on_accept(core, idx as usize, c, &mut scratch);
                    continue;
                }
                _ => continue, // cancels
            }
            if !st.apply(kind, idx, generation, c, core, &mut scratch) {
                if st.parked_ready {
                    st.flush_parked(run, li, &mut scratch);
                }
                continue;
            }
            let Some((mut conn, full)) = st.checkout(idx, generation) else {
                continue;
            };
            conn.io.ring.attach(&mut st.spares);
            let (now_ms, now) = (st.now_ms, st.now);

            // Away: the loop may be taken over while we drive this one.
            let away = shared.ctl.go_away(seq, sys::monotonic_us(), &run.gate);
            drop(st);
            let next = conn.drive(&mut scratch, core, now_ms, now);
            if !shared.ctl.come_back(away) {
                // Taken over: hand the connection back and leave.
                let _ = next;
                debug!(
                    "loop {li}: taken over while a handler ran; returning conn {}",
                    conn.info.id
                );
                ul.returns.give(Returned {
                    idx,
                    generation: full,
                    conn,
                });
                shared.wake();
                scratch.release(core);
                return;
            }
            seq = away + 1;
            st = lock(&ul.state);
            st.checkin(idx, conn, next, run, li, &mut scratch);
        }
    }
}

impl UState {
    /// Pushes a submission (see [`push_entry`]).
    ///
    /// # Safety
    ///
    /// As [`push_entry`].
    unsafe fn push(&mut self, e: &squeue::Entry) {
        // SAFETY: the caller's promise.
        unsafe { push_entry(&mut self.ring, e) }
    }

    fn push_cancel(&mut self, target: u64) {
        let e = opcode::AsyncCancel::new(target)
            .build()
            .user_data(K_CANCEL << 60);
        // SAFETY: a cancel refers to no memory.
        unsafe { self.push(&e) };
    }

    /// Whether the loop has nothing left to do after a shutdown.
    fn finished(&mut self, core: &Core) -> bool {
        if !core.shutting_down() {
            return false;
        }
        self.now_ms = core.now_ms();
        let past = self.now_ms >= core.shutdown_deadline_ms() + 1000;
        let done = self.slab.live() == 0
            && self.out == 0
            && self.parked.is_empty()
            && (self.orphans.is_empty() || past);
        if done {
            self.quiesce();
        }
        done
    }

    /// At the loop's end: cancels every request still on the ring (the
    /// accepts, which hold the listeners open, the wake poll, receives whose
    /// cancel has not landed) and waits, at most about a second, until the
    /// kernel has answered. Only then may the provided buffers and the
    /// orphaned send buffers be freed: a receive that is not known to be
    /// over could still write into them.
    #[cold]
    fn quiesce(&mut self) {
        const ALL: u64 = (K_CANCEL << 60) | 1;
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(ALL);
        // SAFETY: a cancel refers to no memory.
        unsafe { self.push(&e) };
        let ts = types::Timespec::new().nsec(100_000_000);
        let args = types::SubmitArgs::new().timespec(&ts);
        let mut answered = false;
        for _ in 0..10 {
            let r = self.ring.submitter().submit_with_args(1, &args);
            if let Err(e) = r {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) {
                    break;
                }
            }
            // What the cancels ended (their completions) needs no handling
            // now: the loop is done and its state goes with it.
            for c in self.ring.completion() {
                answered |= c.user_data() == ALL;
            }
            if answered {
                break;
            }
        }
        if !answered {
            debug!("io_uring loop: the final cancel was not answered within a second");
        }
    }

    /// Arms what should be armed, submits the turn's work and waits for
    /// completions (at most until the next timer), then copies them out.
    fn poll(&mut self, shared: &LoopShared, core: &Core) {
        let now_ms = core.now_ms();
        if !self.accepting && !core.shutting_down() && now_ms >= self.accept_resume_at {
            self.accepting = true;
        }
        if self.accepting {
            for i in 0..self.listeners.len() {
                if !self.accept_armed[i] {
                    let e = opcode::AcceptMulti::new(types::Fd(self.listeners[i].as_raw_fd()))
                        .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                        .build()
                        .user_data(ud(K_ACCEPT, i as u32, 0));
                    // SAFETY: the listener stays open while its accept is
                    // armed (it is cancelled before the listener is dropped).
                    unsafe { self.push(&e) };
                    self.accept_armed[i] = true;
                }
            }
        }
        if !self.wake_armed {
            let wake_fd = std::os::fd::AsFd::as_fd(&shared.wake).as_raw_fd();
            let e = opcode::PollAdd::new(types::Fd(wake_fd), libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(K_WAKE << 60);
            // SAFETY: the eventfd lives in `LoopShared`, as long as the ring.
            unsafe { self.push(&e) };
            self.wake_armed = true;
        }
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
        for u in std::mem::take(&mut self.recancel) {
            self.push_cancel(u);
        }
        let r = match timeout {
            Some(0) => self.ring.submit(),
            None => self.ring.submit_and_wait(1),
            Some(ms) => {
                let ms = ms.min(60_000);
                let ts = types::Timespec::new()
                    .sec(ms / 1000)
                    .nsec((ms % 1000) as u32 * 1_000_000);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        if let Err(e) = r {
            match e.raw_os_error() {
                Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN) => {}
                _ => {
                    error!("loop {}: io_uring_enter failed: {e}", shared.idx);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        self.cqes.clear();
        let cap = MAX_EVENTS - reserve;
        for c in self.ring.completion().take(cap) {
            self.cqes.push(Cqe {
                ud: c.user_data(),
                res: c.result(),
                flags: c.flags(),
            });
        }
        for i in 0..reserve {
            let tok = self.ready[i];
            self.cqes.push(Cqe {
                ud: ud(K_READY, tok as u32, (tok >> 32) as u32),
                res: 0,
                flags: 0,
            });
        }
        self.ready.drain(..reserve);
        self.cq_len = self.cqes.len();
        self.cq_cursor = 0;
        self.now_ms = core.now_ms();
        self.now = Instant::now();
    }

    /// Applies a connection's completion to it where it is (in its slot,
    /// parked, or checked out: stashed). `true` when it is in its slot and
    /// should be driven.
    fn apply(
        &mut self,
        kind: u64,
        idx: u32,
        generation: u32,
        c: Cqe,
        core: &Core,
        s: &mut Scratch,
    ) -> bool {
        let live = self
            .slab
            .slots
            .get(idx as usize)
            .is_some_and(|s| s.generation & GEN_MASK == generation);
        if !live {
            self.stale(kind, c);
            return false;
        }
        if kind == K_READY {
            return true;
        }
        let slot = &mut self.slab.slots[idx as usize];
        if slot.out {
            if let Some(i) = self
                .parked
                .iter()
                .position(|p| p.idx == idx && p.generation & GEN_MASK == generation)
            {
                let p = &mut self.parked[i];
                apply_to(
                    &mut p.conn,
                    kind,
                    c,
                    &mut self.bufs,
                    &mut self.spares,
                    false,
                );
                if quiescent(&p.conn) {
                    self.parked_ready = true;
                } else if kind == K_RECV && cqueue::more(c.flags) {
                    self.cancel_again(c.ud);
                }
                return false;
            }
            slot.missed = true;
            let mut data = Vec::new();
            if kind == K_RECV && c.res > 0 {
                if let Some(bid) = cqueue::buffer_select(c.flags) {
                    if let Some(p) = self.bufs.slice_ptr(bid) {
                        // SAFETY: the kernel wrote `res` bytes at the start
                        // of buffer `bid`, recycled only below.
                        data.extend_from_slice(unsafe {
                            std::slice::from_raw_parts(p, c.res as usize)
                        });
                    }
                    self.bufs.recycle(bid);
                }
            }
            self.stash.push(Stashed {
                idx,
                generation,
                kind,
                res: c.res,
                more: cqueue::more(c.flags),
                data,
            });
            return false;
        }
        let Some(conn) = slot.conn.as_mut() else {
            return false;
        };
        apply_to(conn, kind, c, &mut self.bufs, &mut self.spares, true);
        if kind == K_RECV
            && conn.io.ring.recv == Recv::Cancelling
            && cqueue::more(c.flags)
            && !self.recancel.contains(&c.ud)
        {
            self.recancel.push(c.ud);
        }
        if kind == K_SEND && conn.is_idle() && !conn.may_read() {
            // The answer is out and nothing else waits: no drive needed,
            // only the idle deadline and the box back (saves a drive per
            // request).
            let full = slot.generation;
            if let Some(conn) = slot.conn.take() {
                self.put_back(idx, full, conn, Next::Keep, core, s);
            }
            return false;
        }
        if conn.io.ring.input() > RX_LIMIT {
            if conn.reads_no_more() {
                // Its input is only ever discarded: drop it now.
                if let Some(bid) = conn.io.ring.settle() {
                    self.bufs.recycle(bid);
                }
                conn.io.ring.drop_input();
            } else {
                self.overrun(idx, core, s);
                return false;
            }
        }
        true
    }

    /// A connection holds more unread input than [`RX_LIMIT`] (a client
    /// that sends far ahead of a connection blocked on its output): closed,
    /// so that its memory stays bounded.
    #[cold]
    #[inline(never)]
    fn overrun(&mut self, idx: u32, core: &Core, s: &mut Scratch) {
        let slot = &mut self.slab.slots[idx as usize];
        let generation = slot.generation;
        let Some(conn) = slot.conn.take() else {
            return;
        };
        debug!(
            "conn {} ({}): more than {RX_LIMIT} bytes received ahead of a blocked connection; closed",
            conn.info.id, conn.info.remote
        );
        self.close_conn(idx, generation, conn, core, s);
    }

    /// A completion for a connection that is gone: its buffer goes back,
    /// its output (if it was a send) is freed.
    fn stale(&mut self, kind: u64, c: Cqe) {
        if kind == K_RECV && cqueue::more(c.flags) {
            self.cancel_again(c.ud);
        }
        if kind == K_RECV && c.res > 0 {
            if let Some(bid) = cqueue::buffer_select(c.flags) {
                self.bufs.recycle(bid);
            }
        }
        if kind == K_SEND {
            if let Some(i) = self.orphans.iter().position(|(u, _)| *u == c.ud) {
                let (_, mut b) = self.orphans.swap_remove(i);
                b.reset();
            }
        }
    }

    /// Asks the kernel again to cancel receive `u` (see `recancel`).
    #[cold]
    fn cancel_again(&mut self, u: u64) {
        if !self.recancel.contains(&u) {
            self.recancel.push(u);
        }
    }

    /// Takes a connection out of its slot to drive it; with the slot's
    /// full generation.
    fn checkout(&mut self, idx: u32, generation: u32) -> Option<(Box<UringConn>, u32)> {
        let slot = self.slab.slots.get_mut(idx as usize)?;
        if slot.generation & GEN_MASK != generation {
            return None;
        }
        if slot.out {
            slot.missed = true;
            return None;
        }
        let conn = slot.conn.take()?;
        slot.out = true;
        self.out += 1;
        Some((conn, slot.generation))
    }

    fn checkin(
        &mut self,
        idx: u32,
        mut conn: Box<UringConn>,
        mut next: Next,
        run: &Run,
        li: usize,
        s: &mut Scratch,
    ) {
        let core = &*run.core;
        let Some(slot) = self.slab.slots.get_mut(idx as usize) else {
            return;
        };
        let generation = slot.generation;
        if next == Next::Detach {
            return self.detach(idx, generation, conn, run, li, s);
        }
        slot.out = false;
        self.out -= 1;
        if std::mem::take(&mut slot.missed) {
            self.replay(idx, generation, &mut conn);
            if next == Next::Keep {
                conn.on_readable();
                conn.on_writable();
                next = Next::Again;
            }
        }
        self.put_back(idx, generation, conn, next, core, s);
    }

    /// Applies the completions kept while the connection was checked out.
    fn replay(&mut self, idx: u32, generation: u32, conn: &mut UringConn) {
        if self.stash.is_empty() {
            return;
        }
        let g = generation & GEN_MASK;
        let mut i = 0;
        while i < self.stash.len() {
            if self.stash[i].idx != idx || self.stash[i].generation != g {
                i += 1;
                continue;
            }
            let st = self.stash.remove(i);
            let ring = &mut conn.io.ring;
            match st.kind {
                K_RECV => {
                    if !st.data.is_empty() {
                        ring.receive_copied(&st.data, &mut self.spares);
                    }
                    recv_state(ring, st.res, st.more);
                    conn.on_readable();
                    if st.res == 0 {
                        conn.on_hangup();
                    }
                }
                K_SEND => {
                    ring.sent(st.res);
                    conn.on_writable();
                }
                _ => {}
            }
        }
    }

    /// After a drive (or a timer, or a return): takes the lent buffer back,
    /// queues the send, re-arms or cancels the receive, gives back an
    /// empty box.
    fn sync(&mut self, idx: u32, generation: u32, conn: &mut UringConn) {
        let fd = conn.io.socket().as_raw_fd();
        let ring = &mut conn.io.ring;
        if let Some(bid) = ring.settle() {
            self.bufs.recycle(bid);
        }
        if let Some((p, n)) = ring.next_send() {
            let e = opcode::Send::new(types::Fd(fd), p, n)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(ud(K_SEND, idx, generation));
            // SAFETY: `p..p+n` is the transport's `sending` buffer, which
            // nothing touches until this send's completion (and which the
            // loop keeps as an orphan if the connection closes first); the
            // socket is open until then, or the send is cancelled.
            unsafe { push_entry(&mut self.ring, &e) };
        }
        if ring.shutdown_due() {
            let _ = conn.io.socket().shutdown(std::net::Shutdown::Write);
        }
        let ring = &mut conn.io.ring;
        match ring.recv {
            Recv::Off if ring.input() == 0 => {
                let e = opcode::RecvMulti::new(types::Fd(fd), self.bufs.bgid())
                    .build()
                    .user_data(ud(K_RECV, idx, generation));
                // SAFETY: the receive writes only into the buffer ring,
                // which outlives the ring's requests; the socket stays open
                // until the receive is cancelled.
                unsafe { push_entry(&mut self.ring, &e) };
                ring.recv = Recv::Armed;
            }
            Recv::Armed if ring.input() > RX_HIGH => {
                // Backpressure: the connection reads slower than the client
                // sends; the rest waits in the socket. Submitted at once (a
                // system call, on this path only): until the kernel has the
                // cancel, the multishot receive goes on filling buffers
                // that the connection would have to hold.
                ring.recv = Recv::Cancelling;
                self.push_cancel(ud(K_RECV, idx, generation));
                if let Err(e) = self.ring.submit() {
                    debug!("loop {}: io_uring submit (cancel): {e}", self.idx);
                }
            }
            _ => {}
        }
        conn.io.ring.detach_if_empty(&mut self.spares);
    }

    /// Files a connection back in its slot (or closes it) and sets its
    /// timer.
    fn put_back(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<UringConn>,
        mut next: Next,
        core: &Core,
        s: &mut Scratch,
    ) {
        // Draining: an idle connection with nothing more to read closes (a
        // FIN, then lingering), as on the epoll loop.
        if self.shutdown_seen && next != Next::Close && conn.is_idle() && !conn.may_read() {
            conn.io.ring.attach(&mut self.spares);
            next = conn.close_idle_for_shutdown(s, core, core.now_ms());
        }
        if next == Next::Close {
            self.close_conn(idx, generation, conn, core, s);
            return;
        }
        self.sync(idx, generation, &mut conn);
        let slot = &mut self.slab.slots[idx as usize];
        let deadline = conn.deadline(core);
        slot.conn = Some(conn);
        self.wheel.arm(&mut slot.timer, idx, generation, deadline);
        if next == Next::Again {
            self.ready.push(token(idx, generation));
        }
    }

    /// Closes a connection: its receive and send are cancelled (a send's
    /// buffer stays with the loop until its completion), the socket closed,
    /// the slot freed.
    #[cold]
    #[inline(never)]
    fn close_conn(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<UringConn>,
        core: &Core,
        s: &mut Scratch,
    ) {
        conn.release(core, s);
        core.conn_closed(&conn);
        if let Some(o) = &s.obs {
            o.closed();
        }
        core.hooks
            .conn_state(conn.info.id, conn.info.remote, ConnState::Closed);
        self.unring(idx, generation, &mut conn);
        drop(conn);
        let slot = &mut self.slab.slots[idx as usize];
        self.wheel.arm(&mut slot.timer, idx, generation, 0);
        self.slab.free(idx);
    }

    /// Ends a closing connection's requests on the ring.
    fn unring(&mut self, idx: u32, generation: u32, conn: &mut UringConn) {
        let ring = &mut conn.io.ring;
        if let Some(bid) = ring.settle() {
            self.bufs.recycle(bid);
        }
        if ring.recv == Recv::Armed {
            self.push_cancel(ud(K_RECV, idx, generation));
        }
        ring.recv = Recv::Direct;
        if let Some(mut b) = ring.bufs.take() {
            if b.in_flight {
                let u = ud(K_SEND, idx, generation);
                self.push_cancel(u);
                self.orphans.push((u, b));
            } else if self.spares.len() < io::MAX_SPARES {
                b.reset();
                self.spares.push(b);
            }
        }
    }

    /// A connection leaves the ring for a worker thread or a hijack: once
    /// its receive is cancelled and no send is in flight (else it is parked
    /// until then).
    #[cold]
    #[inline(never)]
    fn detach(
        &mut self,
        idx: u32,
        generation: u32,
        mut conn: Box<UringConn>,
        run: &Run,
        li: usize,
        s: &mut Scratch,
    ) {
        let ring = &mut conn.io.ring;
        if let Some(bid) = ring.settle() {
            self.bufs.recycle(bid);
        }
        if ring.recv == Recv::Armed {
            ring.recv = Recv::Cancelling;
            self.push_cancel(ud(K_RECV, idx, generation));
        }
        // The completions that came while it was driven.
        self.replay(idx, generation, &mut conn);
        if let Some(slot) = self.slab.slots.get_mut(idx as usize) {
            slot.missed = false;
        }
        let p = Parked {
            idx,
            generation,
            conn,
        };
        if quiescent(&p.conn) {
            self.leave_ring_now(p, run, li, s);
        } else {
            self.parked.push(p);
        }
    }

    /// Parked connections that became quiescent leave the ring.
    #[cold]
    fn flush_parked(&mut self, run: &Run, li: usize, s: &mut Scratch) {
        self.parked_ready = false;
        let mut i = 0;
        while i < self.parked.len() {
            if quiescent(&self.parked[i].conn) {
                let p = self.parked.swap_remove(i);
                self.leave_ring_now(p, run, li, s);
            } else {
                i += 1;
            }
        }
    }

    #[cold]
    fn leave_ring_now(&mut self, p: Parked, run: &Run, li: usize, s: &mut Scratch) {
        let core = &*run.core;
        let shared = &run.loops[li];
        let Parked {
            idx,
            generation,
            mut conn,
        } = p;
        conn.io.ring.go_direct();
        if conn.is_hijacking() {
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
            if let Some(mut b) = conn.io.ring.bufs.take() {
                if b.input() == 0 && b.out.is_empty() {
                    if self.spares.len() < io::MAX_SPARES {
                        b.reset();
                        self.spares.push(b);
                    }
                } else {
                    conn.io.ring.bufs = Some(b);
                }
            }
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
        let job = WorkerJob::Ring(RingJob {
            conn,
            idx,
            generation,
            home: shared.clone(),
        });
        if let Err(WorkerJob::Ring(RingJob { mut conn, .. })) = run.workers.serve(job) {
            if core.cfg.log_all_errors {
                warn!(
                    "loop {li}: no worker free (max_worker_conns) for a streamed request; answered 503"
                );
            }
            // Back on the ring.
            conn.io.ring.recv = Recv::Off;
            conn.io.ring.attach(&mut self.spares);
            conn.refuse_detached(s, core);
            if let Some(slot) = self.slab.slots.get_mut(idx as usize) {
                slot.out = false;
                self.out -= 1;
                slot.missed = false;
            }
            self.put_back(idx, generation, conn, Next::Again, core, s);
        }
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
            conn.io.ring.attach(&mut self.spares);
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
        due.shrink_to(1024);
        self.due = due;
        if core.shutting_down() && now >= core.shutdown_deadline_ms() {
            self.close_all(core, s);
        }
    }

    fn close_all(&mut self, core: &Core, s: &mut Scratch) {
        for i in 0..self.slab.slots.len() {
            let generation = self.slab.slots[i].generation;
            if let Some(conn) = self.slab.slots[i].conn.take() {
                self.put_back(i as u32, generation, conn, Next::Close, core, s);
            }
        }
        // Parked connections close too (their slots are checked out).
        for p in std::mem::take(&mut self.parked) {
            if let Some(slot) = self.slab.slots.get_mut(p.idx as usize) {
                slot.out = false;
                self.out -= 1;
            }
            self.close_conn(p.idx, p.generation, p.conn, core, s);
        }
    }

    fn handle_wake(&mut self, shared: &LoopShared, core: &Core, s: &mut Scratch, c: Cqe) {
        if !cqueue::more(c.flags) {
            self.wake_armed = false;
        }
        let _ = shared.wake.read();
        self.ready.append(&mut lock(&shared.woken));
        let returned = shared.uring.as_ref().map(|u| u.returns.take_all());
        for r in returned.into_iter().flatten() {
            let Returned {
                idx,
                generation,
                mut conn,
            } = r;
            if let Some(slot) = self.slab.slots.get_mut(idx as usize) {
                if slot.generation == generation && slot.out {
                    slot.out = false;
                    self.out -= 1;
                    slot.missed = false;
                    if conn.io.ring.recv == Recv::Direct {
                        // Back from a worker thread: receive on the ring again.
                        conn.io.ring.recv = Recv::Off;
                    }
                    self.replay(idx, generation, &mut conn);
                    conn.on_readable();
                    conn.on_writable();
                    self.put_back(idx, generation, conn, Next::Again, core, s);
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
            self.stop_accepting();
            self.listeners.clear();
            // As the epoll loop: busy connections close after their
            // response; idle ones are read once more (a request already
            // received is answered, with `Connection: close`), then close
            // with a FIN and linger (`put_back`).
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

    /// Cancels the armed accepts.
    fn stop_accepting(&mut self) {
        for i in 0..self.accept_armed.len() {
            if self.accept_armed[i] {
                self.accept_armed[i] = false;
                self.push_cancel(ud(K_ACCEPT, i as u32, 0));
            }
        }
        self.accepting = false;
    }

    fn on_accept(&mut self, core: &Core, li: usize, c: Cqe, s: &mut Scratch) {
        if !cqueue::more(c.flags) {
            if let Some(a) = self.accept_armed.get_mut(li) {
                *a = false;
            }
        }
        if c.res < 0 {
            let e = std::io::Error::from_raw_os_error(-c.res);
            if is_fd_exhaustion(&e) {
                self.on_fd_exhaustion(core, s, &e);
            } else if !matches!(
                -c.res,
                libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM | libc::ECANCELED
            ) {
                error!("loop {}: accept failed: {e}", self.idx);
            }
            return;
        }
        // SAFETY: a successful accept completion's result is a new
        // descriptor that nothing else owns.
        let sock = unsafe { Socket::from_raw_fd(c.res) };
        if self.shutdown_seen {
            return; // closed: accepted after the shutdown began
        }
        let remote = sock
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        self.admit(core, s, sock, remote);
    }

    fn admit(&mut self, core: &Core, s: &mut Scratch, sock: Socket, remote: SocketAddr) {
        if core.open.fetch_add(1, Ordering::AcqRel) >= core.cfg.concurrency {
            core.open.fetch_sub(1, Ordering::AcqRel);
            if core.cfg.log_all_errors {
                warn!("rejected {remote}: the server is at its concurrency limit");
            }
            reject(core, s, &sock, remote, ServerError::TooManyConnections);
            return;
        }
        let ip_counted = core.cfg.max_conns_per_ip > 0;
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
        let mut conn = Box::new(Conn::new(UringTransport::new(sock), info, self.now_ms));
        conn.ip_counted = ip_counted;
        core.hooks
            .conn_state(conn.info.id, conn.info.remote, ConnState::New);
        if let Some(o) = &s.obs {
            o.accepted();
        }
        self.sync(idx, generation, &mut conn);
        let deadline = conn.deadline(core);
        let slot = &mut self.slab.slots[idx as usize];
        slot.conn = Some(conn);
        self.wheel.arm(&mut slot.timer, idx, generation, deadline);
    }

    /// EMFILE/ENFILE: as the epoll loop (close the longest-idle keep-alive
    /// connections, else pause accepting briefly).
    fn on_fd_exhaustion(&mut self, core: &Core, s: &mut Scratch, e: &std::io::Error) {
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
                self.idx,
                EMFILE_LOG_EVERY_MS / 1000
            );
        }
        if closed == 0 {
            self.stop_accepting();
            self.accept_resume_at = now + ACCEPT_PAUSE_MS;
        }
    }
}

/// Updates the receive state after a receive completion.
fn recv_state(ring: &mut RingIo, res: i32, more: bool) {
    if res == 0 {
        ring.recv = Recv::Ended;
        return;
    }
    if res < 0 {
        match -res {
            libc::ENOBUFS | libc::ECANCELED => {
                if matches!(ring.recv, Recv::Armed | Recv::Cancelling) {
                    ring.recv = Recv::Off;
                }
            }
            e => ring.recv = Recv::Failed(u16::try_from(e).unwrap_or(u16::MAX)),
        }
        return;
    }
    if !more && matches!(ring.recv, Recv::Armed | Recv::Cancelling) {
        ring.recv = Recv::Off;
    }
}

/// Applies a receive or send completion to a connection (`lend`: the
/// connection is driven next, so the ring buffer may be lent to it).
fn apply_to(
    conn: &mut UringConn,
    kind: u64,
    c: Cqe,
    bufs: &mut BufRing,
    spares: &mut Vec<Box<RingBufs>>,
    lend: bool,
) {
    let ring = &mut conn.io.ring;
    match kind {
        K_RECV => {
            if c.res > 0 {
                if let Some(bid) = cqueue::buffer_select(c.flags) {
                    let len = (c.res as u32).min(bufs.buf_size());
                    match bufs.slice_ptr(bid) {
                        Some(p) => {
                            if let Some(back) = ring.receive(p, len, bid, spares, lend) {
                                bufs.recycle(back);
                            }
                        }
                        None => error!("a receive named buffer {bid}, out of range"),
                    }
                }
            }
            recv_state(ring, c.res, cqueue::more(c.flags));
            conn.on_readable();
            if c.res == 0 {
                conn.on_hangup();
            }
        }
        K_SEND => {
            ring.sent(c.res);
            conn.on_writable();
        }
        _ => {}
    }
}

/// No request of the connection is with the kernel any more.
fn quiescent(conn: &UringConn) -> bool {
    let ring = &conn.io.ring;
    !matches!(ring.recv, Recv::Armed | Recv::Cancelling)
        && !ring.bufs.as_ref().is_some_and(|b| b.in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As on epoll: an idle connection is its boxed `Conn` (plus malloc's
    /// 16-byte header, no `RingBufs` box: it went back to the spares) and
    /// its slab slot, at most 256 bytes of user memory.
    #[test]
    fn idle_connection_fits_in_256_bytes() {
        let conn = std::mem::size_of::<UringConn>();
        let slot = std::mem::size_of::<crate::slab::Slot<UringConn>>();
        assert!(
            conn + 16 + slot <= 256,
            "Conn {conn} + malloc 16 + Slot {slot} > 256 (transport {}, epoll conn {})",
            std::mem::size_of::<UringTransport>(),
            std::mem::size_of::<crate::event_loop::TcpConn>()
        );
    }

    #[test]
    fn user_data_round_trips() {
        let u = ud(K_SEND, 12345, 0xFFFF_FFFF);
        assert_eq!(ud_parts(u), (K_SEND, 12345, GEN_MASK));
        assert_eq!(ud_parts(ud(K_RECV, u32::MAX, 7)), (K_RECV, u32::MAX, 7));
    }
}

//! Signal plumbing without busy polling.
//!
//! Handlers (installed with `sigaction`, so they work whatever the signal
//! masks of other threads are) only bump lock-free counters and write one
//! byte to a [`WakePipe`]; the supervising thread sleeps in `poll(2)` on the
//! pipe's read end, with a timeout only when a deadline is pending.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, Signal};

use crate::error::Error;
use crate::sys;

/// The signals the master handles.
const MASTER_SIGNALS: [Signal; 4] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR2,
];

/// Set while a [`MasterSignals`] exists: handlers are process-wide.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The master's pid: a forked child that has not exec'd yet still runs the
/// master's handlers, and must not report its signals as the master's. (A
/// signal such a child swallows is not lost: `spawn` returns only after the
/// exec, so every child the master signals has its own handlers by then.)
static MASTER_PID: AtomicI32 = AtomicI32::new(0);
/// The write end of the master's wake pipe, or -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Handlers currently running; `Drop` waits for zero before closing the pipe.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// SIGCHLD deliveries so far.
static CHILD_EVENTS: AtomicUsize = AtomicUsize::new(0);
/// SIGTERM and SIGINT deliveries so far.
static SHUTDOWN_EVENTS: AtomicUsize = AtomicUsize::new(0);
/// SIGUSR2 deliveries so far (binary upgrade requests).
static UPGRADE_EVENTS: AtomicUsize = AtomicUsize::new(0);
/// The number of the last shutdown signal.
static LAST_SHUTDOWN: AtomicI32 = AtomicI32::new(0);

/// A nonblocking, close-on-exec socket pair used as a self-pipe.
#[derive(Debug)]
pub(crate) struct WakePipe {
    reader: UnixStream,
    writer: UnixStream,
}

/// The master's SIGCHLD/SIGTERM/SIGINT/SIGUSR2 handling; restores the
/// previous handlers when dropped.
#[derive(Debug)]
pub(crate) struct MasterSignals {
    pipe: WakePipe,
    saved: Vec<(Signal, SigAction)>,
    seen_child: usize,
    seen_shutdown: usize,
    seen_upgrade: usize,
}

/// What happened since the previous look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignalEvents {
    /// At least one SIGCHLD arrived: some child may have exited.
    pub(crate) child: bool,
    /// A shutdown signal arrived (the last one, if several).
    pub(crate) shutdown: Option<Signal>,
    /// SIGUSR2 arrived: start a new master (binary upgrade).
    pub(crate) upgrade: bool,
    /// The descriptor passed to [`MasterSignals::wait`] became readable.
    pub(crate) readable: bool,
}

impl WakePipe {
    pub(crate) fn new() -> io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Self { reader, writer })
    }

    /// The descriptor handlers write to.
    pub(crate) fn writer_fd(&self) -> RawFd {
        self.writer.as_raw_fd()
    }

    /// Sleeps until a byte is written or `timeout` passes (`None`: no
    /// timeout), then empties the pipe. Returns whether it was woken by a
    /// byte. An interrupted sleep counts as a wake-up.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.wait_also(timeout, [None, None]).map(|(woke, _)| woke)
    }

    /// [`wait`](Self::wait), also waking when one of `extra` is readable
    /// (or hung up); returns (woken by a byte, one of `extra` readable).
    pub(crate) fn wait_also(
        &self,
        timeout: Option<Duration>,
        extra: [Option<BorrowedFd<'_>>; 2],
    ) -> io::Result<(bool, bool)> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            // Round up so a sub-millisecond remainder does not spin.
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = Vec::with_capacity(3);
        fds.push(PollFd::new(self.reader.as_fd(), PollFlags::POLLIN));
        fds.extend(
            extra
                .into_iter()
                .flatten()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let (woke, readable) = match poll(&mut fds, timeout) {
            Ok(n) => {
                let hit = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                (n > 0 && hit(&fds[0]), fds[1..].iter().any(hit))
            }
            Err(Errno::EINTR) => (true, false),
            Err(e) => return Err(e.into()),
        };
        self.drain();
        Ok((woke, readable))
    }

    fn drain(&self) {
        let mut buf = [0_u8; 64];
        while let Ok(n) = (&self.reader).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

impl MasterSignals {
    /// Installs the master's handlers. Fails with
    /// [`Error::MasterAlreadyRunning`] if another master is active in this
    /// process.
    pub(crate) fn install() -> Result<Self, Error> {
        if ACTIVE
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_err()
        {
            return Err(Error::MasterAlreadyRunning);
        }
        let pipe = match WakePipe::new() {
            Ok(pipe) => pipe,
            Err(e) => {
                ACTIVE.store(false, SeqCst);
                return Err(Error::Signals(e));
            }
        };
        MASTER_PID.store(std::process::id() as i32, SeqCst);
        WAKE_FD.store(pipe.writer_fd(), SeqCst);
        let mut this = Self {
            pipe,
            saved: Vec::with_capacity(MASTER_SIGNALS.len()),
            seen_child: CHILD_EVENTS.load(SeqCst),
            seen_shutdown: SHUTDOWN_EVENTS.load(SeqCst),
            seen_upgrade: UPGRADE_EVENTS.load(SeqCst),
        };
        for signal in MASTER_SIGNALS {
            let extra = if signal == Signal::SIGCHLD {
                SaFlags::SA_NOCLDSTOP
            } else {
                SaFlags::empty()
            };
            // On error `this` is dropped: it restores what was installed.
            let old =
                sys::install_handler(signal, on_master_signal, extra).map_err(Error::Signals)?;
            this.saved.push((signal, old));
        }
        Ok(this)
    }

    /// The events since the last call, without blocking.
    pub(crate) fn take(&mut self) -> SignalEvents {
        let child = CHILD_EVENTS.load(SeqCst);
        let shutdown = SHUTDOWN_EVENTS.load(SeqCst);
        let upgrade = UPGRADE_EVENTS.load(SeqCst);
        let events = SignalEvents {
            child: child != self.seen_child,
            shutdown: (shutdown != self.seen_shutdown)
                .then(|| Signal::try_from(LAST_SHUTDOWN.load(SeqCst)).unwrap_or(Signal::SIGTERM)),
            upgrade: upgrade != self.seen_upgrade,
            readable: false,
        };
        self.seen_child = child;
        self.seen_shutdown = shutdown;
        self.seen_upgrade = upgrade;
        events
    }

    /// The shutdown signal that arrived since the last look, if any, without
    /// consuming child events.
    pub(crate) fn shutdown_requested(&mut self) -> Option<Signal> {
        let shutdown = SHUTDOWN_EVENTS.load(SeqCst);
        if shutdown == self.seen_shutdown {
            return None;
        }
        self.seen_shutdown = shutdown;
        Some(Signal::try_from(LAST_SHUTDOWN.load(SeqCst)).unwrap_or(Signal::SIGTERM))
    }

    /// Blocks until a new signal arrives or `timeout` passes (`None`: no
    /// timeout) and returns what is new (possibly nothing, on timeout).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<SignalEvents, Error> {
        self.wait_also(timeout, [None, None])
    }

    /// [`wait`](Self::wait), also returning when one of `extra` is readable
    /// (or hung up): then [`SignalEvents::readable`] is set.
    pub(crate) fn wait_also(
        &mut self,
        timeout: Option<Duration>,
        extra: [Option<BorrowedFd<'_>>; 2],
    ) -> Result<SignalEvents, Error> {
        let events = self.take();
        if !events.is_empty() {
            return Ok(events);
        }
        let (_, readable) = self
            .pipe
            .wait_also(timeout, extra)
            .map_err(Error::Signals)?;
        Ok(SignalEvents {
            readable,
            ..self.take()
        })
    }
}

impl Drop for MasterSignals {
    fn drop(&mut self) {
        for (signal, old) in self.saved.drain(..).rev() {
            let _ = sys::restore_handler(signal, &old);
        }
        WAKE_FD.store(-1, SeqCst);
        // A handler that loaded the old descriptor before the store above
        // is still counted in IN_FLIGHT; wait for it before the pipe closes
        // (it never blocks: the write end is nonblocking).
        while IN_FLIGHT.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        ACTIVE.store(false, SeqCst);
    }
}

impl SignalEvents {
    /// Whether nothing happened.
    pub(crate) fn is_empty(self) -> bool {
        !self.child && self.shutdown.is_none() && !self.upgrade
    }
}

extern "C" fn on_master_signal(signal: libc::c_int) {
    IN_FLIGHT.fetch_add(1, SeqCst);
    if nix::unistd::getpid().as_raw() == MASTER_PID.load(SeqCst) {
        if signal == libc::SIGCHLD {
            CHILD_EVENTS.fetch_add(1, SeqCst);
        } else if signal == libc::SIGUSR2 {
            UPGRADE_EVENTS.fetch_add(1, SeqCst);
        } else {
            LAST_SHUTDOWN.store(signal, SeqCst);
            SHUTDOWN_EVENTS.fetch_add(1, SeqCst);
        }
        let fd = WAKE_FD.load(SeqCst);
        if fd >= 0 {
            sys::write_wake_byte(fd, 1);
        }
    }
    IN_FLIGHT.fetch_sub(1, SeqCst);
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use nix::sys::signal::raise;

    use super::*;

    /// One test owns the process-wide handlers, so nothing races on them.
    #[test]
    fn master_signals_wake_count_and_restore() {
        let before = disposition(Signal::SIGINT);
        let mut signals = MasterSignals::install().unwrap();
        assert!(matches!(
            MasterSignals::install(),
            Err(Error::MasterAlreadyRunning)
        ));

        // A timeout returns with nothing new (other tests' children may
        // send SIGCHLD meanwhile, which ends the wait early).
        let start = Instant::now();
        let events = signals.wait(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(events.shutdown, None);
        if events.is_empty() {
            assert!(start.elapsed() >= Duration::from_millis(25));
        }

        raise(Signal::SIGTERM).unwrap();
        let events = signals.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events.shutdown, Some(Signal::SIGTERM));

        raise(Signal::SIGINT).unwrap();
        raise(Signal::SIGCHLD).unwrap();
        let events = signals.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events.shutdown, Some(Signal::SIGINT));
        assert!(events.child);
        assert!(signals.take().is_empty());

        // SIGUSR2 asks for an upgrade and is no shutdown.
        raise(Signal::SIGUSR2).unwrap();
        let events = signals.wait(Some(Duration::from_secs(5))).unwrap();
        assert!(events.upgrade, "{events:?}");
        assert_eq!(events.shutdown, None);

        // A readable extra descriptor ends the wait and is reported.
        let (extra, mut writer) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut writer, b"R").unwrap();
        let events = signals
            .wait_also(Some(Duration::from_secs(5)), [None, Some(extra.as_fd())])
            .unwrap();
        assert!(events.readable && !events.upgrade, "{events:?}");

        drop(signals);
        // The previous SIGINT disposition is back, and a second master may
        // start once the first is gone.
        assert_eq!(disposition(Signal::SIGINT), before);
        let again = MasterSignals::install().unwrap();
        assert_eq!(
            disposition(Signal::SIGINT),
            nix::sys::signal::SigHandler::Handler(on_master_signal)
        );
        drop(again);
        assert_eq!(disposition(Signal::SIGINT), before);
    }

    /// The current handler of `signal`, read by swapping in a no-op one and
    /// putting the old one back.
    fn disposition(signal: Signal) -> nix::sys::signal::SigHandler {
        let old = sys::install_handler(signal, dummy, SaFlags::empty()).unwrap();
        sys::restore_handler(signal, &old).unwrap();
        old.handler()
    }

    extern "C" fn dummy(_: libc::c_int) {}

    #[test]
    fn wake_pipe_wakes_and_times_out() {
        let pipe = WakePipe::new().unwrap();
        assert!(!pipe.wait(Some(Duration::from_millis(5))).unwrap());
        sys::write_wake_byte(pipe.writer_fd(), 1);
        sys::write_wake_byte(pipe.writer_fd(), 1);
        assert!(pipe.wait(Some(Duration::from_secs(5))).unwrap());
        // Drained: the next wait times out again.
        assert!(!pipe.wait(Some(Duration::from_millis(5))).unwrap());
    }
}

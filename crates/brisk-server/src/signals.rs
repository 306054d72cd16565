//! SIGTERM and SIGINT as a graceful shutdown
//! ([`ServerBuilder::handle_signals`](crate::ServerBuilder::handle_signals)).
//!
//! While at least one server serves with signals, this process's SIGTERM
//! and SIGINT actions are [`on_signal`]: it bumps a counter and writes one
//! byte to a self-pipe, nothing else (async-signal-safe). One watcher thread
//! blocks on the pipe and starts the shutdown of every registered server:
//! the first signal a server sees starts its graceful shutdown, a second
//! one (with `force_on_second_signal`) closes its connections at once. When
//! every registered server has been forced, the previous actions come back
//! at once, so a third signal acts as it would without brisk (by default:
//! the process ends) even if a handler never returns. When the last server
//! stops serving, the previous actions come back, the pipe closes and the
//! watcher thread ends: nothing stays behind.
//!
//! signalfd would need SIGTERM and SIGINT blocked in every thread of the
//! program, which a library cannot arrange; the `signal-hook` crate cannot
//! give the previous action back (its `unregister` leaves SIGTERM ignored).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{error, info, warn};
use nix::sys::signal::{SigAction, Signal};

use crate::server::Core;
use crate::sys;

/// The signals that start a graceful shutdown.
const SIGNALS: [Signal; 2] = [Signal::SIGTERM, Signal::SIGINT];

/// The write end of the watcher's pipe while handlers may use it, else -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Handlers running right now: the pipe closes only when none is.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Signals delivered to [`on_signal`] so far.
static DELIVERED: AtomicUsize = AtomicUsize::new(0);
/// The number of the last signal delivered.
static LAST: AtomicI32 = AtomicI32::new(0);

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    servers: Vec::new(),
    next_id: 0,
    watcher: None,
    saved: Vec::new(),
});

/// The servers serving with signals, and the process-wide plumbing.
struct Registry {
    servers: Vec<Entry>,
    next_id: u64,
    watcher: Option<Watcher>,
    /// The actions ours replaced; empty while ours are not installed.
    saved: Vec<(Signal, SigAction)>,
}

/// One server serving with signals.
struct Entry {
    id: u64,
    core: Arc<Core>,
    /// [`DELIVERED`] when it registered: earlier signals are not its own.
    base: usize,
    /// Signals already acted on.
    acted: usize,
}

/// The watcher thread and the pipe's write end.
struct Watcher {
    writer: UnixStream,
    thread: JoinHandle<()>,
}

/// Registered while a server serves; unregisters when dropped.
pub(crate) struct SignalGuard {
    id: u64,
}

/// Registers `core` so that SIGTERM and SIGINT shut it down, if its
/// configuration asks for it (`by_default`: whether the serve path in use
/// handles signals when the configuration does not say).
pub(crate) fn register(core: &Arc<Core>, by_default: bool) -> io::Result<Option<SignalGuard>> {
    if !core.cfg.handle_signals.unwrap_or(by_default) {
        return Ok(None);
    }
    let mut reg = lock();
    if reg.watcher.is_none() {
        reg.watcher = Some(Watcher::start()?);
    }
    if reg.saved.is_empty() {
        if let Err(e) = install(&mut reg) {
            let watcher = if reg.servers.is_empty() {
                teardown(&mut reg)
            } else {
                None
            };
            drop(reg);
            if let Some(w) = watcher {
                w.stop();
            }
            return Err(e);
        }
    }
    let id = reg.next_id;
    reg.next_id += 1;
    reg.servers.push(Entry {
        id,
        core: core.clone(),
        base: DELIVERED.load(SeqCst),
        acted: 0,
    });
    Ok(Some(SignalGuard { id }))
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let mut reg = lock();
        reg.servers.retain(|e| e.id != self.id);
        if !reg.servers.is_empty() {
            return;
        }
        let watcher = teardown(&mut reg);
        drop(reg);
        // Joined outside the lock: the watcher may be waiting for it.
        if let Some(w) = watcher {
            w.stop();
        }
    }
}

/// Installs [`on_signal`] for [`SIGNALS`], saving what it replaces; on an
/// error, puts back what it had replaced.
fn install(reg: &mut Registry) -> io::Result<()> {
    for signal in SIGNALS {
        match sys::install_signal_handler(signal, on_signal) {
            Ok(old) => reg.saved.push((signal, old)),
            Err(e) => {
                uninstall(reg);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Puts back the actions [`install`] replaced.
fn uninstall(reg: &mut Registry) {
    for (signal, old) in reg.saved.drain(..).rev() {
        if let Err(e) = sys::restore_signal_action(signal, &old) {
            error!("brisk: cannot restore the previous {signal} action: {e}");
        }
    }
}

/// Restores the previous actions and detaches the pipe from the handlers;
/// returns the watcher for the caller to stop outside the lock.
fn teardown(reg: &mut Registry) -> Option<Watcher> {
    uninstall(reg);
    WAKE_FD.store(-1, SeqCst);
    // A handler that read the descriptor before the store above is counted
    // in IN_FLIGHT (it counts itself before reading it); it never blocks
    // (the write end is nonblocking), so this wait is short.
    while IN_FLIGHT.load(SeqCst) != 0 {
        std::thread::yield_now();
    }
    reg.watcher.take()
}

impl Watcher {
    fn start() -> io::Result<Watcher> {
        // Close-on-exec, so programs the server's handlers start do not
        // inherit it.
        let (reader, writer) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        let thread = std::thread::Builder::new()
            .name("brisk-signals".into())
            .spawn(move || watch(reader))?;
        WAKE_FD.store(writer.as_raw_fd(), SeqCst);
        Ok(Watcher { writer, thread })
    }

    /// Closes the pipe (the watcher reads its end) and joins the thread.
    /// Only after [`teardown`]: no handler may write to it any more.
    fn stop(self) {
        drop(self.writer);
        let _ = self.thread.join();
    }
}

/// The watcher thread: wakes up for every byte a handler writes and acts
/// on the signals; returns when the write end closes.
fn watch(mut reader: UnixStream) {
    let mut buf = [0u8; 64];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => act(&mut lock()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error!(
                    "brisk: the signal watcher cannot read its pipe ({e}); signals are not handled"
                );
                return;
            }
        }
    }
}

/// Starts the shutdowns the signals delivered so far call for.
fn act(reg: &mut Registry) {
    let delivered = DELIVERED.load(SeqCst);
    let name = Signal::try_from(LAST.load(SeqCst)).map_or("a signal", Signal::as_str);
    let mut forced_now = false;
    let mut all_forced = !reg.servers.is_empty();
    for e in &mut reg.servers {
        let seen = delivered.wrapping_sub(e.base);
        let force = e.core.cfg.force_on_second_signal;
        if seen > e.acted {
            if e.acted == 0 {
                info!(
                    "brisk: {name}: graceful shutdown (requests in flight get up to {:?})",
                    e.core.cfg.shutdown_timeout
                );
                e.core.begin_shutdown(e.core.cfg.shutdown_timeout);
            }
            if seen >= 2 && e.acted < 2 && force {
                e.core.begin_shutdown(Duration::ZERO);
                forced_now = true;
            }
            e.acted = seen;
        }
        all_forced &= force && seen >= 2;
    }
    if forced_now {
        // Every server has been forced: a further signal does what it
        // would do without brisk (the pipe stays open until serving ends,
        // for a handler already running).
        if all_forced {
            uninstall(reg);
        }
        warn!(
            "brisk: second {name}: closing every connection now{}",
            if all_forced {
                "; the next one gets the program's previous action"
            } else {
                ""
            }
        );
    }
}

/// The SIGTERM and SIGINT handler: async-signal-safe (atomics and one
/// `write`, `errno` preserved).
extern "C" fn on_signal(signal: libc::c_int) {
    IN_FLIGHT.fetch_add(1, SeqCst);
    LAST.store(signal, SeqCst);
    DELIVERED.fetch_add(1, SeqCst);
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        sys::write_wake_byte(fd);
    }
    IN_FLIGHT.fetch_sub(1, SeqCst);
}

fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

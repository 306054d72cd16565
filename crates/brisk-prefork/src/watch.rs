//! A child's master-death watcher.
//!
//! On Linux the master starts every child with `PR_SET_PDEATHSIG`
//! ([`PARENT_DEATH_SIGNAL`](crate::sys::PARENT_DEATH_SIGNAL)): the kernel
//! signals the child the moment the master dies, and the handler installed
//! here wakes the watcher thread at once. Everywhere (and as a fallback if
//! the application replaces that handler) the watcher also compares
//! `getppid()` with the master's original pid every [`POLL_INTERVAL`]:
//! comparing with the original pid, not with 1, keeps this right when the
//! master is itself pid 1 or when a subreaper adopts the orphans.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};
use std::time::Duration;

use crate::error::panic_message;
use crate::logger::{Level, Logger, say};
use crate::signals::WakePipe;

/// How often the portable fallback compares `getppid()` with the master.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Set once a watcher runs in this process.
static STARTED: AtomicBool = AtomicBool::new(false);
/// The write end of the watcher's wake pipe, or -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// What a child does when its master dies.
pub(crate) type OnMasterDeath = Box<dyn FnOnce() + Send + 'static>;

/// Starts the watcher thread (once per process; later calls return
/// `Ok(false)` and drop `on_death`).
pub(crate) fn start(
    master_pid: i32,
    on_death: OnMasterDeath,
    logger: Arc<dyn Logger>,
) -> io::Result<bool> {
    if STARTED.swap(true, SeqCst) {
        return Ok(false);
    }
    let started = start_inner(master_pid, on_death, logger);
    if started.is_err() {
        STARTED.store(false, SeqCst);
    }
    started.map(|()| true)
}

fn start_inner(
    master_pid: i32,
    on_death: OnMasterDeath,
    logger: Arc<dyn Logger>,
) -> io::Result<()> {
    // The pipe lives as long as the process: the signal handler may write
    // to it at any time, so its descriptors must never be closed or reused.
    let pipe: &'static WakePipe = Box::leak(Box::new(WakePipe::new()?));
    WAKE_FD.store(pipe.writer_fd(), SeqCst);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    crate::sys::install_handler(
        crate::sys::PARENT_DEATH_SIGNAL,
        on_parent_death,
        nix::sys::signal::SaFlags::empty(),
    )?;
    std::thread::Builder::new()
        .name("brisk-prefork-watch".to_owned())
        .spawn(move || watch(pipe, master_pid, on_death, &*logger))?;
    Ok(())
}

/// How the watcher noticed the master's death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noticed {
    /// The master was already gone when the watcher started.
    AtStart,
    /// The parent-death signal woke the watcher.
    Signal,
    /// The periodic `getppid()` comparison.
    Poll,
}

fn watch(pipe: &WakePipe, master_pid: i32, on_death: OnMasterDeath, logger: &dyn Logger) {
    let mut noticed = Noticed::AtStart;
    while parent_pid() == master_pid {
        noticed = match pipe.wait(Some(POLL_INTERVAL)) {
            Ok(true) => Noticed::Signal,
            Ok(false) => Noticed::Poll,
            Err(e) => {
                say!(
                    logger,
                    Level::Error,
                    "prefork: watcher cannot wait ({e}); polling only"
                );
                std::thread::sleep(POLL_INTERVAL);
                Noticed::Poll
            }
        };
    }
    // The master may have died before this thread first ran: its signal is
    // then already waiting in the pipe.
    if noticed == Noticed::AtStart && pipe.wait(Some(Duration::ZERO)).unwrap_or(false) {
        noticed = Noticed::Signal;
    }
    let how = match noticed {
        Noticed::AtStart => "at start",
        Noticed::Signal => "by parent-death signal",
        Noticed::Poll => "by getppid poll",
    };
    say!(
        logger,
        Level::Warn,
        "prefork: master process {master_pid} died (noticed {how}); running on_master_death"
    );
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(on_death)) {
        say!(
            logger,
            Level::Error,
            "prefork: on_master_death panicked: {}; exiting",
            panic_message(&*payload)
        );
        std::process::exit(1);
    }
}

fn parent_pid() -> i32 {
    nix::unistd::getppid().as_raw()
}

/// The default `on_master_death`: exit with status 1.
pub(crate) fn default_on_master_death() -> OnMasterDeath {
    Box::new(|| std::process::exit(1))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
extern "C" fn on_parent_death(_signal: libc::c_int) {
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        crate::sys::write_wake_byte(fd, 1);
    }
}

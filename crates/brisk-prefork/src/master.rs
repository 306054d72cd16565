//! The master: bind, spawn, supervise, shut down.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{BoxError, Error, Hook, panic_message};
use crate::logger::{Level, Logger, say};
use crate::network;
use crate::signals::MasterSignals;
use crate::spawn::SpawnContext;
use crate::sys;
use crate::upgrade::{ChildReadiness, Origin, Progress, Upgrade};
use crate::{Prefork, ServeMode};

/// `on_child_spawn`.
pub(crate) type ChildSpawnHook = Box<dyn FnMut(u32) -> Result<(), BoxError> + Send + 'static>;
/// `on_master_ready`.
pub(crate) type MasterReadyHook = Box<dyn FnOnce(&[u32]) -> Result<(), BoxError> + Send + 'static>;
/// `on_child_recover`.
pub(crate) type ChildRecoverHook =
    Box<dyn FnMut(u32, u32) -> Result<(), BoxError> + Send + 'static>;
/// `command_producer`.
pub(crate) type CommandProducer =
    Box<dyn FnMut(&SpawnContext) -> Result<Option<Child>, BoxError> + Send + 'static>;

/// One running child.
#[derive(Debug)]
struct Running {
    pid: u32,
    /// Its slot: with reuseport, which of the master's sockets it serves.
    slot: usize,
    child: Child,
}

/// The supervising state of one master run.
struct Supervisor {
    logger: Arc<dyn Logger>,
    ctx: SpawnContext,
    /// A duplicate of the listener that keeps fd 3 taken while children
    /// are spawned (fd passing only); closed with the listener at stop.
    fd3: Option<OwnedFd>,
    signals: MasterSignals,
    on_child_spawn: Option<ChildSpawnHook>,
    on_master_ready: Option<MasterReadyHook>,
    on_child_recover: Option<ChildRecoverHook>,
    command_producer: Option<CommandProducer>,
    /// How many children to keep running.
    count: usize,
    threshold: usize,
    interval: Duration,
    grace: Duration,
    /// INVARIANT: every child here was spawned and not yet waited for, so
    /// its pid cannot be reused and signalling it is safe.
    children: Vec<Running>,
    /// Crashed children waiting for `interval` before their replacement
    /// starts: (old pid, its slot, when to respawn), in due order.
    pending: VecDeque<(u32, usize, Instant)>,
    /// Child exits seen so far.
    exits: usize,
    /// Where the listener came from (an upgraded master reports readiness
    /// through it).
    origin: Origin,
    /// A master started by an upgrade: its first children's reports, until
    /// all came (then it tells the old master).
    child_ready: Option<ChildReadiness>,
    /// A binary upgrade this master started (SIGUSR2).
    upgrade: Upgrade,
    /// How long a new master may take to be ready.
    upgrade_timeout: Duration,
    /// New masters that failed, to be reaped (never signalled again once
    /// reaped: removed then).
    stray: Vec<Child>,
}

/// Why supervision ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM or SIGINT.
    Shutdown,
    /// A new master is ready: it serves from now on.
    Upgraded {
        /// Its pid.
        pid: u32,
    },
}

/// Runs the master side of `listen_and_serve*`.
pub(crate) fn run(mut prefork: Prefork, addr: &str, mode: ServeMode<'_>) -> Result<(), Error> {
    prefork.check_serve_function(mode)?;
    if prefork.children == 0 {
        return Err(Error::NoChildren);
    }
    let (sockets, local, origin) = match crate::upgrade::take_inherited()? {
        Some((sockets, origin)) => {
            let local = network::local_addr(&sockets[0]).map_err(|e| Error::Inherited {
                reason: format!("cannot read its address ({e})"),
            })?;
            if sockets.len() == 1 && prefork.reuseport {
                say!(
                    prefork.logger,
                    Level::Warn,
                    "prefork: one inherited socket: serving it with fd passing, not reuseport"
                );
                prefork.reuseport = false;
            } else if sockets.len() > 1 && (!prefork.reuseport || sockets.len() != prefork.children)
            {
                return Err(Error::Inherited {
                    reason: format!(
                        "{} sockets were passed (a reuseport master's, one per child) to a \
                         master configured with {} {} children; keep the configuration \
                         across an upgrade",
                        sockets.len(),
                        prefork.children,
                        if prefork.reuseport {
                            "reuseport"
                        } else {
                            "fd-passing"
                        }
                    ),
                });
            }
            (sockets, local, origin)
        }
        None => {
            let resolved = network::resolve(addr, prefork.network)?;
            let first = network::bind(resolved, prefork.network, prefork.reuseport)?;
            let local = network::local_addr(&first).map_err(|source| Error::Bind {
                addr: resolved,
                source,
            })?;
            let mut sockets = vec![first];
            if prefork.reuseport {
                // One socket per child slot, all on the port the first one
                // got (also for `:0`). They stay with the master: a
                // replacement child gets its slot's socket, whose queue was
                // kept meanwhile, and an upgrade passes them all on.
                for _ in 1..prefork.children {
                    sockets.push(network::bind(local, prefork.network, true)?);
                }
            }
            (sockets, local, Origin::Bound)
        }
    };
    // std reports exec failures through a pipe; it must never sit on fd 3,
    // which `pre_exec` overwrites with the listener. Keep fd 3 occupied.
    let fd3 = occupy_listener_fd(&sockets[0]);
    let signals = MasterSignals::install()?;
    let logger = Arc::clone(&prefork.logger);
    say!(
        logger,
        Level::Info,
        "prefork: master {} on {local} ({}, {}, {}), starting {} children",
        std::process::id(),
        origin.describe(),
        prefork.network,
        if prefork.reuseport {
            "reuseport"
        } else {
            "fd passing"
        },
        prefork.children
    );
    let mut supervisor = Supervisor {
        logger,
        ctx: SpawnContext::new(sockets, local, prefork.reuseport),
        fd3,
        signals,
        on_child_spawn: prefork.on_child_spawn.take(),
        on_master_ready: prefork.on_master_ready.take(),
        on_child_recover: prefork.on_child_recover.take(),
        command_producer: prefork.command_producer.take(),
        count: prefork.children,
        threshold: prefork.recover_threshold,
        interval: prefork.recover_interval,
        grace: prefork.shutdown_grace_period,
        children: Vec::with_capacity(prefork.children),
        pending: VecDeque::new(),
        exits: 0,
        origin,
        upgrade: Upgrade::Idle,
        upgrade_timeout: prefork.upgrade_timeout,
        stray: Vec::new(),
        child_ready: None,
    };
    if matches!(supervisor.origin, Origin::Upgrade { .. }) {
        match ChildReadiness::new(&supervisor.ctx) {
            Ok(ready) => supervisor.child_ready = Some(ready),
            // Then "ready" means "started", as for on_master_ready.
            Err(e) => say!(
                supervisor.logger,
                Level::Warn,
                "prefork: upgrade: cannot create the children's readiness pipe ({e}); \
                 reporting ready once they started"
            ),
        }
    }
    let result = supervisor.supervise();
    match &result {
        Err(e) => say!(
            supervisor.logger,
            Level::Error,
            "prefork: {e}; stopping all children"
        ),
        Ok(Stop::Upgraded { pid }) => say!(
            supervisor.logger,
            Level::Info,
            "prefork: upgrade: new master {pid} is ready; stopping this master's children"
        ),
        Ok(Stop::Shutdown) => {}
    }
    if let Some(pid) = supervisor.upgrade.abandon(&mut supervisor.stray) {
        say!(
            supervisor.logger,
            Level::Warn,
            "prefork: upgrade: stopping before new master {pid} was ready; sent it SIGTERM"
        );
    }
    supervisor.stop_all();
    result.map(drop)
}

/// Runs a hook, turning its error or panic into an [`Error`].
pub(crate) fn call_hook(hook: Hook, f: impl FnOnce() -> Result<(), BoxError>) -> Result<(), Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(Error::Hook { hook, source }),
        Err(payload) => Err(Error::HookPanicked {
            hook,
            message: panic_message(&*payload),
        }),
    }
}

/// If fd 3 is free, duplicates the listener onto it (close-on-exec) and
/// returns the duplicate, to be kept open while children are spawned.
fn occupy_listener_fd(socket: &socket2::Socket) -> Option<OwnedFd> {
    if socket.as_raw_fd() == sys::LISTENER_FD || sys::fd_is_open(sys::LISTENER_FD) {
        return None;
    }
    // std duplicates with F_DUPFD_CLOEXEC from 3: the lowest free fd >= 3.
    socket.as_fd().try_clone_to_owned().ok()
}

impl Supervisor {
    /// Spawns the children and supervises them until a shutdown signal
    /// (`Ok`) or an error. Leaves stopping the children to `stop_all`.
    fn supervise(&mut self) -> Result<Stop, Error> {
        let mut pids = Vec::with_capacity(self.count);
        for slot in 0..self.count {
            if let Some(signal) = self.signals.shutdown_requested() {
                self.log_shutdown(signal);
                return Ok(Stop::Shutdown);
            }
            pids.push(self.spawn_one(slot)?);
        }
        if let Some(hook) = self.on_master_ready.take() {
            call_hook(Hook::MasterReady, || hook(&pids))?;
        }
        say!(
            self.logger,
            Level::Info,
            "prefork: children ready: {pids:?}"
        );
        if self.child_ready.is_none() {
            self.report_ready();
        }
        loop {
            self.check_children_ready();
            // Reap on every wake-up: one SIGCHLD may stand for several exits.
            self.reap()?;
            if self.respawn_due()? {
                return Ok(Stop::Shutdown);
            }
            match self.upgrade.progress(&mut self.stray) {
                Progress::Waiting => {}
                Progress::Ready { pid } => return Ok(Stop::Upgraded { pid }),
                Progress::Failed { pid, reason } => say!(
                    self.logger,
                    Level::Error,
                    "prefork: upgrade failed: new master {pid}: {reason}; this master keeps serving"
                ),
            }
            let now = Instant::now();
            let timeout = [
                self.pending.front().map(|&(_, _, due)| due),
                self.upgrade.deadline(),
            ]
            .into_iter()
            .flatten()
            .min()
            .map(|due| due.saturating_duration_since(now));
            let extra = [
                self.upgrade.ready_fd(),
                self.child_ready.as_ref().map(ChildReadiness::fd),
            ];
            let events = self.signals.wait_also(timeout, extra)?;
            if let Some(signal) = events.shutdown {
                self.log_shutdown(signal);
                return Ok(Stop::Shutdown);
            }
            if events.upgrade {
                self.start_upgrade();
            }
        }
    }

    /// An upgraded master: once every first child reported that it took its
    /// listener, tells the old master.
    fn check_children_ready(&mut self) {
        let Some(ready) = self.child_ready.as_mut() else {
            return;
        };
        let reported = ready.count(self.children.iter().map(|r| r.pid));
        if reported < self.count {
            return;
        }
        self.child_ready = None;
        self.ctx.set_child_ready(None);
        say!(
            self.logger,
            Level::Info,
            "prefork: upgrade: all {reported} children took their listener"
        );
        self.report_ready();
    }

    /// An upgraded master tells the old master that it is ready (once).
    fn report_ready(&mut self) {
        match self.origin.report_ready() {
            Ok(Some(old)) => say!(
                self.logger,
                Level::Info,
                "prefork: upgrade: told master {old} that this master is ready"
            ),
            Ok(None) => {}
            // The old master then sees the pipe close, or times out, and
            // keeps serving too: both serve the same socket.
            Err(e) => say!(
                self.logger,
                Level::Error,
                "prefork: upgrade: cannot tell the old master this master is ready: {e}"
            ),
        }
    }

    /// SIGUSR2: starts a new master that inherits the listener, unless one
    /// is starting already or the listener cannot be passed on.
    fn start_upgrade(&mut self) {
        if self.child_ready.is_some() {
            say!(
                self.logger,
                Level::Warn,
                "prefork: SIGUSR2 ignored: this master's first children are still starting"
            );
            return;
        }
        if let Some(pid) = self.upgrade.pid() {
            say!(
                self.logger,
                Level::Warn,
                "prefork: SIGUSR2 ignored: new master {pid} is still starting"
            );
            return;
        }
        match Upgrade::start(&self.ctx, self.upgrade_timeout) {
            Ok(upgrade) => {
                say!(
                    self.logger,
                    Level::Info,
                    "prefork: upgrade: started new master {} ({}); this master serves until it is ready",
                    upgrade.pid().unwrap_or(0),
                    self.ctx.executable().display()
                );
                self.upgrade = upgrade;
            }
            Err(reason) => say!(
                self.logger,
                Level::Error,
                "prefork: upgrade failed: {reason}; this master keeps serving"
            ),
        }
    }

    fn log_shutdown(&self, signal: Signal) {
        say!(self.logger, Level::Info, "prefork: received {signal}");
    }

    /// Starts the child of `slot`, tracks it, then runs `on_child_spawn`.
    fn spawn_one(&mut self, slot: usize) -> Result<u32, Error> {
        self.ctx.set_slot(slot);
        let child = self.produce()?;
        let pid = child.id();
        self.children.push(Running { pid, slot, child });
        say!(self.logger, Level::Debug, "prefork: started child {pid}");
        if let Some(hook) = self.on_child_spawn.as_mut() {
            call_hook(Hook::ChildSpawn, || hook(pid))?;
        }
        Ok(pid)
    }

    /// A started child, from the command producer or the default command.
    fn produce(&mut self) -> Result<Child, Error> {
        let Some(producer) = self.command_producer.as_mut() else {
            return self.ctx.spawn_default();
        };
        let ctx = &self.ctx;
        let produced =
            panic::catch_unwind(AssertUnwindSafe(|| producer(ctx))).map_err(|payload| {
                Error::HookPanicked {
                    hook: Hook::CommandProducer,
                    message: panic_message(&*payload),
                }
            })?;
        let mut child = match produced {
            Ok(Some(child)) => child,
            Ok(None) => return Err(Error::ProducerReturnedNone),
            Err(source) => return Err(Error::Producer(source)),
        };
        let pid = child.id();
        match child.try_wait() {
            Ok(None) => Ok(child),
            Ok(Some(status)) => Err(Error::ChildNotRunning {
                pid,
                status: Some(status),
            }),
            Err(_) => Err(Error::ChildNotRunning { pid, status: None }),
        }
    }

    /// Collects exited children, counts them against the threshold and
    /// schedules their replacements.
    fn reap(&mut self) -> Result<(), Error> {
        self.reap_strays();
        let mut i = 0;
        while i < self.children.len() {
            let running = &mut self.children[i];
            match running.child.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(status)) => say!(
                    self.logger,
                    Level::Warn,
                    "prefork: child {} exited: {status}",
                    running.pid
                ),
                // ECHILD: someone else in this process reaped it.
                Err(e) => say!(
                    self.logger,
                    Level::Error,
                    "prefork: cannot wait for child {} ({e}); treating it as exited",
                    running.pid
                ),
            }
            let gone = self.children.swap_remove(i);
            self.exits += 1;
            if self.exits > self.threshold {
                return Err(Error::OverRecovery {
                    threshold: self.threshold,
                    exits: self.exits,
                });
            }
            if !self.interval.is_zero() {
                say!(
                    self.logger,
                    Level::Info,
                    "prefork: replacing child {} in {:?}",
                    gone.pid,
                    self.interval
                );
            }
            self.pending
                .push_back((gone.pid, gone.slot, Instant::now() + self.interval));
        }
        Ok(())
    }

    /// Starts the replacements whose time has come; `Ok(true)` if a
    /// shutdown signal arrived meanwhile.
    fn respawn_due(&mut self) -> Result<bool, Error> {
        while let Some(&(old, slot, due)) = self.pending.front() {
            if due > Instant::now() {
                break;
            }
            if let Some(signal) = self.signals.shutdown_requested() {
                self.log_shutdown(signal);
                return Ok(true);
            }
            self.pending.pop_front();
            let new = self.spawn_one(slot)?;
            say!(
                self.logger,
                Level::Info,
                "prefork: child {old} replaced by {new}"
            );
            if let Some(hook) = self.on_child_recover.as_mut() {
                call_hook(Hook::ChildRecover, || hook(old, new))?;
            }
        }
        Ok(false)
    }

    /// SIGTERM to every child, up to `grace` for them to exit, SIGKILL to
    /// the rest, and every child reaped. A further SIGTERM/SIGINT during the
    /// grace period skips the rest of it.
    fn stop_all(&mut self) {
        self.pending.clear();
        // Nothing is spawned from here on: the master's listener (and its
        // fd 3 duplicate) close now, so the socket closes once every child
        // has closed its own at the start of its drain.
        self.ctx.close_listener();
        self.fd3 = None;
        if self.children.is_empty() {
            return;
        }
        // Signals that arrived before the stop began are not "further"
        // ones; any signal after the line below is.
        let _ = self.signals.shutdown_requested();
        say!(
            self.logger,
            Level::Info,
            "prefork: stopping {} children: SIGTERM now, SIGKILL after {:?}",
            self.children.len(),
            self.grace
        );
        for running in &self.children {
            self.signal(running.pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + self.grace;
        loop {
            self.reap_quietly();
            if self.children.is_empty() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                say!(
                    self.logger,
                    Level::Warn,
                    "prefork: {} children still running after {:?}; sending SIGKILL",
                    self.children.len(),
                    self.grace
                );
                break;
            }
            match self.signals.wait(Some(deadline - now)) {
                Ok(events) if events.shutdown.is_some() => {
                    say!(
                        self.logger,
                        Level::Warn,
                        "prefork: second shutdown signal; sending SIGKILL now"
                    );
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    say!(
                        self.logger,
                        Level::Error,
                        "prefork: {e}; sending SIGKILL now"
                    );
                    break;
                }
            }
        }
        self.kill_all();
    }

    /// Reaps new masters of failed upgrades that have exited.
    fn reap_strays(&mut self) {
        self.stray
            .retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    }

    /// Removes exited children without counting them (used while stopping).
    fn reap_quietly(&mut self) {
        self.reap_strays();
        let logger = &*self.logger;
        self.children
            .retain_mut(|running| match running.child.try_wait() {
                Ok(None) => true,
                Ok(Some(status)) => {
                    say!(
                        logger,
                        Level::Debug,
                        "prefork: child {} stopped: {status}",
                        running.pid
                    );
                    false
                }
                Err(_) => false,
            });
    }

    /// SIGKILL and reap every child still tracked.
    fn kill_all(&mut self) {
        for mut running in self.children.drain(..) {
            // Fails only if it already exited; `wait` reaps it either way.
            let _ = running.child.kill();
            if let Err(e) = running.child.wait() {
                say!(
                    self.logger,
                    Level::Error,
                    "prefork: cannot reap child {}: {e}",
                    running.pid
                );
            }
        }
    }

    fn signal(&self, pid: u32, signal: Signal) {
        // The pid is a tracked, unreaped child (see `children`'s invariant).
        match kill(Pid::from_raw(pid as i32), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => say!(
                self.logger,
                Level::Error,
                "prefork: cannot send {signal} to child {pid}: {e}"
            ),
        }
    }
}

impl Drop for Supervisor {
    /// If supervision unwinds, no child is left running or unreaped.
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_hook_maps_results_and_panics() {
        assert!(call_hook(Hook::ChildSpawn, || Ok(())).is_ok());
        match call_hook(Hook::ChildRecover, || Err("no".into())) {
            Err(Error::Hook {
                hook: Hook::ChildRecover,
                source,
            }) => assert_eq!(source.to_string(), "no"),
            other => panic!("unexpected {other:?}"),
        }
        match call_hook(Hook::MasterReady, || panic!("hook blew up")) {
            Err(Error::HookPanicked {
                hook: Hook::MasterReady,
                message,
            }) => assert_eq!(message, "hook blew up"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

//! Where the master's listener comes from (bound, systemd socket
//! activation, or an old master during a binary upgrade), and the old
//! master's side of an upgrade: start the new master, wait until it is
//! ready, then stop.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::error::Error;
use crate::spawn::{READY_FD_ENV, SpawnContext, UPGRADE_ENV};
use crate::sys::{self, LISTENER_FD};

/// The byte a new master writes on its readiness descriptor.
const READY: u8 = b'R';

/// Where the master's listener came from.
#[derive(Debug)]
pub(crate) enum Origin {
    /// The master bound it.
    Bound,
    /// A service manager passed it (`LISTEN_PID` is this process).
    Systemd,
    /// An old master passed it: tell it on `ready` once the children run.
    Upgrade {
        /// The old master's pid.
        old_master: u32,
        /// Where to write the readiness byte; `None` once written.
        ready: Option<OwnedFd>,
    },
}

/// The old master's side of a binary upgrade.
#[derive(Debug)]
pub(crate) enum Upgrade {
    /// No upgrade under way.
    Idle,
    /// A new master runs and is not ready yet.
    Starting {
        /// The new master (our child until we exit).
        child: Child,
        /// The read end of its readiness descriptor (nonblocking).
        ready: UnixStream,
        /// When to give up waiting for it.
        deadline: Instant,
    },
}

/// What an upgrade under way did since the last look.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Nothing yet (or no upgrade under way).
    Waiting,
    /// The new master is ready: this master stops its children and returns.
    Ready {
        /// The new master's pid.
        pid: u32,
    },
    /// The new master failed; this master keeps serving.
    Failed {
        /// The new master's pid.
        pid: u32,
        /// What happened, for the log.
        reason: String,
    },
}

/// The listening sockets passed to this process, if any, and where they
/// came from.
///
/// Two senders, one layout (fds 3 … 3 + `LISTEN_FDS` − 1): a service
/// manager (`LISTEN_PID` is this process; one socket) and an old master
/// during an upgrade ([`UPGRADE_ENV`] is this process's parent, and
/// [`READY_FD_ENV`] names the readiness descriptor; one socket, or one per
/// child with reuseport). Variables meant for another process are ignored.
pub(crate) fn take_inherited() -> Result<Option<(Vec<Socket>, Origin)>, Error> {
    let Some(count) = std::env::var_os("LISTEN_FDS") else {
        return Ok(None);
    };
    let fail = |reason: String| Error::Inherited { reason };
    let var = |name: &str| std::env::var(name).ok();
    // Who sent them: `Some((old master, its readiness fd))` for an upgrade,
    // `None` for a service manager.
    let sender: Option<(u32, i32)> = if let Some(old) = var(UPGRADE_ENV) {
        let old: u32 = old
            .parse()
            .map_err(|_| fail(format!("{UPGRADE_ENV}={old:?} is not a process id")))?;
        if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(old) {
            // Meant for a process this one descends from: not ours.
            return Ok(None);
        }
        let ready = var(READY_FD_ENV)
            .ok_or_else(|| fail(format!("{READY_FD_ENV} is missing")))?
            .parse::<i32>()
            .map_err(|_| fail(format!("{READY_FD_ENV} is not a descriptor number")))?;
        Some((old, ready))
    } else {
        match var("LISTEN_PID").map(|p| p.parse::<u32>()) {
            Some(Ok(pid)) if pid == std::process::id() => None,
            Some(Err(_)) => return Err(fail("LISTEN_PID is not a process id".to_owned())),
            _ => return Ok(None),
        }
    };
    // A service manager passes one socket; an old master one, or one per
    // child with reuseport.
    let most = if sender.is_some() { 4096 } else { 1 };
    let n = count
        .to_str()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| {
            fail(format!(
                "LISTEN_FDS={count:?}: a prefork master serves exactly one listening socket \
                 (one ListenStream= in the .socket unit)"
            ))
        })?;
    let (listeners, ready) =
        sys::take_master_fds(LISTENER_FD, n, sender.map(|(_, fd)| fd)).map_err(fail)?;
    let origin = match (sender, ready) {
        (Some((old_master, _)), Some(ready)) => Origin::Upgrade {
            old_master,
            ready: Some(ready),
        },
        _ => Origin::Systemd,
    };
    Ok(Some((
        listeners.into_iter().map(Socket::from).collect(),
        origin,
    )))
}

impl Origin {
    /// A few words for the master's first log line.
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::Bound => "bound".to_owned(),
            Origin::Systemd => "inherited from the service manager".to_owned(),
            Origin::Upgrade { old_master, .. } => {
                format!("inherited from master {old_master} (binary upgrade)")
            }
        }
    }

    /// After the first children started: an upgraded master tells the old
    /// one it is ready (once). Returns the old master's pid if it did.
    pub(crate) fn report_ready(&mut self) -> io::Result<Option<u32>> {
        let Origin::Upgrade { old_master, ready } = self else {
            return Ok(None);
        };
        let Some(fd) = ready.take() else {
            return Ok(None);
        };
        let mut pipe = UnixStream::from(fd);
        pipe.write_all(&[READY])?;
        Ok(Some(*old_master))
    }
}

impl Upgrade {
    /// Starts a new master from `ctx`; `Err` says why none started.
    pub(crate) fn start(ctx: &SpawnContext, timeout: Duration) -> Result<Upgrade, String> {
        let (reader, writer) =
            UnixStream::pair().map_err(|e| format!("cannot create the readiness pipe: {e}"))?;
        reader
            .set_nonblocking(true)
            .map_err(|e| format!("cannot set up the readiness pipe: {e}"))?;
        let Some(listener) = ctx.listener() else {
            return Err("this master has no listener to pass on".to_owned());
        };
        // fds 3 … 3 + N of the new master: keep them taken here while it
        // is spawned (see `occupy_low_fds`).
        let end = LISTENER_FD + ctx.socket_count() as i32 + 1;
        let held = sys::occupy_low_fds(listener, end);
        let mut cmd = ctx
            .upgrade_command(writer.as_raw_fd())
            .ok_or_else(|| "this master has no listener to pass on".to_owned())?;
        let spawned = cmd.spawn();
        drop(held);
        drop(writer);
        let child = spawned.map_err(|e| {
            format!(
                "cannot start a new master from {}: {e}",
                ctx.executable().display()
            )
        })?;
        Ok(Upgrade::Starting {
            child,
            ready: reader,
            deadline: Instant::now() + timeout,
        })
    }

    /// The readiness descriptor to wait on, if an upgrade is under way.
    pub(crate) fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Upgrade::Idle => None,
            Upgrade::Starting { ready, .. } => Some(ready.as_fd()),
        }
    }

    /// When to look again without an event (the deadline).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Upgrade::Idle => None,
            Upgrade::Starting { deadline, .. } => Some(*deadline),
        }
    }

    /// The new master's pid, if one is starting.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Upgrade::Idle => None,
            Upgrade::Starting { child, .. } => Some(child.id()),
        }
    }

    /// Looks at the readiness pipe, the new master's status and the
    /// deadline. On `Ready` or `Failed` the upgrade is over (`Idle`); a new
    /// master that failed is handed back through `stray` to be reaped.
    pub(crate) fn progress(&mut self, stray: &mut Vec<Child>) -> Progress {
        let Upgrade::Starting {
            child,
            ready,
            deadline,
        } = self
        else {
            return Progress::Waiting;
        };
        let pid = child.id();
        let mut byte = [0_u8; 1];
        let failed = match ready.read(&mut byte) {
            Ok(1) if byte[0] == READY => {
                // Ready: it lives on (reparented when this master exits).
                *self = Upgrade::Idle;
                return Progress::Ready { pid };
            }
            // The pipe closed: the new master is exiting (it holds its end
            // until it is ready); give its status a moment to be there.
            Ok(_) => match wait_briefly(child) {
                Some(status) => format!("it exited before it was ready ({status})"),
                None => "it closed its readiness pipe without being ready".to_owned(),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match child.try_wait() {
                Ok(Some(status)) => format!("it exited before it was ready ({status})"),
                Ok(None) if Instant::now() >= *deadline => {
                    // SIGTERM: it stops the children it started, gracefully.
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                    "it was not ready in time; sent it SIGTERM".to_owned()
                }
                Ok(None) => return Progress::Waiting,
                Err(e) => format!("cannot wait for it ({e})"),
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Progress::Waiting,
            Err(e) => format!("cannot read its readiness pipe ({e})"),
        };
        if let Upgrade::Starting { child, .. } = std::mem::replace(self, Upgrade::Idle) {
            stray.push(child);
        }
        Progress::Failed {
            pid,
            reason: failed,
        }
    }

    /// The shutdown began during an upgrade: the new master gets SIGTERM
    /// too (it stops its own children) and is handed back to be reaped.
    pub(crate) fn abandon(&mut self, stray: &mut Vec<Child>) -> Option<u32> {
        match std::mem::replace(self, Upgrade::Idle) {
            Upgrade::Idle => None,
            Upgrade::Starting { child, .. } => {
                let pid = child.id();
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
                stray.push(child);
                Some(pid)
            }
        }
    }
}

/// The exit status of `child` if it ends within a second (polled; used
/// only when it has closed its readiness pipe, i.e. is exiting).
fn wait_briefly(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => return None,
        }
    }
}

/// A new master's wait for its first children: each reports its pid on a
/// pipe (fd 4 in the child, [`CHILD_READY_FD_ENV`](crate::CHILD_READY_FD_ENV))
/// once it took its listener, just before its serve function runs.
#[derive(Debug)]
pub(crate) struct ChildReadiness {
    /// Nonblocking read end.
    reader: UnixStream,
    /// The end children get; kept until all reported.
    _writer: UnixStream,
    /// Low descriptors kept taken while children are spawned (see
    /// `occupy_low_fds`).
    _held: Vec<OwnedFd>,
    /// Pids that reported.
    reported: HashSet<u32>,
    /// A line not complete yet.
    partial: Vec<u8>,
}

impl ChildReadiness {
    /// Creates the pipe and tells `ctx` to pass it to the children.
    pub(crate) fn new(ctx: &SpawnContext) -> io::Result<ChildReadiness> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        let held = match ctx.listener() {
            Some(listener) => sys::occupy_low_fds(listener, LISTENER_FD + 2),
            None => Vec::new(),
        };
        ctx.set_child_ready(Some(writer.as_raw_fd()));
        Ok(ChildReadiness {
            reader,
            _writer: writer,
            _held: held,
            reported: HashSet::new(),
            partial: Vec::new(),
        })
    }

    /// The descriptor to wait on.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads the reports that arrived; how many of `live` reported.
    pub(crate) fn count(&mut self, live: impl Iterator<Item = u32>) -> usize {
        let mut chunk = [0_u8; 256];
        while let Ok(n @ 1..) = self.reader.read(&mut chunk) {
            self.partial.extend_from_slice(&chunk[..n]);
        }
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if let Some(pid) = std::str::from_utf8(&line[..end])
                .ok()
                .and_then(|p| p.parse().ok())
            {
                self.reported.insert(pid);
            }
        }
        live.filter(|pid| self.reported.contains(pid)).count()
    }
}

//! How the master starts a child process.

use std::cell::Cell;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use socket2::Socket;

use crate::error::Error;
use crate::sys;

/// The environment variable that marks a prefork child; its value is `"1"`.
pub const CHILD_ENV: &str = "BRISK_PREFORK_CHILD";
/// The environment variable that gives a child its master's process id.
pub const MASTER_PID_ENV: &str = "BRISK_PREFORK_MASTER_PID";
/// The environment variable that gives a child the master's bound address
/// (with reuseport, the one port all the children's sockets share, even
/// for a `:0` request).
pub const ADDR_ENV: &str = "BRISK_PREFORK_ADDR";

/// The environment variable that tells a new master started by a binary
/// upgrade (SIGUSR2) the old master's pid; it inherits the listener on fd 3
/// (`LISTEN_FDS=1`) only while that pid is its parent.
pub const UPGRADE_ENV: &str = "BRISK_PREFORK_UPGRADE_FROM";
/// The environment variable that names the descriptor on which a new
/// master tells the old one that it is ready (fd 4).
pub const READY_FD_ENV: &str = "BRISK_PREFORK_READY_FD";

/// The environment variable that tells a child of a new master (started
/// by a binary upgrade) where to report that it took its listener (fd 4).
pub const CHILD_READY_FD_ENV: &str = "BRISK_PREFORK_CHILD_READY_FD";

/// Variables a process started by the master must not inherit: they
/// describe descriptors passed to the master itself.
const MASTER_ONLY_ENV: [&str; 6] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    UPGRADE_ENV,
    READY_FD_ENV,
    CHILD_READY_FD_ENV,
];

/// What a [command producer](crate::Prefork::command_producer) needs to start
/// one child: the default command, or the means to turn any command into a
/// prefork child.
///
/// A child started from [`command`](Self::command), or from any `Command`
/// passed through [`prepare`](Self::prepare), gets `BRISK_PREFORK_CHILD=1`
/// (an existing value replaced, never duplicated), the master's pid and
/// address in [`MASTER_PID_ENV`] and [`ADDR_ENV`], the listener on fd 3
/// (with reuseport, the socket of the child's slot) and, on Linux, a
/// parent-death signal.
pub struct SpawnContext {
    /// The listening sockets: one (fd passing) or one per child slot
    /// (reuseport, all bound to one port); empty once the master has begun
    /// stopping ([`close_listener`](Self::close_listener)).
    sockets: Vec<Socket>,
    /// The slot of the child being started: with reuseport, which socket
    /// it gets.
    slot: Cell<usize>,
    /// Where children report that they took their listener (fd 4 in the
    /// child), while a new master waits for its first children.
    child_ready: Cell<Option<RawFd>>,
    /// The address the sockets are bound to.
    addr: SocketAddr,
    reuseport: bool,
    /// The path exec'd: `/proc/self/exe` on Linux (so a child is the same
    /// binary even if the file was replaced during a deploy).
    program: PathBuf,
    /// The path named in messages, and exec'd for a new master by a binary
    /// upgrade (so a file replaced during a deploy is picked up).
    executable: PathBuf,
    /// The master's `argv[0]`, passed on unchanged.
    arg0: Option<OsString>,
    /// The master's other arguments, passed on unchanged.
    args: Vec<OsString>,
    master_pid: u32,
}

impl SpawnContext {
    /// Captures the current executable and arguments.
    pub(crate) fn new(sockets: Vec<Socket>, addr: SocketAddr, reuseport: bool) -> Self {
        let mut argv = std::env::args_os();
        let arg0 = argv.next();
        let args = argv.collect();
        let executable = std::env::current_exe()
            .ok()
            .or_else(|| arg0.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("<current executable>"));
        let program = self_exe_link().unwrap_or_else(|| executable.clone());
        Self {
            sockets,
            slot: Cell::new(0),
            child_ready: Cell::new(None),
            addr,
            reuseport,
            program,
            executable,
            arg0,
            args,
            master_pid: std::process::id(),
        }
    }

    /// The default child command: the current executable with the master's
    /// arguments, stdout and stderr inherited, stdin from `/dev/null` (as in
    /// fasthttp: children never compete for the terminal),
    /// [prepared](Self::prepare).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        if let Some(arg0) = &self.arg0 {
            cmd.arg0(arg0);
        }
        cmd.args(&self.args).stdin(Stdio::null());
        self.prepare(&mut cmd);
        cmd
    }

    /// Turns `cmd` into a prefork child command: sets the environment, puts
    /// the listener on fd 3 (with reuseport, the slot's own) and, on Linux,
    /// arranges the parent-death signal. The command must be spawned by the master's
    /// supervising thread (inside the producer), or a Linux child would be
    /// signalled when the spawning thread exits.
    pub fn prepare<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for name in MASTER_ONLY_ENV {
            cmd.env_remove(name);
        }
        cmd.env(CHILD_ENV, "1")
            .env(MASTER_PID_ENV, self.master_pid.to_string())
            .env(ADDR_ENV, self.addr.to_string());
        let listener = self.listener().map(|fd| fd.as_raw_fd());
        let ready = self.child_ready.get().filter(|_| listener.is_some());
        match ready {
            Some(_) => cmd.env(CHILD_READY_FD_ENV, (sys::LISTENER_FD + 1).to_string()),
            None => cmd.env_remove(CHILD_READY_FD_ENV),
        };
        sys::set_child_pre_exec(cmd, listener, ready, self.master_pid as i32);
        cmd
    }

    /// The listener [`prepare`](Self::prepare) places on fd 3 of the child
    /// being started: the master's one listener (fd passing) or the socket
    /// of the child's slot (reuseport); `None` once the master has begun
    /// stopping its children.
    pub fn listener(&self) -> Option<BorrowedFd<'_>> {
        let slot = self.slot.get() % self.sockets.len().max(1);
        self.sockets.get(slot).map(AsFd::as_fd)
    }

    /// Chooses the slot of the next child (its socket, with reuseport).
    pub(crate) fn set_slot(&self, slot: usize) {
        self.slot.set(slot);
    }

    /// Sets (or clears) where children report that they took their
    /// listener.
    pub(crate) fn set_child_ready(&self, fd: Option<RawFd>) {
        self.child_ready.set(fd);
    }

    /// How many listening sockets the master holds.
    pub(crate) fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Closes the master's copies of the listeners when it begins stopping
    /// its children: once they have closed theirs as their drains start, a
    /// new client is refused instead of waiting in the backlog until the
    /// master exits. No child is spawned after this.
    pub(crate) fn close_listener(&mut self) {
        self.sockets.clear();
    }

    /// The address the master bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether children bind their own `SO_REUSEPORT` listeners.
    pub fn is_reuseport(&self) -> bool {
        self.reuseport
    }

    /// The master's process id.
    pub fn master_pid(&self) -> u32 {
        self.master_pid
    }

    /// The current executable, as named in error messages.
    pub fn executable(&self) -> &Path {
        &self.executable
    }

    /// The command that starts a new master for a binary upgrade: the
    /// executable's path (re-read, so a replaced binary is picked up) with
    /// the master's arguments, the N listening sockets on fds 3 … 3 + N − 1
    /// (`LISTEN_FDS=N`), the readiness descriptor `ready` on fd 3 + N, and
    /// no parent-death signal. `None` once stopping.
    pub(crate) fn upgrade_command(&self, ready: RawFd) -> Option<Command> {
        if self.sockets.is_empty() {
            return None;
        }
        let mut fds: Vec<RawFd> = self.sockets.iter().map(AsRawFd::as_raw_fd).collect();
        fds.push(ready);
        let mut cmd = Command::new(&self.executable);
        if let Some(arg0) = &self.arg0 {
            cmd.arg0(arg0);
        }
        cmd.args(&self.args).stdin(Stdio::null());
        for name in MASTER_ONLY_ENV {
            cmd.env_remove(name);
        }
        cmd.env_remove(CHILD_ENV)
            .env_remove(MASTER_PID_ENV)
            .env_remove(ADDR_ENV)
            .env("LISTEN_FDS", self.sockets.len().to_string())
            .env(UPGRADE_ENV, self.master_pid.to_string())
            .env(
                READY_FD_ENV,
                (sys::LISTENER_FD + self.sockets.len() as RawFd).to_string(),
            );
        sys::set_master_pre_exec(&mut cmd, fds);
        Some(cmd)
    }

    /// Spawns [`command`](Self::command).
    pub(crate) fn spawn_default(&self) -> Result<Child, Error> {
        self.command().spawn().map_err(|source| Error::Spawn {
            executable: self.executable.clone(),
            source,
        })
    }

    #[cfg(test)]
    pub(crate) fn with_program(mut self, program: &str) -> Self {
        self.program = PathBuf::from(program);
        self.executable = PathBuf::from(program);
        self
    }
}

impl fmt::Debug for SpawnContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnContext")
            .field("addr", &self.addr)
            .field("reuseport", &self.reuseport)
            .field("executable", &self.executable)
            .field("args", &self.args)
            .field("master_pid", &self.master_pid)
            .finish_non_exhaustive()
    }
}

/// `/proc/self/exe` where it exists: exec'ing it starts the very binary the
/// master runs, even after the file on disk was replaced or deleted.
fn self_exe_link() -> Option<PathBuf> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let link = Path::new("/proc/self/exe");
        if link.exists() {
            return Some(link.to_path_buf());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;
    use crate::network::{self, Network};

    fn context(reuseport: bool) -> SpawnContext {
        let addr = "127.0.0.1:0".parse().unwrap();
        let first = network::bind(addr, Network::Tcp4, reuseport).unwrap();
        let addr = network::local_addr(&first).unwrap();
        let mut sockets = vec![first];
        if reuseport {
            sockets.push(network::bind(addr, Network::Tcp4, true).unwrap());
        }
        SpawnContext::new(sockets, addr, reuseport)
    }

    #[test]
    fn command_re_executes_with_the_prefork_environment() {
        let ctx = context(false);
        let cmd = ctx.command();
        let envs: Vec<_> = cmd.get_envs().collect();
        let value = |key: &str| {
            envs.iter()
                .find(|(k, _)| *k == OsStr::new(key))
                .and_then(|(_, v)| *v)
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(value(CHILD_ENV).as_deref(), Some("1"));
        assert_eq!(value(MASTER_PID_ENV), Some(std::process::id().to_string()));
        assert_eq!(value(ADDR_ENV), Some(ctx.local_addr().to_string()));
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let expected: Vec<_> = std::env::args_os().skip(1).collect();
        assert_eq!(args, expected);
        assert!(ctx.listener().is_some());
        assert!(!ctx.is_reuseport());
        assert_eq!(ctx.master_pid(), std::process::id());
        assert_eq!(ctx.executable(), std::env::current_exe().unwrap());
    }

    #[test]
    fn reuseport_context_passes_the_socket_of_the_slot() {
        let mut ctx = context(true);
        assert!(ctx.is_reuseport());
        assert_ne!(ctx.local_addr().port(), 0);
        assert_eq!(ctx.socket_count(), 2);
        let fd = |ctx: &SpawnContext| ctx.listener().map(|l| l.as_raw_fd());
        ctx.set_slot(0);
        let first = fd(&ctx);
        ctx.set_slot(1);
        let second = fd(&ctx);
        assert!(first.is_some() && second.is_some() && first != second);
        ctx.set_slot(2); // slots beyond the sockets wrap around
        assert_eq!(fd(&ctx), first);
        ctx.close_listener();
        assert!(ctx.listener().is_none());
    }

    #[test]
    fn spawn_errors_name_the_executable() {
        let ctx = context(false).with_program("/nonexistent/brisk-prefork-child");
        let err = ctx.spawn_default().unwrap_err();
        assert!(
            matches!(&err, Error::Spawn { executable, .. }
                if executable == Path::new("/nonexistent/brisk-prefork-child")),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("cannot start child process /nonexistent/brisk-prefork-child"),
            "{err}"
        );
    }

    #[test]
    fn prepared_commands_get_the_listener_on_fd_3() {
        // `sh` reports what fd 3 is; the listener must be a socket there.
        let ctx = context(false);
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "readlink /proc/self/fd/3; echo $BRISK_PREFORK_CHILD"]);
        ctx.prepare(&mut cmd);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("socket:["), "{text}");
        assert_eq!(lines.next(), Some("1"));
    }
}

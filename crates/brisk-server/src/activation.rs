//! systemd socket activation: serve the listening sockets a service
//! manager opened for this process, instead of binding.
//!
//! ```no_run
//! use brisk_server::{Server, activation};
//!
//! let server = Server::builder()
//!     .handler(|ctx| ctx.set_body(b"Hello, World!"))
//!     .handle_signals(true)
//!     .build()?;
//! // Started by systemd (a .socket unit) or `systemd-socket-activate`: the
//! // inherited sockets; started by hand: bind.
//! let listeners = match activation::listeners()? {
//!     Some(inherited) => inherited,
//!     None => server.bind("127.0.0.1:8080")?,
//! };
//! server.serve_listeners(listeners)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The protocol is `sd_listen_fds(3)`'s: when `LISTEN_PID` is this
//! process's id and `LISTEN_FDS` is N, descriptors 3 to 3 + N − 1 are
//! listening sockets opened for it (`LISTEN_FDNAMES` optionally names
//! them, colon-separated). [`listeners`] checks that every one of them is a
//! listening TCP socket (`SO_TYPE`, `SO_ACCEPTCONN`, the address family),
//! takes ownership of them and makes them close-on-exec, so programs the
//! server starts do not inherit them. The server makes them non-blocking
//! itself when it serves them.
//!
//! What is not supported: UNIX-domain, datagram and FIFO sockets (the
//! server speaks HTTP over TCP only; such a descriptor is an
//! [`ActivationError::NotAListener`]); `Accept=yes` units (one process per
//! connection: the descriptor is a connection, not a listener); `sd_notify`
//! readiness messages.
//!
//! **The environment.** Like `sd_listen_fds(1)`, [`listeners`] removes
//! `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the environment,
//! whatever it finds, so that programs started later do not see them, but
//! only while the process has a single thread (changing the environment
//! while another thread may read it is undefined behaviour): call it at the
//! start of `main`. Called later, it leaves them, which is harmless:
//! `LISTEN_PID` names this process, so another program ignores them.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// The variable naming the process the sockets are for.
pub const LISTEN_PID_ENV: &str = "LISTEN_PID";
/// The variable holding the number of inherited sockets.
pub const LISTEN_FDS_ENV: &str = "LISTEN_FDS";
/// The variable holding the sockets' names, colon-separated.
pub const LISTEN_FDNAMES_ENV: &str = "LISTEN_FDNAMES";

/// The name systemd gives a socket without `FileDescriptorName=`, used
/// when `LISTEN_FDNAMES` is absent.
pub const UNKNOWN_NAME: &str = "unknown";

/// The most sockets accepted (a sanity bound on `LISTEN_FDS`).
const MAX_FDS: usize = 4096;

/// Set once inherited descriptors were taken: they have one owner.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// Why the inherited sockets cannot be served. Each names what to fix.
#[derive(Debug)]
#[non_exhaustive]
pub enum ActivationError {
    /// `LISTEN_PID` or `LISTEN_FDS` is not a number in range (or
    /// `LISTEN_FDNAMES` is not UTF-8).
    InvalidVariable {
        /// The variable.
        name: &'static str,
        /// Its value (lossily converted to UTF-8).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `LISTEN_FDNAMES` has a different number of names than `LISTEN_FDS`.
    NameCount {
        /// `LISTEN_FDS`.
        fds: usize,
        /// How many names `LISTEN_FDNAMES` holds.
        names: usize,
    },
    /// An inherited descriptor is not a listening TCP socket. None of the
    /// descriptors was taken.
    NotAListener {
        /// The descriptor.
        fd: RawFd,
        /// What it is instead.
        reason: String,
    },
    /// Making an inherited descriptor close-on-exec failed.
    Descriptor {
        /// The descriptor.
        fd: RawFd,
        /// The system's error.
        source: io::Error,
    },
    /// An earlier call in this process already took the inherited sockets.
    AlreadyClaimed,
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActivationError::InvalidVariable {
                name,
                value,
                reason,
            } => write!(
                f,
                "socket activation: {name}={value:?} is invalid: {reason}"
            ),
            ActivationError::NameCount { fds, names } => write!(
                f,
                "socket activation: LISTEN_FDNAMES has {names} name(s) for LISTEN_FDS={fds} \
                 socket(s); the service manager must pass one name per socket"
            ),
            ActivationError::NotAListener { fd, reason } => write!(
                f,
                "socket activation: inherited descriptor {fd} is not a listening TCP socket: \
                 {reason}; configure the .socket unit with ListenStream= on a TCP address \
                 and Accept=no"
            ),
            ActivationError::Descriptor { fd, source } => write!(
                f,
                "socket activation: cannot make inherited descriptor {fd} close-on-exec: {source}"
            ),
            ActivationError::AlreadyClaimed => f.write_str(
                "socket activation: the inherited sockets were already taken by an earlier \
                 call in this process; call activation::listeners() once",
            ),
        }
    }
}

impl std::error::Error for ActivationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ActivationError::Descriptor { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The listening sockets passed by a service manager, in descriptor order,
/// or `Ok(None)` when none were passed to this process (no `LISTEN_PID`,
/// another process's `LISTEN_PID`, or no `LISTEN_FDS`).
///
/// All or nothing: if one descriptor is not a listening TCP socket, none
/// is taken and the error names it. See the [module docs](self) for the
/// protocol and what happens to the environment.
pub fn listeners() -> Result<Option<Vec<TcpListener>>, ActivationError> {
    Ok(named_listeners()?.map(|named| named.into_iter().map(|(_, l)| l).collect()))
}

/// [`listeners`] with each socket's name from `LISTEN_FDNAMES`
/// ([`UNKNOWN_NAME`] for every socket when it is absent).
pub fn named_listeners() -> Result<Option<Vec<(String, TcpListener)>>, ActivationError> {
    let plan = parse(
        std::env::var_os(LISTEN_PID_ENV).as_deref(),
        std::env::var_os(LISTEN_FDS_ENV).as_deref(),
        std::env::var_os(LISTEN_FDNAMES_ENV).as_deref(),
        std::process::id(),
    );
    // As sd_listen_fds(1): the variables go, whatever they held.
    unset_environment();
    let Some(names) = plan? else {
        return Ok(None);
    };
    if CLAIMED.swap(true, Ordering::AcqRel) {
        return Err(ActivationError::AlreadyClaimed);
    }
    let fds = (0..names.len()).map(|i| LISTEN_FDS_START + i as RawFd);
    for fd in fds.clone() {
        if let Err(reason) = check_listener(fd) {
            CLAIMED.store(false, Ordering::Release);
            return Err(ActivationError::NotAListener { fd, reason });
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for (fd, name) in fds.zip(names) {
        // SAFETY: `fd` is open and a listening socket (checked above). The
        // service manager opened it for this process (LISTEN_PID), and
        // CLAIMED makes this the only place that takes ownership of it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        set_cloexec(fd).map_err(|source| ActivationError::Descriptor { fd, source })?;
        out.push((name, TcpListener::from(owned)));
    }
    log::info!(
        "brisk: socket activation: {} inherited listener(s) {:?}",
        out.len(),
        out.iter()
            .map(|(name, l)| (name.as_str(), l.local_addr().ok()))
            .collect::<Vec<_>>()
    );
    Ok(Some(out))
}

/// What the variables ask for: `None` (not for us), or one name per
/// inherited descriptor.
pub(crate) fn parse(
    pid: Option<&OsStr>,
    fds: Option<&OsStr>,
    names: Option<&OsStr>,
    our_pid: u32,
) -> Result<Option<Vec<String>>, ActivationError> {
    let Some(pid) = pid else {
        return Ok(None);
    };
    let pid: u32 = number(
        LISTEN_PID_ENV,
        pid,
        "it must be a process id (decimal digits)",
    )?;
    if pid == 0 {
        return Err(invalid(
            LISTEN_PID_ENV,
            OsStr::new("0"),
            "0 is no process id",
        ));
    }
    if pid != our_pid {
        return Ok(None);
    }
    let Some(fds_text) = fds else {
        return Ok(None);
    };
    let count: usize = number(
        LISTEN_FDS_ENV,
        fds_text,
        "it must be a count of descriptors (decimal digits)",
    )?;
    if count == 0 {
        return Err(invalid(
            LISTEN_FDS_ENV,
            fds_text,
            "it must be at least 1 when LISTEN_PID is set",
        ));
    }
    if count > MAX_FDS {
        return Err(invalid(
            LISTEN_FDS_ENV,
            fds_text,
            "more than 4096 descriptors",
        ));
    }
    let Some(names) = names else {
        return Ok(Some(vec![UNKNOWN_NAME.to_owned(); count]));
    };
    let text = names
        .to_str()
        .ok_or_else(|| invalid(LISTEN_FDNAMES_ENV, names, "it is not UTF-8"))?;
    let names: Vec<String> = text.split(':').map(str::to_owned).collect();
    if names.len() != count {
        return Err(ActivationError::NameCount {
            fds: count,
            names: names.len(),
        });
    }
    Ok(Some(names))
}

/// `value` as a decimal number, or an error with `reason`.
fn number<T: std::str::FromStr>(
    name: &'static str,
    value: &OsStr,
    reason: &'static str,
) -> Result<T, ActivationError> {
    value
        .to_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(name, value, reason))
}

fn invalid(name: &'static str, value: &OsStr, reason: &'static str) -> ActivationError {
    ActivationError::InvalidVariable {
        name,
        value: value.to_string_lossy().into_owned(),
        reason,
    }
}

/// Removes the three variables if this process has one thread.
fn unset_environment() {
    let present = [LISTEN_PID_ENV, LISTEN_FDS_ENV, LISTEN_FDNAMES_ENV]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if !present {
        return;
    }
    if !single_threaded() {
        log::debug!(
            "brisk: socket activation: LISTEN_* left in the environment (several threads run)"
        );
        return;
    }
    for name in [LISTEN_PID_ENV, LISTEN_FDS_ENV, LISTEN_FDNAMES_ENV] {
        // SAFETY: this process has a single thread (checked just above, and
        // only this thread could start another), so nothing else reads or
        // writes the environment meanwhile.
        unsafe { std::env::remove_var(name) };
    }
}

/// Whether this process runs exactly one thread (Linux: one entry in
/// `/proc/self/task`; elsewhere it cannot tell and says no).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// Checks, without taking ownership, that `fd` is a listening TCP socket.
fn check_listener(fd: RawFd) -> Result<(), String> {
    // SAFETY: F_GETFD only reads the descriptor flags of any integer (an
    // unused one fails with EBADF).
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err("the descriptor is not open".to_owned());
    }
    let kind = sockopt(fd, libc::SO_TYPE).map_err(|e| format!("it is not a socket ({e})"))?;
    if kind != libc::SOCK_STREAM {
        return Err(format!("it is not a stream socket (SO_TYPE {kind})"));
    }
    let listening =
        sockopt(fd, libc::SO_ACCEPTCONN).map_err(|e| format!("cannot read SO_ACCEPTCONN ({e})"))?;
    if listening == 0 {
        return Err("the socket is not listening (a connection, or never listen()ed)".to_owned());
    }
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are valid for writes and `len` holds the
    // buffer's size, as getsockname(2) requires.
    if unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) } < 0 {
        return Err(format!(
            "getsockname failed ({})",
            io::Error::last_os_error()
        ));
    }
    let family = libc::c_int::from(addr.ss_family);
    if family != libc::AF_INET && family != libc::AF_INET6 {
        let what = if family == libc::AF_UNIX {
            "a UNIX-domain socket".to_owned()
        } else {
            format!("address family {family}")
        };
        return Err(format!("it is not a TCP socket ({what})"));
    }
    Ok(())
}

fn sockopt(fd: RawFd, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and sized for a c_int,
    // the type of SO_TYPE and SO_ACCEPTCONN.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD read and set the flags of `fd`, which this
    // process owns; only FD_CLOEXEC is added.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn parse_table() {
        let me = 4242;
        // Not for us: nothing to do.
        assert!(parse(None, os("1"), None, me).unwrap().is_none());
        assert!(parse(os("17"), os("1"), None, me).unwrap().is_none());
        assert!(parse(os("4242"), None, None, me).unwrap().is_none());
        // For us.
        assert_eq!(
            parse(os("4242"), os("2"), None, me).unwrap(),
            Some(vec!["unknown".to_owned(), "unknown".to_owned()])
        );
        assert_eq!(
            parse(os("4242"), os("2"), os("http:admin"), me).unwrap(),
            Some(vec!["http".to_owned(), "admin".to_owned()])
        );
        // Broken values name the variable and what is wrong.
        type Case<'a> = (
            Option<&'a OsStr>,
            Option<&'a OsStr>,
            Option<&'a OsStr>,
            &'a str,
        );
        let bad: &[Case<'_>] = &[
            (
                os("x"),
                os("1"),
                None,
                "LISTEN_PID=\"x\" is invalid: it must be a process id",
            ),
            (os(""), os("1"), None, "LISTEN_PID=\"\""),
            (os("-1"), os("1"), None, "LISTEN_PID=\"-1\""),
            (os("0"), os("1"), None, "0 is no process id"),
            (os("4242"), os("0"), None, "at least 1"),
            (
                os("4242"),
                os("two"),
                None,
                "LISTEN_FDS=\"two\" is invalid: it must be a count",
            ),
            (os("4242"), os("+1"), None, "LISTEN_FDS=\"+1\""),
            (os("4242"), os("99999"), None, "more than 4096"),
            (
                os("4242"),
                os("2"),
                os("only-one"),
                "1 name(s) for LISTEN_FDS=2",
            ),
            (os("4242"), os("1"), os("a:b"), "2 name(s) for LISTEN_FDS=1"),
        ];
        for (pid, fds, names, needle) in bad {
            let err = parse(*pid, *fds, *names, me).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(needle), "{text:?} lacks {needle:?}");
            assert!(text.starts_with("socket activation: "), "{text}");
        }
    }

    #[test]
    fn check_listener_table() {
        let listening = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(check_listener(listening.as_raw_fd()), Ok(()));

        let (client, _) = {
            let c = std::net::TcpStream::connect(listening.local_addr().unwrap()).unwrap();
            (c, listening.accept().unwrap())
        };
        let err = check_listener(client.as_raw_fd()).unwrap_err();
        assert!(err.contains("not listening"), "{err}");

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = check_listener(udp.as_raw_fd()).unwrap_err();
        assert!(err.contains("not a stream socket"), "{err}");

        let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
        let err = check_listener(pipe_r.as_raw_fd()).unwrap_err();
        assert!(err.contains("not a socket"), "{err}");

        let path = std::env::temp_dir().join(format!("brisk-activation-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let err = check_listener(unix.as_raw_fd()).unwrap_err();
        assert!(err.contains("UNIX-domain"), "{err}");
        drop(unix);
        let _ = std::fs::remove_file(&path);

        let err = check_listener(1 << 20).unwrap_err();
        assert!(err.contains("not open"), "{err}");
    }

    #[test]
    fn without_the_variables_there_is_nothing_to_take() {
        // The test binary is not socket-activated (LISTEN_PID, if any, is
        // not this process's).
        assert!(listeners().unwrap().is_none());
    }
}

//! Every `unsafe` operation of the crate lives here, behind safe functions:
//! signal-handler installation, the async-signal-safe wake-up write, the
//! `pre_exec` step that runs between `fork` and `exec`, and claiming the
//! inherited listener on fd 3.
#![allow(unsafe_code)]

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::io::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::error::Error;

/// The file descriptor on which a child finds the master's listener.
pub const LISTENER_FD: RawFd = 3;

/// The signal a Linux child receives when its master dies
/// (`PR_SET_PDEATHSIG`). Its handler is installed by the child's watcher.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) const PARENT_DEATH_SIGNAL: Signal = Signal::SIGHUP;

/// Set once the inherited listener on [`LISTENER_FD`] has been claimed.
static LISTENER_TAKEN: AtomicBool = AtomicBool::new(false);

/// Writes `byte` to `fd`, ignoring every error (a full pipe already wakes
/// the reader). Async-signal-safe, and keeps `errno` unchanged, so signal
/// handlers may call it.
pub(crate) fn write_wake_byte(fd: RawFd, byte: u8) {
    let saved = nix::errno::Errno::last_raw();
    // SAFETY: `write(2)` is async-signal-safe; the buffer is one valid byte
    // on the stack. A stale or closed `fd` makes it fail with EBADF, which is
    // ignored; callers keep `fd` open while handlers may run.
    let _ = unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    nix::errno::Errno::set_raw(saved);
}

/// Installs `handler` for `signal` with `SA_RESTART | extra` and returns the
/// previous action so it can be restored.
pub(crate) fn install_handler(
    signal: Signal,
    handler: extern "C" fn(libc::c_int),
    extra: SaFlags,
) -> io::Result<SigAction> {
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::SA_RESTART | extra,
        SigSet::empty(),
    );
    // SAFETY: every handler passed here (in `signals` and `watch`) only
    // touches lock-free atomics, calls `getpid` and `write_wake_byte`, all
    // async-signal-safe, and restores errno.
    unsafe { sigaction(signal, &action) }.map_err(io::Error::from)
}

/// Puts back a signal action saved by [`install_handler`].
pub(crate) fn restore_handler(signal: Signal, old: &SigAction) -> io::Result<()> {
    // SAFETY: `old` is an action the process had installed before; putting
    // it back restores the previous, already-accepted state.
    unsafe { sigaction(signal, old) }
        .map(drop)
        .map_err(io::Error::from)
}

/// Makes `cmd` start as a prefork child: the listener (if any) is placed on
/// [`LISTENER_FD`] and the readiness descriptor (if any, and only with a
/// listener) on the next one, both without close-on-exec, and on Linux the
/// child gets [`PARENT_DEATH_SIGNAL`] when `master_pid` dies; a master that
/// already died makes the spawn fail with `ESRCH` instead of starting an
/// orphan.
pub(crate) fn set_child_pre_exec(
    cmd: &mut Command,
    listener: Option<RawFd>,
    ready: Option<RawFd>,
    master_pid: i32,
) {
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = master_pid;
    let fds: Vec<RawFd> = listener
        .into_iter()
        .chain(ready.filter(|_| listener.is_some()))
        .collect();
    // Filled in the child: allocated here, before the fork.
    let mut high: Vec<RawFd> = vec![-1; fds.len()];
    let setup = move || -> io::Result<()> {
        place_fds(&fds, &mut high)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let sig = PARENT_DEATH_SIGNAL as libc::c_ulong;
            // SAFETY: prctl(2) and getppid(2) are plain syscalls, safe
            // between fork and exec; PR_SET_PDEATHSIG takes a signal number
            // and survives execve.
            if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // The master may have died before the prctl call: then no
            // signal will ever come, so refuse to start an orphan.
            // SAFETY: as above.
            if unsafe { libc::getppid() } != master_pid {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (fcntl, dup2, prctl, getppid); it
    // allocates nothing (it writes into `high`, allocated before the fork;
    // io::Error from an errno does not allocate) and takes no locks.
    unsafe {
        cmd.pre_exec(setup);
    }
}

/// Between fork and exec: puts `fds` on descriptors 3, 4, … without
/// close-on-exec. Each is first copied above the targets (into `high`, as
/// long as `fds`), so that moving one cannot overwrite another still to be
/// moved; the copies are close-on-exec and vanish at exec. Calls only
/// fcntl(2) and dup2(2), which are async-signal-safe, and allocates
/// nothing. The targets must be taken in the parent while it spawns
/// (`occupy_low_fds`), so that none of them is std's exec-error pipe.
fn place_fds(fds: &[RawFd], high: &mut [RawFd]) -> io::Result<()> {
    let above = LISTENER_FD + fds.len() as RawFd;
    for (slot, &fd) in high.iter_mut().zip(fds) {
        // SAFETY: fcntl(2) on a descriptor open in this forked copy (the
        // parent keeps it open until spawn returns); it only duplicates.
        *slot = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
        if *slot < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for (i, &fd) in high.iter().enumerate() {
        // SAFETY: dup2(2) onto a target in 3 .. 3 + fds.len(); the new
        // descriptor has no FD_CLOEXEC, so it survives exec.
        if unsafe { libc::dup2(fd, LISTENER_FD + i as RawFd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `cmd` start as a new master (binary upgrade): `fds` are placed on
/// descriptors 3, 4, … without close-on-exec, and no parent-death signal
/// is set (the new master outlives the old one).
pub(crate) fn set_master_pre_exec(cmd: &mut Command, fds: Vec<RawFd>) {
    // Filled in the child: allocated here, before the fork.
    let mut high: Vec<RawFd> = vec![-1; fds.len()];
    let setup = move || place_fds(&fds, &mut high);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls `place_fds` (fcntl and dup2, async-signal-safe); it allocates
    // nothing and takes no lock.
    unsafe {
        cmd.pre_exec(setup);
    }
}

/// Keeps every free descriptor below `end` (from 3) taken by a
/// close-on-exec copy of `model` while a child is spawned, so that std's
/// exec-error pipe never sits where `pre_exec` places descriptors.
pub(crate) fn occupy_low_fds(model: BorrowedFd<'_>, end: RawFd) -> Vec<OwnedFd> {
    let mut held = Vec::new();
    // std duplicates with F_DUPFD_CLOEXEC from 3: the lowest free fd >= 3.
    while let Ok(copy) = model.try_clone_to_owned() {
        if copy.as_raw_fd() >= end {
            break;
        }
        held.push(copy);
    }
    held
}

/// Set once the master took descriptors inherited through `LISTEN_FDS`.
static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// Claims the `count` listeners a service manager or an old master passed
/// from descriptor `first` on, and the optional readiness descriptor
/// `ready`; at most once per process. All become close-on-exec.
pub(crate) fn take_master_fds(
    first: RawFd,
    count: usize,
    ready: Option<RawFd>,
) -> Result<(Vec<OwnedFd>, Option<OwnedFd>), String> {
    if INHERITED_TAKEN.swap(true, Ordering::AcqRel) {
        return Err("the inherited descriptors were already taken in this process".to_owned());
    }
    let listeners = first..first + count as RawFd;
    for fd in listeners.clone() {
        check_listener_fd(fd).map_err(|reason| format!("descriptor {fd}: {reason}"))?;
    }
    if let Some(fd) = ready {
        if listeners.contains(&fd) || !fd_is_open(fd) {
            return Err(format!("readiness descriptor {fd} is not open"));
        }
    }
    let claim = |fd: RawFd| -> Result<OwnedFd, String> {
        // SAFETY: `fd` is open (checked above) and was passed to this
        // process for this purpose (LISTEN_PID or the upgrade variables);
        // INHERITED_TAKEN makes this the only place that takes it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
            .map_err(|e| format!("cannot make descriptor {fd} close-on-exec ({e})"))?;
        Ok(owned)
    };
    let listeners = listeners.map(claim).collect::<Result<Vec<_>, _>>()?;
    let ready = ready.map(claim).transpose()?;
    Ok((listeners, ready))
}

/// Set once a child reported that it took its listener.
static READY_REPORTED: AtomicBool = AtomicBool::new(false);

/// In a child: writes this process's pid and a newline on `fd` (the
/// master's readiness pipe, placed there by `set_child_pre_exec`) and
/// closes it; at most once per process.
pub(crate) fn report_child_ready(fd: RawFd) -> io::Result<()> {
    if READY_REPORTED.swap(true, Ordering::AcqRel) || fd == LISTENER_FD || !fd_is_open(fd) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("readiness descriptor {fd} is not open"),
        ));
    }
    // SAFETY: `fd` is open (checked above); the master placed it there for
    // this report (CHILD_READY_FD_ENV names it), and READY_REPORTED makes
    // this the only place that takes it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut pipe = std::os::unix::net::UnixStream::from(owned);
    std::io::Write::write_all(&mut pipe, format!("{}\n", std::process::id()).as_bytes())
}

/// Whether `fd` is an open file descriptor in this process.
pub(crate) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; any integer is
    // accepted (an unused one fails with EBADF).
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Checks, without taking ownership, that `fd` is a listening TCP socket.
pub(crate) fn check_listener_fd(fd: RawFd) -> Result<(), String> {
    if !fd_is_open(fd) {
        return Err("the descriptor is not open".to_owned());
    }
    let sock_type =
        getsockopt_int(fd, libc::SO_TYPE).map_err(|e| format!("it is not a socket ({e})"))?;
    if sock_type != libc::SOCK_STREAM {
        return Err(format!("it is not a stream socket (SO_TYPE {sock_type})"));
    }
    let accepting = getsockopt_int(fd, libc::SO_ACCEPTCONN)
        .map_err(|e| format!("cannot read SO_ACCEPTCONN ({e})"))?;
    if accepting == 0 {
        return Err("the socket is not listening".to_owned());
    }
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` are valid for writes and `len` holds the
    // buffer's size, as getsockname(2) requires.
    let rc = unsafe { libc::getsockname(fd, (&raw mut storage).cast(), &mut len) };
    if rc < 0 {
        return Err(format!(
            "getsockname failed ({})",
            io::Error::last_os_error()
        ));
    }
    let family = libc::c_int::from(storage.ss_family);
    if family != libc::AF_INET && family != libc::AF_INET6 {
        return Err(format!("it is not a TCP socket (address family {family})"));
    }
    Ok(())
}

fn getsockopt_int(fd: RawFd, option: libc::c_int) -> io::Result<libc::c_int> {
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

/// Claims the listener the master placed on [`LISTENER_FD`]; at most once
/// per process. The claimed descriptor is made close-on-exec, so programs
/// the child starts do not inherit it.
pub(crate) fn take_inherited_listener() -> Result<TcpListener, Error> {
    let fail = |reason: String| Error::InheritedListener {
        fd: LISTENER_FD,
        reason,
    };
    if LISTENER_TAKEN.swap(true, Ordering::AcqRel) {
        return Err(fail(
            "it was already claimed by an earlier listen_and_serve call in this process".to_owned(),
        ));
    }
    if let Err(reason) = check_listener_fd(LISTENER_FD) {
        LISTENER_TAKEN.store(false, Ordering::Release);
        return Err(fail(reason));
    }
    // SAFETY: fd 3 is open and is a listening TCP socket (checked above).
    // Nothing else owns it: the master placed it there for this process
    // (documented: fd 3 belongs to brisk-prefork in a child), and
    // LISTENER_TAKEN makes this the only place that ever claims it.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTENER_FD) };
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| fail(format!("cannot set close-on-exec ({e})")))?;
    Ok(TcpListener::from(fd))
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn check_listener_fd_table() {
        let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(check_listener_fd(listening.as_raw_fd()), Ok(()));

        let unlistened =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let err = check_listener_fd(unlistened.as_raw_fd()).unwrap_err();
        assert!(err.contains("not listening"), "{err}");

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = check_listener_fd(udp.as_raw_fd()).unwrap_err();
        assert!(err.contains("not a stream socket"), "{err}");

        let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
        let err = check_listener_fd(pipe_r.as_raw_fd()).unwrap_err();
        assert!(err.contains("not a socket"), "{err}");

        let dir = std::env::temp_dir().join(format!("brisk-prefork-sys-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let unix = UnixListener::bind(&dir).unwrap();
        let err = check_listener_fd(unix.as_raw_fd()).unwrap_err();
        assert!(err.contains("not a TCP socket"), "{err}");
        drop(unix);
        let _ = std::fs::remove_file(&dir);

        // A descriptor number far above any in use is never open.
        let err = check_listener_fd(1 << 20).unwrap_err();
        assert!(err.contains("not open"), "{err}");
    }

    #[test]
    fn fd_is_open_sees_stdio_and_not_huge_numbers() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(fd_is_open(file.as_raw_fd()));
        assert!(!fd_is_open(1 << 20));
        assert!(!fd_is_open(-1));
    }
}

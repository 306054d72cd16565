//! The few system calls std does not offer in the shape the loop needs.
//!
//! This is the only module of brisk-server with `unsafe`.

use std::io;

use socket2::Socket;

/// Reads from `sock` into the spare capacity of `buf` (never more than
/// `max` bytes) and extends `buf`'s length by the bytes read. Returns the
/// count (0 at end of stream).
///
/// Reading into spare capacity avoids zero-filling a 4 KiB buffer for every
/// request (buffers return to the pool whenever a connection goes idle).
pub(crate) fn recv_into_spare(sock: &Socket, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let take = spare.len().min(max);
    let n = recv(sock, &mut spare[..take])?;
    debug_assert!(n <= take);
    let n = n.min(take);
    let new_len = buf.len() + n;
    // SAFETY: `Socket::recv` initialised the first `n` bytes of the spare
    // capacity it was given (it returns how many bytes the kernel wrote), and
    // `n <= take <= spare.len()`, so `new_len <= buf.capacity()` and every
    // byte below `new_len` is initialised.
    unsafe { buf.set_len(new_len) };
    Ok(n)
}

/// Receives into `into`; the count of bytes the kernel wrote at its start.
///
/// On Linux this is the `recvfrom` system call itself: glibc's `recv` is a
/// thread cancellation point and wraps every call in two cancellation-state
/// updates (about 65 instructions, measured with callgrind), which a
/// server that never cancels threads does not need.
#[inline]
fn recv(sock: &Socket, into: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `into` is a writable region of `into.len()` bytes borrowed
        // for the call; the kernel writes at most that many bytes into it
        // and reads nothing from it. The address arguments are null, which
        // `recvfrom` accepts (no source address is returned).
        let r = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                sock.as_raw_fd(),
                into.as_mut_ptr(),
                into.len(),
                0,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    sock.recv(into)
}

/// Receives into `buf` (initialised bytes); with `peek` the bytes stay
/// queued in the socket (`MSG_PEEK`). The count (0 at end of stream). For
/// the PROXY protocol preface, which reads its header before any
/// transport layer does.
pub(crate) fn recv_plain(sock: &Socket, buf: &mut [u8], peek: bool) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let flags = if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: `buf` is a writable, initialised region of `buf.len()` bytes
    // borrowed for the call; the kernel writes at most that many bytes into
    // it.
    let r = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Sends without raising SIGPIPE when the peer has gone (on Linux by the
/// `sendto` system call itself, for the reason given at [`recv`]).
#[inline]
pub(crate) fn send(sock: &Socket, data: &[u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `data` is a readable region of `data.len()` bytes borrowed
        // for the call; the kernel only reads it. No destination address
        // (null, length 0), as on a connected socket.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                sock.as_raw_fd(),
                data.as_ptr(),
                data.len(),
                libc::MSG_NOSIGNAL,
                std::ptr::null::<libc::sockaddr>(),
                0 as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        #[cfg(target_os = "freebsd")]
        let flags = libc::MSG_NOSIGNAL;
        #[cfg(not(target_os = "freebsd"))]
        let flags = 0;
        sock.send_with_flags(data, flags)
    }
}

/// Sends a prefix of the concatenation of `bufs` (one `sendmsg`) without
/// raising SIGPIPE when the peer has gone.
pub(crate) fn send_vectored(sock: &Socket, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let flags = libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let flags = 0;
    sock.send_vectored_with_flags(bufs, flags)
}

/// Microseconds on the monotonic clock (the take-over monitor's clock):
/// one `clock_gettime` (a vDSO call on Linux) and integer arithmetic.
#[inline]
pub(crate) fn monotonic_us() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000,
        Err(_) => 0,
    }
}

/// Accepts one connection, already non-blocking and close-on-exec.
pub(crate) fn accept(listener: &Socket) -> io::Result<(Socket, socket2::SockAddr)> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let (s, a) = listener.accept()?;
        s.set_nonblocking(true)?;
        Ok((s, a))
    }
}

/// Makes the calling thread (the take-over monitor) cheap for the loops it
/// watches: `SCHED_BATCH`, so its wake-ups do not preempt a running loop
/// thread (it runs when a CPU goes idle, which is exactly when a handler
/// blocks, or at the next scheduling tick), and a timer slack of `slack`,
/// so the kernel may fold its timer into another interrupt. Best effort.
pub(crate) fn quiet_monitor_thread(slack: std::time::Duration) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = nix::sys::prctl::set_timerslack(slack.as_nanos() as libc::c_ulong);
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` reads the `sched_param` we pass by
        // reference for the duration of the call; pid 0 is this thread.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = slack;
}

/// Undoes [`quiet_monitor_thread`] for a thread about to own a loop (a
/// thread created by the monitor inherits its settings): the normal
/// policy, and the kernel's usual 50 µs timer slack.
pub(crate) fn normal_loop_thread() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = nix::sys::prctl::set_timerslack(50_000);
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as in `quiet_monitor_thread`.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
    }
}

/// The calling thread's kernel thread id (0 where there is none to read).
pub(crate) fn thread_id() -> i32 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return nix::unistd::gettid().as_raw();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return 0;
}

/// What the scheduler says about a thread of this process: whether it is
/// runnable (running or waiting for a CPU, as opposed to sleeping in a
/// system call) and its CPU time so far in nanoseconds. `None` where the
/// system does not tell (other systems, or the thread is gone).
pub(crate) fn thread_sched(tid: i32) -> Option<(bool, u64)> {
    if tid <= 0 || !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may
    // itself hold spaces or parentheses: look after the last ')'.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some((state == "R", thread_cpu_ns(tid)?))
}

/// CPU time of thread `tid` of this process, from its per-thread CPU clock
/// (Linux encodes it in the clock id: the inverted tid shifted left by
/// three, with the "per thread" and "scheduler" clock bits set).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_cpu_ns(tid: i32) -> Option<u64> {
    let id = nix::time::ClockId::from_raw((!tid << 3) | 6);
    let t = nix::time::clock_gettime(id).ok()?;
    Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn thread_cpu_ns(_tid: i32) -> Option<u64> {
    None
}

/// Installs `handler` for `signal` (with `SA_RESTART`, so that blocking
/// calls elsewhere in the program are not cut short) and returns the action
/// it replaced, for [`restore_signal_action`].
pub(crate) fn install_signal_handler(
    signal: nix::sys::signal::Signal,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the only handler passed here (`signals::on_signal`) is
    // async-signal-safe: it touches lock-free atomics and calls
    // `write_wake_byte`, which preserves `errno`.
    unsafe { sigaction(signal, &action) }.map_err(io::Error::from)
}

/// Puts back an action saved by [`install_signal_handler`].
pub(crate) fn restore_signal_action(
    signal: nix::sys::signal::Signal,
    old: &nix::sys::signal::SigAction,
) -> io::Result<()> {
    // SAFETY: `old` is the action the process had before ours: restoring it
    // returns to a state the program had already set up.
    unsafe { nix::sys::signal::sigaction(signal, old) }
        .map(drop)
        .map_err(io::Error::from)
}

/// Writes one byte to `fd`, ignoring every error (a full pipe has already
/// woken its reader). Async-signal-safe and leaves `errno` as it was, so a
/// signal handler may call it.
pub(crate) fn write_wake_byte(fd: std::os::fd::RawFd) {
    let saved = nix::errno::Errno::last_raw();
    let byte = 1u8;
    // SAFETY: `write(2)` is async-signal-safe and reads one byte from a
    // valid stack location. The caller keeps `fd` open while it may be
    // called (see `signals`); a bad descriptor would only fail with EBADF.
    let _ = unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    nix::errno::Errno::set_raw(saved);
}

/// Sends `head` (when not empty) and then up to `len` bytes of `file`
/// from `offset` on `sock`: a file body after its response head. The count
/// taken, head first; the file's position does not move.
///
/// Linux and Android: the head with `sendto(MSG_MORE)`, so that it shares
/// a segment with the file's first bytes, then `sendfile(2)`, at most
/// 1 MiB per call. Elsewhere the file is read into a buffer and sent. A
/// file that ends before `offset + len` is `UnexpectedEof`. Errors are
/// read from `errno` only when nothing was sent (a head sent and a full
/// socket is a short count, not an error).
///
/// `sendfile` takes no `MSG_NOSIGNAL`: a peer gone raises SIGPIPE, which
/// Rust programs ignore by default (the brisk-server README says so).
#[cold]
#[inline(never)]
pub(crate) fn send_head_and_file(
    sock: &Socket,
    head: &[u8],
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> io::Result<usize> {
    // At most this much per call: a large file goes out over turns.
    const MAX: u64 = 1 << 20;
    let count = len.min(MAX) as usize;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let fd = sock.as_raw_fd();
        let mut sent = 0usize;
        if !head.is_empty() {
            // SAFETY: `head` is a readable region of `head.len()` bytes
            // borrowed for the call; the kernel only reads it. No
            // destination address (null, length 0): a connected socket.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_sendto,
                    fd,
                    head.as_ptr(),
                    head.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_MORE,
                    std::ptr::null::<libc::sockaddr>(),
                    0 as libc::socklen_t,
                )
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            sent = r as usize;
            if sent < head.len() || count == 0 {
                return Ok(sent);
            }
        }
        let Ok(mut off) = libc::off_t::try_from(offset) else {
            return if sent > 0 {
                Ok(sent)
            } else {
                Err(io::ErrorKind::InvalidInput.into())
            };
        };
        // SAFETY: both descriptors are open for the call (borrowed from
        // their owners); `off` is a valid `off_t` the kernel reads and
        // updates; the kernel touches no other memory of ours.
        let r = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, count) };
        if r > 0 {
            Ok(sent + r as usize)
        } else if sent > 0 {
            // The head went out; the file's error (or end) shows next time.
            Ok(sent)
        } else if r == 0 {
            Err(io::ErrorKind::UnexpectedEof.into())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use std::os::unix::fs::FileExt;
        if !head.is_empty() {
            // The head alone; the file follows on the next call.
            return send(sock, head);
        }
        let mut buf = vec![0u8; count.min(64 * 1024)];
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        send(sock, &buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn recv_into_spare_appends_and_respects_max() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let s = Socket::from(s);
        c.write_all(b"hello world").unwrap();
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b">");
        let n = recv_into_spare(&s, &mut buf, 5).unwrap();
        assert_eq!(n, 5);
        assert_eq!(&buf, b">hello");
        let n = recv_into_spare(&s, &mut buf, 100).unwrap();
        assert_eq!(n, 6);
        assert_eq!(&buf, b">hello world");
        drop(c);
        assert_eq!(recv_into_spare(&s, &mut buf, 100).unwrap(), 0);
        // A full buffer reads nothing rather than overflowing.
        let mut full = Vec::with_capacity(0);
        assert_eq!(recv_into_spare(&s, &mut full, 100).unwrap(), 0);
    }

    #[test]
    fn send_vectored_sends_the_slices_in_order() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let s = Socket::from(s);
        let n = send_vectored(
            &s,
            &[
                io::IoSlice::new(b"head "),
                io::IoSlice::new(b""),
                io::IoSlice::new(b"body"),
            ],
        )
        .unwrap();
        assert_eq!(n, 9);
        drop(s);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &c, &mut got).unwrap();
        assert_eq!(got, b"head body");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn thread_sched_tells_running_from_sleeping() {
        let me = thread_id();
        assert!(me > 0);
        let (runnable, cpu) = thread_sched(me).unwrap();
        assert!(runnable, "the calling thread is running");
        assert!(cpu > 0);
        // The thread sleeps in a system call (a channel receive) until the
        // test has seen it sleeping: no timing is involved, and the wait is
        // bounded only as a guard against a hang.
        let (tx, rx) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(thread_id()).unwrap();
            let _ = wait.recv();
        });
        let tid = rx.recv().unwrap();
        let guard = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen_sleeping = false;
        while std::time::Instant::now() < guard {
            if thread_sched(tid).is_some_and(|(r, _)| !r) {
                seen_sleeping = true;
                break;
            }
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        assert!(
            seen_sleeping,
            "a thread blocked in recv never read as sleeping"
        );
        t.join().unwrap();
        assert_eq!(thread_sched(-1), None);
    }
}

//! The byte stream under a connection: [`Transport`], implemented by plain
//! TCP ([`TcpTransport`]) and by an in-memory pair ([`MemTransport`], which
//! the model test and the `conn` fuzz target drive).
//!
//! The connection state machine (`conn.rs`) sees only this trait: it asks
//! for bytes to be appended to its read buffer, hands over bytes to send,
//! and half-closes. A transport that transforms the stream (TLS: rustls
//! decrypts into the read buffer and encrypts the output into records it
//! holds until they are sent) plugs in here, with [`Transport::flush`] and
//! [`Transport::has_pending_output`] for the bytes it keeps itself; the
//! state machine does not change.
//!
//! Readiness stays with the driver: the epoll loop registers the socket
//! once, edge-triggered, for input and output, and tells the connection
//! when either edge fires. A transport says when a read drained it
//! ([`Filled::drained`]), so the driver knows when to wait for the next
//! edge.

use std::io;

use socket2::Socket;

use crate::sys;

/// What one [`Transport::read_into`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Filled {
    /// Bytes appended to the buffer; 0 means the peer closed its side.
    pub(crate) n: usize,
    /// Nothing more can be read until the next readiness event (for TCP: a
    /// short read). `false` means another read may return bytes at once.
    pub(crate) drained: bool,
}

/// A connection's byte stream. Every method is non-blocking: where the
/// operating system would block it returns `io::ErrorKind::WouldBlock`.
pub(crate) trait Transport {
    /// Appends up to `max` received bytes to `buf`, within its spare
    /// capacity (it never reallocates; `max` is at most the spare
    /// capacity). `n == 0` is the end of the input.
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled>;

    /// Reads and drops up to `max` bytes (a lingering close): the count,
    /// 0 at the end of the input.
    fn discard(&mut self, max: usize) -> io::Result<usize>;

    /// Sends a prefix of `data`: the count of bytes taken.
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;

    /// Sends a prefix of the concatenation of `bufs` (a head and a body
    /// that were never copied together): the count of bytes taken.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;

    /// Sends what the transport holds itself (bytes it took in
    /// [`write`](Self::write) but has not passed on, such as encrypted
    /// records). `Ok(())` once nothing is held.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Whether the transport holds output that [`flush`](Self::flush) has
    /// yet to send.
    fn has_pending_output(&self) -> bool {
        false
    }

    /// Ends the output after what was sent (TCP: a FIN); input may still
    /// arrive.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Waits until the transport may be read (or, with `write`, written),
    /// at most `timeout`: `Ok(false)` when the time ran out. For a
    /// connection served on a worker thread, whose reads and writes block.
    fn wait(&mut self, write: bool, timeout: std::time::Duration) -> io::Result<bool>;

    /// While a handshake runs (TLS): the time (server clock, ms) by which
    /// it must finish. The connection's deadline until then.
    #[inline]
    fn handshake_deadline(&self) -> Option<u64> {
        None
    }

    /// Whether a handler may take the connection over (hijack): not over
    /// TLS, whose session cannot be handed out as a socket.
    #[inline]
    fn can_hijack(&self) -> bool {
        true
    }

    /// Sends a prefix of `head` followed by `len` bytes of `file` from
    /// `offset` (a file body after its response head): the count of bytes
    /// taken, head first. The file's position is neither used nor moved,
    /// so one open file may serve many connections at once.
    ///
    /// The default reads a piece of the file into a buffer on the stack
    /// (`pread`) and sends it with the head through
    /// [`write_vectored`](Self::write_vectored): right for a transport that
    /// transforms the bytes (TLS). [`TcpTransport`] sends the file with
    /// `sendfile(2)` instead, without copying it through user space. A
    /// file shorter than `offset + len` is an `UnexpectedEof` error.
    #[cold]
    fn send_file(
        &mut self,
        head: &[u8],
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<usize> {
        send_file_by_copy(self, head, file, offset, len)
    }
}

/// [`Transport::send_file`] by copying: a piece of the file is read into a
/// buffer on the stack (`pread`) and sent with the head through
/// [`write_vectored`](Transport::write_vectored).
#[cold]
pub(crate) fn send_file_by_copy<T: Transport + ?Sized>(
    t: &mut T,
    head: &[u8],
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut piece = [0u8; FILE_PIECE];
    let want = piece.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    let n = if want == 0 {
        0
    } else {
        loop {
            match file.read_at(&mut piece[..want], offset) {
                Ok(0) => return Err(file_ended()),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    };
    if head.is_empty() {
        t.write(&piece[..n])
    } else {
        t.write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(&piece[..n])])
    }
}

/// Plain TCP: the accepted socket itself.
pub(crate) struct TcpTransport {
    sock: Socket,
}

impl TcpTransport {
    /// Wraps a connected, non-blocking socket.
    pub(crate) fn new(sock: Socket) -> TcpTransport {
        TcpTransport { sock }
    }

    /// The socket, for registering it with epoll.
    pub(crate) fn socket(&self) -> &Socket {
        &self.sock
    }

    /// The socket itself (a hijacked connection's).
    pub(crate) fn into_socket(self) -> Socket {
        self.sock
    }
}

impl Transport for TcpTransport {
    #[inline]
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled> {
        let n = sys::recv_into_spare(&self.sock, buf, max)?;
        Ok(Filled {
            n,
            drained: n < max,
        })
    }

    #[cold]
    fn discard(&mut self, max: usize) -> io::Result<usize> {
        let mut sink = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let take = max.min(sink.len());
        self.sock.recv(&mut sink[..take])
    }

    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        sys::send(&self.sock, data)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(&self.sock, bufs)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    fn wait(&mut self, write: bool, timeout: std::time::Duration) -> io::Result<bool> {
        poll_socket(&self.sock, write, timeout)
    }

    /// The head, then the file with `sendfile(2)`: no copy through user
    /// space (see [`sys::send_head_and_file`]).
    fn send_file(
        &mut self,
        head: &[u8],
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<usize> {
        sys::send_head_and_file(&self.sock, head, file, offset, len)
    }
}

/// What an event loop's connections run over: plain TCP, or TLS over TCP
/// (feature `tls`). Without the feature the enum has one variant and
/// costs nothing; with it, one predictable branch per call.
pub(crate) enum LoopTransport {
    /// Plain TCP.
    Tcp(TcpTransport),
    /// rustls over TCP (boxed: the session is large, and a plain
    /// connection should not pay for it).
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsTransport>),
}

/// Forwards one call to the variant's transport. The TLS arm runs out of
/// line (`cold`), so a plain connection's calls stay as tight as
/// `TcpTransport`'s own.
macro_rules! each {
    ($self:expr, $t:ident => $e:expr) => {
        match $self {
            LoopTransport::Tcp($t) => $e,
            #[cfg(feature = "tls")]
            LoopTransport::Tls($t) => out_of_line(|| $e),
        }
    };
}

/// Runs `f` in a function of its own, marked cold.
#[cfg(feature = "tls")]
#[cold]
#[inline(never)]
fn out_of_line<R>(f: impl FnOnce() -> R) -> R {
    f()
}

impl LoopTransport {
    /// The socket, for registering it with epoll.
    #[inline]
    pub(crate) fn socket(&self) -> &Socket {
        each!(self, t => t.socket())
    }

    /// The plain socket of a hijacked connection; `None` over TLS (a
    /// TLS connection is never hijacked: see [`Transport::can_hijack`]).
    pub(crate) fn into_socket(self) -> Option<Socket> {
        match self {
            LoopTransport::Tcp(t) => Some(t.into_socket()),
            #[cfg(feature = "tls")]
            LoopTransport::Tls(_) => None,
        }
    }
}

impl Transport for LoopTransport {
    #[inline]
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled> {
        each!(self, t => t.read_into(buf, max))
    }

    fn discard(&mut self, max: usize) -> io::Result<usize> {
        each!(self, t => t.discard(max))
    }

    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        each!(self, t => t.write(data))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        each!(self, t => t.write_vectored(bufs))
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        each!(self, t => t.flush())
    }

    #[inline]
    fn has_pending_output(&self) -> bool {
        each!(self, t => t.has_pending_output())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        each!(self, t => t.shutdown_write())
    }

    fn wait(&mut self, write: bool, timeout: std::time::Duration) -> io::Result<bool> {
        each!(self, t => t.wait(write, timeout))
    }

    #[inline]
    fn handshake_deadline(&self) -> Option<u64> {
        each!(self, t => t.handshake_deadline())
    }

    #[inline]
    fn can_hijack(&self) -> bool {
        each!(self, t => t.can_hijack())
    }

    /// TCP: `sendfile(2)`; TLS: the trait's default, `pread` and a write
    /// through rustls (the records must be encrypted in user space).
    fn send_file(
        &mut self,
        head: &[u8],
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<usize> {
        each!(self, t => t.send_file(head, file, offset, len))
    }
}

/// Waits until `sock` may be read (or, with `write`, written), at most
/// `timeout`: `Ok(false)` when the time ran out.
pub(crate) fn poll_socket(
    sock: &Socket,
    write: bool,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let events = if write {
        PollFlags::POLLOUT
    } else {
        PollFlags::POLLIN
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let mut fds = [PollFd::new(sock.as_fd(), events)];
    loop {
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// An in-memory transport for tests and fuzzing: the "network" is a byte
/// queue the test fills and a sink it reads, with a read size and a write
/// budget the test controls (short reads, partial writes, would-block).
///
/// With `hold_output` it also keeps written bytes until
/// [`flush`](Transport::flush), as a TLS transport keeps its records.
#[derive(Debug, Default)]
pub(crate) struct MemTransport {
    /// Bytes the peer sent that the connection has not read yet.
    pub(crate) inbox: std::collections::VecDeque<u8>,
    /// The peer sent everything: reads return 0 once `inbox` is empty.
    pub(crate) peer_closed: bool,
    /// Most bytes one read returns (0: no limit).
    pub(crate) read_size: usize,
    /// Bytes the peer has accepted, in order.
    pub(crate) sent: Vec<u8>,
    /// Bytes the "socket" still takes before a write would block.
    pub(crate) write_budget: usize,
    /// Most bytes one write takes (0: no limit).
    pub(crate) write_size: usize,
    /// Keep written bytes in `held` until `flush`.
    pub(crate) hold_output: bool,
    /// Written, not yet flushed (only with `hold_output`).
    pub(crate) held: Vec<u8>,
    /// The connection half-closed its output.
    pub(crate) write_shut: bool,
}

impl MemTransport {
    /// Moves up to `data.len()` bytes into the sink under the budget.
    fn accept(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.write_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut n = data.len().min(self.write_budget);
        if self.write_size > 0 {
            n = n.min(self.write_size);
        }
        if n == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.sent.extend_from_slice(&data[..n]);
        self.write_budget -= n;
        Ok(n)
    }
}

impl Transport for MemTransport {
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled> {
        let mut n = max.min(buf.capacity() - buf.len()).min(self.inbox.len());
        if self.read_size > 0 {
            n = n.min(self.read_size);
        }
        if n == 0 {
            if self.inbox.is_empty() && self.peer_closed {
                return Ok(Filled {
                    n: 0,
                    drained: true,
                });
            }
            return Err(io::ErrorKind::WouldBlock.into());
        }
        buf.extend(self.inbox.drain(..n));
        Ok(Filled {
            n,
            drained: self.inbox.is_empty(),
        })
    }

    fn discard(&mut self, max: usize) -> io::Result<usize> {
        let n = max.min(self.inbox.len());
        if n == 0 {
            if self.peer_closed {
                return Ok(0);
            }
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inbox.drain(..n);
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.hold_output {
            return self.accept(data);
        }
        if self.write_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // Like a TLS transport: take everything, send later.
        self.held.extend_from_slice(data);
        let _ = self.flush();
        Ok(data.len())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // As a socket does: as much of the concatenation as the budget
        // takes, at most one `write_size` in all.
        let mut total = 0;
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            let n = match self.write(b) {
                Ok(n) => n,
                Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            total += n;
            if n < b.len() || (self.write_size > 0 && total >= self.write_size) {
                break;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let r = self.accept(&held);
            self.held = held;
            let n = r?;
            self.held.drain(..n);
        }
        Ok(())
    }

    fn has_pending_output(&self) -> bool {
        !self.held.is_empty()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        // Held bytes go first, as a TLS close_notify follows the records.
        self.flush()?;
        self.write_shut = true;
        Ok(())
    }

    /// Never blocks: nothing else runs while an in-memory connection waits,
    /// so "no bytes now" is a timeout.
    fn wait(&mut self, write: bool, _timeout: std::time::Duration) -> io::Result<bool> {
        Ok(if write {
            self.write_budget > 0 || self.write_shut
        } else {
            !self.inbox.is_empty() || self.peer_closed
        })
    }
}

/// Bytes of a file the default [`Transport::send_file`] copies per call.
const FILE_PIECE: usize = 16 * 1024;

/// The error of a file body whose file shrank under it.
#[cold]
fn file_ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file of a file body ended before its announced length",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_transport_reads_in_pieces_and_ends() {
        let mut t = MemTransport {
            read_size: 3,
            ..MemTransport::default()
        };
        let mut buf = Vec::with_capacity(16);
        assert_eq!(
            t.read_into(&mut buf, 16).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        t.inbox.extend(b"hello");
        let f = t.read_into(&mut buf, 16).unwrap();
        assert_eq!((f.n, f.drained), (3, false));
        let f = t.read_into(&mut buf, 16).unwrap();
        assert_eq!((f.n, f.drained), (2, true));
        assert_eq!(buf, b"hello");
        t.peer_closed = true;
        assert_eq!(t.read_into(&mut buf, 16).unwrap().n, 0);
    }

    #[test]
    fn mem_transport_writes_under_a_budget_and_holds_when_asked() {
        let mut t = MemTransport {
            write_budget: 4,
            write_size: 3,
            ..MemTransport::default()
        };
        assert_eq!(t.write(b"abcdef").unwrap(), 3);
        assert_eq!(t.write(b"def").unwrap(), 1);
        assert_eq!(
            t.write(b"ef").unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(t.sent, b"abcd");

        let mut t = MemTransport {
            hold_output: true,
            write_budget: 2,
            ..MemTransport::default()
        };
        assert_eq!(t.write(b"abcdef").unwrap(), 6);
        assert!(t.has_pending_output());
        assert_eq!(t.sent, b"ab");
        t.write_budget = 10;
        t.flush().unwrap();
        assert!(!t.has_pending_output());
        assert_eq!(t.sent, b"abcdef");
        t.shutdown_write().unwrap();
        assert!(t.write(b"x").is_err());
    }
}

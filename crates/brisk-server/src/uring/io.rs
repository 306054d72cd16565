//! The io_uring loop's connection transport: [`UringTransport`], a TCP
//! socket with its ring side, [`RingIo`].
//!
//! It is a type of its own (not a variant of the epoll loop's
//! `LoopTransport`) so that `Conn<UringTransport>` and the epoll loop's
//! `Conn<LoopTransport>` are distinct monomorphizations, each with one
//! caller: the epoll loop's code is what it is without io_uring.
//!
//! # Ownership of the bytes
//!
//! * **Input.** The loop keeps one multishot receive armed per connection;
//!   the kernel fills a buffer of the loop's provided-buffer ring and posts
//!   a completion. The loop lends that buffer to the connection
//!   ([`RingIo::receive`]) and drives it: `read_into` copies from the lent
//!   buffer into the connection's pooled read buffer (one copy, as `recv`
//!   makes). After the drive the loop takes the buffer back
//!   ([`RingIo::settle`]); bytes the connection did not take are copied into
//!   the connection's spill buffer first. A second completion for a
//!   connection that still holds a lent buffer goes to the spill buffer.
//! * **Output.** `write` copies into `out`, a buffer the transport owns;
//!   `has_pending_output` stays true until the kernel has sent it. The loop
//!   submits `out` as one send at the end of the turn, after swapping it
//!   into `sending`: from then on the kernel reads `sending`, and nothing
//!   touches it until the send's completion (a short send is submitted
//!   again for its rest). A connection that closes with a send in flight
//!   leaves `sending` with the loop until the completion arrives.
//! * **Idle.** The buffers above live in a [`RingBufs`] box that the loop
//!   lends a connection while it drives it and takes back as soon as it
//!   holds nothing, so an idle connection owns only its `RingIo` (16 bytes
//!   inside the transport).
//!
//! A connection served on a worker thread or hijacked leaves the ring: a
//! `RingIo` in [`Recv::Direct`] with no box is the plain socket, and every
//! method falls through to the system call.

// The spares are boxes that move in and out of connections (whose
// transport holds an `Option<Box<RingBufs>>`, 8 bytes while idle): a
// `Vec<Box<_>>` hands them over without moving their contents.
#![allow(clippy::vec_box)]

use std::io;

use socket2::Socket;

use crate::sys;
use crate::transport::{Filled, Transport, poll_socket};

/// Most bytes the transport takes from `write` before it would block: the
/// connection waits for the send completion (an output edge) to give more.
/// Unlike the epoll loop's output, which waits in the kernel's socket
/// buffer, this is the server's memory: a client that never reads costs
/// at most this much (twice, with the buffers' capacity).
pub(crate) const TX_MAX: usize = 16 * 1024;
/// Received bytes held past a drive (the connection did not take them: its
/// output is blocked, or its read buffer full) above which the loop cancels
/// the connection's receive: the rest waits in the socket, and TCP flow
/// control slows the client. Received again once the connection has read
/// everything held.
pub(crate) const RX_HIGH: usize = 4 * 1024;
/// Received bytes a connection may hold unread: past it, the loop closes
/// the connection. Only a client that sends far ahead of a connection
/// blocked on its output gets there: the receive is cancelled at
/// [`RX_HIGH`], but what the kernel delivered before the cancel took effect
/// is already here, and against a client that never stops sending the
/// cancel often finds the multishot receive running (`ENOENT`; the loop
/// asks again, see `UState::recancel`) while the kernel goes on filling
/// buffers. The epoll loop leaves such bytes in the socket instead, so a
/// client may write at most this much ahead of a blocked response here
/// (with 256 KiB, 200 clients that pipeline and never read held 73 to
/// 154 KiB each; with 64 KiB, 6 KiB).
pub(crate) const RX_LIMIT: usize = 64 * 1024;
/// Capacity a box's buffers keep when it goes back to the spares (a
/// larger one, grown by a large response or held input, is freed).
const KEEP_CAPACITY: usize = TX_MAX;

/// Where the connection's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// System calls on the socket (the epoll loop, a worker thread, a
    /// hijacked connection).
    Direct,
    /// A multishot receive is armed.
    Armed,
    /// No receive is armed (it ended, ran out of buffers, or was
    /// cancelled): the loop arms one when the spill buffer has room.
    Off,
    /// A cancel was submitted; the receive's last completion is due.
    Cancelling,
    /// The peer ended its side: reads return 0 once the bytes are read.
    Ended,
    /// The receive failed with this errno: reads fail once the bytes are
    /// read.
    Failed(u16),
}

/// A buffer of the loop's ring lent to the connection.
pub(crate) struct Lent {
    ptr: *const u8,
    len: u32,
    off: u32,
    pub(crate) bid: u16,
}

/// The buffers of a connection that is doing something (see the module
/// docs). Lent by the loop; empty when given back.
#[derive(Default)]
pub(crate) struct RingBufs {
    lent: Option<Lent>,
    spill: Vec<u8>,
    spill_pos: usize,
    pub(crate) out: Vec<u8>,
    pub(crate) sending: Vec<u8>,
    pub(crate) sent: usize,
    /// A send of `sending[sent..]` is with the kernel.
    pub(crate) in_flight: bool,
    /// A send failed with this errno: writes fail.
    send_err: Option<i32>,
    /// `shutdown_write` came while output was pending: the loop shuts the
    /// socket's output down once it is sent.
    pub(crate) shut_after: bool,
}

// SAFETY: `Lent::ptr` points into the loop's buffer ring, which outlives
// every connection of the loop; the buffer is reserved for this connection
// until the loop recycles it (the kernel does not write a buffer it was not
// given back), so reading it from whichever thread drives the connection is
// sound.
unsafe impl Send for RingBufs {}

impl RingBufs {
    /// Input bytes held (lent and spilled).
    pub(crate) fn input(&self) -> usize {
        self.lent.as_ref().map_or(0, |l| (l.len - l.off) as usize) + self.spill.len()
            - self.spill_pos
    }

    /// Output not yet sent.
    pub(crate) fn output(&self) -> usize {
        self.out.len() + self.sending.len() - self.sent
    }

    /// Holds nothing: may go back to the loop's spares.
    pub(crate) fn is_empty(&self) -> bool {
        self.lent.is_none()
            && self.spill_pos == self.spill.len()
            && self.out.is_empty()
            && !self.in_flight
            && self.sending.len() == self.sent
            && !self.shut_after
    }

    /// Clears it for reuse, dropping large allocations.
    pub(crate) fn reset(&mut self) {
        self.lent = None;
        for v in [&mut self.spill, &mut self.out, &mut self.sending] {
            v.clear();
            if v.capacity() > KEEP_CAPACITY {
                *v = Vec::new();
            }
        }
        self.spill_pos = 0;
        self.sent = 0;
        self.in_flight = false;
        self.send_err = None;
        self.shut_after = false;
    }

    fn spill_bytes(&mut self, data: &[u8]) {
        // The bytes read go first: the buffer holds only unread input, so
        // its capacity stays bounded by what is held (not by what flowed).
        if self.spill_pos > 0 {
            self.spill.drain(..self.spill_pos);
            self.spill_pos = 0;
        }
        self.spill.extend_from_slice(data);
    }

    /// Copies up to `take` input bytes onto `buf`; the count.
    fn read_to(&mut self, buf: &mut Vec<u8>, take: usize) -> usize {
        let mut n = 0;
        if let Some(l) = self.lent.as_mut() {
            let k = ((l.len - l.off) as usize).min(take);
            if k > 0 {
                // SAFETY: see `Send for RingBufs`: the lent buffer holds
                // `len` bytes written by the kernel and is not written again
                // until it is recycled, which needs `&mut` to this value.
                let src = unsafe { std::slice::from_raw_parts(l.ptr.add(l.off as usize), k) };
                buf.extend_from_slice(src);
                l.off += k as u32;
                n = k;
            }
        }
        if n < take && self.spill_pos < self.spill.len() {
            let k = (self.spill.len() - self.spill_pos).min(take - n);
            buf.extend_from_slice(&self.spill[self.spill_pos..self.spill_pos + k]);
            self.spill_pos += k;
            n += k;
        }
        n
    }

    fn drop_input(&mut self, max: usize) -> usize {
        let mut n = 0;
        if let Some(l) = self.lent.as_mut() {
            let k = ((l.len - l.off) as usize).min(max);
            l.off += k as u32;
            n = k;
        }
        let k = (self.spill.len() - self.spill_pos).min(max - n);
        self.spill_pos += k;
        n + k
    }
}

/// The ring side of a connection's transport (see the module docs), with
/// its socket: in one struct so that the socket sits in what would be the
/// padding after `recv` (16 bytes in all, and an idle connection stays
/// under 256 bytes).
pub(crate) struct RingIo {
    pub(crate) bufs: Option<Box<RingBufs>>,
    pub(crate) recv: Recv,
    pub(crate) sock: Socket,
}

impl RingIo {
    /// Plain socket I/O: nothing held, no ring (always so on the epoll
    /// loop).
    #[inline(always)]
    pub(crate) fn is_plain(&self) -> bool {
        self.bufs.is_none() && self.recv == Recv::Direct
    }

    /// Whether input comes from the ring (not from system calls).
    pub(crate) fn on_ring(&self) -> bool {
        self.recv != Recv::Direct
    }

    /// Lends the box of buffers (from the loop's spares) if it has none.
    pub(crate) fn attach(&mut self, spares: &mut Vec<Box<RingBufs>>) {
        if self.bufs.is_none() {
            self.bufs = Some(spares.pop().unwrap_or_default());
        }
    }

    /// Takes the box back when it holds nothing.
    pub(crate) fn detach_if_empty(&mut self, spares: &mut Vec<Box<RingBufs>>) {
        if self.bufs.as_ref().is_some_and(|b| b.is_empty()) {
            if let Some(mut b) = self.bufs.take() {
                b.reset();
                if spares.len() < MAX_SPARES {
                    spares.push(b);
                }
            }
        }
    }

    /// A receive completion of `data` in ring buffer `bid` (at `ptr`):
    /// lent to the connection when it holds no other buffer, else copied
    /// to the spill buffer. Returns the id when the caller should recycle
    /// it now (copied).
    pub(crate) fn receive(
        &mut self,
        ptr: *const u8,
        len: u32,
        bid: u16,
        spares: &mut Vec<Box<RingBufs>>,
        lend: bool,
    ) -> Option<u16> {
        self.attach(spares);
        let b = self.bufs.as_mut()?;
        if lend && b.lent.is_none() && b.spill_pos == b.spill.len() {
            b.lent = Some(Lent {
                ptr,
                len,
                off: 0,
                bid,
            });
            return None;
        }
        // SAFETY: the completion says the kernel wrote `len` bytes at the
        // start of buffer `bid`, which is not recycled before this copy.
        let data = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
        b.spill_bytes(data);
        Some(bid)
    }

    /// Appends bytes received while the connection was elsewhere.
    pub(crate) fn receive_copied(&mut self, data: &[u8], spares: &mut Vec<Box<RingBufs>>) {
        self.attach(spares);
        if let Some(b) = self.bufs.as_mut() {
            b.spill_bytes(data);
        }
    }

    /// After a drive: takes the lent buffer back (its unread bytes moved
    /// to the front of the spill buffer); the id to recycle.
    pub(crate) fn settle(&mut self) -> Option<u16> {
        let b = self.bufs.as_mut()?;
        let l = b.lent.take()?;
        if l.off < l.len {
            // SAFETY: as in `read_to`: the lent buffer is still reserved.
            let rest = unsafe {
                std::slice::from_raw_parts(l.ptr.add(l.off as usize), (l.len - l.off) as usize)
            };
            // In front of what was spilled after it; the spill buffer's
            // capacity is reused (no allocation in the steady state).
            if b.spill_pos > 0 {
                b.spill.drain(..b.spill_pos);
                b.spill_pos = 0;
            }
            b.spill.splice(0..0, rest.iter().copied());
        }
        Some(l.bid)
    }

    /// Input bytes held.
    pub(crate) fn input(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.input())
    }

    /// The send to submit now, if any: `(ptr, len)` of `sending[sent..]`
    /// (moving `out` into `sending` when the last send is done). The caller
    /// submits it and the transport counts it in flight.
    pub(crate) fn next_send(&mut self) -> Option<(*const u8, u32)> {
        let b = self.bufs.as_mut()?;
        if b.in_flight || b.send_err.is_some() {
            return None;
        }
        if b.sent >= b.sending.len() {
            b.sending.clear();
            b.sent = 0;
            if b.out.is_empty() {
                return None;
            }
            std::mem::swap(&mut b.sending, &mut b.out);
        }
        b.in_flight = true;
        let rest = &b.sending[b.sent..];
        Some((rest.as_ptr(), rest.len().min(u32::MAX as usize) as u32))
    }

    /// A send completion: `res` bytes sent, or `-errno`.
    pub(crate) fn sent(&mut self, res: i32) {
        let Some(b) = self.bufs.as_mut() else {
            return;
        };
        b.in_flight = false;
        if res < 0 {
            b.send_err = Some(-res);
            b.out.clear();
            b.sending.clear();
            b.sent = 0;
        } else {
            b.sent += res as usize;
            if b.sent >= b.sending.len() {
                b.sending.clear();
                b.sent = 0;
            }
        }
    }

    /// Whether a shutdown of the output waits for the output to be sent
    /// (and now is due: the caller shuts the socket down).
    pub(crate) fn shutdown_due(&mut self) -> bool {
        match self.bufs.as_mut() {
            Some(b) if b.shut_after && b.output() == 0 && !b.in_flight => {
                b.shut_after = false;
                true
            }
            _ => false,
        }
    }

    /// A worker thread or a hijack takes the connection: input comes from
    /// system calls after the bytes held. What the kernel still sends is
    /// put back in front of `out` (the caller made sure no send is in
    /// flight).
    pub(crate) fn go_direct(&mut self) {
        self.recv = Recv::Direct;
        if let Some(b) = self.bufs.as_mut() {
            if b.sent < b.sending.len() {
                let mut v = b.sending[b.sent..].to_vec();
                v.extend_from_slice(&b.out);
                b.out = v;
            }
            b.sending.clear();
            b.sent = 0;
        }
    }

    /// Drops the input held (a connection that only discards input).
    pub(crate) fn drop_input(&mut self) {
        if let Some(b) = self.bufs.as_mut() {
            let n = b.input();
            b.drop_input(n);
            b.spill = Vec::new();
            b.spill_pos = 0;
        }
    }

    /// The bytes held for input, taken (a hijacked connection's).
    pub(crate) fn take_input(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(b) = self.bufs.as_mut() {
            let n = b.input();
            b.read_to(&mut v, n);
        }
        v
    }

    // --- the transport's methods when not plain ---

    /// `Transport::read_into` from the held input, then (direct) the socket.
    pub(crate) fn read_into(
        &mut self,
        buf: &mut Vec<u8>,
        max: usize,
        direct: impl FnOnce(&Socket, &mut Vec<u8>, usize) -> io::Result<Filled>,
    ) -> io::Result<Filled> {
        let take = max.min(buf.capacity() - buf.len());
        if let Some(b) = self.bufs.as_mut() {
            let n = b.read_to(buf, take);
            if n > 0 {
                let drained = b.input() == 0 && self.recv != Recv::Direct;
                return Ok(Filled { n, drained });
            }
        }
        match self.recv {
            Recv::Direct => direct(&self.sock, buf, take),
            Recv::Ended => Ok(Filled {
                n: 0,
                drained: true,
            }),
            Recv::Failed(e) => Err(io::Error::from_raw_os_error(i32::from(e))),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// `Transport::discard` from the held input, then (direct) the socket.
    pub(crate) fn discard(
        &mut self,
        max: usize,
        direct: impl FnOnce(&Socket, usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if let Some(b) = self.bufs.as_mut() {
            let n = b.drop_input(max);
            if n > 0 {
                return Ok(n);
            }
        }
        match self.recv {
            Recv::Direct => direct(&self.sock, max),
            Recv::Ended => Ok(0),
            Recv::Failed(e) => Err(io::Error::from_raw_os_error(i32::from(e))),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// `Transport::write`: on the ring, copied into `out`; direct, what
    /// `out` holds goes first.
    pub(crate) fn write(
        &mut self,
        data: &[u8],
        mut direct: impl FnMut(&Socket, &[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.recv == Recv::Direct {
            if let Some(b) = self.bufs.as_mut() {
                while !b.out.is_empty() {
                    let n = direct(&self.sock, &b.out)?;
                    b.out.drain(..n);
                }
            }
            return direct(&self.sock, data);
        }
        let b = self.bufs.get_or_insert_with(Box::default);
        if let Some(e) = b.send_err {
            return Err(io::Error::from_raw_os_error(e));
        }
        let room = TX_MAX.saturating_sub(b.output());
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(data.len());
        b.out.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// `Transport::flush`: on the ring, `WouldBlock` until the loop's sends
    /// have taken everything (the connection hears of it as an output
    /// edge).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let Some(b) = self.bufs.as_ref() else {
            return Ok(());
        };
        if let Some(e) = b.send_err {
            return Err(io::Error::from_raw_os_error(e));
        }
        if b.output() == 0 && !b.in_flight {
            return Ok(());
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// `Transport::has_pending_output`.
    pub(crate) fn has_pending_output(&self) -> bool {
        self.bufs
            .as_ref()
            .is_some_and(|b| b.output() > 0 || b.in_flight || b.send_err.is_some())
    }

    /// `Transport::shutdown_write`: `true` when it must wait for the output
    /// to be sent (the loop does it then).
    pub(crate) fn defer_shutdown(&mut self) -> bool {
        if self.recv == Recv::Direct {
            return false;
        }
        match self.bufs.as_mut() {
            Some(b) if b.output() > 0 || b.in_flight => {
                b.shut_after = true;
                true
            }
            _ => false,
        }
    }
}

/// A TCP socket served by the io_uring loop: its I/O goes through the
/// loop's ring ([`RingIo`]) while it is there, and through system calls on
/// a worker thread or once hijacked.
pub(crate) struct UringTransport {
    pub(crate) ring: RingIo,
}

impl UringTransport {
    /// Wraps a connected, non-blocking socket (its receive not armed yet).
    pub(crate) fn new(sock: Socket) -> UringTransport {
        UringTransport {
            ring: RingIo {
                bufs: None,
                recv: Recv::Off,
                sock,
            },
        }
    }

    /// The socket (its descriptor for the ring's requests).
    pub(crate) fn socket(&self) -> &Socket {
        &self.ring.sock
    }

    /// The socket itself (a hijacked connection's), and the input the
    /// transport holds that was not read yet.
    pub(crate) fn into_socket(mut self) -> (Socket, Vec<u8>) {
        let rest = self.ring.take_input();
        (self.ring.sock, rest)
    }
}

impl Transport for UringTransport {
    #[inline]
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled> {
        if self.ring.is_plain() {
            let n = sys::recv_into_spare(&self.ring.sock, buf, max)?;
            return Ok(Filled {
                n,
                drained: n < max,
            });
        }
        self.ring.read_into(buf, max, |sock, buf, max| {
            let n = sys::recv_into_spare(sock, buf, max)?;
            Ok(Filled {
                n,
                drained: n < max,
            })
        })
    }

    #[cold]
    fn discard(&mut self, max: usize) -> io::Result<usize> {
        let direct = |sock: &Socket, max: usize| {
            let mut sink = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
            let take = max.min(sink.len());
            sock.recv(&mut sink[..take])
        };
        if self.ring.is_plain() {
            return direct(&self.ring.sock, max);
        }
        self.ring.discard(max, direct)
    }

    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.ring.is_plain() {
            return sys::send(&self.ring.sock, data);
        }
        self.ring.write(data, sys::send)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if self.ring.on_ring() {
            // Copied into the transport's output: one slice after another.
            let mut total = 0;
            for b in bufs.iter().filter(|b| !b.is_empty()) {
                let n = match self.write(b) {
                    Ok(n) => n,
                    Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                total += n;
                if n < b.len() {
                    break;
                }
            }
            return Ok(total);
        }
        if self.ring.has_pending_output() {
            // Direct, with output left from the ring: it goes first.
            return match bufs.iter().find(|b| !b.is_empty()) {
                Some(b) => self.write(b),
                None => Ok(0),
            };
        }
        sys::send_vectored(&self.ring.sock, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.ring.on_ring() {
            return self.ring.flush();
        }
        if self.ring.has_pending_output() {
            // Direct, with output left from the ring.
            self.ring.write(&[], sys::send)?;
        }
        Ok(())
    }

    #[inline]
    fn has_pending_output(&self) -> bool {
        self.ring.has_pending_output()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        if self.ring.defer_shutdown() {
            return Ok(());
        }
        self.ring.sock.shutdown(std::net::Shutdown::Write)
    }

    fn wait(&mut self, write: bool, timeout: std::time::Duration) -> io::Result<bool> {
        if !write && self.ring.input() > 0 {
            return Ok(true);
        }
        poll_socket(&self.ring.sock, write, timeout)
    }

    /// A file body: `sendfile(2)` when the socket is plain (a worker
    /// thread, nothing held); else the trait's copy through
    /// [`write_vectored`](Transport::write_vectored) (the ring owns the
    /// byte order: a send may be in flight).
    fn send_file(
        &mut self,
        head: &[u8],
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<usize> {
        if self.ring.is_plain() {
            return sys::send_head_and_file(&self.ring.sock, head, file, offset, len);
        }
        crate::transport::send_file_by_copy(self, head, file, offset, len)
    }
}

/// Boxes a loop keeps for connections that become busy.
pub(crate) const MAX_SPARES: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// A `RingIo` with its receive armed, over an unconnected socket that
    /// the tests never touch.
    fn ring_io() -> RingIo {
        RingIo {
            bufs: None,
            recv: Recv::Armed,
            sock: Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap(),
        }
    }

    fn lend(io: &mut RingIo, data: &'static [u8], bid: u16, spares: &mut Vec<Box<RingBufs>>) {
        assert_eq!(
            io.receive(data.as_ptr(), data.len() as u32, bid, spares, true),
            None
        );
    }

    #[test]
    fn input_is_read_from_the_lent_buffer_then_the_spill_in_order() {
        let mut spares = Vec::new();
        let mut io = ring_io();
        let mut buf = Vec::with_capacity(4);
        assert_eq!(
            io.read_into(&mut buf, 4, |_, _, _| unreachable!())
                .unwrap_err()
                .kind(),
            io::ErrorKind::WouldBlock
        );
        lend(&mut io, b"hello", 7, &mut spares);
        // A second completion while a buffer is lent is copied.
        let second = b" world";
        assert_eq!(
            io.receive(second.as_ptr(), 6, 8, &mut spares, true),
            Some(8)
        );
        let f = io.read_into(&mut buf, 4, |_, _, _| unreachable!()).unwrap();
        assert_eq!((f.n, f.drained), (4, false));
        assert_eq!(buf, b"hell");
        // The loop takes the lent buffer back: its rest goes first.
        assert_eq!(io.settle(), Some(7));
        let mut all = Vec::with_capacity(64);
        let f = io
            .read_into(&mut all, 64, |_, _, _| unreachable!())
            .unwrap();
        assert_eq!((f.n, f.drained), (7, true));
        assert_eq!(all, b"o world");
        io.recv = Recv::Ended;
        assert_eq!(
            io.read_into(&mut all, 64, |_, _, _| unreachable!())
                .unwrap()
                .n,
            0
        );
        io.detach_if_empty(&mut spares);
        assert!(io.bufs.is_none(), "an empty box goes back");
        assert_eq!(spares.len(), 1);
    }

    #[test]
    fn output_is_held_until_its_send_completes_and_short_sends_resume() {
        let mut spares = Vec::new();
        let mut io = ring_io();
        assert_eq!(io.write(b"abcdef", |_, _| unreachable!()).unwrap(), 6);
        assert!(io.has_pending_output());
        assert_eq!(io.flush().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let (p, n) = io.next_send().unwrap();
        assert_eq!(n, 6);
        // SAFETY: the pointer is into `sending`, untouched until `sent`.
        assert_eq!(unsafe { std::slice::from_raw_parts(p, 6) }, b"abcdef");
        assert!(io.next_send().is_none(), "one send in flight");
        // More output while the send is in flight goes to `out`.
        assert_eq!(io.write(b"gh", |_, _| unreachable!()).unwrap(), 2);
        io.sent(4);
        let (p, n) = io.next_send().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { std::slice::from_raw_parts(p, n as usize) }, b"ef");
        io.sent(2);
        let (_, n) = io.next_send().unwrap();
        assert_eq!(n, 2);
        io.sent(2);
        assert!(!io.has_pending_output());
        io.flush().unwrap();
        io.detach_if_empty(&mut spares);
        assert!(io.bufs.is_none());
        // A failed send fails the writes.
        io.write(b"x", |_, _| unreachable!()).unwrap();
        io.next_send().unwrap();
        io.sent(-libc::EPIPE);
        assert!(io.flush().is_err());
        assert!(io.write(b"y", |_, _| unreachable!()).is_err());
    }

    #[test]
    fn writes_block_past_the_bound() {
        let mut io = ring_io();
        let big = vec![0u8; TX_MAX + 10];
        assert_eq!(io.write(&big, |_, _| unreachable!()).unwrap(), TX_MAX);
        assert_eq!(
            io.write(b"x", |_, _| unreachable!()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn going_direct_keeps_held_bytes_first() {
        let mut spares = Vec::new();
        let mut io = ring_io();
        lend(&mut io, b"abc", 1, &mut spares);
        assert_eq!(io.settle(), Some(1));
        io.write(b"12345", |_, _| unreachable!()).unwrap();
        io.next_send().unwrap();
        io.sent(2);
        io.go_direct();
        let mut sock_out = Vec::new();
        io.write(b"6", |_, d| {
            sock_out.extend_from_slice(d);
            Ok(d.len())
        })
        .unwrap();
        assert_eq!(sock_out, b"3456");
        let mut buf = Vec::with_capacity(16);
        let f = io
            .read_into(&mut buf, 16, |_, b, _| {
                b.extend_from_slice(b"def");
                Ok(Filled {
                    n: 3,
                    drained: true,
                })
            })
            .unwrap();
        assert_eq!((f.n, &buf[..]), (3, &b"abc"[..]));
        io.read_into(&mut buf, 16, |_, b, _| {
            b.extend_from_slice(b"def");
            Ok(Filled {
                n: 3,
                drained: true,
            })
        })
        .unwrap();
        assert_eq!(buf, b"abcdef");
    }
}

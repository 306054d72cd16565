//! The io_uring floor: the least work an io_uring server can do per
//! HTTP/1.1 request, the reference `cargo xtask bench server` compares
//! brisk's io_uring loop with (as the peers kit's epoll floor is for the
//! epoll loop).
//!
//! `uring-floor --port N` (or the port as the only argument) serves on
//! 127.0.0.1 with one thread and one ring. The same rules as the epoll
//! floor: no parsing, no routing; complete requests are counted by their
//! "\r\n\r\n" (GET without body only), and a batch of N requests is
//! answered by one send carrying N copies of the same canned 200 response
//! (Server, Date refreshed once a second, Content-Type, Content-Length).
//! The io_uring part: one multishot accept, one multishot receive per
//! connection from a provided-buffer ring, at most one send in flight per
//! connection, and one `io_uring_enter` (submit and wait) per loop turn.
//! No real server can beat it on this kernel interface.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::types::BufRingEntry;
use io_uring::{IoUring, cqueue, opcode, types};

const BODY: &[u8] = b"Hello, World!";
const RING_ENTRIES: u32 = 4096;
const BUFS: u16 = 1024;
const BUF_SIZE: usize = 4096;
const BGID: u16 = 7;

const K_ACCEPT: u64 = 1;
const K_RECV: u64 = 2;
const K_SEND: u64 = 3;

fn ud(kind: u64, fd: i32) -> u64 {
    (kind << 32) | fd as u32 as u64
}

fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = match a.as_str() {
            "--port" | "-p" => args.next(),
            _ => Some(a.strip_prefix("--port=").unwrap_or(&a).to_owned()),
        };
        if let Some(p) = v.and_then(|v| v.parse().ok()) {
            return p;
        }
    }
    8091
}

/// IMF-fixdate of Unix time `t` ("Sun, 06 Nov 1994 08:49:37 GMT").
fn imf_date(t: i64) -> [u8; 29] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = t.div_euclid(86_400);
    let sec = t.rem_euclid(86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date (era arithmetic
    // over 400-year cycles, March-based years).
    let shifted = day + 719_468;
    let era = shifted.div_euclid(146_097);
    let doe = shifted - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let mday = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[day.rem_euclid(7) as usize],
        mday,
        MONTHS[(month - 1) as usize],
        year,
        sec / 3600,
        sec / 60 % 60,
        sec % 60
    );
    let mut out = [b' '; 29];
    out.copy_from_slice(&s.as_bytes()[..29]);
    out
}

/// The canned response; its Date is rewritten when the second changes.
struct Canned {
    bytes: Vec<u8>,
    date_at: usize,
    second: i64,
}

impl Canned {
    fn new() -> Canned {
        let mut bytes = b"HTTP/1.1 200 OK\r\nServer: F\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: ".to_vec();
        let date_at = bytes.len();
        bytes.extend_from_slice(&[b'-'; 29]);
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(BODY);
        let mut c = Canned {
            bytes,
            date_at,
            second: -1,
        };
        c.refresh();
        c
    }

    fn refresh(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if now != self.second {
            self.second = now;
            self.bytes[self.date_at..self.date_at + 29].copy_from_slice(&imf_date(now));
        }
    }
}

/// Complete requests at the start of `b` and the bytes they take.
fn count_requests(b: &[u8]) -> (usize, usize) {
    let mut n = 0;
    let mut used = 0;
    let mut at = 0;
    while let Some(i) = memchr::memmem::find(&b[at..], b"\r\n\r\n") {
        at += i + 4;
        n += 1;
        used = at;
    }
    (n, used)
}

#[derive(Default)]
struct Conn {
    /// An incomplete request head carried to the next receive.
    partial: Vec<u8>,
    /// With the kernel: `sending[sent..]`.
    sending: Vec<u8>,
    sent: usize,
    in_flight: bool,
    /// Responses queued behind the send in flight.
    queued: Vec<u8>,
    /// Its multishot receive ended (out of buffers): arm it again.
    rearm: bool,
    closing: bool,
}

/// The provided buffers (in a heap allocation, page aligned by
/// over-allocation) and their ring.
struct Bufs {
    ring: *mut BufRingEntry,
    mem: *mut u8,
    tail: u16,
    _ring_alloc: Vec<u8>,
    _mem_alloc: Vec<u8>,
}

impl Bufs {
    fn new(uring: &IoUring) -> io::Result<Bufs> {
        let page = 4096;
        let ring_len = usize::from(BUFS) * std::mem::size_of::<BufRingEntry>();
        let mut ring_alloc = vec![0u8; ring_len + page];
        let off = ring_alloc.as_ptr().align_offset(page);
        // SAFETY: `off < page`, inside the allocation of `ring_len + page`.
        let ring = unsafe { ring_alloc.as_mut_ptr().add(off) }.cast::<BufRingEntry>();
        let mut mem_alloc = vec![0u8; usize::from(BUFS) * BUF_SIZE];
        let mem = mem_alloc.as_mut_ptr();
        // SAFETY: the ring memory is page aligned, zeroed, and lives (in
        // `_ring_alloc`) as long as this value, which outlives the ring's
        // use (the process exits from the loop).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, BUFS, BGID, 0)?
        };
        let mut b = Bufs {
            ring,
            mem,
            tail: 0,
            _ring_alloc: ring_alloc,
            _mem_alloc: mem_alloc,
        };
        for bid in 0..BUFS {
            b.give(bid);
        }
        Ok(b)
    }

    fn slice(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: `bid < BUFS` (the kernel only hands out ids it was given)
        // and `len <= BUF_SIZE`: inside the buffers' allocation, written by
        // the kernel, not given back yet.
        unsafe { std::slice::from_raw_parts(self.mem.add(usize::from(bid) * BUF_SIZE), len) }
    }

    /// Hands buffer `bid` (back) to the kernel.
    fn give(&mut self, bid: u16) {
        let at = usize::from(self.tail & (BUFS - 1));
        // SAFETY: `at < BUFS`: inside the ring; past the published tail, so
        // the kernel does not read it yet.
        let e = unsafe { &mut *self.ring.add(at) };
        // SAFETY: `bid < BUFS`.
        e.set_addr(unsafe { self.mem.add(usize::from(bid) * BUF_SIZE) } as u64);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field of the ring's first entry, which the kernel
        // only reads; release orders the entry before it.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

fn push(uring: &mut IoUring, e: &io_uring::squeue::Entry) {
    // SAFETY: every entry pushed refers to a socket that stays open until
    // its completion (a connection closes after its receive ended and no
    // send is in flight) and to buffers that outlive it (`Conn::sending`,
    // not touched while in flight; the provided buffers).
    while unsafe { uring.submission().push(e) }.is_err() {
        let _ = uring.submit();
    }
}

fn main() -> io::Result<()> {
    let port = port();
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let mut uring = IoUring::builder()
        .setup_cqsize(RING_ENTRIES * 4)
        .setup_single_issuer()
        .setup_coop_taskrun()
        .build(RING_ENTRIES)?;
    let mut bufs = Bufs::new(&uring)?;
    eprintln!("uring-floor listening on 127.0.0.1:{port}");
    let lfd = listener.as_raw_fd();
    push(
        &mut uring,
        &opcode::AcceptMulti::new(types::Fd(lfd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ud(K_ACCEPT, lfd)),
    );
    let mut conns: HashMap<i32, (OwnedFd, Conn)> = HashMap::new();
    let mut canned = Canned::new();
    let mut dirty: Vec<i32> = Vec::new();
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    loop {
        match uring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        canned.refresh();
        cqes.clear();
        cqes.extend(
            uring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(u, res, flags) in &cqes {
            let (kind, fd) = (u >> 32, u as u32 as i32);
            match kind {
                K_ACCEPT => {
                    if !cqueue::more(flags) {
                        push(
                            &mut uring,
                            &opcode::AcceptMulti::new(types::Fd(lfd))
                                .flags(libc::SOCK_CLOEXEC)
                                .build()
                                .user_data(ud(K_ACCEPT, lfd)),
                        );
                    }
                    if res < 0 {
                        continue;
                    }
                    // SAFETY: a new descriptor from the accept, owned here.
                    let sock = unsafe { OwnedFd::from_raw_fd(res) };
                    let one: libc::c_int = 1;
                    // SAFETY: setsockopt reads 4 bytes from `one`.
                    unsafe {
                        libc::setsockopt(
                            res,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            (&raw const one).cast(),
                            4,
                        )
                    };
                    push(
                        &mut uring,
                        &opcode::RecvMulti::new(types::Fd(res), BGID)
                            .build()
                            .user_data(ud(K_RECV, res)),
                    );
                    conns.insert(res, (sock, Conn::default()));
                }
                K_RECV => {
                    let bid = cqueue::buffer_select(flags);
                    let Some((_, c)) = conns.get_mut(&fd) else {
                        if let Some(b) = bid {
                            bufs.give(b);
                        }
                        continue;
                    };
                    if res <= 0 {
                        if res == -libc::ENOBUFS {
                            c.rearm = true;
                            dirty.push(fd);
                        } else {
                            c.closing = true;
                            dirty.push(fd);
                        }
                        continue;
                    }
                    if !cqueue::more(flags) {
                        c.rearm = true;
                    }
                    let Some(b) = bid else { continue };
                    let data = bufs.slice(b, res as usize);
                    let (n, used) = if c.partial.is_empty() {
                        let (n, used) = count_requests(data);
                        c.partial.extend_from_slice(&data[used..]);
                        (n, used)
                    } else {
                        c.partial.extend_from_slice(data);
                        let (n, used) = count_requests(&c.partial);
                        c.partial.drain(..used);
                        (n, used)
                    };
                    let _ = used;
                    bufs.give(b);
                    if n > 0 {
                        let out = if c.in_flight {
                            &mut c.queued
                        } else {
                            &mut c.sending
                        };
                        for _ in 0..n {
                            out.extend_from_slice(&canned.bytes);
                        }
                    }
                    dirty.push(fd);
                }
                K_SEND => {
                    let Some((_, c)) = conns.get_mut(&fd) else {
                        continue;
                    };
                    c.in_flight = false;
                    if res < 0 {
                        c.closing = true;
                    } else {
                        c.sent += res as usize;
                        if c.sent >= c.sending.len() {
                            c.sending.clear();
                            c.sent = 0;
                            std::mem::swap(&mut c.sending, &mut c.queued);
                        }
                    }
                    dirty.push(fd);
                }
                _ => {}
            }
        }
        for fd in dirty.drain(..) {
            let Some((_, c)) = conns.get_mut(&fd) else {
                continue;
            };
            if c.closing {
                if !c.in_flight {
                    // The receive has ended (EOF or error); nothing else is
                    // with the kernel.
                    conns.remove(&fd);
                }
                continue;
            }
            if !c.in_flight && c.sent < c.sending.len() {
                let rest = &c.sending[c.sent..];
                push(
                    &mut uring,
                    &opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
                        .flags(libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(ud(K_SEND, fd)),
                );
                c.in_flight = true;
            }
            if c.rearm {
                c.rearm = false;
                push(
                    &mut uring,
                    &opcode::RecvMulti::new(types::Fd(fd), BGID)
                        .build()
                        .user_data(ud(K_RECV, fd)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        assert_eq!(&imf_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn requests_are_counted_by_their_blank_line() {
        assert_eq!(count_requests(b""), (0, 0));
        assert_eq!(count_requests(b"GET / HTTP/1.1\r\n\r\nGET /"), (1, 18));
        assert_eq!(count_requests(b"a\r\n\r\nb\r\n\r\n"), (2, 10));
    }
}

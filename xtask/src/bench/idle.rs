//! The `idle` scenario: how much memory a server spends per idle keep-alive
//! connection. Opens N connections to the server, sends one request on each
//! and reads its response (so each is a real keep-alive connection the server
//! has served, not one still waiting in the accept queue), then measures the
//! server's RSS growth and divides it by N.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::socket::{setsockopt, sockopt};

use super::procs::Server;

/// Connections set up at once: connect them all, write all requests, then
/// read all responses, so the server sees a burst like from a real client.
const BATCH: usize = 200;
/// Time allowed to open all connections (the servers' idle timeouts are 60 s
/// and more, so every connection is still open when RSS is read).
const OPEN_LIMIT: Duration = Duration::from_secs(30);
/// Per-socket connect and read timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after the last connection, before reading RSS.
const SETTLE: Duration = Duration::from_millis(500);

/// What the idle scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct Idle {
    /// Connections asked for.
    pub(crate) wanted: usize,
    /// Connections that were open and answered when RSS was read.
    pub(crate) opened: usize,
    /// Server RSS before the first connection, KiB.
    pub(crate) rss_before_kib: u64,
    /// Server RSS with `opened` idle connections, KiB.
    pub(crate) rss_after_kib: u64,
    /// Why fewer than `wanted` were opened, if so.
    pub(crate) stopped: Option<String>,
}

impl Idle {
    /// RSS growth per connection in bytes (`None` when none was opened).
    pub(crate) fn bytes_per_conn(&self) -> Option<f64> {
        (self.opened > 0).then(|| {
            (self.rss_after_kib as f64 - self.rss_before_kib as f64) * 1024.0 / self.opened as f64
        })
    }
}

/// Runs the scenario against `server` on `port` with `wanted` connections.
/// Fails only when RSS cannot be read; a server that refuses connections
/// part-way gives a result with fewer `opened` and the reason in `stopped`.
pub(crate) fn measure(server: &Server, port: u16, wanted: usize) -> Result<Idle> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let rss_before_kib = server.tree_rss_kib()?;
    let started = Instant::now();
    let mut conns: Vec<TcpStream> = Vec::with_capacity(wanted);
    let mut stopped = None;
    while conns.len() < wanted && stopped.is_none() {
        if started.elapsed() > OPEN_LIMIT {
            stopped = Some(format!(
                "only {} opened in {} s",
                conns.len(),
                OPEN_LIMIT.as_secs()
            ));
            break;
        }
        let n = BATCH.min(wanted - conns.len());
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            match open(&addr, request.as_bytes()) {
                Ok(conn) => batch.push(conn),
                Err(e) => {
                    stopped = Some(format!("connection {}: {e}", conns.len() + batch.len()));
                    break;
                }
            }
        }
        for mut conn in batch {
            match read_response(&mut conn) {
                Ok(()) => conns.push(conn),
                Err(e) => {
                    stopped.get_or_insert_with(|| format!("response {}: {e}", conns.len()));
                }
            }
        }
    }
    thread::sleep(SETTLE);
    let rss_after_kib = server.tree_rss_kib()?;
    // Closed with an RST: no TIME_WAIT sockets pile up on either side.
    for conn in &conns {
        let _ = setsockopt(&conn.as_fd(), sockopt::Linger, &linger_zero());
    }
    let opened = conns.len();
    drop(conns);
    Ok(Idle {
        wanted,
        opened,
        rss_before_kib,
        rss_after_kib,
        stopped,
    })
}

fn linger_zero() -> nix::libc::linger {
    nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    }
}

fn open(addr: &SocketAddr, request: &[u8]) -> io::Result<TcpStream> {
    let mut conn = TcpStream::connect_timeout(addr, IO_TIMEOUT)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.write_all(request)?;
    Ok(conn)
}

/// Reads one response with a Content-Length body (what every peer sends).
fn read_response(conn: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    let mut filled = 0;
    loop {
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before a whole response",
            ));
        }
        filled += n;
        if let Some(total) = response_len(&buf[..filled]) {
            if filled >= total {
                return if buf.starts_with(b"HTTP/1.1 200") {
                    Ok(())
                } else {
                    let line = buf[..filled].split(|&b| b == b'\r').next().unwrap_or(&[]);
                    Err(io::Error::other(format!(
                        "not 200: {}",
                        String::from_utf8_lossy(line)
                    )))
                };
            }
        }
        if filled == buf.len() {
            return Err(io::Error::other("response larger than 1 KiB"));
        }
    }
}

/// Head length plus Content-Length, once the whole head is in `data`.
fn response_len(data: &[u8]) -> Option<usize> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let body = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    Some(end + body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn response_lengths() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!";
        assert_eq!(response_len(r), Some(r.len()));
        assert_eq!(response_len(b"HTTP/1.1 200 OK\r\nContent-Le"), None);
        assert_eq!(response_len(b"HTTP/1.1 204 OK\r\n\r\n"), Some(19));
    }

    #[test]
    fn per_connection_growth() {
        let idle = Idle {
            wanted: 10,
            opened: 4,
            rss_before_kib: 100,
            rss_after_kib: 104,
            stopped: None,
        };
        assert_eq!(idle.bytes_per_conn(), Some(1024.0));
        let none = Idle { opened: 0, ..idle };
        assert_eq!(none.bytes_per_conn(), None);
    }

    #[test]
    fn reads_one_response_and_reports_refusals() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut a, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = a.read(&mut buf).unwrap();
            a.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            let (mut b, _) = listener.accept().unwrap();
            let _ = b.read(&mut buf).unwrap();
            b.write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            (a, b)
        });
        let mut ok = open(&addr, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        read_response(&mut ok).unwrap();
        let mut busy = open(&addr, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let err = read_response(&mut busy).unwrap_err().to_string();
        assert!(err.contains("not 200: HTTP/1.1 503 Busy"), "{err}");
        drop(server.join().unwrap());
    }
}

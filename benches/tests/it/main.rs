//! Integration tests: run the load generator against tiny in-test servers on 127.0.0.1:0.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use brisk_benches::{LoadConfig, Stop};

/// A thread-per-connection test server; `answer` maps the request number on
/// a connection to the bytes sent back. Stops accepting when dropped.
struct TestServer {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(answer: fn(usize) -> Vec<u8>, close_after_each: bool) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(conn) = conn {
                    thread::spawn(move || serve(conn, answer, close_after_each));
                }
            }
        });
        TestServer {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Answers each complete request head (requests here have no body); with
/// `close_after_each`, only the first one, then closes.
fn serve(mut conn: TcpStream, answer: fn(usize) -> Vec<u8>, close_after_each: bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut served = 0;
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            out.extend_from_slice(&answer(served));
            served += 1;
            if close_after_each {
                break; // one response per connection
            }
        }
        if conn.write_all(&out).is_err() {
            return;
        }
        if close_after_each && served > 0 {
            // Close our side with a FIN (not an RST over unread requests),
            // then wait for the client to go away.
            let _ = conn.shutdown(std::net::Shutdown::Write);
            while matches!(conn.read(&mut chunk), Ok(n) if n > 0) {}
            return;
        }
    }
}

fn hello(_: usize) -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!".to_vec()
}

fn config(addr: std::net::SocketAddr, requests: u64) -> LoadConfig {
    let mut c = LoadConfig::new(addr);
    c.connections = 4;
    c.stop = Stop::Requests(requests);
    c
}

#[test]
fn keep_alive_count_run_is_exact() {
    let server = TestServer::start(hello, false);
    let report = brisk_benches::run(&config(server.addr, 1000)).unwrap();
    assert_eq!(report.requests, 1000);
    assert_eq!(report.status.success, 1000);
    assert_eq!(report.error_total(), 0, "{report}");
    assert_eq!(report.connects, 4);
    assert_eq!(report.latency.len(), 1000);
    assert!(report.requests_per_sec() > 0.0);
}

#[test]
fn pipelined_with_two_threads() {
    let server = TestServer::start(hello, false);
    let mut c = config(server.addr, 1003);
    c.pipeline = 16;
    c.threads = 2;
    let report = brisk_benches::run(&c).unwrap();
    assert_eq!(report.requests, 1003, "{report}");
    assert_eq!(report.error_total(), 0, "{report}");
    // One request line per request, 16 per write except the last batches.
    let request_len = c.request.to_bytes(true).unwrap().len() - "Connection: close\r\n".len();
    assert_eq!(report.bytes_written, 1003 * request_len as u64);
}

#[test]
fn chunked_and_error_statuses_are_counted_by_class() {
    fn mixed(i: usize) -> Vec<u8> {
        match i % 3 {
            0 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
            1 => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            _ => b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy".to_vec(),
        }
    }
    let server = TestServer::start(mixed, false);
    let mut c = config(server.addr, 300);
    c.connections = 1;
    let report = brisk_benches::run(&c).unwrap();
    assert_eq!(report.requests, 300);
    assert_eq!(report.status.success, 100);
    assert_eq!(report.status.client_error, 100);
    assert_eq!(report.status.server_error, 100);
    assert_eq!(report.non_2xx(), 200);
    assert_eq!(report.errors.total(), 0);
}

#[test]
fn connection_per_request() {
    fn closing(_: usize) -> Vec<u8> {
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec()
    }
    let server = TestServer::start(closing, true);
    let mut c = config(server.addr, 50);
    c.keep_alive = false;
    let report = brisk_benches::run(&c).unwrap();
    assert_eq!(report.requests, 50, "{report}");
    assert_eq!(report.connects, 50);
    assert_eq!(report.error_total(), 0, "{report}");
}

#[test]
fn server_closing_mid_pipeline_is_an_error_not_a_hang() {
    // Answers one request per connection, then closes with more pending.
    let server = TestServer::start(hello, true);
    let mut c = config(server.addr, 64);
    c.connections = 1;
    c.pipeline = 4;
    let started = Instant::now();
    let report = brisk_benches::run(&c).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.requests, 16, "{report}");
    assert_eq!(report.errors.closed, 16, "{report}");
}

#[test]
fn refused_connections_end_a_count_run() {
    // Bind and drop to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut c = config(addr, 5);
    c.connections = 1;
    let report = brisk_benches::run(&c).unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(report.errors.connect, 5);
}

#[test]
fn duration_run_stops_on_time_and_warmup_is_not_counted() {
    let server = TestServer::start(hello, false);
    let mut c = LoadConfig::new(server.addr);
    c.connections = 2;
    c.warmup = Duration::from_millis(200);
    c.stop = Stop::After(Duration::from_millis(300));
    let started = Instant::now();
    let report = brisk_benches::run(&c).unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        report.elapsed >= Duration::from_millis(280),
        "{:?}",
        report.elapsed
    );
    assert!(
        report.elapsed < Duration::from_millis(800),
        "{:?}",
        report.elapsed
    );
    assert!(report.requests > 0);
    assert_eq!(report.error_total(), 0, "{report}");
    // Both connections were made during the warm-up, which is not counted.
    assert_eq!(report.connects, 0);
}

#[test]
fn silent_server_times_out() {
    // Accepts but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = config(listener.local_addr().unwrap(), 1);
    c.connections = 1;
    c.timeout = Duration::from_millis(100);
    let report = brisk_benches::run(&c).unwrap();
    assert_eq!(report.errors.timeout, 1);
    assert_eq!(report.requests, 0);
    drop(listener);
}

#[test]
fn non_loopback_target_is_refused() {
    let c = LoadConfig::new("192.0.2.7:80".parse().unwrap());
    let err = brisk_benches::run(&c).unwrap_err();
    assert!(err.to_string().contains("not a loopback address"), "{err}");
}

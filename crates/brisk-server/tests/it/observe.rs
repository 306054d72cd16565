//! Metrics and the access log, over real sockets: known requests, then the
//! exact counts and lines they must produce.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brisk_server::{AccessLogFormat, ConfigError, Metrics, MetricsSnapshot, Server};

use crate::support::{TestServer, wait_until};

/// Sends `req` on a new connection and reads until the server closes it:
/// the response's raw bytes.
fn exchange(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(req).unwrap();
    let mut out = Vec::new();
    match c.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read: {e}"),
    }
    out
}

fn status_of(resp: &[u8]) -> u16 {
    std::str::from_utf8(&resp[9..12]).unwrap().parse().unwrap()
}

/// The body of a raw response (after its head).
fn body_of(resp: &[u8]) -> &[u8] {
    let at = crate::support::find(resp, b"\r\n\r\n").expect("a head") + 4;
    &resp[at..]
}

/// Snapshots until `cond` holds (the server counts a close after the
/// client sees it); panics after 10 s.
fn settle(m: &Metrics, cond: impl Fn(&MetricsSnapshot) -> bool) -> MetricsSnapshot {
    assert!(
        wait_until(Duration::from_secs(10), || cond(&m.snapshot())),
        "metrics did not settle: {:?}",
        m.snapshot()
    );
    m.snapshot()
}

fn handler(ctx: &mut brisk_server::RequestCtx<'_>) {
    match ctx.path() {
        b"/" => ctx.set_body(b"hi"),
        b"/panic" => panic!("boom (a test of handler panics)"),
        b"/teapot" => {
            ctx.set_status(418);
            ctx.set_body(b"short and stout");
        }
        b"/stream" => {
            let mut n = 0;
            ctx.set_body_stream(move |w| {
                w.write(b"abc");
                n += 1;
                n < 3
            });
        }
        _ => ctx.error("not found", 404),
    }
}

#[test]
fn metrics_count_connections_statuses_errors_bytes_and_durations() {
    let metrics = Metrics::new();
    let srv = TestServer::start(handler, |b| b.metrics(&metrics));
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut reqs: Vec<Vec<u8>> = Vec::new();
    for _ in 0..5 {
        reqs.push(get("/").into_bytes());
    }
    reqs.push(get("/missing").into_bytes());
    reqs.push(get("/missing").into_bytes());
    reqs.push(b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec());
    reqs.push(get("/panic").into_bytes());
    reqs.push(get("/teapot").into_bytes());
    reqs.push(b"BAD REQUEST\r\n\r\n".to_vec());
    reqs.push(get("/%00").into_bytes());
    let (mut sent, mut received) = (0, 0);
    let mut statuses = Vec::new();
    for r in &reqs {
        let resp = exchange(srv.addr, r);
        sent += r.len() as u64;
        received += resp.len() as u64;
        statuses.push(status_of(&resp));
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 404, 404, 200, 500, 418, 400, 400]
    );
    let n = reqs.len() as u64;
    let snap = settle(&metrics, |s| s.connections.closed == n);

    let c = snap.connections;
    assert_eq!((c.accepted, c.open, c.hijacked), (n, 0, 0));
    assert_eq!((c.refused_busy, c.refused_per_ip), (0, 0));
    let r = snap.requests;
    assert_eq!(r.total, n);
    assert_eq!(r.by_class, [0, 6, 0, 5, 1]);
    assert_eq!(r.status(200), Some(6));
    assert_eq!(r.status(404), Some(2));
    assert_eq!(r.status(400), Some(2));
    assert_eq!(r.status(500), Some(1));
    assert_eq!(r.status(418), None, "not tracked one by one");
    let e = snap.errors;
    assert_eq!((e.parse, e.invalid_path, e.handler_panicked), (1, 1, 1));
    assert_eq!(e.total(), 3);
    // The handler's responses are timed; the server's errors are not.
    assert_eq!(snap.duration.count(), 9);
    assert!(snap.duration.sum_ns > 0);
    assert_eq!(snap.bytes_read, sent);
    assert_eq!(snap.bytes_written, received);
    let loops = snap.loop_threads.expect("serving: the loop pool's stats");
    assert!(loops.alive >= 1 && loops.busy >= 1, "{loops:?}");
    assert!(snap.workers.is_some());

    srv.shutdown().unwrap();
    let after = metrics.snapshot();
    assert_eq!(after.requests, snap.requests, "counts outlive the loops");
}

#[test]
fn metrics_count_refused_connections_apart_from_requests() {
    let metrics = Metrics::new();
    let srv = TestServer::start(handler, |b| b.metrics(&metrics).concurrency(1));
    let mut first = srv.connect();
    assert_eq!(first.get("/").status, 200);
    let refused = exchange(srv.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_of(&refused), 503);
    let snap = settle(&metrics, |s| s.connections.refused_busy == 1);
    assert_eq!(snap.errors.too_many_connections, 1);
    assert_eq!(
        snap.requests.total, 1,
        "a refused connection has no request"
    );
    assert_eq!(snap.connections.accepted, 1);
    assert_eq!(snap.connections.open, 1);
}

#[test]
fn metrics_count_timeouts() {
    let metrics = Metrics::new();
    let srv = TestServer::start(handler, |b| {
        b.metrics(&metrics).read_timeout(Duration::from_millis(200))
    });
    let resp = exchange(srv.addr, b"GET / HTTP/1.1\r\nHost: t\r\n");
    assert_eq!(status_of(&resp), 408);
    let snap = settle(&metrics, |s| s.errors.read_timeout == 1);
    assert_eq!(snap.requests.status(408), Some(1));
}

#[test]
fn metrics_belong_to_one_server() {
    let metrics = Metrics::new();
    let one = Server::builder()
        .handler(|ctx| ctx.set_body(b"1"))
        .metrics(&metrics)
        .build()
        .unwrap();
    assert!(one.metrics().is_some());
    let two = Server::builder()
        .handler(|ctx| ctx.set_body(b"2"))
        .metrics(&metrics)
        .build();
    assert_eq!(two.err(), Some(ConfigError::MetricsInUse));
    let plain = Server::builder().handler(|_| {}).build().unwrap();
    assert!(plain.metrics().is_none());
}

/// Replaces the `[time]` of a log line with `[T]`, after checking its shape
/// (`10/Oct/2000:13:55:36 +0000`).
fn untime(line: &str) -> String {
    let (pre, rest) = line.split_once('[').expect(line);
    let (time, post) = rest.split_once(']').expect(line);
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    assert!(
        b.len() == 26
            && digits(0..2)
            && b[2] == b'/'
            && b[3].is_ascii_uppercase()
            && b[4..6].iter().all(u8::is_ascii_lowercase)
            && b[6] == b'/'
            && digits(7..11)
            && b[11] == b':'
            && digits(12..14)
            && digits(15..17)
            && digits(18..20)
            && time.ends_with(" +0000"),
        "time {time:?}"
    );
    format!("{pre}[T]{post}")
}

#[test]
fn access_log_handler_sees_every_response_with_its_bytes() {
    type Seen = (String, u64, Option<Duration>, u64);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    let srv = TestServer::start(handler, move |b| {
        b.access_log_handler(move |rec| {
            let mut line = Vec::new();
            rec.write_combined(&mut line);
            sink.lock().unwrap().push((
                String::from_utf8(line).unwrap(),
                rec.bytes_sent(),
                rec.duration(),
                rec.unix_secs(),
            ));
        })
    });
    let t0 = brisk_http::date::unix_secs();
    let mut c = srv.connect();
    let ok = c.request(
        b"GET /?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://ref/a\r\nUser-Agent: ua/1 (\"q\")\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_head_response().status, 200);
    assert_eq!(c.get("/missing").status, 404);
    // A streamed body to HTTP/1.0: raw bytes, ended by the close.
    let stream = exchange(srv.addr, b"GET /stream HTTP/1.0\r\n\r\n");
    assert_eq!(body_of(&stream), b"abcabcabc");
    // Refused with a parsed head, and before any head.
    let bad_path = exchange(srv.addr, b"GET /%00 HTTP/1.1\r\nHost: t\r\n\r\n");
    let garbage = exchange(srv.addr, b"\x01BAD\r\n\r\n");
    let t1 = brisk_http::date::unix_secs();

    assert!(wait_until(Duration::from_secs(10), || seen
        .lock()
        .unwrap()
        .len()
        == 6));
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<String> = seen.iter().map(|s| untime(&s.0)).collect();
    assert_eq!(
        lines,
        [
            "127.0.0.1 - - [T] \"GET /?x=1 HTTP/1.1\" 200 2 \"http://ref/a\" \"ua/1 (\\x22q\\x22)\""
                .to_string(),
            "127.0.0.1 - - [T] \"HEAD / HTTP/1.1\" 200 - \"-\" \"-\"".to_string(),
            "127.0.0.1 - - [T] \"GET /missing HTTP/1.1\" 404 9 \"-\" \"-\"".to_string(),
            "127.0.0.1 - - [T] \"GET /stream HTTP/1.0\" 200 9 \"-\" \"-\"".to_string(),
            format!(
                "127.0.0.1 - - [T] \"GET /%00 HTTP/1.1\" 400 {} \"-\" \"-\"",
                body_of(&bad_path).len()
            ),
            format!(
                "127.0.0.1 - - [T] \"-\" 400 {} \"-\" \"-\"",
                body_of(&garbage).len()
            ),
        ]
    );
    for (i, s) in seen.iter().enumerate() {
        assert!((t0..=t1).contains(&s.3), "line {i}: time {}", s.3);
        // Handler responses are timed, the server's errors are not.
        assert_eq!(s.2.is_some(), i < 4, "line {i}");
    }
    // Whole responses, counted exactly where the test read them raw.
    assert_eq!(seen[3].1, stream.len() as u64);
    assert_eq!(seen[4].1, bad_path.len() as u64);
    assert_eq!(seen[5].1, garbage.len() as u64);
}

/// Access lines the test logger caught (target `brisk::access` only).
static CAUGHT: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Catcher;

impl log::Log for Catcher {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == brisk_server::ACCESS_LOG_TARGET && m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            CAUGHT.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn access_log_through_the_log_crate_in_common_format() {
    // The only test of this binary that logs access lines through `log`.
    static LOGGER: Catcher = Catcher;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let srv = TestServer::start(handler, |b| b.access_log(AccessLogFormat::Common));
    let mut c = srv.connect();
    assert_eq!(
        c.request(b"GET /teapot HTTP/1.1\r\nHost: t\r\nUser-Agent: x\r\n\r\n")
            .status,
        418
    );
    assert_eq!(c.get("/panic").status, 500);
    assert!(wait_until(Duration::from_secs(10), || {
        CAUGHT.lock().unwrap().len() >= 2
    }));
    let lines: Vec<String> = CAUGHT.lock().unwrap().iter().map(|l| untime(l)).collect();
    assert_eq!(
        lines,
        [
            "127.0.0.1 - - [T] \"GET /teapot HTTP/1.1\" 418 15",
            "127.0.0.1 - - [T] \"GET /panic HTTP/1.1\" 500 21",
        ]
    );
}

#[test]
fn hijacked_connections_leave_the_open_count() {
    let metrics = Metrics::new();
    let srv = TestServer::start(
        |ctx| {
            ctx.set_status(101);
            ctx.set_header(b"Upgrade", b"echo").unwrap();
            ctx.hijack(|mut conn| {
                let mut b = [0u8; 16];
                while let Ok(n) = conn.read(&mut b) {
                    if n == 0 || conn.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
        },
        |b| b.metrics(&metrics),
    );
    let mut c = TcpStream::connect(srv.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n")
        .unwrap();
    let snap = settle(&metrics, |s| s.connections.hijacked == 1);
    assert_eq!(snap.connections.accepted, 1);
    assert_eq!((snap.connections.open, snap.connections.closed), (0, 0));
    assert_eq!(snap.requests.by_class[0], 1, "the 101");
    drop(c);
}

#[test]
fn access_log_has_a_line_for_a_connection_refused_at_accept() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let srv = TestServer::start(handler, move |b| {
        b.concurrency(1).access_log_handler(move |rec| {
            let mut line = Vec::new();
            rec.write_common(&mut line);
            sink.lock().unwrap().push(String::from_utf8(line).unwrap());
        })
    });
    let mut first = srv.connect();
    assert_eq!(first.get("/").status, 200);
    let refused = exchange(srv.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_of(&refused), 503);
    assert!(wait_until(Duration::from_secs(10), || lines
        .lock()
        .unwrap()
        .len()
        == 2));
    let lines: Vec<String> = lines.lock().unwrap().iter().map(|l| untime(l)).collect();
    assert_eq!(
        lines,
        [
            "127.0.0.1 - - [T] \"GET / HTTP/1.1\" 200 2".to_string(),
            format!("127.0.0.1 - - [T] \"-\" 503 {}", body_of(&refused).len()),
        ]
    );
}

/// A streamed body whose client leaves before its end: logged when the
/// connection closes, with the bytes handed to the transport (at least
/// what the client read, at most what was produced).
#[test]
fn access_log_records_a_stream_cut_short() {
    let seen: Arc<Mutex<Vec<(u16, u64)>>> = Arc::default();
    let sink = seen.clone();
    let srv = TestServer::start(
        |ctx| {
            ctx.set_body_stream(|w| {
                w.write(&[b'x'; 4096]);
                true
            })
        },
        move |b| {
            b.access_log_handler(move |rec| {
                sink.lock().unwrap().push((rec.status(), rec.bytes_sent()));
            })
        },
    );
    let mut c = TcpStream::connect(srv.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut got = 0usize;
    let mut buf = [0u8; 16384];
    while got < 64 * 1024 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(c);
    assert!(wait_until(Duration::from_secs(10), || !seen
        .lock()
        .unwrap()
        .is_empty()));
    let (status, bytes) = seen.lock().unwrap()[0];
    assert_eq!(status, 200);
    assert!(bytes >= got as u64, "logged {bytes} < read {got}");
}

/// A body streamed to a handler on a worker thread: its bytes are counted
/// (read by the worker), and its response like any other.
#[test]
fn metrics_count_a_body_read_on_a_worker() {
    let metrics = Metrics::new();
    let srv = TestServer::start(
        |ctx| {
            let mut n = 0usize;
            if let Some(body) = ctx.body_reader() {
                let mut buf = [0u8; 1000];
                while let Ok(k) = body.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
            }
            ctx.set_body_string(&format!("{n}"));
        },
        |b| b.metrics(&metrics).stream_request_body(true),
    );
    let chunk = [b'z'; 3000];
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..10 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = exchange(srv.addr, &req);
    assert_eq!(status_of(&resp), 200);
    assert_eq!(body_of(&resp), b"30000");
    let snap = settle(&metrics, |s| s.connections.closed == 1);
    assert_eq!(snap.bytes_read, req.len() as u64);
    assert_eq!(snap.bytes_written, resp.len() as u64);
    assert_eq!(snap.requests.status(200), Some(1));
    assert_eq!(snap.duration.count(), 1);
    let workers = snap.workers.expect("serving");
    assert!(workers.served >= 1, "{workers:?}");
}

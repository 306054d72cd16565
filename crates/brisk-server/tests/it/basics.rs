//! Keep-alive, connection rules, pipelining, partial input, RequestCtx.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::support::{Client, TestServer};

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let srv = TestServer::hello();
    let mut c = srv.connect();
    for _ in 0..50 {
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Hello, World!");
        assert!(!r.closes());
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("server"), Some("brisk"));
        assert_eq!(r.header("date").map(str::len), Some(29));
    }
}

#[test]
fn http11_connection_close_is_honoured() {
    let srv = TestServer::hello();
    let mut c = srv.connect();
    let r = c.request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert!(c.is_closed());
}

#[test]
fn http10_closes_by_default_and_keeps_alive_on_request() {
    let srv = TestServer::hello();
    let mut c = srv.connect();
    let r = c.request(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive must close");

    let mut c = srv.connect();
    for _ in 0..3 {
        let r = c.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("keep-alive")
        );
    }
}

#[test]
fn hundred_pipelined_requests_in_one_write_are_answered_in_order() {
    let srv = TestServer::start(
        |ctx| {
            let n = ctx.query_arg(b"n").unwrap_or(b"?").to_vec();
            ctx.set_body(&n);
        },
        |b| b,
    );
    let mut c = srv.connect();
    let mut batch = Vec::new();
    for i in 0..100 {
        write!(batch, "GET /?n={i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }
    c.send(&batch);
    for i in 0..100 {
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body_str(), i.to_string());
    }
}

/// Every byte of a request reaches the server in a read of its own: after
/// each one the test waits until the server has read it
/// (`Client::wait_until_server_read`) before sending the next.
#[test]
fn a_request_delivered_byte_by_byte_is_served() {
    let srv = TestServer::start(
        |ctx| {
            let body = ctx.body().to_vec();
            ctx.set_body(&body);
        },
        // Each byte waits for the server's ACK (a delayed ACK: up to 40 ms
        // or more on a busy machine): the default 10 s read timeout is too
        // close for 57 of them.
        |b| b.read_timeout(std::time::Duration::from_secs(60)),
    );
    let mut c = srv.connect();
    let req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    for b in req.iter() {
        c.send(std::slice::from_ref(b));
        c.wait_until_server_read();
    }
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
}

/// A chunked body is decoded however its bytes are split across the
/// server's reads. For every split point of the body (inside a size line,
/// an extension, between CR and LF, inside chunk data, in the last chunk,
/// inside a trailer and the final CRLF), the first part is sent, the test
/// waits until the server has read it (`Client::wait_until_server_read`:
/// the kernel's socket state, not a delay), then the rest is sent, with a
/// pipelined request behind it. So the decoder certainly sees each split.
#[test]
fn chunked_request_bodies_are_decoded() {
    let srv = TestServer::start(
        |ctx| {
            let body = ctx.body().to_vec();
            ctx.set_body(&body);
        },
        |b| b,
    );
    let head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let mut c = srv.connect();
    for split in 0..=body.len() {
        c.send(head);
        c.send(&body[..split]);
        c.wait_until_server_read();
        c.send(&body[split..]);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 200, "split at {split}");
        assert_eq!(r.body, b"hello world", "split at {split}");
        let r = c.read_response();
        assert_eq!(r.status, 200, "split at {split}");
        assert_eq!(r.body, b"", "split at {split}");
    }
}

#[test]
fn request_ctx_exposes_the_request() {
    let srv = TestServer::start(
        |ctx| {
            let out = format!(
                "{:?}|{}|{}|{}|{}|{}|{}|{}",
                ctx.method(),
                String::from_utf8_lossy(ctx.uri()),
                String::from_utf8_lossy(ctx.path()),
                String::from_utf8_lossy(ctx.query_string()),
                String::from_utf8_lossy(ctx.header(b"x-thing").unwrap_or(b"-")),
                String::from_utf8_lossy(ctx.cookie(b"b").unwrap_or(b"-")),
                ctx.conn_request_num(),
                ctx.remote_addr().ip(),
            );
            ctx.set_body(out.as_bytes());
            ctx.set_header(b"X-Reply", b"yes").unwrap();
            assert!(ctx.set_header(b"X-Bad", b"a\r\nInjected: 1").is_err());
        },
        |b| b,
    );
    let mut c = srv.connect();
    let r = c.request(
        b"GET /a/./b//c?x=1 HTTP/1.1\r\nHost: t\r\nx-thing: 42\r\nCookie: a=1; b=2\r\n\r\n",
    );
    assert_eq!(
        r.body_str(),
        "Get|/a/./b//c?x=1|/a/b/c|x=1|42|2|1|127.0.0.1"
    );
    assert_eq!(r.header("x-reply"), Some("yes"));
    assert!(r.header("injected").is_none());
    let r = c.get("/");
    assert!(r.body_str().ends_with("|2|127.0.0.1"), "{}", r.body_str());
}

#[test]
fn head_requests_get_headers_without_body() {
    let srv = TestServer::hello();
    let mut c = srv.connect();
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    let r = c.get("/");
    assert_eq!(r.body, b"Hello, World!");
}

#[test]
fn user_values_and_redirects_and_status() {
    let srv = TestServer::start(
        |ctx| {
            assert!(
                ctx.user_value::<u32>().is_none(),
                "values do not leak between requests"
            );
            ctx.set_user_value(7u32);
            *ctx.user_value_mut::<u32>().unwrap() += 1;
            if ctx.path() == b"/old" {
                ctx.redirect(b"/new", 301).unwrap();
            } else {
                ctx.set_status(201);
                let v = *ctx.user_value::<u32>().unwrap();
                ctx.set_body(v.to_string().as_bytes());
            }
        },
        |b| b,
    );
    let mut c = srv.connect();
    let r = c.get("/old");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/new"));
    let r = c.get("/x");
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"8");
}

#[test]
fn max_requests_per_conn_closes_after_the_limit() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.max_requests_per_conn(3));
    let mut c = srv.connect();
    assert!(!c.get("/").closes());
    assert!(!c.get("/").closes());
    assert!(c.get("/").closes());
    assert!(c.is_closed());
}

#[test]
fn thousand_concurrent_connections_are_all_served() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.loops(2));
    let served = Arc::new(AtomicU64::new(0));
    let addr = srv.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let served = served.clone();
            std::thread::spawn(move || {
                let mut conns: Vec<Client> = (0..125).map(|_| Client::connect(addr)).collect();
                for c in &mut conns {
                    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                }
                for c in &mut conns {
                    let r = c.read_response();
                    assert_eq!(r.status, 200);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(served.load(Ordering::Relaxed), 1000);
}

#[test]
fn expect_100_continue_gets_an_interim_response() {
    let srv = TestServer::start(
        |ctx| {
            let n = ctx.body().len();
            ctx.set_body(n.to_string().as_bytes());
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 100);
    c.send(b"abc");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"3");
}

/// Reads everything until the server closes, then splits head and body.
fn read_to_close(c: &mut Client) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut all = Vec::new();
    let _ = c.stream.read_to_end(&mut all);
    let end = crate::support::find(&all, b"\r\n\r\n").expect("a head");
    (
        String::from_utf8_lossy(&all[..end]).into_owned(),
        all[end + 4..].to_vec(),
    )
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = crate::support::find(b, b"\r\n").expect("chunk size line");
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if n == 0 {
            assert_eq!(b, b"\r\n", "no trailers, then the end");
            return out;
        }
        out.extend_from_slice(&b[..n]);
        assert_eq!(&b[n..n + 2], b"\r\n");
        b = &b[n + 2..];
    }
}

#[test]
fn streamed_response_is_chunked_and_complete() {
    let srv = TestServer::start(
        |ctx| {
            let mut i = 0u32;
            ctx.set_body_stream(move |w| {
                let line = format!("line {i:06}\n");
                for _ in 0..100 {
                    w.write(line.as_bytes());
                }
                i += 1;
                i < 300
            });
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (head, body) = read_to_close(&mut c);
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let body = dechunk(&body);
    assert_eq!(body.len(), 300 * 100 * 12);
    assert!(body.starts_with(b"line 000000\n"));
    assert!(body.ends_with(b"line 000299\n"));

    // HTTP/1.0: raw body, closed at the end.
    let mut c = srv.connect();
    c.send(b"GET /big HTTP/1.0\r\n\r\n");
    let (head, body) = read_to_close(&mut c);
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    assert_eq!(body.len(), 300 * 100 * 12);
}

#[test]
fn streamed_response_then_keep_alive_continues_in_order() {
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/stream" {
                let mut n = 3;
                ctx.set_body_stream(move |w| {
                    w.write(b"abc");
                    n -= 1;
                    n > 0
                });
            } else {
                ctx.set_body(b"plain");
            }
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    // Read the exact bytes of the chunked response, then the next one.
    let mut want = b"3\r\nabc\r\n3\r\nabc\r\n3\r\nabc\r\n0\r\n\r\n".to_vec();
    let mut got = Vec::new();
    use std::io::Read;
    let mut tmp = [0u8; 4096];
    // Until the second response's body ("plain" alone would match the
    // first response's Content-Type).
    while crate::support::find(&got, b"\r\n\r\nplain").is_none() {
        let n = c.stream.read(&mut tmp).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&tmp[..n]);
    }
    let start = crate::support::find(&got, b"\r\n\r\n").unwrap() + 4;
    want.extend_from_slice(b"HTTP/1.1 200 OK");
    assert_eq!(&got[start..start + want.len()], &want[..]);
}

#[test]
fn reuse_port_gives_each_loop_its_own_listener() {
    let server = brisk_server::Server::builder()
        .handler(|ctx| ctx.set_body(b"ok"))
        .loops(2)
        .reuse_port(true)
        .backend(crate::support::backend())
        .build()
        .unwrap();
    let listeners = server.bind("127.0.0.1:0").unwrap();
    assert_eq!(listeners.len(), 2);
    let addr = listeners[0].local_addr().unwrap();
    assert_eq!(
        listeners[1].local_addr().unwrap(),
        addr,
        "one port for all loops"
    );
    let stop = server.shutdown_handle();
    let t = std::thread::spawn(move || server.serve_listeners(listeners));
    for _ in 0..20 {
        let mut c = Client::connect(addr);
        assert_eq!(c.get("/").body, b"ok");
    }
    stop.shutdown();
    t.join().unwrap().unwrap();
}

/// A large `'static` body goes out whole (sent after its head with a
/// vectored write, not copied into the write buffer), pipelined requests
/// behind it keep their order, and a client that reads slowly gets it all.
#[test]
fn large_static_bodies_are_sent_whole_and_in_order() {
    static BIG: std::sync::LazyLock<&'static [u8]> = std::sync::LazyLock::new(|| {
        let v: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        Box::leak(v.into_boxed_slice())
    });
    let srv = TestServer::start(
        |ctx| match ctx.path() {
            b"/big" => ctx.set_body_static(*BIG),
            _ => ctx.set_body(b"small"),
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(
        b"GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /big HTTP/1.1\r\nHost: t\r\n\r\nGET /big HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.body.len(), BIG.len());
    assert!(r.body == *BIG);
    assert_eq!(c.read_response().body, b"small");
    let r = c.read_head_response();
    assert_eq!(r.header("content-length"), Some("1048576"));
    let r = c.read_response();
    assert!(r.body == *BIG);
}

/// A pull producer with nothing to give yet (it returns `true` without
/// writing) yields to the loop after each call: another connection on the
/// same loop is served meanwhile (here, the one that gives it its data),
/// and the spinning producer's body still ends complete.
#[test]
fn an_empty_stream_piece_yields_to_the_loop() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    static RELEASED: AtomicBool = AtomicBool::new(false);
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/release" {
                RELEASED.store(true, Ordering::SeqCst);
                ctx.set_body(b"released");
                return;
            }
            // Bounded, so a loop that never yields fails instead of hanging.
            let give_up = Instant::now() + Duration::from_secs(5);
            ctx.set_body_stream(move |w| {
                if RELEASED.load(Ordering::SeqCst) {
                    w.write(b"got it");
                    return false;
                }
                if Instant::now() > give_up {
                    w.write(b"gave up");
                    return false;
                }
                true
            });
        },
        // One loop, not taken over within the test: only yielding serves B.
        |b| b.blocking_threshold(Duration::from_secs(60)),
    );
    let mut a = srv.connect();
    a.send(b"GET /wait HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    a.wait_until_server_read();
    let mut b = srv.connect();
    assert_eq!(b.get("/release").body_str(), "released");
    let (_, body) = read_to_close(&mut a);
    assert_eq!(dechunk(&body), b"got it");
}

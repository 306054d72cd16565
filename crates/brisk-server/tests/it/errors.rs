//! Every error status the server answers itself.

use std::time::{Duration, Instant};

use crate::support::{Client, TestServer};

fn answer(srv: &TestServer, req: &[u8]) -> (u16, bool) {
    let mut c = srv.connect();
    c.send(req);
    let r = c.read_response();
    let closed = r.closes() && c.is_closed();
    (r.status, closed)
}

#[test]
fn malformed_requests_get_their_status_and_close() {
    let srv = TestServer::hello();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"BLAH\r\n\r\n".to_vec(), 400),
        ("missing host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("CL+TE", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), 400),
        ("bad version", b"GET / HTTP/1.7\r\nHost: t\r\n\r\n".to_vec(), 505),
        ("unknown coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), 501),
        ("long request line", long_target.into_bytes(), 414),
    ];
    for (name, req, want) in cases {
        let (status, closed) = answer(&srv, &req);
        assert_eq!(status, want, "{name}");
        assert!(
            closed,
            "{name}: connection must close after a framing error"
        );
    }
}

#[test]
fn head_over_the_read_buffer_gets_431_not_a_reset() {
    let srv = TestServer::hello();
    for size in [8 * 1024, 64 * 1024, 1024 * 1024] {
        let mut c = srv.connect();
        let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
        while req.len() < size {
            req.extend_from_slice(
                b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        req.extend_from_slice(b"\r\n");
        // The server answers before reading all of it; keep writing from a
        // thread so a full socket buffer cannot block the test.
        let mut w = c.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&req);
        });
        let r = c.read_response();
        assert_eq!(r.status, 431, "head of {size} bytes");
        assert!(r.closes());
        drop(c);
        writer.join().unwrap();
    }
}

#[test]
fn too_many_headers_get_431() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| b.max_header_count(10).read_buffer_size(16 * 1024),
    );
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..20 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert_eq!(answer(&srv, &req).0, 431);
}

#[test]
fn body_over_the_limit_gets_413_in_both_framings() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.max_request_body_size(1000));
    // Declared length: refused before any body byte is read.
    let (status, closed) = answer(
        &srv,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
    );
    assert_eq!((status, closed), (413, true));
    // Chunked: refused once the running total passes the limit.
    let mut c = srv.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("{:x}\r\n{}\r\n", 600, "z".repeat(600));
    c.send(chunk.as_bytes());
    c.send(chunk.as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 413);
    // A body at the limit is fine.
    let mut c = srv.connect();
    let body = "y".repeat(1000);
    let r = c.request(
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{body}").as_bytes(),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn get_only_answers_405() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.get_only(true));
    assert_eq!(
        answer(
            &srv,
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        )
        .0,
        405
    );
    let mut c = srv.connect();
    assert_eq!(c.get("/").status, 200);
}

#[test]
fn over_concurrency_gets_503() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.concurrency(2));
    let mut a = srv.connect();
    let mut b = srv.connect();
    assert_eq!(a.get("/").status, 200);
    assert_eq!(b.get("/").status, 200);
    let mut c = srv.connect();
    let r = c.try_read_response(false).expect("a 503 response");
    assert_eq!(r.status, 503);
    drop(a);
    // Once a slot frees up, new connections are served again.
    let ok = crate::support::wait_until(Duration::from_secs(5), || {
        let mut d = srv.connect();
        d.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        d.try_read_response(false).is_some_and(|r| r.status == 200)
    });
    assert!(ok);
}

#[test]
fn over_max_conns_per_ip_gets_429() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.max_conns_per_ip(1));
    let mut a = srv.connect();
    assert_eq!(a.get("/").status, 200);
    let mut c = srv.connect();
    let r = c.try_read_response(false).expect("a 429 response");
    assert_eq!(r.status, 429);
}

#[test]
fn panicking_handler_gets_500_and_the_server_keeps_serving() {
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/boom" {
                panic!("handler exploded (expected by this test)");
            }
            ctx.set_body(b"fine");
        },
        |b| b,
    );
    let mut c = srv.connect();
    let r = c.get("/boom");
    assert_eq!(r.status, 500);
    assert!(r.closes());
    assert!(c.is_closed());
    let mut c = srv.connect();
    assert_eq!(c.get("/").body, b"fine");
}

#[test]
fn error_handler_shapes_error_responses() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| {
            b.error_handler(|ctx, err| {
                ctx.set_content_type(b"application/json");
                let body = format!("{{\"error\":{}}}", err.status());
                ctx.set_body(body.as_bytes());
            })
        },
    );
    let mut c = srv.connect();
    let r = c.request(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body_str(), "{\"error\":400}");
}

#[test]
fn slowloris_gets_408_and_does_not_hold_up_others() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| b.read_timeout(Duration::from_millis(300)),
    );
    let addr = srv.addr;
    let slow = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        let req = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let started = Instant::now();
        for b in req.iter() {
            use std::io::Write;
            if c.stream.write_all(std::slice::from_ref(b)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
        c.try_read_response(false)
    });
    // Meanwhile a normal client is served promptly.
    std::thread::sleep(Duration::from_millis(60));
    let mut c = srv.connect();
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(c.get("/").status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "normal client held up"
        );
    }
    let r = slow
        .join()
        .unwrap()
        .expect("the slow client gets a response");
    assert_eq!(r.status, 408);
    assert!(r.closes());
}

#[test]
fn silent_connection_is_closed_after_the_first_byte_timeout() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| b.first_byte_timeout(Duration::from_millis(100)),
    );
    let mut c = srv.connect();
    let t = Instant::now();
    assert!(c.is_closed());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn idle_keep_alive_connection_is_closed_quietly() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| b.idle_timeout(Duration::from_millis(100)),
    );
    let mut c = srv.connect();
    assert_eq!(c.get("/").status, 200);
    assert!(
        c.try_read_response(false).is_none(),
        "idle close sends nothing"
    );
}

//! Every error status the server answers itself.

use std::time::Duration;

use crate::support::TestServer;

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

/// A slow client whose head never completes (its bytes are sent by the test,
/// one at a time) gets 408 and a close after `read_timeout`, and does not
/// hold up a normal client on the same event loop: after every byte of the
/// slow head, the normal client completes a whole request/response round
/// trip, and only then is the slow client checked to have received nothing
/// yet. Each round trip therefore finished while the slow request was still
/// being read, whatever the speed of the machine: no duration is measured.
///
/// The premise (the slow request still unanswered after every round trip)
/// needs all the round trips done within one `read_timeout`. If the
/// machine is too slow for that, the slow client was answered early and
/// the scenario runs again with twice the timeout; a server that holds up
/// the normal client until the slow one times out fails every run.
#[test]
fn slowloris_gets_408_and_does_not_hold_up_others() {
    // The final CRLF is withheld: the head is never complete.
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for read_timeout_ms in [500, 1000, 2000, 4000, 8000] {
        let srv = TestServer::start(
            |ctx| ctx.set_body(b"ok"),
            |b| b.read_timeout(Duration::from_millis(read_timeout_ms)),
        );
        let mut normal = srv.connect();
        assert_eq!(normal.get("/").status, 200);
        let mut slow = srv.connect();
        let mut slow_pending_throughout = true;
        for b in head {
            use std::io::Write;
            // Not `send`: a server that already answered may reset the socket.
            let _ = slow.stream.write_all(std::slice::from_ref(b));
            let r = normal.get("/");
            assert_eq!(r.status, 200);
            assert!(!r.closes());
            if slow.has_input() {
                slow_pending_throughout = false;
                break;
            }
        }
        if !slow_pending_throughout {
            eprintln!(
                "slowloris: the slow client was answered before its head was sent \
                 (read_timeout {read_timeout_ms} ms); again with a longer one"
            );
            continue;
        }
        // Nothing more is sent: the read timeout answers the slow client.
        let r = slow
            .try_read_response(false)
            .expect("the slow client gets a response");
        assert_eq!(r.status, 408);
        assert!(r.closes());
        assert!(slow.is_closed());
        // And the normal client is still served.
        assert_eq!(normal.get("/").status, 200);
        return;
    }
    panic!(
        "with read timeouts up to 8 s, the normal client's round trips never all \
         completed while the slow request was still unanswered"
    );
}

/// A connection that never sends a byte is closed (quietly) by the
/// first-byte timeout: every other timeout is an hour, and the client gives
/// up reading after 10 s (`Client::is_closed`), so a close before that can
/// only come from `first_byte_timeout`.
#[test]
fn silent_connection_is_closed_after_the_first_byte_timeout() {
    let hour = Duration::from_secs(3600);
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| {
            b.first_byte_timeout(Duration::from_millis(100))
                .idle_timeout(hour)
                .read_timeout(hour)
                .write_timeout(hour)
        },
    );
    let mut c = srv.connect();
    assert!(c.is_closed(), "closed, with no response, before 10 s");
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

//! The timeout wrapper over a real connection: a late handler gets the
//! timeout response well before it finishes and the connection goes on; a
//! handler in time keeps its whole response; a panic is a 500.

use std::time::{Duration, Instant};

use brisk_handlers::cookie::{CookieExt, SetCookie};
use brisk_handlers::timeout::{Timeout, timeout};
use brisk_server::RequestCtx;

use crate::support::TestServer;

/// Far longer than the deadline: the test compares against it.
const SLOW: Duration = Duration::from_secs(5);

fn inner(ctx: &mut RequestCtx<'_>) {
    match ctx.path() {
        b"/slow" => {
            std::thread::sleep(SLOW);
            ctx.set_body(b"too late");
        }
        b"/panic" => panic!("handler bug"),
        b"/echo" => {
            let body = ctx.body().to_vec();
            ctx.set_status(201);
            ctx.set_content_type(b"application/x-echo");
            ctx.set_cookie(&SetCookie::new("k", "v")).unwrap();
            ctx.set_body(&body);
        }
        b"/stream" => {
            let mut left = 3;
            ctx.set_body_stream(move |w| {
                w.write(format!("piece {left}\n").as_bytes());
                left -= 1;
                left > 0
            });
        }
        b"/push" => {
            let mut tx = ctx.body_sender(Some(6));
            std::thread::spawn(move || {
                let _ = tx.write(b"pushed");
                let _ = tx.finish();
            });
        }
        _ => ctx.set_body(b"fast"),
    }
}

#[test]
fn late_handler_gets_503_and_the_connection_goes_on() {
    let server = TestServer::start(timeout(inner, Duration::from_millis(200)), |b| b);
    let mut c = server.connect();
    let t = Instant::now();
    let r = c.get("/slow");
    let took = t.elapsed();
    assert_eq!((r.status, r.text()), (503, "request timed out\n"));
    assert!(took < SLOW / 2, "answered after {took:?}");
    // Same connection, next request.
    let r = c.get("/fast");
    assert_eq!((r.status, r.text()), (200, "fast"));
    // A handler in time keeps its status, headers and body.
    let r = c.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!((r.status, r.text()), (201, "hello"));
    assert_eq!(r.header("content-type"), Some("application/x-echo"));
    assert_eq!(r.header("set-cookie"), Some("k=v"));
    // Deferred bodies built on the copy are sent by the connection.
    let r = c.get("/stream");
    assert_eq!((r.status, r.text()), (200, "piece 3\npiece 2\npiece 1\n"));
    let r = c.get("/push");
    assert_eq!((r.status, r.text()), (200, "pushed"));
    assert_eq!(c.get("/fast").text(), "fast");
}

#[test]
fn a_panic_is_a_500() {
    let server = TestServer::start(timeout(inner, Duration::from_secs(10)), |b| b);
    let r = server.connect().get("/panic");
    assert_eq!(r.status, 500);
    // The server goes on.
    assert_eq!(server.connect().get("/").text(), "fast");
}

#[test]
fn custom_response_and_no_free_thread() {
    let h = Timeout::new(inner, Duration::from_millis(200))
        .response(504, "gateway too slow")
        .max_threads(1)
        .build()
        .unwrap();
    let server = TestServer::start(h, |b| b);
    let mut c = server.connect();
    let r = c.get("/slow");
    assert_eq!((r.status, r.text()), (504, "gateway too slow"));
    // The one thread still runs the late handler: the next request is
    // answered at once without running its handler.
    let r = c.get("/fast");
    assert_eq!((r.status, r.text()), (504, "gateway too slow"));
}

#[test]
fn streamed_bodies_are_read_for_the_handler() {
    let h = Timeout::new(inner, Duration::from_secs(10))
        .max_body(100_000)
        .build()
        .unwrap();
    let server = TestServer::start(h, |b| b.stream_request_body(true));
    let mut c = server.connect();
    let body = vec![b'x'; 50_000];
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.request(&req);
    assert_eq!(r.status, 201);
    assert_eq!(r.body, body);
    // Over max_body: 413.
    let mut c = server.connect();
    let big = vec![b'y'; 150_000];
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let r = c.request(&req);
    assert_eq!(r.status, 413);
}

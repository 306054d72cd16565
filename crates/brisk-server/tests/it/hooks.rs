//! The hooks on the request head and on connection states, over real
//! sockets.

use std::io::Read;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use brisk_server::{ConnState, ContinueAction};

use crate::support::TestServer;

/// The continue hook answers at once (without waiting for the body) or
/// lets `100 Continue` go.
#[test]
fn continue_hook_rejects_or_continues() {
    let srv = TestServer::start(
        |ctx| {
            let n = ctx.body().len();
            ctx.set_body_string(&n.to_string());
        },
        |b| {
            b.continue_handler(|head| match head.header(b"authorization") {
                Some(b"yes") => ContinueAction::Continue,
                Some(_) => ContinueAction::Reject(200), // not an error status: 417
                None => ContinueAction::Reject(401),
            })
        },
    );
    let head = "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n";
    let mut c = srv.connect();
    let r = c.request(format!("{head}\r\n").as_bytes());
    assert_eq!(r.status, 401, "answered before any body byte");
    assert!(r.closes());

    let mut c = srv.connect();
    let r = c.request(format!("{head}Authorization: maybe\r\n\r\n").as_bytes());
    assert_eq!(r.status, 417);

    let mut c = srv.connect();
    c.send(format!("{head}Authorization: yes\r\n\r\n").as_bytes());
    let mut interim = [0u8; 25];
    c.stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello");
    assert_eq!(c.read_response().body_str(), "5");
}

/// The head hook sets one request's body limit, read timeout, and whether
/// its body streams.
#[test]
fn head_hook_sets_per_request_limits() {
    let srv = TestServer::start(
        |ctx| {
            let how = match ctx.body_reader() {
                Some(body) => {
                    let mut all = Vec::new();
                    body.read_to_end(&mut all).unwrap();
                    "streamed"
                }
                None => "buffered",
            };
            ctx.set_body_string(how);
        },
        |b| {
            b.read_timeout(Duration::from_secs(3600))
                .head_handler(|head, limits| match head.raw_path() {
                    b"/small" => limits.max_body_size = 10,
                    b"/stream" => limits.stream_body = true,
                    b"/hurry" => limits.read_timeout = Duration::from_millis(100),
                    _ => {}
                })
        },
    );
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut c = srv.connect();
    assert_eq!(
        c.request(post("/", "12345678901").as_bytes()).body_str(),
        "buffered"
    );
    assert_eq!(
        c.request(post("/stream", "12345").as_bytes()).body_str(),
        "streamed"
    );
    assert_eq!(
        c.request(post("/", "12345").as_bytes()).body_str(),
        "buffered"
    );
    let r = c.request(post("/small", "12345678901").as_bytes());
    assert_eq!(r.status, 413);
    // Only this request's timeout can end it: the server's is an hour.
    let mut c = srv.connect();
    c.send(b"POST /hurry HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789");
    assert_eq!(c.read_response().status, 408);
}

/// The connection-state hook sees a connection's life.
#[test]
fn conn_state_hook_sees_each_state() {
    let seen: Arc<Mutex<Vec<(u64, ConnState)>>> = Arc::new(Mutex::new(Vec::new()));
    let (closed_tx, closed_rx) = mpsc::channel();
    let closed_tx = Mutex::new(closed_tx);
    let s = seen.clone();
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/up" {
                ctx.set_status(101);
                ctx.set_header(b"Upgrade", b"x").unwrap();
                ctx.hijack(|_conn| {});
            } else {
                ctx.set_body(b"ok");
            }
        },
        move |b| {
            b.conn_state_handler(move |id, _addr, state| {
                s.lock().unwrap().push((id, state));
                if matches!(state, ConnState::Closed | ConnState::Hijacked) {
                    closed_tx.lock().unwrap().send(id).unwrap();
                }
            })
        },
    );
    let mut c = srv.connect();
    assert_eq!(c.get("/").status, 200);
    assert_eq!(c.get("/").status, 200);
    drop(c);
    let id = closed_rx.recv().unwrap();
    let states: Vec<ConnState> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(i, _)| *i == id)
        .map(|(_, s)| *s)
        .collect();
    use ConnState::*;
    assert_eq!(states, [New, Active, Idle, Active, Idle, Closed]);

    let mut c = srv.connect();
    c.send(b"GET /up HTTP/1.1\r\nHost: t\r\n\r\n");
    let id = closed_rx.recv().unwrap();
    let last = seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(i, _)| *i == id)
        .map(|(_, s)| *s);
    assert_eq!(last, Some(Hijacked));
}

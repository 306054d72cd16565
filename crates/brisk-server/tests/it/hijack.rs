//! Taking connections over (`RequestCtx::hijack`) and protocol upgrades,
//! over real sockets.

use std::io::{Read, Write};
use std::sync::mpsc;

use crate::support::{TestServer, find};

/// Echoes everything the client sends, from the hijacked connection.
fn echo(mut conn: brisk_server::Hijacked) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

fn read_until(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    while find(buf, needle).is_none() {
        let mut tmp = [0u8; 4096];
        let n = stream.read(&mut tmp).expect("read");
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// `101 Switching Protocols` then the connection is the handler's: bytes
/// the client sent right behind the request reach it first.
#[test]
fn upgrade_hands_the_connection_and_early_bytes_to_the_handler() {
    let srv = TestServer::start(
        |ctx| {
            if ctx.header(b"upgrade") == Some(b"echo") {
                ctx.set_status(101);
                ctx.set_header(b"Upgrade", b"echo").unwrap();
                ctx.hijack(echo);
            } else {
                ctx.set_body(b"plain");
            }
        },
        |b| b,
    );
    let mut c = srv.connect();
    assert_eq!(c.get("/").body_str(), "plain");
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly bytes|",
    );
    let mut buf = Vec::new();
    read_until(&mut c.stream, &mut buf, b"\r\n\r\n");
    let end = find(&buf, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: Upgrade\r\n") && head.contains("Upgrade: echo\r\n"));
    assert!(!head.contains("Content-Length") && !head.contains("Transfer-Encoding"));
    buf.drain(..end);
    read_until(&mut c.stream, &mut buf, b"early bytes|");
    c.stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_until(&mut c.stream, &mut buf, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(
        buf, b"early bytes|GET / HTTP/1.1\r\n\r\n",
        "echoed, not parsed as HTTP"
    );
}

/// A hijack after a normal response: the response (with its body) goes
/// out first; the server no longer counts the connection, and shutting
/// down with `close_hijacked_on_shutdown` ends the handler.
#[test]
fn hijack_after_a_response_and_shutdown_closes_it_when_asked() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::start(
        move |ctx| {
            ctx.set_body(b"switching to raw");
            let tx = tx.lock().unwrap().clone();
            ctx.hijack(move |mut conn| {
                tx.send("started").unwrap();
                let mut buf = [0u8; 16];
                // Blocks until the client sends or the server shuts it down.
                let r = conn.read(&mut buf);
                tx.send(if matches!(r, Ok(0) | Err(_)) {
                    "ended"
                } else {
                    "data"
                })
                .unwrap();
            });
        },
        |b| b.close_hijacked_on_shutdown(true),
    );
    let mut c = srv.connect();
    let r = c.get("/");
    assert_eq!((r.status, r.body_str()), (200, "switching to raw"));
    assert_eq!(rx.recv().unwrap(), "started");
    srv.shutdown().expect("serve returns");
    assert_eq!(rx.recv().unwrap(), "ended");
}

/// Without `close_hijacked_on_shutdown` the server does not wait for a
/// hijacked connection, nor touch it: its handler goes on after `serve`
/// returned.
#[test]
fn shutdown_leaves_hijacked_connections_alone_by_default() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::start(
        move |ctx| {
            let tx = tx.lock().unwrap().clone();
            ctx.set_status(101);
            ctx.set_header(b"Upgrade", b"echo").unwrap();
            ctx.hijack(move |conn| {
                tx.send(()).unwrap();
                echo(conn);
            });
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\n\r\n");
    let mut buf = Vec::new();
    read_until(&mut c.stream, &mut buf, b"\r\n\r\n");
    rx.recv().unwrap();
    srv.shutdown()
        .expect("serve returns while a hijacked connection lives");
    buf.clear();
    c.stream.write_all(b"still here").unwrap();
    read_until(&mut c.stream, &mut buf, b"still here");
}

/// With `allow_connect`, CONNECT reaches the handler: a 2xx with a hijack
/// opens a tunnel (no framing headers, the bytes after it are the
/// tunnel's); another status, or a 2xx without a hijack, closes.
#[test]
fn connect_opens_a_tunnel_when_allowed() {
    let srv = TestServer::start(
        |ctx| {
            if ctx.method() != brisk_server::Method::Connect {
                return ctx.set_body(b"plain");
            }
            match ctx.uri() {
                b"echo.test:443" => {
                    ctx.set_body(b"ignored: a tunnel has no body");
                    ctx.hijack(echo);
                }
                b"nohijack.test:443" => ctx.set_body(b"no tunnel"),
                _ => ctx.error("forbidden", 403),
            }
        },
        |b| b.allow_connect(true),
    );
    let mut c = srv.connect();
    c.send(b"CONNECT echo.test:443 HTTP/1.1\r\nHost: echo.test:443\r\n\r\ntunnel bytes|");
    let mut buf = Vec::new();
    read_until(&mut c.stream, &mut buf, b"\r\n\r\n");
    let end = find(&buf, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    for framing in ["Content-Length", "Transfer-Encoding", "Connection"] {
        assert!(!head.contains(framing), "{framing} in {head}");
    }
    buf.drain(..end);
    read_until(&mut c.stream, &mut buf, b"tunnel bytes|");
    assert_eq!(buf, b"tunnel bytes|");

    let mut c = srv.connect();
    let r = c.request(b"CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n");
    assert_eq!(r.status, 403);
    assert!(r.closes() && c.is_closed());

    let mut c = srv.connect();
    c.send(b"CONNECT nohijack.test:443 HTTP/1.1\r\nHost: nohijack.test:443\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    let mut all = Vec::new();
    let _ = c.stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "no body, nothing parsed after: {text}"
    );
}

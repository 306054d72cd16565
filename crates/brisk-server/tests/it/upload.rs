//! Request bodies read as streams (`stream_request_body`), over real
//! sockets: the handler runs on a worker thread and reads the body as it
//! arrives; the loop keeps serving other connections meanwhile.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{Client, TestServer};

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `/sum`: reads the body, answers `<length> <fnv1a>`; an error while
/// reading is answered 400 with its kind. `/big`: answers [`big`] (1 MiB,
/// sent after its head) without reading. `/trailers`: the trailers after
/// the body. `/ignore`: answers without reading. Anything else: `hello`
/// (and says whether the body was streamed).
fn server(
    configure: impl FnOnce(brisk_server::ServerBuilder) -> brisk_server::ServerBuilder,
) -> TestServer {
    TestServer::start(
        |ctx| {
            let path = ctx.path().to_vec();
            let Some(body) = ctx.body_reader() else {
                let n = ctx.body().len();
                return ctx.set_body_string(&format!("buffered {n}"));
            };
            match &path[..] {
                b"/sum" | b"/trailers" => {
                    let mut h = 0xcbf2_9ce4_8422_2325;
                    let mut n = 0u64;
                    let mut buf = vec![0u8; 7919];
                    loop {
                        match body.read(&mut buf) {
                            Ok(0) => break,
                            Ok(k) => {
                                h = fnv1a(&buf[..k], h);
                                n += k as u64;
                            }
                            Err(e) => {
                                let kind = format!("{:?}", e.kind());
                                return ctx.error(&kind, 400);
                            }
                        }
                    }
                    let text = if path == b"/sum" {
                        format!("{n} {h:016x}")
                    } else {
                        body.trailers()
                            .iter()
                            .map(|(k, v)| {
                                format!(
                                    "{}={}",
                                    String::from_utf8_lossy(k),
                                    String::from_utf8_lossy(v)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(";")
                    };
                    ctx.set_body_string(&text);
                }
                b"/big" => ctx.set_body_static(big()),
                _ => ctx.set_body(b"ignored"),
            }
        },
        |b| configure(b.stream_request_body(true).max_request_body_size(64 << 20)),
    )
}

/// A `'static` body larger than the write buffer, so it is sent after the
/// head instead of being copied.
fn big() -> &'static [u8] {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BIG.get_or_init(|| pattern(1 << 20))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// A body many times the read buffer, with Content-Length and chunked, is
/// read whole by the handler; what is pipelined after it is served next.
#[test]
fn large_bodies_are_read_as_streams_and_pipelining_continues() {
    let srv = server(|b| b);
    let body = pattern(3 << 20);
    let want = format!(
        "{} {:016x}",
        body.len(),
        fnv1a(&body, 0xcbf2_9ce4_8422_2325)
    );
    let mut c = srv.connect();
    let mut req = format!(
        "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    let writer = {
        let mut s = c.stream.try_clone().unwrap();
        std::thread::spawn(move || s.write_all(&req).unwrap())
    };
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (200, want.as_str()));
    assert!(!r.closes());
    let r = c.read_response();
    assert_eq!(
        r.body_str(),
        "buffered 5",
        "small bodies are still buffered"
    );
    writer.join().unwrap();

    // Chunked, in pieces of odd sizes, with a trailer.
    let mut req = b"POST /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(65_537) {
        req.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\nX-Sum: yes\r\n\r\n");
    req.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    let writer = {
        let mut s = c.stream.try_clone().unwrap();
        std::thread::spawn(move || s.write_all(&req).unwrap())
    };
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (200, want.as_str()));
    assert_eq!(c.read_response().body_str(), "buffered 0");
    writer.join().unwrap();

    let r = c.request(
        b"POST /trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n0\r\nX-One: 1\r\nX-Two: 2\r\n\r\n",
    );
    assert_eq!(r.body_str(), "X-One=1;X-Two=2");
}

/// While one connection's body trickles in, a connection on the same loop
/// is served: the upload is still incomplete when the other gets its
/// answers.
#[test]
fn other_connections_are_served_while_a_body_streams() {
    let srv = server(|b| b.loops(1));
    let mut up = srv.connect();
    up.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    up.send(&[b'x'; 1000]);
    up.wait_until_server_read();
    let mut other = srv.connect();
    for _ in 0..10 {
        assert_eq!(other.get("/").status, 200);
    }
    assert!(
        !up.has_input(),
        "the upload was answered before its body ended"
    );
    up.send(&[b'x'; 99_000]);
    let r = up.read_response();
    assert!(r.body_str().starts_with("100000 "), "{}", r.body_str());
}

/// `Expect: 100-continue`: the interim answer is sent when the handler
/// starts reading the body, not before; a handler that never reads sends
/// its answer without it and closes.
#[test]
fn continue_is_sent_when_the_handler_reads() {
    let srv = server(|b| b);
    let mut c = srv.connect();
    c.send(
        b"POST /sum HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n",
    );
    let mut interim = [0u8; 25];
    c.stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(&[b'y'; 10000]);
    let r = c.read_response();
    assert!(r.body_str().starts_with("10000 "));

    let mut c = srv.connect();
    let r = c.request(b"POST /ignore HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n");
    assert_eq!((r.status, r.body_str()), (200, "ignored"));
    assert!(r.closes(), "an unread body leaves the connection unusable");
}

/// The handler learns that the client stopped short, went silent, or sent
/// too much; the connection closes after the answer.
#[test]
fn short_silent_and_oversized_bodies_are_errors() {
    // Closes after 10 of 100 000 bytes.
    let srv = server(|b| b);
    let mut c = srv.connect();
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (400, "UnexpectedEof"));
    assert!(r.closes());

    // Silent for read_timeout.
    let srv = server(|b| b.read_timeout(Duration::from_millis(200)));
    let mut c = srv.connect();
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789");
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (400, "TimedOut"));
    assert!(r.closes());

    // A chunked body over max_request_body_size (a declared one is refused
    // before any of it is read).
    let srv = server(|b| b.max_request_body_size(100_000));
    let mut c = srv.connect();
    let r = c.request(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 100001\r\n\r\n");
    assert_eq!(r.status, 413);
    let mut c = Client::connect(srv.addr);
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let (tx, rx) = mpsc::channel();
    let mut s = c.stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..200 {
            if s.write_all(format!("{:x}\r\n", 1000).as_bytes()).is_err()
                || s.write_all(&[b'z'; 1000]).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = tx.send(());
    });
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (400, "InvalidData"));
    assert!(r.closes());
    let _ = rx.recv();
}

/// A client that ends its side in the middle of a buffered body gets no
/// answer (the request can never complete): the connection closes at once,
/// not at the read timeout.
#[test]
fn eof_in_a_buffered_body_closes_at_once() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"x"),
        |b| b.read_timeout(Duration::from_secs(3600)),
    );
    let mut c = srv.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.is_closed());
}

/// A handler that answers without reading the body, with a body sent after
/// its head: the connection closes after the answer, and the close waits
/// for the unread rest of the request (lingering) so the answer is not cut
/// by a reset. (Closing with unread input resets the connection, and the
/// kernel drops the answer's bytes still queued; the test fails when
/// `finish_close` closes at once.)
#[test]
fn an_unread_body_does_not_cut_a_large_answer() {
    let srv = server(|b| b);
    // A small receive window keeps most of the answer queued on the
    // server's side when it closes.
    let mut c = Client::connect_with_recv_buffer(srv.addr, 16 << 10);
    c.send(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n");
    // Far more than the server reads with the head, far less than declared.
    c.send(&pattern(512 << 10));
    // Let the server write the whole answer into the socket and close
    // before anything is read here.
    std::thread::sleep(Duration::from_millis(300));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes(), "an unread body leaves the connection unusable");
    assert_eq!(r.body.len(), big().len());
    assert!(r.body == big(), "the answer's body differs");
}

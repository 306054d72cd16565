//! Response bodies pushed from another thread, over real sockets.

use std::io::{Read, Write};
use std::sync::mpsc;

use crate::support::{TestServer, find};

/// Reads a chunked body to its end; the decoded bytes.
fn read_chunked(stream: &mut std::net::TcpStream, mut buf: Vec<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        while find(&buf, b"\r\n").is_none() {
            fill(stream, &mut buf);
        }
        let e = find(&buf, b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&buf[..e]).unwrap(), 16).unwrap();
        buf.drain(..e + 2);
        while buf.len() < n + 2 {
            fill(stream, &mut buf);
        }
        body.extend_from_slice(&buf[..n]);
        buf.drain(..n + 2);
        if n == 0 {
            return body;
        }
    }
}

fn fill(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>) {
    let mut tmp = [0u8; 4096];
    let n = stream.read(&mut tmp).expect("read");
    assert!(n > 0, "the connection closed early");
    buf.extend_from_slice(&tmp[..n]);
}

/// Events written by another thread, each after the client saw the one
/// before (so every one is its own wake-up of the loop), reach the client
/// in order, and the body ends when the writer finishes.
#[test]
fn events_from_another_thread_arrive_in_order() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::start(
        move |ctx| {
            ctx.set_content_type(b"text/event-stream");
            tx.lock().unwrap().send(ctx.body_sender(None)).unwrap();
        },
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut sender = rx.recv().unwrap();
    let (go, step) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        for i in 0..5 {
            sender.write(format!("data: {i}\n\n").as_bytes()).unwrap();
            step.recv().unwrap(); // the client saw it
        }
        sender.finish().unwrap();
    });
    let mut buf = Vec::new();
    while find(&buf, b"\r\n\r\n").is_none() {
        fill(&mut c.stream, &mut buf);
    }
    let end = find(&buf, b"\r\n\r\n").unwrap() + 4;
    assert!(
        std::str::from_utf8(&buf[..end])
            .unwrap()
            .contains("Transfer-Encoding: chunked")
    );
    buf.drain(..end);
    for i in 0..5 {
        let want = format!("data: {i}\n\n");
        while !String::from_utf8_lossy(&buf).contains(&want) {
            fill(&mut c.stream, &mut buf);
        }
        go.send(()).unwrap();
    }
    writer.join().unwrap();
    let mut rest = buf;
    // Everything up to the last chunk; decode what is left.
    let pos = find(&rest, b"data: 4\n\n").unwrap() + 9 + 2;
    rest.drain(..pos);
    assert_eq!(read_chunked(&mut c.stream, rest), b"");
    // The connection is still good for another request.
    c.stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut sender = rx.recv().unwrap();
    sender.write(b"again").unwrap();
    sender.finish().unwrap();
    let mut buf = Vec::new();
    while find(&buf, b"\r\n\r\n").is_none() {
        fill(&mut c.stream, &mut buf);
    }
    let end = find(&buf, b"\r\n\r\n").unwrap() + 4;
    buf.drain(..end);
    assert_eq!(read_chunked(&mut c.stream, buf), b"again");
}

/// A writer whose client went away gets an error instead of writing into
/// a sink forever.
#[test]
fn the_writer_learns_the_client_is_gone() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::start(
        move |ctx| tx.lock().unwrap().send(ctx.body_sender(None)).unwrap(),
        |b| b,
    );
    let mut c = srv.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut sender = rx.recv().unwrap();
    sender.write(b"hello").unwrap();
    let mut buf = Vec::new();
    while find(&buf, b"hello").is_none() {
        fill(&mut c.stream, &mut buf);
    }
    drop(c);
    // Bounded: 64 MiB in 4 KiB writes; the error must come long before.
    let piece = [b'x'; 4096];
    let err = (0..16 * 1024)
        .find_map(|_| sender.write(&piece).err())
        .expect("writes kept succeeding after the client left");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}

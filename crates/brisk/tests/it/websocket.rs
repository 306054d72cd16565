//! The `websocket` example's handler, served on 127.0.0.1:0, with a real
//! WebSocket client (tungstenite) over a real socket.

use std::net::TcpStream;

use super::InProcess;
use std::time::Duration;

use tungstenite::{Message, client::IntoClientRequest};

// The example file itself (its `main` and flag parsing go unused here;
// the inspect test includes the same flag module).
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/websocket.rs"]
mod example;

#[test]
fn websocket_echoes_text_and_binary_messages() {
    let srv = InProcess::start(example::handler);
    let addr = srv.addr;

    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let req = format!("ws://{addr}/ws").into_client_request().unwrap();
    let (mut ws, resp) = tungstenite::client(req, stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        let text = format!("message {i}");
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(text));
    }
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    ws.send(Message::binary(blob.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(blob));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    // Not an upgrade: a clear 400.
    let mut c = TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    c.write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    assert!(s.starts_with("HTTP/1.1 400 "), "{s}");
    srv.stop().unwrap();
}

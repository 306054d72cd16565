//! A WebSocket echo server: `/ws` upgrades the connection
//! (`101 Switching Protocols`, the handshake answered by brisk), takes it
//! over with `RequestCtx::hijack`, and echoes every text and binary
//! message with tungstenite on the hijacked connection (its own thread).
//! Any other path gets a page that talks to `/ws`.
//!
//! `cargo run --release -p brisk --example websocket -- --port 8080`, then
//! open http://127.0.0.1:8080/ or use any WebSocket client on
//! `ws://127.0.0.1:8080/ws` (`--port 0`: any free port; `--loops N`: event
//! loops, default one per core).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;

use brisk::RequestCtx;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Message, handshake::derive_accept_key};

const PAGE: &[u8] = b"<!doctype html><title>brisk websocket</title><pre id=log></pre>\
<script>const ws=new WebSocket('ws://'+location.host+'/ws');\
ws.onopen=()=>ws.send('hello');ws.onmessage=e=>log.textContent+=e.data+'\\n'</script>";

/// Upgrades `/ws` and echoes its messages; serves the page elsewhere.
pub fn handler(ctx: &mut RequestCtx<'_>) {
    if ctx.path() != b"/ws" {
        ctx.set_content_type(b"text/html; charset=utf-8");
        ctx.set_body_static(PAGE);
        return;
    }
    let upgrade = ctx
        .header(b"upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
    let version_ok = ctx.header(b"sec-websocket-version") == Some(b"13");
    let Some(key) = ctx
        .header(b"sec-websocket-key")
        .filter(|_| upgrade && version_ok)
    else {
        ctx.set_header(b"Sec-WebSocket-Version", b"13")
            .expect("a valid header");
        return ctx.error("a WebSocket upgrade (version 13) is expected here\n", 400);
    };
    let accept = derive_accept_key(key);
    ctx.set_status(101);
    ctx.set_header(b"Upgrade", b"websocket")
        .expect("a valid header");
    ctx.set_header(b"Sec-WebSocket-Accept", accept.as_bytes())
        .expect("a valid header");
    ctx.hijack(|conn| {
        // brisk answered the handshake; the frames start now.
        let mut ws = WebSocket::from_raw_socket(conn, Role::Server, None);
        loop {
            match ws.read() {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    if ws.send(msg).is_err() {
                        return;
                    }
                }
                // Pings are answered by tungstenite; a close is echoed.
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

fn main() -> ExitCode {
    let args = args::parse("websocket", true);
    args::serve(
        "websocket",
        brisk::Server::builder().handler(handler),
        &args,
    )
}

//! Server-sent events pushed from another thread: each request to `/events`
//! gets a `text/event-stream` response whose body a spawned thread writes,
//! one event a second (`?count=N` events, default 10, then the stream
//! ends). The writer is held back by a slow client (bounded queue) and
//! stops as soon as the client goes away. Any other path gets a page that
//! listens to the stream.
//!
//! `cargo run --release -p brisk --example sse -- --port 8080`, then
//! `curl -N 127.0.0.1:8080/events?count=3` (`--port 0`: any free port;
//! `--loops N`: event loops, default one per core).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;
use std::time::Duration;

const PAGE: &[u8] = b"<!doctype html><title>brisk sse</title><pre id=log></pre>\
<script>new EventSource('/events').onmessage=e=>log.textContent+=e.data+'\\n'</script>";

fn main() -> ExitCode {
    let args = args::parse("sse", true);
    let builder = brisk::Server::builder().handler(|ctx| {
        if ctx.path() != b"/events" {
            ctx.set_content_type(b"text/html; charset=utf-8");
            ctx.set_body_static(PAGE);
            return;
        }
        let count: u32 = ctx
            .query_arg(b"count")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(10);
        ctx.set_content_type(b"text/event-stream");
        ctx.set_header(b"Cache-Control", b"no-cache")
            .expect("a valid header");
        let mut events = ctx.body_sender(None);
        std::thread::spawn(move || {
            for i in 1..=count {
                let event = format!("id: {i}\ndata: tick {i}\n\n");
                if events.write(event.as_bytes()).is_err() {
                    return; // the client went away
                }
                if i < count {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            let _ = events.finish();
        });
    });
    args::serve("sse", builder, &args)
}

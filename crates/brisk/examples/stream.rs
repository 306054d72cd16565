//! A large response streamed in chunks: 64 MiB produced 64 KiB at a time,
//! pulled only as fast as the client reads (memory stays flat).
//!
//! `cargo run --release -p brisk --example stream -- --port 8080` then
//! `curl -s 127.0.0.1:8080/ | wc -c` (`--port 0`: any free port; `--loops N`:
//! event loops, default one per core).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::parse("stream", true);
    let builder = brisk::Server::builder().handler(|ctx| {
        ctx.set_content_type(b"application/octet-stream");
        let piece = vec![b'x'; 64 * 1024];
        let mut left = 1024; // pieces of 64 KiB
        ctx.set_body_stream(move |w| {
            w.write(&piece);
            left -= 1;
            left > 0
        });
    });
    args::serve("stream", builder, &args)
}

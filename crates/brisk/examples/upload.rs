//! Uploads of any size in constant memory: the request body is streamed
//! (`stream_request_body`), read piece by piece by the handler on a worker
//! thread while the event loop serves other connections, and answered with
//! its length and FNV-1a checksum. Bodies up to 64 GiB are accepted, with
//! Content-Length or chunked.
//!
//! `cargo run --release -p brisk --example upload -- --port 8080`, then
//! `curl -T bigfile 127.0.0.1:8080/` (`--port 0`: any free port; `--loops
//! N`: event loops, default one per core).

#[path = "common/args.rs"]
mod args;

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::parse("upload", true);
    let builder = brisk::Server::builder()
        .stream_request_body(true)
        .max_request_body_size(64 << 30)
        .handler(|ctx| {
            let (mut len, mut sum) = (0u64, 0xcbf2_9ce4_8422_2325u64);
            let mut piece = vec![0u8; 64 * 1024];
            if let Some(body) = ctx.body_reader() {
                loop {
                    match body.read(&mut piece) {
                        Ok(0) => break,
                        Ok(n) => {
                            len += n as u64;
                            sum = fnv1a(&piece[..n], sum);
                        }
                        Err(e) => return ctx.error(&format!("upload failed: {e}\n"), 400),
                    }
                }
            } else {
                // Small bodies are buffered: the same answer.
                len = ctx.body().len() as u64;
                sum = fnv1a(ctx.body(), sum);
            }
            ctx.set_body_string(&format!("{len} bytes, fnv1a {sum:016x}\n"));
        });
    args::serve("upload", builder, &args)
}

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

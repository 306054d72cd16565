//! A blocking handler served beside fast ones: `/slow` sleeps 200 ms (think
//! of a database call); `/` answers at once even on the same event loop,
//! because the loop is handed to a spare thread while `/slow` blocks.
//!
//! `cargo run --release -p brisk --example blocking -- --port 8080`, then run
//! `curl 127.0.0.1:8080/slow & curl 127.0.0.1:8080/`: the second returns
//! first. One event loop, on purpose: `--port N` is the only flag (0: any
//! free port).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args = args::parse("blocking", false);
    let builder = brisk::Server::builder()
        .handler(|ctx| {
            if ctx.path() == b"/slow" {
                std::thread::sleep(Duration::from_millis(200));
                ctx.set_body(b"slow done");
            } else {
                ctx.set_body(b"fast");
            }
        })
        .loops(1)
        .blocking_threshold(Duration::from_millis(1))
        .max_blocking_threads(32);
    args::serve("blocking", builder, &args)
}

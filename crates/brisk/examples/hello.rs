//! Hello world: the README's run command.
//!
//! `cargo run --release -p brisk --example hello -- --port 8080 --loops 1`
//! serves `Hello, World!` on 127.0.0.1 and prints the address it listens on
//! (`--port 0`: any free port; `--loops N`: event loops, default one per core).
//!
//! Started by systemd socket activation, it serves the inherited sockets
//! instead of binding and says so: `systemd-socket-activate -l 8080
//! target/release/examples/hello` prints
//! `listening on http://0.0.0.0:8080 (socket activation)` (every example
//! does, through `common/args.rs`).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::parse("hello", true);
    let builder = brisk::Server::builder().handler(|ctx| ctx.set_body_static(b"Hello, World!"));
    args::serve("hello", builder, &args)
}

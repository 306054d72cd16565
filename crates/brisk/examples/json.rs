//! A JSON endpoint: builds the body with `write!` into the reused response
//! buffer (no allocation per request).
//!
//! `cargo run --release -p brisk --example json -- --port 8080` then
//! `curl 127.0.0.1:8080/` (`--port 0`: any free port; `--loops N`: event
//! loops, default one per core).

#[path = "common/args.rs"]
mod args;

use std::fmt::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::parse("json", true);
    let builder = brisk::Server::builder().handler(|ctx| {
        ctx.set_content_type(b"application/json");
        let n = ctx.conn_request_num();
        let _ = write!(ctx, r#"{{"message":"Hello, World!","request":{n}}}"#);
    });
    args::serve("json", builder, &args)
}

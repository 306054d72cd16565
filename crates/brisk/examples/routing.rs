//! Routing on the normalized path with a plain `match`.
//!
//! `cargo run --release -p brisk --example routing -- --port 8080`, then try
//! `curl 127.0.0.1:8080/users/42`, `/search?q=brisk`, `/old`, `/a/../`
//! (`--port 0`: any free port; `--loops N`: event loops, default one per
//! core).

#[path = "common/args.rs"]
mod args;

use std::fmt::Write as _;
use std::process::ExitCode;

use brisk::{Method, RequestCtx};

fn route(ctx: &mut RequestCtx<'_>) {
    // Request data borrows the connection's buffer, not `ctx`: matching on
    // it leaves `ctx` free for building the response. Nothing is copied.
    match (ctx.method(), ctx.path()) {
        (Method::Get, b"/") => ctx.set_body(b"home"),
        (Method::Get, b"/search") => {
            let q = ctx.query_arg(b"q").unwrap_or(b"");
            ctx.append_body(b"results for ");
            ctx.append_body(q); // still percent-encoded: see brisk::http::decode_arg
        }
        (Method::Get, p) if p.starts_with(b"/users/") => match std::str::from_utf8(&p[7..])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(id) => {
                ctx.set_content_type(b"application/json");
                let _ = write!(ctx, r#"{{"id":{id}}}"#);
            }
            None => ctx.error("user id must be a number", 400),
        },
        (Method::Get, b"/old") => {
            let _ = ctx.redirect(b"/", 301);
        }
        (Method::Post, b"/echo") => {
            let body = ctx.body();
            ctx.set_body(body);
        }
        (_, b"/" | b"/search" | b"/old" | b"/echo") => ctx.error("method not allowed", 405),
        _ => ctx.error("not found", 404),
    }
}

fn main() -> ExitCode {
    let args = args::parse("routing", true);
    args::serve("routing", brisk::Server::builder().handler(route), &args)
}

//! Echoes back what the server saw: every request is answered with
//! `Content-Type: application/json` and an object describing it. Handy to
//! check what a client, a proxy or a load generator really sends.
//!
//! `cargo run --release -p brisk --example inspect -- --port 8080` then
//! `curl -s --path-as-is '127.0.0.1:8080/a/./b?x=1&y=%C3%A9'` (`--port 0`: any free port;
//! `--loops N`: event loops, default one per core).
//!
//! ```json
//! {"method":"GET","path":"/a/b","raw_path":"/a/./b","query_string":"x=1&y=%C3%A9",
//!  "query":[["x","1"],["y","é"]],"headers":[["Host","127.0.0.1:8080"],
//!  ["User-Agent","curl/8.5.0"],["Accept","*/*"]],"body_len":0,
//!  "remote_addr":"127.0.0.1:50312","version":"HTTP/1.1","conn_request_num":1}
//! ```
//!
//! (one line in reality). The fields:
//!
//! - `method`: as sent; `version`: `"HTTP/1.0"` or `"HTTP/1.1"`.
//! - `path`: [`RequestCtx::path`], percent-decoded and normalized;
//!   `raw_path`: [`RequestCtx::raw_path`], as sent.
//! - `query_string`: the raw query (no `?`); `query`: its `[name, value]`
//!   pairs in order, each percent-decoded with [`brisk::http::decode_arg`]
//!   (`+` is a space).
//! - `headers`: `[name, value]` pairs in arrival order, values as sent,
//!   names as the server holds them (`Content-Type` case unless
//!   `disable_header_names_normalizing`).
//! - `body_len`: bytes of the (decoded) request body.
//! - `remote_addr`: the peer's `ip:port`; `conn_request_num`: the request's
//!   number on its connection, from 1.
//!
//! Strings are bytes on the wire, not always UTF-8. Valid UTF-8 is written
//! as is (with JSON's escapes for `"`, `\` and control characters); every
//! byte that is not part of valid UTF-8 is written as `\u00XX`, its value
//! (so byte 0xFF reads back as U+00FF, which a reader cannot tell from a
//! real `ÿ` sent as UTF-8; nothing is replaced or dropped).
//!
//! A query argument `sleep_ms=N` makes the handler sleep N ms first (at
//! most 60 000; a stand-in for a slow backend, served by the blocking
//! handler takeover like any handler that blocks). A value that is not a
//! number is answered 400 with `{"error": "..."}`.

#[path = "common/args.rs"]
mod args;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use brisk::{RequestCtx, Version};

/// The longest `sleep_ms` honoured; larger values sleep this long.
pub const MAX_SLEEP_MS: u64 = 60_000;

fn main() -> ExitCode {
    let args = args::parse("inspect", true);
    args::serve("inspect", brisk::Server::builder().handler(handler), &args)
}

/// Answers the request with the JSON object describing it (see the module
/// documentation), after sleeping `sleep_ms` if asked to.
pub fn handler(ctx: &mut RequestCtx<'_>) {
    ctx.set_content_type(b"application/json");
    let mut arg = Vec::new();
    if let Some(raw) = ctx.query_arg(b"sleep_ms") {
        brisk::http::decode_arg(raw, &mut arg);
        match std::str::from_utf8(&arg)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms.min(MAX_SLEEP_MS))),
            None => {
                ctx.set_status(400);
                let mut out =
                    String::from(r#"{"error":"sleep_ms must be a number of milliseconds, not "#);
                // The value inside the message, escaped, without its quotes.
                let mut value = String::new();
                json_string(&mut value, &arg);
                out.push_str(&value[1..value.len() - 1]);
                out.push_str("\"}");
                ctx.set_body(out.as_bytes());
                return;
            }
        }
    }
    let body = describe(ctx);
    ctx.set_body(body.as_bytes());
}

/// The JSON object describing the request in `ctx` (one line, no trailing
/// newline).
pub fn describe(ctx: &RequestCtx<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"method":"#);
    json_string(&mut out, ctx.method_bytes());
    out.push_str(r#","path":"#);
    json_string(&mut out, ctx.path());
    out.push_str(r#","raw_path":"#);
    json_string(&mut out, ctx.raw_path());
    out.push_str(r#","query_string":"#);
    json_string(&mut out, ctx.query_string());
    out.push_str(r#","query":["#);
    let (mut name, mut value) = (Vec::new(), Vec::new());
    for (i, (n, v)) in ctx.query_args().enumerate() {
        brisk::http::decode_arg(n, &mut name);
        brisk::http::decode_arg(v, &mut value);
        pair(&mut out, i, &name, &value);
    }
    out.push_str(r#"],"headers":["#);
    for (i, (n, v)) in ctx.headers().enumerate() {
        pair(&mut out, i, n, v);
    }
    let version = match ctx.version() {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    let _ = write!(
        out,
        r#"],"body_len":{},"remote_addr":"{}","version":"{}","conn_request_num":{}}}"#,
        ctx.body().len(),
        ctx.remote_addr(),
        version,
        ctx.conn_request_num()
    );
    out
}

/// Appends `[name, value]` to a JSON array, after a comma unless `i == 0`.
fn pair(out: &mut String, i: usize, name: &[u8], value: &[u8]) {
    if i > 0 {
        out.push(',');
    }
    out.push('[');
    json_string(out, name);
    out.push(',');
    json_string(out, value);
    out.push(']');
}

/// Appends `bytes` as a JSON string, quotes included: valid UTF-8 as is
/// (`"`, `\` and control characters escaped), each byte outside valid
/// UTF-8 as `\u00XX`.
pub fn json_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\u{:04x}", b);
        }
    }
    out.push('"');
}

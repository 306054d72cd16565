//! A JSON endpoint: builds the body with `write!` into the reused response
//! buffer (no allocation per request).
//!
//! `cargo run --release -p brisk --example json` then `curl 127.0.0.1:8080/`

use std::fmt::Write as _;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    println!("listening on http://{addr}");
    brisk::listen_and_serve(addr.as_str(), |ctx| {
        ctx.set_content_type(b"application/json");
        let n = ctx.conn_request_num();
        let _ = write!(ctx, r#"{{"message":"Hello, World!","request":{n}}}"#);
    })
    .expect("serve");
}

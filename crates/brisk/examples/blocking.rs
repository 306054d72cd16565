//! A blocking handler served beside fast ones: `/slow` sleeps 200 ms (think
//! of a database call); `/` answers at once even on the same event loop,
//! because the loop is handed to a spare thread while `/slow` blocks.
//!
//! `cargo run --release -p brisk --example blocking`, then run
//! `curl 127.0.0.1:8080/slow & curl 127.0.0.1:8080/` — the second returns first.

use std::time::Duration;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let server = brisk::Server::builder()
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
        .max_blocking_threads(32)
        .build()
        .expect("valid configuration");
    println!("listening on http://{addr}");
    server.listen_and_serve(addr.as_str()).expect("serve");
}

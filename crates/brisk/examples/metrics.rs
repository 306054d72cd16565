//! Metrics: counts every request and serves the counts at `/metrics` in the
//! Prometheus text format.
//!
//! `cargo run --release -p brisk --example metrics -- --port 8080 --loops 1`,
//! then `curl http://127.0.0.1:8080/metrics`. `/` answers `Hello, World!`,
//! any other path 404 (both counted).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;

use brisk::handlers::metrics::prometheus_handler;
use brisk::server::Metrics;

fn main() -> ExitCode {
    let args = args::parse("metrics", true);
    let metrics = Metrics::new();
    let scrape = prometheus_handler(metrics.clone());
    let builder = brisk::Server::builder()
        .metrics(&metrics)
        .handler(move |ctx| match ctx.path() {
            b"/metrics" => scrape(ctx),
            b"/" => ctx.set_body_static(b"Hello, World!"),
            _ => ctx.error("not found", 404),
        });
    args::serve("metrics", builder, &args)
}

//! Multi-process hello world: the master binds, re-executes itself once per
//! child (`--children N`, default: cores), and each child serves with one
//! event loop. Stop it with Ctrl-C (SIGINT) or SIGTERM.
//!
//! `cargo run --release -p brisk --example prefork -- --port 8080 --children 2`

use std::fmt::Write as _;

fn main() {
    let mut port = 8080u16;
    let mut children = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|v| v.parse().ok()).expect("--port N"),
            "--children" => {
                children = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--children N"),
                )
            }
            other => {
                eprintln!("prefork: unknown argument {other:?} (flags: --port N --children N)");
                std::process::exit(2);
            }
        }
    }
    let builder = brisk::Server::builder().handler(|ctx| {
        let _ = write!(ctx, "Hello from process {}", std::process::id());
    });
    let mut p = brisk::prefork_server(builder);
    if let Some(n) = children {
        p = p.children(n);
    }
    if !brisk::prefork::is_child() {
        println!(
            "listening on http://127.0.0.1:{port} (pid {})",
            std::process::id()
        );
    }
    if let Err(e) = p.listen_and_serve(&format!("127.0.0.1:{port}")) {
        eprintln!("prefork: {e}");
        std::process::exit(1);
    }
}

//! Hello world: the README's run command.
//!
//! `cargo run --release -p brisk --example hello -- --port 8080 --loops 1`
//! serves `Hello, World!` on 127.0.0.1 and prints the address it listens on.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut port: u16 = 8080;
    let mut loops: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        let r: Result<(), String> = match flag.as_str() {
            "--port" | "-p" => value("--port").and_then(|v| {
                v.parse()
                    .map(|p| port = p)
                    .map_err(|e| format!("--port {v}: {e}"))
            }),
            "--loops" | "-l" => value("--loops").and_then(|v| {
                v.parse()
                    .map(|n| loops = Some(n))
                    .map_err(|e| format!("--loops {v}: {e}"))
            }),
            "--help" | "-h" => {
                println!(
                    "usage: hello [--port N (default 8080, 0 = any)] [--loops N (default: cores)]"
                );
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other:?}; try --help")),
        };
        if let Err(e) = r {
            eprintln!("hello: {e}");
            return ExitCode::from(2);
        }
    }

    let mut builder = brisk::Server::builder().handler(|ctx| ctx.set_body_static(b"Hello, World!"));
    if let Some(n) = loops {
        builder = builder.loops(n);
    }
    let server = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello: {e}");
            return ExitCode::from(2);
        }
    };
    let listeners = match server.bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = listeners.first().and_then(|l| l.local_addr().ok()) {
        println!("listening on http://{addr}");
    }
    match server.serve_listeners(listeners) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello: {e}");
            ExitCode::FAILURE
        }
    }
}

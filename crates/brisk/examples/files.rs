//! A static file server: `brisk::handlers::fs::FileServer` over a
//! directory, with ranges, conditional requests, precompressed siblings
//! and `sendfile`.
//!
//! `cargo run --release -p brisk --example files -- --root DIR --port 8080`,
//! then try `curl -r 0-9 127.0.0.1:8080/some/file`, `curl --compressed …`
//! or `curl -z 'Fri, 31 Dec 2100 00:00:00 GMT' …` (`--port 0`: any free
//! port; `--loops N`: event loops, default one per core; `--listing`:
//! HTML listings of directories without an index.html; `--max-age SECS`:
//! a `Cache-Control` max-age).

// `parse` is not used: this example has flags of its own (`--root`).
#[allow(dead_code)]
#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;

use brisk::handlers::fs::FileServer;

struct Flags {
    args: args::Args,
    root: String,
    listing: bool,
    max_age: Option<u64>,
}

const USAGE: &str = "usage: files --root DIR [--port N (default 8080, 0 = any)] \
                     [--loops N (default: cores)] [--backend epoll|uring] [--listing] [--max-age SECS] \
                     [--tls-cert FILE --tls-key FILE (HTTPS; needs --features tls)]";

fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Flags>, String> {
    let (mut cert, mut key) = (None, None);
    let mut f = Flags {
        args: args::Args {
            port: 8080,
            loops: None,
            backend: brisk::Backend::Epoll,
            tls: None,
        },
        root: String::new(),
        listing: false,
        max_age: None,
    };
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--root" | "-r" => f.root = value("--root")?,
            "--port" | "-p" => {
                let v = value("--port")?;
                f.args.port = v.parse().map_err(|e| format!("--port {v}: {e}"))?;
            }
            "--loops" | "-l" => {
                let v = value("--loops")?;
                f.args.loops = Some(v.parse().map_err(|e| format!("--loops {v}: {e}"))?);
            }
            "--backend" | "-b" => {
                let v = value("--backend")?;
                f.args.backend = v.parse().map_err(|e| format!("--backend {v}: {e}"))?;
            }
            "--max-age" => {
                let v = value("--max-age")?;
                f.max_age = Some(v.parse().map_err(|e| format!("--max-age {v}: {e}"))?);
            }
            "--listing" => f.listing = true,
            "--tls-cert" => cert = Some(std::path::PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => key = Some(std::path::PathBuf::from(value("--tls-key")?)),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if f.root.is_empty() {
        return Err("--root DIR is required".into());
    }
    f.args.tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Some(f))
}

fn main() -> ExitCode {
    let flags = match parse(std::env::args().skip(1)) {
        Ok(Some(f)) => f,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("files: {e}; try --help");
            return ExitCode::from(2);
        }
    };
    let mut b = FileServer::builder(&flags.root).listing(flags.listing);
    if let Some(secs) = flags.max_age {
        b = b.max_age(secs);
    }
    let files = match b.build() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("files: {e}");
            return ExitCode::from(2);
        }
    };
    let builder = brisk::Server::builder().handler(move |ctx| files.serve(ctx));
    args::serve("files", builder, &flags.args)
}

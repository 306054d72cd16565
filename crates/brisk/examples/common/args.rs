//! Command-line handling shared by the examples (included with
//! `#[path = "common/args.rs"] mod args;`; a directory without `main.rs`,
//! so cargo does not take it for an example of its own).
//!
//! Flags: `--port N` (`-p`; default 8080, 0 = any free port), `--loops N`
//! (`-l`; default: one event loop per core) and `--backend epoll|uring`
//! (`-b`; default epoll; io_uring falls back to epoll with a log line where
//! it is unavailable, or where TLS is on) where the example allows them,
//! `--help` (`-h`), and `--tls-cert FILE --tls-key FILE` (PEM) to serve
//! HTTPS, which needs the `tls` feature (`--features tls`; without it the
//! flags are refused with a message saying so). A value may also follow
//! `=` (`--port=8080`). A bad flag is reported on stderr with exit status 2.

use std::process::ExitCode;

/// The parsed flags.
pub struct Args {
    /// Port on 127.0.0.1 to listen on (0: any free port).
    pub port: u16,
    /// Event loops; `None`: the server's default (one per core).
    pub loops: Option<usize>,
    /// The event loops' backend (epoll unless `--backend uring`).
    pub backend: brisk::Backend,
    /// `--tls-cert` and `--tls-key`: serve HTTPS with this certificate
    /// chain and key (PEM files).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Parses the process's arguments for the example `name`. `loops` says
/// whether `--loops` is accepted. Prints the usage and exits 0 on `--help`;
/// prints the error and exits 2 on a bad flag.
pub fn parse(name: &str, loops: bool) -> Args {
    match parse_from(std::env::args().skip(1), loops) {
        Ok(Some(args)) => args,
        Ok(None) => {
            let loops_usage = if loops {
                " [--loops N (default: cores)] [--backend epoll|uring (default epoll)]"
            } else {
                ""
            };
            println!(
                "usage: {name} [--port N (default 8080, 0 = any)]{loops_usage} \
                 [--tls-cert FILE --tls-key FILE (HTTPS; needs --features tls)]"
            );
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("{name}: {e}; try --help");
            std::process::exit(2);
        }
    }
}

/// Parses `args` (without the program name); `Ok(None)` for `--help`.
fn parse_from(
    args: impl IntoIterator<Item = String>,
    loops_allowed: bool,
) -> Result<Option<Args>, String> {
    let mut out = Args {
        port: 8080,
        loops: None,
        backend: brisk::Backend::Epoll,
        tls: None,
    };
    let (mut cert, mut key) = (None, None);
    let mut args = args.into_iter();
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
        match flag.as_str() {
            "--port" | "-p" => {
                let v = value("--port")?;
                out.port = v.parse().map_err(|e| format!("--port {v}: {e}"))?;
            }
            "--loops" | "-l" if loops_allowed => {
                let v = value("--loops")?;
                out.loops = Some(v.parse().map_err(|e| format!("--loops {v}: {e}"))?);
            }
            "--backend" | "-b" if loops_allowed => {
                let v = value("--backend")?;
                out.backend = v.parse().map_err(|e| format!("--backend: {e}"))?;
            }
            "--tls-cert" => cert = Some(std::path::PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => key = Some(std::path::PathBuf::from(value("--tls-key")?)),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    out.tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err("--tls-cert needs --tls-key too".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert too".into()),
    };
    Ok(Some(out))
}

/// Builds `builder` (with `args.loops` applied), binds 127.0.0.1:`args.port`
/// (or takes the listening sockets of systemd socket activation, when the
/// process was started that way), prints `listening on http://ADDR` for
/// each (followed by ` (socket activation)` for inherited ones) and serves until SIGTERM or SIGINT,
/// which drain it gracefully (requests in flight are answered) before it
/// exits with status 0. Errors go to stderr: exit status 2 for a bad
/// configuration, 1 for a failure to bind or serve.
pub fn serve(name: &str, mut builder: brisk::ServerBuilder, args: &Args) -> ExitCode {
    if let Some(n) = args.loops {
        builder = builder.loops(n);
    }
    builder = builder.backend(args.backend);
    let scheme = match with_tls(name, builder, args) {
        Ok((b, scheme)) => {
            builder = b;
            scheme
        }
        Err(code) => return code,
    };
    // `bind` + `serve_listeners` (to print the address before serving)
    // leave signals alone unless asked: ask, as `listen_and_serve` would.
    builder = builder.handle_signals(true);
    let server = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    // Started by systemd (socket activation) or `systemd-socket-activate`:
    // serve the sockets it passed, and `--port` does not apply.
    let (listeners, origin) = match brisk::server::activation::listeners() {
        Ok(Some(inherited)) => (inherited, " (socket activation)"),
        Ok(None) => match server.bind(("127.0.0.1", args.port)) {
            Ok(l) => (l, ""),
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in listeners.iter().filter_map(|l| l.local_addr().ok()) {
        println!("listening on {scheme}://{addr}{origin}");
    }
    match server.serve_listeners(listeners) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Applies `--tls-cert`/`--tls-key`: the builder and the URL scheme, or
/// the exit code for a certificate that cannot be used or a build without
/// the `tls` feature.
#[cfg(feature = "tls")]
fn with_tls(
    name: &str,
    builder: brisk::ServerBuilder,
    args: &Args,
) -> Result<(brisk::ServerBuilder, &'static str), ExitCode> {
    let Some((cert, key)) = &args.tls else {
        return Ok((builder, "http"));
    };
    match brisk::TlsConfig::from_pem_files(cert, key) {
        Ok(tls) => Ok((builder.tls(tls), "https")),
        Err(e) => {
            eprintln!("{name}: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Without the `tls` feature: `--tls-cert` is refused, saying how to get it.
#[cfg(not(feature = "tls"))]
fn with_tls(
    name: &str,
    builder: brisk::ServerBuilder,
    args: &Args,
) -> Result<(brisk::ServerBuilder, &'static str), ExitCode> {
    if args.tls.is_some() {
        eprintln!(
            "{name}: --tls-cert/--tls-key need HTTPS support, which this build leaves out; \
             rebuild with `--features tls` (e.g. cargo run -p brisk --features tls --example {name} -- ...)"
        );
        return Err(ExitCode::from(2));
    }
    Ok((builder, "http"))
}

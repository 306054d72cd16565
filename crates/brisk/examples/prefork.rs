//! Multi-process hello world: the master binds, re-executes itself once per
//! child (`--children N`, default: cores), and each child serves with one
//! event loop. Stop it with Ctrl-C (SIGINT) or SIGTERM: every child answers
//! the requests it is handling, then exits, and the master with it.
//!
//! `cargo run --release -p brisk --example prefork -- --port 8080 --children 2`
//! (`--reuseport`: one `SO_REUSEPORT` socket per child instead of one shared).
//!
//! `/sleep?ms=N` answers after sleeping N ms (at most 10 000; 400 if N is
//! not a number), to watch a shutdown let a slow request finish:
//! `curl 127.0.0.1:8080/sleep?ms=3000 & sleep 1; kill -TERM <master pid>`.
//! Each child prints `child PID listening on http://ADDR` when it starts
//! (with `--port 0`, ADDR has the port the master picked) and
//! `child PID: sleeping N ms` when a `/sleep` request starts. `/whoami`
//! answers `child PID master PID`.
//!
//! **Binary upgrade:** `kill -USR2 <master pid>` starts a new master from
//! the same path (a rebuilt binary is picked up) with the same arguments;
//! it takes over the listening socket, starts its children and reports
//! ready, then the old master's children finish their requests and exit,
//! and the old master with them. The new master prints
//! `listening on http://…` (or `master PID: …`) like the first one.
//!
//! `--tls-cert FILE --tls-key FILE` (PEM): the children serve HTTPS (needs
//! `--features tls`; without it the flags are refused).

use std::fmt::Write as _;
use std::time::Duration;

/// The longest `/sleep` allowed, in milliseconds.
const MAX_SLEEP_MS: u64 = 10_000;

fn main() {
    let mut port = 8080u16;
    let mut children = None;
    let mut reuseport = false;
    let (mut cert, mut key) = (None::<String>, None::<String>);
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
            "--reuseport" => reuseport = true,
            "--tls-cert" => cert = Some(args.next().expect("--tls-cert FILE")),
            "--tls-key" => key = Some(args.next().expect("--tls-key FILE")),
            other => {
                eprintln!(
                    "prefork: unknown argument {other:?} \
                     (flags: --port N --children N --reuseport --tls-cert FILE --tls-key FILE)"
                );
                std::process::exit(2);
            }
        }
    }
    let builder = brisk::Server::builder().handler(|ctx| {
        if ctx.path() == b"/sleep" {
            let ms = ctx
                .query_arg(b"ms")
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
            let Some(ms) = ms else {
                ctx.error("ms must be a number of milliseconds", 400);
                return;
            };
            let ms = ms.min(MAX_SLEEP_MS);
            say(format_args!(
                "child {}: sleeping {ms} ms",
                std::process::id()
            ));
            std::thread::sleep(Duration::from_millis(ms));
            let _ = write!(ctx, "slept {ms} ms in process {}", std::process::id());
        } else if ctx.path() == b"/whoami" {
            // Which child answered, and which master started it.
            let _ = write!(
                ctx,
                "child {} master {}",
                std::process::id(),
                std::os::unix::process::parent_id()
            );
        } else {
            let _ = write!(ctx, "Hello from process {}", std::process::id());
        }
    });
    let tls = match (cert, key) {
        (Some(c), Some(k)) if cfg!(feature = "tls") => Some((c, k)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            eprintln!(
                "prefork: --tls-cert/--tls-key need HTTPS support, which this build leaves out; \
                 rebuild with `--features tls`"
            );
            std::process::exit(2);
        }
        _ => {
            eprintln!("prefork: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut p = brisk::prefork_server(builder).reuseport(reuseport);
    if let Some(n) = children {
        p = p.children(n);
    }
    if brisk::prefork::is_child() {
        // The master passes the address it bound (its port too, with
        // `--port 0`); the listener already accepts into its queue.
        if let Ok(addr) = std::env::var(brisk::prefork::ADDR_ENV) {
            say(format_args!(
                "child {} listening on {scheme}://{addr}",
                std::process::id()
            ));
        }
    } else if std::env::var_os("LISTEN_FDS").is_some() {
        // Socket activation or a binary upgrade: the master serves the
        // socket it was given (if it is for this process) instead of
        // binding; the children print its address.
        println!(
            "master {}: the children print the address they serve",
            std::process::id()
        );
    } else if port == 0 {
        println!(
            "master {}: the children print the port they listen on",
            std::process::id()
        );
    } else {
        println!(
            "listening on {scheme}://127.0.0.1:{port} (pid {})",
            std::process::id()
        );
    }
    let addr = format!("127.0.0.1:{port}");
    let served = match &tls {
        // Prefork's order (fasthttp's): the key before the certificate.
        Some((cert, key)) => p.listen_and_serve_tls(&addr, key, cert),
        None => p.listen_and_serve(&addr),
    };
    if let Err(e) = served {
        eprintln!("prefork: {e}");
        std::process::exit(1);
    }
}

/// Prints a line on stdout, ignoring a closed stdout (a child must not
/// panic because whoever started the master stopped reading).
fn say(line: std::fmt::Arguments<'_>) {
    let _ = std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!("{line}\n"));
}

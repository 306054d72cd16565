//! The `tls` scenario of `cargo xtask bench server`: HTTPS against brisk
//! (the `hello` example built with `--features tls`, one loop) and nginx
//! (one worker, TLS on the same certificate), loaded by wrk (the only
//! generator here that speaks TLS), pinned and confined like the matrix:
//!
//! Servers: brisk, nginx, and hyper over tokio-rustls (benches/peers/
//! hyper-tls, built here; not in the shared peers kit).
//!
//! - keep-alive: `--connections` connections, requests back to back;
//! - handshakes: `Connection: close`, so every request is a new connection
//!   and a full handshake (wrk does not resume sessions);
//! - stalled handshakes (abuse): `STALLED` connections that sent half a
//!   ClientHello stay open while the keep-alive load runs again; then the
//!   bench waits `STALL_WAIT` and counts how many the server has closed
//!   (brisk's handshake timeout is 10 s, nginx's `client_header_timeout`
//!   60 s).
//!
//! Writes `target/bench/tls.md` and prints it. A peer that is missing
//! (nginx, wrk, openssl for the certificate) becomes a note, not a failure.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::load::{Outcome, parse_wrk};
use super::procs::{Cgroup, Server, free_port};
use super::server::find_program;
use crate::flags::ServerOptions;
use crate::{cargo, run_cmd, show, target_dir};

/// Half-finished handshakes held open during the abuse run.
const STALLED: usize = 500;
/// How long after the abuse run the bench counts closed stalled handshakes.
const STALL_WAIT: Duration = Duration::from_secs(12);
/// The start of a ClientHello record announcing 512 bytes, and a few of
/// them: the server waits for the rest.
pub(crate) const HALF_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Where the TLS servers run (from the matrix's setup).
pub(crate) struct Place<'a> {
    pub(crate) logs: &'a Path,
    pub(crate) server_cpu: Option<usize>,
    pub(crate) load_cpu: Option<usize>,
    pub(crate) cgroup: Option<&'a Cgroup>,
}

/// One server's TLS numbers, or why there are none.
struct Row {
    name: &'static str,
    result: Result<Numbers, String>,
}

struct Numbers {
    keepalive: Outcome,
    keepalive_cpu_us: f64,
    handshakes: Outcome,
    handshake_cpu_us: f64,
    under_stall: Outcome,
    stalled_closed: usize,
}

/// Runs the TLS scenario; returns the report's markdown.
pub(crate) fn run(opts: &ServerOptions, place: &Place<'_>) -> Result<String> {
    let secs = opts.duration.round().max(1.0) as u64;
    let mut md = String::from("## TLS (cargo xtask bench server --scenarios tls)\n\n");
    let _ = writeln!(
        md,
        "wrk -t1 -c{} -d{secs}s over HTTPS (TLS 1.3, ECDSA P-256 certificate made by openssl); \
         {}.\n",
        opts.connections,
        if opts.rounds > 1 {
            format!(
                "keep-alive and handshake runs alternate {} times per server, each cell the \
                 median round",
                opts.rounds
            )
        } else {
            "one measurement per server".to_owned()
        }
    );
    if find_program("wrk").is_none() {
        md.push_str("Not run: wrk is not installed (shared/peers/setup.sh installs it).\n");
        return Ok(md);
    }
    let dir = place.logs.join("tls");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key) = match certificate(&dir) {
        Ok(files) => files,
        Err(e) => {
            let _ = writeln!(md, "Not run: no certificate ({e:#}).");
            return Ok(md);
        }
    };

    let mut rows = Vec::new();
    let brisk = build_brisk(&dir);
    rows.push(Row {
        name: "brisk",
        result: match brisk {
            Ok(exe) => measure(opts, place, "brisk-tls", |port| {
                let mut cmd = Command::new(&exe);
                cmd.args(["--port", &port.to_string(), "--loops", "1", "--tls-cert"])
                    .arg(&cert)
                    .arg("--tls-key")
                    .arg(&key);
                Ok(cmd)
            }),
            Err(e) => Err(format!("not built: {e:#}")),
        },
    });
    rows.push(Row {
        name: "nginx",
        result: match find_program("nginx") {
            Some(nginx) => measure(opts, place, "nginx-tls", |port| {
                let prefix = dir.join("nginx");
                fs::create_dir_all(&prefix)?;
                let conf = prefix.join("nginx.conf");
                fs::write(&conf, nginx_config(port, &cert, &key))?;
                let mut cmd = Command::new(nginx);
                cmd.arg("-p")
                    .arg(format!("{}/", prefix.display()))
                    .args(["-e", "stderr", "-c"])
                    .arg(&conf);
                Ok(cmd)
            }),
            None => Err("nginx is not installed".to_owned()),
        },
    });
    rows.push(Row {
        name: "hyper + tokio-rustls",
        result: match build_hyper_tls(&dir) {
            Ok(exe) => measure(opts, place, "hyper-tls", |port| {
                let mut cmd = Command::new(&exe);
                cmd.args(["--port", &port.to_string(), "--tls-cert"])
                    .arg(&cert)
                    .arg("--tls-key")
                    .arg(&key);
                Ok(cmd)
            }),
            Err(e) => Err(format!("not built: {e:#}")),
        },
    });
    md.push_str(&table(opts, &rows));
    md.push_str(
        "\nhyper + tokio-rustls: benches/peers/hyper-tls (hyper 1, tokio current-thread \
         runtime, tokio-rustls with ring, a 10 s handshake timeout as brisk's). \
         CPU µs: the server's CPU time (user + system) per request or handshake.\n",
    );
    Ok(md)
}

/// Builds the hyper + tokio-rustls peer (benches/peers/hyper-tls, a crate
/// of its own outside the workspace) into its own target directory and
/// copies it to `dir`.
fn build_hyper_tls(dir: &Path) -> Result<PathBuf> {
    let manifest = crate::project_root().join("benches/peers/hyper-tls/Cargo.toml");
    let target = target_dir()?.join("peers/hyper-tls");
    run_cmd(
        cargo()
            .args(["build", "--release", "--locked", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target),
    )?;
    let built = target.join("release/hyper-tls-peer");
    let exe = dir.join("hyper-tls-peer");
    fs::copy(&built, &exe).with_context(|| format!("copying {}", built.display()))?;
    Ok(exe)
}

/// `cargo build --release -p brisk --features tls --example hello`, copied
/// aside (the plain matrix uses the same output path without the feature).
pub(crate) fn build_brisk(dir: &Path) -> Result<PathBuf> {
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "brisk",
        "--features",
        "tls",
        "--example",
        "hello",
    ]))?;
    let built = target_dir()?.join("release/examples/hello");
    let exe = dir.join("hello-tls");
    fs::copy(&built, &exe).with_context(|| format!("copying {}", built.display()))?;
    Ok(exe)
}

/// A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1.
pub(crate) fn certificate(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if find_program("openssl").is_none() {
        bail!("openssl is not installed");
    }
    run_cmd(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )?;
    Ok((cert, key))
}

/// nginx serving the hello body over TLS, one worker, no logs.
fn nginx_config(port: u16, cert: &Path, key: &Path) -> String {
    format!(
        "worker_processes 1;\ndaemon off;\npid nginx.pid;\nerror_log stderr warn;\n\
         worker_rlimit_nofile 8192;\n\
         events {{ worker_connections 4096; use epoll; }}\n\
         http {{\n  access_log off;\n  server_tokens off;\n  keepalive_requests 10000000;\n\
         \x20 server {{\n    listen 127.0.0.1:{port} ssl backlog=4096;\n\
         \x20   ssl_certificate {};\n    ssl_certificate_key {};\n\
         \x20   ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20   location / {{ default_type text/plain; return 200 \"Hello, World!\"; }}\n  }}\n}}\n",
        cert.display(),
        key.display()
    )
}

/// Starts one server and takes its three measurements.
fn measure(
    opts: &ServerOptions,
    place: &Place<'_>,
    name: &str,
    command: impl FnOnce(u16) -> Result<Command>,
) -> Result<Numbers, String> {
    let go = || -> Result<Numbers> {
        let port = free_port()?;
        let log = place.logs.join(format!("{name}.log"));
        let mut server = Server::start(name, command(port)?, &log, place.server_cpu, place.cgroup)?;
        server.wait_ready(port, Duration::from_secs(10))?;
        if let Some(cg) = place.cgroup {
            server.confine_tree(cg)?;
        }
        let secs = opts.duration.round().max(1.0) as u64;
        if opts.warmup > 0.0 {
            wrk(
                place,
                port,
                opts.connections,
                opts.warmup.round().max(1.0) as u64,
                false,
            )
            .context("warm-up")?;
        }
        // `--rounds`: keep-alive and handshakes alternate, each the median
        // round (by requests/s, with that round's CPU time).
        let (mut ka, mut hs) = (Vec::new(), Vec::new());
        for _ in 0..opts.rounds.max(1) {
            ka.push(timed(&server, || {
                wrk(place, port, opts.connections, secs, false)
            })?);
            hs.push(timed(&server, || {
                wrk(place, port, opts.connections, secs, true)
            })?);
        }
        let (keepalive, keepalive_cpu_us) = median_round(ka);
        let (handshakes, handshake_cpu_us) = median_round(hs);
        let stalled = stall(port)?;
        let under_stall = wrk(place, port, opts.connections, secs, false)?;
        thread::sleep(STALL_WAIT);
        let stalled_closed = count_closed(stalled);
        if !server.alive() {
            bail!("the server died during the run");
        }
        Ok(Numbers {
            keepalive,
            keepalive_cpu_us,
            handshakes,
            handshake_cpu_us,
            under_stall,
            stalled_closed,
        })
    };
    go().map_err(|e| {
        eprintln!("tls bench: {name}: {e:#}");
        format!("{e:#}").lines().next().unwrap_or("").to_owned()
    })
}

/// The median of `rounds` by requests/s (the upper one of an even count),
/// with that round's CPU µs. `rounds` is not empty.
fn median_round(mut rounds: Vec<(Outcome, f64)>) -> (Outcome, f64) {
    rounds.sort_by(|a, b| a.0.rps.total_cmp(&b.0.rps));
    let mid = rounds.len() / 2;
    rounds.swap_remove(mid)
}

/// Runs `load` and returns its outcome with the server's CPU µs per request.
fn timed(server: &Server, load: impl FnOnce() -> Result<Outcome>) -> Result<(Outcome, f64)> {
    let before = server.cpu_time()?;
    let out = load()?;
    let cpu = server.cpu_time()?.saturating_sub(before);
    let per = cpu.as_secs_f64() * 1e6 / out.requests.max(1) as f64;
    Ok((out, per))
}

/// wrk against `https://127.0.0.1:port/`, pinned to the load CPU.
fn wrk(place: &Place<'_>, port: u16, conns: usize, secs: u64, close: bool) -> Result<Outcome> {
    let mut cmd = match place.load_cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(format!("https://127.0.0.1:{port}/"));
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(&cmd),
            out.status,
            stdout.trim()
        );
    }
    parse_wrk(&stdout).with_context(|| format!("reading the report of `{}`", show(&cmd)))
}

/// Opens `STALLED` connections that each send half a ClientHello.
fn stall(port: u16) -> Result<Vec<TcpStream>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut out = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut s = TcpStream::connect(addr).context("a stalled handshake's connect")?;
        s.write_all(HALF_HELLO)?;
        s.set_nonblocking(true)?;
        out.push(s);
    }
    Ok(out)
}

/// How many of `conns` the server has closed (EOF or reset).
fn count_closed(conns: Vec<TcpStream>) -> usize {
    let mut closed = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    for mut s in conns {
        let mut b = [0u8; 64];
        let gone = match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        };
        closed += usize::from(gone);
        if Instant::now() > deadline {
            break;
        }
    }
    closed
}

fn table(opts: &ServerOptions, rows: &[Row]) -> String {
    let mut md = format!(
        "| server | keep-alive req/s | p99 | CPU µs/req | handshakes/s | CPU µs/handshake \
         | keep-alive req/s with {STALLED} stalled handshakes | stalled closed after {} s |\n\
         |---|---|---|---|---|---|---|---|\n",
        opts.duration.round() as u64 + STALL_WAIT.as_secs()
    );
    for r in rows {
        match &r.result {
            Ok(n) => {
                let p99 = n
                    .keepalive
                    .p99_ns
                    .map_or("–".to_owned(), |ns| format!("{:.2} ms", ns as f64 / 1e6));
                let errors = |o: &Outcome| {
                    if o.errors > 0 {
                        format!(" ({} errors)", o.errors)
                    } else {
                        String::new()
                    }
                };
                let _ = writeln!(
                    md,
                    "| {} | {:.0}{} | {p99} | {:.1} | {:.0}{} | {:.1} | {:.0}{} | {}/{STALLED} |",
                    r.name,
                    n.keepalive.rps,
                    errors(&n.keepalive),
                    n.keepalive_cpu_us,
                    n.handshakes.rps,
                    errors(&n.handshakes),
                    n.handshake_cpu_us,
                    n.under_stall.rps,
                    errors(&n.under_stall),
                    n.stalled_closed,
                );
            }
            Err(why) => {
                let _ = writeln!(md, "| {} | {why} | | | | | | |", r.name);
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_config_listens_with_tls_on_the_port() {
        let c = nginx_config(18443, Path::new("/c.pem"), Path::new("/k.pem"));
        assert!(
            c.contains("listen 127.0.0.1:18443 ssl backlog=4096;"),
            "{c}"
        );
        assert!(c.contains("ssl_certificate /c.pem;"), "{c}");
        assert!(c.contains("ssl_certificate_key /k.pem;"), "{c}");
        assert_eq!(c.matches('{').count(), c.matches('}').count(), "{c}");
    }
}

//! `cargo xtask bench abuse --tls`: the slowloris and fd scenarios against
//! brisk's TLS port (the `hello` example built with `--features tls`, one
//! loop, on a self-signed certificate made by openssl).
//!
//! Two rows, each a fresh server per scenario:
//! - `brisk (TLS)`: slowloris clients finish the handshake, then trickle an
//!   endless request head at 1 byte/s inside TLS records; the fd flood's
//!   idle connections send nothing (a handshake that never starts);
//! - `brisk (TLS, stalled hello)`: slowloris clients send the first bytes
//!   of a ClientHello, then trickle the rest at 1 byte/s (a handshake that
//!   never finishes); the fd flood's idle connections send half a
//!   ClientHello and stall.
//!
//! The slow and idle connections are held by this process (rustls client,
//! ring provider); the normal client is wrk over HTTPS (one connection,
//! `Connection: close`, so one full handshake per request, a request every
//! 10 ms), pinned to the client CPU. The certificate is not verified by the
//! slow clients (it is self-signed and made for this run).

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use super::{After, Mem, Normal, Options, Outcome, Row, Scenario, fd_count, tree_kib};
use crate::bench::load::wrk_duration_ns;
use crate::bench::procs::{Server, cpu_count, free_port, raise_nofile_limit};
use crate::bench::server::find_program;
use crate::bench::tls::{HALF_HELLO, build_brisk, certificate};
use crate::show;

/// Names of the two rows (see the module docs).
const HANDSHAKEN: &str = "brisk (TLS)";
const STALLED_HELLO: &str = "brisk (TLS, stalled hello)";

/// How the slow and idle connections of a row behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Handshake done, then an endless head (slowloris); nothing sent (fd).
    Handshaken,
    /// Half a ClientHello, then (slowloris) its rest at 1 byte/s.
    StalledHello,
}

impl Flavour {
    fn row_name(self) -> &'static str {
        match self {
            Flavour::Handshaken => HANDSHAKEN,
            Flavour::StalledHello => STALLED_HELLO,
        }
    }
}

/// Where things run and with what.
struct Setup<'a> {
    opts: &'a Options,
    exe: &'a Path,
    cert: &'a Path,
    key: &'a Path,
    logs: &'a Path,
    client: Arc<ClientConfig>,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
}

/// Runs the TLS rows; returns them for the report.
pub(super) fn rows(opts: &Options, logs: &Path) -> Result<Vec<Row>> {
    if find_program("wrk").is_none() {
        bail!("--tls needs wrk (the TLS normal client); shared/peers/setup.sh installs it");
    }
    let dir = logs.join("abuse-tls");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key) = certificate(&dir).context("making the certificate")?;
    let exe = build_brisk(&dir).context("building hello with --features tls")?;
    let (server_cpu, client_cpu) = if cpu_count() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    // The fd flood holds fd_limit + 1000 connections here.
    raise_nofile_limit((opts.fd_limit + 1000).max(opts.clients as u64) + 256);
    let setup = Setup {
        opts,
        exe: &exe,
        cert: &cert,
        key: &key,
        logs: &dir,
        client: client_config()?,
        server_cpu,
        client_cpu,
    };
    let mut rows = Vec::new();
    for flavour in [Flavour::Handshaken, Flavour::StalledHello] {
        let mut row = Row {
            name: flavour.row_name(),
            results: Vec::new(),
        };
        for &scenario in &opts.scenarios {
            println!("# {} {}", row.name, scenario.as_str());
            let outcome = match scenario {
                Scenario::Slowloris => slowloris(&setup, flavour),
                Scenario::Fd => fd(&setup, flavour),
                other => Err(anyhow::anyhow!(
                    "scenario {} is not run over TLS",
                    other.as_str()
                )),
            }
            .unwrap_or_else(|e| {
                eprintln!("abuse: {} {}: {e:#}", row.name, scenario.as_str());
                Outcome::Failed(super::first_line(&format!("{e:#}")))
            });
            println!("#   {}", outcome.brief());
            row.results.push((scenario, outcome));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The report's paragraph on what `--tls` ran.
pub(super) fn intro(opts: &Options) -> String {
    format!(
        "Over TLS (`--tls`): brisk's `hello` built with `--features tls`, one loop, self-signed ECDSA \
         P-256 certificate (openssl), TLS 1.3. The normal client is wrk (`-t1 -c1`, `Connection: close`: \
         a full handshake per request, one every 10 ms, 2 s timeout) for the same time; its p50/p99 \
         include the handshake. Row `{HANDSHAKEN}`: the {0} slow clients finish the handshake (rustls) \
         and then trickle an endless head at 1 byte/s; the fd flood's idle connections send nothing. \
         Row `{STALLED_HELLO}`: the {0} slow clients send 11 bytes of a ClientHello and then its rest \
         at 1 byte/s (a handshake that never finishes); the fd flood's idle connections send half a \
         ClientHello and stall. `alert` is a TLS alert record from the server; \
         \"cut at\" counts from the first slow client's connect (the handshakes take a while). Server fds: the \
         descriptors the server holds before the flood and 3 s after the idle connections closed.\n",
        opts.clients
    )
}

// ------------------------------------------------------------- scenarios

fn start(
    setup: &Setup,
    flavour: Flavour,
    scenario: &str,
    fd_limit: Option<u64>,
) -> Result<(Server, u16)> {
    let port = free_port()?;
    let mut cmd = match fd_limit {
        Some(limit) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={limit}:{limit}"))
                .arg("--")
                .arg(setup.exe);
            c
        }
        None => Command::new(setup.exe),
    };
    cmd.args(["--port", &port.to_string(), "--loops", "1", "--tls-cert"])
        .arg(setup.cert)
        .arg("--tls-key")
        .arg(setup.key);
    let tag = match flavour {
        Flavour::Handshaken => "handshaken",
        Flavour::StalledHello => "stalled-hello",
    };
    let log = setup.logs.join(format!("abuse-tls-{tag}-{scenario}.log"));
    let mut server = Server::start("brisk-tls", cmd, &log, setup.server_cpu, None)?;
    server.wait_ready(port, Duration::from_secs(10))?;
    for _ in 0..super::WARMUP_REQUESTS {
        tls_get(&setup.client, port, Duration::from_secs(2)).context("warm-up request")?;
    }
    Ok((server, port))
}

/// Memory before a client run (resetting the peak), like the plain bench.
fn mem_before(server: &Server) -> Result<Mem> {
    let pids = server.tree();
    for &pid in &pids {
        let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    let before = tree_kib(&pids, "VmRSS").context("reading the server's RSS")?;
    Ok(Mem {
        before,
        after: None,
        peak: before,
        killed: false,
        cpu_secs: server.cpu_time().ok().map(|d| d.as_secs_f64()),
    })
}

/// Memory after (cpu_secs turns from the start value into the run's use).
fn mem_after(server: &mut Server, mem: &mut Mem) {
    let start_cpu = mem.cpu_secs.take();
    if !server.alive() {
        return;
    }
    let pids = server.tree();
    mem.after = tree_kib(&pids, "VmRSS");
    for v in [tree_kib(&pids, "VmHWM"), mem.after].into_iter().flatten() {
        mem.peak = mem.peak.max(v);
    }
    if let (Some(b), Ok(a)) = (start_cpu, server.cpu_time()) {
        mem.cpu_secs = Some((a.as_secs_f64() - b).max(0.0));
    }
}

fn slowloris(setup: &Setup, flavour: Flavour) -> Result<Outcome> {
    let opts = setup.opts;
    let (mut server, port) = start(setup, flavour, "slowloris", None)?;
    let mut mem = mem_before(&server)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let slow = {
        let stop = Arc::clone(&stop);
        let config = Arc::clone(&setup.client);
        let clients = opts.clients;
        thread::spawn(move || slow_clients(flavour, &config, port, clients, &stop, &ready_tx))
    };
    // Connecting (and handshaking) 2000 clients takes a few seconds.
    let _ = ready_rx.recv_timeout(Duration::from_secs(120));
    let normal = normal_client(setup, &mut server, &mut mem, port, opts.duration);
    stop.store(true, Ordering::Relaxed);
    let report = slow
        .join()
        .map_err(|_| anyhow::anyhow!("the slow clients' thread panicked"))??;
    let normal = normal?;
    mem_after(&mut server, &mut mem);
    let after = after_state(setup, &mut server, port);
    Ok(Outcome::Slowloris {
        connected: report.connected,
        normal,
        answered: report.answered.into_iter().collect(),
        closed: report.closed,
        reset: report.reset,
        open: report.open,
        cut_first: report.cut_first,
        cut_last: report.cut_last,
        mem,
        after,
    })
}

fn fd(setup: &Setup, flavour: Flavour) -> Result<Outcome> {
    let opts = setup.opts;
    let (mut server, port) = start(setup, flavour, "fd", Some(opts.fd_limit))?;
    let fds_before = fd_count(server.pid()).context("counting the server's fds")?;
    let mut mem = mem_before(&server)?;
    let attempts = opts.fd_limit + 1000;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut idle = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..attempts {
        if Instant::now() > deadline {
            break;
        }
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            continue;
        };
        if flavour == Flavour::StalledHello && s.write_all(HALF_HELLO).is_err() {
            continue;
        }
        idle.push(s);
    }
    let established = idle.len() as u64;
    let secs = (opts.duration / 2.0).max(1.0);
    let normal = normal_client(setup, &mut server, &mut mem, port, secs);
    drop(idle);
    thread::sleep(Duration::from_millis(500));
    let after_tries = 20;
    let after_ok = (0..after_tries)
        .filter(|_| tls_get(&setup.client, port, Duration::from_secs(2)).is_ok_and(|s| s == 200))
        .count() as u64;
    // The descriptors back to the baseline: polled for up to 3 s.
    let mut fds_after = None;
    let until = Instant::now() + Duration::from_secs(3);
    while server.alive() {
        fds_after = fd_count(server.pid()).ok();
        if fds_after.is_some_and(|n| n <= fds_before) || Instant::now() > until {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let idle_cpu = if server.alive() {
        thread::sleep(Duration::from_secs(1));
        let before = server.cpu_time().ok();
        thread::sleep(Duration::from_secs(2));
        match (before, server.cpu_time().ok()) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64() / 2.0 * 100.0),
            _ => None,
        }
    } else {
        None
    };
    mem_after(&mut server, &mut mem);
    let normal = normal?;
    let tag = match flavour {
        Flavour::Handshaken => "handshaken",
        Flavour::StalledHello => "stalled-hello",
    };
    let log = setup.logs.join(format!("abuse-tls-{tag}-fd.log"));
    Ok(Outcome::Fd {
        limit: opts.fd_limit,
        attempts,
        established,
        normal,
        after_ok,
        after_tries,
        idle_cpu,
        log_bytes: fs::metadata(&log).map_or(0, |m| m.len()),
        fds: fds_after.map(|a| (fds_before, a)),
        mem,
        after: after_state(setup, &mut server, port),
    })
}

/// Alive and answering a GET over TLS within 5 s.
fn after_state(setup: &Setup, server: &mut Server, port: u16) -> After {
    if !server.alive() {
        return After::Died;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if tls_get(&setup.client, port, Duration::from_secs(2)).is_ok_and(|s| s == 200) {
            return After::Fine;
        }
        if !server.alive() {
            return After::Died;
        }
        thread::sleep(Duration::from_millis(100));
    }
    After::Unresponsive
}

// ------------------------------------------------------- normal client

/// wrk's request-every-10-ms script.
const DELAY_LUA: &str = "function delay()\n  return 10\nend\n";

/// wrk over HTTPS for `secs`, sampling the server's memory every 50 ms.
fn normal_client(
    setup: &Setup,
    server: &mut Server,
    mem: &mut Mem,
    port: u16,
    secs: f64,
) -> Result<Normal> {
    let script = setup.logs.join("delay.lua");
    fs::write(&script, DELAY_LUA).with_context(|| format!("writing {}", script.display()))?;
    let mut cmd = match setup.client_cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    cmd.args([
        "-t1",
        "-c1",
        &format!("-d{}s", secs.round().max(1.0) as u64),
        "--timeout",
        "2s",
        "--latency",
        "-H",
        "Connection: close",
        "-s",
    ])
    .arg(&script)
    .arg(format!("https://127.0.0.1:{port}/"))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    let limit = Duration::from_secs_f64(secs + 30.0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if server.alive()
            && let Some(rss) = tree_kib(&server.tree(), "VmRSS")
        {
            mem.peak = mem.peak.max(rss);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{}` ran past {limit:?}; killed", show(&cmd));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("`{}` failed ({status}): {}", show(&cmd), out.trim());
    }
    wrk_normal(&out).with_context(|| format!("reading the report of `{}`", show(&cmd)))
}

/// The normal client's numbers from wrk's `--latency` report: attempts are
/// the completed requests plus the socket errors; ok are the completed ones
/// that were not answered with a non-2xx/3xx status.
fn wrk_normal(stdout: &str) -> Result<Normal> {
    let mut completed = None;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let (mut p50, mut p99) = (None, None);
    for line in stdout.lines().map(str::trim) {
        if let Some((n, _)) = line.split_once(" requests in ") {
            completed = n.trim().parse::<u64>().ok();
        } else if let Some(rest) = line.strip_prefix("50%") {
            p50 = wrk_duration_ns(rest.trim()).filter(|&ns| ns > 0);
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = wrk_duration_ns(rest.trim()).filter(|&ns| ns > 0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in rest.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(kind), Some(Ok(n))) =
                    (words.next(), words.next().map(str::parse::<u64>))
                    && n > 0
                {
                    *failures.entry(kind.to_owned()).or_default() += n;
                }
            }
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            let n = rest.trim().parse::<u64>().unwrap_or(0);
            if n > 0 {
                *failures.entry("non-2xx".to_owned()).or_default() += n;
            }
        }
    }
    let completed = completed.context("no `N requests in` line in wrk's output")?;
    let non_2xx = failures.get("non-2xx").copied().unwrap_or(0);
    let socket: u64 = failures
        .iter()
        .filter(|(k, _)| *k != "non-2xx")
        .map(|(_, n)| n)
        .sum();
    let failure = failures
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, _)| k.clone());
    Ok(Normal {
        requests: completed + socket,
        ok: completed.saturating_sub(non_2xx),
        p50_ns: p50,
        p99_ns: p99,
        failure,
    })
}

// --------------------------------------------------------- slow clients

/// What became of the slow clients.
#[derive(Debug, Default)]
struct SlowReport {
    connected: u64,
    answered: BTreeMap<String, u64>,
    closed: u64,
    reset: u64,
    open: u64,
    cut_first: Option<f64>,
    cut_last: Option<f64>,
}

/// One slow connection.
struct Slow {
    sock: TcpStream,
    /// `None` for the stalled-hello flavour (raw bytes).
    tls: Option<ClientConnection>,
    /// Bytes of the ClientHello sent so far (stalled hello).
    sent: usize,
    /// When the server first answered or closed (s after the first connect).
    cut: Option<f64>,
}

/// What a poll of one slow connection found.
enum Seen {
    Open,
    Answered(String),
    Closed,
    Reset,
}

/// Connects `n` slow clients, signals `ready`, trickles one byte per client
/// per second until `stop`, and reports.
fn slow_clients(
    flavour: Flavour,
    config: &Arc<ClientConfig>,
    port: u16,
    n: usize,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<()>,
) -> Result<SlowReport> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(mut sock) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            continue;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
        let conn = match flavour {
            Flavour::Handshaken => {
                let Ok(mut tls) = ClientConnection::new(Arc::clone(config), server_name()) else {
                    continue;
                };
                let mut ok = true;
                while tls.is_handshaking() {
                    if tls.complete_io(&mut sock).is_err() {
                        ok = false;
                        break;
                    }
                }
                if !ok
                    || tls
                        .writer()
                        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                        .is_err()
                    || tls.write_tls(&mut sock).is_err()
                {
                    continue;
                }
                Slow {
                    sock,
                    tls: Some(tls),
                    sent: 0,
                    cut: None,
                }
            }
            Flavour::StalledHello => {
                if sock.write_all(HALF_HELLO).is_err() {
                    continue;
                }
                Slow {
                    sock,
                    tls: None,
                    sent: HALF_HELLO.len(),
                    cut: None,
                }
            }
        };
        if conn.sock.set_nonblocking(true).is_ok() {
            conns.push(conn);
        }
    }
    let mut report = SlowReport {
        connected: conns.len() as u64,
        ..SlowReport::default()
    };
    let _ = ready.send(());
    let mut next_byte = Instant::now() + Duration::from_secs(1);
    let mut outcomes: Vec<Option<Seen>> = (0..conns.len()).map(|_| None).collect();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let write = Instant::now() >= next_byte;
        if write {
            next_byte += Duration::from_secs(1);
        }
        for (c, outcome) in conns.iter_mut().zip(outcomes.iter_mut()) {
            if outcome.is_some() {
                continue;
            }
            if write {
                trickle(c);
            }
            match poll(c) {
                Seen::Open => {}
                seen => {
                    c.cut = Some(t0.elapsed().as_secs_f64());
                    *outcome = Some(seen);
                }
            }
        }
        if stopping {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    for (c, outcome) in conns.iter().zip(outcomes) {
        match outcome {
            None | Some(Seen::Open) => report.open += 1,
            Some(Seen::Answered(what)) => *report.answered.entry(what).or_default() += 1,
            Some(Seen::Closed) => report.closed += 1,
            Some(Seen::Reset) => report.reset += 1,
        }
        if let Some(t) = c.cut {
            report.cut_first = Some(report.cut_first.map_or(t, |f: f64| f.min(t)));
            report.cut_last = Some(report.cut_last.map_or(t, |l: f64| l.max(t)));
        }
    }
    Ok(report)
}

/// One more byte: of the head inside TLS, or of the ClientHello.
fn trickle(c: &mut Slow) {
    match &mut c.tls {
        Some(tls) => {
            if tls.writer().write_all(b"a").is_ok() {
                let _ = tls.write_tls(&mut c.sock);
            }
        }
        None => {
            // Zeros: the ClientHello's random, session id and so on; the
            // record announces 512 bytes, so it never completes in a run.
            if c.sent < 5 + 0x200 && c.sock.write_all(&[0]).is_ok() {
                c.sent += 1;
            }
        }
    }
}

/// Whether the server answered, closed or reset the connection.
fn poll(c: &mut Slow) -> Seen {
    let gone = |e: &std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::Interrupted => None,
        _ => Some(Seen::Reset),
    };
    match &mut c.tls {
        None => {
            let mut buf = [0u8; 256];
            match c.sock.read(&mut buf) {
                Ok(0) => Seen::Closed,
                // A TLS alert record (content type 21).
                Ok(_) if buf[0] == 21 => Seen::Answered("alert".to_owned()),
                Ok(_) => Seen::Answered("garbled".to_owned()),
                Err(e) => gone(&e).unwrap_or(Seen::Open),
            }
        }
        Some(tls) => match tls.read_tls(&mut c.sock) {
            Ok(0) => Seen::Closed,
            Ok(_) => {
                if tls.process_new_packets().is_err() {
                    return Seen::Answered("alert".to_owned());
                }
                let mut text = [0u8; 64];
                match tls.reader().read(&mut text) {
                    Ok(n) if n >= 12 && text.starts_with(b"HTTP/1.") => {
                        Seen::Answered(String::from_utf8_lossy(&text[9..12]).into_owned())
                    }
                    Ok(0) => Seen::Closed,
                    Ok(_) => Seen::Answered("garbled".to_owned()),
                    Err(e) => gone(&e).unwrap_or(Seen::Open),
                }
            }
            Err(e) => gone(&e).unwrap_or(Seen::Open),
        },
    }
}

// ------------------------------------------------------------ TLS client

fn server_name() -> ServerName<'static> {
    ServerName::IpAddress(Ipv4Addr::LOCALHOST.into())
}

/// A rustls client config (ring) that accepts the run's self-signed
/// certificate: signatures are checked, the chain is not.
fn client_config() -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("rustls protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One GET over TLS on a new connection; the response's status code.
fn tls_get(config: &Arc<ClientConfig>, port: u16, timeout: Duration) -> Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sock = TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let conn = ClientConnection::new(Arc::clone(config), server_name())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = tls.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let text = std::str::from_utf8(&buf[..got]).unwrap_or("");
    text.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "\
Running 2s test @ https://127.0.0.1:18123/
  1 threads and 1 connections
  Latency Distribution
     50%    1.50ms
     75%    2.00ms
     90%    3.00ms
     99%   12.00ms
  150 requests in 2.00s, 20.00KB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:     75.00
";

    #[test]
    fn wrk_report_becomes_normal_numbers() {
        let n = wrk_normal(WRK).unwrap();
        assert_eq!((n.requests, n.ok), (155, 146));
        assert_eq!((n.p50_ns, n.p99_ns), (Some(1_500_000), Some(12_000_000)));
        assert_eq!(n.failure.as_deref(), Some("non-2xx"));
        let clean = wrk_normal("  10 requests in 1.00s, 1KB read\n").unwrap();
        assert_eq!((clean.requests, clean.ok, clean.failure), (10, 10, None));
        assert!(wrk_normal("nothing").is_err());
    }

    #[test]
    fn client_config_builds() {
        let c = client_config().unwrap();
        assert!(ClientConnection::new(c, server_name()).is_ok());
    }
}

//! `brisk-abuse`: runs ONE abusive scenario against a loopback HTTP/1.1
//! server and prints one JSON line with what it saw (see `brisk-abuse
//! --help`). `cargo xtask bench abuse` runs it against brisk and the peers,
//! watching the server's memory from outside.
//!
//! Scenarios:
//! - `slowloris`: N clients each trickle an endless head at one byte per
//!   second (spread evenly over the second) while a normal client makes one
//!   request every 10 ms; reports the normal client's success and latency
//!   and when and how the slow clients were cut off.
//! - `pipeliners`: N clients write pipelined GETs as fast as the kernel
//!   takes them and never read (each bounded by `--cap-mib`), with the
//!   normal client alongside; reports bytes the server accepted.
//! - `fd`: opens `--idle` connections (each sends one keep-alive GET and
//!   then stays idle), runs the normal client (a new connection per
//!   request), closes the idle connections and checks the server answers.
//! - `head`: one request whose head carries a `--size`-byte header value;
//!   reports the status the server answered (or reset/close/none).

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::Pid;
use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const USAGE: &str = "\
usage: brisk-abuse SCENARIO [options] ADDR
Runs one abuse scenario against the HTTP/1.1 server at ADDR (loopback only,
e.g. 127.0.0.1:8080) and prints one JSON line.

scenarios:
  slowloris    N clients trickle an endless head at 1 byte/s; a normal client alongside
  pipeliners   N clients write pipelined GETs and never read; a normal client alongside
  fd           --idle idle connections, then a normal client (new connection per request)
  head         one request with a --size byte header value; reports the answer

options:
  --clients N     slow or non-reading clients (default 2000)
  --duration S    seconds the normal client runs (default 10)
  --normal MODE   normal client: `new` (a connection per request, default) or `keepalive`
  --idle N        connections the fd scenario opens (default 2024)
  --size BYTES    header value size for `head` (default 1048576)
  --cap-mib N     most MiB each non-reading client sends (default 32)
  --cpu N         pin this process to CPU N
  -h, --help      this text
";

/// The request every client sends.
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
/// The normal client's request when it opens a connection per request.
const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
/// Time the normal client allows one request (connect to last body byte).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between the normal client's requests (one request per tick).
const NORMAL_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Slowloris,
    Pipeliners,
    Fd,
    Head,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormalMode {
    /// A new connection (with `Connection: close`) per request.
    New,
    /// One keep-alive connection, reopened after a failure.
    KeepAlive,
}

#[derive(Debug, Clone, PartialEq)]
struct Options {
    scenario: Scenario,
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    normal: NormalMode,
    idle: usize,
    size: usize,
    cap_bytes: u64,
    cpu: Option<usize>,
}

#[derive(Debug, PartialEq)]
enum Invocation {
    Help,
    Run(Options),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Invocation, String> {
    let mut scenario = None;
    let mut addr = None;
    let mut clients = 2000;
    let mut duration = Duration::from_secs(10);
    let mut normal = NormalMode::New;
    let mut idle = 2024;
    let mut size = 1 << 20;
    let mut cap_mib: u64 = 32;
    let mut cpu = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "--clients" => clients = num("--clients", &value("--clients")?)?,
            "--duration" => {
                let v = value("--duration")?;
                let secs: f64 = num("--duration", &v)?;
                duration = Duration::try_from_secs_f64(secs)
                    .map_err(|_| format!("--duration: bad value {v:?}"))?;
            }
            "--normal" => {
                normal = match value("--normal")?.as_str() {
                    "new" => NormalMode::New,
                    "keepalive" | "keep-alive" => NormalMode::KeepAlive,
                    other => return Err(format!("--normal: `new` or `keepalive`, not {other:?}")),
                }
            }
            "--idle" => idle = num("--idle", &value("--idle")?)?,
            "--size" => size = num("--size", &value("--size")?)?,
            "--cap-mib" => cap_mib = num("--cap-mib", &value("--cap-mib")?)?,
            "--cpu" => cpu = Some(num("--cpu", &value("--cpu")?)?),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag:?}")),
            word if scenario.is_none() => {
                scenario = Some(match word {
                    "slowloris" => Scenario::Slowloris,
                    "pipeliners" => Scenario::Pipeliners,
                    "fd" => Scenario::Fd,
                    "head" => Scenario::Head,
                    other => return Err(format!("unknown scenario {other:?}")),
                });
            }
            word if addr.is_none() => {
                let a: SocketAddr = word
                    .parse()
                    .map_err(|_| format!("not an IP:PORT address: {word:?}"))?;
                if !a.ip().is_loopback() {
                    return Err(format!("{a} is not a loopback address"));
                }
                addr = Some(a);
            }
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    let scenario = scenario.ok_or("no scenario given; try --help")?;
    let addr = addr.ok_or("no address given; try --help")?;
    if clients == 0 && matches!(scenario, Scenario::Slowloris | Scenario::Pipeliners) {
        return Err("--clients must be at least 1".into());
    }
    Ok(Invocation::Run(Options {
        scenario,
        addr,
        clients,
        duration,
        normal,
        idle,
        size,
        cap_bytes: cap_mib << 20,
        cpu,
    }))
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run(opts)) => opts,
        Err(e) => {
            eprintln!("brisk-abuse: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("brisk-abuse: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> io::Result<Value> {
    if let Some(cpu) = opts.cpu {
        let mut set = CpuSet::new();
        set.set(cpu)?;
        sched_setaffinity(Pid::from_raw(0), &set)?;
    }
    let nofile = raise_nofile()?;
    let mut report = match opts.scenario {
        Scenario::Slowloris => slowloris(opts)?,
        Scenario::Pipeliners => pipeliners(opts)?,
        Scenario::Fd => fd(opts)?,
        Scenario::Head => head(opts)?,
    };
    report["client_nofile"] = json!(nofile);
    Ok(report)
}

/// Raises this process's descriptor limit to its hard limit; returns it.
fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

// ---------------------------------------------------------------- normal client

/// What the normal client saw.
#[derive(Debug, Default)]
struct NormalStats {
    ok: u64,
    failures: BTreeMap<&'static str, u64>,
    /// Latency of each successful request, nanoseconds.
    latencies: Vec<u64>,
}

impl NormalStats {
    fn fail(&mut self, why: &'static str) {
        *self.failures.entry(why).or_default() += 1;
    }

    fn to_json(&self, mode: NormalMode) -> Value {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let failed: u64 = self.failures.values().sum();
        json!({
            "mode": match mode { NormalMode::New => "new", NormalMode::KeepAlive => "keepalive" },
            "requests": self.ok + failed,
            "ok": self.ok,
            "failed": failed,
            "failures": self.failures,
            "p50_ns": percentile(&sorted, 50.0),
            "p99_ns": percentile(&sorted, 99.0),
            "max_ns": sorted.last().copied(),
        })
    }
}

/// The `p`th percentile of sorted values (nearest rank), `None` when empty.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Makes one request per [`NORMAL_TICK`] until `until`.
fn normal_client(addr: SocketAddr, mode: NormalMode, until: Instant) -> NormalStats {
    let mut stats = NormalStats::default();
    let mut kept: Option<TcpStream> = None;
    let mut next = Instant::now();
    while Instant::now() < until {
        let start = Instant::now();
        let result = match mode {
            NormalMode::New => request_new(addr),
            NormalMode::KeepAlive => request_keepalive(addr, &mut kept),
        };
        match result {
            Ok(200) => {
                stats.ok += 1;
                stats.latencies.push(start.elapsed().as_nanos() as u64);
            }
            Ok(_) => stats.fail("status"),
            Err(why) => {
                kept = None;
                stats.fail(why);
            }
        }
        next += NORMAL_TICK;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    stats
}

/// One request on a fresh connection; the status, or why it failed.
fn request_new(addr: SocketAddr) -> Result<u16, &'static str> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
        .map_err(|e| io_failure(&e, "connect"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|_| "connect")?;
    stream
        .write_all(GET_CLOSE)
        .map_err(|e| io_failure(&e, "write"))?;
    read_response(&mut stream, deadline).map(|(status, _)| status)
}

/// One request on the kept connection, opening it first when needed.
fn request_keepalive(addr: SocketAddr, kept: &mut Option<TcpStream>) -> Result<u16, &'static str> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    if kept.is_none() {
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
            .map_err(|e| io_failure(&e, "connect"))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
        *kept = Some(stream);
    }
    let stream = kept.as_mut().ok_or("connect")?;
    stream.write_all(GET).map_err(|e| io_failure(&e, "write"))?;
    let (status, closes) = read_response(stream, deadline)?;
    if closes {
        *kept = None;
    }
    Ok(status)
}

/// Names an I/O failure: `timeout` for timeouts, else `what`.
fn io_failure(e: &io::Error, what: &'static str) -> &'static str {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
        _ => what,
    }
}

/// Reads one response (framed by Content-Length, chunked, or close) before
/// `deadline`; returns its status and whether the server closes after it.
fn read_response(stream: &mut TcpStream, deadline: Instant) -> Result<(u16, bool), &'static str> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let mut framing: Option<(usize, Head)> = None;
    loop {
        if let Some((head_len, head)) = &framing {
            let body = &buf[*head_len..];
            let done = match head.length {
                Some(n) => body.len() >= n,
                None if head.chunked => memchr::memmem::find(body, b"0\r\n\r\n").is_some(),
                None => false, // until close
            };
            if done {
                return Ok((head.status, head.closes));
            }
        } else if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            let head = parse_head(&buf[..end]).ok_or("parse")?;
            framing = Some((end + 4, head));
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout");
        }
        stream.set_read_timeout(Some(left)).map_err(|_| "read")?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return match framing {
                    Some((_, head)) if head.length.is_none() && !head.chunked => {
                        Ok((head.status, true))
                    }
                    _ => Err("closed"),
                };
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(&e, "read")),
        }
    }
}

/// What framing a response head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
    closes: bool,
}

/// Parses a response head (without its final blank line).
fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = status_code(lines.next()?.as_bytes())?;
    let mut parsed = Head {
        status,
        length: None,
        chunked: false,
        closes: false,
    };
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            parsed.length = Some(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            parsed.chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            parsed.closes = value.eq_ignore_ascii_case("close");
        }
    }
    if matches!(status, 100..=199 | 204 | 304) {
        parsed.length = Some(0);
    }
    Some(parsed)
}

/// The status code of a response that starts with `HTTP/1.x NNN`.
fn status_code(start: &[u8]) -> Option<u16> {
    let rest = start.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

// ---------------------------------------------------------------- opening many connections

/// Connections opened at once: the established ones, and counts of the
/// ones that failed or were still pending at the deadline (those are closed).
struct Opened {
    socks: Vec<Socket>,
    failed: usize,
    pending: usize,
}

/// Opens `n` non-blocking connections concurrently, waiting until `deadline`
/// for their handshakes. `rcvbuf` sets a small receive buffer (non-readers).
fn open_many(
    addr: SocketAddr,
    n: usize,
    deadline: Instant,
    rcvbuf: Option<usize>,
) -> io::Result<Opened> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let target = SockAddr::from(addr);
    let mut slots: Vec<Option<Socket>> = Vec::with_capacity(n);
    let mut socks = Vec::with_capacity(n);
    let mut failed = 0;
    let mut waiting = 0;
    for i in 0..n {
        let sock = match Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) {
            Ok(s) => s,
            Err(_) => {
                failed += 1;
                slots.push(None);
                continue;
            }
        };
        if let Some(size) = rcvbuf {
            let _ = sock.set_recv_buffer_size(size);
        }
        sock.set_nonblocking(true)?;
        let _ = sock.set_tcp_nodelay(true);
        match sock.connect(&target) {
            Ok(()) => {
                socks.push(sock);
                slots.push(None);
            }
            Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {
                epoll.add(&sock, EpollEvent::new(EpollFlags::EPOLLOUT, i as u64))?;
                slots.push(Some(sock));
                waiting += 1;
            }
            Err(_) => {
                failed += 1;
                slots.push(None);
            }
        }
    }
    let mut events = vec![EpollEvent::empty(); 1024];
    while waiting > 0 {
        let Some(got) = wait_until(&epoll, &mut events, deadline)? else {
            break;
        };
        for event in &events[..got] {
            let i = event.data() as usize;
            let Some(sock) = slots[i].take() else {
                continue;
            };
            waiting -= 1;
            let _ = epoll.delete(&sock);
            match sock.take_error() {
                Ok(None) => socks.push(sock),
                _ => failed += 1,
            }
        }
    }
    Ok(Opened {
        socks,
        failed,
        pending: waiting,
    })
}

/// Seconds with millisecond precision.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------- slowloris

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlowEnd {
    Open,
    /// The server answered this status (and then closed or not).
    Answered(u16),
    /// Orderly close without an answer.
    Closed,
    /// Connection reset.
    Reset,
}

struct Slow {
    sock: Socket,
    sent: usize,
    end: SlowEnd,
    /// When the end was seen, since this client's first byte.
    at: Duration,
    first_byte: Option<Instant>,
}

fn slowloris(opts: &Options) -> io::Result<Value> {
    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Slow: ";
    let open_started = Instant::now();
    let opened = open_many(
        opts.addr,
        opts.clients,
        open_started + Duration::from_secs(5),
        None,
    )?;
    let open_secs = secs(open_started.elapsed());
    let mut slow: Vec<Slow> = opened
        .socks
        .into_iter()
        .map(|sock| Slow {
            sock,
            sent: 0,
            end: SlowEnd::Open,
            at: Duration::ZERO,
            first_byte: None,
        })
        .collect();
    let start = Instant::now();
    let until = start + opts.duration;
    let (addr, mode) = (opts.addr, opts.normal);
    let normal = thread::spawn(move || normal_client(addr, mode, until));
    // Every 10 ms a hundredth of the clients sends its next byte: each
    // client sends one byte per second, the whole crowd evenly spread.
    let tick = Duration::from_millis(10);
    let mut next = start;
    let mut round = 0usize;
    let mut buf = [0u8; 512];
    while Instant::now() < until {
        let n = slow.len();
        let (from, to) = ((round % 100) * n / 100, (round % 100 + 1) * n / 100);
        for s in &mut slow[from..to] {
            if s.end != SlowEnd::Open {
                continue;
            }
            // Read first: a 408 must be seen before a write could reset it.
            let now = Instant::now();
            let since = |s: &Slow| s.first_byte.map_or(Duration::ZERO, |t| now - t);
            match (&s.sock).read(&mut buf) {
                Ok(0) => {
                    s.end = SlowEnd::Closed;
                    s.at = since(s);
                }
                Ok(k) => {
                    s.end = status_code(&buf[..k]).map_or(SlowEnd::Closed, SlowEnd::Answered);
                    s.at = since(s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    s.end = SlowEnd::Reset;
                    s.at = since(s);
                }
            }
            if s.end != SlowEnd::Open {
                continue;
            }
            let byte = HEAD.get(s.sent).copied().unwrap_or(b'a');
            match (&s.sock).write(&[byte]) {
                Ok(_) => {
                    s.sent += 1;
                    s.first_byte.get_or_insert(now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    s.end = SlowEnd::Reset;
                    s.at = since(s);
                }
            }
        }
        round += 1;
        next += tick;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
    }
    let normal = normal
        .join()
        .map_err(|_| io::Error::other("normal client panicked"))?;
    let mut answered: BTreeMap<String, u64> = BTreeMap::new();
    let (mut closed, mut reset, mut open) = (0u64, 0u64, 0u64);
    let mut cut_at: Vec<u64> = Vec::new();
    for s in &slow {
        match s.end {
            SlowEnd::Open => open += 1,
            SlowEnd::Answered(code) => *answered.entry(code.to_string()).or_default() += 1,
            SlowEnd::Closed => closed += 1,
            SlowEnd::Reset => reset += 1,
        }
        if s.end != SlowEnd::Open {
            cut_at.push(s.at.as_millis() as u64);
        }
    }
    cut_at.sort_unstable();
    let ms = |p: f64| percentile(&cut_at, p).map(|v| v as f64 / 1000.0);
    Ok(json!({
        "scenario": "slowloris",
        "clients": opts.clients,
        "connected": slow.len(),
        "connect_failed": opened.failed,
        "connect_pending": opened.pending,
        "open_secs": open_secs,
        "duration_secs": secs(opts.duration),
        "slow": {
            "answered": answered,
            "closed": closed,
            "reset": reset,
            "open": open,
            "cut_first_secs": ms(0.0),
            "cut_median_secs": ms(50.0),
            "cut_last_secs": ms(100.0),
        },
        "normal": normal.to_json(opts.normal),
    }))
}

// ---------------------------------------------------------------- pipeliners

fn pipeliners(opts: &Options) -> io::Result<Value> {
    // 64 KiB-ish of back-to-back requests; writes resume mid-chunk, and the
    // chunk is whole requests, so the byte stream is always well-formed.
    let chunk = GET.repeat(65536 / GET.len());
    let open_started = Instant::now();
    // A small receive buffer: the responses these clients never read fill
    // it quickly, so the kernel's own memory stays bounded.
    let opened = open_many(
        opts.addr,
        opts.clients,
        open_started + Duration::from_secs(5),
        Some(16 * 1024),
    )?;
    let open_secs = secs(open_started.elapsed());
    let socks = opened.socks;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    for (i, sock) in socks.iter().enumerate() {
        epoll.add(
            sock,
            EpollEvent::new(EpollFlags::EPOLLOUT | EpollFlags::EPOLLET, i as u64),
        )?;
    }
    let mut sent = vec![0u64; socks.len()];
    let mut dead = vec![false; socks.len()];
    let mut blocked = vec![false; socks.len()];
    let start = Instant::now();
    let until = start + opts.duration;
    let (addr, mode) = (opts.addr, opts.normal);
    let normal = thread::spawn(move || normal_client(addr, mode, until));
    let mut events = vec![EpollEvent::empty(); 1024];
    while let Some(got) = wait_until(&epoll, &mut events, until)? {
        for event in &events[..got] {
            let i = event.data() as usize;
            if dead[i] {
                continue;
            }
            blocked[i] = false;
            while sent[i] < opts.cap_bytes {
                let off = (sent[i] % chunk.len() as u64) as usize;
                let room = (opts.cap_bytes - sent[i]).min((chunk.len() - off) as u64) as usize;
                match (&socks[i]).write(&chunk[off..off + room]) {
                    Ok(k) => sent[i] += k as u64,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        blocked[i] = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        dead[i] = true;
                        let _ = epoll.delete(&socks[i]);
                        break;
                    }
                }
            }
        }
    }
    let normal = normal
        .join()
        .map_err(|_| io::Error::other("normal client panicked"))?;
    let total: u64 = sent.iter().sum();
    Ok(json!({
        "scenario": "pipeliners",
        "clients": opts.clients,
        "connected": socks.len(),
        "connect_failed": opened.failed,
        "connect_pending": opened.pending,
        "open_secs": open_secs,
        "duration_secs": secs(opts.duration),
        "cap_bytes": opts.cap_bytes,
        "sent_bytes": total,
        "sent_max_per_client": sent.iter().max().copied().unwrap_or(0),
        "at_cap": sent.iter().filter(|&&s| s >= opts.cap_bytes).count(),
        "blocked_at_end": blocked.iter().filter(|&&b| b).count(),
        "cut_off": dead.iter().filter(|&&d| d).count(),
        "normal": normal.to_json(opts.normal),
    }))
}

// ---------------------------------------------------------------- descriptor exhaustion

fn fd(opts: &Options) -> io::Result<Value> {
    let open_started = Instant::now();
    let opened = open_many(
        opts.addr,
        opts.idle,
        open_started + Duration::from_secs(5),
        None,
    )?;
    let open_secs = secs(open_started.elapsed());
    // Each sends one keep-alive request, then stays silent: an idle
    // keep-alive connection (or a request waiting in the accept queue).
    let mut wrote = 0;
    for sock in &opened.socks {
        if matches!((&*sock).write(GET), Ok(k) if k == GET.len()) {
            wrote += 1;
        }
    }
    thread::sleep(Duration::from_millis(200));
    let until = Instant::now() + opts.duration;
    let during = normal_client(opts.addr, NormalMode::New, until);
    let held = opened.socks.len();
    drop(opened.socks);
    thread::sleep(Duration::from_secs(1));
    // After the idle connections are gone: 20 fresh requests.
    let mut after_ok = 0;
    let after_tries = 20;
    for _ in 0..after_tries {
        if request_new(opts.addr) == Ok(200) {
            after_ok += 1;
        }
    }
    Ok(json!({
        "scenario": "fd",
        "idle_attempts": opts.idle,
        "idle_established": held,
        "idle_requests_written": wrote,
        "connect_failed": opened.failed,
        "connect_pending": opened.pending,
        "open_secs": open_secs,
        "duration_secs": secs(opts.duration),
        "normal": during.to_json(NormalMode::New),
        "after_ok": after_ok,
        "after_tries": after_tries,
    }))
}

// ---------------------------------------------------------------- huge heads

fn head(opts: &Options) -> io::Result<Value> {
    let mut request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ".to_vec();
    request.resize(request.len() + opts.size, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let total = request.len();
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&opts.addr, Duration::from_secs(5))?;
    let writer_stream = stream.try_clone()?;
    // The writer gives up when the server stops reading for 5 s.
    writer_stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let writer = thread::spawn(move || {
        let mut s = writer_stream;
        let mut written = 0;
        let mut why = "complete";
        while written < request.len() {
            let end = (written + 65536).min(request.len());
            match s.write(&request[written..end]) {
                Ok(k) => written += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    why = match e.kind() {
                        ErrorKind::WouldBlock | ErrorKind::TimedOut => "stalled",
                        _ => "error",
                    };
                    break;
                }
            }
        }
        (written, why)
    });
    // The answer: a status line, or how the connection ended, or none
    // within 5 s of the writer finishing (or 15 s in all).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let hard = start + Duration::from_secs(15);
    let mut writer_done_at: Option<Instant> = None;
    let answer = loop {
        if writer_done_at.is_none() && writer.is_finished() {
            writer_done_at = Some(Instant::now());
        }
        let now = Instant::now();
        if now >= hard || writer_done_at.is_some_and(|t| now - t >= Duration::from_secs(5)) {
            break if got.is_empty() {
                "none".to_owned()
            } else {
                "garbled".to_owned()
            };
        }
        match stream.read(&mut buf) {
            Ok(0) if got.is_empty() => break "close".to_owned(),
            Ok(0) => break "garbled".to_owned(),
            Ok(k) => {
                got.extend_from_slice(&buf[..k]);
                if got.len() >= 12 || memchr::memchr(b'\n', &got).is_some() {
                    break status_code(&got)
                        .map_or_else(|| "garbled".to_owned(), |c| c.to_string());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) if got.is_empty() => break "reset".to_owned(),
            Err(_) => break "garbled".to_owned(),
        }
    };
    let answered_secs = secs(start.elapsed());
    // Unblock the writer if it is still pushing, then collect it.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let (written, write_end) = writer
        .join()
        .map_err(|_| io::Error::other("writer panicked"))?;
    Ok(json!({
        "scenario": "head",
        "size": opts.size,
        "request_bytes": total,
        "written": written,
        "write_end": write_end,
        "answer": answer,
        "answered_secs": answered_secs,
    }))
}

/// One `epoll_wait` that returns no later than `deadline`: the number of
/// events, or `None` once the deadline has passed.
fn wait_until(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    deadline: Instant,
) -> Result<Option<usize>, Errno> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(None);
    }
    let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
    match epoll.wait(events, EpollTimeout::from(ms)) {
        Ok(k) => Ok(Some(k)),
        Err(Errno::EINTR) => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Invocation, String> {
        parse_args(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_scenarios_and_options() {
        let Ok(Invocation::Run(o)) = args("slowloris --clients 20 --duration 1.5 127.0.0.1:8080")
        else {
            panic!("not parsed");
        };
        assert_eq!(o.scenario, Scenario::Slowloris);
        assert_eq!(o.clients, 20);
        assert_eq!(o.duration, Duration::from_millis(1500));
        assert_eq!(o.normal, NormalMode::New);
        let Ok(Invocation::Run(o)) = args("head --size 65536 --cpu 1 --normal keepalive [::1]:80")
        else {
            panic!("not parsed");
        };
        assert_eq!(
            (o.scenario, o.size, o.cpu),
            (Scenario::Head, 65536, Some(1))
        );
        assert_eq!(o.normal, NormalMode::KeepAlive);
        assert_eq!(args("fd --help"), Ok(Invocation::Help));
        assert!(args("fd").is_err());
        assert!(args("fd 10.0.0.1:80").unwrap_err().contains("loopback"));
        assert!(args("nope 127.0.0.1:80").is_err());
        assert!(args("fd --idle x 127.0.0.1:80").is_err());
        assert!(args("fd --bogus 127.0.0.1:80").is_err());
        assert!(args("pipeliners --clients 0 127.0.0.1:80").is_err());
    }

    #[test]
    fn response_heads() {
        assert_eq!(status_code(b"HTTP/1.1 431 Request"), Some(431));
        assert_eq!(status_code(b"HTTP/1.0 200"), Some(200));
        assert_eq!(status_code(b"HTTP/2 200"), None);
        assert_eq!(status_code(b"HTTP/1.1 2x0"), None);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close").unwrap();
        assert_eq!(
            (h.status, h.length, h.closes, h.chunked),
            (200, Some(13), true, false)
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").unwrap();
        assert!(h.chunked);
        assert_eq!(
            parse_head(b"HTTP/1.1 204 No Content").unwrap().length,
            Some(0)
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nbroken").is_none());
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 99.0), None);
    }

    #[test]
    fn normal_client_against_a_tiny_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for conn in listener.incoming().take(3) {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        let stats = normal_client(
            addr,
            NormalMode::New,
            Instant::now() + Duration::from_millis(25),
        );
        assert!(stats.ok >= 1, "{stats:?}");
        assert_eq!(stats.latencies.len() as u64, stats.ok);
    }
}

//! SIGTERM and SIGINT over real processes: the convenience path drains,
//! the explicit path and `handle_signals(false)` leave signals alone, a
//! second signal ends the drain, and the previous actions come back.
//!
//! A test binary without the test harness (`harness = false`): signal
//! actions are process-wide, so every scenario runs this same binary again
//! as its server process (with `BRISK_SIGNALS_CHILD` set to the child's
//! mode) and signals that process. The child prints what the parent waits
//! for (its address from brisk's log line, `handler: …` when a handler
//! starts); nothing waits for a fixed time.
//!
//! Arguments: names (or parts of names) of the scenarios to run, default
//! all; `--list` lists them. Other flags are ignored.

mod harnessless;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use brisk_server::{RequestCtx, Server, ShutdownHandle};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Set in the environment of a child server process: its mode.
const CHILD_ENV: &str = "BRISK_SIGNALS_CHILD";
/// Bound on every wait: only a broken server takes this long.
const GUARD: Duration = Duration::from_secs(30);

type Scenario = (&'static str, fn());

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child::run(&mode);
        return;
    }
    let scenarios: [Scenario; 7] = [
        ("sigterm_drains_the_request_in_flight", || {
            drains_the_request_in_flight(Signal::SIGTERM)
        }),
        ("sigint_drains_the_request_in_flight", || {
            drains_the_request_in_flight(Signal::SIGINT)
        }),
        (
            "a_second_signal_ends_the_drain",
            a_second_signal_ends_the_drain,
        ),
        (
            "a_third_signal_gets_the_previous_action",
            a_third_signal_gets_the_previous_action,
        ),
        (
            "handle_signals_false_leaves_sigint_to_the_program",
            handle_signals_false_leaves_sigint_to_the_program,
        ),
        (
            "serve_leaves_signals_alone_by_default",
            serve_leaves_signals_alone_by_default,
        ),
        (
            "signal_actions_are_restored_after_serving",
            signal_actions_are_restored_after_serving,
        ),
    ];
    harnessless::run_scenarios("signals", &scenarios);
}

/// The body `/sleep?ms=N` answers: 16 MiB, more than the socket buffers
/// of a connection hold, so the server still has output queued when the
/// client pauses.
fn sleep_body(ms: u64) -> Vec<u8> {
    let line = format!("slept {ms} ms\n");
    line.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(16 << 20)
        .collect()
}

/// Two requests in flight (`/sleep?ms=2000&drain` and `?ms=2500&drain`,
/// both handlers started) when the signal arrives get their whole
/// responses with `Connection: close`, although the client reads the first
/// one only after the second: a drain that closed connections once their
/// handler returned would cut the first. (With `drain` a handler does not
/// return before the shutdown has started, so the requests are in flight
/// at the signal however slow the machine is.) An idle connection is closed at once; a connection
/// opened during the drain is never answered; the process exits 0 after
/// `listen_and_serve` returned `Ok`, and then nothing listens on the port.
fn drains_the_request_in_flight(signal: Signal) {
    let mut p = Proc::start("convenience");
    let addr = p.serving_addr();
    let mut idle = Client::connect(addr);
    let r = idle.request("/");
    assert_eq!((r.status, r.closes()), (200, false), "{}", p.dump());
    let mut first = Client::connect(addr);
    first.send("/sleep?ms=2000&drain");
    p.wait_line("handler: sleeping 2000 ms");
    let mut second = Client::connect(addr);
    second.send("/sleep?ms=2500&drain");
    p.wait_line("handler: sleeping 2500 ms");
    p.signal(signal);
    // The drain has started once the idle connection is closed.
    assert!(idle.is_closed(), "{signal}: idle connection\n{}", p.dump());
    // Accepting has stopped: a connection made now (it may still complete
    // in the listen backlog) gets no answer.
    let late = TcpStream::connect(addr).ok().map(|mut s| {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        s
    });
    let (status, head, len) = first.read_head();
    assert_eq!(status, 200, "{signal}\n{}", p.dump());
    // The first response waits, unread, until the second is complete.
    let r = second.read_response();
    assert_eq!(r.status, 200, "{signal}\n{}", p.dump());
    assert!(
        r.closes(),
        "{signal}: in-flight response keeps the connection"
    );
    assert!(
        r.body == sleep_body(2500),
        "{signal}: second body incomplete"
    );
    let r = Response {
        status,
        body: first.read_body(len),
        head,
    };
    assert!(
        r.closes(),
        "{signal}: in-flight response keeps the connection"
    );
    assert!(
        r.body == sleep_body(2000),
        "{signal}: first body incomplete"
    );
    assert!(first.is_closed(), "{signal}: closed after its response");
    assert!(second.is_closed(), "{signal}: closed after its response");
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{signal}: {status}\n{}", p.dump());
    assert!(p.has_line("served: Ok(())"), "{}", p.dump());
    if let Some(mut late) = late {
        let mut got = Vec::new();
        let _ = late.read_to_end(&mut got);
        assert!(
            got.is_empty(),
            "{signal}: a connection made during the drain was answered"
        );
    }
    assert!(
        TcpStream::connect(addr).is_err(),
        "{signal}: still listening"
    );
}

/// A response stalled on a client that does not read keeps the graceful
/// drain waiting (its bounds are 120 s here); a second SIGTERM closes it at
/// once and the process exits 0 well within the guard.
fn a_second_signal_ends_the_drain() {
    let mut p = Proc::start("patient");
    let addr = p.serving_addr();
    let mut idle = Client::connect(addr);
    assert_eq!(idle.request("/").status, 200);
    // An endless streamed body, read only up to its first bytes: the
    // response is under way and stalls once the socket buffers fill.
    let mut stalled = Client::connect(addr);
    stalled.send("/endless");
    let mut first = [0u8; 12];
    stalled.s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "{}", p.dump());
    p.signal(Signal::SIGTERM);
    assert!(idle.is_closed(), "idle connection\n{}", p.dump());
    p.wait_line("log: INFO brisk: SIGTERM: graceful shutdown");
    p.signal(Signal::SIGTERM);
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}\n{}", p.dump());
    assert!(p.has_line("served: Ok(())"), "{}", p.dump());
    // The stalled connection was closed: its stream ends without the last
    // chunk (the read may also fail with a reset).
    let mut rest = Vec::new();
    let _ = stalled.s.read_to_end(&mut rest);
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the endless body ended");
}

/// A handler that never returns keeps the process from exiting even after
/// the second signal; the previous action is back by then, so a third
/// SIGTERM ends the process the default way.
fn a_third_signal_gets_the_previous_action() {
    let mut p = Proc::start("patient");
    let addr = p.serving_addr();
    let mut hung = Client::connect(addr);
    hung.send("/hang");
    p.wait_line("handler: hanging");
    p.signal(Signal::SIGTERM);
    p.wait_line("log: INFO brisk: SIGTERM: graceful shutdown");
    p.signal(Signal::SIGTERM);
    // Logged after the previous actions are back.
    p.wait_line("log: WARN brisk: second SIGTERM: closing every connection now; the next one");
    p.signal(Signal::SIGTERM);
    p.wait_killed_by_sigterm();
}

/// With `handle_signals(false)` on `listen_and_serve`, SIGINT reaches the
/// program's own handler (brisk installed none over it) and the server
/// goes on serving: the request in flight keeps its connection, new ones
/// are accepted. The program stops the server itself (`/quit`).
fn handle_signals_false_leaves_sigint_to_the_program() {
    let mut p = Proc::start("own-signals");
    let addr = p.serving_addr();
    let mut busy = Client::connect(addr);
    busy.send("/sleep?ms=300");
    p.wait_line("handler: sleeping 300 ms");
    p.signal(Signal::SIGINT);
    p.wait_line("app: SIGINT");
    let r = busy.read_response();
    assert_eq!((r.status, r.closes()), (200, false), "{}", p.dump());
    assert_eq!(busy.request("/").status, 200);
    assert_eq!(Client::connect(addr).request("/").status, 200);
    assert_eq!(Client::connect(addr).request("/quit").status, 200);
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}\n{}", p.dump());
    assert!(!p.has_line_containing("graceful shutdown"), "{}", p.dump());
}

/// `serve` (the explicit path) installs nothing: SIGTERM has its default
/// action and ends the process.
fn serve_leaves_signals_alone_by_default() {
    let mut p = Proc::start("explicit");
    let line = p.wait_line("listening ");
    let addr: SocketAddr = line["listening ".len()..].parse().unwrap();
    // Answering proves it serves (the handlers would be installed by now).
    assert_eq!(Client::connect(addr).request("/").status, 200);
    p.signal(Signal::SIGTERM);
    p.wait_killed_by_sigterm();
}

/// After `listen_and_serve` returns, SIGTERM has its previous (default)
/// action again: the process, parked after serving, is ended by it.
fn signal_actions_are_restored_after_serving() {
    let mut p = Proc::start("convenience-then-park");
    let addr = p.serving_addr();
    assert_eq!(Client::connect(addr).request("/quit").status, 200);
    p.wait_line("served: Ok(())");
    p.signal(Signal::SIGTERM);
    p.wait_killed_by_sigterm();
}

/// The server process.
mod child {
    use super::*;

    static STOP: OnceLock<ShutdownHandle> = OnceLock::new();

    pub fn run(mode: &str) {
        log::set_logger(&StdoutLogger).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        let mut b = Server::builder().handler(handler).loops(1);
        match mode {
            "convenience" | "convenience-then-park" | "explicit" => {}
            "patient" => {
                b = b
                    .shutdown_timeout(Duration::from_secs(120))
                    .write_timeout(Duration::from_secs(120));
            }
            "own-signals" => {
                own_sigint_handler();
                b = b.handle_signals(false);
            }
            other => panic!("unknown mode {other}"),
        }
        let server = b.build().unwrap();
        STOP.set(server.shutdown_handle()).ok().unwrap();
        let served = if mode == "explicit" {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            println!("listening {}", l.local_addr().unwrap());
            server.serve(l)
        } else {
            server.listen_and_serve("127.0.0.1:0")
        };
        println!("served: {served:?}");
        if mode == "convenience-then-park" {
            loop {
                std::thread::park();
            }
        }
        std::process::exit(if served.is_ok() { 0 } else { 1 });
    }

    fn handler(ctx: &mut RequestCtx<'_>) {
        match ctx.path() {
            b"/sleep" => {
                let ms: u64 = std::str::from_utf8(ctx.query_arg(b"ms").unwrap_or(b""))
                    .unwrap()
                    .parse()
                    .unwrap();
                println!("handler: sleeping {ms} ms");
                std::thread::sleep(Duration::from_millis(ms));
                if ctx.query_arg(b"drain").is_some() {
                    // Not before the shutdown (bounded, as a guard).
                    let stop = STOP.get().unwrap();
                    let deadline = Instant::now() + GUARD;
                    while !stop.is_shutting_down() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                ctx.set_body(&sleep_body(ms));
            }
            b"/hang" => {
                println!("handler: hanging");
                loop {
                    std::thread::park();
                }
            }
            b"/endless" => ctx.set_body_stream(|w| {
                w.write(&[b'x'; 16 * 1024]);
                true
            }),
            b"/quit" => {
                STOP.get().unwrap().shutdown();
                ctx.set_body(b"bye");
            }
            _ => ctx.set_body(b"ok"),
        }
    }

    /// brisk's log lines on stdout, where the parent reads them.
    struct StdoutLogger;

    impl log::Log for StdoutLogger {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                println!("log: {} {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }

    /// The write end of the program's own self-pipe.
    static APP_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

    /// The program's own SIGINT handling, installed before serving: a
    /// handler writing to a pipe and a thread that prints `app: SIGINT`.
    fn own_sigint_handler() {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
        use std::os::fd::IntoRawFd;
        let (mut reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        APP_PIPE.store(writer.into_raw_fd(), std::sync::atomic::Ordering::SeqCst);
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while reader.read_exact(&mut b).is_ok() {
                println!("app: SIGINT");
            }
        });
        extern "C" fn on_sigint(_: libc::c_int) {
            let fd = APP_PIPE.load(std::sync::atomic::Ordering::SeqCst);
            let byte = 1u8;
            // SAFETY: `write(2)` is async-signal-safe; one byte from the
            // stack to a descriptor that stays open for the process's life.
            let _ = unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
        }
        let action = SigAction::new(
            SigHandler::Handler(on_sigint),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only calls `write(2)` (async-signal-safe).
        unsafe { sigaction(Signal::SIGINT, &action) }.unwrap();
    }
}

/// A child server process; SIGKILLed when dropped, so a failing scenario
/// leaves nothing behind.
struct Proc {
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    /// The thread that reads the process's stdout into `lines`.
    reader: Option<std::thread::JoinHandle<()>>,
    mode: String,
}

impl Proc {
    fn start(mode: &str) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = lines.clone();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        Proc {
            child,
            lines,
            reader: Some(reader),
            mode: mode.to_string(),
        }
    }

    /// Waits for a stdout line starting with `prefix`.
    fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + GUARD;
        let (lines, cv) = &*self.lines;
        let mut l = lines.lock().unwrap();
        loop {
            if let Some(found) = l.iter().find(|s| s.starts_with(prefix)) {
                return found.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                drop(l);
                panic!("no line {prefix:?}\n{}", self.dump());
            }
            l = cv.wait_timeout(l, deadline - now).unwrap().0;
        }
    }

    /// The address from brisk's "serving … on [ADDR]" log line.
    fn serving_addr(&self) -> SocketAddr {
        let line = self.wait_line("log: INFO brisk: serving with");
        let at = line.find("127.0.0.1:").expect("an address");
        let addr: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        addr.parse().unwrap()
    }

    fn has_line(&self, line: &str) -> bool {
        self.lines.0.lock().unwrap().iter().any(|l| l == line)
    }

    fn has_line_containing(&self, part: &str) -> bool {
        self.lines
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(part))
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the process to end (checked every 10 ms, up to the guard).
    /// Waits for the process to end and checks that SIGTERM's default
    /// action ended it.
    fn wait_killed_by_sigterm(&mut self) {
        let status = self.wait_exit();
        assert_eq!(
            status.signal(),
            Some(libc::SIGTERM),
            "{status}\n{}",
            self.dump()
        );
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Every line the process printed is read once its stdout
                // ends (it has no children to hold the pipe open).
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not end\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn dump(&self) -> String {
        format!(
            "--- child {:?} stdout:\n{}",
            self.mode,
            self.lines.0.lock().unwrap().join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 client that reads Content-Length responses.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn closes(&self) -> bool {
        self.head
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n")
    }
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        Client { s, buf: Vec::new() }
    }

    fn send(&mut self, path: &str) {
        write!(self.s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }

    fn request(&mut self, path: &str) -> Response {
        self.send(path);
        self.read_response()
    }

    fn read_response(&mut self) -> Response {
        let (status, head, len) = self.read_head();
        let body = self.read_body(len);
        Response { status, head, body }
    }

    /// Reads a response head: its status, the head, the Content-Length.
    fn read_head(&mut self) -> (u16, String, usize) {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end);
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("content-length");
        (status, head, len)
    }

    fn read_body(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            self.fill();
        }
        self.buf.drain(..len).collect()
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.s.read(&mut tmp).expect("read");
        assert!(n > 0, "closed before a whole response");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    /// Whether the server closed the connection (EOF or reset), waiting
    /// for it up to the guard.
    fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match self.s.read(&mut [0u8; 1]) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

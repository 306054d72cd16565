//! systemd socket activation over real processes: a listener bound by this
//! test is passed on fd 3 (and 4) to a child server process, the way a
//! service manager does, and requests over it succeed; another process's
//! `LISTEN_PID` is ignored; a descriptor that is no listening TCP socket
//! and a broken variable are typed errors.
//!
//! A test binary without the test harness (`harness = false`): the child is
//! this same binary, run again with `BRISK_ACTIVATION_CHILD` set, and it
//! must call `activation::listeners()` while it has a single thread (the
//! only time the environment may be changed). `LISTEN_PID` must be the
//! child's own pid, known only after the fork: the child is started through
//! `sh -c 'LISTEN_PID=$$ exec "$0"'`, as `systemd-socket-activate` does
//! (setting it between fork and exec would not be async-signal-safe).
//!
//! Arguments: names (or parts of names) of the scenarios to run, default
//! all; `--list` lists them.

mod harnessless;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use brisk_server::Server;
use brisk_server::activation;
use nix::sys::signal::{Signal, kill};

/// Set in the environment of a child server process.
const CHILD_ENV: &str = "BRISK_ACTIVATION_CHILD";
/// Bound on every wait: only a broken server takes this long.
const GUARD: Duration = Duration::from_secs(30);

type Scenario = (&'static str, fn());

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let scenarios: [Scenario; 6] = [
        (
            "an_inherited_listener_is_served",
            an_inherited_listener_is_served,
        ),
        (
            "two_named_listeners_are_both_served",
            two_named_listeners_are_both_served,
        ),
        (
            "another_processes_sockets_are_ignored",
            another_processes_sockets_are_ignored,
        ),
        (
            "a_descriptor_that_is_no_listener_is_refused",
            a_descriptor_that_is_no_listener_is_refused,
        ),
        ("broken_variables_are_refused", broken_variables_are_refused),
        ("systemd_socket_activate", systemd_socket_activate),
    ];
    harnessless::run_scenarios("activation", &scenarios);
}

/// The child: take the inherited sockets first (one thread), report what
/// happened and what is left of the environment, then serve them until
/// SIGTERM (handled: a graceful drain, exit 0).
fn child() {
    let taken = activation::named_listeners();
    let env: Vec<String> = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .iter()
        .filter(|name| std::env::var_os(name).is_some())
        .map(|name| (*name).to_owned())
        .collect();
    say(&format!("env left: [{}]", env.join(",")));
    let named = match taken {
        Ok(Some(named)) => named,
        Ok(None) => {
            say("activation: none");
            return;
        }
        Err(e) => {
            say(&format!("activation: error {e}"));
            return;
        }
    };
    for (name, l) in &named {
        say(&format!("activation: {name} {}", l.local_addr().unwrap()));
    }
    // A second call finds nothing more to take.
    say(&format!(
        "again: {}",
        match activation::listeners() {
            Ok(None) => "none".to_owned(),
            Ok(Some(l)) => format!("{} more", l.len()),
            Err(e) => format!("error {e}"),
        }
    ));
    let server = Server::builder()
        .handler(|ctx| {
            let body = format!("served by {}", std::process::id());
            ctx.set_body(body.as_bytes());
        })
        .loops(1)
        .handle_signals(true)
        .build()
        .unwrap();
    let listeners = named.into_iter().map(|(_, l)| l).collect();
    say("serving");
    let served = server.serve_listeners(listeners);
    say(&format!("served: {served:?}"));
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

/// One listener on fd 3: the child serves it, and the variables are gone
/// from its environment.
fn an_inherited_listener_is_served() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut p = Proc::start(&[l.as_raw_fd()], ListenPid::Shim, &[("LISTEN_FDS", "1")]);
    drop(l); // the child's copy is the only one left
    p.wait_line("serving");
    assert!(
        p.has_line(&format!("activation: unknown {addr}")),
        "{}",
        p.dump()
    );
    assert!(p.has_line("env left: []"), "{}", p.dump());
    assert!(p.has_line("again: none"), "{}", p.dump());
    for _ in 0..3 {
        assert_eq!(get(addr), format!("served by {}", p.pid()), "{}", p.dump());
    }
    p.stop();
}

/// Two listeners with `LISTEN_FDNAMES`: both are served, with their names.
fn two_named_listeners_are_both_served() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut p = Proc::start(
        &[a.as_raw_fd(), b.as_raw_fd()],
        ListenPid::Shim,
        &[("LISTEN_FDS", "2"), ("LISTEN_FDNAMES", "web:admin")],
    );
    drop((a, b));
    p.wait_line("serving");
    assert!(
        p.has_line(&format!("activation: web {addr_a}")),
        "{}",
        p.dump()
    );
    assert!(
        p.has_line(&format!("activation: admin {addr_b}")),
        "{}",
        p.dump()
    );
    let expected = format!("served by {}", p.pid());
    assert_eq!(get(addr_a), expected);
    assert_eq!(get(addr_b), expected);
    p.stop();
}

/// `LISTEN_PID` of another process (here pid 1): nothing is taken, and the
/// variables are removed all the same, as `sd_listen_fds(1)` does.
fn another_processes_sockets_are_ignored() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut p = Proc::start(
        &[l.as_raw_fd()],
        ListenPid::Fixed("1"),
        &[("LISTEN_FDS", "1")],
    );
    p.wait_line("activation: none");
    assert!(p.has_line("env left: []"), "{}", p.dump());
    assert_eq!(p.wait_exit().code(), Some(0));
}

/// fd 3 is a UDP socket, a TCP socket that does not listen, or not open at
/// all: a typed error naming the descriptor and what it is instead.
fn a_descriptor_that_is_no_listener_is_refused() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let unlistened =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let one = TcpListener::bind("127.0.0.1:0").unwrap();
    let cases: [(&[RawFd], &str, &str); 3] = [
        (
            &[udp.as_raw_fd()],
            "1",
            "inherited descriptor 3 is not a listening TCP socket: it is not a stream socket",
        ),
        (
            &[unlistened.as_raw_fd()],
            "1",
            "inherited descriptor 3 is not a listening TCP socket: the socket is not listening",
        ),
        // One listener passed, two announced: fd 4 is not open.
        (
            &[one.as_raw_fd()],
            "2",
            "inherited descriptor 4 is not a listening TCP socket: the descriptor is not open",
        ),
    ];
    for (fds, count, needle) in cases {
        let mut p = Proc::start(fds, ListenPid::Shim, &[("LISTEN_FDS", count)]);
        let line = p.wait_line("activation: ");
        assert!(line.contains(needle), "{line:?} lacks {needle:?}");
        assert!(line.contains("ListenStream="), "says what to fix: {line}");
        assert_eq!(p.wait_exit().code(), Some(0));
    }
}

/// A count that is no number, and names that do not match the count.
fn broken_variables_are_refused() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[("LISTEN_FDS", "three")],
            "LISTEN_FDS=\"three\" is invalid: it must be a count of descriptors",
        ),
        (
            &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "a:b")],
            "LISTEN_FDNAMES has 2 name(s) for LISTEN_FDS=1",
        ),
    ];
    for (env, needle) in cases {
        let mut p = Proc::start(&[l.as_raw_fd()], ListenPid::Shim, env);
        let line = p.wait_line("activation: ");
        assert!(line.contains(needle), "{line:?} lacks {needle:?}");
        assert!(p.has_line("env left: []"), "{}", p.dump());
        assert_eq!(p.wait_exit().code(), Some(0));
    }
}

/// The real tool, when installed: `systemd-socket-activate -l ADDR` binds,
/// and execs this binary with the socket on fd 3.
fn systemd_socket_activate() {
    let tool = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    let Some(tool) = tool else {
        println!("note: systemd-socket-activate is not installed; scenario skipped");
        return;
    };
    // A free port (released just before the tool binds it).
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = Command::new(tool);
    cmd.arg("-l")
        .arg(addr.to_string())
        .arg("-E")
        .arg(format!("{CHILD_ENV}=1"))
        .arg(std::env::current_exe().unwrap());
    let mut p = Proc::spawn(cmd);
    // Refused until the tool has bound; it may then wait for a first
    // connection before it starts the program (which waits in the backlog).
    let deadline = Instant::now() + GUARD;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the tool never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    let body = get(addr);
    p.wait_line("serving");
    // Named as the tool names it (`--fdname`; "unknown" by default).
    let served = p
        .lines()
        .iter()
        .any(|l| l.starts_with("activation: ") && l.ends_with(&format!(" {addr}")));
    assert!(served, "{}", p.dump());
    assert!(p.has_line("env left: []"), "{}", p.dump());
    assert_eq!(body, format!("served by {}", p.pid()), "{}", p.dump());
    p.stop();
}

/// How the child learns its `LISTEN_PID`.
enum ListenPid {
    /// Its own pid, set by the `sh` shim.
    Shim,
    /// A fixed value.
    Fixed(&'static str),
}

/// One `GET /` with `Connection: close`; the body.
fn get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// A child process, its stdout collected line by line; SIGKILLed when
/// dropped.
struct Proc {
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Proc {
    /// This binary as a child server, with `fds` on 3, 4, … and `env`.
    fn start(fds: &[RawFd], pid: ListenPid, env: &[(&str, &str)]) -> Proc {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match pid {
            ListenPid::Shim => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg("LISTEN_PID=$$ exec \"$0\"").arg(exe);
                c
            }
            ListenPid::Fixed(value) => {
                let mut c = Command::new(exe);
                c.env("LISTEN_PID", value);
                c
            }
        };
        cmd.env(CHILD_ENV, "1").env_remove("LISTEN_FDNAMES");
        for (k, v) in env {
            cmd.env(k, v);
        }
        place_fds(&mut cmd, fds.to_vec());
        Proc::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = lines.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        Proc { child, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    fn has_line(&self, line: &str) -> bool {
        self.lines.0.lock().unwrap().iter().any(|l| l == line)
    }

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

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit\n{}", self.dump());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM: the server drains and the process exits 0.
    fn stop(&mut self) {
        kill(
            nix::unistd::Pid::from_raw(self.pid() as i32),
            Signal::SIGTERM,
        )
        .unwrap();
        let status = self.wait_exit();
        assert_eq!(status.code(), Some(0), "{status}\n{}", self.dump());
        self.wait_line("served: Ok(())");
    }

    fn dump(&self) -> String {
        format!("--- child stdout:\n{}", self.lines().join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Puts `fds` on descriptors 3, 4, … of the child (without close-on-exec).
/// Each is first copied above the target range, so that moving one cannot
/// overwrite another still to be moved.
fn place_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    let n = fds.len() as RawFd;
    let setup = move || -> std::io::Result<()> {
        let mut high = [0 as RawFd; 8];
        for (i, &fd) in fds.iter().enumerate() {
            // SAFETY: fcntl(2) is async-signal-safe; `fd` is open in this
            // forked copy (the test keeps it open until after spawn).
            high[i] = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3 + n + 8) };
            if high[i] < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for (i, &fd) in high[..fds.len()].iter().enumerate() {
            // SAFETY: dup2(2) is async-signal-safe; the copy has no
            // FD_CLOEXEC and survives exec.
            if unsafe { libc::dup2(fd, 3 + i as RawFd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure calls only fcntl and dup2 (async-signal-safe),
    // allocates nothing and takes no lock; at most 8 descriptors.
    unsafe {
        cmd.pre_exec(setup);
    }
}

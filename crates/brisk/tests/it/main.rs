//! The facade's examples, run as real processes.

mod files;
mod inspect;
#[cfg(feature = "handlers")]
mod metrics;
mod shutdown;
mod tls;
mod upgrade;
mod websocket;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server running `handler` on one loop in this process, on
/// `127.0.0.1:0`; shuts down (and is joined) when dropped.
struct InProcess {
    addr: SocketAddr,
    stop: brisk::ShutdownHandle,
    thread: Option<std::thread::JoinHandle<Result<(), brisk::ServeError>>>,
}

impl InProcess {
    fn start<H>(handler: H) -> InProcess
    where
        H: Fn(&mut brisk::RequestCtx<'_>) + Send + Sync + 'static,
    {
        let server = brisk::Server::builder()
            .handler(handler)
            .loops(1)
            .build()
            .unwrap();
        let l = server.bind("127.0.0.1:0").unwrap();
        let addr = l[0].local_addr().unwrap();
        let stop = server.shutdown_handle();
        let thread = Some(std::thread::spawn(move || server.serve_listeners(l)));
        InProcess { addr, stop, thread }
    }

    /// Shuts the server down and says how serving ended.
    fn stop(mut self) -> Result<(), brisk::ServeError> {
        self.stop.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/it-xxxx → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        p.exists(),
        "{} not built (cargo test builds examples)",
        p.display()
    );
    p
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM, the graceful stop (prefork forwards it to its children).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(name: &str, args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (Proc(child), line)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    let status = s[9..12].parse().unwrap();
    let body = s
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn addr_of(line: &str) -> SocketAddr {
    line.trim()
        .split("http://")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn hello_example_serves_and_prints_its_address() {
    let (_p, line) = start("hello", &["--port", "0", "--loops", "1"]);
    let addr = addr_of(&line);
    assert_eq!(get(addr, "/"), (200, "Hello, World!".to_string()));
}

/// Socket activation: a listener bound here is passed on fd 3 with
/// `LISTEN_FDS=1` and `LISTEN_PID` set to the example's own pid (through
/// `sh`, as `systemd-socket-activate` does); the example serves it and says
/// so instead of binding its `--port`.
#[test]
fn hello_example_serves_an_inherited_socket() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let fd = l.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" --port 1 --loops 1")
        .arg(example("hello"))
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_FDNAMES")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let place = move || {
        // SAFETY: dup2(2) and fcntl(2) are async-signal-safe; `fd` is open
        // in this forked copy. The new fd 3 has no FD_CLOEXEC and survives
        // exec; when `fd` already is 3, dup2 does nothing, so its
        // FD_CLOEXEC is cleared instead.
        let rc = unsafe {
            if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            }
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure only calls dup2 or fcntl (async-signal-safe) and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(place);
    }
    let mut child = cmd.spawn().unwrap();
    drop(l);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let p = Proc(child);
    assert_eq!(
        line.trim(),
        format!("listening on http://{addr} (socket activation)")
    );
    assert_eq!(get(addr, "/"), (200, "Hello, World!".to_string()));
    drop(p);
}

#[test]
fn hello_example_rejects_bad_flags() {
    let out = Command::new(example("hello"))
        .arg("--loops")
        .arg("zero")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loops"));
}

#[test]
fn every_example_takes_port_and_loops_flags() {
    for (name, loops, path, want) in [
        ("json", true, "/", "Hello, World!"),
        ("routing", true, "/users/42", "{\"id\":42}"),
        ("blocking", false, "/", "fast"),
        ("inspect", true, "/x", "\"path\":\"/x\""),
        ("stream", true, "/", "xxxxxxxx"),
        ("upload", true, "/", "0 bytes, fnv1a cbf29ce484222325"),
        ("sse", true, "/", "EventSource"),
        ("websocket", true, "/", "new WebSocket"),
    ] {
        let args: &[&str] = if loops {
            &["--port", "0", "--loops", "1"]
        } else {
            &["--port", "0"]
        };
        let (_p, line) = start(name, args);
        let (status, body) = get(addr_of(&line), path);
        assert_eq!(status, 200, "{name}");
        assert!(
            body.contains(want),
            "{name}: {}",
            &body[..body.len().min(200)]
        );
    }
    // `blocking` runs one event loop on purpose: --loops is refused.
    let out = Command::new(example("blocking"))
        .args(["--port", "0", "--loops", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loops"));
}

#[test]
fn prefork_example_answers_from_several_children() {
    let p = shutdown::Watched::start("prefork", &["--port", "0", "--children", "2"]);
    // Each child prints the address (the port the master picked).
    let addr = addr_of(&p.wait_lines("listening on http://", 2)[0]);
    let mut pids = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.len() < 2 && Instant::now() < deadline {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut s = String::new();
        let _ = c.read_to_string(&mut s);
        if let Some(pid) = s.split("Hello from process ").nth(1) {
            pids.insert(pid.trim().to_string());
        }
    }
    assert!(pids.len() >= 2, "answers came from {pids:?}");
    let master = p.pid().to_string();
    assert!(!pids.contains(&master), "the master does not serve");
}

#[test]
fn facade_listen_and_serve_and_reexports() {
    let srv = InProcess::start(|ctx: &mut brisk::RequestCtx<'_>| {
        assert_eq!(ctx.method(), brisk::Method::Get);
        ctx.set_body(b"facade")
    });
    assert_eq!(get(srv.addr, "/"), (200, "facade".to_string()));
    srv.stop().unwrap();
    // The layers are reachable as modules.
    let mut b = brisk::buf::ByteBuffer::new();
    b.write_u64(7);
    assert_eq!(b.as_slice(), b"7");
    assert_eq!(brisk::http::status_text(404), "Not Found");
}

//! The server under abuse (scaled down, loopback only, bounded): slowloris
//! floods, clients that pipeline and never read, descriptor exhaustion.
//!
//! A test binary of its own without the test harness (`harness = false`):
//! the memory test reads this process's RSS, so the scenarios run one at a
//! time, and the descriptor-exhaustion scenario runs this same binary again
//! as its server process (with `BRISK_ABUSE_CHILD` set), which a harness
//! could only start through a `#[test]` that passes without testing
//! anything when run on its own.
//!
//! Arguments: names (or parts of names) of the scenarios to run, default
//! all; `--list` lists them. Other flags are ignored.

mod harnessless;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set in the environment of the child server process.
const CHILD_ENV: &str = "BRISK_ABUSE_CHILD";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_server_with_low_fd_limit();
        return;
    }
    let scenarios: [(&str, fn()); 3] = [
        (
            "slowloris_flood_does_not_delay_a_normal_client",
            slowloris_flood_does_not_delay_a_normal_client,
        ),
        (
            "clients_that_pipeline_and_never_read_cost_bounded_memory",
            clients_that_pipeline_and_never_read_cost_bounded_memory,
        ),
        (
            "descriptor_exhaustion_keeps_serving_new_clients",
            descriptor_exhaustion_keeps_serving_new_clients,
        ),
    ];
    harnessless::run_scenarios("abuse", &scenarios);
}

struct Srv {
    addr: SocketAddr,
    stop: brisk_server::ShutdownHandle,
    t: Option<std::thread::JoinHandle<Result<(), brisk_server::ServeError>>>,
}

impl Srv {
    fn start(cfg: impl FnOnce(brisk_server::ServerBuilder) -> brisk_server::ServerBuilder) -> Srv {
        let b = brisk_server::Server::builder()
            .handler(|ctx| ctx.set_body(b"Hello, World!"))
            .loops(1)
            .backend(backend());
        let server = cfg(b).build().unwrap();
        let l = server.bind("127.0.0.1:0").unwrap();
        let addr = l[0].local_addr().unwrap();
        let stop = server.shutdown_handle();
        let t = std::thread::spawn(move || server.serve_listeners(l));
        Srv {
            addr,
            stop,
            t: Some(t),
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.t.take() {
            let _ = t.join();
        }
    }
}

fn get(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
    let mut out = Vec::new();
    c.read_to_end(&mut out)?;
    Ok(out)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `c` has unread input (bytes, EOF or a reset), without waiting.
fn has_input(c: &TcpStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let r = c.peek(&mut [0u8; 1]);
    c.set_nonblocking(false).unwrap();
    !matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// 200 clients each hold an incomplete head; a normal client makes 100
/// requests (a new connection each), then every slow client gets its 408.
/// The normal requests are checked to have all been served while every
/// slow request was still unanswered (a non-blocking peek on each slow
/// connection afterwards), not by a clock. If the machine is too slow to do
/// them inside one read timeout, the scenario runs again with twice the
/// timeout. The latencies are printed for information only.
///
/// The slow heads are written once and not trickled: writing to a
/// connection the server has just closed could draw a reset and lose its
/// 408. That trickling does not restart the read timeout is the business
/// of `errors::slowloris_gets_408_and_does_not_hold_up_others`.
fn slowloris_flood_does_not_delay_a_normal_client() {
    for read_timeout_ms in [1000, 2000, 4000, 8000] {
        let srv = Srv::start(|b| b.read_timeout(Duration::from_millis(read_timeout_ms)));
        let addr = srv.addr;
        let slow: Vec<TcpStream> = (0..200)
            .map(|_| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: a")
                    .unwrap();
                c
            })
            .collect();
        let mut lat = Vec::new();
        for _ in 0..100 {
            let t = Instant::now();
            let r = get(addr).expect("normal client served");
            lat.push(t.elapsed());
            assert!(
                r.starts_with(b"HTTP/1.1 200"),
                "{:?}",
                String::from_utf8_lossy(&r)
            );
        }
        let answered = slow.iter().filter(|c| has_input(c)).count();
        lat.sort();
        eprintln!(
            "normal client during 200 slowloris (read_timeout {read_timeout_ms} ms): \
             p50 {:?} p99 {:?}; slow clients answered meanwhile: {answered}",
            lat[50], lat[98]
        );
        if answered > 0 {
            eprintln!("slowloris flood: the machine was too slow for the premise; again");
            continue;
        }
        // Every slow client gets its 408 once its read timeout expires.
        let mut got_408 = 0;
        for mut c in slow {
            let mut all = Vec::new();
            let _ = c.read_to_end(&mut all);
            if all.starts_with(b"HTTP/1.1 408") {
                got_408 += 1;
            }
        }
        assert_eq!(got_408, 200, "408s");
        return;
    }
    panic!(
        "with read timeouts up to 8 s, a slow client was always answered before the normal requests were"
    );
}

fn clients_that_pipeline_and_never_read_cost_bounded_memory() {
    let srv = Srv::start(|b| b);
    let addr = srv.addr;
    // Warm up the server's allocations (pool, scratch) before the baseline.
    for _ in 0..50 {
        get(addr).unwrap();
    }
    let chunk: Vec<u8> = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(2048); // ~56 KiB
    let before = rss_kib();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    let writers: Vec<_> = (0..10)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            conns.push(c.try_clone().unwrap());
            let (chunk, sent) = (chunk.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut c = c;
                // Bounded: at most 64 MiB each; stops when the kernel's
                // buffers are full and the server has stopped reading.
                for _ in 0..(64 << 20) / chunk.len() {
                    match c.write(&chunk) {
                        Ok(n) => {
                            sent.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // Buffer bytes the server holds for the 10 blocked connections, from
    // the pool's counters: a read and a write buffer each, well under the
    // 16 KiB per blocked connection target (the write buffer must not grow
    // past its size for small responses).
    let held = brisk_buf::BufferPool::global().stats().outstanding_bytes;
    eprintln!("10 blocked connections hold {held} bytes of pool buffers");
    assert!(
        held <= 10 * 16 * 1024,
        "blocked connections hold {held} bytes of buffers"
    );
    // The server is still serving others.
    assert!(get(addr).unwrap().starts_with(b"HTTP/1.1 200"));
    let grown = rss_kib().saturating_sub(before);
    let sent_mib = sent.load(Ordering::Relaxed) >> 20;
    eprintln!(
        "10 non-reading clients sent {sent_mib} MiB of requests; server RSS grew {grown} KiB"
    );
    // Peers grow by gigabytes here; brisk holds at most a read buffer and a
    // bounded write buffer per blocked connection (16 KiB target), plus the
    // test's own threads. 4 MiB leaves room for allocator noise.
    assert!(
        grown < 4096,
        "RSS grew {grown} KiB for 10 blocked connections"
    );
    drop(conns);
}

/// Re-executes this test binary as a child that serves with a low
/// descriptor limit; see `child_server_with_low_fd_limit`.
fn spawn_child() -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if out.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        if b[0] == b'\n' {
            let s = String::from_utf8_lossy(&line).to_string();
            if let Some((_, a)) = s.split_once("CHILD LISTENING ") {
                return (child, a.trim().parse().unwrap());
            }
            line.clear();
        } else {
            line.push(b[0]);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("child server did not start");
}

/// The server process of `descriptor_exhaustion_keeps_serving_new_clients`
/// (this binary run again with `BRISK_ABUSE_CHILD` set): serves with a
/// 256-descriptor limit until the parent kills it.
fn child_server_with_low_fd_limit() {
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: setrlimit reads the struct we pass; no memory is shared.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let server = brisk_server::Server::builder()
        .handler(|ctx| ctx.set_body(b"Hello, World!"))
        .loops(1)
        .backend(backend())
        .idle_timeout(Duration::from_secs(60))
        .first_byte_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let l = server.bind("127.0.0.1:0").unwrap();
    println!("CHILD LISTENING {}", l[0].local_addr().unwrap());
    // Ends when the parent kills it (bounded there).
    let _ = server.serve_listeners(l);
}

fn descriptor_exhaustion_keeps_serving_new_clients() {
    let (mut child, addr) = spawn_child();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = {
        let c = std::mem::replace(&mut child, Command::new("true").spawn().unwrap());
        Kill(c)
    };
    let _ = child.wait();
    // 400 idle keep-alive connections against a 256-descriptor server.
    let mut idle = Vec::new();
    for _ in 0..400 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        idle.push(c);
    }
    // Wait until the server has dealt with every one of them: each gets
    // its response (then idles, keep-alive) or is closed unanswered (the
    // server closes the longest-idle connections to free descriptors). So
    // the server is at its descriptor limit before the fresh clients come.
    let mut answered = 0;
    for c in &mut idle {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 256];
        while !got.ends_with(b"Hello, World!") {
            match c.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        answered += usize::from(got.starts_with(b"HTTP/1.1 200"));
    }
    eprintln!("descriptor exhaustion: {answered}/400 idle connections answered");
    // A normal client that keeps connecting is still served.
    let mut ok = 0;
    let tries = 100;
    for _ in 0..tries {
        if get(addr).is_ok_and(|r| r.starts_with(b"HTTP/1.1 200")) {
            ok += 1;
        }
    }
    eprintln!("descriptor exhaustion: {ok}/{tries} fresh connections served");
    assert!(
        ok * 100 >= tries * 99,
        "only {ok}/{tries} served at the descriptor limit"
    );
    drop(idle);
}

/// The backend under test: `BRISK_BACKEND=uring` (CI runs this test a
/// second time with it) or epoll.
fn backend() -> brisk_server::Backend {
    match std::env::var("BRISK_BACKEND") {
        Ok(v) => v.parse().expect("BRISK_BACKEND: epoll or uring"),
        Err(_) => brisk_server::Backend::Epoll,
    }
}

//! A binary upgrade under load: the `prefork` example serves keep-alive
//! clients and clients that open a connection per request while its master
//! gets SIGUSR2. A new master takes over the listening socket, the old
//! children drain and exit, the old master exits 0, and no request fails.
//!
//! Counted per request: an answer (and which master's child gave it), a
//! reconnect (the server closed the connection cleanly, with a FIN, before
//! any byte of a response: the request was not processed, and the client
//! sends it again on a fresh connection, as RFC 9112 §9.3.1 allows), or a
//! failure (a refused connection, a reset, a cut or lost response, a bad
//! answer). The test requires zero failures and prints the counts.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::addr_of;
use crate::shutdown::Watched;

/// The whole test stays well within this.
const BUDGET: Duration = Duration::from_secs(25);
/// How long one response may take before it counts as lost.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests answered before the upgrade, and after the old master exited.
const PHASE_REQUESTS: usize = 150;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    /// Answers per master pid.
    by_master: Mutex<BTreeMap<u32, usize>>,
    /// Keep-alive connections closed cleanly between requests.
    reconnects: AtomicUsize,
    /// Fresh connections closed cleanly before any byte of a response.
    fresh_retries: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// One exchange's result.
enum Outcome {
    Answered {
        master: u32,
        closes: bool,
    },
    /// EOF before any byte of the response.
    CleanClose,
    Failed(String),
}

#[test]
fn no_request_fails_across_a_binary_upgrade() {
    upgrade_under_load(false);
}

/// The same with one `SO_REUSEPORT` socket per child: each goes to the new
/// master's child of the same slot.
#[test]
fn no_request_fails_across_a_binary_upgrade_with_reuseport() {
    upgrade_under_load(true);
}

fn upgrade_under_load(reuseport: bool) {
    let started = Instant::now();
    let deadline = started + BUDGET;
    let mut args = vec!["--port", "0", "--children", "2"];
    if reuseport {
        args.push("--reuseport");
    }
    let mut p = Watched::start("prefork", &args);
    let addr = addr_of(&p.wait_lines("listening on http://", 2)[0]);
    let old_master = p.pid();

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for keep_alive in [true, true, true, false, false] {
        let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
        clients.push(std::thread::spawn(move || {
            client(addr, keep_alive, &tally, &stop)
        }));
    }
    let wait_answers = |n: usize, what: &str| {
        while tally.answered.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    wait_answers(PHASE_REQUESTS, "answers before the upgrade");
    p.signal(Signal::SIGUSR2);
    // The old master exits 0 once the new one is ready and its own
    // children are gone.
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}\n{}", p.dump());
    let after_exit = tally.answered.load(Ordering::SeqCst);
    wait_answers(
        after_exit + PHASE_REQUESTS,
        "answers after the old master exited",
    );
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }

    let by_master = tally.by_master.lock().unwrap().clone();
    let failures = tally.failures.lock().unwrap().clone();
    println!(
        "upgrade under load (reuseport: {reuseport}): {} answered {by_master:?} (old master {old_master}), \
         {} keep-alive reconnects, {} fresh-connection retries, {} failed, {:?}",
        tally.answered.load(Ordering::SeqCst),
        tally.reconnects.load(Ordering::SeqCst),
        tally.fresh_retries.load(Ordering::SeqCst),
        failures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{failures:#?}\n{}", p.dump());
    let new_masters: Vec<u32> = by_master
        .keys()
        .copied()
        .filter(|&m| m != old_master)
        .collect();
    assert_eq!(new_masters.len(), 1, "{by_master:?}");
    let new_master = new_masters[0];
    assert!(by_master.get(&old_master).is_some_and(|&n| n > 0));
    assert!(by_master[&new_master] >= PHASE_REQUESTS, "{by_master:?}");

    // The new master serves on and stops cleanly on SIGTERM.
    kill(Pid::from_raw(new_master as i32), Signal::SIGTERM).unwrap();
    while !gone(new_master) {
        assert!(Instant::now() < deadline, "the new master did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Requests `/whoami` until `stop`, on one keep-alive connection at a time
/// or on a fresh connection per request.
fn client(addr: SocketAddr, keep_alive: bool, tally: &Tally, stop: &AtomicBool) {
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::SeqCst) {
        let reused = conn.is_some();
        let stream = match conn.take() {
            Some(s) => s,
            None => match connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    fail(tally, format!("connect: {e}"));
                    continue;
                }
            },
        };
        let mut stream = stream;
        match exchange(&mut stream, keep_alive) {
            Outcome::Answered { master, closes } => {
                tally.answered.fetch_add(1, Ordering::SeqCst);
                *tally.by_master.lock().unwrap().entry(master).or_default() += 1;
                if keep_alive && !closes {
                    conn = Some(stream);
                }
            }
            // The request was not processed: send it again on a fresh
            // connection (the loop does).
            Outcome::CleanClose if reused => {
                tally.reconnects.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::CleanClose => {
                tally.fresh_retries.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Failed(why) => {
                let kind = match (keep_alive, reused) {
                    (true, true) => "keep-alive, reused connection",
                    (true, false) => "keep-alive, new connection",
                    (false, _) => "connection per request",
                };
                fail(tally, format!("{kind}: {why}"));
            }
        }
    }
}

fn fail(tally: &Tally, why: String) {
    tally.failures.lock().unwrap().push(why);
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, RESPONSE_TIMEOUT)?;
    s.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Sends one request and reads its response (Content-Length framed).
fn exchange(s: &mut TcpStream, keep_alive: bool) -> Outcome {
    let request: &[u8] = if keep_alive {
        b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"
    } else {
        b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    };
    if let Err(e) = s.write_all(request) {
        return Outcome::Failed(format!("write: {e}"));
    }
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Outcome::CleanClose,
            Ok(0) => return Outcome::Failed(format!("cut inside the head: {buf:?}")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return Outcome::Failed(format!("read after {} response bytes: {e}", buf.len()));
            }
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200 ") {
        return Outcome::Failed(format!("status: {head:?}"));
    }
    let Some(len) = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    }) else {
        return Outcome::Failed(format!("no content-length: {head:?}"));
    };
    while buf.len() < head_end + len {
        match s.read(&mut chunk) {
            Ok(0) => return Outcome::Failed("cut inside the body".to_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Outcome::Failed(format!("read inside the body: {e}")),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    // "child PID master PID"
    let mut words = body.split(' ');
    let master = match (words.next(), words.nth(2)) {
        (Some("child"), Some(m)) => m.parse().ok(),
        _ => None,
    };
    let Some(master) = master else {
        return Outcome::Failed(format!("body: {body:?}"));
    };
    Outcome::Answered {
        master,
        closes: head.contains("\r\nconnection: close\r\n"),
    }
}

/// Whether `pid` is gone (or a zombie its adopter has not reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

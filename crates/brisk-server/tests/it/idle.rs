//! An idle server does not wake up: after serving, its loop threads and its
//! monitor sleep until there is work (at most 5 wake-ups a second in all).
//!
//! Counted as context switches of the server's threads, from
//! `/proc/self/task/<tid>/status`, in a process of its own: the other tests
//! of this binary run servers with threads of the same names.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::TestServer;

/// Set in the child process that does the measuring.
const CHILD: &str = "BRISK_IDLE_TEST_CHILD";

/// Wake-ups allowed in one idle second, all server threads together.
const MAX_WAKEUPS: u64 = 5;

#[test]
fn an_idle_server_wakes_at_most_five_times_a_second() {
    if std::env::var_os(CHILD).is_none() {
        run_alone("an_idle_server_wakes_at_most_five_times_a_second");
        return;
    }
    let srv = TestServer::start(|ctx| ctx.set_body(b"Hello, World!"), |b| b.loops(2));
    let mut idle = srv.connect();
    for round in 0..2 {
        // A few requests on new connections, one kept open (idle keep-alive).
        for _ in 0..3 {
            let mut c = srv.connect();
            assert_eq!(c.get("/").status, 200);
            assert_eq!(c.get("/").status, 200);
        }
        assert_eq!(idle.get("/").status, 200);
        // The second round wakes a monitor that has parked once already.
        settle(round);
    }

    let before = server_threads();
    std::thread::sleep(Duration::from_secs(1));
    let after = server_threads();
    let mut total = 0;
    let mut report = Vec::new();
    for (tid, (name, n)) in &after {
        let was = before.get(tid).map_or(0, |(_, n)| *n);
        total += n - was;
        report.push(format!("{name}[{tid}] +{}", n - was));
    }
    println!("idle second: {total} wake-ups: {}", report.join(", "));
    assert!(
        after.values().any(|(n, _)| n == "brisk-monitor") && after.len() >= 3,
        "expected two loop threads and the monitor: {report:?}"
    );
    assert!(
        total <= MAX_WAKEUPS,
        "an idle server woke {total} times in one second (at most {MAX_WAKEUPS}): {report:?}"
    );
    assert_eq!(idle.get("/").status, 200, "still serving");
}

/// Waits (at most 5 s) until the server's threads stop switching for
/// 300 ms: the monitor has parked and the loops wait in epoll. A server
/// that never settles is measured anyway, and fails.
fn settle(round: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = total_switches();
    let mut still_since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = total_switches();
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= Duration::from_millis(300) {
            return;
        }
    }
    println!("round {round}: the server's threads did not settle within 5 s");
}

fn total_switches() -> u64 {
    server_threads().values().map(|(_, n)| n).sum()
}

/// The server's threads (`brisk-loop*`, which includes the pool's cleaner,
/// and `brisk-monitor`) by tid: name and context switches so far.
fn server_threads() -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let dir = entry.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread has exited
        };
        let comm = comm.trim().to_string();
        if !(comm.starts_with("brisk-loop") || comm == "brisk-monitor") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let switches = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(tid, (comm, switches));
    }
    out
}

/// Runs test `name` of this binary in a child process, alone, and fails if
/// it fails (or did not run).
fn run_alone(name: &str) {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let full = format!("{module}::{name}");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([full.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{full} in a process of its own: {}\n{stdout}\n{stderr}",
        out.status
    );
}

//! No thread outlives the pool: the process's thread count (Linux
//! `/proc/self/status`) returns to where it started after stop or drop.
//!
//! A binary of its own without the test harness, so that no other test's
//! threads come and go while the count is read.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use brisk_pool::{Config, WorkerPool};

type Job = Box<dyn FnOnce() + Send>;

const TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    if !cfg!(target_os = "linux") {
        println!("threads: 0 passed, 0 failed (needs Linux's /proc)");
        return;
    }
    let base = os_threads();
    let scenarios: [(&str, fn()); 4] = [
        ("stop after reaping", stop_after_reaping),
        ("drop with running jobs", drop_with_running_jobs),
        (
            "last handle dropped inside a job",
            last_handle_dropped_inside_a_job,
        ),
        ("failed spawn", failed_spawn),
    ];
    for (name, scenario) in scenarios {
        scenario();
        wait_until(name, || os_threads() == base);
        println!("threads: {name}: ok");
    }
    println!("threads: {} passed, 0 failed", scenarios.len());
}

/// The `Threads:` line of `/proc/self/status`.
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out: {what} (threads now {})",
            os_threads()
        );
        thread::sleep(Duration::from_millis(1));
    }
}

fn job_pool(cfg: Config) -> WorkerPool<Job> {
    WorkerPool::new(cfg, |job: Job| job()).expect("valid config")
}

/// A latch jobs block on.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }

    fn wait(&self) {
        let open = self.0.lock().unwrap();
        let (open, _) = self.1.wait_timeout_while(open, TIMEOUT, |o| !*o).unwrap();
        assert!(*open, "gate never opened");
    }
}

/// Jobs that block until `gate` opens, on `n` fresh workers.
fn occupy(pool: &WorkerPool<Job>, n: usize, gate: &Arc<Gate>) {
    let (started, started_rx) = mpsc::channel();
    for _ in 0..n {
        let (gate, started) = (Arc::clone(gate), started.clone());
        let job: Job = Box::new(move || {
            started.send(()).unwrap();
            gate.wait();
        });
        assert!(pool.serve(job).is_ok());
        started_rx.recv_timeout(TIMEOUT).unwrap();
    }
}

fn stop_after_reaping() {
    let base = os_threads();
    let pool = job_pool(Config {
        max_workers: 6,
        max_idle_worker_duration: Duration::from_millis(20),
        ..Config::default()
    });
    let gate = Arc::new(Gate::default());
    occupy(&pool, 6, &gate);
    assert_eq!(os_threads(), base + 7, "six workers and the cleaner");
    gate.open();
    wait_until("reaping", || pool.stats().threads == 1);
    wait_until("reaped threads to end", || os_threads() == base + 1);
    occupy(&pool, 3, &Arc::new(Gate::default()).tap_open());
    pool.stop();
    assert_eq!(pool.stats().threads, 0);
}

fn drop_with_running_jobs() {
    // In an `Arc` only so that the opener can see the drop begin: the
    // strong count falls to zero just before the pool's `Drop` runs.
    let pool = Arc::new(job_pool(Config {
        max_workers: 4,
        ..Config::default()
    }));
    let gate = Arc::new(Gate::default());
    occupy(&pool, 4, &gate);
    let handle = Arc::downgrade(&pool);
    let opener = thread::spawn({
        let gate = Arc::clone(&gate);
        move || {
            wait_until("the drop to begin", || handle.strong_count() == 0);
            gate.open();
        }
    });
    drop(pool);
    opener.join().unwrap();
}

fn last_handle_dropped_inside_a_job() {
    let pool = Arc::new(job_pool(Config {
        max_workers: 2,
        ..Config::default()
    }));
    let (go, go_rx) = mpsc::channel::<()>();
    let mut last = Some(Arc::clone(&pool));
    let job: Job = Box::new(move || {
        go_rx.recv_timeout(TIMEOUT).unwrap();
        drop(last.take());
    });
    assert!(pool.serve(job).is_ok());
    drop(pool);
    go.send(()).unwrap();
}

fn failed_spawn() {
    let pool = job_pool(Config {
        stack_size: Some(1 << 47),
        logger: Some(Arc::new(|_: &str| {})),
        ..Config::default()
    });
    assert!(pool.serve(Box::new(|| {})).is_err());
    drop(pool);
}

trait TapOpen {
    fn tap_open(self) -> Self;
}

impl TapOpen for Arc<Gate> {
    fn tap_open(self) -> Self {
        self.open();
        self
    }
}

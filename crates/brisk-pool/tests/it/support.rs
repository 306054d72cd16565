//! Helpers shared by the integration tests.

use std::panic;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use brisk_pool::{Config, PoolStats, WorkerPool};

/// A job for pools whose function just calls it.
pub type Job = Box<dyn FnOnce() + Send>;

/// Prefix of panic messages the quiet hook does not print.
pub const QUIET_PANIC: &str = "brisk-pool test panic";

/// Upper bound for every wait on a condition: generous for loaded CI.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A pool running boxed closures.
pub fn job_pool(cfg: Config) -> WorkerPool<Job> {
    quiet_test_panics();
    WorkerPool::new(cfg, |job: Job| job()).expect("valid config")
}

/// Polls `cond` every millisecond until it holds; fails the test after
/// [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `pool`'s stats satisfy `cond` and returns them.
pub fn wait_stats<J: Send + 'static>(
    pool: &WorkerPool<J>,
    what: &str,
    mut cond: impl FnMut(&PoolStats) -> bool,
) -> PoolStats {
    let mut last = pool.stats();
    wait_until(what, || {
        last = pool.stats();
        cond(&last)
    });
    last
}

/// Checks the invariants every `PoolStats` snapshot must satisfy.
pub fn check_invariants(s: &PoolStats, max_workers: usize) {
    assert_eq!(s.alive, s.idle + s.busy, "alive == idle + busy: {s:?}");
    assert!(
        s.alive <= max_workers,
        "alive <= max_workers ({max_workers}): {s:?}"
    );
    assert_eq!(
        s.busy as u64,
        s.served - s.completed,
        "busy == served - completed: {s:?}"
    );
    assert!(
        s.panicked <= s.completed && s.completed <= s.served,
        "{s:?}"
    );
    assert!(s.threads >= s.alive, "threads >= alive: {s:?}");
}

/// A gate jobs wait on until the test opens it.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Blocks until opened (bounded, so a broken test cannot hang).
    pub fn wait(&self) {
        let open = self.open.lock().unwrap();
        let (open, timeout) = self
            .cv
            .wait_timeout_while(open, TIMEOUT, |open| !*open)
            .unwrap();
        assert!(*open && !timeout.timed_out(), "gate never opened");
    }
}

/// Installs, once, a panic hook that stays silent for panics whose message
/// starts with [`QUIET_PANIC`] and prints all others as usual.
pub fn quiet_test_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|m| m.starts_with(QUIET_PANIC)) {
                default(info);
            }
        }));
    });
}

/// A logger that keeps every message.
pub fn capture_logs() -> (brisk_pool::Logger, Arc<Mutex<Vec<String>>>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&logs);
    let logger: brisk_pool::Logger =
        Arc::new(move |msg: &str| sink.lock().unwrap().push(msg.to_owned()));
    (logger, logs)
}

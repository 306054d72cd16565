//! Handing a job to an idle worker allocates nothing, on either thread
//! involved: the submitter (`serve`) and the worker (wake, run, release).
//!
//! A binary of its own without the test harness, since it installs a
//! counting global allocator. It counts on those two threads only: the
//! cleaner thread may still be starting up (the standard library allocates
//! there once) when counting begins on a busy machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brisk_pool::{Config, WorkerPool};

/// Counts allocations (and reallocations) made by the threads that set
/// [`COUNTED`].
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted. Const-initialised and
    /// without a destructor, so reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` via `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static RAN: AtomicU64 = AtomicU64::new(0);

fn main() {
    COUNTED.set(true);
    let pool = WorkerPool::new(
        Config {
            max_workers: 2,
            ..Config::default()
        },
        |n: u64| {
            COUNTED.set(true);
            RAN.fetch_add(n, Ordering::Relaxed);
        },
    )
    .expect("valid config");
    // Warm up: spawn the workers and the cleaner, grow the idle stack.
    let mut served = 0;
    for _ in 0..200 {
        serve_and_wait(&pool, &mut served);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(before > 0, "the counter saw the first serve spawn a worker");
    for _ in 0..2000 {
        serve_and_wait(&pool, &mut served);
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    pool.stop();
    assert_eq!(RAN.load(Ordering::Relaxed), served);
    assert_eq!(
        allocated, 0,
        "allocations on the submitter and worker threads while handing 2000 jobs to an idle worker"
    );
    println!("alloc: 1 passed, 0 failed");
}

/// Serves one job (retrying while the pool is momentarily full) and waits
/// until its worker is idle again.
fn serve_and_wait(pool: &WorkerPool<u64>, served: &mut u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.serve(1).is_err() {
        assert!(Instant::now() < deadline, "the pool stayed full");
        spin_loop();
    }
    *served += 1;
    loop {
        let s = pool.stats();
        if s.completed == *served && s.busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the job never finished: {s:?}");
        spin_loop();
    }
}

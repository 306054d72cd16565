//! serve: LIFO order, rejection when full, reaping, panics, many submitters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};
use std::time::Duration;

use brisk_pool::{Config, ConfigError, WorkerPool};

use crate::support::{Gate, Job, QUIET_PANIC, check_invariants, job_pool, wait_stats, wait_until};

const RECV: Duration = Duration::from_secs(10);

/// A job that reports the id of the thread running it, then waits on `gate`.
fn report_then_wait(tx: &Sender<ThreadId>, gate: &Arc<Gate>) -> Job {
    let (tx, gate) = (tx.clone(), Arc::clone(gate));
    Box::new(move || {
        tx.send(thread::current().id()).unwrap();
        gate.wait();
    })
}

/// A job that only reports the id of the thread running it.
fn report(tx: &Sender<ThreadId>) -> Job {
    let tx = tx.clone();
    Box::new(move || tx.send(thread::current().id()).unwrap())
}

fn recv(rx: &Receiver<ThreadId>) -> ThreadId {
    rx.recv_timeout(RECV).expect("the job ran")
}

#[test]
fn serve_picks_the_most_recently_idled_worker() {
    let pool = job_pool(Config {
        max_workers: 3,
        ..Config::default()
    });
    let (tx, rx) = mpsc::channel();
    let gates = [Gate::new(), Gate::new(), Gate::new()];
    let mut ids = Vec::new();
    for gate in &gates {
        pool.serve(report_then_wait(&tx, gate))
            .map_err(|_| "rejected")
            .unwrap();
        ids.push(recv(&rx));
    }
    let [a, b, c] = [ids[0], ids[1], ids[2]];
    assert!(a != b && b != c && a != c, "three jobs, three workers");
    let s = pool.stats();
    assert_eq!((s.alive, s.busy, s.idle), (3, 3, 0));

    // Idle in the order C, B, A: A ends on top of the stack.
    for (k, gate) in gates.iter().rev().enumerate() {
        gate.open();
        wait_stats(&pool, "a worker to go idle", |s| s.idle == k + 1);
    }
    // Quick jobs keep going to A: it is back on top after each.
    for _ in 0..3 {
        pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
        assert_eq!(recv(&rx), a);
        wait_stats(&pool, "A to go idle again", |s| s.idle == 3);
    }
    // Three long jobs take A, then B, then C.
    let hold = Gate::new();
    for want in [a, b, c] {
        pool.serve(report_then_wait(&tx, &hold))
            .map_err(|_| "rejected")
            .unwrap();
        assert_eq!(recv(&rx), want);
    }
    hold.open();
    let s = wait_stats(&pool, "all idle", |s| s.idle == 3);
    assert_eq!((s.served, s.rejected, s.completed), (9, 0, 9));
    check_invariants(&s, 3);
}

#[test]
fn serve_hands_the_job_back_when_all_max_workers_are_busy() {
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let pool = WorkerPool::new(
        Config {
            max_workers: 2,
            ..Config::default()
        },
        {
            let gate = Arc::clone(&gate);
            move |n: u32| {
                tx.send(n).unwrap();
                gate.wait();
            }
        },
    )
    .unwrap();
    assert_eq!(pool.serve(1), Ok(()));
    assert_eq!(pool.serve(2), Ok(()));
    assert_eq!(pool.serve(3), Err(3), "full: the same job comes back");
    assert_eq!(pool.serve(4), Err(4));
    let s = pool.stats();
    assert_eq!((s.alive, s.busy, s.served, s.rejected), (2, 2, 2, 2));
    check_invariants(&s, 2);

    gate.open();
    let mut got: Vec<u32> = (0..2).map(|_| rx.recv_timeout(RECV).unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2], "rejected jobs never ran");
    wait_stats(&pool, "both idle", |s| s.idle == 2);
    assert_eq!(pool.serve(5), Ok(()), "room again once a worker is idle");
    assert_eq!(rx.recv_timeout(RECV), Ok(5));
    let s = wait_stats(&pool, "idle again", |s| s.idle == 2);
    assert_eq!(s.alive, 2, "the idle worker was reused, no new spawn");
    assert!(rx.try_recv().is_err());
}

#[test]
fn idle_workers_are_reaped_after_max_idle_worker_duration() {
    let pool = job_pool(Config {
        max_workers: 4,
        max_idle_worker_duration: Duration::from_millis(30),
        ..Config::default()
    });
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    for _ in 0..4 {
        pool.serve(report_then_wait(&tx, &gate))
            .map_err(|_| "rejected")
            .unwrap();
        recv(&rx);
    }
    assert_eq!(pool.stats().alive, 4);
    gate.open();
    // All four go idle, are reaped, and their threads are joined: only the
    // cleaner is left.
    let s = wait_stats(&pool, "reaping", |s| s.alive == 0 && s.threads == 1);
    assert_eq!((s.idle, s.busy, s.served, s.completed), (0, 0, 4, 4));
    check_invariants(&s, 4);
    // The pool still serves: a new worker is spawned.
    pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
    recv(&rx);
    let s = wait_stats(&pool, "the new worker to be idle", |s| s.idle == 1);
    assert_eq!(s.served, 5);
}

#[test]
fn reaping_cuts_the_stale_bottom_and_keeps_the_busy_top() {
    let pool = job_pool(Config {
        max_workers: 2,
        max_idle_worker_duration: Duration::from_millis(200),
        ..Config::default()
    });
    let (tx, rx) = mpsc::channel();
    let (g_old, g_hot) = (Gate::new(), Gate::new());
    pool.serve(report_then_wait(&tx, &g_old))
        .map_err(|_| "rejected")
        .unwrap();
    let old = recv(&rx);
    pool.serve(report_then_wait(&tx, &g_hot))
        .map_err(|_| "rejected")
        .unwrap();
    let hot = recv(&rx);
    g_old.open();
    wait_stats(&pool, "old idle", |s| s.idle == 1);
    g_hot.open();
    wait_stats(&pool, "hot idle on top", |s| s.idle == 2);

    // Keep the top worker busy with quick jobs: LIFO gives them all to
    // `hot`, so only `old` idles past 200 ms and is reaped.
    wait_until("the stale worker to be reaped", || {
        pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
        assert_eq!(recv(&rx), hot, "LIFO: the hot worker takes every job");
        wait_stats(&pool, "hot idle", |s| s.busy == 0);
        pool.stats().alive == 1
    });
    pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
    assert_eq!(recv(&rx), hot, "the survivor is the hot worker");
    assert_ne!(old, hot);
}

#[test]
fn a_panicking_job_is_counted_and_its_worker_keeps_serving() {
    let pool = job_pool(Config {
        max_workers: 1,
        ..Config::default()
    });
    let (tx, rx) = mpsc::channel();
    pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
    let worker = recv(&rx);
    wait_stats(&pool, "idle", |s| s.idle == 1);

    for k in 1..=3 {
        pool.serve(Box::new(|| panic!("{QUIET_PANIC}: job fails")))
            .map_err(|_| "rejected")
            .unwrap();
        let s = wait_stats(&pool, "the panic to be caught", |s| s.completed == 1 + k);
        assert_eq!((s.panicked, s.busy, s.alive, s.idle), (k, 0, 1, 1), "{s:?}");
        check_invariants(&s, 1);
    }
    pool.serve(report(&tx)).map_err(|_| "rejected").unwrap();
    assert_eq!(recv(&rx), worker, "the same worker survived the panics");
}

#[test]
fn serve_from_eight_threads_at_once_keeps_every_count() {
    const THREADS: usize = 8;
    const JOBS: u64 = 1500;
    const MAX: usize = 3;
    let ran = Arc::new(AtomicU64::new(0));
    let pool = Arc::new(
        WorkerPool::new(
            Config {
                max_workers: MAX,
                ..Config::default()
            },
            {
                let ran = Arc::clone(&ran);
                move |n: u64| {
                    ran.fetch_add(n, Ordering::Relaxed);
                }
            },
        )
        .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let monitor = thread::spawn({
        let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
        move || {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                check_invariants(&pool.stats(), MAX);
                samples += 1;
                thread::yield_now();
            }
            samples
        }
    });
    let start = Arc::new(Barrier::new(THREADS));
    let submitters: Vec<_> = (0..THREADS)
        .map(|_| {
            let (pool, start) = (Arc::clone(&pool), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let (mut accepted, mut rejected) = (0u64, 0u64);
                for _ in 0..JOBS {
                    let mut job = 1;
                    while let Err(back) = pool.serve(job) {
                        rejected += 1;
                        job = back;
                        thread::yield_now();
                    }
                    accepted += 1;
                }
                (accepted, rejected)
            })
        })
        .collect();
    let (mut accepted, mut rejected) = (0, 0);
    for s in submitters {
        let (a, r) = s.join().unwrap();
        accepted += a;
        rejected += r;
    }
    pool.stop();
    done.store(true, Ordering::Relaxed);
    assert!(monitor.join().unwrap() > 0);

    let s = pool.stats();
    assert_eq!(accepted, THREADS as u64 * JOBS);
    assert_eq!((s.served, s.rejected), (accepted, rejected));
    assert_eq!(s.completed, s.served);
    assert_eq!(
        ran.load(Ordering::Relaxed),
        accepted,
        "every accepted job ran exactly once"
    );
    assert_eq!((s.alive, s.busy, s.idle, s.threads), (0, 0, 0, 0));
}

#[test]
fn new_rejects_a_bad_config_with_a_typed_error() {
    let err = WorkerPool::new(
        Config {
            max_workers: 0,
            ..Config::default()
        },
        |_: ()| {},
    )
    .unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxWorkers);
    assert!(err.to_string().contains("max_workers"));
    let err = WorkerPool::new(
        Config {
            max_idle_worker_duration: Duration::ZERO,
            ..Config::default()
        },
        |_: ()| {},
    )
    .unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxIdleWorkerDuration);
}

#[test]
fn a_new_pool_starts_no_thread_and_debug_shows_its_counters() {
    let pool = job_pool(Config {
        name: "dbg".to_owned(),
        ..Config::default()
    });
    assert_eq!(pool.stats(), Default::default());
    assert_eq!(pool.config().name, "dbg");
    let dbg = format!("{pool:?}");
    assert!(
        dbg.starts_with("WorkerPool { name: \"dbg\", max_workers: 4096, stats: "),
        "{dbg}"
    );
}

#[test]
fn worker_threads_carry_the_configured_name() {
    let pool = job_pool(Config {
        name: "bp".to_owned(),
        ..Config::default()
    });
    let (tx, rx) = mpsc::channel();
    pool.serve(Box::new(move || {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    }))
    .map_err(|_| "rejected")
    .unwrap();
    assert_eq!(rx.recv_timeout(RECV).unwrap().as_deref(), Some("bp-0"));
}

#[test]
fn the_pool_is_send_and_sync_for_jobs_that_are_only_send() {
    fn shareable<T: Send + Sync>() {}
    // `Cell` is Send but not Sync: the pool must still be shareable.
    shareable::<WorkerPool<std::cell::Cell<u8>>>();
    shareable::<WorkerPool<Job>>();
}

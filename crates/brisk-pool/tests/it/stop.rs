//! stop: while jobs run, idempotent, concurrent, from inside a job, on drop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use brisk_pool::Config;

use crate::support::{Gate, job_pool, wait_stats, wait_until};

const RECV: Duration = Duration::from_secs(10);

#[test]
fn stop_refuses_new_jobs_and_waits_for_running_ones() {
    let pool = Arc::new(job_pool(Config {
        max_workers: 4,
        ..Config::default()
    }));
    let (started, started_rx) = mpsc::channel();
    let (gate, idle_gate) = (Gate::new(), Gate::new());
    for g in [&gate, &gate, &idle_gate] {
        let (g, started) = (Arc::clone(g), started.clone());
        pool.serve(Box::new(move || {
            started.send(()).unwrap();
            g.wait();
        }))
        .map_err(|_| "rejected")
        .unwrap();
        started_rx.recv_timeout(RECV).unwrap();
    }
    idle_gate.open();
    wait_stats(&pool, "one idle, two busy", |s| s.idle == 1 && s.busy == 2);

    // Set just before the gate opens: `stop` must not return before.
    let opened = Arc::new(AtomicBool::new(false));
    let stopper = thread::spawn({
        let (pool, opened) = (Arc::clone(&pool), Arc::clone(&opened));
        move || {
            pool.stop();
            (opened.load(Ordering::SeqCst), pool.stats())
        }
    });
    wait_until("stop to begin", || pool.is_stopped());
    assert!(
        pool.serve(Box::new(|| {})).is_err(),
        "a stopped pool takes no job"
    );
    let s = wait_stats(&pool, "the idle worker to leave", |s| s.alive == 2);
    assert_eq!((s.idle, s.busy, s.rejected), (0, 2, 1));
    // The running jobs hold stop back.
    assert!(
        !stopper.is_finished(),
        "stop returned while jobs were running"
    );

    opened.store(true, Ordering::SeqCst);
    gate.open();
    let (returned_after_open, s) = stopper.join().unwrap();
    assert!(
        returned_after_open,
        "stop returned before the running jobs could finish"
    );
    assert_eq!((s.alive, s.idle, s.busy, s.threads), (0, 0, 0, 0), "{s:?}");
    assert_eq!((s.served, s.completed, s.rejected), (3, 3, 1));
}

#[test]
fn stop_is_idempotent_and_every_concurrent_caller_waits_for_the_end() {
    let pool = Arc::new(job_pool(Config {
        max_workers: 2,
        ..Config::default()
    }));
    let gate = Gate::new();
    let (started, started_rx) = mpsc::channel();
    for _ in 0..2 {
        let (g, started) = (Arc::clone(&gate), started.clone());
        pool.serve(Box::new(move || {
            started.send(()).unwrap();
            g.wait();
        }))
        .map_err(|_| "rejected")
        .unwrap();
        started_rx.recv_timeout(RECV).unwrap();
    }
    let go = Arc::new(Barrier::new(5));
    let stoppers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, go) = (Arc::clone(&pool), Arc::clone(&go));
            thread::spawn(move || {
                go.wait();
                pool.stop();
                pool.stats()
            })
        })
        .collect();
    go.wait();
    wait_until("stop to begin", || pool.is_stopped());
    gate.open();
    for s in stoppers {
        let s = s.join().unwrap();
        assert_eq!((s.threads, s.alive, s.completed), (0, 0, 2), "{s:?}");
    }
    pool.stop();
    pool.stop();
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn stop_on_a_pool_that_never_served_returns_at_once() {
    let pool = job_pool(Config::default());
    pool.stop();
    assert!(pool.is_stopped());
    assert!(pool.serve(Box::new(|| {})).is_err());
    assert_eq!(pool.stats().rejected, 1);
}

#[test]
fn stop_from_inside_a_job_does_not_wait_for_itself() {
    let pool = Arc::new(job_pool(Config {
        max_workers: 2,
        ..Config::default()
    }));
    let (done, done_rx) = mpsc::channel();
    let inner = Arc::clone(&pool);
    pool.serve(Box::new(move || {
        inner.stop();
        done.send(inner.is_stopped()).unwrap();
    }))
    .map_err(|_| "rejected")
    .unwrap();
    assert_eq!(
        done_rx.recv_timeout(RECV),
        Ok(true),
        "the job's stop returned"
    );
    pool.stop();
    let s = pool.stats();
    assert_eq!((s.threads, s.alive, s.completed), (0, 0, 1));
}

#[test]
fn dropping_the_last_handle_inside_a_job_does_not_deadlock() {
    let pool = Arc::new(job_pool(Config {
        max_workers: 1,
        ..Config::default()
    }));
    let (done, done_rx) = mpsc::channel();
    let (handed, handed_rx) = mpsc::channel::<()>();
    let mut last = Some(Arc::clone(&pool));
    pool.serve(Box::new(move || {
        // Wait until the test dropped its handle: this one is the last.
        handed_rx.recv_timeout(RECV).unwrap();
        drop(last.take());
        done.send(()).unwrap();
    }))
    .map_err(|_| "rejected")
    .unwrap();
    drop(pool);
    handed.send(()).unwrap();
    assert_eq!(
        done_rx.recv_timeout(RECV),
        Ok(()),
        "drop inside the job returned"
    );
}

#[test]
fn drop_stops_the_pool_and_waits_for_running_jobs() {
    let gate = Gate::new();
    let (finished, finished_rx) = mpsc::channel();
    // In an `Arc` only so that the opener can see the drop begin: the
    // strong count falls to zero just before the pool's `Drop` runs.
    let pool = Arc::new(job_pool(Config {
        max_workers: 2,
        ..Config::default()
    }));
    let (started, started_rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    pool.serve(Box::new(move || {
        started.send(()).unwrap();
        g.wait();
        finished.send(()).unwrap();
    }))
    .map_err(|_| "rejected")
    .unwrap();
    started_rx.recv_timeout(RECV).unwrap();
    let handle = Arc::downgrade(&pool);
    let opener = thread::spawn(move || {
        wait_until("the drop to begin", || handle.strong_count() == 0);
        gate.open();
    });
    drop(pool);
    // The job finished before drop returned.
    assert_eq!(finished_rx.try_recv(), Ok(()));
    opener.join().unwrap();
}

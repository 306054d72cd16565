//! The logger hook: what is logged, and that a bad logger breaks nothing.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use brisk_pool::{Config, WorkerPool};

use crate::support::{Gate, QUIET_PANIC, capture_logs, job_pool, wait_stats};

#[test]
fn panics_are_always_logged_rejections_only_with_log_all_errors() {
    for log_all_errors in [false, true] {
        let (logger, logs) = capture_logs();
        let pool = job_pool(Config {
            max_workers: 1,
            log_all_errors,
            name: "logpool".to_owned(),
            logger: Some(logger),
            ..Config::default()
        });
        pool.serve(Box::new(|| panic!("{QUIET_PANIC}: boom")))
            .map_err(|_| "rejected")
            .unwrap();
        wait_stats(&pool, "the panic", |s| s.panicked == 1 && s.busy == 0);

        let gate = Gate::new();
        let g = Arc::clone(&gate);
        pool.serve(Box::new(move || g.wait()))
            .map_err(|_| "rejected")
            .unwrap();
        assert!(pool.serve(Box::new(|| {})).is_err(), "full");
        gate.open();
        pool.stop();
        assert!(pool.serve(Box::new(|| {})).is_err(), "stopped");

        let logs = logs.lock().unwrap().clone();
        assert!(
            logs[0].starts_with("logpool: job panicked: brisk-pool test panic: boom;"),
            "{logs:?}"
        );
        if log_all_errors {
            assert_eq!(logs.len(), 3, "{logs:?}");
            assert!(
                logs[1].contains("all 1 workers are busy; raise max_workers"),
                "{logs:?}"
            );
            assert!(logs[2].contains("the pool is stopped"), "{logs:?}");
        } else {
            assert_eq!(logs.len(), 1, "{logs:?}");
        }
    }
}

#[test]
fn a_failed_thread_spawn_hands_the_job_back_and_is_logged() {
    let (logger, logs) = capture_logs();
    let pool = WorkerPool::new(
        Config {
            // A 128 TiB stack exceeds the whole user address space: pthread_create
            // fails whatever the overcommit policy.
            stack_size: Some(1 << 47),
            logger: Some(logger),
            ..Config::default()
        },
        |_: String| {},
    )
    .unwrap();
    assert_eq!(pool.serve("job".to_owned()), Err("job".to_owned()));
    let s = pool.stats();
    assert_eq!(
        (s.served, s.rejected, s.alive, s.busy),
        (0, 1, 0, 0),
        "{s:?}"
    );
    assert_eq!(
        s.threads, 1,
        "only the cleaner (default stack) started: {s:?}"
    );
    let logs = logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("cannot spawn a worker thread"), "{logs:?}");
    pool.stop();
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn a_panicking_logger_breaks_nothing() {
    let pool = job_pool(Config {
        max_workers: 1,
        log_all_errors: true,
        logger: Some(Arc::new(|msg: &str| {
            panic!("{QUIET_PANIC}: logger fails on {msg}")
        })),
        ..Config::default()
    });
    let (tx, rx) = mpsc::channel();
    pool.serve(Box::new(|| panic!("{QUIET_PANIC}: job fails")))
        .map_err(|_| "rejected")
        .unwrap();
    wait_stats(&pool, "the panic", |s| s.panicked == 1 && s.idle == 1);
    pool.serve(Box::new(move || tx.send(()).unwrap()))
        .map_err(|_| "rejected")
        .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(()),
        "the worker survived"
    );
    pool.stop();
    assert!(
        pool.serve(Box::new(|| {})).is_err(),
        "rejection logged through the bad logger"
    );
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.threads), (2, 1, 0));
}

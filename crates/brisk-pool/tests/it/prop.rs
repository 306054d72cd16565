//! Random serve / pause / stop sequences keep every counter invariant.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use brisk_pool::{Config, PoolStats, WorkerPool};
use proptest::prelude::*;

use crate::support::{QUIET_PANIC, check_invariants, quiet_test_panics};

#[derive(Debug, Clone)]
enum Op {
    /// Submit a job that holds its worker for `hold_us`, then maybe panics.
    Serve { hold_us: u64, panic: bool },
    /// Let the submitter sleep, so workers finish and the cleaner reaps.
    Pause { us: u64 },
    /// Stop the pool; later serves must be handed back.
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..1500u64, prop::bool::weighted(0.1)).prop_map(|(hold_us, panic)| Op::Serve { hold_us, panic }),
        6 => (0..4000u64).prop_map(|us| Op::Pause { us }),
        1 => Just(Op::Stop),
    ]
}

fn check_stopped(s: &PoolStats, ran: u64) {
    assert_eq!(
        (s.alive, s.idle, s.busy, s.threads),
        (0, 0, 0, 0),
        "after stop: {s:?}"
    );
    assert_eq!(
        s.completed, s.served,
        "after stop every accepted job finished: {s:?}"
    );
    assert_eq!(ran, s.served, "every accepted job ran exactly once: {s:?}");
}

fn run(max_workers: usize, max_idle_ms: u64, ops: &[Op]) {
    quiet_test_panics();
    let ran = Arc::new(AtomicU64::new(0));
    let cfg = Config {
        max_workers,
        max_idle_worker_duration: Duration::from_millis(max_idle_ms),
        ..Config::default()
    };
    let pool = WorkerPool::new(cfg, {
        let ran = Arc::clone(&ran);
        move |(hold_us, panic): (u64, bool)| {
            ran.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_micros(hold_us));
            if panic {
                std::panic::panic_any(QUIET_PANIC);
            }
        }
    })
    .unwrap();
    let (mut submitted, mut stopped) = (0u64, false);
    for op in ops {
        match *op {
            Op::Serve { hold_us, panic } => {
                submitted += 1;
                let res = pool.serve((hold_us, panic));
                if stopped {
                    assert_eq!(res, Err((hold_us, panic)), "a stopped pool hands jobs back");
                } else if let Err(back) = res {
                    assert_eq!(
                        back,
                        (hold_us, panic),
                        "the job handed back is the one given"
                    );
                    assert!(pool.stats().served > 0, "an empty pool cannot be full");
                }
            }
            Op::Pause { us } => thread::sleep(Duration::from_micros(us)),
            Op::Stop => {
                pool.stop();
                stopped = true;
                check_stopped(&pool.stats(), ran.load(Ordering::Relaxed));
            }
        }
        let s = pool.stats();
        check_invariants(&s, max_workers);
        assert_eq!(
            s.served + s.rejected,
            submitted,
            "served + rejected == submitted: {s:?}"
        );
    }
    pool.stop();
    let s = pool.stats();
    check_stopped(&s, ran.load(Ordering::Relaxed));
    assert_eq!(s.served + s.rejected, submitted);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn counters_hold_their_invariants_under_random_use(
        max_workers in 1..=4usize,
        max_idle_ms in 1..=10u64,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(max_workers, max_idle_ms, &ops);
    }
}

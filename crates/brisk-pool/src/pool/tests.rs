use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::sync::Parker;

use super::{Idle, drop_payload, push_idle, stale_prefix};
use crate::slot::{Command, Slot};

fn slot() -> Arc<Slot<()>> {
    Arc::new(Slot::new(Parker::new().unparker().clone(), Command::Empty))
}

fn stack(t0: Instant, offsets_ms: &[u64]) -> Vec<Idle<()>> {
    let mut ready = Vec::new();
    for &ms in offsets_ms {
        push_idle(&mut ready, t0 + Duration::from_millis(ms), slot());
    }
    ready
}

#[test]
fn stale_prefix_cuts_exactly_the_workers_idle_at_least_max_idle() {
    let t0 = Instant::now();
    let ready = stack(t0, &[0, 10, 10, 20, 35, 50]);
    let max_idle = Duration::from_millis(20);
    let at = |ms| t0 + Duration::from_millis(ms);
    assert_eq!(stale_prefix(&ready, at(19), max_idle), 0);
    assert_eq!(stale_prefix(&ready, at(20), max_idle), 1);
    assert_eq!(stale_prefix(&ready, at(30), max_idle), 3);
    assert_eq!(stale_prefix(&ready, at(54), max_idle), 4);
    assert_eq!(stale_prefix(&ready, at(70), max_idle), 6);
    assert_eq!(stale_prefix::<()>(&[], at(70), max_idle), 0);
}

#[test]
fn stale_prefix_never_underflows_the_clock() {
    let ready = stack(Instant::now(), &[0, 1]);
    assert_eq!(stale_prefix(&ready, Instant::now(), Duration::MAX), 0);
}

#[test]
fn push_idle_keeps_the_stack_sorted_when_clocks_arrive_out_of_order() {
    let t0 = Instant::now();
    // Workers read the clock before taking the lock, so a later push can
    // carry an earlier time.
    let ready = stack(t0, &[5, 3, 9, 1, 9, 12]);
    let since: Vec<_> = ready
        .iter()
        .map(|w| w.since.duration_since(t0).as_millis())
        .collect();
    assert_eq!(since, [5, 5, 9, 9, 9, 12]);
    assert!(ready.windows(2).all(|w| w[0].since <= w[1].since));
}

#[test]
fn drop_payload_survives_a_payload_whose_drop_panics() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            std::panic::panic_any("second panic from a payload's drop");
        }
    }
    let payload = std::panic::catch_unwind(|| std::panic::panic_any(Bomb)).err();
    let payload = payload.expect("the closure panicked");
    // Must return normally instead of unwinding through the worker.
    drop_payload(payload);
}

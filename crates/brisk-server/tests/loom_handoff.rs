//! Model-checks the take-over protocol with loom: `src/handoff.rs` is
//! compiled here as it is in the library, but against loom's atomics,
//! mutex and park/unpark (the `sync` module below), and each model runs over
//! every interleaving of its threads (up to a preemption bound for the
//! largest), under loom's model of the memory orderings. Plain `cargo test` runs it; no `--cfg loom`.
//!
//! * `take_over`: an owner goes away and comes back twice while a monitor
//!   thread looks once and claims what it saw. The loop state is a loom
//!   `UnsafeCell` with no lock around it, so two threads touching it without
//!   the protocol ordering them is reported; per away value exactly one of
//!   "came back" and "claimed" happens; a connection handed back by an
//!   owner that lost the loop always reaches the new owner.
//! * `monitor_wakes_for_a_loop_going_away`, `monitor_wakes_for_shutdown`:
//!   the monitor parks without a timeout while a loop goes away (or the
//!   server stops) concurrently. A lost wake-up leaves it parked for ever,
//!   which loom reports as a deadlock.
//! * `monitor_parks_wakes_and_takes_over`: both at once, as in the server.
//!
//! Each model also counts the executions in which the interesting thing
//! (a take-over, a park) happened, and fails if none or all did.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// What `handoff.rs` uses as `crate::sync`: loom's types.
mod sync {
    pub(crate) use loom::sync::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{Thread, current, park};
    }
}

#[path = "../src/handoff.rs"]
mod handoff;

use handoff::{Ctl, MonitorGate, Returns};

/// The preemption bound of the model with four threads: enough for each
/// ordering question here (one or two preemptions each), and it keeps the
/// model to about a second in a debug build. The smaller models are
/// explored completely (no bound) in about as long.
const PREEMPTIONS: usize = 3;

/// Runs `f` over the interleavings loom explores with at most `preemptions`
/// per execution (`None`: all of them); returns how many.
fn explore(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) -> usize {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = preemptions;
    b.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    runs.load(Relaxed)
}

/// A connection: only ever touched by the thread that holds it.
struct Conn {
    drives: u32,
}

/// What the loop's owner alone may touch (in the server: `LoopState`).
struct LoopState {
    /// The connection's slot: `None` while it is checked out.
    slot: Option<Conn>,
    /// Turns of the loop taken by any owner.
    turns: u32,
}

struct Loop {
    ctl: Ctl,
    gate: MonitorGate,
    returns: Returns<Conn>,
    /// The loop's eventfd: a counter the new owner's poll reads.
    wake: AtomicU64,
    state: UnsafeCell<LoopState>,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            ctl: Ctl::new(),
            gate: MonitorGate::new(),
            returns: Returns::new(),
            wake: AtomicU64::new(0),
            state: UnsafeCell::new(LoopState {
                slot: Some(Conn { drives: 0 }),
                turns: 0,
            }),
        }
    }
}

/// Connection events the first owner handles (each: away and back).
const ROUNDS: u64 = 2;

/// The first owner, as `run_loop`: per event it checks the connection out,
/// goes away, drives it, comes back and files it; or, taken over, hands it
/// back, wakes the loop and leaves. Returns (away value, came back) per
/// event.
fn own(lp: &Loop) -> Vec<(u64, bool)> {
    let mut seq = 0;
    let mut outcomes = Vec::new();
    for _ in 0..ROUNDS {
        let mut conn = lp.state.with_mut(|s| {
            // SAFETY: this thread owns the loop (it holds `seq`); loom
            // reports any access not ordered after the previous owner's.
            let s = unsafe { &mut *s };
            s.turns += 1;
            s.slot.take().expect("the owner finds its connection")
        });
        // The away value doubles as the clock reading.
        let away = lp.ctl.go_away(seq, seq + 1, &lp.gate);
        conn.drives += 1;
        let back = lp.ctl.come_back(away);
        outcomes.push((away, back));
        if !back {
            lp.returns.give(conn);
            lp.wake.fetch_add(1, Ordering::Release);
            break;
        }
        seq = away + 1;
        lp.state.with_mut(|s| {
            // SAFETY: `come_back` succeeded: still the owner.
            unsafe { (*s).slot = Some(conn) };
        });
    }
    outcomes
}

/// A spare thread sent for away value `v`: claims the loop and, if that
/// wins, runs it (a turn, then the poll that finds the old owner's wake and
/// files the returned connection). Returns whether it won.
fn spare_thread(lp: &Loop, v: u64) -> bool {
    assert!(lp.ctl.away_since_us() >= v, "`since` older than {v}");
    if lp.ctl.claim(v).is_none() {
        return false;
    }
    lp.state.with_mut(|s| {
        // SAFETY: the claim succeeded: this thread owns the loop.
        unsafe { (*s).turns += 1 };
    });
    while lp.wake.load(Ordering::Acquire) == 0 {
        thread::yield_now();
    }
    for conn in lp.returns.take_all() {
        lp.state.with_mut(|s| {
            // SAFETY: as above.
            let s = unsafe { &mut *s };
            assert!(s.slot.is_none(), "two connections for one slot");
            s.slot = Some(conn);
        });
    }
    true
}

/// After both threads: exactly one of "came back" and "claimed" per away
/// value, and the connection is back in its slot, driven once per event.
fn check(lp: &Loop, outcomes: &[(u64, bool)], claimed: Option<u64>) {
    for &(away, back) in outcomes {
        assert_eq!(away & 1, 1);
        assert_ne!(
            back,
            claimed == Some(away),
            "away value {away}: came back {back}, claimed {claimed:?}"
        );
    }
    if let Some(v) = claimed {
        assert!(outcomes.contains(&(v, false)), "{outcomes:?} {v}");
    }
    lp.state.with(|s| {
        // SAFETY: both threads have finished.
        let s = unsafe { &*s };
        let conn = s.slot.as_ref().expect("the connection is back in its slot");
        assert_eq!(conn.drives as usize, outcomes.len());
        let turns = outcomes.len() + usize::from(claimed.is_some());
        assert_eq!(s.turns as usize, turns);
    });
}

/// Fails unless some but not all of `runs` executions did `what`.
fn some_not_all(name: &str, what: &str, n: usize, runs: usize) {
    println!("{name}: {runs} interleavings explored, {n} with {what}");
    assert!(
        n > 0 && n < runs,
        "{name}: {n} of {runs} executions with {what}"
    );
}

#[test]
fn take_over() {
    static CLAIMED: AtomicUsize = AtomicUsize::new(0);
    let runs = explore(None, || {
        let lp = Arc::new(Loop::new());
        let owner = {
            let lp = lp.clone();
            thread::spawn(move || own(&lp))
        };
        // The monitor and the spare thread it sends: one look, and a claim
        // of whatever away value it saw.
        let taker = {
            let lp = lp.clone();
            thread::spawn(move || {
                let v = lp.ctl.away()?;
                spare_thread(&lp, v).then_some(v)
            })
        };
        let outcomes = owner.join().unwrap();
        let claimed = taker.join().unwrap();
        check(&lp, &outcomes, claimed);
        CLAIMED.fetch_add(usize::from(claimed.is_some()), Relaxed);
    });
    let claimed = CLAIMED.load(Relaxed);
    some_not_all("take_over", "a take-over", claimed, runs);
}

/// Two loops; the owner of the second goes away, comes back, and goes away
/// again (and stays away: a blocked handler). The monitor parks whenever its
/// look finds no loop away and must always be woken for one.
#[test]
fn monitor_wakes_for_a_loop_going_away() {
    static PARKED: AtomicUsize = AtomicUsize::new(0);
    let runs = explore(None, || {
        let ctls = Arc::new([Ctl::new(), Ctl::new()]);
        let gate = Arc::new(MonitorGate::new());
        let monitor = {
            let (ctls, gate) = (ctls.clone(), gate.clone());
            thread::spawn(move || {
                let mut parks = 0;
                while ctls.iter().all(|c| c.away().is_none()) {
                    parks += usize::from(gate.park_while_idle(ctls.iter(), || false));
                }
                parks
            })
        };
        let owner = {
            let (ctls, gate) = (ctls.clone(), gate.clone());
            thread::spawn(move || {
                let away = ctls[1].go_away(0, 0, &gate);
                assert!(ctls[1].come_back(away), "nobody claims here");
                ctls[1].go_away(away + 1, 0, &gate);
            })
        };
        owner.join().unwrap();
        let parks = monitor.join().unwrap();
        assert!(parks <= 2, "parked {parks} times for two absences");
        PARKED.fetch_add(usize::from(parks > 0), Relaxed);
    });
    let parked = PARKED.load(Relaxed);
    some_not_all(
        "monitor_wakes_for_a_loop_going_away",
        "the monitor parked",
        parked,
        runs,
    );
}

/// The server stops (every loop done, then `serve` unparks the monitor)
/// while the monitor decides to park.
#[test]
fn monitor_wakes_for_shutdown() {
    static PARKED: AtomicUsize = AtomicUsize::new(0);
    let runs = explore(None, || {
        let ctls = Arc::new([Ctl::new()]);
        let gate = Arc::new(MonitorGate::new());
        let done = Arc::new(Mutex::new(false));
        let monitor = {
            let (ctls, gate, done) = (ctls.clone(), gate.clone(), done.clone());
            thread::spawn(move || {
                let mut parks = 0;
                while !*done.lock().unwrap() {
                    let stop = || *done.lock().unwrap();
                    parks += usize::from(gate.park_while_idle(ctls.iter(), stop));
                }
                parks
            })
        };
        *done.lock().unwrap() = true;
        monitor.thread().unpark();
        let parks = monitor.join().unwrap();
        PARKED.fetch_add(usize::from(parks > 0), Relaxed);
    });
    let parked = PARKED.load(Relaxed);
    some_not_all(
        "monitor_wakes_for_shutdown",
        "the monitor parked",
        parked,
        runs,
    );
}

/// Both together, as in the server: the monitor parks whenever its look
/// finds the loop in its own code, is woken by the owner going away, and
/// claims the loop when it sees it away; an owner never taken over stops
/// the server at the end (as `serve` does: done, then unpark the monitor).
/// The monitor's parked mark must never make `come_back` or a claim fail.
#[test]
fn monitor_parks_wakes_and_takes_over() {
    static CLAIMED: AtomicUsize = AtomicUsize::new(0);
    static PARKED: AtomicUsize = AtomicUsize::new(0);
    let runs = explore(Some(PREEMPTIONS), || {
        let lp = Arc::new(Loop::new());
        let done = Arc::new(Mutex::new(false));
        let monitor = {
            let (lp, done) = (lp.clone(), done.clone());
            thread::spawn(move || {
                let mut parks = 0;
                let claimed = loop {
                    if *done.lock().unwrap() {
                        break None;
                    }
                    match lp.ctl.away() {
                        Some(v) if spare_thread(&lp, v) => break Some(v),
                        Some(_) => {}
                        None => {
                            let stop = || *done.lock().unwrap();
                            let parked = lp.gate.park_while_idle([&lp.ctl].into_iter(), stop);
                            parks += usize::from(parked);
                        }
                    }
                };
                (claimed, parks)
            })
        };
        let owner = {
            let (lp, done) = (lp.clone(), done.clone());
            let monitor_thread = monitor.thread().clone();
            thread::spawn(move || {
                let outcomes = own(&lp);
                if outcomes.iter().all(|&(_, back)| back) {
                    *done.lock().unwrap() = true;
                    monitor_thread.unpark();
                }
                outcomes
            })
        };
        let outcomes = owner.join().unwrap();
        let (claimed, parks) = monitor.join().unwrap();
        check(&lp, &outcomes, claimed);
        CLAIMED.fetch_add(usize::from(claimed.is_some()), Relaxed);
        PARKED.fetch_add(usize::from(parks > 0), Relaxed);
    });
    let name = "monitor_parks_wakes_and_takes_over";
    some_not_all(name, "a take-over", CLAIMED.load(Relaxed), runs);
    some_not_all(name, "the monitor parked", PARKED.load(Relaxed), runs);
}

//! The take-over protocol between a loop's owner, the monitor and a spare
//! thread, kept apart from the loop it guards so that a model checker can
//! run it.
//!
//! * [`Ctl`], one word per loop. Even: the owner is in loop code. Odd: the
//!   owner is away driving a connection, maybe in a slow handler. The owner
//!   goes away ([`Ctl::go_away`]) and comes back ([`Ctl::come_back`], a
//!   compare-and-swap from the away value); a spare thread sent by the
//!   monitor claims a loop away at a given value ([`Ctl::claim`], a
//!   compare-and-swap from the same value). Exactly one of the two swaps
//!   wins, so a loop never has two owners.
//! * [`Returns`]: an owner whose loop was claimed while it was away owns
//!   only its connection, and hands it to the new owner through this list
//!   (then wakes the loop).
//! * [`MonitorGate`]: lets the monitor sleep without a timeout while no
//!   loop is away. Before it parks, the monitor sets [`PARKED`] in every
//!   loop's `Ctl` word, each with a compare-and-swap that succeeds only on
//!   an even value; the owner's `go_away` is a swap that returns the old
//!   word, so the first loop to go away afterwards sees the bit and wakes
//!   the monitor. Both sides are read-modify-writes of the same word: one
//!   comes first in its modification order and the other sees it, so a
//!   wake-up cannot be lost, and the owner pays nothing beyond the swap
//!   that publishes "away" (no second shared variable to read).
//!
//! Written against `crate::sync` (std in the library);
//! `tests/loom_handoff.rs` compiles this same file against loom's types
//! and checks these claims over every interleaving.

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, Thread};
use crate::sync::{Mutex, MutexGuard};

/// Set in a loop's `Ctl` word by a monitor that is about to park (only on
/// an even value; the owner's next `go_away` clears it and wakes the
/// monitor). Sequence values never reach this bit.
pub(crate) const PARKED: u64 = 1 << 63;

/// A loop's ownership word, and when its owner last went away.
pub(crate) struct Ctl {
    /// Even: the owner is in loop code. Odd: the owner is away. Only the
    /// sequence (below [`PARKED`]) increases: +1 on going away, +1 on
    /// coming back, +3 when claimed (even, and never a value the old owner
    /// expects).
    word: AtomicU64,
    /// When the owner last went away (µs on the caller's clock), written
    /// just before the odd value is published.
    since_us: AtomicU64,
}

impl Ctl {
    /// A loop owned by its first thread at sequence 0.
    pub(crate) fn new() -> Ctl {
        Ctl {
            word: AtomicU64::new(0),
            since_us: AtomicU64::new(0),
        }
    }

    /// The owner, at even `seq`, is about to drive a connection without the
    /// loop (`now_us`: the time, for the monitor). Returns the away value to
    /// come back from. Wakes the monitor if it parked waiting for this.
    #[inline]
    pub(crate) fn go_away(&self, seq: u64, now_us: u64, gate: &MonitorGate) -> u64 {
        debug_assert_eq!(seq & (PARKED | 1), 0);
        let away = seq + 1;
        self.since_us.store(now_us, Ordering::Relaxed);
        // Release: whoever claims `away` sees everything the owner did to
        // the loop before (and `since_us`). Acquire: reading the monitor's
        // PARKED means seeing the monitor's registration in `gate` too.
        let old = self.word.swap(away, Ordering::AcqRel);
        if old & PARKED != 0 {
            gate.wake();
        }
        away
    }

    /// The owner is back from `away`. `false`: a spare thread claimed the
    /// loop meanwhile; the caller owns nothing but its connection, which it
    /// gives to [`Returns`].
    #[inline]
    pub(crate) fn come_back(&self, away: u64) -> bool {
        self.word
            .compare_exchange(away, away + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A spare thread claims the loop if its owner is still away at `away`
    /// (the value the monitor saw). `Some(seq)`: the caller owns the loop
    /// now, at the even `seq`, and sees everything the old owner did to it.
    pub(crate) fn claim(&self, away: u64) -> Option<u64> {
        debug_assert_eq!(away & 1, 1);
        self.word
            .compare_exchange(away, away + 3, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| away + 3)
    }

    /// The value the owner is away at, or `None` if it is in loop code.
    #[inline]
    pub(crate) fn away(&self) -> Option<u64> {
        // Odd values never carry PARKED.
        let v = self.word.load(Ordering::Acquire);
        (v & 1 == 1).then_some(v)
    }

    /// When the owner last went away: at least as recent as the start of
    /// the away value last returned by [`away`](Self::away) (more recent
    /// only if the owner has moved on since).
    #[inline]
    pub(crate) fn away_since_us(&self) -> u64 {
        self.since_us.load(Ordering::Relaxed)
    }

    /// Sets [`PARKED`] if the owner is in loop code; `false` if it is away.
    fn mark_parked(&self) -> bool {
        let mut v = self.word.load(Ordering::Relaxed);
        loop {
            if v & 1 == 1 {
                return false;
            }
            // Release: an owner that reads the bit sees the registration.
            match self
                .word
                .compare_exchange(v, v | PARKED, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Clears [`PARKED`] (the monitor is awake again).
    fn unmark_parked(&self) {
        self.word.fetch_and(!PARKED, Ordering::Relaxed);
    }
}

/// Where the monitor parks while no loop is away, and how a loop going
/// away wakes it (see the module documentation).
pub(crate) struct MonitorGate {
    /// The monitor's thread, registered the first time it parks.
    monitor: Mutex<Option<Thread>>,
}

impl MonitorGate {
    /// A gate with no monitor registered yet.
    pub(crate) fn new() -> MonitorGate {
        MonitorGate {
            monitor: Mutex::new(None),
        }
    }

    /// Monitor side: parks the calling thread, without a timeout, until a
    /// loop of `loops` goes away or the thread is unparked by other means
    /// (shutdown), unless a loop is away already or `stop()` holds (checked
    /// after the marks, so a stop signalled before an unpark is never
    /// missed). Returns whether it parked. Always the same thread.
    pub(crate) fn park_while_idle<'a, I>(&self, loops: I, stop: impl FnOnce() -> bool) -> bool
    where
        I: Iterator<Item = &'a Ctl> + Clone,
    {
        {
            let mut m = lock(&self.monitor);
            if m.is_none() {
                *m = Some(thread::current());
            }
        }
        let mut marked = 0;
        let mut idle = true;
        for c in loops.clone() {
            if !c.mark_parked() {
                idle = false;
                break;
            }
            marked += 1;
        }
        let park = idle && !stop();
        if park {
            thread::park();
        }
        for c in loops.take(marked) {
            c.unmark_parked();
        }
        park
    }

    /// Wakes the parked monitor (called by the owner that saw [`PARKED`]).
    #[cold]
    #[inline(never)]
    fn wake(&self) {
        if let Some(t) = lock(&self.monitor).as_ref() {
            t.unpark();
        }
    }
}

/// Connections handed back to a loop by owners that lost it while away.
pub(crate) struct Returns<T> {
    list: Mutex<Vec<T>>,
}

impl<T> Returns<T> {
    /// An empty list.
    pub(crate) fn new() -> Returns<T> {
        Returns {
            list: Mutex::new(Vec::new()),
        }
    }

    /// An owner whose `come_back` failed hands `t` to the loop's new owner
    /// (and then wakes the loop).
    pub(crate) fn give(&self, t: T) {
        lock(&self.list).push(t);
    }

    /// The loop's owner, woken: everything handed back so far.
    pub(crate) fn take_all(&self) -> Vec<T> {
        std::mem::take(&mut *lock(&self.list))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

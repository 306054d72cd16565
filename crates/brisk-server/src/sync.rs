//! The synchronisation types `handoff.rs` is written against: std's here.
//! `tests/loom_handoff.rs` compiles the same `handoff.rs` with a `sync`
//! module of the same shape that maps to loom's types instead.

pub(crate) use std::sync::{Mutex, MutexGuard};

/// Atomics (std's).
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
}

/// Thread handles and parking (std's).
pub(crate) mod thread {
    pub(crate) use std::thread::{Thread, current, park};
}

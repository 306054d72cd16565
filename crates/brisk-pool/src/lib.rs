//! A pool of OS worker threads with the semantics of fasthttp's workerPool.
//!
//! ```
//! use std::sync::mpsc;
//! use brisk_pool::{Config, WorkerPool};
//!
//! let (tx, rx) = mpsc::channel();
//! let cfg = Config { max_workers: 4, ..Config::default() };
//! let pool = WorkerPool::new(cfg, move |n: u64| tx.send(n * n).unwrap())?;
//! for n in 1..=3 {
//!     // Fewer jobs than max_workers: none is handed back.
//!     pool.serve(n).expect("a worker is idle or can be spawned");
//! }
//! let mut squares: Vec<u64> = rx.iter().take(3).collect();
//! squares.sort();
//! assert_eq!(squares, [1, 4, 9]);
//! pool.stop(); // waits for running jobs and joins every thread
//! # Ok::<(), brisk_pool::ConfigError>(())
//! ```
//!
//! # Overview
//!
//! [`WorkerPool<J>`] runs one function, given at [`WorkerPool::new`], on the
//! jobs of type `J` passed to [`WorkerPool::serve`]. brisk-server uses it for
//! blocking work (a worker takes over a stalled event loop, or owns a
//! hijacked connection), and it is usable on its own. It depends only on
//! `std`, `crossbeam-utils` and the `log` facade.
//!
//! * **LIFO.** Idle workers wait on a stack; `serve` gives the job to the one
//!   that went idle most recently, whose stack and caches are hottest, and
//!   wakes only that thread: each worker has its own mailbox and parker, so
//!   handing over a job allocates nothing and never wakes a crowd. A worker
//!   that just finished spins for a few microseconds before it parks, so a
//!   job arriving right behind the last one skips the futex wake-up.
//! * **Spawn on demand, reject when full.** With no idle worker, `serve`
//!   spawns a new one (outside any lock) if fewer than
//!   [`Config::max_workers`] are alive. Otherwise it returns `Err(job)` at
//!   once: the pool never queues and never blocks the caller, so the caller
//!   decides how to shed load (brisk-server answers 503).
//! * **Reaping.** A cleaner thread stops workers idle for longer than
//!   [`Config::max_idle_worker_duration`] (default 10 s). The stack is
//!   ordered by when each worker went idle, so the stale workers are a
//!   prefix at its bottom, cut in one step found by binary search.
//! * **Panics.** A panicking job is caught and logged; its worker goes on
//!   serving and the counters stay right ([`PoolStats::panicked`]).
//! * **Stop.** [`WorkerPool::stop`] refuses new jobs, stops the idle
//!   workers, lets running jobs finish and joins every thread the pool
//!   started; it is idempotent, and dropping the pool stops it too. No
//!   thread outlives the pool.
//! * **Counters.** [`WorkerPool::stats`] returns a [`PoolStats`] snapshot
//!   (alive, idle, busy, served, rejected, ...) read under the state lock,
//!   so its invariants hold exactly at every instant.
//!
//! Logging goes to the `log` facade (target `brisk_pool`) or to a custom
//! [`Logger`] set in [`Config::logger`]; [`Config::log_all_errors`] adds the
//! routine "job handed back" messages.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod pool;
mod slot;

pub use config::{
    Config, ConfigError, DEFAULT_MAX_IDLE_WORKER_DURATION, DEFAULT_MAX_WORKERS, DEFAULT_NAME,
    Logger,
};
pub use pool::{PoolStats, WorkerPool};

/// Runs the examples in `README.md` as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

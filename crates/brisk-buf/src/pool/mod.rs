//! `BufferPool`: a self-calibrating, thread-scalable pool of byte buffers.

mod class;
mod config;
mod local;
mod shared;
#[cfg(test)]
mod tests;

use core::fmt;
use std::collections::TryReserveError;
use std::sync::{Arc, OnceLock};

use crate::ByteBuffer;
use crate::pool::shared::Shared;

pub use class::{MAX_CLASS_SIZE, MIN_CLASS_SIZE};
pub use config::{PoolConfig, PoolConfigError};

/// A pool of [`ByteBuffer`]s that learns which sizes are in use.
///
/// [`get`](BufferPool::get) hands out an empty buffer, [`put`](BufferPool::put)
/// takes it back for reuse. Sizes are grouped in power-of-two classes from
/// 64 B to 32 MiB. Every [`PoolConfig::calibrate_after`] puts (42 000 by
/// default) the pool calibrates, as fasthttp's bytebufferpool does:
///
/// - the *default size* (the capacity `get` hands out) becomes the size class
///   in which most of the returned buffers' **lengths** fell;
/// - the *max size* (the largest capacity `put` keeps) becomes the smallest
///   class that covers 95 % of the returned buffers' **capacities** (and at
///   least the default size). Larger buffers are freed, not kept, so one huge
///   request does not pin its buffer forever.
///
/// Unlike fasthttp, the max size is computed from capacities rather than
/// lengths: a read buffer taken with
/// [`get_with_capacity(4096)`](BufferPool::get_with_capacity) that held a
/// 200-byte request is still a 4 KiB buffer in demand, and must not be
/// dropped for being larger than its content.
///
/// # Threads
///
/// Each thread keeps its own cache of buffers per pool, binned by size class,
/// so the common `get`/`put` takes no lock, no atomic read-modify-write and
/// writes no shared memory: counters are per thread and summed by
/// [`stats`](BufferPool::stats), and put counts reach the shared calibration
/// state in batches of 64. Bins that run empty
/// or full exchange half their content with a shared overflow under one lock.
/// When a thread exits, its cached buffers go back to the overflow. A buffer
/// may be put back on another thread than the one that got it.
///
/// # Memory bounds
///
/// The pool holds at most [`PoolConfig::shared_max_bytes`] (default 32 MiB)
/// in the overflow plus [`PoolConfig::thread_cache_bytes`] (default 1 MiB)
/// per thread that used it; buffers that do not fit are freed. A thread's
/// cache for a pool that was dropped is freed the next time the thread uses
/// any pool (within 64 puts) or exits.
///
/// Clones share the same pool. [`BufferPool::global`] is a process-wide pool
/// with the default configuration.
///
/// ```
/// use brisk_buf::BufferPool;
///
/// let pool = BufferPool::new();
/// let mut buf = pool.get();
/// assert!(buf.is_empty() && buf.capacity() >= pool.default_size());
/// buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
/// pool.put(buf);
///
/// // The same allocation comes back, emptied.
/// let again = pool.get();
/// assert!(again.is_empty());
/// assert_eq!(pool.stats().allocations, 1);
/// ```
#[derive(Clone)]
pub struct BufferPool {
    shared: Arc<Shared>,
}

/// A snapshot of a pool's counters, from [`BufferPool::stats`].
///
/// Counters are kept per thread, as plain integers, and summed when the
/// snapshot is taken. A snapshot is exact for the calling thread and for
/// threads that exited; a running thread publishes its counters on every slow
/// path (a refill, an allocation, a spill to the overflow) and every 64 puts,
/// so its share may lag by that much.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Buffers handed out by `get`/`get_with_capacity`.
    pub gets: u64,
    /// Buffers given back by `put`.
    pub puts: u64,
    /// Gets that found no pooled buffer and allocated a new one.
    pub allocations: u64,
    /// Puts of a buffer larger than the max size, which was freed.
    pub dropped: u64,
    /// Buffers the pool freed for other reasons: capacity below 64 B, caches
    /// and overflow full, or trimmed after a calibration lowered the max size.
    pub discarded: u64,
    /// Calibrations done so far.
    pub calibrations: u64,
    /// Capacity currently held by the pool (thread caches + overflow).
    pub pooled_bytes: u64,
    /// Buffers currently held by the pool (thread caches + overflow).
    pub pooled_buffers: u64,
    /// Capacity handed out by gets minus capacity given back by puts: the
    /// memory callers hold. Approximate: a buffer that grew while held makes
    /// it smaller by its growth (it can go negative), one never put back
    /// keeps counting.
    pub outstanding_bytes: i64,
    /// The current default size (see [`BufferPool::default_size`]).
    pub default_size: usize,
    /// The current max size (see [`BufferPool::max_size`]).
    pub max_size: usize,
    /// Threads that currently hold a cache for this pool.
    pub threads: u64,
}

impl BufferPool {
    /// A pool with the default configuration.
    pub fn new() -> BufferPool {
        BufferPool::with_config(PoolConfig::default())
    }

    /// A pool with `cfg`; fields out of their documented range are clamped
    /// into it (`calibrate_after` 0 becomes 1, sizes are clamped to
    /// 64 B ..= 32 MiB, `initial_max_size` is raised to
    /// `initial_default_size`, `thread_cache_buffers` is capped at 4096).
    /// Use [`BufferPool::try_with_config`] to reject such a configuration
    /// instead.
    pub fn with_config(cfg: PoolConfig) -> BufferPool {
        BufferPool {
            shared: Arc::new(Shared::new(cfg.resolve())),
        }
    }

    /// A pool with `cfg`, or the first field out of its documented range.
    ///
    /// ```
    /// use brisk_buf::{BufferPool, PoolConfig, PoolConfigError};
    ///
    /// let cfg = PoolConfig { calibrate_after: 0, ..PoolConfig::default() };
    /// let err = BufferPool::try_with_config(cfg).unwrap_err();
    /// assert_eq!(err, PoolConfigError::CalibrateAfterZero);
    /// ```
    pub fn try_with_config(cfg: PoolConfig) -> Result<BufferPool, PoolConfigError> {
        cfg.validate()?;
        Ok(BufferPool::with_config(cfg))
    }

    /// The process-wide pool, with the default configuration.
    pub fn global() -> &'static BufferPool {
        static GLOBAL: OnceLock<BufferPool> = OnceLock::new();
        GLOBAL.get_or_init(BufferPool::new)
    }

    /// An empty buffer with a capacity of at least the
    /// [default size](BufferPool::default_size).
    #[inline]
    pub fn get(&self) -> ByteBuffer {
        self.get_with_capacity(self.shared.default_size())
    }

    /// An empty buffer with a capacity of at least `min` bytes (rounded up to
    /// a size class when it has to be allocated).
    ///
    /// # Panics
    ///
    /// Like [`Vec::with_capacity`], when `min` is over `isize::MAX`; use
    /// [`BufferPool::try_get_with_capacity`] for sizes that come from input.
    #[inline]
    pub fn get_with_capacity(&self, min: usize) -> ByteBuffer {
        ByteBuffer::from_vec(local::get(&self.shared, min))
    }

    /// Like [`get_with_capacity`](BufferPool::get_with_capacity), but
    /// returns an error instead of failing when `min` is over 32 MiB and
    /// cannot be allocated.
    ///
    /// ```
    /// use brisk_buf::BufferPool;
    ///
    /// let pool = BufferPool::new();
    /// assert!(pool.try_get_with_capacity(usize::MAX).is_err());
    /// assert!(pool.try_get_with_capacity(100).unwrap().capacity() >= 100);
    /// ```
    pub fn try_get_with_capacity(&self, min: usize) -> Result<ByteBuffer, TryReserveError> {
        local::try_get(&self.shared, min).map(ByteBuffer::from_vec)
    }

    /// Gives `buf` back: it is emptied and kept for reuse, unless its
    /// capacity is over the [max size](BufferPool::max_size) (then it is
    /// freed) or the caches are full.
    #[inline]
    pub fn put(&self, buf: ByteBuffer) {
        local::put(&self.shared, buf.into_vec());
    }

    /// A snapshot of the counters, readable at any time from any thread.
    pub fn stats(&self) -> PoolStats {
        local::publish(&self.shared);
        let s = self.shared.snapshot();
        let t = s.totals;
        PoolStats {
            gets: t.gets,
            puts: t.puts,
            allocations: t.allocations,
            dropped: t.dropped,
            discarded: t.discarded,
            calibrations: self
                .shared
                .sizes
                .calibrations
                .load(std::sync::atomic::Ordering::Relaxed),
            pooled_bytes: t.cached_bytes.wrapping_add(s.overflow_bytes),
            pooled_buffers: t.cached_buffers.wrapping_add(s.overflow_buffers),
            outstanding_bytes: t.got_bytes.wrapping_sub(t.put_bytes) as i64,
            default_size: self.default_size(),
            max_size: self.max_size(),
            threads: s.threads,
        }
    }

    /// The capacity [`get`](BufferPool::get) hands out: a size class, set by
    /// the last calibration (or [`PoolConfig::initial_default_size`]).
    #[inline]
    pub fn default_size(&self) -> usize {
        self.shared.default_size()
    }

    /// The largest capacity [`put`](BufferPool::put) keeps: a size class, set
    /// by the last calibration (or [`PoolConfig::initial_max_size`]).
    #[inline]
    pub fn max_size(&self) -> usize {
        self.shared.max_size()
    }
}

impl Default for BufferPool {
    fn default() -> BufferPool {
        BufferPool::new()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("id", &self.shared.id)
            .field("default_size", &self.default_size())
            .field("max_size", &self.max_size())
            .finish_non_exhaustive()
    }
}

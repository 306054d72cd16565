//! State of a pool shared by all threads: calibrated sizes, put counts,
//! the overflow of buffers that did not fit a thread cache, and the registry
//! of per-thread counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crossbeam_utils::CachePadded;

use crate::pool::class::{self, CLASSES};
use crate::pool::config::Resolved;

/// Source of pool ids (never reused, so a thread cache can never mistake a
/// new pool for a dropped one).
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// Bumped whenever a pool is dropped, so threads know to free the caches
/// they hold for dead pools.
pub(crate) static POOLS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Everything about one pool that threads share.
pub(crate) struct Shared {
    /// Unique pool id, the key of the thread caches.
    pub(crate) id: u64,
    pub(crate) cfg: Resolved,
    /// Read on every get/put, written only by calibration.
    pub(crate) sizes: CachePadded<Sizes>,
    /// Put counts per class since the last calibration, by length and by
    /// capacity, reported by threads in batches.
    calls: CachePadded<Calls>,
    /// Serializes calibrations.
    calibrating: Mutex<()>,
    /// Buffers per class that did not fit a thread cache. Each bin has its
    /// own lock; threads move buffers in batches.
    overflow: [CachePadded<Mutex<Vec<Vec<u8>>>>; CLASSES],
    /// INVARIANT: total capacity of the buffers in `overflow`, never above
    /// `cfg.shared_max_bytes` (space is reserved before a buffer goes in).
    overflow_bytes: CachePadded<AtomicUsize>,
    /// Number of buffers in `overflow`.
    overflow_buffers: AtomicUsize,
    /// Per-thread counters, for `stats()`.
    registry: Mutex<Registry>,
    /// Counters of operations made without a thread cache (during thread
    /// teardown) and of shared events (trims); updated with `fetch_add`.
    pub(crate) fallback: CachePadded<Counters>,
}

/// The calibrated sizes.
pub(crate) struct Sizes {
    pub(crate) default_size: AtomicUsize,
    pub(crate) max_size: AtomicUsize,
    /// Bumped by each calibration that changed a size.
    pub(crate) generation: AtomicU64,
    pub(crate) calibrations: AtomicU64,
}

/// Put counts since the last calibration.
struct Calls {
    by_len: [AtomicU64; CLASSES],
    by_cap: [AtomicU64; CLASSES],
    /// Number of puts counted in `by_len`.
    pending: AtomicU64,
}

/// Counters of one thread's operations on one pool, published by the owning
/// thread from its plain counters; `stats()` reads them from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) gets: AtomicU64,
    pub(crate) puts: AtomicU64,
    pub(crate) allocations: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) got_bytes: AtomicU64,
    pub(crate) put_bytes: AtomicU64,
    /// Capacity held in the thread's cache right now.
    pub(crate) cached_bytes: AtomicU64,
    /// Buffers held in the thread's cache right now.
    pub(crate) cached_buffers: AtomicU64,
}

/// A plain snapshot of [`Counters`].
#[derive(Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) gets: u64,
    pub(crate) puts: u64,
    pub(crate) allocations: u64,
    pub(crate) dropped: u64,
    pub(crate) discarded: u64,
    pub(crate) got_bytes: u64,
    pub(crate) put_bytes: u64,
    pub(crate) cached_bytes: u64,
    pub(crate) cached_buffers: u64,
}

/// The snapshot `stats()` is built from.
pub(crate) struct Snapshot {
    pub(crate) totals: Totals,
    pub(crate) overflow_bytes: u64,
    pub(crate) overflow_buffers: u64,
    pub(crate) threads: u64,
}

/// Counters of live threads, and the sum of those of exited threads.
#[derive(Default)]
struct Registry {
    slots: Vec<Arc<CachePadded<Counters>>>,
    retired: Totals,
}

/// Locks `m`, ignoring poisoning: no code that runs under these locks can
/// leave the protected data inconsistent.
#[inline]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(cfg: Resolved) -> Shared {
        Shared {
            id: NEXT_POOL_ID.fetch_add(1, Relaxed),
            cfg,
            sizes: CachePadded::new(Sizes {
                default_size: AtomicUsize::new(class::class_size(cfg.default_class)),
                max_size: AtomicUsize::new(class::class_size(cfg.max_class)),
                generation: AtomicU64::new(0),
                calibrations: AtomicU64::new(0),
            }),
            calls: CachePadded::new(Calls {
                by_len: Default::default(),
                by_cap: Default::default(),
                pending: AtomicU64::new(0),
            }),
            calibrating: Mutex::new(()),
            overflow: Default::default(),
            overflow_bytes: CachePadded::new(AtomicUsize::new(0)),
            overflow_buffers: AtomicUsize::new(0),
            registry: Mutex::new(Registry::default()),
            fallback: CachePadded::new(Counters::default()),
        }
    }

    #[inline]
    pub(crate) fn default_size(&self) -> usize {
        self.sizes.default_size.load(Relaxed)
    }

    #[inline]
    pub(crate) fn max_size(&self) -> usize {
        self.sizes.max_size.load(Relaxed)
    }

    /// Whether the overflow holds no buffer (a hint: it may change at once).
    #[inline]
    pub(crate) fn overflow_is_empty(&self) -> bool {
        self.overflow_bytes.load(Relaxed) == 0
    }

    /// Adds a thread's put counts and clears them; calibrates when enough
    /// puts have been counted.
    pub(crate) fn record(&self, by_len: &mut [u32; CLASSES], by_cap: &mut [u32; CLASSES], n: u32) {
        for (c, count) in by_len.iter_mut().enumerate() {
            if *count != 0 {
                self.calls.by_len[c].fetch_add(u64::from(*count), Relaxed);
                *count = 0;
            }
        }
        for (c, count) in by_cap.iter_mut().enumerate() {
            if *count != 0 {
                self.calls.by_cap[c].fetch_add(u64::from(*count), Relaxed);
                *count = 0;
            }
        }
        let pending = self.calls.pending.fetch_add(u64::from(n), Relaxed) + u64::from(n);
        if pending >= self.cfg.calibrate_after {
            self.calibrate();
        }
    }

    /// Records one put directly in the shared counts (no thread cache).
    pub(crate) fn record_one(&self, len: usize, cap: usize) {
        let mut by_len = [0; CLASSES];
        let mut by_cap = [0; CLASSES];
        by_len[class::histogram_class(len)] = 1;
        by_cap[class::histogram_class(cap)] = 1;
        self.record(&mut by_len, &mut by_cap, 1);
    }

    /// Sets the default and max sizes from the counts since the last
    /// calibration, then clears the counts. Only one thread calibrates at a
    /// time; a thread that finds a calibration under way leaves it be (its
    /// counts are kept for the next one).
    #[cold]
    fn calibrate(&self) {
        let _guard = match self.calibrating.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        // Another thread may have calibrated since these counts were added.
        if self.calls.pending.load(Relaxed) < self.cfg.calibrate_after {
            return;
        }
        self.calls.pending.store(0, Relaxed);
        let by_len: [u64; CLASSES] =
            core::array::from_fn(|c| self.calls.by_len[c].swap(0, Relaxed));
        let by_cap: [u64; CLASSES] =
            core::array::from_fn(|c| self.calls.by_cap[c].swap(0, Relaxed));
        let Some(cal) = class::calibrate(&by_len, &by_cap) else {
            return;
        };
        let default_size = class::class_size(cal.default_class);
        let max_size = class::class_size(cal.max_class);
        let sizes = &self.sizes;
        sizes.calibrations.fetch_add(1, Relaxed);
        let old_max = sizes.max_size.swap(max_size, Relaxed);
        let old_default = sizes.default_size.swap(default_size, Relaxed);
        if old_max != max_size || old_default != default_size {
            sizes.generation.fetch_add(1, Relaxed);
        }
        if max_size < old_max {
            self.trim_overflow(cal.max_class);
        }
    }

    /// Frees the overflow's buffers in classes above `max_class`.
    fn trim_overflow(&self, max_class: usize) {
        for bin in &self.overflow[max_class + 1..] {
            let freed: Vec<Vec<u8>> = core::mem::take(&mut *lock(bin));
            let bytes: usize = freed.iter().map(Vec::capacity).sum();
            self.overflow_bytes.fetch_sub(bytes, Relaxed);
            self.overflow_buffers.fetch_sub(freed.len(), Relaxed);
            self.fallback
                .discarded
                .fetch_add(freed.len() as u64, Relaxed);
        }
    }

    /// Moves `bufs` (empty buffers of bin `c`) into the overflow under one
    /// lock; frees those that do not fit its byte budget. Returns how many
    /// were freed.
    pub(crate) fn overflow_push(&self, c: usize, bufs: impl Iterator<Item = Vec<u8>>) -> u64 {
        let limit = self.cfg.shared_max_bytes;
        let mut freed = 0;
        let mut bin = lock(&self.overflow[c]);
        for buf in bufs {
            let cap = buf.capacity();
            let reserved = self
                .overflow_bytes
                .fetch_update(Relaxed, Relaxed, |cur| {
                    cur.checked_add(cap).filter(|&n| n <= limit)
                })
                .is_ok();
            if reserved {
                bin.push(buf);
                self.overflow_buffers.fetch_add(1, Relaxed);
            } else {
                freed += 1;
            }
        }
        freed
    }

    /// Takes one buffer of bin `c` from the overflow and moves up to `extra`
    /// more into `refill` while their capacity fits `budget` bytes, under one
    /// lock. Returns the buffer and the capacity moved into `refill`.
    pub(crate) fn overflow_pop(
        &self,
        c: usize,
        refill: &mut Vec<Vec<u8>>,
        extra: usize,
        mut budget: usize,
    ) -> Option<(Vec<u8>, usize)> {
        let mut bin = lock(&self.overflow[c]);
        let first = bin.pop()?;
        let mut taken = first.capacity();
        let mut moved = 0;
        let mut count = 1;
        while count <= extra {
            let Some(cap) = bin.last().map(Vec::capacity) else {
                break;
            };
            if cap > budget {
                break;
            }
            budget -= cap;
            if let Some(buf) = bin.pop() {
                refill.push(buf);
            }
            moved += cap;
            count += 1;
        }
        drop(bin);
        taken += moved;
        self.overflow_bytes.fetch_sub(taken, Relaxed);
        self.overflow_buffers.fetch_sub(count, Relaxed);
        Some((first, moved))
    }

    /// Registers a thread's counters so `stats()` sees them.
    pub(crate) fn register(&self, slot: Arc<CachePadded<Counters>>) {
        lock(&self.registry).slots.push(slot);
    }

    /// Folds an exiting thread's counters into the retired totals.
    pub(crate) fn retire(&self, slot: &Arc<CachePadded<Counters>>) {
        let mut reg = lock(&self.registry);
        if let Some(i) = reg.slots.iter().position(|s| Arc::ptr_eq(s, slot)) {
            reg.slots.swap_remove(i);
        }
        let mut t = slot.snapshot();
        t.cached_bytes = 0;
        t.cached_buffers = 0;
        reg.retired.add(&t);
    }

    /// Sums every thread's counters.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let reg = lock(&self.registry);
        let mut totals = reg.retired;
        for slot in &reg.slots {
            totals.add(&slot.snapshot());
        }
        let threads = reg.slots.len() as u64;
        drop(reg);
        totals.add(&self.fallback.snapshot());
        Snapshot {
            totals,
            overflow_bytes: self.overflow_bytes.load(Relaxed) as u64,
            overflow_buffers: self.overflow_buffers.load(Relaxed) as u64,
            threads,
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        POOLS_DROPPED.fetch_add(1, Relaxed);
    }
}

impl Counters {
    /// Overwrites the counters (only the owning thread calls this).
    pub(crate) fn store(&self, t: &Totals) {
        self.gets.store(t.gets, Relaxed);
        self.puts.store(t.puts, Relaxed);
        self.allocations.store(t.allocations, Relaxed);
        self.dropped.store(t.dropped, Relaxed);
        self.discarded.store(t.discarded, Relaxed);
        self.got_bytes.store(t.got_bytes, Relaxed);
        self.put_bytes.store(t.put_bytes, Relaxed);
        self.cached_bytes.store(t.cached_bytes, Relaxed);
        self.cached_buffers.store(t.cached_buffers, Relaxed);
    }

    fn snapshot(&self) -> Totals {
        Totals {
            gets: self.gets.load(Relaxed),
            puts: self.puts.load(Relaxed),
            allocations: self.allocations.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            discarded: self.discarded.load(Relaxed),
            got_bytes: self.got_bytes.load(Relaxed),
            put_bytes: self.put_bytes.load(Relaxed),
            cached_bytes: self.cached_bytes.load(Relaxed),
            cached_buffers: self.cached_buffers.load(Relaxed),
        }
    }
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.gets = self.gets.wrapping_add(o.gets);
        self.puts = self.puts.wrapping_add(o.puts);
        self.allocations = self.allocations.wrapping_add(o.allocations);
        self.dropped = self.dropped.wrapping_add(o.dropped);
        self.discarded = self.discarded.wrapping_add(o.discarded);
        self.got_bytes = self.got_bytes.wrapping_add(o.got_bytes);
        self.put_bytes = self.put_bytes.wrapping_add(o.put_bytes);
        self.cached_bytes = self.cached_bytes.wrapping_add(o.cached_bytes);
        self.cached_buffers = self.cached_buffers.wrapping_add(o.cached_buffers);
    }
}

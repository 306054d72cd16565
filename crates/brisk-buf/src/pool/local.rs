//! Per-thread caches: the lock-free common path of `get` and `put`.
//!
//! Each thread keeps, per pool it uses, a cache of empty buffers binned by
//! size class plus its put counts and its stats counters. The thread alone
//! touches its cache, so `get` and `put` take no lock and touch no shared
//! memory (counters are plain integers, published for `stats()` on slow
//! paths and every 64 puts); they fall back to the pool's shared overflow (one lock
//! per batch of buffers) only when a bin is empty or full. When the thread
//! exits, its buffers go back to the overflow and its counters to the pool.

use std::cell::RefCell;
use std::collections::TryReserveError;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use crate::pool::class::{self, CLASSES};
use crate::pool::shared::{Counters, POOLS_DROPPED, Shared, Totals};

thread_local! {
    pub(super) static CACHES: RefCell<ThreadCaches> = const {
        RefCell::new(ThreadCaches { entries: Vec::new(), seen_drops: 0 })
    };
}

/// One thread's caches, one entry per pool it used.
pub(super) struct ThreadCaches {
    pub(super) entries: Vec<LocalCache>,
    /// The value of `POOLS_DROPPED` when dead entries were last pruned.
    seen_drops: u64,
}

/// One thread's cache for one pool.
pub(super) struct LocalCache {
    /// The pool's id.
    id: u64,
    /// The pool, to return the buffers to when the thread exits (weak, so a
    /// dropped pool is not kept alive by threads that used it).
    shared: Weak<Shared>,
    /// This thread's counters, registered with the pool.
    slot: Arc<CachePadded<Counters>>,
    /// INVARIANT: every buffer in `bins[c]` is empty, has a capacity of at
    /// least `class_size(c)` and below `2 * class_size(c)` (except in the
    /// last class), and `bins[c].len() <= thread_cache_buffers`.
    bins: [Vec<Vec<u8>>; CLASSES],
    /// INVARIANT: total capacity in `bins`, at most `thread_cache_bytes`.
    bytes: usize,
    /// Number of buffers in `bins`.
    buffers: usize,
    /// Put counts not yet reported to the pool.
    by_len: [u32; CLASSES],
    by_cap: [u32; CLASSES],
    unreported: u32,
    /// The pool's calibration generation this cache was last trimmed for.
    generation: u64,
    /// This thread's counters, copied to `slot` by `publish` on every slow
    /// path, every `flush_every` puts, when this thread calls `stats()`, and
    /// when it exits.
    counts: Totals,
}

/// Takes an empty buffer with a capacity of at least `min` bytes.
#[inline]
pub(crate) fn get(shared: &Arc<Shared>, min: usize) -> Vec<u8> {
    CACHES
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut caches) => caches.entry(shared).get(shared, min),
            Err(_) => get_uncached(shared, min),
        })
        .unwrap_or_else(|_| get_uncached(shared, min))
}

/// Gives a buffer back.
#[inline]
pub(crate) fn put(shared: &Arc<Shared>, buf: Vec<u8>) {
    let mut buf = Some(buf);
    let _ = CACHES.try_with(|cell| {
        if let Ok(mut caches) = cell.try_borrow_mut() {
            if let Some(b) = buf.take() {
                let reported = caches.entry(shared).put(shared, b);
                if reported {
                    caches.prune();
                }
            }
        }
    });
    if let Some(b) = buf {
        put_uncached(shared, b);
    }
}

/// `get`, with an error instead of a panic or an abort when `min` is over
/// the largest class and cannot be allocated.
pub(crate) fn try_get(shared: &Arc<Shared>, min: usize) -> Result<Vec<u8>, TryReserveError> {
    if class::class_ceil(min).is_some() {
        return Ok(get(shared, min));
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(min)?;
    let counters = &shared.fallback;
    counters.gets.fetch_add(1, Relaxed);
    counters.allocations.fetch_add(1, Relaxed);
    counters.got_bytes.fetch_add(buf.capacity() as u64, Relaxed);
    Ok(buf)
}

/// Publishes the calling thread's counters for `shared`, so that `stats()`
/// called on a thread is exact for that thread.
pub(crate) fn publish(shared: &Shared) {
    let _ = CACHES.try_with(|cell| {
        if let Ok(caches) = cell.try_borrow() {
            if let Some(e) = caches.entries.iter().find(|e| e.id == shared.id) {
                e.publish();
            }
        }
    });
}

/// `get` for a thread whose cache is gone (thread teardown) or busy.
#[cold]
pub(super) fn get_uncached(shared: &Shared, min: usize) -> Vec<u8> {
    let counters = &shared.fallback;
    counters.gets.fetch_add(1, Relaxed);
    let buf = class::class_ceil(min)
        .and_then(|c| {
            (c..class::lookahead_end(c, shared.max_size()))
                .find_map(|k| shared.overflow_pop(k, &mut Vec::new(), 0, 0))
        })
        .map(|(buf, _)| buf)
        .unwrap_or_else(|| {
            counters.allocations.fetch_add(1, Relaxed);
            allocate(min)
        });
    counters.got_bytes.fetch_add(buf.capacity() as u64, Relaxed);
    buf
}

/// `put` for a thread whose cache is gone (thread teardown) or busy.
#[cold]
pub(super) fn put_uncached(shared: &Shared, mut buf: Vec<u8>) {
    let counters = &shared.fallback;
    let cap = buf.capacity();
    counters.puts.fetch_add(1, Relaxed);
    counters.put_bytes.fetch_add(cap as u64, Relaxed);
    shared.record_one(buf.len(), cap);
    if cap > shared.max_size() {
        counters.dropped.fetch_add(1, Relaxed);
        return;
    }
    let Some(c) = class::class_floor(cap) else {
        counters.discarded.fetch_add(1, Relaxed);
        return;
    };
    buf.clear();
    let freed = shared.overflow_push(c, core::iter::once(buf));
    counters.discarded.fetch_add(freed, Relaxed);
}

/// A new buffer for a request of `min` bytes: the size of its class, so it
/// goes back to that class's bin, or exactly `min` above the largest class.
#[inline]
fn allocate(min: usize) -> Vec<u8> {
    match class::class_ceil(min) {
        Some(c) => Vec::with_capacity(class::class_size(c)),
        None => Vec::with_capacity(min),
    }
}

impl ThreadCaches {
    /// This thread's cache for `shared`, created on first use.
    #[inline]
    fn entry(&mut self, shared: &Arc<Shared>) -> &mut LocalCache {
        // Most threads use one pool: check the first entry before searching.
        let i = match self.entries.first() {
            Some(e) if e.id == shared.id => 0,
            _ => self.find(shared),
        };
        &mut self.entries[i]
    }

    /// The index of the cache for `shared`, registered if new.
    fn find(&mut self, shared: &Arc<Shared>) -> usize {
        match self.entries.iter().position(|e| e.id == shared.id) {
            Some(i) => i,
            None => {
                self.register(shared);
                self.entries.len() - 1
            }
        }
    }

    #[cold]
    fn register(&mut self, shared: &Arc<Shared>) {
        self.prune();
        let slot = Arc::new(CachePadded::new(Counters::default()));
        shared.register(Arc::clone(&slot));
        self.entries.push(LocalCache {
            id: shared.id,
            shared: Arc::downgrade(shared),
            slot,
            bins: Default::default(),
            bytes: 0,
            buffers: 0,
            by_len: [0; CLASSES],
            by_cap: [0; CLASSES],
            unreported: 0,
            generation: shared.sizes.generation.load(Relaxed),
            counts: Totals::default(),
        });
    }

    /// Frees the caches of pools that were dropped.
    fn prune(&mut self) {
        let drops = POOLS_DROPPED.load(Relaxed);
        if drops != self.seen_drops {
            self.seen_drops = drops;
            self.entries.retain(|e| e.shared.strong_count() > 0);
        }
    }
}

impl LocalCache {
    #[inline]
    fn get(&mut self, shared: &Shared, min: usize) -> Vec<u8> {
        if let Some(c) = class::class_ceil(min) {
            if let Some(buf) = self.bins[c].pop() {
                let cap = buf.capacity();
                self.bytes -= cap;
                self.buffers -= 1;
                self.counts.gets += 1;
                self.counts.got_bytes += cap as u64;
                return buf;
            }
        }
        self.get_slow(shared, min)
    }

    /// `get` when this thread's bin is empty: a somewhat larger buffer from
    /// this thread's cache, else one from the overflow, else a new
    /// allocation.
    ///
    /// Looking in larger classes matters: a buffer that grew while it was
    /// out (a write buffer that held a large response) is filed under its
    /// new capacity, and without this look-ahead it would never serve the
    /// smaller gets that keep coming, while each of them allocated.
    #[cold]
    fn get_slow(&mut self, shared: &Shared, min: usize) -> Vec<u8> {
        let found = class::class_ceil(min).and_then(|c| {
            let last = class::lookahead_end(c, shared.max_size());
            (c + 1..last)
                .find_map(|k| self.take_local(k))
                .or_else(|| self.refill(shared, c))
                .or_else(|| {
                    if shared.overflow_is_empty() {
                        return None;
                    }
                    (c + 1..last).find_map(|k| {
                        shared
                            .overflow_pop(k, &mut Vec::new(), 0, 0)
                            .map(|(buf, _)| buf)
                    })
                })
        });
        let buf = match found {
            Some(buf) => buf,
            None => {
                self.counts.allocations += 1;
                allocate(min)
            }
        };
        self.counts.gets += 1;
        self.counts.got_bytes += buf.capacity() as u64;
        self.publish();
        buf
    }

    /// Takes a buffer from this thread's bin `c`, if it holds one.
    fn take_local(&mut self, c: usize) -> Option<Vec<u8>> {
        let buf = self.bins[c].pop()?;
        self.bytes -= buf.capacity();
        self.buffers -= 1;
        Some(buf)
    }

    /// Takes a buffer of class `c` from the overflow, and a batch more for
    /// this thread's bin.
    fn refill(&mut self, shared: &Shared, c: usize) -> Option<Vec<u8>> {
        if shared.overflow_is_empty() {
            return None;
        }
        let cfg = &shared.cfg;
        let room = cfg.thread_cache_buffers.saturating_sub(self.bins[c].len());
        let extra = (cfg.thread_cache_buffers / 2).min(room);
        let budget = cfg.thread_cache_bytes.saturating_sub(self.bytes);
        let before = self.bins[c].len();
        let (buf, moved) = shared.overflow_pop(c, &mut self.bins[c], extra, budget)?;
        self.bytes += moved;
        self.buffers += self.bins[c].len() - before;
        Some(buf)
    }

    /// Returns `true` when the put counts were reported to the pool.
    #[inline]
    fn put(&mut self, shared: &Shared, mut buf: Vec<u8>) -> bool {
        let cap = buf.capacity();
        self.by_len[class::histogram_class(buf.len())] += 1;
        self.by_cap[class::histogram_class(cap)] += 1;
        self.unreported += 1;
        self.counts.puts += 1;
        self.counts.put_bytes += cap as u64;
        let cfg = &shared.cfg;
        match class::class_floor(cap) {
            Some(c)
                if cap <= shared.max_size()
                    && self.bins[c].len() < cfg.thread_cache_buffers
                    && self.bytes + cap <= cfg.thread_cache_bytes =>
            {
                buf.clear();
                self.bins[c].push(buf);
                self.bytes += cap;
                self.buffers += 1;
            }
            _ => self.put_slow(shared, buf),
        }
        if self.unreported >= cfg.flush_every {
            self.report(shared);
            true
        } else {
            false
        }
    }

    /// `put` of a buffer this thread's cache cannot take as it is.
    #[cold]
    fn put_slow(&mut self, shared: &Shared, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap > shared.max_size() {
            self.counts.dropped += 1;
        } else if let Some(c) = class::class_floor(cap) {
            buf.clear();
            self.spill(shared, c, buf);
        } else {
            self.counts.discarded += 1;
        }
        self.publish();
    }

    /// Makes room in a full bin by moving its older half to the overflow,
    /// then keeps `buf` if it fits, else sends it to the overflow too.
    fn spill(&mut self, shared: &Shared, c: usize, buf: Vec<u8>) {
        let cfg = &shared.cfg;
        let bin = &mut self.bins[c];
        let half = if bin.len() >= cfg.thread_cache_buffers {
            bin.len().div_ceil(2)
        } else {
            0
        };
        let moved_bytes: usize = bin[..half].iter().map(Vec::capacity).sum();
        self.bytes -= moved_bytes;
        self.buffers -= half;
        let cap = buf.capacity();
        let freed = if bin.len() - half < cfg.thread_cache_buffers
            && self.bytes + cap <= cfg.thread_cache_bytes
        {
            let freed = shared.overflow_push(c, bin.drain(..half));
            bin.push(buf);
            self.bytes += cap;
            self.buffers += 1;
            freed
        } else {
            shared.overflow_push(c, bin.drain(..half).chain(core::iter::once(buf)))
        };
        self.counts.discarded += freed;
    }

    /// Reports the put counts to the pool (which may calibrate), drops cached
    /// buffers a calibration made too large to keep, and publishes the
    /// counters.
    #[cold]
    fn report(&mut self, shared: &Shared) {
        shared.record(&mut self.by_len, &mut self.by_cap, self.unreported);
        self.unreported = 0;
        let generation = shared.sizes.generation.load(Relaxed);
        if generation != self.generation {
            self.generation = generation;
            let max_size = shared.max_size();
            for (c, bin) in self.bins.iter_mut().enumerate() {
                if class::class_size(c) > max_size && !bin.is_empty() {
                    self.counts.discarded += bin.len() as u64;
                    self.buffers -= bin.len();
                    self.bytes -= bin.iter().map(Vec::capacity).sum::<usize>();
                    bin.clear();
                }
            }
        }
        self.publish();
    }

    /// Copies this thread's counters where `stats()` reads them.
    fn publish(&self) {
        let mut t = self.counts;
        t.cached_bytes = self.bytes as u64;
        t.cached_buffers = self.buffers as u64;
        self.slot.store(&t);
    }
}

impl Drop for LocalCache {
    /// The thread exits (or the pool was dropped): hand the buffers and the
    /// counts back to the pool if it is still alive.
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        for (c, bin) in self.bins.iter_mut().enumerate() {
            self.counts.discarded += shared.overflow_push(c, bin.drain(..));
        }
        self.bytes = 0;
        self.buffers = 0;
        if self.unreported > 0 {
            shared.record(&mut self.by_len, &mut self.by_cap, self.unreported);
            self.unreported = 0;
        }
        self.publish();
        shared.retire(&self.slot);
    }
}

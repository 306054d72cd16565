use std::thread;

use crate::pool::class;
use crate::pool::local;
use crate::{BufferPool, ByteBuffer, PoolConfig};

fn pool(cfg: PoolConfig) -> BufferPool {
    BufferPool::try_with_config(cfg).unwrap()
}

/// A buffer of exactly `cap` bytes of capacity holding `len` bytes.
fn filled(cap: usize, len: usize) -> ByteBuffer {
    let mut v = Vec::with_capacity(cap);
    v.resize(len, b'x');
    ByteBuffer::from_vec(v)
}

#[test]
fn get_put_reuses_the_allocation() {
    let p = BufferPool::new();
    let mut b = p.get();
    assert!(b.is_empty());
    assert_eq!(b.capacity(), 4096);
    b.extend_from_slice(b"hello");
    let ptr = b.as_ptr();
    p.put(b);
    let b = p.get();
    assert!(b.is_empty());
    assert_eq!(b.as_ptr(), ptr);
    let s = p.stats();
    assert_eq!((s.gets, s.puts, s.allocations), (2, 1, 1));
    assert_eq!(s.outstanding_bytes, 4096);
    assert_eq!((s.pooled_bytes, s.pooled_buffers), (0, 0));
    p.put(b);
    let s = p.stats();
    assert_eq!(s.outstanding_bytes, 0);
    assert_eq!((s.pooled_bytes, s.pooled_buffers), (4096, 1));
    assert_eq!(s.threads, 1);
}

#[test]
fn get_with_capacity_rounds_to_classes() {
    let p = BufferPool::new();
    let b = p.get_with_capacity(100);
    assert_eq!(b.capacity(), 128);
    let ptr = b.as_ptr();
    p.put(b);
    // Any request in the same class reuses it; other classes do not.
    let b = p.get_with_capacity(65);
    assert_eq!(b.as_ptr(), ptr);
    let c = p.get_with_capacity(129);
    assert_eq!(c.capacity(), 256);
    assert_eq!(p.get_with_capacity(0).capacity(), 64);
    assert_eq!(p.stats().allocations, 3);
}

#[test]
fn odd_capacities_are_kept_in_the_class_below() {
    let p = BufferPool::new();
    let b = filled(5000, 10);
    let ptr = b.as_ptr();
    p.put(b);
    // 5000 >= 4096: good for a 4 KiB request.
    let b = p.get_with_capacity(4096);
    assert_eq!(b.as_ptr(), ptr);
    assert!(b.is_empty());
    assert_eq!(b.capacity(), 5000);
}

#[test]
fn larger_than_max_is_dropped_and_tiny_is_discarded() {
    let p = pool(PoolConfig {
        initial_max_size: 8192,
        ..PoolConfig::default()
    });
    p.put(filled(8192, 0));
    p.put(filled(8193, 0));
    p.put(ByteBuffer::new());
    p.put(filled(63, 1));
    let s = p.stats();
    assert_eq!(s.puts, 4);
    assert_eq!(s.dropped, 1);
    assert_eq!(s.discarded, 2);
    assert_eq!((s.pooled_buffers, s.pooled_bytes), (1, 8192));
}

#[test]
fn huge_requests_are_not_pooled() {
    let p = BufferPool::new();
    let big = class::MAX_CLASS_SIZE + 1;
    let b = p.get_with_capacity(big);
    assert!(b.capacity() >= big);
    p.put(b);
    assert!(p.try_get_with_capacity(usize::MAX).is_err());
    assert!(p.try_get_with_capacity(isize::MAX as usize + 1).is_err());
    let b = p.try_get_with_capacity(big).unwrap();
    assert!(b.capacity() >= big && b.is_empty());
    let s = p.stats();
    assert_eq!((s.gets, s.allocations, s.dropped), (2, 2, 1));
    assert_eq!(s.pooled_bytes, 0);
}

#[test]
fn thread_cache_is_bounded_by_count() {
    let p = pool(PoolConfig {
        thread_cache_buffers: 4,
        shared_max_bytes: 0,
        ..PoolConfig::default()
    });
    for _ in 0..10 {
        p.put(filled(64, 0));
    }
    let s = p.stats();
    assert!(s.pooled_buffers <= 4, "{s:?}");
    assert_eq!(s.pooled_buffers + s.discarded, 10);
}

#[test]
fn thread_cache_spills_to_overflow_in_batches() {
    let p = pool(PoolConfig {
        thread_cache_buffers: 4,
        ..PoolConfig::default()
    });
    let bufs: Vec<ByteBuffer> = (0..10).map(|_| p.get_with_capacity(64)).collect();
    for b in bufs {
        p.put(b);
    }
    let s = p.stats();
    assert_eq!((s.pooled_buffers, s.discarded), (10, 0));
    // All ten come back without allocating, refilled from the overflow.
    let bufs: Vec<ByteBuffer> = (0..10).map(|_| p.get_with_capacity(64)).collect();
    let s = p.stats();
    assert_eq!(s.allocations, 10);
    assert_eq!(s.pooled_buffers, 0);
    drop(bufs);
}

#[test]
fn thread_cache_is_bounded_by_bytes() {
    let p = pool(PoolConfig {
        thread_cache_bytes: 1024,
        shared_max_bytes: 0,
        ..PoolConfig::default()
    });
    for _ in 0..20 {
        p.put(filled(128, 0));
    }
    let s = p.stats();
    assert_eq!(s.pooled_bytes, 1024);
    assert_eq!(s.discarded, 12);
}

#[test]
fn overflow_is_bounded_by_bytes() {
    let p = pool(PoolConfig {
        thread_cache_buffers: 0,
        shared_max_bytes: 4096,
        ..PoolConfig::default()
    });
    for _ in 0..100 {
        p.put(filled(1024, 0));
    }
    let s = p.stats();
    assert_eq!((s.pooled_bytes, s.pooled_buffers), (4096, 4));
    assert_eq!(s.discarded, 96);
    // Without a thread cache, gets take from the overflow.
    let b = p.get_with_capacity(1024);
    assert_eq!(p.stats().allocations, 0);
    assert_eq!(p.stats().pooled_buffers, 3);
    p.put(b);
}

#[test]
fn exiting_thread_returns_its_buffers() {
    let p = BufferPool::new();
    let q = p.clone();
    thread::spawn(move || {
        let bufs: Vec<ByteBuffer> = (0..5).map(|_| q.get()).collect();
        for b in bufs {
            q.put(b);
        }
        assert_eq!(q.stats().threads, 1);
    })
    .join()
    .unwrap();
    let s = p.stats();
    assert_eq!(s.threads, 0);
    assert_eq!((s.gets, s.puts, s.allocations), (5, 5, 5));
    assert_eq!((s.pooled_buffers, s.pooled_bytes), (5, 5 * 4096));
    let bufs: Vec<ByteBuffer> = (0..5).map(|_| p.get()).collect();
    assert_eq!(p.stats().allocations, 5);
    drop(bufs);
}

#[test]
fn buffers_may_be_put_on_another_thread() {
    let p = BufferPool::new();
    let bufs: Vec<ByteBuffer> = (0..3).map(|_| p.get()).collect();
    let q = p.clone();
    thread::spawn(move || bufs.into_iter().for_each(|b| q.put(b)))
        .join()
        .unwrap();
    let s = p.stats();
    assert_eq!(s.outstanding_bytes, 0);
    assert_eq!(s.pooled_buffers, 3);
    let b = p.get();
    assert_eq!(p.stats().allocations, 3);
    p.put(b);
}

#[test]
fn pools_on_one_thread_are_separate() {
    let a = BufferPool::new();
    let b = BufferPool::new();
    a.put(a.get());
    let x = b.get();
    assert_eq!(b.stats().allocations, 1);
    b.put(x);
    assert_eq!(a.stats().pooled_buffers, 1);
    assert_eq!(b.stats().pooled_buffers, 1);
    assert_eq!(a.stats().gets, 1);
}

#[test]
fn calibrates_default_from_lengths_and_max_from_capacities() {
    let p = pool(PoolConfig {
        calibrate_after: 64,
        ..PoolConfig::default()
    });
    // 200-byte contents in 4 KiB buffers (server read buffers).
    for _ in 0..64 {
        p.put(filled(4096, 200));
    }
    let s = p.stats();
    assert_eq!(s.calibrations, 1);
    assert_eq!(p.default_size(), 256);
    assert_eq!(p.max_size(), 4096);
    assert_eq!(p.get().capacity(), 256);
    // Read buffers keep being reused.
    let before = p.stats().allocations;
    let b = p.get_with_capacity(4096);
    assert_eq!(p.stats().allocations, before);
    p.put(b);
}

#[test]
fn calibration_trims_caches_above_the_new_max() {
    let p = pool(PoolConfig {
        calibrate_after: 64,
        thread_cache_buffers: 2,
        ..PoolConfig::default()
    });
    // Pool three 64 KiB buffers: two in this thread's cache, one in the
    // overflow.
    for _ in 0..3 {
        p.put(filled(65536, 0));
    }
    assert_eq!(p.stats().pooled_buffers, 3);
    // 61 of 64 puts (95.3 %) are of 1 KiB buffers.
    for _ in 0..61 {
        p.put(filled(1024, 1000));
    }
    let s = p.stats();
    assert_eq!(s.calibrations, 1);
    assert_eq!(p.max_size(), 1024);
    // The 64 KiB buffers were freed, wherever they were.
    assert_eq!((s.pooled_buffers, s.pooled_bytes), (61, 61 * 1024));
    assert_eq!(s.discarded, 3);
    let b = p.get_with_capacity(65536);
    assert_eq!(p.stats().allocations, 1);
    p.put(b);
    assert_eq!(p.stats().dropped, 1);
}

#[test]
fn dropped_pool_caches_are_freed() {
    // On a fresh thread, so that only these two pools have caches on it.
    thread::spawn(|| {
        let dead = BufferPool::new();
        dead.put(dead.get());
        let live = pool(PoolConfig {
            calibrate_after: 1,
            ..PoolConfig::default()
        });
        let b = live.get();
        let entries = || local::CACHES.with(|c| c.borrow().entries.len());
        assert_eq!(entries(), 2);
        drop(dead);
        // A report (here after every put) prunes the dead pool's cache.
        live.put(b);
        assert_eq!(entries(), 1);
    })
    .join()
    .unwrap();
}

#[test]
fn works_from_thread_local_destructors() {
    struct PutOnDrop(BufferPool);
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            let b = self.0.get();
            self.0.put(b);
            let b = self.0.get_with_capacity(100);
            self.0.put(b);
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<PutOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let p = BufferPool::new();
    let q = p.clone();
    thread::spawn(move || {
        // LATE is initialized before the cache, so it is most likely
        // destroyed after it (the fallback path); either order must work.
        LATE.with(|l| *l.borrow_mut() = Some(PutOnDrop(q.clone())));
        q.put(q.get());
    })
    .join()
    .unwrap();
    let s = p.stats();
    assert_eq!((s.gets, s.puts), (3, 3));
    assert_eq!(s.outstanding_bytes, 0);
}

#[test]
fn uncached_paths_share_the_overflow() {
    let p = BufferPool::new();
    local::put_uncached(&p.shared, Vec::with_capacity(256));
    assert_eq!(p.stats().pooled_buffers, 1);
    let b = local::get_uncached(&p.shared, 200);
    assert_eq!(b.capacity(), 256);
    let b2 = local::get_uncached(&p.shared, 200);
    let s = p.stats();
    assert_eq!((s.gets, s.puts, s.allocations), (2, 1, 1));
    drop((b, b2));
}

#[test]
fn global_is_one_pool() {
    assert!(std::ptr::eq(BufferPool::global(), BufferPool::global()));
    let b = BufferPool::global().get();
    assert!(b.is_empty());
    BufferPool::global().put(b);
}

#[test]
fn with_config_clamps() {
    let p = BufferPool::with_config(PoolConfig {
        calibrate_after: 0,
        initial_default_size: 0,
        initial_max_size: 0,
        thread_cache_buffers: usize::MAX,
        ..PoolConfig::default()
    });
    assert_eq!(p.default_size(), 64);
    assert_eq!(p.max_size(), 64);
    p.put(filled(64, 0));
    assert_eq!(p.stats().calibrations, 1);
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync + Clone + Default>() {}
    check::<BufferPool>();
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    error::<crate::PoolConfigError>();
}

#[test]
fn grown_buffers_serve_smaller_gets() {
    // A buffer taken at 4 KiB that grew to 16 KiB is filed under 16 KiB; the
    // next 4 KiB gets must reuse it instead of allocating every time.
    let p = BufferPool::new();
    for _ in 0..100 {
        let mut b = p.get_with_capacity(4096);
        b.extend_from_slice(&[b'x'; 10_000]);
        p.put(b);
    }
    let s = p.stats();
    assert_eq!(s.allocations, 1, "{s:?}");
    assert_eq!(s.pooled_buffers, 1);

    // Not from arbitrarily far up: a 64 B get does not take a 1 MiB buffer.
    let p = BufferPool::new();
    p.put(filled(1 << 20, 0));
    let b = p.get_with_capacity(64);
    assert_eq!(b.capacity(), 64);
    assert_eq!(p.stats().pooled_buffers, 1);
}

#[test]
fn grown_buffers_are_found_in_the_overflow() {
    let p = pool(PoolConfig {
        thread_cache_buffers: 1,
        ..PoolConfig::default()
    });
    let big: Vec<ByteBuffer> = (0..4).map(|_| filled(16 << 10, 0)).collect();
    for b in big {
        p.put(b);
    }
    assert!(p.stats().pooled_buffers >= 3);
    let before = p.stats().allocations;
    let got: Vec<ByteBuffer> = (0..4).map(|_| p.get_with_capacity(4096)).collect();
    assert!(got.iter().all(|b| b.capacity() == 16 << 10));
    assert_eq!(p.stats().allocations, before);
}

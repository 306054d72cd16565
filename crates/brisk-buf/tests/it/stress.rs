//! Threads hammering one pool: no buffer is ever handed out twice while
//! held, and the books balance at the end.

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use brisk_buf::{BufferPool, ByteBuffer, PoolConfig};

const THREADS: usize = 8;
/// Get/put pairs per thread (fewer under Miri, which is ~1000× slower).
const OPS: usize = if cfg!(miri) { 300 } else { 100_000 };
/// Buffers a thread holds at once.
const HELD: usize = 4;
/// Every this many operations a thread hands a buffer to its neighbour,
/// which puts it back (a put on another thread than the get).
const HAND_OFF_EVERY: usize = 97;

/// Data pointers of the buffers currently held by some thread, sharded to
/// keep the test's own locking cheap.
struct Held {
    shards: Vec<Mutex<HashSet<usize>>>,
}

impl Held {
    fn shard(&self, p: usize) -> &Mutex<HashSet<usize>> {
        &self.shards[(p >> 6) % self.shards.len()]
    }

    /// Records that `b` is held; fails if it already was.
    fn take(&self, b: &ByteBuffer) {
        let p = b.as_ptr() as usize;
        let fresh = self.shard(p).lock().unwrap().insert(p);
        assert!(fresh, "buffer {p:#x} handed out while still held");
    }

    /// Records that `b` is about to be put back.
    fn release(&self, b: &ByteBuffer) {
        let p = b.as_ptr() as usize;
        let was = self.shard(p).lock().unwrap().remove(&p);
        assert!(was, "buffer {p:#x} put back but not recorded as held");
    }
}

/// A request size from a fixed mix: mostly 4 KiB, some from 64 B to 64 KiB.
fn size(i: usize) -> usize {
    const MIX: [usize; 8] = [4096, 64, 4096, 1000, 4096, 16384, 4096, 65536];
    MIX[i % MIX.len()]
}

#[test]
fn no_buffer_is_handed_out_twice() {
    let pool = BufferPool::with_config(PoolConfig {
        // Calibrate many times during the run, and keep the thread caches
        // small so that the overflow is exercised.
        calibrate_after: if cfg!(miri) { 500 } else { 5_000 },
        thread_cache_buffers: 8,
        thread_cache_bytes: 128 * 1024,
        shared_max_bytes: 4 << 20,
        ..PoolConfig::default()
    });
    let held = Arc::new(Held {
        shards: (0..64).map(|_| Mutex::new(HashSet::new())).collect(),
    });
    let barrier = Arc::new(Barrier::new(THREADS));
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<ByteBuffer>()).unzip();
    // Spawned and joined rather than scoped: `join` also waits for the
    // thread-local destructors that give the thread caches back.
    let threads: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let next = senders[(t + 1) % THREADS].clone();
            let (pool, held, barrier) = (pool.clone(), Arc::clone(&held), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut mine: Vec<ByteBuffer> = Vec::with_capacity(HELD);
                let marker = t as u8 + 1;
                for i in 0..OPS {
                    let want = size(i + t);
                    let mut b = if i % 3 == 0 {
                        pool.get()
                    } else {
                        pool.get_with_capacity(want)
                    };
                    assert!(b.is_empty());
                    held.take(&b);
                    b.extend_from_slice(&[marker; 16]);
                    if i % HAND_OFF_EVERY == 0 {
                        let _ = next.send(b);
                    } else {
                        mine.push(b);
                    }
                    if mine.len() == HELD {
                        let b = mine.remove(0);
                        // Nobody else wrote into it while this thread held it.
                        assert_eq!(&b[..], &[marker; 16]);
                        held.release(&b);
                        pool.put(b);
                    }
                    while let Ok(b) = rx.try_recv() {
                        held.release(&b);
                        pool.put(b);
                    }
                }
                for b in mine {
                    held.release(&b);
                    pool.put(b);
                }
                // Wait for the neighbour's last hand-offs.
                barrier.wait();
                while let Ok(b) = rx.try_recv() {
                    held.release(&b);
                    pool.put(b);
                }
            })
        })
        .collect();
    drop(senders);
    for t in threads {
        t.join().unwrap();
    }
    let s = pool.stats();
    let ops = (THREADS * OPS) as u64;
    assert_eq!((s.gets, s.puts), (ops, ops), "{s:?}");
    assert_eq!(s.outstanding_bytes, 0, "{s:?}");
    assert!(s.calibrations >= 1, "{s:?}");
    assert_eq!(s.threads, 0, "{s:?}");
    // All thread caches were returned; the overflow stays in its budget.
    assert!(s.pooled_bytes <= 4 << 20, "{s:?}");
    assert!(s.allocations < ops / 10, "the pool barely reused: {s:?}");
    assert!(held.shards.iter().all(|s| s.lock().unwrap().is_empty()));
}

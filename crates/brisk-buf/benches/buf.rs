//! `BufferPool` get + put against `Vec::with_capacity` + drop (the system
//! allocator), over the same cycling mix of sizes, on one and on two threads.
//!
//! Each iteration is one operation: take a buffer of the next size, write a
//! few bytes into it, and give back (put / drop) the buffer taken
//! `IN_FLIGHT` operations earlier, as a server does with the buffers of its
//! busy connections. The `1t-immediate` variant gives each buffer back at
//! once, the allocator's best case (the same chunk is handed out again).
//! Criterion's mean is ns per operation (per thread, for the two-thread
//! runs). `cargo xtask bench buf` prints the "1t" ratio last.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brisk_buf::BufferPool;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Requested capacities, cycled: mostly 4 KiB, some from 64 B to 64 KiB.
const SIZES: [usize; 16] = [
    4096, 64, 4096, 4096, 256, 4096, 4096, 1024, 4096, 4096, 16384, 4096, 4096, 65536, 4096, 4096,
];

/// What each operation writes into its buffer.
const PAYLOAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: brisk\r\n";

/// Buffers held at once by the in-flight variants (the buffers of a few
/// hundred busy connections).
const IN_FLIGHT: usize = 256;

fn pool_op(pool: &BufferPool, i: usize) {
    let mut b = pool.get_with_capacity(SIZES[i % SIZES.len()]);
    b.extend_from_slice(PAYLOAD);
    black_box(b.as_slice());
    pool.put(b);
}

fn vec_op(i: usize) {
    let mut v: Vec<u8> = Vec::with_capacity(black_box(SIZES[i % SIZES.len()]));
    v.extend_from_slice(PAYLOAD);
    black_box(v.as_slice());
    drop(black_box(v));
}

/// Buffers in flight: a ring of `IN_FLIGHT` slots; each operation fills
/// the next slot and releases what the slot held.
struct Ring<T> {
    slots: Vec<Option<T>>,
    next: usize,
}

impl<T> Ring<T> {
    fn new() -> Ring<T> {
        Ring {
            slots: (0..IN_FLIGHT).map(|_| None).collect(),
            next: 0,
        }
    }

    /// Stores `v`, returns the value stored `IN_FLIGHT` calls ago.
    fn swap(&mut self, v: T) -> Option<T> {
        let old = self.slots[self.next].replace(v);
        self.next = (self.next + 1) % IN_FLIGHT;
        old
    }
}

fn pool_op_held(pool: &BufferPool, ring: &mut Ring<brisk_buf::ByteBuffer>, i: usize) {
    let mut b = pool.get_with_capacity(SIZES[i % SIZES.len()]);
    b.extend_from_slice(PAYLOAD);
    black_box(b.as_slice());
    if let Some(old) = ring.swap(b) {
        pool.put(old);
    }
}

fn vec_op_held(ring: &mut Ring<Vec<u8>>, i: usize) {
    let mut v: Vec<u8> = Vec::with_capacity(black_box(SIZES[i % SIZES.len()]));
    v.extend_from_slice(PAYLOAD);
    black_box(v.as_slice());
    drop(black_box(ring.swap(v)));
}

/// Two worker threads that run `iters` operations each when told to, and
/// park on a barrier in between, so a sample measures the operations and not
/// thread start-up.
struct Pair {
    start: Arc<Barrier>,
    done: Arc<Barrier>,
    iters: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Pair {
    fn new(op: impl Fn(usize) + Send + Sync + 'static) -> Pair {
        let op = Arc::new(op);
        let start = Arc::new(Barrier::new(3));
        let done = Arc::new(Barrier::new(3));
        let iters = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..2)
            .map(|t| {
                let (op, start, done) = (Arc::clone(&op), Arc::clone(&start), Arc::clone(&done));
                let (iters, stop) = (Arc::clone(&iters), Arc::clone(&stop));
                thread::spawn(move || {
                    loop {
                        start.wait();
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let n = iters.load(Ordering::Acquire) as usize;
                        // Offset the threads in the size cycle.
                        for i in 0..n {
                            op(i + t * 7);
                        }
                        done.wait();
                    }
                })
            })
            .collect();
        Pair {
            start,
            done,
            iters,
            stop,
            workers,
        }
    }

    /// Wall time for both threads to run `iters` operations each.
    fn run(&self, iters: u64) -> Duration {
        self.iters.store(iters, Ordering::Release);
        self.start.wait();
        let t = Instant::now();
        self.done.wait();
        t.elapsed()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.start.wait();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("buf");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    let pool = BufferPool::new();
    let mut ring = Ring::new();
    g.bench_function(BenchmarkId::new("pool", "1t"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            pool_op_held(&pool, &mut ring, i);
            i = i.wrapping_add(1);
        });
    });
    let mut ring = Ring::new();
    g.bench_function(BenchmarkId::new("vec", "1t"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            vec_op_held(&mut ring, i);
            i = i.wrapping_add(1);
        });
    });
    drop(ring);
    g.bench_function(BenchmarkId::new("pool", "1t-immediate"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            pool_op(&pool, i);
            i = i.wrapping_add(1);
        });
    });
    g.bench_function(BenchmarkId::new("vec", "1t-immediate"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            vec_op(i);
            i = i.wrapping_add(1);
        });
    });

    let shared = BufferPool::new();
    let pair = Pair::new(move |i| pool_op(&shared, i));
    g.bench_function(BenchmarkId::new("pool", "2t"), |b| {
        b.iter_custom(|iters| pair.run(iters));
    });
    drop(pair);
    let pair = Pair::new(vec_op);
    g.bench_function(BenchmarkId::new("vec", "2t"), |b| {
        b.iter_custom(|iters| pair.run(iters));
    });
    drop(pair);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Properties of `BufferPool`: empty buffers, and calibration against an
//! independent computation of the expected sizes.

use brisk_buf::{BufferPool, ByteBuffer, MAX_CLASS_SIZE, MIN_CLASS_SIZE, PoolConfig};
use proptest::prelude::*;

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    Get,
    GetWithCapacity(usize),
    /// Write `n` bytes into held buffer `i % held`, then put it back.
    Put {
        i: usize,
        n: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Get),
        (0usize..70_000).prop_map(Op::GetWithCapacity),
        (any::<usize>(), 0usize..20_000).prop_map(|(i, n)| Op::Put { i, n }),
    ]
}

/// A size class: 64 B << `shift`, for shift up to 14 (1 MiB).
fn class_shift() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..8, 1 => 0u32..15]
}

/// A put: (length, capacity) with length <= capacity, capacities spread over
/// classes and within them.
fn put_size() -> impl Strategy<Value = (usize, usize)> {
    (class_shift(), 0usize..64, any::<u16>()).prop_map(|(shift, jitter, len)| {
        let cap = (MIN_CLASS_SIZE << shift) + jitter * (MIN_CLASS_SIZE << shift) / 64;
        (len as usize % (cap + 1), cap)
    })
}

/// The class size a put of `n` bytes counts in: the smallest power of two
/// from 64 B that holds `n` (capped at the largest class).
fn expected_class_size(n: usize) -> usize {
    let mut size = MIN_CLASS_SIZE;
    while size < n && size < MAX_CLASS_SIZE {
        size *= 2;
    }
    size
}

/// The expected (default size, max size) after one calibration, computed
/// from the recorded sizes by sorting rather than with class counters.
fn expected_calibration(puts: &[(usize, usize)]) -> (usize, usize) {
    let mut lens: Vec<usize> = puts.iter().map(|&(l, _)| expected_class_size(l)).collect();
    lens.sort_unstable();
    // Most frequent length class; the smaller one on a tie.
    let mut default = 0;
    let mut best = 0;
    for chunk in lens.chunk_by(|a, b| a == b) {
        if chunk.len() > best {
            best = chunk.len();
            default = chunk[0];
        }
    }
    let mut caps: Vec<usize> = puts.iter().map(|&(_, c)| expected_class_size(c)).collect();
    caps.sort_unstable();
    // The smallest class covering 95 % of capacities: the element at rank
    // ceil(0.95 n).
    let rank = (caps.len() * 95).div_ceil(100);
    let p95 = caps[rank - 1];
    (default, p95.max(default))
}

fn config(calibrate_after: usize) -> PoolConfig {
    PoolConfig {
        calibrate_after,
        ..PoolConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        ..ProptestConfig::default()
    })]

    /// Whatever was done with the buffers before, and across calibrations,
    /// `get` hands out empty buffers of at least the asked capacity.
    #[test]
    fn buffers_from_the_pool_are_empty(ops in prop::collection::vec(op(), 1..200)) {
        let pool = BufferPool::with_config(PoolConfig {
            thread_cache_buffers: 2,
            ..config(16)
        });
        let mut held: Vec<ByteBuffer> = Vec::new();
        for op in ops {
            match op {
                Op::Get => {
                    let b = pool.get();
                    prop_assert!(b.is_empty());
                    prop_assert!(b.capacity() >= pool.default_size());
                    held.push(b);
                }
                Op::GetWithCapacity(n) => {
                    let b = pool.get_with_capacity(n);
                    prop_assert!(b.is_empty());
                    prop_assert!(b.capacity() >= n);
                    held.push(b);
                }
                Op::Put { i, n } => {
                    if !held.is_empty() {
                        let mut b = held.swap_remove(i % held.len());
                        b.extend_from_slice(&vec![0xa5; n]);
                        pool.put(b);
                    }
                }
            }
        }
        let s = pool.stats();
        prop_assert_eq!(s.gets, s.puts + held.len() as u64);
    }

    /// After `calibrate_after` puts, the default size is the most common
    /// length class and the max size the 95th percentile capacity class.
    #[test]
    fn calibration_picks_the_expected_classes(
        puts in prop::collection::vec(put_size(), 1..=64),
    ) {
        let pool = BufferPool::with_config(config(puts.len()));
        let mut recorded = Vec::with_capacity(puts.len());
        for &(len, cap) in &puts {
            let mut v = Vec::with_capacity(cap);
            v.resize(len, 7);
            recorded.push((len, v.capacity()));
            pool.put(ByteBuffer::from_vec(v));
        }
        let (default, max) = expected_calibration(&recorded);
        prop_assert_eq!(pool.stats().calibrations, 1);
        prop_assert_eq!(pool.default_size(), default);
        prop_assert_eq!(pool.max_size(), max);
        // A pooled buffer of the default class or up to three classes above
        // it (a class holds capacities up to twice its size), or a new one
        // of exactly the default size.
        let cap = pool.get().capacity();
        prop_assert!(cap >= default && cap < 16 * default, "{} vs {}", cap, default);
    }

    /// Calibration runs once per `calibrate_after` puts and uses only the
    /// puts since the previous one.
    #[test]
    fn each_calibration_sees_only_its_own_puts(
        first in prop::collection::vec(put_size(), 64),
        second in prop::collection::vec(put_size(), 64),
    ) {
        let pool = BufferPool::with_config(config(64));
        for (round, puts) in [&first, &second].into_iter().enumerate() {
            let mut recorded = Vec::new();
            for &(len, cap) in puts {
                let mut v = Vec::with_capacity(cap);
                v.resize(len, 7);
                recorded.push((len, v.capacity()));
                pool.put(ByteBuffer::from_vec(v));
            }
            let (default, max) = expected_calibration(&recorded);
            prop_assert_eq!(pool.stats().calibrations, round as u64 + 1);
            prop_assert_eq!((pool.default_size(), pool.max_size()), (default, max));
        }
    }
}

#[test]
fn expected_calibration_matches_a_worked_example() {
    // 18 lengths in 256 B, 2 in 4 KiB; capacities: 19 of 20 (95 %) at 4 KiB.
    let mut puts = vec![(200, 4096); 18];
    puts.push((3000, 4096));
    puts.push((3000, 65536));
    assert_eq!(expected_calibration(&puts), (256, 4096));
    puts.push((3000, 65536));
    assert_eq!(expected_calibration(&puts), (256, 65536));
}

#[test]
fn kept_buffers_respect_the_calibrated_max() {
    let pool = BufferPool::with_config(config(64));
    for _ in 0..64 {
        pool.put(ByteBuffer::with_capacity(512));
    }
    assert_eq!(pool.max_size(), 512);
    let before = pool.stats();
    pool.put(ByteBuffer::with_capacity(1024));
    pool.put(ByteBuffer::with_capacity(512));
    let after = pool.stats();
    assert_eq!(after.dropped - before.dropped, 1);
    assert_eq!(after.pooled_bytes - before.pooled_bytes, 512);
}

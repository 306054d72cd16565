//! brisk-pool against `std::thread::spawn` per job and a fixed set of
//! threads pulling jobs from one shared crossbeam channel.
//!
//! * `pool/<impl>/latency`: time from `serve` / `spawn` / `send` to the job
//!   starting on its thread, one job at a time (the next is submitted once the
//!   previous one finished and its worker is idle again).
//! * `pool/<impl>/latency_parked` (brisk and channel): the same, after a
//!   pause that lets the idle thread stop spinning and sleep, so the job pays
//!   for a real wake-up.
//! * `pool/<impl>/throughput`: wall time for `iters` tiny jobs submitted as
//!   fast as possible to all complete, divided by `iters`. brisk-pool never
//!   queues: when it hands a job back because every worker is busy, the
//!   submitter backs off (spins, then yields) and retries, and that time is
//!   counted.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::collections::VecDeque;
use std::hint::spin_loop;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brisk_pool::{Config, WorkerPool};
use criterion::{Bencher, BenchmarkId, Criterion, criterion_group, criterion_main};
use crossbeam_utils::Backoff;

/// Worker threads for brisk-pool (`max_workers`) and the channel pool.
fn workers() -> usize {
    thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

/// When a job started, in nanoseconds since `base` plus one (0 = not yet).
struct Clock {
    base: Instant,
    started: AtomicU64,
}

impl Clock {
    fn new() -> Arc<Clock> {
        Arc::new(Clock {
            base: Instant::now(),
            started: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }

    /// Called by the job as its first action.
    fn mark(&self) {
        self.started.store(self.now(), Ordering::Release);
    }

    /// Submits with `submit`, waits for the job to mark its start, and
    /// returns the delay in between.
    fn measure(&self, submit: impl FnOnce()) -> Duration {
        self.started.store(0, Ordering::Relaxed);
        let t0 = self.now();
        submit();
        let started = spin_until(|| match self.started.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        });
        Duration::from_nanos(started.saturating_sub(t0))
    }
}

/// Spins (yielding now and then) until `f` returns `Some`.
fn spin_until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let mut spins = 0u32;
    loop {
        if let Some(v) = f() {
            return v;
        }
        spins += 1;
        if spins % 64 == 0 {
            thread::yield_now();
        } else {
            spin_loop();
        }
    }
}

fn wait_count(counter: &AtomicU64, target: u64) {
    spin_until(|| (counter.load(Ordering::Acquire) >= target).then_some(()));
}

/// The baseline: `n` threads pulling boxed jobs from one shared channel.
struct ChannelPool {
    tx: Option<crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<JoinHandle<()>>,
}

impl ChannelPool {
    fn new(n: usize) -> ChannelPool {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn FnOnce() + Send>>();
        let threads = (0..n)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    for job in rx {
                        job();
                    }
                })
            })
            .collect();
        ChannelPool {
            tx: Some(tx),
            threads,
        }
    }

    fn send(&self, job: Box<dyn FnOnce() + Send>) {
        if let Some(tx) = &self.tx {
            tx.send(job).expect("channel workers alive");
        }
    }
}

impl Drop for ChannelPool {
    fn drop(&mut self) {
        drop(self.tx.take());
        for t in self.threads.drain(..) {
            t.join().expect("channel worker exited cleanly");
        }
    }
}

/// The pause after each job in the `latency_parked` variants: long enough
/// for an idle worker (or channel receiver) to stop spinning and sleep, so
/// the next job pays for a real wake-up.
const PARK_PAUSE: Duration = Duration::from_micros(200);

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let clock = Clock::new();

    let pool = WorkerPool::new(
        Config {
            max_workers: workers(),
            ..Config::default()
        },
        {
            let clock = Arc::clone(&clock);
            move |()| clock.mark()
        },
    )
    .expect("valid config");
    let brisk = |pause: Option<Duration>| {
        let (pool, clock) = (&pool, &clock);
        move |b: &mut Bencher<'_>| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += clock.measure(|| pool.serve(()).expect("a worker is idle"));
                    // Let the worker finish and go back on the idle stack, so
                    // the next job is a hand-off, never a spawn.
                    spin_until(|| (pool.stats().busy == 0).then_some(()));
                    if let Some(pause) = pause {
                        thread::sleep(pause);
                    }
                }
                total
            });
        }
    };
    group.bench_function(BenchmarkId::new("brisk", "latency"), brisk(None));

    group.bench_function(BenchmarkId::new("spawn", "latency"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut handle = None;
                total += clock.measure(|| {
                    let clock = Arc::clone(&clock);
                    handle = Some(thread::spawn(move || clock.mark()));
                });
                handle
                    .map(JoinHandle::join)
                    .transpose()
                    .expect("job thread");
            }
            total
        });
    });

    let channel = ChannelPool::new(workers());
    let done = Arc::new(AtomicU64::new(0));
    let chan = |pause: Option<Duration>| {
        let (channel, clock, done) = (&channel, &clock, &done);
        move |b: &mut Bencher<'_>| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let target = done.load(Ordering::Relaxed) + 1;
                    let (clock2, done2) = (Arc::clone(clock), Arc::clone(done));
                    let job = Box::new(move || {
                        clock2.mark();
                        done2.fetch_add(1, Ordering::Release);
                    });
                    total += clock.measure(|| channel.send(job));
                    // Let the worker finish and block in `recv` again.
                    wait_count(done, target);
                    if let Some(pause) = pause {
                        thread::sleep(pause);
                    }
                }
                total
            });
        }
    };
    group.bench_function(BenchmarkId::new("channel", "latency"), chan(None));

    // The same hand-offs to a worker that has gone to sleep: what a job
    // arriving now and then pays. Each iteration also sleeps PARK_PAUSE
    // (not measured), hence the short measurement time.
    group
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(300));
    group.bench_function(
        BenchmarkId::new("brisk", "latency_parked"),
        brisk(Some(PARK_PAUSE)),
    );
    group.bench_function(
        BenchmarkId::new("channel", "latency_parked"),
        chan(Some(PARK_PAUSE)),
    );
    drop(channel);
    drop(pool);
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let done = Arc::new(AtomicU64::new(0));

    let pool = WorkerPool::new(
        Config {
            max_workers: workers(),
            ..Config::default()
        },
        {
            let done = Arc::clone(&done);
            move |()| {
                done.fetch_add(1, Ordering::Release);
            }
        },
    )
    .expect("valid config");
    group.bench_function(BenchmarkId::new("brisk", "throughput"), |b| {
        b.iter_custom(|iters| {
            let target = done.load(Ordering::Relaxed) + iters;
            let start = Instant::now();
            for _ in 0..iters {
                // Full: the job comes back. Back off (spin, then yield to
                // the workers) and retry.
                let backoff = Backoff::new();
                while pool.serve(()).is_err() {
                    backoff.snooze();
                }
            }
            wait_count(&done, target);
            start.elapsed()
        });
    });
    drop(pool);

    group.bench_function(BenchmarkId::new("spawn", "throughput"), |b| {
        b.iter_custom(|iters| {
            let target = done.load(Ordering::Relaxed) + iters;
            // Bound the threads in flight so a long run cannot exhaust the
            // process's thread or memory-map limits.
            let mut in_flight = VecDeque::with_capacity(64);
            let start = Instant::now();
            for _ in 0..iters {
                if in_flight.len() == 64 {
                    let oldest: JoinHandle<()> = in_flight.pop_front().expect("64 in flight");
                    oldest.join().expect("job thread");
                }
                let done = Arc::clone(&done);
                in_flight.push_back(thread::spawn(move || {
                    done.fetch_add(1, Ordering::Release);
                }));
            }
            for t in in_flight {
                t.join().expect("job thread");
            }
            wait_count(&done, target);
            start.elapsed()
        });
    });

    let channel = ChannelPool::new(workers());
    group.bench_function(BenchmarkId::new("channel", "throughput"), |b| {
        b.iter_custom(|iters| {
            let target = done.load(Ordering::Relaxed) + iters;
            let start = Instant::now();
            for _ in 0..iters {
                let done = Arc::clone(&done);
                channel.send(Box::new(move || {
                    done.fetch_add(1, Ordering::Release);
                }));
            }
            wait_count(&done, target);
            start.elapsed()
        });
    });
    drop(channel);
    group.finish();
}

criterion_group!(benches, latency, throughput);
criterion_main!(benches);

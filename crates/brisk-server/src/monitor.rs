//! The take-over monitor: a thread that watches every loop and, when one
//! has been away in a handler for `blocking_threshold`, asks the pool for a
//! spare thread to take the loop over.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use brisk_pool::WorkerPool;
use log::warn;

use crate::event_loop::LoopShared;
use crate::server::{Job, Run};

/// Looks in a row that found no loop away before the monitor parks: a
/// server between requests does not pay a park and a wake-up per request.
const QUIET_LOOKS: u32 = 64;

/// Watches every loop; when one has been away on the same connection for
/// `blocking_threshold` (a blocking handler), asks the pool for a thread to
/// take the loop over.
///
/// A loop records when it went away (`away_since_us`), so the monitor
/// needs no second look to know how long: it wakes at the earliest moment
/// a loop could reach the threshold (that loop's start plus the threshold,
/// or one threshold from now for a loop in its own code), which under load
/// is about once per threshold. After [`QUIET_LOOKS`] looks in a row found
/// no loop away, it parks without a timeout until a loop goes away (see
/// `MonitorGate`) or the server stops: an idle server's monitor never wakes.
pub(crate) fn monitor(run: &Run, pool: &WorkerPool<Job>) {
    let threshold = run
        .core
        .cfg
        .blocking_threshold
        .max(Duration::from_micros(100));
    let t_us = threshold.as_micros() as u64;
    let n = run.loops.len();
    let mut asked = vec![u64::MAX; n];
    // Per loop: the away value last found runnable, and the owner's CPU
    // time then (see `owner_is_stuck`).
    let mut runnable_at: Vec<Option<(u64, u64)>> = vec![None; n];
    let mut quiet = 0u32;
    let mut refused_logged = Instant::now() - Duration::from_secs(3600);
    let mut sleep = threshold;
    crate::sys::quiet_monitor_thread(threshold / 8);
    while !run.all_done() {
        thread::park_timeout(sleep);
        let now = crate::sys::monotonic_us();
        // A loop in its own code may go away right after this look.
        let mut wake_at = now + t_us;
        let mut busy = false;
        for i in 0..n {
            let l = &run.loops[i];
            let Some(v) = l.ctl.away() else {
                continue;
            };
            busy = true;
            if asked[i] == v {
                continue;
            }
            // At least as new as `v`'s start (newer only if the loop has
            // moved on, which wakes us early at worst).
            let since = l.ctl.away_since_us();
            if now < since + t_us {
                wake_at = wake_at.min(since + t_us);
                continue;
            }
            if !owner_is_stuck(l, v, threshold / 2, &mut runnable_at[i]) {
                // Runnable: decided once its CPU time is seen again.
                wake_at = wake_at.min(now + t_us / 2);
                continue;
            }
            asked[i] = v;
            if pool.serve(Job::TakeOver(i, v)).is_err() {
                if refused_logged.elapsed() > Duration::from_secs(10) {
                    refused_logged = Instant::now();
                    warn!(
                        "loop {i} is blocked in a handler and no spare thread is free \
                         (max_blocking_threads reached); its other connections wait"
                    );
                }
                asked[i] = u64::MAX; // ask again at the next look
                wake_at = wake_at.min(now + t_us / 2);
            }
        }
        // The timer may fire up to the slack late.
        sleep = Duration::from_micros(wake_at.saturating_sub(now + t_us / 8).max(50));
        quiet = if busy { 0 } else { quiet + 1 };
        if quiet >= QUIET_LOOKS {
            // Nothing ran handlers for a while: sleep until a loop goes away
            // (or `serve` unparks this thread at the end).
            run.gate
                .park_while_idle(run.loops.iter().map(|l| &l.ctl), || run.all_done());
            quiet = 0;
            sleep = Duration::ZERO;
        }
    }
}

/// Whether the owner of a loop away at the same `ctl` value `v` for the
/// whole threshold is really stuck in a handler, rather than preempted: a
/// thread that waits for a CPU (another process, a CPU quota) is not helped
/// by a take-over, which would only add a thread competing for the same CPU.
///
/// Stuck means: sleeping in a system call (a blocking handler), or runnable
/// and it used at least half a `period` of CPU since it was last seen
/// runnable at this value (a CPU-bound handler; decided a `period` later).
/// Where the scheduler state cannot be read, any long absence counts.
fn owner_is_stuck(
    l: &LoopShared,
    v: u64,
    period: Duration,
    runnable_at: &mut Option<(u64, u64)>,
) -> bool {
    let tid = l.owner_tid.load(Ordering::Relaxed);
    let Some((runnable, cpu_ns)) = crate::sys::thread_sched(tid) else {
        return true;
    };
    if !runnable {
        return true;
    }
    match *runnable_at {
        Some((at, before)) if at == v => {
            let ran = cpu_ns.saturating_sub(before);
            if ran >= period.as_nanos() as u64 / 2 {
                return true;
            }
            *runnable_at = Some((v, cpu_ns));
            false
        }
        _ => {
            *runnable_at = Some((v, cpu_ns));
            false
        }
    }
}

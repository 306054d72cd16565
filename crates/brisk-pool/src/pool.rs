//! [`WorkerPool`]: serve, release, reap and stop, all under one state lock.

#[cfg(test)]
mod tests;

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_utils::sync::Parker;
use log::Level;

use crate::config::{Config, ConfigError};
use crate::slot::{Command, Slot};

/// A pool of OS worker threads with the semantics of fasthttp's workerPool.
///
/// * [`serve`](WorkerPool::serve) gives a job to the most recently idled
///   worker (the idle workers form a LIFO stack, so the hottest caches get
///   the work), spawns a new worker when none is idle and fewer than
///   [`Config::max_workers`] exist, and otherwise hands the job straight
///   back. It never queues and never blocks on other jobs.
/// * A cleaner thread stops workers idle longer than
///   [`Config::max_idle_worker_duration`].
/// * A panicking job is caught and logged; its worker keeps serving.
/// * [`stop`](WorkerPool::stop) (also run on drop) refuses new jobs, waits
///   for running jobs and joins every thread the pool started.
///
/// `WorkerPool` is `Send + Sync`: share it in an `Arc` and call `serve` from
/// any number of threads.
pub struct WorkerPool<J: Send + 'static> {
    shared: Arc<Shared<J>>,
}

/// A snapshot of a pool's counters, from [`WorkerPool::stats`].
///
/// Every counter changes under the pool's one state lock and `stats` reads
/// them all under that lock, so a snapshot is one consistent instant and
/// always satisfies:
///
/// * `alive == idle + busy <= max_workers`;
/// * `busy == served - completed` (a job counts as served from the moment
///   `serve` commits to it, and a worker counts as busy from then until the
///   job has returned or panicked);
/// * `panicked <= completed <= served`;
/// * `served + rejected` equals the number of `serve` calls that have
///   returned (a `serve` still running may already be counted).
///
/// After [`WorkerPool::stop`] returns (on a thread outside the pool):
/// `alive == idle == busy == threads == 0` and `completed == served`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Workers in the pool: idle plus busy. A worker leaves this count when
    /// it is told to stop, a moment before its thread ends.
    pub alive: usize,
    /// Workers parked on the idle stack, waiting for a job.
    pub idle: usize,
    /// Workers given a job that has not finished yet (including a worker
    /// whose thread is still being spawned for its first job).
    pub busy: usize,
    /// OS threads this pool started (workers and the cleaner) that it has
    /// not joined yet; includes workers that left the pool and are exiting.
    pub threads: usize,
    /// Jobs `serve` accepted.
    pub served: u64,
    /// Jobs `serve` handed back: the pool was full or stopped, or a worker
    /// thread could not be spawned.
    pub rejected: u64,
    /// Accepted jobs that have finished running (returned or panicked).
    pub completed: u64,
    /// Finished jobs that panicked (a subset of `completed`).
    pub panicked: u64,
}

/// Everything the pool handle, the workers and the cleaner share.
struct Shared<J> {
    /// Validated configuration.
    cfg: Config,
    /// The function every worker runs on its jobs.
    job: Box<dyn Fn(J) + Send + Sync>,
    /// Unique per pool, stored in a thread-local by the pool's own threads so
    /// `stop` can tell it is running on one of them.
    id: usize,
    state: Mutex<State<J>>,
    /// Wakes the cleaner early (on stop).
    cleaner_wake: Condvar,
    /// Signalled while stopping, whenever `State::threads` drops or a handle
    /// is pushed.
    joined: Condvar,
}

/// The pool's bookkeeping; every field is guarded by `Shared::state`.
struct State<J> {
    /// Idle workers, the most recently idled on top (last).
    /// INVARIANT: `since` never decreases from index 0 to the top, so the
    /// workers idle too long form a prefix found by binary search.
    ready: Vec<Idle<J>>,
    /// INVARIANT: `alive == ready.len() + busy <= cfg.max_workers`.
    alive: usize,
    busy: usize,
    /// Threads started (or reserved and being spawned) and not yet joined.
    /// INVARIANT: `threads >= handles.len()`.
    threads: usize,
    /// Join handles of started threads not yet joined, the cleaner's included.
    handles: Vec<JoinHandle<()>>,
    /// Workers that left and whose handles have not been joined: tells the
    /// cleaner that scanning `handles` for finished threads will pay off.
    exited: usize,
    /// Set once by `stop`; from then on `serve` rejects and workers leave.
    must_stop: bool,
    /// The cleaner thread has been started (or is being spawned).
    cleaner_started: bool,
    /// Workers ever spawned: numbers the thread names.
    spawned: u64,
    served: u64,
    rejected: u64,
    completed: u64,
    panicked: u64,
}

/// One entry of the idle stack.
struct Idle<J> {
    /// When the worker went idle.
    since: Instant,
    slot: Arc<Slot<J>>,
}

/// Source of `Shared::id`; 0 means "not a pool thread".
static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The id of the pool this thread works for, or 0.
    static POOL_THREAD: Cell<usize> = const { Cell::new(0) };
}

impl<J: Send + 'static> WorkerPool<J> {
    /// Builds a pool that runs `job` on every job given to [`serve`].
    ///
    /// No thread starts yet: the first `serve` spawns the first worker and
    /// the cleaner.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `max_workers` is 0, `max_idle_worker_duration` is
    /// zero, or `name` holds a NUL byte.
    ///
    /// [`serve`]: WorkerPool::serve
    pub fn new(
        cfg: Config,
        job: impl Fn(J) + Send + Sync + 'static,
    ) -> Result<WorkerPool<J>, ConfigError> {
        cfg.validate()?;
        let state = State {
            ready: Vec::new(),
            alive: 0,
            busy: 0,
            threads: 0,
            handles: Vec::new(),
            exited: 0,
            must_stop: false,
            cleaner_started: false,
            spawned: 0,
            served: 0,
            rejected: 0,
            completed: 0,
            panicked: 0,
        };
        let shared = Shared {
            cfg,
            job: Box::new(job),
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(state),
            cleaner_wake: Condvar::new(),
            joined: Condvar::new(),
        };
        Ok(WorkerPool {
            shared: Arc::new(shared),
        })
    }

    /// Runs `job` on a worker thread, or hands it back.
    ///
    /// The job goes to the most recently idled worker, which alone is woken.
    /// With no idle worker and fewer than `max_workers` alive, a new worker
    /// thread is spawned for it (no lock is held while spawning). Otherwise
    /// nothing waits: the job comes back at once.
    ///
    /// Giving a job to an idle worker allocates nothing.
    ///
    /// # Errors
    ///
    /// `Err(job)` when every worker is busy and `max_workers` are alive, when
    /// the pool is stopped, or when the OS refused a new thread (logged).
    /// The first two are logged only with [`Config::log_all_errors`].
    pub fn serve(&self, job: J) -> Result<(), J> {
        let shared = &*self.shared;
        let mut st = shared.lock();
        if let Some(idle) = st.ready.pop() {
            // Idle workers exist only while running: `stop` empties the stack.
            st.busy += 1;
            st.served += 1;
            drop(st);
            idle.slot.put(Command::Run(job));
            return Ok(());
        }
        if st.must_stop || st.alive >= shared.cfg.max_workers {
            st.rejected += 1;
            let stopped = st.must_stop;
            drop(st);
            if shared.cfg.log_all_errors {
                shared.log_rejected(stopped);
            }
            return Err(job);
        }
        st.alive += 1;
        st.busy += 1;
        st.served += 1;
        st.threads += 1;
        let seq = st.spawned;
        st.spawned += 1;
        let start_cleaner = !st.cleaner_started;
        if start_cleaner {
            st.cleaner_started = true;
            st.threads += 1;
        }
        drop(st);
        Shared::spawn_worker(&self.shared, job, seq, start_cleaner)
    }

    /// Stops the pool: refuses new jobs, stops the idle workers, waits for
    /// the running jobs to finish and joins every thread the pool started.
    ///
    /// Idempotent, and safe to call from several threads at once: every
    /// caller returns once all the pool's threads are joined. Called from
    /// inside one of this pool's jobs it cannot wait for itself, so it only
    /// starts the stop and returns; the workers then leave on their own as
    /// their jobs finish. Dropping the pool calls `stop`.
    ///
    /// Blocks for as long as the longest running job takes.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// The pool's counters, read at one consistent instant (see
    /// [`PoolStats`] for the invariants they satisfy).
    pub fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        PoolStats {
            alive: st.alive,
            idle: st.ready.len(),
            busy: st.busy,
            threads: st.threads,
            served: st.served,
            rejected: st.rejected,
            completed: st.completed,
            panicked: st.panicked,
        }
    }

    /// Whether [`stop`](WorkerPool::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.shared.lock().must_stop
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }
}

impl<J: Send + 'static> Drop for WorkerPool<J> {
    /// Stops the pool as [`WorkerPool::stop`] does, waiting for running jobs.
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl<J: Send + 'static> fmt::Debug for WorkerPool<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("name", &self.shared.cfg.name)
            .field("max_workers", &self.shared.cfg.max_workers)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<J: Send + 'static> Shared<J> {
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // No user code runs under this lock (jobs and loggers run outside
        // it), so a poisoned lock still guards consistent counters.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spawning half of `serve`, after a worker (and maybe the cleaner)
    /// was reserved in the counters. Runs without the lock.
    #[inline(never)]
    fn spawn_worker(this: &Arc<Self>, job: J, seq: u64, start_cleaner: bool) -> Result<(), J> {
        // The first job goes through the slot, so that it can be taken back
        // if the thread cannot be spawned (the closure is then dropped).
        let parker = Parker::new();
        let slot = Arc::new(Slot::new(parker.unparker().clone(), Command::Run(job)));
        let spawned = {
            let shared = Arc::clone(this);
            let slot = Arc::clone(&slot);
            this.thread_builder(format_args!("{seq}"), this.cfg.stack_size)
                .spawn(move || worker_main(&shared, &slot, &parker))
        };
        let cleaner = start_cleaner.then(|| {
            let shared = Arc::clone(this);
            // The cleaner runs only this crate's code (and the logger): the
            // default stack suits it whatever the workers need.
            this.thread_builder(format_args!("cleaner"), None)
                .spawn(move || cleaner_main(&shared))
        });

        let mut st = this.lock();
        let worker_err = match spawned {
            Ok(handle) => {
                st.handles.push(handle);
                None
            }
            Err(e) => {
                st.alive -= 1;
                st.busy -= 1;
                st.served -= 1;
                st.rejected += 1;
                st.threads -= 1;
                Some(e)
            }
        };
        let cleaner_err = match cleaner {
            Some(Ok(handle)) => {
                st.handles.push(handle);
                None
            }
            Some(Err(e)) => {
                // Let a later spawn try again.
                st.cleaner_started = false;
                st.threads -= 1;
                Some(e)
            }
            None => None,
        };
        if st.must_stop {
            this.joined.notify_all();
        }
        drop(st);

        if let Some(e) = cleaner_err {
            this.log(
                Level::Error,
                format_args!(
                    "cannot spawn the cleaner thread ({e}): idle workers are not reaped until a \
                     later worker spawn starts it; raise the process's thread limit"
                ),
            );
        }
        match worker_err {
            None => Ok(()),
            Some(e) => {
                this.log(
                    Level::Error,
                    format_args!(
                        "cannot spawn a worker thread ({e}): the job is handed back; lower \
                         max_workers or stack_size, or raise the process's thread limit"
                    ),
                );
                match slot.take() {
                    Command::Run(job) => Err(job),
                    // Unreachable: the failed spawn never ran the closure,
                    // so the first job is still in the slot.
                    Command::Empty | Command::Stop => Ok(()),
                }
            }
        }
    }

    fn thread_builder(&self, suffix: fmt::Arguments<'_>, stack: Option<usize>) -> thread::Builder {
        let builder = thread::Builder::new().name(format!("{}-{suffix}", self.cfg.name));
        match stack {
            Some(size) => builder.stack_size(size),
            None => builder,
        }
    }

    /// Runs one job, catching a panic. Returns whether it panicked.
    fn run(&self, job: J) -> bool {
        match panic::catch_unwind(AssertUnwindSafe(|| (self.job)(job))) {
            Ok(()) => false,
            Err(payload) => {
                self.log_panic(&*payload);
                drop_payload(payload);
                true
            }
        }
    }

    /// A worker finished a job: pushes it on the idle stack, or returns
    /// `false` if the pool is stopping and the worker must leave.
    fn release(&self, slot: &Arc<Slot<J>>, panicked: bool) -> bool {
        let now = Instant::now();
        let mut st = self.lock();
        st.busy -= 1;
        st.completed += 1;
        st.panicked += u64::from(panicked);
        if st.must_stop {
            st.alive -= 1;
            return false;
        }
        push_idle(&mut st.ready, now, Arc::clone(slot));
        true
    }

    /// Refuses new jobs, stops idle workers, then (outside the pool's own
    /// threads) joins every thread.
    fn stop(&self) {
        let idle = {
            let mut st = self.lock();
            let idle = if st.must_stop {
                Vec::new()
            } else {
                st.must_stop = true;
                st.alive -= st.ready.len();
                mem::take(&mut st.ready)
            };
            self.cleaner_wake.notify_all();
            idle
        };
        for worker in idle {
            worker.slot.put(Command::Stop);
        }
        if POOL_THREAD.with(Cell::get) == self.id {
            return;
        }
        let mut st = self.lock();
        while st.threads > 0 {
            if st.handles.is_empty() {
                // Another thread is joining, or a spawn is in flight.
                st = self.joined.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let handles = mem::take(&mut st.handles);
            drop(st);
            let n = handles.len();
            self.join_all(handles);
            st = self.lock();
            st.threads -= n;
            self.joined.notify_all();
        }
    }

    fn join_all(&self, handles: impl IntoIterator<Item = JoinHandle<()>>) {
        for handle in handles {
            if let Err(payload) = handle.join() {
                // Jobs and loggers are caught, so only a bug in this crate
                // could get here.
                self.log_panic(&*payload);
                drop_payload(payload);
            }
        }
    }

    #[cold]
    fn log_rejected(&self, stopped: bool) {
        if stopped {
            self.log(
                Level::Warn,
                format_args!("job handed back: the pool is stopped"),
            );
        } else {
            self.log(
                Level::Warn,
                format_args!(
                    "job handed back: all {} workers are busy; raise max_workers or shed load",
                    self.cfg.max_workers
                ),
            );
        }
    }

    #[cold]
    fn log_panic(&self, payload: &(dyn Any + Send)) {
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        self.log(
            Level::Error,
            format_args!("job panicked: {msg}; the worker caught it and keeps serving"),
        );
    }

    /// Sends one message to the configured logger (or the `log` facade),
    /// prefixed with the pool's name. A panicking logger is ignored.
    #[cold]
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        let name = &self.cfg.name;
        let logged = panic::catch_unwind(AssertUnwindSafe(|| match &self.cfg.logger {
            Some(logger) => logger(&format!("{name}: {args}")),
            None => log::log!(target: "brisk_pool", level, "{name}: {args}"),
        }));
        if let Err(payload) = logged {
            drop_payload(payload);
        }
    }
}

/// The body of a worker thread: run jobs until told to stop.
fn worker_main<J: Send + 'static>(shared: &Arc<Shared<J>>, slot: &Arc<Slot<J>>, parker: &Parker) {
    POOL_THREAD.with(|id| id.set(shared.id));
    while let Some(job) = slot.wait(parker) {
        let panicked = shared.run(job);
        if !shared.release(slot, panicked) {
            break;
        }
    }
    // `release` or whoever sent `Stop` already took this worker out of
    // `alive`; tell the cleaner its handle is worth joining.
    shared.lock().exited += 1;
}

/// The body of the cleaner thread: reap stale idle workers, join finished
/// threads, sleep until the next worker could turn stale.
fn cleaner_main<J: Send + 'static>(shared: &Arc<Shared<J>>) {
    POOL_THREAD.with(|id| id.set(shared.id));
    let max_idle = shared.cfg.max_idle_worker_duration;
    // Wake at most ~10 times per `max_idle`, so workers going idle at
    // slightly different times are reaped in one batch; a worker is
    // therefore stopped between 1 and ~1.1 × `max_idle` after going idle.
    let min_sleep = (max_idle / 10).max(Duration::from_millis(1));
    let mut stale: Vec<Idle<J>> = Vec::new();
    let mut finished: Vec<JoinHandle<()>> = Vec::new();
    let mut st = shared.lock();
    while !st.must_stop {
        let now = Instant::now();
        let n = stale_prefix(&st.ready, now, max_idle);
        if n > 0 {
            stale.extend(st.ready.drain(..n));
            st.alive -= n;
        }
        if st.exited > 0 {
            let mut i = 0;
            while i < st.handles.len() {
                if st.handles[i].is_finished() {
                    finished.push(st.handles.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            st.exited -= finished.len().min(st.exited);
        }
        let next_stale = match st.ready.first() {
            Some(oldest) => oldest.since.checked_add(max_idle),
            None => now.checked_add(max_idle),
        };
        let exiting = st.exited > 0 || !stale.is_empty();
        drop(st);

        for worker in stale.drain(..) {
            worker.slot.put(Command::Stop);
        }
        let joined = finished.len();
        shared.join_all(finished.drain(..));

        st = shared.lock();
        if joined > 0 {
            st.threads -= joined;
            if st.must_stop {
                shared.joined.notify_all();
            }
        }
        if st.must_stop {
            break;
        }
        let mut sleep =
            next_stale.map(|at| at.saturating_duration_since(Instant::now()).max(min_sleep));
        if exiting {
            // Stopped workers end within microseconds: join them soon.
            sleep = Some(sleep.map_or(min_sleep, |s| s.min(min_sleep)));
        }
        st = match sleep {
            Some(timeout) => {
                shared
                    .cleaner_wake
                    .wait_timeout(st, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .cleaner_wake
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Pushes a worker that went idle at `now` on the idle stack.
///
/// `now` is read before the lock is taken, so it may be older than the top's
/// `since`; it is raised to it, which keeps the stack sorted (a worker may
/// look a few nanoseconds younger than it is).
fn push_idle<J>(ready: &mut Vec<Idle<J>>, now: Instant, slot: Arc<Slot<J>>) {
    let since = match ready.last() {
        Some(top) if top.since > now => top.since,
        _ => now,
    };
    ready.push(Idle { since, slot });
}

/// How many workers at the bottom of `ready` have been idle for at least
/// `max_idle` at `now`: the stack is sorted by `since`, so binary search.
fn stale_prefix<J>(ready: &[Idle<J>], now: Instant, max_idle: Duration) -> usize {
    match now.checked_sub(max_idle) {
        Some(cutoff) => ready.partition_point(|w| w.since <= cutoff),
        None => 0,
    }
}

/// Drops a panic payload whose own `drop` might panic again; a payload
/// from that second panic is leaked rather than risk a third.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(again);
    }
}

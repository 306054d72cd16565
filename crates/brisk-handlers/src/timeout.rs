//! Deadlines for handlers: [`timeout`] and [`Timeout`].
//!
//! ```no_run
//! use std::time::Duration;
//! use brisk_handlers::timeout::timeout;
//!
//! let slow = |ctx: &mut brisk_server::RequestCtx<'_>| {
//!     std::thread::sleep(Duration::from_secs(5)); // a stuck backend
//!     ctx.set_body(b"too late");
//! };
//! let server = brisk_server::Server::builder()
//!     .handler(timeout(slow, Duration::from_millis(200)))
//!     .build()
//!     .expect("valid configuration");
//! // Every request is answered 503 after 200 ms; the connection stays
//! // usable for the next one.
//! server.listen_and_serve("127.0.0.1:8080").expect("serve");
//! ```
//!
//! # How it works, and the contract
//!
//! The wrapper copies the request
//! ([`RequestCtx::to_owned_request`](brisk_server::RequestCtx::to_owned_request):
//! head, buffered body, path, connection facts) and hands the copy to a
//! thread of its own [`brisk_pool::WorkerPool`], where the wrapped handler
//! builds its response on the copy. The calling thread waits for it until
//! the deadline:
//!
//! - **In time**: the wrapped handler's response (status, headers, body, a
//!   body stream or sender, a hijack) becomes the response. A panic in it
//!   is raised again on the calling thread, so the server answers 500 as
//!   for any panicking handler.
//! - **Late**: the timeout response is sent (503 `Service Unavailable`
//!   with a short text body unless [`Timeout::response`] says otherwise)
//!   and the connection goes on with its next request. The wrapped handler
//!   is **not cancelled** (Rust cannot stop a thread): it runs to its end
//!   on its pool thread, and what it built is dropped there, unseen (a
//!   `BodySender` it made fails its writes with `BrokenPipe`; a hijack it
//!   asked for never happens).
//! - **No thread free** (all [`max_threads`](Timeout::max_threads) pool
//!   threads busy, e.g. with late handlers still running): the timeout
//!   response at once, without running the handler.
//!
//! What the wrapped handler sees: the copy, so everything about the
//! request, but not the caller's user values (it starts with none) and not
//! a streamed body as a reader: with `stream_request_body`, the wrapper
//! first reads a streamed body into memory (at most
//! [`max_body`](Timeout::max_body), 1 MiB by default: above it the answer
//! is 413) and the handler finds it in `ctx.body()`. The deadline starts
//! after that read (the server's `read_timeout` bounds the upload).
//!
//! Costs: a copy of the request and a few allocations per request; the
//! calling thread (an event loop's, or a streamed request's worker) waits
//! up to the deadline, like any blocking handler: the server's monitor
//! hands the loop's other connections to a spare thread meanwhile
//! (`blocking_threshold`, `max_blocking_threads`). Dropping the wrapper
//! (with its server) waits for late handlers still running.

use std::any::Any;
use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use brisk_pool::WorkerPool;
use brisk_server::{OwnedRequest, RequestCtx};

/// Wraps `handler` so that a request it has not answered within `deadline`
/// gets `503 Service Unavailable` (see the [module docs](self) for the
/// contract). The defaults of [`Timeout`] apply.
///
/// The wrapped handler must be `Send + Sync + 'static`: it runs on a pool
/// thread, possibly after the request is answered.
pub fn timeout<H>(
    handler: H,
    deadline: Duration,
) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static
where
    H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    match Timeout::new(handler, deadline).build() {
        Ok(h) => h,
        // The defaults are valid; `build` fails only on settings.
        Err(e) => unreachable!("default timeout settings refused: {e}"),
    }
}

/// A deadline around a handler, configurable; [`build`](Self::build) makes
/// the handler.
///
/// ```
/// use std::time::Duration;
/// use brisk_handlers::timeout::Timeout;
///
/// let handler = Timeout::new(|ctx| ctx.set_body(b"quick"), Duration::from_secs(2))
///     .response(504, "the report took too long\n")
///     .max_threads(16)
///     .build()
///     .expect("valid settings");
/// # let _ = brisk_server::Server::builder().handler(handler);
/// ```
pub struct Timeout<H> {
    handler: H,
    deadline: Duration,
    status: u16,
    body: Vec<u8>,
    max_threads: usize,
    max_body: usize,
}

/// A [`Timeout`] setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The response status is not a final status (200 to 999).
    InvalidStatus(u16),
    /// `max_threads` is 0: no handler could ever run.
    ZeroThreads,
}

/// What the pool thread reports to the waiting caller.
enum Outcome {
    Running,
    Done(Box<OwnedRequest>),
    Panicked(Box<dyn Any + Send>),
    /// The caller stopped waiting: the result is dropped.
    Abandoned,
}

struct Slot {
    outcome: Mutex<Outcome>,
    ready: Condvar,
}

type Job = Box<dyn FnOnce() + Send>;

impl<H> Timeout<H>
where
    H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    /// `handler` under `deadline`, with the defaults: 503 with the body
    /// `request timed out`, 128 pool threads, streamed bodies up to 1 MiB.
    /// A zero deadline answers every request with the timeout response
    /// (the handler still runs, and its result is dropped).
    pub fn new(handler: H, deadline: Duration) -> Timeout<H> {
        Timeout {
            handler,
            deadline,
            status: 503,
            body: b"request timed out\n".to_vec(),
            max_threads: 128,
            max_body: 1 << 20,
        }
    }

    /// The response sent at the deadline (plain text).
    pub fn response(mut self, status: u16, body: impl Into<Vec<u8>>) -> Self {
        self.status = status;
        self.body = body.into();
        self
    }

    /// The most wrapped handlers running at once, late ones included;
    /// beyond it requests get the timeout response at once.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n;
        self
    }

    /// The largest streamed request body read into memory for the wrapped
    /// handler (413 above it).
    pub fn max_body(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }

    /// The handler to give the server.
    ///
    /// # Errors
    ///
    /// [`TimeoutError`] for a status that is not final or zero threads.
    pub fn build(
        self,
    ) -> Result<impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static, TimeoutError> {
        if !(200..=999).contains(&self.status) {
            return Err(TimeoutError::InvalidStatus(self.status));
        }
        let cfg = brisk_pool::Config {
            max_workers: self.max_threads,
            name: "brisk-timeout".to_owned(),
            ..brisk_pool::Config::default()
        };
        let pool: WorkerPool<Job> =
            WorkerPool::new(cfg, |job: Job| job()).map_err(|_| TimeoutError::ZeroThreads)?;
        let handler = Arc::new(self.handler);
        let (deadline, status, body, max_body) =
            (self.deadline, self.status, self.body, self.max_body);
        Ok(move |ctx: &mut RequestCtx<'_>| {
            let mut req = ctx.to_owned_request();
            if !read_streamed_body(ctx, &mut req, max_body) {
                return;
            }
            let start = Instant::now();
            let slot = Arc::new(Slot {
                outcome: Mutex::new(Outcome::Running),
                ready: Condvar::new(),
            });
            let job = {
                let (slot, handler) = (slot.clone(), handler.clone());
                Box::new(move || run(req, &*handler, &slot)) as Job
            };
            if pool.serve(job).is_err() {
                log::warn!(
                    "timeout: all {} threads busy; answering {status} without running the handler",
                    pool.config().max_workers
                );
                return respond(ctx, status, &body);
            }
            let mut outcome = slot.outcome.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match std::mem::replace(&mut *outcome, Outcome::Running) {
                    Outcome::Done(mut req) => return ctx.take_response(&mut req),
                    Outcome::Panicked(p) => {
                        drop(outcome);
                        resume_unwind(p);
                    }
                    Outcome::Running | Outcome::Abandoned => {}
                }
                let Some(left) = deadline
                    .checked_sub(start.elapsed())
                    .filter(|d| !d.is_zero())
                else {
                    *outcome = Outcome::Abandoned;
                    drop(outcome);
                    log::debug!(
                        "timeout: conn {} request {} not answered within {deadline:?}",
                        ctx.conn_id(),
                        ctx.conn_request_num()
                    );
                    return respond(ctx, status, &body);
                };
                outcome = slot
                    .ready
                    .wait_timeout(outcome, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        })
    }
}

impl<H> fmt::Debug for Timeout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.deadline)
            .field("status", &self.status)
            .field("max_threads", &self.max_threads)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutError::InvalidStatus(s) => {
                write!(
                    f,
                    "timeout response status {s} is not a final status (200..=999)"
                )
            }
            TimeoutError::ZeroThreads => f.write_str("timeout max_threads must be at least 1"),
        }
    }
}

impl std::error::Error for TimeoutError {}

/// On a pool thread: serves the copy and reports, unless nobody waits.
fn run<H>(mut req: OwnedRequest, handler: &H, slot: &Slot)
where
    H: Fn(&mut RequestCtx<'_>),
{
    let result = catch_unwind(AssertUnwindSafe(|| req.serve(handler)));
    let mut outcome = slot.outcome.lock().unwrap_or_else(PoisonError::into_inner);
    if matches!(*outcome, Outcome::Abandoned) {
        drop(outcome);
        match result {
            Ok(()) => log::debug!("timeout: a late handler finished; its response is dropped"),
            Err(_) => log::warn!("timeout: a late handler panicked; its response is dropped"),
        }
        return; // `req`, and the response in it, drop here
    }
    *outcome = match result {
        Ok(()) => Outcome::Done(Box::new(req)),
        Err(p) => Outcome::Panicked(p),
    };
    slot.ready.notify_one();
}

/// Reads a streamed body into `req`; answers and returns `false` when it
/// cannot.
fn read_streamed_body(ctx: &mut RequestCtx<'_>, req: &mut OwnedRequest, max: usize) -> bool {
    let Some(reader) = ctx.body_reader() else {
        return true;
    };
    let mut body = Vec::new();
    let r = reader.take(max as u64 + 1).read_to_end(&mut body);
    match r {
        Ok(_) if body.len() > max => {
            ctx.error("request body too large for this handler\n", 413);
            false
        }
        Ok(_) => {
            req.set_body(&body);
            true
        }
        Err(e) => {
            let status = if e.kind() == std::io::ErrorKind::TimedOut {
                408
            } else {
                400
            };
            ctx.error(&format!("reading the request body failed: {e}\n"), status);
            false
        }
    }
}

fn respond(ctx: &mut RequestCtx<'_>, status: u16, body: &[u8]) {
    ctx.error("", status);
    ctx.set_body(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let h = |_: &mut RequestCtx<'_>| {};
        assert_eq!(
            Timeout::new(h, Duration::ZERO)
                .response(101, "x")
                .build()
                .err(),
            Some(TimeoutError::InvalidStatus(101))
        );
        assert_eq!(
            Timeout::new(h, Duration::ZERO).max_threads(0).build().err(),
            Some(TimeoutError::ZeroThreads)
        );
        assert!(
            Timeout::new(h, Duration::ZERO)
                .response(504, "late")
                .build()
                .is_ok()
        );
        assert!(!TimeoutError::ZeroThreads.to_string().is_empty());
    }
}

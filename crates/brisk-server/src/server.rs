//! `Server`: listening, starting the event loops, the blocking-handler
//! monitor, and graceful shutdown.

use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use brisk_buf::BufferPool;
use brisk_pool::WorkerPool;
use log::info;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Config, ErrorHandler, Handler, ServerBuilder};
use crate::conn::Conn;
use crate::error::ServeError;
use crate::event_loop::{LoopShared, PerIp, WorkerJob, run_loop};
use crate::handoff::MonitorGate;
use crate::hooks::Hooks;
use crate::monitor::monitor;

/// An HTTP/1.1 server: event loops running a synchronous handler inline.
///
/// ```no_run
/// use brisk_server::Server;
///
/// let server = Server::builder()
///     .handler(|ctx| ctx.set_body(b"Hello, World!"))
///     .build()
///     .expect("valid configuration");
/// server.listen_and_serve("127.0.0.1:8080").expect("serve");
/// ```
pub struct Server {
    core: Arc<Core>,
    serving: AtomicBool,
}

/// Stops a running [`Server`] from any thread; cheap to clone.
#[derive(Clone)]
pub struct ShutdownHandle {
    core: Arc<Core>,
}

/// State shared by every loop of one server.
pub(crate) struct Core {
    pub(crate) cfg: Config,
    /// The connection timeouts in ms (the loops' clock unit).
    pub(crate) timeouts: TimeoutsMs,
    /// The largest request body read into the buffer: above it a body is
    /// refused, or streamed with `stream_request_body`.
    pub(crate) buffer_limit: u64,
    pub(crate) hooks: Hooks,
    /// The counters, when metrics are on (`ServerBuilder::metrics`).
    pub(crate) metrics: Option<crate::Metrics>,
    /// A head or continue hook is set: every complete head takes the
    /// refusal path, where they run.
    pub(crate) inspects_heads: bool,
    pub(crate) handler: Arc<Handler>,
    pub(crate) error_handler: Option<Arc<ErrorHandler>>,
    pub(crate) pool: &'static BufferPool,
    pub(crate) epoch: Instant,
    shutting_down: AtomicBool,
    shutdown_deadline: AtomicU64,
    pub(crate) open: AtomicUsize,
    next_id: AtomicU64,
    per_ip: PerIp,
    /// Wakers of the running loops (filled by `serve`).
    wakers: Mutex<Vec<Arc<LoopShared>>>,
    /// Connections taken over whose handler is running.
    pub(crate) hijacked: AtomicUsize,
    /// Their sockets, by connection id, when `close_hijacked_on_shutdown`.
    hijacked_socks: Mutex<std::collections::HashMap<u64, std::net::TcpStream>>,
    /// TLS on every accepted connection (`ServerBuilder::tls`).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsAcceptor>,
}

/// The connection timeouts of a [`Config`] in milliseconds.
pub(crate) struct TimeoutsMs {
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) idle: u64,
    pub(crate) first_byte: u64,
}

impl TimeoutsMs {
    fn of(cfg: &Config) -> TimeoutsMs {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        TimeoutsMs {
            read: ms(cfg.read_timeout),
            write: ms(cfg.write_timeout),
            idle: ms(cfg.idle_timeout),
            first_byte: ms(cfg.first_byte_timeout),
        }
    }
}

/// One `serve` call: the loops, and who is done.
pub(crate) struct Run {
    pub(crate) core: Arc<Core>,
    pub(crate) loops: Vec<Arc<LoopShared>>,
    /// Threads that serve connections away from their loops (streamed
    /// request bodies).
    pub(crate) workers: WorkerPool<WorkerJob>,
    done: Mutex<usize>,
    done_cv: Condvar,
    /// Where the monitor sleeps while no loop is away.
    pub(crate) gate: MonitorGate,
}

/// A job for the thread pool that runs loops.
pub(crate) enum Job {
    /// Run loop `i` from the start.
    Run(usize),
    /// Take loop `i` over if its `ctl` still reads `away`.
    TakeOver(usize, u64),
}

impl Server {
    /// A builder with fasthttp-like defaults (see each setter).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    pub(crate) fn from_parts(
        cfg: Config,
        handler: Arc<Handler>,
        error_handler: Option<Arc<ErrorHandler>>,
        hooks: Hooks,
        metrics: Option<crate::Metrics>,
    ) -> Server {
        Server {
            core: Arc::new(Core {
                inspects_heads: hooks.head.is_some() || hooks.cont.is_some(),
                hooks,
                metrics,
                timeouts: TimeoutsMs::of(&cfg),
                #[cfg(feature = "tls")]
                tls: cfg.tls.as_ref().map(|t| t.acceptor()),
                buffer_limit: if cfg.stream_request_body {
                    cfg.max_request_body_size.min(cfg.read_buffer_size) as u64
                } else {
                    cfg.max_request_body_size as u64
                },
                cfg,
                handler,
                error_handler,
                pool: BufferPool::global(),
                epoch: Instant::now(),
                shutting_down: AtomicBool::new(false),
                shutdown_deadline: AtomicU64::new(u64::MAX),
                open: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                per_ip: PerIp::default(),
                hijacked: AtomicUsize::new(0),
                hijacked_socks: Mutex::new(std::collections::HashMap::new()),
                wakers: Mutex::new(Vec::new()),
            }),
            serving: AtomicBool::new(false),
        }
    }

    /// Ties the metrics, if any, to this server; `false` when they belong
    /// to another one.
    pub(crate) fn attach_metrics(&self) -> bool {
        self.core
            .metrics
            .as_ref()
            .is_none_or(|m| m.reg.attach(Arc::downgrade(&self.core)))
    }

    /// The metrics this server counts into, if it was built with
    /// [`ServerBuilder::metrics`].
    pub fn metrics(&self) -> Option<crate::Metrics> {
        self.core.metrics.clone()
    }

    /// The shared state, for the in-memory driver (`mem.rs`).
    pub(crate) fn into_core(self) -> Arc<Core> {
        self.core
    }

    /// A handle that stops this server (usable before or while it serves).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            core: self.core.clone(),
        }
    }

    /// The backend the event loops serve with while the server serves:
    /// [`Backend::Uring`](crate::Backend::Uring) when io_uring was asked for
    /// and is in use; [`Backend::Epoll`](crate::Backend::Epoll) otherwise,
    /// including every fall-back (see [`Backend`](crate::Backend)) and
    /// when it is not serving.
    pub fn backend(&self) -> crate::Backend {
        crate::backend::in_use(&lock(&self.core.wakers))
    }

    /// Connections open right now (hijacked ones are not: see
    /// [`hijacked_connections`](Self::hijacked_connections)).
    pub fn open_connections(&self) -> usize {
        self.core.open.load(Ordering::Acquire)
    }

    /// Connections taken over ([`RequestCtx::hijack`](crate::RequestCtx::hijack))
    /// whose hijack handler is still running.
    pub fn hijacked_connections(&self) -> usize {
        self.core.hijacked.load(Ordering::Acquire)
    }

    /// Binds `addr` (one listener, or one SO_REUSEPORT listener per loop
    /// when [`reuse_port`](ServerBuilder::reuse_port) is set) and serves
    /// until shut down.
    ///
    /// SIGTERM and SIGINT shut it down gracefully, like
    /// [`ShutdownHandle::shutdown`]: accepting stops, idle connections
    /// close, requests in flight get their responses (with
    /// `Connection: close`) for up to
    /// [`shutdown_timeout`](ServerBuilder::shutdown_timeout), then this
    /// returns `Ok(())`. A second signal closes everything at once. Turn it
    /// off with [`handle_signals(false)`](ServerBuilder::handle_signals)
    /// when the program handles its signals itself.
    pub fn listen_and_serve(&self, addr: impl ToSocketAddrs) -> Result<(), ServeError> {
        let listeners = self.bind(addr)?;
        let socks = listeners.into_iter().map(Socket::from).collect();
        self.serve_sockets(socks, true)
    }

    /// Binds `addr` and returns the listeners without serving; hand them to
    /// [`serve_listeners`](Self::serve_listeners). Useful to learn the port
    /// chosen for `:0` before serving.
    pub fn bind(&self, addr: impl ToSocketAddrs) -> Result<Vec<TcpListener>, ServeError> {
        let addr_err = |source| ServeError::Listen {
            addr: "(unresolved)".into(),
            source,
        };
        let addr = addr
            .to_socket_addrs()
            .map_err(addr_err)?
            .next()
            .ok_or_else(|| addr_err(std::io::ErrorKind::AddrNotAvailable.into()))?;
        let n = if self.core.cfg.reuse_port {
            self.core.cfg.loops
        } else {
            1
        };
        let mut out = Vec::with_capacity(n);
        let mut bound = addr;
        for _ in 0..n {
            let s = listen_socket(bound, self.core.cfg.reuse_port).map_err(|source| {
                ServeError::Listen {
                    addr: bound.to_string(),
                    source,
                }
            })?;
            // With port 0 the first socket picks the port; the rest share it.
            if let Some(local) = s.local_addr().ok().and_then(|a| a.as_socket()) {
                bound = local;
            }
            out.push(TcpListener::from(s));
        }
        Ok(out)
    }

    /// Serves connections from `listener` until shut down. Every loop
    /// accepts from it (EPOLLEXCLUSIVE wakes one loop per connection).
    ///
    /// Unlike [`listen_and_serve`](Self::listen_and_serve), it leaves the
    /// process's signals alone unless
    /// [`handle_signals(true)`](ServerBuilder::handle_signals) was set: stop
    /// it with a [`ShutdownHandle`].
    pub fn serve(&self, listener: TcpListener) -> Result<(), ServeError> {
        self.serve_listeners(vec![listener])
    }

    /// Serves from several listeners: one listener per loop when their
    /// number equals the loop count (SO_REUSEPORT), else all shared. Signals
    /// are left alone unless asked for, as with [`serve`](Self::serve).
    pub fn serve_listeners(&self, listeners: Vec<TcpListener>) -> Result<(), ServeError> {
        let socks = listeners.into_iter().map(Socket::from).collect();
        self.serve_sockets(socks, false)
    }

    /// `signals`: whether SIGTERM and SIGINT shut the server down unless
    /// [`handle_signals`](ServerBuilder::handle_signals) says otherwise.
    fn serve_sockets(&self, socks: Vec<Socket>, signals: bool) -> Result<(), ServeError> {
        if self.serving.swap(true, Ordering::AcqRel) {
            return Err(ServeError::AlreadyServing);
        }
        // Dropped (the previous signal actions restored) once serving ends.
        let result = match crate::signals::register(&self.core, signals) {
            Ok(_guard) => self.serve_inner(socks),
            Err(e) => Err(ServeError::Setup(e)),
        };
        self.serving.store(false, Ordering::Release);
        result
    }

    fn serve_inner(&self, socks: Vec<Socket>) -> Result<(), ServeError> {
        let core = &self.core;
        let n = core.cfg.loops;
        for s in &socks {
            s.set_nonblocking(true).map_err(ServeError::Setup)?;
        }
        if let Some(policy) = &core.cfg.proxy {
            let ports: Vec<u16> = socks.iter().filter_map(crate::proxy::local_port).collect();
            if let Some(p) = policy.ports().iter().find(|p| !ports.contains(p)) {
                return Err(ServeError::Setup(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "proxy_protocol: the policy names port {p} (ProxyPolicy::on_port), \
                         but no listener is bound to it (listening on ports {ports:?})"
                    ),
                )));
            }
        }
        let socks: Vec<Arc<Socket>> = socks.into_iter().map(Arc::new).collect();
        let own = socks.len() == n && n > 1;
        let uring = crate::backend::wanted(core);
        let mut loops = Vec::with_capacity(n);
        for i in 0..n {
            let ls = if own {
                vec![socks[i].clone()]
            } else {
                socks.clone()
            };
            loops.push(Arc::new(
                crate::backend::new_loop(i, ls, core, uring).map_err(ServeError::Setup)?,
            ));
        }
        let addrs: Vec<SocketAddr> = socks
            .iter()
            .filter_map(|s| s.local_addr().ok()?.as_socket())
            .collect();
        // The loops own the listeners from here: each closes its own when
        // the shutdown reaches it.
        drop(socks);
        *lock(&core.wakers) = loops.clone();
        if core.shutting_down() {
            return Ok(());
        }
        let worker_core = core.clone();
        let workers = WorkerPool::new(
            brisk_pool::Config {
                max_workers: core.cfg.max_worker_conns,
                max_idle_worker_duration: core.cfg.max_idle_worker_duration,
                log_all_errors: core.cfg.log_all_errors,
                name: "brisk-worker".into(),
                ..brisk_pool::Config::default()
            },
            move |job: WorkerJob| job.run(&worker_core),
        )
        .map_err(|e| ServeError::Setup(std::io::Error::other(e.to_string())))?;
        let run = Arc::new(Run {
            core: core.clone(),
            loops,
            workers,
            done: Mutex::new(0),
            done_cv: Condvar::new(),
            gate: MonitorGate::new(),
        });
        let pool_cfg = brisk_pool::Config {
            max_workers: n + core.cfg.max_blocking_threads,
            max_idle_worker_duration: core.cfg.max_idle_worker_duration,
            log_all_errors: core.cfg.log_all_errors,
            name: "brisk-loop".into(),
            ..brisk_pool::Config::default()
        };
        let job_run = run.clone();
        let pool = WorkerPool::new(pool_cfg, move |job: Job| match job {
            #[cfg(feature = "uring")]
            Job::Run(i) if job_run.loops[i].uring.is_some() => {
                crate::uring::run_loop(&job_run, i, 0)
            }
            Job::Run(i) => run_loop(&job_run, i, 0),
            Job::TakeOver(i, away) => {
                // Claim the loop only if its owner is still away on the
                // same connection.
                if let Some(seq) = job_run.loops[i].ctl.claim(away) {
                    // The monitor may have spawned this thread, which then
                    // inherited its batch policy and timer slack.
                    crate::sys::normal_loop_thread();
                    #[cfg(feature = "uring")]
                    if job_run.loops[i].uring.is_some() {
                        crate::uring::run_loop(&job_run, i, seq);
                        return;
                    }
                    run_loop(&job_run, i, seq);
                }
            }
        })
        .map_err(|e| ServeError::Setup(std::io::Error::other(e.to_string())))?;
        let pool = Arc::new(pool);
        if let Some(m) = &core.metrics {
            let (p, r) = (Arc::downgrade(&pool), Arc::downgrade(&run));
            m.reg.serving(
                Box::new(move || Some(p.upgrade()?.stats())),
                Box::new(move || Some(r.upgrade()?.workers.stats())),
            );
        }
        for i in 0..n {
            if pool.serve(Job::Run(i)).is_err() {
                core.begin_shutdown(Duration::ZERO);
                return Err(ServeError::Setup(std::io::Error::other(
                    "cannot start the event-loop threads",
                )));
            }
        }
        let mon_run = run.clone();
        let mon_pool = pool.clone();
        let monitor = thread::Builder::new()
            .name("brisk-monitor".into())
            .spawn(move || monitor(&mon_run, &mon_pool))
            .map_err(ServeError::Setup)?;
        info!("brisk: serving with {n} loop(s) on {addrs:?}");
        run.wait_all_done();
        monitor.thread().unpark();
        let _ = monitor.join();
        pool.stop();
        run.workers.stop();
        lock(&core.wakers).clear();
        Ok(())
    }
}

impl ShutdownHandle {
    /// Starts a graceful shutdown and returns at once: the listeners close
    /// (a client that connects from now on is refused), idle connections
    /// close, requests in flight are answered with
    /// `Connection: close`; after `shutdown_timeout` the rest is closed.
    /// [`Server::serve`] returns when every connection is gone (a handler
    /// still running is not interrupted: it returns first). SIGTERM and
    /// SIGINT do the same on [`Server::listen_and_serve`]
    /// ([`ServerBuilder::handle_signals`]).
    pub fn shutdown(&self) {
        self.core.begin_shutdown(self.core.cfg.shutdown_timeout);
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.core.shutting_down()
    }
}

impl Core {
    #[inline]
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    pub(crate) fn shutdown_deadline_ms(&self) -> u64 {
        self.shutdown_deadline.load(Ordering::Acquire)
    }

    pub(crate) fn begin_shutdown(&self, grace: Duration) {
        let deadline = self.now_ms() + grace.as_millis() as u64;
        self.shutdown_deadline.fetch_min(deadline, Ordering::AcqRel);
        self.shutting_down.store(true, Ordering::Release);
        for l in lock(&self.wakers).iter() {
            l.wake();
        }
        if self.cfg.close_hijacked_on_shutdown {
            for s in lock(&self.hijacked_socks).values() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// A hijack handler starts with `stream` (remembered, to be shut down
    /// at shutdown, when `close_hijacked_on_shutdown`).
    pub(crate) fn hijack_started(&self, id: u64, stream: &std::net::TcpStream) {
        if self.cfg.close_hijacked_on_shutdown {
            if let Ok(s) = stream.try_clone() {
                lock(&self.hijacked_socks).insert(id, s);
            }
            if self.shutting_down() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// A hijack handler returned.
    pub(crate) fn hijack_ended(&self, id: u64) {
        if self.cfg.close_hijacked_on_shutdown {
            lock(&self.hijacked_socks).remove(&id);
        }
        self.hijacked.fetch_sub(1, Ordering::AcqRel);
    }

    /// Milliseconds since the server was built (the loops' clock; never 0).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    #[inline]
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn ip_acquire(&self, ip: IpAddr) -> bool {
        self.per_ip.acquire(ip, self.cfg.max_conns_per_ip)
    }

    /// Gives back a per-IP slot taken by [`ip_acquire`](Self::ip_acquire)
    /// for a connection that never started.
    pub(crate) fn ip_release(&self, ip: IpAddr) {
        self.per_ip.release(ip);
    }

    /// Bookkeeping when a connection closes.
    pub(crate) fn conn_closed<T>(&self, conn: &Conn<T>) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        if conn.ip_counted {
            self.per_ip.release(conn.info.remote.ip());
        }
    }
}

impl Run {
    pub(crate) fn loop_done(&self, _li: usize) {
        let mut d = lock(&self.done);
        *d += 1;
        self.done_cv.notify_all();
    }

    fn wait_all_done(&self) {
        let mut d = lock(&self.done);
        while *d < self.loops.len() {
            d = self.done_cv.wait(d).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(crate) fn all_done(&self) -> bool {
        *lock(&self.done) >= self.loops.len()
    }
}

fn listen_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    #[cfg(not(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    )))]
    let _ = reuse_port;
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

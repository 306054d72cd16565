//! `Server` configuration: the validating builder and its error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use brisk_http::Limits;

use crate::ctx::RequestCtx;
use crate::error::ServerError;
use crate::hooks::{ConnState, ContinueAction, Hooks, RequestHead, RequestLimits};

/// A request handler: runs inline on an event-loop thread for every request.
pub type Handler = dyn Fn(&mut RequestCtx<'_>) + Send + Sync + 'static;

/// Shapes every error response the server sends on the client's behalf:
/// a malformed or refused request (4xx), a timeout (408), a connection
/// refused at accept (503, 429), a handler that panicked or left a 1xx
/// status (500). Each is a [`ServerError`]; the hook runs on the loop
/// thread, so keep it quick.
///
/// **Before the hook runs**, the context holds:
/// - the response: status `err.status()`, an **empty body**, no headers
///   (the default `Content-Type` applies unless the hook sets one);
/// - the request: its method, target, path and headers when its head was
///   parsed (a refused CONNECT, a body over the limit, a panicking handler,
///   a path that cannot be normalized: then `ctx.path()` is empty and
///   `ctx.raw_path()` holds what was sent), else an empty request (a
///   malformed head, a timeout in the head, a connection refused at
///   accept); the request body is always empty.
///
/// **The hook may** set the status (a 4xx or 5xx; anything else is
/// replaced by `err.status()`), headers and the body. Without a hook the
/// body is `err.reason()`. **It cannot** keep the connection open (the
/// response always says `Connection: close`), stream a body (a stream is
/// dropped), or send a body to a HEAD request (it is left out). If the
/// hook panics, the default response is sent.
///
/// ```
/// use brisk_server::{Server, ServerError};
///
/// let server = Server::builder()
///     .handler(|ctx| ctx.set_body(b"ok"))
///     .error_handler(|ctx, err: &ServerError| {
///         ctx.set_content_type(b"application/json");
///         let body = format!(r#"{{"status":{},"error":"{}"}}"#, err.status(), err.reason());
///         ctx.set_body(body.as_bytes());
///     })
///     .build()
///     .unwrap();
/// # drop(server);
/// ```
pub type ErrorHandler = dyn Fn(&mut RequestCtx<'_>, &ServerError) + Send + Sync + 'static;

/// Why a [`ServerBuilder`] refused to build.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No handler was set: call [`ServerBuilder::handler`].
    MissingHandler,
    /// A numeric setting is out of its accepted range.
    OutOfRange {
        /// The setting's builder method name.
        setting: &'static str,
        /// What the setting accepts.
        expected: &'static str,
    },
    /// A timeout was set to zero; use a positive duration.
    ZeroTimeout {
        /// The setting's builder method name.
        setting: &'static str,
    },
    /// The server name contains a byte that may not appear in a header value.
    InvalidName,
    /// The [`Metrics`](crate::Metrics) given to
    /// [`ServerBuilder::metrics`] already belong to another server.
    MetricsInUse,
    /// [`ServerBuilder::proxy_protocol`] got a policy that trusts no
    /// network: no peer could send a header.
    ProxyTrustsNobody,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingHandler => {
                f.write_str("no request handler: call ServerBuilder::handler before build")
            }
            ConfigError::OutOfRange { setting, expected } => {
                write!(f, "server setting `{setting}` is out of range: expected {expected}")
            }
            ConfigError::ZeroTimeout { setting } => write!(
                f,
                "server setting `{setting}` is zero: timeouts must be positive (brisk has no unlimited timeouts)"
            ),
            ConfigError::InvalidName => f.write_str(
                "server name contains CR, LF, NUL or another control byte: it must be a valid header value",
            ),
            ConfigError::MetricsInUse => f.write_str(
                "these Metrics already belong to another server: create one Metrics::new() per server",
            ),
            ConfigError::ProxyTrustsNobody => f.write_str(
                "proxy_protocol: the policy trusts no network, so no peer may send a PROXY header: \
                 add your load balancers' networks with ProxyPolicy::trust",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration a [`Server`](crate::Server) runs with.
///
/// Defaults follow fasthttp's where they are safe; unlike fasthttp, no
/// timeout is unlimited by default.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) name: Vec<u8>,
    pub(crate) loops: usize,
    pub(crate) concurrency: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) max_pending_output: usize,
    pub(crate) push_buffer_size: usize,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_request_body_size: usize,
    pub(crate) max_requests_per_conn: u64,
    pub(crate) max_conns_per_ip: usize,
    pub(crate) tcp_keepalive: bool,
    pub(crate) tcp_keepalive_period: Duration,
    pub(crate) tcp_nodelay: bool,
    pub(crate) reuse_port: bool,
    pub(crate) backend: crate::backend::Backend,
    pub(crate) get_only: bool,
    pub(crate) disable_keepalive: bool,
    pub(crate) no_default_server_header: bool,
    pub(crate) no_default_date: bool,
    pub(crate) no_default_content_type: bool,
    pub(crate) log_all_errors: bool,
    pub(crate) secure_error_log_message: bool,
    pub(crate) blocking_threshold: Duration,
    pub(crate) max_blocking_threads: usize,
    pub(crate) stream_request_body: bool,
    pub(crate) max_worker_conns: usize,
    pub(crate) close_hijacked_on_shutdown: bool,
    pub(crate) allow_connect: bool,
    pub(crate) max_idle_worker_duration: Duration,
    pub(crate) limits: Limits,
    /// `None`: SIGTERM/SIGINT handled on `listen_and_serve` only.
    pub(crate) handle_signals: Option<bool>,
    pub(crate) force_on_second_signal: bool,
    /// Every listener speaks TLS with this configuration.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsConfig>,
    /// PROXY protocol headers from trusted peers (`None`: off).
    pub(crate) proxy: Option<std::sync::Arc<crate::proxy::ProxyPolicy>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            name: b"brisk".to_vec(),
            loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            concurrency: 256 * 1024,
            read_buffer_size: 4096,
            write_buffer_size: 4096,
            max_pending_output: 0, // 0: derived from write_buffer_size in build()
            push_buffer_size: 64 * 1024,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            first_byte_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            max_request_body_size: 4 * 1024 * 1024,
            max_requests_per_conn: 0,
            max_conns_per_ip: 0,
            tcp_keepalive: false,
            tcp_keepalive_period: Duration::from_secs(60),
            tcp_nodelay: true,
            reuse_port: false,
            backend: crate::backend::Backend::Epoll,
            get_only: false,
            disable_keepalive: false,
            no_default_server_header: false,
            no_default_date: false,
            no_default_content_type: false,
            log_all_errors: false,
            secure_error_log_message: false,
            blocking_threshold: Duration::from_millis(1),
            max_blocking_threads: 64,
            stream_request_body: false,
            max_worker_conns: 256,
            close_hijacked_on_shutdown: false,
            allow_connect: false,
            max_idle_worker_duration: Duration::from_secs(10),
            limits: Limits::default(),
            handle_signals: None,
            force_on_second_signal: true,
            #[cfg(feature = "tls")]
            tls: None,
            proxy: None,
        }
    }
}

/// Builds a [`Server`](crate::Server); every setting is validated once, in
/// [`build`](ServerBuilder::build).
///
/// ```
/// use std::time::Duration;
/// let server = brisk_server::Server::builder()
///     .handler(|ctx| ctx.set_body(b"hi"))
///     .loops(1)
///     .read_timeout(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// # drop(server);
/// ```
pub struct ServerBuilder {
    pub(crate) cfg: Config,
    pub(crate) handler: Option<Arc<Handler>>,
    pub(crate) error_handler: Option<Arc<ErrorHandler>>,
    pub(crate) hooks: Hooks,
    pub(crate) metrics: Option<crate::Metrics>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.cfg.$name = v;
            self
        }
    };
}

impl ServerBuilder {
    pub(crate) fn new() -> ServerBuilder {
        ServerBuilder {
            cfg: Config::default(),
            handler: None,
            error_handler: None,
            hooks: Hooks::default(),
            metrics: None,
        }
    }

    /// Counts into `metrics` (off by default): connections, responses by
    /// status, error responses by kind, bytes, request durations, and the
    /// thread pools' state; read them with [`Metrics::snapshot`]. Each
    /// thread counts in memory of its own (see [`Metrics`]); off, a
    /// request pays a pointer test. One `Metrics` serves one server
    /// ([`ConfigError::MetricsInUse`] otherwise).
    ///
    /// ```
    /// let metrics = brisk_server::Metrics::new();
    /// let scrape = metrics.clone();
    /// let server = brisk_server::Server::builder()
    ///     .handler(move |ctx| {
    ///         let snap = scrape.snapshot();
    ///         ctx.set_body(format!("{} requests", snap.requests.total).as_bytes());
    ///     })
    ///     .metrics(&metrics)
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    ///
    /// [`Metrics`]: crate::Metrics
    /// [`Metrics::snapshot`]: crate::Metrics::snapshot
    pub fn metrics(mut self, metrics: &crate::Metrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Logs every response through the `log` crate in `format`, at `info`
    /// on the target [`ACCESS_LOG_TARGET`](crate::ACCESS_LOG_TARGET)
    /// (`brisk::access`); formatting is skipped when that level is off for
    /// the target. See [`AccessRecord`](crate::AccessRecord) for what a
    /// line holds and when it is written. Replaces an
    /// [`access_log_handler`](Self::access_log_handler).
    ///
    /// ```
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .access_log(brisk_server::AccessLogFormat::Common)
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn access_log(mut self, format: crate::AccessLogFormat) -> Self {
        self.hooks.access = Some(Arc::new(crate::access_log::Sink::Log(format)));
        self
    }

    /// Hands every response's [`AccessRecord`](crate::AccessRecord) to `f`,
    /// on the thread that sent it (keep it quick; a panic in it is caught
    /// and logged). Replaces an [`access_log`](Self::access_log) format.
    ///
    /// ```
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .access_log_handler(|rec| {
    ///         if rec.status() >= 500 {
    ///             eprintln!("{rec:?}");
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn access_log_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&crate::AccessRecord<'_>) + Send + Sync + 'static,
    {
        self.hooks.access = Some(Arc::new(crate::access_log::Sink::Handler(Box::new(f))));
        self
    }

    /// The request handler (required).
    pub fn handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        self.handler = Some(Arc::new(f));
        self
    }

    /// A hook that shapes every error response (4xx/5xx sent before or
    /// instead of the handler's); see [`ErrorHandler`] for what is set
    /// before it runs and what it may change. Default: a `text/plain` body
    /// with the short reason ([`ServerError::reason`]).
    pub fn error_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut RequestCtx<'_>, &ServerError) + Send + Sync + 'static,
    {
        self.error_handler = Some(Arc::new(f));
        self
    }

    /// A hook on every request's head, before its body is read (fasthttp's
    /// `HeaderReceived`): it sees the head ([`RequestHead`]) and may change
    /// this request's [`RequestLimits`]: its largest body, its read
    /// timeout, whether its body is streamed to the handler or buffered.
    /// It runs on the loop thread: keep it quick.
    ///
    /// ```
    /// use std::time::Duration;
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .head_handler(|head, limits| {
    ///         if head.raw_path().starts_with(b"/upload/") {
    ///             limits.max_body_size = 1 << 30;
    ///             limits.read_timeout = Duration::from_secs(60);
    ///             limits.stream_body = true;
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn head_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestHead<'_>, &mut RequestLimits) + Send + Sync + 'static,
    {
        self.hooks.head = Some(Arc::new(f));
        self
    }

    /// A hook deciding requests that sent `Expect: 100-continue` (fasthttp's
    /// `ContinueHandler`): [`ContinueAction::Continue`] reads the body (the
    /// server sends `100 Continue` when the body has not arrived yet),
    /// [`ContinueAction::Reject`] answers at once (417, 413, 401, …)
    /// without reading it, through the error hook
    /// ([`ServerError::ExpectationRejected`]), and closes. Runs on the loop
    /// thread, after the head hook. Default: always continue.
    ///
    /// ```
    /// use brisk_server::ContinueAction;
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .continue_handler(|head| match head.header(b"authorization") {
    ///         Some(_) => ContinueAction::Continue,
    ///         None => ContinueAction::Reject(401),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn continue_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> ContinueAction + Send + Sync + 'static,
    {
        self.hooks.cont = Some(Arc::new(f));
        self
    }

    /// A hook on every connection's states (fasthttp's `ConnState`):
    /// [`ConnState::New`] when accepted, `Active` when a request's first
    /// byte arrives, `Idle` when its answer is queued and nothing of the
    /// next request arrived, `Hijacked` when a handler takes it over,
    /// `Closed`. Called with the connection's id and client address, on the
    /// loop thread (keep it quick: it runs twice per request).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use brisk_server::ConnState;
    /// let active = Arc::new(AtomicUsize::new(0));
    /// let seen = active.clone();
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .conn_state_handler(move |_id, _addr, state| match state {
    ///         ConnState::Active => { seen.fetch_add(1, Ordering::Relaxed); }
    ///         ConnState::Idle | ConnState::Closed => {}
    ///         _ => {}
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn conn_state_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(u64, std::net::SocketAddr, ConnState) + Send + Sync + 'static,
    {
        self.hooks.conn = Some(Arc::new(f));
        self
    }

    /// Reads a PROXY protocol header (v1 or v2) at the start of every
    /// connection from a peer the policy trusts, and serves it as coming
    /// from the client address the header gives (`ctx.remote_addr()`,
    /// the connection-state hook, `max_conns_per_ip`). Applies to every
    /// listener, or to those on the ports named with
    /// [`ProxyPolicy::on_port`](crate::ProxyPolicy::on_port); off by
    /// default. See [`ProxyPolicy`](crate::ProxyPolicy)
    /// for the trust rule.
    ///
    /// For such a connection the header and the first request byte must
    /// both arrive within `first_byte_timeout` of accept; the
    /// connection-state hook's `New` comes once the header is read, with
    /// the client's address (a connection closed before that reports
    /// nothing).
    ///
    /// ```
    /// use brisk_server::ProxyPolicy;
    /// let server = brisk_server::Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"ok"))
    ///     .proxy_protocol(ProxyPolicy::required().trust("10.0.0.0/8".parse()?))
    ///     .build()?;
    /// # drop(server);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn proxy_protocol(mut self, policy: crate::proxy::ProxyPolicy) -> Self {
        self.cfg.proxy = Some(std::sync::Arc::new(policy));
        self
    }

    /// The `Server` header value (default `brisk`).
    pub fn name(mut self, name: impl AsRef<[u8]>) -> Self {
        self.cfg.name = name.as_ref().to_vec();
        self
    }

    setter!(
        /// Number of event loops (threads), default: available cores. 1 is valid.
        loops: usize
    );
    setter!(
        /// Most connections served at once (default 262 144); past it a new
        /// connection is answered `503 Service Unavailable` and closed.
        concurrency: usize
    );
    setter!(
        /// Per-connection read buffer size (default 4096). It caps the request
        /// head: a longer head is answered 431.
        read_buffer_size: usize
    );
    setter!(
        /// Per-connection write buffer size (default 4096).
        write_buffer_size: usize
    );
    setter!(
        /// Unsent output at which a connection stops answering pipelined
        /// requests (and so stops reading) until the client drains it
        /// (backpressure). Default: three quarters of the write buffer size,
        /// so that responses of up to a quarter of it never make the write
        /// buffer grow: a connection blocked on a client that does not read
        /// holds one read and one write buffer, nothing more.
        max_pending_output: usize
    );
    setter!(
        /// Bytes a [`BodySender`](crate::BodySender)'s queue holds before its
        /// writes wait for the client (default 64 KiB); see
        /// [`RequestCtx::body_sender`](crate::RequestCtx::body_sender).
        push_buffer_size: usize
    );
    setter!(
        /// Time allowed to receive a whole request head and body once its first
        /// byte arrived (default 10 s); past it: 408 and close.
        read_timeout: Duration
    );
    setter!(
        /// Time allowed for pending output to drain (default 10 s); past it the
        /// connection closes.
        write_timeout: Duration
    );
    setter!(
        /// How long a keep-alive connection may wait for its next request
        /// (default 60 s); past it the connection closes quietly.
        idle_timeout: Duration
    );
    setter!(
        /// How long a new connection may stay silent before its first byte
        /// (default 5 s); past it the connection closes quietly.
        first_byte_timeout: Duration
    );
    setter!(
        /// Bound on a graceful shutdown's wait for requests in flight and
        /// connections still open (default 10 s): past it every remaining
        /// connection is closed, and the serve call returns once the
        /// handlers still running (which cannot be interrupted) return.
        shutdown_timeout: Duration
    );
    setter!(
        /// Largest accepted request body (default 4 MiB); larger: 413.
        max_request_body_size: usize
    );
    setter!(
        /// Requests served on one connection before it is closed (0 = no limit, the default).
        max_requests_per_conn: u64
    );
    setter!(
        /// Connections allowed from one IP address (0 = no limit, the default);
        /// past it: 429 and close.
        max_conns_per_ip: usize
    );
    setter!(
        /// Enable TCP keep-alive probes on accepted connections (default off).
        tcp_keepalive: bool
    );
    setter!(
        /// Idle time before TCP keep-alive probes start (default 60 s).
        tcp_keepalive_period: Duration
    );
    setter!(
        /// Set TCP_NODELAY on accepted connections (default on).
        tcp_nodelay: bool
    );
    setter!(
        /// With [`Server::listen_and_serve`](crate::Server::listen_and_serve):
        /// one SO_REUSEPORT listener per loop instead of one shared listener.
        reuse_port: bool
    );
    setter!(
        /// The event loops' I/O backend (default [`Backend::Epoll`]). With
        /// [`Backend::Uring`] the server probes io_uring when it starts
        /// serving and falls back to epoll, with a log line, where the
        /// kernel lacks it, forbids it, or lacks a feature the loop needs.
        ///
        /// [`Backend::Epoll`]: crate::Backend::Epoll
        /// [`Backend::Uring`]: crate::Backend::Uring
        backend: crate::backend::Backend
    );
    setter!(
        /// Answer every method but GET (and HEAD) with 405 (default off).
        get_only: bool
    );
    setter!(
        /// Close every connection after one response (default off).
        disable_keepalive: bool
    );
    setter!(
        /// Do not send a `Server` header.
        no_default_server_header: bool
    );
    setter!(
        /// Do not send a `Date` header.
        no_default_date: bool
    );
    setter!(
        /// Do not send the default `Content-Type: text/plain; charset=utf-8`.
        no_default_content_type: bool
    );
    setter!(
        /// Log routine client errors (malformed requests, timeouts) too.
        log_all_errors: bool
    );
    setter!(
        /// Keep request bytes out of error log messages.
        secure_error_log_message: bool
    );
    setter!(
        /// How long a handler may run before its loop's other connections are
        /// handed to another thread (default 1 ms).
        blocking_threshold: Duration
    );
    setter!(
        /// Most threads used to take over loops stalled by blocking handlers
        /// (default 64).
        max_blocking_threads: usize
    );
    setter!(
        /// Stream request bodies instead of buffering them (fasthttp's
        /// `StreamRequestBody`; default off): a chunked body, or one whose
        /// `Content-Length` is larger than the read buffer, is not read by
        /// the loop; the handler runs on a worker thread and reads it with
        /// [`RequestCtx::body_reader`](crate::RequestCtx::body_reader)
        /// while the loop serves other connections. `max_request_body_size`
        /// and `read_timeout` (as the longest wait for the next bytes) still
        /// apply. Smaller bodies are buffered as usual.
        stream_request_body: bool
    );
    setter!(
        /// Most connections served on worker threads at once (default 256):
        /// requests whose body is streamed and hijacked connections. Past
        /// it a request that would stream its body gets 503.
        max_worker_conns: usize
    );
    setter!(
        /// Let `CONNECT` requests reach the handler, to open tunnels
        /// (default off: answered 501 and closed). The handler runs on a
        /// worker thread; to open the tunnel it answers 2xx and
        /// [`hijack`](crate::RequestCtx::hijack)s the connection (the 2xx is
        /// written without `Content-Length`/`Transfer-Encoding` or body, and
        /// nothing after it is parsed as HTTP; a 2xx without a hijack closes
        /// the connection). Any other status is sent as usual and the
        /// connection closes.
        allow_connect: bool
    );
    setter!(
        /// Shut hijacked connections down when the server shuts down, so
        /// their handlers' reads and writes fail and they return (default
        /// off: a hijacked connection is its handler's alone, like
        /// fasthttp's).
        close_hijacked_on_shutdown: bool
    );
    setter!(
        /// How long a spare take-over thread may idle before it exits (default 10 s).
        max_idle_worker_duration: Duration
    );

    /// Whether SIGTERM and SIGINT start a graceful shutdown while this
    /// server serves: the same as [`ShutdownHandle::shutdown`]
    /// (accepting stops, idle connections close, requests in flight are
    /// answered with `Connection: close`, all bounded by
    /// [`shutdown_timeout`](Self::shutdown_timeout)), after which the serve
    /// call returns `Ok`.
    ///
    /// **Default:** on for [`Server::listen_and_serve`] (and so for
    /// `brisk::listen_and_serve`), off for [`Server::serve`] and
    /// [`Server::serve_listeners`], which leave the process's signals
    /// alone. `true` turns it on for every serve path, `false` off for
    /// every one: use `false` when the program handles its signals itself
    /// (and calls [`ShutdownHandle::shutdown`] when it decides to).
    ///
    /// While the server serves, brisk's handler replaces the process's
    /// SIGTERM and SIGINT actions; the previous ones come back when the last
    /// server serving with signals returns. Several servers may serve with
    /// signals at once: a signal shuts them all down. A second signal
    /// during the drain closes every connection at once (see
    /// [`force_on_second_signal`](Self::force_on_second_signal)).
    ///
    /// ```no_run
    /// use brisk_server::Server;
    ///
    /// // The program owns its signals: brisk installs no handler.
    /// let server = Server::builder()
    ///     .handler(|ctx| ctx.set_body(b"hi"))
    ///     .handle_signals(false)
    ///     .build()
    ///     .unwrap();
    /// let stop = server.shutdown_handle(); // call stop.shutdown() on your own signal
    /// # let _ = stop;
    /// server.listen_and_serve("127.0.0.1:8080").unwrap();
    /// ```
    ///
    /// [`ShutdownHandle::shutdown`]: crate::ShutdownHandle::shutdown
    /// [`Server::listen_and_serve`]: crate::Server::listen_and_serve
    /// [`Server::serve`]: crate::Server::serve
    /// [`Server::serve_listeners`]: crate::Server::serve_listeners
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.cfg.handle_signals = Some(on);
        self
    }

    setter!(
        /// With signals handled ([`handle_signals`](Self::handle_signals)):
        /// whether a second SIGTERM or SIGINT during the graceful shutdown
        /// ends it at once (default on: the impatient second Ctrl-C). Every
        /// connection is then closed without waiting for its response; a
        /// handler already running cannot be interrupted and finishes first.
        /// Once every server serving with signals has been forced, the
        /// previous signal actions are back, so a third signal acts as it
        /// would without brisk (by default the process ends).
        ///
        /// Off: further signals are ignored and only `shutdown_timeout`
        /// ends the drain. `brisk::prefork_server` turns it off in its
        /// children, whose master escalates itself (SIGKILL after its grace
        /// period) and which may receive the same signal twice (from the
        /// terminal or the service manager, and from the master).
        force_on_second_signal: bool
    );

    /// Serves HTTPS: every listener of this server speaks TLS with
    /// `config` (certificates, SNI, handshake timeout; see
    /// [`TlsConfig`](crate::TlsConfig)). Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::TlsConfig) -> Self {
        self.cfg.tls = Some(config);
        self
    }

    /// Stop normalizing request header names to canonical case.
    pub fn disable_header_names_normalizing(mut self, disable: bool) -> Self {
        self.cfg.limits.normalize_header_names = !disable;
        self
    }

    /// Most request headers accepted (default 100); more: 431.
    pub fn max_header_count(mut self, n: usize) -> Self {
        self.cfg.limits.max_headers = n;
        self
    }

    /// Longest request line accepted (default 8 KiB, also capped by the read
    /// buffer size); longer: 414.
    pub fn max_request_line(mut self, n: usize) -> Self {
        self.cfg.limits.max_request_line = n;
        self
    }

    /// Validates the settings and builds the server.
    pub fn build(mut self) -> Result<crate::Server, ConfigError> {
        let handler = self.handler.take().ok_or(ConfigError::MissingHandler)?;
        let c = &mut self.cfg;
        if c.proxy.as_ref().is_some_and(|p| p.trusted().is_empty()) {
            return Err(ConfigError::ProxyTrustsNobody);
        }
        range("loops", c.loops, 1, 1024, "1..=1024")?;
        range("concurrency", c.concurrency, 1, usize::MAX, "at least 1")?;
        range(
            "read_buffer_size",
            c.read_buffer_size,
            256,
            1 << 30,
            "256 bytes ..= 1 GiB",
        )?;
        range(
            "write_buffer_size",
            c.write_buffer_size,
            256,
            1 << 30,
            "256 bytes ..= 1 GiB",
        )?;
        range(
            "push_buffer_size",
            c.push_buffer_size,
            1,
            1 << 30,
            "1 byte ..= 1 GiB",
        )?;
        range(
            "max_worker_conns",
            c.max_worker_conns,
            1,
            1 << 20,
            "1..=1048576",
        )?;
        range(
            "max_blocking_threads",
            c.max_blocking_threads,
            1,
            1 << 16,
            "1..=65536",
        )?;
        range(
            "max_header_count",
            c.limits.max_headers,
            1,
            1 << 16,
            "1..=65536",
        )?;
        if c.max_pending_output == 0 {
            c.max_pending_output = (c.write_buffer_size / 4 * 3).max(1);
        }
        for (setting, d) in [
            ("read_timeout", c.read_timeout),
            ("write_timeout", c.write_timeout),
            ("idle_timeout", c.idle_timeout),
            ("first_byte_timeout", c.first_byte_timeout),
            ("shutdown_timeout", c.shutdown_timeout),
            ("blocking_threshold", c.blocking_threshold),
            ("max_idle_worker_duration", c.max_idle_worker_duration),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroTimeout { setting });
            }
        }
        if c.tcp_keepalive && c.tcp_keepalive_period.as_secs() == 0 {
            return Err(ConfigError::OutOfRange {
                setting: "tcp_keepalive_period",
                expected: "at least one second",
            });
        }
        if c.name
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(ConfigError::InvalidName);
        }
        // The head can never be longer than the read buffer.
        c.limits.max_head_size = c.limits.max_head_size.min(c.read_buffer_size);
        c.limits.max_request_line = c.limits.max_request_line.min(c.read_buffer_size - 2);
        let server = crate::Server::from_parts(
            self.cfg,
            handler,
            self.error_handler,
            self.hooks,
            self.metrics,
        );
        if !server.attach_metrics() {
            return Err(ConfigError::MetricsInUse);
        }
        Ok(server)
    }
}

fn range(
    setting: &'static str,
    v: usize,
    lo: usize,
    hi: usize,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError::OutOfRange { setting, expected });
    }
    Ok(())
}

//! The brisk HTTP/1.1 server: per-core event loops running a synchronous
//! handler inline, with fasthttp's `Server` semantics and stricter defaults.
//!
//! ```no_run
//! use brisk_server::Server;
//!
//! let server = Server::builder()
//!     .handler(|ctx| {
//!         ctx.set_content_type(b"text/plain; charset=utf-8");
//!         ctx.set_body(b"Hello, World!");
//!     })
//!     .build()
//!     .expect("valid configuration");
//! let stop = server.shutdown_handle(); // call stop.shutdown() from any thread
//! # let _ = stop;
//! server.listen_and_serve("127.0.0.1:8080").expect("serve");
//! ```
//!
//! # Brief overview
//!
//! * [`Server`] is built by [`ServerBuilder`] (validated once) and serves a
//!   `TcpListener` or an address until [`ShutdownHandle::shutdown`].
//! * The handler, `Fn(&mut RequestCtx)`, runs inline on a loop thread. A
//!   [`RequestCtx`] borrows the request from the connection's buffer and
//!   builds the response in reused scratch space: no allocation per request.
//! * A handler may block: a monitor hands the loop's other connections to a
//!   spare thread after `blocking_threshold` (1 ms by default).
//! * The loops run on epoll, or on io_uring with
//!   [`ServerBuilder::backend`]`(`[`Backend::Uring`]`)` and the cargo
//!   feature `uring` (falling back to epoll, with a log line, without the
//!   feature, where the kernel lacks or forbids io_uring, and with TLS or
//!   the PROXY protocol).
//! * Bad input never reaches the handler: each [`ServerError`] is answered
//!   with its status and the connection closes.
//! * [`Server::listen_and_serve`] drains gracefully on SIGTERM and SIGINT
//!   (the requests in flight are answered, bounded by `shutdown_timeout`)
//!   and returns `Ok`; [`ServerBuilder::handle_signals`] turns that off, or
//!   on for [`Server::serve`].
//! * Observability, opt-in: [`Metrics`] (counters and a duration histogram,
//!   kept per thread) and an access log ([`ServerBuilder::access_log`],
//!   [`AccessRecord`]).
//! * Behind a load balancer, [`ServerBuilder::proxy_protocol`] reads the
//!   PROXY protocol header (v1 or v2) of connections from trusted networks
//!   ([`ProxyPolicy`], [`Cidr`]) and serves them as coming from the client
//!   it names; other peers cannot set their address (their header is
//!   answered 400). The README's "PROXY protocol" section has the table.
//! * [`activation::listeners`] takes the listening sockets systemd (socket
//!   activation) passed to the process; serve them with
//!   [`Server::serve_listeners`].
//!
//! See `docs/ARCHITECTURE.md` for the threading and memory model.
#![deny(missing_docs)]

mod access_log;
pub mod activation;
mod backend;
mod config;
mod conn;
mod ctx;
mod error;
mod event_loop;
mod handoff;
mod hijack;
mod hooks;
mod mem;
mod metrics;
mod monitor;
mod owned;
mod proxy;
mod push;
mod respond;
mod scratch;
mod server;
mod signals;
mod slab;
mod sync;
mod sys;
mod timer;
#[cfg(feature = "tls")]
mod tls;
mod transport;
#[cfg(feature = "uring")]
mod uring;

pub use access_log::{ACCESS_LOG_TARGET, AccessLogFormat, AccessLogHandler, AccessRecord};
pub use backend::Backend;
pub use brisk_http::{HeaderError, Method, TargetForm, Version};
pub use brisk_pool::PoolStats;
pub use config::{ConfigError, ErrorHandler, Handler, ServerBuilder};
pub use ctx::{BodyReader, BodyStream, BodyWriter, RequestCtx, ResponseBodyKind};
pub use error::{ServeError, ServerError};
pub use hijack::{HijackHandler, Hijacked};
pub use hooks::{
    ConnState, ConnStateHandler, ContinueAction, ContinueHandler, HeadHandler, RequestHead,
    RequestLimits,
};
pub use metrics::{
    ConnectionCounts, DURATION_BOUNDS_US, DurationHistogram, ERROR_KINDS, ErrorCounts, Metrics,
    MetricsSnapshot, RequestCounts, TRACKED_STATUSES,
};
pub use owned::OwnedRequest;
pub use proxy::{Cidr, CidrError, MAX_PROXY_HEADER, ProxyHeaderRule, ProxyPolicy};
pub use push::{BodySender, PushFilter};
/// The TLS library under [`TlsConfig`] (feature `tls`), for
/// [`TlsConfig::from_rustls`].
#[cfg(feature = "tls")]
pub use rustls;
pub use server::{Server, ShutdownHandle};
#[cfg(feature = "tls")]
pub use tls::{DEFAULT_HANDSHAKE_TIMEOUT, TlsConfig, TlsError, TlsReloader};

#[doc(hidden)]
pub mod _fuzz;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! brisk: a fast, strict HTTP/1.1 server library in the spirit of fasthttp.
//!
//! ```no_run
//! brisk::listen_and_serve("127.0.0.1:8080", |ctx| {
//!     ctx.set_body(b"Hello, World!");
//! })
//! .expect("serve");
//! ```
//!
//! # Brief overview
//!
//! - [`Server`] (built by [`Server::builder`]) runs per-core event loops
//!   that call your handler, `Fn(&mut RequestCtx)`, inline: no task spawn,
//!   no allocation per request. [`listen_and_serve`] is the one-liner.
//! - [`RequestCtx`] borrows the request (method, path, headers, body, …)
//!   from the connection's buffer and builds the response.
//! - [`prefork_server`] runs the same server in several processes (fasthttp's
//!   prefork), one event loop each.
//!
//! Each layer is also usable on its own, re-exported as a module: [`buf`]
//! (buffers and their pool), [`http`] (the HTTP/1.1 codec), [`pool`] (the
//! worker pool), [`server`] and `prefork` (feature `prefork`, on by default).
#![deny(missing_docs)]

pub use brisk_buf as buf;
#[cfg(feature = "handlers")]
pub use brisk_handlers as handlers;
pub use brisk_http as http;
pub use brisk_pool as pool;
#[cfg(feature = "prefork")]
pub use brisk_prefork as prefork;
pub use brisk_server as server;

pub use brisk_server::{
    Backend, BodyWriter, ConfigError, Method, RequestCtx, ServeError, Server, ServerBuilder,
    ServerError, ShutdownHandle, Version,
};
#[cfg(feature = "tls")]
pub use brisk_server::{TlsConfig, TlsError, TlsReloader};

/// Serves `handler` on `addr` with the default configuration (one event
/// loop per core) until SIGTERM or SIGINT, then shuts down gracefully and
/// returns `Ok(())`.
///
/// The signal stops accepting, closes idle connections and lets the
/// requests in flight finish (answered with `Connection: close`) for up to
/// the shutdown timeout (10 s); a second signal closes everything at once.
/// To handle signals yourself, build the server with
/// [`ServerBuilder::handle_signals(false)`](ServerBuilder::handle_signals)
/// and stop it with its [`ShutdownHandle`].
///
/// ```no_run
/// // Ctrl-C (or `kill`): the requests in flight finish, then it returns.
/// brisk::listen_and_serve("127.0.0.1:8080", |ctx| ctx.set_body(b"Hello, World!"))
///     .expect("serve");
/// println!("drained, bye");
/// ```
pub fn listen_and_serve<F>(addr: impl std::net::ToSocketAddrs, handler: F) -> Result<(), ServeError>
where
    F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    let server = Server::builder()
        .handler(handler)
        .build()
        .map_err(|e| ServeError::Setup(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    server.listen_and_serve(addr)
}

/// Like [`listen_and_serve`], over HTTPS (feature `tls`): the certificate
/// chain and its private key come from PEM files. For SNI, certificate
/// reloading or a handshake timeout other than 10 s, build a
/// [`TlsConfig`] and hand it to [`ServerBuilder::tls`].
///
/// ```no_run
/// brisk::listen_and_serve_tls("0.0.0.0:8443", "cert.pem", "key.pem", |ctx| {
///     ctx.set_body(b"Hello over TLS")
/// })
/// .expect("serve");
/// ```
#[cfg(feature = "tls")]
pub fn listen_and_serve_tls<F>(
    addr: impl std::net::ToSocketAddrs,
    cert: impl AsRef<std::path::Path>,
    key: impl AsRef<std::path::Path>,
    handler: F,
) -> Result<(), ServeError>
where
    F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    let invalid =
        |e: String| ServeError::Setup(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
    let tls = TlsConfig::from_pem_files(cert, key).map_err(|e| invalid(e.to_string()))?;
    let server = Server::builder()
        .handler(handler)
        .tls(tls)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    server.listen_and_serve(addr)
}

/// A prefork supervisor whose children each serve `builder`'s server with
/// one event loop (fasthttp's prefork: one process per core instead of one
/// thread per core). Set the supervisor's options on the result, then call
/// [`listen_and_serve`](brisk_prefork::Prefork::listen_and_serve).
///
/// The program re-executes itself for every child, so build the server the
/// same way on every run (children share no memory with the master or each
/// other). Configuration errors surface in each child as its serve error.
///
/// **Shutdown.** SIGTERM or SIGINT to the master makes it send SIGTERM to
/// every child; each child then shuts its server down gracefully (this
/// function turns [`handle_signals`](ServerBuilder::handle_signals) on in
/// the children): it stops accepting, answers the requests in flight
/// (with `Connection: close`) and exits, and the master returns `Ok(())`
/// once every child is gone. A child's drain is bounded by the server's
/// [`shutdown_timeout`](ServerBuilder::shutdown_timeout) (default 10 s) and
/// by the master's
/// [`shutdown_grace_period`](brisk_prefork::Prefork::shutdown_grace_period)
/// (default 5 s), after which the master SIGKILLs it: keep the grace period
/// above the shutdown timeout if requests may take that long. A child
/// ignores further signals
/// ([`force_on_second_signal`](ServerBuilder::force_on_second_signal) is
/// off there: a service manager and the master may both signal it); a
/// second signal to the master SIGKILLs the children at once.
///
/// **Binary upgrade.** SIGUSR2 to the master starts a new master from the
/// same path (a replaced binary is picked up) that inherits the very same
/// listening sockets; once its children took them, the old children drain
/// as on SIGTERM and the old master returns `Ok(())` (see brisk-prefork's
/// "Binary upgrade"). A master started by systemd socket activation serves
/// the socket it was given.
///
/// ```no_run
/// let builder = brisk::Server::builder().handler(|ctx| ctx.set_body(b"hello from a child"));
/// brisk::prefork_server(builder)
///     .children(4)
///     .listen_and_serve("127.0.0.1:8080")
///     .expect("prefork");
/// ```
#[cfg(feature = "prefork")]
pub fn prefork_server(builder: ServerBuilder) -> brisk_prefork::Prefork {
    // One of the serve functions runs in each child; they share the builder.
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(builder)));
    let take = move || {
        shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| std::io::Error::other("the prefork child served twice"))
    };
    #[cfg(feature = "tls")]
    let (take_tls, take_embed) = (take.clone(), take.clone());
    let prefork =
        brisk_prefork::Prefork::new().serve(move |listener| child_serve(take()?, listener));
    // With feature `tls` the children serve HTTPS for
    // `listen_and_serve_tls(_embed)`: the certificate is loaded in each
    // child (a bad file is that child's serve error).
    #[cfg(feature = "tls")]
    let prefork = prefork
        .serve_tls(move |listener, cert, key| {
            let tls = TlsConfig::from_pem_files(cert, key).map_err(std::io::Error::other)?;
            child_serve(take_tls()?.tls(tls), listener)
        })
        .serve_tls_embed(move |listener, cert, key| {
            let tls = TlsConfig::from_pem(cert, key).map_err(std::io::Error::other)?;
            child_serve(take_embed()?.tls(tls), listener)
        });
    prefork
}

/// What a prefork child serves: `builder`'s server with one loop, drained
/// on the master's SIGTERM.
#[cfg(feature = "prefork")]
fn child_serve(builder: ServerBuilder, listener: std::net::TcpListener) -> std::io::Result<()> {
    let server = builder
        .loops(1)
        .handle_signals(true)
        .force_on_second_signal(false)
        .build()
        .map_err(std::io::Error::other)?;
    server.serve(listener).map_err(std::io::Error::other)
}

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

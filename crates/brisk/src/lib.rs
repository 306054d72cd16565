//! brisk: a fast, strict HTTP/1.1 server library in the spirit of fasthttp.
//!
//! ```no_run
//! brisk::listen_and_serve("127.0.0.1:8080", |ctx| {
//!     ctx.set_body(b"Hello, World!");
//! })
//! .expect("serve");
//! ```
//!
//! The facade re-exports the server's API at the top level and each layer
//! as a module: [`buf`] (buffers and their pool), [`http`] (the codec),
//! [`pool`] (the worker pool), [`server`] and [`prefork`].
#![deny(missing_docs)]

pub use brisk_buf as buf;
pub use brisk_http as http;
pub use brisk_pool as pool;
pub use brisk_prefork as prefork;
pub use brisk_server as server;

pub use brisk_server::{
    ConfigError, Method, RequestCtx, ServeError, Server, ServerBuilder, ServerError,
    ShutdownHandle, Version,
};

/// Serves `handler` on `addr` with the default configuration (one event
/// loop per core) until the process ends.
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

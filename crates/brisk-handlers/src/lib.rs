//! Batteries for brisk handlers, each opt-in and usable around any handler
//! (`Fn(&mut RequestCtx)`).
//!
//! This crate sits above `brisk-server` and below the `brisk` facade, which
//! re-exports it as `brisk::handlers`.
//!
//! # Brief overview
//!
//! - [`fs`]: a static-file server (`FileServer`, `serve_file`): `sendfile`,
//!   ranges, conditional requests, precompressed siblings, a bounded cache,
//!   paths that cannot leave the root.
//! - [`compress`]: response compression (gzip, deflate, br, zstd, as the
//!   request's `Accept-Encoding` allows), streamed bodies included, with a
//!   cache of compressed static bodies; opt-in request decompression.
//! - [`form`]: typed, limited access to query strings and
//!   `application/x-www-form-urlencoded` bodies (`ctx.query_form()?.get_u64("page")`).
//! - [`multipart`]: `multipart/form-data` uploads: a streaming, I/O-free
//!   parser, and a reader that keeps fields in memory and streams files to
//!   temporary files, on buffered or streamed request bodies.
//! - [`cookie`]: a validating `Set-Cookie` builder (`ctx.set_cookie(&c)?`).
//! - [`timeout`]: a deadline around a handler (503 when it is late; the
//!   connection goes on).
//! - [`metrics`]: a server's [`Metrics`](brisk_server::Metrics) in the
//!   Prometheus text format, and a handler that serves them.
//!
//! ```
//! use std::time::Duration;
//! use brisk_handlers::cookie::{CookieExt, SameSite, SetCookie};
//! use brisk_handlers::form::FormExt;
//! use brisk_handlers::timeout::timeout;
//!
//! let handler = timeout(
//!     |ctx| {
//!         let page = match ctx.query_form().and_then(|f| f.get_u64("page")) {
//!             Ok(p) => p.unwrap_or(1),
//!             Err(e) => return ctx.error(&e.to_string(), e.status()),
//!         };
//!         let seen = SetCookie::new("seen", "1").path("/").http_only().same_site(SameSite::Lax);
//!         if ctx.set_cookie(&seen).is_err() {
//!             return ctx.error("bad cookie", 500);
//!         }
//!         ctx.set_body_string(&format!("page {page}"));
//!     },
//!     Duration::from_secs(1),
//! );
//! let server = brisk_server::Server::builder().handler(handler).build();
//! assert!(server.is_ok());
//! ```
#![deny(missing_docs)]

pub mod compress;
pub mod cookie;
pub mod form;
pub mod fs;
pub mod metrics;
pub mod multipart;
pub mod timeout;

#[doc(hidden)]
pub mod _fuzz;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

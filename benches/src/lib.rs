//! brisk's end-to-end HTTP/1.1 load generator, `brisk-load`.
//!
//! Brief overview: [`run`] opens [`LoadConfig::connections`] connections to a
//! loopback server, spread over [`LoadConfig::threads`] epoll event loops, and
//! keeps them busy with a pre-built request ([`RequestSpec`]) — keep-alive or
//! one connection per request, optionally pipelined — until the [`Stop`]
//! condition. Each response is framed by [`ResponseParser`] (Content-Length,
//! chunked or until-close bodies) and its latency goes into an HDR histogram.
//! The [`Report`] has requests/s, latency percentiles, responses by status
//! class and error counts, as text or JSON (`cargo xtask bench server` reads
//! the JSON).
//!
//! Load tests stay on this machine: a non-loopback target is refused unless
//! [`LoadConfig::allow_remote`] is set.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//!
//! use brisk_benches::{LoadConfig, Stop};
//!
//! // A tiny server that answers 10 requests on one connection.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut conn, _) = listener.accept()?;
//!     let mut buf = [0u8; 4096];
//!     let mut seen = 0;
//!     while seen < 10 {
//!         let n = conn.read(&mut buf)?;
//!         for _ in 0..buf[..n].windows(4).filter(|w| w == b"\r\n\r\n").count() {
//!             conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")?;
//!             seen += 1;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! let mut config = LoadConfig::new(addr);
//! config.connections = 1;
//! config.stop = Stop::Requests(10);
//! let report = brisk_benches::run(&config)?;
//! assert_eq!(report.requests, 10);
//! assert_eq!(report.status.success, 10);
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cli;
mod config;
mod engine;
mod report;
mod request;
mod response;

pub use cli::{CliError, Invocation, USAGE, parse_args};
pub use config::{LoadConfig, LoadError, Stop};
pub use engine::run;
pub use report::{ErrorCounts, Report, StatusCounts};
pub use request::{RequestError, RequestSpec};
pub use response::{MAX_LINE, Progress, ResponseError, ResponseParser};

/// The README's example, run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

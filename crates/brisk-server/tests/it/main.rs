//! brisk-server integration tests: a real server on 127.0.0.1:0, real sockets.

mod backend;
mod basics;
mod blocking;
mod corpus;
mod errors;
mod hijack;
mod hooks;
#[cfg(target_os = "linux")]
mod idle;
mod observe;
mod proxy;
mod push;
mod refusals;
mod shutdown;
mod support;
#[cfg(feature = "tls")]
mod tls;
mod upload;

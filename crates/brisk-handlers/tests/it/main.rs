//! brisk-handlers integration tests: a real brisk server on 127.0.0.1:0,
//! real sockets (and curl, where installed).

#[cfg(all(feature = "gzip", feature = "br", feature = "zstd"))]
mod compress;
#[cfg(all(feature = "gzip", feature = "br", feature = "zstd"))]
mod compress_support;
mod cookies;
mod corpus;
mod forms;
mod multipart;
mod support;
mod timeout;

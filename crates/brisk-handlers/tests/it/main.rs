//! brisk-handlers integration tests: a real server on 127.0.0.1:0, real
//! sockets.

#[cfg(all(feature = "gzip", feature = "br", feature = "zstd"))]
mod compress;
mod compress_corpus;
#[cfg(all(feature = "gzip", feature = "br", feature = "zstd"))]
mod compress_support;

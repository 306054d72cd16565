//! Byte buffers for brisk: a growable [`ByteBuffer`], a self-calibrating,
//! thread-scalable [`BufferPool`] to reuse them, and [`Span`], which names
//! bytes inside a buffer without borrowing it.
//!
//! ```
//! use brisk_buf::{BufferPool, Span};
//!
//! let pool = BufferPool::global();
//! let mut buf = pool.get(); // empty, capacity >= pool.default_size()
//! buf.extend_from_slice(b"GET /hello HTTP/1.1\r\n");
//!
//! // A parser hands out spans (8 bytes, `Copy`) instead of slices.
//! let path = Span::new(4, 6);
//! assert_eq!(path.get(&buf), b"/hello");
//!
//! pool.put(buf); // emptied and kept for the next `get`
//! ```
//!
//! # Brief overview
//!
//! - [`ByteBuffer`]: a `Vec<u8>` with allocation-free integer formatting,
//!   `io::Write` and `fmt::Write`, and a `reset` that keeps the allocation.
//! - [`Span`]: `{ start: u32, len: u32 }`, resolved against the buffer with
//!   [`Span::get`]; never panics on a span outside the buffer.
//! - [`BufferPool`]: [`get`](BufferPool::get) /
//!   [`get_with_capacity`](BufferPool::get_with_capacity) hand out empty
//!   buffers, [`put`](BufferPool::put) takes them back. Configure it with
//!   [`PoolConfig`]; observe it with [`BufferPool::stats`].
//!
//! # Calibration
//!
//! Buffer sizes fall in power-of-two classes from 64 B to 32 MiB. Each put
//! counts the class of the buffer's length and of its capacity. After every
//! [`PoolConfig::calibrate_after`] puts (42 000 by default) the pool
//! calibrates, like fasthttp's bytebufferpool:
//!
//! - the **default size** (what `get` hands out) becomes the class most
//!   lengths fell in;
//! - the **max size** (the largest capacity `put` keeps) becomes the smallest
//!   class covering 95 % of the capacities, and at least the default size.
//!   Larger buffers are freed on put instead of kept, and cached ones are
//!   trimmed, so one huge response does not pin its memory.
//!
//! The max size comes from capacities, not lengths as in fasthttp, so that a
//! read buffer taken with `get_with_capacity(4096)` and only partly filled is
//! still kept.
//!
//! # Memory bounds
//!
//! The common path takes no lock: each thread caches buffers per size class
//! (at most [`PoolConfig::thread_cache_buffers`] per class and
//! [`PoolConfig::thread_cache_bytes`] in all), and exchanges half a bin at a
//! time with an overflow shared by all threads (at most
//! [`PoolConfig::shared_max_bytes`]). So a pool holds at most
//! `shared_max_bytes + thread_cache_bytes × threads` bytes (32 MiB plus 1 MiB
//! per thread by default); buffers that do not fit are freed. A thread that
//! exits gives its cached buffers back to the overflow.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod byte_buffer;
mod pool;
mod span;

pub use byte_buffer::ByteBuffer;
pub use pool::{
    BufferPool, MAX_CLASS_SIZE, MIN_CLASS_SIZE, PoolConfig, PoolConfigError, PoolStats,
};
pub use span::{Span, eq_ignore_ascii_case, starts_with_ignore_ascii_case};

/// The examples of `README.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

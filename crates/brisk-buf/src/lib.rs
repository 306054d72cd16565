//! Zero-copy byte buffers for brisk: [`ByteBuffer`], the self-calibrating
//! `BufferPool`, and [`Span`], which names bytes inside a buffer.
#![deny(missing_docs)]

mod byte_buffer;
mod span;

pub use byte_buffer::ByteBuffer;
pub use span::{Span, eq_ignore_ascii_case, starts_with_ignore_ascii_case};

//! `ByteBuffer`: a growable byte buffer with cheap appends.

use core::fmt;
use std::io;

/// A growable byte buffer: a `Vec<u8>` with fast appends of integers and
/// slices, `io::Write` and `fmt::Write`, and a [`reset`](ByteBuffer::reset)
/// that keeps the allocation for reuse.
///
/// Buffers usually come from a [`BufferPool`](crate::BufferPool) and go back
/// to it when the caller is done.
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use std::fmt::Write as _;
///
/// let mut b = ByteBuffer::with_capacity(64);
/// b.extend_from_slice(b"Content-Length: ");
/// b.write_u64(42);
/// write!(b, "; id={}", 7).unwrap();
/// assert_eq!(b.as_slice(), b"Content-Length: 42; id=7");
/// let cap = b.capacity();
/// b.reset();
/// assert!(b.is_empty());
/// assert_eq!(b.capacity(), cap);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ByteBuffer {
    buf: Vec<u8>,
}

impl ByteBuffer {
    /// An empty buffer that has not allocated.
    #[inline]
    pub const fn new() -> ByteBuffer {
        ByteBuffer { buf: Vec::new() }
    }

    /// An empty buffer with room for at least `cap` bytes.
    #[inline]
    pub fn with_capacity(cap: usize) -> ByteBuffer {
        ByteBuffer {
            buf: Vec::with_capacity(cap),
        }
    }

    /// Wraps an existing vector (its bytes become the buffer's contents).
    #[inline]
    pub fn from_vec(buf: Vec<u8>) -> ByteBuffer {
        ByteBuffer { buf }
    }

    /// Number of bytes held.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer can hold without reallocating.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Empties the buffer, keeping its allocation.
    #[inline]
    pub fn reset(&mut self) {
        self.buf.clear();
    }

    /// Shortens the buffer to `len` bytes (no effect if already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Makes room for at least `additional` more bytes.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// The contents.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The contents, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The underlying vector, for APIs that need one (reading into spare
    /// capacity, `drain`, `copy_within`).
    #[inline]
    pub fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Unwraps the underlying vector.
    #[inline]
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// Appends a byte slice.
    #[inline]
    pub fn extend_from_slice(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }

    /// Appends a string's bytes.
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Appends the decimal form of an unsigned integer (no allocation).
    #[inline]
    pub fn write_u64(&mut self, n: u64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
    }

    /// Appends the decimal form of a `usize` (no allocation).
    #[inline]
    pub fn write_usize(&mut self, n: usize) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
    }

    /// Appends the decimal form of a signed integer (no allocation).
    #[inline]
    pub fn write_i64(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
    }

    /// Appends the lower-case hexadecimal form of `n` (no leading zeros;
    /// `0` for zero), as used for chunk sizes.
    #[inline]
    pub fn write_hex(&mut self, mut n: u64) {
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
    }
}

impl core::ops::Deref for ByteBuffer {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl core::ops::DerefMut for ByteBuffer {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl AsRef<[u8]> for ByteBuffer {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl From<Vec<u8>> for ByteBuffer {
    #[inline]
    fn from(v: Vec<u8>) -> ByteBuffer {
        ByteBuffer { buf: v }
    }
}

impl From<&[u8]> for ByteBuffer {
    #[inline]
    fn from(v: &[u8]) -> ByteBuffer {
        ByteBuffer { buf: v.to_vec() }
    }
}

impl fmt::Debug for ByteBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteBuffer({:?})", self.buf.escape_ascii().to_string())
    }
}

impl io::Write for ByteBuffer {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for ByteBuffer {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn integers_and_hex() {
        let mut b = ByteBuffer::new();
        b.write_u64(0);
        b.push(b' ');
        b.write_u64(u64::MAX);
        b.push(b' ');
        b.write_i64(-17);
        b.push(b' ');
        b.write_usize(4096);
        b.push(b' ');
        b.write_hex(0);
        b.push(b' ');
        b.write_hex(0x1a2b);
        b.push(b' ');
        b.write_hex(u64::MAX);
        assert_eq!(
            b.as_slice(),
            b"0 18446744073709551615 -17 4096 0 1a2b ffffffffffffffff"
        );
    }

    #[test]
    fn io_write_and_reset_keeps_capacity() {
        let mut b = ByteBuffer::with_capacity(8);
        b.write_all(b"0123456789abcdef").unwrap();
        let cap = b.capacity();
        assert!(cap >= 16);
        b.reset();
        assert_eq!(b.len(), 0);
        assert_eq!(b.capacity(), cap);
    }

    #[test]
    fn debug_escapes() {
        let b = ByteBuffer::from(&b"a\r\n"[..]);
        assert_eq!(format!("{b:?}"), "ByteBuffer(\"a\\\\r\\\\n\")");
    }
}

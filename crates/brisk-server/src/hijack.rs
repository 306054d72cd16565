//! Taking a connection over: [`Hijacked`], what a handler that called
//! [`RequestCtx::hijack`](crate::RequestCtx::hijack) gets once its
//! response is sent.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// What a hijack handler runs with: it takes the connection over (the
/// server no longer tracks it), e.g. to speak WebSocket after
/// `101 Switching Protocols`.
pub type HijackHandler = dyn FnOnce(Hijacked) + Send + 'static;

/// A connection taken over from the server: the socket (blocking) and the
/// bytes the client sent past the request, which the server had already
/// read. Reading returns those bytes first, then reads the socket; writing
/// writes the socket. Dropping it closes the connection.
#[derive(Debug)]
pub struct Hijacked {
    stream: TcpStream,
    buffered: Vec<u8>,
    pos: usize,
}

impl Hijacked {
    pub(crate) fn new(stream: TcpStream, buffered: Vec<u8>) -> Hijacked {
        Hijacked {
            stream,
            buffered,
            pos: 0,
        }
    }

    /// Bytes read by the server past the request and not yet read from
    /// this connection.
    pub fn buffered(&self) -> &[u8] {
        &self.buffered[self.pos..]
    }

    /// The socket (its reads skip the bytes in [`buffered`](Self::buffered)).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The socket and the bytes read past the request that nobody read
    /// yet.
    pub fn into_parts(mut self) -> (TcpStream, Vec<u8>) {
        self.buffered.drain(..self.pos);
        (self.stream, self.buffered)
    }
}

impl Read for Hijacked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buffered.len() {
            let n = out.len().min(self.buffered.len() - self.pos);
            out[..n].copy_from_slice(&self.buffered[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.stream.read(out)
    }
}

impl Write for Hijacked {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

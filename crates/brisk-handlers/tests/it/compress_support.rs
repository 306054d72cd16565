//! Test support for `compress`: a server on 127.0.0.1:0 that stops when
//! dropped, a blocking HTTP/1.1 client that reads Content-Length and
//! chunked bodies, and the decoders of each coding.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use brisk_http::Coding;
use brisk_server::{RequestCtx, ServerBuilder};

/// [`crate::support::TestServer`] (which stops the server when dropped)
/// with this module's client.
pub struct TestServer {
    pub addr: SocketAddr,
    _server: crate::support::TestServer,
}

impl TestServer {
    pub fn start<F>(handler: F) -> TestServer
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        TestServer::with(handler, |b| b)
    }

    pub fn with<F>(handler: F, configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> TestServer
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        let server =
            crate::support::TestServer::start(handler, |b| configure(b.handle_signals(false)));
        TestServer {
            addr: server.addr,
            _server: server,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as sent (de-chunked, still encoded).
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The coding named by `Content-Encoding` (identity without one).
    pub fn coding(&self) -> Coding {
        self.header("content-encoding")
            .map(|v| Coding::from_token(v.as_bytes()).expect("a known coding"))
            .unwrap_or(Coding::Identity)
    }

    /// The body with its content coding removed.
    pub fn decoded(&self) -> Vec<u8> {
        decode(self.coding(), &self.body)
    }
}

pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// `GET path` with `Accept-Encoding: ae` (none when `None`).
    pub fn get(&mut self, path: &str, ae: Option<&str>) -> Response {
        self.method("GET", path, ae)
    }

    pub fn method(&mut self, method: &str, path: &str, ae: Option<&str>) -> Response {
        let ae = ae.map_or(String::new(), |v| format!("Accept-Encoding: {v}\r\n"));
        self.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{ae}\r\n").as_bytes());
        self.read_response(method == "HEAD")
    }

    /// Reads the head of a response: status and headers.
    pub fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).expect("ascii head");
                self.buf.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status = lines
                    .next()
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                let headers = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').expect("header colon");
                        (n.to_string(), v.trim().to_string())
                    })
                    .collect();
                return (status, headers);
            }
            assert!(self.fill(), "connection closed before a response head");
        }
    }

    pub fn read_response(&mut self, head_only: bool) -> Response {
        let (status, headers) = self.read_head();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked = get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let mut body = Vec::new();
        if !(head_only || status == 204 || status == 304 || status < 200) {
            if chunked {
                while let Some(chunk) = self.read_chunk() {
                    body.extend_from_slice(&chunk);
                }
            } else {
                let len: usize = get("content-length")
                    .expect("content-length")
                    .parse()
                    .unwrap();
                while self.buf.len() < len {
                    assert!(self.fill(), "connection closed inside a body");
                }
                body = self.buf.drain(..len).collect();
            }
        }
        Response {
            status,
            headers,
            body,
            chunked,
        }
    }

    /// The next chunk's data; `None` after the last chunk (and the empty
    /// trailer section).
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let line_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            assert!(self.fill(), "connection closed inside a chunked body");
        };
        let size_hex = std::str::from_utf8(&self.buf[..line_end])
            .unwrap()
            .to_string();
        let size = usize::from_str_radix(size_hex.split(';').next().unwrap().trim(), 16).unwrap();
        self.buf.drain(..line_end + 2);
        if size == 0 {
            while find(&self.buf, b"\r\n").is_none() {
                assert!(self.fill(), "connection closed in the trailers");
            }
            let end = find(&self.buf, b"\r\n").unwrap();
            self.buf.drain(..end + 2);
            return None;
        }
        while self.buf.len() < size + 2 {
            assert!(self.fill(), "connection closed inside a chunk");
        }
        let data: Vec<u8> = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        Some(data)
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16384];
        match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a whole body with the codings' own crates (not the code under
/// test).
pub fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        Coding::Identity => out.extend_from_slice(data),
        Coding::Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        Coding::Deflate => {
            flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .expect("deflate");
        }
        Coding::Br => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .expect("br");
        }
        Coding::Zstd => out = zstd::decode_all(data).expect("zstd"),
    }
    out
}

/// Encodes a request body with the codings' own crates.
pub fn encode(coding: Coding, data: &[u8]) -> Vec<u8> {
    match coding {
        Coding::Identity => data.to_vec(),
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Coding::Br => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 20);
                w.write_all(data).unwrap();
            }
            out
        }
        Coding::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// A decoder fed piece by piece, for bodies that must be decodable before
/// they end.
pub enum Incremental {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Incremental {
    pub fn new(coding: Coding) -> Incremental {
        match coding {
            Coding::Gzip => Incremental::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            Coding::Deflate => Incremental::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Coding::Br => {
                Incremental::Br(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
            }
            Coding::Zstd => {
                Incremental::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap())
            }
            Coding::Identity => panic!("identity has no decoder"),
        }
    }

    /// Feeds `data`; what is decoded so far.
    pub fn feed(&mut self, data: &[u8]) -> &[u8] {
        match self {
            Incremental::Gzip(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Incremental::Deflate(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Incremental::Br(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Incremental::Zstd(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
        }
    }
}

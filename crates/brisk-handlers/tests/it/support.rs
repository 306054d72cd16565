//! Test support: a server on 127.0.0.1:0 that stops when dropped, and a
//! small blocking HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brisk_server::{RequestCtx, ServerBuilder, ShutdownHandle};

pub struct TestServer {
    pub addr: SocketAddr,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), brisk_server::ServeError>>>,
}

impl TestServer {
    /// A server running `handler` on one loop, with `configure` applied.
    pub fn start<F>(handler: F, configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Self
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        let b = brisk_server::Server::builder().handler(handler).loops(1);
        let server = configure(b).build().expect("valid test configuration");
        let listeners = server.bind("127.0.0.1:0").expect("bind");
        let addr = listeners[0].local_addr().unwrap();
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.serve_listeners(listeners));
        TestServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.shutdown();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<binary>")
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.read_response()
    }

    pub fn get(&mut self, target: &str) -> Response {
        self.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
    }

    /// A POST with `content_type` and `body` (Content-Length).
    pub fn post(&mut self, target: &str, content_type: &str, body: &[u8]) -> Response {
        let mut req = format!(
            "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.request(&req)
    }

    /// Reads one response with a Content-Length or chunked body.
    pub fn read_response(&mut self) -> Response {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().expect("status");
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        self.buf.drain(..head_end);
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let body = if let Some(len) = get("content-length") {
            let len: usize = len.parse().expect("content-length");
            while self.buf.len() < len {
                self.fill();
            }
            self.buf.drain(..len).collect()
        } else if get("transfer-encoding").is_some() {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.fill();
                };
                let size_text = std::str::from_utf8(&self.buf[..line_end])
                    .unwrap()
                    .to_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16)
                    .expect("chunk size");
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    self.fill();
                }
                body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break;
                }
            }
            body
        } else {
            Vec::new()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).expect("read response");
        assert!(n > 0, "connection closed before a complete response");
        self.buf.extend_from_slice(&tmp[..n]);
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `curl` can be run.
pub fn have_curl() -> bool {
    std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

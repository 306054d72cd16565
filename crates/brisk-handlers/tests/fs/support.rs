//! A server on 127.0.0.1:0 that stops when dropped, a temporary directory
//! that removes itself, and a blocking HTTP/1.1 client that reads
//! responses exactly (Content-Length, chunked, or to the close).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brisk_server::{RequestCtx, ShutdownHandle};

pub struct TestServer {
    pub addr: SocketAddr,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), brisk_server::ServeError>>>,
}

impl TestServer {
    pub fn start<F>(handler: F) -> TestServer
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        let server = brisk_server::Server::builder()
            .handler(handler)
            .loops(1)
            .build()
            .expect("valid test configuration");
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
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// One request on a new connection: `GET target` with `headers`.
    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", target, headers)
    }

    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut c = self.connect();
        c.send(method, target, headers);
        c.read(method == "HEAD")
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

pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
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

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.w.write_all(req.as_bytes()).expect("send request");
    }

    /// Reads one response; `head`: it answers HEAD (no body).
    pub fn read(&mut self, head: bool) -> Response {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            self.r.read_line(&mut l).expect("header line");
            let l = l.trim_end_matches("\r\n");
            if l.is_empty() {
                break;
            }
            let (n, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad field {l:?}"));
            headers.push((n.to_string(), v.to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 304 || status == 204 {
            return resp;
        }
        if resp.header("Transfer-Encoding") == Some("chunked") {
            loop {
                let mut size = String::new();
                self.r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim_end(), 16).expect("chunk size");
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = resp.header("Content-Length") {
            let n: usize = n.parse().unwrap();
            resp.body = vec![0; n];
            self.r.read_exact(&mut resp.body).expect("body");
        } else {
            self.r.read_to_end(&mut resp.body).unwrap();
        }
        resp
    }
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "brisk-fs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` bytes of a pattern that does not repeat with a short period.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 % 251) as u8).collect()
}

//! Test support: a server on 127.0.0.1:0 that stops when dropped, and a
//! minimal blocking HTTP/1.1 client that reads responses exactly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brisk_server::{RequestCtx, ServerBuilder, ShutdownHandle};

/// The backend the tests run on: `BRISK_BACKEND=uring` (CI runs this
/// binary a second time with it) or epoll.
pub fn backend() -> brisk_server::Backend {
    match std::env::var("BRISK_BACKEND") {
        Ok(v) => v.parse().expect("BRISK_BACKEND: epoll or uring"),
        Err(_) => brisk_server::Backend::Epoll,
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub stop: ShutdownHandle,
    /// The server (serving on another thread).
    pub server: std::sync::Arc<brisk_server::Server>,
    thread: Option<JoinHandle<Result<(), brisk_server::ServeError>>>,
}

impl TestServer {
    /// Starts a server with `configure` applied to a builder that already has
    /// `handler` and one loop.
    pub fn start<F>(
        handler: F,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer
    where
        F: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        let b = brisk_server::Server::builder()
            .handler(handler)
            .loops(1)
            .backend(backend());
        let server = configure(b).build().expect("valid test configuration");
        let listeners = server.bind("127.0.0.1:0").expect("bind");
        let addr = listeners[0].local_addr().unwrap();
        let stop = server.shutdown_handle();
        let server = std::sync::Arc::new(server);
        let serving = server.clone();
        let thread = std::thread::spawn(move || serving.serve_listeners(listeners));
        TestServer {
            addr,
            stop,
            server,
            thread: Some(thread),
        }
    }

    pub fn hello() -> TestServer {
        TestServer::start(|ctx| ctx.set_body(b"Hello, World!"), |b| b)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Shuts down and waits (bounded) for `serve` to return.
    pub fn shutdown(mut self) -> Result<(), brisk_server::ServeError> {
        self.stop.shutdown();
        let t = self.thread.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "server did not stop within 20 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        t.join().expect("serve thread panicked")
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

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<binary>")
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(TcpStream::connect(addr).expect("connect"))
    }

    /// A client whose receive buffer is set to `bytes` before it connects,
    /// so a large response stays queued on the server's side.
    pub fn connect_with_recv_buffer(addr: SocketAddr, bytes: usize) -> Client {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        sock.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        sock.connect(&addr.into()).expect("connect");
        Client::over(sock.into())
    }

    fn over(stream: TcpStream) -> Client {
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

    /// Sends `req` and reads one response (`head` = it answers a HEAD).
    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.read_response()
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
    }

    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false).expect("a complete response")
    }

    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true).expect("a complete response")
    }

    /// Reads one response; `None` if the connection closed first.
    pub fn try_read_response(&mut self, head_only: bool) -> Option<Response> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])
                    .expect("ascii head")
                    .to_string();
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap();
                let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
                let headers: Vec<(String, String)> = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').expect("header colon");
                        (n.to_string(), v.trim().to_string())
                    })
                    .collect();
                let len: usize = if head_only || status == 204 || status == 304 || status < 200 {
                    0
                } else {
                    headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .map(|(_, v)| v.parse().unwrap())
                        .expect("content-length")
                };
                while self.buf.len() < end + 4 + len {
                    if !self.fill() {
                        return None;
                    }
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                return Some(Response {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                return None;
            }
        }
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

    /// Whether the server sent anything this client has not read yet (bytes,
    /// EOF or a reset), without waiting: a non-blocking peek.
    pub fn has_input(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream.set_nonblocking(true).unwrap();
        let r = self.stream.peek(&mut [0u8; 1]);
        self.stream.set_nonblocking(false).unwrap();
        !matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Waits until the server has read every byte this client sent so far:
    /// this client's send queue is empty (the server's kernel acknowledged
    /// the bytes, so they reached its socket) and the server's socket holds
    /// no unread byte (the server called `recv` for them). Both are read
    /// from `/proc/net/tcp` (Linux), polled until true; panics after 10 s.
    ///
    /// The event, not a delay: bytes sent after this returns reach the
    /// server in a later read than the bytes before it.
    pub fn wait_until_server_read(&self) {
        let me = self.stream.local_addr().unwrap().port();
        let server = self.stream.peer_addr().unwrap().port();
        let read = wait_until(Duration::from_secs(10), || {
            // (tx_queue, rx_queue) of the established socket local:remote.
            let queues = |table: &str, local: u16, remote: u16| {
                table.lines().skip(1).find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
                    if f.len() < 5 || port(f[1])? != local || port(f[2])? != remote || f[3] != "01"
                    {
                        return None;
                    }
                    let (tx, rx) = f[4].split_once(':')?;
                    Some((
                        u64::from_str_radix(tx, 16).ok()?,
                        u64::from_str_radix(rx, 16).ok()?,
                    ))
                })
            };
            // The kernel prints the table a page at a time; sockets opened
            // or closed meanwhile (thousands, when other tests run) can
            // shift a line out of the read. A socket not seen is "not
            // yet": the next poll reads the table again.
            let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
            match (queues(&table, me, server), queues(&table, server, me)) {
                (Some(client), Some(srv)) => client.0 == 0 && srv.1 == 0,
                _ => false,
            }
        });
        assert!(
            read,
            "the server did not read the bytes sent within 10 s (or the sockets never showed in /proc/net/tcp)"
        );
    }

    /// Whether the server closed the connection (EOF, or a reset) within 10 s.
    pub fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut tmp = [0u8; 1];
        match self.stream.read(&mut tmp) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Polls `cond` every 5 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

//! The backend the tests run on is the one serving: with
//! `BRISK_BACKEND=uring`, the `uring` feature and a kernel that has
//! io_uring, the server holds an io_uring instance (and answers); else it
//! falls back to epoll and still answers.

use brisk_server::Backend;

use crate::support::{TestServer, backend};

/// Counts this process's io_uring descriptors.
fn io_uring_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| t.to_string_lossy().contains("io_uring"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_configured_backend_serves() {
    let srv = TestServer::hello();
    let mut c = srv.connect();
    for _ in 0..3 {
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.body_str(), "Hello, World!");
    }
    let serving = srv.server.backend();
    if backend() == Backend::Uring {
        match Backend::Uring.available() {
            Ok(()) => {
                assert_eq!(serving, Backend::Uring);
                assert!(
                    io_uring_fds() >= 1,
                    "BRISK_BACKEND=uring and the probe passes, but no io_uring is open"
                );
            }
            Err(why) => {
                println!("io_uring unavailable here ({why}): served by epoll");
                assert_eq!(serving, Backend::Epoll);
            }
        }
    } else {
        assert_eq!(serving, Backend::Epoll);
    }
}

#[test]
fn pipelined_and_large_requests_survive_the_ring_buffers() {
    // Requests spread over several provided buffers (1 KiB each), and
    // responses larger than one send. The batch (about 48 KiB) stays under
    // what the io_uring loop lets a client write ahead of a blocked
    // response (64 KiB, `uring::io::RX_LIMIT`).
    let big = "x".repeat(100_000);
    let body = big.clone();
    let srv = TestServer::start(
        move |ctx| {
            let n = ctx.body().len();
            if ctx.path() == b"/big" {
                ctx.set_body(body.as_bytes());
            } else {
                ctx.set_body(format!("got {n}").as_bytes());
            }
        },
        |b| b.max_request_body_size(1 << 20),
    );
    let mut c = srv.connect();
    let upload = vec![b'u'; 16_000];
    let mut req = Vec::new();
    for _ in 0..3 {
        req.extend_from_slice(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 16000\r\n\r\n");
        req.extend_from_slice(&upload);
        req.extend_from_slice(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    c.send(&req);
    for _ in 0..3 {
        let r = c.read_response();
        assert_eq!((r.status, r.body_str()), (200, "got 16000"));
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len());
    }
}

#[test]
fn the_proxy_protocol_asked_on_io_uring_is_served_by_epoll() {
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        |b| {
            b.backend(Backend::Uring).proxy_protocol(
                brisk_server::ProxyPolicy::required().trust("127.0.0.1/32".parse().unwrap()),
            )
        },
    );
    let mut c = srv.connect();
    c.send(b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    assert_eq!(srv.server.backend(), Backend::Epoll);
}

//! Graceful shutdown: requests in flight are all answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{TestServer, wait_until};

#[test]
fn graceful_shutdown_answers_requests_in_flight() {
    let inside = Arc::new(AtomicUsize::new(0));
    let counter = inside.clone();
    let srv = TestServer::start(
        move |ctx| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            ctx.set_body(b"done");
        },
        |b| b.loops(2).blocking_threshold(Duration::from_millis(5)),
    );
    let idle = srv.connect();
    let mut busy: Vec<_> = (0..4).map(|_| srv.connect()).collect();
    for c in &mut busy {
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    assert!(wait_until(Duration::from_secs(5), || inside
        .load(Ordering::SeqCst)
        == 4));
    let stop = srv.stop.clone();
    let addr = srv.addr;
    let waiter = std::thread::spawn(move || srv.shutdown());
    std::thread::sleep(Duration::from_millis(20));
    assert!(stop.is_shutting_down());
    for c in &mut busy {
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"done");
        assert!(r.closes(), "in-flight responses carry Connection: close");
    }
    waiter.join().unwrap().expect("serve returns Ok");
    let mut idle = idle;
    assert!(idle.is_closed());
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "listener closed"
    );
}

#[test]
fn shutdown_before_serving_returns_at_once() {
    let server = brisk_server::Server::builder()
        .handler(|ctx| ctx.set_body(b"x"))
        .loops(1)
        .build()
        .unwrap();
    server.shutdown_handle().shutdown();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    server.serve(l).unwrap();
}

#[test]
fn builder_rejects_bad_settings_with_a_clear_error() {
    use brisk_server::{ConfigError, Server};
    let e = Server::builder().build().err().unwrap();
    assert_eq!(e, ConfigError::MissingHandler);
    let e = Server::builder()
        .handler(|_| {})
        .loops(0)
        .build()
        .err()
        .unwrap();
    assert!(e.to_string().contains("loops"), "{e}");
    let e = Server::builder()
        .handler(|_| {})
        .read_timeout(Duration::ZERO)
        .build()
        .err()
        .unwrap();
    assert!(matches!(
        e,
        ConfigError::ZeroTimeout {
            setting: "read_timeout"
        }
    ));
    let e = Server::builder()
        .handler(|_| {})
        .name("a\r\nb")
        .build()
        .err()
        .unwrap();
    assert_eq!(e, ConfigError::InvalidName);
}

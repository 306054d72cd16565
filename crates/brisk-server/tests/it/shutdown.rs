//! Graceful shutdown: requests in flight are all answered; new clients
//! are refused from the start of the drain.

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use crate::support::{TestServer, wait_until};

/// Four requests are inside the handler (each reported on a channel) when
/// the shutdown starts; the handlers are held on a gate the test opens
/// only once `is_shutting_down()` is observed true. So every one of them
/// was in flight when the shutdown began and answered after it: each
/// answer carries `Connection: close` (a response finished before the
/// shutdown would keep the connection alive).
#[test]
fn graceful_shutdown_answers_requests_in_flight() {
    let (entered_tx, entered) = mpsc::channel::<()>();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let handler_gate = gate.clone();
    let srv = TestServer::start(
        move |ctx| {
            entered_tx.send(()).unwrap();
            let (open, cv) = &*handler_gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            drop(open);
            ctx.set_body(b"done");
        },
        |b| b.loops(2).blocking_threshold(Duration::from_millis(5)),
    );
    let idle = srv.connect();
    let mut busy: Vec<_> = (0..4).map(|_| srv.connect()).collect();
    for c in &mut busy {
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for _ in 0..4 {
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("all four requests reach the handler");
    }
    let stop = srv.stop.clone();
    let addr = srv.addr;
    let waiter = std::thread::spawn(move || srv.shutdown());
    assert!(
        wait_until(Duration::from_secs(10), || stop.is_shutting_down()),
        "the shutdown starts"
    );
    // The listener closes when the drain starts, not when serving ends: a
    // new client is refused while the requests are still in flight (it
    // used to sit in the backlog until the process reset it at exit).
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
        }),
        "the listener closes once the drain starts"
    );
    // Only now may the handlers finish.
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
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
        "the listener stays closed"
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

//! A handler that blocks does not stall the other connections of its loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use crate::support::TestServer;

/// Holds the slow handler until the test releases it.
#[derive(Default)]
struct Release {
    released: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Release {
    fn release(&self) {
        let _g = self.lock.lock().unwrap();
        self.released.store(true, Ordering::SeqCst);
        self.cv.notify_all();
    }

    fn is_released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }
}

/// The slow handler sleeps (blocked on a condition variable) until released.
#[test]
fn blocking_handler_does_not_stall_a_fast_one_on_the_same_loop() {
    slow_handler_does_not_stall_a_fast_one(|r| {
        let mut g = r.lock.lock().unwrap();
        while !r.is_released() {
            g = r.cv.wait(g).unwrap();
        }
    });
}

/// A handler that computes until released (runnable, never sleeping) is
/// taken over like one that sleeps.
#[test]
fn cpu_bound_handler_does_not_stall_a_fast_one_on_the_same_loop() {
    slow_handler_does_not_stall_a_fast_one(|r| {
        let mut x = 0u64;
        while !r.is_released() {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    });
}

/// The slow handler runs until the test releases it, after the fast
/// requests were answered: they cannot have waited for it (a stalled loop
/// would leave them unanswered, and the client's read would time out).
fn slow_handler_does_not_stall_a_fast_one(work: fn(&Release)) {
    let release = Arc::new(Release::default());
    let (entered_tx, entered) = mpsc::channel::<()>();
    let r = release.clone();
    let srv = TestServer::start(
        move |ctx| {
            if ctx.path() == b"/slow" {
                entered_tx.send(()).unwrap();
                work(&r);
                ctx.set_body(b"slow");
            } else {
                // The thread that took the loop over runs with the normal
                // policy, not the monitor's (which created it).
                #[cfg(target_os = "linux")]
                // SAFETY: sched_getscheduler(0) only reads this thread's policy.
                assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
                ctx.set_body(b"fast");
            }
        },
        |b| b.loops(1).blocking_threshold(Duration::from_millis(2)),
    );
    let mut fast = srv.connect();
    assert_eq!(fast.get("/").body, b"fast"); // connected and served before

    let mut slow = srv.connect();
    slow.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the slow request reaches its handler");

    // The fast request completes while the slow handler is held.
    let r = fast.get("/");
    assert_eq!(r.body, b"fast");
    // A brand new connection is accepted and served too.
    let mut other = srv.connect();
    assert_eq!(other.get("/").body, b"fast");
    assert!(!slow.has_input(), "the slow request is still unanswered");

    release.release();
    let r = slow.read_response();
    assert_eq!(r.body, b"slow");
    // The slow connection keeps working afterwards.
    assert_eq!(slow.get("/").body, b"fast");
    assert_eq!(fast.get("/").body, b"fast");
}

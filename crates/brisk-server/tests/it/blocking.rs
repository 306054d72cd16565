//! A handler that blocks does not stall the other connections of its loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::TestServer;

#[test]
fn blocking_handler_does_not_stall_a_fast_one_on_the_same_loop() {
    slow_handler_does_not_stall_a_fast_one(|| std::thread::sleep(Duration::from_millis(400)));
}

/// A handler that computes for a long time (runnable, never sleeping) is
/// taken over like one that sleeps.
#[test]
fn cpu_bound_handler_does_not_stall_a_fast_one_on_the_same_loop() {
    slow_handler_does_not_stall_a_fast_one(|| {
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(400) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    });
}

fn slow_handler_does_not_stall_a_fast_one(work: fn()) {
    let slow_inside = Arc::new(AtomicBool::new(false));
    let flag = slow_inside.clone();
    let srv = TestServer::start(
        move |ctx| {
            if ctx.path() == b"/slow" {
                flag.store(true, Ordering::SeqCst);
                work();
                flag.store(false, Ordering::SeqCst);
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
    assert!(crate::support::wait_until(Duration::from_secs(5), || {
        slow_inside.load(Ordering::SeqCst)
    }));

    // The fast request completes while the slow handler is still running.
    let t = Instant::now();
    let r = fast.get("/");
    assert_eq!(r.body, b"fast");
    assert!(
        slow_inside.load(Ordering::SeqCst),
        "fast request finished only after the slow one ({:?})",
        t.elapsed()
    );

    // A brand new connection is accepted and served too.
    let mut other = srv.connect();
    assert_eq!(other.get("/").body, b"fast");
    assert!(slow_inside.load(Ordering::SeqCst));

    let r = slow.read_response();
    assert_eq!(r.body, b"slow");
    // The slow connection keeps working afterwards.
    assert_eq!(slow.get("/").body, b"fast");
    assert_eq!(fast.get("/").body, b"fast");
}

//! Zero heap allocations per request in steady state: a counting global
//! allocator around pipelined hello-world requests after warm-up.
//!
//! Its own test binary, so nothing else allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BATCH: usize = 16;
const REQ: &[u8] =
    b"GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: alloc-test\r\nAccept: */*\r\n\r\n";

fn round(c: &mut TcpStream, batch: &[u8], buf: &mut [u8]) {
    c.write_all(batch).unwrap();
    let mut got = 0;
    let mut seen = 0;
    while seen < BATCH {
        let n = c.read(&mut buf[got..]).unwrap();
        assert!(n > 0, "server closed");
        got += n;
        seen = buf[..got]
            .windows(13)
            .filter(|w| *w == b"Hello, World!")
            .count();
    }
}

static LOGGED: AtomicU64 = AtomicU64::new(0);

/// Takes the access lines and formats them into a buffer on the stack:
/// the logging path runs in full, without allocating.
struct StackLogger;

impl log::Log for StackLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == brisk_server::ACCESS_LOG_TARGET
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let mut line = [0u8; 512];
            let mut out = &mut line[..];
            let _ = write!(out, "{}", r.args());
            if out.len() < 512 {
                LOGGED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn flush(&self) {}
}

#[test]
fn steady_state_requests_do_not_allocate() {
    // One test in this binary, so nothing else allocates while it counts:
    // plain, then with metrics and the access log on.
    allocations_per_run(brisk_server::Server::builder());
    static LOGGER: StackLogger = StackLogger;
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let metrics = brisk_server::Metrics::new();
    allocations_per_run(
        brisk_server::Server::builder()
            .metrics(&metrics)
            .access_log(brisk_server::AccessLogFormat::Combined),
    );
    let served = metrics.snapshot().requests.total;
    assert!(served >= 700 * BATCH as u64, "{served}");
    assert_eq!(
        LOGGED.load(Ordering::Relaxed),
        served,
        "one access line each"
    );
}

fn allocations_per_run(builder: brisk_server::ServerBuilder) {
    let server = builder
        .handler(|ctx| {
            ctx.set_body(b"Hello, World!");
        })
        .loops(1)
        // A loop thread descheduled on a busy machine looks like a blocked
        // handler; a take-over moves the loop to a fresh thread, whose new
        // scratch allocates once. This test is about the request path, so
        // keep take-overs out of it.
        .blocking_threshold(Duration::from_secs(5))
        .build()
        .unwrap();
    let listeners = server.bind("127.0.0.1:0").unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let stop = server.shutdown_handle();
    let t = std::thread::spawn(move || server.serve_listeners(listeners));

    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let batch: Vec<u8> = REQ.repeat(BATCH);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..200 {
        round(&mut c, &batch, &mut buf);
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    let rounds = 500;
    for _ in 0..rounds {
        round(&mut c, &batch, &mut buf);
    }
    let allocs = ALLOCS.load(Ordering::SeqCst) - before;
    let requests = (rounds * BATCH) as u64;
    stop.shutdown();
    drop(c);
    t.join().unwrap().unwrap();
    // The client side of this test allocates nothing per round either; allow
    // a handful for unrelated runtime work (thread-local init, the monitor).
    assert!(
        allocs <= 8,
        "{allocs} heap allocations for {requests} requests: the request path allocates"
    );
}

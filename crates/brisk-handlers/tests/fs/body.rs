//! `RequestCtx::set_body_file` on its own: the connection's clone of the
//! file is dropped when the body is sent, when no body is sent (HEAD, 304),
//! and when the client goes away in the middle.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{TempDir, TestServer, pattern};

/// Waits (bounded) until `file` has `n` strong references.
fn wait_count(file: &Arc<std::fs::File>, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(file) != n {
        assert!(
            Instant::now() < deadline,
            "{what}: the connection still holds the file ({} references)",
            Arc::strong_count(file)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_file_is_released_when_done_or_when_the_client_leaves() {
    let dir = TempDir::new("body");
    let data = pattern(8 << 20);
    let path = dir.write("big.bin", &data);
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    let len = data.len() as u64;
    let served = file.clone();
    let s = TestServer::start(move |ctx| {
        let (off, n) = match ctx.path() {
            b"/slice" => (1000, 5000),
            b"/empty" => (0, 0),
            _ => (0, len),
        };
        if ctx.path() == b"/notmodified" {
            ctx.set_status(304);
        }
        ctx.set_body_file(served.clone(), off, n);
    });
    // The test's clone and the handler's.
    let base = 2;
    assert_eq!(Arc::strong_count(&file), base);

    let r = s.get("/all", &[]);
    assert!(r.body == data, "the whole file");
    wait_count(&file, base, "after a whole body");

    let r = s.get("/slice", &[]);
    assert_eq!(r.body, data[1000..6000]);
    assert_eq!(r.header("Content-Length"), Some("5000"));
    wait_count(&file, base, "after a slice");

    let r = s.request("HEAD", "/all", &[]);
    assert_eq!(r.header("Content-Length"), Some("8388608"));
    wait_count(&file, base, "after HEAD");

    let r = s.get("/notmodified", &[]);
    assert_eq!(r.status, 304);
    wait_count(&file, base, "after 304");

    let r = s.get("/empty", &[]);
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("0")));
    wait_count(&file, base, "after an empty slice");

    // A client that reads a little of 8 MiB and leaves.
    let mut c = s.connect();
    c.send("GET", "/all", &[]);
    let mut buf = [0u8; 4096];
    c.r.read_exact(&mut buf).unwrap();
    assert!(
        Arc::strong_count(&file) > base,
        "the body is still being sent"
    );
    drop(c);
    wait_count(&file, base, "after the client left mid-body");
}

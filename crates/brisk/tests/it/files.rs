//! The `files` example as a process: `--root DIR --port 0`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use super::{addr_of, example, start};

#[test]
fn files_example_serves_a_root_with_ranges() {
    let dir = std::env::temp_dir().join(format!("brisk-files-example-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("hello.txt"), "Hello, files!").unwrap();
    let root = dir.to_str().unwrap().to_string();
    let (_p, line) = start(
        "files",
        &["--root", &root, "--port", "0", "--loops", "1", "--listing"],
    );
    let addr = addr_of(&line);
    let (status, body) = super::get(addr, "/hello.txt");
    assert_eq!((status, body.as_str()), (200, "Hello, files!"));

    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=7-11\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    assert!(s.starts_with("HTTP/1.1 206"), "{s}");
    assert!(s.contains("Content-Range: bytes 7-11/13\r\n"), "{s}");
    assert!(s.ends_with("\r\n\r\nfiles"), "{s}");

    let (status, body) = super::get(addr, "/");
    assert_eq!(status, 200);
    assert!(
        body.contains("hello.txt") && body.contains("sub/"),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_example_needs_a_root() {
    let out = Command::new(example("files"))
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
    let out = Command::new(example("files"))
        .args(["--root", "/nonexistent/brisk", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable directory"));
}

//! curl as the reference client, where it is installed (`curl -r`,
//! `--compressed`, `-z`); skipped, with a note, where it is not.

use std::process::Command;

use brisk_handlers::fs::FileServer;

use crate::support::{TempDir, TestServer, pattern};

fn curl(args: &[&str]) -> Option<(String, Vec<u8>)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D", "-"])
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    Some((
        String::from_utf8_lossy(&out.stdout[..split]).into_owned(),
        out.stdout[split + 4..].to_vec(),
    ))
}

#[test]
fn curl_agrees() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed: curl_agrees skipped");
        return;
    }
    let root = TempDir::new("curl");
    let data = pattern(100_000);
    root.write("data.bin", &data);
    root.write("t.txt", b"plain text");
    // A real gzip member of "plain text" (so curl --compressed decodes it).
    root.write(
        "t.txt.gz",
        &[
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x2b, 0xc8, 0x49, 0xcc,
            0xcc, 0x53, 0x28, 0x49, 0xad, 0x28, 0x01, 0x00, 0xb8, 0x0f, 0x0b, 0x44, 0x0a, 0x00,
            0x00, 0x00,
        ],
    );
    let fs = FileServer::new(root.path()).unwrap();
    let s = TestServer::start(move |ctx| fs.serve(ctx));
    let url = |p: &str| format!("http://{}{p}", s.addr);

    let Some((head, body)) = curl(&["-r", "0-9", &url("/data.bin")]) else {
        return;
    };
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(head.contains("Content-Range: bytes 0-9/100000"), "{head}");
    assert_eq!(body, data[..10]);

    let (head, body) = curl(&["--compressed", &url("/t.txt")]).unwrap();
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert_eq!(
        body, b"plain text",
        "curl decoded the precompressed sibling"
    );

    let (head, body) = curl(&[&url("/data.bin")]).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, data);
    // -z DATE: If-Modified-Since; the file is older than the future date.
    let (head, body) = curl(&["-z", "Fri, 31 Dec 2100 00:00:00 GMT", &url("/data.bin")]).unwrap();
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(body.is_empty());
    let (head, _) = curl(&["-z", "Thu, 01 Jan 1970 00:00:01 GMT", &url("/data.bin")]).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

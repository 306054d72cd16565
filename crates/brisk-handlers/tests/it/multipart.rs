//! Multipart uploads over real connections: curl's `-F`, a hand-built body
//! sent in pieces (buffered, streamed with Content-Length, chunked), files
//! in temporary files that are removed afterwards, limits and malformed
//! bodies answered with their status.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use brisk_handlers::multipart::{Multipart, MultipartLimits};
use brisk_server::RequestCtx;

use crate::support::{TestServer, have_curl};

/// A directory of its own per test, so that leftovers are seen.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-mp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Answers with one line per part: `field NAME=VALUE` or
/// `file NAME FILENAME SIZE FNV PATH`, the files read back from their
/// temporary files.
fn upload_server(dir: PathBuf, limits: MultipartLimits) -> TestServer {
    let handler = move |ctx: &mut RequestCtx<'_>| {
        let form = match Multipart::new(limits).temp_dir(&dir).read(ctx) {
            Ok(f) => f,
            Err(e) => return ctx.error(&e.to_string(), e.status()),
        };
        let mut out = String::new();
        for f in form.fields() {
            out += &format!("field {}={}\n", f.name(), f.text().unwrap_or("<bin>"));
        }
        for f in form.files() {
            let bytes = f.content().read_all().expect("read the temp file back");
            assert_eq!(bytes.len() as u64, f.size());
            out += &format!(
                "file {} {} {} {:016x} {}\n",
                f.name(),
                f.filename(),
                f.size(),
                fnv(&bytes),
                f.content().path().display()
            );
        }
        ctx.set_body_string(&out);
    };
    TestServer::start(handler, |b| {
        b.stream_request_body(true).max_request_body_size(64 << 20)
    })
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The temporary paths named in an answer.
fn paths(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter(|l| l.starts_with("file "))
        .map(|l| PathBuf::from(l.rsplit(' ').next().unwrap()))
        .collect()
}

fn body(boundary: &str, file: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello there\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"d.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(file);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

fn file_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 ^ b'\r').collect()
}

#[test]
fn hand_built_body_in_pieces_buffered_streamed_and_chunked() {
    let dir = temp_dir("pieces");
    let server = upload_server(dir.clone(), MultipartLimits::default());
    for size in [100, 300_000] {
        let file = file_bytes(size);
        let b = body("a-B0undary", &file);
        let expect = format!(
            "field title=Hello there\nfile doc d.bin {size} {:016x} ",
            fnv(&file)
        );
        // Content-Length: small bodies are buffered, large ones streamed.
        let mut c = server.connect();
        c.send(
            format!(
                "POST /up HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; \
                 boundary=a-B0undary\r\nContent-Length: {}\r\n\r\n",
                b.len()
            )
            .as_bytes(),
        );
        for piece in b.chunks(b.len() / 7 + 1) {
            c.stream.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().starts_with(&expect), "{size}: {}", r.text());
        // Chunked: always streamed.
        c.send(
            b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; \
              boundary=\"a-B0undary\"\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for piece in b.chunks(1000) {
            c.send(format!("{:x}\r\n", piece.len()).as_bytes());
            c.send(piece);
            c.send(b"\r\n");
        }
        c.send(b"0\r\n\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.text().starts_with(&expect),
            "chunked {size}: {}",
            r.text()
        );
        // The connection goes on.
        let r = c.post("/up", "multipart/form-data; boundary=x", b"--x--");
        assert_eq!((r.status, r.text()), (200, ""));
        for p in paths(r.text()) {
            assert!(!p.exists());
        }
    }
    // Every temporary file was removed after its request.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn curl_form_upload() {
    if !have_curl() {
        eprintln!("note: curl is not installed; skipping the curl -F upload test");
        return;
    }
    let dir = temp_dir("curl");
    let server = upload_server(dir.clone(), MultipartLimits::default());
    let src = dir.join("upload source.bin");
    let file = file_bytes(150_000);
    std::fs::write(&src, &file).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-F",
            "title=from curl",
            "-F",
            "note=é ü",
        ])
        .arg("-F")
        .arg(format!(
            "doc=@{};filename=report.pdf;type=application/pdf",
            src.display()
        ))
        .arg(server.url("/up"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "field title=from curl\nfield note=é ü\nfile doc report.pdf 150000 {:016x} ",
            fnv(&file)
        )),
        "{text}"
    );
    let tmp = paths(&text);
    assert_eq!(tmp.len(), 1);
    assert!(tmp[0].starts_with(&dir) && !tmp[0].exists());
    std::fs::remove_file(&src).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn limits_and_malformed_bodies() {
    let dir = temp_dir("limits");
    let limits = MultipartLimits::default()
        .max_file_size(50_000)
        .max_field_size(64)
        .max_parts(3);
    let server = upload_server(dir.clone(), limits);
    let ct = "multipart/form-data; boundary=zz";
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (
            body("zz", &file_bytes(60_000)),
            ct,
            413,
            "multipart file is larger than 50000 bytes",
        ),
        (body("zz", &file_bytes(10)), ct, 200, "file doc d.bin 10 "),
        (
            format!(
                "--zz\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n{}\r\n--zz--",
                "x".repeat(65)
            )
            .into_bytes(),
            ct,
            413,
            "multipart field is larger than 64 bytes",
        ),
        (
            "--zz\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
                .repeat(4)
                .into_bytes(),
            ct,
            413,
            "multipart body has more than 3 parts",
        ),
        (
            body("zz", b"x")[..40].to_vec(),
            ct,
            400,
            "multipart body ended before its final boundary",
        ),
        (
            b"--zz\r\nContent-Type: text/plain\r\n\r\nx\r\n--zz--".to_vec(),
            ct,
            400,
            "multipart part headers: part has no Content-Disposition",
        ),
        (
            b"--zz--".to_vec(),
            "multipart/form-data",
            400,
            "multipart/form-data content type has no boundary parameter",
        ),
        (
            b"--zz--".to_vec(),
            "multipart/form-data; boundary=\"ab \"",
            400,
            "multipart boundary must be",
        ),
        (
            b"a=1".to_vec(),
            "application/x-www-form-urlencoded",
            415,
            "content type is not multipart/form-data",
        ),
    ];
    for (b, ct, status, msg) in cases {
        let mut c = server.connect();
        let r = c.post("/up", ct, &b);
        assert_eq!(r.status, status, "{msg}: {}", r.text());
        assert!(r.text().contains(msg), "{msg}: {}", r.text());
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "temporary files left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

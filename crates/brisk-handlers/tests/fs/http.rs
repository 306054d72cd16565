//! Statuses and headers: full, HEAD, ranges, preconditions, directories,
//! precompressed siblings, the cache, large files under backpressure.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use brisk_handlers::fs::{FileServer, serve_file};

use crate::support::{TempDir, TestServer, pattern};

fn server(
    root: &TempDir,
    f: impl FnOnce(brisk_handlers::fs::FileServerBuilder) -> brisk_handlers::fs::FileServerBuilder,
) -> (TestServer, FileServer) {
    let fs = f(FileServer::builder(root.path()))
        .build()
        .expect("file server");
    let h = fs.clone();
    (TestServer::start(move |ctx| h.serve(ctx)), fs)
}

#[test]
fn full_get_and_head() {
    let root = TempDir::new("full");
    let data = pattern(5000);
    root.write("a/data.bin", &data);
    root.write("page.html", b"<h1>hi</h1>");
    root.write("empty.txt", b"");
    let (s, _) = server(&root, |b| b.max_age(60));

    let r = s.get("/a/data.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("Content-Length"), Some("5000"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=60"));
    let etag = r.header("ETag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 6,
        "{etag}"
    );
    let lm = r.header("Last-Modified").unwrap();
    assert!(brisk_http::parse_http_date(lm.as_bytes()).is_some(), "{lm}");
    assert!(r.header("Vary").is_none(), "no siblings, no Vary");

    let h = s.request("HEAD", "/a/data.bin", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), Some("5000"));
    assert_eq!(h.header("ETag"), Some(etag));
    assert!(h.body.is_empty());

    let r = s.get("/page.html", &[]);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.text(), "<h1>hi</h1>");
    let r = s.get("/empty.txt", &[]);
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("0")));

    let r = s.get("/missing", &[]);
    assert_eq!(r.status, 404);
    let r = s.get("/page.html/", &[]);
    assert_eq!(r.status, 404, "a file named as a directory");
    let r = s.request("POST", "/page.html", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn keep_alive_pipelined_file_responses() {
    let root = TempDir::new("pipe");
    root.write("a.txt", b"first");
    root.write("b.txt", &pattern(70_000));
    let (s, _) = server(&root, |b| b);
    let mut c = s.connect();
    for _ in 0..3 {
        c.send("GET", "/a.txt", &[]);
        c.send("HEAD", "/b.txt", &[]);
        c.send("GET", "/b.txt", &[("Range", "bytes=10-19")]);
        c.send("GET", "/b.txt", &[]);
    }
    for _ in 0..3 {
        assert_eq!(c.read(false).text(), "first");
        let h = c.read(true);
        assert_eq!(h.header("Content-Length"), Some("70000"));
        assert_eq!(c.read(false).body, pattern(70_000)[10..20]);
        assert_eq!(c.read(false).body, pattern(70_000));
    }
}

#[test]
fn ranges() {
    let root = TempDir::new("ranges");
    let data = pattern(1000);
    root.write("f.bin", &data);
    let (s, _) = server(&root, |b| b);

    let r = s.get("/f.bin", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-9/1000"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.body, data[..10]);

    let r = s.get("/f.bin", &[("Range", "bytes=-100")]);
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (206, Some("bytes 900-999/1000"))
    );
    assert_eq!(r.body, data[900..]);
    let r = s.get("/f.bin", &[("Range", "bytes=990-5000")]);
    assert_eq!(r.header("Content-Range"), Some("bytes 990-999/1000"));
    assert_eq!(r.body, data[990..]);

    // Several: multipart/byteranges, in request order.
    let r = s.get("/f.bin", &[("Range", "bytes=0-1, 500-509,-3")]);
    assert_eq!(r.status, 206);
    let ct = r.header("Content-Type").unwrap().to_string();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    let parts = split_multipart(&r.body, boundary);
    let want: [(&str, &[u8]); 3] = [
        ("bytes 0-1/1000", &data[0..2]),
        ("bytes 500-509/1000", &data[500..510]),
        ("bytes 997-999/1000", &data[997..]),
    ];
    assert_eq!(parts.len(), 3);
    for ((head, body), (cr, bytes)) in parts.iter().zip(want) {
        assert!(head.contains(&format!("Content-Range: {cr}")), "{head}");
        assert!(
            head.contains("Content-Type: application/octet-stream"),
            "{head}"
        );
        assert_eq!(body, bytes);
    }
    // HEAD with several ranges: the head only (a range is not honoured
    // for HEAD: RFC 9110 defines range handling for GET).
    let h = s.request("HEAD", "/f.bin", &[("Range", "bytes=0-1,5-6")]);
    assert_eq!((h.status, h.header("Content-Length")), (200, Some("1000")));

    let r = s.get("/f.bin", &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));

    for ignored in ["bytes=9-1", "items=0-1", "bytes=abc", "bytes=0-600,400-999"] {
        let r = s.get("/f.bin", &[("Range", ignored)]);
        assert_eq!((r.status, r.body.len()), (200, 1000), "{ignored}");
    }
    let many = (0..17)
        .map(|i| format!("{i}-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let r = s.get("/f.bin", &[("Range", &format!("bytes={many}"))]);
    assert_eq!(
        (r.status, r.body.len()),
        (200, 1000),
        "17 ranges: the whole file"
    );
}

/// `(part head, part body)` of a multipart/byteranges body.
fn split_multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delim = format!("\r\n--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let find = |from: usize| {
        text[from..]
            .windows(delim.len())
            .position(|w| w == delim.as_bytes())
            .map(|i| i + from)
    };
    let mut at = find(0).expect("first boundary");
    assert_eq!(at, 0, "body starts with the boundary");
    loop {
        let pos = at + delim.len();
        if text[pos..].starts_with(b"--\r\n") {
            assert_eq!(pos + 4, text.len(), "nothing after the close delimiter");
            break;
        }
        let head_end = text[pos..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + pos;
        let head = String::from_utf8_lossy(&text[pos..head_end]).into_owned();
        let next = find(head_end + 4).expect("next boundary");
        parts.push((head, text[head_end + 4..next].to_vec()));
        at = next;
    }
    parts
}

#[test]
fn preconditions() {
    let root = TempDir::new("cond");
    root.write("f.txt", b"0123456789");
    let (s, _) = server(&root, |b| b.max_age(5));
    let r = s.get("/f.txt", &[]);
    let etag = r.header("ETag").unwrap().to_string();
    let lm = r.header("Last-Modified").unwrap().to_string();
    let weak = format!("W/{etag}");
    let old = "Thu, 01 Jan 1970 00:00:01 GMT";

    for (name, value) in [
        ("If-None-Match", etag.as_str()),
        ("If-None-Match", "*"),
        ("If-None-Match", weak.as_str()),
        ("If-Modified-Since", lm.as_str()),
    ] {
        let r = s.get("/f.txt", &[(name, value)]);
        assert_eq!(r.status, 304, "{name}: {value}");
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
        assert_eq!(r.header("Cache-Control"), Some("public, max-age=5"));
        assert!(r.header("Content-Length").is_none() && r.body.is_empty());
    }
    let r = s.get(
        "/f.txt",
        &[("If-None-Match", "\"other\""), ("If-Modified-Since", &lm)],
    );
    assert_eq!(r.status, 200, "If-None-Match wins over If-Modified-Since");
    let r = s.get("/f.txt", &[("If-Modified-Since", old)]);
    assert_eq!(r.status, 200);
    let r = s.get("/f.txt", &[("If-Modified-Since", "not a date")]);
    assert_eq!(r.status, 200);

    let r = s.get("/f.txt", &[("If-Match", "\"other\"")]);
    assert_eq!(r.status, 412);
    let r = s.get("/f.txt", &[("If-Match", &weak)]);
    assert_eq!(r.status, 412, "If-Match compares strongly");
    let r = s.get("/f.txt", &[("If-Match", &etag)]);
    assert_eq!(r.status, 200);
    let r = s.get("/f.txt", &[("If-Unmodified-Since", old)]);
    assert_eq!(r.status, 412);
    let r = s.get("/f.txt", &[("If-Unmodified-Since", &lm)]);
    assert_eq!(r.status, 200);

    let r = s.get("/f.txt", &[("Range", "bytes=2-3"), ("If-Range", &etag)]);
    assert_eq!((r.status, r.text().as_str()), (206, "23"));
    let r = s.get("/f.txt", &[("Range", "bytes=2-3"), ("If-Range", &lm)]);
    assert_eq!((r.status, r.text().as_str()), (206, "23"));
    let r = s.get(
        "/f.txt",
        &[("Range", "bytes=2-3"), ("If-Range", "\"stale\"")],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    let r = s.get("/f.txt", &[("Range", "bytes=2-3"), ("If-Range", old)]);
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
}

#[test]
fn directories_index_redirect_listing() {
    let root = TempDir::new("dirs");
    root.write("site/index.html", b"index!");
    root.write("docs/b.txt", b"b");
    root.write("docs/a <&>\".txt", b"a");
    root.write("docs/sub dir/x", b"x");
    root.write("docs/.hidden", b"h");
    root.write("docs/javascript:alert(1)", b"j");
    let (s, _) = server(&root, |b| b.listing(true));

    let r = s.get("/site/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "index!"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let r = s.get("/site?x=1", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/site/?x=1"));
    // Never a protocol-relative location (an open redirect).
    let r = s.get("//docs/sub%20dir", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/docs/sub%20dir/"));

    let r = s.get("/docs/", &[]);
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains("<a href=\"./a%20%3C%26%3E%22.txt\">a &lt;&amp;&gt;&quot;.txt</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"./sub%20dir/\">sub dir/</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"./javascript%3Aalert%281%29\">"),
        "{html}"
    );
    assert!(!html.contains("hidden"), "hidden files are not listed");
    let (a, b, sub) = (
        html.find("a &lt;").unwrap(),
        html.find(">b.txt<").unwrap(),
        html.find(">sub dir/<").unwrap(),
    );
    assert!(a < b && b < sub, "sorted: {html}");
    assert!(html.contains("<a href=\"../\">../</a>"));

    let (s2, _) = server(&root, |b| b);
    assert_eq!(s2.get("/docs/", &[]).status, 403, "no listing by default");
    assert_eq!(s2.get("/site/", &[]).status, 200);
    let (s3, _) = server(&root, |b| b.index_names(&[]).listing(false));
    assert_eq!(s3.get("/site/", &[]).status, 403, "no index names");
}

#[test]
fn precompressed_siblings() {
    let root = TempDir::new("sib");
    root.write("app.js", b"plain js");
    std::thread::sleep(Duration::from_millis(20));
    root.write("app.js.gz", b"gzip bytes");
    root.write("app.js.br", b"brotli bytes");
    root.write("solo.css", b"css");
    let (s, _) = server(&root, |b| b);

    let plain = s.get("/app.js", &[]);
    assert_eq!(plain.text(), "plain js");
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"));
    assert!(plain.header("Content-Encoding").is_none());
    assert_eq!(
        plain.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );

    let gz = s.get("/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.text(), "gzip bytes");
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gz.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(
        gz.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_ne!(gz.header("ETag"), plain.header("ETag"));

    let br = s.get("/app.js", &[("Accept-Encoding", "gzip, br, zstd")]);
    assert_eq!(
        (br.text().as_str(), br.header("Content-Encoding")),
        ("brotli bytes", Some("br"))
    );
    let q = s.get("/app.js", &[("Accept-Encoding", "br;q=0.5, gzip")]);
    assert_eq!(q.header("Content-Encoding"), Some("gzip"));
    let refused = s.get("/app.js", &[("Accept-Encoding", "identity;q=0, deflate")]);
    assert_eq!(
        refused.text(),
        "plain js",
        "nothing acceptable: identity anyway"
    );

    // The sibling's own ETag validates the sibling.
    let etag = gz.header("ETag").unwrap();
    let r = s.get(
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", etag)],
    );
    assert_eq!(r.status, 304);
    let r = s.get("/app.js", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 200, "the identity body has another ETag");

    // Ranges are of the file itself.
    let r = s.get(
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-4")],
    );
    assert_eq!((r.status, r.text().as_str()), (206, "plain"));
    assert!(r.header("Content-Encoding").is_none());
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));

    let css = s.get("/solo.css", &[("Accept-Encoding", "gzip")]);
    assert!(css.header("Vary").is_none() && css.header("Content-Encoding").is_none());
    assert_eq!(
        s.get("/app.js.gz", &[]).text(),
        "gzip bytes",
        "siblings are files too"
    );

    // Off: never.
    let (s2, _) = server(&root, |b| b.precompressed(false));
    let r = s2.get("/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.text(), "plain js");
    assert!(r.header("Vary").is_none());

    // A sibling older than the file is stale: not served.
    let root2 = TempDir::new("stale");
    root2.write("x.txt.gz", b"old gzip");
    std::thread::sleep(Duration::from_millis(20));
    root2.write("x.txt", b"new text");
    let (s3, _) = server(&root2, |b| b);
    let r = s3.get("/x.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.text(), "new text");
}

#[test]
fn cache_is_bounded_and_revalidated() {
    let root = TempDir::new("cache");
    for i in 0..200 {
        root.write(&format!("f{i}.txt"), format!("file {i}").as_bytes());
    }
    let (s, fs) = server(&root, |b| b.cache_entries(16));
    let mut c = s.connect();
    for i in 0..200 {
        c.send("GET", &format!("/f{i}.txt"), &[]);
        assert_eq!(c.read(false).text(), format!("file {i}"));
        assert!(fs.cached_entries() <= 16, "{} cached", fs.cached_entries());
    }
    assert!(fs.cached_entries() > 0);

    // With revalidation on every request, a changed file is seen at once.
    let (s, fs) = server(&root, |b| b.revalidate_after(Duration::ZERO));
    let a = s.get("/f1.txt", &[]);
    root.write("f1.txt", b"changed, longer");
    let b = s.get("/f1.txt", &[]);
    assert_eq!(b.text(), "changed, longer");
    assert_ne!(a.header("ETag"), b.header("ETag"));
    std::fs::remove_file(root.path().join("f1.txt")).unwrap();
    assert_eq!(s.get("/f1.txt", &[]).status, 404);
    assert_eq!(fs.cached_entries(), 0, "a missing file leaves the cache");

    // Within the window: a file changed in place is seen at once (the
    // cached descriptor is fstat-ed per request); one replaced by a rename
    // is seen only when the path is opened again (here: not for an hour),
    // and meanwhile the old file, still open, is served whole.
    let (s, _) = server(&root, |b| b.revalidate_after(Duration::from_secs(3600)));
    assert_eq!(s.get("/f2.txt", &[]).text(), "file 2");
    root.write("f2.txt", b"new");
    assert_eq!(s.get("/f2.txt", &[]).text(), "new", "changed in place");
    root.write("f2.tmp", b"renamed over");
    std::fs::rename(root.path().join("f2.tmp"), root.path().join("f2.txt")).unwrap();
    assert_eq!(s.get("/f2.txt", &[]).text(), "new", "cached for an hour");

    // No cache: every request opens the file.
    let (s, fs) = server(&root, |b| b.cache_entries(0));
    assert_eq!(s.get("/f3.txt", &[]).text(), "file 3");
    assert_eq!(fs.cached_entries(), 0);
}

/// An 8 MiB file to a client that reads slowly: the server sends it with
/// `sendfile` under backpressure (the socket fills, the loop waits for the
/// output edge and serves others meanwhile), and it arrives intact.
#[test]
fn large_file_to_a_slow_reader_arrives_intact() {
    let root = TempDir::new("large");
    let data = pattern(8 << 20);
    root.write("big.bin", &data);
    root.write("small.txt", b"small");
    let (s, _) = server(&root, |b| b);
    let mut slow = s.connect();
    slow.send("GET", "/big.bin", &[]);
    slow.send("GET", "/small.txt", &[]);
    // Read the head, then trickle.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut reads = 0;
    let want_total;
    {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            slow.r.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Length: 8388608\r\n"), "{head}");
        want_total = data.len();
    }
    while got.len() < want_total {
        let n = slow
            .r
            .read(&mut buf[..(want_total - got.len()).min(64 * 1024)])
            .unwrap();
        assert!(n > 0, "connection closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads % 16 == 0 {
            // Meanwhile the loop answers another client.
            assert_eq!(s.get("/small.txt", &[]).text(), "small");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(got == data, "the 8 MiB body differs");
    assert_eq!(
        slow.read(false).text(),
        "small",
        "the pipelined request after it"
    );
}

#[test]
fn serve_file_helper() {
    let root = TempDir::new("one");
    let p = root.write("report.pdf", &pattern(300));
    let p2 = Arc::new(p.clone());
    let dir = Arc::new(root.path().to_path_buf());
    let s = TestServer::start(move |ctx| match ctx.path() {
        b"/report" => serve_file(ctx, p2.as_path()),
        b"/dir" => serve_file(ctx, dir.as_path()),
        _ => serve_file(ctx, "/nonexistent/brisk/file"),
    });
    let r = s.get("/report", &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Type"), Some("application/pdf"));
    assert_eq!(r.body, pattern(300)[100..]);
    let etag = r.header("ETag").unwrap().to_string();
    assert_eq!(s.get("/report", &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(s.get("/dir", &[]).status, 404);
    assert_eq!(s.get("/x", &[]).status, 404);
}

#[test]
fn builder_misuse_is_a_typed_error() {
    let root = TempDir::new("misuse");
    root.write("f", b"");
    let e = FileServer::new(root.path().join("f")).unwrap_err();
    assert!(
        e.to_string().contains("must be a readable directory"),
        "{e}"
    );
    let e = FileServer::new(root.path().join("missing")).unwrap_err();
    assert!(matches!(e, brisk_handlers::fs::FsError::Root { .. }), "{e}");
    for bad in ["", "..", "a/b", "."] {
        let e = FileServer::builder(root.path())
            .index_names(&[bad])
            .build()
            .unwrap_err();
        assert!(
            matches!(e, brisk_handlers::fs::FsError::IndexName(_)),
            "{bad}: {e}"
        );
    }
    let e = FileServer::builder(root.path())
        .cache_control("no-store\r\nX: y")
        .build()
        .unwrap_err();
    assert!(
        matches!(e, brisk_handlers::fs::FsError::CacheControl(_)),
        "{e}"
    );
}

/// Wrapped in `compress`: a file body is sent as it is (it goes out with
/// sendfile, unread), a precompressed sibling still with its own
/// `Content-Encoding`, a multi-range 206 untouched.
#[test]
fn inside_compress_file_bodies_pass_unchanged() {
    let root = TempDir::new("compress");
    let text = "some text, ".repeat(500);
    root.write("a.txt", text.as_bytes());
    root.write("b.css", b"css plain");
    std::thread::sleep(Duration::from_millis(20));
    root.write("b.css.gz", b"css gz bytes");
    let fs = FileServer::new(root.path()).unwrap();
    let s = TestServer::start(brisk_handlers::compress::compress(move |ctx| fs.serve(ctx)));
    let r = s.get("/a.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Encoding").is_none());
    assert_eq!(r.text(), text);
    let r = s.get("/b.css", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        (r.header("Content-Encoding"), r.text().as_str()),
        (Some("gzip"), "css gz bytes")
    );
    let r = s.get(
        "/a.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-3,5-8")],
    );
    assert_eq!(r.status, 206);
    assert!(r.header("Content-Encoding").is_none());
    assert!(r.text().contains("some") && r.text().contains("text"));
}

//! `compress` over real sockets: negotiation, what is and is not
//! compressed, HEAD, streamed and pushed bodies, the cache, and request
//! decompression.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brisk_handlers::compress::{self, CacheKey, Compress, Decompress, Level, NotAcceptable};
use brisk_http::Coding;
use brisk_server::RequestCtx;

use crate::compress_support::{Client, Incremental, TestServer, decode, encode};

/// A 4 KiB-ish JSON body.
fn json() -> Vec<u8> {
    let mut s = String::from("[");
    for i in 0..60 {
        s.push_str(&format!(
            r#"{{"id":{i},"name":"item {i}","tags":["alpha","beta"],"ok":true}},"#
        ));
    }
    s.push_str("null]");
    s.into_bytes()
}

static STATIC_JSON: std::sync::LazyLock<&'static [u8]> =
    std::sync::LazyLock::new(|| Box::leak(json().into_boxed_slice()));

/// The routes the tests use.
fn app(ctx: &mut RequestCtx<'_>) {
    match ctx.path() {
        b"/json" => {
            ctx.set_content_type(b"application/json");
            ctx.set_body(&json());
        }
        b"/static" => {
            ctx.set_content_type(b"application/json");
            ctx.set_body_static(&STATIC_JSON);
        }
        b"/keyed" => {
            ctx.set_content_type(b"application/json");
            ctx.set_body(&json());
            ctx.set_user_value(CacheKey(7));
        }
        b"/small" => {
            ctx.set_content_type(b"application/json");
            ctx.set_body(b"{\"ok\":true}");
        }
        b"/png" => {
            ctx.set_content_type(b"image/png");
            ctx.set_body(&json());
        }
        b"/random" => {
            // Incompressible bytes: sent as they are.
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let body: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            ctx.set_content_type(b"text/plain");
            ctx.set_body(&body);
        }
        b"/etag" => {
            ctx.set_content_type(b"text/html");
            ctx.set_header(b"ETag", b"\"v1\"").unwrap();
            ctx.set_header(b"Vary", b"Origin, Accept-Encoding").unwrap();
            ctx.set_body(&json());
        }
        b"/encoded" => {
            ctx.set_content_type(b"text/plain");
            ctx.set_header(b"Content-Encoding", b"gzip").unwrap();
            ctx.set_body(&encode(Coding::Gzip, &json()));
        }
        b"/no-transform" => {
            ctx.set_header(b"Cache-Control", b"no-transform").unwrap();
            ctx.set_body(&json());
        }
        b"/204" => ctx.set_status(204),
        b"/304" => {
            ctx.set_status(304);
            ctx.set_header(b"ETag", b"\"v1\"").unwrap();
        }
        b"/206" => {
            ctx.set_status(206);
            ctx.set_header(b"Content-Range", b"bytes 0-99/5000")
                .unwrap();
            ctx.set_body(&json()[..100]);
        }
        b"/stream" => {
            ctx.set_content_type(b"text/plain");
            let mut n = 0;
            ctx.set_body_stream(move |w| {
                w.write(format!("line {n} of a streamed body\n").as_bytes());
                n += 1;
                n < 500
            });
        }
        b"/pushed-length" => {
            ctx.set_content_type(b"application/json");
            let body = json();
            let mut s = ctx.body_sender(Some(body.len() as u64));
            std::thread::spawn(move || {
                for piece in body.chunks(1000) {
                    s.write(piece).unwrap();
                }
                s.finish().unwrap();
            });
        }
        _ => {
            ctx.set_status(404);
            ctx.set_body(b"not found");
        }
    }
}

fn server() -> TestServer {
    TestServer::start(Compress::new().min_size(256).wrap(app))
}

#[test]
fn each_coding_decodes_to_the_original() {
    let srv = server();
    let mut c = srv.connect();
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
        for path in ["/json", "/static", "/keyed"] {
            let r = c.get(path, Some(coding.as_str()));
            assert_eq!(r.status, 200);
            assert_eq!(r.coding(), coding, "{path}");
            assert!(!r.chunked);
            assert_eq!(
                r.header("content-length")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                r.body.len()
            );
            assert!(
                r.body.len() < json().len() / 2,
                "{coding} {path}: {} bytes",
                r.body.len()
            );
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(decode(coding, &r.body), json(), "{coding} {path}");
        }
    }
}

#[test]
fn q_values_choose_the_coding() {
    let srv = server();
    let mut c = srv.connect();
    for (ae, want) in [
        ("gzip, deflate, br, zstd", Coding::Zstd),
        ("gzip, br", Coding::Br),
        ("gzip;q=1, br;q=0.5", Coding::Gzip),
        ("br;q=0, *", Coding::Zstd),
        ("*;q=0.1, deflate", Coding::Deflate),
        ("zstd;q=0, br;q=0, gzip;q=0.001", Coding::Gzip),
        ("identity", Coding::Identity),
        ("identity, gzip;q=0.5", Coding::Identity),
        ("compress", Coding::Identity),
        ("gzip;q=2", Coding::Identity),
    ] {
        let r = c.get("/json", Some(ae));
        assert_eq!(r.coding(), want, "Accept-Encoding: {ae}");
        assert_eq!(r.decoded(), json(), "Accept-Encoding: {ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{ae}");
    }
    let r = c.get("/json", None);
    assert_eq!((r.coding(), r.body.clone()), (Coding::Identity, json()));
    // Several Accept-Encoding lines are one list.
    c.send(b"GET /json HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0.5\r\nAccept-Encoding: br\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.coding(), Coding::Br);
    assert_eq!(r.decoded(), json());
}

#[test]
fn what_is_left_alone() {
    let srv = server();
    let mut c = srv.connect();
    let ae = Some("gzip, br, zstd");
    // Too small: not compressed, but the type is a candidate: Vary.
    let r = c.get("/small", ae);
    assert_eq!(
        (r.coding(), &r.body[..]),
        (Coding::Identity, &b"{\"ok\":true}"[..])
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // Not a compressible type: untouched, no Vary.
    let r = c.get("/png", ae);
    assert_eq!((r.coding(), r.body.clone()), (Coding::Identity, json()));
    assert_eq!(r.header("vary"), None);
    // Incompressible: sent as it is.
    let r = c.get("/random", ae);
    assert_eq!((r.coding(), r.body.len()), (Coding::Identity, 4096));
    // Already encoded by the handler: untouched.
    let r = c.get("/encoded", ae);
    assert_eq!(r.coding(), Coding::Gzip);
    assert_eq!(r.decoded(), json());
    assert_eq!(r.header("vary"), None);
    // Cache-Control: no-transform.
    let r = c.get("/no-transform", ae);
    assert_eq!((r.coding(), r.body.clone()), (Coding::Identity, json()));
    // No content, not modified, partial content.
    for path in ["/204", "/304"] {
        let r = c.get(path, ae);
        assert_eq!(r.coding(), Coding::Identity, "{path}");
        assert!(r.body.is_empty());
    }
    let r = c.get("/206", ae);
    assert_eq!(
        (r.status, r.coding(), r.body.clone()),
        (206, Coding::Identity, json()[..100].to_vec())
    );
}

#[test]
fn strong_etag_becomes_weak_and_vary_is_not_repeated() {
    let srv = server();
    let mut c = srv.connect();
    let r = c.get("/etag", Some("gzip"));
    assert_eq!(r.coding(), Coding::Gzip);
    assert_eq!(r.header("etag"), Some("W/\"v1\""));
    assert_eq!(r.all("vary"), ["Origin, Accept-Encoding"]);
    let r = c.get("/etag", None);
    assert_eq!(r.header("etag"), Some("\"v1\""));
}

#[test]
fn head_gets_the_head_get_gets() {
    let srv = server();
    let mut c = srv.connect();
    for path in ["/json", "/static", "/stream"] {
        let get = c.get(path, Some("br"));
        let head = c.method("HEAD", path, Some("br"));
        assert_eq!(head.coding(), Coding::Br, "{path}");
        assert!(head.body.is_empty());
        for name in [
            "content-length",
            "transfer-encoding",
            "content-encoding",
            "vary",
        ] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
    }
}

#[test]
fn nothing_acceptable_is_identity_or_406() {
    let srv = server();
    let mut c = srv.connect();
    for ae in ["identity;q=0", "*;q=0", "identity;q=0, compress"] {
        let r = c.get("/json", Some(ae));
        assert_eq!(
            (r.status, r.coding(), r.body.clone()),
            (200, Coding::Identity, json()),
            "{ae}"
        );
    }
    let strict = TestServer::start(
        Compress::new()
            .on_not_acceptable(NotAcceptable::Refuse)
            .wrap(app),
    );
    let mut c = strict.connect();
    let r = c.get("/json", Some("identity;q=0"));
    assert_eq!(r.status, 406);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // Something acceptable: no refusal.
    let r = c.get("/json", Some("identity;q=0, gzip"));
    assert_eq!((r.status, r.coding()), (200, Coding::Gzip));
}

#[test]
fn static_and_keyed_bodies_are_compressed_once_per_coding() {
    let cfg = Compress::new().min_size(256);
    let srv = TestServer::start(cfg.clone().wrap(app));
    let mut c = srv.connect();
    for _ in 0..3 {
        for coding in [Coding::Gzip, Coding::Br] {
            for path in ["/static", "/keyed"] {
                let r = c.get(path, Some(coding.as_str()));
                assert_eq!(r.decoded(), json());
            }
        }
    }
    let s = cfg.cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (4, 8, 4), "{s:?}");
    // Dynamic bodies are not cached.
    c.get("/json", Some("gzip"));
    assert_eq!(cfg.cache_stats().entries, 4);
}

#[test]
fn a_streamed_body_is_compressed_as_it_goes() {
    let srv = server();
    let mut c = srv.connect();
    let expected: Vec<u8> = (0..500)
        .flat_map(|n| format!("line {n} of a streamed body\n").into_bytes())
        .collect();
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
        let r = c.get("/stream", Some(coding.as_str()));
        assert_eq!(r.coding(), coding);
        assert!(r.chunked);
        assert!(
            r.body.len() < expected.len() / 4,
            "{coding}: {} bytes",
            r.body.len()
        );
        assert_eq!(decode(coding, &r.body), expected, "{coding}");
    }
    let r = c.get("/stream", None);
    assert_eq!((r.coding(), r.body.clone()), (Coding::Identity, expected));
}

#[test]
fn a_pushed_body_with_a_length_is_compressed_and_chunked() {
    let srv = server();
    let mut c = srv.connect();
    for coding in [Coding::Gzip, Coding::Zstd] {
        let r = c.get("/pushed-length", Some(coding.as_str()));
        assert_eq!(r.coding(), coding);
        assert!(r.chunked, "the declared length no longer holds");
        assert_eq!(r.header("content-length"), None);
        assert_eq!(decode(coding, &r.body), json());
    }
    let r = c.get("/pushed-length", None);
    assert_eq!(
        r.header("content-length"),
        Some(json().len().to_string().as_str())
    );
    assert_eq!(r.body, json());
}

#[test]
fn pushed_events_are_decodable_before_the_body_ends() {
    // The writer sends one event, then waits for the test to have decoded
    // it from what arrived, then sends the second and finishes.
    type Gate = Arc<Mutex<Option<mpsc::Receiver<()>>>>;
    let gate: Gate = Arc::new(Mutex::new(None));
    let g = gate.clone();
    let handler = move |ctx: &mut RequestCtx<'_>| {
        ctx.set_content_type(b"text/event-stream");
        let go = g.lock().unwrap().take().expect("a gate per request");
        let mut s = ctx.body_sender(None);
        std::thread::spawn(move || {
            s.write(b"data: first\n\n").unwrap();
            if go.recv_timeout(Duration::from_secs(10)).is_ok() {
                s.write(b"data: second\n\n").unwrap();
                s.finish().unwrap();
            }
        });
    };
    let srv = TestServer::start(compress::compress(handler));
    let mut c = srv.connect();
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
        let (tx, rx) = mpsc::channel();
        *gate.lock().unwrap() = Some(rx);
        c.send(
            format!("GET /events HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {coding}\r\n\r\n")
                .as_bytes(),
        );
        let (status, headers) = c.read_head();
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-encoding") && v == coding.as_str())
        );
        let mut dec = Incremental::new(coding);
        loop {
            let chunk = c.read_chunk().expect("the first event before the end");
            if dec.feed(&chunk) == b"data: first\n\n" {
                break;
            }
        }
        tx.send(()).unwrap();
        while let Some(chunk) = c.read_chunk() {
            dec.feed(&chunk);
        }
        assert_eq!(
            dec.feed(&[]),
            b"data: first\n\ndata: second\n\n",
            "{coding}"
        );
    }
}

/// Echoes what the handler sees of the request body.
fn echo(ctx: &mut RequestCtx<'_>) {
    let seen = format!(
        "len={} content-length={:?} content-encoding={:?}",
        ctx.body().len(),
        ctx.request_header().content_length(),
        ctx.header(b"content-encoding")
            .map(|v| String::from_utf8_lossy(v).into_owned()),
    );
    let digest: u64 = ctx.body().iter().map(|&b| u64::from(b)).sum();
    ctx.set_body(format!("{seen} sum={digest}").as_bytes());
}

fn post(c: &mut Client, ce: &str, body: &[u8]) -> crate::compress_support::Response {
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: t\r\nContent-Encoding: {ce}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    c.send(&req);
    c.read_response(false)
}

#[test]
fn request_bodies_are_decoded_for_the_handler() {
    let srv = TestServer::start(compress::decompress_requests(echo));
    let mut c = srv.connect();
    let body = json();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let want = format!(
        "len={0} content-length=Some({0}) content-encoding=None sum={sum}",
        body.len()
    );
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
        let r = post(&mut c, coding.as_str(), &encode(coding, &body));
        assert_eq!(
            (r.status, String::from_utf8_lossy(&r.body).into_owned()),
            (200, want.clone()),
            "{coding}"
        );
    }
    // x-gzip, identity and no header at all.
    let r = post(&mut c, "x-gzip", &encode(Coding::Gzip, &body));
    assert_eq!(String::from_utf8_lossy(&r.body), want);
    let r = post(&mut c, "identity", b"abc");
    assert!(
        String::from_utf8_lossy(&r.body)
            .starts_with("len=3 content-length=Some(3) content-encoding=Some(\"identity\")")
    );
    c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let r = c.read_response(false);
    assert!(
        String::from_utf8_lossy(&r.body)
            .starts_with("len=3 content-length=Some(3) content-encoding=None")
    );
}

#[test]
fn bombs_bad_data_and_unknown_codings_are_refused() {
    let srv = TestServer::start(
        Decompress::new()
            .max_size(64 * 1024)
            .max_ratio(50)
            .wrap(echo),
    );
    let mut c = srv.connect();
    // 1 MiB of zeros in a few hundred bytes: past the size limit.
    let zeros = vec![0u8; 1 << 20];
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
        let r = post(&mut c, coding.as_str(), &encode(coding, &zeros));
        assert_eq!(r.status, 413, "{coding}");
        // Under the size limit but past the ratio (20 KiB from a few dozen bytes).
        let r = post(
            &mut c,
            coding.as_str(),
            &encode(coding, &zeros[..20 * 1024]),
        );
        assert_eq!(r.status, 413, "{coding}: ratio");
        let r = post(
            &mut c,
            coding.as_str(),
            b"this is not compressed data at all",
        );
        assert_eq!(r.status, 400, "{coding}: garbage");
        assert!(String::from_utf8_lossy(&r.body).contains("does not decode"));
        let good = encode(coding, &json());
        let r = post(&mut c, coding.as_str(), &good[..good.len() / 2]);
        assert_eq!(r.status, 400, "{coding}: truncated");
    }
    // Trailing bytes after a complete gzip member.
    let mut trailing = encode(Coding::Gzip, &json());
    trailing.extend_from_slice(b"junk");
    assert_eq!(post(&mut c, "gzip", &trailing).status, 400);
    for ce in ["compress", "gzip, br", "snappy"] {
        let r = post(&mut c, ce, b"abc");
        assert_eq!(r.status, 415, "{ce}");
        assert_eq!(r.header("accept-encoding"), Some("zstd, br, gzip, deflate"));
    }
    // The connection is still usable after each refusal.
    let r = post(&mut c, "gzip", &encode(Coding::Gzip, b"fine"));
    assert!(String::from_utf8_lossy(&r.body).starts_with("len=4 "));
}

#[test]
fn a_streamed_request_body_is_read_then_decoded() {
    let srv = TestServer::with(
        Decompress::new()
            .max_size(1 << 20)
            .max_ratio(10_000)
            .wrap(echo),
        |b| b.stream_request_body(true).read_buffer_size(4096),
    );
    let mut c = srv.connect();
    let body: Vec<u8> = json().repeat(20);
    let encoded = encode(Coding::Zstd, &body);
    // Chunked upload: streamed to a worker thread.
    let mut req = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Encoding: zstd\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in encoded.chunks(100) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.send(&req);
    let r = c.read_response(false);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        text.starts_with(&format!(
            "len={0} content-length=Some({0}) content-encoding=None",
            body.len()
        )),
        "{text}"
    );
}

#[test]
fn compression_and_decompression_stack() {
    let srv = TestServer::start(compress::decompress_requests(
        Compress::new()
            .min_size(0)
            .level(Level::Fastest)
            .wrap(|ctx| {
                let body = ctx.body().to_vec();
                ctx.set_content_type(b"application/octet-stream; x=1");
                ctx.set_content_type(b"text/plain");
                ctx.set_body(&body);
            }),
    ));
    let mut c = srv.connect();
    let body = json();
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Encoding: br\r\nAccept-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        encode(Coding::Br, &body).len()
    )
    .into_bytes();
    req.extend_from_slice(&encode(Coding::Br, &body));
    c.send(&req);
    let r = c.read_response(false);
    assert_eq!((r.status, r.coding()), (200, Coding::Gzip));
    assert_eq!(r.decoded(), body);
}

#[test]
fn curl_compressed_decodes_each_coding() {
    let Ok(version) = std::process::Command::new("curl").arg("--version").output() else {
        eprintln!("note: curl is not installed; the curl check is skipped");
        return;
    };
    let features = String::from_utf8_lossy(&version.stdout).to_lowercase();
    let srv = server();
    let url = format!("http://{}/json", srv.addr);
    let mut codings = vec![(None, "gzip")];
    if features.contains("brotli") {
        codings.push((Some("br"), "br"));
    }
    if features.contains("zstd") {
        codings.push((Some("zstd"), "zstd"));
    }
    codings.push((Some("gzip"), "gzip"));
    for (ae, want) in codings {
        let dir = std::env::temp_dir().join(format!("brisk-compress-curl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let headers = dir.join("headers");
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "--compressed", "--max-time", "10", "-D"])
            .arg(&headers);
        if let Some(ae) = ae {
            cmd.args(["-H", &format!("Accept-Encoding: {ae}")]);
        }
        let out = cmd.arg(&url).output().expect("run curl");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, json(), "curl --compressed {ae:?}");
        let head = std::fs::read_to_string(&headers).unwrap().to_lowercase();
        let got = head
            .lines()
            .find_map(|l| l.strip_prefix("content-encoding:"))
            .map(str::trim)
            .unwrap_or("identity")
            .to_owned();
        // curl's own Accept-Encoding lists what it decodes; the server's
        // preference among equal weights is zstd, br, gzip.
        let expected = match ae {
            Some(_) => want,
            None if features.contains("zstd") => "zstd",
            None if features.contains("brotli") => "br",
            None => "gzip",
        };
        assert_eq!(got, expected, "curl --compressed {ae:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

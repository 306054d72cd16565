//! What the server refuses on its own, over real sockets: paths that cannot
//! be normalized, CONNECT, 1xx statuses from a handler; HEAD answers
//! without bodies; and every error response through the error hook.

use std::sync::{Arc, Mutex};

use brisk_server::ServerError;

use crate::support::{Client, TestServer};

/// What a handler or hook saw, shared with the test.
type Log<T> = Arc<Mutex<Vec<T>>>;

/// A server whose handler records `ctx.path()` and answers it, and whose
/// error hook records each error.
fn recording() -> (TestServer, Log<Vec<u8>>, Log<ServerError>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (p, e) = (paths.clone(), errors.clone());
    let srv = TestServer::start(
        move |ctx| {
            p.lock().unwrap().push(ctx.path().to_vec());
            let body = ctx.path().to_vec();
            ctx.set_body(&body);
        },
        move |b| {
            b.error_handler(move |ctx, err| {
                e.lock().unwrap().push(*err);
                ctx.set_body(err.reason().as_bytes());
            })
        },
    );
    (srv, paths, errors)
}

/// A path the handler sees is normalized: no `.` or `..` segment, no
/// empty segment but a trailing one, no NUL, no backslash, no overlong
/// UTF-8.
fn assert_clean(path: &[u8]) {
    assert!(
        path.starts_with(b"/"),
        "{:?}",
        path.escape_ascii().to_string()
    );
    let segs: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    for (i, s) in segs.iter().enumerate() {
        assert!(
            *s != b"." && *s != b".." && (!s.is_empty() || i + 1 == segs.len()),
            "segment {i} of {:?}",
            path.escape_ascii().to_string()
        );
    }
    assert!(!path.contains(&0) && !path.contains(&b'\\'));
    assert!(!path.contains(&0xc0) && !path.contains(&0xc1));
}

/// Traversal vectors: each is answered 400 before the handler, or reaches
/// it normalized (the path it must see is given).
#[test]
fn traversal_vectors_never_reach_the_handler_unnormalized() {
    let (srv, paths, errors) = recording();
    let cases: &[(&str, Option<&str>)] = &[
        // dot segments
        ("/a/../../x", Some("/x")),
        ("/./a/./b/.", Some("/a/b/")),
        ("/..", Some("/")),
        // encoded dots and slashes
        ("/%2e%2e/%2e%2e/etc/passwd", Some("/etc/passwd")),
        ("/a/%2E%2e/b", Some("/b")),
        ("/.%2e/.%2E/x", Some("/x")),
        ("/a%2f..%2f..%2fetc", Some("/etc")),
        ("/a%2F%2e%2e%2Fb", Some("/b")),
        ("//a///b", Some("/a/b")),
        // what cannot be normalized: 400, never the raw path
        ("/a/../../x%zz", None),
        ("/%2e%2e/%2e%2e/etc/passwd%zz", None),
        ("/a/%", None),
        ("/a/%4", None),
        // NUL
        ("/a/%00/b", None),
        ("/etc/passwd%00.png", None),
        // overlong UTF-8 forms of '.', '/' and '\'
        ("/%c0%ae%c0%ae/etc", None),
        ("/a%c0%af..%c0%afb", None),
        ("/%e0%80%ae%e0%80%ae/x", None),
        ("/%c1%9c", None),
        // backslashes, encoded or raw
        ("/a/..%5c..%5cetc", None),
        ("/a/%5C", None),
        ("/a\\..\\..\\etc", None),
    ];
    for (target, want) in cases {
        let before = paths.lock().unwrap().len();
        let mut c = srv.connect();
        let r = c.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        match want {
            Some(p) => {
                assert_eq!(r.status, 200, "{target}");
                assert_eq!(r.body_str(), *p, "{target}");
            }
            None => {
                assert_eq!(r.status, 400, "{target}");
                assert!(r.closes(), "{target}");
                assert_eq!(
                    paths.lock().unwrap().len(),
                    before,
                    "{target} reached the handler"
                );
            }
        }
    }
    for p in paths.lock().unwrap().iter() {
        assert_clean(p);
    }
    let errors = errors.lock().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ServerError::InvalidPath(_))),
        "{errors:?}"
    );
}

/// CONNECT is refused (501) and closes: the bytes after it (a tunnel's,
/// as a proxy in front would believe) are never parsed as requests.
#[test]
fn connect_is_refused_and_nothing_after_it_is_parsed() {
    let (srv, paths, errors) = recording();
    let mut c = srv.connect();
    c.send(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\
          GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 501);
    assert!(r.closes());
    assert!(r.header("content-length").is_some());
    assert!(r.header("transfer-encoding").is_none());
    assert!(c.is_closed(), "only one response, then the close");
    assert!(paths.lock().unwrap().is_empty(), "the handler never ran");
    assert_eq!(*errors.lock().unwrap(), [ServerError::ConnectRefused]);
}

/// No response to HEAD carries content, errors included.
#[test]
fn error_answers_to_head_have_no_body() {
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/panic" {
                panic!("expected by the test");
            }
            ctx.set_body(b"ok");
        },
        |b| b.max_request_body_size(10),
    );
    for (req, want) in [
        (&b"HEAD / HTTP/1.1\r\n\r\n"[..], 400),
        (&b"HEAD /panic HTTP/1.1\r\nHost: t\r\n\r\n"[..], 500),
        (
            &b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"[..],
            413,
        ),
        (&b"HEAD /%zz HTTP/1.1\r\nHost: t\r\n\r\n"[..], 400),
        (&b"HEAD / HTTP/1.7\r\nHost: t\r\n\r\n"[..], 505),
    ] {
        let mut c = srv.connect();
        c.send(req);
        let r = c.read_head_response();
        assert_eq!(r.status, want, "{}", req.escape_ascii());
        assert!(r.closes());
        assert!(c.is_closed(), "bytes after the head of a HEAD answer");
    }
    // A GET gets the same answer with its body.
    let mut c = srv.connect();
    let r = c.request(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(!r.body.is_empty());
    // An error before the method is not a HEAD request's, whatever follows
    // (found by the conn fuzz target: the answer depended on how much of
    // the rest had arrived).
    let mut c = srv.connect();
    let r = c.request(b"\n\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.body_str(), "line ended by lf without cr");
    assert!(c.is_closed());
}

/// A handler's 1xx status is never written: 500, closed, and what
/// follows on the connection is not parsed.
#[test]
fn informational_status_from_a_handler_is_refused() {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = errors.clone();
    let srv = TestServer::start(
        |ctx| {
            let code = std::str::from_utf8(&ctx.path()[1..])
                .unwrap()
                .parse()
                .unwrap_or(200);
            ctx.set_status(code);
            ctx.set_body(b"switched");
        },
        move |b| b.error_handler(move |_, err| e.lock().unwrap().push(*err)),
    );
    for code in [101u16, 100, 103, 199] {
        let mut c = srv.connect();
        c.send(
            format!("GET /{code} HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\n\r\nRAW BYTES").as_bytes(),
        );
        let r = c.read_response();
        assert_eq!(r.status, 500, "{code}");
        assert!(r.closes());
        assert!(c.is_closed());
    }
    assert_eq!(
        *errors.lock().unwrap(),
        [101, 100, 103, 199].map(ServerError::InformationalStatus)
    );
    // Other statuses go out as set.
    let mut c = srv.connect();
    assert_eq!(c.get("/204").status, 204);
    assert_eq!(c.get("/299").status, 299);
}

type Seen = (ServerError, u16, usize, Vec<u8>, Vec<u8>);

/// A server whose error hook records what it saw (the error, the status
/// and body length it started from, the request's method and path) and
/// answers JSON; it tries to turn a 500 into a 200, which is not allowed.
fn hooked(
    configure: impl FnOnce(brisk_server::ServerBuilder) -> brisk_server::ServerBuilder,
) -> (TestServer, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/panic" {
                panic!("expected by the test");
            }
            ctx.set_body(b"ok");
        },
        move |b| {
            configure(b).error_handler(move |ctx, err| {
                s.lock().unwrap().push((
                    *err,
                    ctx.status(),
                    ctx.response_body().len(),
                    ctx.method_bytes().to_vec(),
                    ctx.path().to_vec(),
                ));
                ctx.set_content_type(b"application/json");
                ctx.append_body(format!("{{\"error\":{}}}", err.status()).as_bytes());
                if err.status() == 500 {
                    ctx.set_status(200); // not allowed: stays 500
                }
            })
        },
    );
    (srv, seen)
}

/// A panicking handler's 500 goes through the hook, which sees the
/// request and starts from an empty body.
#[test]
fn a_panics_500_goes_through_the_hook() {
    let (srv, seen) = hooked(|b| b);
    let mut c = srv.connect();
    let r = c.get("/panic");
    assert_eq!((r.status, r.body_str()), (500, "{\"error\":500}"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(c.is_closed());
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            ServerError::HandlerPanicked,
            500,
            0,
            b"GET".to_vec(),
            b"/panic".to_vec()
        )]
    );
}

/// The 503 at the concurrency limit goes through the hook, with an empty
/// request (none was read).
#[test]
fn the_concurrency_limits_503_goes_through_the_hook() {
    let (srv, seen) = hooked(|b| b.concurrency(1));
    let mut held = srv.connect();
    assert_eq!(held.get("/").status, 200);
    let mut c = srv.connect();
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (503, "{\"error\":503}"));
    assert!(r.closes());
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            ServerError::TooManyConnections,
            503,
            0,
            Vec::new(),
            Vec::new()
        )]
    );
}

/// The per-IP limit's 429 goes through the hook too.
#[test]
fn per_ip_refusal_goes_through_the_hook() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"ok"),
        move |b| {
            b.max_conns_per_ip(1).error_handler(move |ctx, err| {
                s.lock().unwrap().push(*err);
                ctx.set_body(b"slow down");
            })
        },
    );
    let mut first = srv.connect();
    assert_eq!(first.get("/").status, 200);
    let mut c = Client::connect(srv.addr);
    let r = c.read_response();
    assert_eq!((r.status, r.body_str()), (429, "slow down"));
    assert_eq!(
        *seen.lock().unwrap(),
        [ServerError::TooManyConnectionsPerIp]
    );
}

/// 405 under `get_only` says what is allowed.
#[test]
fn method_not_allowed_says_allow() {
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.get_only(true));
    let mut c = srv.connect();
    let r = c.request(b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

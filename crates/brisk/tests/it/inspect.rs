//! The `inspect` example's handler, served on 127.0.0.1:0 and driven over
//! a real socket; its JSON read back with serde_json.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::InProcess;
use serde_json::{Value, json};

// The example file itself (its `main` and flag parsing go unused here).
#[allow(dead_code)]
#[path = "../../examples/inspect.rs"]
mod example;

/// A server running the example's handler; stops when dropped.
struct Inspect(InProcess);

impl Inspect {
    fn start() -> Inspect {
        Inspect(InProcess::start(example::handler))
    }
    fn connect(&self) -> Conn {
        let s = TcpStream::connect(self.0.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn { s, buf: Vec::new() }
    }
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

/// One response: status, headers (lower-case names), body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Conn {
    /// Sends `req` and reads one Content-Length framed response.
    fn request(&mut self, req: &[u8]) -> Resp {
        self.s.write_all(req).unwrap();
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("content-length");
        while self.buf.len() < end + 4 + len {
            self.fill();
        }
        let body = self.buf[end + 4..end + 4 + len].to_vec();
        self.buf.drain(..end + 4 + len);
        Resp {
            status,
            headers,
            body,
        }
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 4096];
        let n = self.s.read(&mut tmp).expect("read");
        assert!(n > 0, "closed before a whole response");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && matches!(self.s.read(&mut [0u8; 1]), Ok(0))
    }
}

/// Header pairs from the JSON, names lower-cased (the server normalizes
/// their case by default; the order and values are what matter).
fn header_pairs(v: &Value) -> Vec<(String, String)> {
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_ascii_lowercase(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn get_with_encoded_path_and_query_is_described() {
    let srv = Inspect::start();
    let mut c = srv.connect();
    let r = c.request(
        b"GET /caf%C3%A9/./x//y?q=a+b%26c&empty=&flag&bin=%FF%22&ctl=%00%0A%1F HTTP/1.1\r\n\
          Host: t\r\nX-First: 1\r\nx-second: two \"quoted\" \\ words\r\nX-First: again\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/café/x/y");
    assert_eq!(v["raw_path"], "/caf%C3%A9/./x//y");
    assert_eq!(
        v["query_string"],
        "q=a+b%26c&empty=&flag&bin=%FF%22&ctl=%00%0A%1F"
    );
    assert_eq!(
        v["query"],
        json!([
            ["q", "a b&c"],
            ["empty", ""],
            ["flag", ""],
            ["bin", "\u{ff}\""],
            ["ctl", "\u{0}\n\u{1f}"]
        ])
    );
    // The byte 0xFF (not UTF-8) is written as \u00ff, control bytes as
    // JSON escapes.
    let text = String::from_utf8(r.body.clone()).expect("the JSON is UTF-8");
    assert!(text.contains(r#"["bin","\u00ff\""]"#), "{text}");
    assert!(text.contains(r#"["ctl","\u0000\n\u001f"]"#), "{text}");
    assert_eq!(
        header_pairs(&v),
        [
            ("host", "t"),
            ("x-first", "1"),
            ("x-second", "two \"quoted\" \\ words"),
            ("x-first", "again"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(v["body_len"], 0);
    assert_eq!(v["version"], "HTTP/1.1");
    assert_eq!(v["conn_request_num"], 1);
    assert_eq!(
        v["remote_addr"],
        c.s.local_addr().unwrap().to_string(),
        "the client's own address"
    );
    // The next request on the connection is number 2.
    let v = c.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").json();
    assert_eq!(v["conn_request_num"], 2);
    assert_eq!(v["query"], json!([]));
    assert_eq!(v["query_string"], "");
}

#[test]
fn post_bodies_are_measured_in_both_framings() {
    let srv = Inspect::start();
    let mut c = srv.connect();
    let v = c
        .request(b"POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
        .json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/submit");
    assert_eq!(v["body_len"], 11);
    let v = c
        .request(
            b"PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        )
        .json();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["body_len"], 7, "the decoded length, not the framing's");
    assert_eq!(v["conn_request_num"], 2);
}

#[test]
fn http10_requests_are_described_and_closed() {
    let srv = Inspect::start();
    let mut c = srv.connect();
    let r = c.request(b"GET /old?x=1 HTTP/1.0\r\nUser-Agent: t/1\r\n\r\n");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["version"], "HTTP/1.0");
    assert_eq!(v["query"], json!([["x", "1"]]));
    assert_eq!(header_pairs(&v), [("user-agent".into(), "t/1".into())]);
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive closes");
}

/// `sleep_ms` delays the answer (no duration is asserted: only that the
/// answer comes, describing the request); a value that is not a number is
/// refused with 400 and a JSON error.
#[test]
fn sleep_ms_answers_after_sleeping_and_refuses_non_numbers() {
    let srv = Inspect::start();
    let mut c = srv.connect();
    let r = c.request(b"GET /slow?sleep_ms=20 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["query"], json!([["sleep_ms", "20"]]));
    // Percent-encoded digits are decoded first.
    let r = c.request(b"GET /slow?sleep_ms=%31 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    for bad in ["abc", "-5", "", "1.5", "%22%FF"] {
        let req = format!("GET /slow?sleep_ms={bad} HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.request(req.as_bytes());
        assert_eq!(r.status, 400, "sleep_ms={bad}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        assert!(v["error"].as_str().unwrap().contains("sleep_ms"), "{v}");
    }
}

/// `json_string` against an independent parser: valid UTF-8 reads back
/// unchanged; each byte outside valid UTF-8 reads back as U+00XX.
#[test]
fn json_strings_escape_any_bytes() {
    let cases: Vec<Vec<u8>> = vec![
        (0u8..=255).collect(),
        "plain ascii".into(),
        "quote \" backslash \\ slash / tab \t nl \n del \u{7f}".into(),
        "é ✓ 🦀 \u{2028}".into(),
        b"\xff\xfe mixed \xc3\xa9 \xc3 cut \xf0\x9f\xa6".to_vec(),
        Vec::new(),
    ];
    for bytes in cases {
        let mut out = String::new();
        example::json_string(&mut out, &bytes);
        let back: String = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{out:?} is not a JSON string: {e}"));
        let mut want = String::new();
        for chunk in bytes.utf8_chunks() {
            want.push_str(chunk.valid());
            want.extend(chunk.invalid().iter().map(|&b| char::from(b)));
        }
        assert_eq!(back, want, "{out}");
        assert!(
            !out[1..out.len() - 1].chars().any(|c| c < ' '),
            "raw control character in {out:?}"
        );
    }
}

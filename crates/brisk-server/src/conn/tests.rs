//! The connection state machine as a model: random pipelined requests, cut
//! at random points, read in random sizes, written under random budgets,
//! against an oracle that knows what each request must get.

use proptest::prelude::*;

use crate::mem::{MemConn, fnv1a, model_handler};
use crate::{Server, ServerBuilder};

const READ_BUFFER: usize = 256;
const MAX_BODY: usize = 4096;

fn builder() -> ServerBuilder {
    Server::builder()
        .handler(|ctx| model_handler(ctx, true))
        .loops(1)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(256)
        .max_request_body_size(MAX_BODY)
}

/// Request targets and the path the handler must see for each.
const TARGETS: &[(&str, &str)] = &[
    ("/", "/"),
    ("/a/b", "/a/b"),
    ("/a/./b/../c", "/a/c"),
    ("/x%20y", "/x y"),
    ("/q?x=1&y", "/q"),
    ("//double//slash/", "/double/slash/"),
    ("/%7Euser/%2e%2e/up", "/up"),
];

#[derive(Clone, Debug)]
enum Kind {
    /// A target of `TARGETS`: the describing body.
    Describe(usize),
    /// `/stream/N`.
    Stream(usize),
    /// `/big/N`.
    Big(usize),
    /// `/static/N`: a `'static` body, sent without a copy when large.
    Static(usize),
    /// `/file/O/N`: a file body, bytes `O..O+N` of the model file.
    File(usize, usize),
    /// `/close`: the handler closes.
    Close,
    /// `/panic`: 500, closes.
    Panic,
    /// `/status/N`.
    Status(u16),
}

#[derive(Clone, Debug)]
enum Framing {
    None,
    Length,
    /// Piece sizes; a chunk extension on each; trailers.
    Chunked(Vec<usize>, bool, bool),
}

#[derive(Clone, Debug)]
struct Req {
    head: bool,
    kind: Kind,
    body: Vec<u8>,
    framing: Framing,
    http10: bool,
    /// HTTP/1.0 `Connection: keep-alive`, or HTTP/1.1 `Connection: close`.
    conn_header: bool,
    expect: bool,
}

/// Requests the server refuses: framing or target errors.
#[derive(Clone, Copy, Debug)]
enum Bad {
    ChunkSize,
    BothLengths,
    Garbage,
    Path,
    Connect,
    TooLarge,
    HeadWithoutHost,
}

impl Bad {
    fn bytes(self) -> Vec<u8> {
        let s: &str = match self {
            Bad::ChunkSize => {
                "POST /c HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
            }
            Bad::BothLengths => {
                "POST /b HTTP/1.1\r\nHost: m\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
            }
            Bad::Garbage => "GARBAGE\x01 / HTTP/1.1\r\n\r\n",
            Bad::Path => "GET /a/../../x%zz HTTP/1.1\r\nHost: m\r\n\r\n",
            Bad::Connect => "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Bad::TooLarge => "POST /t HTTP/1.1\r\nHost: m\r\nContent-Length: 5000\r\n\r\n",
            Bad::HeadWithoutHost => "HEAD / HTTP/1.1\r\n\r\n",
        };
        s.as_bytes().to_vec()
    }

    fn status(self) -> u16 {
        match self {
            Bad::Connect => 501,
            Bad::TooLarge => 413,
            _ => 400,
        }
    }

    fn is_head(self) -> bool {
        matches!(self, Bad::HeadWithoutHost)
    }
}

impl Req {
    fn target(&self) -> String {
        match &self.kind {
            Kind::Describe(i) => TARGETS[*i].0.to_string(),
            Kind::Stream(n) => format!("/stream/{n}"),
            Kind::Big(n) => format!("/big/{n}"),
            Kind::Static(n) => format!("/static/{n}"),
            Kind::File(o, n) => format!("/file/{o}/{n}"),
            Kind::Close => "/close".into(),
            Kind::Panic => "/panic".into(),
            Kind::Status(s) => format!("/status/{s}"),
        }
    }

    fn path(&self) -> String {
        match &self.kind {
            Kind::Describe(i) => TARGETS[*i].1.to_string(),
            _ => self.target(),
        }
    }

    fn method(&self) -> &'static str {
        if self.head {
            "HEAD"
        } else if matches!(self.framing, Framing::None) {
            "GET"
        } else {
            "POST"
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut v = format!(
            "{} {} HTTP/1.{}\r\nHost: model\r\n",
            self.method(),
            self.target(),
            if self.http10 { 0 } else { 1 }
        )
        .into_bytes();
        if self.conn_header {
            v.extend_from_slice(if self.http10 {
                b"Connection: keep-alive\r\n"
            } else {
                b"Connection: close\r\n"
            });
        }
        if self.expect {
            v.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        match &self.framing {
            Framing::None => v.extend_from_slice(b"\r\n"),
            Framing::Length => {
                v.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
                );
                v.extend_from_slice(&self.body);
            }
            Framing::Chunked(pieces, ext, trailers) => {
                v.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = &self.body[..];
                let mut k = 0;
                while !rest.is_empty() {
                    let n = pieces
                        .get(k)
                        .copied()
                        .unwrap_or(rest.len())
                        .clamp(1, rest.len());
                    k += 1;
                    v.extend_from_slice(format!("{n:x}").as_bytes());
                    if *ext {
                        v.extend_from_slice(b";ext=\"v\"");
                    }
                    v.extend_from_slice(b"\r\n");
                    v.extend_from_slice(&rest[..n]);
                    v.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                v.extend_from_slice(b"0\r\n");
                if *trailers {
                    v.extend_from_slice(b"X-Trailer: done\r\n");
                }
                v.extend_from_slice(b"\r\n");
            }
        }
        v
    }

    /// Whether the connection stays open after this request's response.
    fn keeps_alive(&self) -> bool {
        let asked = if self.http10 {
            self.conn_header
        } else {
            !self.conn_header
        };
        let streamed_raw = self.http10 && matches!(self.kind, Kind::Stream(_)) && !self.head;
        asked
            && !streamed_raw
            && !matches!(self.kind, Kind::Close | Kind::Panic | Kind::Status(101))
    }
}

/// A response as the oracle sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resp {
    status: u16,
    body: Vec<u8>,
    closes: bool,
}

/// What the requests must get: one response per request up to and
/// including the first that ends the connection, nothing after.
fn oracle(reqs: &[Req], bad: Option<(usize, Bad)>) -> (Vec<Resp>, Vec<bool>) {
    let mut out = Vec::new();
    let mut heads = Vec::new();
    let mut served = 0;
    for i in 0..=reqs.len() {
        if let Some((at, b)) = bad {
            if at == i {
                out.push(Resp {
                    status: b.status(),
                    body: if b.is_head() {
                        Vec::new()
                    } else {
                        match b {
                            Bad::Connect => b"CONNECT is not supported".to_vec(),
                            Bad::TooLarge => b"request body too large".to_vec(),
                            Bad::Path => b"invalid request path".to_vec(),
                            _ => Vec::new(), // the parse error's reason: not predicted
                        }
                    },
                    closes: true,
                });
                heads.push(b.is_head());
                return (out, heads);
            }
        }
        let Some(r) = reqs.get(i) else { break };
        served += 1;
        let describe = format!(
            "{served} {} {} {} {:016x}\n",
            r.method(),
            r.path(),
            r.body.len(),
            fnv1a(&r.body)
        )
        .into_bytes();
        let closes = !r.keeps_alive();
        let (status, body) = match r.kind {
            Kind::Panic | Kind::Status(101) => (500, b"internal server error".to_vec()),
            Kind::Stream(n) => (
                200,
                (0..n.min(64))
                    .flat_map(|i| format!("piece {i};").into_bytes())
                    .collect(),
            ),
            Kind::Big(n) => (200, (0..n).map(|i| b'a' + (i % 26) as u8).collect()),
            Kind::Static(n) => (200, (0..n).map(|i| b'A' + (i % 26) as u8).collect()),
            Kind::File(o, n) => (200, crate::mem::PATTERN[o..o + n].to_vec()),
            Kind::Status(s @ (204 | 304)) => (s, Vec::new()),
            Kind::Status(s) => (s, describe),
            Kind::Describe(_) | Kind::Close => (200, describe),
        };
        let body = if r.head { Vec::new() } else { body };
        out.push(Resp {
            status,
            body,
            closes,
        });
        heads.push(r.head);
        if closes {
            break;
        }
    }
    (out, heads)
}

/// Splits the server's output into responses; `heads[i]` says whether the
/// i-th answers a HEAD request. Interim `100 Continue` responses are
/// skipped (counted in the second value).
fn parse(out: &[u8], heads: &[bool]) -> Result<(Vec<Resp>, usize), String> {
    let mut v = Vec::new();
    let mut continues = 0;
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("unterminated head: {:?}", rest.escape_ascii().to_string()))?;
        let head = std::str::from_utf8(&rest[..end]).map_err(|e| e.to_string())?;
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        if status == 100 {
            continues += 1;
            continue;
        }
        let mut len = None;
        let mut chunked = false;
        let mut closes = false;
        for l in lines {
            let (n, val) = l
                .split_once(": ")
                .ok_or_else(|| format!("bad field {l:?}"))?;
            match n.to_ascii_lowercase().as_str() {
                "content-length" => len = Some(val.parse::<usize>().map_err(|e| e.to_string())?),
                "transfer-encoding" => chunked = val == "chunked",
                "connection" => closes = val.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let is_head = heads.get(v.len()).copied().unwrap_or(false);
        let body = if is_head || status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            let mut body = Vec::new();
            loop {
                let e = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or("unterminated chunk size")?;
                let n = usize::from_str_radix(std::str::from_utf8(&rest[..e]).unwrap_or("?"), 16)
                    .map_err(|e| e.to_string())?;
                rest = &rest[e + 2..];
                if n == 0 {
                    rest = rest
                        .strip_prefix(b"\r\n")
                        .ok_or("no end after the last chunk")?;
                    break;
                }
                if rest.len() < n + 2 {
                    return Err("truncated chunk".into());
                }
                body.extend_from_slice(&rest[..n]);
                rest = &rest[n + 2..];
            }
            body
        } else if let Some(n) = len {
            if rest.len() < n {
                return Err(format!("truncated body: {} of {n}", rest.len()));
            }
            let b = rest[..n].to_vec();
            rest = &rest[n..];
            b
        } else {
            // Delimited by the close (a stream to HTTP/1.0).
            closes = true;
            std::mem::take(&mut rest).to_vec()
        };
        v.push(Resp {
            status,
            body,
            closes,
        });
    }
    Ok((v, continues))
}

/// How the bytes travel.
#[derive(Clone, Debug)]
struct Delivery {
    cuts: Vec<usize>,
    grants: Vec<usize>,
    read_size: usize,
    write_size: usize,
    budget: usize,
    hold_output: bool,
    close_at_end: bool,
}

fn req_strategy() -> impl Strategy<Value = Req> {
    let kind = prop_oneof![
        6 => (0..TARGETS.len()).prop_map(Kind::Describe),
        1 => (0usize..12).prop_map(Kind::Stream),
        1 => (0usize..1500).prop_map(Kind::Big),
        1 => (0usize..3000).prop_map(Kind::Static),
        1 => (0usize..5000, 0usize..3000).prop_map(|(o, n)| Kind::File(o, n)),
        1 => Just(Kind::Close),
        1 => Just(Kind::Panic),
        1 => prop::sample::select(vec![101u16, 204, 302, 304]).prop_map(Kind::Status),
    ];
    let framing = prop_oneof![
        3 => Just(Framing::None),
        2 => Just(Framing::Length),
        2 => (prop::collection::vec(1usize..400, 0..6), any::<bool>(), any::<bool>())
            .prop_map(|(p, e, t)| Framing::Chunked(p, e, t)),
    ];
    (
        kind,
        framing,
        prop::collection::vec(any::<u8>(), 0..4 * READ_BUFFER),
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(
            |(kind, framing, body, want_head, http10, conn_header, expect, head_ok)| {
                let mut framing = framing;
                // HTTP/1.0 has no chunked framing.
                if http10 && matches!(framing, Framing::Chunked(..)) {
                    framing = Framing::Length;
                }
                let head =
                    want_head && head_ok && matches!(kind, Kind::Describe(_) | Kind::File(..));
                if head {
                    framing = Framing::None;
                }
                let body = if matches!(framing, Framing::None) {
                    Vec::new()
                } else {
                    body
                };
                let expect = expect && !http10 && !matches!(framing, Framing::None);
                Req {
                    head,
                    kind,
                    body,
                    framing,
                    http10,
                    conn_header,
                    expect,
                }
            },
        )
}

fn bad_strategy() -> impl Strategy<Value = Bad> {
    prop::sample::select(vec![
        Bad::ChunkSize,
        Bad::BothLengths,
        Bad::Garbage,
        Bad::Path,
        Bad::Connect,
        Bad::TooLarge,
        Bad::HeadWithoutHost,
    ])
}

fn delivery_strategy() -> impl Strategy<Value = Delivery> {
    (
        prop::collection::vec(1usize..300, 1..40),
        prop::collection::vec(0usize..600, 1..20),
        0usize..80,
        0usize..80,
        0usize..600,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(cuts, grants, read_size, write_size, budget, hold_output, close_at_end)| Delivery {
                cuts,
                grants,
                read_size,
                write_size,
                budget,
                hold_output,
                close_at_end,
            },
        )
}

/// Runs `input` through a connection as `d` says; returns its output.
fn deliver(input: &[u8], d: &Delivery) -> Vec<u8> {
    let mut m = MemConn::new(builder());
    if let Some(io) = m.io() {
        io.read_size = d.read_size;
        io.write_size = d.write_size;
        io.write_budget = d.budget;
        io.hold_output = d.hold_output;
    }
    let mut pos = 0;
    let mut k = 0;
    while pos < input.len() {
        let n = d.cuts[k % d.cuts.len()];
        let end = (pos + n).min(input.len());
        m.send(&input[pos..end]);
        pos = end;
        m.grant(d.grants[k % d.grants.len()]);
        k += 1;
    }
    m.grant(usize::MAX);
    // Every response is out before the client closes: a client waits for
    // its responses, so one written only at its EOF would be a stall.
    let before_eof = m.output().len();
    if !d.close_at_end {
        // The client keeps the connection open: an idle connection holds
        // nothing.
        if let Some(c) = m.conn() {
            if c.is_idle() {
                assert!(c.holds_nothing(), "an idle connection holds a buffer");
            }
        }
    }
    m.close_input();
    assert!(m.is_closed(), "the client closed and took all output");
    assert_eq!(
        m.output().len(),
        before_eof,
        "responses written only at the client's EOF"
    );
    let out = m.output().to_vec();
    let stats = m.finish();
    assert_eq!(
        stats.gets, stats.puts,
        "buffers not back in the pool: {stats:?}"
    );
    out
}

fn check(reqs: &[Req], bad: Option<(usize, Bad)>, d: &Delivery) -> Result<(), TestCaseError> {
    let mut input = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        if let Some((at, b)) = bad {
            if at == i {
                input.extend_from_slice(&b.bytes());
            }
        }
        input.extend_from_slice(&r.bytes());
    }
    if let Some((at, b)) = bad {
        if at >= reqs.len() {
            input.extend_from_slice(&b.bytes());
        }
    }
    let (want, heads) = oracle(reqs, bad.map(|(at, b)| (at.min(reqs.len()), b)));
    let out = deliver(&input, d);
    let (got, continues) = parse(&out, &heads).map_err(TestCaseError::fail)?;
    if continues > 0 {
        prop_assert!(reqs.iter().any(|r| r.expect), "100 Continue without Expect");
    }
    prop_assert_eq!(
        got.len(),
        want.len(),
        "response count; output {:?}",
        out.escape_ascii().to_string()
    );
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        prop_assert_eq!(g.status, w.status, "status of response {}", i);
        let reason_unpredicted = w.status == 400 && w.body.is_empty() && !heads[i];
        if !reason_unpredicted {
            prop_assert_eq!(&g.body, &w.body, "body of response {}", i);
        }
        prop_assert_eq!(g.closes, w.closes, "Connection: close of response {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The model check: pipelined requests of every framing, bodies from
    /// 0 to 4x the read buffer, an error at a random point, cut and paced
    /// at random: the oracle's responses, in order, nothing after an
    /// error, every buffer back in the pool.
    #[test]
    fn pipelined_requests_get_the_oracles_responses(
        reqs in prop::collection::vec(req_strategy(), 1..8),
        bad in prop::option::weighted(0.4, (0usize..8, bad_strategy())),
        d in delivery_strategy(),
    ) {
        check(&reqs, bad, &d)?;
    }
}

/// A request that stops arriving is answered 408 at its read deadline
/// (HEAD: without a body), and the connection closes.
#[test]
fn partial_request_times_out_with_408() {
    for (req, head) in [
        (&b"GET / HTTP/1.1\r\nHost: m\r\n"[..], false),
        (&b"HEAD / HTTP/1.1\r\nHo"[..], true),
        (
            &b"POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 10\r\n\r\nabc"[..],
            false,
        ),
    ] {
        let mut m = MemConn::new(builder());
        assert!(m.send(req));
        let d = m.deadline().unwrap();
        assert!(m.advance(d - m.now_ms() - 1), "not before the deadline");
        assert!(m.output().is_empty());
        m.advance(1);
        let out = String::from_utf8_lossy(m.output()).into_owned();
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"), "{out}");
        assert_eq!(out.ends_with("request timeout"), !head, "{out}");
        m.close_input();
        assert!(m.is_closed());
        let s = m.finish();
        assert_eq!(s.gets, s.puts);
    }
}

/// Idle and new connections close quietly at their deadlines.
#[test]
fn idle_connections_close_quietly() {
    let mut m = MemConn::new(builder());
    let d = m.deadline().unwrap();
    assert!(!m.advance(d - m.now_ms()), "first-byte deadline closes");
    assert!(m.output().is_empty());

    let mut m = MemConn::new(builder());
    assert!(m.send(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n"));
    let answered = m.output().len();
    assert!(answered > 0);
    assert!(m.conn().unwrap().holds_nothing());
    let d = m.deadline().unwrap();
    assert!(!m.advance(d - m.now_ms()), "idle deadline closes");
    assert_eq!(m.output().len(), answered, "nothing sent at an idle close");
}

/// The drain closes an idle connection with a FIN and lingers: a request
/// that arrives after it (one that crossed the close) is read and
/// discarded, never answered and never met by a reset, until the client
/// closes or the linger deadline passes.
#[test]
fn an_idle_connection_closed_by_the_drain_lingers() {
    let req = b"GET / HTTP/1.1\r\nHost: m\r\n\r\n";
    for client_closes in [true, false] {
        let mut m = MemConn::new(builder());
        assert!(m.send(req));
        let answered = m.output().len();
        assert!(answered > 0);
        assert!(m.drain_idle(), "lingering, not closed");
        assert!(m.io().unwrap().write_shut, "a FIN at once");
        assert!(m.send(req), "the crossing request is read");
        assert_eq!(m.output().len(), answered, "and not answered");
        if client_closes {
            assert!(!m.close_input(), "the client's close ends the linger");
        } else {
            let d = m.deadline().unwrap();
            assert!(
                m.advance(d - m.now_ms() - 1),
                "lingering until the deadline"
            );
            assert!(!m.advance(1), "the deadline ends the linger");
        }
        assert_eq!(m.output().len(), answered);
        let b = m.finish();
        assert_eq!(b.gets, b.puts, "every buffer back");
    }
    // A connection that never sent a byte closes the same way.
    let mut m = MemConn::new(builder());
    assert!(m.drain_idle());
    assert!(!m.close_input());
    assert!(m.output().is_empty());
}

/// A client that never reads: the connection stops reading once its
/// output passes the bound, and holds one read and one write buffer.
#[test]
fn backpressure_stops_reading() {
    let mut m = MemConn::new(builder());
    if let Some(io) = m.io() {
        io.write_budget = 0;
    }
    let one = b"GET /big/100 HTTP/1.1\r\nHost: m\r\n\r\n";
    let all: Vec<u8> = one.iter().copied().cycle().take(200 * one.len()).collect();
    assert!(m.send(&all));
    let waiting = m.io().unwrap().inbox.len();
    assert!(waiting > 150 * one.len(), "it kept reading: {waiting} left");
    m.grant(usize::MAX);
    let n = m.output().windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert_eq!(n, 200);
}

/// A handler that hands its [`BodySender`](crate::BodySender) to the test,
/// with the declared length the request's path names (`/push/N`), or none.
fn push_server() -> (
    MemConn,
    std::sync::Arc<std::sync::Mutex<Vec<crate::BodySender>>>,
) {
    let senders = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = senders.clone();
    let m = MemConn::new(
        Server::builder()
            .handler(move |ctx| {
                if let Some(n) = ctx.path().strip_prefix(b"/push/") {
                    let len = std::str::from_utf8(n).ok().and_then(|n| n.parse().ok());
                    ctx.set_content_type(b"text/event-stream");
                    keep.lock().unwrap().push(ctx.body_sender(len));
                } else {
                    ctx.set_body(b"after");
                }
            })
            .loops(1)
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(256)
            .push_buffer_size(100),
    );
    (m, senders)
}

fn out_str(m: &MemConn) -> String {
    String::from_utf8_lossy(m.output()).into_owned()
}

/// A pushed chunked body: the head goes out at once, each write wakes the
/// connection and goes out as a chunk, the trailers end it, and the
/// request pipelined behind it is answered after it.
#[test]
fn pushed_body_is_sent_as_written_then_the_next_request() {
    let (mut m, senders) = push_server();
    m.send(b"GET /push/x HTTP/1.1\r\nHost: m\r\n\r\nGET /next HTTP/1.1\r\nHost: m\r\n\r\n");
    let head = out_str(&m);
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(
        head.ends_with("\r\n\r\n") && !head.contains("after"),
        "{head}"
    );
    let mut tx = senders.lock().unwrap().pop().unwrap();
    assert!(!m.is_woken(), "nothing written yet");
    tx.write(b"data: 1\n\n").unwrap();
    assert!(m.is_woken(), "a write wakes the waiting connection");
    m.wake_up();
    assert!(
        out_str(&m).ends_with("9\r\ndata: 1\n\n\r\n"),
        "{}",
        out_str(&m)
    );
    tx.write(b"data: 2\n\n").unwrap();
    m.wake_up();
    tx.finish_with_trailers(&[(b"X-Count", b"2")]).unwrap();
    m.wake_up();
    let out = out_str(&m);
    assert!(
        out.contains("9\r\ndata: 2\n\n\r\n0\r\nX-Count: 2\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{out}"
    );
    assert!(out.ends_with("after"), "{out}");
    m.close_input();
    let b = m.finish();
    assert_eq!(b.gets, b.puts);
}

/// A declared length: `Content-Length`, raw bytes, keep-alive; a write
/// past it is refused whole, and ending short closes the connection.
#[test]
fn pushed_body_with_a_declared_length() {
    let (mut m, senders) = push_server();
    m.send(b"GET /push/6 HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.write(b"abc").unwrap();
    assert_eq!(
        tx.write(b"defg").unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    tx.write(b"def").unwrap();
    tx.finish().unwrap();
    m.wake_up();
    let out = out_str(&m);
    assert!(
        out.contains("Content-Length: 6\r\n") && out.ends_with("\r\n\r\nabcdef"),
        "{out}"
    );
    assert!(
        !m.is_closed(),
        "a complete declared body keeps the connection"
    );

    m.send(b"GET /push/6 HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.write(b"ab").unwrap();
    assert_eq!(
        tx.finish().unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    m.wake_up();
    assert!(out_str(&m).ends_with("ab"));
    m.close_input();
    assert!(
        m.is_closed(),
        "a short body cannot complete: the connection closes"
    );
    let b = m.finish();
    assert_eq!(b.gets, b.puts);
}

/// A client that does not read holds the writer back: the queue fills,
/// `try_write` says `WouldBlock`, and the connection's own output stays
/// under its bound; reading lets both go on.
#[test]
fn pushed_body_backpressure_reaches_the_writer() {
    let (mut m, senders) = push_server();
    if let Some(io) = m.io() {
        io.write_budget = 0;
    }
    m.send(b"GET /push/x HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    let mut written = 0;
    loop {
        match tx.try_write(&[b'x'; 64]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        m.wake_up();
        assert!(written < 10_000, "the writer is never held back");
    }
    // The queue (100) plus what the connection took under its bound (192 of
    // output with the head and chunk framing).
    assert!(written <= 100 + 192, "{written} bytes accepted");
    m.grant(usize::MAX);
    m.wake_up();
    assert_eq!(tx.try_write(&[b'y'; 10]).unwrap(), 10, "room again");
    tx.finish().unwrap();
    m.wake_up();
    assert!(out_str(&m).ends_with("a\r\nyyyyyyyyyy\r\n0\r\n\r\n"));
}

/// The writer learns that the client went away, and a sender dropped
/// without finishing cuts the body short (no last chunk) and closes.
#[test]
fn pushed_body_reports_a_gone_client_and_a_dropped_sender() {
    let (mut m, senders) = push_server();
    m.send(b"GET /push/x HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.write(b"one").unwrap();
    m.wake_up();
    // The peer resets: the next send fails.
    if let Some(io) = m.io() {
        io.write_shut = true;
    }
    tx.write(b"two").unwrap();
    m.wake_up();
    assert!(m.is_closed());
    assert!(tx.is_closed());
    assert_eq!(
        tx.write(b"three").unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
    assert_eq!(
        tx.finish().unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );

    let (mut m, senders) = push_server();
    m.send(b"GET /push/x HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.write(b"partial").unwrap();
    drop(tx);
    m.wake_up();
    let out = out_str(&m);
    assert!(out.ends_with("7\r\npartial\r\n"), "no last chunk: {out}");
    m.close_input();
    assert!(m.is_closed());
    let b = m.finish();
    assert_eq!(b.gets, b.puts);
}

/// HEAD gets the head GET would get, and writes go nowhere.
#[test]
fn pushed_body_to_head_sends_the_head_only() {
    let (mut m, senders) = push_server();
    m.send(b"HEAD /push/5 HTTP/1.1\r\nHost: m\r\n\r\nGET /next HTTP/1.1\r\nHost: m\r\n\r\n");
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.write(b"12345").unwrap();
    tx.finish().unwrap();
    m.wake_up();
    let out = out_str(&m);
    assert!(out.contains("Content-Length: 5\r\n"), "{out}");
    assert!(!out.contains("12345") && out.ends_with("after"), "{out}");
}

/// A file body whose file is shorter than announced: what the file had
/// goes out, then the connection closes (the client sees a short body);
/// requests behind it are not answered.
#[test]
fn file_body_shorter_than_announced_closes() {
    let mut m = MemConn::new(Server::builder().loops(1).handler(|ctx| {
        let file = crate::mem::model_file();
        ctx.set_body_file(file, 65_530, 10);
    }));
    if let Some(io) = m.io() {
        io.write_budget = usize::MAX;
    }
    m.send(b"GET /a HTTP/1.1\r\nHost: m\r\n\r\nGET /b HTTP/1.1\r\nHost: m\r\n\r\n");
    assert!(m.is_closed(), "the connection closes");
    let out = out_str(&m);
    assert!(out.contains("Content-Length: 10\r\n"), "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(body.as_bytes(), &crate::mem::PATTERN[65_530..], "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
    let b = m.finish();
    assert_eq!(b.gets, b.puts);
}

/// A file body larger than one turn's quantum is sent over several turns
/// (the connection yields with `Next::Again`), whole and in order, and
/// the pipelined request behind it is answered after it.
#[test]
fn large_file_body_is_sent_over_turns() {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("brisk-big-file-{}", std::process::id()));
    let data: Vec<u8> = (0..3 * super::FILE_QUANTUM as usize + 17)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&data))
        .unwrap();
    let file = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
    let _ = std::fs::remove_file(&path);
    let len = data.len() as u64;
    let mut m = MemConn::new(Server::builder().loops(1).handler(move |ctx| {
        if ctx.path() == b"/big" {
            ctx.set_body_file(file.clone(), 0, len);
        } else {
            ctx.set_body(b"after");
        }
    }));
    if let Some(io) = m.io() {
        io.write_budget = 100;
    }
    m.send(b"GET /big HTTP/1.1\r\nHost: m\r\n\r\nGET /x HTTP/1.1\r\nHost: m\r\n\r\n");
    for _ in 0..10_000 {
        if m.output().ends_with(b"after") {
            break;
        }
        m.grant(64 * 1024);
    }
    let out = m.output().to_vec();
    let start = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&out[start..start + data.len()], &data[..]);
    assert!(out.ends_with(b"after"));
    m.close_input();
    let b = m.finish();
    assert_eq!(b.gets, b.puts);
}

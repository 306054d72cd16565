//! The access log: one record per response, in the common or combined log
//! format through the `log` crate, or handed to a closure.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use brisk_server::{AccessLogFormat, Server};
//!
//! // Lines in the combined format, at `info` on the target `brisk::access`
//! // (route that target to a file with your logger):
//! let server = Server::builder()
//!     .handler(|ctx| ctx.set_body(b"ok"))
//!     .access_log(AccessLogFormat::Combined)
//!     .build()
//!     .expect("valid configuration");
//! # drop(server);
//!
//! // Or your own sink, which sees the record borrowed (no allocation):
//! let lines = Arc::new(Mutex::new(Vec::new()));
//! let sink = lines.clone();
//! let server = Server::builder()
//!     .handler(|ctx| ctx.set_body(b"ok"))
//!     .access_log_handler(move |rec| {
//!         let mut line = Vec::new();
//!         rec.write_common(&mut line);
//!         sink.lock().unwrap().push(line);
//!     })
//!     .build()
//!     .expect("valid configuration");
//! # drop(server);
//! ```
//!
//! See [`AccessRecord`] for what is logged, and when.

use std::io::Write;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use brisk_http::{RequestHeader, Version};

use crate::metrics::Observer;

/// The `log` target of the built-in access log.
pub const ACCESS_LOG_TARGET: &str = "brisk::access";

/// A built-in access log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// The common log format:
    /// `127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a.gif HTTP/1.0" 200 2326`
    /// (see [`AccessRecord::write_common`]).
    Common,
    /// The combined log format: the common one, then the quoted referer
    /// and user agent (see [`AccessRecord::write_combined`]).
    Combined,
}

/// A closure that receives every access record (on the thread that sent
/// the response: keep it quick).
pub type AccessLogHandler = dyn Fn(&AccessRecord<'_>) + Send + Sync + 'static;

/// One response, as the access log sees it. Borrowed from the connection:
/// copy what you keep.
///
/// # What is logged, and when
///
/// Every response the server sends: the handler's, and the server's own
/// error responses (malformed requests, limits, the 408 of a timeout, a
/// panicking handler's 500, and the 503/429 of a connection refused at
/// accept, whose request part is `-`). A buffered response is logged when
/// it is queued on its connection, and its byte count is its full length;
/// a streamed body (`set_body_stream`, a `BodySender`) is logged when the
/// body ends, with the bytes produced, or, when the connection closes
/// first, with the bytes handed to the transport. The time is the second
/// (UTC) the request was answered, read once per batch of events.
///
/// Off, it costs a pointer test per response. On, the built-in formats
/// write into a buffer the thread reuses; nothing is allocated per request
/// except for a streamed response (its request line, referer and user
/// agent are copied, since the request's buffer is reused before the body
/// ends).
#[derive(Clone, Copy)]
pub struct AccessRecord<'a> {
    req: Req<'a>,
    remote: SocketAddr,
    conn_id: u64,
    status: u16,
    bytes_sent: u64,
    body_bytes: u64,
    duration: Option<Duration>,
    unix_secs: u64,
}

impl<'a> AccessRecord<'a> {
    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The connection's id (as the connection-state hook and
    /// `RequestCtx::conn_id` show it).
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }

    /// The request method as sent; `None` when the server answered before
    /// a head was parsed (a malformed request, a refused connection).
    pub fn method(&self) -> Option<&'a [u8]> {
        match self.req {
            Req::Unparsed => None,
            Req::Parsed { head, buf } => Some(head.method_span().get(buf)),
            Req::Copied(c) => Some(c.get(c.method)),
        }
    }

    /// The request target as sent (not normalized); `None` as for
    /// [`method`](Self::method).
    pub fn target(&self) -> Option<&'a [u8]> {
        match self.req {
            Req::Unparsed => None,
            Req::Parsed { head, buf } => Some(head.target().get(buf)),
            Req::Copied(c) => Some(c.get(c.target)),
        }
    }

    /// The request's protocol version; `None` as for [`method`](Self::method).
    pub fn version(&self) -> Option<Version> {
        match self.req {
            Req::Unparsed => None,
            Req::Parsed { head, .. } => Some(head.version()),
            Req::Copied(c) => Some(c.version),
        }
    }

    /// The `Referer` header, if sent.
    pub fn referer(&self) -> Option<&'a [u8]> {
        match self.req {
            Req::Unparsed => None,
            Req::Parsed { head, buf } => head.header(buf, b"referer"),
            Req::Copied(c) => c.referer.map(|r| c.get(r)),
        }
    }

    /// The `User-Agent` header, if sent.
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        match self.req {
            Req::Unparsed => None,
            Req::Parsed { head, buf } => head.user_agent().map(|s| s.get(buf)),
            Req::Copied(c) => c.user_agent.map(|r| c.get(r)),
        }
    }

    /// The response status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Bytes of the response: head and body (see the module docs for when
    /// they are counted).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes of the response body as sent (chunk framing included; 0 for
    /// HEAD and for statuses without content).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// From the event that completed the request to the response being
    /// queued (a streamed body: to its end); `None` for the server's own
    /// error responses.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// When the request was answered, in seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.unix_secs
    }

    /// Appends the common log format line (no newline):
    /// `host - - [day/Mon/year:HH:MM:SS +0000] "METHOD target VERSION" status bytes`.
    /// `bytes` is [`body_bytes`](Self::body_bytes), `-` when 0 (as
    /// Apache's `%b`); the request line is `-` when no head was parsed.
    /// Bytes outside printable ASCII, `"` and `\` are written as `\xHH`.
    pub fn write_common(&self, out: &mut Vec<u8>) {
        out.reserve(128);
        // Digits by hand: `core::fmt` would cost several times the rest.
        match self.remote.ip() {
            std::net::IpAddr::V4(ip) => {
                for (i, o) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    push_u64(out, u64::from(o));
                }
            }
            ip => {
                let _ = write!(out, "{ip}");
            }
        }
        out.extend_from_slice(b" - - [");
        write_clf_time(self.unix_secs, out);
        out.extend_from_slice(b"] \"");
        match (self.method(), self.target(), self.version()) {
            (Some(m), Some(t), Some(v)) => {
                escape(m, out);
                out.push(b' ');
                escape(t, out);
                out.extend_from_slice(match v {
                    Version::Http10 => b" HTTP/1.0",
                    Version::Http11 => b" HTTP/1.1",
                });
            }
            _ => out.push(b'-'),
        }
        out.extend_from_slice(b"\" ");
        push_u64(out, u64::from(self.status));
        out.push(b' ');
        if self.body_bytes == 0 {
            out.push(b'-');
        } else {
            push_u64(out, self.body_bytes);
        }
    }

    /// Appends the combined log format line (no newline): the common one,
    /// then ` "referer" "user-agent"` (`-` for one not sent).
    pub fn write_combined(&self, out: &mut Vec<u8>) {
        self.write_common(out);
        for v in [self.referer(), self.user_agent()] {
            out.extend_from_slice(b" \"");
            match v {
                Some(v) => escape(v, out),
                None => out.push(b'-'),
            }
            out.push(b'"');
        }
    }
}

impl std::fmt::Debug for AccessRecord<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = Vec::new();
        self.write_combined(&mut line);
        f.debug_tuple("AccessRecord")
            .field(&String::from_utf8_lossy(&line))
            .finish()
    }
}

/// Where a record's request comes from.
#[derive(Clone, Copy)]
enum Req<'a> {
    /// No head was parsed.
    Unparsed,
    /// The head, in the connection's buffer.
    Parsed {
        head: &'a RequestHeader,
        buf: &'a [u8],
    },
    /// Copied when a streamed response started.
    Copied(&'a Copied),
}

/// The request fields a streamed response's record needs, copied.
struct Copied {
    text: Vec<u8>,
    method: (u32, u32),
    target: (u32, u32),
    referer: Option<(u32, u32)>,
    user_agent: Option<(u32, u32)>,
    version: Version,
}

impl Copied {
    fn get(&self, (at, len): (u32, u32)) -> &[u8] {
        &self.text[at as usize..(at + len) as usize]
    }
}

/// Where the access log goes.
pub(crate) enum Sink {
    /// The `log` crate, target [`ACCESS_LOG_TARGET`], level `info`.
    Log(AccessLogFormat),
    /// The user's closure.
    Handler(Box<AccessLogHandler>),
}

/// A streamed response waiting for its body's end to be logged.
pub(crate) struct StreamLog {
    copied: Copied,
    remote: SocketAddr,
    conn_id: u64,
    status: u16,
    head_bytes: u64,
    /// Body bytes produced so far (framing included).
    pub(crate) body_bytes: u64,
    received: Instant,
    unix_secs: u64,
}

/// The response facts a record is made of, besides its request.
#[derive(Clone, Copy)]
pub(crate) struct Answer {
    pub(crate) remote: SocketAddr,
    pub(crate) conn_id: u64,
    pub(crate) status: u16,
    pub(crate) bytes_sent: u64,
    pub(crate) body_bytes: u64,
    pub(crate) received: Option<Instant>,
    pub(crate) unix_secs: u64,
}

impl StreamLog {
    /// Copies what the record of the streamed response to `head` needs;
    /// `a.bytes_sent` is the head's length.
    pub(crate) fn new(head: &RequestHeader, buf: &[u8], a: &Answer) -> Box<StreamLog> {
        let mut text = Vec::new();
        let mut put = |b: &[u8]| {
            let at = (text.len() as u32, b.len() as u32);
            text.extend_from_slice(b);
            at
        };
        let method = put(head.method_span().get(buf));
        let target = put(head.target().get(buf));
        let referer = head.header(buf, b"referer").map(&mut put);
        let user_agent = head.user_agent().map(|s| put(s.get(buf)));
        Box::new(StreamLog {
            copied: Copied {
                text,
                method,
                target,
                referer,
                user_agent,
                version: head.version(),
            },
            remote: a.remote,
            conn_id: a.conn_id,
            status: a.status,
            head_bytes: a.bytes_sent,
            body_bytes: 0,
            received: a.received.unwrap_or_else(Instant::now),
            unix_secs: a.unix_secs,
        })
    }

    /// Logs the stream's response; `unsent`: bytes of it still waiting in
    /// the output when the connection closed.
    pub(crate) fn finish(&self, obs: &mut Observer, unsent: usize) {
        let total = self.head_bytes + self.body_bytes;
        let sent = total.saturating_sub(unsent as u64);
        let rec = AccessRecord {
            req: Req::Copied(&self.copied),
            remote: self.remote,
            conn_id: self.conn_id,
            status: self.status,
            bytes_sent: sent,
            body_bytes: sent.saturating_sub(self.head_bytes),
            duration: Some(self.received.elapsed()),
            unix_secs: crate_unix_secs().max(self.unix_secs),
        };
        emit(obs, &rec);
    }
}

fn crate_unix_secs() -> u64 {
    brisk_http::date::unix_secs()
}

/// Logs a response whose request head is `head` (in `buf`), or none.
pub(crate) fn log_response(obs: &mut Observer, head: Option<(&RequestHeader, &[u8])>, a: &Answer) {
    let rec = AccessRecord {
        req: match head {
            Some((head, buf)) => Req::Parsed { head, buf },
            None => Req::Unparsed,
        },
        remote: a.remote,
        conn_id: a.conn_id,
        status: a.status,
        bytes_sent: a.bytes_sent,
        body_bytes: a.body_bytes,
        duration: a.received.map(|r| r.elapsed()),
        unix_secs: a.unix_secs,
    };
    emit(obs, &rec);
}

/// Hands `rec` to the sink.
fn emit(obs: &mut Observer, rec: &AccessRecord<'_>) {
    let Some(sink) = obs.log.clone() else {
        return;
    };
    match &*sink {
        Sink::Log(format) => {
            if !log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info) {
                return;
            }
            let line = &mut obs.line;
            line.clear();
            match format {
                AccessLogFormat::Common => rec.write_common(line),
                AccessLogFormat::Combined => rec.write_combined(line),
            }
            // Escaped to ASCII by the formatters: always valid UTF-8.
            if let Ok(line) = std::str::from_utf8(line) {
                log::info!(target: ACCESS_LOG_TARGET, "{line}");
            }
        }
        Sink::Handler(f) => {
            if catch_unwind(AssertUnwindSafe(|| f(rec))).is_err() {
                log::error!(
                    "conn {}: the access log handler panicked; the record is lost",
                    rec.conn_id
                );
            }
        }
    }
}

/// Appends `b`, with bytes outside printable ASCII, `"` and `\` as `\xHH`.
fn escape(mut b: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let plain = |c: &u8| (0x20..0x7f).contains(c) && *c != b'"' && *c != b'\\';
    while !b.is_empty() {
        // Runs of plain bytes in one copy; the rest byte by byte.
        let run = b.iter().position(|c| !plain(c)).unwrap_or(b.len());
        out.extend_from_slice(&b[..run]);
        if let Some(&c) = b.get(run) {
            out.extend_from_slice(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            b = &b[run + 1..];
        } else {
            b = &[];
        }
    }
}

/// Appends `10/Oct/2000:13:55:36 +0000` for `unix_secs` (UTC).
fn write_clf_time(unix_secs: u64, out: &mut Vec<u8>) {
    thread_local! {
        /// The last second formatted on this thread, and its text: lines
        /// come many to a second.
        static LAST: std::cell::Cell<(u64, [u8; CLF_TIME_LEN])> =
            const { std::cell::Cell::new((u64::MAX, [0; CLF_TIME_LEN])) };
    }
    let (secs, text) = LAST.with(|c| c.get());
    if secs == unix_secs {
        out.extend_from_slice(&text);
        return;
    }
    let start = out.len();
    format_clf_time(unix_secs, out);
    if let Ok(text) = <[u8; CLF_TIME_LEN]>::try_from(&out[start..]) {
        LAST.with(|c| c.set((unix_secs, text)));
    }
}

/// The length of `10/Oct/2000:13:55:36 +0000` (years 1000..=9999).
const CLF_TIME_LEN: usize = 26;

/// [`write_clf_time`] without the cache.
fn format_clf_time(unix_secs: u64, out: &mut Vec<u8>) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    push_digits(out, d, 2);
    out.push(b'/');
    out.extend_from_slice(MONTHS[(m - 1) as usize]);
    out.push(b'/');
    push_digits(out, y, 4);
    for v in [secs / 3600, secs / 60 % 60, secs % 60] {
        out.push(b':');
        push_digits(out, v, 2);
    }
    out.extend_from_slice(b" +0000");
}

/// Appends `n` in decimal.
fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = 1;
    let mut m = n;
    while m >= 10 {
        m /= 10;
        digits += 1;
    }
    push_digits(out, n, digits);
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01
/// (the proleptic Gregorian calendar, counted in 400-year eras).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: u64) -> String {
        let mut v = Vec::new();
        write_clf_time(secs, &mut v);
        // Again: from the thread's cache this time.
        let mut again = Vec::new();
        write_clf_time(secs, &mut again);
        assert_eq!(v, again);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clf_times() {
        assert_eq!(time(0), "01/Jan/1970:00:00:00 +0000");
        // Apache's documentation example.
        assert_eq!(time(971_186_136), "10/Oct/2000:13:55:36 +0000");
        // A leap day, and the last second of a century's leap year.
        assert_eq!(time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(time(978_307_199), "31/Dec/2000:23:59:59 +0000");
        assert_eq!(time(4_107_542_400), "01/Mar/2100:00:00:00 +0000");
    }

    #[test]
    fn civil_days_match_a_day_by_day_count() {
        // Walk 1970..2401 a day at a time and compare.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..157_000u64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn decimal_digits() {
        let mut v = Vec::new();
        for n in [0, 7, 10, 99, 100, 65_535, u64::MAX] {
            v.clear();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
        v.clear();
        push_digits(&mut v, 5, 2);
        push_digits(&mut v, 1970, 4);
        assert_eq!(v, b"051970");
    }

    #[test]
    fn escaping() {
        let mut v = Vec::new();
        escape(b"/a b\"c\\d\x01\xff~", &mut v);
        assert_eq!(v, b"/a b\\x22c\\x5Cd\\x01\\xFF~");
    }

    #[test]
    fn lines_for_a_parsed_head_and_for_none() {
        let raw = b"GET /x?y=1 HTTP/1.0\r\nUser-Agent: t/1\r\nReferer: http://r/\r\n\r\n";
        let mut head = RequestHeader::new();
        let mut p = brisk_http::RequestParser::new(brisk_http::Limits::default());
        assert!(matches!(
            p.parse(raw, &mut head),
            Ok(brisk_http::Status::Complete(_))
        ));
        let a = Answer {
            remote: "10.0.0.1:5000".parse().unwrap(),
            conn_id: 1,
            status: 200,
            bytes_sent: 100,
            body_bytes: 13,
            received: None,
            unix_secs: 971_186_136,
        };
        let rec = AccessRecord {
            req: Req::Parsed {
                head: &head,
                buf: raw,
            },
            remote: a.remote,
            conn_id: 1,
            status: 200,
            bytes_sent: 100,
            body_bytes: 13,
            duration: None,
            unix_secs: a.unix_secs,
        };
        let mut line = Vec::new();
        rec.write_combined(&mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /x?y=1 HTTP/1.0\" 200 13 \
             \"http://r/\" \"t/1\""
        );
        // The same record from a copy (a streamed response).
        let copy = StreamLog::new(&head, raw, &a);
        let rec2 = AccessRecord {
            req: Req::Copied(&copy.copied),
            ..rec
        };
        let (mut l1, mut l2) = (Vec::new(), Vec::new());
        rec.write_combined(&mut l1);
        rec2.write_combined(&mut l2);
        assert_eq!(l1, l2);

        let none = AccessRecord {
            req: Req::Unparsed,
            status: 400,
            body_bytes: 0,
            ..rec
        };
        let mut line = Vec::new();
        none.write_combined(&mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"-\" 400 - \"-\" \"-\""
        );
    }
}

//! Test-side helpers: a small request serializer and a response-head
//! parser (the crate only parses requests and writes responses).

use brisk_http::{BodyKind, Limits, RequestHeader, RequestParser, Status, Version};

/// A request as the generators describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub version: Version,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: BodyKind,
}

impl Req {
    /// The request head on the wire, framing headers included.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(match self.version {
            Version::Http10 => b" HTTP/1.0\r\n",
            Version::Http11 => b" HTTP/1.1\r\n",
        });
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        match self.body {
            BodyKind::None => {}
            BodyKind::Length(n) => {
                out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            BodyKind::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// What parsing `buf` (from [`Req::serialize`]) gave back.
    pub fn from_parsed(buf: &[u8], h: &RequestHeader) -> Req {
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = h
            .headers()
            .iter()
            .map(|f| (f.name.get(buf).to_vec(), f.value.get(buf).to_vec()))
            .collect();
        // The framing header is described by `body`, not listed.
        if h.body_kind() != BodyKind::None {
            headers.pop();
        }
        Req {
            method: h.method_span().get(buf).to_vec(),
            target: h.target().get(buf).to_vec(),
            version: h.version(),
            headers,
            body: h.body_kind(),
        }
    }
}

/// Parses `buf` in one call with default limits.
pub fn parse_one(buf: &[u8]) -> (Result<Status, brisk_http::ParseError>, RequestHeader) {
    let mut p = RequestParser::new(Limits::default());
    let mut h = RequestHeader::new();
    let r = p.parse(buf, &mut h);
    (r, h)
}

/// Parses `buf` fed in pieces ending at `cuts` (sorted offsets), then whole.
pub fn parse_split(
    buf: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> (Result<Status, brisk_http::ParseError>, RequestHeader) {
    let mut p = RequestParser::new(limits.clone());
    let mut h = RequestHeader::new();
    for &c in cuts {
        match p.parse(&buf[..c.min(buf.len())], &mut h) {
            Ok(Status::Partial) => {}
            r => return (r, h),
        }
    }
    let r = p.parse(buf, &mut h);
    (r, h)
}

/// A parsed response head.
#[derive(Debug, PartialEq, Eq)]
pub struct Resp {
    pub status: u16,
    pub reason: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Resp {
    /// The first value of `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }
}

/// Parses a response head strictly (CRLF lines, `HTTP/1.1 ddd reason`,
/// `name: value` with token names and no control bytes in values). Returns
/// the head and its length.
pub fn parse_response_head(buf: &[u8]) -> Result<(Resp, usize), String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?;
    let head = &buf[..end + 2];
    let mut lines = head.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let status_line = lines.next().ok_or("no status line")?;
    let status_line = status_line
        .strip_suffix(b"\r")
        .ok_or("status line without CR")?;
    let rest = status_line
        .strip_prefix(b"HTTP/1.1 ")
        .ok_or("bad version")?;
    if rest.len() < 4 || rest[3] != b' ' || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!("bad status: {:?}", String::from_utf8_lossy(rest)));
    }
    let status: u16 = std::str::from_utf8(&rest[..3])
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let reason = rest[4..].to_vec();
    if reason.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Err("control byte in reason".into());
    }
    let mut headers = Vec::new();
    for line in lines {
        let line = line.strip_suffix(b"\r").ok_or("field line without CR")?;
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("field line without colon")?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!("bad name {:?}", String::from_utf8_lossy(name)));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err("control byte in value".into());
        }
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((name.to_vec(), value.to_vec()));
    }
    Ok((
        Resp {
            status,
            reason,
            headers,
        },
        end + 4,
    ))
}

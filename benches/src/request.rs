//! The request the generator sends, built once into bytes.

use std::fmt;

/// What to send: method, path, `Host`, extra headers and an optional body.
///
/// # Examples
///
/// ```
/// use brisk_benches::RequestSpec;
///
/// let spec = RequestSpec::new("127.0.0.1:8080");
/// assert_eq!(spec.to_bytes(false).unwrap(), b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Request method, an HTTP token such as `GET`.
    pub method: String,
    /// Request target: starts with `/` (or is `*`), no spaces or control bytes.
    pub path: String,
    /// Value of the `Host` header.
    pub host: String,
    /// Extra header lines, in order.
    pub headers: Vec<(String, String)>,
    /// Request body; when non-empty a `Content-Length` header is added.
    pub body: Vec<u8>,
}

/// A [`RequestSpec`] part that cannot be sent as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The method is empty or has a byte that is not an HTTP token byte.
    Method(String),
    /// The path does not start with `/` (and is not `*`), or has a space or control byte.
    Path(String),
    /// The Host value has a control byte or space.
    Host(String),
    /// A header name is empty or not an HTTP token.
    HeaderName(String),
    /// A header value has a CR, LF or other control byte.
    HeaderValue(String),
}

impl RequestSpec {
    /// `GET /` with the given `Host`, no extra headers, no body.
    pub fn new(host: impl Into<String>) -> RequestSpec {
        RequestSpec {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            host: host.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The request bytes. With `close`, a `Connection: close` header is added
    /// (connection-per-request mode).
    ///
    /// # Errors
    ///
    /// A [`RequestError`] naming the first part that would make the request
    /// malformed or let it smuggle a second one.
    pub fn to_bytes(&self, close: bool) -> Result<Vec<u8>, RequestError> {
        if self.method.is_empty() || !self.method.bytes().all(is_token) {
            return Err(RequestError::Method(self.method.clone()));
        }
        let path_ok = (self.path.starts_with('/') || self.path == "*")
            && self.path.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80);
        if !path_ok {
            return Err(RequestError::Path(self.path.clone()));
        }
        if self.host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(RequestError::Host(self.host.clone()));
        }
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token) {
                return Err(RequestError::HeaderName(name.clone()));
            }
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(RequestError::HeaderValue(value.clone()));
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.trim().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        if !self.body.is_empty() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// True for `HEAD` requests, whose responses carry no body.
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Method(m) => {
                write!(
                    f,
                    "method {m:?} is not an HTTP token (use letters such as GET or POST)"
                )
            }
            RequestError::Path(p) => write!(
                f,
                "path {p:?} must start with `/` (or be `*`) and have no spaces or control bytes \
                 (percent-encode them)"
            ),
            RequestError::Host(h) => write!(f, "host {h:?} has a space or control byte"),
            RequestError::HeaderName(n) => write!(
                f,
                "header name {n:?} is not an HTTP token (write headers as `Name: value`)"
            ),
            RequestError::HeaderValue(v) => {
                write!(f, "header value {v:?} has a CR, LF or other control byte")
            }
        }
    }
}

impl std::error::Error for RequestError {}

/// RFC 9110 `tchar`.
#[inline]
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_headers_close_and_body() {
        let mut spec = RequestSpec::new("localhost");
        spec.method = "POST".into();
        spec.path = "/echo?x=1".into();
        spec.headers.push(("X-Test".into(), " yes ".into()));
        spec.body = b"abc".to_vec();
        assert_eq!(
            spec.to_bytes(true).unwrap(),
            b"POST /echo?x=1 HTTP/1.1\r\nHost: localhost\r\nX-Test: yes\r\n\
              Connection: close\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn rejects_parts_that_would_break_framing() {
        let base = RequestSpec::new("h");
        let cases: Vec<(RequestSpec, RequestError)> = vec![
            (
                RequestSpec {
                    method: "G T".into(),
                    ..base.clone()
                },
                RequestError::Method("G T".into()),
            ),
            (
                RequestSpec {
                    method: String::new(),
                    ..base.clone()
                },
                RequestError::Method(String::new()),
            ),
            (
                RequestSpec {
                    path: "x".into(),
                    ..base.clone()
                },
                RequestError::Path("x".into()),
            ),
            (
                RequestSpec {
                    path: "/a b".into(),
                    ..base.clone()
                },
                RequestError::Path("/a b".into()),
            ),
            (
                RequestSpec {
                    host: "h\r\n".into(),
                    ..base.clone()
                },
                RequestError::Host("h\r\n".into()),
            ),
            (
                RequestSpec {
                    headers: vec![("A:".into(), "b".into())],
                    ..base.clone()
                },
                RequestError::HeaderName("A:".into()),
            ),
            (
                RequestSpec {
                    headers: vec![("A".into(), "b\r\nX: y".into())],
                    ..base.clone()
                },
                RequestError::HeaderValue("b\r\nX: y".into()),
            ),
        ];
        for (spec, error) in cases {
            assert_eq!(spec.to_bytes(false), Err(error));
        }
    }

    #[test]
    fn head_detection() {
        let spec = RequestSpec {
            method: "head".into(),
            ..RequestSpec::new("h")
        };
        assert!(spec.is_head());
        assert!(!RequestSpec::new("h").is_head());
    }
}

//! The errors the server answers on the client's behalf, and `ServeError`.

use std::fmt;
use std::io;

use brisk_http::{ParseError, PathError};

/// A request the server answered itself, without (or instead of) the
/// handler. Each kind maps to one HTTP status; see [`ServerError::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The request head or chunked body violated HTTP/1.1 (400, 414, 431,
    /// 501 or 505, as the parse error says).
    Parse(ParseError),
    /// The request head did not fit in the read buffer (431).
    HeadTooLarge,
    /// The request line alone filled the read buffer (414).
    UriTooLong,
    /// The request body is larger than `max_request_body_size` (413).
    BodyTooLarge,
    /// The request head or body did not arrive within `read_timeout` (408).
    ReadTimeout,
    /// The method is not GET or HEAD while `get_only` is set (405).
    MethodNotAllowed,
    /// The server is at its `concurrency` limit (503).
    TooManyConnections,
    /// The client's IP address is at `max_conns_per_ip` (429).
    TooManyConnectionsPerIp,
    /// The handler panicked (500).
    HandlerPanicked,
    /// The request path cannot be normalized: a malformed escape, `%00`,
    /// or another form [`brisk_http::normalize_path`] refuses (400). The
    /// handler never sees such a path.
    InvalidPath(PathError),
    /// A `CONNECT` request: brisk opens no tunnels (501). Answering it like
    /// any other request would let a proxy in front believe a tunnel is
    /// open while brisk parses the tunnel's bytes as requests.
    ConnectRefused,
    /// The handler left an informational (1xx) status, which cannot be a
    /// final response: `100 Continue` is the server's to send and `101
    /// Switching Protocols` needs a protocol upgrade, which brisk does not
    /// support yet (500; the status the handler set is kept here).
    InformationalStatus(u16),
    /// A request whose body would be streamed found no worker thread free
    /// (`max_worker_conns`) (503).
    Overloaded,
    /// The continue hook refused a request that sent
    /// `Expect: 100-continue`, with this status (a 4xx or 5xx; 417 when it
    /// gave another).
    ExpectationRejected(u16),
    /// The handler asked to hijack a TLS connection, which brisk does not
    /// support (501; the hijack handler is dropped without running).
    HijackOverTls,
}

impl ServerError {
    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            ServerError::Parse(e) => e.status(),
            ServerError::HeadTooLarge => 431,
            ServerError::UriTooLong => 414,
            ServerError::BodyTooLarge => 413,
            ServerError::ReadTimeout => 408,
            ServerError::MethodNotAllowed => 405,
            ServerError::TooManyConnections => 503,
            ServerError::TooManyConnectionsPerIp => 429,
            ServerError::HandlerPanicked => 500,
            ServerError::InvalidPath(_) => 400,
            ServerError::ConnectRefused => 501,
            ServerError::InformationalStatus(_) => 500,
            ServerError::Overloaded => 503,
            ServerError::ExpectationRejected(s @ 400..=599) => *s,
            ServerError::ExpectationRejected(_) => 417,
            ServerError::HijackOverTls => 501,
        }
    }

    /// A short reason, used as the default response body.
    pub fn reason(&self) -> &'static str {
        match self {
            ServerError::Parse(e) => e.reason(),
            ServerError::HeadTooLarge => "request header fields too large",
            ServerError::UriTooLong => "request line too long",
            ServerError::BodyTooLarge => "request body too large",
            ServerError::ReadTimeout => "request timeout",
            ServerError::MethodNotAllowed => "method not allowed",
            ServerError::TooManyConnections => "the server is at its connection limit",
            ServerError::TooManyConnectionsPerIp => "too many connections from this address",
            ServerError::HandlerPanicked => "internal server error",
            ServerError::InvalidPath(_) => "invalid request path",
            ServerError::ConnectRefused => "CONNECT is not supported",
            ServerError::InformationalStatus(_) => "internal server error",
            ServerError::Overloaded => "the server is busy",
            ServerError::ExpectationRejected(_) => "the request was refused before its body",
            ServerError::HijackOverTls => "connection upgrades are not supported over TLS",
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::InvalidPath(e) => {
                write!(f, "{}: {e} ({})", self.reason(), self.status())
            }
            ServerError::InformationalStatus(code) => write!(
                f,
                "the handler set status {code}, which cannot be a final response ({})",
                self.status()
            ),
            _ => write!(f, "{} ({})", self.reason(), self.status()),
        }
    }
}

impl std::error::Error for ServerError {}

/// Why [`Server::serve`](crate::Server::serve) or
/// [`Server::listen_and_serve`](crate::Server::listen_and_serve) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding or configuring the listening socket failed.
    Listen {
        /// The address that could not be bound.
        addr: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Setting up an event loop (epoll, eventfd, threads) failed.
    Setup(io::Error),
    /// `serve` was called on a server that is already serving.
    AlreadyServing,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServeError::Setup(e) => write!(f, "cannot set up the event loops: {e}"),
            ServeError::AlreadyServing => f.write_str(
                "this server is already serving: build another Server for a second listener",
            ),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Listen { source, .. } => Some(source),
            ServeError::Setup(e) => Some(e),
            ServeError::AlreadyServing => None,
        }
    }
}

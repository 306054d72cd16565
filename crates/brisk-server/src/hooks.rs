//! Hooks on a request's head and on a connection's life: what they see
//! ([`RequestHead`]) and what they decide ([`RequestLimits`],
//! [`ContinueAction`], [`ConnState`]). Set them on the builder:
//! [`ServerBuilder::head_handler`](crate::ServerBuilder::head_handler),
//! [`continue_handler`](crate::ServerBuilder::continue_handler),
//! [`conn_state_handler`](crate::ServerBuilder::conn_state_handler).

use std::net::SocketAddr;
use std::time::Duration;

use brisk_http::{BodyKind, HeaderField, Method, RequestHeader, Version};

/// A request's head, before its body is read: what the head and continue
/// hooks decide on.
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    pub(crate) head: &'a RequestHeader,
    pub(crate) buf: &'a [u8],
    pub(crate) remote: SocketAddr,
}

impl<'a> RequestHead<'a> {
    /// The request method.
    pub fn method(&self) -> Method {
        self.head.method()
    }

    /// The method's bytes, as sent.
    pub fn method_bytes(&self) -> &'a [u8] {
        self.head.method_span().get(self.buf)
    }

    /// The request target as sent.
    pub fn uri(&self) -> &'a [u8] {
        self.head.target().get(self.buf)
    }

    /// The path as sent (not normalized yet).
    pub fn raw_path(&self) -> &'a [u8] {
        self.head.path().get(self.buf)
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.head.header(self.buf, name)
    }

    /// Every header as (name, value), in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.head
            .headers()
            .iter()
            .map(move |h: &HeaderField| (h.name.get(buf), h.value.get(buf)))
    }

    /// The declared body length (`Content-Length`); `None` for a chunked
    /// body or none.
    pub fn content_length(&self) -> Option<u64> {
        match self.head.body_kind() {
            BodyKind::Length(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the body is chunked.
    pub fn is_chunked(&self) -> bool {
        self.head.body_kind() == BodyKind::Chunked
    }

    /// Whether the client sent `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.head.expect_continue()
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }
}

impl std::fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method())
            .field("uri", &self.uri().escape_ascii().to_string())
            .field("remote", &self.remote)
            .finish()
    }
}

/// Limits of one request, which a head hook may change: filled with the
/// server's settings and this request's default before the hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Largest body accepted (default `max_request_body_size`); a declared
    /// length over it is answered 413 before the body is read.
    pub max_body_size: usize,
    /// Time to receive the rest of the head and the body (buffered), or
    /// the longest wait for the next body bytes (streamed) (default
    /// `read_timeout`).
    pub read_timeout: Duration,
    /// Stream the body to the handler instead of buffering it (default:
    /// with `stream_request_body`, for a chunked body or one larger than
    /// the read buffer). A request without a body is never streamed.
    pub stream_body: bool,
}

impl RequestLimits {
    /// Limits with these values (for tests of a hook).
    pub fn new(max_body_size: usize, read_timeout: Duration, stream_body: bool) -> RequestLimits {
        RequestLimits {
            max_body_size,
            read_timeout,
            stream_body,
        }
    }
}

/// What a continue hook decides for a request that sent
/// `Expect: 100-continue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContinueAction {
    /// Read the body (`100 Continue` is sent when it is needed).
    Continue,
    /// Answer this status at once (417, 413, 401, …; anything but 4xx or
    /// 5xx becomes 417) without reading the body; the connection closes.
    Reject(u16),
}

/// A connection's life, as the connection-state hook sees it (fasthttp's
/// `ConnState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnState {
    /// Accepted.
    New,
    /// A request's first byte arrived.
    Active,
    /// Between requests: the last one was answered and nothing of the next
    /// arrived yet.
    Idle,
    /// Taken over by a hijack handler: the server no longer tracks it.
    Hijacked,
    /// Closed.
    Closed,
}

/// A hook on the request head: may change the request's limits.
pub type HeadHandler = dyn Fn(&RequestHead<'_>, &mut RequestLimits) + Send + Sync + 'static;

/// A hook deciding `Expect: 100-continue`.
pub type ContinueHandler = dyn Fn(&RequestHead<'_>) -> ContinueAction + Send + Sync + 'static;

/// A hook on connection states: `(connection id, client address, state)`.
pub type ConnStateHandler = dyn Fn(u64, SocketAddr, ConnState) + Send + Sync + 'static;

/// The hooks a server runs (`None`: not set).
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) head: Option<std::sync::Arc<HeadHandler>>,
    pub(crate) cont: Option<std::sync::Arc<ContinueHandler>>,
    pub(crate) conn: Option<std::sync::Arc<ConnStateHandler>>,
    /// Where access records go.
    pub(crate) access: Option<std::sync::Arc<crate::access_log::Sink>>,
}

impl Hooks {
    /// Tells the connection-state hook, if any (out of line: it is usually
    /// not set, and then this costs a test at the call site).
    #[inline]
    pub(crate) fn conn_state(&self, id: u64, remote: SocketAddr, state: ConnState) {
        if let Some(h) = &self.conn {
            call_conn_hook(&**h, id, remote, state);
        }
    }
}

#[cold]
#[inline(never)]
fn call_conn_hook(h: &ConnStateHandler, id: u64, remote: SocketAddr, state: ConnState) {
    h(id, remote, state);
}

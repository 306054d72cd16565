//! `OwnedRequest`: a copy of a request that a handler can run on another
//! thread (the hook behind `brisk_handlers::timeout`).

use std::time::Instant;

use brisk_http::RequestHeader;

use crate::ctx::{ConnInfo, RequestCtx, Response, UserValues};

/// A copy of one request, with a response of its own, that can be sent to
/// another thread and served there by any handler.
///
/// [`RequestCtx::to_owned_request`] copies the request's bytes (head and
/// buffered body), its normalized path and the facts about its connection;
/// [`serve`](Self::serve) runs a handler on the copy (on any thread), and
/// [`RequestCtx::take_response`] moves the response it built back into the
/// real request. This is how a handler runs under a deadline while the
/// connection stays free: the copy goes to a worker thread, the caller
/// waits for it as long as it likes, and a late result is simply dropped.
///
/// What the handler sees on the copy: everything `RequestCtx` exposes about
/// the request (method, target, path, headers, cookies, query and form
/// arguments, buffered body, remote address, connection id and request
/// number, [`received_at`](RequestCtx::received_at)). What it does not see:
/// a streamed body ([`body_reader`](RequestCtx::body_reader) is `None`;
/// read it first and pass it with [`set_body`](Self::set_body)), and the
/// original request's user values (the copy starts with none).
///
/// ```
/// use brisk_server::{OwnedRequest, RequestCtx};
/// fn slow_part(ctx: &mut RequestCtx<'_>) {
///     ctx.set_status(201);
///     ctx.set_body(b"made on another thread");
/// }
/// fn handler(ctx: &mut RequestCtx<'_>) {
///     let mut copy: OwnedRequest = ctx.to_owned_request();
///     let copy = std::thread::spawn(move || {
///         copy.serve(slow_part);
///         copy
///     })
///     .join();
///     match copy {
///         Ok(mut copy) => ctx.take_response(&mut copy),
///         Err(_) => ctx.error("the worker panicked", 500),
///     }
/// }
/// # let _ = handler;
/// ```
pub struct OwnedRequest {
    /// The request's bytes: the head, then the body (`body` indexes them).
    buf: Vec<u8>,
    head: RequestHeader,
    body: std::ops::Range<usize>,
    path: Vec<u8>,
    info: ConnInfo,
    received: Instant,
    resp: Response,
    values: UserValues,
}

impl OwnedRequest {
    /// Runs `handler` on the copy, as the server runs a handler on a
    /// request; the response it builds stays in the copy until
    /// [`RequestCtx::take_response`] takes it. A panic in `handler` is not
    /// caught here.
    pub fn serve<F>(&mut self, handler: F)
    where
        F: FnOnce(&mut RequestCtx<'_>),
    {
        let buf = &self.buf[..];
        let mut ctx = RequestCtx {
            buf,
            head: &self.head,
            body: &buf[self.body.clone()],
            path: &self.path,
            info: &self.info,
            received: self.received,
            resp: &mut self.resp,
            values: &mut self.values,
            body_reader: None,
        };
        handler(&mut ctx);
        self.values.clear();
    }

    /// Replaces the body the handler will see in
    /// [`RequestCtx::body`] (for a streamed body read to memory first).
    pub fn set_body(&mut self, body: &[u8]) {
        self.buf.truncate(self.body.start);
        self.buf.extend_from_slice(body);
        self.body = self.body.start..self.buf.len();
    }

    /// The request's status so far: the response status the handler set
    /// (200 until it sets one).
    pub fn status(&self) -> u16 {
        self.resp.header.status()
    }
}

impl std::fmt::Debug for OwnedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedRequest")
            .field("method", &self.head.method())
            .field("path", &self.path.escape_ascii().to_string())
            .field("conn_id", &self.info.id)
            .field("status", &self.status())
            .finish()
    }
}

impl<'a> RequestCtx<'a> {
    /// A copy of this request that can be served on another thread
    /// ([`OwnedRequest`]): the head and buffered body are copied (one
    /// allocation), the response starts empty. See [`OwnedRequest`] for
    /// what the copy shows a handler.
    pub fn to_owned_request(&self) -> OwnedRequest {
        let mut buf = Vec::with_capacity(self.buf.len() + self.body.len());
        buf.extend_from_slice(self.buf);
        // The buffered body usually lies inside the request's bytes; a
        // body that does not (there is none yet) is appended.
        let (b, body) = (self.buf.as_ptr() as usize, self.body.as_ptr() as usize);
        let body_range =
            if !self.body.is_empty() && body >= b && body + self.body.len() <= b + self.buf.len() {
                body - b..body - b + self.body.len()
            } else {
                buf.extend_from_slice(self.body);
                self.buf.len()..buf.len()
            };
        OwnedRequest {
            buf,
            head: self.head.clone(),
            body: body_range,
            path: self.path.to_vec(),
            info: self.info.clone(),
            received: self.received,
            resp: self.resp.empty_like(),
            values: UserValues::default(),
        }
    }

    /// Replaces this request's response (status, headers, body, a body
    /// stream or sender, a hijack, `Connection: close`) with the one a
    /// handler built on `from`, which is left with an empty response.
    pub fn take_response(&mut self, from: &mut OwnedRequest) {
        self.resp.take_from(&mut from.resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn owned_request_is_send() {
        assert_send::<OwnedRequest>();
    }
}

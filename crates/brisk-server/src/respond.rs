//! Serializing responses: the handler's ([`write_response`], inlined into
//! the hot path) and the one path every error response takes
//! ([`write_error`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use brisk_buf::ByteBuffer;
use brisk_http::{HeadCache, Method, RequestHeader, ResponseBody, Version, WriteOptions};
use log::{debug, error};

use crate::ctx::{ConnInfo, RequestCtx, Response};
use crate::error::ServerError;
use crate::scratch::Scratch;
use crate::server::Core;

/// The server's response options; `keep_alive`, `head_request` and
/// `http10` are set per response.
pub(crate) fn base_options(core: &Core) -> WriteOptions<'_> {
    WriteOptions {
        server_name: if core.cfg.no_default_server_header {
            None
        } else {
            Some(&core.cfg.name)
        },
        date: !core.cfg.no_default_date,
        default_content_type: !core.cfg.no_default_content_type,
        keep_alive: true,
        head_request: false,
        http10: false,
    }
}

/// Serializes `resp` (head and, unless HEAD, body) into `w`. `framing`
/// overrides the body framing (a streamed body, or a large static one:
/// the body follows later).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn write_response(
    w: &mut ByteBuffer,
    resp: &Response,
    cache: &mut HeadCache,
    unix_secs: u64,
    base: &WriteOptions<'_>,
    keep_alive: bool,
    is_head: bool,
    http10: bool,
    framing: Option<ResponseBody>,
) {
    let status = resp.header.status();
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let opts = WriteOptions {
        keep_alive,
        head_request: is_head,
        http10,
        ..*base
    };
    match (resp.static_body, framing) {
        // The usual fast handler: a `'static` body, sent whole.
        (Some(body), None) if !is_head && !no_body => {
            cache.write_static_at(unix_secs, &resp.header, body, &opts, w);
        }
        (_, framing) => {
            let body = resp.body_bytes();
            let with_body = !is_head && !no_body && framing.is_none();
            let framing = match framing {
                _ if no_body => ResponseBody::None,
                Some(f) => f,
                None => ResponseBody::Length(body.len() as u64),
            };
            cache.write_at(unix_secs, &resp.header, framing, &opts, w);
            if with_body {
                w.extend_from_slice(body);
            }
        }
    }
}

/// The request an error answers, when its head was parsed: what the error
/// hook's context shows.
#[derive(Clone, Copy)]
pub(crate) struct Failed<'a> {
    pub(crate) head: &'a RequestHeader,
    /// The bytes `head`'s spans point into.
    pub(crate) buf: &'a [u8],
    /// The normalized path (the raw one where normalizing failed).
    pub(crate) path: &'a [u8],
}

/// Writes the response for `err` into `w`: the one path of every error
/// response (malformed requests, limits, timeouts, refused connections, a
/// handler that panicked or set a 1xx status).
///
/// The response starts with status `err.status()` and an empty body. The
/// error hook, if set, runs with it (see
/// [`ServerBuilder::error_handler`](crate::ServerBuilder::error_handler)
/// for its contract); without one the body is `err.reason()`. A response
/// to HEAD has no body, and the connection always closes after it.
#[cold]
#[inline(never)]
pub(crate) fn write_error(
    w: &mut ByteBuffer,
    s: &mut Scratch,
    core: &Core,
    info: &ConnInfo,
    err: ServerError,
    request: Option<Failed<'_>>,
    is_head: bool,
) {
    let Scratch {
        resp,
        values,
        empty_head,
        head_cache,
        unix_secs,
        obs,
        ..
    } = s;
    let before = w.len();
    resp.reset();
    let _ = resp.header.set_status(err.status());
    match core.error_handler.as_ref() {
        None => resp.body.extend_from_slice(err.reason().as_bytes()),
        Some(eh) => {
            let view = request.unwrap_or(Failed {
                head: empty_head,
                buf: &[],
                path: &[],
            });
            let mut ctx = RequestCtx {
                buf: view.buf,
                head: view.head,
                body: &[],
                path: view.path,
                info,
                received: Instant::now(),
                resp,
                values,
                body_reader: None,
            };
            if catch_unwind(AssertUnwindSafe(|| eh(&mut ctx, &err))).is_err() {
                error!(
                    "conn {}: error handler panicked on {err}; sending the default response",
                    info.id
                );
                resp.reset();
                let _ = resp.header.set_status(err.status());
                resp.body.extend_from_slice(err.reason().as_bytes());
            }
            values.clear();
            // The hook shapes an error; it cannot turn it into a success,
            // an interim response or a stream.
            if !(400..=599).contains(&resp.header.status()) {
                let _ = resp.header.set_status(err.status());
            }
            resp.undefer();
        }
    }
    if err == ServerError::MethodNotAllowed && resp.header.get(b"Allow").is_none() {
        let _ = resp.header.add(b"Allow", b"GET, HEAD");
    }
    if core.cfg.log_all_errors {
        debug!("conn {} ({}): answered {err}", info.id, info.remote);
    }
    let http10 = request.is_some_and(|r| r.head.version() == Version::Http10);
    write_response(
        w,
        resp,
        head_cache,
        *unix_secs,
        &base_options(core),
        false,
        is_head,
        http10,
        None,
    );
    if let Some(obs) = obs.as_deref_mut() {
        observe_error(
            obs,
            w.len() - before,
            resp,
            info,
            err,
            request,
            is_head,
            *unix_secs,
        );
    }
}

/// Counts and logs an error response of `bytes` bytes.
#[allow(clippy::too_many_arguments)]
fn observe_error(
    obs: &mut crate::metrics::Observer,
    bytes: usize,
    resp: &Response,
    info: &ConnInfo,
    err: ServerError,
    request: Option<Failed<'_>>,
    is_head: bool,
    unix_secs: u64,
) {
    let status = resp.header.status();
    obs.error(&err, status);
    obs.bytes_out(bytes);
    if obs.log.is_some() {
        let a = crate::access_log::Answer {
            remote: info.remote,
            conn_id: info.id,
            status,
            bytes_sent: bytes as u64,
            body_bytes: if is_head { 0 } else { resp.body.len() as u64 },
            received: None,
            unix_secs,
        };
        crate::access_log::log_response(obs, request.map(|r| (r.head, r.buf)), &a);
    }
}

/// Whether a parsed head is a HEAD request.
#[inline]
pub(crate) fn is_head(head: &RequestHeader) -> bool {
    head.method() == Method::Head
}

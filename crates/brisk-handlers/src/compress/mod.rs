//! Response compression (gzip, deflate, br, zstd) around any handler, and
//! opt-in decompression of request bodies.
//!
//! ```
//! use brisk_handlers::compress::{self, Compress, Level};
//!
//! fn app(ctx: &mut brisk_server::RequestCtx<'_>) {
//!     ctx.set_content_type(b"application/json");
//!     ctx.set_body(br#"{"items":[1,2,3]}"#);
//! }
//!
//! // Defaults: Level::Default, bodies of 1 KiB or more, an 8 MiB cache.
//! let handler = compress::compress(app);
//! // Or tuned:
//! let handler2 = Compress::new().level(Level::Fastest).min_size(256).wrap(app);
//! // Accept gzip/deflate/br/zstd request bodies too (opt-in):
//! let handler3 = compress::decompress_requests(compress::compress(app));
//! let server = brisk_server::Server::builder().handler(handler).build().unwrap();
//! # let _ = (handler2, handler3, server);
//! ```
//!
//! # Which responses are compressed
//!
//! After the handler ran, [`Compress`] compresses the response body when
//! all of these hold, and otherwise leaves the response as it is:
//!
//! - the request's `Accept-Encoding` accepts one of the codings this build
//!   has (cargo features `gzip` — which also gives `deflate` —, `br`,
//!   `zstd`; all on by default), chosen by [`brisk_http::negotiate_encoding`]:
//!   the client's q-values first, then the server's order zstd, br, gzip,
//!   deflate;
//! - the status allows a body and is not a partial one: not 1xx, 204, 206
//!   or 304, and there is no `Content-Range` header;
//! - the response has no `Content-Encoding` yet and no
//!   `Cache-Control: no-transform`;
//! - the `Content-Type` is compressible: `text/*`, JSON and `+json`,
//!   JavaScript, XML and `+xml` (SVG included), `application/wasm`,
//!   ndjson, form data, fonts (`font/ttf`, `font/otf`, `application/vnd.ms-fontobject`),
//!   `image/x-icon` and `image/bmp`. No `Content-Type` at all counts as
//!   the server's default, `text/plain`. Images, video, audio, archives
//!   and anything else are left alone;
//! - a buffered or `'static` body has at least
//!   [`min_size`](Compress::min_size) bytes (1 KiB by default: below that
//!   the coding's framing eats most of the gain), and its encoding is
//!   smaller than it (otherwise it is sent as it is).
//!
//! When it compresses, it sets `Content-Encoding`, and the server writes the
//! `Content-Length` of the compressed body (a streamed body stays chunked).
//! A strong `ETag` becomes weak (`"x"` → `W/"x"`): the compressed bytes
//! differ from the identity ones, and weak comparison — what
//! `If-None-Match` uses — still matches. `Vary: Accept-Encoding` is added
//! to every response whose type and status make it a candidate, compressed
//! or not (a cache must not hand a gzip body to a client that did not ask
//! for it, nor the reverse), unless a `Vary` already names
//! `Accept-Encoding` or `*`.
//!
//! A HEAD request gets the head a GET would get: a buffered body is
//! compressed to know its length (the body is then not sent); a streamed
//! one only gets the headers.
//!
//! When the client refuses the body as it is and accepts none of the
//! codings (`Accept-Encoding: identity;q=0` alone, or `*;q=0`), the body
//! is sent unencoded, as RFC 9110 §12.5.3 permits; with
//! [`NotAcceptable::Refuse`] the answer is `406 Not Acceptable` instead.
//!
//! # Streamed and pushed bodies
//!
//! A body set with [`set_body_stream`](brisk_server::RequestCtx::set_body_stream)
//! is wrapped: each piece the producer writes goes through the encoder, and
//! what the encoder gives out is sent as it comes. The encoder is flushed
//! (a sync flush: everything written so far becomes decodable) when the
//! producer calls `flush()` on its [`BodyWriter`],
//! and the frame is finished after its last piece. A body written through a
//! [`BodySender`](brisk_server::BodySender) is compressed on the writer's
//! thread and flushed after every write, so that each write (one
//! server-sent event, say) reaches the client when it is made. Their size
//! is not known in advance, so `min_size` does not apply; a pushed body
//! with a declared length is sent chunked once compressed.
//!
//! # The cache of compressed bodies
//!
//! Compressing the same bytes again for every request is waste when the
//! body does not change. Two kinds of body are cached, per coding and
//! level, in one bounded cache per [`Compress`] (8 MiB by default,
//! [`cache_bytes`](Compress::cache_bytes); least recently used out first):
//!
//! - a `'static` body ([`set_body_static`](brisk_server::RequestCtx::set_body_static)),
//!   named by its address and length: a `'static` slice never changes;
//! - a body the handler names with a [`CacheKey`] user value
//!   (`ctx.set_user_value(CacheKey(n))`): the handler promises that the
//!   same key always comes with the same bytes (use a content hash or a
//!   version number). The key is not checked against the bytes.
//!
//! Other bodies are compressed for each response, with the gzip, deflate
//! and zstd encoder state kept per thread and reset between bodies (a
//! fresh deflate state is ~256 KiB to allocate and clear; brotli's
//! one-shot encoder is set up for each body, its window sized to it).
//!
//! # Request bodies
//!
//! [`decompress_requests`] (or [`Decompress`]) decodes a request body whose
//! `Content-Encoding` is `gzip`, `x-gzip`, `deflate` (zlib framing,
//! RFC 1950), `br` or `zstd` before the handler runs: the handler sees the
//! decoded [`body`](brisk_server::RequestCtx::body), no `Content-Encoding`,
//! `Content-Length` or `Transfer-Encoding` header, and `content_length()`
//! of the decoded body. Decoding stops as soon as the output passes
//! [`max_size`](Decompress::max_size) or [`max_ratio`](Decompress::max_ratio)
//! times the encoded size (413 Payload Too Large); data the coding cannot
//! decode, truncated data or bytes after its end give 400 Bad Request; a
//! coding this build does not have, or several stacked codings, give 415
//! Unsupported Media Type with an `Accept-Encoding` header naming the ones
//! it has. A streamed request body (`stream_request_body`) is read to its
//! end first (up to `max_size`) and decoded in memory.
//!
//! # Not supported
//!
//! - The `compress` (LZW) coding, and codings stacked in one
//!   `Content-Encoding` of a request (`gzip, br`).
//! - Raw deflate without zlib framing in requests (`deflate` means zlib,
//!   as RFC 9110 says).
//! - Brotli or zstd dictionaries (`dcb`, `dcz`).
//! - Precompressed sibling files (`.br`, `.gz`): that is the static-file
//!   handler's job ([`crate::fs`]). A file body
//!   ([`RequestCtx::set_body_file`], sent with `sendfile`) is sent as it
//!   is, uncompressed.
//! - Compressing a body that is not smaller encoded is not done, but for
//!   streamed bodies that cannot be known: they are compressed regardless.

#[doc(hidden)]
pub mod _fuzz;
mod cache;
mod codec;
mod decompress;
#[cfg(all(test, feature = "gzip", feature = "br", feature = "zstd"))]
mod tests;

use std::cell::RefCell;
use std::sync::Arc;

use brisk_buf::ByteBuffer;
use brisk_http::{Coding, negotiate_encoding};
use brisk_server::{BodyWriter, PushFilter, RequestCtx, ResponseBodyKind};

pub use cache::CacheStats;
pub use decompress::{DEFAULT_MAX_RATIO, DEFAULT_MAX_SIZE, Decompress, decompress_requests};

use cache::{BodyKey, Cache, Cached, Key};
use codec::{AVAILABLE, Params, StreamEncoder};

/// How hard the encoders work.
///
/// | level | gzip / deflate | br | zstd |
/// |---|---|---|---|
/// | `Fastest` | 1 | 1 | 1 |
/// | `Default` | 6 | 4 | 3 |
/// | `Best` | 9 | 11 | 19 |
///
/// `Best` costs many times `Default`'s CPU for a few percent: meant for
/// cached (`'static` or [`CacheKey`]) bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Level {
    /// The least CPU per byte.
    Fastest,
    /// A balance of size and speed for dynamic responses.
    #[default]
    Default,
    /// The smallest output.
    Best,
}

/// What to answer when the client refuses the body as it is and accepts
/// none of the codings ([`Compress::on_not_acceptable`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NotAcceptable {
    /// Send the body unencoded (RFC 9110 §12.5.3 allows it).
    #[default]
    SendIdentity,
    /// Answer `406 Not Acceptable`.
    Refuse,
}

/// Names a buffered response body for the cache of compressed bodies: set
/// it as a user value (`ctx.set_user_value(CacheKey(n))`) in the handler.
/// The same key must always come with the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(pub u64);

/// Response compression settings; [`wrap`](Self::wrap) puts them around a
/// handler. Clones share one cache.
#[derive(Clone)]
pub struct Compress {
    level: Level,
    min_size: usize,
    not_acceptable: NotAcceptable,
    cache: Option<Arc<Cache>>,
}

impl std::fmt::Debug for Compress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compress")
            .field("level", &self.level)
            .field("min_size", &self.min_size)
            .field("not_acceptable", &self.not_acceptable)
            .field("cache", &self.cache_stats())
            .finish()
    }
}

/// Default [`Compress::min_size`].
pub const DEFAULT_MIN_SIZE: usize = 1024;
/// Default [`Compress::cache_bytes`].
pub const DEFAULT_CACHE_BYTES: usize = 8 << 20;

impl Default for Compress {
    fn default() -> Compress {
        Compress::new()
    }
}

/// Wraps `handler` with response compression at the default settings
/// ([`Compress::new`]).
pub fn compress<H>(handler: H) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static
where
    H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    Compress::new().wrap(handler)
}

impl Compress {
    /// [`Level::Default`], bodies of [`DEFAULT_MIN_SIZE`] bytes or more,
    /// a cache of [`DEFAULT_CACHE_BYTES`], identity when nothing is
    /// acceptable.
    pub fn new() -> Compress {
        Compress {
            level: Level::Default,
            min_size: DEFAULT_MIN_SIZE,
            not_acceptable: NotAcceptable::SendIdentity,
            cache: Some(Arc::new(Cache::new(DEFAULT_CACHE_BYTES))),
        }
    }

    /// How hard the encoders work.
    pub fn level(mut self, level: Level) -> Compress {
        self.level = level;
        self
    }

    /// Buffered and `'static` bodies shorter than this are sent as they are.
    pub fn min_size(mut self, bytes: usize) -> Compress {
        self.min_size = bytes;
        self
    }

    /// The most bytes the cache of compressed bodies holds (0: no cache).
    /// Replaces the cache (clones made before keep the old one).
    pub fn cache_bytes(mut self, bytes: usize) -> Compress {
        self.cache = (bytes > 0).then(|| Arc::new(Cache::new(bytes)));
        self
    }

    /// What to answer when the client accepts neither the body as it is
    /// nor any coding.
    pub fn on_not_acceptable(mut self, what: NotAcceptable) -> Compress {
        self.not_acceptable = what;
        self
    }

    /// The cache's counters (all zero without a cache).
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.as_ref().map(|c| c.stats()).unwrap_or_default()
    }

    /// The codings this build can produce, in the server's order of
    /// preference.
    pub fn codings() -> &'static [Coding] {
        AVAILABLE
    }

    /// `handler`, then compression of its response.
    pub fn wrap<H>(self, handler: H) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static
    where
        H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        move |ctx: &mut RequestCtx<'_>| {
            handler(ctx);
            self.apply(ctx);
        }
    }

    /// Compresses the response in `ctx` if it qualifies (see the module
    /// docs); for use inside a handler after the response is built.
    pub fn apply(&self, ctx: &mut RequestCtx<'_>) {
        let kind = ctx.response_body_kind();
        // A file body goes out with sendfile, unread: it is sent as it is
        // (a file server serves precompressed siblings instead).
        if matches!(kind, ResponseBodyKind::Hijack | ResponseBodyKind::File) || !candidate(ctx) {
            return;
        }
        add_vary(ctx);
        let coding = match negotiate(ctx) {
            Some(Coding::Identity) => return,
            Some(c) => c,
            None => {
                if self.not_acceptable == NotAcceptable::Refuse {
                    ctx.error(
                        "406 Not Acceptable: the request refuses an unencoded body \
                         (Accept-Encoding) and accepts none of the codings this server has",
                        406,
                    );
                    add_vary(ctx);
                }
                return;
            }
        };
        let params = self.level.params();
        match kind {
            ResponseBodyKind::Buffered | ResponseBodyKind::Static(_) => {
                if self.compress_buffered(ctx, kind, coding, params) {
                    mark_encoded(ctx, coding);
                }
            }
            ResponseBodyKind::Stream => {
                if !ctx.is_head() {
                    let Some(inner) = ctx.take_body_stream() else {
                        return;
                    };
                    let Ok(enc) = StreamEncoder::new(coding, params) else {
                        // Not reachable: `coding` is one this build has.
                        ctx.set_body_stream(inner);
                        return;
                    };
                    ctx.set_body_stream(compressed_stream(inner, enc));
                }
                mark_encoded(ctx, coding);
            }
            ResponseBodyKind::Pushed => {
                let Ok(enc) = StreamEncoder::new(coding, params) else {
                    return;
                };
                if ctx.filter_pushed_body(Box::new(PushEncoder { enc })) {
                    mark_encoded(ctx, coding);
                }
            }
            ResponseBodyKind::Hijack | ResponseBodyKind::File => {}
        }
    }

    /// Replaces a buffered or static body with its encoding; `false` when
    /// it stays as it is (too small, or not smaller encoded).
    fn compress_buffered(
        &self,
        ctx: &mut RequestCtx<'_>,
        kind: ResponseBodyKind,
        coding: Coding,
        params: Params,
    ) -> bool {
        let len = ctx.response_body().len();
        if len < self.min_size {
            return false;
        }
        let body_key = match kind {
            ResponseBodyKind::Static(b) => Some(BodyKey::Static {
                addr: b.as_ptr() as usize,
                len: b.len(),
            }),
            _ => ctx.user_value::<CacheKey>().map(|k| BodyKey::Explicit(k.0)),
        };
        if let (Some(cache), Some(body)) = (&self.cache, body_key) {
            let key = Key {
                body,
                coding,
                params,
            };
            let cached = match cache.get(&key) {
                Some(c) => c,
                None => {
                    let c = SCRATCH.with(|s| {
                        let mut out = s.borrow_mut();
                        out.clear();
                        let c = match codec::encode(coding, params, ctx.response_body(), &mut out) {
                            Ok(()) if out.len() < len => Cached::Encoded(Arc::from(&out[..])),
                            _ => Cached::NotSmaller,
                        };
                        if out.capacity() > SCRATCH_KEEP {
                            *out = Vec::new();
                        }
                        c
                    });
                    cache.insert(key, c.clone());
                    c
                }
            };
            return match cached {
                Cached::Encoded(b) => {
                    ctx.set_body(&b);
                    true
                }
                Cached::NotSmaller => false,
            };
        }
        SCRATCH.with(|s| {
            let mut out = s.borrow_mut();
            out.clear();
            let smaller = codec::encode(coding, params, ctx.response_body(), &mut out).is_ok()
                && out.len() < len;
            if smaller {
                ctx.set_body(&out);
            }
            if out.capacity() > SCRATCH_KEEP {
                *out = Vec::new();
            }
            smaller
        })
    }
}

thread_local! {
    /// Where a body is encoded before it is copied into the response.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch capacity kept between bodies (a larger one is let go).
const SCRATCH_KEEP: usize = 1 << 20;

/// The coding for this request's `Accept-Encoding` (several field lines
/// are one list, RFC 9110 §5.3).
fn negotiate(ctx: &RequestCtx<'_>) -> Option<Coding> {
    let (head, buf) = (ctx.request_header(), ctx.request_bytes());
    let mut lines = head.headers_named(buf, b"accept-encoding");
    let first = lines.next();
    let Some(second) = lines.next() else {
        return negotiate_encoding(first, AVAILABLE);
    };
    let mut joined = first.unwrap_or_default().to_vec();
    for line in std::iter::once(second).chain(lines) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(line);
    }
    negotiate_encoding(Some(&joined), AVAILABLE)
}

/// Whether the response's status, headers and type make it one to
/// compress (and to mark `Vary: Accept-Encoding`).
fn candidate(ctx: &mut RequestCtx<'_>) -> bool {
    let status = ctx.status();
    if status < 200 || matches!(status, 204 | 206 | 304) {
        return false;
    }
    let h = ctx.response_header();
    if h.get(b"content-encoding").is_some() || h.get(b"content-range").is_some() {
        return false;
    }
    if h.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(b"cache-control")
            && list_has(v, |t| t.eq_ignore_ascii_case(b"no-transform"))
    }) {
        return false;
    }
    compressible_type(h.content_type().unwrap_or(b"text/plain"))
}

/// Whether a comma-separated header value has an element (before any
/// `=` or `;`) for which `f` holds.
fn list_has(value: &[u8], f: impl Fn(&[u8]) -> bool) -> bool {
    value.split(|&b| b == b',').any(|el| {
        let end = el
            .iter()
            .position(|&b| b == b'=' || b == b';')
            .unwrap_or(el.len());
        f(el[..end].trim_ascii())
    })
}

/// Whether a `Content-Type` value names a type worth compressing.
pub fn compressible_type(content_type: &[u8]) -> bool {
    let end = content_type
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(content_type.len());
    let mime = content_type[..end].trim_ascii();
    let Some(slash) = mime.iter().position(|&b| b == b'/') else {
        return false;
    };
    let (top, sub) = (&mime[..slash], &mime[slash + 1..]);
    let is = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
    let ends =
        |suffix: &[u8]| sub.len() >= suffix.len() && is(&sub[sub.len() - suffix.len()..], suffix);
    if is(top, b"text") {
        return true;
    }
    if ends(b"+json") || ends(b"+xml") {
        return true;
    }
    const APPLICATION: &[&[u8]] = &[
        b"json",
        b"javascript",
        b"x-javascript",
        b"ecmascript",
        b"xml",
        b"wasm",
        b"x-ndjson",
        b"ndjson",
        b"x-www-form-urlencoded",
        b"vnd.ms-fontobject",
        b"x-font-ttf",
        b"x-sh",
        b"rtf",
        b"graphql",
        b"yaml",
        b"x-yaml",
        b"toml",
        b"csv",
    ];
    if is(top, b"application") {
        return APPLICATION.iter().any(|s| is(sub, s));
    }
    if is(top, b"font") {
        return is(sub, b"ttf") || is(sub, b"otf");
    }
    if is(top, b"image") {
        return is(sub, b"x-icon") || is(sub, b"vnd.microsoft.icon") || is(sub, b"bmp");
    }
    false
}

/// Appends `Vary: Accept-Encoding` unless a `Vary` already covers it.
fn add_vary(ctx: &mut RequestCtx<'_>) {
    let h = ctx.response_header();
    let covered = h.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(b"vary")
            && list_has(v, |t| {
                t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding")
            })
    });
    if !covered {
        // A valid name and value: cannot fail.
        let _ = h.add(b"Vary", b"Accept-Encoding");
    }
}

/// Sets `Content-Encoding` and weakens a strong `ETag`.
fn mark_encoded(ctx: &mut RequestCtx<'_>, coding: Coding) {
    let h = ctx.response_header();
    // Valid names and values: these cannot fail.
    let _ = h.set(b"Content-Encoding", coding.as_str().as_bytes());
    if let Some(tag) = h.get(b"etag").filter(|t| t.starts_with(b"\"")) {
        let mut weak = Vec::with_capacity(tag.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(tag);
        let _ = h.set(b"ETag", &weak);
    }
}

/// The producer that runs `inner` and encodes what it writes.
fn compressed_stream(
    mut inner: Box<brisk_server::BodyStream>,
    mut enc: StreamEncoder,
) -> impl FnMut(&mut BodyWriter<'_>) -> bool + Send + 'static {
    let mut piece = ByteBuffer::new();
    let mut out = Vec::new();
    let mut ended = false;
    move |w: &mut BodyWriter<'_>| {
        if ended {
            return false;
        }
        piece.reset();
        let mut iw = BodyWriter::new(&mut piece);
        let more = inner(&mut iw);
        let flush = iw.flushed();
        out.clear();
        let mut ok = enc.write(piece.as_slice(), flush && more, &mut out).is_ok();
        if !more {
            ok = ok && enc.finish(&mut out).is_ok();
        }
        w.write(&out);
        if !ok {
            // Writing into memory does not fail; should it, end the body
            // (the client sees a truncated encoding).
            log::error!(
                "compress: the {} stream encoder failed; ending the body",
                "response"
            );
            ended = true;
            return false;
        }
        ended = !more;
        more
    }
}

/// A pushed body's filter: encode, flush after each write.
struct PushEncoder {
    enc: StreamEncoder,
}

impl PushFilter for PushEncoder {
    fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        self.enc.write(data, true, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.enc.finish(out)
    }
}

/// Internals for `benches/compress.rs`. Not a stable API.
#[doc(hidden)]
pub mod _benchable {
    use brisk_http::Coding;

    use super::Level;

    /// One-shot encoding with the per-thread reused encoder state.
    pub fn encode(coding: Coding, level: Level, input: &[u8], out: &mut Vec<u8>) {
        if let Err(e) = super::codec::encode(coding, level.params(), input, out) {
            panic!("{coding}: {e}");
        }
    }
}

//! A strict, zero-copy, restartable HTTP/1.1 codec. No I/O, no threads.
//!
//! # Brief overview
//!
//! - [`RequestParser`] parses a request head from a byte slice that may
//!   hold only part of it ([`Status::Partial`]) and resumes where it
//!   stopped when more bytes arrive. The result, a [`RequestHeader`], holds
//!   [`Span`]s into the caller's buffer: nothing is copied. Violations of
//!   RFC 9112 are [`ParseError`]s whose [`ErrorKind`] says which rule broke
//!   and which status to answer with (400, 414, 417, 431, 501, 505).
//! - [`ChunkedDecoder`] decodes a chunked body incrementally and in place;
//!   [`ChunkedEncoder`] writes one.
//! - [`ResponseHeader`] and [`write_response_head`] build a response head
//!   (status line, Server, cached [`date`], Content-Type, framing,
//!   Connection); header values with CR or LF are refused when added.
//! - [`negotiate_encoding`] picks a response's content coding from
//!   `Accept-Encoding` ([`parse_accept_encoding`] reads its elements).
//! - [`normalize_path`], [`parse_args`], [`decode_arg`] and
//!   [`parse_cookies`] handle the request target, query strings, form
//!   bodies and cookies, lazily and without allocating.
//! - [`parse_proxy_header`] reads the PROXY protocol header (v1 or v2) a
//!   load balancer sends before the client's bytes, just as restartably;
//!   [`ProxyHeader::encode`] writes one.
//!
//! # Example
//!
//! ```
//! use brisk_buf::ByteBuffer;
//! use brisk_http::{
//!     parse_args, write_response_head, BodyKind, Limits, Method, RequestHeader, RequestParser,
//!     ResponseBody, ResponseHeader, Status, WriteOptions,
//! };
//!
//! // Parse a request head (here it arrives in two reads).
//! let buf = b"GET /search?q=brisk HTTP/1.1\r\nHost: example.com\r\nUser-Agent: demo\r\n\r\n";
//! let mut parser = RequestParser::new(Limits::default());
//! let mut req = RequestHeader::new();
//! assert_eq!(parser.parse(&buf[..20], &mut req)?, Status::Partial);
//! let Status::Complete(head_len) = parser.parse(buf, &mut req)? else { unreachable!() };
//! assert_eq!(head_len, buf.len());
//! assert_eq!(req.method(), Method::Get);
//! assert_eq!(req.path().get(buf), b"/search");
//! let query = req.query().unwrap().get(buf);
//! assert_eq!(parse_args(query).get(b"q"), Some(&b"brisk"[..]));
//! assert_eq!(req.body_kind(), BodyKind::None);
//! assert!(req.keep_alive());
//!
//! // Serialize the response head.
//! let mut resp = ResponseHeader::new();
//! resp.set_content_type(b"text/html")?;
//! let body = b"<h1>hi</h1>";
//! let opts = WriteOptions { server_name: Some(b"brisk"), keep_alive: req.keep_alive(), ..WriteOptions::default() };
//! let mut out = ByteBuffer::with_capacity(256);
//! write_response_head(&resp, ResponseBody::Length(body.len() as u64), &opts, &mut out);
//! out.extend_from_slice(body);
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nServer: brisk\r\nDate: "));
//! assert!(out.ends_with(b"Content-Type: text/html\r\n\r\n<h1>hi</h1>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Decisions
//!
//! - Lines end with CRLF; a bare LF is [`ErrorKind::BareLf`] (RFC 9112
//!   §2.2 allows accepting it; refusing it closes a smuggling avenue).
//! - Empty lines before the request line are skipped (RFC 9112 §2.2),
//!   within [`Limits::max_head_size`].
//! - The request target must be visible ASCII without `#`; non-ASCII bytes
//!   must be percent-encoded. A `\` is refused in its path (a separator to
//!   Windows and some proxies) but allowed in its query, where browsers
//!   send it raw.
//! - The HTTP/2 preface is [`ErrorKind::Http2Preface`], status 505.
//! - `Expect: 100-continue` sets [`RequestHeader::expect_continue`]; any
//!   other expectation on HTTP/1.1 is [`ErrorKind::UnsupportedExpectation`]
//!   (417); Expect on HTTP/1.0 is ignored.
//! - Transfer-Encoding must be exactly `chunked` (the final coding not
//!   chunked is 400, another coding before it 501), never with
//!   Content-Length, never on HTTP/1.0.
//! - [`normalize_path`] decodes every escape (`%2F` and `%2E` included)
//!   before removing dot segments, and refuses malformed escapes and, raw
//!   or encoded, NUL, `\` and overlong UTF-8 forms (`%C0%AE`); other bytes
//!   from 0x80 pass, since a path need not be UTF-8.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod accept;
mod chars;
mod chunked;
mod cookie;
pub mod date;
mod error;
mod head_cache;
mod parser;
mod proxy;
mod range;
mod request;
mod response;
#[allow(unsafe_code)] // SSE2 intrinsics only; see the module docs
mod simd;
mod status;
mod uri;

#[doc(hidden)]
pub mod _fuzz;

pub use brisk_buf::Span;

pub use accept::{
    AcceptEncoding, AcceptError, Coding, EncodingPref, negotiate_encoding, parse_accept_encoding,
};
pub use chunked::{ChunkedDecoder, ChunkedEncoder, ChunkedProgress};
pub use cookie::{Cookies, parse_cookies};
pub use error::{ErrorKind, HeaderError, ParseError, PathError};
pub use head_cache::HeadCache;
pub use parser::{Limits, RequestParser, Status};
pub use proxy::{
    PROXY_V1_MAX_LEN, PROXY_V2_SIGNATURE, ProxyAddresses, ProxyCommand, ProxyError, ProxyHeader,
    ProxyStatus, ProxyTransport, ProxyVersion, SslInfo, Tlv, Tlvs, V1Field, crc32c,
    parse_proxy_header,
};
pub use range::{
    ByteRange, Conditionals, EntityTag, EtagError, MAX_RANGES, Precondition, RangeOutcome, Ranges,
    Validators, etag_list_matches, evaluate_preconditions, parse_http_date, parse_range,
    write_content_range, write_unsatisfied_range,
};
pub use request::{
    BodyKind, HeaderField, Method, RequestHeader, TargetForm, Version, normalize_header_names,
};
pub use response::{
    DEFAULT_CONTENT_TYPE, ResponseBody, ResponseHeader, WriteOptions, is_valid_header_name,
    is_valid_header_value, write_response, write_response_head,
};
pub use status::{status_has_no_body, status_text};
pub use uri::{Args, decode_arg, normalize_path, parse_args};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

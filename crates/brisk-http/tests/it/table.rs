//! Raw request cases, valid and invalid, each with the outcome and the RFC
//! section it comes from. Every row also checks that feeding the input one
//! byte at a time gives the same result as one call.
//!
//! Outcomes: `Head(kind)` a complete head with that body framing;
//! `Partial` more bytes needed; `Bad(kind)` the head is refused;
//! `Body(bytes)` a complete head whose chunked body decodes to `bytes`;
//! `BadBody(kind)` the chunked body is refused; `MoreBody` the chunked body
//! is incomplete.

use brisk_http::BodyKind::{Chunked, Length, None as NoBody};
use brisk_http::ErrorKind::{self, *};
use brisk_http::{BodyKind, ChunkedDecoder, Limits, RequestHeader, RequestParser, Status};

use Want::*;

#[derive(Clone, Copy, Debug)]
enum Want {
    Head(BodyKind),
    Partial,
    Bad(ErrorKind),
    Body(&'static [u8]),
    BadBody(ErrorKind),
    MoreBody,
}

/// `(RFC section, raw request, expected outcome)`.
type Row = (&'static str, &'static [u8], Want);

#[rustfmt::skip]
const REQUEST_LINE: &[Row] = &[
    ("9112 §3", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §3.2", b"GET / HTTP/1.0\r\n\r\n", Head(NoBody)),
    ("9110 §9.1 methods are case-sensitive tokens", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9110 §9.1 extension method", b"M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9110 §5.6.2 method is a token", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidMethod)),
    ("9110 §5.6.2 method is a token", b"G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidMethod)),
    ("9112 §3 leading space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 single SP", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 single SP", b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 SP not HTAB", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 SP not HTAB", b"GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 no trailing SP", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 HTTP/0.9 line", b"GET /\r\n\r\n", Bad(InvalidRequestLine)),
    ("9112 §3 empty method", b": / HTTP/1.1\r\n\r\n", Bad(InvalidMethod)),
    ("9110 §6.2 unsupported minor", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Bad(UnsupportedVersion)),
    ("9110 §6.2 unsupported minor", b"GET / HTTP/1.9\r\nHost: a\r\n\r\n", Bad(UnsupportedVersion)),
    ("9110 §15.6.6 505", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Bad(UnsupportedVersion)),
    ("9110 §15.6.6 505", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", Bad(UnsupportedVersion)),
    ("9110 §15.6.6 505", b"GET / HTTP/3.0\r\n", Bad(UnsupportedVersion)),
    ("9112 §2.3 version is case-sensitive", b"GET / http/1.1\r\nHost: a\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 one digit each", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 major.minor", b"GET / HTTP/11\r\nHost: a\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 major.minor", b"GET / HTTP/1\r\nHost: a\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 garbage version", b"GET / FOO\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 garbage version", b"GET / HTTP/1.1x\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.3 digits", b"GET / HTTP/a.b\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §2.2 bare LF", b"GET / HTTP/1.1\nHost: a\r\n\r\n", Bad(BareLf)),
    ("9112 §2.2 bare CR", b"GET / HTTP/1.1\rHost: a\r\n\r\n", Bad(BareCr)),
    ("9113 §3.4 h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Bad(Http2Preface)),
    ("9113 §3.4 h2 preface, first line", b"PRI * HTTP/2.0\r\n", Bad(Http2Preface)),
    ("9112 §2.2 empty line before request", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §2.2 empty lines before request", b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §2.2 bare LF before request", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(BareLf)),
    ("9112 §2.2 bare CR before request", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Bad(BareCr)),
    ("9112 §2.2 only empty lines", b"\r\n\r\n", Partial),
    ("9112 §3.2 no fragment", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2 no fragment", b"GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §2.1 non-ASCII must be encoded", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2 no NUL", b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2 no DEL", b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2 no CTL", b"GET /a\x0bb HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3 space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidVersion)),
    ("9112 §3.2 percent-encoded bytes are fine", b"GET /a%20b%00 HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §3.2 visible ASCII", b"GET /{x}|y^`[]\"<> HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("3986 §3.3 no '\\' in a path (a separator on Windows)", b"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3.3 no '\\' in a path (a separator on Windows)", b"GET /..\\..\\win.ini HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3.3 no '\\' in a path (a separator on Windows)", b"GET /static/0123456789/..\\x HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3.3 no '\\' in a path (a separator on Windows)", b"POST /a\\b?c HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3.3 no '\\' in an absolute-form path", b"GET http://h/a\\b HTTP/1.1\r\nHost: h\r\n\r\n", Bad(InvalidTarget)),
    ("WHATWG URL: browsers send '\\' raw in a query", b"GET /a?b\\c HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("WHATWG URL: browsers send '\\' raw in a query", b"GET /0123456789abcdef?q=..\\..\\x HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("WHATWG URL: browsers send '\\' raw in a query", b"GET http://h/a?\\ HTTP/1.1\r\nHost: h\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.1 origin-form with query", b"GET /p?a=1&b=2 HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.1 query may hold '?'", b"GET /p?a?b=/c HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.4 asterisk only for OPTIONS", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.4 asterisk only for OPTIONS", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.4 asterisk alone", b"OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.3 authority-form", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.3 authority-form", b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.3 CONNECT needs authority", b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.3 CONNECT needs a port", b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.3 CONNECT needs a port", b"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.3 authority only for CONNECT", b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3.2.2 absolute-form", b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n", Head(NoBody)),
    ("9112 §3.2.2 absolute-form, empty path", b"GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n", Head(NoBody)),
    ("9110 §4.2.4 no userinfo", b"GET http://user@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9110 §4.2.1 no empty host", b"GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3 scheme then //", b"GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("3986 §3.1 scheme starts with a letter", b"GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", Bad(InvalidTarget)),
    ("9112 §3 partial", b"", Partial),
    ("9112 §3 partial", b"GET", Partial),
    ("9112 §3 partial", b"GET / HTTP/1.1", Partial),
    ("9112 §3 partial", b"GET / HTTP/1.1\r\nHost: a\r\n", Partial),
    ("9112 §3 partial", b"GET / HTTP/1.1\r\nHost: a\r\n\r", Partial),
];

#[rustfmt::skip]
const FIELDS: &[Row] = &[
    ("9112 §5.1 no whitespace before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 no whitespace before colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 no whitespace before colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-Long-Header-Name-Here : b\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.2 obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n folded\r\n\r\n", Bad(ObsFold)),
    ("9112 §5.2 obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tfolded\r\n\r\n", Bad(ObsFold)),
    ("9112 §2.2 whitespace before first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Bad(ObsFold)),
    ("9112 §5 colon required", b"GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", Bad(MissingColon)),
    ("9110 §5.1 empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\nX\"A: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\nX/A: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 name is a token", b"GET / HTTP/1.1\r\nHost: a\r\n\x7fX: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.6.2 every tchar", b"GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09AZaz: x\r\n\r\n", Head(NoBody)),
    ("9110 §5.6.2 underscore is a tchar", b"GET / HTTP/1.1\r\nHost: a\r\nX_A: b\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 no NUL", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 no CTL", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 no DEL", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 no VT", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 no FF", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0cb\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 no ESC", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9112 §2.2 bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Bad(BareCr)),
    ("9112 §2.2 bare LF ends a field", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n", Bad(BareLf)),
    ("9112 §2.2 bare LF ends the head", b"GET / HTTP/1.1\r\nHost: a\n\n", Bad(BareLf)),
    ("9112 §2.2 bare LF empty line", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Bad(BareLf)),
    ("9112 §2.2 bare CR empty line", b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", Bad(BareCr)),
    ("9110 §5.5 HTAB inside a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 obs-text", b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 empty value", b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 whitespace-only value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \t \r\n\r\n", Head(NoBody)),
    ("9112 §5.1 OWS optional", b"GET / HTTP/1.1\r\nHost:a\r\n\r\n", Head(NoBody)),
    ("9112 §5.1 OWS trimmed", b"GET / HTTP/1.1\r\nHost: \t a \t \r\n\r\n", Head(NoBody)),
    ("9112 §5 long value", b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\r\n", Head(NoBody)),
    ("9112 §5 long value with NUL late", b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef0123456789abcdef0123456789\x00bcdef\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9112 §5 long name", b"GET / HTTP/1.1\r\nHost: a\r\nX-0123456789abcdef-0123456789abcdef-0123456789: b\r\n\r\n", Head(NoBody)),
    ("9112 §5 long name with bad byte late", b"GET / HTTP/1.1\r\nHost: a\r\nX-0123456789abcdef-0123456789abcdef-01234@6789: b\r\n\r\n", Bad(InvalidHeaderName)),
    ("9112 §5 name of 15 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5 name of 16 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5 name of 17 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5 name of 31 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5 name of 32 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5 name of 33 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: v\r\n\r\n", Head(NoBody)),
    ("9112 §5.1 space after a name of 14 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 space after a name of 15 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 space after a name of 16 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 space after a name of 30 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 space after a name of 31 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 space after a name of 32 bytes", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn : v\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9110 §5.5 value ending at byte 13", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 14", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 15", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 16", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 29", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 30", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 31", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 value ending at byte 32", b"GET / HTTP/1.1\r\nHost: a\r\nX: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.5 DEL in a 2-block line", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnn: vvvvvvvvvvvv\x7f\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 tab in a 2-block line", b"GET / HTTP/1.1\r\nHost: a\r\nX-nnnnnnnnnnnnnnnnn: vvvvvv\tvvvvv\r\n\r\n", Head(NoBody)),
    ("9110 §5.6.2 tchars in a 2-block name", b"GET / HTTP/1.1\r\nHost: a\r\nX.n_n!n#n$n%n&n'n*n+n^n`n|n~n: v\r\n\r\n", Head(NoBody)),
    ("9112 §6.3 bytes after the head are the body", b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE", Head(NoBody)),
];

#[rustfmt::skip]
const HOST: &[Row] = &[
    ("9112 §3.2 Host required on 1.1", b"GET / HTTP/1.1\r\n\r\n", Bad(MissingHost)),
    ("9112 §3.2 Host required on 1.1", b"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", Bad(MissingHost)),
    ("9112 §3.2 exactly one Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Bad(DuplicateHost)),
    ("9112 §3.2 exactly one Host", b"GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n", Bad(DuplicateHost)),
    ("9112 §3.2 exactly one Host, also 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", Bad(DuplicateHost)),
    ("9112 §3.2 empty Host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Head(NoBody)),
    ("9110 §7.2 host:port", b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", Head(NoBody)),
    ("9110 §7.2 IP literal", b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", Head(NoBody)),
    ("9110 §7.2 IPv4", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", Head(NoBody)),
    ("9110 §7.2 no space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 no path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 no userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 port is digits", b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 one port", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 unclosed literal", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Bad(InvalidHost)),
    ("9110 §7.2 not a list", b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", Bad(InvalidHost)),
    ("9112 §3.2 1.0 needs no Host", b"GET / HTTP/1.0\r\nX: y\r\n\r\n", Head(NoBody)),
];

#[rustfmt::skip]
const CONTENT_LENGTH: &[Row] = &[
    ("9110 §8.6", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", Head(Length(5))),
    ("9110 §8.6", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Head(Length(0))),
    ("9110 §8.6 leading zeros", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n", Head(Length(5))),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 digits only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xef\xbc\x95\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 not empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 no empty element", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 fits 64 bits", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Bad(InvalidContentLength)),
    ("9110 §8.6 fits 64 bits", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", Head(Length(u64::MAX))),
    ("9110 §8.6 equal list collapses", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Head(Length(5))),
    ("9110 §8.6 equal list collapses", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5,05\r\n\r\n", Head(Length(5))),
    ("9110 §8.6 equal lines collapse", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Head(Length(5))),
    ("9112 §6.3 differing values", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", Bad(ConflictingContentLength)),
    ("9112 §6.3 differing lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Bad(ConflictingContentLength)),
    ("9112 §6.3 differing lines", b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nCONTENT-LENGTH: 50\r\n\r\n", Bad(ConflictingContentLength)),
    ("9112 §5.1 CL with space before colon", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9110 §8.6 CL on GET is framing too", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", Head(Length(2))),
    ("9112 §6.3 CL on 1.0", b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", Head(Length(2))),
];

#[rustfmt::skip]
const SMUGGLING: &[Row] = &[
    ("9112 §6.1", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Head(Chunked)),
    ("9112 §7 codings are case-insensitive", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", Head(Chunked)),
    ("9112 §7 codings are case-insensitive", b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n", Head(Chunked)),
    ("9112 §5.1 OWS", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:chunked\r\n\r\n", Head(Chunked)),
    ("9112 §5.1 tab is OWS", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\t\r\n\r\n", Head(Chunked)),
    ("9110 §5.6.1 empty list elements", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n", Head(Chunked)),
    ("9112 §6.1 CL.TE", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", Bad(ContentLengthWithTransferEncoding)),
    ("9112 §6.1 TE.CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n", Bad(ContentLengthWithTransferEncoding)),
    ("9112 §6.1 TE.CL with CL 0", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(ContentLengthWithTransferEncoding)),
    ("9112 §5.1 TE with space before colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §5.1 TE with tab before colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ("9112 §6.3 xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.3 chunkedx", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.3 chunked, identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.3 identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.3 gzip alone", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.1 501 for unknown coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Bad(UnsupportedTransferCoding)),
    ("9112 §6.1 501 across lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(UnsupportedTransferCoding)),
    ("9112 §6.3 chunked then gzip line", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", Bad(TransferEncodingNotChunked)),
    ("9112 §6.1 duplicate TE lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(RepeatedChunked)),
    ("9112 §6.1 chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Bad(RepeatedChunked)),
    ("9110 §5.5 vertical tab before TE value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 vertical tab after TE value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 form feed before TE value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0cchunked\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9110 §5.5 NUL in TE value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x00\r\n\r\n", Bad(InvalidHeaderValue)),
    ("9112 §2.2 bare CR in TE value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\r\n\r\n", Bad(BareCr)),
    ("9112 §2.2 bare LF after TE", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\n\r\n", Bad(BareLf)),
    ("9112 §5.2 TE folded", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §5.2 TE folded onto another field", b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n", Bad(ObsFold)),
    ("9112 §5 TE name split by CRLF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\r\n: chunked\r\n\r\n", Bad(MissingColon)),
    ("9110 §5.1 NUL in TE name", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\x00: chunked\r\n\r\n", Bad(InvalidHeaderName)),
    ("9110 §5.1 other name is another field", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", Head(NoBody)),
    ("9110 §5.1 other name is another field", b"POST / HTTP/1.1\r\nHost: a\r\nX-Transfer-Encoding: chunked\r\n\r\n", Head(NoBody)),
    ("9112 §7 coding is a token", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chu nked\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §7 chunked has no parameters", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §7 coding is a token", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §6.1 empty TE", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §6.1 TE of empty elements", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", Bad(InvalidTransferEncoding)),
    ("9112 §6.1 TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(TransferEncodingHttp10)),
    ("9112 §6.1 TE in HTTP/1.0 with CL", b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(TransferEncodingHttp10)),
    ("9112 §6.1 TE on GET frames a body too", b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Head(Chunked)),
];

#[rustfmt::skip]
const CONNECTION_EXPECT: &[Row] = &[
    ("9110 §7.6.1", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Head(NoBody)),
    ("9110 §7.6.1 list", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n", Head(NoBody)),
    ("9110 §10.1.1", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", Head(Length(1))),
    ("9110 §10.1.1 case-insensitive", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", Head(Length(1))),
    ("9110 §10.1.1 417", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", Bad(UnsupportedExpectation)),
    ("9110 §10.1.1 417", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", Bad(UnsupportedExpectation)),
    ("9110 §10.1.1 ignored on 1.0", b"POST / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n", Head(NoBody)),
    ("9110 §10.1.1 empty Expect", b"POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", Head(NoBody)),
];

/// Chunked bodies after a valid head (RFC 9112 §7.1).
#[rustfmt::skip]
const CHUNKED: &[Row] = &[
    ("9112 §7.1", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Body(b"hello")),
    ("9112 §7.1", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Body(b"")),
    ("9112 §7.1 several chunks", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", Body(b"hello")),
    ("9112 §7.1 hex is case-insensitive", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", Body(b"01234567890123456789")),
    ("9112 §7.1 leading zeros", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0000\r\n\r\n", Body(b"hello")),
    ("9112 §7.1 no leading +", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 no leading -", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 no 0x prefix", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 no leading space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 no trailing space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 not empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 not hex", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\ng\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkSize)),
    ("9112 §7.1 huge size overflows", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nx\r\n0\r\n\r\n", BadBody(ChunkSizeOverflow)),
    ("9112 §7.1 huge size overflows", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000000000000000005\r\nhello\r\n0\r\n\r\n", BadBody(ChunkSizeOverflow)),
    ("9112 §7.1 huge size waits for data", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx\r\n0\r\n\r\n", MoreBody),
    ("9112 §7.1.1 extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name\r\nhello\r\n0;x=y\r\n\r\n", Body(b"hello")),
    ("9112 §7.1.1 quoted extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a=\"b \\\" c\"\r\nhello\r\n0\r\n\r\n", Body(b"hello")),
    ("9112 §7.1.1 extension needs a name", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkExtension)),
    ("9112 §7.1.1 extension value", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkExtension)),
    ("9112 §7.1.1 extension without CTL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x00\r\nhello\r\n0\r\n\r\n", BadBody(InvalidChunkExtension)),
    ("9112 §7.1 bare LF after size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", BadBody(BareLf)),
    ("9112 §7.1 bare CR after size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n", BadBody(BareCr)),
    ("9112 §7.1 data then CRLF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", BadBody(InvalidChunkData)),
    ("9112 §7.1 data then CRLF, not LF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", BadBody(InvalidChunkData)),
    ("9112 §7.1 short data", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", MoreBody),
    ("9112 §7.1.2 trailers", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nChecksum: abc\r\n\r\n", Body(b"hello")),
    ("9112 §7.1.2 trailers follow field rules", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", BadBody(WhitespaceBeforeColon)),
    ("9112 §7.1.2 trailers: no obs-fold", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n", BadBody(ObsFold)),
    ("9112 §7.1.2 trailers: no CTL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x00\r\n\r\n", BadBody(InvalidHeaderValue)),
    ("9112 §7.1 last chunk needs the final CRLF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", MoreBody),
];

/// Runs one row: one-shot parse, byte-by-byte parse, expected outcome.
fn check(rfc: &str, input: &[u8], want: Want) {
    let shown = input.escape_ascii().to_string();
    let mut parser = RequestParser::new(Limits::default());
    let mut req = RequestHeader::new();
    let one = parser.parse(input, &mut req);

    let mut p2 = RequestParser::new(Limits::default());
    let mut r2 = RequestHeader::new();
    let mut inc = Ok(Status::Partial);
    for n in 0..=input.len() {
        inc = p2.parse(&input[..n], &mut r2);
        if inc != Ok(Status::Partial) {
            break;
        }
    }
    assert_eq!(one, inc, "[{rfc}] byte-by-byte differs: {shown}");
    if one.is_ok() {
        assert_eq!(req, r2, "[{rfc}] byte-by-byte header differs: {shown}");
    }

    let head_kind = || match one {
        Ok(Status::Complete(n)) => (n, req.body_kind()),
        other => panic!("[{rfc}] want a complete head, got {other:?}: {shown}"),
    };
    match want {
        Partial => assert_eq!(one, Ok(Status::Partial), "[{rfc}] {shown}"),
        Bad(kind) => {
            let e = one.expect_err(&format!("[{rfc}] want {kind:?}: {shown}"));
            assert_eq!(e.kind(), kind, "[{rfc}] {shown}");
            assert_eq!(e.status(), kind.status());
        }
        Head(kind) => assert_eq!(head_kind().1, kind, "[{rfc}] {shown}"),
        Body(_) | BadBody(_) | MoreBody => {
            let (n, kind) = head_kind();
            assert_eq!(kind, Chunked, "[{rfc}] {shown}");
            let mut body = input[n..].to_vec();
            let mut dec = ChunkedDecoder::new(&Limits::default());
            let got = dec.decode(&mut body, 0, 0);
            match (want, got) {
                (Body(b), Ok(p)) => {
                    assert!(p.done, "[{rfc}] body not done: {shown}");
                    assert_eq!(&body[..p.written], b, "[{rfc}] {shown}");
                    assert_eq!(p.read, body.len(), "[{rfc}] {shown}");
                }
                (BadBody(k), Err(e)) => assert_eq!(e.kind(), k, "[{rfc}] {shown}"),
                (MoreBody, Ok(p)) => assert!(!p.done, "[{rfc}] {shown}"),
                (w, g) => panic!("[{rfc}] want {w:?}, got {g:?}: {shown}"),
            }
        }
    }
}

fn run(rows: &[Row]) {
    for &(rfc, input, want) in rows {
        check(rfc, input, want);
    }
}

#[test]
fn request_line() {
    run(REQUEST_LINE);
}

#[test]
fn fields() {
    run(FIELDS);
}

#[test]
fn host() {
    run(HOST);
}

#[test]
fn content_length() {
    run(CONTENT_LENGTH);
}

#[test]
fn smuggling() {
    run(SMUGGLING);
}

#[test]
fn connection_and_expect() {
    run(CONNECTION_EXPECT);
}

#[test]
fn chunked_bodies() {
    run(CHUNKED);
}

#[test]
fn at_least_150_rows() {
    let n: usize = [
        REQUEST_LINE,
        FIELDS,
        HOST,
        CONTENT_LENGTH,
        SMUGGLING,
        CONNECTION_EXPECT,
        CHUNKED,
    ]
    .iter()
    .map(|t| t.len())
    .sum();
    assert!(n >= 150, "{n} rows");
}

/// Every row's input, for seeding the fuzz corpora (see `corpus.rs`).
pub fn all_inputs() -> impl Iterator<Item = &'static [u8]> {
    [
        REQUEST_LINE,
        FIELDS,
        HOST,
        CONTENT_LENGTH,
        SMUGGLING,
        CONNECTION_EXPECT,
        CHUNKED,
    ]
    .into_iter()
    .flatten()
    .map(|r| r.1)
}

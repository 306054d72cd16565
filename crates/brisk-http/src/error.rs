//! Error types: [`ParseError`] (with its [`ErrorKind`]), [`HeaderError`] and
//! [`PathError`].

use core::fmt;

/// What was wrong with a request head or a chunked body.
///
/// Every kind names exactly one violation, knows the HTTP status the server
/// should answer with ([`ErrorKind::status`]) and a short lowercase reason
/// ([`ErrorKind::reason`]) suitable for a response body or a log line.
/// After any of these errors the framing of the connection is unreliable:
/// the server answers and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // ---- request line (RFC 9112 §3) ----
    /// The method is empty or contains a byte that is not a token character
    /// (RFC 9110 §9.1, §5.6.2).
    InvalidMethod,
    /// The request target contains a control character, a non-ASCII byte,
    /// `#` or (before its query) `\`, or does not fit the form its method
    /// requires (RFC 9112 §3.2).
    InvalidTarget,
    /// The request line is not `method SP target SP version CRLF` with single
    /// spaces (RFC 9112 §3).
    InvalidRequestLine,
    /// The version is not of the form `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    InvalidVersion,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (RFC 9110 §15.6.6).
    UnsupportedVersion,
    /// The client sent the HTTP/2 connection preface (`PRI * HTTP/2.0`,
    /// RFC 9113 §3.4); this server speaks HTTP/1.x only.
    Http2Preface,
    /// The request line is longer than [`Limits::max_request_line`](crate::Limits::max_request_line).
    RequestLineTooLong,

    // ---- field lines (RFC 9112 §5, RFC 9110 §5) ----
    /// A field name is empty or contains a non-token byte (RFC 9110 §5.1).
    InvalidHeaderName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1).
    WhitespaceBeforeColon,
    /// A field line has no colon (RFC 9112 §5).
    MissingColon,
    /// A field line starts with whitespace: obsolete line folding, or
    /// whitespace before the first field line (RFC 9112 §5.2, §2.2).
    ObsFold,
    /// A field value contains NUL, DEL or another control character other
    /// than horizontal tab (RFC 9110 §5.5).
    InvalidHeaderValue,
    /// A CR that is not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// A line ended by LF alone; this parser requires CRLF (RFC 9112 §2.2).
    BareLf,
    /// More field lines than [`Limits::max_headers`](crate::Limits::max_headers).
    TooManyHeaders,
    /// The head is larger than [`Limits::max_head_size`](crate::Limits::max_head_size).
    HeadTooLarge,

    // ---- header semantics and framing ----
    /// HTTP/1.1 request without a Host field (RFC 9112 §3.2).
    MissingHost,
    /// More than one Host field line (RFC 9112 §3.2).
    DuplicateHost,
    /// The Host value is not `host [":" port]` (RFC 9110 §7.2).
    InvalidHost,
    /// Content-Length is not a list of decimal digits that fits in 64 bits
    /// (RFC 9110 §8.6).
    InvalidContentLength,
    /// Content-Length values differ (RFC 9112 §6.3 item 5).
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding are present: a smuggling
    /// vector, rejected rather than guessed (RFC 9112 §6.1, §6.3 item 3).
    ContentLengthWithTransferEncoding,
    /// The final transfer coding is not `chunked`, so the body length cannot
    /// be determined (RFC 9112 §6.3 item 4).
    TransferEncodingNotChunked,
    /// `chunked` applied more than once (RFC 9112 §6.1).
    RepeatedChunked,
    /// The Transfer-Encoding value is empty or not a list of bare tokens
    /// (RFC 9112 §6.1, §7).
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501).
    UnsupportedTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 request, whose framing is then faulty
    /// (RFC 9112 §6.1).
    TransferEncodingHttp10,
    /// An Expect value other than `100-continue` (RFC 9110 §10.1.1: 417).
    UnsupportedExpectation,

    // ---- chunked body (RFC 9112 §7.1) ----
    /// The chunk size is empty or not hexadecimal digits (no sign, no `0x`,
    /// no whitespace) (RFC 9112 §7.1).
    InvalidChunkSize,
    /// The chunk size has more than 16 hex digits (it would overflow 64 bits).
    ChunkSizeOverflow,
    /// A chunk extension is not `;name[=value]` with token or quoted-string
    /// values (RFC 9112 §7.1.1).
    InvalidChunkExtension,
    /// The chunk extensions of one chunk line exceed
    /// [`Limits::max_chunk_ext`](crate::Limits::max_chunk_ext).
    ChunkExtensionTooLong,
    /// Chunk data is not followed by CRLF (RFC 9112 §7.1).
    InvalidChunkData,
    /// The trailer section exceeds [`Limits::max_trailer_size`](crate::Limits::max_trailer_size).
    TrailersTooLarge,
    /// The decoder was called with `read < written` or `read > buf.len()`:
    /// a bug in the caller, not in the peer's input.
    InvalidDecoderState,
}

/// A request head or chunked body that must be rejected.
///
/// `Copy`, two bytes; [`status`](ParseError::status) is the HTTP status code
/// to answer with and [`reason`](ParseError::reason) a short lowercase text.
///
/// ```
/// use brisk_http::{Limits, RequestHeader, RequestParser, ErrorKind};
/// let mut p = RequestParser::new(Limits::default());
/// let mut req = RequestHeader::new();
/// let err = p.parse(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", &mut req).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::WhitespaceBeforeColon);
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.reason(), "whitespace between header name and colon");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseError {
    kind: ErrorKind,
}

/// Why a response header, status or reason was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty or contains a byte that is not a token character.
    InvalidName,
    /// The value contains CR, LF, NUL or another control character other than
    /// horizontal tab (this is what prevents response splitting).
    InvalidValue,
    /// The name is one the serializer writes itself (Content-Length,
    /// Transfer-Encoding, Connection).
    Reserved,
    /// The status code is outside `100..=999`.
    InvalidStatus,
    /// The reason phrase contains CR, LF or another control character other
    /// than horizontal tab.
    InvalidReason,
}

/// Why [`normalize_path`](crate::normalize_path) refused a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathError {
    /// A `%` not followed by two hexadecimal digits.
    InvalidEscape,
    /// `%00` (or a raw NUL byte): a NUL byte would end the path early in C
    /// APIs and file systems.
    NulByte,
    /// `%5C` (or a raw `\`): a backslash is a path separator on Windows and
    /// to some proxies and applications, so it could smuggle a `..` segment
    /// past the dot-segment removal.
    Backslash,
    /// An overlong UTF-8 form: a byte 0xC0 or 0xC1, 0xE0 followed by
    /// 0x80..=0x9F, or 0xF0 followed by 0x80..=0x8F (for example `%C0%AE`,
    /// a `.` encoded in two bytes): a character encoded in more bytes than
    /// it needs. Lenient UTF-8 decoders read these as that character, so
    /// `%C0%AE%C0%AE` would become a `..` after the normalization.
    OverlongUtf8,
}

impl ErrorKind {
    /// The HTTP status code the server should answer with.
    pub const fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            RequestLineTooLong => 414,
            TooManyHeaders | HeadTooLarge | TrailersTooLarge => 431,
            UnsupportedTransferCoding => 501,
            UnsupportedVersion | Http2Preface => 505,
            UnsupportedExpectation => 417,
            InvalidDecoderState => 500,
            _ => 400,
        }
    }

    /// A short lowercase description of the violation.
    pub const fn reason(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidMethod => "invalid character in method",
            InvalidTarget => "invalid request target",
            InvalidRequestLine => "malformed request line",
            InvalidVersion => "malformed http version",
            UnsupportedVersion => "http version not supported",
            Http2Preface => "http/2 preface on an http/1.1 server",
            RequestLineTooLong => "request line too long",
            InvalidHeaderName => "invalid character in header name",
            WhitespaceBeforeColon => "whitespace between header name and colon",
            MissingColon => "header line without colon",
            ObsFold => "header line starts with whitespace (obs-fold)",
            InvalidHeaderValue => "control character in header value",
            BareCr => "cr not followed by lf",
            BareLf => "line ended by lf without cr",
            TooManyHeaders => "too many header fields",
            HeadTooLarge => "request head too large",
            MissingHost => "missing host header",
            DuplicateHost => "more than one host header",
            InvalidHost => "invalid host header",
            InvalidContentLength => "invalid content-length",
            ConflictingContentLength => "conflicting content-length values",
            ContentLengthWithTransferEncoding => "both content-length and transfer-encoding",
            TransferEncodingNotChunked => "final transfer coding is not chunked",
            RepeatedChunked => "chunked transfer coding applied more than once",
            InvalidTransferEncoding => "malformed transfer-encoding",
            UnsupportedTransferCoding => "unsupported transfer coding",
            TransferEncodingHttp10 => "transfer-encoding in an http/1.0 request",
            UnsupportedExpectation => "unsupported expectation",
            InvalidChunkSize => "invalid chunk size",
            ChunkSizeOverflow => "chunk size too large",
            InvalidChunkExtension => "invalid chunk extension",
            ChunkExtensionTooLong => "chunk extension too long",
            InvalidChunkData => "chunk data not followed by crlf",
            TrailersTooLarge => "trailer section too large",
            InvalidDecoderState => "chunked decoder called with inconsistent offsets",
        }
    }

    /// What the sender should change, for logs and error pages.
    pub const fn hint(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidMethod => "a method is a case-sensitive token such as GET",
            InvalidTarget => {
                "percent-encode non-ASCII bytes, spaces and '#'; separate path segments with \
                 '/', not '\\'; use '*' only with OPTIONS and host:port only with CONNECT"
            }
            InvalidRequestLine => "separate method, target and version by exactly one space",
            InvalidVersion => "end the request line with HTTP/1.1 or HTTP/1.0",
            UnsupportedVersion => "use HTTP/1.1 or HTTP/1.0",
            Http2Preface => {
                "negotiate HTTP/2 with ALPN on a server that supports it, or use HTTP/1.1"
            }
            RequestLineTooLong => "shorten the request target or raise Limits::max_request_line",
            InvalidHeaderName => {
                "a header name is a non-empty token (letters, digits, !#$%&'*+-.^_`|~)"
            }
            WhitespaceBeforeColon => "remove the whitespace before ':'",
            MissingColon => "write each header field as name: value",
            ObsFold => "put each header field on one line; do not start lines with spaces or tabs",
            InvalidHeaderValue => "remove control characters (other than tab) from header values",
            BareCr => "end lines with CRLF; a CR must be followed by LF",
            BareLf => "end lines with CRLF, not a lone LF",
            TooManyHeaders => "send fewer header fields or raise Limits::max_headers",
            HeadTooLarge => "send a smaller request head or raise Limits::max_head_size",
            MissingHost => "HTTP/1.1 requests must carry a Host header",
            DuplicateHost => "send exactly one Host header",
            InvalidHost => "the Host header is host or host:port",
            InvalidContentLength => "Content-Length is decimal digits only",
            ConflictingContentLength => "send one Content-Length value",
            ContentLengthWithTransferEncoding => {
                "send either Content-Length or Transfer-Encoding, never both"
            }
            TransferEncodingNotChunked => "the final transfer coding of a request must be chunked",
            RepeatedChunked => "apply chunked once, as the final coding",
            InvalidTransferEncoding => "Transfer-Encoding is a comma-separated list of codings",
            UnsupportedTransferCoding => "use Transfer-Encoding: chunked without other codings",
            TransferEncodingHttp10 => "use HTTP/1.1 for chunked bodies, or Content-Length",
            UnsupportedExpectation => "the only supported expectation is 100-continue",
            InvalidChunkSize => "a chunk size is hexadecimal digits without sign, prefix or spaces",
            ChunkSizeOverflow => "a chunk size has at most 16 hex digits",
            InvalidChunkExtension => "chunk extensions are ;name or ;name=value",
            ChunkExtensionTooLong => "send shorter chunk extensions or raise Limits::max_chunk_ext",
            InvalidChunkData => {
                "follow each chunk's data with CRLF, exactly chunk-size bytes later"
            }
            TrailersTooLarge => "send fewer trailer fields or raise Limits::max_trailer_size",
            InvalidDecoderState => "pass read >= written and read <= buf.len() to decode",
        }
    }
}

impl ParseError {
    /// An error of the given kind.
    #[cold]
    pub const fn new(kind: ErrorKind) -> ParseError {
        ParseError { kind }
    }

    /// Which violation this is.
    #[inline]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status code the server should answer with (400, 414, 417,
    /// 431, 501 or 505; 500 for [`ErrorKind::InvalidDecoderState`]).
    #[inline]
    pub const fn status(&self) -> u16 {
        self.kind.status()
    }

    /// A short lowercase description of the violation.
    #[inline]
    pub const fn reason(&self) -> &'static str {
        self.kind.reason()
    }
}

impl From<ErrorKind> for ParseError {
    #[cold]
    fn from(kind: ErrorKind) -> ParseError {
        ParseError { kind }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (status {}): {}",
            self.kind.reason(),
            self.kind.status(),
            self.kind.hint()
        )
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::InvalidName => {
                "invalid header name: use a non-empty token (letters, digits, !#$%&'*+-.^_`|~)"
            }
            HeaderError::InvalidValue => {
                "invalid header value: cr, lf, nul and other control characters are refused \
                 (response splitting)"
            }
            HeaderError::Reserved => {
                "reserved header: content-length, transfer-encoding and connection are written \
                 by the serializer; use ResponseBody and set_connection_close"
            }
            HeaderError::InvalidStatus => "invalid status code: use a code in 100..=999",
            HeaderError::InvalidReason => {
                "invalid reason phrase: cr, lf and other control characters are refused"
            }
        })
    }
}

impl std::error::Error for HeaderError {}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::InvalidEscape => {
                "invalid percent escape in the request path: '%' must be followed by two hex \
                 digits"
            }
            PathError::NulByte => "nul byte (%00) in the request path",
            PathError::Backslash => "backslash (%5C) in the request path",
            PathError::OverlongUtf8 => {
                "overlong UTF-8 in the request path (such as %C0%AE): a character encoded \
                 in more bytes than it needs"
            }
        })
    }
}

impl std::error::Error for PathError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        assert_eq!(ParseError::new(ErrorKind::RequestLineTooLong).status(), 414);
        assert_eq!(ParseError::new(ErrorKind::HeadTooLarge).status(), 431);
        assert_eq!(ParseError::new(ErrorKind::TooManyHeaders).status(), 431);
        assert_eq!(
            ParseError::new(ErrorKind::UnsupportedTransferCoding).status(),
            501
        );
        assert_eq!(ParseError::new(ErrorKind::UnsupportedVersion).status(), 505);
        assert_eq!(ParseError::new(ErrorKind::Http2Preface).status(), 505);
        assert_eq!(
            ParseError::new(ErrorKind::UnsupportedExpectation).status(),
            417
        );
        assert_eq!(ParseError::new(ErrorKind::BareCr).status(), 400);
        let e = ParseError::from(ErrorKind::ContentLengthWithTransferEncoding);
        let s = e.to_string();
        assert!(s.starts_with("both content-length and transfer-encoding (status 400): "));
        assert_eq!(ErrorKind::BareLf.to_string(), "line ended by lf without cr");
        for m in [
            HeaderError::InvalidName.to_string(),
            HeaderError::InvalidValue.to_string(),
            HeaderError::Reserved.to_string(),
            HeaderError::InvalidStatus.to_string(),
            HeaderError::InvalidReason.to_string(),
            PathError::InvalidEscape.to_string(),
            PathError::NulByte.to_string(),
            PathError::Backslash.to_string(),
            PathError::OverlongUtf8.to_string(),
        ] {
            assert!(
                m.chars().next().is_some_and(|c| c.is_ascii_lowercase()),
                "{m}"
            );
        }
    }
}

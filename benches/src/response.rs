//! A minimal, restartable HTTP/1.1 response framer.
//!
//! The load generator does not need the headers of a response, only where it
//! ends and its status: [`ResponseParser::feed`] finds the end of the head,
//! reads the status code and the framing headers (`Content-Length`,
//! `Transfer-Encoding`, `Connection`), then skips the body. Body bytes are
//! consumed as they arrive, so a large body never has to fit in the read
//! buffer; only a head (or a chunk-size line) must be complete before it is
//! consumed.

use std::fmt;

use memchr::memmem;

/// What one call to [`ResponseParser::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No complete response yet. The first `consumed` bytes of the input were
    /// used (the caller drops them); feed the rest again with more bytes after it.
    Partial {
        /// Bytes of the input the parser has used.
        consumed: usize,
    },
    /// One response ended `consumed` bytes into the input.
    Complete {
        /// Bytes of the input that belong to this response (or to the part of
        /// it not consumed by earlier calls).
        consumed: usize,
        /// The status code of the final (non-1xx) response head.
        status: u16,
        /// The server will close the connection after this response
        /// (`Connection: close`, HTTP/1.0 without keep-alive, or a body
        /// delimited by the end of the connection).
        close: bool,
    },
}

/// Why a response could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The first line is not `HTTP/1.x NNN ...`.
    BadStatusLine,
    /// A `Content-Length` value is not a decimal number, or two differ.
    BadContentLength,
    /// A chunk-size line is not hexadecimal, or is too long.
    BadChunkSize,
    /// Chunk data is not followed by CRLF.
    BadChunkEnd,
    /// A header line has no colon.
    BadHeaderLine,
}

/// Restartable response framer: feed it the unconsumed bytes of a connection
/// each time more arrive.
///
/// # Examples
///
/// ```
/// use brisk_benches::{Progress, ResponseParser};
///
/// let mut parser = ResponseParser::new(false);
/// let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
/// assert_eq!(
///     parser.feed(bytes),
///     Ok(Progress::Complete { consumed: bytes.len(), status: 200, close: false })
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ResponseParser {
    /// Where in the current response the next byte goes.
    state: State,
    /// Status of the response being framed (valid after its head).
    status: u16,
    /// The current response announced that the connection closes after it.
    close: bool,
    /// The requests are `HEAD`: responses never have a body.
    head_requests: bool,
}

/// Longest chunk-size or trailer line accepted, in bytes.
pub const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a complete head (`\r\n\r\n`).
    Head,
    /// `remaining` bytes of a Content-Length body are still to come.
    Body { remaining: u64 },
    /// The body runs until the server closes the connection.
    UntilClose,
    /// Waiting for a complete chunk-size line.
    ChunkSize,
    /// `remaining` bytes of chunk data are still to come.
    ChunkData { remaining: u64 },
    /// The CRLF after chunk data.
    ChunkEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
}

/// How the body of a response is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl ResponseParser {
    /// A parser for responses to requests whose method is `HEAD` when
    /// `head_requests` is true (their responses have no body), or to any
    /// other method.
    pub fn new(head_requests: bool) -> ResponseParser {
        ResponseParser {
            state: State::Head,
            status: 0,
            close: false,
            head_requests,
        }
    }

    /// Frames as much of `input` as possible. `input` must start where the
    /// previous call stopped consuming.
    ///
    /// # Errors
    ///
    /// A [`ResponseError`] when the bytes are not a valid HTTP/1.x response;
    /// the connection is unusable after that.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ResponseError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Head => {
                    let Some(end) = memmem::find(rest, b"\r\n\r\n") else {
                        return Ok(Progress::Partial { consumed: pos });
                    };
                    let framing = self.parse_head(&rest[..end + 2])?;
                    pos += end + 4;
                    match framing {
                        // An interim 1xx response: the final one follows.
                        _ if (100..200).contains(&self.status) && self.status != 101 => {}
                        Framing::None => return Ok(self.complete(pos)),
                        Framing::Length(0) => return Ok(self.complete(pos)),
                        Framing::Length(n) => self.state = State::Body { remaining: n },
                        Framing::Chunked => self.state = State::ChunkSize,
                        Framing::UntilClose => {
                            self.close = true;
                            self.state = State::UntilClose;
                        }
                    }
                }
                State::Body { remaining } => {
                    let available = rest.len() as u64;
                    if available < remaining {
                        self.state = State::Body {
                            remaining: remaining - available,
                        };
                        return Ok(Progress::Partial {
                            consumed: input.len(),
                        });
                    }
                    // `remaining <= available`, which is a usize.
                    pos += remaining as usize;
                    return Ok(self.complete(pos));
                }
                State::UntilClose => {
                    return Ok(Progress::Partial {
                        consumed: input.len(),
                    });
                }
                State::ChunkSize => {
                    let Some(line) = line(rest, ResponseError::BadChunkSize)? else {
                        return Ok(Progress::Partial { consumed: pos });
                    };
                    pos += line.len() + 1;
                    let size = chunk_size(line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData { remaining: size }
                    };
                }
                State::ChunkData { remaining } => {
                    let available = rest.len() as u64;
                    if available < remaining {
                        self.state = State::ChunkData {
                            remaining: remaining - available,
                        };
                        return Ok(Progress::Partial {
                            consumed: input.len(),
                        });
                    }
                    pos += remaining as usize;
                    self.state = State::ChunkEnd;
                }
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(Progress::Partial { consumed: pos }),
                    _ => return Err(ResponseError::BadChunkEnd),
                },
                State::Trailers => {
                    let Some(line) = line(rest, ResponseError::BadChunkSize)? else {
                        return Ok(Progress::Partial { consumed: pos });
                    };
                    pos += line.len() + 1;
                    if line.is_empty() || line == b"\r" {
                        return Ok(self.complete(pos));
                    }
                }
            }
        }
    }

    /// The connection reached end of file: completes a response whose body
    /// runs until the close, and returns its status. `None` when no response
    /// was in progress or the one in progress is cut short.
    pub fn finish_at_eof(&mut self) -> Option<u16> {
        if self.state == State::UntilClose {
            self.state = State::Head;
            Some(self.status)
        } else {
            None
        }
    }

    /// True when no response is partly framed (the next byte starts a head).
    #[inline]
    pub fn is_between_responses(&self) -> bool {
        self.state == State::Head
    }

    /// Forgets any partly framed response (used when a connection is replaced).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.status = 0;
        self.close = false;
    }

    #[inline]
    fn complete(&mut self, consumed: usize) -> Progress {
        self.state = State::Head;
        Progress::Complete {
            consumed,
            status: self.status,
            close: self.close,
        }
    }

    /// Parses a head that ends with its last header line's CRLF.
    fn parse_head(&mut self, head: &[u8]) -> Result<Framing, ResponseError> {
        let line_end = memchr::memchr(b'\n', head).ok_or(ResponseError::BadStatusLine)?;
        let (minor, status) = status_line(&head[..line_end])?;
        self.status = status;
        // HTTP/1.0 closes unless it says keep-alive; 1.1 keeps alive unless it says close.
        let mut keep_alive = minor != 0;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut other_coding = false;
        let mut rest = &head[line_end + 1..];
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let line = trim_cr(&rest[..nl]);
            rest = &rest[nl + 1..];
            let colon = memchr::memchr(b':', line).ok_or(ResponseError::BadHeaderLine)?;
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = decimal(value).ok_or(ResponseError::BadContentLength)?;
                if length.is_some_and(|old| old != n) {
                    return Err(ResponseError::BadContentLength);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // Only the last coding decides whether the body is chunked.
                let last = value.rsplit(|&b| b == b',').next().map(trim).unwrap_or(b"");
                chunked = last.eq_ignore_ascii_case(b"chunked");
                other_coding = !chunked;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        self.close = !keep_alive || status == 101;
        let bodiless = self.head_requests || status < 200 || status == 204 || status == 304;
        Ok(if bodiless {
            Framing::None
        } else if chunked {
            Framing::Chunked
        } else if other_coding {
            Framing::UntilClose
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        })
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseError::BadStatusLine => "response does not start with `HTTP/1.x NNN`",
            ResponseError::BadContentLength => {
                "response content-length is not a decimal number, or two values differ"
            }
            ResponseError::BadChunkSize => {
                "response chunk-size line is not hexadecimal or is longer than 4096 bytes"
            }
            ResponseError::BadChunkEnd => "response chunk data is not followed by CRLF",
            ResponseError::BadHeaderLine => "response header line has no colon",
        })
    }
}

impl std::error::Error for ResponseError {}

/// `HTTP/1.x NNN[ reason]` → (x, NNN).
fn status_line(line: &[u8]) -> Result<(u8, u16), ResponseError> {
    let line = trim_cr(line);
    match line {
        [
            b'H',
            b'T',
            b'T',
            b'P',
            b'/',
            b'1',
            b'.',
            minor @ b'0'..=b'9',
            b' ',
            a,
            b,
            c,
            tail @ ..,
        ] if a.is_ascii_digit()
            && b.is_ascii_digit()
            && c.is_ascii_digit()
            && (tail.is_empty() || tail[0] == b' ') =>
        {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            Ok((minor - b'0', status))
        }
        _ => Err(ResponseError::BadStatusLine),
    }
}

/// The next line of `rest` without its `\n`, `None` when incomplete.
fn line(rest: &[u8], too_long: ResponseError) -> Result<Option<&[u8]>, ResponseError> {
    match memchr::memchr(b'\n', rest) {
        Some(nl) if nl <= MAX_LINE => Ok(Some(&rest[..nl])),
        Some(_) => Err(too_long),
        None if rest.len() > MAX_LINE => Err(too_long),
        None => Ok(None),
    }
}

/// Hex size of a chunk-size line (`1a;ext=1\r`).
fn chunk_size(line: &[u8]) -> Result<u64, ResponseError> {
    let line = trim_cr(line);
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits_end == 0 || !matches!(line.get(digits_end), None | Some(b';' | b' ' | b'\t')) {
        return Err(ResponseError::BadChunkSize);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits_end] {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(ResponseError::BadChunkSize)?;
    }
    Ok(size)
}

fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[inline]
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[inline]
fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes the way a connection would
    /// (keeping unconsumed bytes), returning each completed (status, close).
    fn frame(input: &[u8], step: usize) -> Result<Vec<(u16, bool)>, ResponseError> {
        let mut parser = ResponseParser::new(false);
        let mut buf = Vec::new();
        let mut done = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            let mut pos = 0;
            loop {
                match parser.feed(&buf[pos..])? {
                    Progress::Complete {
                        consumed,
                        status,
                        close,
                    } => {
                        pos += consumed;
                        done.push((status, close));
                    }
                    Progress::Partial { consumed } => {
                        pos += consumed;
                        break;
                    }
                }
            }
            buf.drain(..pos);
        }
        Ok(done)
    }

    fn check(input: &[u8], expect: &[(u16, bool)]) {
        for step in [1, 2, 3, 7, input.len().max(1)] {
            assert_eq!(frame(input, step).as_deref(), Ok(expect), "step {step}");
        }
    }

    const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 13\r\n\
        Content-Type: text/plain\r\n\r\nHello, World!";

    #[test]
    fn complete_content_length() {
        check(HELLO, &[(200, false)]);
    }

    #[test]
    fn partial_head_consumes_nothing() {
        let mut parser = ResponseParser::new(false);
        assert_eq!(
            parser.feed(&HELLO[..20]),
            Ok(Progress::Partial { consumed: 0 })
        );
        assert!(parser.is_between_responses());
    }

    #[test]
    fn partial_body_consumes_what_is_there() {
        let mut parser = ResponseParser::new(false);
        let cut = HELLO.len() - 5;
        assert_eq!(
            parser.feed(&HELLO[..cut]),
            Ok(Progress::Partial { consumed: cut })
        );
        assert!(!parser.is_between_responses());
        assert_eq!(
            parser.feed(&HELLO[cut..]),
            Ok(Progress::Complete {
                consumed: 5,
                status: 200,
                close: false
            })
        );
    }

    #[test]
    fn pipelined_responses() {
        let mut input = Vec::new();
        for _ in 0..16 {
            input.extend_from_slice(HELLO);
        }
        input.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        let mut expect = vec![(200, false); 16];
        expect.push((404, false));
        check(&input, &expect);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n\
            5;name=v\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n\
            HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        check(input, &[(200, false), (500, false)]);
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\n";
        check(input, &[(200, false)]);
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
        check(input, &[(201, false)]);
    }

    #[test]
    fn bodiless_statuses_and_head_requests() {
        check(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            &[(204, false)],
        );
        check(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            &[(304, false)],
        );
        let mut parser = ResponseParser::new(true);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
        assert_eq!(
            parser.feed(input),
            Ok(Progress::Complete {
                consumed: input.len(),
                status: 200,
                close: false
            })
        );
    }

    #[test]
    fn connection_close_and_http10() {
        check(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            &[(200, true)],
        );
        check(
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            &[(200, true)],
        );
        check(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            &[(200, false)],
        );
    }

    #[test]
    fn body_until_close_ends_at_eof() {
        let mut parser = ResponseParser::new(false);
        let input = b"HTTP/1.1 200 OK\r\n\r\nsome body";
        assert_eq!(
            parser.feed(input),
            Ok(Progress::Partial {
                consumed: input.len()
            })
        );
        assert_eq!(parser.finish_at_eof(), Some(200));
        assert!(parser.is_between_responses());
        assert_eq!(parser.finish_at_eof(), None);
    }

    #[test]
    fn eof_in_a_length_body_is_not_a_response() {
        let mut parser = ResponseParser::new(false);
        assert_eq!(parser.feed(&HELLO[..HELLO.len() - 1]).map(|_| ()), Ok(()));
        assert_eq!(parser.finish_at_eof(), None);
    }

    #[test]
    fn rejects_malformed_input() {
        let bad: &[(&[u8], ResponseError)] = &[
            (b"HTTP/2 200 OK\r\n\r\n", ResponseError::BadStatusLine),
            (b"HTTP/1.1 20 OK\r\n\r\n", ResponseError::BadStatusLine),
            (b"HTTP/1.1 200OK\r\n\r\n", ResponseError::BadStatusLine),
            (b"garbage\r\n\r\n", ResponseError::BadStatusLine),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                ResponseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
                ResponseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                ResponseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ResponseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                ResponseError::BadHeaderLine,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ResponseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
                ResponseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
                ResponseError::BadChunkEnd,
            ),
        ];
        for (input, error) in bad {
            assert_eq!(
                frame(input, input.len()),
                Err(*error),
                "{}",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn overlong_chunk_line_is_an_error_not_a_stall() {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1".to_vec();
        input.resize(input.len() + MAX_LINE + 1, b' ');
        assert_eq!(frame(&input, input.len()), Err(ResponseError::BadChunkSize));
    }

    #[test]
    fn duplicate_equal_content_length_is_accepted() {
        check(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx",
            &[(200, false)],
        );
    }
}

//! `multipart/form-data` bodies (RFC 7578, with RFC 2046's boundary
//! rules): a streaming, I/O-free [`MultipartParser`] and a
//! [`Multipart`] reader that keeps fields in memory and streams files to
//! temporary files ([`TempFile`]) or any `Write`.
//!
//! ```
//! use brisk_handlers::multipart::{Event, MultipartLimits, MultipartParser};
//!
//! let body = b"--XyZ\r\n\
//!     Content-Disposition: form-data; name=\"title\"\r\n\r\n\
//!     Hello\r\n\
//!     --XyZ\r\n\
//!     Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
//!     Content-Type: text/plain\r\n\r\n\
//!     file body\r\n\
//!     --XyZ--\r\n";
//! let mut parser = MultipartParser::from_content_type(
//!     b"multipart/form-data; boundary=XyZ",
//!     MultipartLimits::default(),
//! )?;
//! let mut seen = Vec::new();
//! // Bytes may arrive in any split: here 7 at a time.
//! for piece in body.chunks(7) {
//!     parser.push(piece, &mut |ev| {
//!         match ev {
//!             Event::Part(p) => seen.push(format!("part {} {:?}", p.name(), p.filename())),
//!             Event::Data(d) => seen.push(String::from_utf8_lossy(d).into_owned()),
//!             Event::PartEnd => seen.push("end".to_owned()),
//!         }
//!         Ok(())
//!     })?;
//! }
//! parser.finish()?;
//! let text = seen.concat();
//! assert_eq!(text, "part title NoneHelloendpart doc Some(\"a.txt\")file bodyend");
//! # Ok::<(), brisk_handlers::multipart::MultipartError>(())
//! ```
//!
//! In a handler, [`Multipart::read`] does it all, on a buffered body
//! (`ctx.body()`) or a streamed one (`ctx.body_reader()`, with
//! `stream_request_body`: the handler then runs on a worker thread and may
//! block on the reads):
//!
//! ```no_run
//! # fn h(ctx: &mut brisk_server::RequestCtx<'_>) {
//! use brisk_handlers::multipart::{Multipart, MultipartLimits};
//! let form = match Multipart::new(MultipartLimits::default()).read(ctx) {
//!     Ok(form) => form,
//!     Err(e) => return ctx.error(&e.to_string(), e.status()),
//! };
//! let title = form.text("title").unwrap_or("untitled");
//! if let Some(doc) = form.file("doc") {
//!     // doc.content() is a TempFile, removed when dropped unless persisted.
//!     let _ = (title, doc.size(), doc.content().path());
//! }
//! # }
//! ```
//!
//! Rules and limits: every part needs `Content-Disposition: form-data` with
//! a `name` (RFC 7578 §4.2); a part with a `filename` parameter is a file,
//! any other a field. Header lines are `Name: value` ending in CRLF (no
//! folding, no bare CR or LF), at most [`MultipartLimits::max_header_size`]
//! bytes per part. Text after the boundary on its line other than
//! whitespace is an error. The preamble and epilogue are skipped (their
//! bytes count toward the total). Not supported: `filename*` (RFC 7578
//! says senders must not use it; it is ignored), nested `multipart/mixed`
//! parts (delivered as one part's bytes), `Content-Transfer-Encoding`
//! (ignored, as RFC 7578 §4.7 allows), and a body without a final
//! boundary (an error: [`MultipartError::UnexpectedEnd`]). Filenames are
//! given as sent: never use one as a path without sanitizing it.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem;

use brisk_server::RequestCtx;

/// A streaming `multipart/form-data` parser: push the body's bytes in any
/// split, get [`Event`]s. It never does I/O and holds at most one part's
/// headers and a boundary's length of bytes.
pub struct MultipartParser {
    /// `CRLF -- boundary`: what ends a part (and, with a virtual CRLF
    /// before the body, what starts the first).
    delim: Vec<u8>,
    finder: memmem::Finder<'static>,
    state: State,
    /// In `Preamble`/`Body`: a proper prefix of `delim` held back from the
    /// end of the last input. INVARIANT: `held == delim[..held.len()]`.
    held: Vec<u8>,
    /// In `Headers`: `CRLF` and the part's header bytes so far.
    head: Vec<u8>,
    part: PartInfo,
    limits: MultipartLimits,
    parts: usize,
    part_len: u64,
    fields_len: u64,
    total: u64,
}

/// What the parser found; data borrows the pushed bytes (or the few bytes
/// the parser held back).
#[derive(Debug)]
pub enum Event<'a> {
    /// A part starts: its headers.
    Part(&'a PartInfo),
    /// The next piece of the current part's content (never empty).
    Data(&'a [u8]),
    /// The current part ended.
    PartEnd,
}

/// The headers of one part that the parser interprets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartInfo {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

/// Bounds on a multipart body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartLimits {
    max_parts: usize,
    max_header_size: usize,
    max_field_size: u64,
    max_fields_size: u64,
    max_file_size: u64,
    max_total_size: u64,
}

/// Which limit a body exceeded, with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`MultipartLimits::max_parts`].
    Parts(usize),
    /// [`MultipartLimits::max_header_size`].
    HeaderSize(usize),
    /// [`MultipartLimits::max_field_size`].
    FieldSize(u64),
    /// [`MultipartLimits::max_fields_size`].
    FieldsSize(u64),
    /// [`MultipartLimits::max_file_size`].
    FileSize(u64),
    /// [`MultipartLimits::max_total_size`].
    TotalSize(u64),
}

/// Why a multipart body cannot be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum MultipartError {
    /// The request's `Content-Type` is missing or not
    /// `multipart/form-data` (415).
    NotMultipart,
    /// The `Content-Type` has no `boundary` parameter (400).
    MissingBoundary,
    /// The boundary is empty, longer than 70 bytes or holds a byte RFC 2046
    /// does not allow (400).
    InvalidBoundary,
    /// A limit was exceeded (413).
    LimitExceeded(Limit),
    /// A boundary line has other text than whitespace after the boundary
    /// (400).
    MalformedDelimiter,
    /// A part's headers are malformed; the text says how (400).
    MalformedHeaders(&'static str),
    /// The body ended before the final boundary (400).
    UnexpectedEnd,
    /// Reading the body failed (408 when the client was too slow, 400
    /// otherwise).
    Read(io::Error),
    /// Writing a file part failed (500).
    Write(io::Error),
    /// `push` after the parser returned an error (API misuse).
    AfterError,
}

/// Reads a request's multipart body: fields into memory, files to
/// temporary files (or wherever [`read_with`](Self::read_with) says).
#[derive(Clone, Debug)]
pub struct Multipart {
    limits: MultipartLimits,
    temp_dir: Option<PathBuf>,
}

/// A multipart form read by [`Multipart`]: fields in memory and files in
/// `W` ([`TempFile`] by default), in the order they arrived.
#[derive(Debug)]
pub struct MultipartForm<W = TempFile> {
    fields: Vec<Field>,
    files: Vec<FilePart<W>>,
}

/// A field (a part without a filename), in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    info: PartInfo,
    value: Vec<u8>,
}

/// A file part and where its content went.
#[derive(Debug)]
pub struct FilePart<W> {
    info: PartInfo,
    size: u64,
    content: W,
}

/// A file in the temporary directory with a unique name, removed when
/// dropped unless [`persist`](Self::persist)ed. Created readable and
/// writable by its owner only (mode 0600).
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: File,
    /// Whether the file was persisted (then drop leaves it).
    kept: bool,
}

/// A [`TempFile::persist`] that failed: the error and the file, still
/// temporary.
#[derive(Debug)]
pub struct PersistError {
    /// Why the rename failed.
    pub error: io::Error,
    /// The file, still in the temporary directory.
    pub file: TempFile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first boundary; bytes are skipped.
    Preamble,
    /// Right after a boundary; `dashes` of a closing `--` seen.
    AfterDelim {
        dashes: u8,
    },
    /// Whitespace after a boundary, before its CRLF.
    Padding,
    /// The CR that ends a boundary line was seen.
    PaddingCr,
    Headers,
    Body,
    /// After the final boundary; bytes are skipped.
    Epilogue,
    Failed,
}

impl Default for MultipartLimits {
    /// 128 parts, 16 KiB of headers per part, 64 KiB per field and 1 MiB
    /// for all fields, 64 MiB per file, 128 MiB in all. The server's
    /// `max_request_body_size` (4 MiB by default) applies as well.
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_parts: 128,
            max_header_size: 16 << 10,
            max_field_size: 64 << 10,
            max_fields_size: 1 << 20,
            max_file_size: 64 << 20,
            max_total_size: 128 << 20,
        }
    }
}

impl MultipartLimits {
    /// At most this many parts.
    pub fn max_parts(mut self, n: usize) -> Self {
        self.max_parts = n;
        self
    }

    /// At most this many bytes of headers in one part.
    pub fn max_header_size(mut self, n: usize) -> Self {
        self.max_header_size = n;
        self
    }

    /// At most this many bytes in one field (a part without filename).
    pub fn max_field_size(mut self, n: u64) -> Self {
        self.max_field_size = n;
        self
    }

    /// At most this many bytes in all fields together (what
    /// [`Multipart`] keeps in memory).
    pub fn max_fields_size(mut self, n: u64) -> Self {
        self.max_fields_size = n;
        self
    }

    /// At most this many bytes in one file part.
    pub fn max_file_size(mut self, n: u64) -> Self {
        self.max_file_size = n;
        self
    }

    /// At most this many bytes of body in all (boundaries, headers,
    /// preamble and epilogue included).
    pub fn max_total_size(mut self, n: u64) -> Self {
        self.max_total_size = n;
        self
    }
}

impl PartInfo {
    /// The `name` parameter of `Content-Disposition`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `filename` parameter, as sent (possibly empty: a file input with
    /// no file chosen). Untrusted: sanitize before using it in a path.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The part's `Content-Type`, if it has one (RFC 7578: `text/plain`
    /// when absent).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Whether the part is a file (it has a `filename` parameter).
    pub fn is_file(&self) -> bool {
        self.filename.is_some()
    }
}

impl MultipartParser {
    /// A parser for parts separated by `boundary` (the parameter's value,
    /// without the leading `--`).
    ///
    /// # Errors
    ///
    /// [`MultipartError::InvalidBoundary`] when `boundary` is not 1 to 70
    /// RFC 2046 `bchars` (letters, digits, `'()+_,-./:=?` and space, not
    /// ending in a space).
    pub fn new(boundary: &[u8], limits: MultipartLimits) -> Result<Self, MultipartError> {
        if !is_boundary(boundary) {
            return Err(MultipartError::InvalidBoundary);
        }
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary);
        let finder = memmem::Finder::new(&delim).into_owned();
        Ok(MultipartParser {
            delim,
            finder,
            state: State::Preamble,
            // The body starts with the boundary, or with a preamble and
            // then CRLF and the boundary: a virtual CRLF makes both one
            // case.
            held: b"\r\n".to_vec(),
            head: Vec::new(),
            part: PartInfo::default(),
            limits,
            parts: 0,
            part_len: 0,
            fields_len: 0,
            total: 0,
        })
    }

    /// A parser for a request whose `Content-Type` is `content_type`.
    ///
    /// # Errors
    ///
    /// [`MultipartError::NotMultipart`], [`MissingBoundary`](MultipartError::MissingBoundary)
    /// or [`InvalidBoundary`](MultipartError::InvalidBoundary).
    pub fn from_content_type(
        content_type: &[u8],
        limits: MultipartLimits,
    ) -> Result<Self, MultipartError> {
        let boundary = boundary_of(content_type)?;
        MultipartParser::new(&boundary, limits)
    }

    /// Parses the next bytes of the body, calling `on` for each event. An
    /// error from `on` stops the parser and is returned. Bytes after the
    /// final boundary are skipped (they count toward the total size).
    ///
    /// # Errors
    ///
    /// The first error of the body or of `on`; the parser is then spent
    /// (further calls return [`MultipartError::AfterError`]).
    pub fn push(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), MultipartError>,
    ) -> Result<(), MultipartError> {
        if self.state == State::Failed {
            return Err(MultipartError::AfterError);
        }
        let r = self.push_inner(input, on);
        if r.is_err() {
            self.state = State::Failed;
            self.held = Vec::new();
            self.head = Vec::new();
        }
        r
    }

    /// Says the body ended.
    ///
    /// # Errors
    ///
    /// [`MultipartError::UnexpectedEnd`] unless the final boundary was seen.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        match self.state {
            State::Epilogue => Ok(()),
            State::Failed => Err(MultipartError::AfterError),
            _ => {
                self.state = State::Failed;
                Err(MultipartError::UnexpectedEnd)
            }
        }
    }

    /// Whether the final boundary was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Parts started so far.
    pub fn parts(&self) -> usize {
        self.parts
    }

    fn push_inner(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), MultipartError>,
    ) -> Result<(), MultipartError> {
        // Parse what fits under the total first, so that an earlier error
        // in those bytes wins, however the body is split.
        let room = self.limits.max_total_size - self.total;
        let fits = usize::try_from(room).map_or(input.len(), |r| r.min(input.len()));
        self.total += fits as u64;
        self.parse_bytes(&input[..fits], on)?;
        if fits < input.len() {
            return Err(MultipartError::LimitExceeded(Limit::TotalSize(
                self.limits.max_total_size,
            )));
        }
        Ok(())
    }

    fn parse_bytes(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), MultipartError>,
    ) -> Result<(), MultipartError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Preamble | State::Body => {
                    if self.scan(input, &mut pos, on)? {
                        if self.state == State::Body {
                            on(Event::PartEnd)?;
                        }
                        self.state = State::AfterDelim { dashes: 0 };
                    }
                }
                State::AfterDelim { dashes } => {
                    let b = input[pos];
                    pos += 1;
                    self.state = match (dashes, b) {
                        (0, b'-') => State::AfterDelim { dashes: 1 },
                        (1, b'-') => State::Epilogue,
                        (0, b' ' | b'\t') => {
                            self.head.clear();
                            State::Padding
                        }
                        (0, b'\r') => State::PaddingCr,
                        _ => return Err(MultipartError::MalformedDelimiter),
                    };
                }
                State::Padding => {
                    // Whitespace after the boundary (RFC 2046 transport
                    // padding), bounded by the header size.
                    let b = input[pos];
                    pos += 1;
                    match b {
                        b' ' | b'\t' => {
                            self.head.push(b' ');
                            if self.head.len() > self.limits.max_header_size {
                                return Err(MultipartError::MalformedDelimiter);
                            }
                        }
                        b'\r' => self.state = State::PaddingCr,
                        _ => return Err(MultipartError::MalformedDelimiter),
                    }
                }
                State::PaddingCr => {
                    if input[pos] != b'\n' {
                        return Err(MultipartError::MalformedDelimiter);
                    }
                    pos += 1;
                    self.parts += 1;
                    if self.parts > self.limits.max_parts {
                        return Err(MultipartError::LimitExceeded(Limit::Parts(
                            self.limits.max_parts,
                        )));
                    }
                    self.head.clear();
                    self.head.extend_from_slice(b"\r\n");
                    self.state = State::Headers;
                }
                State::Headers => {
                    if self.headers(input, &mut pos)? {
                        self.part_len = 0;
                        self.state = State::Body;
                        on(Event::Part(&self.part))?;
                    }
                }
                State::Epilogue => pos = input.len(),
                State::Failed => return Err(MultipartError::AfterError),
            }
        }
        Ok(())
    }

    /// Looks for the delimiter in `input[*pos..]` (after the held-back
    /// bytes), delivering the bytes before it as data (or skipping them in
    /// the preamble). Returns whether the delimiter was found; `*pos` is
    /// then just past it.
    fn scan(
        &mut self,
        input: &[u8],
        pos: &mut usize,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), MultipartError>,
    ) -> Result<bool, MultipartError> {
        let m = self.delim.len();
        let rest = &input[*pos..];
        if !self.held.is_empty() {
            let k = self.held.len();
            let n = (m - k).min(rest.len());
            if rest[..n] == self.delim[k..k + n] {
                if k + n == m {
                    self.held.clear();
                    *pos += n;
                    return Ok(true);
                }
                self.held.extend_from_slice(rest);
                *pos = input.len();
                return Ok(false);
            }
            // Not a delimiter after all. No other one starts inside the
            // held bytes: they are a prefix of `delim`, whose only CR (a
            // delimiter's first byte) is its first.
            let held = std::mem::take(&mut self.held);
            self.data(&held, on)?;
            self.held = held;
            self.held.clear();
        }
        if let Some(i) = self.finder.find(rest) {
            self.data(&rest[..i], on)?;
            *pos += i + m;
            return Ok(true);
        }
        // Hold back a tail that may be the start of a delimiter.
        let window = rest.len().saturating_sub(m - 1);
        let keep = memchr::memrchr(b'\r', &rest[window..])
            .map(|r| window + r)
            .filter(|&r| self.delim.starts_with(&rest[r..]));
        let end = keep.unwrap_or(rest.len());
        self.data(&rest[..end], on)?;
        self.held.extend_from_slice(&rest[end..]);
        *pos = input.len();
        Ok(false)
    }

    /// Delivers part content (nothing in the preamble), within the limits.
    fn data(
        &mut self,
        d: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), MultipartError>,
    ) -> Result<(), MultipartError> {
        if d.is_empty() || self.state != State::Body {
            return Ok(());
        }
        let len = d.len() as u64;
        let l = &self.limits;
        // The limit named is the one the first byte too many crosses, so
        // it does not depend on how the body was split.
        let over = if self.part.is_file() {
            (self.part_len + len > l.max_file_size).then_some(Limit::FileSize(l.max_file_size))
        } else {
            let field_room = l.max_field_size.saturating_sub(self.part_len);
            let fields_room = l.max_fields_size.saturating_sub(self.fields_len);
            if len > field_room.min(fields_room) {
                Some(if field_room <= fields_room {
                    Limit::FieldSize(l.max_field_size)
                } else {
                    Limit::FieldsSize(l.max_fields_size)
                })
            } else {
                None
            }
        };
        if let Some(limit) = over {
            return Err(MultipartError::LimitExceeded(limit));
        }
        self.part_len += len;
        if !self.part.is_file() {
            self.fields_len += len;
        }
        on(Event::Data(d))
    }

    /// Collects header bytes until the empty line; parses them into
    /// `self.part` when complete (returns `true`).
    fn headers(&mut self, input: &[u8], pos: &mut usize) -> Result<bool, MultipartError> {
        let max = self.limits.max_header_size;
        let old = self.head.len();
        // Room for the CRLF before the headers, `max` bytes of them (line
        // ends and the empty line included) and one more to see the excess.
        let room = max.saturating_add(3).saturating_sub(old);
        let take = room.min(input.len() - *pos);
        self.head.extend_from_slice(&input[*pos..*pos + take]);
        let from = old.saturating_sub(3);
        let Some(i) = memmem::find(&self.head[from..], b"\r\n\r\n") else {
            if self.head.len() - 2 > max {
                return Err(MultipartError::LimitExceeded(Limit::HeaderSize(max)));
            }
            *pos += take;
            return Ok(false);
        };
        let end = from + i + 4;
        *pos += end - old;
        if end - 2 > max {
            return Err(MultipartError::LimitExceeded(Limit::HeaderSize(max)));
        }
        let lines = if end >= 6 {
            &self.head[2..end - 4]
        } else {
            &[][..]
        };
        self.part = parse_part_headers(lines)?;
        Ok(true)
    }
}

impl fmt::Debug for MultipartParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartParser")
            .field("state", &self.state)
            .field("parts", &self.parts)
            .field("total", &self.total)
            .finish()
    }
}

impl Multipart {
    /// A reader with these limits, writing files to
    /// [`std::env::temp_dir`].
    pub fn new(limits: MultipartLimits) -> Multipart {
        Multipart {
            limits,
            temp_dir: None,
        }
    }

    /// Writes temporary files to `dir` instead (put it on the file system
    /// where [`TempFile::persist`] will move them: a rename does not cross
    /// file systems).
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// Reads the request's multipart body: fields into memory, each file
    /// into a new [`TempFile`].
    ///
    /// # Errors
    ///
    /// See [`MultipartError`]; [`MultipartError::status`] is the answer to
    /// send. Temporary files already written are removed.
    pub fn read(&self, ctx: &mut RequestCtx<'_>) -> Result<MultipartForm, MultipartError> {
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        self.read_with(ctx, move |_| TempFile::new_in(&dir))
    }

    /// Reads the request's multipart body: fields into memory, each file
    /// into the writer `file` makes for it (called at the start of each
    /// file part; an error from it stops the reading as
    /// [`MultipartError::Write`]). Works on a buffered body and on a
    /// streamed one ([`RequestCtx::body_reader`]).
    ///
    /// # Errors
    ///
    /// See [`MultipartError`].
    pub fn read_with<W, F>(
        &self,
        ctx: &mut RequestCtx<'_>,
        file: F,
    ) -> Result<MultipartForm<W>, MultipartError>
    where
        W: Write,
        F: FnMut(&PartInfo) -> io::Result<W>,
    {
        let content_type = ctx.content_type().unwrap_or(&[]);
        let body = ctx.body();
        match ctx.body_reader() {
            Some(reader) => self.read_from(content_type, reader, file),
            None => self.read_bytes(content_type, body, file),
        }
    }

    /// Reads a multipart body from `body` (any reader), with its
    /// request's `Content-Type`.
    ///
    /// # Errors
    ///
    /// See [`MultipartError`]; a failed read is [`MultipartError::Read`].
    pub fn read_from<R, W, F>(
        &self,
        content_type: &[u8],
        mut body: R,
        file: F,
    ) -> Result<MultipartForm<W>, MultipartError>
    where
        R: Read,
        W: Write,
        F: FnMut(&PartInfo) -> io::Result<W>,
    {
        let mut parser = MultipartParser::from_content_type(content_type, self.limits)?;
        let mut c = Collector::new(file);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MultipartError::Read(e)),
            };
            parser.push(&buf[..n], &mut |ev| c.on(ev))?;
        }
        parser.finish()?;
        Ok(c.form)
    }

    /// Reads a multipart body held in memory.
    ///
    /// # Errors
    ///
    /// See [`MultipartError`].
    pub fn read_bytes<W, F>(
        &self,
        content_type: &[u8],
        body: &[u8],
        file: F,
    ) -> Result<MultipartForm<W>, MultipartError>
    where
        W: Write,
        F: FnMut(&PartInfo) -> io::Result<W>,
    {
        let mut parser = MultipartParser::from_content_type(content_type, self.limits)?;
        let mut c = Collector::new(file);
        parser.push(body, &mut |ev| c.on(ev))?;
        parser.finish()?;
        Ok(c.form)
    }
}

impl<W> MultipartForm<W> {
    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The file parts, in order.
    pub fn files(&self) -> &[FilePart<W>] {
        &self.files
    }

    /// The file parts, to keep.
    pub fn into_files(self) -> Vec<FilePart<W>> {
        self.files
    }

    /// The first field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.info.name == name)
    }

    /// The first field named `name` as text (`None` when absent or not
    /// UTF-8).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Field::text)
    }

    /// The first file part named `name`.
    pub fn file(&self, name: &str) -> Option<&FilePart<W>> {
        self.files.iter().find(|f| f.info.name == name)
    }
}

impl Field {
    /// The part's headers.
    pub fn info(&self) -> &PartInfo {
        &self.info
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The field's bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The field as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

impl<W> FilePart<W> {
    /// The part's headers (name, filename, content type).
    pub fn info(&self) -> &PartInfo {
        &self.info
    }

    /// The part's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The filename as sent (untrusted).
    pub fn filename(&self) -> &str {
        self.info.filename.as_deref().unwrap_or("")
    }

    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the content went.
    pub fn content(&self) -> &W {
        &self.content
    }

    /// Where the content went, to keep.
    pub fn into_content(self) -> W {
        self.content
    }
}

impl TempFile {
    /// Creates a new, empty file with a unique name in `dir`.
    ///
    /// # Errors
    ///
    /// The error of creating the file.
    pub fn new_in(dir: &Path) -> io::Result<TempFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last = None;
        for _ in 0..16 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(
                "brisk-upload-{}-{n}-{salt:08x}",
                std::process::id()
            ));
            let mut opts = std::fs::OpenOptions::new();
            opts.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no unique temporary file name")))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (`&File` reads, writes and seeks).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Moves the file to `to` (a rename: same file system) and keeps it
    /// there.
    ///
    /// # Errors
    ///
    /// The rename's error, with the file still temporary.
    pub fn persist(mut self, to: impl AsRef<Path>) -> Result<(), PersistError> {
        match std::fs::rename(&self.path, to.as_ref()) {
            Ok(()) => {
                self.kept = true;
                Ok(())
            }
            Err(error) => Err(PersistError { error, file: self }),
        }
    }

    /// Reads the whole file (from its start).
    ///
    /// # Errors
    ///
    /// The file's read error.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot persist {}: {}",
            self.file.path.display(),
            self.error
        )
    }
}

impl std::error::Error for PersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl MultipartError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            MultipartError::NotMultipart => 415,
            MultipartError::LimitExceeded(_) => 413,
            MultipartError::Read(e) if e.kind() == io::ErrorKind::TimedOut => 408,
            MultipartError::Write(_) | MultipartError::AfterError => 500,
            _ => 400,
        }
    }

    /// The limit exceeded, if that is the error.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            MultipartError::LimitExceeded(l) => Some(*l),
            _ => None,
        }
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::NotMultipart => f.write_str("content type is not multipart/form-data"),
            MultipartError::MissingBoundary => {
                f.write_str("multipart/form-data content type has no boundary parameter")
            }
            MultipartError::InvalidBoundary => f.write_str(
                "multipart boundary must be 1 to 70 letters, digits or '()+_,-./:=? and spaces, \
                 not ending in a space",
            ),
            MultipartError::LimitExceeded(l) => match l {
                Limit::Parts(n) => write!(f, "multipart body has more than {n} parts"),
                Limit::HeaderSize(n) => {
                    write!(f, "multipart part headers are larger than {n} bytes")
                }
                Limit::FieldSize(n) => write!(f, "multipart field is larger than {n} bytes"),
                Limit::FieldsSize(n) => {
                    write!(f, "multipart fields are larger than {n} bytes together")
                }
                Limit::FileSize(n) => write!(f, "multipart file is larger than {n} bytes"),
                Limit::TotalSize(n) => write!(f, "multipart body is larger than {n} bytes"),
            },
            MultipartError::MalformedDelimiter => {
                f.write_str("multipart boundary line has text after the boundary")
            }
            MultipartError::MalformedHeaders(why) => write!(f, "multipart part headers: {why}"),
            MultipartError::UnexpectedEnd => {
                f.write_str("multipart body ended before its final boundary")
            }
            MultipartError::Read(e) => write!(f, "reading the multipart body failed: {e}"),
            MultipartError::Write(e) => write!(f, "writing a multipart file failed: {e}"),
            MultipartError::AfterError => {
                f.write_str("multipart parser used after it returned an error")
            }
        }
    }
}

impl std::error::Error for MultipartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MultipartError::Read(e) | MultipartError::Write(e) => Some(e),
            _ => None,
        }
    }
}

/// The boundary parameter of a `multipart/form-data` content type.
///
/// # Errors
///
/// [`MultipartError::NotMultipart`] or [`MultipartError::MissingBoundary`].
pub fn boundary_of(content_type: &[u8]) -> Result<Vec<u8>, MultipartError> {
    let (ty, params) = match memchr::memchr(b';', content_type) {
        Some(i) => (&content_type[..i], &content_type[i..]),
        None => (content_type, &[][..]),
    };
    if !trim(ty).eq_ignore_ascii_case(b"multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let params = parse_params(params).map_err(|_| MultipartError::MissingBoundary)?;
    params
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"boundary"))
        .map(|(_, v)| v.into_owned())
        .ok_or(MultipartError::MissingBoundary)
}

/// Collects a form from parser events.
struct Collector<W, F> {
    form: MultipartForm<W>,
    current: Current<W>,
    make_file: F,
}

enum Current<W> {
    None,
    Field(Field),
    File(FilePart<W>),
}

impl<W: Write, F: FnMut(&PartInfo) -> io::Result<W>> Collector<W, F> {
    fn new(make_file: F) -> Self {
        Collector {
            form: MultipartForm {
                fields: Vec::new(),
                files: Vec::new(),
            },
            current: Current::None,
            make_file,
        }
    }

    fn on(&mut self, ev: Event<'_>) -> Result<(), MultipartError> {
        match ev {
            Event::Part(info) if info.is_file() => {
                let content = (self.make_file)(info).map_err(MultipartError::Write)?;
                self.current = Current::File(FilePart {
                    info: info.clone(),
                    size: 0,
                    content,
                });
            }
            Event::Part(info) => {
                self.current = Current::Field(Field {
                    info: info.clone(),
                    value: Vec::new(),
                });
            }
            Event::Data(d) => match &mut self.current {
                Current::Field(f) => f.value.extend_from_slice(d),
                Current::File(f) => {
                    f.content.write_all(d).map_err(MultipartError::Write)?;
                    f.size += d.len() as u64;
                }
                Current::None => {}
            },
            Event::PartEnd => match std::mem::replace(&mut self.current, Current::None) {
                Current::Field(f) => self.form.fields.push(f),
                Current::File(mut f) => {
                    f.content.flush().map_err(MultipartError::Write)?;
                    self.form.files.push(f);
                }
                Current::None => {}
            },
        }
        Ok(())
    }
}

/// RFC 2046 boundary: 1 to 70 bchars, not ending in a space.
fn is_boundary(b: &[u8]) -> bool {
    let bchar = |c: &u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(c);
    (1..=70).contains(&b.len()) && b.iter().all(bchar) && b.last() != Some(&b' ')
}

/// Parses a part's header lines (without the final empty line).
fn parse_part_headers(lines: &[u8]) -> Result<PartInfo, MultipartError> {
    let bad = MultipartError::MalformedHeaders;
    let mut disposition = None;
    let mut content_type = None;
    let mut rest = lines;
    while !rest.is_empty() {
        let (line, next) = match memmem::find(rest, b"\r\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        rest = next;
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(bad("bare CR or LF in a header line"));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(bad("folded header line"));
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(bad("header line without ':'"));
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(bad("header name is not a token"));
        }
        if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(bad("control byte in a header value"));
        }
        if name.eq_ignore_ascii_case(b"content-disposition") {
            if disposition.replace(value).is_some() {
                return Err(bad("more than one Content-Disposition"));
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            let v = std::str::from_utf8(value).map_err(|_| bad("Content-Type is not UTF-8"))?;
            content_type = Some(v.to_owned());
        }
    }
    let Some(d) = disposition else {
        return Err(bad("part has no Content-Disposition"));
    };
    let (ty, params) = match memchr::memchr(b';', d) {
        Some(i) => (&d[..i], &d[i..]),
        None => (d, &[][..]),
    };
    if !trim(ty).eq_ignore_ascii_case(b"form-data") {
        return Err(bad("Content-Disposition is not form-data"));
    }
    let params = parse_params(params).map_err(bad)?;
    let mut name = None;
    let mut filename = None;
    for (n, v) in params {
        let text = || String::from_utf8(v.clone().into_owned());
        if n.eq_ignore_ascii_case(b"name") {
            name = Some(text().map_err(|_| bad("name is not UTF-8"))?);
        } else if n.eq_ignore_ascii_case(b"filename") {
            filename = Some(text().map_err(|_| bad("filename is not UTF-8"))?);
        }
    }
    let Some(name) = name else {
        return Err(bad("Content-Disposition has no name"));
    };
    Ok(PartInfo {
        name,
        filename,
        content_type,
    })
}

/// A parameter's name and (unquoted) value.
type Param<'a> = (&'a [u8], Cow<'a, [u8]>);

/// Parses `; name=value` parameters (values are tokens or quoted strings;
/// in a quoted string `\"` and `\\` are escapes and any other backslash is
/// kept, as old browsers send Windows paths unescaped).
fn parse_params(mut s: &[u8]) -> Result<Vec<Param<'_>>, &'static str> {
    let mut out = Vec::new();
    loop {
        s = trim_start(s);
        if s.is_empty() {
            return Ok(out);
        }
        if s[0] != b';' {
            return Err("parameters must be separated by ';'");
        }
        s = trim_start(&s[1..]);
        if s.is_empty() {
            return Ok(out); // a trailing ';'
        }
        let name_len = s.iter().position(|&b| !is_tchar(b)).unwrap_or(s.len());
        if name_len == 0 {
            return Err("parameter name is not a token");
        }
        let name = &s[..name_len];
        s = trim_start(&s[name_len..]);
        if s.first() != Some(&b'=') {
            return Err("parameter without '='");
        }
        s = trim_start(&s[1..]);
        if s.first() == Some(&b'"') {
            let mut value = Vec::new();
            let mut i = 1;
            loop {
                match s.get(i) {
                    None => return Err("unterminated quoted string"),
                    Some(b'"') => break,
                    Some(b'\\') if matches!(s.get(i + 1), Some(b'"' | b'\\')) => {
                        value.push(s[i + 1]);
                        i += 2;
                    }
                    Some(&b) if b.is_ascii_control() && b != b'\t' => {
                        return Err("control byte in a quoted string");
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            out.push((name, Cow::Owned(value)));
            s = &s[i + 1..];
        } else {
            let len = s.iter().position(|&b| !is_tchar(b)).unwrap_or(s.len());
            if len == 0 {
                return Err("parameter value is empty");
            }
            out.push((name, Cow::Borrowed(&s[..len])));
            s = &s[len..];
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[n..]
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let n = s
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests;

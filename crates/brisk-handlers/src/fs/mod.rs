//! Static files: [`FileServer`] serves a directory tree, [`serve_file`]
//! one file, both with ranges, conditional requests, precompressed
//! siblings and `sendfile(2)`.
//!
//! ```
//! use brisk_handlers::fs::FileServer;
//! use std::io::{Read, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("brisk-fs-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("hello.txt"), "Hello, files!")?;
//! let files = FileServer::new(&dir)?;
//! let server = brisk_server::Server::builder()
//!     .loops(1)
//!     .handler(move |ctx| files.serve(ctx))
//!     .build()?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let stop = server.shutdown_handle();
//! let t = std::thread::spawn(move || server.serve(listener));
//! let mut c = std::net::TcpStream::connect(addr)?;
//! c.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\nConnection: close\r\n\r\n")?;
//! let mut out = String::new();
//! c.read_to_string(&mut out)?;
//! assert!(out.starts_with("HTTP/1.1 206"));
//! assert!(out.contains("Content-Range: bytes 0-4/13\r\n"));
//! assert!(out.ends_with("\r\n\r\nHello"));
//! stop.shutdown();
//! t.join().unwrap()?;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! Configured, serving a directory of your own:
//!
//! ```no_run
//! use brisk_handlers::fs::FileServer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let files = FileServer::builder("/srv/www")
//!     .index_names(&["index.html"])
//!     .listing(true)
//!     .max_age(3600)
//!     .build()?;
//! brisk_server::Server::builder()
//!     .handler(move |ctx| files.serve(ctx))
//!     .build()?
//!     .listen_and_serve("127.0.0.1:8080")?;
//! # Ok(()) }
//! ```
//!
//! # What a request gets
//!
//! - Only `GET` and `HEAD`; other methods get 405 with `Allow: GET, HEAD`.
//!   HEAD gets GET's head without the body.
//! - A file: 200 with `Content-Type` (from the extension, see
//!   [`content_type_for`]), `Last-Modified`, `ETag`, `Accept-Ranges:
//!   bytes`, the configured `Cache-Control`; the body is sent by the
//!   server with `sendfile(2)` on plain TCP
//!   ([`RequestCtx::set_body_file`]).
//! - Conditional requests (RFC 9110 §13, evaluated by
//!   [`brisk_http::evaluate_preconditions`]): `If-None-Match` (`*`, weak
//!   comparison) and `If-Modified-Since` give 304; `If-Match` and
//!   `If-Unmodified-Since` give 412; `If-Range` (an entity-tag compared
//!   strongly, or a date equal to `Last-Modified`) decides whether `Range`
//!   is honoured.
//! - `Range` (RFC 9110 §14, [`brisk_http::parse_range`]): one range gives
//!   206 with `Content-Range`, sent with `sendfile`; several give 206
//!   `multipart/byteranges`, produced as a streamed body (read with
//!   `pread` in 16 KiB pieces, sent chunked: no `Content-Length`); none
//!   satisfiable gives 416 with `Content-Range: bytes */LEN`. A `Range`
//!   that does not parse, or that asks for more than 16 ranges or for
//!   more bytes than the file holds (overlaps), is ignored: 200 with the
//!   whole file.
//! - The `ETag` is strong, `"INODE-SIZE-MTIME"` (hex; the modification
//!   time in nanoseconds): it changes whenever the file is replaced or
//!   modified, except by a write that keeps the size and lands within the
//!   same nanosecond tick.
//! - A directory: without a trailing slash, 301 to the same path with one
//!   (the query kept); with one, the first index file that exists
//!   ([`FileServerBuilder::index_names`]), else an HTML listing when
//!   enabled, else 403.
//! - Precompressed siblings ([`FileServerBuilder::precompressed`]): for
//!   `a.js`, `a.js.br`, `a.js.zst` and `a.js.gz` are served in its place
//!   (with `Content-Encoding`, `Vary: Accept-Encoding` and the sibling's
//!   own `ETag`) when [`brisk_http::negotiate_encoding`] picks their coding
//!   from `Accept-Encoding`, and when the sibling is not older than the
//!   file. A request with a `Range` header always gets the file itself
//!   (ranges of an encoded body are not offered), still with `Vary`.
//!
//! # Safety of paths
//!
//! The path served is the server's normalized one ([`RequestCtx::path`]:
//! percent-decoded once, dot segments removed; the server answers 400
//! before the handler for a path with NUL, a backslash, an overlong UTF-8
//! form or dot segments that climb above the root, raw or encoded). The
//! file server checks again component by component: an empty, `.` or
//! `..` component, or one with NUL or `\`, is 400; a hidden component
//! (leading `.`) is 404 unless [`FileServerBuilder::hidden_files`]
//! allows it. Only regular files and directories are served (devices,
//! FIFOs and sockets are 404; files are opened with `O_NONBLOCK`, so a
//! FIFO cannot block the loop).
//!
//! Symbolic links follow [`Symlinks`]: by default they are refused,
//! race-free, by opening each component with `openat(…, O_NOFOLLOW)`
//! under the previous one, starting from the root's descriptor (a link
//! swapped in between two requests is refused too). `WithinRoot` follows
//! them but serves the opened file only when its real path (read back
//! from the descriptor through `/proc/self/fd`, so what is checked is
//! what is served) lies under the root; `Follow` follows them anywhere.
//!
//! # Cache
//!
//! Open files and their metadata are cached by request path
//! ([`FileServerBuilder::cache_entries`], 1024 by default; 0 disables the
//! cache), in 8 shards each with its own lock and a clock (second-chance)
//! eviction; each entry holds one open descriptor and its path, and paths
//! longer than 1 KiB are not cached, so the cache holds at most
//! `cache_entries` descriptors and about `cache_entries` × 1.2 KiB. The
//! file of a cached entry is `fstat`ed on every use, so a file changed in
//! place (size, modification time) is seen at once; after
//! [`FileServerBuilder::revalidate_after`] (1 s by default) the path is
//! opened again, so a file replaced by a rename is seen then (0: on every
//! request). Missing files are not cached.
//!
//! # Not supported
//!
//! On-the-fly compression (only precompressed siblings), ranges of a
//! precompressed sibling, `multipart/byteranges` with a `Content-Length`
//! (it is sent chunked), and platforms without `openat` (Unix only;
//! `WithinRoot` needs Linux's `/proc`). The `sendfile` path relies on
//! SIGPIPE being ignored, which is Rust's default for programs.

mod cache;
mod listing;
mod mime;
mod open;
mod respond;

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brisk_server::RequestCtx;

pub use mime::content_type_for;

use cache::Cache;

/// How symbolic links under the root are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Symlinks {
    /// A path through any symbolic link is 404 (`O_NOFOLLOW` on every
    /// component; race-free).
    #[default]
    Refuse,
    /// Links are followed, but the file is served only when its real path
    /// is under the root's (checked on the opened descriptor; Linux).
    WithinRoot,
    /// Links are followed anywhere, out of the root included.
    Follow,
}

/// A [`FileServer`] that could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum FsError {
    /// The root could not be opened as a directory.
    Root {
        /// The root given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An index file name is empty, `.`, `..`, or holds `/` or NUL.
    IndexName(String),
    /// The `Cache-Control` value is not a valid header value.
    CacheControl(String),
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Root { path, source } => write!(
                f,
                "file server root {}: {source} (it must be a readable directory)",
                path.display()
            ),
            FsError::IndexName(n) => write!(
                f,
                "index file name {n:?}: must be one plain file name (no '/', NUL, '.' or '..')"
            ),
            FsError::CacheControl(v) => write!(
                f,
                "Cache-Control value {v:?} is not a valid header value (no CR, LF or NUL)"
            ),
        }
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FsError::Root { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Builds a [`FileServer`]; see the [module docs](self) for what each
/// option does.
#[derive(Clone, Debug)]
pub struct FileServerBuilder {
    root: PathBuf,
    index_names: Vec<String>,
    listing: bool,
    symlinks: Symlinks,
    hidden: bool,
    cache_entries: usize,
    revalidate: Duration,
    precompressed: bool,
    cache_control: Option<String>,
}

impl FileServerBuilder {
    /// Index file names tried, in order, for a directory (default
    /// `["index.html"]`; empty: none).
    pub fn index_names(mut self, names: &[&str]) -> Self {
        self.index_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Whether a directory without an index file gets an HTML listing
    /// (default `false`: 403).
    pub fn listing(mut self, on: bool) -> Self {
        self.listing = on;
        self
    }

    /// How symbolic links are treated (default [`Symlinks::Refuse`]).
    pub fn symlinks(mut self, policy: Symlinks) -> Self {
        self.symlinks = policy;
        self
    }

    /// Whether paths with a component starting with `.` are served
    /// (default `false`: 404, and listings leave them out).
    pub fn hidden_files(mut self, on: bool) -> Self {
        self.hidden = on;
        self
    }

    /// Most open files (and their metadata) kept (default 1024; 0: no
    /// cache, every request opens its file).
    pub fn cache_entries(mut self, n: usize) -> Self {
        self.cache_entries = n;
        self
    }

    /// How long a cached entry is trusted before the path is opened again
    /// to see whether the file changed (default 1 s; zero: every request).
    pub fn revalidate_after(mut self, d: Duration) -> Self {
        self.revalidate = d;
        self
    }

    /// Whether `.br`, `.zst` and `.gz` siblings are served to clients
    /// that accept them (default `true`).
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// `Cache-Control: public, max-age=SECS` on every file response.
    pub fn max_age(mut self, secs: u64) -> Self {
        self.cache_control = Some(format!("public, max-age={secs}"));
        self
    }

    /// A `Cache-Control` value of your own for every file response
    /// (replaces [`max_age`](Self::max_age)).
    pub fn cache_control(mut self, value: &str) -> Self {
        self.cache_control = Some(value.to_owned());
        self
    }

    /// Opens the root and checks the options.
    pub fn build(self) -> Result<FileServer, FsError> {
        for n in &self.index_names {
            if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\0']) {
                return Err(FsError::IndexName(n.clone()));
            }
        }
        if let Some(v) = &self.cache_control {
            if !brisk_http::is_valid_header_value(v.as_bytes()) {
                return Err(FsError::CacheControl(v.clone()));
            }
        }
        let root_fd = open::open_root(&self.root).map_err(|source| FsError::Root {
            path: self.root.clone(),
            source,
        })?;
        let real_root = match self.symlinks {
            Symlinks::WithinRoot => Some(
                open::fd_path(&root_fd)
                    .or_else(|_| std::fs::canonicalize(&self.root))
                    .map_err(|source| FsError::Root {
                        path: self.root.clone(),
                        source,
                    })?,
            ),
            _ => None,
        };
        Ok(FileServer {
            inner: Arc::new(Inner {
                root_fd,
                real_root,
                cache: Cache::new(self.cache_entries),
                index_names: self.index_names,
                listing: self.listing,
                symlinks: self.symlinks,
                hidden: self.hidden,
                revalidate: self.revalidate,
                precompressed: self.precompressed,
                cache_control: self.cache_control,
            }),
        })
    }
}

/// Serves the files under a root directory; cheap to clone (the clones
/// share the open root and the cache). See the [module docs](self).
#[derive(Clone)]
pub struct FileServer {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    root_fd: OwnedFd,
    /// The root's real path (only with `Symlinks::WithinRoot`).
    real_root: Option<PathBuf>,
    cache: Cache,
    index_names: Vec<String>,
    listing: bool,
    symlinks: Symlinks,
    hidden: bool,
    revalidate: Duration,
    precompressed: bool,
    cache_control: Option<String>,
}

impl fmt::Debug for FileServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileServer")
            .field("symlinks", &self.inner.symlinks)
            .field("listing", &self.inner.listing)
            .field("cached", &self.inner.cache.len())
            .finish()
    }
}

impl FileServer {
    /// A file server for `root` with the default options.
    pub fn new(root: impl AsRef<Path>) -> Result<FileServer, FsError> {
        FileServer::builder(root).build()
    }

    /// A builder for a file server of `root`.
    pub fn builder(root: impl AsRef<Path>) -> FileServerBuilder {
        FileServerBuilder {
            root: root.as_ref().to_path_buf(),
            index_names: vec!["index.html".to_owned()],
            listing: false,
            symlinks: Symlinks::Refuse,
            hidden: false,
            cache_entries: 1024,
            revalidate: Duration::from_secs(1),
            precompressed: true,
            cache_control: None,
        }
    }

    /// Answers the request with the file at its path under the root
    /// ([`RequestCtx::path`]).
    pub fn serve(&self, ctx: &mut RequestCtx<'_>) {
        let path = ctx.path();
        respond::serve(&self.inner, ctx, path);
    }

    /// Answers the request with the file at `path` under the root (a
    /// `/`-separated path such as `/css/site.css`, for a handler that
    /// routes or strips a prefix itself). The same checks apply as to a
    /// request path.
    pub fn serve_path(&self, ctx: &mut RequestCtx<'_>, path: &[u8]) {
        respond::serve(&self.inner, ctx, path);
    }

    /// Entries in the cache now.
    pub fn cached_entries(&self) -> usize {
        self.inner.cache.len()
    }
}

/// Answers the request with one file, as fasthttp's `ServeFile`: ranges,
/// conditional requests and `sendfile` as [`FileServer`] does, but no
/// root, no cache, no index and no precompressed siblings. `path` is
/// trusted (it may lead anywhere, through symbolic links too): never
/// build it from the request without checking it. A path that does not
/// name a readable regular file gets 404.
pub fn serve_file(ctx: &mut RequestCtx<'_>, path: impl AsRef<Path>) {
    respond::serve_one(ctx, path.as_ref());
}

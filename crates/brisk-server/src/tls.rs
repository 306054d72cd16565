//! HTTPS through rustls (feature `tls`): [`TlsConfig`] (certificates, SNI,
//! the handshake timeout), [`TlsReloader`] (new certificates without a
//! restart), and the crate's `TlsTransport`, which the connection state
//! machine reads and writes like a plain socket.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("brisk-tls-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
//! # let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
//! # std::fs::write(&cert, ck.cert.pem())?;
//! # std::fs::write(&key, ck.key_pair.serialize_pem())?;
//! use brisk_server::{Server, TlsConfig};
//! use std::time::Duration;
//!
//! let tls = TlsConfig::from_pem_files(&cert, &key)?
//!     .handshake_timeout(Duration::from_secs(5));
//! let reloader = tls.reloader(); // later: reloader.reload(TlsConfig::from_pem_files(..)?)
//! let server = Server::builder()
//!     .tls(tls)
//!     .handler(|ctx| ctx.set_body(b"Hello over TLS"))
//!     .build()?;
//! # let _ = (server, reloader);
//! // server.listen_and_serve("0.0.0.0:443")?;
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! * TLS 1.2 and 1.3 through rustls with the `ring` crypto provider (it
//!   builds with a C compiler alone; aws-lc-rs would need cmake).
//! * ALPN offers `http/1.1` only: a client that offers only `h2` gets a
//!   `no_application_protocol` alert and the connection closes; a client
//!   that offers no ALPN is served HTTP/1.1.
//! * SNI: [`TlsConfig::sni`] adds a certificate for an exact server name
//!   (case-insensitive); a client naming no known server gets the default
//!   certificate (the one the config was made with). Wildcard names are
//!   matched only by what the certificate itself says to the client; the
//!   choice here is by exact name.
//! * Reload: [`TlsReloader::reload`] swaps the configuration atomically:
//!   new connections use the new certificates, established ones keep
//!   theirs.
//! * The handshake runs on the event loop, non-blocking; a handshake that
//!   has not finished within [`TlsConfig::handshake_timeout`] (10 s by
//!   default) closes its connection.
//! * A plain HTTP request sent to the TLS port is answered `400` in plain
//!   text (saying the port speaks HTTPS) and closed.
//! * A connection over `concurrency` or `max_conns_per_ip` is closed at
//!   once, without the `503`/`429` a plain connection gets (there is no
//!   session yet to answer in).
//! * An idle TLS connection holds no brisk buffer; rustls keeps its session
//!   state and a 4 KiB receive buffer (about 7.8 KiB in all).
//!
//! # What it does not do
//!
//! * No client certificates (mutual TLS), no OCSP stapling, no session
//!   tickets (TLS 1.3 resumption works through rustls' in-memory session
//!   cache), no 0-RTT, no kTLS, no HTTP/2.
//! * [`RequestCtx::hijack`](crate::RequestCtx::hijack) is not supported
//!   over TLS: the request is answered `501`
//!   ([`ServerError::HijackOverTls`](crate::ServerError::HijackOverTls)) and
//!   the hijack handler is dropped without running.
//! * A user's [`rustls::ServerConfig`] ([`TlsConfig::from_rustls`]) is used
//!   as given except for its ALPN list, which is set to `http/1.1`.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};
use socket2::Socket;

use crate::sys;
use crate::transport::{Filled, Transport};

/// The handshake timeout when none is set.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN protocols the server offers.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a TLS configuration could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: io::Error,
    },
    /// No PEM `CERTIFICATE` block was found.
    NoCertificate {
        /// Where the certificates were looked for (`<memory>` for PEM data).
        origin: String,
    },
    /// No PEM private key block (PKCS#8, PKCS#1 or SEC1) was found.
    NoPrivateKey {
        /// Where the key was looked for.
        origin: String,
    },
    /// A PEM block could not be decoded.
    Pem {
        /// Where the block was.
        origin: String,
        /// The decoder's message.
        message: String,
    },
    /// rustls refused the certificate or key (an unsupported key type, a
    /// key that does not belong to the certificate, …).
    Rustls {
        /// Which certificate (the file, or the server name it is for).
        origin: String,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A server name given to [`TlsConfig::sni`] is not a DNS name.
    InvalidServerName(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, source } => {
                write!(f, "cannot read TLS file {}: {source}", path.display())
            }
            TlsError::NoCertificate { origin } => write!(
                f,
                "no certificate in {origin}: expected a PEM file with \
                 \"-----BEGIN CERTIFICATE-----\" blocks (the server's first, then its chain)"
            ),
            TlsError::NoPrivateKey { origin } => write!(
                f,
                "no private key in {origin}: expected a PEM \"PRIVATE KEY\", \
                 \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block"
            ),
            TlsError::Pem { origin, message } => {
                write!(f, "malformed PEM in {origin}: {message}")
            }
            TlsError::Rustls { origin, source } => write!(
                f,
                "the certificate and key of {origin} cannot be used: {source} \
                 (is the key the one of the first certificate, and RSA, ECDSA or Ed25519?)"
            ),
            TlsError::InvalidServerName(n) => {
                write!(
                    f,
                    "{n:?} is not a DNS name; SNI names look like \"example.com\""
                )
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { source, .. } => Some(source),
            TlsError::Rustls { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where the certificates come from.
#[derive(Clone)]
enum Certs {
    /// A default certificate, and certificates by server name.
    Keys {
        default: Arc<CertifiedKey>,
        by_name: HashMap<String, Arc<CertifiedKey>>,
    },
    /// The user's own rustls configuration.
    Rustls(Arc<ServerConfig>),
}

/// The TLS side of a server: certificates (from PEM files, PEM data or a
/// [`rustls::ServerConfig`]), SNI names and the handshake timeout. Hand it
/// to [`ServerBuilder::tls`](crate::ServerBuilder::tls); every listener of
/// that server then speaks HTTPS.
///
/// A `TlsConfig` is a handle on one live configuration: its clones, the
/// server given it and its [`TlsReloader`]s all see the same one, and
/// [`sni`](Self::sni) on any of them changes it for all (new connections
/// only).
#[derive(Clone)]
pub struct TlsConfig {
    certs: Certs,
    handshake_timeout: Duration,
    /// The configuration in force, shared with the server's loops and with
    /// every [`TlsReloader`] of this config.
    live: Arc<RwLock<Arc<ServerConfig>>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = match &self.certs {
            Certs::Keys { by_name, .. } => by_name.keys().map(String::as_str).collect(),
            Certs::Rustls(_) => Vec::new(),
        };
        f.debug_struct("TlsConfig")
            .field("sni_names", &names)
            .field(
                "user_rustls_config",
                &matches!(self.certs, Certs::Rustls(_)),
            )
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A certificate chain and its key from PEM data.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_origin: &str,
    key_origin: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let mut chain = Vec::new();
    for c in CertificateDer::pem_slice_iter(cert_pem) {
        chain.push(c.map_err(|e| TlsError::Pem {
            origin: cert_origin.to_string(),
            message: e.to_string(),
        })?);
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: cert_origin.to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            origin: key_origin.to_string(),
        },
        e => TlsError::Pem {
            origin: key_origin.to_string(),
            message: e.to_string(),
        },
    })?;
    let ck =
        CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Rustls {
            origin: cert_origin.to_string(),
            source,
        })?;
    Ok(Arc::new(ck))
}

/// Picks a certificate by the client's server name, else the default.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            // rustls hands names over lowercased.
            if let Some(ck) = self.by_name.get(name) {
                return Some(ck.clone());
            }
        }
        Some(self.default.clone())
    }
}

fn build(certs: &Certs) -> Result<Arc<ServerConfig>, TlsError> {
    match certs {
        Certs::Rustls(cfg) => Ok(with_alpn(cfg)),
        Certs::Keys { default, by_name } => {
            let resolver = SniResolver {
                default: default.clone(),
                by_name: by_name.clone(),
            };
            let builder = ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(rustls::DEFAULT_VERSIONS)
                .map_err(|source| TlsError::Rustls {
                    origin: "the ring provider's protocol versions".to_string(),
                    source,
                })?;
            let mut cfg = builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver));
            cfg.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
            Ok(Arc::new(cfg))
        }
    }
}

/// The caller's configuration with brisk's ALPN list.
fn with_alpn(cfg: &ServerConfig) -> Arc<ServerConfig> {
    let mut cfg = cfg.clone();
    cfg.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Arc::new(cfg)
}

impl TlsConfig {
    fn from_certs(certs: Certs) -> Result<TlsConfig, TlsError> {
        let live = Arc::new(RwLock::new(build(&certs)?));
        Ok(TlsConfig {
            certs,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            live,
        })
    }

    /// The certificate chain (PEM, the server's certificate first) and its
    /// private key (PEM: PKCS#8, PKCS#1 or SEC1) from two files. This is
    /// the default certificate: the one a client gets unless it names a
    /// server added with [`sni`](Self::sni).
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let ck = certified_key(
            &read_file(cert)?,
            &read_file(key)?,
            &cert.display().to_string(),
            &key.display().to_string(),
        )?;
        Self::from_certs(Certs::Keys {
            default: ck,
            by_name: HashMap::new(),
        })
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM data in
    /// memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let ck = certified_key(cert_pem, key_pem, "<memory>", "<memory>")?;
        Self::from_certs(Certs::Keys {
            default: ck,
            by_name: HashMap::new(),
        })
    }

    /// The caller's own rustls configuration (its certificate resolver,
    /// protocol versions, session storage…). Its ALPN list is replaced by
    /// `http/1.1`, the only protocol brisk speaks; [`sni`](Self::sni) has
    /// no effect on it (configure SNI in rustls itself).
    pub fn from_rustls(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig {
            live: Arc::new(RwLock::new(with_alpn(&config))),
            certs: Certs::Rustls(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Adds the certificate for the server name `name` (an exact DNS name,
    /// matched case-insensitively against the client's SNI) from PEM files.
    pub fn sni(
        self,
        name: &str,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let ck = certified_key(
            &read_file(cert)?,
            &read_file(key)?,
            &cert.display().to_string(),
            &key.display().to_string(),
        )?;
        self.add_sni(name, ck)
    }

    /// Like [`sni`](Self::sni), from PEM data in memory.
    pub fn sni_pem(
        self,
        name: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsConfig, TlsError> {
        let ck = certified_key(cert_pem, key_pem, name, name)?;
        self.add_sni(name, ck)
    }

    fn add_sni(mut self, name: &str, ck: Arc<CertifiedKey>) -> Result<TlsConfig, TlsError> {
        let dns = rustls::pki_types::DnsName::try_from(name.to_string())
            .map_err(|_| TlsError::InvalidServerName(name.to_string()))?;
        let key = dns.as_ref().to_ascii_lowercase();
        if let Certs::Keys { by_name, .. } = &mut self.certs {
            by_name.insert(key, ck);
        }
        let cfg = build(&self.certs)?;
        *write_lock(&self.live) = cfg;
        Ok(self)
    }

    /// How long a client has to finish the TLS handshake after it
    /// connects (default 10 s); past it the connection is closed.
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// A handle that replaces this configuration's certificates while the
    /// server runs (any number of handles; cheap to clone).
    pub fn reloader(&self) -> TlsReloader {
        TlsReloader {
            live: self.live.clone(),
        }
    }

    /// What the server's loops use.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let ms = u64::try_from(self.handshake_timeout.as_millis()).unwrap_or(u64::MAX / 4);
        TlsAcceptor {
            live: self.live.clone(),
            handshake_ms: ms.max(1),
        }
    }
}

fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Replaces a running server's certificates: connections accepted after
/// [`reload`](Self::reload) returns use the new ones; established
/// connections keep the ones they were made with.
#[derive(Clone)]
pub struct TlsReloader {
    live: Arc<RwLock<Arc<ServerConfig>>>,
}

impl fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsReloader").finish_non_exhaustive()
    }
}

impl TlsReloader {
    /// Swaps in `config`'s certificates (default and SNI, or its rustls
    /// configuration). The handshake timeout stays the one the server
    /// started with.
    pub fn reload(&self, config: TlsConfig) {
        let new = read_lock(&config.live).clone();
        *write_lock(&self.live) = new;
    }

    /// Reloads the default certificate from PEM files (SNI names are
    /// dropped: use [`reload`](Self::reload) to keep them). On error the
    /// running configuration stays as it is.
    pub fn reload_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        self.reload(TlsConfig::from_pem_files(cert, key)?);
        Ok(())
    }
}

/// What a loop needs to start TLS on an accepted socket.
#[derive(Clone)]
pub(crate) struct TlsAcceptor {
    live: Arc<RwLock<Arc<ServerConfig>>>,
    handshake_ms: u64,
}

impl TlsAcceptor {
    /// Starts the server side of TLS on `sock` (no I/O yet).
    pub(crate) fn accept(&self, sock: Socket, now_ms: u64) -> Result<TlsTransport, rustls::Error> {
        let cfg = read_lock(&self.live).clone();
        let conn = ServerConnection::new(cfg)?;
        Ok(TlsTransport {
            sock,
            conn,
            phase: TlsPhase::Handshaking {
                deadline_ms: now_ms.saturating_add(self.handshake_ms),
            },
            plain: 0,
            sock_drained: true,
            eof: false,
            first_byte: None,
        })
    }
}

/// Where a TLS connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsPhase {
    /// The handshake has not finished; it must by `deadline_ms`.
    Handshaking {
        /// Server clock, ms.
        deadline_ms: u64,
    },
    /// Application data flows.
    Open,
    /// A TLS error ended it, or its close_notify was sent: nothing more is
    /// sent on close.
    Done,
}

/// TLS over an accepted TCP socket: rustls decrypts into the connection's
/// read buffer and encrypts its output into records that it holds until
/// the socket takes them.
pub(crate) struct TlsTransport {
    sock: Socket,
    conn: ServerConnection,
    phase: TlsPhase,
    /// Decrypted bytes rustls holds (as of the last `process_new_packets`
    /// and reads since).
    plain: usize,
    /// The last socket read came back short or would block: nothing more
    /// until the next readiness edge.
    sock_drained: bool,
    /// The socket's input ended.
    eof: bool,
    /// The first byte the client sent, to tell a plain HTTP request from a
    /// TLS record.
    first_byte: Option<u8>,
}

/// The socket as `Read` + `Write` for rustls, noting short reads.
struct SockIo<'a> {
    sock: &'a Socket,
    short: bool,
    first_byte: &'a mut Option<u8>,
}

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Through libc's `recv` (the one cancellation wrapper per TLS read
        // is nothing next to the decryption).
        let n = (&mut &*self.sock).read(buf)?;
        self.short = n < buf.len();
        if self.first_byte.is_none() && n > 0 {
            *self.first_byte = Some(buf[0]);
        }
        Ok(n)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.sock, buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(self.sock, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a plain HTTP request to the TLS port gets.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 52\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: send the request over TLS.\r\n";

impl TlsTransport {
    /// The socket, for registering it with epoll.
    pub(crate) fn socket(&self) -> &Socket {
        &self.sock
    }

    /// The handshake's deadline (server clock, ms) while it runs.
    pub(crate) fn handshake_deadline(&self) -> Option<u64> {
        match self.phase {
            TlsPhase::Handshaking { deadline_ms } => Some(deadline_ms),
            _ => None,
        }
    }

    /// Writes the records rustls holds until it holds none (`Ok`) or the
    /// socket is full (`WouldBlock`).
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut io = SockIo {
                sock: &self.sock,
                short: false,
                first_byte: &mut self.first_byte,
            };
            match self.conn.write_tls(&mut io) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Decrypts what arrived: `Ok(())` with plaintext held (`self.plain >
    /// 0`) or the input ended (`self.eof`); `WouldBlock` when the socket is
    /// drained without either.
    fn fill(&mut self) -> io::Result<()> {
        while self.plain == 0 && !self.eof {
            let mut io = SockIo {
                sock: &self.sock,
                short: false,
                first_byte: &mut self.first_byte,
            };
            let r = self.conn.read_tls(&mut io);
            let short = io.short;
            match r {
                Ok(0) => self.eof = true,
                Ok(_) => self.sock_drained = short,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sock_drained = true;
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.process()?;
        }
        Ok(())
    }

    /// Runs rustls over the records read: handshake replies go out (or
    /// wait in rustls for the socket), plaintext is counted.
    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(st) => {
                self.plain = st.plaintext_bytes_to_read();
                if st.peer_has_closed() {
                    self.eof = true;
                }
                if let TlsPhase::Handshaking { .. } = self.phase {
                    if !self.conn.is_handshaking() {
                        self.phase = TlsPhase::Open;
                    }
                }
                match self.push() {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// A TLS error: its alert goes out (best effort) and the connection is
    /// done. A client that spoke plain HTTP gets a plain `400`.
    #[cold]
    fn failed(&mut self, e: rustls::Error) -> io::Error {
        let plain_http = matches!(self.phase, TlsPhase::Handshaking { .. })
            && self.first_byte.is_some_and(|b| b.is_ascii_uppercase());
        if plain_http {
            let _ = sys::send(&self.sock, PLAIN_HTTP_ANSWER);
        } else {
            let _ = self.push();
        }
        self.phase = TlsPhase::Done;
        let what = if plain_http {
            "a plain HTTP request on the TLS port".to_string()
        } else {
            format!("TLS: {e}")
        };
        io::Error::new(io::ErrorKind::InvalidData, what)
    }

    /// The rustls plaintext reader, as `Ok(0)` at the end of the input
    /// (with or without the client's close_notify).
    fn read_plain(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.conn.reader().read(out) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// After plaintext was taken: how much rustls still holds, records
    /// read but not yet decrypted included.
    fn recount(&mut self) -> io::Result<()> {
        if self.plain == 0 {
            self.process()?;
        }
        Ok(())
    }
}

impl Transport for TlsTransport {
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Filled> {
        self.fill()?;
        if self.plain == 0 {
            // The end of the input (eof set by `fill`).
            return Ok(Filled {
                n: 0,
                drained: true,
            });
        }
        let take = self.plain.min(max).min(buf.capacity() - buf.len());
        let start = buf.len();
        // rustls reads into initialized memory: zero only what it fills.
        buf.resize(start + take, 0);
        let r = self.read_plain(&mut buf[start..]);
        let n = *r.as_ref().unwrap_or(&0);
        buf.truncate(start + n);
        let n = r?;
        self.plain -= n.min(self.plain);
        self.recount()?;
        Ok(Filled {
            n,
            // More may be read at once while rustls holds plaintext or the
            // socket was not drained.
            drained: self.plain == 0 && self.sock_drained && !self.eof,
        })
    }

    fn discard(&mut self, max: usize) -> io::Result<usize> {
        self.fill()?;
        if self.plain == 0 {
            return Ok(0);
        }
        let mut sink = [0u8; 4096];
        let take = max.min(sink.len()).min(self.plain);
        let n = self.read_plain(&mut sink[..take])?;
        self.plain -= n.min(self.plain);
        self.recount()?;
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(data)])
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        // Two tries: the second after the socket took rustls' full output.
        for _ in 0..2 {
            let n = self.conn.writer().write_vectored(bufs)?;
            if n > 0 {
                match self.push() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                return Ok(n);
            }
            // rustls' output is at its limit: the socket must take some.
            self.push()?;
        }
        Err(io::Error::other(
            "TLS output refused with nothing held (handshake unfinished)",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }

    fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        if self.phase == TlsPhase::Open {
            self.conn.send_close_notify();
            self.phase = TlsPhase::Done;
        }
        // The FIN follows the close_notify; if the socket cannot take the
        // records now, there is no FIN (the connection closes when its
        // lingering ends).
        self.push()?;
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    fn wait(&mut self, write: bool, timeout: Duration) -> io::Result<bool> {
        if !write && (self.plain > 0 || self.eof) {
            return Ok(true);
        }
        crate::transport::poll_socket(&self.sock, write, timeout)
    }

    fn handshake_deadline(&self) -> Option<u64> {
        TlsTransport::handshake_deadline(self)
    }

    fn can_hijack(&self) -> bool {
        false
    }
}

impl Drop for TlsTransport {
    /// Sends close_notify (best effort, never blocking) so the client can
    /// tell the end of the connection from a truncation.
    fn drop(&mut self) {
        if self.phase == TlsPhase::Open {
            self.conn.send_close_notify();
            let _ = self.push();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
        (ck.cert.pem(), ck.key_pair.serialize_pem())
    }

    #[test]
    fn pem_errors_say_what_is_missing() {
        let (cert, key) = pem(&["a.test"]);
        let e = TlsConfig::from_pem(b"", key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");
        let e = TlsConfig::from_pem(cert.as_bytes(), b"junk").unwrap_err();
        assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e}");
        let (_, other_key) = pem(&["b.test"]);
        let e = TlsConfig::from_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::Rustls { .. }), "{e}");
        let e =
            TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
        let cfg = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let e = cfg
            .sni_pem("not a name", cert.as_bytes(), key.as_bytes())
            .unwrap_err();
        assert!(matches!(e, TlsError::InvalidServerName(_)), "{e}");
    }

    #[test]
    fn the_config_offers_http11_only() {
        let (cert, key) = pem(&["a.test"]);
        let cfg = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let live = read_lock(&cfg.live).clone();
        assert_eq!(live.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn reload_swaps_the_live_config() {
        let (c1, k1) = pem(&["a.test"]);
        let (c2, k2) = pem(&["a.test"]);
        let cfg = TlsConfig::from_pem(c1.as_bytes(), k1.as_bytes()).unwrap();
        let acceptor = cfg.acceptor();
        let before = read_lock(&acceptor.live).clone();
        cfg.reloader()
            .reload(TlsConfig::from_pem(c2.as_bytes(), k2.as_bytes()).unwrap());
        let after = read_lock(&acceptor.live).clone();
        assert!(!Arc::ptr_eq(&before, &after));
    }
}

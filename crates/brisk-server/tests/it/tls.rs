//! HTTPS (feature `tls`): a real rustls client against a real server, with
//! certificates made at test time by rcgen; curl and openssl when present.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use brisk_server::rustls;
use brisk_server::{TlsConfig, TlsReloader};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{TestServer, find};

/// A certificate authority that signs the test certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its key, PEM, plus its DER to compare with what
/// a client was shown.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "brisk test CA");
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    fn leaf_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        edit(&mut p);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut c = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

fn config(leaf: &Leaf) -> TlsConfig {
    TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap()
}

fn hello_over(tls: TlsConfig) -> TestServer {
    TestServer::start(
        |ctx| {
            let body = format!("Hello {}", String::from_utf8_lossy(ctx.path()));
            ctx.set_body(body.as_bytes());
        },
        |b| b.tls(tls),
    )
}

/// A blocking HTTPS client.
struct Https {
    tls: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Https {
    /// Connects and finishes the handshake (the error if it fails).
    fn connect(
        addr: SocketAddr,
        name: &str,
        cfg: Arc<ClientConfig>,
    ) -> Result<Https, std::io::Error> {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn =
            ClientConnection::new(cfg, ServerName::try_from(name.to_string()).unwrap()).unwrap();
        let mut tls = StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Https {
            tls,
            buf: Vec::new(),
        })
    }

    fn peer_cert(&self) -> CertificateDer<'static> {
        self.tls.conn.peer_certificates().unwrap()[0].clone()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.response()
    }

    /// One response with a Content-Length: (status, body).
    fn response(&mut self) -> (u16, Vec<u8>) {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                let status: u16 = head[9..12].parse().unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().unwrap())
                    })
                    .expect("content-length");
                while self.buf.len() < end + 4 + len {
                    assert!(self.fill(), "the connection closed inside a response");
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                return (status, body);
            }
            assert!(self.fill(), "the connection closed before a response");
        }
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16384];
        match self.tls.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
            Err(e) => panic!("TLS read failed: {e}"),
        }
    }
}

/// The rustls error inside an I/O error from the client.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

#[test]
fn https_get_keep_alive_and_pipelining() {
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let srv = hello_over(config(&leaf));
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[b"http/1.1"])).unwrap();
    assert_eq!(c.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(c.peer_cert(), leaf.der);
    for i in 0..3 {
        let (status, body) = c.get(&format!("/k{i}"));
        assert_eq!((status, body), (200, format!("Hello /k{i}").into_bytes()));
    }
    // Three requests in one write (one TLS record): three answers in order.
    c.send(b"GET /p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /p2 HTTP/1.1\r\nHost: t\r\n\r\nGET /p3 HTTP/1.1\r\nHost: t\r\n\r\n");
    for p in ["/p1", "/p2", "/p3"] {
        assert_eq!(c.response(), (200, format!("Hello {p}").into_bytes()));
    }
    // A client without ALPN is served HTTP/1.1 too.
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    assert_eq!(c.tls.conn.alpn_protocol(), None);
    assert_eq!(c.get("/x").0, 200);
}

#[test]
fn an_h2_only_client_gets_no_application_protocol() {
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let srv = hello_over(config(&leaf));
    let e = Https::connect(srv.addr, "localhost", ca.client(&[b"h2"]))
        .err()
        .expect("the handshake must fail");
    assert_eq!(
        tls_error(&e),
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        )),
        "{e}"
    );
    // The server goes on serving.
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[b"h2", b"http/1.1"])).unwrap();
    assert_eq!(c.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(c.get("/").0, 200);
}

#[test]
fn sni_picks_the_certificate_by_name_with_a_default() {
    let ca = Ca::new();
    let default = ca.leaf(&["default.test"]);
    let a = ca.leaf(&["a.test"]);
    let b = ca.leaf(&["b.test"]);
    let tls = config(&default)
        .sni_pem("a.test", a.cert_pem.as_bytes(), a.key_pem.as_bytes())
        .unwrap()
        .sni_pem("B.Test", b.cert_pem.as_bytes(), b.key_pem.as_bytes())
        .unwrap();
    let srv = hello_over(tls);
    let client = ca.client(&[b"http/1.1"]);
    for (name, leaf) in [("a.test", &a), ("b.test", &b), ("default.test", &default)] {
        let mut c = Https::connect(srv.addr, name, client.clone()).unwrap();
        assert!(c.peer_cert() == leaf.der, "{name}: wrong certificate");
        assert_eq!(c.get("/").0, 200, "{name}");
    }
}

#[test]
fn reload_serves_new_connections_with_the_new_certificate() {
    let ca = Ca::new();
    let one = ca.leaf(&["localhost"]);
    let two = ca.leaf(&["localhost"]);
    let tls = config(&one);
    let reloader: TlsReloader = tls.reloader();
    let srv = hello_over(tls);
    let client = ca.client(&[b"http/1.1"]);
    let mut old = Https::connect(srv.addr, "localhost", client.clone()).unwrap();
    assert_eq!(old.peer_cert(), one.der);
    assert_eq!(old.get("/before").0, 200);

    reloader.reload(config(&two));
    let mut new = Https::connect(srv.addr, "localhost", client.clone()).unwrap();
    assert_eq!(new.peer_cert(), two.der);
    assert_eq!(new.get("/new").0, 200);
    // The established connection keeps its session and goes on working.
    assert_eq!(old.get("/after"), (200, b"Hello /after".to_vec()));

    // A failed reload leaves the running certificate in place.
    let dir = tempdir();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    assert!(reloader.reload_pem_files(&bad, &bad).is_err());
    let c = Https::connect(srv.addr, "localhost", client).unwrap();
    assert_eq!(c.peer_cert(), two.der);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn expired_and_wrong_name_certificates_fail_on_the_client() {
    let ca = Ca::new();
    let expired = ca.leaf_with(&["localhost"], |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let srv = hello_over(config(&expired));
    let e = Https::connect(srv.addr, "localhost", ca.client(&[]))
        .err()
        .expect("an expired certificate must fail");
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ExpiredContext { .. } | rustls::CertificateError::Expired
            ))
        ),
        "{e}"
    );
    drop(srv);

    let other = ca.leaf(&["other.test"]);
    let srv = hello_over(config(&other));
    let e = Https::connect(srv.addr, "localhost", ca.client(&[]))
        .err()
        .expect("a certificate for another name must fail");
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
                    | rustls::CertificateError::NotValidForName
            ))
        ),
        "{e}"
    );
}

#[test]
fn plain_http_on_the_tls_port_gets_a_plain_400() {
    let ca = Ca::new();
    let srv = hello_over(config(&ca.leaf(&["localhost"])));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text:?}");
    assert!(text.contains("HTTPS"), "{text:?}");
}

#[test]
fn an_unfinished_handshake_is_closed_and_stalls_nobody() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"])).handshake_timeout(Duration::from_millis(200));
    let srv = hello_over(tls);
    // Half a ClientHello: a handshake record header announcing 512 bytes,
    // and a few of them.
    let mut half = TcpStream::connect(srv.addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    half.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .unwrap();
    // Meanwhile another client is served.
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    assert_eq!(c.get("/").0, 200);
    // The half handshake is closed by the server (EOF or reset), long
    // before the 10 s read timeout.
    let mut tmp = [0u8; 64];
    match half.read(&mut tmp) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes for a half ClientHello"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    // Garbage that is not TLS at all is refused too.
    let mut junk = TcpStream::connect(srv.addr).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    junk.write_all(&[0xff; 64]).unwrap();
    let mut out = Vec::new();
    let _ = junk.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP"), "garbage is not plain HTTP");
}

#[test]
fn large_response_and_request_bodies() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let srv = TestServer::start(
        |ctx| {
            if ctx.path() == b"/big" {
                let body: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
                ctx.set_body(&body);
            } else {
                let sum: u64 = ctx.body().iter().map(|&b| u64::from(b)).sum();
                ctx.set_body(format!("{} {sum}", ctx.body().len()).as_bytes());
            }
        },
        |b| b.tls(tls).max_request_body_size(4 << 20),
    );
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    let (status, body) = c.get("/big");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 8 << 20);
    assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));

    let upload: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 7) as u8).collect();
    let sum: u64 = upload.iter().map(|&b| u64::from(b)).sum();
    c.send(
        format!(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            upload.len()
        )
        .as_bytes(),
    );
    c.send(&upload);
    assert_eq!(
        c.response(),
        (200, format!("{} {sum}", upload.len()).into_bytes())
    );
    // The connection is still good.
    assert_eq!(c.get("/again").0, 200);
}

#[test]
fn streamed_request_bodies_are_read_on_a_worker_over_tls() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let srv = TestServer::start(
        |ctx| {
            let mut n = 0usize;
            if let Some(r) = ctx.body_reader() {
                let mut buf = [0u8; 8192];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) => {
                            ctx.error(&e.to_string(), 400);
                            return;
                        }
                    }
                }
            }
            ctx.set_body(format!("read {n}").as_bytes());
        },
        |b| b.tls(tls).stream_request_body(true),
    );
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    let body = vec![b'x'; 1 << 20];
    c.send(
        format!(
            "POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    assert_eq!(
        c.response(),
        (200, format!("read {}", body.len()).into_bytes())
    );
    assert_eq!(c.get("/after").0, 200);
}

#[test]
fn hijack_over_tls_is_refused_with_501() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let srv = TestServer::start(
        |ctx| {
            ctx.set_status(101);
            ctx.set_header(b"Upgrade", b"echo").unwrap();
            ctx.hijack(|_conn| panic!("a TLS connection must not be hijacked"));
        },
        |b| b.tls(tls),
    );
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    let (status, body) = c.get("/ws");
    assert_eq!(status, 501);
    assert!(String::from_utf8_lossy(&body).contains("TLS"));
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "brisk-tls-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `cmd` if it exists; `None` (with a note) when it does not.
fn run_tool(cmd: &str, args: &[&str], stdin: &[u8]) -> Option<std::process::Output> {
    use std::process::{Command, Stdio};
    let child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: {cmd} not found; its TLS check is skipped");
            return None;
        }
        Err(e) => panic!("{cmd}: {e}"),
    };
    let _ = child.stdin.take().unwrap().write_all(stdin);
    // Bounded: the tools get their own timeouts in `args`.
    Some(child.wait_with_output().unwrap())
}

#[test]
fn curl_and_openssl_talk_to_it() {
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let dir = tempdir();
    let (cert, key, ca_file) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let srv = hello_over(TlsConfig::from_pem_files(&cert, &key).unwrap());
    let port = srv.addr.port().to_string();
    let url = format!("https://localhost:{port}/curl");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let ca_path = ca_file.to_str().unwrap();
    if let Some(out) = run_tool(
        "curl",
        &[
            "-sS",
            "--max-time",
            "10",
            "--http1.1",
            "--cacert",
            ca_path,
            "--resolve",
            &resolve,
            &url,
        ],
        b"",
    ) {
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"Hello /curl");
    }
    let connect = format!("127.0.0.1:{port}");
    if let Some(out) = run_tool(
        "timeout",
        &[
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-alpn",
            "http/1.1",
            "-CAfile",
            ca_path,
            "-verify_return_error",
            "-quiet",
            "-verify_quiet",
        ],
        b"GET /openssl HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ) {
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.code() == Some(127) {
            eprintln!("note: openssl not found; its TLS check is skipped");
        } else {
            assert!(
                text.contains("Hello /openssl"),
                "openssl s_client: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn at_the_connection_limit_a_tls_client_is_closed_without_plain_text() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let srv = TestServer::start(|ctx| ctx.set_body(b"ok"), |b| b.tls(tls).concurrency(1));
    let client = ca.client(&[]);
    let mut first = Https::connect(srv.addr, "localhost", client.clone()).unwrap();
    assert_eq!(first.get("/").0, 200);
    // The second connection is over the limit: closed, no 503 in plain
    // text on a port that speaks TLS.
    let e = Https::connect(srv.addr, "localhost", client.clone())
        .err()
        .expect("over the limit the handshake cannot finish");
    assert!(tls_error(&e).is_none(), "closed, not a TLS error: {e}");
    assert_eq!(first.get("/still").0, 200);
}

#[test]
fn a_proxy_protocol_header_comes_before_the_handshake() {
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let srv = TestServer::start(
        |ctx| {
            let body = ctx.remote_addr().to_string();
            ctx.set_body(body.as_bytes());
        },
        |b| {
            b.tls(tls).proxy_protocol(
                brisk_server::ProxyPolicy::required().trust("127.0.0.0/8".parse().unwrap()),
            )
        },
    );
    let mut sock = TcpStream::connect(srv.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(b"PROXY TCP4 192.0.2.7 192.0.2.1 4321 443\r\n")
        .unwrap();
    let conn = ClientConnection::new(
        ca.client(&[]),
        ServerName::try_from("localhost".to_string()).unwrap(),
    )
    .unwrap();
    let mut c = Https {
        tls: StreamOwned::new(conn, sock),
        buf: Vec::new(),
    };
    assert_eq!(c.get("/"), (200, b"192.0.2.7:4321".to_vec()));
}

#[test]
fn a_file_body_goes_through_tls() {
    // `set_body_file` is sendfile(2) on plain TCP; over TLS the file is
    // read and encrypted (Transport::send_file's default).
    let dir = tempdir();
    let path = dir.join("body.bin");
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &body).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    let ca = Ca::new();
    let tls = config(&ca.leaf(&["localhost"]));
    let len = body.len() as u64;
    let srv = TestServer::start(
        move |ctx| ctx.set_body_file(file.clone(), 1000, len - 1000),
        |b| b.tls(tls),
    );
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    for _ in 0..2 {
        let (status, got) = c.get("/f");
        assert_eq!(status, 200);
        assert!(got == body[1000..], "the file body differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_asked_on_io_uring_is_served_by_epoll() {
    // The io_uring loop does not serve TLS: the server falls back to epoll
    // (with a log line) and serves HTTPS as ever.
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let srv = TestServer::start(
        |ctx| ctx.set_body(b"over tls"),
        |b| b.tls(config(&leaf)).backend(brisk_server::Backend::Uring),
    );
    let mut c = Https::connect(srv.addr, "localhost", ca.client(&[])).unwrap();
    assert_eq!(c.get("/"), (200, b"over tls".to_vec()));
    assert_eq!(srv.server.backend(), brisk_server::Backend::Epoll);
}

//! hyper 1.x over tokio-rustls: the HTTPS counterpart of the peers kit's
//! hyper server. One tokio current-thread runtime (one core, like brisk
//! with one loop and nginx with one worker), HTTP/1.1 only (ALPN
//! `http/1.1`), keep-alive, answers every request with 200
//! "Hello, World!" text/plain.
//!
//! A handshake that does not finish within 10 s is dropped (brisk's
//! default handshake timeout; hyper has none of its own for TLS).
//!
//! Usage: `hyper-tls-peer --port N --tls-cert CERT.pem --tls-key KEY.pem`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

static BODY: &[u8] = b"Hello, World!";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(BODY)));
    let h = rsp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(SERVER, HeaderValue::from_static("hyper"));
    Ok(rsp)
}

struct Args {
    port: u16,
    cert: String,
    key: String,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut port, mut cert, mut key) = (None, None, None);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--port" => {
                let v = value("--port")?;
                port = Some(v.parse().map_err(|_| format!("--port {v}: not a port"))?);
            }
            "--tls-cert" => cert = Some(value("--tls-cert")?),
            "--tls-key" => key = Some(value("--tls-key")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        port: port.ok_or("--port N is required")?,
        cert: cert.ok_or("--tls-cert FILE is required")?,
        key: key.ok_or("--tls-key FILE is required")?,
    })
}

fn tls_config(a: &Args) -> Result<rustls::ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&a.cert)
        .and_then(|i| i.collect())
        .map_err(|e| format!("{}: {e}", a.cert))?;
    let key = PrivateKeyDer::from_pem_file(&a.key).map_err(|e| format!("{}: {e}", a.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn main() {
    let run = || -> Result<(), String> {
        let a = args()?;
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(&a)?));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let listener = TcpListener::bind(("127.0.0.1", a.port))
                .await
                .map_err(|e| format!("bind 127.0.0.1:{}: {e}", a.port))?;
            eprintln!("hyper-tls listening on 127.0.0.1:{}", a.port);
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("accept: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        _ => return,
                    };
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .pipeline_flush(true)
                        .serve_connection(TokioIo::new(tls), service_fn(hello))
                        .await;
                });
            }
        })
    };
    if let Err(e) = run() {
        eprintln!("hyper-tls-peer: {e}");
        std::process::exit(2);
    }
}

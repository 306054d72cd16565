//! The examples over HTTPS (`--tls-cert`/`--tls-key`): served with the
//! `tls` feature, refused with a clear message without it.

use std::path::PathBuf;

/// A certificate for `localhost` signed by a test CA, written as PEM files:
/// (directory, cert, key, CA).
fn cert_files() -> (PathBuf, PathBuf, PathBuf, rcgen::Certificate) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    // One directory per call: the tests run in parallel.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("brisk-facade-tls-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (dir, cert, key, ca)
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_flags_without_the_feature_say_how_to_get_it() {
    let (dir, cert, key, _) = cert_files();
    for name in ["hello", "prefork"] {
        let mut child = std::process::Command::new(crate::example(name))
            .args(["--port", "0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env_remove(brisk::prefork::CHILD_ENV)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: an example built with the feature would serve instead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name} did not refuse --tls-cert (built with the tls feature?)");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features tls"), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "tls")]
mod https {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use brisk::server::rustls;
    use rustls::pki_types::ServerName;

    use crate::shutdown::Watched;

    fn https_get(addr: SocketAddr, ca: &rcgen::Certificate, path: &str) -> String {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn = rustls::ClientConnection::new(
            Arc::new(cfg),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        match tls.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => panic!("HTTPS read: {e}"),
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn addr_in(line: &str) -> SocketAddr {
        line.split("https://")
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn hello_serves_https() {
        let (dir, cert, key, ca) = super::cert_files();
        let p = Watched::start(
            "hello",
            &[
                "--port",
                "0",
                "--loops",
                "1",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        );
        let addr = addr_in(&p.wait_lines("listening on https://", 1)[0]);
        let resp = https_get(addr, &ca, "/");
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(resp.ends_with("Hello, World!"), "{resp}");
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prefork_children_serve_https() {
        let (dir, cert, key, ca) = super::cert_files();
        let p = Watched::start(
            "prefork",
            &[
                "--port",
                "0",
                "--children",
                "2",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        );
        let addr = addr_in(&p.wait_lines("listening on https://", 2)[0]);
        let mut pids = std::collections::BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while pids.len() < 2 && Instant::now() < deadline {
            let resp = https_get(addr, &ca, "/");
            if let Some(pid) = resp.split("Hello from process ").nth(1) {
                pids.insert(pid.trim().to_string());
            }
        }
        assert!(pids.len() >= 2, "HTTPS answers came from {pids:?}");
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

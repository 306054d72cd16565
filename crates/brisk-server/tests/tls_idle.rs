//! What an idle TLS connection costs the server: heap bytes still held
//! after N clients made a request each and went quiet, measured with a
//! counting global allocator, next to the same for plain TCP.
//!
//! The clients run in a child process (this binary again), so the
//! allocator counts the server alone. Feature `tls`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use brisk_server::rustls;
use brisk_server::{Server, TlsConfig};

struct Counting;

/// Heap bytes allocated and not yet freed, process-wide.
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only
// keeps a running total of live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Connections per measurement.
const N: usize = 200;
/// Set in the child process that plays the clients: "tls CA_PEM_FILE ADDR"
/// or "plain ADDR".
const CLIENT: &str = "BRISK_TLS_IDLE_CLIENT";

/// Bytes an idle TLS connection may hold on the server: rustls' session
/// state and its 4 KiB receive buffer (which rustls keeps), the `Conn` and
/// its slot; measured 7.8 KiB with rustls 0.23 (see the printed line).
const MAX_TLS_IDLE: i64 = 12 * 1024;

fn main_client(spec: &str) {
    let mut parts = spec.split(' ');
    let kind = parts.next().unwrap();
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    if kind == "tls" {
        let ca = std::fs::read(parts.next().unwrap()).unwrap();
        let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(&ca).unwrap())
            .unwrap();
        let cfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        );
        for _ in 0..N {
            let sock = TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ClientConnection::new(
                cfg.clone(),
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let mut s = rustls::StreamOwned::new(conn, sock);
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            read_hello(&mut s);
            keep.push(Box::new(s));
        }
    } else {
        let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
        for _ in 0..N {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            read_hello(&mut s);
            keep.push(Box::new(s));
        }
    }
    println!("ready");
    // Hold the connections until the parent closes our stdin.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}

fn read_hello(s: &mut impl Read) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"Hello, World!") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Live server heap per idle connection after `N` clients of `kind`.
fn per_idle_conn(tls: Option<(TlsConfig, std::path::PathBuf)>) -> i64 {
    let mut b = Server::builder()
        .handler(|ctx| ctx.set_body(b"Hello, World!"))
        .loops(1)
        .blocking_threshold(Duration::from_secs(5));
    let spec_tls = tls.as_ref().map(|(_, ca)| ca.clone());
    if let Some((cfg, _)) = tls {
        b = b.tls(cfg);
    }
    let server = b.build().unwrap();
    let listeners = server.bind("127.0.0.1:0").unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let stop = server.shutdown_handle();
    let t = std::thread::spawn(move || server.serve_listeners(listeners));
    let spec = match &spec_tls {
        Some(ca) => format!("tls {} {addr}", ca.display()),
        None => format!("plain {addr}"),
    };
    // Warm-up: one round that is not counted (thread caches, pools, the
    // session cache's first entries).
    for round in 0..2 {
        let before = LIVE.load(Ordering::Relaxed);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "idle_tls_connections_hold_little", "--nocapture"])
            .env(CLIENT, &spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("ready") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the client process failed"
            );
        }
        // Every connection answered and went idle; the loop may still be
        // filing the last ones: wait until the count stops moving.
        let after = settled();
        drop(child.stdin.take());
        let _ = child.wait();
        if round == 1 {
            stop.shutdown();
            t.join().unwrap().unwrap();
            return (after - before) / N as i64;
        }
        // The server sees the closes before the counted round.
        settled();
    }
    unreachable!()
}

/// The live byte count once it has not moved for 100 ms (at most 10 s).
fn settled() -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = LIVE.load(Ordering::Relaxed);
    let mut still = 0;
    while still < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = LIVE.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    last
}

#[test]
fn idle_tls_connections_hold_little() {
    if let Ok(spec) = std::env::var(CLIENT) {
        main_client(&spec);
        return;
    }
    let dir = std::env::temp_dir().join(format!("brisk-tls-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = dir.join("cert.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let tls = TlsConfig::from_pem(
        ck.cert.pem().as_bytes(),
        ck.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();

    let plain = per_idle_conn(None);
    let tls = per_idle_conn(Some((tls, ca)));
    let _ = std::fs::remove_dir_all(&dir);
    println!("server heap per idle connection ({N} connections): plain {plain} B, TLS {tls} B");
    assert!(plain <= 512, "an idle plain connection holds {plain} B");
    assert!(
        tls <= MAX_TLS_IDLE,
        "an idle TLS connection holds {tls} B (at most {MAX_TLS_IDLE})"
    );
}

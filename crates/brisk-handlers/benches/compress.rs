//! Compression cost (see the README's "Measuring" section).
//!
//! - `encode_4k_json/*`: one 4 KiB JSON body encoded, per coding, with the
//!   per-thread reused encoder state (`reused`) and, for gzip, a fresh
//!   `flate2` encoder per body (`fresh`) for comparison.
//! - `request_4k_json/*`: one request and its response over a keep-alive
//!   loopback connection to a real server: the plain handler, the wrapped
//!   handler with no `Accept-Encoding` (the wrapper's overhead), and the
//!   wrapped handler per coding. The bytes on the wire of each case are
//!   printed once.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use brisk_handlers::compress::{_benchable, Compress, Level};
use brisk_http::Coding;
use brisk_server::{RequestCtx, Server};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn json() -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < 4000 {
        s.push_str(&format!(
            r#"{{"id":{i},"name":"user{i}","email":"user{i}@example.com","active":{},"score":{}}},"#,
            i % 3 == 0,
            (i * 7919) % 1000
        ));
        i += 1;
    }
    s.push_str("null]");
    s.into_bytes()
}

const CODINGS: [Coding; 4] = [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd];

fn encode(c: &mut Criterion) {
    let body = json();
    let mut g = c.benchmark_group("encode_4k_json");
    g.throughput(Throughput::Bytes(body.len() as u64));
    let mut out = Vec::with_capacity(8192);
    for coding in CODINGS {
        g.bench_function(BenchmarkId::new("reused", coding), |b| {
            b.iter(|| {
                out.clear();
                _benchable::encode(coding, Level::Default, black_box(&body), &mut out);
                black_box(out.len())
            })
        });
    }
    g.bench_function(BenchmarkId::new("fresh", Coding::Gzip), |b| {
        b.iter(|| {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(8192),
                flate2::Compression::new(6),
            );
            e.write_all(black_box(&body)).unwrap();
            black_box(e.finish().unwrap().len())
        })
    });
    g.finish();
}

/// A keep-alive client that reads Content-Length responses.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Sends `req` and reads the response: its size on the wire.
    fn round_trip(&mut self, req: &[u8]) -> usize {
        self.stream.write_all(req).unwrap();
        self.buf.clear();
        let mut tmp = [0u8; 16384];
        loop {
            let n = self.stream.read(&mut tmp).unwrap();
            assert!(n > 0, "server closed");
            self.buf.extend_from_slice(&tmp[..n]);
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if self.buf.len() >= end + 4 + len {
                    return self.buf.len();
                }
            }
        }
    }
}

fn serve(
    handler: impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
) -> (Client, brisk_server::ShutdownHandle) {
    let server = Server::builder()
        .handler(handler)
        .loops(1)
        .handle_signals(false)
        .build()
        .unwrap();
    let listeners = server.bind("127.0.0.1:0").unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let stop = server.shutdown_handle();
    std::thread::spawn(move || server.serve_listeners(listeners));
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    (
        Client {
            stream,
            buf: Vec::new(),
        },
        stop,
    )
}

fn requests(c: &mut Criterion) {
    let body: &'static [u8] = Box::leak(json().into_boxed_slice());
    let app = move |ctx: &mut RequestCtx<'_>| {
        ctx.set_content_type(b"application/json");
        ctx.set_body(body);
    };
    let mut g = c.benchmark_group("request_4k_json");
    let plain = b"GET / HTTP/1.1\r\nHost: b\r\n\r\n".to_vec();
    let mut cases: Vec<(String, bool, Vec<u8>)> = vec![
        ("plain".into(), false, plain.clone()),
        ("wrapped_no_accept_encoding".into(), true, plain),
    ];
    for coding in CODINGS {
        cases.push((
            format!("wrapped_{coding}"),
            true,
            format!("GET / HTTP/1.1\r\nHost: b\r\nAccept-Encoding: {coding}\r\n\r\n").into_bytes(),
        ));
    }
    for (name, wrapped, req) in cases {
        let (mut client, stop) = if wrapped {
            serve(Compress::new().wrap(app))
        } else {
            serve(app)
        };
        let wire = client.round_trip(&req);
        eprintln!("request_4k_json/{name}: {wire} bytes on the wire per response (head included)");
        g.bench_function(&name, |b| b.iter(|| client.round_trip(black_box(&req))));
        stop.shutdown();
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = encode, requests
}
criterion_main!(benches);

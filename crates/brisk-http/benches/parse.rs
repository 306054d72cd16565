//! Head-parse and response-serialize benchmarks (see `cargo xtask bench parse`).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use brisk_buf::ByteBuffer;
use brisk_http::{
    Limits, ProxyAddresses, ProxyCommand, ProxyHeader, ProxyTransport, ProxyVersion, RequestHeader,
    RequestParser, ResponseBody, ResponseHeader, WriteOptions, parse_proxy_header,
    write_response_head,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const MINIMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

const BROWSER: &[u8] = b"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n\
Host: www.kittyhell.com\r\n\
User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n\
Accept-Encoding: gzip,deflate\r\n\
Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n\
Keep-Alive: 115\r\n\
Connection: keep-alive\r\n\
Referer: https://www.kittyhell.com/\r\n\
Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Cache-Control: max-age=0\r\n\r\n";

fn headers40() -> Vec<u8> {
    let mut v = b"GET /api/v1/items?page=2&limit=50 HTTP/1.1\r\nHost: api.example.com\r\n".to_vec();
    for i in 0..39 {
        v.extend_from_slice(
            format!("X-Custom-Header-{i:02}: value-{i:02}-abcdefghijklmnop\r\n").as_bytes(),
        );
    }
    v.extend_from_slice(b"\r\n");
    v
}

fn parse(c: &mut Criterion) {
    let h40 = headers40();
    let inputs: [(&str, &[u8]); 3] = [
        ("minimal", MINIMAL),
        ("browser", BROWSER),
        ("headers40", &h40),
    ];
    let mut g = c.benchmark_group("parse");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for (name, input) in inputs {
        g.throughput(Throughput::Bytes(input.len() as u64));
        let mut parser = RequestParser::new(Limits::default());
        let mut req = RequestHeader::new();
        g.bench_with_input(BenchmarkId::new("brisk", name), input, |b, input| {
            b.iter(|| {
                parser.reset();
                req.clear();
                let r = parser.parse(black_box(input), &mut req);
                black_box((r, req.headers().len()))
            })
        });
        g.bench_with_input(BenchmarkId::new("httparse", name), input, |b, input| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut r = httparse::Request::new(&mut headers);
                let s = r.parse(black_box(input));
                black_box((s.map(|s| s.is_complete()), r.headers.len()))
            })
        });
    }
    let mut h = ResponseHeader::new();
    h.set_content_type(b"text/plain; charset=utf-8")
        .expect("valid content type");
    let opts = WriteOptions {
        server_name: Some(b"brisk"),
        ..WriteOptions::default()
    };
    let mut out = ByteBuffer::with_capacity(512);
    out.reserve(512);
    write_response_head(&h, ResponseBody::Length(13), &opts, &mut out);
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.bench_function(BenchmarkId::new("serialize", "small_200"), |b| {
        b.iter(|| {
            out.reset();
            write_response_head(black_box(&h), ResponseBody::Length(13), &opts, &mut out);
            black_box(out.len())
        })
    });
    // PROXY protocol headers (once per connection behind a load balancer).
    let mut v2 = Vec::new();
    ProxyHeader {
        version: ProxyVersion::V2,
        command: ProxyCommand::Proxy,
        addresses: ProxyAddresses::Inet {
            transport: ProxyTransport::Stream,
            source: "192.0.2.7:56324".parse().expect("address"),
            destination: "198.51.100.1:443".parse().expect("address"),
        },
        // ALPN, AUTHORITY and a CRC32C (filled in by `encode`).
        tlvs: b"\x01\x00\x02h2\x02\x00\x0bexample.com\x03\x00\x04\x00\x00\x00\x00",
    }
    .encode(&mut v2)
    .expect("encodes");
    let proxies: [(&str, &[u8]); 2] = [
        (
            "v1_tcp4",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n",
        ),
        ("v2_inet_tlvs_crc", &v2),
    ];
    for (name, input) in proxies {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_with_input(BenchmarkId::new("proxy", name), input, |b, input| {
            b.iter(|| black_box(parse_proxy_header(black_box(input))).is_ok())
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);

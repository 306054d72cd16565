use proptest::prelude::*;

use super::codec::{self, AVAILABLE, StreamEncoder};
use super::*;

#[test]
fn compressible_types() {
    for (ct, want) in [
        (&b"text/html; charset=utf-8"[..], true),
        (b"TEXT/PLAIN", true),
        (b"text/event-stream", true),
        (b"application/json", true),
        (b"application/problem+json", true),
        (b"application/javascript", true),
        (b"application/xml", true),
        (b"application/atom+xml", true),
        (b"image/svg+xml", true),
        (b"application/wasm", true),
        (b"font/ttf", true),
        (b"image/x-icon", true),
        (b"image/png", false),
        (b"image/jpeg", false),
        (b"video/mp4", false),
        (b"audio/ogg", false),
        (b"application/zip", false),
        (b"application/gzip", false),
        (b"application/octet-stream", false),
        (b"font/woff2", false),
        (b"", false),
        (b"json", false),
        (b"application/", false),
    ] {
        assert_eq!(
            compressible_type(ct),
            want,
            "{:?}",
            String::from_utf8_lossy(ct)
        );
    }
}

#[test]
fn list_elements() {
    let ae = |v: &[u8]| list_has(v, |t| t.eq_ignore_ascii_case(b"accept-encoding"));
    assert!(ae(b"Accept-Encoding"));
    assert!(ae(b"Origin, accept-encoding"));
    assert!(!ae(b"Accept"));
    assert!(!ae(b"Accept-Encoding-X"));
    let nt = |v: &[u8]| list_has(v, |t| t.eq_ignore_ascii_case(b"no-transform"));
    assert!(nt(b"public, max-age=60, no-transform"));
    assert!(!nt(b"max-age=60"));
}

#[test]
fn levels_map_to_valid_encoder_settings() {
    for l in [Level::Fastest, Level::Default, Level::Best] {
        let p = l.params();
        assert!(p.gzip <= 9 && p.br <= 11 && (1..=19).contains(&p.zstd));
    }
}

fn codings() -> impl Strategy<Value = brisk_http::Coding> {
    prop::sample::select(AVAILABLE.to_vec())
}

fn levels() -> impl Strategy<Value = Level> {
    prop::sample::select(vec![Level::Fastest, Level::Default])
}

/// Bodies that compress (repeated words) and bodies that do not (random
/// bytes).
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        prop::collection::vec(
            prop::sample::select(vec![&b"alpha "[..], b"beta ", b"{\"k\":1}", b"\n"]),
            0..600
        )
        .prop_map(|w| w.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn one_shot_round_trip(body in bodies(), coding in codings(), level in levels()) {
        let mut enc = Vec::new();
        codec::encode(coding, level.params(), &body, &mut enc).unwrap();
        let mut dec = Vec::new();
        codec::decode(coding, &enc, usize::MAX, &mut dec).unwrap();
        prop_assert_eq!(dec, body);
    }

    #[test]
    fn streamed_round_trip(
        body in bodies(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..8),
        coding in codings(),
    ) {
        let mut points: Vec<(usize, bool)> =
            cuts.iter().map(|(i, f)| (i.index(body.len() + 1), *f)).collect();
        points.sort();
        let mut enc = StreamEncoder::new(coding, Level::Fastest.params()).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        for (cut, flush) in points {
            enc.write(&body[at..cut], flush, &mut out).unwrap();
            at = cut;
        }
        enc.write(&body[at..], false, &mut out).unwrap();
        enc.finish(&mut out).unwrap();
        let mut dec = Vec::new();
        codec::decode(coding, &out, usize::MAX, &mut dec).unwrap();
        prop_assert_eq!(dec, body);
    }

    #[test]
    fn decoding_never_passes_its_limit(data in prop::collection::vec(any::<u8>(), 0..512), limit in 0usize..2048, coding in codings()) {
        let mut out = Vec::new();
        let _ = codec::decode(coding, &data, limit, &mut out);
        prop_assert!(out.len() <= limit);
    }
}

#[test]
fn a_wrapped_stream_flushes_when_its_producer_flushes() {
    use std::io::Write;
    for &coding in AVAILABLE {
        let mut calls = 0;
        let inner: Box<brisk_server::BodyStream> = Box::new(move |w: &mut BodyWriter<'_>| {
            calls += 1;
            match calls {
                1 => {
                    w.write(b"first piece\n");
                    w.flush().unwrap();
                    true
                }
                2 => {
                    // Not flushed: may stay in the encoder.
                    w.write(b"second piece\n");
                    true
                }
                _ => {
                    w.write(b"last piece\n");
                    false
                }
            }
        });
        let enc = StreamEncoder::new(coding, Level::Default.params()).unwrap();
        let mut outer = compressed_stream(inner, enc);
        let mut sent = ByteBuffer::new();
        let mut piece = ByteBuffer::new();
        let mut call = |sent: &mut ByteBuffer| {
            piece.reset();
            let more = outer(&mut BodyWriter::new(&mut piece));
            sent.extend_from_slice(piece.as_slice());
            more
        };
        assert!(call(&mut sent));
        // What the first call sent decodes to the first piece already.
        let mut prefix = Vec::new();
        let r = codec::decode(coding, sent.as_slice(), usize::MAX, &mut prefix);
        assert!(r.is_err(), "{coding}: the frame is not finished yet");
        let mut partial = Vec::new();
        partial_decode(coding, sent.as_slice(), &mut partial);
        assert_eq!(partial, b"first piece\n", "{coding}");
        assert!(call(&mut sent));
        assert!(!call(&mut sent));
        // Called again after the end: nothing more.
        assert!(!call(&mut sent));
        let mut all = Vec::new();
        codec::decode(coding, sent.as_slice(), usize::MAX, &mut all).unwrap();
        assert_eq!(all, b"first piece\nsecond piece\nlast piece\n", "{coding}");
    }
}

/// Decodes what a reader gives before the data runs out.
fn partial_decode(coding: brisk_http::Coding, data: &[u8], out: &mut Vec<u8>) {
    use brisk_http::Coding;
    use std::io::Read;
    let mut r: Box<dyn Read + '_> = match coding {
        Coding::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
        Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(data)),
        Coding::Br => Box::new(brotli::Decompressor::new(data, 4096)),
        Coding::Zstd => Box::new(zstd::stream::read::Decoder::new(data).unwrap()),
        Coding::Identity => Box::new(data),
    };
    let mut piece = [0u8; 256];
    while let Ok(n) = r.read(&mut piece) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&piece[..n]);
    }
}

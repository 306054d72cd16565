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

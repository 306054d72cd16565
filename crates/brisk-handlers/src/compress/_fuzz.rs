//! The `decompress` fuzz check (`fuzz/fuzz_targets/decompress.rs`) and its
//! corpus replay (`tests/it/corpus.rs`). Not a stable API.

use super::Level;
use super::codec::{self, AVAILABLE, DecodeError};

/// Output limits the check picks from.
const LIMITS: [usize; 5] = [0, 1, 100, 4096, 1 << 16];

/// Checks request-body decoding on `data`: the first byte picks the coding
/// (`% 4`, in the order zstd, br, gzip, deflate when all are built) and
/// the limit (`/ 4 % 5` of 0, 1, 100, 4096, 64 KiB); the rest is the body.
///
/// Invariants:
/// - decoding never panics and never holds more than the limit: it ends
///   `Ok` with at most `limit` bytes, or `TooLarge`, or `Corrupt`;
/// - what decodes within the limit decodes the same without a limit;
/// - encoding the body and decoding it gives the body back.
pub fn decompress(data: &[u8]) {
    let Some((&cfg, input)) = data.split_first() else {
        return;
    };
    if AVAILABLE.is_empty() {
        return;
    }
    let coding = AVAILABLE[usize::from(cfg % 4) % AVAILABLE.len()];
    let limit = LIMITS[usize::from(cfg / 4) % LIMITS.len()];
    let mut out = Vec::new();
    let result = codec::decode(coding, input, limit, &mut out);
    assert!(
        out.len() <= limit,
        "{coding}: {} bytes held past the limit {limit}",
        out.len()
    );
    match result {
        Ok(()) => {
            let mut again = Vec::new();
            let unlimited = codec::decode(coding, input, usize::MAX, &mut again);
            assert!(unlimited.is_ok(), "{coding}: decodes only with a limit");
            assert_eq!(again, out, "{coding}: the limit changed the output");
        }
        Err(DecodeError::TooLarge | DecodeError::Corrupt(_)) => {}
        Err(DecodeError::Unsupported) => panic!("{coding}: built in, yet unsupported"),
    }
    let mut encoded = Vec::new();
    if let Err(e) = codec::encode(coding, Level::Fastest.params(), input, &mut encoded) {
        panic!("{coding}: encoding failed: {e}");
    }
    let mut back = Vec::new();
    if let Err(e) = codec::decode(coding, &encoded, usize::MAX, &mut back) {
        panic!("{coding}: own encoding does not decode: {e:?}");
    }
    assert!(back == input, "{coding}: round trip changed the body");
}

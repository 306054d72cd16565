//! Properties of `ByteBuffer` and `Span`.

use std::fmt::Write as _;

use brisk_buf::{ByteBuffer, Span};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn integers_match_std_formatting(u in any::<u64>(), i in any::<i64>(), z in any::<usize>()) {
        let mut b = ByteBuffer::new();
        b.write_u64(u);
        b.push(b' ');
        b.write_i64(i);
        b.push(b' ');
        b.write_usize(z);
        b.push(b' ');
        b.write_hex(u);
        let mut expected = String::new();
        write!(expected, "{u} {i} {z} {u:x}").unwrap();
        prop_assert_eq!(b.as_slice(), expected.as_bytes());
    }

    #[test]
    fn span_get_never_panics(buf in prop::collection::vec(any::<u8>(), 0..64), start: u32, len: u32) {
        let span = Span::new(start, len);
        let got = span.get(&buf);
        match span.try_get(&buf) {
            Some(s) => {
                prop_assert_eq!(s, got);
                prop_assert_eq!(s.len(), len as usize);
            }
            None => prop_assert!(got.is_empty()),
        }
    }

    #[test]
    fn span_from_range_round_trips(start in 0usize..1000, len in 0usize..1000) {
        let span = Span::from_range(start, start + len).unwrap();
        prop_assert_eq!(span.range(), start..start + len);
        prop_assert_eq!(span.end(), start + len);
    }
}

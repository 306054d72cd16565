//! Byte-class scans over 16-byte blocks: SSE2 on x86_64 (part of its
//! baseline, so no runtime detection), SWAR over two `u64` words elsewhere
//! or with `--cfg brisk_disable_simd`.
//!
//! Every function returns a bitmask, bit `k` for byte `k` of the block.
//! Contracts (shared by both implementations, checked by the tests against
//! the scalar definitions):
//! - `*_stops` masks have no false negatives and their lowest set bit is
//!   exact, except that [`value_stops`] may also flag a 0x7e byte directly
//!   after a 0xff byte (callers re-check the byte they stop at). Bits above
//!   the lowest may be wrong.
//! - [`name_block`]'s `fast` mask is exact for every byte before the lowest
//!   stop.
//!
//! This is the only module of the crate with `unsafe` code: the SSE2
//! intrinsics (which Rust marks unsafe to call) over 16 bytes borrowed as
//! `&[u8; 16]`.

/// Bytes that end a plain run of a field value: below 0x20 (CR, LF, HTAB,
/// other controls) and 0x7f.
#[inline(always)]
pub(crate) fn value_stops(c: &[u8; 16]) -> u32 {
    imp::value_stops(c)
}

/// `(value_stops, name_stops, fast)` for a block at the start of a field
/// line: [`value_stops`] and [`name_block`] from one load.
#[inline(always)]
pub(crate) fn line_block(c: &[u8; 16]) -> (u32, u32, u32) {
    imp::line_block(c)
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(brisk_disable_simd)
))]
use sse2 as imp;
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(brisk_disable_simd)
)))]
use swar as imp;

/// Bytes that end the path part of a request target or are invalid in it:
/// outside `0x21..=0x7e`, `#`, `?` and `\` (the bytes not in
/// [`PATH`](crate::chars::PATH)).
#[inline(always)]
pub(crate) fn path_stops(c: &[u8; 16]) -> u32 {
    imp::path_stops(c)
}

/// `(stops, fast)` for a field name: `stops` flags `:`, bytes below 0x21
/// and (SSE2 only) bytes from 0x80; `fast` flags bytes in
/// `[A-Za-z0-9-]`, which are token characters.
#[inline(always)]
pub(crate) fn name_block(c: &[u8; 16]) -> (u32, u32) {
    imp::name_block(c)
}

/// `(simple, colon, digit)` for a `Host` value: `simple` flags bytes in
/// `[A-Za-z0-9.-]` (the reg-name and IPv4 bytes of nearly every host),
/// `colon` flags `:`, `digit` flags `[0-9]`. All three are exact per byte.
#[inline(always)]
pub(crate) fn host_block(c: &[u8; 16]) -> (u32, u32, u32) {
    imp::host_block(c)
}

/// `(alpha, lower, dash)` for a field name: `alpha` flags ASCII letters,
/// `lower` flags bytes with the 0x20 bit set (lower case, for letters),
/// `dash` flags `-`. All three are exact per byte.
#[inline(always)]
pub(crate) fn case_block(c: &[u8; 16]) -> (u32, u32, u32) {
    imp::case_block(c)
}

/// `(percent, slash, dot)` for a path: bytes equal to `%`, `/` and `.`,
/// exact per byte.
#[inline(always)]
pub(crate) fn path_marks(c: &[u8; 16]) -> (u32, u32, u32) {
    imp::path_marks(c)
}

/// Letters out of canonical case (`Content-Type`) in a block whose
/// [`case_block`] masks are given: upper case is wanted after a `-` and at
/// the first byte when `first_starts_word`, lower case elsewhere. Bits past
/// the name are the caller's to mask off.
#[inline(always)]
pub(crate) fn miscased((alpha, lower, dash): (u32, u32, u32), first_starts_word: bool) -> u32 {
    let up = dash << 1 | u32::from(first_starts_word);
    alpha & ((up & lower) | (!up & !lower))
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(brisk_disable_simd)
))]
mod sse2 {
    use core::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
        _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    #[inline(always)]
    pub(super) fn value_stops(c: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is enabled for this target (module cfg), so the
        // intrinsics are available. `_mm_loadu_si128` reads exactly the 16
        // bytes of `c`, which are initialized and borrowed for the call, and
        // has no alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); // v <= 0x1f
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
            _mm_movemask_epi8(_mm_or_si128(low, del)) as u32
        }
    }

    #[inline(always)]
    pub(super) fn path_stops(c: &[u8; 16]) -> u32 {
        // SAFETY: as in `value_stops`: SSE2 is enabled, and the load reads
        // the 16 borrowed bytes of `c` without alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v); // v <= 0x20
            let high = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x7f)), v); // v >= 0x7f
            let hash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'#' as i8));
            let qm = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'?' as i8));
            let bs = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(low, high),
                _mm_or_si128(_mm_or_si128(hash, qm), bs),
            )) as u32
        }
    }

    /// Lanes of `v` in `lo..=hi`. Signed compares with both bounds below
    /// 0x80: bytes from 0x80 are negative and never in range.
    #[inline(always)]
    fn in_range(v: __m128i, lo: u8, hi: u8) -> __m128i {
        // SAFETY: SSE2 is enabled for this target (module cfg); these
        // intrinsics only compute on register values.
        unsafe {
            _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)),
            )
        }
    }

    /// Lanes holding an ASCII letter.
    #[inline(always)]
    fn letters(v: __m128i) -> __m128i {
        // SAFETY: as in `in_range`.
        in_range(unsafe { _mm_or_si128(v, _mm_set1_epi8(0x20)) }, b'a', b'z')
    }

    #[inline(always)]
    pub(super) fn name_block(c: &[u8; 16]) -> (u32, u32) {
        // SAFETY: as in `value_stops`: SSE2 is enabled, and the load reads
        // the 16 borrowed bytes of `c` without alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            // Signed compares: bytes >= 0x80 are negative, so they are
            // never "fast" and always "below 0x21" (a stop).
            let colon = _mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8));
            let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x21));
            let stops = _mm_movemask_epi8(_mm_or_si128(colon, low)) as u32;
            let digit = in_range(v, b'0', b'9');
            let dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
            let fast =
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letters(v), digit), dash)) as u32;
            (stops, fast)
        }
    }

    #[inline(always)]
    pub(super) fn line_block(c: &[u8; 16]) -> (u32, u32, u32) {
        let (stops, fast) = name_block(c);
        (value_stops(c), stops, fast)
    }

    #[inline(always)]
    pub(super) fn path_marks(c: &[u8; 16]) -> (u32, u32, u32) {
        // SAFETY: as in `value_stops`: SSE2 is enabled, and the load reads
        // the 16 borrowed bytes of `c` without alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            let eq = |b: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u32;
            (eq(b'%'), eq(b'/'), eq(b'.'))
        }
    }

    #[inline(always)]
    pub(super) fn case_block(c: &[u8; 16]) -> (u32, u32, u32) {
        // SAFETY: as in `value_stops`: SSE2 is enabled, and the load reads
        // the 16 borrowed bytes of `c` without alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            let case_bit = _mm_set1_epi8(0x20);
            let alpha = letters(v);
            let lower = _mm_cmpeq_epi8(_mm_and_si128(v, case_bit), case_bit);
            let dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
            (
                _mm_movemask_epi8(alpha) as u32,
                _mm_movemask_epi8(lower) as u32,
                _mm_movemask_epi8(dash) as u32,
            )
        }
    }

    #[inline(always)]
    pub(super) fn host_block(c: &[u8; 16]) -> (u32, u32, u32) {
        // SAFETY: as in `value_stops`: SSE2 is enabled, and the load reads
        // the 16 borrowed bytes of `c` without alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            // '-' (0x2d), '.' (0x2e) and the digits (0x30..=0x39), but not
            // '/' (0x2f).
            let dash_to_nine = in_range(v, b'-', b'9');
            let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8));
            let digit = in_range(v, b'0', b'9');
            let colon = _mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8));
            let simple = _mm_movemask_epi8(_mm_or_si128(letters(v), dash_to_nine)) as u32
                & !(_mm_movemask_epi8(slash) as u32);
            (
                simple,
                _mm_movemask_epi8(colon) as u32,
                _mm_movemask_epi8(digit) as u32,
            )
        }
    }
}

/// The portable implementation (always compiled, so that its tests run
/// on every target).
#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "sse2",
        not(brisk_disable_simd),
        not(test)
    ),
    allow(dead_code)
)]
mod swar {
    use crate::chars::{name_stop_mask, path_stop_mask, value_stop_mask};

    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;

    /// The two little-endian words of a block.
    #[inline(always)]
    fn words(c: &[u8; 16]) -> (u64, u64) {
        let (a, b) = c.split_at(8);
        let w = |s: &[u8]| s.first_chunk::<8>().map_or(0, |x| u64::from_le_bytes(*x));
        (w(a), w(b))
    }

    /// Lane high bits of two words to 16 mask bits.
    #[inline(always)]
    fn bits(lo: u64, hi: u64) -> u32 {
        // Gather the eight lane high bits into the top byte.
        let g = |m: u64| ((((m & HI) >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56) as u32;
        g(lo) | g(hi) << 8
    }

    #[inline(always)]
    pub(super) fn value_stops(c: &[u8; 16]) -> u32 {
        let (a, b) = words(c);
        let ma = value_stop_mask(a);
        // Keep the second word's lowest bit exact: only look at it when the
        // first word has no stop (its carries are then irrelevant anyway).
        if ma != 0 {
            bits(ma, 0)
        } else {
            bits(0, value_stop_mask(b))
        }
    }

    #[inline(always)]
    pub(super) fn path_stops(c: &[u8; 16]) -> u32 {
        let (a, b) = words(c);
        bits(path_stop_mask(a), path_stop_mask(b))
    }

    /// Lanes holding a byte of `[A-Za-z0-9-]` (exact per lane).
    #[inline(always)]
    fn fast_mask(w: u64) -> u64 {
        alpha_mask(w) | digit_mask(w) | eq_mask(w, b'-')
    }

    /// Lanes holding an ASCII letter (exact per lane).
    #[inline(always)]
    fn alpha_mask(w: u64) -> u64 {
        let y = w | (LO * 0x20);
        let t = y & (LO * 0x7f); // 7-bit lanes: the adds below never carry
        let ge = t.wrapping_add(LO * (0x80 - b'a' as u64));
        let gt = t.wrapping_add(LO * (0x7f - b'z' as u64));
        ge & !gt & !y & HI
    }

    #[inline(always)]
    pub(super) fn name_block(c: &[u8; 16]) -> (u32, u32) {
        let (a, b) = words(c);
        (
            bits(name_stop_mask(a), name_stop_mask(b)),
            bits(fast_mask(a), fast_mask(b)),
        )
    }

    #[inline(always)]
    pub(super) fn line_block(c: &[u8; 16]) -> (u32, u32, u32) {
        let (stops, fast) = name_block(c);
        (value_stops(c), stops, fast)
    }

    /// Lanes equal to `b` (exact per lane).
    #[inline(always)]
    fn eq_mask(w: u64, b: u8) -> u64 {
        let d = w ^ (LO * b as u64);
        // A lane is zero iff adding 0x7f to its low 7 bits leaves the high
        // bit clear and its own high bit is clear.
        !((d & (LO * 0x7f)).wrapping_add(LO * 0x7f) | d) & HI
    }

    /// Lanes holding `[0-9]` (exact per lane).
    #[inline(always)]
    fn digit_mask(w: u64) -> u64 {
        let t = w & (LO * 0x7f);
        let ge = t.wrapping_add(LO * (0x80 - b'0' as u64));
        let gt = t.wrapping_add(LO * (0x7f - b'9' as u64));
        ge & !gt & !w & HI
    }

    /// Lanes holding `[A-Za-z0-9.-]` (exact per lane).
    #[inline(always)]
    fn simple_mask(w: u64) -> u64 {
        fast_mask(w) | eq_mask(w, b'.')
    }

    #[inline(always)]
    pub(super) fn path_marks(c: &[u8; 16]) -> (u32, u32, u32) {
        let (a, b) = words(c);
        let eq = |v: u8| bits(eq_mask(a, v), eq_mask(b, v));
        (eq(b'%'), eq(b'/'), eq(b'.'))
    }

    #[inline(always)]
    pub(super) fn case_block(c: &[u8; 16]) -> (u32, u32, u32) {
        let (a, b) = words(c);
        let lower = |w: u64| (w << 2) & HI;
        (
            bits(alpha_mask(a), alpha_mask(b)),
            bits(lower(a), lower(b)),
            bits(eq_mask(a, b'-'), eq_mask(b, b'-')),
        )
    }

    #[inline(always)]
    pub(super) fn host_block(c: &[u8; 16]) -> (u32, u32, u32) {
        let (a, b) = words(c);
        (
            bits(simple_mask(a), simple_mask(b)),
            bits(eq_mask(a, b':'), eq_mask(b, b':')),
            bits(digit_mask(a), digit_mask(b)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chars::PATH;

    // Miri runs these too (the SSE2 intrinsics are the crate's only
    // unsafe code), on fewer inputs.
    const FILLS: &[u8] = if cfg!(miri) {
        b"a"
    } else {
        &[b'a', b'Z', b'-', 0xff, 0x00, 0x7e, b':', 0x80, b'_']
    };
    const ROUNDS: usize = if cfg!(miri) { 100 } else { 50_000 };

    fn lowest(m: u32) -> Option<usize> {
        (m != 0).then(|| m.trailing_zeros() as usize)
    }

    type Impl = (
        fn(&[u8; 16]) -> u32,
        fn(&[u8; 16]) -> u32,
        fn(&[u8; 16]) -> (u32, u32),
    );

    fn impls() -> Vec<Impl> {
        #[allow(unused_mut)]
        let mut v: Vec<Impl> = vec![(swar::value_stops, swar::path_stops, swar::name_block)];
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "sse2",
            not(brisk_disable_simd)
        ))]
        v.push((sse2::value_stops, sse2::path_stops, sse2::name_block));
        v
    }

    fn check(c: [u8; 16]) {
        for (value_stops, path_stops, name_block) in impls() {
            check_one(c, value_stops, path_stops, name_block);
        }
        assert_eq!(value_stops(&c), imp::value_stops(&c));
        let (n, f) = name_block(&c);
        assert_eq!(line_block(&c), (value_stops(&c), n, f));
        let (n, f) = swar::name_block(&c);
        assert_eq!(swar::line_block(&c), (swar::value_stops(&c), n, f));
    }

    fn check_one(
        c: [u8; 16],
        value_stops: fn(&[u8; 16]) -> u32,
        path_stops: fn(&[u8; 16]) -> u32,
        name_block: fn(&[u8; 16]) -> (u32, u32),
    ) {
        let value = c.iter().position(|&b| b < 0x20 || b == 0x7f);
        match (value, lowest(value_stops(&c))) {
            (t, Some(g)) if t.is_none_or(|t| g < t) => {
                assert!(g > 0 && c[g] == 0x7e && c[g - 1] == 0xff, "value {c:x?}");
            }
            (t, g) => assert_eq!(t, g, "value {c:x?}"),
        }
        let path = c.iter().position(|&b| !PATH[b as usize]);
        assert_eq!(lowest(path_stops(&c)), path, "path {c:x?}");
        let (stops, fast) = name_block(&c);
        let stop = lowest(stops);
        let name_stop = c
            .iter()
            .position(|&b| b == b':' || !(0x21..0x80).contains(&b));
        let strict_stop = c.iter().position(|&b| b == b':' || b < 0x21);
        // SSE2 also stops at bytes >= 0x80; SWAR leaves them to `fast`.
        assert!(stop == name_stop || stop == strict_stop, "name stop {c:x?}");
        for (k, &b) in c.iter().enumerate().take(stop.unwrap_or(16)) {
            let is_fast = b.is_ascii_alphanumeric() || b == b'-';
            assert_eq!(fast >> k & 1 == 1, is_fast, "fast {k} {c:x?}");
        }
    }

    fn check_host(c: [u8; 16]) {
        let want = |f: fn(u8) -> bool| {
            c.iter()
                .enumerate()
                .fold(0u32, |m, (k, &b)| m | (u32::from(f(b)) << k))
        };
        let expect = (
            want(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
            want(|b| b == b':'),
            want(|b| b.is_ascii_digit()),
        );
        assert_eq!(swar::host_block(&c), expect, "swar host {c:x?}");
        assert_eq!(host_block(&c), expect, "host {c:x?}");
        let expect = (
            want(|b| b.is_ascii_alphabetic()),
            want(|b| b & 0x20 != 0),
            want(|b| b == b'-'),
        );
        assert_eq!(swar::case_block(&c), expect, "swar case {c:x?}");
        assert_eq!(case_block(&c), expect, "case {c:x?}");
        let expect = (
            want(|b| b == b'%'),
            want(|b| b == b'/'),
            want(|b| b == b'.'),
        );
        assert_eq!(swar::path_marks(&c), expect, "swar path marks {c:x?}");
        assert_eq!(path_marks(&c), expect, "path marks {c:x?}");
    }

    #[test]
    fn every_byte_in_every_lane() {
        for lane in 0..16 {
            for b in 0..=255u8 {
                for &fill in FILLS {
                    let mut c = [fill; 16];
                    c[lane] = b;
                    check(c);
                    check_host(c);
                }
            }
        }
    }

    #[test]
    fn random_blocks() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..ROUNDS {
            let (a, b) = (next(), next());
            let mut c = [0u8; 16];
            c[..8].copy_from_slice(&a.to_le_bytes());
            c[8..].copy_from_slice(&b.to_le_bytes());
            check(c);
            check_host(c);
            // Mostly printable, sometimes not.
            for v in &mut c {
                *v = 0x20 + (*v % 0x60);
            }
            check(c);
            check_host(c);
        }
    }
}

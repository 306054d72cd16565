//! Byte classes as 256-entry lookup tables, and SWAR helpers over `u64`.

/// `tchar` (RFC 9110 §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``.
pub(crate) static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// Bytes allowed in a request target: visible ASCII except `#` (a fragment
/// is never sent, RFC 9112 §3.2). Non-ASCII bytes must be percent-encoded.
pub(crate) static TARGET: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x21;
    while i < 0x7f {
        t[i] = i as u8 != b'#';
        i += 1;
    }
    t
};

/// Bytes allowed in the path part of the target (up to the first `?`):
/// [`TARGET`] without `?` and without `\`. A backslash is a separator to
/// Windows file systems and to some proxies, so it could hide a `..`
/// segment from [`normalize_path`](crate::normalize_path); browsers never
/// send one raw in a path (they turn it into `/`), but do in a query,
/// where it stays allowed.
pub(crate) static PATH: [bool; 256] = {
    let mut t = TARGET;
    t[b'?' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// Bytes allowed in a field value besides SP and HTAB: VCHAR and obs-text
/// (RFC 9110 §5.5).
pub(crate) static VALUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x20;
    while i < 256 {
        t[i] = i != 0x7f;
        i += 1;
    }
    t[b'\t' as usize] = true;
    t
};

/// Bytes of a reg-name or IPv4 address in a Host value: unreserved,
/// `%` (pct-encoded) and sub-delims (RFC 3986 §3.2.2).
pub(crate) static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    t
};

/// Value of a hexadecimal digit, or `0xff` for any other byte.
pub(crate) static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Whether `b` is a token character.
#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether `s` is a non-empty token.
#[inline]
pub(crate) fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Whether `s` may be a field value: no control character other than HTAB
/// (so no CR, LF or NUL). Leading or trailing whitespace is allowed here.
#[inline]
pub(crate) fn is_value_str(s: &[u8]) -> bool {
    s.iter().all(|&b| VALUE[b as usize])
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Lanes (high bit set) of `w` that may end a run of plain field-value
/// bytes: bytes below 0x20 (CR, LF, HTAB, other controls) and 0x7f.
///
/// No false negatives, and the lowest flagged lane is exact except that a
/// 0x7e lane directly above a 0xff lane is also flagged (the carry of
/// `0xff + 1`), so callers re-check the byte they stop at.
#[inline(always)]
pub(crate) fn value_stop_mask(w: u64) -> u64 {
    (w.wrapping_sub(LO * 0x20) | w.wrapping_add(LO)) & !w & HI
}

/// Lanes of `w` that end a field name: `:` or a byte below 0x21 (space,
/// tab, CR, LF, controls). The lowest flagged lane is exact.
#[inline(always)]
pub(crate) fn name_stop_mask(w: u64) -> u64 {
    let x = w ^ (LO * b':' as u64);
    ((x.wrapping_sub(LO) & !x) | (w.wrapping_sub(LO * 0x21) & !w)) & HI
}

/// Lanes of `w` that end the path part of a request target or are invalid
/// in it: bytes outside `0x21..=0x7e`, `#`, `?` and `\` (not [`PATH`]).
/// The lowest flagged lane is exact.
#[inline(always)]
pub(crate) fn path_stop_mask(w: u64) -> u64 {
    let ctl = w.wrapping_sub(LO * 0x21) & !w; // < 0x21
    let high = w | w.wrapping_add(LO); // >= 0x7f (carries only out of 0xff lanes, themselves flagged)
    let eq = |b: u8| {
        let x = w ^ (LO * b as u64);
        x.wrapping_sub(LO) & !x
    };
    (ctl | high | eq(b'#') | eq(b'?') | eq(b'\\')) & HI
}

/// Byte index (0..8) of the lowest flagged lane of a non-zero mask.
#[inline(always)]
pub(crate) fn first_lane(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert!(is_token_str(b"Content-Type"));
        assert!(is_token_str(b"!#$%&'*+-.^_`|~09azAZ"));
        assert!(!is_token_str(b""));
        for b in [
            b' ', b'\t', b':', b'"', b'(', b')', b',', b'/', b';', b'<', b'=', b'>', b'?', b'@',
            b'[', b'\\', b']', b'{', b'}', 0x7f, 0x80, 0,
        ] {
            assert!(!is_token(b), "{b:#x}");
        }
        assert!(TARGET[b'/' as usize] && TARGET[b'?' as usize] && !TARGET[b'#' as usize]);
        assert!(!TARGET[b' ' as usize] && !TARGET[0x7f] && !TARGET[0x80]);
        assert!(!PATH[b'?' as usize] && PATH[b'/' as usize]);
        assert!(TARGET[b'\\' as usize] && !PATH[b'\\' as usize]);
        assert!(VALUE[b'\t' as usize] && VALUE[b' ' as usize] && VALUE[0x80] && VALUE[0xff]);
        assert!(
            !VALUE[0]
                && !VALUE[b'\r' as usize]
                && !VALUE[b'\n' as usize]
                && !VALUE[0x7f]
                && !VALUE[0x0b]
        );
        assert_eq!(HEX[b'f' as usize], 15);
        assert_eq!(HEX[b'F' as usize], 15);
        assert_eq!(HEX[b'9' as usize], 9);
        assert_eq!(HEX[b'g' as usize], 0xff);
        assert!(
            REG_NAME[b'~' as usize]
                && !REG_NAME[b'[' as usize]
                && !REG_NAME[b':' as usize]
                && !REG_NAME[b'@' as usize]
        );
    }

    // Miri runs these too, on fewer inputs.
    const FILLS: &[u8] = if cfg!(miri) {
        &[0xff]
    } else {
        &[b'a', 0xff, 0x00, 0x7e, b':', 0x80]
    };
    const ROUNDS: usize = if cfg!(miri) { 200 } else { 100_000 };

    /// Checks a word against the masks' contracts: lowest flagged lane
    /// exact (for the value mask, possibly early on a 0x7e above a 0xff).
    fn check_lowest(bytes: [u8; 8]) {
        let w = u64::from_le_bytes(bytes);
        let lowest = |m: u64| (m != 0).then(|| first_lane(m));
        let name = bytes.iter().position(|&b| b == b':' || b < 0x21);
        assert_eq!(lowest(name_stop_mask(w)), name, "name {bytes:x?}");
        let path = bytes.iter().position(|&b| !PATH[b as usize]);
        assert_eq!(lowest(path_stop_mask(w)), path, "path {bytes:x?}");
        let value = bytes.iter().position(|&b| b < 0x20 || b == 0x7f);
        match (value, lowest(value_stop_mask(w))) {
            (t, Some(g)) if t.is_none_or(|t| g < t) => {
                assert!(
                    g > 0 && bytes[g] == 0x7e && bytes[g - 1] == 0xff,
                    "value {bytes:x?}"
                );
            }
            (t, g) => assert_eq!(t, g, "value {bytes:x?}"),
        }
    }

    #[test]
    fn swar_masks_match_scalar_for_every_byte_in_every_lane() {
        for lane in 0..8 {
            for b in 0..=255u8 {
                for &fill in FILLS {
                    let mut bytes = [fill; 8];
                    bytes[lane] = b;
                    check_lowest(bytes);
                }
            }
        }
        for bytes in [
            *b"\xff\x7eaaaaaa",
            *b"\xff\x7e\x00aaaaa",
            *b"a\xff\xff\x7f\x7e\x1f\x20\x21",
        ] {
            check_lowest(bytes);
        }
    }

    #[test]
    fn swar_masks_on_random_words() {
        // xorshift64: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..ROUNDS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check_lowest(x.to_le_bytes());
            // Bias towards interesting bytes: keep each lane in 0x00..0x40
            // or 0x70..0x90 half of the time.
            check_lowest((x & 0x3f3f_3f3f_3f3f_3f3f).to_le_bytes());
            check_lowest(((x & 0x1f1f_1f1f_1f1f_1f1f) + 0x7070_7070_7070_7070).to_le_bytes());
        }
    }
}

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

/// Bytes allowed in a path segment of the target: [`TARGET`] without `?`.
pub(crate) static PATH: [bool; 256] = {
    let mut t = TARGET;
    t[b'?' as usize] = false;
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

/// Bytes allowed in a Host value: unreserved, pct-encoded, sub-delims, `:`,
/// `[` and `]` (RFC 3986 §3.2.2, RFC 9110 §7.2).
pub(crate) static HOST: [bool; 256] = {
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
                    | b':'
                    | b'['
                    | b']'
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

/// Whether any byte of `w` is below 0x20 or equal to 0x7f: a control
/// character, so not a plain field-value byte (SWAR, exact: no false
/// positives or negatives).
#[inline(always)]
pub(crate) fn has_ctl(w: u64) -> bool {
    // Bytes >= 0x80 are obs-text and allowed: mask them out of the "less
    // than" test by requiring the high bit clear in the original.
    let lt_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let x = w ^ (LO * 0x7f);
    let is_del = x.wrapping_sub(LO) & !x & HI;
    (lt_space | is_del) != 0
}

/// Whether any byte of `w` is outside `0x21..=0x7e` or is `#` or `?`: the
/// end of a path or an invalid target byte (SWAR, exact).
#[inline(always)]
pub(crate) fn has_path_stop(w: u64) -> bool {
    // 0x21..=0x7e: b - 0x21 < 0x5e, computed per byte without borrows
    // crossing lanes: add (0x80 - 0x21) and (0x80 - 0x7f) style tricks are
    // fiddly, so use the classic has_less / has_more pair on clean lanes.
    let ctl = w.wrapping_sub(LO * 0x21) & !w & HI; // some byte < 0x21 (high bit clear)
    let high = (w | w.wrapping_add(LO)) & HI; // some byte >= 0x7f
    let hash = {
        let x = w ^ (LO * b'#' as u64);
        x.wrapping_sub(LO) & !x & HI
    };
    let qm = {
        let x = w ^ (LO * b'?' as u64);
        x.wrapping_sub(LO) & !x & HI
    };
    (ctl | high | hash | qm) != 0
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
            HOST[b'[' as usize]
                && !HOST[b' ' as usize]
                && !HOST[b'/' as usize]
                && !HOST[b'@' as usize]
        );
    }

    #[test]
    fn swar_matches_scalar_for_every_byte_in_every_lane() {
        for lane in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = b;
                let w = u64::from_le_bytes(bytes);
                assert_eq!(has_ctl(w), b < 0x20 || b == 0x7f, "ctl {b:#x} lane {lane}");
                assert_eq!(
                    has_path_stop(w),
                    !PATH[b as usize],
                    "path {b:#x} lane {lane}"
                );
            }
        }
        // Mixed words: a high byte next to a low one must not hide either.
        for (bytes, ctl) in [
            (*b"\xff\x00aaaaaa", true),
            (*b"\x80\x80\x80\x80\x80\x80\x80\x80", false),
            (*b"\x7e\x7f\x80aaaaa", true),
            (*b"aaaaaaa\x1f", true),
            (*b"\x20\x20\x20\x20\x20\x20\x20\x20", false),
        ] {
            assert_eq!(has_ctl(u64::from_le_bytes(bytes)), ctl, "{bytes:?}");
        }
    }
}

//! Size classes (powers of two from 64 B to 32 MiB) and the calibration rule.

/// log2 of the smallest size class.
const MIN_SHIFT: u32 = 6;

/// Number of size classes: 64 B, 128 B, …, 32 MiB.
pub(crate) const CLASSES: usize = 20;

/// The smallest size class, in bytes (64 B).
pub const MIN_CLASS_SIZE: usize = 1 << MIN_SHIFT;

/// The largest size class, in bytes (32 MiB). Buffers larger than this are
/// never pooled.
pub const MAX_CLASS_SIZE: usize = MIN_CLASS_SIZE << (CLASSES - 1);

/// Share of recorded puts (in percent) that the calibrated max size covers.
pub(crate) const MAX_PERCENTILE: u128 = 95;

/// The calibrated sizes, as class indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Calibration {
    /// The class most puts' lengths fell in: the new default size.
    pub(crate) default_class: usize,
    /// The class that covers the 95th percentile of capacities (and at least
    /// the default class): the new max kept size.
    pub(crate) max_class: usize,
}

/// The size of class `c` in bytes.
#[inline]
pub(crate) const fn class_size(c: usize) -> usize {
    MIN_CLASS_SIZE << c
}

/// The smallest class whose size is at least `n`, or `None` when `n` is
/// larger than [`MAX_CLASS_SIZE`].
#[inline]
pub(crate) const fn class_ceil(n: usize) -> Option<usize> {
    if n > MAX_CLASS_SIZE {
        None
    } else {
        Some(histogram_class(n))
    }
}

/// The class a put of `n` bytes is counted in: [`class_ceil`], with sizes
/// over the largest class counted in the largest class.
#[inline]
pub(crate) const fn histogram_class(n: usize) -> usize {
    // Bit length of n - 1, at least that of 63 (so 0..=64 map to class 0).
    let bits = usize::BITS - (n.saturating_sub(1) | (MIN_CLASS_SIZE - 1)).leading_zeros();
    let c = (bits - MIN_SHIFT) as usize;
    if c < CLASSES { c } else { CLASSES - 1 }
}

/// The largest class whose size is at most `cap`: the bin a buffer of that
/// capacity is kept in (so every buffer in bin `c` holds at least
/// `class_size(c)` bytes). `None` when `cap` is below the smallest class.
#[inline]
pub(crate) const fn class_floor(cap: usize) -> Option<usize> {
    if cap < MIN_CLASS_SIZE {
        return None;
    }
    let c = (usize::BITS - 1 - cap.leading_zeros() - MIN_SHIFT) as usize;
    Some(if c < CLASSES { c } else { CLASSES - 1 })
}

/// How many classes above the wanted one a `get` may look in when the wanted
/// bin is empty: a buffer up to 8 times larger than asked for is handed out
/// rather than allocating a new one while it sits unused.
pub(crate) const LOOKAHEAD: usize = 3;

/// The end (exclusive) of the classes a `get` for class `c` may take a
/// buffer from: at most [`LOOKAHEAD`] classes above `c`, and none above the
/// class of `max_size` (buffers there are about to be trimmed).
#[inline]
pub(crate) fn lookahead_end(c: usize, max_size: usize) -> usize {
    let max_class = class_floor(max_size).unwrap_or(0);
    (c + 1 + LOOKAHEAD)
        .min(max_class + 1)
        .min(CLASSES)
        .max(c + 1)
}

/// Computes the calibrated classes from per-class put counts: the default
/// class is the class with the most length counts (the smaller class wins a
/// tie); the max class is the smallest class such that the capacity counts of
/// all classes up to it reach 95 % of all capacity counts, raised to the
/// default class if it is below it. `None` when nothing was counted.
pub(crate) fn calibrate(
    len_counts: &[u64; CLASSES],
    cap_counts: &[u64; CLASSES],
) -> Option<Calibration> {
    let mut default_class = 0;
    for (c, &n) in len_counts.iter().enumerate() {
        if n > len_counts[default_class] {
            default_class = c;
        }
    }
    let len_total: u128 = len_counts.iter().map(|&n| u128::from(n)).sum();
    let cap_total: u128 = cap_counts.iter().map(|&n| u128::from(n)).sum();
    if len_total == 0 || cap_total == 0 {
        return None;
    }
    let mut max_class = CLASSES - 1;
    let mut covered: u128 = 0;
    for (c, &n) in cap_counts.iter().enumerate() {
        covered += u128::from(n);
        if covered * 100 >= cap_total * MAX_PERCENTILE {
            max_class = c;
            break;
        }
    }
    Some(Calibration {
        default_class,
        max_class: max_class.max(default_class),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_bounds() {
        assert_eq!(MAX_CLASS_SIZE, 32 << 20);
        assert_eq!(class_ceil(0), Some(0));
        assert_eq!(class_ceil(64), Some(0));
        assert_eq!(class_ceil(65), Some(1));
        assert_eq!(class_ceil(128), Some(1));
        assert_eq!(class_ceil(129), Some(2));
        assert_eq!(class_ceil(4096), Some(6));
        assert_eq!(class_ceil(MAX_CLASS_SIZE), Some(CLASSES - 1));
        assert_eq!(class_ceil(MAX_CLASS_SIZE + 1), None);
        assert_eq!(class_ceil(usize::MAX), None);
        assert_eq!(histogram_class(usize::MAX), CLASSES - 1);

        assert_eq!(class_floor(0), None);
        assert_eq!(class_floor(63), None);
        assert_eq!(class_floor(64), Some(0));
        assert_eq!(class_floor(127), Some(0));
        assert_eq!(class_floor(128), Some(1));
        assert_eq!(class_floor(5000), Some(6));
        assert_eq!(class_floor(usize::MAX), Some(CLASSES - 1));
    }

    #[test]
    fn ceil_and_floor_agree_with_sizes() {
        for c in 0..CLASSES {
            let s = class_size(c);
            assert_eq!(class_ceil(s), Some(c));
            assert_eq!(class_floor(s), Some(c));
            assert_eq!(class_floor(2 * s - 1), Some(c));
            if c > 0 {
                assert_eq!(class_ceil(s - 1), Some(c));
                assert_eq!(class_ceil(s / 2 + 1), Some(c));
            }
        }
    }

    #[test]
    fn calibrate_picks_mode_and_percentile() {
        let mut lens = [0u64; CLASSES];
        let mut caps = [0u64; CLASSES];
        assert_eq!(calibrate(&lens, &caps), None);
        // Lengths mostly 256 B; capacities mostly 4 KiB, 6 % at 64 KiB.
        lens[2] = 90;
        lens[6] = 10;
        caps[6] = 94;
        caps[10] = 6;
        let cal = calibrate(&lens, &caps).unwrap();
        assert_eq!(cal.default_class, 2);
        assert_eq!(cal.max_class, 10);
        // Exactly 95 % at 4 KiB: the rest is dropped.
        caps[6] = 95;
        caps[10] = 5;
        assert_eq!(calibrate(&lens, &caps).unwrap().max_class, 6);
        // A tie picks the smaller class.
        lens[6] = 90;
        assert_eq!(calibrate(&lens, &caps).unwrap().default_class, 2);
    }

    #[test]
    fn max_never_below_default() {
        let mut lens = [0u64; CLASSES];
        let mut caps = [0u64; CLASSES];
        lens[8] = 1;
        caps[0] = 100;
        let cal = calibrate(&lens, &caps).unwrap();
        assert_eq!(cal.default_class, 8);
        assert_eq!(cal.max_class, 8);
    }
}

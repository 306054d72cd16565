//! The `Date` header value (IMF-fixdate, RFC 9110 §5.6.7), cached per
//! second.
//!
//! Each thread keeps the last formatted value and the second it belongs to,
//! so formatting happens at most once per second per thread and reading
//! takes no lock and touches no shared cache line.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

thread_local! {
    static CACHE: Cell<(u64, [u8; HTTP_DATE_LEN])> = const { Cell::new((u64::MAX, [0; HTTP_DATE_LEN])) };
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// from the calling thread's cache, refreshed at most once per second.
///
/// ```
/// let d = brisk_http::date::http_date();
/// assert_eq!(d.len(), 29);
/// assert!(d.ends_with(b" GMT"));
/// ```
pub fn http_date() -> [u8; HTTP_DATE_LEN] {
    http_date_at(unix_secs())
}

/// Seconds since the Unix epoch now (0 if the clock is before it): the
/// time [`http_date`] formats, for callers of
/// [`HeadCache::write_at`](crate::HeadCache::write_at) that read the clock
/// once per batch.
///
/// ```
/// assert!(brisk_http::date::unix_secs() > 1_700_000_000);
/// ```
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The IMF-fixdate for `unix_secs`, through the same per-thread cache as
/// [`http_date`] (for a caller that keeps its own coarse clock).
pub fn http_date_at(unix_secs: u64) -> [u8; HTTP_DATE_LEN] {
    CACHE.with(|c| {
        let (s, v) = c.get();
        if s == unix_secs {
            return v;
        }
        let v = format_http_date(unix_secs);
        c.set((unix_secs, v));
        v
    })
}

/// Formats `unix_secs` (seconds since 1970-01-01T00:00:00Z) as an
/// IMF-fixdate, without caching. Times after 9999-12-31T23:59:59Z are
/// clamped to it.
///
/// ```
/// use brisk_http::date::format_http_date;
/// assert_eq!(&format_http_date(784111777), b"Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn format_http_date(unix_secs: u64) -> [u8; HTTP_DATE_LEN] {
    const MAX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let t = unix_secs.min(MAX);
    let days = t / 86_400;
    let sod = t % 86_400;
    let (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    let weekday = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday
    // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[weekday]);
    two(&mut out[5..7], d);
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    two(&mut out[17..19], h);
    two(&mut out[20..22], mi);
    two(&mut out[23..25], s);
    out
}

#[inline]
fn two(dst: &mut [u8], v: u64) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        for (secs, s) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_164_799, "Wed, 28 Feb 2024 23:59:59 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(
                std::str::from_utf8(&format_http_date(secs)).unwrap(),
                s,
                "{secs}"
            );
        }
    }

    #[test]
    fn cache_follows_the_second() {
        assert_eq!(http_date_at(0), format_http_date(0));
        assert_eq!(http_date_at(0), format_http_date(0));
        assert_eq!(http_date_at(86_400), format_http_date(86_400));
        let now = http_date();
        assert_eq!(&now[25..], b" GMT");
        assert_eq!(now[3], b',');
    }

    #[test]
    fn threads_read_concurrently() {
        let hs: Vec<_> = (0..4)
            .map(|k| {
                std::thread::spawn(move || {
                    (0..1000u64).all(|i| http_date_at(i / 7 + k) == format_http_date(i / 7 + k))
                })
            })
            .collect();
        for h in hs {
            assert!(h.join().unwrap());
        }
    }
}

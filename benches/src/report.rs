//! The result of a load run: counts, latency histogram, human and JSON output.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// What a load run measured (over the measured window only, after any warm-up).
#[derive(Debug, Clone)]
pub struct Report {
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Responses received (any status).
    pub requests: u64,
    /// Responses by status class.
    pub status: StatusCounts,
    /// Failures by kind.
    pub errors: ErrorCounts,
    /// Bytes read from the server.
    pub bytes_read: u64,
    /// Bytes written to the server.
    pub bytes_written: u64,
    /// Connections established.
    pub connects: u64,
    /// Per-request latency in nanoseconds: from writing the request (or
    /// the batch it was pipelined in) to reading the end of its response; in
    /// connection-per-request mode, from starting the connect.
    pub latency: Histogram<u64>,
}

/// Responses counted by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// 1xx (only 101 ends a request; other 1xx are interim and skipped).
    pub informational: u64,
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirect: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
    /// Status codes outside 100..=599.
    pub other: u64,
}

/// Failures counted by kind; each is one event on one connection, which is
/// then closed and replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Connects that failed (refused, unreachable, ...).
    pub connect: u64,
    /// Reads that failed (for example a reset connection).
    pub read: u64,
    /// Writes that failed.
    pub write: u64,
    /// Connects or requests that waited longer than the timeout.
    pub timeout: u64,
    /// Responses that were not valid HTTP/1.x or had a head too large for the read buffer.
    pub parse: u64,
    /// The server closed the connection with requests unanswered.
    pub closed: u64,
}

impl Report {
    /// Responses per second over the measured window.
    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at `quantile` (0.0..=1.0), e.g. `0.999` for p99.9.
    pub fn latency_at(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.latency.value_at_quantile(quantile))
    }

    /// Responses whose status is not 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.requests - self.status.success
    }

    /// All failures plus non-2xx responses.
    pub fn error_total(&self) -> u64 {
        self.errors.total() + self.non_2xx()
    }

    /// The report as one line of JSON (what `brisk-load --json` prints and
    /// `cargo xtask bench server` reads). Latencies are in nanoseconds.
    pub fn to_json(&self) -> String {
        let lat = &self.latency;
        serde_json::json!({
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "requests": self.requests,
            "requests_per_sec": self.requests_per_sec(),
            "latency_ns": {
                "p50": lat.value_at_quantile(0.5),
                "p99": lat.value_at_quantile(0.99),
                "p999": lat.value_at_quantile(0.999),
                "max": lat.max(),
                "mean": lat.mean(),
            },
            "status": {
                "1xx": self.status.informational,
                "2xx": self.status.success,
                "3xx": self.status.redirect,
                "4xx": self.status.client_error,
                "5xx": self.status.server_error,
                "other": self.status.other,
            },
            "errors": {
                "connect": self.errors.connect,
                "read": self.errors.read,
                "write": self.errors.write,
                "timeout": self.errors.timeout,
                "parse": self.errors.parse,
                "closed": self.errors.closed,
                "non_2xx": self.non_2xx(),
                "total": self.error_total(),
            },
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "connects": self.connects,
        })
        .to_string()
    }
}

impl StatusCounts {
    /// Counts one response with `status`.
    #[inline]
    pub fn add(&mut self, status: u16) {
        match status {
            100..=199 => self.informational += 1,
            200..=299 => self.success += 1,
            300..=399 => self.redirect += 1,
            400..=499 => self.client_error += 1,
            500..=599 => self.server_error += 1,
            _ => self.other += 1,
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &StatusCounts) {
        self.informational += other.informational;
        self.success += other.success;
        self.redirect += other.redirect;
        self.client_error += other.client_error;
        self.server_error += other.server_error;
        self.other += other.other;
    }
}

impl ErrorCounts {
    /// Sum of all kinds.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.parse + self.closed
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &ErrorCounts) {
        self.connect += other.connect;
        self.read += other.read;
        self.write += other.write;
        self.timeout += other.timeout;
        self.parse += other.parse;
        self.closed += other.closed;
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.status;
        let e = &self.errors;
        let secs = self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        writeln!(
            f,
            "  requests   {} in {:.2} s, {:.0} req/s",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_sec()
        )?;
        writeln!(
            f,
            "  latency    p50 {}  p99 {}  p99.9 {}  max {}  mean {}",
            Nanos(self.latency.value_at_quantile(0.5)),
            Nanos(self.latency.value_at_quantile(0.99)),
            Nanos(self.latency.value_at_quantile(0.999)),
            Nanos(self.latency.max()),
            Nanos(self.latency.mean() as u64),
        )?;
        writeln!(
            f,
            "  responses  2xx {}  1xx {}  3xx {}  4xx {}  5xx {}  other {}",
            s.success, s.informational, s.redirect, s.client_error, s.server_error, s.other
        )?;
        writeln!(
            f,
            "  errors     {} total: connect {}  read {}  write {}  timeout {}  parse {}  closed {}  non-2xx {}",
            self.error_total(),
            e.connect,
            e.read,
            e.write,
            e.timeout,
            e.parse,
            e.closed,
            self.non_2xx()
        )?;
        write!(
            f,
            "  transfer   read {:.1} MiB/s, written {:.1} MiB/s, {} connects",
            self.bytes_read as f64 / secs / 1048576.0,
            self.bytes_written as f64 / secs / 1048576.0,
            self.connects
        )
    }
}

/// Formats nanoseconds with a unit that keeps three significant digits.
struct Nanos(u64);

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0 as f64;
        if self.0 < 1_000 {
            write!(f, "{} ns", self.0)
        } else if self.0 < 1_000_000 {
            write!(f, "{:.1} us", ns / 1e3)
        } else if self.0 < 1_000_000_000 {
            write!(f, "{:.2} ms", ns / 1e6)
        } else {
            write!(f, "{:.2} s", ns / 1e9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut latency = Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in [1_000, 2_000, 3_000, 4_000_000] {
            latency.record(v).unwrap();
        }
        let mut status = StatusCounts::default();
        for code in [200, 204, 404, 503] {
            status.add(code);
        }
        Report {
            elapsed: Duration::from_secs(2),
            requests: 4,
            status,
            errors: ErrorCounts {
                timeout: 1,
                ..ErrorCounts::default()
            },
            bytes_read: 100,
            bytes_written: 50,
            connects: 2,
            latency,
        }
    }

    #[test]
    fn rates_and_error_totals() {
        let r = report();
        assert_eq!(r.requests_per_sec(), 2.0);
        assert_eq!(r.non_2xx(), 2);
        assert_eq!(r.error_total(), 3);
    }

    #[test]
    fn json_has_the_fields_xtask_reads() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(v["requests"], 4);
        assert_eq!(v["requests_per_sec"], 2.0);
        assert_eq!(v["status"]["4xx"], 1);
        assert_eq!(v["errors"]["total"], 3);
        let p50 = v["latency_ns"]["p50"].as_u64().unwrap();
        assert!((2_000..2_010).contains(&p50), "p50 {p50}");
        let max = v["latency_ns"]["max"].as_u64().unwrap();
        assert!((4_000_000..4_010_000).contains(&max), "max {max}");
    }

    #[test]
    fn human_output_uses_readable_units() {
        let text = report().to_string();
        assert!(text.contains("2 req/s"), "{text}");
        assert!(text.contains("max 4.00 ms"), "{text}");
        assert!(text.contains("p50 2.0 us"), "{text}");
        assert_eq!(Nanos(999).to_string(), "999 ns");
        assert_eq!(Nanos(2_500_000_000).to_string(), "2.50 s");
    }

    #[test]
    fn status_classes() {
        let mut s = StatusCounts::default();
        for code in [101, 200, 301, 404, 500, 0, 600, 999] {
            s.add(code);
        }
        assert_eq!(
            s,
            StatusCounts {
                informational: 1,
                success: 1,
                redirect: 1,
                client_error: 1,
                server_error: 1,
                other: 3
            }
        );
    }
}

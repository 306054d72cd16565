//! Server metrics in the Prometheus text exposition format (version
//! 0.0.4): [`write_prometheus`] formats a [`MetricsSnapshot`], and
//! [`prometheus_handler`] serves it.
//!
//! ```
//! use brisk_handlers::metrics::{prometheus_handler, write_prometheus};
//! use brisk_server::{Metrics, Server};
//!
//! let metrics = Metrics::new();
//! let scrape = prometheus_handler(metrics.clone());
//! let server = Server::builder()
//!     .handler(move |ctx| match ctx.path() {
//!         b"/metrics" => scrape(ctx),
//!         _ => ctx.set_body(b"Hello, World!"),
//!     })
//!     .metrics(&metrics)
//!     .build()
//!     .expect("valid configuration");
//! # drop(server);
//!
//! let mut text = Vec::new();
//! write_prometheus(&metrics.snapshot(), &mut text);
//! let text = String::from_utf8(text).unwrap();
//! assert!(text.contains("# TYPE brisk_requests_total counter\nbrisk_requests_total 0\n"));
//! ```
//!
//! # Metric names
//!
//! Counters (`_total`): `brisk_connections_accepted_total`,
//! `brisk_connections_closed_total`, `brisk_connections_hijacked_total`,
//! `brisk_connections_refused_total{reason="concurrency"|"per_ip"}`,
//! `brisk_requests_total`, `brisk_responses_total{class="1xx"..."5xx"|"other"}`,
//! `brisk_responses_by_status_total{code="200"...}` (the statuses of
//! [`TRACKED_STATUSES`]),
//! `brisk_errors_total{kind="parse"...}` (one per
//! [`ServerError`](brisk_server::ServerError) kind),
//! `brisk_handler_panics_total`, `brisk_request_timeouts_total`,
//! `brisk_read_bytes_total`, `brisk_written_bytes_total`; pool counters
//! `brisk_pool_jobs_total{pool="loops"|"workers"}` and
//! `brisk_pool_jobs_rejected_total{pool=...}`.
//! Gauges: `brisk_connections_open`,
//! `brisk_pool_threads{pool=...,state="busy"|"idle"}`.
//! Histogram: `brisk_request_duration_seconds` (`_bucket{le=...}`, `_sum`,
//! `_count`). Pool series are absent while the server is not serving.

use std::io::Write;

use brisk_server::{
    DURATION_BOUNDS_US, Metrics, MetricsSnapshot, PoolStats, RequestCtx, TRACKED_STATUSES,
};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &[u8] = b"text/plain; version=0.0.4; charset=utf-8";

/// Appends `snap` to `out` in the Prometheus text exposition format: a
/// `# HELP` and a `# TYPE` line per metric family, then its samples.
pub fn write_prometheus(snap: &MetricsSnapshot, out: &mut Vec<u8>) {
    let c = &snap.connections;
    counter(
        out,
        "brisk_connections_accepted_total",
        "Connections accepted.",
        c.accepted,
    );
    counter(
        out,
        "brisk_connections_closed_total",
        "Accepted connections closed.",
        c.closed,
    );
    counter(
        out,
        "brisk_connections_hijacked_total",
        "Connections taken over by a hijack handler.",
        c.hijacked,
    );
    family(
        out,
        "brisk_connections_refused_total",
        "Connections refused at accept (503: concurrency, 429: per_ip).",
        "counter",
    );
    sample(
        out,
        "brisk_connections_refused_total",
        &[("reason", "concurrency")],
        c.refused_busy,
    );
    sample(
        out,
        "brisk_connections_refused_total",
        &[("reason", "per_ip")],
        c.refused_per_ip,
    );
    family(
        out,
        "brisk_connections_open",
        "Connections open now.",
        "gauge",
    );
    sample(out, "brisk_connections_open", &[], c.open);

    let r = &snap.requests;
    counter(
        out,
        "brisk_requests_total",
        "Responses sent: the handler's and the server's own errors.",
        r.total,
    );
    family(
        out,
        "brisk_responses_total",
        "Responses by status class.",
        "counter",
    );
    for (class, n) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().zip(r.by_class) {
        sample(out, "brisk_responses_total", &[("class", class)], n);
    }
    sample(out, "brisk_responses_total", &[("class", "other")], r.other);
    family(
        out,
        "brisk_responses_by_status_total",
        "Responses by status, for common statuses.",
        "counter",
    );
    for (code, n) in TRACKED_STATUSES.iter().zip(r.by_status) {
        let digits = itoa_u16(*code);
        let code = std::str::from_utf8(&digits).unwrap_or("0");
        sample(out, "brisk_responses_by_status_total", &[("code", code)], n);
    }

    let e = &snap.errors;
    family(
        out,
        "brisk_errors_total",
        "Error responses the server sent itself, by kind.",
        "counter",
    );
    for (kind, n) in e.as_array() {
        sample(out, "brisk_errors_total", &[("kind", kind)], n);
    }
    counter(
        out,
        "brisk_handler_panics_total",
        "Handlers that panicked (answered 500).",
        e.handler_panicked,
    );
    counter(
        out,
        "brisk_request_timeouts_total",
        "Requests that timed out while being received (answered 408).",
        e.read_timeout,
    );
    counter(
        out,
        "brisk_read_bytes_total",
        "Bytes read from clients.",
        snap.bytes_read,
    );
    counter(
        out,
        "brisk_written_bytes_total",
        "Bytes of responses queued.",
        snap.bytes_written,
    );

    let h = &snap.duration;
    let name = "brisk_request_duration_seconds";
    family(
        out,
        name,
        "Handler request durations, to the response being queued.",
        "histogram",
    );
    let cumulative = h.cumulative();
    for (bound, n) in DURATION_BOUNDS_US.iter().zip(cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {n}", *bound as f64 / 1e6);
    }
    let total = cumulative[cumulative.len() - 1];
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {}", h.sum_ns as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {total}");

    let pools: Vec<(&str, PoolStats)> = [("loops", snap.loop_threads), ("workers", snap.workers)]
        .into_iter()
        .filter_map(|(p, s)| Some((p, s?)))
        .collect();
    if !pools.is_empty() {
        family(out, "brisk_pool_threads", "Pool threads by state.", "gauge");
        for (pool, s) in &pools {
            sample(
                out,
                "brisk_pool_threads",
                &[("pool", pool), ("state", "busy")],
                s.busy as u64,
            );
            sample(
                out,
                "brisk_pool_threads",
                &[("pool", pool), ("state", "idle")],
                s.idle as u64,
            );
        }
        family(
            out,
            "brisk_pool_jobs_total",
            "Jobs the pool accepted.",
            "counter",
        );
        for (pool, s) in &pools {
            sample(out, "brisk_pool_jobs_total", &[("pool", pool)], s.served);
        }
        family(
            out,
            "brisk_pool_jobs_rejected_total",
            "Jobs the pool refused (all its threads busy).",
            "counter",
        );
        for (pool, s) in &pools {
            sample(
                out,
                "brisk_pool_jobs_rejected_total",
                &[("pool", pool)],
                s.rejected,
            );
        }
    }
}

/// A handler that answers with `metrics`' snapshot in the text format
/// (`200`, [`CONTENT_TYPE`]). It allocates the text per scrape.
pub fn prometheus_handler(
    metrics: Metrics,
) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static {
    move |ctx| {
        let mut out = Vec::with_capacity(8 * 1024);
        write_prometheus(&metrics.snapshot(), &mut out);
        ctx.set_content_type(CONTENT_TYPE);
        ctx.set_body(&out);
    }
}

fn family(out: &mut Vec<u8>, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut Vec<u8>, name: &str, help: &str, v: u64) {
    family(out, name, help, "counter");
    sample(out, name, &[], v);
}

/// One sample line; label values here are fixed ASCII words (no escaping
/// needed).
fn sample(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], v: u64) {
    out.extend_from_slice(name.as_bytes());
    if !labels.is_empty() {
        out.push(b'{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{k}=\"{val}\"");
        }
        out.push(b'}');
    }
    let _ = writeln!(out, " {v}");
}

/// The three decimal digits of a status.
fn itoa_u16(code: u16) -> [u8; 3] {
    [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_snapshot_has_every_family_once() {
        let mut out = Vec::new();
        write_prometheus(&Metrics::new().snapshot(), &mut out);
        let text = String::from_utf8(out).unwrap();
        for family in [
            "brisk_connections_accepted_total",
            "brisk_requests_total",
            "brisk_responses_total",
            "brisk_errors_total",
            "brisk_request_duration_seconds",
        ] {
            let type_line = format!("# TYPE {family} ");
            assert_eq!(text.matches(&type_line).count(), 1, "{family}");
        }
        assert!(text.contains("brisk_request_duration_seconds_bucket{le=\"0.00001\"} 0\n"));
        assert!(text.contains("brisk_request_duration_seconds_bucket{le=\"10\"} 0\n"));
        assert!(text.contains("brisk_responses_by_status_total{code=\"404\"} 0\n"));
        assert!(!text.contains("brisk_pool"), "no pools while not serving");
    }
}

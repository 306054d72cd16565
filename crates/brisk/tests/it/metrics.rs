//! The `metrics` example as a process: known requests, then `/metrics`
//! read back through a strict checker of the Prometheus text format.

use std::collections::{BTreeMap, BTreeSet};

use super::{addr_of, get, start};

/// One sample: name, labels (sorted), value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the text exposition format strictly: every line is `# HELP`,
/// `# TYPE` or a sample; a family's TYPE comes once, before its samples;
/// counters end in `_total`; a histogram has cumulative `_bucket`s ending
/// with `le="+Inf"`, equal to its `_count`, and a `_sum`. Panics with the
/// offending line otherwise.
fn check_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the text ends with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(line);
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            assert!(helped.insert(name.to_string()), "second HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(valid_name(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "second TYPE: {line}"
            );
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect(line);
                let mut labels = BTreeMap::new();
                for pair in body.split(',') {
                    let (k, v) = pair.split_once('=').expect(line);
                    assert!(valid_name(k), "{line}");
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .expect(line);
                    assert!(!v.contains(['"', '\\', '\n']), "{line}");
                    assert!(
                        labels.insert(k.to_string(), v.to_string()).is_none(),
                        "{line}"
                    );
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = name.strip_suffix(s)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        samples.push((name.to_string(), labels, value));
    }
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.0 == format!("{family}_bucket"))
            .collect();
        assert!(buckets.len() >= 2, "{family}: buckets");
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            let le = b.1.get("le").expect("bucket without le");
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            assert!(le > last.0, "{family}: le not increasing");
            assert!(b.2 >= last.1, "{family}: buckets not cumulative");
            last = (le, b.2);
        }
        assert_eq!(last.0, f64::INFINITY, "{family}: last bucket is +Inf");
        assert_eq!(value(&samples, &format!("{family}_count"), &[]), last.1);
        value(&samples, &format!("{family}_sum"), &[]);
    }
    samples
}

fn valid_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The value of the sample `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.0 == name && s.1 == want)
        .map(|s| s.2)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

#[test]
fn metrics_example_counts_known_requests() {
    let (_p, line) = start("metrics", &["--port", "0", "--loops", "1"]);
    let addr = addr_of(&line);
    for _ in 0..10 {
        assert_eq!(get(addr, "/"), (200, "Hello, World!".to_string()));
    }
    for _ in 0..3 {
        assert_eq!(get(addr, "/nope").0, 404);
    }
    let (status, text) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let s = check_exposition(&text);
    // The scrape itself is counted once its response is queued: after
    // the text was written.
    assert_eq!(value(&s, "brisk_requests_total", &[]), 13.0);
    assert_eq!(
        value(&s, "brisk_responses_by_status_total", &[("code", "200")]),
        10.0
    );
    assert_eq!(
        value(&s, "brisk_responses_by_status_total", &[("code", "404")]),
        3.0
    );
    assert_eq!(value(&s, "brisk_responses_total", &[("class", "4xx")]), 3.0);
    assert_eq!(value(&s, "brisk_request_duration_seconds_count", &[]), 13.0);
    assert_eq!(value(&s, "brisk_errors_total", &[("kind", "parse")]), 0.0);
    // Every request came on its own connection; the scrape's is open.
    assert_eq!(value(&s, "brisk_connections_accepted_total", &[]), 14.0);
    assert!(value(&s, "brisk_connections_open", &[]) >= 1.0);
    assert!(value(&s, "brisk_read_bytes_total", &[]) > 0.0);
    assert!(
        value(
            &s,
            "brisk_pool_threads",
            &[("pool", "loops"), ("state", "busy")]
        ) >= 1.0
    );

    let (_, again) = get(addr, "/metrics");
    let s = check_exposition(&again);
    assert_eq!(
        value(&s, "brisk_requests_total", &[]),
        14.0,
        "the first scrape"
    );
}

//! Criterion micro-benches: run `cargo bench -p <crate> --bench <name>`, then
//! read `<criterion>/<group>/<function>/<parameter>/new/estimates.json`
//! (`mean.point_estimate`, ns per iteration = per operation) and print the
//! summary lines, the last of which is the bench's one-line result.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use super::{fmt_ns, fmt_ratio};
use crate::{cargo, run_cmd, target_dir};

/// One criterion bench and where its numbers land.
pub(crate) struct Micro {
    /// Name for `cargo xtask bench <name>` and `--bench <name>`.
    pub(crate) name: &'static str,
    /// Package that owns `benches/<name>.rs`.
    pub(crate) package: &'static str,
    /// `c.benchmark_group(group)`.
    pub(crate) group: &'static str,
    summarize: fn(&Estimates) -> Result<Vec<String>>,
}

pub(crate) const BUF: Micro = Micro {
    name: "buf",
    package: "brisk-buf",
    group: "buf",
    summarize: buf,
};
pub(crate) const PARSE: Micro = Micro {
    name: "parse",
    package: "brisk-http",
    group: "parse",
    summarize: parse,
};
pub(crate) const POOL: Micro = Micro {
    name: "pool",
    package: "brisk-pool",
    group: "pool",
    summarize: pool,
};

/// Inputs of the `parse` bench, in print order.
const PARSE_INPUTS: [&str; 3] = ["minimal", "browser", "headers40"];

/// Reads estimates of one bench's group.
pub(crate) struct Estimates<'a> {
    micro: &'a Micro,
    /// `<target>/criterion`.
    dir: PathBuf,
    /// Files older than this are from an earlier run: an error, not a number.
    not_before: Option<SystemTime>,
}

pub(crate) fn run(micro: &Micro) -> Result<()> {
    let criterion = target_dir()?.join("criterion");
    let started = super::now();
    run_cmd(cargo().env("CRITERION_HOME", &criterion).args([
        "bench",
        "-p",
        micro.package,
        "--bench",
        micro.name,
    ]))?;
    let estimates = Estimates {
        micro,
        dir: criterion,
        not_before: Some(started),
    };
    for line in (micro.summarize)(&estimates)? {
        println!("{line}");
    }
    Ok(())
}

impl Estimates<'_> {
    /// Mean ns per iteration of `<function>/<parameter>`.
    fn mean(&self, function: &str, parameter: &str) -> Result<f64> {
        let m = self.micro;
        let path = self
            .dir
            .join(m.group)
            .join(function)
            .join(parameter)
            .join("new/estimates.json");
        let hint = format!(
            "run `cargo bench -p {} --bench {}` (or `cargo xtask bench {}`) and check that \
             benches/{}.rs uses benchmark_group(\"{}\") with BenchmarkId::new(\"{function}\", \"{parameter}\")",
            m.package, m.name, m.name, m.name, m.group
        );
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => bail!(
                "missing criterion estimate {} ({e}): {hint}",
                path.display()
            ),
        };
        if let Some(not_before) = self.not_before {
            let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
            if modified.is_some_and(|t| t < not_before) {
                bail!(
                    "stale criterion estimate {} (older than this run): {hint}",
                    path.display()
                );
            }
        }
        mean_point_estimate(&text).with_context(|| format!("reading {}", path.display()))
    }
}

/// `mean.point_estimate` of a criterion `estimates.json`.
fn mean_point_estimate(json: &str) -> Result<f64> {
    let value: serde_json::Value = serde_json::from_str(json).context("not JSON")?;
    match value["mean"]["point_estimate"].as_f64() {
        Some(ns) if ns.is_finite() && ns > 0.0 => Ok(ns),
        Some(ns) => bail!("mean.point_estimate is {ns}, not a positive time"),
        None => bail!("no mean.point_estimate number"),
    }
}

fn buf(e: &Estimates) -> Result<Vec<String>> {
    let (pool1, vec1) = (e.mean("pool", "1t")?, e.mean("vec", "1t")?);
    let (pool0, vec0) = (
        e.mean("pool", "1t-immediate")?,
        e.mean("vec", "1t-immediate")?,
    );
    let (pool2, vec2) = (e.mean("pool", "2t")?, e.mean("vec", "2t")?);
    Ok(vec![
        format!(
            "buf immediate reuse: pool {} ns/op, vec {} ns/op, ratio {}",
            fmt_ns(pool0),
            fmt_ns(vec0),
            fmt_ratio(Some(vec0 / pool0))
        ),
        format!(
            "buf 2 threads: pool {} ns/op, vec {} ns/op, ratio {}",
            fmt_ns(pool2),
            fmt_ns(vec2),
            fmt_ratio(Some(vec2 / pool2))
        ),
        format!(
            "buf: pool {} ns/op, vec {} ns/op, ratio {}",
            fmt_ns(pool1),
            fmt_ns(vec1),
            fmt_ratio(Some(vec1 / pool1))
        ),
    ])
}

fn parse(e: &Estimates) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut log_sum = 0.0;
    for input in PARSE_INPUTS {
        let (brisk, httparse) = (e.mean("brisk", input)?, e.mean("httparse", input)?);
        let ratio = httparse / brisk;
        log_sum += ratio.ln();
        lines.push(format!(
            "parse {input}: brisk {} ns, httparse {} ns, ratio {}",
            fmt_ns(brisk),
            fmt_ns(httparse),
            fmt_ratio(Some(ratio))
        ));
    }
    lines.push(format!(
        "serialize small_200: {} ns",
        fmt_ns(e.mean("serialize", "small_200")?)
    ));
    let geomean = (log_sum / PARSE_INPUTS.len() as f64).exp();
    lines.push(format!("parse: ratio {}", fmt_ratio(Some(geomean))));
    Ok(lines)
}

fn pool(e: &Estimates) -> Result<Vec<String>> {
    let latency = ["brisk", "spawn", "channel"].map(|f| e.mean(f, "latency"));
    let throughput = ["brisk", "spawn", "channel"].map(|f| e.mean(f, "throughput"));
    let [bl, sl, cl] = latency;
    let [bt, st, ct] = throughput;
    Ok(vec![
        format!(
            "pool latency: brisk {} ns, spawn {} ns, channel {} ns",
            fmt_ns(bl?),
            fmt_ns(sl?),
            fmt_ns(cl?)
        ),
        format!(
            "pool: brisk {} ns/job, spawn {} ns/job, channel {} ns/job",
            fmt_ns(bt?),
            fmt_ns(st?),
            fmt_ns(ct?)
        ),
    ])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Estimates read from `dir` without the freshness check.
    fn estimates<'a>(micro: &'a Micro, dir: &Path) -> Estimates<'a> {
        Estimates {
            micro,
            dir: dir.to_path_buf(),
            not_before: None,
        }
    }

    /// A fake `criterion/` tree in a temp dir, removed on drop.
    struct FakeCriterion(PathBuf);

    impl FakeCriterion {
        fn new(tag: &str) -> FakeCriterion {
            let dir =
                std::env::temp_dir().join(format!("xtask-criterion-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            FakeCriterion(dir)
        }

        fn put(&self, group: &str, function: &str, parameter: &str, mean: f64) {
            let dir = self
                .0
                .join(group)
                .join(function)
                .join(parameter)
                .join("new");
            fs::create_dir_all(&dir).unwrap();
            let json = format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{mean},"standard_error":0.1}},"median":{{"point_estimate":1.0}}}}"#
            );
            fs::write(dir.join("estimates.json"), json).unwrap();
        }
    }

    impl Drop for FakeCriterion {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn buf_summary() {
        let fake = FakeCriterion::new("buf");
        fake.put("buf", "pool", "1t", 12.34);
        fake.put("buf", "vec", "1t", 45.6);
        fake.put("buf", "pool", "1t-immediate", 30.0);
        fake.put("buf", "vec", "1t-immediate", 15.0);
        fake.put("buf", "pool", "2t", 20.0);
        fake.put("buf", "vec", "2t", 90.0);
        assert_eq!(
            buf(&estimates(&BUF, &fake.0)).unwrap(),
            vec![
                "buf immediate reuse: pool 30.0 ns/op, vec 15.0 ns/op, ratio 0.50",
                "buf 2 threads: pool 20.0 ns/op, vec 90.0 ns/op, ratio 4.50",
                "buf: pool 12.3 ns/op, vec 45.6 ns/op, ratio 3.70",
            ]
        );
    }

    #[test]
    fn parse_summary_uses_the_geometric_mean() {
        let fake = FakeCriterion::new("parse");
        for (input, brisk, httparse) in [
            ("minimal", 10.0, 20.0),
            ("browser", 100.0, 100.0),
            ("headers40", 400.0, 200.0),
        ] {
            fake.put("parse", "brisk", input, brisk);
            fake.put("parse", "httparse", input, httparse);
        }
        fake.put("parse", "serialize", "small_200", 7.891);
        assert_eq!(
            parse(&estimates(&PARSE, &fake.0)).unwrap(),
            vec![
                "parse minimal: brisk 10.0 ns, httparse 20.0 ns, ratio 2.00",
                "parse browser: brisk 100.0 ns, httparse 100.0 ns, ratio 1.00",
                "parse headers40: brisk 400.0 ns, httparse 200.0 ns, ratio 0.50",
                "serialize small_200: 7.89 ns",
                "parse: ratio 1.00",
            ]
        );
    }

    #[test]
    fn pool_summary() {
        let fake = FakeCriterion::new("pool");
        for (f, lat, thr) in [
            ("brisk", 900.0, 150.0),
            ("spawn", 25000.0, 20000.0),
            ("channel", 3000.0, 300.0),
        ] {
            fake.put("pool", f, "latency", lat);
            fake.put("pool", f, "throughput", thr);
        }
        assert_eq!(
            pool(&estimates(&POOL, &fake.0)).unwrap(),
            vec![
                "pool latency: brisk 900.0 ns, spawn 25000 ns, channel 3000 ns",
                "pool: brisk 150.0 ns/job, spawn 20000 ns/job, channel 300.0 ns/job",
            ]
        );
    }

    #[test]
    fn missing_estimate_names_the_file_and_the_command() {
        let fake = FakeCriterion::new("missing");
        fake.put("buf", "pool", "1t", 1.0);
        let err = buf(&estimates(&BUF, &fake.0)).unwrap_err().to_string();
        assert!(err.contains("missing criterion estimate"), "{err}");
        assert!(err.contains("buf/vec/1t/new/estimates.json"), "{err}");
        assert!(
            err.contains("cargo bench -p brisk-buf --bench buf"),
            "{err}"
        );
        assert!(err.contains(r#"BenchmarkId::new("vec", "1t")"#), "{err}");
    }

    #[test]
    fn stale_estimates_are_rejected() {
        let fake = FakeCriterion::new("stale");
        fake.put("buf", "pool", "1t", 1.0);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        let e = Estimates {
            micro: &BUF,
            dir: fake.0.clone(),
            not_before: Some(later),
        };
        let err = e.mean("pool", "1t").unwrap_err().to_string();
        assert!(err.contains("stale criterion estimate"), "{err}");
    }

    #[test]
    fn bad_estimate_files() {
        assert!(mean_point_estimate("{").is_err());
        assert!(mean_point_estimate(r#"{"mean":{}}"#).is_err());
        assert!(mean_point_estimate(r#"{"mean":{"point_estimate":-1.0}}"#).is_err());
        assert_eq!(
            mean_point_estimate(r#"{"mean":{"point_estimate":3.5}}"#).unwrap(),
            3.5
        );
    }
}

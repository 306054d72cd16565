//! Running the load generator of the load scenarios: `brisk-load` (JSON
//! report) or wrk (text report, `--latency`, `pipeline.lua` for pipelining).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::show;

/// One load run: what to send, to which port, for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) port: u16,
    pub(crate) secs: f64,
    pub(crate) connections: usize,
    /// Requests written at once per connection (1 = no pipelining).
    pub(crate) depth: usize,
    /// A new connection per request.
    pub(crate) close: bool,
}

/// What a load generator reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) requests: u64,
    pub(crate) rps: f64,
    /// 99th percentile latency, when the generator reports it.
    pub(crate) p99_ns: Option<u64>,
    pub(crate) errors: u64,
}

/// A load generator on this machine.
pub(crate) enum Generator {
    /// `brisk-load` at this path.
    BriskLoad(PathBuf),
    /// `wrk` on `PATH`, with the peers kit's `pipeline.lua`.
    Wrk { script: PathBuf },
}

impl Generator {
    /// The generator's name as the report shows it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Generator::BriskLoad(_) => "brisk-load",
            Generator::Wrk { .. } => "wrk",
        }
    }

    /// Runs `run`, pinned to `cpu` when given, and returns its numbers.
    pub(crate) fn run(&self, run: &Run, cpu: Option<usize>) -> Result<Outcome> {
        let mut cmd = match self {
            Generator::BriskLoad(path) => brisk_load_command(path, run, cpu),
            Generator::Wrk { script } => wrk_command(script, run, cpu),
        };
        let out = cmd
            .output()
            .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}{}",
                show(&cmd),
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        match self {
            Generator::BriskLoad(_) => parse_brisk_load(&stdout),
            Generator::Wrk { .. } => parse_wrk(&stdout),
        }
        .with_context(|| format!("reading the report of `{}`", show(&cmd)))
    }
}

fn brisk_load_command(path: &Path, run: &Run, cpu: Option<usize>) -> Command {
    let mut cmd = Command::new(path);
    cmd.args([
        "--json".to_owned(),
        "-c".to_owned(),
        run.connections.to_string(),
        "-d".to_owned(),
        format!("{}", run.secs),
        "-p".to_owned(),
        run.depth.to_string(),
    ]);
    if run.close {
        cmd.arg("--close");
    }
    if let Some(cpu) = cpu {
        cmd.args(["--cpus", &cpu.to_string()]);
    }
    cmd.arg(format!("http://127.0.0.1:{}/", run.port));
    cmd
}

fn wrk_command(script: &Path, run: &Run, cpu: Option<usize>) -> Command {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    // wrk takes whole seconds.
    let secs = run.secs.round().max(1.0) as u64;
    cmd.args([
        "-t1".to_owned(),
        format!("-c{}", run.connections),
        format!("-d{secs}s"),
        "--latency".to_owned(),
    ]);
    if run.close {
        cmd.args(["-H", "Connection: close"]);
    }
    if run.depth > 1 {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(format!("http://127.0.0.1:{}/", run.port));
    if run.depth > 1 {
        cmd.args(["--", &run.depth.to_string()]);
    }
    cmd
}

/// The last line of `brisk-load --json`.
pub(crate) fn parse_brisk_load(stdout: &str) -> Result<Outcome> {
    let last = stdout.lines().last().unwrap_or("");
    let report: serde_json::Value = serde_json::from_str(last)
        .with_context(|| format!("brisk-load printed no JSON report: {last:?}"))?;
    Ok(Outcome {
        requests: report["requests"]
            .as_u64()
            .context("report has no requests")?,
        rps: report["requests_per_sec"]
            .as_f64()
            .context("report has no requests_per_sec")?,
        p99_ns: report["latency_ns"]["p99"].as_u64(),
        errors: report["errors"]["total"].as_u64().unwrap_or(0),
    })
}

/// wrk's text report: `N requests in`, `Requests/sec:`, the `99%` line of
/// `--latency`, socket errors and non-2xx/3xx responses.
pub(crate) fn parse_wrk(stdout: &str) -> Result<Outcome> {
    let mut requests = None;
    let mut rps = None;
    let mut p99_ns = None;
    let mut errors = 0;
    for line in stdout.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rps = rest.trim().parse::<f64>().ok();
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        } else if let Some(rest) = line.strip_prefix("99%") {
            // wrk prints 0.00us when it recorded no latencies (pipelined
            // through a script): no number rather than a false one.
            p99_ns = wrk_duration_ns(rest.trim()).filter(|&ns| ns > 0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok(Outcome {
        requests: requests.context("no `N requests in` line in wrk's output")?,
        rps: rps.context("no `Requests/sec:` line in wrk's output")?,
        p99_ns,
        errors,
    })
}

/// `850.00us`, `1.23ms`, `2.00s` as nanoseconds.
pub(crate) fn wrk_duration_ns(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return None,
    };
    Some((value * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "\
Running 2s test @ http://127.0.0.1:18123/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.75ms  210.33us   4.87ms   90.12%
    Req/Sec    52.80k     2.11k   56.01k    70.00%
  Latency Distribution
     50%    1.72ms
     75%    1.80ms
     90%    1.95ms
     99%    2.53ms
  105049 requests in 2.00s, 9.42MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  52498.21
Transfer/sec:      4.71MB
";

    #[test]
    fn wrk_report() {
        let o = parse_wrk(WRK).unwrap();
        assert_eq!(o.requests, 105_049);
        assert!((o.rps - 52_498.21).abs() < 1e-6);
        assert_eq!(o.p99_ns, Some(2_530_000));
        assert_eq!(o.errors, 12);
        assert!(parse_wrk("Running 2s test\n").is_err());
        assert_eq!(wrk_duration_ns("850.00us"), Some(850_000));
        assert_eq!(wrk_duration_ns("2.00s"), Some(2_000_000_000));
        assert_eq!(wrk_duration_ns("fast"), None);
        let zero = WRK.replace("2.53ms", "0.00us");
        assert_eq!(parse_wrk(&zero).unwrap().p99_ns, None);
    }

    #[test]
    fn brisk_load_report() {
        let json = "noise\n{\"requests\":10,\"requests_per_sec\":5.5,\"latency_ns\":{\"p99\":7},\"errors\":{\"total\":1}}\n";
        let o = parse_brisk_load(json).unwrap();
        assert_eq!(
            o,
            Outcome {
                requests: 10,
                rps: 5.5,
                p99_ns: Some(7),
                errors: 1
            }
        );
        assert!(parse_brisk_load("not json").is_err());
    }

    #[test]
    fn commands() {
        let run = Run {
            port: 9,
            secs: 2.0,
            connections: 100,
            depth: 16,
            close: false,
        };
        let wrk = show(&wrk_command(Path::new("/p/pipeline.lua"), &run, Some(1)));
        assert_eq!(
            wrk,
            "taskset -c 1 wrk -t1 -c100 -d2s --latency -s /p/pipeline.lua http://127.0.0.1:9/ -- 16"
        );
        let close = Run {
            depth: 1,
            close: true,
            ..run
        };
        let bl = show(&brisk_load_command(
            Path::new("/t/brisk-load"),
            &close,
            None,
        ));
        assert_eq!(
            bl,
            "brisk-load --json -c 100 -d 2 -p 1 --close http://127.0.0.1:9/"
        );
    }
}

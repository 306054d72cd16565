//! `cargo xtask bench`: criterion micro-benches (summarized from criterion's
//! estimate files) and the end-to-end server bench.

mod abuse;
mod files;
mod idle;
mod instr;
mod load;
mod micro;
mod procs;
mod report;
mod server;
mod svg;
mod tls;

use std::time::SystemTime;

use anyhow::{Result, bail};

use crate::flags::{Bench, BenchName};

pub(crate) use server::PEER_NAMES;

pub(crate) fn run(bench: &Bench) -> Result<()> {
    let mut failed = Vec::new();
    for (n, &name) in bench.names.iter().enumerate() {
        if n > 0 {
            println!();
        }
        let result = match name {
            BenchName::Buf => micro::run(&micro::BUF),
            BenchName::Parse => micro::run(&micro::PARSE),
            BenchName::Pool => micro::run(&micro::POOL),
            BenchName::Server => server::run(&bench.server),
            BenchName::Abuse => abuse::run(&bench.abuse_args),
            BenchName::Files => files::run(&bench.server),
            BenchName::Instr => instr::run(bench.base.as_deref()),
        };
        if let Err(e) = result {
            // With several benches, report and go on; the exit code still fails.
            eprintln!("xtask: bench {}: {e:#}", name.as_str());
            failed.push(name.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("bench(es) failed: {}", failed.join(", "));
    }
    Ok(())
}

impl BenchName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BenchName::Buf => "buf",
            BenchName::Parse => "parse",
            BenchName::Pool => "pool",
            BenchName::Server => "server",
            BenchName::Abuse => "abuse",
            BenchName::Files => "files",
            BenchName::Instr => "instr",
        }
    }
}

/// Builds binaries of the `brisk-benches` package (`brisk-load`,
/// `brisk-abuse`, the floors) in release mode, in one cargo run; returns
/// their paths in the same order.
pub(crate) fn build_bench_bins(bins: &[&str]) -> Result<Vec<std::path::PathBuf>> {
    use anyhow::Context as _;
    let mut cmd = crate::cargo();
    cmd.args(["build", "--release", "-p", "brisk-benches"]);
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    crate::run_cmd(&mut cmd).with_context(|| format!("building {}", bins.join(", ")))?;
    let release = crate::target_dir()?.join("release");
    Ok(bins.iter().map(|b| release.join(b)).collect())
}

/// [`build_bench_bins`] for one binary.
pub(crate) fn build_bench_bin(bin: &str) -> Result<std::path::PathBuf> {
    Ok(build_bench_bins(&[bin])?.remove(0))
}

/// Nanoseconds with precision that suits their size: `4.56`, `12.3`, `1234`.
pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.2}")
    } else if ns < 1000.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

/// A latency in nanoseconds with a unit that keeps it short: `850 ns`,
/// `12.3 us`, `4.56 ms`, `1.20 s`.
pub(crate) fn fmt_latency(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else {
        format!("{:.2} s", f / 1e9)
    }
}

/// A ratio with two decimals, or `n/a`.
pub(crate) fn fmt_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => format!("{r:.2}"),
        _ => "n/a".to_owned(),
    }
}

/// The time a bench run started, to reject estimate files left by older runs.
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(fmt_ns(4.5612), "4.56");
        assert_eq!(fmt_ns(12.34), "12.3");
        assert_eq!(fmt_ns(1234.4), "1234");
        assert_eq!(fmt_ratio(Some(1.416)), "1.42");
        assert_eq!(fmt_latency(850), "850 ns");
        assert_eq!(fmt_latency(12_340), "12.3 us");
        assert_eq!(fmt_latency(14_074_000), "14.07 ms");
        assert_eq!(fmt_latency(1_200_000_000), "1.20 s");
        assert_eq!(fmt_ratio(None), "n/a");
        assert_eq!(fmt_ratio(Some(f64::INFINITY)), "n/a");
    }
}

//! `cargo xtask bench server`: the brisk example server (one loop) and the
//! peers of `shared/peers`, each pinned to CPU 0 (in a CPU-quota cgroup when
//! possible), loaded by `brisk-load` pinned to CPU 1: plain keep-alive, then
//! pipelined. Reports requests/s, server CPU time per request and RSS, and
//! the ratios brisk/fasthttp and brisk/floor measured in the same run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::procs::{Cgroup, Server, cpu_count, free_port};
use super::{fmt_latency, fmt_ns, fmt_ratio};
use crate::flags::ServerOptions;
use crate::{cargo, project_root, run_cmd, show, target_dir};

/// Peers `--peers` accepts, in run order.
pub(crate) const PEER_NAMES: [&str; 5] = ["fasthttp", "floor", "hyper", "may", "actix"];

/// One scenario's numbers for one server.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    rps: f64,
    /// Server CPU (user + system) per request.
    cpu_ns: Option<f64>,
    p99_ns: u64,
    errors: u64,
}

/// One server's row.
struct Row {
    name: String,
    plain: Option<Scenario>,
    pipelined: Option<Scenario>,
    rss_kib: Option<u64>,
    note: String,
}

/// Where things run.
struct Setup<'a> {
    opts: &'a ServerOptions,
    load: PathBuf,
    logs: PathBuf,
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
    cgroup: Option<Cgroup>,
}

pub(crate) fn run(opts: &ServerOptions) -> Result<()> {
    let target = target_dir()?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "brisk-benches",
        "--bin",
        "brisk-load",
    ]))
    .context("building the load generator")?;
    let brisk = match run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "brisk",
        "--example",
        "hello",
    ])) {
        Ok(()) => Some(target.join("release/examples/hello")),
        Err(e) => {
            println!(
                "server: the brisk example server is not available ({e:#}); going on with the peers"
            );
            None
        }
    };
    let peers = peer_binaries(opts)?;

    let (server_cpu, load_cpu, pinning) = if cpu_count() >= 2 {
        (
            Some(0),
            Some(1),
            "servers on cpu 0, brisk-load on cpu 1".to_owned(),
        )
    } else {
        (None, None, "one CPU only: no pinning".to_owned())
    };
    let (cgroup, throttle) = if opts.unthrottled {
        (None, "unthrottled (--unthrottled)".to_owned())
    } else {
        match Cgroup::setup(opts.quota_us) {
            Ok(cg) => {
                let text = cg.describe(opts.quota_us);
                (Some(cg), text)
            }
            Err(why) => (None, format!("unthrottled, pinning only: {why}")),
        }
    };
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let setup = Setup {
        opts,
        load: target.join("release/brisk-load"),
        logs,
        server_cpu,
        load_cpu,
        cgroup,
    };
    println!(
        "server bench: {} connections, pipeline depth {}, {} s per scenario after {} s warm-up; {pinning}; {throttle}",
        opts.connections, opts.depth, opts.duration, opts.warmup
    );

    let mut rows = Vec::new();
    match &brisk {
        Some(path) => {
            let path = path.clone();
            rows.push(measure(&setup, "brisk", move |port| {
                let mut cmd = Command::new(&path);
                cmd.args(["--port", &port.to_string(), "--loops", "1"]);
                cmd
            }));
        }
        None => rows.push(Row {
            name: "brisk".to_owned(),
            plain: None,
            pipelined: None,
            rss_kib: None,
            note: "example not built".to_owned(),
        }),
    }
    for (name, path) in &peers {
        let path = path.clone();
        let name = *name;
        rows.push(measure(&setup, name, move |port| {
            let mut cmd = Command::new(&path);
            if name == "fasthttp" {
                cmd.args(["-addr", &format!("127.0.0.1:{port}")]);
            } else {
                cmd.arg(port.to_string());
            }
            cmd
        }));
    }
    drop(setup);

    print_table(&rows);
    println!("{}", cpu_line(&rows));
    println!("{}", summary_line(&rows));
    Ok(())
}

/// Finds the peers kit's binaries; `--peers` names must all be found.
fn peer_binaries(opts: &ServerOptions) -> Result<Vec<(&'static str, PathBuf)>> {
    let wanted: Vec<&'static str> = match &opts.peers {
        Some(list) => PEER_NAMES
            .iter()
            .copied()
            .filter(|p| list.iter().any(|l| l == p))
            .collect(),
        None => PEER_NAMES.to_vec(),
    };
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let dirs = peer_dirs();
    let Some(dir) = dirs
        .iter()
        .find(|d| PEER_NAMES.iter().any(|p| binary(d, p).is_file()))
    else {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        let msg = format!(
            "no peers built (looked in {}); build them with shared/peers/setup.sh",
            looked.join(", ")
        );
        if opts.peers.is_some() {
            bail!("{msg}");
        }
        println!("server: {msg}; measuring brisk alone");
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for name in wanted {
        let path = binary(dir, name);
        if path.is_file() {
            found.push((name, path));
        } else if opts.peers.is_some() {
            bail!(
                "peer {name} is not built: {} is missing (run shared/peers/setup.sh)",
                path.display()
            );
        } else {
            println!(
                "server: peer {name} not built ({} missing), skipped",
                path.display()
            );
        }
    }
    Ok(found)
}

/// Candidate build folders of the peers kit, as `shared/peers/bench.sh` finds them.
fn peer_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PEERS_BUILD") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(project_root().join("../shared/peers/build"));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(cache) = cache {
        dirs.push(cache.join("brisk-peers"));
    }
    dirs
}

fn binary(dir: &Path, peer: &str) -> PathBuf {
    dir.join(format!("{peer}_server"))
}

/// Starts one server, runs warm-up, plain and pipelined load, stops it.
/// Failures become the row's note, so one broken server does not stop the run.
fn measure(setup: &Setup, name: &str, command: impl Fn(u16) -> Command) -> Row {
    let mut row = Row {
        name: name.to_owned(),
        plain: None,
        pipelined: None,
        rss_kib: None,
        note: String::new(),
    };
    if let Err(e) = measure_into(setup, &mut row, command) {
        eprintln!("server: {name}: {e:#}");
        row.note = first_line(&format!("{e:#}"));
    }
    let shown =
        |s: Option<Scenario>| s.map_or_else(|| "n/a".to_owned(), |s| format!("{:.0}", s.rps));
    println!(
        "# {name}: plain {} req/s, pipelined {} req/s",
        shown(row.plain),
        shown(row.pipelined)
    );
    row
}

fn measure_into(setup: &Setup, row: &mut Row, command: impl Fn(u16) -> Command) -> Result<()> {
    let port = free_port()?;
    let log = setup.logs.join(format!("{}.log", row.name));
    let mut server = Server::start(
        &row.name,
        command(port),
        &log,
        setup.server_cpu,
        setup.cgroup.as_ref(),
    )?;
    server.wait_ready(port, std::time::Duration::from_secs(10))?;
    let opts = setup.opts;
    if opts.warmup > 0.0 {
        load(setup, port, opts.warmup, 1).context("warm-up")?;
    }
    row.plain = Some(scenario(setup, &server, port, 1).context("plain scenario")?);
    row.pipelined = Some(scenario(setup, &server, port, opts.depth).context("pipelined scenario")?);
    row.rss_kib = server.rss_kib().ok();
    if !server.alive() {
        bail!("{} died during the run", row.name);
    }
    let errors: u64 = [row.plain, row.pipelined]
        .iter()
        .flatten()
        .map(|s| s.errors)
        .sum();
    if errors > 0 {
        row.note = format!("{errors} errors");
    }
    Ok(())
}

fn scenario(setup: &Setup, server: &Server, port: u16, depth: usize) -> Result<Scenario> {
    let before = server.cpu_time()?;
    let report = load(setup, port, setup.opts.duration, depth)?;
    let after = server.cpu_time()?;
    let requests = report["requests"]
        .as_u64()
        .context("report has no requests")?;
    let cpu = after.saturating_sub(before).as_nanos() as f64;
    Ok(Scenario {
        rps: report["requests_per_sec"]
            .as_f64()
            .context("report has no requests_per_sec")?,
        cpu_ns: (requests > 0).then(|| cpu / requests as f64),
        p99_ns: report["latency_ns"]["p99"].as_u64().unwrap_or(0),
        errors: report["errors"]["total"].as_u64().unwrap_or(0),
    })
}

/// Runs brisk-load against `port` and returns its JSON report.
fn load(setup: &Setup, port: u16, secs: f64, depth: usize) -> Result<serde_json::Value> {
    let mut cmd = Command::new(&setup.load);
    cmd.args([
        "--json",
        "-c",
        &setup.opts.connections.to_string(),
        "-d",
        &format!("{secs}"),
    ]);
    cmd.args(["-p", &depth.to_string()]);
    if let Some(cpu) = setup.load_cpu {
        cmd.args(["--cpus", &cpu.to_string()]);
    }
    cmd.arg(format!("http://127.0.0.1:{port}/"));
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            show(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last)
        .with_context(|| format!("brisk-load printed no JSON report: {last:?}"))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<10} {:>12} {:>10} {:>10} {:>14} {:>10} {:>10} {:>9}  notes",
        "server", "plain req/s", "cpu/req", "p99", "pipelined r/s", "cpu/req", "p99", "rss"
    );
    for row in rows {
        let cells = |s: Option<Scenario>| match s {
            Some(s) => (
                format!("{:.0}", s.rps),
                s.cpu_ns
                    .map_or_else(|| "n/a".to_owned(), |ns| format!("{} ns", fmt_ns(ns))),
                fmt_latency(s.p99_ns),
            ),
            None => ("n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned()),
        };
        let (pr, pc, pl) = cells(row.plain);
        let (qr, qc, ql) = cells(row.pipelined);
        let rss = row.rss_kib.map_or_else(
            || "n/a".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        );
        println!(
            "{:<10} {pr:>12} {pc:>10} {pl:>10} {qr:>14} {qc:>10} {ql:>10} {rss:>9}  {}",
            row.name, row.note
        );
    }
}

/// brisk's value over `peer`'s for one scenario.
fn ratio(rows: &[Row], peer: &str, pick: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
    let find = |name: &str| rows.iter().find(|r| r.name == name).and_then(&pick);
    match (find("brisk"), find(peer)) {
        (Some(b), Some(p)) if p > 0.0 => Some(b / p),
        _ => None,
    }
}

fn rps(s: Option<Scenario>) -> Option<f64> {
    s.map(|s| s.rps)
}

fn cpu(s: Option<Scenario>) -> Option<f64> {
    s.and_then(|s| s.cpu_ns)
}

/// Server CPU per request, brisk over the peers (lower is better).
fn cpu_line(rows: &[Row]) -> String {
    let r = |peer: &str, pipelined: bool| {
        fmt_ratio(ratio(rows, peer, |row| {
            cpu(if pipelined { row.pipelined } else { row.plain })
        }))
    };
    format!(
        "server cpu/request: brisk/fasthttp plain {}, pipelined {}; brisk/floor plain {}, pipelined {}",
        r("fasthttp", false),
        r("fasthttp", true),
        r("floor", false),
        r("floor", true)
    )
}

/// The last line: requests/s of brisk over fasthttp and over the floor.
fn summary_line(rows: &[Row]) -> String {
    let r = |peer: &str, pipelined: bool| {
        fmt_ratio(ratio(rows, peer, |row| {
            rps(if pipelined { row.pipelined } else { row.plain })
        }))
    };
    format!(
        "server: brisk/fasthttp plain {}, pipelined {}; brisk/floor plain {}, pipelined {}",
        r("fasthttp", false),
        r("fasthttp", true),
        r("floor", false),
        r("floor", true)
    )
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, plain: Option<f64>, pipelined: Option<f64>) -> Row {
        let s = |rps: f64| Scenario {
            rps,
            cpu_ns: Some(1e9 / rps),
            p99_ns: 1000,
            errors: 0,
        };
        Row {
            name: name.to_owned(),
            plain: plain.map(s),
            pipelined: pipelined.map(s),
            rss_kib: None,
            note: String::new(),
        }
    }

    #[test]
    fn summary_ratios_and_missing_peers() {
        let rows = vec![
            row("brisk", Some(90.0), Some(300.0)),
            row("fasthttp", Some(100.0), Some(200.0)),
        ];
        assert_eq!(
            summary_line(&rows),
            "server: brisk/fasthttp plain 0.90, pipelined 1.50; brisk/floor plain n/a, pipelined n/a"
        );
        assert_eq!(
            cpu_line(&rows),
            "server cpu/request: brisk/fasthttp plain 1.11, pipelined 0.67; brisk/floor plain n/a, pipelined n/a"
        );
        let rows = vec![row("brisk", None, None), row("floor", Some(1.0), Some(1.0))];
        assert_eq!(
            summary_line(&rows),
            "server: brisk/fasthttp plain n/a, pipelined n/a; brisk/floor plain n/a, pipelined n/a"
        );
    }

    #[test]
    fn peer_dirs_follow_bench_sh() {
        let dirs = peer_dirs();
        assert!(dirs.iter().any(|d| d.ends_with("shared/peers/build")));
    }
}

//! `cargo xtask bench server`: the end-to-end matrix. The brisk example
//! server (one loop) and the peers of `shared/peers` (fasthttp, the raw
//! epoll floor, hyper, may_minihttp, actix-web, nginx), each pinned to CPU 0
//! (in a CPU-quota cgroup when possible), loaded by `brisk-load` (or wrk)
//! pinned to CPU 1, scenario after scenario: plain keep-alive, pipelined,
//! many connections, a connection per request, then memory per idle
//! connection. Reports requests/s, server CPU time per request and RSS with
//! ratios to fasthttp and the floor in `target/bench/report.md` (also
//! printed) and a bar chart in `target/bench/report.svg`; the last line is
//! `bench: brisk/fasthttp plain R1, pipelined R2; brisk/floor plain F1, pipelined F2`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::idle;
use super::load::{Generator, Run};
use super::procs::{Cgroup, Server, cpu_count, free_port, raise_nofile_limit};
use super::report::{self, Load, ServerResult, fmt_bytes, label};
use super::svg::{self, Panel, short_count};
use crate::flags::{Client, ScenarioName, ServerOptions};
use crate::{cargo, project_root, run_cmd, target_dir};

/// Peers `--peers` accepts, in run order.
pub(crate) const PEER_NAMES: [&str; 7] = [
    "fasthttp",
    "floor",
    "uring-floor",
    "hyper",
    "may",
    "actix",
    "nginx",
];

/// How to start a peer on a port.
enum Peer {
    /// A binary of the peers kit taking the port as its argument (fasthttp: `-addr`).
    Binary(PathBuf),
    /// nginx with a config made from the kit's `nginx.conf`.
    Nginx { nginx: PathBuf, template: PathBuf },
}

/// Where things run.
struct Setup<'a> {
    opts: &'a ServerOptions,
    generator: Generator,
    logs: PathBuf,
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
    cgroup: Option<Cgroup>,
}

pub(crate) fn run(opts: &ServerOptions) -> Result<()> {
    // The TLS scenario has servers and a report of its own (bench/tls.rs).
    let with_tls = opts.scenarios.contains(&ScenarioName::Tls);
    let matrix = ServerOptions {
        scenarios: opts
            .scenarios
            .iter()
            .copied()
            .filter(|s| *s != ScenarioName::Tls)
            .collect(),
        ..opts.clone()
    };
    if !matrix.scenarios.is_empty() {
        run_matrix(&matrix)?;
    }
    if with_tls {
        run_tls(opts)?;
    }
    Ok(())
}

/// The `tls` scenario, pinned and throttled like the matrix.
fn run_tls(opts: &ServerOptions) -> Result<()> {
    let target = target_dir()?;
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let (server_cpu, load_cpu) = if cpu_count() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let cgroup = if opts.unthrottled {
        None
    } else {
        Cgroup::setup(opts.quota_us).ok()
    };
    raise_nofile_limit(8192);
    let place = super::tls::Place {
        logs: &logs,
        server_cpu,
        load_cpu,
        cgroup: cgroup.as_ref(),
    };
    let md = super::tls::run(opts, &place)?;
    let out_dir = target.join("bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join("tls.md");
    fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    println!("server: wrote {}\n\n{md}", path.display());
    Ok(())
}

fn run_matrix(opts: &ServerOptions) -> Result<()> {
    let target = target_dir()?;
    super::build_bench_bins(&["brisk-load", "uring-floor"])?;
    let mut brisk = Vec::new();
    for backend in &opts.backends {
        brisk.push(match build_hello(&target, backend) {
            Ok(path) => Ok(path),
            Err(e) => {
                println!(
                    "server: the brisk example server ({backend}) is not available ({e:#}); going on with the others"
                );
                Err(format!("example not built: {e:#}"))
            }
        });
    }
    let generator = match opts.client {
        Client::BriskLoad => Generator::BriskLoad(target.join("release/brisk-load")),
        Client::Wrk => {
            if find_program("wrk").is_none() {
                bail!("--client wrk: wrk is not installed (shared/peers/setup.sh installs it)");
            }
            let script = kit_dir().join("pipeline.lua");
            if !script.is_file() {
                bail!("--client wrk: {} is missing", script.display());
            }
            Generator::Wrk { script }
        }
    };
    let peers = find_peers(opts, &target)?;

    let (server_cpu, load_cpu, pinning) = if cpu_count() >= 2 {
        (
            Some(0),
            Some(1),
            format!("servers on cpu 0, {} on cpu 1", generator.name()),
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
    let wanted_files = files_needed(opts);
    let nofile = raise_nofile_limit(wanted_files);
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let out_dir = target.join("bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    let scenarios: Vec<&str> = opts.scenarios.iter().map(|s| s.as_str()).collect();
    let setup_lines = vec![
        machine(),
        format!("{pinning}; {throttle}"),
        format!(
            "load generator {}: {} s per load scenario after {} s of warm-up; scenarios {}; {}",
            generator.name(),
            opts.duration,
            opts.warmup,
            scenarios.join(", "),
            if opts.rounds > 1 {
                format!(
                    "{} rounds (each scenario on every server back to back), each cell the median round",
                    opts.rounds
                )
            } else {
                "one round".to_owned()
            }
        ),
        format!("open-file limit {nofile} for the bench and the servers (wanted {wanted_files})"),
    ];
    for line in &setup_lines {
        println!("server bench: {line}");
    }
    let setup = Setup {
        opts,
        generator,
        logs,
        server_cpu,
        load_cpu,
        cgroup,
    };

    // Every server is started once and stays up for all rounds; each round
    // runs each scenario on every server back to back, so the runs compared
    // in a ratio are seconds apart (this shared machine's speed drifts by
    // tens of percent over a minute). Idle servers cost nothing.
    let mut live: Vec<Live> = Vec::new();
    for (backend, brisk) in opts.backends.iter().zip(&brisk) {
        // `brisk` is the epoll loop (the name the ratios have always used).
        let name = match backend.as_str() {
            "uring" => "brisk-uring",
            _ => "brisk",
        };
        live.push(match brisk {
            Ok(path) => Live::start(&setup, name, |port| {
                let mut cmd = Command::new(path);
                cmd.args(["--port", &port.to_string(), "--loops", "1"]);
                cmd.args(["--backend", backend]);
                Ok(cmd)
            }),
            Err(why) => Live::missing(name, why.clone()),
        });
    }
    for (name, peer) in &peers {
        live.push(match peer {
            Ok(peer) => Live::start(&setup, name, |port| peer_command(&setup, name, peer, port)),
            Err(why) => Live::missing(name, why.clone()),
        });
    }
    let mut rounds = Vec::new();
    for round in 1..=opts.rounds {
        if opts.rounds > 1 {
            println!("server: round {round} of {}", opts.rounds);
        }
        let mut results: Vec<ServerResult> = live.iter().map(Live::result).collect();
        for &scenario in &opts.scenarios {
            // Memory per idle connection is RSS growth: only a server that
            // has not held idle connections before shows it (allocators keep
            // what they got), so it is measured in the first round.
            if scenario == ScenarioName::Idle && round > 1 {
                continue;
            }
            for (l, r) in live.iter_mut().zip(results.iter_mut()) {
                l.measure(&setup, scenario, r);
            }
        }
        for (l, r) in live.iter_mut().zip(results.iter_mut()) {
            l.check_alive(r);
            print_result(r);
        }
        rounds.push(results);
    }
    drop(live);
    let results = report::median_of(rounds.clone());
    drop(setup);

    let md = report::markdown(opts, &setup_lines, &rounds);
    let md_path = out_dir.join("report.md");
    fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    let svg_path = out_dir.join("report.svg");
    fs::write(&svg_path, chart(opts, &setup_lines, &results))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    println!(
        "server: wrote {} and {}\n",
        md_path.display(),
        svg_path.display()
    );
    // The report ends with the summary line, so it is the last line printed.
    print!("{md}");
    Ok(())
}

/// Open files the bench needs: its idle connections, or brisk-load's.
fn files_needed(opts: &ServerOptions) -> u64 {
    let mut conns = opts.connections.max(opts.many_connections);
    if opts.scenarios.contains(&ScenarioName::Idle) {
        conns = conns.max(opts.idle_conns);
    }
    conns as u64 + 1024
}

/// CPUs, model, kernel and load: what the numbers were measured on.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU");
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {} CPUs ({model}), Linux {}, load average {} at the start",
        cpu_count(),
        kernel.trim(),
        load.join(" ")
    )
}

/// The bar chart: requests/s per load scenario, bytes per idle connection.
fn chart(opts: &ServerOptions, setup: &[String], results: &[ServerResult]) -> String {
    let names: Vec<String> = results.iter().map(|r| r.name.clone()).collect();
    let mut panels = Vec::new();
    for &s in &opts.scenarios {
        if s == ScenarioName::Idle {
            panels.push(Panel {
                title: label(opts, s),
                unit: "RSS bytes per idle connection (lower is better)".to_owned(),
                values: results.iter().map(ServerResult::idle_bytes).collect(),
                format: fmt_bytes,
            });
        } else {
            panels.push(Panel {
                title: label(opts, s),
                unit: "requests/s (higher is better)".to_owned(),
                values: results.iter().map(|r| r.load(s).map(|l| l.rps)).collect(),
                format: short_count,
            });
        }
    }
    let subtitle = setup.get(1).cloned().unwrap_or_default();
    svg::chart(
        "brisk (1 loop) vs peers: cargo xtask bench server",
        &subtitle,
        &names,
        &panels,
    )
}

/// Finds every wanted peer; with `--peers`, a missing one is an error,
/// otherwise it becomes a row saying why it is missing.
fn find_peers(
    opts: &ServerOptions,
    target: &Path,
) -> Result<Vec<(&'static str, Result<Peer, String>)>> {
    let wanted: Vec<&'static str> = match &opts.peers {
        Some(list) => PEER_NAMES
            .iter()
            .copied()
            .filter(|p| list.iter().any(|l| l == p))
            .collect(),
        None => PEER_NAMES.to_vec(),
    };
    let dirs = peer_dirs();
    let dir = dirs
        .iter()
        .find(|d| PEER_NAMES.iter().any(|p| binary(d, p).is_file()));
    let mut found = Vec::new();
    for name in wanted {
        let peer = if name == "uring-floor" {
            // Built with the load generator, from benches/.
            let path = target.join("release/uring-floor");
            if path.is_file() {
                Ok(Peer::Binary(path))
            } else {
                Err(format!("not built: {} is missing", path.display()))
            }
        } else if name == "nginx" {
            let template = kit_dir().join("nginx.conf");
            match find_program("nginx") {
                Some(nginx) if template.is_file() => Ok(Peer::Nginx { nginx, template }),
                Some(_) => Err(format!("{} is missing", template.display())),
                None => {
                    Err("nginx is not installed (shared/peers/setup.sh installs it)".to_owned())
                }
            }
        } else {
            match dir {
                Some(dir) if binary(dir, name).is_file() => Ok(Peer::Binary(binary(dir, name))),
                Some(dir) => Err(format!(
                    "not built: {} is missing (run shared/peers/setup.sh)",
                    binary(dir, name).display()
                )),
                None => {
                    let looked: Vec<String> =
                        dirs.iter().map(|d| d.display().to_string()).collect();
                    Err(format!(
                        "no peers built (looked in {}); build them with shared/peers/setup.sh",
                        looked.join(", ")
                    ))
                }
            }
        };
        if let Err(why) = &peer {
            if opts.peers.is_some() {
                bail!("peer {name}: {why}");
            }
            println!("server: peer {name} skipped: {why}");
        }
        found.push((name, peer));
    }
    Ok(found)
}

/// The peers kit (`shared/peers` next to this repository).
/// Builds the `hello` example for `backend` (`epoll`: the default build,
/// without the io_uring loop in it; `uring`: with the `uring` feature) and
/// copies it to `target/bench/hello-BACKEND`, so both can run side by side.
pub(crate) fn build_hello(target: &Path, backend: &str) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "brisk", "--example", "hello"]);
    if backend == "uring" {
        cmd.args(["--features", "uring"]);
    }
    run_cmd(&mut cmd)?;
    let dir = target.join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let to = dir.join(format!("hello-{backend}"));
    fs::copy(target.join("release/examples/hello"), &to)
        .with_context(|| format!("copying hello to {}", to.display()))?;
    Ok(to)
}

pub(crate) fn kit_dir() -> PathBuf {
    project_root().join("../shared/peers")
}

/// Candidate build folders of the peers kit, as `shared/peers/bench.sh` finds them.
pub(crate) fn peer_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PEERS_BUILD") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(kit_dir().join("build"));
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

/// `name` in `PATH` or the usual sbin folders (nginx lives in /usr/sbin).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The command that starts `peer` on `port`.
fn peer_command(setup: &Setup, name: &str, peer: &Peer, port: u16) -> Result<Command> {
    match peer {
        Peer::Binary(path) => {
            let mut cmd = Command::new(path);
            if name == "fasthttp" {
                cmd.args(["-addr", &format!("127.0.0.1:{port}")]);
            } else {
                cmd.arg(port.to_string());
            }
            Ok(cmd)
        }
        Peer::Nginx { nginx, template } => {
            let text = fs::read_to_string(template)
                .with_context(|| format!("reading {}", template.display()))?;
            let prefix = setup.logs.join("nginx");
            fs::create_dir_all(&prefix)
                .with_context(|| format!("creating {}", prefix.display()))?;
            let conf = prefix.join("nginx.conf");
            let connections = files_needed(setup.opts) as usize;
            fs::write(&conf, nginx_config(&text, port, connections)?)
                .with_context(|| format!("writing {}", conf.display()))?;
            let mut cmd = Command::new(nginx);
            cmd.arg("-p")
                .arg(format!("{}/", prefix.display()))
                .args(["-e", "stderr", "-c"])
                .arg(&conf);
            Ok(cmd)
        }
    }
}

/// The kit's nginx config listening on `port`, with room for `connections`
/// connections (worker_connections and the worker's open-file limit).
fn nginx_config(template: &str, port: u16, connections: usize) -> Result<String> {
    let mut listens = 0;
    let mut out = String::with_capacity(template.len() + 64);
    for line in template.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix("listen ") {
            // `listen 127.0.0.1:8085 backlog=4096;` -> the bench's port.
            let (addr, options) = rest.split_once([' ', ';']).unwrap_or((rest, ""));
            let host = addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            let sep = if rest[addr.len()..].starts_with(';') {
                ";"
            } else {
                " "
            };
            out.push_str(&format!("{indent}listen {host}:{port}{sep}{options}\n"));
            listens += 1;
        } else if trimmed.starts_with("worker_connections ") {
            let n = connections.max(4096);
            out.push_str(&format!("{indent}worker_connections {n};\n"));
        } else if trimmed.starts_with("worker_processes ") {
            out.push_str(line);
            out.push('\n');
            let n = connections.max(4096) + 64;
            out.push_str(&format!("{indent}worker_rlimit_nofile {n};\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if listens != 1 {
        bail!("nginx.conf: expected one `listen` line, found {listens}");
    }
    Ok(out)
}

/// A server under test for the whole run (stopped when dropped), or why
/// it is not there. Failures become notes, so one broken server does not
/// stop the run.
struct Live {
    name: String,
    server: Option<(Server, u16)>,
    note: Option<String>,
}

impl Live {
    /// Starts a server, waits until it answers, confines it and warms it up.
    fn start(setup: &Setup, name: &str, command: impl FnOnce(u16) -> Result<Command>) -> Live {
        match Live::try_start(setup, name, command) {
            Ok(server) => Live {
                name: name.to_owned(),
                server: Some(server),
                note: None,
            },
            Err(e) => {
                eprintln!("server: {name}: {e:#}");
                Live::missing(
                    name,
                    format!("{e:#}").lines().next().unwrap_or("").to_owned(),
                )
            }
        }
    }

    fn missing(name: &str, why: String) -> Live {
        Live {
            name: name.to_owned(),
            server: None,
            note: Some(why),
        }
    }

    fn try_start(
        setup: &Setup,
        name: &str,
        command: impl FnOnce(u16) -> Result<Command>,
    ) -> Result<(Server, u16)> {
        let opts = setup.opts;
        let port = free_port()?;
        let log = setup.logs.join(format!("{name}.log"));
        let mut server = Server::start(
            name,
            command(port)?,
            &log,
            setup.server_cpu,
            setup.cgroup.as_ref(),
        )?;
        server.wait_ready(port, Duration::from_secs(10))?;
        if let Some(cgroup) = &setup.cgroup {
            server.confine_tree(cgroup)?;
        }
        if opts.warmup > 0.0 {
            let warm = Run {
                port,
                secs: opts.warmup,
                connections: opts.connections,
                depth: 1,
                close: false,
            };
            setup
                .generator
                .run(&warm, setup.load_cpu)
                .context("warm-up")?;
        }
        Ok((server, port))
    }

    /// An empty result for one round.
    fn result(&self) -> ServerResult {
        match &self.note {
            Some(why) if self.server.is_none() => ServerResult::missing(&self.name, why.clone()),
            _ => ServerResult {
                name: self.name.clone(),
                loads: Vec::new(),
                idle: None,
                note: None,
            },
        }
    }

    /// Runs one scenario on this server into `result`.
    fn measure(&mut self, setup: &Setup, scenario: ScenarioName, result: &mut ServerResult) {
        let Some((server, port)) = &mut self.server else {
            return;
        };
        let opts = setup.opts;
        let port = *port;
        let run = |connections: usize, depth: usize, close: bool, secs: f64| Run {
            port,
            secs,
            connections,
            depth,
            close,
        };
        let load = match scenario {
            ScenarioName::Plain => run(opts.connections, 1, false, opts.duration),
            ScenarioName::Pipelined => run(opts.connections, opts.depth, false, opts.duration),
            ScenarioName::Many => run(opts.many_connections, 1, false, opts.duration),
            ScenarioName::Close => run(opts.connections, 1, true, opts.duration),
            // Not a matrix scenario: `run` hands it to `tls::run`.
            ScenarioName::Tls => return,
            ScenarioName::Idle => {
                // Connections of the load scenarios are gone by now (brisk-load
                // resets them); let the server notice before the baseline.
                thread::sleep(Duration::from_millis(500));
                let idle =
                    idle::measure(server, port, opts.idle_conns).map_err(|e| format!("{e:#}"));
                result.idle = Some(idle);
                return;
            }
        };
        if !server.alive() {
            result
                .loads
                .push((scenario, Err("the server died earlier".to_owned())));
            return;
        }
        let measured = scenario_load(setup, server, &load).map_err(|e| format!("{e:#}"));
        if let Err(e) = &measured {
            eprintln!("server: {} {}: {e}", self.name, scenario.as_str());
        }
        result.loads.push((scenario, measured));
    }

    /// Notes a server that died during the round (it stays dead).
    fn check_alive(&mut self, result: &mut ServerResult) {
        let died = match &mut self.server {
            Some((server, _)) => !server.alive(),
            None => false,
        };
        if died {
            let why = format!("{} died during the run", self.name);
            eprintln!("server: {why}");
            result.note = Some(why.clone());
            self.note = Some(why);
            self.server = None;
        }
    }
}

/// The one-line summary of a server's round.
fn print_result(result: &ServerResult) {
    let mut shown = Vec::new();
    for (s, r) in &result.loads {
        shown.push(match r {
            Ok(l) => format!("{} {:.0} req/s", s.as_str(), l.rps),
            Err(_) => format!("{} failed", s.as_str()),
        });
    }
    if let Some(idle) = &result.idle {
        shown.push(match idle.as_ref().ok().and_then(|i| i.bytes_per_conn()) {
            Some(b) => format!("idle {} per conn", fmt_bytes(b)),
            None => "idle failed".to_owned(),
        });
    }
    if let Some(note) = &result.note {
        shown.push(note.clone());
    }
    println!("# {}: {}", result.name, shown.join(", "));
}

/// One load scenario: the generator's numbers plus the server's CPU and RSS.
fn scenario_load(setup: &Setup, server: &Server, load: &Run) -> Result<Load> {
    let before = server.cpu_time()?;
    let outcome = setup.generator.run(load, setup.load_cpu)?;
    let after = server.cpu_time()?;
    let cpu = after.saturating_sub(before).as_nanos() as f64;
    Ok(Load {
        rps: outcome.rps,
        cpu_ns: (outcome.requests > 0).then(|| cpu / outcome.requests as f64),
        p99_ns: outcome.p99_ns,
        errors: outcome.errors,
        rss_kib: server.tree_rss_kib().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_dirs_follow_bench_sh() {
        let dirs = peer_dirs();
        assert!(dirs.iter().any(|d| d.ends_with("shared/peers/build")));
    }

    #[test]
    fn nginx_config_listens_on_the_bench_port() {
        let template = "\
worker_processes 1;
daemon off;
events {
    worker_connections 4096;
}
http {
    server {
        listen 127.0.0.1:8085 backlog=4096;
    }
}
";
        let conf = nginx_config(template, 40123, 11_024).unwrap();
        assert!(
            conf.contains("        listen 127.0.0.1:40123 backlog=4096;\n"),
            "{conf}"
        );
        assert!(conf.contains("    worker_connections 11024;\n"));
        assert!(conf.contains("worker_processes 1;\nworker_rlimit_nofile 11088;\n"));
        assert!(!conf.contains("8085"));
        let plain = nginx_config("listen 127.0.0.1:8085;\n", 9, 10).unwrap();
        assert_eq!(plain, "listen 127.0.0.1:9;\n");
        assert!(nginx_config("worker_processes 1;\n", 9, 10).is_err());
    }

    #[test]
    fn the_kits_nginx_config_converts() {
        let template = kit_dir().join("nginx.conf");
        let Ok(text) = fs::read_to_string(&template) else {
            return; // the peers kit is not next to this checkout
        };
        let conf = nginx_config(&text, 40123, 100).unwrap();
        assert!(conf.contains("listen 127.0.0.1:40123"));
    }

    #[test]
    fn open_files_cover_the_idle_connections() {
        let crate::flags::Command::Bench(b) =
            crate::flags::parse(["bench", "server", "--idle-conns", "20000"].map(String::from))
                .unwrap()
        else {
            panic!("not bench")
        };
        assert_eq!(files_needed(&b.server), 21_024);
    }
}

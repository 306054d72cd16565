//! `cargo xtask bench abuse`: abusive clients against brisk and the peers.
//!
//! Four scenarios, each against a freshly started server pinned to CPU 0,
//! driven by `brisk-abuse` (benches/) pinned to CPU 1:
//! - `slowloris`: N clients trickle an endless head at 1 byte/s while a
//!   normal client makes a request (on a new connection) every 10 ms;
//! - `pipeliners`: N clients write pipelined GETs and never read, with the
//!   normal client alongside; the server is killed if its RSS passes the cap;
//! - `fd`: the server runs with RLIMIT_NOFILE lowered (`prlimit`); the client
//!   opens idle connections past the limit, runs the normal client, closes
//!   them, and the server's idle CPU and log size are measured afterwards;
//! - `heads`: one request each with an 8 KiB, 64 KiB, 1 MiB and 16 MiB
//!   header value: the answer and the memory growth.
//!
//! Memory is the server's process tree's `VmRSS` (nginx has a master and a
//! worker): before, after, and the peak (`VmHWM` after resetting it through
//! `/proc/<pid>/clear_refs`, and 50 ms samples). Results go to the terminal,
//! `target/bench/abuse.md` (Markdown) and `target/bench/abuse.json` (the
//! client's raw reports).
//!
//! With `--tls`, the slowloris and fd scenarios run against brisk's TLS
//! port instead (see the `tls` submodule).

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use super::fmt_latency;
use super::procs::{Server, cpu_count, free_port, status_kib};
use super::server::{find_program, kit_dir, peer_dirs};
use crate::{show, target_dir};

mod tls;

const HELP: &str = "\
usage: cargo xtask bench abuse [options]

Runs abusive clients (brisk-abuse) against brisk's example server and the
peers of shared/peers, one fresh server per scenario, server on CPU 0 and
client on CPU 1, and writes a Markdown report to target/bench/abuse.md.

options:
  --servers LIST     comma-separated, from: brisk,brisk-uring,fasthttp,floor,hyper,
                     may,actix,nginx (default: all that are built; named ones must
                     exist); brisk-uring is brisk's example on the io_uring loop
  --scenarios LIST   comma-separated, from: slowloris,pipeliners,fd,heads (default: all)
  --clients N        slow / non-reading clients (default 2000)
  --duration SECS    normal-client time in slowloris and pipeliners; fd uses half
                     (default 14: brisk cuts slow heads after 10 s)
  --fd-limit N       RLIMIT_NOFILE of the server in the fd scenario (default 1024);
                     the client opens N + 1000 idle connections
  --rss-cap-mib N    kill a server whose RSS passes N MiB (default 4096)
  --tls              run slowloris and fd against brisk's TLS port (hello built
                     with --features tls): handshaken slow clients and stalled
                     ClientHellos; brisk only, needs wrk and openssl
  -h, --help         this text

Default run: about 6 minutes for brisk and six peers (2 CPUs).
Dev run: cargo xtask bench abuse --servers brisk --clients 200 --duration 3
";

/// Every server the bench knows, in run order.
const SERVER_NAMES: [&str; 8] = [
    "brisk",
    "brisk-uring",
    "fasthttp",
    "floor",
    "hyper",
    "may",
    "actix",
    "nginx",
];

/// Header value sizes of the `heads` scenario.
const HEAD_SIZES: [usize; 4] = [8 << 10, 64 << 10, 1 << 20, 16 << 20];

/// Requests made before a scenario's memory baseline, so that lazily built
/// state (pools, caches) is not counted as growth.
const WARMUP_REQUESTS: usize = 20;

/// A scenario of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Slowloris,
    Pipeliners,
    Fd,
    Heads,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::Slowloris,
    Scenario::Pipeliners,
    Scenario::Fd,
    Scenario::Heads,
];

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Slowloris => "slowloris",
            Scenario::Pipeliners => "pipeliners",
            Scenario::Fd => "fd",
            Scenario::Heads => "heads",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        SCENARIOS.into_iter().find(|sc| sc.as_str() == s)
    }
}

/// The bench's options.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    /// `None`: every server that is built.
    servers: Option<Vec<String>>,
    scenarios: Vec<Scenario>,
    clients: usize,
    duration: f64,
    fd_limit: u64,
    rss_cap_mib: u64,
    /// Against brisk's TLS port (slowloris and fd only).
    tls: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            servers: None,
            scenarios: SCENARIOS.to_vec(),
            clients: 2000,
            duration: 14.0,
            fd_limit: 1024,
            rss_cap_mib: 4096,
            tls: false,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Parsed {
    Help,
    Run(Options),
}

/// Parses the arguments after `abuse` (`--flag value` or `--flag=value`).
fn parse(args: &[String]) -> Result<Parsed> {
    let mut opts = Options::default();
    let mut scenarios_given = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => bail!("{flag} needs a value"),
            }
        };
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--servers" => {
                let list = split_list(&value()?);
                for name in &list {
                    if !SERVER_NAMES.contains(&name.as_str()) {
                        bail!(
                            "--servers: unknown server `{name}` (available: {})",
                            SERVER_NAMES.join(", ")
                        );
                    }
                }
                if list.is_empty() {
                    bail!("--servers: empty list");
                }
                opts.servers = Some(list);
            }
            "--scenarios" => {
                scenarios_given = true;
                let mut list = Vec::new();
                for name in split_list(&value()?) {
                    let Some(sc) = Scenario::parse(&name) else {
                        bail!(
                            "--scenarios: unknown scenario `{name}` (available: slowloris, pipeliners, fd, heads)"
                        );
                    };
                    if !list.contains(&sc) {
                        list.push(sc);
                    }
                }
                if list.is_empty() {
                    bail!("--scenarios: empty list");
                }
                // Run order is fixed, whatever the order given.
                opts.scenarios = SCENARIOS.into_iter().filter(|s| list.contains(s)).collect();
            }
            "--clients" => opts.clients = number(flag, &value()?)?,
            "--duration" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .with_context(|| format!("--duration: want seconds in (0, 3600], got `{v}`"))?;
                opts.duration = secs;
            }
            "--fd-limit" => opts.fd_limit = number(flag, &value()?)?,
            "--rss-cap-mib" => opts.rss_cap_mib = number(flag, &value()?)?,
            "--tls" => {
                if inline.is_some() {
                    bail!("--tls takes no value");
                }
                opts.tls = true;
            }
            other => bail!("unknown option `{other}`; try `cargo xtask bench abuse --help`"),
        }
    }
    if opts.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if opts.fd_limit < 64 {
        bail!("--fd-limit must be at least 64");
    }
    if opts.rss_cap_mib == 0 {
        bail!("--rss-cap-mib must be at least 1");
    }
    if opts.tls {
        if let Some(list) = opts
            .servers
            .as_ref()
            .filter(|l| l.iter().any(|s| s != "brisk"))
        {
            bail!(
                "--tls runs brisk only (the peers have no TLS build here); drop `{}` from --servers",
                list.iter()
                    .filter(|s| *s != "brisk")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        opts.servers = Some(vec!["brisk".to_owned()]);
        let tls_scenarios = [Scenario::Slowloris, Scenario::Fd];
        if !scenarios_given {
            opts.scenarios = tls_scenarios.to_vec();
        } else if let Some(other) = opts.scenarios.iter().find(|s| !tls_scenarios.contains(s)) {
            bail!(
                "--tls: scenario `{}` is not run over TLS (available: slowloris, fd)",
                other.as_str()
            );
        }
    }
    Ok(Parsed::Run(opts))
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T> {
    v.parse()
        .ok()
        .with_context(|| format!("{flag}: not a number: `{v}`"))
}

/// Runs the abuse bench with the arguments that followed `abuse`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = match parse(args)? {
        Parsed::Help => {
            print!("{HELP}");
            return Ok(());
        }
        Parsed::Run(opts) => opts,
    };
    let started = Instant::now();
    let target = target_dir()?;
    if opts.tls {
        return run_tls(&opts, &target, started);
    }
    super::build_bench_bin("brisk-abuse")?;
    let servers = find_servers(&opts, &target)?;
    if servers.is_empty() {
        bail!("no server to run (none of the requested ones is built)");
    }
    let (server_cpu, client_cpu) = if cpu_count() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let setup = Setup {
        opts: &opts,
        client: target.join("release/brisk-abuse"),
        logs,
        server_cpu,
        client_cpu,
    };
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    let scenarios: Vec<&str> = opts.scenarios.iter().map(|s| s.as_str()).collect();
    println!(
        "abuse bench: servers {}; scenarios {}; {} clients, {} s per scenario; {}",
        names.join(", "),
        scenarios.join(", "),
        opts.clients,
        opts.duration,
        match server_cpu {
            Some(_) => "servers on cpu 0, brisk-abuse on cpu 1",
            None => "one CPU only: no pinning",
        }
    );

    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for server in &servers {
        let mut row = Row {
            name: server.name,
            results: Vec::new(),
        };
        for &scenario in &opts.scenarios {
            println!("# {} {}", server.name, scenario.as_str());
            let result = run_scenario(&setup, server, scenario, &mut raw);
            let result = result.unwrap_or_else(|e| {
                eprintln!("abuse: {} {}: {e:#}", server.name, scenario.as_str());
                Outcome::Failed(first_line(&format!("{e:#}")))
            });
            println!("#   {}", result.brief());
            row.results.push((scenario, result));
        }
        rows.push(row);
    }

    let report = markdown(&opts, &rows, started.elapsed());
    let out_dir = target.join("bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let md = out_dir.join("abuse.md");
    fs::write(&md, &report).with_context(|| format!("writing {}", md.display()))?;
    let raw_path = out_dir.join("abuse.json");
    let raw_text = serde_json::to_string_pretty(&Value::Array(raw))?;
    fs::write(&raw_path, raw_text).with_context(|| format!("writing {}", raw_path.display()))?;
    println!();
    print!("{report}");
    println!(
        "(written to {} and {}, in {:.0} s)",
        md.display(),
        raw_path.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", summary_line(&rows));
    Ok(())
}

/// `run` with `--tls`: the TLS rows, the same report files.
fn run_tls(opts: &Options, target: &Path, started: Instant) -> Result<()> {
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    println!(
        "abuse bench over TLS: brisk; scenarios {}; {} clients, {} s per scenario",
        opts.scenarios
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        opts.clients,
        opts.duration
    );
    let rows = tls::rows(opts, &logs)?;
    let mut report = markdown(opts, &rows, started.elapsed()).replace(
        "brisk-abuse on CPU 1 (when there are two CPUs)",
        "wrk on CPU 1 (when there are two CPUs), slow and idle clients in xtask",
    );
    // The TLS paragraph goes after the title and run line.
    if let Some(at) = report.find("\n## ") {
        report.insert_str(at + 1, &format!("{}\n", tls::intro(opts)));
    }
    let out_dir = target.join("bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let md = out_dir.join("abuse-tls.md");
    fs::write(&md, &report).with_context(|| format!("writing {}", md.display()))?;
    println!();
    print!("{report}");
    println!(
        "(written to {}, in {:.0} s)",
        md.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", summary_line(&rows));
    Ok(())
}

/// Where things run.
struct Setup<'a> {
    opts: &'a Options,
    client: PathBuf,
    logs: PathBuf,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
}

/// A server to start.
struct ServerSpec {
    name: &'static str,
    program: PathBuf,
}

impl ServerSpec {
    /// The command serving on `port`, with RLIMIT_NOFILE lowered when asked.
    fn command(&self, port: u16, fd_limit: Option<u64>, logs: &Path) -> Result<Command> {
        let mut args: Vec<String> = match self.name {
            "brisk" | "brisk-uring" => vec![
                "--port".into(),
                port.to_string(),
                "--loops".into(),
                "1".into(),
                "--backend".into(),
                if self.name == "brisk" {
                    "epoll"
                } else {
                    "uring"
                }
                .into(),
            ],
            "fasthttp" => vec!["-addr".into(), format!("127.0.0.1:{port}")],
            "nginx" => {
                let dir = logs.join("abuse-nginx");
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let conf_in = kit_dir().join("nginx.conf");
                let text = fs::read_to_string(&conf_in)
                    .with_context(|| format!("reading {}", conf_in.display()))?;
                let conf = dir.join("nginx.conf");
                fs::write(&conf, nginx_conf(&text, port)?)?;
                vec![
                    "-p".into(),
                    format!("{}/", dir.display()),
                    "-e".into(),
                    "stderr".into(),
                    "-c".into(),
                    conf.display().to_string(),
                ]
            }
            _ => vec![port.to_string()],
        };
        let cmd = match fd_limit {
            Some(limit) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(&self.program);
                cmd.args(args.drain(..));
                cmd
            }
            None => {
                let mut cmd = Command::new(&self.program);
                cmd.args(args);
                cmd
            }
        };
        Ok(cmd)
    }
}

/// The peers kit's nginx.conf with its port (8085) replaced by `port`.
fn nginx_conf(text: &str, port: u16) -> Result<String> {
    const LISTEN: &str = "listen 127.0.0.1:8085";
    if !text.contains(LISTEN) {
        bail!("nginx.conf has no `{LISTEN}` to change");
    }
    Ok(text.replace(LISTEN, &format!("listen 127.0.0.1:{port}")))
}

/// Finds the servers to run: brisk's example (built here), the peers kit's
/// binaries and the system's nginx.
fn find_servers(opts: &Options, target: &Path) -> Result<Vec<ServerSpec>> {
    let named = opts.servers.is_some();
    let wanted: Vec<&'static str> = SERVER_NAMES
        .iter()
        .copied()
        .filter(|n| {
            opts.servers
                .as_ref()
                .is_none_or(|l| l.iter().any(|s| s == n))
        })
        .collect();
    let mut found = Vec::new();
    let peer_dir = peer_dirs().into_iter().find(|d| {
        ["fasthttp", "floor", "hyper", "may", "actix"]
            .iter()
            .any(|p| d.join(format!("{p}_server")).is_file())
    });
    for name in wanted {
        let program = match name {
            "brisk" | "brisk-uring" => {
                let backend = if name == "brisk" { "epoll" } else { "uring" };
                match super::server::build_hello(target, backend) {
                    Ok(path) => Some(path),
                    Err(e) if named => return Err(e.context("building the brisk example server")),
                    Err(e) => {
                        println!("abuse: brisk example server not built ({e:#}); skipped");
                        None
                    }
                }
            }
            "nginx" => find_program("nginx"),
            peer => peer_dir
                .as_ref()
                .map(|d| d.join(format!("{peer}_server")))
                .filter(|p| p.is_file()),
        };
        match program {
            Some(program) => found.push(ServerSpec { name, program }),
            None if named => bail!(
                "server {name} is not available (peers are built by shared/peers/setup.sh; nginx must be on PATH)"
            ),
            None if !name.starts_with("brisk") => println!("abuse: {name} not found, skipped"),
            None => {}
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------- results

/// The normal client's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
struct Normal {
    requests: u64,
    ok: u64,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
    /// The most frequent failure kind, when any failed.
    failure: Option<String>,
}

impl Normal {
    fn from_json(v: &Value) -> Normal {
        let failure = v["failures"].as_object().and_then(|m| {
            m.iter()
                .max_by_key(|(_, n)| n.as_u64().unwrap_or(0))
                .map(|(k, _)| k.clone())
        });
        Normal {
            requests: v["requests"].as_u64().unwrap_or(0),
            ok: v["ok"].as_u64().unwrap_or(0),
            p50_ns: v["p50_ns"].as_u64(),
            p99_ns: v["p99_ns"].as_u64(),
            failure,
        }
    }

    /// Share of requests answered 200, in percent.
    fn success(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            100.0 * self.ok as f64 / self.requests as f64
        }
    }

    fn ok_cell(&self) -> String {
        let mut s = format!("{} ({}/{})", pct(self.success()), self.ok, self.requests);
        if let Some(f) = self.failure.as_ref().filter(|_| self.ok < self.requests) {
            let _ = write!(s, ", {f}");
        }
        s
    }
}

/// The server's memory over one client run (KiB, whole process tree).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Mem {
    before: u64,
    /// `None` when the server was gone afterwards.
    after: Option<u64>,
    peak: u64,
    /// Killed by the bench for passing the RSS cap.
    killed: bool,
    /// Server CPU time (user + system, whole tree) during the client run.
    cpu_secs: Option<f64>,
}

impl Mem {
    fn growth(&self) -> Option<i64> {
        self.after.map(|a| a as i64 - self.before as i64)
    }

    fn peak_growth(&self) -> i64 {
        self.peak as i64 - self.before as i64
    }
}

/// The server's state after a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Alive and answered a GET.
    Fine,
    /// Alive but answered no GET within 5 s.
    Unresponsive,
    /// Exited by itself.
    Died,
    /// Killed by the bench at the RSS cap.
    Killed,
}

impl After {
    fn cell(self, cap_mib: u64) -> String {
        match self {
            After::Fine => "yes".into(),
            After::Unresponsive => "alive, unresponsive".into(),
            After::Died => "**died**".into(),
            After::Killed => format!("**killed at >{}**", mib(cap_mib << 10)),
        }
    }
}

/// One huge head's answer.
#[derive(Debug, Clone, PartialEq)]
struct HeadAnswer {
    size: usize,
    /// `431`, `400`, `200`, ..., `reset`, `close`, `none`, `garbled`, or
    /// `not run` (the server was gone).
    answer: String,
    mem: Option<Mem>,
}

/// One scenario's outcome for one server.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Slowloris {
        connected: u64,
        normal: Normal,
        /// Slow clients answered with each status.
        answered: Vec<(String, u64)>,
        closed: u64,
        reset: u64,
        open: u64,
        cut_first: Option<f64>,
        cut_last: Option<f64>,
        mem: Mem,
        after: After,
    },
    Pipeliners {
        connected: u64,
        normal: Normal,
        sent_bytes: u64,
        mem: Mem,
        after: After,
    },
    Fd {
        limit: u64,
        attempts: u64,
        established: u64,
        normal: Normal,
        after_ok: u64,
        after_tries: u64,
        /// Server CPU while nobody talked to it, percent of one CPU.
        idle_cpu: Option<f64>,
        log_bytes: u64,
        /// The server's open descriptors before the flood and after the idle
        /// connections closed, when counted.
        fds: Option<(u64, u64)>,
        mem: Mem,
        after: After,
    },
    Heads {
        answers: Vec<HeadAnswer>,
        after: After,
    },
    Failed(String),
}

impl Outcome {
    /// One line for the progress output.
    fn brief(&self) -> String {
        match self {
            Outcome::Slowloris { normal, .. }
            | Outcome::Pipeliners { normal, .. }
            | Outcome::Fd { normal, .. } => format!(
                "normal client {}, p99 {}; {}",
                pct(normal.success()),
                opt_latency(normal.p99_ns),
                self.after().map_or("", |a| match a {
                    After::Fine => "alive",
                    After::Unresponsive => "unresponsive",
                    After::Died => "died",
                    After::Killed => "killed at the RSS cap",
                })
            ),
            Outcome::Heads { answers, .. } => answers
                .iter()
                .map(|a| format!("{}: {}", size_name(a.size), a.answer))
                .collect::<Vec<_>>()
                .join(", "),
            Outcome::Failed(why) => format!("failed: {why}"),
        }
    }

    fn after(&self) -> Option<After> {
        match self {
            Outcome::Slowloris { after, .. }
            | Outcome::Pipeliners { after, .. }
            | Outcome::Fd { after, .. }
            | Outcome::Heads { after, .. } => Some(*after),
            Outcome::Failed(_) => None,
        }
    }

    /// Whether the server withstood the scenario (see the report's criteria).
    fn passed(&self) -> bool {
        let ok = |n: &Normal| n.requests > 0 && n.success() >= 99.0;
        match self {
            Outcome::Slowloris { normal, after, .. } => ok(normal) && *after == After::Fine,
            Outcome::Pipeliners {
                connected,
                normal,
                mem,
                after,
                ..
            } => {
                ok(normal)
                    && *after == After::Fine
                    && mem.peak_growth() <= PIPELINER_KIB_PER_CLIENT as i64 * *connected as i64
            }
            Outcome::Fd {
                normal,
                after_ok,
                after_tries,
                idle_cpu,
                fds,
                after,
                ..
            } => {
                ok(normal)
                    && after_ok == after_tries
                    && *after == After::Fine
                    && idle_cpu.is_some_and(|c| c < 10.0)
                    && fds.is_none_or(|(before, after)| after <= before)
            }
            Outcome::Heads { answers, after } => {
                *after == After::Fine
                    && answers
                        .iter()
                        .filter(|a| a.size > 8 << 10)
                        .all(|a| refused(&a.answer))
            }
            Outcome::Failed(_) => false,
        }
    }
}

/// Peak growth per non-reading client above which `pipeliners` fails.
const PIPELINER_KIB_PER_CLIENT: u64 = 64;

/// A huge head was refused: a 4xx answer, a close or a reset.
fn refused(answer: &str) -> bool {
    answer.starts_with('4') || answer == "close" || answer == "reset"
}

/// One server's results, in scenario order.
struct Row {
    name: &'static str,
    results: Vec<(Scenario, Outcome)>,
}

impl Row {
    fn get(&self, scenario: Scenario) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|(s, _)| *s == scenario)
            .map(|(_, o)| o)
    }
}

// ---------------------------------------------------------------- running

/// Starts the server for one scenario, runs the client(s), checks the server
/// afterwards. The server is stopped when this returns.
fn run_scenario(
    setup: &Setup,
    spec: &ServerSpec,
    scenario: Scenario,
    raw: &mut Vec<Value>,
) -> Result<Outcome> {
    let opts = setup.opts;
    let port = free_port()?;
    let fd_limit = (scenario == Scenario::Fd).then_some(opts.fd_limit);
    let log = setup
        .logs
        .join(format!("abuse-{}-{}.log", spec.name, scenario.as_str()));
    let cmd = spec.command(port, fd_limit, &setup.logs)?;
    let mut server = Server::start(spec.name, cmd, &log, setup.server_cpu, None)?;
    server.wait_ready(port, Duration::from_secs(10))?;
    // Warm up lazily built state (pools, caches) before the baseline.
    for _ in 0..WARMUP_REQUESTS {
        http_get(port, Duration::from_secs(2)).context("warm-up request")?;
    }
    let addr = format!("127.0.0.1:{port}");
    let dur = format!("{}", opts.duration);
    let clients = opts.clients.to_string();
    let client_args =
        |args: &[&str]| -> Vec<String> { args.iter().map(|&a| a.to_owned()).collect() };
    let record = |raw: &mut Vec<Value>, report: &Value, mem: &Mem| {
        raw.push(json!({
            "server": spec.name,
            "client": report,
            "rss_kib": {"before": mem.before, "after": mem.after, "peak": mem.peak, "killed": mem.killed},
        }));
    };
    let outcome = match scenario {
        Scenario::Slowloris => {
            let args = client_args(&[
                "slowloris",
                "--clients",
                &clients,
                "--duration",
                &dur,
                &addr,
            ]);
            let (report, mem) = run_client(setup, &mut server, &args, opts.duration)?;
            record(raw, &report, &mem);
            let slow = &report["slow"];
            let answered = slow["answered"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            Outcome::Slowloris {
                connected: report["connected"].as_u64().unwrap_or(0),
                normal: Normal::from_json(&report["normal"]),
                answered,
                closed: slow["closed"].as_u64().unwrap_or(0),
                reset: slow["reset"].as_u64().unwrap_or(0),
                open: slow["open"].as_u64().unwrap_or(0),
                cut_first: slow["cut_first_secs"].as_f64(),
                cut_last: slow["cut_last_secs"].as_f64(),
                mem,
                after: after_state(&mut server, &mem, port),
            }
        }
        Scenario::Pipeliners => {
            let args = client_args(&[
                "pipeliners",
                "--clients",
                &clients,
                "--duration",
                &dur,
                &addr,
            ]);
            let (report, mem) = run_client(setup, &mut server, &args, opts.duration)?;
            record(raw, &report, &mem);
            Outcome::Pipeliners {
                connected: report["connected"].as_u64().unwrap_or(0),
                normal: Normal::from_json(&report["normal"]),
                sent_bytes: report["sent_bytes"].as_u64().unwrap_or(0),
                mem,
                after: after_state(&mut server, &mem, port),
            }
        }
        Scenario::Fd => {
            let idle = (opts.fd_limit + 1000).to_string();
            let secs = (opts.duration / 2.0).max(1.0);
            let args = client_args(&[
                "fd",
                "--idle",
                &idle,
                "--duration",
                &secs.to_string(),
                &addr,
            ]);
            let fds_before = fd_count(server.pid()).ok();
            // Opening (≤ 5 s) and the 20 requests afterwards (≤ 2 s each) come on top.
            let (report, mem) = run_client(setup, &mut server, &args, secs + 50.0)?;
            record(raw, &report, &mem);
            // Idle CPU: nobody talks to the server for 1 s, then 2 s are measured.
            let idle_cpu = if server.alive() {
                thread::sleep(Duration::from_secs(1));
                let before = server.cpu_time().ok();
                thread::sleep(Duration::from_secs(2));
                let after = server.cpu_time().ok();
                match (before, after) {
                    (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64() / 2.0 * 100.0),
                    _ => None,
                }
            } else {
                None
            };
            Outcome::Fd {
                limit: opts.fd_limit,
                attempts: report["idle_attempts"].as_u64().unwrap_or(0),
                established: report["idle_established"].as_u64().unwrap_or(0),
                normal: Normal::from_json(&report["normal"]),
                after_ok: report["after_ok"].as_u64().unwrap_or(0),
                after_tries: report["after_tries"].as_u64().unwrap_or(0),
                idle_cpu,
                log_bytes: fs::metadata(&log).map_or(0, |m| m.len()),
                fds: fds_before.zip(fd_count(server.pid()).ok()),
                mem,
                after: after_state(&mut server, &mem, port),
            }
        }
        Scenario::Heads => {
            let mut answers = Vec::new();
            for size in HEAD_SIZES {
                if !server.alive() {
                    answers.push(HeadAnswer {
                        size,
                        answer: "not run".into(),
                        mem: None,
                    });
                    continue;
                }
                let args = client_args(&["head", "--size", &size.to_string(), &addr]);
                let (report, mem) = run_client(setup, &mut server, &args, 16.0)?;
                record(raw, &report, &mem);
                answers.push(HeadAnswer {
                    size,
                    answer: report["answer"].as_str().unwrap_or("?").to_owned(),
                    mem: Some(mem),
                });
            }
            let mem = answers.last().and_then(|a| a.mem).unwrap_or_default();
            Outcome::Heads {
                after: after_state(&mut server, &mem, port),
                answers,
            }
        }
    };
    Ok(outcome)
}

/// Alive, responsive, dead or killed.
fn after_state(server: &mut Server, mem: &Mem, port: u16) -> After {
    if mem.killed {
        return After::Killed;
    }
    if !server.alive() {
        return After::Died;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if http_get(port, Duration::from_secs(2)).is_ok_and(|s| s == 200) {
            return After::Fine;
        }
        if !server.alive() {
            return After::Died;
        }
        thread::sleep(Duration::from_millis(100));
    }
    After::Unresponsive
}

/// Runs `brisk-abuse ARGS` while watching the server's memory every 50 ms
/// (killing the server past the RSS cap); returns the client's JSON report.
fn run_client(
    setup: &Setup,
    server: &mut Server,
    args: &[String],
    expected_secs: f64,
) -> Result<(Value, Mem)> {
    let pids = server.tree();
    for &pid in &pids {
        // Resets VmHWM to the current RSS (Linux 4.0+); without it the peak
        // is the sampled one.
        let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    let before = tree_kib(&pids, "VmRSS").context("reading the server's RSS")?;
    let cpu_before = server.cpu_time().ok();
    let mut mem = Mem {
        before,
        after: None,
        peak: before,
        killed: false,
        cpu_secs: None,
    };
    let cap_kib = setup.opts.rss_cap_mib << 10;
    let mut cmd = Command::new(&setup.client);
    if let Some(cpu) = setup.client_cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    // The client bounds itself; this is the backstop.
    let limit = Duration::from_secs_f64(expected_secs + 30.0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if !mem.killed && server.alive() {
            let pids = server.tree();
            if let Some(rss) = tree_kib(&pids, "VmRSS") {
                mem.peak = mem.peak.max(rss);
                if rss > cap_kib {
                    kill_tree(&pids);
                    mem.killed = true;
                }
            }
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{}` ran past {limit:?}; killed", show(&cmd));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err)?;
    }
    if !status.success() {
        bail!("`{}` failed ({status}): {}", show(&cmd), err.trim());
    }
    if server.alive() && !mem.killed {
        let pids = server.tree();
        mem.after = tree_kib(&pids, "VmRSS");
        if let Some(hwm) = tree_kib(&pids, "VmHWM") {
            mem.peak = mem.peak.max(hwm);
        }
        if let Some(after) = mem.after {
            mem.peak = mem.peak.max(after);
        }
        if let (Some(b), Some(a)) = (cpu_before, server.cpu_time().ok()) {
            mem.cpu_secs = Some(a.saturating_sub(b).as_secs_f64());
        }
    }
    let last = out.lines().last().unwrap_or("");
    let report: Value = serde_json::from_str(last)
        .with_context(|| format!("brisk-abuse printed no JSON report: {last:?}"))?;
    Ok((report, mem))
}

/// The open descriptors of process `pid` (`/proc/<pid>/fd`).
fn fd_count(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/fd");
    Ok(fs::read_dir(&dir)
        .with_context(|| format!("reading {dir}"))?
        .count() as u64)
}

/// Sum of a `/proc/<pid>/status` KiB value over `pids`; `None` when the
/// first (the server itself) cannot be read.
fn tree_kib(pids: &[u32], key: &str) -> Option<u64> {
    let mut total = 0;
    for (i, pid) in pids.iter().enumerate() {
        let value = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| status_kib(&s, key));
        match value {
            Some(v) => total += v,
            None if i == 0 => return None,
            None => {}
        }
    }
    Some(total)
}

fn kill_tree(pids: &[u32]) {
    // Children first, so that nginx's master does not restart its worker.
    for &pid in pids.iter().rev() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

/// One GET on a new connection; the response's status code.
fn http_get(port: u16, timeout: Duration) -> Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut c = TcpStream::connect_timeout(&addr, timeout)?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    c.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = c.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let text = std::str::from_utf8(&buf[..got]).unwrap_or("");
    text.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {text:?}"))
}

// ---------------------------------------------------------------- report

fn pct(p: f64) -> String {
    if p >= 99.95 || p == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn opt_latency(ns: Option<u64>) -> String {
    ns.map_or_else(|| "n/a".to_owned(), fmt_latency)
}

/// KiB as `512 KiB`, `12.3 MiB`, `4.00 GiB`.
fn mib(kib: u64) -> String {
    if kib < 1024 {
        format!("{kib} KiB")
    } else if kib < 1024 * 1024 {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    } else {
        format!("{:.2} GiB", kib as f64 / (1024.0 * 1024.0))
    }
}

/// A signed growth in KiB: `+1.2 MiB`, `-300 KiB`.
fn growth(kib: i64) -> String {
    let sign = if kib < 0 { "-" } else { "+" };
    format!("{sign}{}", mib(kib.unsigned_abs()))
}

fn size_name(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

/// The whole Markdown report: setup, one table per scenario, the criteria
/// and the summary line.
fn markdown(opts: &Options, rows: &[Row], took: Duration) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Abuse bench\n");
    let _ = writeln!(
        md,
        "`cargo xtask bench abuse` — {} clients, {} s per scenario, fd limit {}, RSS cap {}; \
         server on CPU 0, brisk-abuse on CPU 1 (when there are two CPUs); {} CPUs; took {:.0} s.\n",
        opts.clients,
        opts.duration,
        opts.fd_limit,
        mib(opts.rss_cap_mib << 10),
        cpu_count(),
        took.as_secs_f64()
    );
    let cap = opts.rss_cap_mib;
    let has = |s: Scenario| opts.scenarios.contains(&s);
    let cell_failed = |o: Option<&Outcome>| match o {
        Some(Outcome::Failed(why)) => Some(format!("failed: {why}")),
        None => Some("not run".to_owned()),
        _ => None,
    };

    if has(Scenario::Slowloris) {
        let _ = writeln!(
            md,
            "## slowloris\n\n{} clients each send an endless head at 1 byte/s; a normal client makes one request \
             every 10 ms on a new connection (`Connection: close`, 2 s timeout) for {} s.\n",
            opts.clients, opts.duration
        );
        md.push_str("| server | normal client ok | p50 | p99 | slow clients cut off | cut at (s after first byte) | RSS growth (peak) | alive after |\n");
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            let o = row.get(Scenario::Slowloris);
            if let Some(why) = cell_failed(o) {
                let _ = writeln!(md, "| {} | {why} | | | | | | |", row.name);
                continue;
            }
            let Some(Outcome::Slowloris {
                connected,
                normal,
                answered,
                closed,
                reset,
                open,
                cut_first,
                cut_last,
                mem,
                after,
            }) = o
            else {
                continue;
            };
            let mut how: Vec<String> = answered.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            if *closed > 0 {
                how.push(format!("closed×{closed}"));
            }
            if *reset > 0 {
                how.push(format!("reset×{reset}"));
            }
            let cut = connected - open;
            let cut_cell = if how.is_empty() {
                format!("0/{connected}")
            } else {
                format!("{cut}/{connected}: {}", how.join(", "))
            };
            let at = match (cut_first, cut_last) {
                (Some(a), Some(b)) => format!("{a:.1}–{b:.1}"),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {cut_cell} | {at} | {} | {} |",
                row.name,
                normal.ok_cell(),
                opt_latency(normal.p50_ns),
                opt_latency(normal.p99_ns),
                mem_cell(mem),
                after.cell(cap)
            );
        }
        md.push('\n');
    }

    if has(Scenario::Pipeliners) {
        let _ = writeln!(
            md,
            "## pipeliners\n\n{} clients write pipelined `GET /` as fast as the kernel takes them and never read \
             (at most 32 MiB each, 16 KiB receive buffers) for {} s; the normal client as above. \
             \"Accepted\" is what the clients managed to write (kernel buffers included).\n",
            opts.clients, opts.duration
        );
        md.push_str("| server | normal client ok | p99 | accepted from non-readers | server CPU | RSS growth after | peak growth | peak per client | alive after |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            let o = row.get(Scenario::Pipeliners);
            if let Some(why) = cell_failed(o) {
                let _ = writeln!(md, "| {} | {why} | | | | | | | |", row.name);
                continue;
            }
            let Some(Outcome::Pipeliners {
                connected,
                normal,
                sent_bytes,
                mem,
                after,
            }) = o
            else {
                continue;
            };
            let per_client = if *connected > 0 {
                growth(mem.peak_growth() / *connected as i64)
            } else {
                "n/a".to_owned()
            };
            let peak = if mem.killed {
                format!(">{}", mib(cap << 10))
            } else {
                growth(mem.peak_growth())
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {peak} | {per_client} | {} |",
                row.name,
                normal.ok_cell(),
                opt_latency(normal.p99_ns),
                mib(sent_bytes >> 10),
                mem.cpu_secs
                    .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.1} s")),
                mem.growth().map_or_else(|| "n/a".to_owned(), growth),
                after.cell(cap)
            );
        }
        md.push('\n');
    }

    if has(Scenario::Fd) {
        let _ = writeln!(
            md,
            "## fd: descriptor exhaustion\n\nThe server runs under `prlimit --nofile={0}:{0}`; the client opens {1} \
             connections at once (5 s to connect), each sends one keep-alive GET and stays idle; a normal client \
             then makes a request every 10 ms on a new connection for {2} s; then the idle connections close and \
             20 more requests are made. Idle CPU is the server's over 2 s of silence after that; server fds are \
             its open descriptors before the flood and after.\n",
            opts.fd_limit,
            opts.fd_limit + 1000,
            (opts.duration / 2.0).max(1.0)
        );
        md.push_str("| server | idle connections established | normal client ok | p99 | ok after idle ones closed | idle CPU after | log size | server fds before → after | RSS growth (peak) | alive after |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            let o = row.get(Scenario::Fd);
            if let Some(why) = cell_failed(o) {
                let _ = writeln!(md, "| {} | {why} | | | | | | | | |", row.name);
                continue;
            }
            let Some(Outcome::Fd {
                attempts,
                established,
                normal,
                after_ok,
                after_tries,
                idle_cpu,
                log_bytes,
                fds,
                mem,
                after,
                ..
            }) = o
            else {
                continue;
            };
            let _ = writeln!(
                md,
                "| {} | {established}/{attempts} | {} | {} | {after_ok}/{after_tries} | {} | {} | {} | {} | {} |",
                row.name,
                normal.ok_cell(),
                opt_latency(normal.p99_ns),
                idle_cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.1}%")),
                if *log_bytes < 1024 {
                    format!("{log_bytes} B")
                } else {
                    mib(log_bytes >> 10)
                },
                fds.map_or_else(|| "n/a".to_owned(), |(b, a)| format!("{b} → {a}")),
                mem_cell(mem),
                after.cell(cap)
            );
        }
        md.push('\n');
    }

    if has(Scenario::Heads) {
        md.push_str(
            "## heads\n\nOne `GET /` per size with one header value of that size, on a fresh connection; \
             the answer (status, `reset`, `close`, or `none` within 5 s of the last byte written) and the \
             server's peak RSS growth.\n\n",
        );
        md.push_str("| server |");
        for size in HEAD_SIZES {
            let _ = write!(md, " {} |", size_name(size));
        }
        md.push_str(" alive after |\n|---|");
        for _ in HEAD_SIZES {
            md.push_str("---|");
        }
        md.push_str("---|\n");
        for row in rows {
            let o = row.get(Scenario::Heads);
            if let Some(why) = cell_failed(o) {
                let _ = writeln!(md, "| {} | {why} | | | | |", row.name);
                continue;
            }
            let Some(Outcome::Heads { answers, after }) = o else {
                continue;
            };
            let _ = write!(md, "| {} |", row.name);
            for a in answers {
                let answer = if a.size > 8 << 10 && !refused(&a.answer) {
                    format!("**{}**", a.answer)
                } else {
                    a.answer.clone()
                };
                match a.mem {
                    Some(m) => {
                        let _ = write!(md, " {answer} ({}) |", growth(m.peak_growth()));
                    }
                    None => {
                        let _ = write!(md, " {answer} |");
                    }
                }
            }
            let _ = writeln!(md, " {} |", after.cell(cap));
        }
        md.push('\n');
    }

    md.push_str(&format!(
        "Pass criteria for the summary: slowloris — normal client ≥ 99% and the server answers afterwards; \
         pipeliners — the same, not killed, and peak growth ≤ {PIPELINER_KIB_PER_CLIENT} KiB per non-reading client; \
         fd — normal client ≥ 99%, all 20 requests after the idle connections closed answered, idle CPU < 10%, \
         server fds back to (or below) the count before; \
         heads — every head above 8 KiB refused (4xx, close or reset) and the server alive.\n\n"
    ));
    let _ = writeln!(md, "{}", summary_line(rows));
    md
}

fn mem_cell(mem: &Mem) -> String {
    match mem.growth() {
        Some(g) => format!("{} ({})", growth(g), growth(mem.peak_growth())),
        None => format!("n/a ({})", growth(mem.peak_growth())),
    }
}

/// The last line: how many scenarios each server passed, and which failed.
fn summary_line(rows: &[Row]) -> String {
    let parts: Vec<String> = rows
        .iter()
        .map(|row| {
            let failed: Vec<&str> = row
                .results
                .iter()
                .filter(|(_, o)| !o.passed())
                .map(|(s, _)| s.as_str())
                .collect();
            let n = row.results.len();
            if failed.is_empty() {
                format!("{} {n}/{n}", row.name)
            } else {
                format!(
                    "{} {}/{n} (failed: {})",
                    row.name,
                    n - failed.len(),
                    failed.join(", ")
                )
            }
        })
        .collect();
    format!("abuse: scenarios passed: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Parsed> {
        let v: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        parse(&v)
    }

    fn opts(s: &str) -> Options {
        match args(s).unwrap() {
            Parsed::Run(o) => o,
            Parsed::Help => panic!("help for {s:?}"),
        }
    }

    #[test]
    fn defaults_and_help() {
        assert_eq!(opts(""), Options::default());
        assert_eq!(Options::default().clients, 2000);
        assert_eq!(Options::default().scenarios, SCENARIOS.to_vec());
        assert_eq!(args("--help").unwrap(), Parsed::Help);
        assert_eq!(args("--clients 5 -h").unwrap(), Parsed::Help);
    }

    #[test]
    fn every_option() {
        let o = opts(
            "--servers brisk,nginx --scenarios heads,slowloris --clients 200 --duration 3 \
             --fd-limit 512 --rss-cap-mib 1024",
        );
        assert_eq!(
            o.servers,
            Some(vec!["brisk".to_owned(), "nginx".to_owned()])
        );
        // Always run in the fixed order.
        assert_eq!(o.scenarios, [Scenario::Slowloris, Scenario::Heads]);
        assert_eq!((o.clients, o.duration), (200, 3.0));
        assert_eq!((o.fd_limit, o.rss_cap_mib), (512, 1024));
        let o = opts("--clients=7 --duration=0.5 --scenarios=fd,fd");
        assert_eq!((o.clients, o.duration), (7, 0.5));
        assert_eq!(o.scenarios, [Scenario::Fd]);
    }

    #[test]
    fn bad_arguments() {
        let err = |s: &str| args(s).unwrap_err().to_string();
        assert!(err("--servers brisk,apache").contains("unknown server `apache`"));
        assert!(err("--servers ,").contains("empty list"));
        assert!(err("--scenarios slowloris,ddos").contains("unknown scenario `ddos`"));
        assert!(err("--clients many").contains("not a number"));
        assert!(err("--clients 0").contains("at least 1"));
        assert!(err("--duration 0").contains("seconds"));
        assert!(err("--duration nan").contains("seconds"));
        assert!(err("--duration").contains("needs a value"));
        assert!(err("--fd-limit 10").contains("at least 64"));
        assert!(err("--rss-cap-mib 0").contains("at least 1"));
        assert!(err("--quick").contains("unknown option `--quick`"));
        assert!(err("brisk").contains("unknown option `brisk`"));
    }

    #[test]
    fn tls_flag() {
        assert!(!Options::default().tls);
        let o = opts("--tls");
        assert!(o.tls);
        // brisk only, and only the scenarios that run over TLS.
        assert_eq!(o.servers, Some(vec!["brisk".to_owned()]));
        assert_eq!(o.scenarios, [Scenario::Slowloris, Scenario::Fd]);
        let o = opts("--scenarios fd --tls --servers brisk --clients 50");
        assert_eq!((o.tls, o.clients), (true, 50));
        assert_eq!(o.scenarios, [Scenario::Fd]);
        let err = |s: &str| args(s).unwrap_err().to_string();
        assert!(err("--tls --servers brisk,nginx").contains("drop `nginx`"));
        assert!(err("--tls --scenarios slowloris,heads").contains("`heads` is not run over TLS"));
        assert!(err("--tls=yes").contains("takes no value"));
        // Without --tls, everything as before.
        assert_eq!(opts("--servers nginx").scenarios, SCENARIOS.to_vec());
    }

    #[test]
    fn nginx_port_is_rewritten() {
        let conf = "server {\n listen 127.0.0.1:8085 backlog=4096;\n}";
        assert_eq!(
            nginx_conf(conf, 9999).unwrap(),
            "server {\n listen 127.0.0.1:9999 backlog=4096;\n}"
        );
        assert!(nginx_conf("listen 80;", 1).is_err());
    }

    #[test]
    fn tree_memory() {
        let me = std::process::id();
        assert!(tree_kib(&[me], "VmRSS").unwrap() > 0);
        assert!(tree_kib(&[me], "VmHWM").unwrap() > 0);
        assert_eq!(tree_kib(&[u32::MAX], "VmRSS"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(mib(512), "512 KiB");
        assert_eq!(mib(1536), "1.5 MiB");
        assert_eq!(mib(4 << 20), "4.00 GiB");
        assert_eq!(growth(-300), "-300 KiB");
        assert_eq!(growth(2048), "+2.0 MiB");
        assert_eq!(pct(100.0), "100%");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(99.5), "99.5%");
        assert_eq!(size_name(8 << 10), "8 KiB");
        assert_eq!(size_name(16 << 20), "16 MiB");
        assert!(refused("431") && refused("400") && refused("reset") && refused("close"));
        assert!(!refused("200") && !refused("none") && !refused("garbled"));
    }

    fn normal(ok: u64, requests: u64) -> Normal {
        Normal {
            requests,
            ok,
            p50_ns: Some(200_000),
            p99_ns: Some(400_000),
            failure: (ok < requests).then(|| "timeout".to_owned()),
        }
    }

    fn mem(before: u64, peak: u64) -> Mem {
        Mem {
            before,
            after: Some(before),
            peak,
            killed: false,
            cpu_secs: Some(1.0),
        }
    }

    fn rows() -> Vec<Row> {
        let heads = |answer: &str| Outcome::Heads {
            answers: HEAD_SIZES
                .iter()
                .map(|&size| HeadAnswer {
                    size,
                    answer: if size == 8 << 10 { "200" } else { answer }.to_owned(),
                    mem: Some(mem(1000, 1000)),
                })
                .collect(),
            after: After::Fine,
        };
        vec![
            Row {
                name: "brisk",
                results: vec![
                    (
                        Scenario::Slowloris,
                        Outcome::Slowloris {
                            connected: 10,
                            normal: normal(100, 100),
                            answered: vec![("408".to_owned(), 9)],
                            closed: 1,
                            reset: 0,
                            open: 0,
                            cut_first: Some(10.0),
                            cut_last: Some(11.0),
                            mem: mem(1000, 1100),
                            after: After::Fine,
                        },
                    ),
                    (
                        Scenario::Pipeliners,
                        Outcome::Pipeliners {
                            connected: 10,
                            normal: normal(99, 100),
                            sent_bytes: 1 << 30,
                            mem: mem(1000, 1000 + 10 * 64),
                            after: After::Fine,
                        },
                    ),
                    (Scenario::Heads, heads("431")),
                ],
            },
            Row {
                name: "may",
                results: vec![
                    (
                        Scenario::Pipeliners,
                        Outcome::Pipeliners {
                            connected: 10,
                            normal: normal(1, 100),
                            sent_bytes: 1 << 30,
                            mem: Mem {
                                killed: true,
                                after: None,
                                ..mem(1000, 5 << 20)
                            },
                            after: After::Killed,
                        },
                    ),
                    (Scenario::Heads, heads("200")),
                    (Scenario::Fd, Outcome::Failed("could not start".to_owned())),
                ],
            },
        ]
    }

    #[test]
    fn pass_criteria() {
        let rows = rows();
        assert!(rows[0].results.iter().all(|(_, o)| o.passed()));
        assert!(rows[1].results.iter().all(|(_, o)| !o.passed()));
        // One KiB over the per-client bound fails.
        let over = Outcome::Pipeliners {
            connected: 10,
            normal: normal(100, 100),
            sent_bytes: 0,
            mem: mem(1000, 1000 + 10 * 64 + 1),
            after: After::Fine,
        };
        assert!(!over.passed());
        let idle_spin = Outcome::Fd {
            limit: 1024,
            attempts: 2024,
            established: 2024,
            normal: normal(100, 100),
            after_ok: 20,
            after_tries: 20,
            idle_cpu: Some(95.0),
            log_bytes: 1 << 30,
            fds: None,
            mem: mem(1, 1),
            after: After::Fine,
        };
        assert!(!idle_spin.passed());
        assert!(
            !Outcome::Slowloris {
                connected: 1,
                normal: normal(0, 0),
                answered: Vec::new(),
                closed: 0,
                reset: 0,
                open: 1,
                cut_first: None,
                cut_last: None,
                mem: mem(1, 1),
                after: After::Fine,
            }
            .passed()
        );
    }

    #[test]
    fn report_tables_and_summary() {
        let rows = rows();
        assert_eq!(
            summary_line(&rows),
            "abuse: scenarios passed: brisk 3/3; may 0/3 (failed: pipeliners, heads, fd)"
        );
        let md = markdown(&Options::default(), &rows, Duration::from_secs(60));
        assert!(md.contains(
            "| brisk | 100% (100/100) | 200.0 us | 400.0 us | 10/10: 408×9, closed×1 | 10.0–11.0 | +0 KiB (+100 KiB) | yes |"
        ), "{md}");
        assert!(
            md.contains(
                "| may | 1.0% (1/100), timeout | 400.0 us | 1.00 GiB | 1.0 s | n/a | >4.00 GiB |"
            ),
            "{md}"
        );
        assert!(md.contains("**killed at >4.00 GiB**"), "{md}");
        assert!(md.contains("| may | failed: could not start |"), "{md}");
        assert!(
            md.contains("| may | 200 (+0 KiB) | **200** (+0 KiB) |"),
            "{md}"
        );
        assert!(md.trim_end().ends_with(&summary_line(&rows)));
    }
}

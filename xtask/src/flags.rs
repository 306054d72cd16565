//! Hand-written argument parsing for `cargo xtask`, with `--help` per command.

use anyhow::{Context, Result, bail};

/// What `cargo xtask` was asked to do.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// Print this help text.
    Help(&'static str),
    Ci(Ci),
    Bench(Bench),
    Fuzz(Fuzz),
}

/// `cargo xtask ci`.
#[derive(Debug, PartialEq)]
pub(crate) struct Ci {
    /// Steps to run, in order.
    pub(crate) steps: Vec<Step>,
}

/// One step of `cargo xtask ci` (and of `.ci/run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Fmt,
    Clippy,
    Test,
    Doc,
    Deps,
}

/// `cargo xtask bench`.
#[derive(Debug, PartialEq)]
pub(crate) struct Bench {
    /// Benches to run, in order (all available ones when none was named).
    pub(crate) names: Vec<BenchName>,
    pub(crate) server: ServerOptions,
    /// Arguments after `abuse`, parsed by the abuse bench itself.
    pub(crate) abuse_args: Vec<String>,
    /// `--base REV`: the `instr` bench also measures this revision.
    pub(crate) base: Option<String>,
}

/// A bench `cargo xtask bench` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BenchName {
    Buf,
    Parse,
    Pool,
    Server,
    Abuse,
    Files,
    Instr,
}

/// Options of the end-to-end `server` bench.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerOptions {
    /// Measured seconds per scenario.
    pub(crate) duration: f64,
    /// Unmeasured seconds of plain load before the first scenario.
    pub(crate) warmup: f64,
    pub(crate) connections: usize,
    /// Pipeline depth of the pipelined scenario.
    pub(crate) depth: usize,
    /// Peers to run; `None` = every built peer.
    pub(crate) peers: Option<Vec<String>>,
    /// Do not put the servers under a CPU quota (pinning still applies).
    pub(crate) unthrottled: bool,
    /// CFS quota per 100 ms period, in microseconds.
    pub(crate) quota_us: u32,
    /// Scenarios to run, in matrix order.
    pub(crate) scenarios: Vec<ScenarioName>,
    /// Connections of the `many` scenario.
    pub(crate) many_connections: usize,
    /// Idle keep-alive connections of the `idle` scenario.
    pub(crate) idle_conns: usize,
    /// The load generator of the load scenarios.
    pub(crate) client: Client,
    /// Times the whole server sequence runs; each cell is the median.
    pub(crate) rounds: usize,
    /// brisk's event-loop backends to run (`epoll`, `uring`), one row each.
    pub(crate) backends: Vec<String>,
}

/// A scenario of the end-to-end matrix (`--scenarios`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScenarioName {
    /// `--connections` keep-alive connections, one request per round trip.
    Plain,
    /// `--connections` connections, `--depth` requests written at once.
    Pipelined,
    /// `--many-connections` keep-alive connections.
    Many,
    /// A new connection for every request (`Connection: close`).
    Close,
    /// RSS growth per idle keep-alive connection, `--idle-conns` of them.
    Idle,
    /// HTTPS against brisk and nginx (`bench/tls.rs`): keep-alive,
    /// handshakes, stalled handshakes.
    Tls,
}

impl ScenarioName {
    /// Every scenario, in the order the matrix runs them.
    pub(crate) const ALL: [ScenarioName; 6] = [
        ScenarioName::Plain,
        ScenarioName::Pipelined,
        ScenarioName::Many,
        ScenarioName::Close,
        ScenarioName::Idle,
        ScenarioName::Tls,
    ];

    /// The name `--scenarios` takes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Plain => "plain",
            ScenarioName::Pipelined => "pipelined",
            ScenarioName::Many => "many",
            ScenarioName::Close => "close",
            ScenarioName::Idle => "idle",
            ScenarioName::Tls => "tls",
        }
    }
}

/// The load generator of the load scenarios (`--client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// This repo's `brisk-load` (the default).
    BriskLoad,
    /// wrk (with `shared/peers/pipeline.lua` for pipelining), to check that
    /// brisk-load pushes as hard.
    Wrk,
}

/// `cargo xtask fuzz`.
#[derive(Debug, PartialEq)]
pub(crate) struct Fuzz {
    /// One target, or every target when `None`.
    pub(crate) target: Option<String>,
    /// Seconds per target.
    pub(crate) time: u64,
    /// Only replay the corpora, even with a nightly toolchain.
    pub(crate) replay: bool,
}

pub(crate) const MAIN_HELP: &str = "\
cargo xtask: brisk's developer commands

usage: cargo xtask <COMMAND> [OPTIONS]

commands:
  ci       what .ci/run does: fmt check, clippy, tests, docs, dependency checks
  bench    micro-benches (buf, parse, pool) and the end-to-end server bench
  fuzz     run the cargo-fuzz targets (nightly) or replay their corpora (stable)
  help     this text; `cargo xtask <COMMAND> --help` for a command's options
";

pub(crate) const CI_HELP: &str = "\
cargo xtask ci: the checks .ci/run runs, in the same order

usage: cargo xtask ci [--only STEPS] [--skip STEPS]

steps (comma-separated in STEPS):
  fmt      cargo fmt --all --check
  clippy   cargo clippy --workspace --all-targets -- -D warnings
  test     cargo test --workspace   (includes xtask's tidy test)
  doc      RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps
  deps     cargo tree checks that layering holds: brisk-http does not depend on
           brisk-server, brisk-pool, socket2 or nix; brisk-buf, brisk-pool and
           brisk-prefork depend on no other brisk crate

options:
  --only STEPS   run only these steps
  --skip STEPS   run all steps but these
  -h, --help     this text
";

pub(crate) const BENCH_HELP: &str = "\
cargo xtask bench: run benches and print one summary line each (last line)

usage: cargo xtask bench [NAME ...] [OPTIONS]

names (none = all):
  buf      brisk-buf's pool vs Vec allocation (1 and 2 threads)
  parse    brisk-http's request parser vs httparse, and response serializing
  pool     brisk-pool's worker pool vs thread spawn and a channel pool
  server   end to end: the brisk example server (1 loop) and the peers under
           brisk-load, the scenario matrix below; req/s, CPU/request, RSS,
           RSS per idle connection; writes target/bench/report.md and .svg
  abuse    abusive clients (slowloris, non-reading pipeliners, descriptor
           exhaustion, huge heads) against brisk and the peers; not part of
           the default set; `cargo xtask bench abuse --help` for its options
  files    static files: the brisk `files` example (1 loop, sendfile) vs
           nginx (1 worker, sendfile on) on the same 1 KiB and 1 MiB files,
           keep-alive; req/s, CPU/request, ratios to nginx (--duration,
           --warmup, --connections, --rounds apply); not part of the
           default set; writes target/bench/files.md
  instr    instructions per request of `hello` (1 loop) under callgrind,
           pipelined and plain: steady enough to judge a hot-path change
           on a busy machine; needs valgrind; not part of the default
           set; writes target/bench/instr.md. `--base REV` also builds
           git revision REV (in a worktree under target/) and measures
           it in the same run, with the differences

server options:
  --duration SECS     measured seconds per scenario (default 5)
  --warmup SECS       unmeasured plain load before measuring (default 1)
  --connections N     connections (default 100)
  --depth N           pipeline depth of the pipelined scenario (default 16)
  --peers LIST|none   peers to include: fasthttp,floor,uring-floor,hyper,
                      may,actix,nginx (default: every peer built by
                      shared/peers/setup.sh, nginx when installed, and
                      uring-floor, the io_uring floor built from benches/)
  --backend LIST      brisk's event loops to run, one row each: epoll
                      (row `brisk`, the default build), uring (row
                      `brisk-uring`, hello built with --features uring;
                      falls back to epoll where io_uring is unavailable)
                      or epoll,uring (default)
  --scenarios LIST    scenarios to run, comma-separated (default: all):
                        plain      --connections keep-alive connections
                        pipelined  the same, --depth requests per write
                        many       --many-connections keep-alive connections
                        close      a new connection per request
                        idle       server RSS growth per idle keep-alive
                                   connection (--idle-conns of them, each
                                   after one request)
                        tls        HTTPS (brisk built with --features tls,
                                   nginx): keep-alive, handshakes/s, and
                                   keep-alive under 500 stalled handshakes;
                                   wrk and openssl needed; report in
                                   target/bench/tls.md
  --many-connections N  connections of `many` (default 1000)
  --idle-conns N      idle connections of `idle` (default 10000)
  --rounds N          run every server N times, alternating; each cell is
                      from the median round, each ratio the median of the
                      ratios within a round (default 1)
  --client NAME       load generator of the load scenarios: brisk-load
                      (default) or wrk, to compare the two (idle uses the
                      bench's own connections either way)
  --unthrottled       no cgroup CPU quota (servers are still pinned to CPU 0)
  --quota US          CPU quota per 100000 us period (default 50000 = 0.5 CPU)
  -h, --help          this text
";

pub(crate) const FUZZ_HELP: &str = "\
cargo xtask fuzz: fuzz brisk-http's parsers and brisk-server's connection

usage: cargo xtask fuzz [TARGET] [--time SECS] [--replay]

targets (none = each in turn): head, chunked, path, args, cookies, chunked_roundtrip, proxy, conn,
  accept_encoding, multipart, activation, decompress, range, tls

With a nightly toolchain: installs cargo-fuzz if missing, then runs
`cargo +nightly fuzz run TARGET -- -max_total_time=SECS` from the repo root.
Without one: replays the stored corpora with
`cargo test -p brisk-http --test it corpus`,
`cargo test -p brisk-server --features tls --test it corpus` and
`cargo test -p brisk-handlers --test it corpus` (no new inputs are generated).

options:
  --time SECS   seconds per target (default 30)
  --replay      only replay the corpora, as on stable (quick regression check)
  -h, --help    this text
";

/// The fuzz targets of the `fuzz/` workspace.
pub(crate) const FUZZ_TARGETS: &[&str] = &[
    "head",
    "chunked",
    "path",
    "args",
    "cookies",
    "chunked_roundtrip",
    "proxy",
    "conn",
    "accept_encoding",
    "multipart",
    "activation",
    "decompress",
    "range",
    "tls",
];

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help(MAIN_HELP));
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help(MAIN_HELP)),
        "ci" => parse_ci(rest),
        "bench" => parse_bench(rest),
        "fuzz" => parse_fuzz(rest),
        other => {
            bail!("unknown command `{other}`: expected ci, bench or fuzz (see `cargo xtask help`)")
        }
    }
}

fn parse_ci(args: Vec<String>) -> Result<Command> {
    let mut only: Option<Vec<Step>> = None;
    let mut skip: Vec<Step> = Vec::new();
    let mut args = Args::new(args, "ci");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help(CI_HELP)),
            "--only" => only = Some(steps(&args.value("--only")?)?),
            "--skip" => skip.extend(steps(&args.value("--skip")?)?),
            _ => return Err(args.unexpected(&arg)),
        }
    }
    let all = vec![Step::Fmt, Step::Clippy, Step::Test, Step::Doc, Step::Deps];
    let chosen = only.unwrap_or(all);
    let steps: Vec<Step> = chosen.into_iter().filter(|s| !skip.contains(s)).collect();
    if steps.is_empty() {
        bail!("no ci step left to run after --only/--skip (steps: fmt, clippy, test, doc, deps)");
    }
    Ok(Command::Ci(Ci { steps }))
}

fn steps(list: &str) -> Result<Vec<Step>> {
    list.split(',')
        .map(|s| match s.trim() {
            "fmt" => Ok(Step::Fmt),
            "clippy" => Ok(Step::Clippy),
            "test" => Ok(Step::Test),
            "doc" => Ok(Step::Doc),
            "deps" => Ok(Step::Deps),
            other => bail!("unknown ci step `{other}`: expected fmt, clippy, test, doc or deps"),
        })
        .collect()
}

fn parse_bench(args: Vec<String>) -> Result<Command> {
    let mut names = Vec::new();
    let mut server = ServerOptions {
        duration: 5.0,
        warmup: 1.0,
        connections: 100,
        depth: 16,
        peers: None,
        unthrottled: false,
        quota_us: 50_000,
        scenarios: ScenarioName::ALL.to_vec(),
        many_connections: 1000,
        idle_conns: 10_000,
        client: Client::BriskLoad,
        rounds: 1,
        backends: vec!["epoll".to_owned(), "uring".to_owned()],
    };
    let mut abuse_args = Vec::new();
    let mut base = None;
    let mut args = Args::new(args, "bench");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help(BENCH_HELP)),
            "--duration" => {
                server.duration = positive_secs(&args.value("--duration")?, "--duration")?
            }
            "--warmup" => server.warmup = secs(&args.value("--warmup")?, "--warmup")?,
            "--connections" => {
                server.connections = count(&args.value("--connections")?, "--connections")?
            }
            "--depth" => server.depth = count(&args.value("--depth")?, "--depth")?,
            "--peers" => server.peers = Some(peers(&args.value("--peers")?)?),
            "--unthrottled" => server.unthrottled = true,
            "--backend" => server.backends = backends(&args.value("--backend")?)?,
            "--scenarios" => server.scenarios = scenarios(&args.value("--scenarios")?)?,
            "--many-connections" => {
                server.many_connections =
                    count(&args.value("--many-connections")?, "--many-connections")?
            }
            "--idle-conns" => {
                let value = args.value("--idle-conns")?;
                server.idle_conns = count(&value, "--idle-conns")?;
                if server.idle_conns > 1_000_000 {
                    bail!("bad --idle-conns `{value}`: at most 1000000");
                }
            }
            "--base" => base = Some(args.value("--base")?),
            "--rounds" => {
                let value = args.value("--rounds")?;
                server.rounds = count(&value, "--rounds")?;
                if server.rounds > 99 {
                    bail!("bad --rounds `{value}`: at most 99");
                }
            }
            "--client" => {
                server.client = match args.value("--client")?.as_str() {
                    "brisk-load" => Client::BriskLoad,
                    "wrk" => Client::Wrk,
                    other => bail!("unknown --client `{other}`: expected brisk-load or wrk"),
                }
            }
            "--quota" => {
                let value = args.value("--quota")?;
                server.quota_us = value
                    .parse()
                    .ok()
                    .filter(|q| (1_000..=100_000).contains(q))
                    .with_context(|| format!("bad --quota `{value}`: microseconds per 100000 us period, 1000 to 100000"))?;
            }
            "abuse" => {
                // The abuse bench parses the rest of the line itself.
                names.push(BenchName::Abuse);
                abuse_args = args.rest();
                break;
            }
            _ if arg.starts_with('-') => return Err(args.unexpected(&arg)),
            name => names.push(bench_name(name)?),
        }
    }
    if names.is_empty() {
        names = vec![
            BenchName::Buf,
            BenchName::Parse,
            BenchName::Pool,
            BenchName::Server,
        ];
    }
    if base.is_some() && !names.contains(&BenchName::Instr) {
        bail!("--base REV is an option of the instr bench: `cargo xtask bench instr --base REV`");
    }
    Ok(Command::Bench(Bench {
        names,
        server,
        abuse_args,
        base,
    }))
}

fn bench_name(name: &str) -> Result<BenchName> {
    let available = "available: buf, parse, pool, server, abuse, files, instr";
    Ok(match name {
        "buf" => BenchName::Buf,
        "parse" => BenchName::Parse,
        "pool" => BenchName::Pool,
        "server" => BenchName::Server,
        "abuse" => BenchName::Abuse,
        "files" => BenchName::Files,
        "instr" => BenchName::Instr,
        other => bail!("unknown bench `{other}` ({available})"),
    })
}

/// `--backend`: `epoll`, `uring` or both, comma-separated, each once.
fn backends(list: &str) -> Result<Vec<String>> {
    let mut chosen: Vec<String> = Vec::new();
    for b in list.split(',').map(str::trim) {
        if !matches!(b, "epoll" | "uring") {
            bail!("unknown backend `{b}`: expected epoll, uring or epoll,uring");
        }
        if !chosen.iter().any(|c| c == b) {
            chosen.push(b.to_owned());
        }
    }
    Ok(chosen)
}

fn peers(list: &str) -> Result<Vec<String>> {
    if list == "none" {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|p| {
            let p = p.trim();
            if crate::bench::PEER_NAMES.contains(&p) {
                Ok(p.to_owned())
            } else {
                bail!(
                    "unknown peer `{p}`: expected {} or none",
                    crate::bench::PEER_NAMES.join(",")
                )
            }
        })
        .collect()
}

/// `--scenarios`: known names, each once, run in matrix order.
fn scenarios(list: &str) -> Result<Vec<ScenarioName>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim) {
        let Some(s) = ScenarioName::ALL.iter().find(|s| s.as_str() == name) else {
            let all: Vec<&str> = ScenarioName::ALL.iter().map(|s| s.as_str()).collect();
            bail!("unknown scenario `{name}`: expected {}", all.join(","));
        };
        chosen.push(*s);
    }
    Ok(ScenarioName::ALL
        .into_iter()
        .filter(|s| chosen.contains(s))
        .collect())
}

fn parse_fuzz(args: Vec<String>) -> Result<Command> {
    let mut target = None;
    let mut time = 30;
    let mut replay = false;
    let mut args = Args::new(args, "fuzz");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help(FUZZ_HELP)),
            "--time" => {
                let value = args.value("--time")?;
                time = value.parse().ok().filter(|&t| t > 0).with_context(|| {
                    format!("bad --time `{value}`: expected whole seconds, at least 1")
                })?;
            }
            "--replay" => replay = true,
            _ if arg.starts_with('-') => return Err(args.unexpected(&arg)),
            name if target.is_some() => {
                bail!("give at most one fuzz target (got a second one, `{name}`)")
            }
            name if FUZZ_TARGETS.contains(&name) => target = Some(name.to_owned()),
            name => bail!(
                "unknown fuzz target `{name}`: expected one of {}",
                FUZZ_TARGETS.join(", ")
            ),
        }
    }
    Ok(Command::Fuzz(Fuzz {
        target,
        time,
        replay,
    }))
}

/// Iterates arguments; splits `--name=value` so both forms work.
struct Args {
    args: std::vec::IntoIter<String>,
    pending_value: Option<String>,
    command: &'static str,
}

impl Args {
    fn new(args: Vec<String>, command: &'static str) -> Args {
        Args {
            args: args.into_iter(),
            pending_value: None,
            command,
        }
    }

    /// The arguments not read yet.
    fn rest(&mut self) -> Vec<String> {
        self.args.by_ref().collect()
    }

    fn next(&mut self) -> Option<String> {
        let arg = self.args.next()?;
        if arg.starts_with("--") {
            if let Some((name, value)) = arg.split_once('=') {
                self.pending_value = Some(value.to_owned());
                return Some(name.to_owned());
            }
        }
        self.pending_value = None;
        Some(arg)
    }

    fn value(&mut self, option: &str) -> Result<String> {
        match self.pending_value.take() {
            Some(v) => Ok(v),
            None => self
                .args
                .next()
                .with_context(|| format!("option `{option}` needs a value")),
        }
    }

    fn unexpected(&self, arg: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "unknown argument `{arg}` for `cargo xtask {}` (see `cargo xtask {} --help`)",
            self.command,
            self.command
        )
    }
}

fn secs(value: &str, option: &str) -> Result<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
        .with_context(|| {
            format!("bad {option} `{value}`: expected seconds from 0 to 3600, e.g. 5 or 2.5")
        })
}

fn positive_secs(value: &str, option: &str) -> Result<f64> {
    let s = secs(value, option)?;
    if s < 0.1 {
        bail!("bad {option} `{value}`: at least 0.1 seconds");
    }
    Ok(s)
}

fn count(value: &str, option: &str) -> Result<usize> {
    value
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .with_context(|| format!("bad {option} `{value}`: expected a whole number, at least 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &str) -> Result<Command> {
        parse(args.split_whitespace().map(str::to_owned))
    }

    fn err(args: &str) -> String {
        parse_str(args).expect_err("accepted").to_string()
    }

    #[test]
    fn help_everywhere() {
        assert_eq!(parse_str("").unwrap(), Command::Help(MAIN_HELP));
        assert_eq!(parse_str("help").unwrap(), Command::Help(MAIN_HELP));
        assert_eq!(parse_str("ci --help").unwrap(), Command::Help(CI_HELP));
        assert_eq!(parse_str("bench -h").unwrap(), Command::Help(BENCH_HELP));
        assert_eq!(parse_str("fuzz --help").unwrap(), Command::Help(FUZZ_HELP));
    }

    #[test]
    fn ci_steps() {
        let all = vec![Step::Fmt, Step::Clippy, Step::Test, Step::Doc, Step::Deps];
        assert_eq!(parse_str("ci").unwrap(), Command::Ci(Ci { steps: all }));
        assert_eq!(
            parse_str("ci --skip test,fmt").unwrap(),
            Command::Ci(Ci {
                steps: vec![Step::Clippy, Step::Doc, Step::Deps]
            })
        );
        assert_eq!(
            parse_str("ci --only=deps").unwrap(),
            Command::Ci(Ci {
                steps: vec![Step::Deps]
            })
        );
        assert!(err("ci --only lint").contains("unknown ci step `lint`"));
        assert!(err("ci --only deps --skip deps").contains("no ci step left"));
        assert!(err("ci --fast").contains("unknown argument `--fast` for `cargo xtask ci`"));
        assert!(err("ci --only").contains("`--only` needs a value"));
    }

    #[test]
    fn bench_names_and_options() {
        let Command::Bench(b) = parse_str("bench").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(
            b.names,
            vec![
                BenchName::Buf,
                BenchName::Parse,
                BenchName::Pool,
                BenchName::Server
            ]
        );
        assert_eq!(
            (b.server.duration, b.server.connections, b.server.depth),
            (5.0, 100, 16)
        );
        let Command::Bench(b) = parse_str(
            "bench server parse --duration 2 --peers floor,fasthttp --unthrottled --depth=8",
        )
        .unwrap() else {
            panic!("not bench")
        };
        assert_eq!(b.names, vec![BenchName::Server, BenchName::Parse]);
        assert_eq!(b.server.duration, 2.0);
        assert_eq!(b.server.depth, 8);
        assert!(b.server.unthrottled);
        assert_eq!(
            b.server.peers,
            Some(vec!["floor".to_owned(), "fasthttp".to_owned()])
        );
        let Command::Bench(b) = parse_str("bench server --peers none").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(b.server.peers, Some(vec![]));
    }

    #[test]
    fn backends_are_parsed_and_checked() {
        let Command::Bench(b) = parse_str("bench server").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(b.server.backends, ["epoll", "uring"]);
        let Command::Bench(b) = parse_str("bench server --backend uring,uring").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(b.server.backends, ["uring"]);
        let e = parse_str("bench server --backend kqueue").unwrap_err();
        assert!(e.to_string().contains("kqueue"), "{e}");
    }

    #[test]
    fn fuzz_help_lists_every_target() {
        for t in FUZZ_TARGETS {
            assert!(FUZZ_HELP.contains(t), "FUZZ_HELP does not list {t}");
        }
    }

    #[test]
    fn abuse_takes_the_rest_of_the_line() {
        let Command::Bench(b) = parse_str("bench parse abuse --clients 10 x").unwrap() else {
            panic!("not a bench");
        };
        assert_eq!(b.names, vec![BenchName::Parse, BenchName::Abuse]);
        assert_eq!(b.abuse_args, ["--clients", "10", "x"]);
    }

    #[test]
    fn base_belongs_to_instr() {
        let Command::Bench(b) = parse_str("bench instr --base HEAD~3").unwrap() else {
            panic!("not a bench");
        };
        assert_eq!(b.names, vec![BenchName::Instr]);
        assert_eq!(b.base.as_deref(), Some("HEAD~3"));
        assert!(err("bench server --base main").contains("cargo xtask bench instr --base REV"));
    }

    #[test]
    fn bench_errors_list_what_is_available() {
        assert_eq!(
            err("bench nope"),
            "unknown bench `nope` (available: buf, parse, pool, server, abuse, files, instr)"
        );
        assert!(err("bench --peers nginx2").contains("unknown peer `nginx2`"));
        assert!(err("bench --duration 0").contains("at least 0.1 seconds"));
        assert!(err("bench --connections x").contains("bad --connections `x`"));
        assert!(err("bench --quota 5").contains("bad --quota"));
        assert!(err("bench --scenarios plain,fast").contains("unknown scenario `fast`"));
        assert!(err("bench --idle-conns 0").contains("bad --idle-conns `0`"));
        assert!(err("bench --idle-conns 2000000").contains("at most 1000000"));
        assert!(err("bench --client ab").contains("unknown --client `ab`"));
        assert!(err("bench --many-connections").contains("needs a value"));
        assert!(err("bench --rounds 0").contains("bad --rounds `0`"));
        assert!(err("bench --rounds 100").contains("at most 99"));
    }

    #[test]
    fn matrix_options() {
        let Command::Bench(b) = parse_str("bench server").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(b.server.scenarios, ScenarioName::ALL.to_vec());
        assert_eq!(
            (b.server.many_connections, b.server.idle_conns),
            (1000, 10_000)
        );
        assert_eq!(b.server.client, Client::BriskLoad);
        assert_eq!(b.server.rounds, 1);
        let Command::Bench(b) = parse_str(
            "bench server --scenarios idle,plain --idle-conns=500 --many-connections 300 --client wrk --peers nginx --rounds 3",
        )
        .unwrap() else {
            panic!("not bench")
        };
        // Matrix order, whatever order they were given in.
        assert_eq!(
            b.server.scenarios,
            vec![ScenarioName::Plain, ScenarioName::Idle]
        );
        assert_eq!((b.server.many_connections, b.server.idle_conns), (300, 500));
        assert_eq!(b.server.client, Client::Wrk);
        assert_eq!(b.server.rounds, 3);
        assert_eq!(b.server.peers, Some(vec!["nginx".to_owned()]));
    }

    #[test]
    fn the_tls_scenario_is_named_tls() {
        let Command::Bench(b) = parse_str("bench server --scenarios tls,plain").unwrap() else {
            panic!("not bench")
        };
        assert_eq!(
            b.server.scenarios,
            vec![ScenarioName::Plain, ScenarioName::Tls]
        );
        assert_eq!(ScenarioName::Tls.as_str(), "tls");
    }

    #[test]
    fn fuzz_targets() {
        assert_eq!(
            parse_str("fuzz").unwrap(),
            Command::Fuzz(Fuzz {
                target: None,
                time: 30,
                replay: false
            })
        );
        assert_eq!(
            parse_str("fuzz chunked --time 5 --replay").unwrap(),
            Command::Fuzz(Fuzz {
                target: Some("chunked".to_owned()),
                time: 5,
                replay: true
            })
        );
        assert_eq!(
            err("fuzz body"),
            format!(
                "unknown fuzz target `body`: expected one of {}",
                FUZZ_TARGETS.join(", ")
            )
        );
        assert!(err("fuzz head path").contains("at most one fuzz target"));
        for t in ["args", "cookies", "chunked_roundtrip", "proxy", "conn"] {
            assert_eq!(
                parse_str(&format!("fuzz {t}")).unwrap(),
                Command::Fuzz(Fuzz {
                    target: Some(t.to_owned()),
                    time: 30,
                    replay: false
                })
            );
        }
        assert!(err("fuzz --time 0").contains("bad --time `0`"));
    }

    #[test]
    fn unknown_command() {
        assert!(err("lint").contains("unknown command `lint`"));
    }
}

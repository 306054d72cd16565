//! The end-to-end bench's results: the Markdown report (`target/bench/report.md`,
//! also printed) and the summary lines, with ratios to fasthttp and the floor.

use std::fmt::Write as _;

use super::idle::Idle;
use super::{fmt_latency, fmt_ns, fmt_ratio};
use crate::flags::{ScenarioName, ServerOptions};

/// One load scenario's numbers for one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    pub(crate) rps: f64,
    /// Server CPU (user + system, the whole process tree) per request.
    pub(crate) cpu_ns: Option<f64>,
    pub(crate) p99_ns: Option<u64>,
    pub(crate) errors: u64,
    /// Server RSS right after the scenario.
    pub(crate) rss_kib: Option<u64>,
}

/// Everything measured for one server.
#[derive(Debug, Clone)]
pub(crate) struct ServerResult {
    pub(crate) name: String,
    /// Load scenarios in matrix order; `Err` says why one has no numbers.
    pub(crate) loads: Vec<(ScenarioName, Result<Load, String>)>,
    /// The idle scenario, when it ran.
    pub(crate) idle: Option<Result<Idle, String>>,
    /// Why the server has no numbers at all (not built, did not start...).
    pub(crate) note: Option<String>,
}

impl ServerResult {
    /// A server without results and why.
    pub(crate) fn missing(name: &str, why: String) -> ServerResult {
        ServerResult {
            name: name.to_owned(),
            loads: Vec::new(),
            idle: None,
            note: Some(why),
        }
    }

    /// Numbers of one load scenario, if it succeeded.
    pub(crate) fn load(&self, scenario: ScenarioName) -> Option<&Load> {
        self.loads
            .iter()
            .find(|(s, _)| *s == scenario)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    /// RSS growth per idle connection in bytes, if measured.
    pub(crate) fn idle_bytes(&self) -> Option<f64> {
        self.idle.as_ref()?.as_ref().ok()?.bytes_per_conn()
    }
}

/// Merges the results of several rounds (each a list of servers in the
/// same order) into one: per server and scenario, the round with the median
/// requests/s (the median RSS growth for `idle`), kept whole so the numbers
/// of a cell come from one run. A cell that failed in every round keeps the
/// first failure; a server's note is kept when no round measured anything.
pub(crate) fn median_of(rounds: Vec<Vec<ServerResult>>) -> Vec<ServerResult> {
    let mut rounds = rounds.into_iter();
    let Some(first) = rounds.next() else {
        return Vec::new();
    };
    let rest: Vec<Vec<ServerResult>> = rounds.collect();
    first
        .into_iter()
        .map(|base| {
            let all: Vec<&ServerResult> = std::iter::once(&base)
                .chain(
                    rest.iter()
                        .filter_map(|r| r.iter().find(|x| x.name == base.name)),
                )
                .collect();
            let loads = base
                .loads
                .iter()
                .map(|(s, first_result)| {
                    let mut ok: Vec<Load> =
                        all.iter().filter_map(|r| r.load(*s)).copied().collect();
                    ok.sort_by(|a, b| a.rps.total_cmp(&b.rps));
                    match ok.get(ok.len() / 2) {
                        Some(l) if !ok.is_empty() => (*s, Ok(*l)),
                        _ => (*s, first_result.clone()),
                    }
                })
                .collect();
            let mut idles: Vec<&Idle> = all
                .iter()
                .filter_map(|r| r.idle.as_ref()?.as_ref().ok())
                .filter(|i| i.bytes_per_conn().is_some())
                .collect();
            idles.sort_by(|a, b| {
                let key = |i: &Idle| i.bytes_per_conn().unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b))
            });
            let idle = match idles.get(idles.len() / 2) {
                Some(i) => Some(Ok((*i).clone())),
                None => base.idle.clone(),
            };
            let measured = all.iter().any(|r| r.note.is_none());
            ServerResult {
                name: base.name.clone(),
                loads,
                idle,
                note: if measured { None } else { base.note.clone() },
            }
        })
        .collect()
}

/// The label of a scenario in tables and the chart.
pub(crate) fn label(opts: &ServerOptions, s: ScenarioName) -> String {
    match s {
        ScenarioName::Plain => format!("plain, {} conns", opts.connections),
        ScenarioName::Pipelined => {
            format!("pipelined {}, {} conns", opts.depth, opts.connections)
        }
        ScenarioName::Many => format!("{} conns", opts.many_connections),
        ScenarioName::Close => format!("conn per request, {} at once", opts.connections),
        ScenarioName::Idle => format!("idle: RSS per conn, {} conns", opts.idle_conns),
        ScenarioName::Tls => "TLS (its own report)".to_owned(),
    }
}

/// `value(name) / value(peer)`: with several rounds, the median of the
/// ratios measured within each round (both numbers from the same moment of
/// the machine's load), not a ratio of medians from different rounds.
fn ratio_to(
    rounds: &[Vec<ServerResult>],
    name: &str,
    peer: &str,
    value: impl Fn(&ServerResult) -> Option<f64>,
) -> Option<f64> {
    let mut ratios: Vec<f64> = rounds
        .iter()
        .filter_map(|round| {
            let mine = value(round.iter().find(|r| r.name == name)?)?;
            let theirs = value(round.iter().find(|r| r.name == peer)?)?;
            (theirs > 0.0).then(|| mine / theirs)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(ratios[n / 2]),
        _ => Some((ratios[n / 2 - 1] + ratios[n / 2]) / 2.0),
    }
}

/// Bytes with a unit: `812 B`, `3.4 KiB`, `12.0 MiB`.
pub(crate) fn fmt_bytes(bytes: f64) -> String {
    if bytes.abs() < 1024.0 {
        format!("{bytes:.0} B")
    } else if bytes.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

/// The whole Markdown report of one or more rounds: `setup` lines first,
/// then the tables (numbers from [`median_of`] the rounds, ratios as
/// [`ratio_to`] computes them).
pub(crate) fn markdown(
    opts: &ServerOptions,
    setup: &[String],
    rounds: &[Vec<ServerResult>],
) -> String {
    let merged = median_of(rounds.to_vec());
    let results = &merged[..];
    let mut md = String::from("# brisk end-to-end bench\n\n");
    for line in setup {
        let _ = writeln!(md, "- {line}");
    }
    let loads: Vec<ScenarioName> = opts
        .scenarios
        .iter()
        .copied()
        .filter(|s| *s != ScenarioName::Idle)
        .collect();
    if !loads.is_empty() {
        md.push_str("\n## Requests/s\n\n| server |");
        for &s in &loads {
            let _ = write!(md, " {} |", label(opts, s));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(loads.len()));
        md.push('\n');
        for row in results {
            let _ = write!(md, "| {} |", row.name);
            for &s in &loads {
                let cell = row
                    .load(s)
                    .map_or_else(|| "n/a".to_owned(), |l| format!("{:.0}", l.rps));
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }

        md.push_str(
            "\n## Per scenario\n\nRatios are this server's value over fasthttp's and over \
             the floor's (with several rounds: the median of the ratios within each round): \
             above 1 is more requests/s, but more CPU per request.\n\n\
             | scenario | server | req/s | /fasthttp | /floor | CPU/req | /fasthttp | /floor \
             | p99 | RSS after | errors |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for &s in &loads {
            for row in results {
                let rps = |r: &ServerResult| r.load(s).map(|l| l.rps);
                let cpu = |r: &ServerResult| r.load(s).and_then(|l| l.cpu_ns);
                let _ = write!(md, "| {} | {} |", label(opts, s), row.name);
                match row.loads.iter().find(|(x, _)| *x == s).map(|(_, r)| r) {
                    Some(Ok(l)) => {
                        let _ = writeln!(
                            md,
                            " {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                            l.rps,
                            fmt_ratio(ratio_to(rounds, &row.name, "fasthttp", rps)),
                            fmt_ratio(ratio_to(rounds, &row.name, "floor", rps)),
                            l.cpu_ns.map_or_else(
                                || "n/a".to_owned(),
                                |ns| format!("{} ns", fmt_ns(ns))
                            ),
                            fmt_ratio(ratio_to(rounds, &row.name, "fasthttp", cpu)),
                            fmt_ratio(ratio_to(rounds, &row.name, "floor", cpu)),
                            l.p99_ns.map_or_else(|| "n/a".to_owned(), fmt_latency),
                            l.rss_kib
                                .map_or_else(|| "n/a".to_owned(), |k| fmt_bytes(k as f64 * 1024.0)),
                            l.errors
                        );
                    }
                    Some(Err(why)) => {
                        let _ = writeln!(md, " failed: {} |||||||||", cell_text(why));
                    }
                    None => {
                        let why = row.note.as_deref().unwrap_or("not run");
                        let _ = writeln!(md, " n/a: {} |||||||||", cell_text(why));
                    }
                }
            }
        }
    }

    if opts.scenarios.contains(&ScenarioName::Idle) {
        let _ = write!(
            md,
            "\n## Memory per idle keep-alive connection\n\n\
             {} connections opened, one request each, then held idle; growth = server RSS \
             with them open minus RSS before, over the connections opened.\n\n\
             | server | opened | RSS before | RSS with idle conns | per conn | /fasthttp | /floor | note |\n\
             |---|---:|---:|---:|---:|---:|---:|---|\n",
            opts.idle_conns
        );
        for row in results {
            let _ = write!(md, "| {} |", row.name);
            match &row.idle {
                Some(Ok(idle)) => {
                    let per = ServerResult::idle_bytes;
                    let _ = writeln!(
                        md,
                        " {} | {} | {} | {} | {} | {} | {} |",
                        if idle.opened < idle.wanted {
                            format!("{} of {}", idle.opened, idle.wanted)
                        } else {
                            idle.opened.to_string()
                        },
                        fmt_bytes(idle.rss_before_kib as f64 * 1024.0),
                        fmt_bytes(idle.rss_after_kib as f64 * 1024.0),
                        idle.bytes_per_conn()
                            .map_or_else(|| "n/a".to_owned(), fmt_bytes),
                        fmt_ratio(ratio_to(rounds, &row.name, "fasthttp", per)),
                        fmt_ratio(ratio_to(rounds, &row.name, "floor", per)),
                        idle.stopped.as_deref().map(cell_text).unwrap_or_default()
                    );
                }
                Some(Err(why)) => {
                    let _ = writeln!(md, " n/a ||||||failed: {} |", cell_text(why));
                }
                None => {
                    let why = row.note.as_deref().unwrap_or("not run");
                    let _ = writeln!(md, " n/a |||||| {} |", cell_text(why));
                }
            }
        }
    }

    md.push('\n');
    md.push_str(&cpu_line(rounds));
    md.push('\n');
    if rounds
        .iter()
        .any(|round| round.iter().any(|r| r.name == "brisk-uring"))
    {
        md.push_str(&uring_line(rounds));
        md.push('\n');
    }
    md.push_str(&summary_line(rounds));
    md.push('\n');
    md
}

/// Text safe inside a table cell (one line, no `|`).
fn cell_text(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .replace('|', "/")
        .chars()
        .take(160)
        .collect()
}

fn four_ratios(rounds: &[Vec<ServerResult>], value: impl Fn(&Load) -> Option<f64>) -> [String; 4] {
    let r = |peer: &str, s: ScenarioName| {
        fmt_ratio(ratio_to(rounds, "brisk", peer, |row| {
            row.load(s).and_then(&value)
        }))
    };
    [
        r("fasthttp", ScenarioName::Plain),
        r("fasthttp", ScenarioName::Pipelined),
        r("floor", ScenarioName::Plain),
        r("floor", ScenarioName::Pipelined),
    ]
}

/// Server CPU per request, brisk over the peers (lower is better).
pub(crate) fn cpu_line(rounds: &[Vec<ServerResult>]) -> String {
    let [a, b, c, d] = four_ratios(rounds, |l| l.cpu_ns);
    format!(
        "server cpu/request: brisk/fasthttp plain {a}, pipelined {b}; brisk/floor plain {c}, pipelined {d}"
    )
}

/// Requests/s of brisk's io_uring loop over the epoll floor, the io_uring
/// floor and brisk's epoll loop (printed when `brisk-uring` ran).
pub(crate) fn uring_line(rounds: &[Vec<ServerResult>]) -> String {
    let r = |peer: &str, s: ScenarioName| {
        fmt_ratio(ratio_to(rounds, "brisk-uring", peer, |row| {
            row.load(s).map(|l| l.rps)
        }))
    };
    let (p, q) = (ScenarioName::Plain, ScenarioName::Pipelined);
    format!(
        "io_uring: brisk-uring/floor plain {}, pipelined {}; brisk-uring/uring-floor plain {}, pipelined {}; brisk-uring/brisk plain {}, pipelined {}",
        r("floor", p),
        r("floor", q),
        r("uring-floor", p),
        r("uring-floor", q),
        r("brisk", p),
        r("brisk", q)
    )
}

/// The very last line: requests/s of brisk over fasthttp and over the floor.
pub(crate) fn summary_line(rounds: &[Vec<ServerResult>]) -> String {
    let [a, b, c, d] = four_ratios(rounds, |l| Some(l.rps));
    format!("bench: brisk/fasthttp plain {a}, pipelined {b}; brisk/floor plain {c}, pipelined {d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rps: f64) -> Load {
        Load {
            rps,
            cpu_ns: Some(1e9 / rps),
            p99_ns: Some(1000),
            errors: 0,
            rss_kib: Some(2048),
        }
    }

    fn result(name: &str, plain: f64, pipelined: f64) -> ServerResult {
        ServerResult {
            name: name.to_owned(),
            loads: vec![
                (ScenarioName::Plain, Ok(load(plain))),
                (ScenarioName::Pipelined, Ok(load(pipelined))),
                (ScenarioName::Many, Err("server died".to_owned())),
            ],
            idle: Some(Ok(Idle {
                wanted: 10,
                opened: 10,
                rss_before_kib: 1000,
                rss_after_kib: 1010,
                stopped: None,
            })),
            note: None,
        }
    }

    fn opts() -> ServerOptions {
        let crate::flags::Command::Bench(b) =
            crate::flags::parse(["bench".to_owned(), "server".to_owned()]).unwrap()
        else {
            panic!("not bench")
        };
        b.server
    }

    #[test]
    fn summary_ratios_and_missing_peers() {
        let rows = vec![
            result("brisk", 90.0, 300.0),
            result("fasthttp", 100.0, 200.0),
        ];
        assert_eq!(
            summary_line(std::slice::from_ref(&rows)),
            "bench: brisk/fasthttp plain 0.90, pipelined 1.50; brisk/floor plain n/a, pipelined n/a"
        );
        assert_eq!(
            cpu_line(std::slice::from_ref(&rows)),
            "server cpu/request: brisk/fasthttp plain 1.11, pipelined 0.67; brisk/floor plain n/a, pipelined n/a"
        );
        let rows = vec![
            ServerResult::missing("brisk", "not built".to_owned()),
            result("floor", 1.0, 1.0),
        ];
        assert_eq!(
            summary_line(std::slice::from_ref(&rows)),
            "bench: brisk/fasthttp plain n/a, pipelined n/a; brisk/floor plain n/a, pipelined n/a"
        );
    }

    #[test]
    fn markdown_has_every_server_scenario_and_the_summary_last() {
        let rows = vec![
            result("brisk", 90.0, 300.0),
            result("fasthttp", 100.0, 200.0),
            result("floor", 120.0, 400.0),
            ServerResult::missing("nginx", "not installed".to_owned()),
        ];
        let md = markdown(&opts(), &["setup line".to_owned()], &[rows]);
        assert!(md.contains("- setup line"));
        assert!(md.contains("| brisk | 90 | 300 | n/a | n/a |"), "{md}");
        // plain, brisk: 90 req/s = 0.90 of fasthttp, 0.75 of the floor.
        assert!(
            md.contains("| plain, 100 conns | brisk | 90 | 0.90 | 0.75 |"),
            "{md}"
        );
        assert!(md.contains("| 1000 conns | brisk | failed: server died |"));
        assert!(md.contains("| nginx | n/a |||||| not installed |"));
        assert!(md.contains("| brisk | 10 | 1000.0 KiB | 1010.0 KiB | 1.0 KiB | 1.00 | 1.00 |"));
        assert!(
            md.trim_end()
                .ends_with("bench: brisk/fasthttp plain 0.90, pipelined 1.50; brisk/floor plain 0.75, pipelined 0.75")
        );
        // Every table row has as many cells as its header.
        for table in md.split("\n\n").filter(|t| t.starts_with('|')) {
            let cells = |line: &str| line.matches('|').count();
            let mut lines = table.lines();
            let header = cells(lines.next().unwrap());
            for line in lines {
                assert_eq!(cells(line), header, "{line}");
            }
        }
    }

    #[test]
    fn median_round_per_cell() {
        let rounds = vec![
            vec![result("brisk", 10.0, 300.0), result("floor", 5.0, 5.0)],
            vec![result("brisk", 30.0, 100.0), result("floor", 6.0, 6.0)],
            vec![result("brisk", 20.0, 200.0), result("floor", 7.0, 7.0)],
        ];
        let merged = median_of(rounds);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].load(ScenarioName::Plain).unwrap().rps, 20.0);
        assert_eq!(merged[0].load(ScenarioName::Pipelined).unwrap().rps, 200.0);
        assert_eq!(merged[1].load(ScenarioName::Plain).unwrap().rps, 6.0);
        assert!(merged[0].load(ScenarioName::Many).is_none());
        assert_eq!(merged[0].idle_bytes(), Some(1024.0));
        let missing = median_of(vec![
            vec![ServerResult::missing("nginx", "gone".to_owned())],
            vec![ServerResult::missing("nginx", "gone".to_owned())],
        ]);
        assert_eq!(missing[0].note.as_deref(), Some("gone"));
        assert!(median_of(Vec::new()).is_empty());
    }

    #[test]
    fn ratios_are_medians_of_per_round_ratios() {
        // Round 2 is slow for everybody: brisk/floor is 0.5 in every round,
        // though brisk's median (20) over the floor's median (60) is 0.33.
        let rounds = vec![
            vec![result("brisk", 30.0, 1.0), result("floor", 60.0, 1.0)],
            vec![result("brisk", 10.0, 1.0), result("floor", 20.0, 3.0)],
            vec![result("brisk", 20.0, 1.0), result("floor", 40.0, 4.0)],
            vec![result("brisk", 50.0, 1.0), result("floor", 100.0, 2.0)],
        ];
        let line = summary_line(&rounds);
        // Pipelined: ratios 1, 1/3, 1/4, 1/2 -> median (1/3 + 1/2) / 2.
        assert_eq!(
            line,
            "bench: brisk/fasthttp plain n/a, pipelined n/a; brisk/floor plain 0.50, pipelined 0.42"
        );
        let md = markdown(&opts(), &[], &rounds);
        assert!(
            md.contains("| plain, 100 conns | brisk | 30 | n/a | 0.50 |"),
            "{md}"
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(fmt_bytes(812.0), "812 B");
        assert_eq!(fmt_bytes(3481.6), "3.4 KiB");
        assert_eq!(fmt_bytes(-2048.0), "-2.0 KiB");
        assert_eq!(fmt_bytes(12.0 * 1024.0 * 1024.0), "12.0 MiB");
    }
}

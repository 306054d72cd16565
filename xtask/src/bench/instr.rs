//! `cargo xtask bench instr`: user-space instructions per request of the
//! `hello` example (one loop) under callgrind, pipelined (16 deep) and
//! plain keep-alive. Unlike requests/s these counts barely move between
//! runs, so a change on the hot path can be judged by them on a busy
//! machine (docs/BENCHMARKS.md, "Instructions per request").
//!
//! Method: `valgrind --tool=callgrind hello --port P --loops 1`; a warm-up
//! of 4000 requests from `brisk-load -c 20`; `callgrind_control -z`; the
//! measured requests (`-n 40000 -p 16` pipelined, `-n 20000 -p 1` plain);
//! `callgrind_control -d`; the dump's total instructions divided by the
//! requests. libc is included, the kernel is not.
//!
//! With `--base REV` the bench also builds `hello` at git revision REV (a
//! worktree in `target/xtask-bench/instr/base-tree`, its own target
//! directory) and measures both in the same run, printing the change.
//!
//! Writes `target/bench/instr.md` and prints it. Without valgrind the bench
//! says so and succeeds (valgrind is not needed by the tests).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::procs::{Server, free_port};
use super::server::find_program;
use crate::{cargo, run_cmd, show, target_dir};

/// One measured load: name, pipeline depth, measured requests.
const LOADS: [(&str, usize, u64); 2] = [("pipelined", 16, 40_000), ("plain", 1, 20_000)];
/// Requests before the counters are zeroed.
const WARMUP: u64 = 4_000;
/// Connections of every load.
const CONNS: usize = 20;

pub(crate) fn run(base: Option<&str>) -> Result<()> {
    let target = target_dir()?;
    let out_dir = target.join("bench");
    fs::create_dir_all(&out_dir)?;
    let mut md = String::from("## Instructions per request (cargo xtask bench instr)\n\n");
    let (Some(valgrind), Some(control)) =
        (find_program("valgrind"), find_program("callgrind_control"))
    else {
        md.push_str("Not run: valgrind (with callgrind_control) is not installed.\n");
        return finish(&out_dir, &md);
    };
    let load = super::build_bench_bin("brisk-load")?;
    run_cmd(cargo().args(["build", "--release", "-p", "brisk", "--example", "hello"]))
        .context("building the hello example")?;
    let hello = target.join("release/examples/hello");
    let work = target.join("xtask-bench/instr");
    fs::create_dir_all(&work)?;
    let base = match base {
        Some(rev) => Some((rev, build_base(rev, &work)?)),
        None => None,
    };

    let _ = writeln!(
        md,
        "`hello --loops 1` under callgrind; brisk-load -c {CONNS}, {WARMUP} warm-up requests \
         not counted. User space (libc included), not the kernel.\n"
    );
    match &base {
        None => {
            md.push_str("| load | requests | instructions | per request |\n|---|---|---|---|\n")
        }
        Some((rev, _)) => {
            let _ = writeln!(
                md,
                "| load | requests | per request at `{rev}` | per request, this tree | change |\n\
                 |---|---|---|---|---|"
            );
        }
    }
    for (name, depth, requests) in LOADS {
        let count = |exe: &Path, tag: &str| {
            measure(
                &valgrind,
                &control,
                exe,
                &load,
                &work,
                &format!("{name}{tag}"),
                depth,
                requests,
            )
            .with_context(|| format!("the {name} load ({})", exe.display()))
        };
        let this = count(&hello, "")?;
        match &base {
            None => {
                let _ = writeln!(
                    md,
                    "| {name} (-p {depth}) | {requests} | {this} | **{}** |",
                    this / requests
                );
            }
            Some((_, base_exe)) => {
                let then = count(base_exe, "-base")?;
                let (a, b) = (then / requests, this / requests);
                let _ = writeln!(
                    md,
                    "| {name} (-p {depth}) | {requests} | {a} | {b} | **{:+}** ({:+.1}%) |",
                    b as i64 - a as i64,
                    (this as f64 / then as f64 - 1.0) * 100.0
                );
            }
        }
    }
    finish(&out_dir, &md)
}

/// Builds `hello` at git revision `rev` in a worktree under `work` (made
/// once, then moved to `rev`), with a target directory of its own; returns
/// a copy of the binary.
fn build_base(rev: &str, work: &Path) -> Result<PathBuf> {
    let root = crate::project_root();
    let git = |args: &[&str]| -> Result<String> {
        let mut cmd = Command::new("git");
        cmd.current_dir(&root).args(args);
        stdout_of(&mut cmd)
    };
    let commit = git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
        .with_context(|| format!("--base {rev}: not a revision of this repository"))?;
    let tree = work.join("base-tree");
    let tree_s = tree.to_string_lossy().into_owned();
    if tree.join(".git").exists() {
        let mut cmd = Command::new("git");
        cmd.current_dir(&tree)
            .args(["checkout", "--quiet", "--detach", "--force", &commit]);
        run_cmd(&mut cmd)?;
    } else {
        // A worktree left registered by a removed target directory.
        git(&["worktree", "prune"])?;
        git(&["worktree", "add", "--detach", &tree_s, &commit])?;
    }
    let target = work.join("base-target");
    run_cmd(
        cargo()
            .args([
                "build",
                "--release",
                "-p",
                "brisk",
                "--example",
                "hello",
                "--manifest-path",
            ])
            .arg(tree.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target),
    )
    .with_context(|| format!("building hello at {rev} ({commit})"))?;
    let exe = work.join("hello-base");
    fs::copy(target.join("release/examples/hello"), &exe)
        .with_context(|| format!("copying hello at {rev}"))?;
    Ok(exe)
}

fn finish(out_dir: &Path, md: &str) -> Result<()> {
    let path = out_dir.join("instr.md");
    fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    println!("{md}");
    println!("(written to {})", path.display());
    Ok(())
}

/// One server under callgrind, one load; the instructions counted while
/// the measured requests ran.
#[allow(clippy::too_many_arguments)]
fn measure(
    valgrind: &Path,
    control: &Path,
    hello: &Path,
    load: &Path,
    work: &Path,
    name: &str,
    depth: usize,
    requests: u64,
) -> Result<u64> {
    let out = work.join(format!("{name}.cg"));
    // Old dumps would be read as this run's.
    for entry in fs::read_dir(work)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.starts_with(&format!("{name}.cg")))
        {
            fs::remove_file(&path)?;
        }
    }
    let port = free_port()?;
    let mut cmd = Command::new(valgrind);
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(hello)
        .args(["--port", &port.to_string(), "--loops", "1"]);
    let log = work.join(format!("{name}.log"));
    let mut server = Server::start(&format!("hello ({name})"), cmd, &log, None, None)?;
    server.wait_ready(port, Duration::from_secs(60))?;
    let url = format!("http://127.0.0.1:{port}/");
    brisk_load(load, &url, depth, WARMUP)?;
    callgrind_control(control, "-z", server.pid())?;
    brisk_load(load, &url, depth, requests)?;
    callgrind_control(control, "-d", server.pid())?;
    // The dump is written by the process itself, soon after the request.
    let deadline = Instant::now() + Duration::from_secs(30);
    let total = loop {
        if let Some(total) = dumped_total(work, name)? {
            break total;
        }
        if Instant::now() > deadline {
            bail!("callgrind wrote no dump for {} in 30 s", out.display());
        }
        thread::sleep(Duration::from_millis(100));
    };
    drop(server);
    Ok(total)
}

fn brisk_load(load: &Path, url: &str, depth: usize, requests: u64) -> Result<()> {
    let mut cmd = Command::new(load);
    cmd.args([
        "-c",
        &CONNS.to_string(),
        "-n",
        &requests.to_string(),
        "-p",
        &depth.to_string(),
        url,
    ]);
    stdout_of(&mut cmd).map(drop)
}

/// Runs `cmd` to its end; its stdout (trimmed), or an error with its
/// stderr when it fails.
fn stdout_of(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn callgrind_control(control: &Path, flag: &str, pid: u32) -> Result<()> {
    let mut cmd = Command::new(control);
    cmd.args([flag, &pid.to_string()]);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", show(&cmd), out.status);
    }
    Ok(())
}

/// The total of the first numbered dump (`NAME.cg.1`, from
/// `callgrind_control -d`) once it is written.
fn dumped_total(work: &Path, name: &str) -> Result<Option<u64>> {
    let path: PathBuf = work.join(format!("{name}.cg.1"));
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(None);
    };
    Ok(parse_total(&text))
}

/// The event total of a callgrind dump: its `totals:` line, the file's
/// last, so `None` also while the file is being written.
fn parse_total(text: &str) -> Option<u64> {
    let line = text.lines().rev().find(|l| l.starts_with("totals:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_line_gives_the_count() {
        let dump = "version: 1\nevents: Ir\nsummary: 24106525\n\nfn=x\n0x1 1 2\ntotals: 24106530\n";
        assert_eq!(parse_total(dump), Some(24_106_530));
        // Cut short: the header's summary alone is not taken.
        assert_eq!(parse_total("events: Ir\nsummary: 77\nfn=x\n"), None);
        assert_eq!(parse_total("totals: many\n"), None);
    }
}

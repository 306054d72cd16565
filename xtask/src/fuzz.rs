//! `cargo xtask fuzz`: cargo-fuzz on a nightly toolchain, corpus replay on stable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::flags::{FUZZ_TARGETS, Fuzz};
use crate::{cargo, project_root, run_cmd, show};

pub(crate) fn run(fuzz: &Fuzz) -> Result<()> {
    let targets: Vec<&str> = match &fuzz.target {
        Some(t) => vec![t.as_str()],
        None => FUZZ_TARGETS.to_vec(),
    };
    if fuzz.replay || !nightly_available() {
        if fuzz.replay {
            println!("fuzz: --replay: only replaying the stored corpora, no fuzzing");
        } else {
            println!(
                "fuzz: no nightly toolchain (`cargo +nightly --version` failed), so no fuzzing: \
                 only replaying the stored corpora on stable"
            );
        }
        let replayed = replay_corpora()?;
        println!(
            "fuzz: replayed the corpora only ({replayed} corpus tests; fuzzing needs a nightly \
             toolchain, without --replay)"
        );
        return Ok(());
    }
    let manifest = project_root().join("fuzz/Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "the fuzz workspace is missing: {} does not exist",
            manifest.display()
        );
    }
    ensure_cargo_fuzz()?;
    for target in &targets {
        println!("==> fuzz {target} for {} s", fuzz.time);
        run_cmd(nightly().args([
            "fuzz",
            "run",
            target,
            "--",
            &format!("-max_total_time={}", fuzz.time),
        ]))
        .with_context(|| {
            format!("fuzz target {target} failed (crash inputs are in fuzz/artifacts/{target}/)")
        })?;
    }
    println!(
        "fuzz: {}: {} s each, no crash",
        targets.join(", "),
        fuzz.time
    );
    Ok(())
}

/// Runs the corpus-replay tests (brisk-http's, brisk-server's and
/// brisk-handlers') and
/// returns how many ran; a crate where no test matched is an error, not a
/// pass.
fn replay_corpora() -> Result<u64> {
    let mut total = 0;
    for krate in ["brisk-http", "brisk-server", "brisk-handlers"] {
        let mut cmd = cargo();
        cmd.args(["test", "-p", krate, "--test", "it", "corpus"]);
        if krate == "brisk-server" {
            // The `tls` corpus needs the feature; `conn` runs either way.
            cmd.args(["--features", "tls"]);
        }
        println!("$ {}", show(&cmd));
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot start `{}`", show(&cmd)))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        if !out.status.success() {
            bail!("`{}` failed ({})", show(&cmd), out.status);
        }
        match passed_tests(&stdout) {
            0 => bail!(
                "`{}` ran no test: {krate}'s tests/it has no test whose name contains `corpus`, \
                 so nothing was replayed",
                show(&cmd)
            ),
            n => total += n,
        }
    }
    Ok(total)
}

/// Sum of `N passed` over libtest's `test result:` lines.
fn passed_tests(output: &str) -> u64 {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("test result: "))
        .filter_map(|l| {
            l.split(". ")
                .nth(1)?
                .split(';')
                .next()?
                .strip_suffix(" passed")?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `cargo +nightly ...` through rustup's `cargo` proxy (not `$CARGO`, which
/// is the stable toolchain's own binary and does not understand `+nightly`),
/// with the variables that pin the stable toolchain removed.
fn nightly() -> Command {
    let mut cmd = Command::new(rustup_cargo());
    cmd.arg("+nightly")
        .current_dir(project_root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO");
    cmd
}

fn rustup_cargo() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match home.map(|h| h.join("bin/cargo")) {
        Some(proxy) if proxy.is_file() => proxy,
        _ => PathBuf::from(OsString::from("cargo")),
    }
}

fn quietly_succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn nightly_available() -> bool {
    quietly_succeeds(nightly().arg("--version"))
}

/// Installs cargo-fuzz unless `cargo +nightly fuzz --version` already works.
fn ensure_cargo_fuzz() -> Result<()> {
    if quietly_succeeds(nightly().args(["fuzz", "--version"])) {
        return Ok(());
    }
    println!("fuzz: cargo-fuzz is missing; installing it (once)");
    run_cmd(cargo().args(["install", "cargo-fuzz", "--locked"])).context("installing cargo-fuzz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_passed_tests() {
        let out = "running 2 tests\ntest corpus_head ... ok\n\n\
                   test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.01s\n\
                   test result: ok. 1 passed; 0 failed; 0 ignored\n";
        assert_eq!(passed_tests(out), 3);
        assert_eq!(
            passed_tests("test result: ok. 0 passed; 0 failed; 0 ignored"),
            0
        );
        assert_eq!(passed_tests("nothing"), 0);
    }
}

//! `cargo xtask fuzz`: cargo-fuzz on a nightly toolchain, corpus replay on stable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::flags::{FUZZ_TARGETS, Fuzz};
use crate::{cargo, project_root, run_cmd};

pub(crate) fn run(fuzz: &Fuzz) -> Result<()> {
    let targets: Vec<&str> = match &fuzz.target {
        Some(t) => vec![t.as_str()],
        None => FUZZ_TARGETS.to_vec(),
    };
    if !nightly_available() {
        println!(
            "fuzz: no nightly toolchain (`cargo +nightly --version` failed), so no fuzzing: \
             only replaying the stored corpora on stable"
        );
        run_cmd(cargo().args(["test", "-p", "brisk-http", "--test", "it", "corpus"]))?;
        println!("fuzz: replayed the corpora only (install a nightly toolchain to fuzz)");
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
        "fuzz: {} ran {} s each without a crash",
        targets.join(", "),
        fuzz.time
    );
    Ok(())
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

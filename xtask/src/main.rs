//! brisk's developer commands, run as `cargo xtask <command>` (the cargo-xtask
//! pattern: an ordinary binary in the workspace plus an alias in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: what `.ci/run` runs (fmt, clippy, tests, docs, dependency checks).
//! - `cargo xtask bench [name]`: criterion micro-benches and the end-to-end server bench,
//!   each ending with one summary line.
//! - `cargo xtask fuzz [target]`: cargo-fuzz on nightly, corpus replay on stable.
//!
//! `main` only dispatches: `flags` parses, one module per command does the work.
//! The tidy checks (`tidy`) run as a `#[test]`, so `cargo test --workspace` runs them.

mod bench;
mod ci;
mod flags;
mod fuzz;
#[cfg(test)]
mod tidy;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let result = flags::parse(std::env::args().skip(1)).and_then(|command| match command {
        flags::Command::Help(text) => {
            print!("{text}");
            Ok(())
        }
        flags::Command::Ci(ci) => ci::run(&ci),
        flags::Command::Bench(bench) => bench::run(&bench),
        flags::Command::Fuzz(fuzz) => fuzz::run(&fuzz),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (the parent of `xtask/`).
pub(crate) fn project_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// A `cargo` command (through `$CARGO`, the cargo that runs xtask), in the project root.
pub(crate) fn cargo() -> Command {
    let mut cmd =
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    cmd.current_dir(project_root());
    cmd
}

/// Prints `cmd` the way a shell would show it, runs it with inherited
/// stdio, and fails when it exits non-zero.
pub(crate) fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = show(cmd);
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// `cmd` as text: env overrides, program name (not its full path) and arguments.
pub(crate) fn show(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            parts.push(format!(
                "{}={:?}",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    let program = Path::new(cmd.get_program());
    parts.push(
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned(),
    );
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and cargo config).
pub(crate) fn target_dir() -> Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("`cargo metadata` printed invalid JSON")?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` output has no target_directory")
}

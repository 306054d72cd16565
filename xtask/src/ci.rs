//! `cargo xtask ci`: the same checks as `.ci/run`, step by step.

use anyhow::{Context, Result, bail};

use crate::flags::{Ci, Step};
use crate::{cargo, run_cmd, show};

/// Layering rules: (crate, crates it must not depend on). Checked on normal
/// and build dependencies for every target platform; dev-dependencies do not
/// ship and are not checked.
pub(crate) const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "brisk-http",
        &["brisk-server", "brisk-pool", "socket2", "nix"],
    ),
    (
        "brisk-buf",
        &[
            "brisk-http",
            "brisk-pool",
            "brisk-server",
            "brisk-prefork",
            "brisk",
        ],
    ),
    (
        "brisk-pool",
        &[
            "brisk-buf",
            "brisk-http",
            "brisk-server",
            "brisk-prefork",
            "brisk",
        ],
    ),
    ("brisk-handlers", &["brisk", "brisk-prefork"]),
    (
        "brisk-prefork",
        &[
            "brisk-buf",
            "brisk-http",
            "brisk-pool",
            "brisk-server",
            "brisk",
        ],
    ),
];

/// The optional features (HTTPS, the io_uring loop), for the steps that
/// check them.
const TLS_FEATURES: &str = "brisk-server/tls,brisk-server/uring,brisk/tls,brisk/uring";

/// The `tls` feature's tests (as `.ci/run` runs them): brisk-server's
/// suites with TLS, its TLS doc test, the examples over HTTPS (with
/// `uring` too, so the io_uring run reuses the build).
const TLS_TESTS: &[&[&str]] = &[
    &[
        "test",
        "-p",
        "brisk-server",
        "--features",
        "tls,uring",
        "--lib",
        "--test",
        "it",
        "--test",
        "tls_idle",
    ],
    &[
        "test",
        "-p",
        "brisk-server",
        "--features",
        "tls,uring",
        "--doc",
        "tls",
    ],
    &[
        "build",
        "-p",
        "brisk",
        "--features",
        "tls,uring",
        "--examples",
    ],
    &[
        "test",
        "-p",
        "brisk",
        "--features",
        "tls,uring",
        "--test",
        "it",
        "tls",
    ],
];

/// A dependency that must be found, proving that the check can see one.
const CONTROL: (&str, &str) = ("brisk", "brisk-server");

pub(crate) fn run(ci: &Ci) -> Result<()> {
    for step in &ci.steps {
        println!("==> ci step: {}", step.name());
        match step {
            Step::Fmt => run_cmd(cargo().args(["fmt", "--all", "--check"]))?,
            Step::Clippy => {
                run_cmd(cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))?;
                // The `tls` feature is off by default: checked on its own.
                run_cmd(
                    cargo()
                        .args(["clippy", "-p", "brisk-server", "-p", "brisk"])
                        .args([
                            "--features",
                            TLS_FEATURES,
                            "--all-targets",
                            "--",
                            "-D",
                            "warnings",
                        ]),
                )?;
            }
            Step::Test => {
                run_cmd(cargo().args(["test", "--workspace"]))?;
                for args in TLS_TESTS {
                    run_cmd(cargo().args(*args))?;
                }
                // The server's socket tests again on the io_uring loop
                // (they fall back to epoll where io_uring is unavailable).
                run_cmd(cargo().env("BRISK_BACKEND", "uring").args([
                    "test",
                    "-p",
                    "brisk-server",
                    "--features",
                    "tls,uring",
                    "--test",
                    "it",
                    "--test",
                    "alloc",
                    "--test",
                    "abuse",
                ]))?;
            }
            Step::Doc => {
                run_cmd(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                    "doc",
                    "--workspace",
                    "--no-deps",
                ]))?;
                run_cmd(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                    "doc",
                    "-p",
                    "brisk-server",
                    "-p",
                    "brisk",
                    "--features",
                    TLS_FEATURES,
                    "--no-deps",
                ]))?;
            }
            Step::Deps => deps()?,
        }
    }
    println!(
        "ci: all steps passed ({})",
        ci.steps
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Test => "test",
            Step::Doc => "doc",
            Step::Deps => "deps",
        }
    }
}

/// What `cargo tree -p X -i Y` says about X depending on Y.
#[derive(Debug, PartialEq)]
pub(crate) enum Tree {
    /// Y is in X's dependency graph; the inverted tree shows the path.
    Depends(String),
    /// Y is not in X's graph.
    Absent,
}

fn deps() -> Result<()> {
    let (krate, dep) = CONTROL;
    match tree(krate, dep)? {
        Tree::Depends(_) => println!("deps: control ok: {krate} -> {dep} is detected"),
        Tree::Absent => bail!(
            "the dependency check is blind: `cargo tree -p {krate} -i {dep}` found nothing, \
             but {krate} must depend on {dep}"
        ),
    }
    let mut violations = Vec::new();
    for (krate, forbidden) in FORBIDDEN {
        for dep in *forbidden {
            match tree(krate, dep)? {
                Tree::Absent => {}
                Tree::Depends(path) => violations.push(format!(
                    "{krate} must not depend on {dep}, but it does:\n{path}"
                )),
            }
        }
        println!("deps: {krate} does not depend on {}", forbidden.join(", "));
    }
    if !violations.is_empty() {
        bail!("layering violated:\n{}", violations.join("\n"));
    }
    Ok(())
}

/// Runs `cargo tree -p krate -i dep` on normal and build edges, all targets.
fn tree(krate: &str, dep: &str) -> Result<Tree> {
    let mut cmd = cargo();
    cmd.args([
        "tree",
        "-p",
        krate,
        "-i",
        dep,
        "-e",
        "normal,build",
        "--target",
        "all",
    ]);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    interpret_tree(
        out.status.success(),
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    )
    .with_context(|| format!("`{}`", show(&cmd)))
}

/// How `cargo tree -i` reports things: exit 0 with the inverted tree when
/// the package is in the graph; exit 101 with "package ID specification
/// `Y` did not match any packages" when it is not (also for a name that is
/// nowhere in the workspace). Anything else (a broken manifest, an
/// ambiguous spec) is an error, never a pass.
pub(crate) fn interpret_tree(success: bool, stdout: &str, stderr: &str) -> Result<Tree> {
    if success {
        return Ok(if stdout.trim().is_empty() {
            Tree::Absent
        } else {
            Tree::Depends(stdout.trim_end().to_owned())
        });
    }
    if stderr.contains("did not match any packages") {
        return Ok(Tree::Absent);
    }
    bail!("cargo tree failed: {}", stderr.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_output_is_read_strictly() {
        let path = "nix v0.30.1\n└── brisk-http v0.1.0 (/x)\n";
        assert_eq!(
            interpret_tree(true, path, "").unwrap(),
            Tree::Depends(path.trim_end().to_owned())
        );
        assert_eq!(interpret_tree(true, "  \n", "").unwrap(), Tree::Absent);
        let absent = "error: package ID specification `nix` did not match any packages\n";
        assert_eq!(interpret_tree(false, "", absent).unwrap(), Tree::Absent);
        let broken = "error: failed to parse manifest at `/x/Cargo.toml`";
        let err = interpret_tree(false, "", broken).unwrap_err().to_string();
        assert!(err.contains("failed to parse manifest"), "{err}");
        let ambiguous = "error: There are multiple `socket2` packages in your project";
        assert!(interpret_tree(false, "", ambiguous).is_err());
    }

    #[test]
    fn rules_cover_the_layering() {
        let rule = |k: &str| {
            FORBIDDEN
                .iter()
                .find(|(c, _)| *c == k)
                .map(|(_, f)| *f)
                .unwrap()
        };
        for dep in ["brisk-server", "brisk-pool", "socket2", "nix"] {
            assert!(rule("brisk-http").contains(&dep));
        }
        let ours = [
            "brisk-buf",
            "brisk-http",
            "brisk-pool",
            "brisk-server",
            "brisk-prefork",
            "brisk",
        ];
        for krate in ["brisk-buf", "brisk-pool", "brisk-prefork"] {
            for other in ours.iter().filter(|o| **o != krate) {
                assert!(rule(krate).contains(other), "{krate} may depend on {other}");
            }
        }
    }
}

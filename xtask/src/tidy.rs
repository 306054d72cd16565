//! Tidy checks over `crates/`, run by `cargo test` (so by CI):
//!
//! - every `unsafe {` block and `unsafe impl` has a `// SAFETY:` comment on
//!   the lines just above it (a comment block, attributes in between are fine);
//! - no `dbg!(`, `todo!(` or `unimplemented!(`;
//! - no `#[ignore]` or `#[should_panic]` tests (assert the `Err` instead);
//! - no source file longer than [`MAX_LINES`] lines;
//! - every crate directory has a `README.md`;
//! - no file git tracks holds merge-conflict markers (a merge once left
//!   them in the README and every check above passed).
//!
//! Each problem is reported as `path:line: what is wrong`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

/// Longest source file allowed, in lines: split bigger files into modules.
const MAX_LINES: usize = 2000;

/// Forbidden in code lines, with the reason shown to the reader.
const FORBIDDEN: &[(&str, &str)] = &[
    ("dbg!(", "`dbg!` left in (remove it or use `log`)"),
    ("todo!(", "`todo!` left in (finish it or return an error)"),
    (
        "unimplemented!(",
        "`unimplemented!` left in (finish it or return an error)",
    ),
    (
        "#[ignore",
        "`#[ignore]` test (make it fast and reliable instead)",
    ),
    (
        "#[should_panic",
        "`#[should_panic]` test (assert the `Err` instead)",
    ),
];

#[test]
fn tidy() {
    let crates = project_root().join("crates");
    let problems = check_tree(&crates);
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_conflict_markers() {
    let root = project_root();
    let out = std::process::Command::new("git")
        .current_dir(&root)
        .args(["ls-files", "-z"])
        .output();
    // Outside a git checkout (a source tarball) there is nothing to list.
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return;
    };
    let mut problems = Vec::new();
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        // Binary files and corpora are not read as text.
        let Ok(text) = fs::read_to_string(root.join(&name)) else {
            continue;
        };
        problems.extend(conflict_markers(&name, &text));
    }
    assert!(
        problems.is_empty(),
        "merge-conflict markers left in:\n{}",
        problems.join("\n")
    );
}

/// The lines of `text` that open or close a merge conflict (`<<<<<<< `,
/// `>>>>>>> `), when both kinds are there (one alone may be quoted text).
fn conflict_markers(name: &str, text: &str) -> Vec<String> {
    let at = |prefix: &str| -> Vec<usize> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(prefix))
            .map(|(i, _)| i + 1)
            .collect()
    };
    let (open, close) = (at("<<<<<<< "), at(">>>>>>> "));
    if open.is_empty() || close.is_empty() {
        return Vec::new();
    }
    open.iter()
        .chain(&close)
        .map(|line| format!("{name}:{line}: merge-conflict marker"))
        .collect()
}

/// Checks every crate under `crates` and returns the problems found.
fn check_tree(crates: &Path) -> Vec<String> {
    let root = crates.parent().unwrap_or(crates);
    let mut problems = Vec::new();
    let mut dirs: Vec<PathBuf> = match fs::read_dir(crates) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => return vec![format!("{}: cannot read: {e}", crates.display())],
    };
    dirs.sort();
    for dir in &dirs {
        if dir.join("Cargo.toml").is_file() && !dir.join("README.md").is_file() {
            problems.push(format!(
                "{}: crate has no README.md (open it with a runnable example)",
                relative(root, dir)
            ));
        }
    }
    let mut files = Vec::new();
    for dir in &dirs {
        rust_files(dir, &mut files);
    }
    files.sort();
    for file in files {
        match fs::read_to_string(&file) {
            Ok(text) => problems.extend(check_file(&relative(root, &file), &text)),
            Err(e) => problems.push(format!("{}: cannot read: {e}", relative(root, &file))),
        }
    }
    problems
}

/// Checks one file's text; `name` is used in the messages.
fn check_file(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_LINES {
        problems.push(format!(
            "{name}: {} lines, more than {MAX_LINES} (split it into modules)",
            lines.len()
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue; // comments and docs may talk about these things
        }
        for (pattern, why) in FORBIDDEN {
            if code.contains(pattern) {
                problems.push(format!("{name}:{}: {why}", i + 1));
            }
        }
        if has_unsafe_block_or_impl(code) && !safety_comment_above(&lines, i) {
            problems.push(format!(
                "{name}:{}: `unsafe` without a `// SAFETY:` comment on the lines just above",
                i + 1
            ));
        }
    }
    problems
}

/// `unsafe {` or `unsafe impl` outside a trailing `//` comment.
fn has_unsafe_block_or_impl(code: &str) -> bool {
    let code = code.split("//").next().unwrap_or(code);
    code.match_indices("unsafe").any(|(at, _)| {
        let before_ok = at == 0 || !is_ident_byte(code.as_bytes()[at - 1]);
        let after = code[at + "unsafe".len()..].trim_start();
        before_ok
            && (after.starts_with('{') || after.starts_with("impl ") || after.starts_with("impl<"))
    })
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Walks up from line `i` over comment and attribute lines; true when one
/// of those comments has `SAFETY:`. When the `unsafe` sits on a continuation
/// line of a longer statement (`if a\n    || unsafe { .. }`), the walk goes on
/// over up to [`MAX_CONTINUATION`] earlier lines of that statement, as
/// clippy's `undocumented_unsafe_blocks` does. A `SAFETY:` comment on line
/// `i` itself, before the `unsafe`, also counts.
fn safety_comment_above(lines: &[&str], i: usize) -> bool {
    if let Some((before, _)) = lines[i].split_once("unsafe") {
        if before.contains("// SAFETY:") || before.contains("/* SAFETY:") {
            return true;
        }
    }
    let mut continuation = 0;
    for line in lines[..i].iter().rev() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with("/*") || t.starts_with('*') {
            if t.contains("SAFETY:") {
                return true;
            }
        } else if t.starts_with("#[") {
            continue;
        } else {
            let code = t.split("//").next().unwrap_or(t).trim_end();
            let ends_statement = code.is_empty() || code.ends_with([';', '{', '}', ',']);
            continuation += 1;
            if ends_statement || continuation > MAX_CONTINUATION {
                return false;
            }
        }
    }
    false
}

/// Earlier lines of one statement searched for its `SAFETY:` comment.
const MAX_CONTINUATION: usize = 4;

/// Collects `.rs` files under `dir`, skipping build output.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Vec<String> {
        check_file("f.rs", text)
    }

    #[test]
    fn conflict_markers_are_found_in_pairs() {
        let merged = "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> main\nd\n";
        assert_eq!(
            conflict_markers("R.md", merged),
            [
                "R.md:2: merge-conflict marker",
                "R.md:6: merge-conflict marker"
            ]
        );
        assert!(conflict_markers("R.md", "Title\n=======\ntext\n").is_empty());
        assert!(conflict_markers("R.md", "<<<<<<< alone, as quoted text\n").is_empty());
    }

    #[test]
    fn documented_unsafe_passes() {
        let ok = "\
// SAFETY: the index was checked above.
let x = unsafe { *p };
// SAFETY: Conn is only touched by its owner thread;
// the fd is never shared.
#[allow(unused)]
unsafe impl Send for Conn {}
let y = foo(
    // SAFETY: len <= cap.
    unsafe { v.set_len(len) },
);
/// Docs may say unsafe { anything } and todo!( and dbg!(x).
let z = /* SAFETY: p is valid */ unsafe { *p };
unsafe fn f() {}
let not_unsafe_block = my_unsafe_thing { a: 1 };
// SAFETY: fcntl is async-signal-safe.
if flags < 0
    || unsafe { libc::fcntl(fd, 2) } < 0
{
}
";
        assert_eq!(check(ok), Vec::<String>::new());
    }

    #[test]
    fn undocumented_unsafe_is_located() {
        let bad = "\
fn f() {
    // reads the pointer
    let x = unsafe { *p };
}
// SAFETY: this comment is separated by code
let a = 1;
unsafe impl<T> Sync for W<T> {}
// SAFETY: too far up the statement
let v = a
    + b
    + c
    + d
    + e
    + unsafe { f() };
";
        assert_eq!(
            check(bad),
            vec![
                "f.rs:3: `unsafe` without a `// SAFETY:` comment on the lines just above",
                "f.rs:7: `unsafe` without a `// SAFETY:` comment on the lines just above",
                "f.rs:14: `unsafe` without a `// SAFETY:` comment on the lines just above",
            ]
        );
    }

    #[test]
    fn forbidden_macros_and_test_attributes() {
        let bad = "dbg!(x);\nlet y = todo!();\nunimplemented!()\n#[ignore]\n#[should_panic(expected = \"x\")]\n";
        let problems = check(bad);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].starts_with("f.rs:1: `dbg!`"));
        assert!(problems[3].starts_with("f.rs:4: `#[ignore]`"));
        assert!(problems[4].starts_with("f.rs:5: `#[should_panic]`"));
    }

    #[test]
    fn long_files() {
        let text = "let a = 1;\n".repeat(MAX_LINES + 1);
        assert_eq!(
            check(&text),
            vec![format!(
                "f.rs: {} lines, more than {MAX_LINES} (split it into modules)",
                MAX_LINES + 1
            )]
        );
        assert!(check(&"\n".repeat(MAX_LINES)).is_empty());
    }

    #[test]
    fn missing_readme_is_reported() {
        let base = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let crates = base.join("crates");
        let with = crates.join("with-readme");
        let without = crates.join("without-readme");
        for dir in [&with, &without] {
            fs::create_dir_all(dir.join("src")).unwrap();
            fs::write(dir.join("Cargo.toml"), "[package]\n").unwrap();
        }
        fs::write(with.join("README.md"), "# with\n").unwrap();
        fs::write(without.join("src/lib.rs"), "fn f() { dbg!(1); }\n").unwrap();
        let problems = check_tree(&crates);
        let _ = fs::remove_dir_all(&base);
        assert_eq!(
            problems,
            vec![
                "crates/without-readme: crate has no README.md (open it with a runnable example)",
                "crates/without-readme/src/lib.rs:1: `dbg!` left in (remove it or use `log`)",
            ]
        );
    }
}

//! Replays the checked-in fuzz corpora (`fuzz/corpus/<target>/`) through
//! the same invariant checks the fuzz targets run (`brisk_http::_fuzz`), so
//! a plain `cargo test` on stable covers every input the fuzzers found
//! interesting.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes =
                std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "{target} corpus has only {} files",
        files.len()
    );
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let r = std::panic::catch_unwind(|| check(&bytes));
        assert!(r.is_ok(), "{target} check failed on {}", path.display());
    }
}

#[test]
fn head() {
    replay("head", brisk_http::_fuzz::head);
}

#[test]
fn chunked() {
    replay("chunked", brisk_http::_fuzz::chunked);
}

#[test]
fn path() {
    replay("path", brisk_http::_fuzz::path);
}

#[test]
fn args() {
    replay("args", brisk_http::_fuzz::args);
}

#[test]
fn cookies() {
    replay("cookies", brisk_http::_fuzz::cookies);
}

#[test]
fn chunked_roundtrip() {
    replay("chunked_roundtrip", brisk_http::_fuzz::chunked_roundtrip);
}

#[test]
fn proxy() {
    replay("proxy", brisk_http::_fuzz::proxy);
}

#[test]
fn accept_encoding() {
    replay("accept_encoding", brisk_http::_fuzz::accept_encoding);
}

#[test]
fn range() {
    replay("range", brisk_http::_fuzz::range);
}

#[test]
fn table_rows_pass_the_head_check() {
    for input in crate::table::all_inputs() {
        brisk_http::_fuzz::head(input);
    }
}

//! Replays the checked-in `multipart` fuzz corpus (`fuzz/corpus/multipart/`)
//! through the check the fuzz target runs (`brisk_handlers::_fuzz::multipart`),
//! so a plain `cargo test` on stable covers every input the fuzzer kept.

use std::path::PathBuf;

#[test]
fn corpus_multipart() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/multipart");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "multipart corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| brisk_handlers::_fuzz::multipart(&bytes));
        assert!(r.is_ok(), "multipart check failed on {}", path.display());
    }
}

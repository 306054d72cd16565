//! Replays the checked-in `decompress` fuzz corpus
//! (`fuzz/corpus/decompress/`) through the check the fuzz target runs
//! (`brisk_handlers::compress::_fuzz::decompress`), so a plain
//! `cargo test` on stable covers every input the fuzzer found interesting.

use std::path::PathBuf;

#[test]
fn decompress() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decompress");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the decompress corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| brisk_handlers::compress::_fuzz::decompress(&bytes));
        assert!(r.is_ok(), "decompress check failed on {}", path.display());
    }
}

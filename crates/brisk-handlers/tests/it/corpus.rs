//! Replays the checked-in fuzz corpora of brisk-handlers' targets
//! (`fuzz/corpus/multipart/`, `fuzz/corpus/decompress/`) through the checks
//! the fuzz targets run (`brisk_handlers::_fuzz::multipart`,
//! `brisk_handlers::compress::_fuzz::decompress`), so a plain `cargo test`
//! on stable covers every input the fuzzers kept.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "{target} corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| check(&bytes));
        assert!(r.is_ok(), "{target} check failed on {}", path.display());
    }
}

#[test]
fn corpus_multipart() {
    replay("multipart", brisk_handlers::_fuzz::multipart);
}

#[test]
fn corpus_decompress() {
    replay("decompress", brisk_handlers::compress::_fuzz::decompress);
}

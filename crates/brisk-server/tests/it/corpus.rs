//! Replays the checked-in `conn` and `activation` fuzz corpora
//! (`fuzz/corpus/<target>/`) through the checks the fuzz targets run
//! (`brisk_server::_fuzz`), so a plain `cargo test` on stable covers every
//! input the fuzzer found interesting.

use std::path::PathBuf;

#[test]
fn conn() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/conn");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "conn corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| brisk_server::_fuzz::conn(&bytes));
        assert!(r.is_ok(), "conn check failed on {}", path.display());
    }
}

#[test]
fn activation() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/activation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "activation corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| brisk_server::_fuzz::activation(&bytes));
        assert!(r.is_ok(), "activation check failed on {}", path.display());
    }
}

/// The `tls` corpus (`fuzz/corpus/tls/`) through `brisk_server::_fuzz::tls`
/// (feature `tls`).
#[cfg(feature = "tls")]
#[test]
fn tls_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tls");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "tls corpus has only {} files",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| brisk_server::_fuzz::tls(&bytes));
        assert!(r.is_ok(), "tls check failed on {}", path.display());
    }
}

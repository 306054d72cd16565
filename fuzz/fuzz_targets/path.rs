//! Fuzz target `path`: runs `brisk_http::_fuzz::path`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/path/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::path(data);
});

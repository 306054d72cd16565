//! Fuzz target `chunked`: runs `brisk_http::_fuzz::chunked`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/chunked/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::chunked(data);
});

//! Fuzz target `chunked_roundtrip`: runs `brisk_http::_fuzz::chunked_roundtrip`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/chunked_roundtrip/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::chunked_roundtrip(data);
});

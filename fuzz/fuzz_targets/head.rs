//! Fuzz target `head`: runs `brisk_http::_fuzz::head`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/head/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::head(data);
});

//! Fuzz target `cookies`: runs `brisk_http::_fuzz::cookies`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/cookies/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::cookies(data);
});

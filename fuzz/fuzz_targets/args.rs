//! Fuzz target `args`: runs `brisk_http::_fuzz::args`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/args/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::args(data);
});

//! Fuzz target `range`: runs `brisk_http::_fuzz::range` (the `Range`
//! parser against a reference reading, entity-tag lists and HTTP dates),
//! the check that `cargo test -p brisk-http` also replays over
//! `fuzz/corpus/range/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::range(data);
});

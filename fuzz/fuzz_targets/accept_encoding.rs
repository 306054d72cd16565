//! Fuzz target `accept_encoding`: runs `brisk_http::_fuzz::accept_encoding`,
//! the check that `cargo test -p brisk-http` also replays over
//! `fuzz/corpus/accept_encoding/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::accept_encoding(data);
});

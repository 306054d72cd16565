//! Fuzz target `multipart`: runs `brisk_handlers::_fuzz::multipart`, the
//! invariant check that `cargo test -p brisk-handlers` also replays over
//! `fuzz/corpus/multipart/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_handlers::_fuzz::multipart(data);
});

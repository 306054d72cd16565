//! Fuzz target `activation`: runs `brisk_server::_fuzz::activation`, the
//! invariant check that `cargo test -p brisk-server` also replays over
//! `fuzz/corpus/activation/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_server::_fuzz::activation(data);
});

//! Fuzz target `decompress`: runs `brisk_handlers::compress::_fuzz::decompress`
//! (request-body decoding under its limits, for each coding), the check
//! that `cargo test -p brisk-handlers` also replays over
//! `fuzz/corpus/decompress/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_handlers::compress::_fuzz::decompress(data);
});

//! Fuzz target `proxy`: runs `brisk_http::_fuzz::proxy`, the invariant check
//! that `cargo test -p brisk-http` also replays over `fuzz/corpus/proxy/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_http::_fuzz::proxy(data);
});

//! Fuzz target `tls`: runs `brisk_server::_fuzz::tls` (feature `tls`), the
//! invariant check that `cargo test -p brisk-server --features tls` also
//! replays over `fuzz/corpus/tls/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_server::_fuzz::tls(data);
});

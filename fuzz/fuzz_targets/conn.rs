//! Fuzz target `conn`: runs `brisk_server::_fuzz::conn`, the connection
//! state machine driven in memory (split points, read sizes, partial
//! writes, would-block), the check `cargo test -p brisk-server` also
//! replays over `fuzz/corpus/conn/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brisk_server::_fuzz::conn(data);
});

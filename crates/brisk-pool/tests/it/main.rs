//! Integration tests of brisk-pool, one binary (see also `tests/threads.rs`
//! and `tests/alloc.rs`, which need a process of their own).

mod behaviour;
mod logging;
mod prop;
mod stop;
mod support;

//! Integration tests: the `pid_server` example runs as a real prefork master
//! with real children, and each test drives one behaviour through signals,
//! connections and the lines the example prints.
//!
//! `cargo test -p brisk-prefork` builds the example first; a filtered
//! `cargo test --test it` does not rebuild it, so run the former after
//! changing the library or the example.

mod harness;
mod hooks;
mod hygiene;
mod listen;
mod producer;
mod shutdown;
mod supervise;
mod upgrade;

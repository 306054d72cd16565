//! Integration tests: the `pid_server` example runs as a real prefork master
//! with real children, and each test drives one behaviour through signals,
//! connections and the lines the example prints.

mod harness;
mod hooks;
mod hygiene;
mod listen;
mod producer;
mod shutdown;
mod supervise;

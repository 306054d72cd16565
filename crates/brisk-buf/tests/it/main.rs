//! Integration tests of brisk-buf, in one binary.

mod buffer;
mod pool;
mod stress;

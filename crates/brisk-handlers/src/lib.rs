//! Batteries for brisk handlers, each opt-in and usable around any handler
//! (`Fn(&mut RequestCtx)`).
//!
//! This crate sits above `brisk-server` and below the `brisk` facade, which
//! re-exports it as `brisk::handlers`.
#![deny(missing_docs)]

pub mod metrics;

//! brisk-server integration tests: a real server on 127.0.0.1:0, real sockets.

mod basics;
mod blocking;
mod corpus;
mod errors;
mod refusals;
mod shutdown;
mod support;

//! Integration tests of brisk-http: one binary, one module per area.

mod corpus;
mod limits;
mod proxy;
mod response;
mod roundtrip;
mod support;
mod table;

//! Integration tests of brisk-http: one binary, one module per area.

//! brisk-server will hold the HTTP/1.1 server: per-core event loops, the
//! connection state machine, `RequestCtx` and the `Server` configuration.

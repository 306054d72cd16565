//! brisk: a fast, strict HTTP/1.1 server library in the spirit of fasthttp.
//! This facade re-exports the brisk crates.

pub use brisk_buf as buf;
pub use brisk_http as http;
pub use brisk_pool as pool;
pub use brisk_prefork as prefork;
pub use brisk_server as server;

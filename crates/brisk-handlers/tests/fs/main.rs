//! brisk-handlers' file server over real sockets: a server on
//! 127.0.0.1:0, a temporary root, raw HTTP/1.1 (and curl where installed).

mod body;
mod curl;
mod http;
mod paths;
mod support;

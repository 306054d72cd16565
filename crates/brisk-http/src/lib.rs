//! brisk-http will hold the pure HTTP/1.1 codec: a restartable request-head
//! parser, the response serializer, chunked coding, URI normalization,
//! query/form arguments and cookies. It does no I/O.

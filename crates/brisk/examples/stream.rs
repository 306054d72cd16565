//! A large response streamed in chunks: 64 MiB produced 64 KiB at a time,
//! pulled only as fast as the client reads (memory stays flat).
//!
//! `cargo run --release -p brisk --example stream` then
//! `curl -s 127.0.0.1:8080/ | wc -c`

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    println!("listening on http://{addr}");
    brisk::listen_and_serve(addr.as_str(), |ctx| {
        ctx.set_content_type(b"application/octet-stream");
        let piece = vec![b'x'; 64 * 1024];
        let mut left = 1024; // pieces of 64 KiB
        ctx.set_body_stream(move |w| {
            w.write(&piece);
            left -= 1;
            left > 0
        });
    })
    .expect("serve");
}

//! Invariant checks shared by the `conn` and `activation` fuzz targets
//! (`fuzz/fuzz_targets/`) and the corpus replay tests
//! (`tests/it/corpus.rs`). Not a stable API.
//!
//! Each function takes arbitrary bytes and panics if an invariant breaks;
//! it must never panic for any other reason.

use crate::mem::{MemConn, model_handler, without_continues};
use crate::{Server, ServerBuilder};

/// Bytes of a fuzz input before the request data: settings, then the
/// script length.
const PREAMBLE: usize = 3;

fn builder() -> ServerBuilder {
    Server::builder()
        .handler(|ctx| model_handler(ctx, false))
        .loops(1)
        .read_buffer_size(256)
        .write_buffer_size(256)
        .max_request_body_size(16 * 1024)
}

/// Checks the connection state machine on `data`: a script of deliveries
/// (how the input is cut, how much output the peer takes and when) and
/// the bytes a client sends (anything: pipelined requests, garbage).
///
/// Invariants:
/// - the responses are the same, byte for byte (but for interim
///   `100 Continue`), as when the same bytes arrive in one piece and every
///   write is taken whole: split points, read sizes, partial writes,
///   would-block and a transport that holds output (as TLS does) change
///   nothing;
/// - an error response (4xx or 5xx: the model handler sends none) is the
///   last response, and says `Connection: close`;
/// - a connection whose client closed, once its output is taken, is
///   closed; one left open and idle holds no buffer;
/// - every buffer is back in the pool at the end, in both runs.
pub fn conn(data: &[u8]) {
    let Some((cfg, rest)) = data.split_first_chunk::<PREAMBLE>() else {
        return;
    };
    let script_len = usize::from(cfg[2] % 64).min(rest.len());
    let (script, input) = rest.split_at(script_len);
    let close_at_end = cfg[0] & 0x20 != 0;

    // The reference: everything at once, every write taken whole.
    let mut whole = MemConn::new(builder());
    whole.send(input);
    if close_at_end {
        whole.close_input();
    }
    let expected = without_continues(whole.output());
    let stats = whole.finish();
    assert_eq!(
        stats.gets, stats.puts,
        "reference run: buffers not returned"
    );

    // The same bytes, cut and paced by the script.
    let mut m = MemConn::new(builder());
    if let Some(io) = m.io() {
        io.read_size = usize::from(cfg[0] & 0x0f);
        io.hold_output = cfg[0] & 0x10 != 0;
        io.write_size = usize::from(cfg[1] % 32);
        io.write_budget = usize::from(cfg[1] / 32) * 7;
    }
    let mut pos = 0;
    for &op in script {
        let arg = usize::from(op & 0x3f);
        match op >> 6 {
            0 | 3 => {
                let n = if op >> 6 == 0 {
                    arg + 1
                } else {
                    (arg + 1) * 16
                };
                let end = (pos + n).min(input.len());
                m.send(&input[pos..end]);
                pos = end;
            }
            1 => {
                m.grant(arg * 8);
            }
            _ => {
                // An input event with nothing new (epoll may report one).
                m.send(&[]);
            }
        }
    }
    m.send(&input[pos..]);
    m.grant(usize::MAX);
    if close_at_end {
        m.close_input();
        assert!(m.is_closed(), "the client closed and all output was taken");
    }
    let got = without_continues(m.output());
    if got != expected {
        panic!(
            "responses depend on delivery:\n--- whole ---\n{}\n--- paced ---\n{}",
            expected.escape_ascii(),
            got.escape_ascii()
        );
    }
    check_error_is_last(&got);
    let stats = m.finish();
    assert_eq!(stats.gets, stats.puts, "paced run: buffers not returned");
}

/// An error response (status 4xx or 5xx) is the last response and closes.
/// Response starts are found by `HTTP/1.1 `, which the model handler's
/// bodies never contain.
fn check_error_is_last(out: &[u8]) {
    const START: &[u8] = b"HTTP/1.1 ";
    let starts: Vec<usize> = (0..out.len())
        .filter(|&i| out[i..].starts_with(START))
        .collect();
    for (k, &i) in starts.iter().enumerate() {
        let status = &out[i + START.len()..(i + START.len() + 3).min(out.len())];
        if status.first().is_some_and(|&c| c == b'4' || c == b'5') {
            assert_eq!(
                k + 1,
                starts.len(),
                "a response follows the error response at byte {i}"
            );
            let end = starts.get(k + 1).copied().unwrap_or(out.len());
            let head = &out[i..end];
            assert!(
                head.windows(19).any(|w| w == b"Connection: close\r\n"),
                "an error response without Connection: close"
            );
        }
    }
}

/// A throwaway self-signed certificate (ECDSA P-256, `localhost`) for the
/// `tls` check; its key protects nothing.
#[cfg(feature = "tls")]
const FUZZ_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUeOLLD4SszOKDZ1v6uV5aahREMM8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMzE4MTg0M1oYDzIxMjYxMTA5
MTgxODQzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQQDpC6P7KfC1GyBaGrD6RUEy1U1cZqYZDp/bqnWYapF1gGDTd05yT1
5R3HI2PnKIUm3jtS5ugmFKGUmrlUqEBmo2kwZzAdBgNVHQ4EFgQUa4OfPGfhfv5i
uEpymWYPcktj0ZEwHwYDVR0jBBgwFoAUa4OfPGfhfv5iuEpymWYPcktj0ZEwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SQAwRgIhAIAzrBb9K5kfO8UVpORp/AxENe3RJR+M9ZAg0Yqr/tvwAiEA7JvlJG6R
mdFfSsbiMnT8W2hmtKrDVMzuqng5+bADBmk=
-----END CERTIFICATE-----\n";
#[cfg(feature = "tls")]
const FUZZ_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKT8/0iHMJRGZHY29
geSMXSFbmkcnW35FbIGvmK/HkG2hRANCAAQQDpC6P7KfC1GyBaGrD6RUEy1U1cZq
YZDp/bqnWYapF1gGDTd05yT15R3HI2PnKIUm3jtS5ugmFKGUmrlUqEBm
-----END PRIVATE KEY-----\n";

/// Checks the TLS transport on `data`, the bytes a client sends (a
/// ClientHello, a plain HTTP request, garbage), delivered through a real
/// socket pair and followed by the client's end.
///
/// Invariants:
/// - reading ends (the end of the input or an error) within a bounded
///   number of reads, and never panics;
/// - the plaintext handed to the connection is never longer than the
///   input (every byte of it was decrypted from a record in `data`);
/// - input that starts like a plain HTTP request (an ASCII capital, five
///   bytes or more) is answered with a plain-text `400` (what the server
///   writes starts `HTTP/1.1 400 `).
#[cfg(feature = "tls")]
pub fn tls(data: &[u8]) {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;

    use crate::transport::Transport;

    // Under the socket pair's buffer, so the write never blocks.
    let data = &data[..data.len().min(32 * 1024)];
    let cfg = crate::TlsConfig::from_pem(FUZZ_CERT.as_bytes(), FUZZ_KEY.as_bytes())
        .expect("the fuzz certificate loads");
    let (mut client, server) = UnixStream::pair().expect("socketpair");
    let sock = socket2::Socket::from(OwnedFd::from(server));
    sock.set_nonblocking(true).expect("non-blocking");
    client.write_all(data).expect("the pair takes the input");
    client
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut t = match cfg.acceptor().accept(sock, 0) {
        Ok(t) => t,
        Err(e) => panic!("a fresh TLS session: {e}"),
    };
    let mut buf = Vec::with_capacity(4096);
    let mut plaintext = 0usize;
    let mut ended = false;
    for _ in 0..data.len() + 16 {
        buf.clear();
        match t.read_into(&mut buf, 4096) {
            Ok(f) if f.n == 0 => {
                ended = true;
                break;
            }
            Ok(f) => plaintext += f.n,
            Err(_) => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "reading {} bytes did not end", data.len());
    assert!(
        plaintext <= data.len(),
        "{plaintext} bytes of plaintext from {} bytes of input",
        data.len()
    );
    drop(t);
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer);
    if data.len() >= 5 && data[0].is_ascii_uppercase() {
        assert!(
            answer.starts_with(b"HTTP/1.1 400 "),
            "a plain request got {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(64)])
        );
    }
}

/// The pid the `activation` check plays: the socket-activated process.
const ACTIVATION_PID: u32 = 4242;

/// Checks the socket-activation variables' parser on `data`: a first byte
/// whose low three bits say which of `LISTEN_PID`, `LISTEN_FDS` and
/// `LISTEN_FDNAMES` are set, then their values separated by NUL bytes (as
/// raw bytes: they need not be UTF-8).
///
/// Invariants:
/// - a plan (`Ok(Some(names))`) only for `LISTEN_PID` equal to this
///   process and `LISTEN_FDS` a count of 1 to 4096, with one name per
///   descriptor (the names, joined with `:`, are `LISTEN_FDNAMES` itself);
/// - nothing (`Ok(None)`) only when `LISTEN_PID` or `LISTEN_FDS` is
///   missing or the pid is another process's;
/// - every error says it is about socket activation.
pub fn activation(data: &[u8]) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let Some((&present, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0).map(OsStr::from_bytes);
    let mut take = |bit: u8| {
        let value = fields.next().unwrap_or_default();
        (present & bit != 0).then_some(value)
    };
    let (pid, fds, names) = (take(1), take(2), take(4));
    let digits = |v: &OsStr| -> Option<u64> {
        let s = v.to_str()?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match crate::activation::parse(pid, fds, names, ACTIVATION_PID) {
        Ok(Some(plan)) => {
            assert_eq!(pid.and_then(digits), Some(u64::from(ACTIVATION_PID)));
            let count = fds.and_then(digits).expect("a plan needs a count");
            assert!((1..=4096).contains(&count), "count {count}");
            assert_eq!(plan.len() as u64, count);
            match names {
                Some(names) => assert_eq!(OsStr::new(&plan.join(":")), names),
                None => assert!(plan.iter().all(|n| n == "unknown")),
            }
        }
        Ok(None) => {
            let other_pid = pid
                .and_then(digits)
                .is_some_and(|p| p != u64::from(ACTIVATION_PID) && p != 0);
            assert!(pid.is_none() || fds.is_none() || other_pid);
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("socket activation: "), "{text}");
        }
    }
}

//! Which event loop serves the connections: [`Backend`], chosen with
//! [`ServerBuilder::backend`](crate::ServerBuilder::backend).
//!
//! The io_uring loop (`uring/`) is compiled only with the cargo feature
//! `uring`: its connections are a second instantiation of the connection
//! state machine, and with it in the binary LLVM inlines less of the epoll
//! loop's (+10% instructions per pipelined request, +4% plain; see
//! docs/BENCHMARKS.md).
//! Without the feature, [`Backend::Uring`] falls back to epoll with a log
//! line, as it does where the kernel lacks or forbids io_uring.
//!
//! ```
//! use brisk_server::Backend;
//!
//! let b: Backend = "uring".parse().expect("a backend name");
//! assert_eq!(b, Backend::Uring);
//! // `Ok` only with the `uring` feature on a kernel that has io_uring.
//! if let Err(why) = b.available() {
//!     println!("io_uring unavailable: {why}");
//! }
//! assert_eq!(Backend::Epoll.available(), Ok(()));
//! ```

use std::sync::Arc;

use log::warn;
use socket2::Socket;

use crate::event_loop::LoopShared;
use crate::server::Core;

/// Which event loop serves the connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Readiness with epoll, then `recv`/`send` system calls (the default).
    #[default]
    Epoll,
    /// Completions with io_uring (Linux 6.0 or later; cargo feature
    /// `uring`): multishot accept and receive with a provided-buffer ring,
    /// batched sends, one `io_uring_enter` per loop turn. Falls back to
    /// epoll, with a log line, where io_uring is missing or forbidden, where
    /// the crate was built without the `uring` feature, and for what the
    /// io_uring loop does not serve (TLS, the PROXY protocol).
    Uring,
}

impl std::str::FromStr for Backend {
    type Err = String;

    /// `epoll` or `uring` (also `io_uring`), as the `--backend` flags and
    /// the `BRISK_BACKEND` variable of the tests spell them.
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "epoll" => Ok(Backend::Epoll),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            other => Err(format!(
                "unknown backend {other:?}: expected \"epoll\" or \"uring\""
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Epoll => "epoll",
            Backend::Uring => "uring",
        })
    }
}

impl Backend {
    /// Whether this backend can run here: `Ok` for epoll, and for io_uring
    /// when the crate has the `uring` feature and the probe the server
    /// makes at start passes; else why not (the reason the server logs when
    /// it falls back).
    pub fn available(self) -> Result<(), String> {
        match self {
            Backend::Epoll => Ok(()),
            #[cfg(feature = "uring")]
            Backend::Uring => crate::uring::probe(),
            #[cfg(not(feature = "uring"))]
            Backend::Uring => Err("brisk-server was built without its `uring` feature".into()),
        }
    }
}

/// Whether the loops of a server with this configuration use io_uring:
/// probes once, and logs the fall-back (also for what the io_uring loop
/// does not serve: TLS and the PROXY protocol preface).
pub(crate) fn wanted(core: &Core) -> bool {
    if core.cfg.backend != Backend::Uring {
        return false;
    }
    if let Some(what) = unsupported(core) {
        warn!("io_uring backend: {what} is not supported on it; serving with epoll");
        return false;
    }
    match Backend::Uring.available() {
        Ok(()) => true,
        Err(why) => {
            warn!("io_uring backend unavailable: {why}; serving with epoll");
            false
        }
    }
}

/// What the configuration asks for that the io_uring loop does not do.
fn unsupported(core: &Core) -> Option<&'static str> {
    #[cfg(feature = "tls")]
    if core.tls.is_some() {
        return Some("TLS");
    }
    if core.cfg.proxy.is_some() {
        return Some("the PROXY protocol preface");
    }
    None
}

/// Loop `idx`'s shared state; with `uring`, its io_uring side, which then
/// owns the listeners (a loop whose ring cannot be set up says so and
/// uses epoll).
pub(crate) fn new_loop(
    idx: usize,
    listeners: Vec<Arc<Socket>>,
    core: &Core,
    uring: bool,
) -> std::io::Result<LoopShared> {
    if !uring {
        return LoopShared::new(idx, listeners, core);
    }
    #[cfg(not(feature = "uring"))]
    return LoopShared::new(idx, listeners, core);
    #[cfg(feature = "uring")]
    match crate::uring::UringLoop::new(idx, listeners.clone(), core) {
        Ok(ul) => {
            let mut shared = LoopShared::new(idx, Vec::new(), core)?;
            shared.uring = Some(ul);
            Ok(shared)
        }
        Err(e) => {
            warn!("loop {idx}: cannot set up io_uring ({e}); this loop uses epoll");
            LoopShared::new(idx, listeners, core)
        }
    }
}

/// The backend of these loops: io_uring when one of them runs on it.
pub(crate) fn in_use(loops: &[Arc<LoopShared>]) -> Backend {
    #[cfg(feature = "uring")]
    if loops.iter().any(|l| l.uring.is_some()) {
        return Backend::Uring;
    }
    let _ = loops;
    Backend::Epoll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print() {
        assert_eq!("epoll".parse::<Backend>(), Ok(Backend::Epoll));
        assert_eq!("uring".parse::<Backend>(), Ok(Backend::Uring));
        assert!("kqueue".parse::<Backend>().unwrap_err().contains("kqueue"));
        assert_eq!(Backend::Uring.to_string(), "uring");
        assert_eq!(Backend::default(), Backend::Epoll);
    }

    #[test]
    fn the_probe_answers_either_way() {
        // With the feature, on a kernel with io_uring it passes; elsewhere
        // it says why.
        match Backend::Uring.available() {
            Ok(()) => {}
            Err(why) => assert!(!why.is_empty()),
        }
        assert_eq!(Backend::Epoll.available(), Ok(()));
    }

    #[cfg(not(feature = "uring"))]
    #[test]
    fn without_the_feature_io_uring_is_never_available() {
        let why = Backend::Uring.available().unwrap_err();
        assert!(why.contains("`uring` feature"), "{why}");
    }
}

//! What one load run does: [`LoadConfig`], and why a run cannot start: [`LoadError`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::request::{RequestError, RequestSpec};

/// Everything one load run needs. Build it with [`LoadConfig::new`] and set
/// the public fields; [`crate::run`] checks the whole thing before it starts.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address. Must be a loopback address unless `allow_remote` is set.
    pub addr: SocketAddr,
    /// The request sent over and over.
    pub request: RequestSpec,
    /// Connections kept open at once (spread over the threads).
    pub connections: usize,
    /// Event-loop threads; each owns `connections / threads` connections.
    pub threads: usize,
    /// `true`: keep-alive connections. `false`: one request per connection
    /// (`Connection: close`; the client closes with an RST so that no
    /// TIME_WAIT sockets pile up on the client side).
    pub keep_alive: bool,
    /// Requests written at once on a connection before waiting for all their
    /// responses (1 = no pipelining). Needs `keep_alive`.
    pub pipeline: usize,
    /// When the run ends.
    pub stop: Stop,
    /// Load applied before measuring starts (duration runs only).
    pub warmup: Duration,
    /// A connection whose connect or oldest request waits longer than this
    /// is closed, counted as a timeout and replaced.
    pub timeout: Duration,
    /// CPUs to pin the threads to (thread `i` on `cpus[i % cpus.len()]`);
    /// empty = no pinning.
    pub cpus: Vec<usize>,
    /// Allow a non-loopback target. Off by default: load tests stay on this machine.
    pub allow_remote: bool,
    /// Read buffer per connection in bytes; a response head must fit in it.
    pub read_buffer: usize,
}

/// When a load run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long of measured load (after the warm-up).
    After(Duration),
    /// After this many requests have completed or failed. A failed connect
    /// also uses up one request, so a run against a dead server ends quickly.
    Requests(u64),
}

/// Why a load run could not start or finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The target is not a loopback address and `allow_remote` is off.
    NotLoopback(SocketAddr),
    /// `connections` is zero.
    NoConnections,
    /// More threads than connections.
    TooManyThreads {
        /// Requested threads.
        threads: usize,
        /// Requested connections.
        connections: usize,
    },
    /// `threads` is zero.
    NoThreads,
    /// `pipeline` is zero.
    NoPipeline,
    /// Pipelining was asked for with one request per connection.
    PipelineWithoutKeepAlive,
    /// A warm-up was asked for on a request-count run.
    WarmupWithCount,
    /// The stop condition is zero requests or zero seconds.
    EmptyRun,
    /// The read buffer is smaller than 256 bytes.
    ReadBufferTooSmall(usize),
    /// The request cannot be built.
    Request(RequestError),
    /// A CPU in `cpus` does not exist or cannot be used.
    Pin {
        /// The CPU number.
        cpu: usize,
        /// What the kernel said.
        source: io::Error,
    },
    /// A system call the generator itself needs (epoll, thread spawn) failed.
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// A generator thread panicked (a bug in brisk-load).
    ThreadPanicked,
}

impl LoadConfig {
    /// A config for `addr` with the defaults: `GET /` with `Host` set to
    /// `addr`, 100 keep-alive connections on 1 thread, no pipelining, 5 s,
    /// no warm-up, 2 s timeout, no pinning, loopback only, 16 KiB read buffers.
    pub fn new(addr: SocketAddr) -> LoadConfig {
        LoadConfig {
            addr,
            request: RequestSpec::new(addr.to_string()),
            connections: 100,
            threads: 1,
            keep_alive: true,
            pipeline: 1,
            stop: Stop::After(Duration::from_secs(5)),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(2),
            cpus: Vec::new(),
            allow_remote: false,
            read_buffer: 16 * 1024,
        }
    }

    /// Checks the config the way [`crate::run`] does, without running.
    ///
    /// # Errors
    ///
    /// The first [`LoadError`] that would stop the run from starting.
    pub fn validate(&self) -> Result<(), LoadError> {
        if !self.allow_remote && !self.addr.ip().is_loopback() {
            return Err(LoadError::NotLoopback(self.addr));
        }
        if self.connections == 0 {
            return Err(LoadError::NoConnections);
        }
        if self.threads == 0 {
            return Err(LoadError::NoThreads);
        }
        if self.threads > self.connections {
            return Err(LoadError::TooManyThreads {
                threads: self.threads,
                connections: self.connections,
            });
        }
        if self.pipeline == 0 {
            return Err(LoadError::NoPipeline);
        }
        if self.pipeline > 1 && !self.keep_alive {
            return Err(LoadError::PipelineWithoutKeepAlive);
        }
        match self.stop {
            Stop::After(d) if d.is_zero() => return Err(LoadError::EmptyRun),
            Stop::Requests(0) => return Err(LoadError::EmptyRun),
            Stop::Requests(_) if !self.warmup.is_zero() => return Err(LoadError::WarmupWithCount),
            _ => {}
        }
        if self.read_buffer < 256 {
            return Err(LoadError::ReadBufferTooSmall(self.read_buffer));
        }
        self.request
            .to_bytes(!self.keep_alive)
            .map_err(LoadError::Request)?;
        Ok(())
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotLoopback(addr) => write!(
                f,
                "target {addr} is not a loopback address; load tests stay on this machine \
                 (pass --allow-remote only for a host you are allowed to load)"
            ),
            LoadError::NoConnections => f.write_str("connections must be at least 1"),
            LoadError::NoThreads => f.write_str("threads must be at least 1"),
            LoadError::TooManyThreads {
                threads,
                connections,
            } => write!(
                f,
                "{threads} threads for {connections} connections: each thread needs at least \
                 one connection (lower --threads or raise --connections)"
            ),
            LoadError::NoPipeline => f.write_str("pipeline depth must be at least 1"),
            LoadError::PipelineWithoutKeepAlive => f.write_str(
                "pipelining needs keep-alive connections (drop --close or use --pipeline 1)",
            ),
            LoadError::WarmupWithCount => f.write_str(
                "a warm-up applies to duration runs only (drop --warmup or use --duration)",
            ),
            LoadError::EmptyRun => {
                f.write_str("the run would be empty: give a non-zero duration or request count")
            }
            LoadError::ReadBufferTooSmall(n) => {
                write!(f, "read buffer of {n} bytes is too small (at least 256)")
            }
            LoadError::Request(e) => write!(f, "bad request: {e}"),
            LoadError::Pin { cpu, source } => write!(
                f,
                "cannot pin a thread to cpu {cpu}: {source} (this machine's CPUs are 0..{})",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
            LoadError::Io { what, source } => write!(f, "{what}: {source}"),
            LoadError::ThreadPanicked => {
                f.write_str("a load thread panicked (a bug in brisk-load)")
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Request(e) => Some(e),
            LoadError::Pin { source, .. } | LoadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoadConfig {
        LoadConfig::new("127.0.0.1:8080".parse().unwrap())
    }

    #[test]
    fn defaults_are_valid() {
        assert!(config().validate().is_ok());
    }

    #[test]
    fn refuses_remote_targets_unless_allowed() {
        let mut c = LoadConfig::new("192.0.2.1:80".parse().unwrap());
        assert!(matches!(c.validate(), Err(LoadError::NotLoopback(_))));
        c.allow_remote = true;
        assert!(c.validate().is_ok());
        assert!(
            LoadConfig::new("[::1]:80".parse().unwrap())
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_inconsistent_settings() {
        type Case = (fn(&mut LoadConfig), fn(&LoadError) -> bool);
        let cases: Vec<Case> = vec![
            (
                |c| c.connections = 0,
                |e| matches!(e, LoadError::NoConnections),
            ),
            (|c| c.threads = 0, |e| matches!(e, LoadError::NoThreads)),
            (
                |c| c.threads = 101,
                |e| matches!(e, LoadError::TooManyThreads { threads: 101, .. }),
            ),
            (|c| c.pipeline = 0, |e| matches!(e, LoadError::NoPipeline)),
            (
                |c| {
                    c.pipeline = 2;
                    c.keep_alive = false;
                },
                |e| matches!(e, LoadError::PipelineWithoutKeepAlive),
            ),
            (
                |c| {
                    c.stop = Stop::Requests(10);
                    c.warmup = Duration::from_secs(1);
                },
                |e| matches!(e, LoadError::WarmupWithCount),
            ),
            (
                |c| c.stop = Stop::Requests(0),
                |e| matches!(e, LoadError::EmptyRun),
            ),
            (
                |c| c.stop = Stop::After(Duration::ZERO),
                |e| matches!(e, LoadError::EmptyRun),
            ),
            (
                |c| c.read_buffer = 10,
                |e| matches!(e, LoadError::ReadBufferTooSmall(10)),
            ),
            (
                |c| c.request.path = "nope".into(),
                |e| matches!(e, LoadError::Request(_)),
            ),
        ];
        for (i, (change, expect)) in cases.into_iter().enumerate() {
            let mut c = config();
            change(&mut c);
            let err = c.validate().expect_err("invalid config accepted");
            assert!(expect(&err), "case {i}: got {err}");
            assert!(!err.to_string().is_empty());
        }
    }
}

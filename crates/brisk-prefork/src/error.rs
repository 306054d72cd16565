//! The crate's error type.

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::RawFd;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::network::Network;

/// A boxed error returned by hooks and command producers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can make [`Prefork`](crate::Prefork) return early.
///
/// Master-side variants describe why the supervisor stopped (it always stops
/// and reaps every child before returning one of them); child-side variants
/// describe why a child could not start serving.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// Children exited more often than `recover_threshold` allows (fasthttp's
    /// `ErrOverRecovery`). The master stopped the remaining children.
    OverRecovery {
        /// The configured `recover_threshold`.
        threshold: usize,
        /// How many child exits the master saw.
        exits: usize,
    },
    /// The command producer returned `Ok(None)` instead of a started child.
    ProducerReturnedNone,
    /// The command producer returned a child that had already exited (or had
    /// already been waited for), so it cannot be supervised.
    ChildNotRunning {
        /// The child's process id.
        pid: u32,
        /// Its exit status, when it could still be collected.
        status: Option<ExitStatus>,
    },
    /// The command producer returned an error.
    Producer(BoxError),
    /// A master hook returned an error. The master stopped all children.
    Hook {
        /// Which hook failed.
        hook: Hook,
        /// The hook's error.
        source: BoxError,
    },
    /// A master hook (or the command producer) panicked. The panic was caught
    /// and the master stopped all children.
    HookPanicked {
        /// Which hook panicked.
        hook: Hook,
        /// The panic message, or a placeholder if the payload was not a string.
        message: String,
    },
    /// The address string could not be split into a host and a port.
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Looking up the host name of the address failed.
    Resolve {
        /// The address as given.
        addr: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The address resolved, but to no address of the configured network's
    /// family (for example an IPv6 address with [`Network::Tcp4`]).
    NoAddressForNetwork {
        /// The address as given.
        addr: String,
        /// The configured network.
        network: Network,
    },
    /// Creating, binding or listening on the socket failed.
    Bind {
        /// The resolved address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// Starting a child process failed.
    Spawn {
        /// The executable the master tried to run.
        executable: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The configured number of children is zero.
    NoChildren,
    /// The `listen_and_serve*` variant called has no matching serve function.
    MissingServeFunction {
        /// The builder method that sets the missing function.
        function: &'static str,
    },
    /// Another prefork master is already running in this process (signal
    /// handling is process-wide, so only one master may run at a time).
    MasterAlreadyRunning,
    /// Installing the master's signal handling, or waiting for signals, failed.
    Signals(io::Error),
    /// In a child: the listener the master should have passed on fd 3 is not
    /// usable.
    InheritedListener {
        /// The file descriptor that was inspected.
        fd: RawFd,
        /// What is wrong with it.
        reason: String,
    },
    /// In the master: the listening socket passed to it (systemd socket
    /// activation, or an old master during a binary upgrade) is unusable.
    Inherited {
        /// What is wrong.
        reason: String,
    },
    /// In a child: starting the master-death watcher failed.
    Watcher(io::Error),
    /// In a child: the serve function returned an error.
    Serve(io::Error),
}

/// Names the user callback an [`Error::Hook`] or [`Error::HookPanicked`] came from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `on_child_spawn`.
    ChildSpawn,
    /// `on_master_ready`.
    MasterReady,
    /// `on_child_recover`.
    ChildRecover,
    /// `command_producer`.
    CommandProducer,
}

/// The error of parsing a [`Network`] from a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNetworkError {
    pub(crate) input: String,
}

impl Hook {
    /// The builder method's name, e.g. `"on_child_spawn"`.
    pub fn name(self) -> &'static str {
        match self {
            Hook::ChildSpawn => "on_child_spawn",
            Hook::MasterReady => "on_master_ready",
            Hook::ChildRecover => "on_child_recover",
            Hook::CommandProducer => "command_producer",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OverRecovery { threshold, exits } => write!(
                f,
                "children exited {exits} times, more than recover_threshold ({threshold}); \
                 all children were stopped (fix the crash or raise recover_threshold)"
            ),
            Error::ProducerReturnedNone => f.write_str(
                "command producer returned no child; it must spawn the command and return Ok(Some(child))",
            ),
            Error::ChildNotRunning { pid, status } => {
                write!(f, "command producer returned child {pid}, which is not running")?;
                match status {
                    Some(status) => write!(f, " ({status})")?,
                    None => f.write_str(" (already reaped)")?,
                }
                f.write_str("; return the child right after spawn() and do not wait for it")
            }
            Error::Producer(source) => write!(f, "command producer failed: {source}"),
            Error::Hook { hook, source } => write!(f, "{hook} hook failed: {source}"),
            Error::HookPanicked { hook, message } => write!(f, "{hook} hook panicked: {message}"),
            Error::InvalidAddress { addr, reason } => {
                write!(f, "invalid listen address {addr:?}: {reason}")
            }
            Error::Resolve { addr, source } => {
                write!(f, "cannot resolve listen address {addr:?}: {source}")
            }
            Error::NoAddressForNetwork { addr, network } => write!(
                f,
                "listen address {addr:?} has no {} address; use a matching address or network",
                network.family_name()
            ),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Spawn { executable, source } => write!(
                f,
                "cannot start child process {}: {source}",
                executable.display()
            ),
            Error::NoChildren => f.write_str("children is 0; prefork needs at least one child"),
            Error::MissingServeFunction { function } => write!(
                f,
                "no serve function for this listen variant; set one with Prefork::{function}"
            ),
            Error::MasterAlreadyRunning => f.write_str(
                "a prefork master is already running in this process; run one at a time",
            ),
            Error::Signals(source) => write!(f, "master signal handling failed: {source}"),
            Error::InheritedListener { fd, reason } => write!(
                f,
                "inherited listener on fd {fd} is unusable: {reason}; start children through \
                 the prefork master (a custom command producer must use SpawnContext::prepare)"
            ),
            Error::Inherited { reason } => {
                write!(f, "cannot serve the inherited listening socket: {reason}")
            }
            Error::Watcher(source) => write!(f, "cannot watch the master process: {source}"),
            Error::Serve(source) => write!(f, "serve function failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Producer(source) | Error::Hook { source, .. } => Some(source.as_ref()),
            Error::Resolve { source, .. }
            | Error::Bind { source, .. }
            | Error::Spawn { source, .. }
            | Error::Signals(source)
            | Error::Watcher(source)
            | Error::Serve(source) => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for ParseNetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown network {:?}; use \"tcp\", \"tcp4\" or \"tcp6\"",
            self.input
        )
    }
}

impl std::error::Error for ParseNetworkError {}

/// Turns a caught panic payload into a message.
#[cold]
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<panic payload is not a string>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_essentials() {
        let cases: Vec<(Error, &[&str])> = vec![
            (
                Error::OverRecovery {
                    threshold: 2,
                    exits: 3,
                },
                &["3 times", "recover_threshold (2)"],
            ),
            (
                Error::ProducerReturnedNone,
                &["no child", "Ok(Some(child))"],
            ),
            (
                Error::ChildNotRunning {
                    pid: 42,
                    status: None,
                },
                &["child 42", "already reaped"],
            ),
            (
                Error::Producer("boom".into()),
                &["command producer", "boom"],
            ),
            (
                Error::Hook {
                    hook: Hook::ChildSpawn,
                    source: "nope".into(),
                },
                &["on_child_spawn hook failed: nope"],
            ),
            (
                Error::HookPanicked {
                    hook: Hook::MasterReady,
                    message: "bad".into(),
                },
                &["on_master_ready hook panicked: bad"],
            ),
            (
                Error::InvalidAddress {
                    addr: "x".into(),
                    reason: "missing port",
                },
                &["\"x\"", "missing port"],
            ),
            (
                Error::NoAddressForNetwork {
                    addr: "[::1]:1".into(),
                    network: Network::Tcp4,
                },
                &["[::1]:1", "IPv4"],
            ),
            (
                Error::Bind {
                    addr: "127.0.0.1:80".parse().unwrap(),
                    source: io::Error::from_raw_os_error(libc::EACCES),
                },
                &["127.0.0.1:80"],
            ),
            (
                Error::Spawn {
                    executable: "/no/such/exe".into(),
                    source: io::Error::from_raw_os_error(libc::ENOENT),
                },
                &["/no/such/exe"],
            ),
            (Error::NoChildren, &["at least one child"]),
            (
                Error::MissingServeFunction {
                    function: "serve_tls",
                },
                &["Prefork::serve_tls"],
            ),
            (Error::MasterAlreadyRunning, &["already running"]),
            (
                Error::Inherited {
                    reason: "LISTEN_FDS=\"2\": one socket".into(),
                },
                &["inherited listening socket", "LISTEN_FDS"],
            ),
            (
                Error::InheritedListener {
                    fd: 3,
                    reason: "not open".into(),
                },
                &["fd 3", "not open", "SpawnContext::prepare"],
            ),
        ];
        for (error, needles) in cases {
            let text = error.to_string();
            assert!(
                text.starts_with(|c: char| !c.is_uppercase()),
                "messages start lowercase: {text}"
            );
            for needle in needles {
                assert!(text.contains(needle), "{text:?} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn sources_are_exposed() {
        use std::error::Error as _;
        let e = Error::Hook {
            hook: Hook::ChildRecover,
            source: "inner".into(),
        };
        assert_eq!(e.source().unwrap().to_string(), "inner");
        let e = Error::Serve(io::Error::other("io"));
        assert_eq!(e.source().unwrap().to_string(), "io");
        assert!(Error::NoChildren.source().is_none());
    }

    #[test]
    fn panic_messages_are_extracted() {
        let r = std::panic::catch_unwind(|| panic!("static str"));
        assert_eq!(panic_message(&*r.unwrap_err()), "static str");
        let n = 7;
        let r = std::panic::catch_unwind(|| panic!("formatted {n}"));
        assert_eq!(panic_message(&*r.unwrap_err()), "formatted 7");
        let r = std::panic::catch_unwind(|| std::panic::panic_any(5_u8));
        assert_eq!(
            panic_message(&*r.unwrap_err()),
            "<panic payload is not a string>"
        );
    }

    #[test]
    fn hook_names_match_builder_methods() {
        assert_eq!(Hook::ChildSpawn.to_string(), "on_child_spawn");
        assert_eq!(Hook::MasterReady.to_string(), "on_master_ready");
        assert_eq!(Hook::ChildRecover.to_string(), "on_child_recover");
        assert_eq!(Hook::CommandProducer.to_string(), "command_producer");
    }
}

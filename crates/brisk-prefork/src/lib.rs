#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod child;
mod error;
mod logger;
mod master;
mod network;
mod signals;
mod spawn;
mod sys;
mod upgrade;
mod watch;

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

pub use error::{BoxError, Error, Hook, ParseNetworkError};
pub use logger::{Level, LogCrateLogger, Logger};
pub use network::Network;
pub use spawn::{
    ADDR_ENV, CHILD_ENV, CHILD_READY_FD_ENV, MASTER_PID_ENV, READY_FD_ENV, SpawnContext,
    UPGRADE_ENV,
};
pub use sys::LISTENER_FD;

use master::{ChildRecoverHook, ChildSpawnHook, CommandProducer, MasterReadyHook};
use watch::OnMasterDeath;

/// The default [`Prefork::shutdown_grace_period`]: 5 seconds.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// The default [`Prefork::upgrade_timeout`]: 30 seconds.
pub const DEFAULT_UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// The prefork supervisor: one master process and N children that serve.
///
/// Configure it with the builder methods, then call one of the
/// `listen_and_serve*` methods from `main`. The same call does the master's
/// job in the master and the child's job in each child (see
/// [`is_child`]), so every process must build the same `Prefork`.
///
/// Defaults: [`Network::Tcp4`], fd passing (no reuseport), one child per
/// available core, `recover_threshold` = max(1, cores / 2), no
/// `recover_interval`, a 5 s `shutdown_grace_period`, and a child that
/// exits with status 1 when its master dies.
#[must_use = "a Prefork does nothing until a listen_and_serve method runs it"]
pub struct Prefork {
    logger: Arc<dyn Logger>,
    serve: Option<ServeFn>,
    serve_tls: Option<ServeTlsFn>,
    serve_tls_embed: Option<ServeTlsEmbedFn>,
    network: Network,
    recover_threshold: usize,
    recover_interval: Duration,
    shutdown_grace_period: Duration,
    upgrade_timeout: Duration,
    reuseport: bool,
    children: usize,
    on_master_death: Option<OnMasterDeath>,
    on_child_spawn: Option<ChildSpawnHook>,
    on_master_ready: Option<MasterReadyHook>,
    on_child_recover: Option<ChildRecoverHook>,
    command_producer: Option<CommandProducer>,
}

/// Reports whether this process is a prefork child: `BRISK_PREFORK_CHILD`
/// (see [`CHILD_ENV`]) is exactly `"1"`.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1")
}

type ServeFn = Box<dyn FnOnce(TcpListener) -> io::Result<()> + Send + 'static>;
type ServeTlsFn = Box<dyn FnOnce(TcpListener, &Path, &Path) -> io::Result<()> + Send + 'static>;
type ServeTlsEmbedFn =
    Box<dyn FnOnce(TcpListener, &[u8], &[u8]) -> io::Result<()> + Send + 'static>;

/// Which `listen_and_serve*` variant runs, with its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ServeMode<'a> {
    Plain,
    Tls {
        cert_file: &'a Path,
        key_file: &'a Path,
    },
    TlsEmbed {
        cert: &'a [u8],
        key: &'a [u8],
    },
}

/// A serve function bound to its arguments, ready to take the listener.
pub(crate) enum Serve<'a> {
    Plain(ServeFn),
    Tls(ServeTlsFn, &'a Path, &'a Path),
    TlsEmbed(ServeTlsEmbedFn, &'a [u8], &'a [u8]),
}

impl Prefork {
    /// A supervisor with the defaults and no serve function yet.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            logger: Arc::new(LogCrateLogger),
            serve: None,
            serve_tls: None,
            serve_tls_embed: None,
            network: Network::default(),
            recover_threshold: (cores / 2).max(1),
            recover_interval: Duration::ZERO,
            shutdown_grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            upgrade_timeout: DEFAULT_UPGRADE_TIMEOUT,
            reuseport: false,
            children: cores,
            on_master_death: None,
            on_child_spawn: None,
            on_master_ready: None,
            on_child_recover: None,
            command_producer: None,
        }
    }

    /// Sets the function each child serves with, for
    /// [`listen_and_serve`](Self::listen_and_serve). It runs once per child
    /// and gets the child's listener in blocking mode. With fd passing all
    /// children share one socket, so `set_nonblocking` on it applies to all
    /// (every brisk server sets it anyway).
    pub fn serve<F>(mut self, serve: F) -> Self
    where
        F: FnOnce(TcpListener) -> io::Result<()> + Send + 'static,
    {
        self.serve = Some(Box::new(serve));
        self
    }

    /// Sets the function each child serves TLS with, for
    /// [`listen_and_serve_tls`](Self::listen_and_serve_tls); it gets
    /// `(listener, cert_file, key_file)`.
    pub fn serve_tls<F>(mut self, serve: F) -> Self
    where
        F: FnOnce(TcpListener, &Path, &Path) -> io::Result<()> + Send + 'static,
    {
        self.serve_tls = Some(Box::new(serve));
        self
    }

    /// Sets the function each child serves TLS with from in-memory PEM data,
    /// for [`listen_and_serve_tls_embed`](Self::listen_and_serve_tls_embed);
    /// it gets `(listener, cert, key)`.
    pub fn serve_tls_embed<F>(mut self, serve: F) -> Self
    where
        F: FnOnce(TcpListener, &[u8], &[u8]) -> io::Result<()> + Send + 'static,
    {
        self.serve_tls_embed = Some(Box::new(serve));
        self
    }

    /// Where diagnostics go; by default the [`log`] crate ([`LogCrateLogger`]).
    pub fn logger<L: Logger + 'static>(mut self, logger: L) -> Self {
        self.logger = Arc::new(logger);
        self
    }

    /// The network: [`Network::Tcp4`] (the default), [`Network::Tcp6`] or
    /// [`Network::Tcp`] (either).
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// How many child exits the master tolerates; the next one makes it stop
    /// all children and return [`Error::OverRecovery`]. `0` tolerates none.
    /// Default: max(1, cores / 2).
    pub fn recover_threshold(mut self, threshold: usize) -> Self {
        self.recover_threshold = threshold;
        self
    }

    /// Crash-loop back-off: how long the master waits before replacing a
    /// child that exited. A shutdown signal cuts the wait short. Default: no
    /// wait. Other children keep being supervised meanwhile.
    pub fn recover_interval(mut self, interval: Duration) -> Self {
        self.recover_interval = interval;
        self
    }

    /// How long children get to exit after SIGTERM before the master sends
    /// SIGKILL. Default: [`DEFAULT_SHUTDOWN_GRACE_PERIOD`].
    pub fn shutdown_grace_period(mut self, grace: Duration) -> Self {
        self.shutdown_grace_period = grace;
        self
    }

    /// How long the new master started by SIGUSR2 (a binary upgrade) may
    /// take to report that its children run; after that the old master
    /// sends it SIGTERM and keeps serving. Default:
    /// [`DEFAULT_UPGRADE_TIMEOUT`].
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// `true`: the master binds one `SO_REUSEPORT` listener per child (all
    /// on one port) and passes each child its own on fd 3; the kernel
    /// spreads connections across them. `false` (the default): the master
    /// binds one listener and passes it to every child on fd 3. See the
    /// crate docs to choose.
    pub fn reuseport(mut self, reuseport: bool) -> Self {
        self.reuseport = reuseport;
        self
    }

    /// How many children to run. Default: the available cores.
    pub fn children(mut self, children: usize) -> Self {
        self.children = children;
        self
    }

    /// Runs in a child, on a watcher thread, when its master dies (noticed
    /// at once on Linux through `PR_SET_PDEATHSIG`, elsewhere within 500 ms
    /// by polling `getppid()`). Default: exit with status 1. If the hook
    /// returns, the child keeps running; if it panics, the child exits 1.
    pub fn on_master_death<F>(mut self, hook: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        self.on_master_death = Some(Box::new(hook));
        self
    }

    /// Runs in the master after each child starts (first spawns and
    /// replacements), with its pid. An error or panic stops all children and
    /// is returned.
    pub fn on_child_spawn<F>(mut self, hook: F) -> Self
    where
        F: FnMut(u32) -> Result<(), BoxError> + Send + 'static,
    {
        self.on_child_spawn = Some(Box::new(hook));
        self
    }

    /// Runs in the master once, after all first children started, with their
    /// pids. An error or panic stops all children and is returned.
    pub fn on_master_ready<F>(mut self, hook: F) -> Self
    where
        F: FnOnce(&[u32]) -> Result<(), BoxError> + Send + 'static,
    {
        self.on_master_ready = Some(Box::new(hook));
        self
    }

    /// Runs in the master after a child that exited was replaced (after
    /// `on_child_spawn` for the new one), with `(old_pid, new_pid)`. An error
    /// or panic stops all children and is returned.
    pub fn on_child_recover<F>(mut self, hook: F) -> Self
    where
        F: FnMut(u32, u32) -> Result<(), BoxError> + Send + 'static,
    {
        self.on_child_recover = Some(Box::new(hook));
        self
    }

    /// Replaces how the master starts a child (for tests and frameworks).
    ///
    /// The producer must return a started, running child: build it from
    /// [`SpawnContext::command`], or pass any `Command` through
    /// [`SpawnContext::prepare`], then spawn it. Returning `Ok(None)`
    /// ([`Error::ProducerReturnedNone`]), an error ([`Error::Producer`]), a
    /// child that already exited ([`Error::ChildNotRunning`]) or panicking
    /// stops all children and returns the error.
    pub fn command_producer<F>(mut self, producer: F) -> Self
    where
        F: FnMut(&SpawnContext) -> Result<Option<Child>, BoxError> + Send + 'static,
    {
        self.command_producer = Some(Box::new(producer));
        self
    }

    /// Serves HTTP on `addr` (Go syntax: `"127.0.0.1:8080"`, `"[::1]:8080"`,
    /// `":8080"` for every interface, port 0 for any free port).
    ///
    /// In the master: binds, starts the children, supervises them, and
    /// returns `Ok(())` after SIGTERM or SIGINT once every child is gone,
    /// or the error that stopped it. In a child: serves with the function
    /// from [`serve`](Self::serve) and returns its result.
    pub fn listen_and_serve(self, addr: &str) -> Result<(), Error> {
        self.run(addr, ServeMode::Plain)
    }

    /// Supervises children that serve TLS on `addr` with the function set
    /// by [`serve_tls`](Self::serve_tls), which receives the certificate and
    /// key file paths. brisk-prefork does no TLS itself: that function
    /// must (the facade's `brisk::prefork_server` sets one that serves
    /// HTTPS with brisk's rustls support when its `tls` feature is on).
    ///
    /// Note the parameter order, kept from fasthttp: the **key** path comes
    /// before the **certificate** path. The [`serve_tls`](Self::serve_tls)
    /// function receives them the other way round, `(listener, cert_file,
    /// cert_key)`.
    pub fn listen_and_serve_tls(
        self,
        addr: &str,
        cert_key: impl AsRef<Path>,
        cert_file: impl AsRef<Path>,
    ) -> Result<(), Error> {
        let mode = ServeMode::Tls {
            cert_file: cert_file.as_ref(),
            key_file: cert_key.as_ref(),
        };
        self.run(addr, mode)
    }

    /// Supervises children that serve TLS on `addr` with an in-memory
    /// certificate and key, passed to the
    /// [`serve_tls_embed`](Self::serve_tls_embed) function (which does the
    /// TLS: brisk-prefork does none itself).
    pub fn listen_and_serve_tls_embed(
        self,
        addr: &str,
        cert: &[u8],
        key: &[u8],
    ) -> Result<(), Error> {
        self.run(addr, ServeMode::TlsEmbed { cert, key })
    }

    fn run(self, addr: &str, mode: ServeMode<'_>) -> Result<(), Error> {
        if is_child() {
            child::run(self, mode)
        } else {
            master::run(self, addr, mode)
        }
    }

    /// Fails unless the serve function for `mode` is set.
    pub(crate) fn check_serve_function(&self, mode: ServeMode<'_>) -> Result<(), Error> {
        let (present, function) = match mode {
            ServeMode::Plain => (self.serve.is_some(), "serve"),
            ServeMode::Tls { .. } => (self.serve_tls.is_some(), "serve_tls"),
            ServeMode::TlsEmbed { .. } => (self.serve_tls_embed.is_some(), "serve_tls_embed"),
        };
        if present {
            Ok(())
        } else {
            Err(Error::MissingServeFunction { function })
        }
    }

    /// Takes the serve function for `mode`, bound to its arguments.
    pub(crate) fn take_serve_function<'a>(
        &mut self,
        mode: ServeMode<'a>,
    ) -> Result<Serve<'a>, Error> {
        self.check_serve_function(mode)?;
        let missing = |function| Error::MissingServeFunction { function };
        Ok(match mode {
            ServeMode::Plain => Serve::Plain(self.serve.take().ok_or_else(|| missing("serve"))?),
            ServeMode::Tls {
                cert_file,
                key_file,
            } => Serve::Tls(
                self.serve_tls.take().ok_or_else(|| missing("serve_tls"))?,
                cert_file,
                key_file,
            ),
            ServeMode::TlsEmbed { cert, key } => Serve::TlsEmbed(
                self.serve_tls_embed
                    .take()
                    .ok_or_else(|| missing("serve_tls_embed"))?,
                cert,
                key,
            ),
        })
    }
}

impl Default for Prefork {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Prefork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefork")
            .field("network", &self.network)
            .field("children", &self.children)
            .field("reuseport", &self.reuseport)
            .field("recover_threshold", &self.recover_threshold)
            .field("recover_interval", &self.recover_interval)
            .field("shutdown_grace_period", &self.shutdown_grace_period)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("serve", &self.serve.is_some())
            .field("serve_tls", &self.serve_tls.is_some())
            .field("serve_tls_embed", &self.serve_tls_embed.is_some())
            .field("on_master_death", &self.on_master_death.is_some())
            .field("on_child_spawn", &self.on_child_spawn.is_some())
            .field("on_master_ready", &self.on_master_ready.is_some())
            .field("on_child_recover", &self.on_child_recover.is_some())
            .field("command_producer", &self.command_producer.is_some())
            .finish_non_exhaustive()
    }
}

impl Serve<'_> {
    /// Calls the serve function with the listener and its arguments.
    pub(crate) fn call(self, listener: TcpListener) -> io::Result<()> {
        match self {
            Serve::Plain(f) => f(listener),
            Serve::Tls(f, cert_file, key_file) => f(listener, cert_file, key_file),
            Serve::TlsEmbed(f, cert, key) => f(listener, cert, key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seed() {
        let p = Prefork::new();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(p.children, cores);
        assert_eq!(p.recover_threshold, (cores / 2).max(1));
        assert_eq!(p.network, Network::Tcp4);
        assert!(!p.reuseport);
        assert_eq!(p.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(p.recover_interval, Duration::ZERO);
        let text = format!("{p:?}");
        assert!(text.contains("serve: false"), "{text}");
    }

    #[test]
    fn missing_serve_functions_are_reported_before_anything_starts() {
        let cases: [(ServeMode<'_>, &str); 3] = [
            (ServeMode::Plain, "serve"),
            (
                ServeMode::Tls {
                    cert_file: Path::new("c"),
                    key_file: Path::new("k"),
                },
                "serve_tls",
            ),
            (
                ServeMode::TlsEmbed {
                    cert: b"c",
                    key: b"k",
                },
                "serve_tls_embed",
            ),
        ];
        for (mode, name) in cases {
            // Only `serve` is set: the TLS variants must complain.
            let mut p = Prefork::new().serve(|_| Ok(()));
            let result = p.take_serve_function(mode);
            if name == "serve" {
                assert!(result.is_ok());
            } else {
                assert!(
                    matches!(result, Err(Error::MissingServeFunction { function }) if function == name)
                );
            }
            let p = Prefork::new();
            assert!(matches!(
                p.check_serve_function(mode),
                Err(Error::MissingServeFunction { function }) if function == name
            ));
        }
    }

    #[test]
    fn master_rejects_bad_configuration_before_binding() {
        // None of these reach the point of spawning, so they are safe to
        // run inside the test binary.
        let err = Prefork::new().listen_and_serve("127.0.0.1:0").unwrap_err();
        assert!(matches!(
            err,
            Error::MissingServeFunction { function: "serve" }
        ));
        let err = Prefork::new()
            .serve(|_| Ok(()))
            .children(0)
            .listen_and_serve("127.0.0.1:0")
            .unwrap_err();
        assert!(matches!(err, Error::NoChildren));
        let err = Prefork::new()
            .serve(|_| Ok(()))
            .listen_and_serve("127.0.0.1")
            .unwrap_err();
        assert!(matches!(err, Error::InvalidAddress { .. }), "{err}");
        let err = Prefork::new()
            .serve(|_| Ok(()))
            .network(Network::Tcp6)
            .listen_and_serve("127.0.0.1:0")
            .unwrap_err();
        assert!(matches!(err, Error::NoAddressForNetwork { .. }), "{err}");
    }

    #[test]
    fn tls_arguments_keep_the_seed_order() {
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = Arc::clone(&seen);
        let mut p = Prefork::new().serve_tls(move |_, cert, key| {
            *sink.lock().unwrap() = format!("{} {}", cert.display(), key.display());
            Ok(())
        });
        let mode = ServeMode::Tls {
            cert_file: Path::new("cert.pem"),
            key_file: Path::new("key.pem"),
        };
        let serve = p.take_serve_function(mode).unwrap();
        serve
            .call(TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), "cert.pem key.pem");
    }
}

//! [`Config`], its defaults, and the checks [`WorkerPool::new`] runs on it.
//!
//! [`WorkerPool::new`]: crate::WorkerPool::new

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Default for [`Config::max_workers`]: 4096 worker threads.
///
/// fasthttp's default is 256 × 1024 goroutines, but an OS thread is far
/// heavier than a goroutine (a kernel task plus a stack mapping), and most
/// Linux systems cap a process at a few tens of thousands of threads
/// (`ulimit -u`, `kernel.threads-max`, `vm.max_map_count`). A pool that asked
/// for 256 K threads would hit those limits and fail to spawn instead of
/// rejecting cleanly. 4096 threads stay well inside the usual limits while
/// leaving room for thousands of blocking jobs at once; raise it if your
/// system allows more.
pub const DEFAULT_MAX_WORKERS: usize = 4096;

/// Default for [`Config::max_idle_worker_duration`]: 10 seconds, as in fasthttp.
pub const DEFAULT_MAX_IDLE_WORKER_DURATION: Duration = Duration::from_secs(10);

/// Default for [`Config::name`], the prefix of worker thread names.
pub const DEFAULT_NAME: &str = "brisk-pool";

/// A custom log sink: receives one finished message per call.
///
/// When [`Config::logger`] is `None` the pool logs through the `log` crate
/// facade (target `brisk_pool`) instead.
pub type Logger = Arc<dyn Fn(&str) + Send + Sync>;

/// How a [`WorkerPool`](crate::WorkerPool) behaves; checked once by
/// [`WorkerPool::new`](crate::WorkerPool::new).
///
/// Build one with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use brisk_pool::Config;
///
/// let cfg = Config {
///     max_workers: 64,
///     max_idle_worker_duration: Duration::from_secs(2),
///     ..Config::default()
/// };
/// assert_eq!(cfg.name, "brisk-pool");
/// ```
#[derive(Clone)]
pub struct Config {
    /// The most worker threads alive at once (fasthttp's `MaxWorkersCount`).
    /// When every one of them is busy, [`serve`](crate::WorkerPool::serve)
    /// hands the job back instead of queueing it. Must be at least 1.
    /// Default: [`DEFAULT_MAX_WORKERS`].
    pub max_workers: usize,
    /// A worker idle for longer than this is stopped by the cleaner thread
    /// (fasthttp's `MaxIdleWorkerDuration`). Must be non-zero; a very large
    /// value (e.g. `Duration::MAX`) means idle workers are never reaped.
    /// Default: [`DEFAULT_MAX_IDLE_WORKER_DURATION`].
    pub max_idle_worker_duration: Duration,
    /// Also log routine errors: jobs handed back because the pool is full or
    /// stopped. Panicking jobs and failed thread spawns are always logged.
    /// Default: `false`.
    pub log_all_errors: bool,
    /// Prefix of the worker thread names (`{name}-{n}`, and `{name}-cleaner`
    /// for the cleaner). Must not contain a NUL byte. Linux shows only the
    /// first 15 bytes of a thread name. Default: [`DEFAULT_NAME`].
    pub name: String,
    /// Stack size of each worker thread in bytes; `None` uses the standard
    /// library's default (2 MiB unless `RUST_MIN_STACK` says otherwise).
    /// The cleaner thread always uses the default. Default: `None`.
    pub stack_size: Option<usize>,
    /// Where log messages go; `None` means the `log` crate facade.
    /// Default: `None`.
    pub logger: Option<Logger>,
}

/// Why [`WorkerPool::new`](crate::WorkerPool::new) refused a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`Config::max_workers`] is 0, so no job could ever run.
    ZeroMaxWorkers,
    /// [`Config::max_idle_worker_duration`] is zero, so every worker would be
    /// reaped the moment it went idle.
    ZeroMaxIdleWorkerDuration,
    /// [`Config::name`] contains a NUL byte, which thread names cannot hold.
    NameContainsNul,
}

impl Default for Config {
    /// fasthttp's defaults where they fit OS threads: see
    /// [`DEFAULT_MAX_WORKERS`] and [`DEFAULT_MAX_IDLE_WORKER_DURATION`].
    fn default() -> Config {
        Config {
            max_workers: DEFAULT_MAX_WORKERS,
            max_idle_worker_duration: DEFAULT_MAX_IDLE_WORKER_DURATION,
            log_all_errors: false,
            name: DEFAULT_NAME.to_owned(),
            stack_size: None,
            logger: None,
        }
    }
}

impl Config {
    /// Checks the fields that would make a pool unusable.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_workers == 0 {
            return Err(ConfigError::ZeroMaxWorkers);
        }
        if self.max_idle_worker_duration.is_zero() {
            return Err(ConfigError::ZeroMaxIdleWorkerDuration);
        }
        if self.name.as_bytes().contains(&0) {
            return Err(ConfigError::NameContainsNul);
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_workers", &self.max_workers)
            .field("max_idle_worker_duration", &self.max_idle_worker_duration)
            .field("log_all_errors", &self.log_all_errors)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("logger", &self.logger.as_ref().map(|_| "<custom>"))
            .finish()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroMaxWorkers => {
                "max_workers is 0: set it to at least 1, the most worker threads the pool may run at once"
            }
            ConfigError::ZeroMaxIdleWorkerDuration => {
                "max_idle_worker_duration is zero: set how long an idle worker may wait for a job \
                 before it is stopped (fasthttp uses 10 s; Duration::MAX never reaps)"
            }
            ConfigError::NameContainsNul => {
                "name contains a NUL byte: thread names cannot hold one, remove it"
            }
        })
    }
}

impl Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_matches_documented_values() {
        let cfg = Config::default();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.max_workers, 4096);
        assert_eq!(cfg.max_idle_worker_duration, Duration::from_secs(10));
        assert!(!cfg.log_all_errors);
        assert_eq!(cfg.name, "brisk-pool");
        assert!(cfg.stack_size.is_none() && cfg.logger.is_none());
    }

    #[test]
    fn each_bad_field_has_its_own_error() {
        let check = |cfg: Config, want: ConfigError| assert_eq!(cfg.validate(), Err(want));
        check(
            Config {
                max_workers: 0,
                ..Config::default()
            },
            ConfigError::ZeroMaxWorkers,
        );
        check(
            Config {
                max_idle_worker_duration: Duration::ZERO,
                ..Config::default()
            },
            ConfigError::ZeroMaxIdleWorkerDuration,
        );
        check(
            Config {
                name: "a\0b".to_owned(),
                ..Config::default()
            },
            ConfigError::NameContainsNul,
        );
    }

    #[test]
    fn extreme_but_usable_values_are_accepted() {
        let cfg = Config {
            max_workers: usize::MAX,
            max_idle_worker_duration: Duration::MAX,
            name: String::new(),
            stack_size: Some(0),
            ..Config::default()
        };
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn messages_are_lowercase_and_say_what_to_change() {
        for e in [
            ConfigError::ZeroMaxWorkers,
            ConfigError::ZeroMaxIdleWorkerDuration,
            ConfigError::NameContainsNul,
        ] {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
            assert!(msg.contains(": "), "{msg}");
        }
    }

    #[test]
    fn debug_hides_the_logger_closure() {
        let cfg = Config {
            logger: Some(Arc::new(|_: &str| {})),
            ..Config::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(dbg.contains("logger: Some(\"<custom>\")"), "{dbg}");
    }
}

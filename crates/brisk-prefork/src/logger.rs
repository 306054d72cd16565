//! Where the supervisor's diagnostics go.

use std::fmt;

pub use log::Level;

/// Receives the supervisor's diagnostic messages (fasthttp's `Logger`).
///
/// Any `Fn(Level, fmt::Arguments<'_>) + Send + Sync` closure is a `Logger`;
/// the default, [`LogCrateLogger`], forwards to the [`log`] crate.
pub trait Logger: Send + Sync {
    /// Records one message. Called from the master's supervising thread and
    /// from a child's master-death watcher thread; must not block for long.
    fn log(&self, level: Level, message: fmt::Arguments<'_>);
}

/// The default [`Logger`]: forwards every message to the [`log`] crate with
/// the target `brisk_prefork` (silent unless the program installs a `log`
/// implementation).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogCrateLogger;

impl Logger for LogCrateLogger {
    fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        log::log!(target: "brisk_prefork", level, "{message}");
    }
}

impl<F> Logger for F
where
    F: Fn(Level, fmt::Arguments<'_>) + Send + Sync,
{
    fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        self(level, message);
    }
}

/// `say!(logger, Level::Info, "fmt", args…)`: formats lazily into a logger.
macro_rules! say {
    ($logger:expr, $level:expr, $($arg:tt)+) => {
        $crate::logger::Logger::log(&*$logger, $level, format_args!($($arg)+))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn closures_are_loggers() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let logger: Arc<dyn Logger> = Arc::new(move |level: Level, message: fmt::Arguments<'_>| {
            sink.lock().unwrap().push(format!("{level} {message}"));
        });
        say!(logger, Level::Warn, "child {} exited", 7);
        LogCrateLogger.log(Level::Info, format_args!("goes to the log crate"));
        assert_eq!(*seen.lock().unwrap(), ["WARN child 7 exited"]);
    }
}

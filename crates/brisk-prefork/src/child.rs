//! The child: take the listener, watch the master, serve.

use std::sync::Arc;

use crate::error::Error;
use crate::logger::{Level, say};
use crate::spawn::{CHILD_READY_FD_ENV, MASTER_PID_ENV};
use crate::{Prefork, ServeMode, sys, watch};

/// Runs the child side of `listen_and_serve*`.
pub(crate) fn run(mut prefork: Prefork, mode: ServeMode<'_>) -> Result<(), Error> {
    let serve = prefork.take_serve_function(mode)?;
    let logger = Arc::clone(&prefork.logger);
    let master_pid = master_pid_from_env().unwrap_or_else(|| nix::unistd::getppid().as_raw());
    let on_death = prefork
        .on_master_death
        .take()
        .unwrap_or_else(watch::default_on_master_death);
    watch::start(master_pid, on_death, Arc::clone(&logger)).map_err(Error::Watcher)?;
    // The master's listener, or with reuseport the socket of this child's
    // slot: always on fd 3.
    let listener = sys::take_inherited_listener()?;
    // A new master (binary upgrade) waits for this before it tells the old
    // master it is ready.
    if let Some(fd) = std::env::var(CHILD_READY_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        if let Err(e) = sys::report_child_ready(fd) {
            say!(
                logger,
                Level::Warn,
                "prefork: child {} cannot report that it is ready: {e}",
                std::process::id()
            );
        }
    }
    say!(
        logger,
        Level::Debug,
        "prefork: child {} serving (master {master_pid})",
        std::process::id()
    );
    serve.call(listener).map_err(Error::Serve)
}

fn master_pid_from_env() -> Option<i32> {
    std::env::var(MASTER_PID_ENV)
        .ok()?
        .parse::<i32>()
        .ok()
        .filter(|&pid| pid > 0)
}

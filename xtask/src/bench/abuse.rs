//! `cargo xtask bench abuse`: abusive clients against brisk and the peers.

use anyhow::{Result, bail};

/// Runs the abuse bench with the arguments that followed `abuse`.
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("`cargo xtask bench abuse` is being written (issue 9); it does not run yet")
}

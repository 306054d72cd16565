//! Shutdown: signals to the master, stubborn children, and master death.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{Master, gone_or_zombie, kill9, reaped, temp_dir, wait_until};

#[test]
fn sigterm_and_sigint_stop_every_child() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        // A grace period of an hour: the master exits (within the harness's
        // bound) only if the children stop on the signal itself.
        let mut master = Master::start(&["--children", "3", "--grace-ms", "3600000"]);
        let ready = master.ready_pids();
        master.listening(3);
        master.signal(signal);
        assert_eq!(
            master.wait_exit().code(),
            Some(0),
            "{signal}\n{}",
            master.dump()
        );
        // The children die on SIGTERM at once: no need for the grace period.
        assert!(
            !master
                .lines()
                .iter()
                .any(|l| l.contains("still running after")),
            "{signal}"
        );
        assert!(master.lines().iter().any(|l| l == "exit ok"));
        assert!(master.lines().iter().any(|l| l == "leftover=0"));
        for pid in ready {
            assert!(reaped(pid), "{signal}: child {pid} survived");
        }
    }
}

#[test]
fn children_ignoring_sigterm_are_killed_after_the_grace_period() {
    let grace = Duration::from_millis(600);
    let mut master = Master::start(&["--children", "2", "--grace-ms", "600", "--ignore-sigterm"]);
    let ready = master.ready_pids();
    master.listening(2);
    let signalled_at = Instant::now();
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    let took = signalled_at.elapsed();
    // A lower bound only (a timer that fired early); how much later the
    // master stopped depends on the machine's load.
    assert!(
        took >= grace,
        "stopped after {took:?}, inside the grace period"
    );
    let lines = master.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("still running after") && l.contains("SIGKILL"))
    );
    assert!(lines.iter().any(|l| l == "leftover=0"));
    for pid in ready {
        assert!(reaped(pid), "child {pid} survived");
    }
}

#[test]
fn a_second_signal_skips_the_grace_period() {
    // A grace period of an hour: the master exits (within the harness's
    // bound) only if the second signal cuts it short.
    let mut master = Master::start(&[
        "--children",
        "2",
        "--grace-ms",
        "3600000",
        "--ignore-sigterm",
    ]);
    master.ready_pids();
    master.listening(2);
    master.signal(Signal::SIGTERM);
    master.wait_lines("the stop starts", 1, |l| l.contains("stopping 2 children"));
    master.signal(Signal::SIGINT);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    assert!(
        master
            .lines()
            .iter()
            .any(|l| l.contains("second shutdown signal"))
    );
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

#[test]
fn master_death_runs_on_master_death_in_every_child() {
    let dir = temp_dir("death");
    let mut master = Master::start(&["--children", "2", "--death-marker", dir.to_str().unwrap()]);
    let ready = master.ready_pids();
    master.listening(2);
    kill9(master.pid());
    master.wait_lines("on_master_death in both children", 2, |l| {
        l.starts_with("death pid=")
    });
    for pid in &ready {
        let marker = dir.join(pid.to_string());
        wait_until("the marker file is written", || marker.exists());
        wait_until("the orphan exits", || gone_or_zombie(*pid));
    }
    let noticed: Vec<String> = master
        .lines()
        .into_iter()
        .filter(|l| l.contains("died (noticed"))
        .collect();
    assert_eq!(noticed.len(), 2, "{noticed:?}");
    if cfg!(target_os = "linux") {
        // PR_SET_PDEATHSIG, not the 500 ms getppid poll, woke them. A
        // child whose watcher thread first ran after the master was gone
        // says "at start" when another thread has not run the signal
        // handler yet; that is no poll either.
        assert!(
            noticed
                .iter()
                .all(|l| l.contains("by parent-death signal") || l.contains("(noticed at start)")),
            "{noticed:?}"
        );
    }
    let status = master.wait_killed();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn by_default_children_exit_when_the_master_dies() {
    let mut master = Master::start(&["--children", "2"]);
    let ready = master.ready_pids();
    master.listening(2);
    kill9(master.pid());
    for pid in ready {
        wait_until("the orphan exits", || gone_or_zombie(pid));
    }
    let status = master.wait_killed();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let lines = master.lines();
    assert!(!lines.iter().any(|l| l.starts_with("death ")));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("running on_master_death"))
            .count(),
        2
    );
}

#[test]
fn a_panicking_on_master_death_still_ends_the_child() {
    let mut master = Master::start(&["--children", "1", "--panic-hook", "death"]);
    let ready = master.ready_pids();
    master.listening(1);
    kill9(master.pid());
    master.wait_lines("the panic is logged", 1, |l| {
        l.contains("on_master_death panicked: on_master_death panicked; exiting")
    });
    wait_until("the orphan exits", || gone_or_zombie(ready[0]));
    master.wait_killed();
}

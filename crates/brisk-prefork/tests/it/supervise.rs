//! Supervision: replacing crashed children, the recover threshold and the
//! crash-loop back-off.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{Master, answering_pids, connect_addr, kill9, reaped, value, wait_until};

#[test]
fn killed_child_is_replaced_and_on_child_recover_sees_both_pids() {
    let mut master = Master::start(&["--children", "2", "--recover-threshold", "5"]);
    let ready = master.ready_pids();
    let addr = connect_addr(master.listening(2)[0]);
    let victim = ready[0];
    kill9(victim);

    let line = master.wait_line("recover ");
    assert_eq!(value(&line, "old"), victim.to_string());
    let new: u32 = value(&line, "new").parse().unwrap();
    assert!(!ready.contains(&new));
    // on_child_spawn ran for the replacement before on_child_recover.
    let lines = master.lines();
    let spawn_at = lines.iter().position(|l| *l == format!("spawn pid={new}"));
    let recover_at = lines.iter().position(|l| *l == line);
    assert!(spawn_at.is_some() && spawn_at < recover_at, "{lines:?}");
    // The master reaped the victim; the replacement serves.
    wait_until("the killed child is reaped", || reaped(victim));
    master.wait_lines("3 listening children", 3, |l| l.starts_with("listening "));
    let alive = [ready[1], new];
    let seen = answering_pids(addr, 2);
    assert!(
        seen.iter().all(|pid| alive.contains(pid)),
        "{seen:?} vs {alive:?}"
    );
    assert!(!seen.contains(&victim));

    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0));
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

#[test]
fn over_recovery_stops_everything_with_its_error() {
    let mut master = Master::start(&["--children", "2", "--recover-threshold", "1"]);
    let ready = master.ready_pids();
    kill9(ready[0]);
    let line = master.wait_line("recover ");
    let new: u32 = value(&line, "new").parse().unwrap();
    kill9(ready[1]);
    let status = master.wait_exit();
    assert_eq!(status.code(), Some(3), "{}", master.dump());
    let error = master.wait_line("error ");
    assert_eq!(value(&error, "kind"), "over-recovery");
    assert!(
        value(&error, "msg").contains("recover_threshold (1)"),
        "{error}"
    );
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
    for pid in [ready[0], ready[1], new] {
        assert!(reaped(pid), "child {pid} survived the master");
    }
}

#[test]
fn zero_threshold_stops_at_the_first_exit() {
    let mut master = Master::start(&["--children", "2", "--recover-threshold", "0"]);
    let ready = master.ready_pids();
    kill9(ready[1]);
    assert_eq!(master.wait_exit().code(), Some(3), "{}", master.dump());
    assert!(!master.lines().iter().any(|l| l.starts_with("recover ")));
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

#[test]
fn recover_interval_delays_the_replacement() {
    let interval = Duration::from_millis(400);
    let mut master = Master::start(&["--children", "1", "--recover-interval-ms", "400"]);
    let ready = master.ready_pids();
    let killed_at = Instant::now();
    kill9(ready[0]);
    let line = master.wait_line("recover ");
    let waited = killed_at.elapsed();
    // A lower bound only (a replacement before the interval).
    assert!(
        waited >= interval,
        "replaced after {waited:?}, before {interval:?}"
    );
    assert_eq!(value(&line, "old"), ready[0].to_string());
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0));
}

#[test]
fn shutdown_cuts_the_recover_interval_short() {
    // A back-off of an hour: the master exits (within the harness's bound)
    // only if the shutdown cuts it short.
    let mut master = Master::start(&["--children", "2", "--recover-interval-ms", "3600000"]);
    let ready = master.ready_pids();
    kill9(ready[0]);
    master.wait_lines("the back-off starts", 1, |l| l.contains("replacing child"));
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    assert!(!master.lines().iter().any(|l| l.starts_with("recover ")));
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

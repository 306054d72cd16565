//! The command producer: every way it can fail, and a custom one that works.

use nix::sys::signal::Signal;

use crate::harness::{Master, answering_pids, connect_addr, value};

#[test]
fn producer_failures_stop_the_master_with_specific_errors() {
    let cases: [(&[&str], &str, i32, &str); 4] = [
        (
            &["--producer", "error"],
            "producer",
            6,
            "command producer failed: command producer refused",
        ),
        (
            &["--producer", "none"],
            "producer-none",
            7,
            "returned no child",
        ),
        (
            &["--producer", "exited"],
            "child-not-running",
            8,
            "which is not running (exit status: 0)",
        ),
        (
            &["--panic-hook", "producer"],
            "panic-command_producer",
            5,
            "command_producer hook panicked: command_producer panicked",
        ),
    ];
    for (flags, kind, code, message) in cases {
        let mut args = vec!["--children", "2"];
        args.extend_from_slice(flags);
        let mut master = Master::start(&args);
        let status = master.wait_exit();
        assert_eq!(status.code(), Some(code), "{flags:?}\n{}", master.dump());
        let error = master.wait_line("error ");
        assert_eq!(value(&error, "kind"), kind, "{flags:?}");
        assert!(value(&error, "msg").contains(message), "{flags:?}: {error}");
        assert!(
            !master.lines().iter().any(|l| l.starts_with("spawn ")),
            "{flags:?}"
        );
    }
}

#[test]
fn custom_producer_starts_working_children() {
    let mut master = Master::start(&["--children", "2", "--producer", "custom"]);
    let ready = master.ready_pids();
    let children = master.wait_lines("children", 2, |l| l.starts_with("child pid="));
    assert!(
        children.iter().all(|l| value(l, "custom") == "1"),
        "{children:?}"
    );
    let addr = connect_addr(master.listening(2)[0]);
    let seen = answering_pids(addr, 2);
    assert!(seen.iter().all(|pid| ready.contains(pid)));
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0));
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

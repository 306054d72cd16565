//! Resource hygiene: no descriptor leaks, no duplicated environment.

use std::collections::HashSet;

use nix::sys::signal::Signal;

use crate::harness::{Master, fds_of, kill9, value};

/// The master's descriptors before `listen_and_serve`: (count, numbers).
fn before(master: &Master) -> (usize, HashSet<i32>) {
    let line = master.wait_line("fds before=");
    let list = value(&line, "list")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (value(&line, "before").parse().unwrap(), list)
}

/// The master holds exactly its sockets (one, or with reuseport one per
/// child) and its wake pipe (2 descriptors) more than before
/// `listen_and_serve`, also after a respawn, and none after it returns;
/// children hold nothing of the master's but stdio and their listener on
/// fd 3 (with reuseport, each child a different one).
#[test]
fn no_descriptor_leaks_in_master_or_children() {
    for reuseport in [false, true] {
        let label = if reuseport { "reuseport" } else { "fd passing" };
        let mut args = vec!["--children", "2", "--fd-report", "--recover-threshold", "5"];
        if reuseport {
            args.push("--reuseport");
        }
        let mut master = Master::start(&args);
        let (before, before_fds) = before(&master);
        let ready = master.ready_pids();
        master.listening(2);
        let sockets = if reuseport { 2 } else { 1 };
        let master_fds = fds_of(master.pid());
        assert_eq!(
            master_fds.len(),
            before + 2 + sockets,
            "{label}: {master_fds:?}"
        );

        // What listen_and_serve opened in the master (inherited descriptors
        // such as stdio are the environment's business, not ours).
        let opened: Vec<(i32, String)> = master_fds
            .iter()
            .filter(|(fd, _)| !before_fds.contains(fd))
            .cloned()
            .collect();
        assert_eq!(opened.len(), 2 + sockets, "{label}: {opened:?}");
        let opened_targets: HashSet<&str> = opened.iter().map(|(_, t)| t.as_str()).collect();
        let mut child_listeners = HashSet::new();
        for pid in &ready {
            let child_fds = fds_of(*pid);
            for (fd, target) in &child_fds {
                if opened_targets.contains(target.as_str()) {
                    // Shared with the master: only the listener, on fd 3.
                    assert!(
                        *fd == 3 && target.starts_with("socket:"),
                        "{label}: child {pid} holds the master's {target} on fd {fd}"
                    );
                    child_listeners.insert(target.clone());
                }
            }
            let has_listener = child_fds
                .iter()
                .any(|(fd, t)| *fd == 3 && opened_targets.contains(t.as_str()));
            assert!(has_listener, "{label}: child {pid} fds {child_fds:?}");
        }
        assert_eq!(
            child_listeners.len(),
            sockets,
            "{label}: children share {child_listeners:?}"
        );

        kill9(ready[0]);
        master.wait_line("recover ");
        master.wait_lines("3 listening children", 3, |l| l.starts_with("listening "));
        assert_eq!(
            fds_of(master.pid()).len(),
            before + 2 + sockets,
            "{label}: after a respawn"
        );

        master.signal(Signal::SIGTERM);
        assert_eq!(master.wait_exit().code(), Some(0), "{label}");
        let after = master.wait_line("fds after=");
        assert_eq!(value(&after, "after"), before.to_string(), "{label}");
    }
}

/// The master runs with `BRISK_PREFORK_CHILD=0` already set; every child,
/// from the default command and from a custom producer, has exactly one
/// `BRISK_PREFORK_CHILD` entry in its raw environment.
#[test]
fn child_environment_holds_one_prefork_marker() {
    for producer in ["default", "custom"] {
        let mut master = Master::start_with_env(
            &["--children", "2", "--producer", producer],
            &[(brisk_prefork::CHILD_ENV, "0")],
        );
        let children = master.wait_lines("children", 2, |l| l.starts_with("child pid="));
        for line in &children {
            assert_eq!(value(line, "env_count"), "1", "{producer}: {line}");
            assert_eq!(
                value(line, "ppid"),
                master.pid().to_string(),
                "{producer}: {line}"
            );
        }
        master.signal(Signal::SIGTERM);
        assert_eq!(master.wait_exit().code(), Some(0), "{producer}");
    }
}

//! Binary upgrade (SIGUSR2) and socket activation of the master: the very
//! same listening socket goes from an old master to a new one, a replaced
//! binary is picked up, a failing new master leaves the old one serving,
//! and a master started by a service manager serves the socket it got.
//! (That no request fails across an upgrade is checked with a real
//! draining server: brisk's `upgrade` facade test.)

use std::collections::HashSet;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{
    Master, answering_pids, connect_addr, example_path, fds_of, gone_or_zombie, pids, temp_dir,
    value, wait_until,
};

/// The `master pid=` lines so far: the first master, then each new one.
fn masters(master: &Master, count: usize) -> Vec<u32> {
    master
        .wait_lines("master lines", count, |l| l.starts_with("master pid="))
        .iter()
        .map(|l| value(l, "pid").parse().unwrap())
        .collect()
}

/// The socket on fd 3 of `pid` (`socket:[inode]`).
fn fd3(pid: u32) -> String {
    fds_of(pid)
        .into_iter()
        .find(|(fd, _)| *fd == 3)
        .map(|(_, target)| target)
        .unwrap_or_else(|| panic!("process {pid} has no fd 3"))
}

/// Ends a new master (not the test's child: reaped by whoever adopted it).
fn stop_adopted(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM the new master");
    wait_until("the new master exits", || gone_or_zombie(pid));
}

#[test]
fn sigusr2_hands_the_same_socket_to_a_new_master() {
    let mut master = Master::start(&["--children", "2", "--grace-ms", "3000"]);
    let old_children = master.ready_pids();
    let addr = connect_addr(master.listening(2)[0]);
    let socket = fd3(old_children[0]);
    assert!(socket.starts_with("socket:["), "{socket}");

    master.signal(Signal::SIGUSR2);
    let new = masters(&master, 2)[1];
    let ready = master.wait_lines("both masters ready", 2, |l| l.starts_with("ready pids="));
    let new_children = pids(value(&ready[1], "pids"));
    assert_eq!(new_children.len(), 2);
    for pid in &new_children {
        // The same socket (same inode), not a new bind.
        assert_eq!(fd3(*pid), socket, "child {pid} of the new master");
    }
    // The old master stops its children and exits 0 once the new one is
    // ready; it logged why.
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    let lines = master.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("new master {new} is ready"))),
        "{}",
        master.dump()
    );
    assert!(
        lines.iter().any(|l| l.contains("(inherited from master")
            && l.contains(&format!("log pid={new} "))),
        "{}",
        master.dump()
    );
    // It reported ready only once both children took their listener.
    let took = lines.iter().position(|l| {
        l.contains(&format!(
            "log pid={new} INFO prefork: upgrade: all 2 children took"
        ))
    });
    let told = lines
        .iter()
        .position(|l| l.contains(&format!("log pid={new} INFO prefork: upgrade: told master")));
    assert!(took.is_some() && took < told, "{}", master.dump());
    for pid in &old_children {
        wait_until("an old child is reaped", || gone_or_zombie(*pid));
    }
    // Only the new children answer, on the same address.
    let seen = answering_pids(addr, 2);
    assert!(
        seen.iter().all(|pid| new_children.contains(pid)),
        "{seen:?} vs {new_children:?}"
    );
    // The new master does not report to anyone any more, and a second
    // upgrade works from it too.
    kill(Pid::from_raw(new as i32), Signal::SIGUSR2).unwrap();
    let newer = masters(&master, 3)[2];
    master.wait_lines("three masters ready", 3, |l| l.starts_with("ready pids="));
    wait_until("the second master exits", || gone_or_zombie(new));
    stop_adopted(newer);
}

#[test]
fn a_failing_new_master_leaves_the_old_one_serving() {
    let mut master = Master::start(&["--children", "1", "--fail-upgrade"]);
    let children = master.ready_pids();
    let addr = connect_addr(master.listening(1)[0]);
    master.signal(Signal::SIGUSR2);
    let refused = master.wait_line("upgrade-refused pid=");
    let new = value(&refused, "pid");
    let failed = master.wait_line(&format!(
        "log pid={} ERROR prefork: upgrade failed",
        master.pid()
    ));
    assert!(
        failed.contains(&format!("new master {new}: it exited before it was ready"))
            && failed.contains("this master keeps serving"),
        "{failed}"
    );
    assert_eq!(answering_pids(addr, 1), children.into_iter().collect());
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    assert!(master.lines().iter().any(|l| l == "leftover=0"));
}

/// The new master is ready only once its children took their listener:
/// children that exit before that (here every child of the new master)
/// make it give up (over-recovery), and the old master keeps serving.
#[test]
fn children_that_never_start_serving_fail_the_upgrade() {
    let mut master = Master::start(&[
        "--children",
        "1",
        "--recover-threshold",
        "1",
        "--fail-upgraded-children",
    ]);
    let children = master.ready_pids();
    let addr = connect_addr(master.listening(1)[0]);
    master.signal(Signal::SIGUSR2);
    let new = masters(&master, 2)[1];
    master.wait_lines("two refusing children", 2, |l| {
        l.starts_with("child-refused pid=")
    });
    let failed = master.wait_line(&format!(
        "log pid={} ERROR prefork: upgrade failed",
        master.pid()
    ));
    assert!(
        failed.contains(&format!("new master {new}: it exited before it was ready")),
        "{failed}"
    );
    assert!(
        !master
            .lines()
            .iter()
            .any(|l| l.contains("took their listener")),
        "{}",
        master.dump()
    );
    assert_eq!(answering_pids(addr, 1), children.into_iter().collect());
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
}

#[test]
fn a_replaced_binary_is_picked_up_by_the_new_master() {
    let dir = temp_dir("replaced");
    let program = dir.join("pid_server");
    std::fs::copy(example_path(), &program).unwrap();
    let mut master = Master::spawn(
        {
            let mut cmd = Command::new(&program);
            cmd.args(["--children", "1"]);
            cmd
        },
        &["--children", "1"],
    );
    master.ready_pids();
    master.listening(1);
    // A deploy: the new file is moved over the old one (a new inode).
    let staged = dir.join("pid_server.new");
    std::fs::copy(example_path(), &staged).unwrap();
    std::fs::rename(&staged, &program).unwrap();
    assert!(exe_of(master.pid()).ends_with("(deleted)"));

    master.signal(Signal::SIGUSR2);
    let new = masters(&master, 2)[1];
    assert_eq!(exe_of(new), program.display().to_string());
    master.wait_lines("both masters ready", 2, |l| l.starts_with("ready pids="));
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    stop_adopted(new);
    let _ = std::fs::remove_dir_all(&dir);
}

fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// With reuseport the master holds one socket per child slot; an upgrade
/// passes them all, and every new child serves one of the very same
/// sockets (no new bind: nothing queued on a socket is lost).
#[test]
fn reuseport_hands_every_socket_to_the_new_master() {
    let mut master = Master::start(&["--children", "2", "--reuseport", "--grace-ms", "3000"]);
    let old_children = master.ready_pids();
    let addr = connect_addr(master.listening(2)[0]);
    let old_sockets: HashSet<String> = old_children.iter().map(|&pid| fd3(pid)).collect();
    assert_eq!(
        old_sockets.len(),
        2,
        "one socket per child: {old_sockets:?}"
    );

    master.signal(Signal::SIGUSR2);
    let new = masters(&master, 2)[1];
    let ready = master.wait_lines("both masters ready", 2, |l| l.starts_with("ready pids="));
    let new_children = pids(value(&ready[1], "pids"));
    let new_sockets: HashSet<String> = new_children.iter().map(|&pid| fd3(pid)).collect();
    assert_eq!(new_sockets, old_sockets);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
    let seen = answering_pids(addr, 2);
    assert!(
        seen.iter().all(|pid| new_children.contains(pid)),
        "{seen:?} vs {new_children:?}"
    );
    stop_adopted(new);
}

/// A master started by a service manager (fd 3, `LISTEN_FDS=1`,
/// `LISTEN_PID` its own pid through `sh`) serves that socket and binds
/// nothing; its children do not see the variables.
#[test]
fn a_socket_activated_master_serves_the_inherited_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" --children 2 --addr 127.0.0.1:1")
        .arg(example_path())
        .env("LISTEN_FDS", "1");
    place_on_fd3(&mut cmd, listener.as_raw_fd());
    let mut master = Master::spawn(cmd, &["(socket activation)"]);
    drop(listener);
    let children = master.ready_pids();
    let listening = master.listening(2);
    assert!(
        listening.iter().all(|a| *a == addr),
        "{listening:?} vs {addr}"
    );
    master.wait_line(&format!(
        "log pid={} INFO prefork: master {} on {addr} (inherited from the service manager",
        master.pid(),
        master.pid()
    ));
    for pid in &children {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !environ
                .split(|&b| b == 0)
                .any(|e| e.starts_with(b"LISTEN_")),
            "child {pid} inherited LISTEN_*"
        );
    }
    let seen = answering_pids(addr, 2);
    assert!(seen.iter().all(|pid| children.contains(pid)), "{seen:?}");
    master.signal(Signal::SIGTERM);
    assert_eq!(master.wait_exit().code(), Some(0), "{}", master.dump());
}

/// Bad activation variables stop the master with a specific error.
#[test]
fn a_master_refuses_two_inherited_sockets() {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" --children 1")
        .arg(example_path())
        .env("LISTEN_FDS", "2");
    place_on_fd3(&mut cmd, a.as_raw_fd());
    let mut master = Master::spawn(cmd, &["(two sockets)"]);
    assert_eq!(master.wait_exit().code(), Some(1), "{}", master.dump());
    let error = master.wait_line("error ");
    assert!(
        value(&error, "msg")
            .contains("cannot serve the inherited listening socket: LISTEN_FDS=\"2\""),
        "{error}"
    );
    assert!(!master.lines().iter().any(|l| l.starts_with("spawn ")));
}

/// Puts `fd` on descriptor 3 of the child.
fn place_on_fd3(cmd: &mut Command, fd: RawFd) {
    let place = move || {
        // SAFETY: dup2(2) and fcntl(2) are async-signal-safe; `fd` is open
        // in this forked copy. The new fd 3 has no FD_CLOEXEC and survives
        // exec; when `fd` already is 3, dup2 does nothing, so its
        // FD_CLOEXEC is cleared instead.
        let rc = unsafe {
            if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            }
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure only calls dup2 or fcntl (async-signal-safe) and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(place);
    }
}

//! The listen variants: networks, fd passing and reuseport, TLS forwarding,
//! bind errors.

use std::net::SocketAddr;

use nix::sys::signal::Signal;

use crate::harness::{Master, answering_pids, connect_addr, has_ipv6_loopback, value};

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    ipv6: bool,
    /// Where to connect (None: the printed address, wildcards → loopback).
    connect_v4: bool,
}

/// Starts a master with two children, checks every child listens on the
/// same address, that more than one child answers, and a clean SIGTERM exit.
fn check(case: &Case) {
    if case.ipv6 && !has_ipv6_loopback() {
        println!(
            "note: skipping {:?}: this machine has no IPv6 loopback",
            case.name
        );
        return;
    }
    let mut args = vec!["--children", "2"];
    args.extend_from_slice(case.args);
    let mut master = Master::start(&args);
    let ready = master.ready_pids();
    assert_eq!(ready.len(), 2, "{}", case.name);
    let addrs = master.listening(2);
    assert!(
        addrs.iter().all(|a| *a == addrs[0]),
        "{}: children listen on different addresses: {addrs:?}",
        case.name
    );
    assert_ne!(addrs[0].port(), 0, "{}", case.name);
    let target = if case.connect_v4 {
        SocketAddr::new([127, 0, 0, 1].into(), addrs[0].port())
    } else {
        connect_addr(addrs[0])
    };
    let seen = answering_pids(target, 2);
    assert!(
        seen.len() >= 2,
        "{}: only {seen:?} answered\n{}",
        case.name,
        master.dump()
    );
    assert!(
        seen.iter().all(|pid| ready.contains(pid)),
        "{}: {seen:?} are not all children {ready:?}",
        case.name
    );
    master.signal(Signal::SIGTERM);
    let status = master.wait_exit();
    assert_eq!(status.code(), Some(0), "{}\n{}", case.name, master.dump());
    let lines = master.lines();
    assert!(lines.iter().any(|l| l == "exit ok"), "{}", case.name);
    assert!(lines.iter().any(|l| l == "leftover=0"), "{}", case.name);
}

#[test]
fn fd_passing_variants() {
    let cases = [
        Case {
            name: "tcp4 127.0.0.1:0",
            args: &["--network", "tcp4", "--addr", "127.0.0.1:0"],
            ipv6: false,
            connect_v4: false,
        },
        Case {
            name: "tcp localhost:0",
            args: &["--network", "tcp", "--addr", "localhost:0"],
            ipv6: false,
            connect_v4: false,
        },
        Case {
            name: "tcp :0 (dual-stack wildcard, reached over IPv4)",
            args: &["--network", "tcp", "--addr", ":0"],
            ipv6: false,
            connect_v4: true,
        },
        Case {
            name: "tcp6 [::1]:0",
            args: &["--network", "tcp6", "--addr", "[::1]:0"],
            ipv6: true,
            connect_v4: false,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn reuseport_variants() {
    let cases = [
        Case {
            name: "reuseport tcp4 127.0.0.1:0",
            args: &["--reuseport", "--network", "tcp4", "--addr", "127.0.0.1:0"],
            ipv6: false,
            connect_v4: false,
        },
        Case {
            name: "reuseport tcp4 :0",
            args: &["--reuseport", "--addr", ":0"],
            ipv6: false,
            connect_v4: false,
        },
        Case {
            name: "reuseport tcp6 [::1]:0",
            args: &["--reuseport", "--network", "tcp6", "--addr", "[::1]:0"],
            ipv6: true,
            connect_v4: false,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn tls_variants_forward_their_arguments() {
    // listen_and_serve_tls takes (addr, key, cert); serve_tls gets (cert, key).
    for (mode, reuseport) in [("tls", false), ("tls-embed", true)] {
        let mut args = vec![
            "--children",
            "1",
            "--mode",
            mode,
            "--cert",
            "CERT",
            "--key",
            "KEY",
        ];
        if reuseport {
            args.push("--reuseport");
        }
        let mut master = Master::start(&args);
        let line = master.wait_line("tls ");
        assert_eq!(line, "tls cert=CERT key=KEY", "{mode}");
        let addr = connect_addr(master.listening(1)[0]);
        assert_eq!(answering_pids(addr, 1).len(), 1, "{mode}");
        master.signal(Signal::SIGTERM);
        assert_eq!(master.wait_exit().code(), Some(0), "{mode}");
    }
}

#[test]
fn bind_errors_name_the_address() {
    for reuseport in [false, true] {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let mut args = vec!["--addr", addr.as_str()];
        if reuseport {
            args.push("--reuseport");
        }
        let mut master = Master::start(&args);
        let status = master.wait_exit();
        assert_eq!(
            status.code(),
            Some(9),
            "reuseport={reuseport}\n{}",
            master.dump()
        );
        let line = master.wait_line("error ");
        assert_eq!(value(&line, "kind"), "bind");
        assert!(value(&line, "msg").contains(&addr), "{line}");
        assert!(!master.lines().iter().any(|l| l.starts_with("spawn ")));
    }
}

//! Hook errors and panics: each stops every child and is returned.

use crate::harness::{Master, kill9, reaped, value};

struct Case {
    flags: [&'static str; 2],
    /// Whether a child must crash first (recovery hooks).
    crash: bool,
    kind: &'static str,
    code: i32,
    message: &'static str,
}

fn check(case: &Case) {
    let mut args = vec![
        "--children",
        "2",
        "--recover-threshold",
        "5",
        "--grace-ms",
        "3000",
    ];
    args.extend_from_slice(&case.flags);
    let mut master = Master::start(&args);
    if case.crash {
        let ready = master.ready_pids();
        master.listening(2);
        kill9(ready[0]);
    }
    let status = master.wait_exit();
    let label = format!("{:?}", case.flags);
    assert_eq!(status.code(), Some(case.code), "{label}\n{}", master.dump());
    let error = master.wait_line("error ");
    assert_eq!(value(&error, "kind"), case.kind, "{label}");
    assert!(
        value(&error, "msg").contains(case.message),
        "{label}: {error}"
    );
    let lines = master.lines();
    assert!(
        lines.iter().any(|l| l == "leftover=0"),
        "{label}: {lines:?}"
    );
    for line in lines.iter().filter(|l| l.starts_with("spawn pid=")) {
        let pid: u32 = value(line, "pid").parse().unwrap();
        assert!(reaped(pid), "{label}: child {pid} survived");
    }
}

#[test]
fn hook_errors_stop_all_children() {
    let cases = [
        Case {
            flags: ["--fail-hook", "spawn"],
            crash: false,
            kind: "hook-on_child_spawn",
            code: 4,
            message: "on_child_spawn hook failed: on_child_spawn refused child",
        },
        Case {
            flags: ["--fail-hook", "respawn"],
            crash: true,
            kind: "hook-on_child_spawn",
            code: 4,
            message: "refused child",
        },
        Case {
            flags: ["--fail-hook", "ready"],
            crash: false,
            kind: "hook-on_master_ready",
            code: 4,
            message: "on_master_ready hook failed: on_master_ready refused",
        },
        Case {
            flags: ["--fail-hook", "recover"],
            crash: true,
            kind: "hook-on_child_recover",
            code: 4,
            message: "on_child_recover hook failed: on_child_recover refused",
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn hook_panics_are_caught_and_returned() {
    let cases = [
        Case {
            flags: ["--panic-hook", "spawn"],
            crash: false,
            kind: "panic-on_child_spawn",
            code: 5,
            message: "on_child_spawn hook panicked: on_child_spawn panicked for child",
        },
        Case {
            flags: ["--panic-hook", "respawn"],
            crash: true,
            kind: "panic-on_child_spawn",
            code: 5,
            message: "panicked for child",
        },
        Case {
            flags: ["--panic-hook", "ready"],
            crash: false,
            kind: "panic-on_master_ready",
            code: 5,
            message: "on_master_ready hook panicked: on_master_ready panicked",
        },
        Case {
            flags: ["--panic-hook", "recover"],
            crash: true,
            kind: "panic-on_child_recover",
            code: 5,
            message: "on_child_recover hook panicked: on_child_recover panicked",
        },
    ];
    for case in &cases {
        check(case);
    }
}

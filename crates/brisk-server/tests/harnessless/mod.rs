//! The runner shared by the test binaries built without libtest's harness
//! (`harness = false`): each runs its scenarios one at a time in its own
//! process.

/// Runs the scenarios chosen by the command line, one after another, and
/// prints a line before and after each, prefixed with `binary`.
///
/// Arguments: names (or parts of names) of the scenarios to run, default
/// all; `--list` lists them as libtest does. libtest's other flags are
/// ignored (cargo may pass them on), with the value of those that take
/// one. A failing scenario panics, which fails the binary.
pub fn run_scenarios(binary: &str, scenarios: &[(&str, fn())]) {
    const VALUE_FLAGS: &[&str] = &[
        "--test-threads",
        "--skip",
        "--color",
        "--format",
        "--logfile",
        "-Z",
    ];
    let mut filters = Vec::new();
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--list" {
            list = true;
        } else if VALUE_FLAGS.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let chosen = scenarios.iter().filter(|(name, _)| {
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    });
    if list {
        for (name, _) in chosen {
            println!("{name}: test");
        }
        return;
    }
    let mut passed = 0;
    for (name, scenario) in chosen {
        println!("{binary}: {name} ...");
        scenario();
        println!("{binary}: {name}: ok");
        passed += 1;
    }
    println!("{binary}: {passed} passed, 0 failed");
}

//! `brisk-load`: the HTTP/1.1 load generator (see `brisk-load --help`).

use std::process::ExitCode;

use brisk_benches::{Invocation, LoadConfig, Stop};

fn main() -> ExitCode {
    let (config, json) = match brisk_benches::parse_args(std::env::args().skip(1)) {
        Ok(Invocation::Help) => {
            print!("{}", brisk_benches::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run { config, json }) => (config, json),
        Err(e) => {
            eprintln!("brisk-load: {e}");
            return ExitCode::from(2);
        }
    };
    if !json {
        println!("{}", describe(&config));
    }
    match brisk_benches::run(&config) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("brisk-load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line saying what is about to run.
fn describe(c: &LoadConfig) -> String {
    let stop = match c.stop {
        Stop::After(d) => format!("{:.2} s", d.as_secs_f64()),
        Stop::Requests(n) => format!("{n} requests"),
    };
    let warmup = if c.warmup.is_zero() {
        String::new()
    } else {
        format!(" after {:.2} s warm-up", c.warmup.as_secs_f64())
    };
    let pinned = if c.cpus.is_empty() {
        String::new()
    } else {
        format!(", pinned to cpus {:?}", c.cpus)
    };
    format!(
        "brisk-load {} {}{}: {} connections on {} thread(s), {}, pipeline {}, {}{}{}",
        c.request.method,
        c.addr,
        c.request.path,
        c.connections,
        c.threads,
        if c.keep_alive {
            "keep-alive"
        } else {
            "connection per request"
        },
        c.pipeline,
        stop,
        warmup,
        pinned
    )
}

//! A prefork server that answers every HTTP/1.1 request with its own pid.
//!
//! It exists to drive brisk-prefork's integration tests through real
//! processes, and shows the API at work. Every hook prints a parseable line
//! on stdout:
//!
//! ```text
//! master pid=<pid>                          the master started
//! spawn pid=<pid>                           on_child_spawn
//! ready pids=<pid>,<pid>                    on_master_ready
//! recover old=<pid> new=<pid>               on_child_recover
//! child pid=<pid> ppid=<pid> env_count=<n> custom=<0|1>   a child started
//! listening <addr>                          a child got its listener
//! tls cert=<..> key=<..>                    a TLS serve function ran
//! death pid=<pid>                           on_master_death (with --death-marker)
//! log pid=<pid> <LEVEL> <message>           the supervisor's logger
//! exit ok | error kind=<kind> msg=<text>    the master returned
//! fds before=<n> list=<fd>,.. / fds after=..  with --fd-report (Linux)
//! leftover=<n>                              children of this run still existing
//! upgrade-refused pid=<pid>                 with --fail-upgrade, a new master
//!                                           started by SIGUSR2 exits 1 at once
//! child-refused pid=<pid>                   with --fail-upgraded-children, the
//!                                           children of such a master exit 1
//!                                           before they take their listener
//! ```
//!
//! SIGUSR2 to the master starts a new master (a binary upgrade), which
//! prints `master pid=<pid>` and its own lines.
//!
//! Exit codes: 0 ok, 1 other error, 2 usage, 3 over-recovery, 4 hook error,
//! 5 hook panic, 6 producer error, 7 producer returned none, 8 child not
//! running, 9 bind error.
//!
//! Run `cargo run -p brisk-prefork --example pid_server -- --addr 127.0.0.1:8080`
//! and `curl 127.0.0.1:8080` a few times.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brisk_prefork::{Error, Hook, Level, Network, Prefork, SpawnContext, is_child};

const USAGE: &str = "usage: pid_server [--addr ADDR] [--children N] [--reuseport] \
[--network tcp|tcp4|tcp6] [--recover-threshold N] [--recover-interval-ms N] [--grace-ms N] \
[--ignore-sigterm] [--fail-hook spawn|respawn|ready|recover] \
[--panic-hook spawn|respawn|ready|recover|producer|death] \
[--producer default|error|none|exited|custom] [--death-marker DIR] \
[--mode plain|tls|tls-embed] [--cert X] [--key Y] [--fd-report] [--noop] [--fail-upgrade] \
[--fail-upgraded-children]";

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    addr: String,
    children: usize,
    reuseport: bool,
    network: Network,
    recover_threshold: Option<usize>,
    recover_interval: Option<Duration>,
    grace: Option<Duration>,
    ignore_sigterm: bool,
    fail_hook: Option<String>,
    panic_hook: Option<String>,
    producer: String,
    death_marker: Option<PathBuf>,
    mode: String,
    cert: String,
    key: String,
    fd_report: bool,
    fail_upgrade: bool,
    fail_upgraded_children: bool,
    noop: bool,
}

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("pid_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.noop {
        return ExitCode::SUCCESS;
    }
    if opts.fail_upgrade && !is_child() && std::env::var_os(brisk_prefork::UPGRADE_ENV).is_some() {
        say(&format!("upgrade-refused pid={}", std::process::id()));
        return ExitCode::from(1);
    }
    if is_child() {
        if opts.fail_upgraded_children
            && std::env::var_os(brisk_prefork::CHILD_READY_FD_ENV).is_some()
        {
            say(&format!("child-refused pid={}", std::process::id()));
            return ExitCode::from(1);
        }
        return run_child(&opts);
    }
    run_master(&opts)
}

fn run_child(opts: &Options) -> ExitCode {
    if opts.ignore_sigterm {
        // Blocked in the main thread before any other thread starts, so
        // every thread of the child blocks it: SIGTERM stays pending forever.
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        if let Err(e) = set.thread_block() {
            eprintln!("pid_server: cannot block SIGTERM: {e}");
            return ExitCode::from(1);
        }
    }
    say(&format!(
        "child pid={} ppid={} env_count={} custom={}",
        std::process::id(),
        nix::unistd::getppid(),
        child_env_count(),
        u8::from(std::env::var_os("PID_SERVER_CUSTOM").is_some()),
    ));
    let spawned = Arc::new(Mutex::new(Vec::new()));
    match serve_with(configure(opts, &spawned), opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pid_server child {}: {e}", std::process::id());
            ExitCode::from(1)
        }
    }
}

fn run_master(opts: &Options) -> ExitCode {
    say(&format!("master pid={}", std::process::id()));
    if opts.fd_report {
        if let Some(fds) = open_fds() {
            let list: Vec<String> = fds.iter().map(i32::to_string).collect();
            say(&format!("fds before={} list={}", fds.len(), list.join(",")));
        }
    }
    let spawned = Arc::new(Mutex::new(Vec::new()));
    let result = serve_with(configure(opts, &spawned), opts);
    let code = match &result {
        Ok(()) => {
            say("exit ok");
            0
        }
        Err(e) => {
            let (kind, code) = classify(e);
            say(&format!("error kind={kind} msg={e}"));
            code
        }
    };
    if opts.fd_report {
        if let Some(fds) = open_fds() {
            let list: Vec<String> = fds.iter().map(i32::to_string).collect();
            say(&format!("fds after={} list={}", fds.len(), list.join(",")));
        }
    }
    let pids = spawned.lock().map(|p| p.clone()).unwrap_or_default();
    let leftover = pids.iter().filter(|&&pid| process_exists(pid)).count();
    say(&format!("leftover={leftover}"));
    ExitCode::from(code)
}

/// Builds the `Prefork` from the options; `spawned` collects child pids.
fn configure(opts: &Options, spawned: &Arc<Mutex<Vec<u32>>>) -> Prefork {
    let mut prefork = Prefork::new()
        .children(opts.children)
        .reuseport(opts.reuseport)
        .network(opts.network)
        .logger(|level: Level, message: std::fmt::Arguments<'_>| {
            say(&format!("log pid={} {level} {message}", std::process::id()));
        })
        .serve(serve)
        .serve_tls(|listener, cert, key| {
            say(&format!(
                "tls cert={} key={}",
                cert.display(),
                key.display()
            ));
            serve(listener)
        })
        .serve_tls_embed(|listener, cert, key| {
            say(&format!(
                "tls cert={} key={}",
                String::from_utf8_lossy(cert),
                String::from_utf8_lossy(key)
            ));
            serve(listener)
        });
    if let Some(n) = opts.recover_threshold {
        prefork = prefork.recover_threshold(n);
    }
    if let Some(d) = opts.recover_interval {
        prefork = prefork.recover_interval(d);
    }
    if let Some(d) = opts.grace {
        prefork = prefork.shutdown_grace_period(d);
    }
    if let Some(dir) = opts.death_marker.clone() {
        prefork = prefork.on_master_death(move || {
            let pid = std::process::id();
            let _ = std::fs::write(dir.join(pid.to_string()), "master died\n");
            say(&format!("death pid={pid}"));
            std::process::exit(0);
        });
    }

    let fail = opts.fail_hook.clone().unwrap_or_default();
    let panic = opts.panic_hook.clone().unwrap_or_default();
    if panic == "death" {
        prefork = prefork.on_master_death(|| panic!("on_master_death panicked"));
    }
    let initial = opts.children;
    let pids = Arc::clone(spawned);
    let (fail_spawn, panic_spawn) = (fail.clone(), panic.clone());
    prefork = prefork.on_child_spawn(move |pid| {
        let calls = {
            let mut pids = pids.lock().map_err(|_| "pid list poisoned")?;
            pids.push(pid);
            pids.len()
        };
        say(&format!("spawn pid={pid}"));
        let respawn = calls > initial;
        if fail_spawn == "spawn" || (fail_spawn == "respawn" && respawn) {
            return Err(format!("on_child_spawn refused child {pid}").into());
        }
        if panic_spawn == "spawn" || (panic_spawn == "respawn" && respawn) {
            panic!("on_child_spawn panicked for child {pid}");
        }
        Ok(())
    });
    let (fail_ready, panic_ready) = (fail.clone(), panic.clone());
    prefork = prefork.on_master_ready(move |pids| {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        say(&format!("ready pids={}", list.join(",")));
        if fail_ready == "ready" {
            return Err("on_master_ready refused".into());
        }
        if panic_ready == "ready" {
            panic!("on_master_ready panicked");
        }
        Ok(())
    });
    let (fail_recover, panic_recover) = (fail, panic.clone());
    prefork = prefork.on_child_recover(move |old, new| {
        say(&format!("recover old={old} new={new}"));
        if fail_recover == "recover" {
            return Err(format!("on_child_recover refused {old}->{new}").into());
        }
        if panic_recover == "recover" {
            panic!("on_child_recover panicked for {old}->{new}");
        }
        Ok(())
    });
    let producer = opts.producer.clone();
    if producer != "default" || panic == "producer" {
        prefork = prefork.command_producer(move |ctx: &SpawnContext| {
            if panic == "producer" {
                panic!("command_producer panicked");
            }
            match producer.as_str() {
                "error" => Err("command producer refused".into()),
                "none" => Ok(None),
                "exited" => {
                    let mut child = Command::new(ctx.executable()).arg("--noop").spawn()?;
                    child.wait()?;
                    Ok(Some(child))
                }
                _ => {
                    let mut cmd = ctx.command();
                    cmd.env("PID_SERVER_CUSTOM", "1");
                    Ok(Some(cmd.spawn()?))
                }
            }
        });
    }
    prefork
}

fn serve_with(prefork: Prefork, opts: &Options) -> Result<(), Error> {
    match opts.mode.as_str() {
        // Key before cert, as in fasthttp.
        "tls" => prefork.listen_and_serve_tls(&opts.addr, &opts.key, &opts.cert),
        "tls-embed" => prefork.listen_and_serve_tls_embed(
            &opts.addr,
            opts.cert.as_bytes(),
            opts.key.as_bytes(),
        ),
        _ => prefork.listen_and_serve(&opts.addr),
    }
}

/// A test-facing name and exit code for each error.
fn classify(e: &Error) -> (&'static str, u8) {
    match e {
        Error::OverRecovery { .. } => ("over-recovery", 3),
        Error::Hook { hook, .. } => (hook_kind(*hook, false), 4),
        Error::HookPanicked { hook, .. } => (hook_kind(*hook, true), 5),
        Error::Producer(_) => ("producer", 6),
        Error::ProducerReturnedNone => ("producer-none", 7),
        Error::ChildNotRunning { .. } => ("child-not-running", 8),
        Error::Bind { .. } => ("bind", 9),
        _ => ("other", 1),
    }
}

fn hook_kind(hook: Hook, panicked: bool) -> &'static str {
    match (hook, panicked) {
        (Hook::ChildSpawn, false) => "hook-on_child_spawn",
        (Hook::MasterReady, false) => "hook-on_master_ready",
        (Hook::ChildRecover, false) => "hook-on_child_recover",
        (Hook::ChildSpawn, true) => "panic-on_child_spawn",
        (Hook::MasterReady, true) => "panic-on_master_ready",
        (Hook::ChildRecover, true) => "panic-on_child_recover",
        (Hook::CommandProducer, true) => "panic-command_producer",
        _ => "hook-other",
    }
}

/// One event loop per child: accept, answer, repeat.
fn serve(listener: TcpListener) -> io::Result<()> {
    say(&format!("listening {}", listener.local_addr()?));
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                // A broken client only ends its own connection.
                let _ = handle(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads request heads until CRLFCRLF and answers each with this pid;
/// keeps the connection alive unless the client asks to close it.
fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = std::process::id().to_string();
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 16 * 1024 {
                stream.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let close = head.contains("\r\nconnection: close")
            || (head.lines().next().is_some_and(|l| l.ends_with("http/1.0"))
                && !head.contains("\r\nconnection: keep-alive"));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
            body.len(),
            if close { "close" } else { "keep-alive" },
        );
        stream.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
        buf.drain(..end);
    }
}

/// Writes one line to stdout with one `write` (lines from several processes
/// sharing the pipe never interleave).
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

/// How many `BRISK_PREFORK_CHILD` entries the raw environment holds.
fn child_env_count() -> usize {
    let prefix = format!("{}=", brisk_prefork::CHILD_ENV);
    match std::fs::read("/proc/self/environ") {
        Ok(raw) => raw
            .split(|&b| b == 0)
            .filter(|entry| entry.starts_with(prefix.as_bytes()))
            .count(),
        Err(_) => std::env::vars_os()
            .filter(|(k, _)| k == brisk_prefork::CHILD_ENV)
            .count(),
    }
}

/// Open descriptors of this process (Linux), not counting the one used to
/// list them (which no longer exists once listed).
fn open_fds() -> Option<Vec<i32>> {
    let names: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut fds: Vec<i32> = names
        .into_iter()
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok())
        .collect();
    fds.sort_unstable();
    Some(fds)
}

/// Whether `pid` still exists (running or a zombie).
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut opts = Options {
            addr: "127.0.0.1:0".to_owned(),
            children: 2,
            reuseport: false,
            network: Network::Tcp4,
            recover_threshold: None,
            recover_interval: None,
            grace: None,
            ignore_sigterm: false,
            fail_hook: None,
            panic_hook: None,
            producer: "default".to_owned(),
            death_marker: None,
            mode: "plain".to_owned(),
            cert: "cert.pem".to_owned(),
            key: "key.pem".to_owned(),
            fd_report: false,
            noop: false,
            fail_upgrade: false,
            fail_upgraded_children: false,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--addr" => opts.addr = value()?,
                "--children" => opts.children = number(&flag, &value()?)?,
                "--reuseport" => opts.reuseport = true,
                "--network" => opts.network = value()?.parse().map_err(|e| format!("{e}"))?,
                "--recover-threshold" => opts.recover_threshold = Some(number(&flag, &value()?)?),
                "--recover-interval-ms" => {
                    opts.recover_interval = Some(Duration::from_millis(number(&flag, &value()?)?));
                }
                "--grace-ms" => opts.grace = Some(Duration::from_millis(number(&flag, &value()?)?)),
                "--ignore-sigterm" => opts.ignore_sigterm = true,
                "--fail-hook" => opts.fail_hook = Some(value()?),
                "--panic-hook" => opts.panic_hook = Some(value()?),
                "--producer" => opts.producer = value()?,
                "--death-marker" => opts.death_marker = Some(PathBuf::from(value()?)),
                "--mode" => opts.mode = value()?,
                "--cert" => opts.cert = value()?,
                "--key" => opts.key = value()?,
                "--fd-report" => opts.fd_report = true,
                "--noop" => opts.noop = true,
                "--fail-upgrade" => opts.fail_upgrade = true,
                "--fail-upgraded-children" => opts.fail_upgraded_children = true,
                _ => return Err(format!("unknown flag {flag:?}")),
            }
        }
        Ok(opts)
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} needs a number, got {text:?}"))
}

//! Runs the `pid_server` example as a real prefork master and watches it.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long any awaited condition may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often conditions are re-checked.
pub const TICK: Duration = Duration::from_millis(10);

/// A running `pid_server` master in its own process group. Dropping it
/// SIGKILLs the whole group (master and children), so no test leaves a
/// process behind, even when it fails.
pub struct Master {
    child: Option<Child>,
    pid: u32,
    args: Vec<String>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

/// Lines read from a pipe, with a condition variable for waiters.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Master {
    /// Starts `pid_server` with `args`.
    pub fn start(args: &[&str]) -> Master {
        Self::start_with_env(args, &[])
    }

    /// Starts `pid_server` with `args` and extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Master {
        let mut cmd = Command::new(example_path());
        cmd.args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        Self::spawn(cmd, args)
    }

    /// Starts `cmd` (a `pid_server`, however started) as the master, with
    /// the prefork variables removed unless `cmd` sets them.
    pub fn spawn(mut cmd: Command, args: &[&str]) -> Master {
        for key in [
            brisk_prefork::CHILD_ENV,
            brisk_prefork::MASTER_PID_ENV,
            brisk_prefork::ADDR_ENV,
            brisk_prefork::UPGRADE_ENV,
            brisk_prefork::READY_FD_ENV,
            "LISTEN_PID",
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
        ] {
            if !cmd.get_envs().any(|(k, _)| k == key) {
                cmd.env_remove(key);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().expect("start pid_server");
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        collect(child.stdout.take().expect("stdout"), Arc::clone(&stdout));
        collect(child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        Master {
            pid: child.id(),
            child: Some(child),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            stdout,
            stderr,
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// All stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines.lock().unwrap().clone()
    }

    /// Waits for `count` stdout lines matching `matches`; panics with the
    /// output so far after [`TIMEOUT`].
    pub fn wait_lines(
        &self,
        what: &str,
        count: usize,
        matches: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = self.stdout.lines.lock().unwrap();
        loop {
            let found: Vec<String> = lines.iter().filter(|l| matches(l)).cloned().collect();
            if found.len() >= count {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                drop(lines);
                panic!("timed out waiting for {count} × {what}\n{}", self.dump());
            }
            lines = self
                .stdout
                .changed
                .wait_timeout(lines, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits for one stdout line starting with `prefix`.
    pub fn wait_line(&self, prefix: &str) -> String {
        self.wait_lines(prefix, 1, |l| l.starts_with(prefix))
            .remove(0)
    }

    /// The pids of `on_master_ready`.
    pub fn ready_pids(&self) -> Vec<u32> {
        let line = self.wait_line("ready pids=");
        pids(value(&line, "pids"))
    }

    /// Waits until `count` children printed `listening <addr>`; returns the
    /// addresses.
    pub fn listening(&self, count: usize) -> Vec<SocketAddr> {
        self.wait_lines("listening", count, |l| l.starts_with("listening "))
            .iter()
            .map(|l| l["listening ".len()..].parse().expect("listening address"))
            .collect()
    }

    /// Sends `signal` to the master.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid as i32), signal).expect("signal master");
    }

    /// Waits for the master to exit and for its stdout to close.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("master still tracked");
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait master") {
                break status;
            }
            if Instant::now() >= deadline {
                panic!("master did not exit\n{}", self.dump());
            }
            std::thread::sleep(TICK);
        };
        // The master prints its last lines before it exits.
        let _ = self.wait_lines("leftover", 1, |l| l.starts_with("leftover="));
        status
    }

    /// Waits for a master that was killed by a signal (it prints nothing more).
    pub fn wait_killed(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("master still tracked");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait master") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "master did not die\n{}",
                self.dump()
            );
            std::thread::sleep(TICK);
        }
    }

    /// Everything seen so far, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "--- pid_server {:?} (master {})\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args,
            self.pid,
            self.stdout.lines.lock().unwrap().join("\n"),
            self.stderr.lines.lock().unwrap().join("\n"),
        )
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // The master leads its own process group; its children share it.
        let _ = kill(Pid::from_raw(-(self.pid as i32)), Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

fn collect(pipe: impl Read + Send + 'static, sink: Arc<Lines>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lines.lock().unwrap().push(line);
            sink.changed.notify_all();
        }
    });
}

/// The `key=value` field of a line (up to the next space; `msg` runs to the
/// end of the line).
pub fn value<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("{line:?} has no {key}="))
        + key.len()
        + 1;
    let rest = &line[start..];
    if key == "msg" {
        rest
    } else {
        rest.split(' ').next().unwrap_or("")
    }
}

/// Parses `1,2,3`.
pub fn pids(list: &str) -> Vec<u32> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("pid"))
        .collect()
}

/// The `pid_server` example next to this test binary, built on first use if
/// cargo did not build it already.
pub fn example_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // target/<profile>/deps/it-xxxx → target/<profile>/examples/pid_server
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps");
        let path = profile_dir.join("examples").join("pid_server");
        if !path.exists() {
            let cargo = std::env::var_os("CARGO")
                .or_else(|| option_env!("CARGO").map(Into::into))
                .unwrap_or_else(|| "cargo".into());
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
            let mut cmd = Command::new(cargo);
            cmd.arg("build")
                .arg("--manifest-path")
                .arg(&manifest)
                .args(["--example", "pid_server"]);
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => {}
                Some("release") => {
                    cmd.arg("--release");
                }
                Some(other) => {
                    cmd.args(["--profile", other]);
                }
            }
            let status = cmd.status().expect("run cargo build for pid_server");
            assert!(status.success(), "building pid_server failed");
        }
        assert!(path.exists(), "{} is missing", path.display());
        path
    })
}

/// One `GET /` with `Connection: close`; returns the pid in the body.
pub fn get_pid(addr: SocketAddr) -> io::Result<u32> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no head end in {response:?}")))?;
    if !head.starts_with("HTTP/1.1 200 OK\r\n") {
        return Err(io::Error::other(format!(
            "unexpected response {response:?}"
        )));
    }
    body.parse()
        .map_err(|_| io::Error::other(format!("body is not a pid: {body:?}")))
}

/// Makes fresh connections until `want` different pids answered (at most
/// 200 tries); returns the pids seen.
pub fn answering_pids(addr: SocketAddr, want: usize) -> HashSet<u32> {
    let mut seen = HashSet::new();
    for _ in 0..200 {
        seen.insert(get_pid(addr).expect("request"));
        if seen.len() >= want {
            break;
        }
    }
    seen
}

/// Where to connect for a listener bound to `addr` (wildcards → loopback).
pub fn connect_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Polls `done` every [`TICK`] for up to [`TIMEOUT`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(TICK);
    }
}

/// Whether `pid` no longer exists, or is a zombie nobody reaped yet (for
/// orphans, whose reaping belongs to init, not to the code under test).
pub fn gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ..." — the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Whether `pid` is fully gone (reaped).
pub fn reaped(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_err()
}

/// `(fd, link target)` for every open descriptor of `pid`.
pub fn fds_of(pid: u32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "brisk-prefork-it-{}-{name}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Whether this machine can listen on IPv6 loopback.
pub fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Sends SIGKILL to a child of the master.
pub fn kill9(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 child");
}

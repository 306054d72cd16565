//! Processes under test: start pinned (and in a CPU-quota cgroup), wait for
//! the port, read CPU time and RSS from `/proc`, stop on drop.

use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, SysconfVar, sysconf};

/// A server process that is stopped (TERM, then KILL after 3 s) when dropped,
/// also when the bench fails half-way.
pub(crate) struct Server {
    pub(crate) name: String,
    child: Child,
    log: PathBuf,
}

/// A CPU-quota cgroup the servers run in.
pub(crate) enum Cgroup {
    /// cgroup v1 `cpu` controller directory.
    V1(PathBuf),
    /// cgroup v2 directory.
    V2(PathBuf),
}

/// Name of the cgroup (the same as `shared/peers/bench.sh` uses).
const CGROUP_NAME: &str = "brisk_bench";

impl Server {
    /// Starts `cmd` with stdout and stderr going to `log`, pinned to `cpu`
    /// and inside `cgroup` when given.
    pub(crate) fn start(
        name: &str,
        mut cmd: Command,
        log: &Path,
        cpu: Option<usize>,
        cgroup: Option<&Cgroup>,
    ) -> Result<Server> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = spawn_pinned(&mut cmd, cpu)
            .with_context(|| format!("starting {name}: `{}`", crate::show(&cmd)))?;
        let server = Server {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        };
        if let Some(cgroup) = cgroup {
            cgroup
                .add(server.pid())
                .with_context(|| format!("moving {name} into the cgroup"))?;
        }
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `port` accepts connections, polling every 20 ms for at
    /// most `limit`. Fails early when the process exits.
    pub(crate) fn wait_ready(&mut self, port: u16, limit: Duration) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited before listening ({status}); {}",
                    self.name,
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} is not listening on port {port} after {limit:?}; {}",
                    self.name,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process and its descendants (nginx's master forks a worker):
    /// their pids, the server's own first.
    pub(crate) fn tree(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        pids.extend(descendants(self.pid()));
        pids
    }

    /// User + system CPU time so far, all threads of the process and of
    /// its descendants (nginx's worker does the work of its master).
    pub(crate) fn cpu_time(&self) -> Result<Duration> {
        let per_sec = clock_ticks_per_sec()?;
        let mut ticks = 0;
        for pid in self.tree() {
            let path = format!("/proc/{pid}/stat");
            match fs::read_to_string(&path) {
                Ok(text) => ticks += cpu_ticks(&text).with_context(|| format!("parsing {path}"))?,
                // A descendant that exited since it was listed.
                Err(_) if pid != self.pid() => {}
                Err(e) => return Err(e).with_context(|| format!("reading {path}")),
            }
        }
        Ok(Duration::from_secs_f64(ticks as f64 / per_sec as f64))
    }

    /// Resident set size in KiB of the process and its descendants.
    pub(crate) fn tree_rss_kib(&self) -> Result<u64> {
        let mut kib = self.rss_kib()?;
        for pid in descendants(self.pid()) {
            let path = format!("/proc/{pid}/status");
            if let Some(k) = fs::read_to_string(&path)
                .ok()
                .and_then(|t| status_kib(&t, "VmRSS"))
            {
                kib += k;
            }
        }
        Ok(kib)
    }

    /// Moves the process's descendants into `cgroup` too: a child forked
    /// before the server itself was moved would otherwise run unthrottled.
    pub(crate) fn confine_tree(&self, cgroup: &Cgroup) -> Result<()> {
        for pid in descendants(self.pid()) {
            cgroup
                .add(pid)
                .with_context(|| format!("moving {}'s child {pid} into the cgroup", self.name))?;
        }
        Ok(())
    }

    /// Resident set size in KiB.
    pub(crate) fn rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status_kib(&text, "VmRSS").with_context(|| format!("no VmRSS in {path}"))
    }

    /// The last lines of the server's output, for error messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        if tail.is_empty() {
            format!("it printed nothing (log {})", self.log.display())
        } else {
            format!("its last output ({}):\n{tail}", self.log.display())
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.alive() {
            return;
        }
        // Listed before the signal: an orphaned child is re-parented and
        // could no longer be found once the server is gone.
        let children: Vec<(u32, Option<u64>)> = descendants(self.pid())
            .into_iter()
            .map(|c| (c, start_time(c)))
            .collect();
        let pid = Pid::from_raw(self.pid() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && self.alive() {
            thread::sleep(Duration::from_millis(20));
        }
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Children the server did not take down with it, stopped by pid when
        // the pid still names the same process (same start time), not a reused one.
        for (child, started) in children {
            if started.is_some() && start_time(child) == started {
                let _ = kill(Pid::from_raw(child as i32), Signal::SIGKILL);
            }
        }
    }
}

impl Cgroup {
    /// Creates (or reuses) the `brisk_bench` cgroup with `quota_us` of CPU
    /// per 100 ms: cgroup v1 `cpu` controller first, then cgroup v2. The
    /// error says why neither works (the caller falls back to pinning only).
    pub(crate) fn setup(quota_us: u32) -> Result<Cgroup, String> {
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        if v1.join("cpu.cfs_quota_us").is_file() {
            let dir = v1.join(CGROUP_NAME);
            let made = fs::create_dir_all(&dir)
                .and_then(|()| fs::write(dir.join("cpu.cfs_period_us"), "100000"))
                .and_then(|()| fs::write(dir.join("cpu.cfs_quota_us"), quota_us.to_string()));
            return match made {
                Ok(()) => Ok(Cgroup::V1(dir)),
                Err(e) => Err(format!(
                    "cannot set up cgroup v1 {} ({e}; root needed)",
                    dir.display()
                )),
            };
        }
        let v2 = Path::new("/sys/fs/cgroup");
        let controllers = fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu") {
            let dir = v2.join(CGROUP_NAME);
            let made = fs::write(v2.join("cgroup.subtree_control"), "+cpu")
                .and_then(|()| fs::create_dir_all(&dir))
                .and_then(|()| fs::write(dir.join("cpu.max"), format!("{quota_us} 100000")));
            return match made {
                Ok(()) => Ok(Cgroup::V2(dir)),
                Err(e) => Err(format!(
                    "cannot set up cgroup v2 {} ({e}; root needed)",
                    dir.display()
                )),
            };
        }
        Err("no cgroup cpu controller (neither v1 /sys/fs/cgroup/cpu nor v2 with cpu)".to_owned())
    }

    fn add(&self, pid: u32) -> io::Result<()> {
        let (Cgroup::V1(dir) | Cgroup::V2(dir)) = self;
        fs::write(dir.join("cgroup.procs"), pid.to_string())
    }

    pub(crate) fn describe(&self, quota_us: u32) -> String {
        match self {
            Cgroup::V1(dir) => format!("cgroup v1 {} quota {quota_us}/100000 us", dir.display()),
            Cgroup::V2(dir) => format!("cgroup v2 {} cpu.max {quota_us} 100000", dir.display()),
        }
    }
}

/// Spawns `cmd` from a helper thread pinned to `cpu`, so the child inherits
/// the affinity from its first instruction (and all its threads with it).
fn spawn_pinned(cmd: &mut Command, cpu: Option<usize>) -> io::Result<Child> {
    let Some(cpu) = cpu else { return cmd.spawn() };
    thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut set = CpuSet::new();
                set.set(cpu).map_err(io::Error::from)?;
                sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)?;
                cmd.spawn()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the spawning thread panicked")))
    })
}

/// The descendants of `root`, from the parent pid (field 4) of every
/// `/proc/<pid>/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parent_pid(&s))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Field 22 (start time, in clock ticks after boot) of `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // `after` starts at field 3.
    after.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Field 4 (ppid) of a `/proc/<pid>/stat` line.
fn parent_pid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Raises this process's open-file limit (inherited by the servers it
/// starts) to at least `wanted` when it can: the soft limit up to the hard
/// one, and the hard one too when privileged. Returns the soft limit now in
/// force.
pub(crate) fn raise_nofile_limit(wanted: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft >= wanted {
        return soft;
    }
    if hard < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted).is_ok() {
        return wanted;
    }
    let target = wanted.min(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        target
    } else {
        soft
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// CPUs this process may run on.
pub(crate) fn cpu_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses: count fields
/// after its last `)`.
fn cpu_ticks(stat: &str) -> Result<u64> {
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("no `)` after the command name")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): field n is at index n - 3.
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("field {n} missing or not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// A `Name:   123 kB` value of `/proc/<pid>/status`.
pub(crate) fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn clock_ticks_per_sec() -> Result<u64> {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => Ok(t as u64),
        _ => bail!("sysconf(CLK_TCK) failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_command_name() {
        let stat =
            "1234 (my (odd) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_ticks(stat).unwrap(), 325);
        assert!(cpu_ticks("1234 (x) S 1").is_err());
        assert!(cpu_ticks("garbage").is_err());
    }

    #[test]
    fn parent_pid_field() {
        assert_eq!(parent_pid("1234 (a b) S 77 1234 0"), Some(77));
        assert_eq!(parent_pid("garbage"), None);
    }

    #[test]
    fn tree_includes_children() {
        let log = std::env::temp_dir().join(format!("xtask-procs-tree-{}.log", std::process::id()));
        let mut cmd = Command::new("sh");
        // The inner sleep is a child of sh (the trailing `wait` stops sh from exec'ing it).
        cmd.args(["-c", "sleep 30 & wait"]);
        let server = Server::start("tree", cmd, &log, None, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.tree().len() < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let tree = server.tree();
        assert!(tree.len() >= 2, "{tree:?}");
        assert!(server.tree_rss_kib().unwrap() > server.rss_kib().unwrap());
        assert!(server.cpu_time().is_ok());
        let child = tree[1];
        let started = start_time(child);
        assert!(started.is_some());
        drop(server);
        // sh got TERM; its orphaned sleep was stopped by pid.
        let deadline = Instant::now() + Duration::from_secs(5);
        // Gone, reused, or a zombie waiting for its new parent to reap it.
        let running = || {
            start_time(child) == started
                && fs::read_to_string(format!("/proc/{child}/stat"))
                    .is_ok_and(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
        };
        while running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_file(&log);
        assert!(!running(), "child {child} still runs");
    }

    #[test]
    fn nofile_limit_is_at_least_the_soft_one() {
        use nix::sys::resource::{Resource, getrlimit};
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(raise_nofile_limit(soft) >= soft);
    }

    #[test]
    fn status_values() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1536 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(1536));
        assert_eq!(status_kib(status, "VmHWM"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn own_process_numbers_are_readable() {
        let stat = fs::read_to_string("/proc/self/stat").unwrap();
        cpu_ticks(&stat).unwrap();
        let status = fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_kib(&status, "VmRSS").unwrap() > 0);
        assert!(clock_ticks_per_sec().unwrap() > 0);
    }

    #[test]
    fn server_is_pinned_and_stopped_on_drop() {
        let log = std::env::temp_dir().join(format!("xtask-procs-{}.log", std::process::id()));
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut server = Server::start("sleep", cmd, &log, Some(0), None).unwrap();
        let pid = server.pid();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let allowed = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        assert_eq!(allowed.split_whitespace().nth(1), Some("0"), "{allowed}");
        assert!(server.alive());
        assert!(server.cpu_time().is_ok());
        assert!(server.rss_kib().unwrap() > 0);
        drop(server);
        // Reaped by the drop: the pid no longer names our child.
        let gone = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| !s.contains("(sleep)"));
        let _ = fs::remove_file(&log);
        assert!(gone);
    }

    #[test]
    fn wait_ready_fails_fast_when_the_server_exits() {
        let log = std::env::temp_dir().join(format!("xtask-procs-exit-{}.log", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo cannot bind >&2; exit 3"]);
        let mut server = Server::start("failing", cmd, &log, None, None).unwrap();
        let port = free_port().unwrap();
        let err = server
            .wait_ready(port, Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        let _ = fs::remove_file(&log);
        assert!(err.contains("exited before listening"), "{err}");
        assert!(err.contains("cannot bind"), "{err}");
    }
}

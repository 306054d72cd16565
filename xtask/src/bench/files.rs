//! `cargo xtask bench files`: static files, brisk's `files` example
//! (`FileServer`, one loop, `sendfile`) against nginx (one worker,
//! `sendfile on`) serving the same files from the same temporary
//! directory. Keep-alive GETs of a 1 KiB and a 1 MiB file under
//! brisk-load; requests/s, server CPU per request, and the ratios to nginx
//! measured in the same round.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::load::parse_brisk_load;
use super::procs::{Server, cpu_count, free_port};
use crate::flags::ServerOptions;
use crate::{cargo, run_cmd, show, target_dir};

/// The files served: name and size.
const FILES: [(&str, usize); 2] = [("1k.bin", 1024), ("1m.bin", 1 << 20)];

/// One server's numbers for one file.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    rps: f64,
    /// Server CPU (user + system) per request, microseconds.
    cpu_us: f64,
    errors: u64,
}

pub(crate) fn run(opts: &ServerOptions) -> Result<()> {
    let target = target_dir()?;
    let load = super::build_bench_bin("brisk-load")?;
    run_cmd(cargo().args(["build", "--release", "-p", "brisk", "--example", "files"]))
        .context("building the files example")?;
    let brisk_bin = target.join("release/examples/files");

    let dir = TempDir::new()?;
    for (name, size) in FILES {
        let data: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
        fs::write(dir.0.join("www").join(name), data).with_context(|| format!("writing {name}"))?;
    }
    let (server_cpu, load_cpu) = if cpu_count() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let logs = target.join("xtask-bench");
    fs::create_dir_all(&logs)?;

    let mut servers: Vec<(String, Server, u16)> = Vec::new();
    let port = free_port()?;
    let mut cmd = Command::new(&brisk_bin);
    cmd.args(["--root"])
        .arg(dir.0.join("www"))
        .args(["--port", &port.to_string(), "--loops", "1"]);
    let mut brisk = Server::start(
        "brisk",
        cmd,
        &logs.join("files-brisk.log"),
        server_cpu,
        None,
    )?;
    brisk.wait_ready(port, Duration::from_secs(10))?;
    servers.push(("brisk".into(), brisk, port));
    match find_nginx() {
        Some(nginx) => {
            let port = free_port()?;
            let conf = write_nginx_conf(&dir.0, port)?;
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p")
                .arg(&dir.0)
                .arg("-e")
                .arg("stderr")
                .arg("-c")
                .arg(&conf);
            let mut n = Server::start(
                "nginx",
                cmd,
                &logs.join("files-nginx.log"),
                server_cpu,
                None,
            )?;
            n.wait_ready(port, Duration::from_secs(10))?;
            servers.push(("nginx".into(), n, port));
        }
        None => println!(
            "files: nginx is not installed (shared/peers/setup.sh installs it): brisk only, no ratios"
        ),
    }
    println!(
        "files: {} connections, keep-alive, {} s per run after {} s of warm-up, {} round(s); \
         servers on cpu {}, brisk-load on cpu {}",
        opts.connections,
        opts.duration,
        opts.warmup,
        opts.rounds,
        server_cpu.map_or("any".into(), |c| c.to_string()),
        load_cpu.map_or("any".into(), |c| c.to_string()),
    );

    // rounds × files × servers, each cell the median round.
    let mut cells = vec![vec![Vec::new(); servers.len()]; FILES.len()];
    for round in 0..opts.rounds.max(1) {
        for (fi, (name, _)) in FILES.iter().enumerate() {
            for (si, (sname, server, port)) in servers.iter_mut().enumerate() {
                let url = format!("http://127.0.0.1:{port}/{name}");
                if round == 0 && opts.warmup > 0.0 {
                    brisk_load(&load, &url, opts.connections, opts.warmup, load_cpu)?;
                }
                let cpu0 = server.cpu_time()?;
                let out = brisk_load(&load, &url, opts.connections, opts.duration, load_cpu)?;
                let cpu = server.cpu_time()?.saturating_sub(cpu0);
                if !server.alive() {
                    bail!("{sname} exited during the files bench");
                }
                let cell = Cell {
                    rps: out.rps,
                    cpu_us: cpu.as_secs_f64() * 1e6 / out.requests.max(1) as f64,
                    errors: out.errors,
                };
                println!(
                    "files: round {} {name} {sname}: {:.0} req/s, {:.2} us CPU/request, {} errors",
                    round + 1,
                    cell.rps,
                    cell.cpu_us,
                    cell.errors
                );
                cells[fi][si].push(cell);
            }
        }
    }
    // Dropping a Server stops it (TERM, then KILL).
    drop(servers);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| file | brisk req/s | nginx req/s | ratio | brisk CPU us/req | nginx CPU us/req | CPU ratio |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (fi, (name, _)) in FILES.iter().enumerate() {
        let b = median(&cells[fi][0]);
        let n = cells[fi].get(1).map(|c| median(c));
        let ratio = n.map(|n| b.rps / n.rps);
        let cpu_ratio = n.map(|n| b.cpu_us / n.cpu_us);
        let _ = writeln!(
            table,
            "| {name} | {:.0} | {} | {} | {:.2} | {} | {} |",
            b.rps,
            n.map_or("n/a".into(), |n| format!("{:.0}", n.rps)),
            super::fmt_ratio(ratio),
            b.cpu_us,
            n.map_or("n/a".into(), |n| format!("{:.2}", n.cpu_us)),
            super::fmt_ratio(cpu_ratio),
        );
        summary.push(format!("{name} {}", super::fmt_ratio(ratio)));
    }
    let md_dir = target.join("bench");
    fs::create_dir_all(&md_dir)?;
    let md = md_dir.join("files.md");
    fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    println!("files: wrote {}\n", md.display());
    print!("{table}");
    println!(
        "files: brisk/nginx req/s (higher is better): {}",
        summary.join(", ")
    );
    Ok(())
}

fn median(cells: &[Cell]) -> Cell {
    let mut v = cells.to_vec();
    v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn brisk_load(
    load: &Path,
    url: &str,
    connections: usize,
    secs: f64,
    cpu: Option<usize>,
) -> Result<super::load::Outcome> {
    let mut cmd = Command::new(load);
    cmd.args([
        "--json".to_owned(),
        "-c".to_owned(),
        connections.to_string(),
        "-d".to_owned(),
        format!("{secs}"),
        // A 1 MiB response per request.
        "--read-buffer".to_owned(),
        "262144".to_owned(),
        "--timeout".to_owned(),
        "10".to_owned(),
    ]);
    if let Some(cpu) = cpu {
        cmd.args(["--cpus", &cpu.to_string()]);
    }
    cmd.arg(url);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", show(&cmd)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}{}",
            show(&cmd),
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_brisk_load(&stdout).with_context(|| format!("reading the report of `{}`", show(&cmd)))
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            "/usr/sbin".into(),
            "/usr/local/sbin".into(),
            "/usr/local/nginx/sbin".into(),
        ])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// nginx with one worker, `sendfile on`, an open-file cache revalidated
/// every second (as brisk's `FileServer` reopens its paths), no logs, the temporary `www`
/// as its root, every temp path inside the directory (`-p` prefix).
fn write_nginx_conf(dir: &Path, port: u16) -> Result<PathBuf> {
    let www = dir.join("www");
    let conf = format!(
        "# written by cargo xtask bench files\n\
         worker_processes 1;\n\
         daemon off;\n\
         master_process off;\n\
         pid {pid};\n\
         error_log stderr warn;\n\
         events {{ worker_connections 4096; use epoll; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   server_tokens off;\n\
         \x20   sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   open_file_cache max=1024 inactive=60s;\n\
         \x20   open_file_cache_valid 1s;\n\
         \x20   keepalive_requests 10000000;\n\
         \x20   keepalive_timeout 65;\n\
         \x20   default_type application/octet-stream;\n\
         \x20   client_body_temp_path {tmp}/body;\n\
         \x20   proxy_temp_path {tmp}/proxy;\n\
         \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
         \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
         \x20   scgi_temp_path {tmp}/scgi;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       root {www};\n\
         \x20   }}\n\
         }}\n",
        pid = dir.join("nginx.pid").display(),
        tmp = dir.join("tmp").display(),
        www = www.display(),
    );
    fs::create_dir_all(dir.join("tmp"))?;
    let path = dir.join("nginx.conf");
    fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The bench's directory (`www/` served, nginx's config and temp files),
/// removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p =
            std::env::temp_dir().join(format!("brisk-bench-files-{}-{stamp}", std::process::id()));
        fs::create_dir_all(p.join("www")).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_conf_names_the_root_and_sendfile() {
        let dir = TempDir::new().unwrap();
        let p = write_nginx_conf(&dir.0, 8099).unwrap();
        let text = fs::read_to_string(p).unwrap();
        assert!(text.contains("sendfile on;"));
        assert!(text.contains("listen 127.0.0.1:8099"));
        assert!(text.contains(&format!("root {};", dir.0.join("www").display())));
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn median_is_the_middle_round() {
        let c = |rps| Cell {
            rps,
            cpu_us: rps,
            errors: 0,
        };
        assert_eq!(median(&[c(3.0), c(1.0), c(2.0)]).rps, 2.0);
        assert_eq!(median(&[]).rps, 0.0);
    }
}

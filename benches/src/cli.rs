//! Command-line parsing for `brisk-load` (kept in the library so it is tested).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::config::{LoadConfig, Stop};

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Print [`USAGE`] and exit successfully.
    Help,
    /// Run a load test.
    Run {
        /// The run.
        config: Box<LoadConfig>,
        /// Print the report as one JSON line instead of the human summary.
        json: bool,
    },
}

/// A command line that cannot be turned into a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CliError {
    /// An option that brisk-load does not know.
    UnknownOption(String),
    /// An option given without its value.
    MissingValue(&'static str),
    /// An option value that does not parse.
    BadValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// More than one URL.
    ExtraArgument(String),
    /// The URL is not `http://host[:port][/path]`.
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A host name that is not an IP address or `localhost`, without `--allow-remote`.
    NotLoopbackName(String),
    /// Resolving a host name failed (only with `--allow-remote`).
    Resolve(String),
    /// Both `--duration` and `--requests`.
    DurationAndCount,
}

/// Help text for `brisk-load --help`.
pub const USAGE: &str = "\
brisk-load: HTTP/1.1 load generator (epoll, keep-alive or connection per request, pipelining)

usage: brisk-load [OPTIONS] [URL]

  URL                     http://HOST[:PORT][/PATH]  (default http://127.0.0.1:8080/);
                          HOST is an IP address or localhost

options:
  -c, --connections N     connections kept open (default 100)
  -t, --threads N         event-loop threads, each owning connections/threads (default 1)
  -d, --duration SECS     measured run time, e.g. 5, 2.5, 500ms, 1m (default 5s)
  -n, --requests N        stop after N requests instead of after a duration
  -p, --pipeline D        requests written at once per connection (default 1)
  -w, --warmup SECS       load applied before measuring (duration runs; default 0)
      --close             one request per connection (Connection: close)
      --timeout SECS      fail a connect or request waiting longer (default 2s)
      --cpus LIST         pin threads to CPUs, e.g. 1 or 2,3 or 2-5 (thread i -> i-th CPU)
  -m, --method METHOD     request method (default GET)
  -H, --header 'N: V'     extra request header (repeatable)
      --host HOST         Host header value (default: the URL's host[:port])
      --body TEXT         request body (adds Content-Length)
      --read-buffer BYTES read buffer per connection (default 16384)
      --json              print the report as one JSON line
      --allow-remote      allow a non-loopback target (only hosts you may load)
  -h, --help              this text

Stops after the duration or the request count, whichever is given; the
summary gives requests/s, latency p50/p99/p99.9/max, responses by status
class and errors (non-2xx responses count as errors).
";

/// Parses `brisk-load`'s arguments (without the program name).
///
/// # Errors
///
/// A [`CliError`] saying which argument is wrong and what was expected.
pub fn parse_args<I>(args: I) -> Result<Invocation, CliError>
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter();
    let mut url: Option<String> = None;
    let mut connections = 100usize;
    let mut threads = 1usize;
    let mut duration: Option<Duration> = None;
    let mut requests: Option<u64> = None;
    let mut pipeline = 1usize;
    let mut warmup = Duration::ZERO;
    let mut close = false;
    let mut timeout = Duration::from_secs(2);
    let mut cpus = Vec::new();
    let mut method = "GET".to_owned();
    let mut headers = Vec::new();
    let mut host: Option<String> = None;
    let mut body = Vec::new();
    let mut read_buffer = 16 * 1024;
    let mut json = false;
    let mut allow_remote = false;

    while let Some(arg) = args.next() {
        // `--name=value`, `-cVALUE` and `--name value` forms.
        let (name, inline) = split_arg(&arg);
        let mut value = |option: &'static str| -> Result<String, CliError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args.next().ok_or(CliError::MissingValue(option)),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-c" | "--connections" => {
                connections = number(value("--connections")?, "--connections")?
            }
            "-t" | "--threads" => threads = number(value("--threads")?, "--threads")?,
            "-d" | "--duration" => duration = Some(seconds(value("--duration")?, "--duration")?),
            "-n" | "--requests" => requests = Some(number(value("--requests")?, "--requests")?),
            "-p" | "--pipeline" => pipeline = number(value("--pipeline")?, "--pipeline")?,
            "-w" | "--warmup" => warmup = seconds(value("--warmup")?, "--warmup")?,
            "--close" => close = true,
            "--timeout" => timeout = seconds(value("--timeout")?, "--timeout")?,
            "--cpus" => cpus = cpu_list(value("--cpus")?)?,
            "-m" | "--method" => method = value("--method")?,
            "-H" | "--header" => headers.push(header(value("--header")?)?),
            "--host" => host = Some(value("--host")?),
            "--body" => body = value("--body")?.into_bytes(),
            "--read-buffer" => read_buffer = number(value("--read-buffer")?, "--read-buffer")?,
            "--json" => json = true,
            "--allow-remote" => allow_remote = true,
            _ if name.starts_with('-') && name.len() > 1 => {
                return Err(CliError::UnknownOption(arg));
            }
            _ if url.is_some() => return Err(CliError::ExtraArgument(arg)),
            _ => url = Some(arg),
        }
    }

    let url = url.unwrap_or_else(|| "http://127.0.0.1:8080/".to_owned());
    let target = parse_url(&url, allow_remote)?;
    let stop = match (duration, requests) {
        (Some(_), Some(_)) => return Err(CliError::DurationAndCount),
        (_, Some(n)) => Stop::Requests(n),
        (Some(d), None) => Stop::After(d),
        (None, None) => Stop::After(Duration::from_secs(5)),
    };
    let mut config = LoadConfig::new(target.addr);
    config.request.method = method;
    config.request.path = target.path;
    config.request.host = host.unwrap_or(target.authority);
    config.request.headers = headers;
    config.request.body = body;
    config.connections = connections;
    config.threads = threads;
    config.keep_alive = !close;
    config.pipeline = pipeline;
    config.stop = stop;
    config.warmup = warmup;
    config.timeout = timeout;
    config.cpus = cpus;
    config.allow_remote = allow_remote;
    config.read_buffer = read_buffer;
    Ok(Invocation::Run {
        config: Box::new(config),
        json,
    })
}

/// A parsed `http://` URL.
struct Target {
    addr: SocketAddr,
    /// `host[:port]` as written, for the Host header.
    authority: String,
    path: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unknown option `{o}` (see --help)"),
            CliError::MissingValue(o) => write!(f, "option `{o}` needs a value"),
            CliError::BadValue {
                option,
                value,
                expected,
            } => {
                write!(f, "bad value `{value}` for `{option}`: expected {expected}")
            }
            CliError::ExtraArgument(a) => {
                write!(
                    f,
                    "unexpected argument `{a}`: give one URL (options start with `-`)"
                )
            }
            CliError::BadUrl { url, reason } => write!(f, "bad URL `{url}`: {reason}"),
            CliError::NotLoopbackName(h) => write!(
                f,
                "host `{h}` is not an IP address or localhost; load tests stay on this machine \
                 (use 127.0.0.1, or --allow-remote for a host you may load)"
            ),
            CliError::Resolve(h) => write!(f, "cannot resolve host `{h}`"),
            CliError::DurationAndCount => {
                f.write_str("give either --duration or --requests, not both")
            }
        }
    }
}

impl std::error::Error for CliError {}

fn split_arg(arg: &str) -> (String, Option<String>) {
    if let Some(long) = arg.strip_prefix("--") {
        match long.split_once('=') {
            Some((name, value)) => (format!("--{name}"), Some(value.to_owned())),
            None => (arg.to_owned(), None),
        }
    } else if arg.len() > 2 && arg.starts_with('-') && arg.is_char_boundary(2) {
        // `-c100`: a short option with its value attached.
        (arg[..2].to_owned(), Some(arg[2..].to_owned()))
    } else {
        (arg.to_owned(), None)
    }
}

fn number<T: std::str::FromStr>(value: String, option: &'static str) -> Result<T, CliError> {
    value.parse().map_err(|_| CliError::BadValue {
        option,
        value,
        expected: "a whole number",
    })
}

/// `5`, `2.5`, `5s`, `500ms`, `1m`.
fn seconds(value: String, option: &'static str) -> Result<Duration, CliError> {
    let bad = |value: String| CliError::BadValue {
        option,
        value,
        expected: "seconds such as 5, 2.5, 500ms or 1m",
    };
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60.0)
    } else {
        (value.as_str(), 1.0)
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * scale < 1e9 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(bad(value)),
    }
}

/// `1`, `0,2`, `2-5`, `0,4-5`.
fn cpu_list(value: String) -> Result<Vec<usize>, CliError> {
    let bad = |value: &str| CliError::BadValue {
        option: "--cpus",
        value: value.to_owned(),
        expected: "CPU numbers such as 1, 0,2 or 2-5",
    };
    let mut cpus = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.parse().map_err(|_| bad(&value))?;
                let b: usize = b.parse().map_err(|_| bad(&value))?;
                if a > b || b - a > 4096 {
                    return Err(bad(&value));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad(&value))?),
        }
    }
    Ok(cpus)
}

fn header(value: String) -> Result<(String, String), CliError> {
    match value.split_once(':') {
        Some((name, v)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), v.trim().to_owned()))
        }
        _ => Err(CliError::BadValue {
            option: "--header",
            value,
            expected: "`Name: value`",
        }),
    }
}

fn parse_url(url: &str, allow_remote: bool) -> Result<Target, CliError> {
    let bad = |reason| CliError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
            return Err(bad(
                "https is not supported (brisk-load speaks plain HTTP/1.1)",
            ));
        }
        Some(_) => return Err(bad("the scheme must be http://")),
        None => url,
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed `[` in the host"))?;
        match after {
            "" => (host, 80),
            _ => match after.strip_prefix(':').map(str::parse::<u16>) {
                Some(Ok(port)) => (host, port),
                _ => return Err(bad("the port must be a number from 0 to 65535")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| bad("the port must be a number from 0 to 65535"))?,
            ),
            None => (authority, 80),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    let ip = if let Ok(ip) = host.parse::<IpAddr>() {
        ip
    } else if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if allow_remote {
        (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(|a| a.ip())
            .ok_or_else(|| CliError::Resolve(host.to_owned()))?
    } else {
        return Err(CliError::NotLoopbackName(host.to_owned()));
    };
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        authority: authority.to_owned(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(LoadConfig, bool), CliError> {
        match parse_args(args.iter().map(|s| s.to_string()))? {
            Invocation::Run { config, json } => Ok((*config, json)),
            Invocation::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults() {
        let (c, json) = parse(&[]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.request.host, "127.0.0.1:8080");
        assert_eq!(c.request.path, "/");
        assert_eq!(c.connections, 100);
        assert_eq!(c.stop, Stop::After(Duration::from_secs(5)));
        assert!(c.keep_alive && !json);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn all_options() {
        let (c, json) = parse(&[
            "-c10",
            "--threads=2",
            "-d",
            "500ms",
            "-p",
            "16",
            "-w",
            "1",
            "--timeout",
            "3s",
            "--cpus",
            "1,3-4",
            "-m",
            "POST",
            "-H",
            "X-A: b",
            "--host",
            "example",
            "--body",
            "hi",
            "--read-buffer",
            "4096",
            "--json",
            "http://localhost:9000/p?q=1",
        ])
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!((c.connections, c.threads, c.pipeline), (10, 2, 16));
        assert_eq!(c.stop, Stop::After(Duration::from_millis(500)));
        assert_eq!(
            (c.warmup, c.timeout),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
        assert_eq!(c.cpus, vec![1, 3, 4]);
        assert_eq!(c.request.method, "POST");
        assert_eq!(c.request.path, "/p?q=1");
        assert_eq!(c.request.host, "example");
        assert_eq!(c.request.headers, vec![("X-A".to_owned(), "b".to_owned())]);
        assert_eq!(c.request.body, b"hi");
        assert_eq!(c.read_buffer, 4096);
        assert!(json);
    }

    #[test]
    fn urls() {
        let (c, _) = parse(&["[::1]:81"]).unwrap();
        assert_eq!(c.addr, "[::1]:81".parse().unwrap());
        assert_eq!(c.request.host, "[::1]:81");
        let (c, _) = parse(&["http://127.0.0.1?x"]).unwrap();
        assert_eq!((c.addr.port(), c.request.path.as_str()), (80, "/?x"));
        let (c, _) = parse(&["-n", "7", "--close", "127.0.0.2:1"]).unwrap();
        assert_eq!(c.stop, Stop::Requests(7));
        assert!(!c.keep_alive);
    }

    #[test]
    fn errors_name_the_argument() {
        let cases: &[(&[&str], CliError)] = &[
            (&["--nope"], CliError::UnknownOption("--nope".into())),
            (&["-c"], CliError::MissingValue("--connections")),
            (
                &["-c", "x"],
                CliError::BadValue {
                    option: "--connections",
                    value: "x".into(),
                    expected: "a whole number",
                },
            ),
            (&["a:1", "b:2"], CliError::ExtraArgument("b:2".into())),
            (&["-d", "1", "-n", "1"], CliError::DurationAndCount),
            (
                &["example.com:80"],
                CliError::NotLoopbackName("example.com".into()),
            ),
            (
                &["https://127.0.0.1/"],
                CliError::BadUrl {
                    url: "https://127.0.0.1/".into(),
                    reason: "https is not supported (brisk-load speaks plain HTTP/1.1)",
                },
            ),
            (
                &["127.0.0.1:99999"],
                CliError::BadUrl {
                    url: "127.0.0.1:99999".into(),
                    reason: "the port must be a number from 0 to 65535",
                },
            ),
        ];
        for (args, error) in cases {
            assert_eq!(parse(args).unwrap_err(), *error, "{args:?}");
            assert!(!error.to_string().is_empty());
        }
        assert!(matches!(
            parse(&["-d", "soon"]),
            Err(CliError::BadValue {
                option: "--duration",
                ..
            })
        ));
        assert!(matches!(
            parse(&["--cpus", "3-1"]),
            Err(CliError::BadValue {
                option: "--cpus",
                ..
            })
        ));
        assert!(matches!(
            parse(&["-H", "novalue"]),
            Err(CliError::BadValue {
                option: "--header",
                ..
            })
        ));
    }

    #[test]
    fn help() {
        assert!(matches!(
            parse_args(["--help".to_string()]),
            Ok(Invocation::Help)
        ));
        assert!(USAGE.contains("--pipeline"));
    }

    #[test]
    fn durations() {
        assert_eq!(seconds("2.5".into(), "-d"), Ok(Duration::from_millis(2500)));
        assert_eq!(seconds("1m".into(), "-d"), Ok(Duration::from_secs(60)));
        assert!(seconds("-1".into(), "-d").is_err());
        assert!(seconds("inf".into(), "-d").is_err());
    }
}

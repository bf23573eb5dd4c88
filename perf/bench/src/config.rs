//! Command-line flags (raw, as clap sees them) and the validated [`Config`] the run uses.
//! Every limit a user can set is checked here, so the rest of the program can trust it.

use crate::phase::{Phase, SizeClass};
use crate::sigv4::Credentials;
use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// More connections than this is a typo, not a benchmark (each one is an OS thread).
pub const CONNECTIONS_MAX: usize = 1024;
/// Upper bound on `--duration` and `--warmup`: runs stay bounded.
pub const DURATION_MAX: Duration = Duration::from_secs(3600);
/// Time limit of a phase bounded by `--requests` when `--duration` is not given.
pub const COUNT_MODE_DURATION_DEFAULT: Duration = Duration::from_secs(600);
pub const DURATION_DEFAULT: Duration = Duration::from_secs(10);
/// Preloaded objects per size class.
pub const OBJECTS_MAX: u64 = 1_000_000;
pub const LIST_KEYS_MAX: u64 = 10_000_000;

#[derive(Parser, Debug)]
#[command(
    name = "s3core-bench",
    version,
    about = "Closed-loop load generator for S3-compatible endpoints (one thread per keep-alive connection)",
    after_help = "Phases: put-4k put-64k put-1m put-64m get-4k get-64k get-1m get-64m scan-4k scan-64k scan-1m \
                  scan-64m range-8m range-8m-1g head list mix.\n\
                  Example: s3core-bench --endpoint http://127.0.0.1:39999 --bucket bench \
                  --phase put-4k,get-4k --connections 16 --duration 10s --csv runs.csv --label s3core"
)]
pub struct Args {
    /// Base URL: http://HOST[:PORT][/PATH-PREFIX]; requests go to PREFIX/BUCKET/KEY (path style).
    #[arg(long, default_value = "http://127.0.0.1:39999")]
    pub endpoint: String,
    #[arg(long, default_value = "s3core-bench")]
    pub bucket: String,
    /// Phases to run in order; repeat the flag or separate with commas.
    #[arg(long = "phase", value_delimiter = ',', default_value = "put-4k,get-4k")]
    pub phases: Vec<String>,
    /// Concurrent keep-alive connections, one OS thread each.
    #[arg(long, short = 'c', default_value_t = 16)]
    pub connections: usize,
    /// Measured time per phase (e.g. 10s, 500ms, 2m). With --requests: the phase's time limit.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// End each phase after this many measured requests (all connections together).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Unmeasured time before each phase's measurement starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Socket connect/read/write timeout; a request that exceeds it is an error.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub io_timeout: Duration,
    /// Append one row per phase to this CSV file (header written when the file is new).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Name of the system under test, written to the CSV (e.g. s3core, s3s-fs, nginx).
    #[arg(long, default_value = "s3core")]
    pub label: String,
    /// Sign requests with AWS SigV4 (UNSIGNED-PAYLOAD) using this access key.
    #[arg(long, requires = "secret_key")]
    pub access_key: Option<String>,
    #[arg(long, requires = "access_key")]
    pub secret_key: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// GET/HEAD static files /BUCKET/obj-4k-<i> ... only: no bucket creation, no preload
    /// (for nginx serving a directory made with --prepare-dir).
    #[arg(long, alias = "plain")]
    pub nginx_mode: bool,
    /// Objects of 4 KiB preloaded for get-4k, head and mix.
    #[arg(long, default_value_t = 64)]
    pub objects_4k: u64,
    /// Objects of 64 KiB preloaded for get-64k.
    #[arg(long, default_value_t = 64)]
    pub objects_64k: u64,
    /// Objects of 1 MiB preloaded for get-1m.
    #[arg(long, default_value_t = 16)]
    pub objects_1m: u64,
    /// Objects of 64 MiB preloaded for get-64m and range-8m.
    #[arg(long, default_value_t = 2)]
    pub objects_64m: u64,
    /// Objects of 1 GiB preloaded for range-8m-1g (streamed from a 64 MiB pattern, not held in
    /// memory).
    #[arg(long, default_value_t = 1)]
    pub objects_1g: u64,
    /// Create the bucket and preload the objects through this S3 endpoint instead of
    /// --endpoint (same credentials), then read them through --endpoint: objects written to an
    /// upstream store directly and read cold through a cache in front of it. Works with
    /// --nginx-mode (plain GETs of /BUCKET/KEY to a proxy).
    #[arg(long, value_name = "URL")]
    pub preload_endpoint: Option<String>,
    /// Skip preloading (the objects already exist from an earlier run).
    #[arg(long)]
    pub no_preload: bool,
    /// Before the phases, PUT this many 16-byte keys under list/ (for the list phase).
    #[arg(long, default_value_t = 0)]
    pub preload_list_keys: u64,
    /// Distinct keys a put-* phase cycles through = max(connections, this / object size):
    /// bounds the disk space a run can fill.
    #[arg(long, default_value_t = 1024)]
    pub put_space_mib: u64,
    /// Seed of the per-connection random generators (key choice, range offsets, mix).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the preload objects as files DIR/BUCKET/obj-<size>-<i> for the given phases and exit.
    #[arg(long, value_name = "DIR")]
    pub prepare_dir: Option<PathBuf>,
}

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The URL's authority as written, sent as `Host` (and signed).
    pub host: String,
    /// Path prefix without a trailing slash ("" or "/api/v1/s3").
    pub path_prefix: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Measure for this long.
    Time(Duration),
    /// Measure this many requests, giving up after the duration.
    Count(u64, Duration),
}

impl Bound {
    pub fn time_limit(self) -> Duration {
        match self {
            Bound::Time(d) | Bound::Count(_, d) => d,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub endpoint: Endpoint,
    /// The endpoint as given, for reports.
    pub endpoint_url: String,
    pub bucket: String,
    pub phases: Vec<Phase>,
    pub connections: usize,
    pub bound: Bound,
    pub warmup: Duration,
    pub io_timeout: Duration,
    pub csv: Option<PathBuf>,
    pub label: String,
    pub credentials: Option<Credentials>,
    pub objects: [u64; SizeClass::ALL.len()],
    /// Where the bucket is created and objects are preloaded, when not `endpoint`.
    pub preload_endpoint: Option<Endpoint>,
    /// Create the bucket (and the list keys) before the phases: not against a static server
    /// unless the preload goes elsewhere.
    pub setup: bool,
    pub preload: bool,
    pub preload_list_keys: u64,
    pub put_space_bytes: u64,
    pub seed: u64,
    pub prepare_dir: Option<PathBuf>,
}

impl Config {
    pub fn objects(&self, class: SizeClass) -> u64 {
        self.objects[class as usize]
    }

    /// The endpoint that creates the bucket and receives the preload.
    pub fn setup_endpoint(&self) -> &Endpoint {
        self.preload_endpoint.as_ref().unwrap_or(&self.endpoint)
    }

    /// Distinct keys a `put-<class>` (or the PUT share of `mix`) cycles through.
    pub fn put_keys(&self, class: SizeClass) -> u64 {
        (self.put_space_bytes / class.bytes()).max(self.connections as u64)
    }

    pub fn from_args(args: Args) -> Result<Config, String> {
        let mut phases = Vec::new();
        for name in &args.phases {
            if !name.trim().is_empty() {
                phases.push(Phase::parse(name)?);
            }
        }
        if phases.is_empty() && args.preload_list_keys == 0 && args.prepare_dir.is_none() {
            return Err("no phase given".into());
        }
        if args.connections == 0 || args.connections > CONNECTIONS_MAX {
            return Err(format!("--connections must be 1..={CONNECTIONS_MAX}"));
        }
        let duration = args.duration.map(check_duration).transpose()?;
        let bound = match args.requests {
            Some(0) => return Err("--requests must be at least 1".into()),
            Some(n) => Bound::Count(n, duration.unwrap_or(COUNT_MODE_DURATION_DEFAULT)),
            None => Bound::Time(duration.unwrap_or(DURATION_DEFAULT)),
        };
        if bound.time_limit().is_zero() {
            return Err("--duration must be positive".into());
        }
        let warmup = check_duration(args.warmup)?;
        let io_timeout = check_duration(args.io_timeout)?;
        if io_timeout.is_zero() {
            return Err("--io-timeout must be positive".into());
        }
        if args.nginx_mode {
            if let Some(p) = phases.iter().find(|p| !p.is_read_only()) {
                return Err(format!("--nginx-mode runs GET/HEAD phases only, not {p}"));
            }
            if args.preload_list_keys > 0 {
                return Err("--nginx-mode cannot --preload-list-keys".into());
            }
        }
        if !valid_bucket(&args.bucket) {
            return Err(format!("bad bucket name {:?}: use 3-63 of a-z 0-9 . -", args.bucket));
        }
        if args.label.is_empty() || args.label.contains([',', '"', '\n', '\r']) {
            return Err("--label must be non-empty, without commas, quotes or newlines".into());
        }
        let objects = [args.objects_4k, args.objects_64k, args.objects_1m, args.objects_64m, args.objects_1g];
        for class in SizeClass::ALL {
            let n = objects[class as usize];
            let needed = phases.iter().any(|p| p.reads() == Some(class));
            if n > OBJECTS_MAX || (needed && n == 0) {
                return Err(format!("--objects-{} must be 1..={OBJECTS_MAX}", class.name()));
            }
        }
        if args.preload_list_keys > LIST_KEYS_MAX {
            return Err(format!("--preload-list-keys must be at most {LIST_KEYS_MAX}"));
        }
        if args.put_space_mib == 0 || args.put_space_mib > 1024 * 1024 {
            return Err("--put-space-mib must be 1..=1048576".into());
        }
        let credentials = match (args.access_key, args.secret_key) {
            (Some(access_key), Some(secret_key)) => Some(Credentials { access_key, secret_key, region: args.region }),
            _ => None,
        };
        let endpoint = parse_endpoint(&args.endpoint)?;
        let preload_endpoint = args.preload_endpoint.as_deref().map(parse_endpoint).transpose()?;
        // A static server cannot take PUTs: there, only a separate preload endpoint can.
        let preload = !args.no_preload && (!args.nginx_mode || preload_endpoint.is_some());
        let setup = !args.nginx_mode || preload;
        Ok(Config {
            endpoint,
            endpoint_url: args.endpoint,
            bucket: args.bucket,
            phases,
            connections: args.connections,
            bound,
            warmup,
            io_timeout,
            csv: args.csv,
            label: args.label,
            credentials,
            objects,
            preload_endpoint,
            setup,
            preload,
            preload_list_keys: args.preload_list_keys,
            put_space_bytes: args.put_space_mib * 1024 * 1024,
            seed: args.seed,
            prepare_dir: args.prepare_dir,
        })
    }
}

fn check_duration(d: Duration) -> Result<Duration, String> {
    if d > DURATION_MAX {
        return Err(format!("durations are limited to {}s", DURATION_MAX.as_secs()));
    }
    Ok(d)
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}: use ms, s, m or h")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 || secs > DURATION_MAX.as_secs_f64() {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `http://host[:port][/prefix]` and resolves the host.
pub fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("endpoint {url:?} must start with http:// (TLS is not supported)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("endpoint {url:?} has no usable host"));
    }
    if path.contains(['?', '#']) {
        return Err(format!("endpoint {url:?} must not have a query or fragment"));
    }
    let has_port = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].contains(':'),
        None => authority.contains(':'),
    };
    let with_port = if has_port { authority.to_string() } else { format!("{authority}:80") };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} resolves to no address"))?;
    Ok(Endpoint { addr, host: authority.to_string(), path_prefix: path.trim_end_matches('/').to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("2h").is_err());
    }

    #[test]
    fn endpoints() {
        let e = parse_endpoint("http://127.0.0.1:39999").unwrap();
        assert_eq!((e.addr.port(), e.host.as_str(), e.path_prefix.as_str()), (39999, "127.0.0.1:39999", ""));
        let e = parse_endpoint("http://127.0.0.1:8080/api/v1/s3/").unwrap();
        assert_eq!(e.path_prefix, "/api/v1/s3");
        let e = parse_endpoint("http://[::1]:9000").unwrap();
        assert!(e.addr.is_ipv6());
        assert_eq!(parse_endpoint("http://127.0.0.1").unwrap().addr.port(), 80);
        assert!(parse_endpoint("https://127.0.0.1").is_err());
        assert!(parse_endpoint("http:///x").is_err());
    }

    #[test]
    fn validation() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["s3core-bench"];
            argv.extend_from_slice(extra);
            Config::from_args(Args::try_parse_from(argv).unwrap())
        };
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--nginx-mode", "--phase", "put-4k"]).is_err());
        assert!(parse(&["--plain", "--phase", "get-4k,range-8m", "--phase", "head"]).is_ok());
        assert!(parse(&["--connections", "0"]).is_err());
        assert!(parse(&["--bucket", "Bad_Bucket"]).is_err());
        assert!(parse(&["--phase", "get-4k", "--objects-4k", "0"]).is_err());
        let c = parse(&["--requests", "100"]).unwrap();
        assert_eq!(c.bound, Bound::Count(100, COUNT_MODE_DURATION_DEFAULT));
        let c = parse(&["--phase", "put-64m", "-c", "4"]).unwrap();
        assert_eq!(c.put_keys(SizeClass::M64), 16);
        assert_eq!(c.put_keys(SizeClass::K4), 262_144);
        let c = parse(&["--plain", "--phase", "scan-1m", "--preload-endpoint", "http://127.0.0.1:8333"]).unwrap();
        assert!(c.preload && c.setup);
        assert_eq!(c.setup_endpoint().addr.port(), 8333);
        let c = parse(&["--plain", "--phase", "scan-1m"]).unwrap();
        assert!(!c.preload && !c.setup);
        let c = parse(&["--phase", "get-1m", "--no-preload"]).unwrap();
        assert!(!c.preload && c.setup);
        assert!(parse(&["--phase", "range-8m-1g", "--objects-1g", "0"]).is_err());
    }
}

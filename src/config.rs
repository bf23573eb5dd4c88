//! Command-line flags (raw, as clap parses them) and the validated `Config` the server runs on.
//! Every flag can also be set by an environment variable (`S3CORE_*`) and in the TOML file
//! named by `--config` (`layers`): flag > environment > file > default. `--print-config`
//! shows the result (`print`).

mod layers;
mod print;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::hash::md5_kernel::{self, Md5Kernel};

/// s3core: a thread-per-core, io_uring S3-compatible object server.
///
/// Serves the S3 REST API (path-style) at the root and under a path prefix, from block files
/// and metadata journals in one local data directory.
///
/// A flag given twice takes its last value (scripts and the test harness append overrides).
#[derive(Debug, Parser)]
#[command(name = "s3core", version, about, long_about = None, args_override_self = true)]
pub struct Args {
    /// TOML file of settings: each key is a flag's name with `_` for `-` (e.g.
    /// `data_dir = "/var/lib/s3core"`). Flags and environment variables override it.
    #[arg(long, env = "S3CORE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print the effective configuration (each setting with its source, secrets redacted)
    /// and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Address to listen on. The default serves only this machine; use 0.0.0.0:39999 to
    /// accept connections from other hosts (an explicit choice: there is no authentication).
    /// Port 0 picks a free port, printed at start.
    #[arg(long, default_value = "127.0.0.1:39999", env = "S3CORE_LISTEN")]
    pub listen: SocketAddr,

    /// Directory holding all data and metadata. Created if missing; an existing non-empty
    /// directory must be an s3core data directory.
    #[arg(long, default_value = "./data", env = "S3CORE_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Number of cores (threads), each with its own runtime and listener, pinned to one CPU.
    /// Default: all CPUs this process may use.
    #[arg(long, env = "S3CORE_CORES")]
    pub cores: Option<usize>,

    /// Path prefix under which the API is also served (Alluxio's proxy uses /api/v1/s3).
    /// The API is always served at the root too. An empty value serves only the root.
    #[arg(long, default_value = "/api/v1/s3", env = "S3CORE_PATH_PREFIX")]
    pub path_prefix: String,

    /// Smallest size of a multipart part other than the last (CompleteMultipartUpload answers
    /// EntityTooSmall below it). Amazon S3 uses 5242880 (5 MiB); the default 1 MiB lets the
    /// Python example of Alluxio's S3 documentation, which uploads 1 MiB parts, work unchanged.
    #[arg(long, default_value_t = 1024 * 1024, env = "S3CORE_MULTIPART_MIN_PART_BYTES")]
    pub multipart_min_part_bytes: u64,

    /// Domain under which buckets are also addressed virtual-hosted style
    /// (`bucket.DOMAIN/key`); repeat for several. Path-style always works.
    #[arg(long = "virtual-host-domain", env = "S3CORE_VIRTUAL_HOST_DOMAINS", value_delimiter = ',')]
    pub virtual_host_domains: Vec<String>,

    /// Do not verify `x-amz-checksum-*` values clients send (some SDK versions send wrong
    /// ones). Content-MD5 and signed payload hashes are still verified. Default: verify.
    #[arg(long, env = "S3CORE_SKIP_CHECKSUM_VERIFICATION")]
    pub skip_checksum_verification: bool,

    /// Access key clients must sign with. With no credentials at all, every request is
    /// accepted whatever its signature (trusted-node mode).
    #[arg(long, env = "S3CORE_ACCESS_KEY", requires = "secret_key")]
    pub access_key: Option<String>,

    /// Secret key of --access-key (prefer the environment variable: flags show in `ps`).
    #[arg(long, env = "S3CORE_SECRET_KEY", requires = "access_key", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// File of further credentials: one `ACCESS_KEY SECRET_KEY` pair per line, `#` comments.
    #[arg(long, env = "S3CORE_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,

    /// Object bodies (or ranges) of at least this many bytes are sent with sendfile(2), with
    /// no copy through user space, where the page cache holds them. 0 (the default): bodies
    /// are read through io_uring into pooled buffers and written to the socket, which
    /// measured faster for every size on loopback (perf/send_path_ab.sh); sendfile then
    /// serves only cached data beyond the per-core copying budget. Try a threshold such as
    /// 65536 for clients across a network card.
    #[arg(long, default_value_t = 0, env = "S3CORE_SENDFILE_MIN_BYTES")]
    pub sendfile_min_bytes: u64,

    /// Memory that bodies of small objects (4 KiB or less) may hold in the process: they are
    /// kept in their metadata record (one fsync per PUT, no disk read per GET) until this
    /// much is held; further small objects go to block files, served from the page cache.
    #[arg(long, default_value_t = crate::limits::INLINE_OBJECTS_BYTES_BUDGET, env = "S3CORE_INLINE_BUDGET_BYTES")]
    pub inline_budget_bytes: usize,

    /// Test only: journal length that triggers a checkpoint (online and at start). Small
    /// values make journals rotate many times a second, for the crash tests.
    #[arg(long, hide = true, default_value_t = crate::limits::JOURNAL_COMPACT_BYTES, env = "S3CORE_JOURNAL_CHECKPOINT_BYTES")]
    pub journal_checkpoint_bytes: u64,

    /// Test only: journal I/O failures to inject, e.g. `journal-fsync:after=3,count=1,errno=EIO`
    /// (grammar in `store::faults` and docs/CRASH-TESTING.md). Never on data you care about.
    #[arg(long, hide = true, env = "S3CORE_FAULT_INJECTION")]
    pub fault_injection: Option<String>,

    /// Test only: the MD5 kernel of uploads: `auto` (16 AVX-512 lanes where the CPU has
    /// AVX-512F, else scalar), `lanes` (refused without AVX-512F) or `scalar` (never the
    /// lanes), so both paths can be tested on one machine.
    #[arg(long, hide = true, value_enum, default_value_t = Md5KernelChoice::Auto, env = "S3CORE_MD5_KERNEL")]
    pub md5_kernel: Md5KernelChoice,

    /// Test only: monoio's I/O driver: `auto` (io_uring where the kernel has what s3core uses,
    /// else the legacy epoll driver), `uring` (refused to start without it) or `legacy`, so
    /// the fallback can be tested on a machine with io_uring.
    #[arg(long, hide = true, value_enum, default_value_t = IoDriver::Auto, env = "S3CORE_IO_DRIVER")]
    pub io_driver: IoDriver,

    /// Upstream object store to front, as http[s]://HOST[:PORT][/PREFIX] (Ceph RGW, MinIO,
    /// Garage, SeaweedFS, Amazon S3). s3core keeps one keep-alive connection pool to it per core
    /// and signs every request with the --upstream-* credentials. Without it nothing talks to
    /// an upstream.
    #[arg(long, env = "S3CORE_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,

    /// Access key s3core signs upstream requests with (prefer the environment variable or
    /// --upstream-credentials-file: flags show in `ps`). Never logged.
    #[arg(long, env = "S3CORE_UPSTREAM_ACCESS_KEY", requires = "upstream_secret_key", hide_env_values = true)]
    pub upstream_access_key: Option<Secret>,

    /// Secret key of --upstream-access-key. Never logged.
    #[arg(long, env = "S3CORE_UPSTREAM_SECRET_KEY", requires = "upstream_access_key", hide_env_values = true)]
    pub upstream_secret_key: Option<Secret>,

    /// File holding the upstream key pair: one `ACCESS_KEY SECRET_KEY` (or `ACCESS_KEY:SECRET_KEY`)
    /// line, `#` comments. Instead of --upstream-access-key/--upstream-secret-key. Without any
    /// upstream credentials requests go unsigned (public buckets only).
    #[arg(long, env = "S3CORE_UPSTREAM_CREDENTIALS_FILE", conflicts_with = "upstream_access_key")]
    pub upstream_credentials_file: Option<PathBuf>,

    /// Region upstream requests are signed for (SigV4's scope; most non-AWS stores accept any).
    #[arg(long, default_value = "us-east-1", env = "S3CORE_UPSTREAM_REGION")]
    pub upstream_region: String,

    /// PEM file of CA certificates trusted for an https upstream, besides the system's trust
    /// store (for a private CA or a self-signed certificate). Certificates are always verified.
    #[arg(long, env = "S3CORE_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,

    /// How long a cached object's version is trusted before a read checks it with the upstream
    /// (a conditional HEAD, answered 304 cheaply when unchanged): `0` (every read checks:
    /// nothing is ever served stale; the default), a duration such as `500ms`, `60s`, `5m`, or
    /// `never` (for immutable table formats: Iceberg, Delta, Hudi data files).
    #[arg(long, default_value = "0", env = "S3CORE_UPSTREAM_REVALIDATE")]
    pub upstream_revalidate: String,

    /// Disk the cache of upstream object data may use, in bytes (pages of 1 MiB in
    /// DATA_DIR/cache, shared evenly by the cores; the least recently used pages make room).
    #[arg(long, default_value_t = 8 * 1024 * 1024 * 1024, env = "S3CORE_CACHE_CAPACITY")]
    pub cache_capacity: u64,

    /// Upstream: how long opening a connection (TCP and TLS) may take, in milliseconds.
    #[arg(long, default_value_t = crate::limits::UPSTREAM_CONNECT_TIMEOUT_MS, env = "S3CORE_UPSTREAM_CONNECT_TIMEOUT_MS")]
    pub upstream_connect_timeout_ms: u64,

    /// Upstream: how long from the end of a request to its complete response head, in
    /// milliseconds (a slow upstream's time to first byte).
    #[arg(long, default_value_t = crate::limits::UPSTREAM_HEAD_TIMEOUT_MS, env = "S3CORE_UPSTREAM_RESPONSE_TIMEOUT_MS")]
    pub upstream_response_timeout_ms: u64,

    /// Upstream: how long a body read or write may make no progress, in milliseconds.
    #[arg(long, default_value_t = crate::limits::UPSTREAM_STALL_TIMEOUT_MS, env = "S3CORE_UPSTREAM_STALL_TIMEOUT_MS")]
    pub upstream_stall_timeout_ms: u64,

    /// Upstream: no retry of a request starts later than this after its first attempt, in
    /// milliseconds (with the timeouts above, what bounds a client's wait for a 503).
    #[arg(long, default_value_t = crate::limits::UPSTREAM_RETRY_WINDOW_MS, env = "S3CORE_UPSTREAM_RETRY_WINDOW_MS")]
    pub upstream_retry_window_ms: u64,

    /// Bucket addressing towards the upstream: `path` (HOST/bucket/key, what most stores
    /// serve) or `virtual` (bucket.HOST/key, which Amazon S3 prefers).
    #[arg(long, value_enum, default_value = "path", env = "S3CORE_UPSTREAM_ADDRESSING")]
    pub upstream_addressing: UpstreamAddressing,

    /// Log level: error, warn, info, debug or trace. Logs go to standard error.
    #[arg(long, default_value = "info", env = "S3CORE_LOG_LEVEL")]
    pub log_level: log::LevelFilter,

    /// Log line format: `text` (`[time LEVEL target] message`) or `json` (one object per
    /// line: time, level, target, message).
    #[arg(long, default_value = "text", env = "S3CORE_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Address of the admin listener: Prometheus metrics at /metrics, probes at /health/live
    /// and /health/ready, a status page at /. Separate from the S3 listener, so no path there
    /// can collide with a bucket name. Empty: no admin listener (and no metrics recorded).
    /// Default: 127.0.0.1:39998, or an ephemeral port when --listen has port 0.
    #[arg(long, env = "S3CORE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,

    /// Bearer token /metrics and /status.json require (`Authorization: Bearer TOKEN`); the
    /// probes never need one. Default: none.
    #[arg(long, env = "S3CORE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// JSON access log, one line per request: `off`, `stdout`, `stderr` or a file path
    /// (appended to). Written by a thread of its own; lines it cannot keep up with are
    /// dropped and counted, never waited for.
    #[arg(long, default_value = "off", env = "S3CORE_ACCESS_LOG")]
    pub access_log: String,

    /// On SIGTERM or SIGINT, how long in-flight requests get to finish before the process
    /// exits anyway (journals are flushed either way). A second signal exits at once.
    #[arg(long, default_value_t = crate::limits::SHUTDOWN_GRACE_MS_DEFAULT, env = "S3CORE_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: u64,

    /// Test only: wait this long before recovering the data directory, so that tests can
    /// watch the readiness probe during a start.
    #[arg(long, hide = true, default_value_t = 0, env = "S3CORE_START_DELAY_MS")]
    pub start_delay_ms: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogDestination {
    Stdout,
    Stderr,
    /// Appended to (created if missing).
    File(PathBuf),
}

impl AccessLogDestination {
    /// `off` (or empty): no access log; `stdout` (or `-`), `stderr`, or a file path.
    pub fn parse(text: &str) -> Option<AccessLogDestination> {
        match text.trim() {
            "" | "off" => None,
            "stdout" | "-" => Some(AccessLogDestination::Stdout),
            "stderr" => Some(AccessLogDestination::Stderr),
            path => Some(AccessLogDestination::File(PathBuf::from(path))),
        }
    }
}

/// The admin listener's default port (the S3 port minus one, as Alluxio's is 39999).
pub const ADMIN_PORT_DEFAULT: u16 = 39998;

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Flags or variables clap refused (or `--help`, `--version`): `exit()` prints and exits.
    Clap(clap::Error),
    /// A value that parses but is not valid, or a bad configuration file.
    Invalid(String),
}

/// A loaded configuration.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// `Some` when `--print-config` asked for the effective configuration.
    pub printed: Option<String>,
}

/// Reads flags (`argv`, program name first), environment variables and the configuration
/// file, and validates the result.
pub fn load<I: IntoIterator<Item = OsString>>(argv: I) -> Result<Loaded, LoadError> {
    let mut argv: Vec<OsString> = argv.into_iter().collect();
    let command = Args::command();
    let matches = command.clone().try_get_matches_from(&argv).map_err(LoadError::Clap)?;
    let file = matches.get_one::<PathBuf>("config").cloned();
    let mut from_file = BTreeSet::new();
    if let Some(path) = &file {
        argv.extend(layers::file_arguments(&command, &matches, path, &mut from_file).map_err(LoadError::Invalid)?);
    }
    let explain = |message: &str, matches: &clap::ArgMatches| {
        LoadError::Invalid(layers::explain(message, &command, matches, &from_file, file.as_deref()))
    };
    let matches = match command.clone().try_get_matches_from(&argv) {
        Ok(matches) => matches,
        // The flags and variables parsed alone: the file's values are the cause.
        Err(error) => {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
            return Err(explain(first, &matches));
        }
    };
    let args = Args::from_arg_matches(&matches).map_err(LoadError::Clap)?;
    let print_config = args.print_config;
    let config = Config::from_args(args).map_err(|message| explain(&message, &matches))?;
    let printed = print_config.then(|| print::effective(&command, &matches, &from_file, file.as_deref(), &config));
    Ok(Loaded { config, printed })
}

/// `--md5-kernel`, as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Md5KernelChoice {
    Auto,
    Lanes,
    Scalar,
}

/// `--io-driver`: monoio's driver for every core's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoDriver {
    /// io_uring where available (monoio's probe of the operations it uses), else legacy.
    Auto,
    /// io_uring; the start fails where it is unavailable.
    Uring,
    /// epoll readiness, file I/O done inline by the runtime thread.
    Legacy,
}

/// A secret given on the command line or in the environment: `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_string()))
    }
}

/// `--upstream-addressing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpstreamAddressing {
    Path,
    Virtual,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub cores: usize,
    /// Normalised: empty, or `/segment...` without a trailing slash.
    pub path_prefix: String,
    /// Smallest body sent with sendfile; 0: never.
    pub sendfile_min_bytes: u64,
    /// Memory inline object bodies may hold.
    pub inline_budget_bytes: usize,
    /// What the S3 layer takes (credentials, checksums, part sizes, virtual hosts).
    pub s3: std::sync::Arc<crate::s3::Settings>,
    pub log_level: log::LevelFilter,
    /// Journal length that triggers a checkpoint (`JOURNAL_COMPACT_BYTES` unless testing).
    pub journal_checkpoint_bytes: u64,
    /// Test only: journal I/O failures to inject (`None`: off).
    pub fault_injection: Option<Vec<crate::store::faults::FaultRule>>,
    /// The MD5 kernel of every core (the best available unless a test forces one).
    pub md5_kernel: Md5Kernel,
    /// Whether `md5_kernel` was forced by `--md5-kernel` rather than chosen for this CPU.
    pub md5_kernel_forced: bool,
    /// monoio's driver (`Auto` unless a test forces one).
    pub io_driver: IoDriver,
    /// The upstream store and how to reach it (`None`: no upstream; nothing of the client
    /// runs).
    pub upstream: Option<std::sync::Arc<crate::upstream::UpstreamSettings>>,
    /// How long a known upstream version is served without asking (`--upstream-revalidate`).
    pub(crate) upstream_revalidate: crate::s3::lake::objects::Revalidate,
    /// Disk the page cache may use, all cores together (`--cache-capacity`).
    pub cache_capacity_bytes: u64,
    pub log_format: LogFormat,
    /// `None`: no admin listener, and no metrics are recorded.
    pub admin_listen: Option<SocketAddr>,
    pub metrics_token: Option<String>,
    /// `None`: no access log.
    pub access_log: Option<AccessLogDestination>,
    pub shutdown_grace_ms: u64,
    /// Test only: a pause before recovery.
    pub start_delay_ms: u64,
}

/// Most cores one process runs (one runtime, listener and shard set each).
pub const CORES_MAX: usize = 1024;

impl Config {
    pub fn from_args(args: Args) -> Result<Config, String> {
        let available = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cores = args.cores.unwrap_or(available);
        if cores == 0 || cores > CORES_MAX {
            return Err(format!("--cores must be between 1 and {CORES_MAX}, not {cores}"));
        }
        let prefix = args.path_prefix.trim().trim_end_matches('/').to_string();
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.contains(['?', '#', ' '])) {
            return Err(format!("--path-prefix must start with / and be a plain path, not {:?}", args.path_prefix));
        }
        if args.multipart_min_part_bytes > crate::limits::OBJECT_BYTES_MAX {
            return Err("--multipart-min-part-bytes cannot exceed the 5 GiB part size limit".into());
        }
        let checkpoint_bytes_min = crate::limits::JOURNAL_CHECKPOINT_BYTES_MIN;
        if args.journal_checkpoint_bytes < checkpoint_bytes_min {
            return Err(format!("--journal-checkpoint-bytes must be at least {checkpoint_bytes_min}"));
        }
        let fault_injection = match &args.fault_injection {
            Some(plan) => Some(
                crate::store::faults::parse_rules(plan)
                    .map_err(|reason| format!("--fault-injection {plan:?}: {reason}"))?,
            ),
            None => None,
        };
        let md5_kernel = match args.md5_kernel {
            Md5KernelChoice::Auto => Md5Kernel::best_available(),
            Md5KernelChoice::Scalar => Md5Kernel::Scalar,
            Md5KernelChoice::Lanes if md5_kernel::lanes_supported() => Md5Kernel::Lanes,
            Md5KernelChoice::Lanes => return Err("--md5-kernel lanes: this CPU has no AVX-512F".into()),
        };
        let mut credentials = crate::s3::auth::Credentials::default();
        if let (Some(access), Some(secret)) = (&args.access_key, &args.secret_key) {
            if access.is_empty() || secret.is_empty() {
                return Err("--access-key and --secret-key must not be empty".into());
            }
            credentials.insert(access, secret);
        }
        if let Some(path) = &args.credentials_file {
            credentials.load_file(path)?;
        }
        let virtual_host_domains: Vec<String> = args
            .virtual_host_domains
            .iter()
            .map(|domain| domain.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|domain| !domain.is_empty())
            .collect();
        let upstream = upstream_settings(&args)?.map(std::sync::Arc::new);
        let upstream_revalidate = crate::s3::lake::objects::Revalidate::parse(&args.upstream_revalidate)?;
        let admin_listen = match args.admin_listen.as_deref().map(str::trim) {
            None if args.listen.port() == 0 => Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            None => Some(SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT_DEFAULT))),
            Some("") => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|error| {
                format!("--admin-listen must be an address such as 127.0.0.1:39998 (or empty), not {text:?}: {error}")
            })?),
        };
        if let Some(admin) = admin_listen {
            if admin.port() != 0 && admin == args.listen {
                return Err(format!("--admin-listen {admin} is the S3 address (--listen): choose another port"));
            }
        }
        if args.metrics_token.as_deref().is_some_and(|token| token.trim().is_empty()) {
            return Err("--metrics-token must not be empty (leave it unset for no token)".into());
        }
        let access_log = AccessLogDestination::parse(&args.access_log);
        if let Some(AccessLogDestination::File(path)) = &access_log {
            let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(format!("--access-log {}: directory {} does not exist", path.display(), parent.display()));
            }
        }
        let grace_max = crate::limits::SHUTDOWN_GRACE_MS_MAX;
        if args.shutdown_grace_ms > grace_max {
            return Err(format!(
                "--shutdown-grace-ms must be at most {grace_max} (one hour), not {}",
                args.shutdown_grace_ms
            ));
        }
        let s3 = crate::s3::Settings {
            multipart_min_part_bytes: args.multipart_min_part_bytes,
            verify_checksums: !args.skip_checksum_verification,
            credentials,
            virtual_host_domains,
        };
        Ok(Config {
            s3: std::sync::Arc::new(s3),
            listen: args.listen,
            data_dir: args.data_dir,
            cores,
            path_prefix: prefix,
            sendfile_min_bytes: args.sendfile_min_bytes,
            inline_budget_bytes: args.inline_budget_bytes,
            log_level: args.log_level,
            journal_checkpoint_bytes: args.journal_checkpoint_bytes,
            fault_injection,
            md5_kernel,
            md5_kernel_forced: args.md5_kernel != Md5KernelChoice::Auto,
            io_driver: args.io_driver,
            upstream,
            upstream_revalidate,
            cache_capacity_bytes: args.cache_capacity,
            log_format: args.log_format,
            admin_listen,
            metrics_token: args.metrics_token,
            access_log,
            shutdown_grace_ms: args.shutdown_grace_ms,
            start_delay_ms: args.start_delay_ms,
        })
    }
}

/// The upstream flags, validated: all or nothing around `--upstream`.
fn upstream_settings(args: &Args) -> Result<Option<crate::upstream::UpstreamSettings>, String> {
    use crate::upstream::{Addressing, RetryPolicy, Timeouts, UpstreamCredentials, UpstreamSettings};
    let Some(url) = &args.upstream else {
        let stray = [
            ("--upstream-access-key", args.upstream_access_key.is_some()),
            ("--upstream-credentials-file", args.upstream_credentials_file.is_some()),
            ("--upstream-ca-file", args.upstream_ca_file.is_some()),
        ];
        return match stray.iter().find(|(_, given)| *given) {
            Some((flag, _)) => Err(format!("{flag} needs --upstream")),
            None => Ok(None),
        };
    };
    let credentials = match (&args.upstream_access_key, &args.upstream_secret_key, &args.upstream_credentials_file) {
        (Some(access), Some(secret), None) => Some(
            UpstreamCredentials::new(access.expose(), secret.expose())
                .map_err(|reason| format!("--upstream-access-key/--upstream-secret-key: {reason}"))?,
        ),
        (None, None, Some(path)) => Some(UpstreamCredentials::load_file(path)?),
        (None, None, None) => None,
        _ => return Err("give the upstream keys either as --upstream-access-key/--upstream-secret-key or in --upstream-credentials-file".into()),
    };
    let settings = UpstreamSettings::new(url, credentials, &args.upstream_region, args.upstream_ca_file.as_deref())
        .map_err(|reason| format!("--upstream: {reason}"))?;
    let addressing = match args.upstream_addressing {
        UpstreamAddressing::Path => Addressing::Path,
        UpstreamAddressing::Virtual => Addressing::VirtualHosted,
    };
    let durations = [
        ("--upstream-connect-timeout-ms", args.upstream_connect_timeout_ms),
        ("--upstream-response-timeout-ms", args.upstream_response_timeout_ms),
        ("--upstream-stall-timeout-ms", args.upstream_stall_timeout_ms),
    ];
    if let Some((flag, _)) = durations.iter().find(|(_, ms)| *ms == 0) {
        return Err(format!("{flag} must be at least 1"));
    }
    let timeouts = Timeouts {
        connect_ms: args.upstream_connect_timeout_ms,
        head_ms: args.upstream_response_timeout_ms,
        stall_ms: args.upstream_stall_timeout_ms,
        ..settings.timeouts()
    };
    let retry = RetryPolicy { window_ms: args.upstream_retry_window_ms, ..settings.retry() };
    Ok(Some(settings.with_addressing(addressing).with_timeouts(timeouts).with_retry(retry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<Config, String> {
        let args =
            Args::try_parse_from(std::iter::once("s3core").chain(flags.iter().copied())).map_err(|e| e.to_string())?;
        Config::from_args(args)
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:39999".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.path_prefix, "/api/v1/s3");
        assert!(config.cores >= 1);
        assert_eq!(config.s3.multipart_min_part_bytes, 1024 * 1024);
        assert!(config.s3.verify_checksums);
        assert!(!parse(&["--skip-checksum-verification"]).unwrap().s3.verify_checksums);
    }

    #[test]
    fn validates_flags() {
        assert_eq!(parse(&["--path-prefix", "/x/"]).unwrap().path_prefix, "/x");
        assert_eq!(parse(&["--path-prefix", ""]).unwrap().path_prefix, "");
        assert!(parse(&["--path-prefix", "x"]).is_err());
        assert!(parse(&["--cores", "0"]).is_err());
        assert!(parse(&["--listen", "nonsense"]).is_err());
        assert_eq!(parse(&["--cores", "3"]).unwrap().cores, 3);
        assert!(parse(&["--access-key", "a"]).is_err(), "a key needs its secret");
        assert!(!parse(&["--access-key", "a", "--secret-key", "b"]).unwrap().s3.credentials.is_open());
        assert_eq!(parse(&["--cores", "3", "--cores", "4"]).unwrap().cores, 4, "the last value wins");
    }

    #[test]
    fn upstream_flags_are_validated_and_secrets_never_printed() {
        assert!(parse(&[]).unwrap().upstream.is_none(), "no upstream unless asked");
        let config = parse(&[
            "--upstream",
            "http://127.0.0.1:9000/lake",
            "--upstream-access-key",
            "AKIDUPSTREAM",
            "--upstream-secret-key",
            "upstream-secret-value",
            "--upstream-region",
            "eu-west-1",
        ])
        .unwrap();
        let upstream = config.upstream.as_ref().unwrap();
        assert_eq!(upstream.endpoint().url(), "http://127.0.0.1:9000/lake");
        assert_eq!(upstream.region(), "eu-west-1");
        let printed = format!("{config:?}");
        assert!(!printed.contains("upstream-secret-value") && !printed.contains("AKIDUPSTREAM"), "{printed}");
        let args = Args::try_parse_from([
            "s3core",
            "--upstream",
            "http://h",
            "--upstream-access-key",
            "AKIDUPSTREAM",
            "--upstream-secret-key",
            "upstream-secret-value",
        ])
        .unwrap();
        let printed = format!("{args:?}");
        assert!(!printed.contains("upstream-secret-value") && !printed.contains("AKIDUPSTREAM"), "{printed}");
        assert_eq!(parse(&["--upstream", "http://h"]).unwrap().upstream.unwrap().region(), "us-east-1");
        assert!(parse(&["--upstream", "ftp://h"]).is_err());
        assert!(parse(&["--upstream", "http://h", "--upstream-access-key", "a"]).is_err(), "a key needs its secret");
        assert!(parse(&["--upstream-access-key", "a", "--upstream-secret-key", "b"])
            .unwrap_err()
            .contains("--upstream"));
        assert!(parse(&["--upstream-ca-file", "/x.pem"]).is_err());
        assert!(parse(&["--upstream", "http://h", "--upstream-ca-file", "/x.pem"]).is_err(), "a CA file is for https");
        assert!(parse(&["--upstream", "https://h", "--upstream-ca-file", "/nonexistent.pem"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upstream-keys");
        std::fs::write(&file, "AKIDFILE secret-from-file\n").unwrap();
        let file = file.to_str().unwrap();
        assert!(parse(&["--upstream", "http://h", "--upstream-credentials-file", file]).is_ok());
        assert!(
            parse(&[
                "--upstream",
                "http://h",
                "--upstream-credentials-file",
                file,
                "--upstream-access-key",
                "a",
                "--upstream-secret-key",
                "b"
            ])
            .is_err(),
            "one source of keys"
        );
        let virtual_hosted = parse(&["--upstream", "http://h", "--upstream-addressing", "virtual"]).unwrap();
        assert!(format!("{:?}", virtual_hosted.upstream.unwrap()).contains("VirtualHosted"));
    }

    fn load_with_file(flags: &[&str], file: &str) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3core.toml");
        std::fs::write(&path, file).unwrap();
        let path = path.to_string_lossy().into_owned();
        let head = ["s3core", "--config", path.as_str()];
        let argv: Vec<OsString> = head.iter().chain(flags).map(OsString::from).collect();
        load(argv).map_err(|error| match error {
            LoadError::Clap(error) => error.to_string(),
            LoadError::Invalid(message) => message,
        })
    }

    #[test]
    fn a_file_sets_what_no_flag_sets() {
        let file = "cores = 3\npath_prefix = \"/from-file\"\nskip_checksum_verification = true\n\
                    virtual_host_domains = [\"a.test\", \"b.test\"]\n";
        let loaded = load_with_file(&["--path-prefix", "/from-flag"], file).unwrap();
        assert_eq!(loaded.config.cores, 3);
        assert_eq!(loaded.config.path_prefix, "/from-flag", "a flag wins over the file");
        assert!(!loaded.config.s3.verify_checksums);
        assert_eq!(loaded.config.s3.virtual_host_domains, ["a.test", "b.test"]);
        assert!(loaded.printed.is_none());
        let printed = load_with_file(&["--print-config", "--secret-key", "hush", "--access-key", "a"], file)
            .unwrap()
            .printed
            .unwrap();
        assert!(printed.contains("cores = 3  # file "), "{printed}");
        assert!(printed.contains("secret_key = \"<redacted>\"  # flag"), "{printed}");
        assert!(!printed.contains("hush"));
    }

    #[test]
    fn file_errors_name_the_key_and_the_file() {
        let error = load_with_file(&[], "colors = 3").unwrap_err();
        assert!(error.contains("unknown key `colors`") && error.contains("s3core.toml"), "{error}");
        let error = load_with_file(&[], "cores = \"many\"").unwrap_err();
        assert!(error.contains("--cores") && error.contains("`cores` in"), "{error}");
        let error = load_with_file(&[], "cores = 0").unwrap_err();
        assert!(error.contains("between 1 and") && error.contains("`cores` in"), "{error}");
        let error = load_with_file(&[], "[section]\nx = 1").unwrap_err();
        assert!(error.contains("unknown key `section`"), "{error}");
        let error = load_with_file(&[], "path_prefix = [\"/a\", \"/b\"]").unwrap_err();
        assert!(error.contains("`path_prefix` takes one value"), "{error}");
        let error = load_with_file(&[], "skip_checksum_verification = \"yes\"").unwrap_err();
        assert!(error.contains("true or false"), "{error}");
        let error = load_with_file(&[], "cores = ").unwrap_err();
        assert!(error.contains("not valid TOML"), "{error}");
    }

    #[test]
    fn operations_flags_are_validated() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.admin_listen, Some("127.0.0.1:39998".parse().unwrap()));
        assert_eq!(config.access_log, None);
        assert_eq!(config.shutdown_grace_ms, crate::limits::SHUTDOWN_GRACE_MS_DEFAULT);
        let ephemeral = parse(&["--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!(
            ephemeral.admin_listen,
            Some("127.0.0.1:0".parse().unwrap()),
            "port 0 listens get an ephemeral admin"
        );
        assert_eq!(parse(&["--admin-listen", ""]).unwrap().admin_listen, None);
        assert!(parse(&["--admin-listen", "nowhere"]).is_err());
        assert!(parse(&["--admin-listen", "127.0.0.1:39999"]).unwrap_err().contains("is the S3 address"));
        assert!(parse(&["--metrics-token", " "]).is_err());
        assert!(parse(&["--shutdown-grace-ms", "99999999"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--access-log", "/no/such/dir/access.log"]).unwrap_err().contains("does not exist"));
        assert_eq!(parse(&["--access-log", "stderr"]).unwrap().access_log, Some(AccessLogDestination::Stderr));
    }

    #[test]
    fn test_knobs_are_off_by_default_and_validated() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.journal_checkpoint_bytes, crate::limits::JOURNAL_COMPACT_BYTES);
        assert!(config.fault_injection.is_none());
        assert_eq!(parse(&["--journal-checkpoint-bytes", "16384"]).unwrap().journal_checkpoint_bytes, 16384);
        assert!(parse(&["--journal-checkpoint-bytes", "100"]).is_err());
        let config = parse(&["--fault-injection", "journal-fsync:after=3,count=1,errno=EIO"]).unwrap();
        assert_eq!(config.fault_injection.map(|rules| rules.len()), Some(1));
        assert!(parse(&["--fault-injection", "journal-fsync:after=three"]).is_err());
        assert!(parse(&["--fault-injection", ""]).is_err());
    }

    #[test]
    fn md5_kernel_and_io_driver_default_to_the_best_available_and_are_validated() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.md5_kernel, Md5Kernel::best_available());
        assert!(!config.md5_kernel_forced);
        assert_eq!(config.io_driver, IoDriver::Auto);
        let scalar = parse(&["--md5-kernel", "scalar"]).unwrap();
        assert_eq!((scalar.md5_kernel, scalar.md5_kernel_forced), (Md5Kernel::Scalar, true));
        let lanes = parse(&["--md5-kernel", "lanes"]);
        match md5_kernel::lanes_supported() {
            true => assert_eq!(lanes.unwrap().md5_kernel, Md5Kernel::Lanes),
            false => assert!(lanes.unwrap_err().contains("AVX-512F")),
        }
        assert_eq!(parse(&["--io-driver", "legacy"]).unwrap().io_driver, IoDriver::Legacy);
        assert_eq!(parse(&["--io-driver", "uring"]).unwrap().io_driver, IoDriver::Uring);
        for bad in [["--md5-kernel", "avx2"], ["--md5-kernel", ""], ["--io-driver", "epoll"], ["--io-driver", "Legacy"]]
        {
            assert!(parse(&bad).is_err(), "{bad:?} accepted");
        }
    }
}

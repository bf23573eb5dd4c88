//! What the upstream client is built from, validated once at start (`config` builds it from
//! the flags): the endpoint URL, the credentials (never printed), the signing region, the
//! addressing style, TLS roots, timeouts, the retry policy and the pool bound.
//!
//! `UpstreamSettings` is immutable and shared by every core through an `Arc`; each core's
//! `Upstream` keeps its own connections.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::encoding::percent_decode;
use crate::limits::{
    UPSTREAM_ATTEMPTS_MAX, UPSTREAM_BACKOFF_BASE_MS, UPSTREAM_BACKOFF_MAX_MS, UPSTREAM_CONNECT_TIMEOUT_MS,
    UPSTREAM_HEAD_TIMEOUT_MS, UPSTREAM_IDLE_CONNECTIONS_MAX, UPSTREAM_IDLE_TIMEOUT_MS, UPSTREAM_RETRY_WINDOW_MS,
    UPSTREAM_STALL_TIMEOUT_MS,
};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where buckets go in a request: `/bucket/key` on the endpoint's host, or `/key` on
/// `bucket.host` (virtual-hosted, which Amazon S3 prefers and some stores require).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    Path,
    VirtualHosted,
}

/// The upstream's base URL, parsed: `http[s]://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// The host as written (a name, an IPv4 address, or an IPv6 address in brackets).
    pub host: String,
    pub port: u16,
    /// What the Host header carries (and is signed): the authority as written.
    pub authority: String,
    /// Decoded path prefix every request path starts with: empty or `/a/b`, no trailing `/`.
    pub path_prefix: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = url.trim().parse().map_err(|error| format!("{url:?} is not a URL: {error}"))?;
        let scheme = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(other) => return Err(format!("{url:?}: the scheme must be http or https, not {other}")),
            None => return Err(format!("{url:?}: give the scheme, http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| format!("{url:?}: no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{url:?}: credentials do not belong in the URL; use --upstream-access-key"));
        }
        let host = authority.host().to_string();
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        if uri.query().is_some() {
            return Err(format!("{url:?}: a query does not belong in the upstream URL"));
        }
        let raw_prefix = uri.path().trim_end_matches('/');
        let decoded = percent_decode(raw_prefix, false).ok_or_else(|| format!("{url:?}: bad escape in the path"))?;
        let path_prefix = String::from_utf8(decoded).map_err(|_| format!("{url:?}: the path is not UTF-8"))?;
        Ok(Endpoint { scheme, host, port, authority: authority.as_str().to_ascii_lowercase(), path_prefix })
    }

    /// The endpoint back as a URL, for logs.
    pub fn url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.authority, self.path_prefix)
    }
}

/// An access key and its secret for the upstream. `Debug` prints neither: both stay inside
/// the process (the access key only ever leaves in a signed request's Authorization header).
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCredentials {
    access_key: String,
    secret_key: String,
}

impl fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamCredentials { .. }")
    }
}

impl UpstreamCredentials {
    pub fn new(access_key: &str, secret_key: &str) -> Result<UpstreamCredentials, String> {
        let valid = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_graphic());
        if !valid(access_key) || !valid(secret_key) {
            return Err(
                "upstream access and secret keys must be non-empty, without spaces or control characters".into()
            );
        }
        Ok(UpstreamCredentials { access_key: access_key.to_string(), secret_key: secret_key.to_string() })
    }

    /// Reads one `ACCESS_KEY SECRET_KEY` (or `ACCESS_KEY:SECRET_KEY`) line, the format of
    /// `--credentials-file`; blank lines and `#` comments are ignored. Errors name the file and
    /// line, never its content.
    pub fn load_file(path: &Path) -> Result<UpstreamCredentials, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut found = None;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pair = line.split_once(':').or_else(|| line.split_once(char::is_whitespace));
            let at = || format!("{}:{}", path.display(), number + 1);
            match (pair, &found) {
                (Some((access, secret)), None) => {
                    found = Some(
                        UpstreamCredentials::new(access.trim(), secret.trim())
                            .map_err(|reason| format!("{}: {reason}", at()))?,
                    );
                }
                (Some(_), Some(_)) => return Err(format!("{}: only one upstream key pair is allowed", at())),
                (None, _) => return Err(format!("{}: expected ACCESS_KEY SECRET_KEY", at())),
            }
        }
        found.ok_or_else(|| format!("{}: no ACCESS_KEY SECRET_KEY line", path.display()))
    }

    pub(crate) fn access_key(&self) -> &str {
        &self.access_key
    }

    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

/// The client's time bounds, per attempt (defaults in `limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake.
    pub connect_ms: u64,
    /// From the end of the request to the complete response head.
    pub head_ms: u64,
    /// A body read or write without progress.
    pub stall_ms: u64,
    /// Pooled connections idle longer than this are closed, not reused.
    pub idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: UPSTREAM_CONNECT_TIMEOUT_MS,
            head_ms: UPSTREAM_HEAD_TIMEOUT_MS,
            stall_ms: UPSTREAM_STALL_TIMEOUT_MS,
            idle_ms: UPSTREAM_IDLE_TIMEOUT_MS,
        }
    }
}

/// How retryable failures are retried (defaults in `limits`; decisions in `retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one operation, the first included (1: never retry).
    pub attempts_max: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// No retry starts later than this after the first attempt began.
    pub window_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts_max: UPSTREAM_ATTEMPTS_MAX,
            backoff_base_ms: UPSTREAM_BACKOFF_BASE_MS,
            backoff_max_ms: UPSTREAM_BACKOFF_MAX_MS,
            window_ms: UPSTREAM_RETRY_WINDOW_MS,
        }
    }
}

/// Everything the client needs, validated.
#[derive(Clone)]
pub struct UpstreamSettings {
    pub(crate) endpoint: Endpoint,
    /// `None`: anonymous requests (no Authorization header), for public buckets.
    pub(crate) credentials: Option<UpstreamCredentials>,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) addressing: Addressing,
    /// The TLS configuration (roots), for https endpoints.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) timeouts: Timeouts,
    pub(crate) retry: RetryPolicy,
    pub(crate) idle_connections_max: usize,
}

impl fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("endpoint", &self.endpoint.url())
            .field("signed", &self.credentials.is_some())
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("idle_connections_max", &self.idle_connections_max)
            .finish()
    }
}

impl UpstreamSettings {
    /// Settings for `url` with default timeouts and retries. `ca_file` adds a PEM file of CA
    /// certificates to the system's roots (https only).
    pub fn new(
        url: &str,
        credentials: Option<UpstreamCredentials>,
        region: &str,
        ca_file: Option<&Path>,
    ) -> Result<UpstreamSettings, String> {
        let endpoint = Endpoint::parse(url)?;
        let region = region.trim();
        if region.is_empty() || !region.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return Err(format!("upstream region {region:?}: letters, digits, - and _ only"));
        }
        let tls = match endpoint.scheme {
            Scheme::Https => Some(super::tls::client_config(ca_file)?),
            Scheme::Http if ca_file.is_some() => {
                return Err("--upstream-ca-file is for https:// upstreams; this one is http://".into())
            }
            Scheme::Http => None,
        };
        Ok(UpstreamSettings {
            endpoint,
            credentials,
            region: region.to_string(),
            service: "s3".to_string(),
            addressing: Addressing::Path,
            tls,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            idle_connections_max: UPSTREAM_IDLE_CONNECTIONS_MAX,
        })
    }

    pub fn with_addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }

    /// Other timeouts (tests shorten them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_defaults_and_prefixes() {
        let plain = Endpoint::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!((plain.scheme, plain.host.as_str(), plain.port), (Scheme::Http, "127.0.0.1", 9000));
        assert_eq!((plain.authority.as_str(), plain.path_prefix.as_str()), ("127.0.0.1:9000", ""));
        let prefixed = Endpoint::parse("HTTPS://Store.Example:8443/api/v1/s3/").unwrap();
        assert_eq!((prefixed.scheme, prefixed.port), (Scheme::Https, 8443));
        assert_eq!(prefixed.authority, "store.example:8443");
        assert_eq!(prefixed.path_prefix, "/api/v1/s3");
        assert_eq!(prefixed.url(), "https://store.example:8443/api/v1/s3");
        assert_eq!(Endpoint::parse("https://s3.example").unwrap().port, 443);
        assert_eq!(Endpoint::parse("http://[::1]:81/").unwrap().host, "[::1]");
        assert_eq!(Endpoint::parse("http://h/a%20b").unwrap().path_prefix, "/a b");
    }

    #[test]
    fn bad_endpoints_are_refused_with_a_reason() {
        for url in ["ftp://h", "h:9000", "http://user:pw@h", "http://h/?x=1", "http://h/%zz", "nonsense"] {
            assert!(Endpoint::parse(url).is_err(), "{url} should be refused");
        }
        let error = Endpoint::parse("http://AK:SECRET@h").unwrap_err();
        assert!(error.contains("credentials"), "{error}");
    }

    #[test]
    fn credentials_never_print_and_files_hold_one_pair() {
        let credentials = UpstreamCredentials::new("AKID", "s3cr3t-value").unwrap();
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("AKID") && !printed.contains("s3cr3t"), "{printed}");
        assert!(UpstreamCredentials::new("", "x").is_err());
        assert!(UpstreamCredentials::new("a b", "x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream");
        std::fs::write(&path, "# the lake\nAKID:s3cr3t-value\n").unwrap();
        assert_eq!(UpstreamCredentials::load_file(&path).unwrap(), credentials);
        std::fs::write(&path, "AKID s3cr3t-value\nOTHER pair\n").unwrap();
        let error = UpstreamCredentials::load_file(&path).unwrap_err();
        assert!(error.contains(":2") && !error.contains("s3cr3t"), "{error}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(UpstreamCredentials::load_file(&path).is_err());
        let settings = UpstreamSettings::new("http://h:1", Some(credentials), "us-east-1", None).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("AKID") && !printed.contains("s3cr3t"), "{printed}");
    }

    #[test]
    fn settings_validate_region_and_ca_file_use() {
        assert!(UpstreamSettings::new("http://h", None, "eu west", None).is_err());
        assert!(UpstreamSettings::new("http://h", None, "eu-west-1", Some(Path::new("/x.pem"))).is_err());
        let settings = UpstreamSettings::new("https://h", None, "eu-west-1", None).unwrap();
        assert!(settings.tls.is_some());
        assert_eq!(settings.region(), "eu-west-1");
        assert_eq!(settings.retry(), RetryPolicy::default());
    }
}

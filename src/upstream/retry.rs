//! When a failed attempt is tried again, and after how long: pure decisions, tested as tables.
//!
//! Retried, up to `RetryPolicy::attempts_max` attempts and never starting later than
//! `window_ms` after the first:
//! - throttling (503, 429, `SlowDown`, `ServiceUnavailable`): the upstream did nothing, so
//!   any request may be sent again;
//! - other 5xx (except 501) and `InternalError` / `RequestTimeout` codes, for idempotent
//!   requests (GET, HEAD, DELETE, PUT, UploadPart, CompleteMultipartUpload, DeleteObjects);
//! - connection failures before anything was sent (lookup, connect, a TLS handshake that
//!   timed out or was cut), for every request;
//! - later connection failures (reset, cut, timed out), for idempotent requests, and for
//!   any request when a reused keep-alive connection closed before answering (the upstream
//!   closed it while idle; it never saw the request).
//!
//! A request whose body source already gave bytes is retried only if the source can rewind;
//! the caller checks that. TLS certificate refusals, 4xx answers and protocol errors are final.
//! Backoff is "full jitter": a uniformly random delay up to an exponentially growing cap.

use std::io;
use std::time::Duration;

use super::error::{Stage, TransportError};
use super::settings::RetryPolicy;

/// What went wrong in one attempt.
#[derive(Debug)]
pub(crate) enum Failure<'a> {
    /// The upstream answered with an error (`code` from its document, or the status's name).
    Status { status: u16, code: &'a str },
    /// The connection failed.
    Transport {
        error: &'a TransportError,
        /// The connection came from the pool.
        reused: bool,
        /// Some of the response had arrived.
        response_started: bool,
    },
}

/// Whether `failure` may be retried at all (attempts, time and body are checked apart).
pub(crate) fn is_retryable(failure: &Failure<'_>, idempotent: bool) -> bool {
    match failure {
        Failure::Status { status, code } => {
            let throttled = matches!(status, 429 | 503) || matches!(*code, "SlowDown" | "ServiceUnavailable");
            let transient = (*status >= 500 && *status != 501) || matches!(*code, "InternalError" | "RequestTimeout");
            throttled || (transient && idempotent)
        }
        Failure::Transport { error, reused, response_started } => match error.stage {
            Stage::Resolve | Stage::Connect => true,
            // A refused certificate or protocol is final; a handshake cut or timed out is not.
            Stage::Tls => error.kind == io::ErrorKind::TimedOut || error.is_closed(),
            Stage::Send | Stage::Head | Stage::Body => {
                idempotent || (*reused && !*response_started && error.is_closed())
            }
        },
    }
}

/// The cap of the delay before retry `retry` (1 for the first retry).
pub(crate) fn backoff_cap(policy: &RetryPolicy, retry: u32) -> Duration {
    let doubling = 1u64 << retry.saturating_sub(1).min(32);
    Duration::from_millis(policy.backoff_base_ms.saturating_mul(doubling).min(policy.backoff_max_ms))
}

/// The delay before another attempt, after `attempts` were made over `elapsed`; `None`:
/// no more attempts. `random` is any uniformly random number.
pub(crate) fn next_delay(policy: &RetryPolicy, attempts: u32, elapsed: Duration, random: u64) -> Option<Duration> {
    if attempts >= policy.attempts_max {
        return None;
    }
    let cap = backoff_cap(policy, attempts).as_millis() as u64;
    let delay = Duration::from_millis(random % (cap + 1));
    (elapsed + delay <= Duration::from_millis(policy.window_ms)).then_some(delay)
}

/// A small per-core generator for jitter (xorshift64*), seeded from the OS.
pub(crate) struct Jitter(std::cell::Cell<u64>);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        let mut seed = [0u8; 8];
        // Jitter only spreads retries out: a clock-based seed does if the OS has no entropy.
        if getrandom::getrandom(&mut seed).is_err() {
            seed = (crate::dates::now_ms() | 1).to_le_bytes();
        }
        Jitter(std::cell::Cell::new(u64::from_le_bytes(seed) | 1))
    }

    pub(crate) fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(stage: Stage, kind: io::ErrorKind) -> TransportError {
        TransportError::new(stage, kind, "test")
    }

    #[test]
    fn status_answers_retry_by_code_and_idempotency() {
        let status = |status, code| Failure::Status { status, code };
        // (failure, idempotent, retried)
        let table = [
            (status(503, "SlowDown"), false, true),
            (status(503, "ServiceUnavailable"), true, true),
            (status(429, "TooManyRequests"), false, true),
            (status(500, "InternalError"), true, true),
            (status(500, "InternalError"), false, false),
            (status(502, "BadGateway"), true, true),
            (status(504, "GatewayTimeout"), true, true),
            (status(501, "NotImplemented"), true, false),
            (status(400, "RequestTimeout"), true, true),
            (status(200, "InternalError"), true, true),
            (status(400, "InvalidArgument"), true, false),
            (status(403, "AccessDenied"), true, false),
            (status(403, "SignatureDoesNotMatch"), true, false),
            (status(404, "NoSuchKey"), true, false),
            (status(412, "PreconditionFailed"), true, false),
        ];
        for (failure, idempotent, retried) in table {
            assert_eq!(is_retryable(&failure, idempotent), retried, "{failure:?} idempotent={idempotent}");
        }
    }

    #[test]
    fn connection_failures_retry_by_stage() {
        use io::ErrorKind::*;
        // (stage, kind, idempotent, reused, response started, retried)
        let table = [
            (Stage::Connect, ConnectionRefused, false, false, false, true),
            (Stage::Connect, TimedOut, false, false, false, true),
            (Stage::Resolve, NotFound, true, false, false, true),
            (Stage::Tls, InvalidData, true, false, false, false),
            (Stage::Tls, TimedOut, true, false, false, true),
            (Stage::Tls, UnexpectedEof, false, false, false, true),
            (Stage::Head, TimedOut, true, false, false, true),
            (Stage::Head, TimedOut, false, true, false, false),
            (Stage::Head, UnexpectedEof, false, true, false, true),
            (Stage::Send, BrokenPipe, false, true, false, true),
            (Stage::Head, ConnectionReset, false, false, false, false),
            (Stage::Head, UnexpectedEof, false, true, true, false),
            (Stage::Body, ConnectionReset, true, false, true, true),
        ];
        for (stage, kind, idempotent, reused, response_started, retried) in table {
            let error = transport(stage, kind);
            let failure = Failure::Transport { error: &error, reused, response_started };
            assert_eq!(is_retryable(&failure, idempotent), retried, "{stage:?} {kind:?} {idempotent} {reused}");
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_and_stops_at_the_limits() {
        let policy = RetryPolicy { attempts_max: 4, backoff_base_ms: 50, backoff_max_ms: 300, window_ms: 1_000 };
        let caps: Vec<u64> = (1..=5).map(|retry| backoff_cap(&policy, retry).as_millis() as u64).collect();
        assert_eq!(caps, [50, 100, 200, 300, 300]);
        let never_zero = Duration::ZERO;
        for random in [0, 7, u64::MAX] {
            let delay = next_delay(&policy, 2, never_zero, random).unwrap();
            assert!(delay <= Duration::from_millis(100), "{delay:?}");
        }
        assert_eq!(next_delay(&policy, 4, never_zero, 3), None, "attempts spent");
        assert_eq!(next_delay(&policy, 1, Duration::from_millis(1_000), 10), None, "window spent");
        assert_eq!(next_delay(&policy, 1, Duration::from_millis(990), 10), Some(Duration::from_millis(10)));
        assert_eq!(next_delay(&RetryPolicy { attempts_max: 1, ..policy }, 1, never_zero, 0), None);
    }

    #[test]
    fn jitter_spreads_over_the_range() {
        let jitter = Jitter::new();
        let policy = RetryPolicy { attempts_max: 4, backoff_base_ms: 1000, backoff_max_ms: 1000, window_ms: 10_000 };
        let delays: Vec<u64> = (0..200)
            .map(|_| next_delay(&policy, 1, Duration::ZERO, jitter.next()).unwrap().as_millis() as u64)
            .collect();
        assert!(delays.iter().any(|&delay| delay < 250) && delays.iter().any(|&delay| delay > 750), "{delays:?}");
    }
}

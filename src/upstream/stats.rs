//! What one core's upstream client counts: operations by outcome, failed attempts by kind,
//! retries, and each operation's latency. Plain integers and distributions the core alone
//! writes, copied out by value for a scrape and summed over the cores there (as
//! `server::stats` does for requests). Also the rate limit of the warnings a failing upstream
//! logs, so a dead upstream under load writes a line a second per core, not one per request.

use std::cell::{Cell, RefCell};
use std::io;
use std::time::{Duration, Instant};

use super::error::{Stage, TransportError, UpstreamError};
use crate::metrics::{Distribution, LATENCY_US_MAX};

macro_rules! labels {
    ($(#[$doc:meta])* $name:ident { $($(#[$variant_doc:meta])* $variant:ident => $label:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($(#[$variant_doc])* $variant,)* }

        impl $name {
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant,)*];
            pub(crate) const COUNT: usize = Self::ALL.len();

            pub(crate) fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
        }
    };
}

labels! {
    /// The S3 operation of an upstream request (the `operation` label).
    Operation {
        ListBuckets => "ListBuckets",
        CreateBucket => "CreateBucket",
        DeleteBucket => "DeleteBucket",
        HeadBucket => "HeadBucket",
        ListObjects => "ListObjects",
        HeadObject => "HeadObject",
        GetObject => "GetObject",
        PutObject => "PutObject",
        CopyObject => "CopyObject",
        DeleteObject => "DeleteObject",
        DeleteObjects => "DeleteObjects",
        GetObjectTagging => "GetObjectTagging",
        PutObjectTagging => "PutObjectTagging",
        CreateMultipartUpload => "CreateMultipartUpload",
        UploadPart => "UploadPart",
        CompleteMultipartUpload => "CompleteMultipartUpload",
        AbortMultipartUpload => "AbortMultipartUpload",
        Other => "Other",
    }
}

labels! {
    /// How an operation ended, its retries done (the `outcome` label).
    Outcome {
        /// A 2xx or 3xx answer (304 to a conditional HEAD included).
        Ok => "ok",
        /// A 4xx answer (404, 412: often expected, e.g. a changed version).
        ClientError => "client_error",
        /// A 5xx answer.
        ServerError => "server_error",
        /// No answer: refused, reset, timed out.
        Unavailable => "unavailable",
        /// A broken answer, or a request that could not be sent.
        Failed => "failed",
    }
}

labels! {
    /// Why one attempt failed (the `kind` label). 4xx answers other than refusals are
    /// answers, not failures, and are not counted here.
    FailureKind {
        Timeout => "timeout",
        Connect => "connect",
        Tls => "tls",
        /// The connection was closed or reset mid-exchange (a body cut off included).
        Reset => "reset",
        /// 429, 503, `SlowDown`.
        Throttled => "throttled",
        /// Other 5xx.
        ServerError => "5xx",
        /// 401 or 403: credentials or permissions.
        Denied => "denied",
        /// An answer that breaks HTTP or S3 rules.
        Protocol => "protocol",
    }
}

impl Operation {
    /// The operation a request is, from its method, what it names and its query (the client
    /// builds every request through `Call`, so this sees each one).
    /// `has` says whether the query holds a parameter of that name.
    pub(crate) fn classify(
        method: &str,
        has_bucket: bool,
        has_key: bool,
        has: impl Fn(&str) -> bool,
        copy: bool,
    ) -> Operation {
        match (method, has_bucket, has_key) {
            ("GET", false, false) => Operation::ListBuckets,
            ("PUT", true, false) => Operation::CreateBucket,
            ("DELETE", true, false) => Operation::DeleteBucket,
            ("HEAD", true, false) => Operation::HeadBucket,
            ("GET", true, false) => Operation::ListObjects,
            ("POST", true, false) if has("delete") => Operation::DeleteObjects,
            ("HEAD", true, true) => Operation::HeadObject,
            ("GET", true, true) if has("tagging") => Operation::GetObjectTagging,
            ("GET", true, true) => Operation::GetObject,
            ("PUT", true, true) if has("tagging") => Operation::PutObjectTagging,
            ("PUT", true, true) if has("partNumber") => Operation::UploadPart,
            ("PUT", true, true) if copy => Operation::CopyObject,
            ("PUT", true, true) => Operation::PutObject,
            ("POST", true, true) if has("uploads") => Operation::CreateMultipartUpload,
            ("POST", true, true) if has("uploadId") => Operation::CompleteMultipartUpload,
            ("DELETE", true, true) if has("uploadId") => Operation::AbortMultipartUpload,
            ("DELETE", true, true) => Operation::DeleteObject,
            _ => Operation::Other,
        }
    }
}

impl Outcome {
    pub(crate) fn of(result: &Result<u16, &UpstreamError>) -> Outcome {
        match result {
            Ok(status) if *status < 400 => Outcome::Ok,
            Ok(status) | Err(UpstreamError::Response(super::ErrorResponse { status, .. })) => match *status {
                400..=499 => Outcome::ClientError,
                500.. => Outcome::ServerError,
                _ => Outcome::Ok,
            },
            Err(UpstreamError::Unavailable { .. } | UpstreamError::Interrupted { .. }) => Outcome::Unavailable,
            Err(_) => Outcome::Failed,
        }
    }
}

impl FailureKind {
    pub(crate) fn of_transport(error: &TransportError) -> FailureKind {
        if error.kind == io::ErrorKind::TimedOut {
            return FailureKind::Timeout;
        }
        match error.stage {
            Stage::Resolve | Stage::Connect => FailureKind::Connect,
            Stage::Tls => FailureKind::Tls,
            Stage::Send | Stage::Head | Stage::Body => FailureKind::Reset,
        }
    }

    /// The kind of an error answer; `None` for an answer that is no failure of the upstream.
    pub(crate) fn of_status(status: u16, code: &str) -> Option<FailureKind> {
        match status {
            429 | 503 => Some(FailureKind::Throttled),
            _ if code == "SlowDown" => Some(FailureKind::Throttled),
            500.. => Some(FailureKind::ServerError),
            401 | 403 => Some(FailureKind::Denied),
            _ => None,
        }
    }

    /// The kind of a final error (a body cut off, a protocol error); `None`: not a failure.
    pub(crate) fn of_error(error: &UpstreamError) -> Option<FailureKind> {
        match error {
            UpstreamError::Response(response) => FailureKind::of_status(response.status, &response.code),
            UpstreamError::Unavailable { cause, .. } | UpstreamError::Interrupted { cause, .. } => {
                Some(FailureKind::of_transport(cause))
            }
            UpstreamError::Protocol(_) => Some(FailureKind::Protocol),
            UpstreamError::InvalidRequest(_) | UpstreamError::Source(_) | UpstreamError::Sink(_) => None,
        }
    }
}

/// One core's upstream numbers. `Clone` is the snapshot; `merge` sums cores.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamCounts {
    /// `[operation][outcome]`.
    pub(crate) requests: [[u64; Outcome::COUNT]; Operation::COUNT],
    /// Failed attempts by kind (an attempt that was retried counts too).
    pub(crate) failures: [u64; FailureKind::COUNT],
    pub(crate) retries: u64,
    /// Per operation, created at its first request: first attempt to the answer's head (a
    /// document: to its end), retries included.
    pub(crate) latency_us: Vec<Option<Distribution>>,
}

impl UpstreamCounts {
    pub(crate) fn new() -> UpstreamCounts {
        UpstreamCounts {
            requests: [[0; Outcome::COUNT]; Operation::COUNT],
            failures: [0; FailureKind::COUNT],
            retries: 0,
            latency_us: vec![None; Operation::COUNT],
        }
    }

    pub(crate) fn merge(&mut self, other: &UpstreamCounts) {
        for (mine, theirs) in self.requests.iter_mut().zip(&other.requests) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for (a, b) in self.failures.iter_mut().zip(&other.failures) {
            *a += b;
        }
        self.retries += other.retries;
        for (mine, theirs) in self.latency_us.iter_mut().zip(&other.latency_us) {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(|| Distribution::new(LATENCY_US_MAX)).merge(theirs);
            }
        }
    }
}

/// Warnings at most this often per core; the ones in between are counted and reported with
/// the next.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// One core's upstream counters and warning limiter (inside its `Upstream`).
pub(crate) struct UpstreamStats {
    counts: RefCell<UpstreamCounts>,
    last_warning: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl UpstreamStats {
    pub(crate) fn new() -> UpstreamStats {
        UpstreamStats {
            counts: RefCell::new(UpstreamCounts::new()),
            last_warning: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    pub(crate) fn counts(&self) -> UpstreamCounts {
        self.counts.borrow().clone()
    }

    pub(crate) fn failed_attempt(&self, kind: FailureKind) {
        self.counts.borrow_mut().failures[kind as usize] += 1;
    }

    pub(crate) fn retried(&self) {
        self.counts.borrow_mut().retries += 1;
    }

    pub(crate) fn finished(&self, operation: Operation, outcome: Outcome, started: Instant) {
        let mut counts = self.counts.borrow_mut();
        counts.requests[operation as usize][outcome as usize] += 1;
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        counts.latency_us[operation as usize]
            .get_or_insert_with(|| Distribution::new(LATENCY_US_MAX))
            .record(elapsed_us);
    }

    /// Logs `message` as a warning unless one was logged less than `WARN_INTERVAL` ago.
    pub(crate) fn warn(&self, message: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self.last_warning.get().is_some_and(|last| now.duration_since(last) < WARN_INTERVAL) {
            self.suppressed.set(self.suppressed.get() + 1);
            return;
        }
        self.last_warning.set(Some(now));
        match self.suppressed.replace(0) {
            0 => log::warn!("{message}"),
            skipped => log::warn!("{message} ({skipped} more upstream failures since the last warning)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_operation() {
        /// (method, bucket, key, query names, copy source, operation)
        type Row = (&'static str, bool, bool, &'static [&'static str], bool, Operation);
        let table: &[Row] = &[
            ("GET", false, false, &[], false, Operation::ListBuckets),
            ("PUT", true, false, &[], false, Operation::CreateBucket),
            ("DELETE", true, false, &[], false, Operation::DeleteBucket),
            ("HEAD", true, false, &[], false, Operation::HeadBucket),
            ("GET", true, false, &["list-type", "prefix"], false, Operation::ListObjects),
            ("POST", true, false, &["delete"], false, Operation::DeleteObjects),
            ("HEAD", true, true, &[], false, Operation::HeadObject),
            ("GET", true, true, &[], false, Operation::GetObject),
            ("GET", true, true, &["tagging"], false, Operation::GetObjectTagging),
            ("PUT", true, true, &["tagging"], false, Operation::PutObjectTagging),
            ("PUT", true, true, &["partNumber", "uploadId"], false, Operation::UploadPart),
            ("PUT", true, true, &["partNumber", "uploadId"], true, Operation::UploadPart),
            ("PUT", true, true, &[], true, Operation::CopyObject),
            ("PUT", true, true, &[], false, Operation::PutObject),
            ("POST", true, true, &["uploads"], false, Operation::CreateMultipartUpload),
            ("POST", true, true, &["uploadId"], false, Operation::CompleteMultipartUpload),
            ("DELETE", true, true, &["uploadId"], false, Operation::AbortMultipartUpload),
            ("DELETE", true, true, &[], false, Operation::DeleteObject),
            ("PATCH", true, true, &[], false, Operation::Other),
        ];
        for (method, bucket, key, query, copy, operation) in table {
            let has = |name: &str| query.contains(&name);
            assert_eq!(Operation::classify(method, *bucket, *key, has, *copy), *operation, "{method} {query:?}");
        }
    }

    #[test]
    fn failures_are_classified_by_kind() {
        let transport = |stage, kind| FailureKind::of_transport(&TransportError::new(stage, kind, "test"));
        assert_eq!(transport(Stage::Connect, io::ErrorKind::ConnectionRefused), FailureKind::Connect);
        assert_eq!(transport(Stage::Connect, io::ErrorKind::TimedOut), FailureKind::Timeout);
        assert_eq!(transport(Stage::Head, io::ErrorKind::TimedOut), FailureKind::Timeout);
        assert_eq!(transport(Stage::Body, io::ErrorKind::UnexpectedEof), FailureKind::Reset);
        assert_eq!(transport(Stage::Tls, io::ErrorKind::InvalidData), FailureKind::Tls);
        assert_eq!(FailureKind::of_status(503, "ServiceUnavailable"), Some(FailureKind::Throttled));
        assert_eq!(FailureKind::of_status(400, "SlowDown"), Some(FailureKind::Throttled));
        assert_eq!(FailureKind::of_status(500, "InternalError"), Some(FailureKind::ServerError));
        assert_eq!(FailureKind::of_status(403, "AccessDenied"), Some(FailureKind::Denied));
        assert_eq!(FailureKind::of_status(404, "NoSuchKey"), None, "an answer, not a failure");
        assert_eq!(FailureKind::of_status(412, "PreconditionFailed"), None);
    }

    #[test]
    fn counts_merge_and_record_latency() {
        let stats = UpstreamStats::new();
        stats.finished(Operation::GetObject, Outcome::Ok, Instant::now());
        stats.finished(Operation::GetObject, Outcome::Unavailable, Instant::now());
        stats.failed_attempt(FailureKind::Connect);
        stats.retried();
        let mut merged = UpstreamCounts::new();
        merged.merge(&stats.counts());
        merged.merge(&stats.counts());
        assert_eq!(merged.requests[Operation::GetObject as usize][Outcome::Ok as usize], 2);
        assert_eq!(merged.requests[Operation::GetObject as usize][Outcome::Unavailable as usize], 2);
        assert_eq!(merged.failures[FailureKind::Connect as usize], 2);
        assert_eq!(merged.retries, 2);
        assert_eq!(merged.latency_us[Operation::GetObject as usize].as_ref().map(Distribution::count), Some(4));
        assert!(merged.latency_us[Operation::PutObject as usize].is_none());
    }

    #[test]
    fn outcomes_follow_the_answer() {
        assert_eq!(Outcome::of(&Ok(200)), Outcome::Ok);
        assert_eq!(Outcome::of(&Ok(304)), Outcome::Ok);
        let response = |status| {
            UpstreamError::Response(super::super::ErrorResponse {
                status,
                code: String::new(),
                message: String::new(),
                request_id: None,
                body: Vec::new(),
                attempts: 1,
            })
        };
        assert_eq!(Outcome::of(&Err(&response(404))), Outcome::ClientError);
        assert_eq!(Outcome::of(&Err(&response(503))), Outcome::ServerError);
        let down = UpstreamError::Unavailable {
            attempts: 4,
            cause: TransportError::new(Stage::Connect, io::ErrorKind::ConnectionRefused, "test"),
        };
        assert_eq!(Outcome::of(&Err(&down)), Outcome::Unavailable);
        assert_eq!(Outcome::of(&Err(&UpstreamError::Protocol("x".into()))), Outcome::Failed);
    }
}

//! What one core counts about the requests it serves: plain integers and distributions this
//! core alone writes (no atomics, no locks), copied out by value when the admin listener asks
//! (`control`), merged with the other cores' copies and rendered at scrape time (`admin`).
//!
//! Per request the connection loop pays a handful of non-atomic increments and two
//! distribution records (duration and time to first byte); nothing is allocated, formatted or
//! sent. With the admin listener off (`--admin-listen ''`) and no access log, not even that:
//! no clock is read.

use std::cell::{Cell, RefCell};

use crate::error::S3ErrorCode;
use crate::metrics::{Distribution, LATENCY_US_MAX};
use crate::s3::action_kind::ActionKind;

/// Lowest HTTP status counted; statuses `STATUS_MIN..STATUS_MIN + STATUS_SLOTS` each have a
/// counter (every status the server sends is in 100..=599).
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

macro_rules! auth_refusals {
    ($($reason:ident => $label:literal,)*) => {
        /// Why authentication refused a request (the `reason` label).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum AuthRefusal { $($reason,)* }

        impl AuthRefusal {
            pub(crate) const ALL: &'static [AuthRefusal] = &[$(AuthRefusal::$reason,)*];
            pub(crate) const COUNT: usize = Self::ALL.len();

            pub(crate) fn label(self) -> &'static str {
                match self { $(AuthRefusal::$reason => $label,)* }
            }
        }
    };
}

auth_refusals! {
    Unsigned => "unsigned",
    UnknownAccessKey => "unknown_access_key",
    SignatureMismatch => "signature_mismatch",
    ClockSkew => "clock_skew",
    Expired => "expired",
    Malformed => "malformed",
    PayloadHashMismatch => "payload_hash_mismatch",
    ChunkSignatureMismatch => "chunk_signature_mismatch",
}

impl AuthRefusal {
    /// The reason behind an error `authenticate` returned.
    pub(crate) fn of_signature_error(error: &crate::error::S3Error) -> AuthRefusal {
        match error.code {
            S3ErrorCode::InvalidAccessKeyId => AuthRefusal::UnknownAccessKey,
            S3ErrorCode::SignatureDoesNotMatch => AuthRefusal::SignatureMismatch,
            S3ErrorCode::RequestTimeTooSkewed => AuthRefusal::ClockSkew,
            S3ErrorCode::XAmzContentSHA256Mismatch => AuthRefusal::PayloadHashMismatch,
            S3ErrorCode::AccessDenied if error.message.contains("expired") => AuthRefusal::Expired,
            S3ErrorCode::AccessDenied if error.message == S3ErrorCode::AccessDenied.default_message() => {
                AuthRefusal::Unsigned
            }
            _ => AuthRefusal::Malformed,
        }
    }

    /// The reason behind a body check failure (aws-chunked signatures, payload hash).
    pub(crate) fn of_body_check(failure: crate::http::body::CheckFailure) -> AuthRefusal {
        match failure {
            crate::http::body::CheckFailure::ChunkSignature => AuthRefusal::ChunkSignatureMismatch,
            crate::http::body::CheckFailure::PayloadDigest => AuthRefusal::PayloadHashMismatch,
        }
    }
}

/// One finished request, as the connection loop saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) kind: ActionKind,
    pub(crate) status: u16,
    /// The S3 error code of a 4xx/5xx answer.
    pub(crate) error: Option<S3ErrorCode>,
    pub(crate) auth_refusal: Option<AuthRefusal>,
    pub(crate) duration_us: u64,
    pub(crate) ttfb_us: u64,
}

/// The request counters of one core. `Clone` is the snapshot.
#[derive(Clone)]
pub(crate) struct RequestCounts {
    /// `[action][status - STATUS_MIN]`.
    pub(crate) by_status: Box<[[u64; STATUS_SLOTS]]>,
    /// `[action][error code]`.
    pub(crate) errors: Box<[[u64; S3ErrorCode::COUNT]]>,
    /// Per action, created at its first request on this core (one allocation per action, not
    /// per request).
    pub(crate) duration_us: Vec<Option<Distribution>>,
    pub(crate) ttfb_us: Vec<Option<Distribution>>,
    pub(crate) auth_refusals: [u64; AuthRefusal::COUNT],
    pub(crate) received_bytes: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) connections_accepted: u64,
    /// Connections closed at once because the core held its maximum.
    pub(crate) connections_refused: u64,
}

impl RequestCounts {
    pub(crate) fn new() -> RequestCounts {
        RequestCounts {
            by_status: vec![[0; STATUS_SLOTS]; ActionKind::COUNT].into_boxed_slice(),
            errors: vec![[0; S3ErrorCode::COUNT]; ActionKind::COUNT].into_boxed_slice(),
            duration_us: vec![None; ActionKind::COUNT],
            ttfb_us: vec![None; ActionKind::COUNT],
            auth_refusals: [0; AuthRefusal::COUNT],
            received_bytes: 0,
            sent_bytes: 0,
            connections_accepted: 0,
            connections_refused: 0,
        }
    }

    #[inline]
    fn record(&mut self, outcome: &Outcome) {
        let action = outcome.kind.index();
        let slot = usize::from(outcome.status.saturating_sub(STATUS_MIN)).min(STATUS_SLOTS - 1);
        self.by_status[action][slot] += 1;
        if let Some(code) = outcome.error {
            self.errors[action][code.index()] += 1;
        }
        if let Some(reason) = outcome.auth_refusal {
            self.auth_refusals[reason as usize] += 1;
        }
        self.duration_us[action].get_or_insert_with(latency_distribution).record(outcome.duration_us);
        self.ttfb_us[action].get_or_insert_with(latency_distribution).record(outcome.ttfb_us);
    }

    /// Adds another core's counts to these.
    pub(crate) fn merge(&mut self, other: &RequestCounts) {
        for (mine, theirs) in self.by_status.iter_mut().zip(other.by_status.iter()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors.iter()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        merge_distributions(&mut self.duration_us, &other.duration_us);
        merge_distributions(&mut self.ttfb_us, &other.ttfb_us);
        for (a, b) in self.auth_refusals.iter_mut().zip(other.auth_refusals.iter()) {
            *a += b;
        }
        self.received_bytes += other.received_bytes;
        self.sent_bytes += other.sent_bytes;
        self.connections_accepted += other.connections_accepted;
        self.connections_refused += other.connections_refused;
    }

    /// Requests of every action and status.
    pub(crate) fn total(&self) -> u64 {
        self.by_status.iter().flat_map(|statuses| statuses.iter()).sum()
    }

    /// `(status, count)` of `action`'s requests, for the statuses seen.
    pub(crate) fn statuses(&self, action: ActionKind) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.by_status[action.index()]
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(slot, count)| (STATUS_MIN + slot as u16, *count))
    }

    /// The durations of every action together.
    pub(crate) fn all_durations(&self) -> Distribution {
        let mut all = latency_distribution();
        for distribution in self.duration_us.iter().flatten() {
            all.merge(distribution);
        }
        all
    }
}

fn latency_distribution() -> Distribution {
    Distribution::new(LATENCY_US_MAX)
}

fn merge_distributions(mine: &mut [Option<Distribution>], theirs: &[Option<Distribution>]) {
    for (mine, theirs) in mine.iter_mut().zip(theirs) {
        if let Some(theirs) = theirs {
            mine.get_or_insert_with(latency_distribution).merge(theirs);
        }
    }
}

/// Everything a core counts, owned by that core.
pub(crate) struct CoreStats {
    /// Whether requests are recorded (an admin listener exists to read them).
    pub(crate) enabled: bool,
    counts: RefCell<RequestCounts>,
    in_flight: Cell<u64>,
    open_connections: Cell<u64>,
}

impl CoreStats {
    pub(crate) fn new(enabled: bool) -> CoreStats {
        CoreStats {
            enabled,
            counts: RefCell::new(RequestCounts::new()),
            in_flight: Cell::new(0),
            open_connections: Cell::new(0),
        }
    }

    /// A request head arrived.
    pub(crate) fn request_started(&self) {
        self.in_flight.set(self.in_flight.get() + 1);
    }

    /// The request was answered (or abandoned); `outcome` is `None` when not recording.
    pub(crate) fn request_finished(&self, outcome: Option<&Outcome>) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        if let Some(outcome) = outcome {
            self.counts.borrow_mut().record(outcome);
        }
    }

    /// Socket bytes a connection moved since it last reported.
    pub(crate) fn add_bytes(&self, received: u64, sent: u64) {
        let mut counts = self.counts.borrow_mut();
        counts.received_bytes += received;
        counts.sent_bytes += sent;
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.set(self.open_connections.get() + 1);
        self.counts.borrow_mut().connections_accepted += 1;
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.set(self.open_connections.get().saturating_sub(1));
    }

    pub(crate) fn connection_refused(&self) {
        self.counts.borrow_mut().connections_refused += 1;
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.get()
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.get()
    }

    /// A copy of the counters (the scrape's snapshot of this core).
    pub(crate) fn counts(&self) -> RequestCounts {
        self.counts.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: ActionKind, status: u16, error: Option<S3ErrorCode>) -> Outcome {
        Outcome { kind, status, error, auth_refusal: None, duration_us: 100, ttfb_us: 40 }
    }

    #[test]
    fn records_and_merges_per_action_and_status() {
        let stats = CoreStats::new(true);
        stats.request_started();
        assert_eq!(stats.in_flight(), 1);
        stats.request_finished(Some(&outcome(ActionKind::GetObject, 200, None)));
        stats.request_finished(Some(&outcome(ActionKind::GetObject, 404, Some(S3ErrorCode::NoSuchKey))));
        assert_eq!(stats.in_flight(), 0);
        let mut merged = RequestCounts::new();
        merged.merge(&stats.counts());
        merged.merge(&stats.counts());
        assert_eq!(merged.statuses(ActionKind::GetObject).collect::<Vec<_>>(), [(200, 2), (404, 2)]);
        assert_eq!(merged.errors[ActionKind::GetObject.index()][S3ErrorCode::NoSuchKey.index()], 2);
        assert_eq!(merged.duration_us[ActionKind::GetObject.index()].as_ref().map(Distribution::count), Some(4));
        assert_eq!(merged.ttfb_us[ActionKind::GetObject.index()].as_ref().map(Distribution::sum), Some(160));
        assert!(merged.duration_us[ActionKind::PutObject.index()].is_none(), "nothing allocated for unseen actions");
        assert_eq!(merged.total(), 4);
    }

    #[test]
    fn signature_errors_map_to_reasons() {
        let reason = |error: crate::error::S3Error| AuthRefusal::of_signature_error(&error);
        assert_eq!(reason(crate::s3_error!(AccessDenied)), AuthRefusal::Unsigned);
        assert_eq!(reason(crate::s3_error!(InvalidAccessKeyId)), AuthRefusal::UnknownAccessKey);
        assert_eq!(reason(crate::s3_error!(SignatureDoesNotMatch)), AuthRefusal::SignatureMismatch);
        assert_eq!(reason(crate::s3_error!(RequestTimeTooSkewed)), AuthRefusal::ClockSkew);
        assert_eq!(reason(crate::s3_error!(AuthorizationHeaderMalformed)), AuthRefusal::Malformed);
        assert_eq!(reason(crate::s3_error!(AccessDenied, "Request has expired")), AuthRefusal::Expired);
    }
}

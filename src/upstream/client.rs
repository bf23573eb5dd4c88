//! `Upstream`, one core's client of the upstream store, and the exchange under every S3
//! operation: prepare the request once (path, query, headers, validated), then per attempt
//! take a pooled connection or open one, sign with the current time, write the head (and a
//! small body with it), stream the rest of the body, read the response head, and either hand
//! the response out or decide on a retry (`retry`).
//!
//! A streamed body (one the client cannot hash in advance) is sent after `100 Continue` (or
//! after a short wait for it, `UPSTREAM_CONTINUE_WAIT_MS`, since stores may ignore `Expect`):
//! a reused connection that the upstream closed while idle then fails before the body source
//! gave a byte, so even a one-shot source can be retried on a fresh connection, and a request
//! the upstream refuses at once (credentials, missing bucket) never transfers its body.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;

use super::body::BodySource;
use super::documents;
use super::error::{ErrorResponse, Stage, TransportError, UpstreamError};
use super::response::{framing, parse_head, ResponseBody, ResponseHead};
use super::retry::{self, Failure, Jitter};
use super::settings::{Addressing, UpstreamSettings};
use super::signer::{Signer, Unsigned};
use super::stats::{FailureKind, Operation, Outcome, UpstreamCounts, UpstreamStats};
use super::transport::{connect, Connection, Pool, Resolver, Target};
use crate::dates::{amz_date, now_ms};
use crate::encoding::percent_encode;
use crate::limits::{
    UPSTREAM_BODY_PIECE_BYTES, UPSTREAM_CONTINUE_WAIT_MS, UPSTREAM_DOCUMENT_BYTES_MAX, UPSTREAM_ERROR_BODY_BYTES_MAX,
    UPSTREAM_RESPONSE_HEAD_BYTES_MAX,
};
use crate::sigv4::{EMPTY_SHA256, UNSIGNED_PAYLOAD};

/// Sent as `User-Agent`, so an upstream's logs show who asked.
const USER_AGENT: &str = concat!("s3core/", env!("CARGO_PKG_VERSION"));

/// One request as an operation describes it.
pub(crate) struct Call<'a> {
    pub(crate) method: &'static str,
    pub(crate) bucket: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    /// Decoded query pairs (`None`: a bare name such as `uploads`).
    pub(crate) query: Vec<(String, Option<String>)>,
    /// Extra headers (names any case; values are checked for control characters).
    pub(crate) headers: Vec<(String, String)>,
    /// Whether sending the request twice is harmless (see `retry`).
    pub(crate) idempotent: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: &'static str, bucket: Option<&'a str>, key: Option<&'a str>) -> Call<'a> {
        Call { method, bucket, key, query: Vec::new(), headers: Vec::new(), idempotent: method != "POST" }
    }

    pub(crate) fn query(mut self, name: &str, value: Option<&str>) -> Self {
        self.query.push((name.to_string(), value.map(str::to_string)));
        self
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// A request ready for its attempts.
struct Prepared {
    method: &'static str,
    target: Target,
    /// The decoded path (prefix, bucket, key), which SigV4 signs.
    path: Vec<u8>,
    query: Vec<(String, Option<String>)>,
    /// The request target as sent: the canonical (encoded) path and query.
    request_target: String,
    /// Lower-case names; `host` first.
    headers: Vec<(String, String)>,
    idempotent: bool,
}

/// What an operation wants from a successful answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// The head, with the body left on the wire.
    Stream,
    /// The whole body, read and checked for an `<Error>` document (which S3 may send with a
    /// 200 to CompleteMultipartUpload and CopyObject).
    Document,
}

/// A successful answer.
pub(crate) enum Answer {
    Stream(ResponseHead, ResponseBody),
    Document(Document),
}

/// A whole answer of the upstream, to relay or to parse: listings, DeleteObjects results,
/// tag sets.
#[derive(Debug, Clone)]
pub struct Document {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One attempt's failure.
enum AttemptError {
    Transport {
        error: TransportError,
        reused: bool,
        response_started: bool,
    },
    /// Not retried: the request itself or the upstream's answer is wrong.
    Fatal(UpstreamError),
}

/// A response head read, with the connection it came on.
struct Received {
    head: ResponseHead,
    connection: Connection,
    /// The whole request went out (otherwise the connection cannot be reused).
    request_complete: bool,
}

/// One core's client of the upstream store. `!Send`: each core builds its own from the
/// shared settings, and its connections never leave the core.
pub struct Upstream {
    settings: Arc<UpstreamSettings>,
    pool: Rc<Pool>,
    resolver: Resolver,
    signer: Signer,
    jitter: Jitter,
    /// Set once the upstream answered 417 to `Expect`, or answered a request whose
    /// `100 Continue` never came: it ignores `Expect`, and streamed bodies are then sent at
    /// once. (A wait that merely timed out, a stalled upstream, sets nothing.)
    expect_ignored: Cell<bool>,
    /// Connections opened so far (the pool's effectiveness, for tests and logs).
    connections_opened: Cell<u64>,
    /// This core's counters (for /metrics) and its warning limiter.
    stats: UpstreamStats,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("settings", &self.settings).finish()
    }
}

impl Upstream {
    pub fn new(settings: Arc<UpstreamSettings>) -> Upstream {
        let pool = Rc::new(Pool::new(settings.idle_connections_max, Duration::from_millis(settings.timeouts.idle_ms)));
        let signer = Signer::new(settings.credentials.clone(), &settings.region, &settings.service);
        Upstream {
            settings,
            pool,
            resolver: Resolver::default(),
            signer,
            jitter: Jitter::new(),
            expect_ignored: Cell::new(false),
            connections_opened: Cell::new(0),
            stats: UpstreamStats::new(),
        }
    }

    /// A copy of this core's upstream counters.
    pub(crate) fn counts(&self) -> UpstreamCounts {
        self.stats.counts()
    }

    /// A response body that failed after its head (read by the caller, outside `execute`):
    /// counted and logged as the failures `execute` sees are.
    pub(crate) fn body_failed(&self, bucket: &str, key: &str, error: &UpstreamError) {
        if let Some(kind) = FailureKind::of_error(error) {
            self.stats.failed_attempt(kind);
            self.stats.warn(format_args!("upstream GetObject {bucket}/{key}: {error}"));
        }
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Idle keep-alive connections this core holds now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }

    /// Connections this core has opened to the upstream so far.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened.get()
    }

    /// Runs `call` with its retries; a success is handed out as `want` says, an error answer
    /// is read, parsed and returned as `UpstreamError::Response`. Counted by operation and
    /// outcome; a failure of the upstream is logged (rate-limited: see `stats`).
    pub(crate) async fn execute<B: BodySource>(
        &self,
        call: &Call<'_>,
        body: &mut B,
        want: Want,
    ) -> Result<Answer, UpstreamError> {
        let started = Instant::now();
        let has = |name: &str| call.query.iter().any(|(query, _)| query == name);
        let copy = call.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("x-amz-copy-source"));
        let operation = Operation::classify(call.method, call.bucket.is_some(), call.key.is_some(), has, copy);
        let result = self.execute_attempts(call, body, want).await;
        let status = match &result {
            Ok(Answer::Stream(head, _)) => Ok(head.status),
            Ok(Answer::Document(document)) => Ok(document.status),
            Err(error) => Err(error),
        };
        self.stats.finished(operation, Outcome::of(&status), started);
        if let Err(error) = &result {
            if matches!(error, UpstreamError::Protocol(_)) {
                // Never retried, so not counted per attempt in the loop.
                self.stats.failed_attempt(FailureKind::Protocol);
            }
            if FailureKind::of_error(error).is_some() {
                let (bucket, key) = (call.bucket.unwrap_or(""), call.key.unwrap_or(""));
                self.stats.warn(format_args!("upstream {} {bucket}/{key}: {error}", operation.label()));
            }
        }
        result
    }

    async fn execute_attempts<B: BodySource>(
        &self,
        call: &Call<'_>,
        body: &mut B,
        want: Want,
    ) -> Result<Answer, UpstreamError> {
        let prepared = self.prepare(call)?;
        let started = Instant::now();
        let mut attempts = 0;
        let mut touched = false;
        loop {
            attempts += 1;
            let outcome = self.attempt(&prepared, body, &mut touched).await;
            let (error_response, transport) = match outcome {
                Err(AttemptError::Fatal(error)) => return Err(error),
                Err(AttemptError::Transport { error, reused, response_started }) => {
                    self.stats.failed_attempt(FailureKind::of_transport(&error));
                    let failure = Failure::Transport { error: &error, reused, response_started };
                    if self.may_retry(&failure, prepared.idempotent, attempts, started, body, &mut touched).await {
                        continue;
                    }
                    return Err(UpstreamError::Unavailable { attempts, cause: error });
                }
                Ok(received) => match self.finish(&prepared, received, want, attempts).await {
                    Ok(answer) => return Ok(answer),
                    Err(Finished::Error(response)) => (Some(response), None),
                    Err(Finished::Interrupted(error)) => (None, Some(error)),
                    Err(Finished::Fatal(error)) => return Err(error),
                },
            };
            if let Some(response) = error_response {
                if let Some(kind) = FailureKind::of_status(response.status, &response.code) {
                    self.stats.failed_attempt(kind);
                }
                let failure = Failure::Status { status: response.status, code: &response.code };
                if self.may_retry(&failure, prepared.idempotent, attempts, started, body, &mut touched).await {
                    log::debug!("upstream {} {}: {response}; retrying", prepared.method, prepared.request_target);
                    continue;
                }
                return Err(UpstreamError::Response(response));
            }
            if let Some(error) = transport {
                self.stats.failed_attempt(FailureKind::of_transport(&error));
                let failure = Failure::Transport { error: &error, reused: false, response_started: true };
                if self.may_retry(&failure, prepared.idempotent, attempts, started, body, &mut touched).await {
                    continue;
                }
                return Err(UpstreamError::Unavailable { attempts, cause: error });
            }
        }
    }

    /// Whether to try again; sleeps the backoff when so.
    async fn may_retry<B: BodySource>(
        &self,
        failure: &Failure<'_>,
        idempotent: bool,
        attempts: u32,
        started: Instant,
        body: &mut B,
        touched: &mut bool,
    ) -> bool {
        if !retry::is_retryable(failure, idempotent) {
            return false;
        }
        let Some(delay) = retry::next_delay(&self.settings.retry, attempts, started.elapsed(), self.jitter.next())
        else {
            return false;
        };
        if *touched && !body.rewind() {
            return false;
        }
        *touched = false;
        self.stats.retried();
        log::debug!("upstream attempt {attempts} failed ({failure:?}); retrying in {delay:?}");
        monoio::time::sleep(delay).await;
        true
    }

    /// Turns a received head into the answer, or into an error answer read whole.
    async fn finish(
        &self,
        prepared: &Prepared,
        received: Received,
        want: Want,
        attempts: u32,
    ) -> Result<Answer, Finished> {
        let Received { head, connection, request_complete } = received;
        let framing = framing(&head, prepared.method == "HEAD")
            .map_err(|detail| Finished::Fatal(UpstreamError::Protocol(detail)))?;
        let stall = Duration::from_millis(self.settings.timeouts.stall_ms);
        let reusable = head.keep_alive && request_complete;
        let mut body = ResponseBody::new(connection, framing, reusable, self.pool.clone(), stall);
        if !head.is_success() {
            // A body too long or cut off still leaves the status: answer with what arrived.
            let document = body.read_to_end(UPSTREAM_ERROR_BODY_BYTES_MAX).await.unwrap_or_default();
            return Err(Finished::Error(documents::error_response(&head, document, attempts)));
        }
        match want {
            Want::Stream => Ok(Answer::Stream(head, body)),
            Want::Document => {
                let document = match body.read_to_end(UPSTREAM_DOCUMENT_BYTES_MAX).await {
                    Ok(document) => document,
                    Err(UpstreamError::Interrupted { cause, .. }) => return Err(Finished::Interrupted(cause)),
                    Err(error) => return Err(Finished::Fatal(error)),
                };
                if documents::is_error_document(&document) {
                    return Err(Finished::Error(documents::error_response(&head, document, attempts)));
                }
                Ok(Answer::Document(Document { status: head.status, headers: head.headers, body: document }))
            }
        }
    }

    fn target_for(&self, bucket: Option<&str>) -> Target {
        let endpoint = &self.settings.endpoint;
        let host = match (self.settings.addressing, bucket) {
            (Addressing::VirtualHosted, Some(bucket)) => format!("{bucket}.{}", endpoint.host),
            _ => endpoint.host.clone(),
        };
        Target { host: host.into(), port: endpoint.port }
    }

    fn prepare(&self, call: &Call<'_>) -> Result<Prepared, UpstreamError> {
        let endpoint = &self.settings.endpoint;
        let virtual_hosted = self.settings.addressing == Addressing::VirtualHosted && call.bucket.is_some();
        let mut path = endpoint.path_prefix.clone().into_bytes();
        if let Some(bucket) = call.bucket {
            if bucket.is_empty() || bucket.contains('/') {
                return Err(UpstreamError::InvalidRequest(format!("bucket name {bucket:?}")));
            }
            if !virtual_hosted {
                path.push(b'/');
                path.extend_from_slice(bucket.as_bytes());
            }
        }
        match call.key {
            Some("") => return Err(UpstreamError::InvalidRequest("empty object key".into())),
            Some(key) => {
                path.push(b'/');
                path.extend_from_slice(key.as_bytes());
            }
            None if path.is_empty() || virtual_hosted => path.push(b'/'),
            None => {}
        }
        let mut request_target = percent_encode(&path, true);
        let mut query = call.query.clone();
        query.sort();
        for (index, (name, value)) in query.iter().enumerate() {
            request_target.push(if index == 0 { '?' } else { '&' });
            request_target.push_str(&percent_encode(name.as_bytes(), false));
            if let Some(value) = value {
                request_target.push('=');
                request_target.push_str(&percent_encode(value.as_bytes(), false));
            }
        }
        let host = match (virtual_hosted, call.bucket) {
            (true, Some(bucket)) => format!("{bucket}.{}", endpoint.authority),
            _ => endpoint.authority.clone(),
        };
        let mut headers = vec![("host".to_string(), host)];
        for (name, value) in &call.headers {
            let name = name.to_ascii_lowercase();
            let valid_name = !name.is_empty() && http::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
            // Visible ASCII and UTF-8 (obs-text) pass; control characters (CR, LF) do not.
            let valid_value = http::header::HeaderValue::from_bytes(value.trim().as_bytes()).is_ok();
            if !valid_name || !valid_value || matches!(name.as_str(), "host" | "content-length" | "authorization") {
                return Err(UpstreamError::InvalidRequest(format!("header {name:?} cannot be sent as given")));
            }
            headers.push((name, value.trim().to_string()));
        }
        Ok(Prepared {
            method: call.method,
            target: self.target_for(call.bucket),
            path,
            query,
            request_target,
            headers,
            idempotent: call.idempotent,
        })
    }

    /// The request head, signed now.
    fn head_bytes(&self, prepared: &Prepared, length: u64, payload_hash: &str, expect: bool) -> Vec<u8> {
        let timestamp = amz_date(now_ms());
        let mut headers = prepared.headers.clone();
        headers.push(("x-amz-date".to_string(), timestamp.clone()));
        headers.push(("x-amz-content-sha256".to_string(), payload_hash.to_string()));
        let unsigned = Unsigned {
            method: prepared.method,
            path: &prepared.path,
            query: &prepared.query,
            headers: &headers,
            payload_hash,
        };
        let authorization = self.signer.authorization(&unsigned, &timestamp);
        let mut head = String::with_capacity(1024);
        let _ = write!(head, "{} {} HTTP/1.1\r\n", prepared.method, prepared.request_target);
        for (name, value) in &headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if length > 0 || matches!(prepared.method, "PUT" | "POST") {
            let _ = write!(head, "content-length: {length}\r\n");
        }
        if expect {
            head.push_str("expect: 100-continue\r\n");
        }
        let _ = write!(head, "user-agent: {USER_AGENT}\r\n");
        if let Some(authorization) = authorization {
            let _ = write!(head, "authorization: {authorization}\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    async fn attempt<B: BodySource>(
        &self,
        prepared: &Prepared,
        body: &mut B,
        touched: &mut bool,
    ) -> Result<Received, AttemptError> {
        let timeouts = self.settings.timeouts;
        let (mut connection, reused) = match self.pool.take(&prepared.target) {
            Some(connection) => (connection, true),
            None => {
                let connect_timeout = Duration::from_millis(timeouts.connect_ms);
                let tls = self.settings.tls.as_ref();
                let connection = connect(&prepared.target, tls, &self.resolver, connect_timeout)
                    .await
                    .map_err(|error| AttemptError::Transport { error, reused: false, response_started: false })?;
                self.connections_opened.set(self.connections_opened.get() + 1);
                (connection, false)
            }
        };
        let transport = |error: TransportError, connection: &Connection| AttemptError::Transport {
            error,
            reused,
            response_started: !connection.unread().is_empty(),
        };
        let length = body.length();
        let streamed = body.sha256_hex().is_none() && length > 0;
        let payload_hash = match body.sha256_hex() {
            Some(hash) => hash.to_string(),
            None if length == 0 => EMPTY_SHA256.to_string(),
            None => UNSIGNED_PAYLOAD.to_string(),
        };
        let expect = streamed && !self.expect_ignored.get();
        let head = self.head_bytes(prepared, length, &payload_hash, expect);
        let stall = Duration::from_millis(timeouts.stall_ms);
        let head_timeout = Duration::from_millis(timeouts.head_ms);
        let mut sender = BodySender { length, sent: 0 };
        let mut buffer = head;
        if !expect && length > 0 {
            // The head and the first piece of the body in one write.
            let first = (length as usize).min(UPSTREAM_BODY_PIECE_BYTES);
            buffer.reserve_exact(first);
            buffer = sender.fill(body, buffer, first, touched).await?;
        }
        let buffer = match connection.write_all(buffer, stall).await {
            Ok(buffer) => buffer,
            Err(error) => return Err(transport(TransportError::io(Stage::Send, &error), &connection)),
        };
        // Set when no answer to `Expect` came in time: the upstream ignores it, or is slow.
        let mut continue_unanswered = false;
        if expect {
            // RFC 9110 (10.1.1): a client need not wait long for 100 Continue. The wait is
            // short, and its end sends the body anyway: only a final answer without a 100
            // shows that the upstream ignores `Expect` (a stalled one must not turn it off).
            let continue_wait = head_timeout.min(Duration::from_millis(UPSTREAM_CONTINUE_WAIT_MS));
            match read_head(&mut connection, continue_wait, true).await {
                Ok(head) if head.status == 100 => {}
                Ok(head) if head.status == 417 => {
                    // Expectation Failed: the upstream wants the body at once. The source gave
                    // nothing yet, so the next attempt sends it without asking.
                    self.expect_ignored.set(true);
                    let error =
                        TransportError::new(Stage::Send, io::ErrorKind::Unsupported, "417 to Expect: 100-continue");
                    return Err(transport(error, &connection));
                }
                Ok(head) => {
                    // Refused before the body: the connection cannot carry another request.
                    return Ok(Received { head, connection, request_complete: false });
                }
                Err(HeadError::Transport(error)) if error.kind == io::ErrorKind::TimedOut => {
                    continue_unanswered = true;
                }
                Err(HeadError::Transport(error)) => return Err(transport(error, &connection)),
                Err(HeadError::Protocol(detail)) => return Err(AttemptError::Fatal(UpstreamError::Protocol(detail))),
            }
        }
        if let Err(failure) = sender.stream(body, &mut connection, buffer, touched, stall).await {
            return match failure {
                SendFailure::Fatal(error) => Err(AttemptError::Fatal(error)),
                SendFailure::Write(error) => {
                    // The upstream may have answered (and closed) before taking the whole body.
                    match read_head(&mut connection, stall.min(head_timeout), false).await {
                        Ok(head) => Ok(Received { head, connection, request_complete: false }),
                        Err(_) => Err(transport(error, &connection)),
                    }
                }
            };
        }
        let final_head = if continue_unanswered {
            self.read_head_after_unanswered_expect(&mut connection, head_timeout).await
        } else {
            read_head(&mut connection, head_timeout, false).await
        };
        match final_head {
            Ok(head) => Ok(Received { head, connection, request_complete: true }),
            Err(HeadError::Transport(error)) => Err(transport(error, &connection)),
            Err(HeadError::Protocol(detail)) => Err(AttemptError::Fatal(UpstreamError::Protocol(detail))),
        }
    }
}

impl Upstream {
    /// The final answer to a request whose `Expect` went unanswered in time; when it came
    /// without any `100 Continue` first, the upstream ignores `Expect`, and streamed bodies are
    /// sent without asking from now on.
    async fn read_head_after_unanswered_expect(
        &self,
        connection: &mut Connection,
        timeout: Duration,
    ) -> Result<ResponseHead, HeadError> {
        let deadline = Instant::now() + timeout;
        let mut continued = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let head = read_head(connection, left, true).await?;
            if (100..200).contains(&head.status) && head.status != 101 {
                continued |= head.status == 100;
                continue;
            }
            if !continued && !self.expect_ignored.replace(true) {
                log::warn!(
                    "upstream {} answered without 100 Continue to Expect: 100-continue; sending bodies without waiting from now on",
                    self.settings.endpoint.url()
                );
            }
            return Ok(head);
        }
    }
}

enum Finished {
    Error(ErrorResponse),
    Interrupted(TransportError),
    Fatal(UpstreamError),
}

enum HeadError {
    Transport(TransportError),
    Protocol(String),
}

/// Reads the next response head within `timeout`, skipping interim (1xx) answers unless
/// `interim` asks for them.
async fn read_head(connection: &mut Connection, timeout: Duration, interim: bool) -> Result<ResponseHead, HeadError> {
    let deadline = Instant::now() + timeout;
    loop {
        match parse_head(connection.unread()).map_err(HeadError::Protocol)? {
            Some((head, consumed)) => {
                connection.consume(consumed);
                if (100..200).contains(&head.status) && head.status != 101 && !interim {
                    continue;
                }
                return Ok(head);
            }
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(HeadError::Transport(TransportError::timed_out(
                        Stage::Head,
                        timeout.as_millis() as u64,
                    )));
                }
                let read = connection.read_more(left, UPSTREAM_RESPONSE_HEAD_BYTES_MAX).await;
                match read {
                    Ok(0) => {
                        let detail = "the upstream closed the connection without answering";
                        return Err(HeadError::Transport(TransportError::new(
                            Stage::Head,
                            io::ErrorKind::UnexpectedEof,
                            detail,
                        )));
                    }
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                        let timed_out = TransportError::timed_out(Stage::Head, timeout.as_millis() as u64);
                        return Err(HeadError::Transport(timed_out));
                    }
                    Err(error) => return Err(HeadError::Transport(TransportError::io(Stage::Head, &error))),
                }
            }
        }
    }
}

enum SendFailure {
    Write(TransportError),
    Fatal(UpstreamError),
}

/// Counts a body out of its source, holding the source to its announced length.
struct BodySender {
    length: u64,
    sent: u64,
}

impl BodySender {
    /// Appends the next piece of at most `max_bytes` (which `buffer` has room for).
    async fn fill<B: BodySource>(
        &mut self,
        body: &mut B,
        buffer: Vec<u8>,
        max_bytes: usize,
        touched: &mut bool,
    ) -> Result<Vec<u8>, AttemptError> {
        debug_assert!(buffer.capacity() - buffer.len() >= max_bytes);
        let before = buffer.len();
        *touched = true;
        let (result, buffer) = body.fill(buffer, max_bytes).await;
        let count = result.map_err(|error| AttemptError::Fatal(UpstreamError::Source(error)))?;
        self.sent += count as u64;
        if count > max_bytes || buffer.len() != before + count {
            return Err(AttemptError::Fatal(UpstreamError::InvalidRequest(format!(
                "the body source gave {count} bytes where {max_bytes} were asked for"
            ))));
        }
        if count == 0 && self.sent < self.length {
            return Err(AttemptError::Fatal(UpstreamError::InvalidRequest(format!(
                "the body source ended after {} of {} bytes",
                self.sent, self.length
            ))));
        }
        Ok(buffer)
    }

    /// Sends the rest of the body, reusing `buffer` (which held what was already written).
    async fn stream<B: BodySource>(
        &mut self,
        body: &mut B,
        connection: &mut Connection,
        mut buffer: Vec<u8>,
        touched: &mut bool,
        stall: Duration,
    ) -> Result<(), SendFailure> {
        let piece_bytes = UPSTREAM_BODY_PIECE_BYTES.min((self.length - self.sent) as usize);
        if buffer.capacity() < piece_bytes {
            buffer = Vec::with_capacity(piece_bytes);
        }
        while self.sent < self.length {
            buffer.clear();
            let max_bytes = buffer.capacity().min((self.length - self.sent) as usize);
            let filled = match self.fill(body, buffer, max_bytes, touched).await {
                Ok(filled) => filled,
                Err(AttemptError::Fatal(error)) => return Err(SendFailure::Fatal(error)),
                Err(AttemptError::Transport { error, .. }) => return Err(SendFailure::Write(error)),
            };
            buffer = match connection.write_all(filled, stall).await {
                Ok(buffer) => buffer,
                Err(error) => return Err(SendFailure::Write(TransportError::io(Stage::Send, &error))),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::RequestHead;
    use crate::s3::auth::{authenticate, Credentials, SignedRequest};
    use crate::s3::uri::Query;
    use crate::upstream::settings::UpstreamCredentials;

    fn upstream(url: &str, addressing: Addressing) -> Upstream {
        let credentials = UpstreamCredentials::new("AKIDTEST", "secret/key+test").unwrap();
        let settings = UpstreamSettings::new(url, Some(credentials), "us-east-1", None).unwrap();
        Upstream::new(Arc::new(settings.with_addressing(addressing)))
    }

    #[test]
    fn requests_are_addressed_and_encoded_once() {
        let path_style = upstream("http://127.0.0.1:9000/api/v1/s3", Addressing::Path);
        let call = Call::new("GET", Some("lake"), Some("dt=1/a b+é.parquet"))
            .query("uploadId", Some("x/y"))
            .query("partNumber", Some("2"));
        let prepared = path_style.prepare(&call).unwrap();
        assert_eq!(
            prepared.request_target,
            "/api/v1/s3/lake/dt%3D1/a%20b%2B%C3%A9.parquet?partNumber=2&uploadId=x%2Fy"
        );
        assert_eq!(prepared.path, "/api/v1/s3/lake/dt=1/a b+é.parquet".as_bytes());
        assert_eq!(prepared.headers[0], ("host".to_string(), "127.0.0.1:9000".to_string()));
        assert_eq!(&*prepared.target.host, "127.0.0.1");
        let bare = path_style.prepare(&Call::new("POST", Some("lake"), Some("k")).query("uploads", None)).unwrap();
        assert_eq!(bare.request_target, "/api/v1/s3/lake/k?uploads", "a bare name is sent bare");
        assert!(!bare.idempotent, "POST is not idempotent unless said");
        let root = upstream("http://h:1", Addressing::Path);
        assert_eq!(root.prepare(&Call::new("GET", None, None)).unwrap().request_target, "/");
        assert_eq!(root.prepare(&Call::new("GET", Some("b"), None)).unwrap().request_target, "/b");

        let virtual_hosted = upstream("https://s3.example.com", Addressing::VirtualHosted);
        let prepared = virtual_hosted.prepare(&Call::new("GET", Some("lake"), Some("k"))).unwrap();
        assert_eq!(prepared.request_target, "/k");
        assert_eq!(prepared.headers[0].1, "lake.s3.example.com");
        assert_eq!((&*prepared.target.host, prepared.target.port), ("lake.s3.example.com", 443));
        let listing = virtual_hosted.prepare(&Call::new("GET", Some("lake"), None)).unwrap();
        assert_eq!(listing.request_target, "/");
        assert_eq!(virtual_hosted.prepare(&Call::new("GET", None, None)).unwrap().headers[0].1, "s3.example.com");
    }

    #[test]
    fn what_cannot_be_sent_is_refused_before_connecting() {
        let client = upstream("http://h:1", Addressing::Path);
        let refused = |call: Call<'_>| matches!(client.prepare(&call), Err(UpstreamError::InvalidRequest(_)));
        assert!(refused(Call::new("GET", Some("b"), Some(""))));
        assert!(refused(Call::new("GET", Some("a/b"), Some("k"))));
        assert!(refused(Call::new("PUT", Some("b"), Some("k")).header("x-amz-meta-a", "x\r\nInjected: 1")));
        assert!(refused(Call::new("PUT", Some("b"), Some("k")).header("bad name", "v")));
        assert!(refused(Call::new("PUT", Some("b"), Some("k")).header("Authorization", "AWS4 forged")));
        assert!(client.prepare(&Call::new("PUT", Some("b"), Some("k")).header("x-amz-meta-name", "José")).is_ok());
    }

    /// What the client writes is what the server's own verification (`s3::auth`) accepts:
    /// the head is parsed and checked exactly as a request from a client would be.
    #[test]
    fn signed_heads_pass_the_servers_verification() {
        let mut credentials = Credentials::default();
        credentials.insert("AKIDTEST", "secret/key+test");
        let cases: [(&str, Call<'_>, u64, Option<&str>); 4] = [
            (
                "http://127.0.0.1:9000",
                Call::new("GET", Some("lake"), Some("a b/é+x=1")).header("range", "bytes=0-9"),
                0,
                None,
            ),
            (
                "http://127.0.0.1:9000/api/v1/s3",
                Call::new("POST", Some("lake"), Some("k")).query("uploads", None).header("x-amz-meta-owner", "ana  b"),
                0,
                None,
            ),
            (
                "http://127.0.0.1:9000",
                Call::new("PUT", Some("lake"), Some("k"))
                    .query("partNumber", Some("3"))
                    .query("uploadId", Some("a/b=")),
                1 << 20,
                None,
            ),
            ("http://127.0.0.1:9000", Call::new("PUT", Some("lake"), Some("doc")), 5, Some(crate::sigv4::EMPTY_SHA256)),
        ];
        for (url, call, length, hash) in cases {
            let client = upstream(url, Addressing::Path);
            let prepared = client.prepare(&call).unwrap();
            let payload_hash = hash.unwrap_or(if length > 0 { UNSIGNED_PAYLOAD } else { EMPTY_SHA256 });
            let bytes = client.head_bytes(&prepared, length, payload_hash, length > 0);
            let mut head = RequestHead::default();
            assert_eq!(head.parse(&bytes).unwrap(), Some(bytes.len()));
            let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
            let query = Query::parse(query).unwrap();
            let decoded_path = crate::encoding::percent_decode(path, false).unwrap();
            let signed = SignedRequest {
                head: &head,
                raw_path: path,
                decoded_path: &decoded_path,
                prefix: "",
                virtual_bucket: None,
                query: query.pairs(),
            };
            assert!(authenticate(&credentials, &signed).is_ok(), "{}", String::from_utf8_lossy(&bytes));
            assert_eq!(head.header("content-length").is_some(), length > 0 || matches!(call.method, "PUT" | "POST"));
            assert_eq!(head.expects_continue(), length > 0);
            let mut wrong = Credentials::default();
            wrong.insert("AKIDTEST", "another secret");
            assert!(authenticate(&wrong, &signed).is_err(), "a wrong secret must not verify");
        }
    }
}

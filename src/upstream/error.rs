//! What can go wrong talking to an upstream store, typed so that the layer above can decide:
//! an S3 error answer of the upstream (status, code, message, the raw document), a store that
//! could not be reached or stopped answering (with how many attempts were made), a body cut
//! off after its head, a broken protocol, or a failure of the caller's own body source or sink.
//!
//! `crate::error` maps these to the S3 answers s3core gives its own clients. Nothing here ever
//! carries the upstream credentials: messages name hosts, stages and codes only.

use std::fmt;
use std::io;

/// Where in an exchange a transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Looking up the upstream's host name.
    Resolve,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake (certificate refused, protocol mismatch).
    Tls,
    /// Writing the request head or body.
    Send,
    /// Waiting for or reading the response head.
    Head,
    /// Reading the response body.
    Body,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolving the host",
            Stage::Connect => "connecting",
            Stage::Tls => "in the TLS handshake",
            Stage::Send => "sending the request",
            Stage::Head => "waiting for the response",
            Stage::Body => "reading the response body",
        }
    }
}

/// A failure of the connection itself: refused, reset, closed early, timed out, TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub stage: Stage,
    /// `TimedOut` for every timeout of the client, whatever the stage.
    pub kind: io::ErrorKind,
    /// The host and what happened, for logs and error messages.
    pub detail: String,
}

impl TransportError {
    pub(crate) fn new(stage: Stage, kind: io::ErrorKind, detail: impl Into<String>) -> Self {
        TransportError { stage, kind, detail: detail.into() }
    }

    pub(crate) fn io(stage: Stage, error: &io::Error) -> Self {
        TransportError::new(stage, error.kind(), error.to_string())
    }

    pub(crate) fn timed_out(stage: Stage, after_ms: u64) -> Self {
        TransportError::new(stage, io::ErrorKind::TimedOut, format!("no progress in {after_ms} ms"))
    }

    /// The connection ended (EOF or reset) before a response started: on a reused keep-alive
    /// connection this is the upstream closing it while idle, and the request was not served.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(
            self.kind,
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        )
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.stage.as_str(), kind_text(self.kind), self.detail)
    }
}

fn kind_text(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::TimedOut => "timed out",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => "reset",
        io::ErrorKind::UnexpectedEof => "closed early",
        io::ErrorKind::InvalidData => "failed",
        _ => "failed",
    }
}

/// An error answer of the upstream: its status, and the `<Error>` document when it sent one
/// (HEAD answers and some 5xx have none: the code is then derived from the status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    /// `<Code>` (e.g. `NoSuchKey`, `SlowDown`), or a name derived from the status.
    pub code: String,
    /// `<Message>`, or empty.
    pub message: String,
    /// `<RequestId>` or `x-amz-request-id`, to find the request in the upstream's logs.
    pub request_id: Option<String>,
    /// The document as received (bounded by `UPSTREAM_ERROR_BODY_BYTES_MAX`), to relay.
    pub body: Vec<u8>,
    /// Attempts made (more than 1 when the error was retryable and retried).
    pub attempts: u32,
}

impl ErrorResponse {
    /// The code an answer without a document stands for (as AWS SDKs name them).
    pub(crate) fn code_for_status(status: u16) -> &'static str {
        match status {
            304 => "NotModified",
            400 => "BadRequest",
            403 => "AccessDenied",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            411 => "MissingContentLength",
            412 => "PreconditionFailed",
            416 => "InvalidRange",
            429 => "SlowDown",
            500 => "InternalError",
            501 => "NotImplemented",
            503 => "ServiceUnavailable",
            _ => "UnknownError",
        }
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream answered {} {}", self.status, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// Every way an upstream call fails.
#[derive(Debug)]
pub enum UpstreamError {
    /// The upstream answered with an error status (after the retries its code allows).
    Response(ErrorResponse),
    /// The upstream could not be reached, or failed before answering, in each of `attempts`
    /// attempts (refused, reset, timed out, TLS refused); `cause` is the last failure.
    Unavailable { attempts: u32, cause: TransportError },
    /// A response body broke off after its head (upstream killed, reset, stalled): never
    /// retried, because part of the body was handed out already.
    Interrupted { received_bytes: u64, cause: TransportError },
    /// The upstream's answer broke HTTP or S3 rules (bad head, bad framing, a document that
    /// does not parse or lacks what the operation needs).
    Protocol(String),
    /// The request cannot be sent as asked (a header value with control characters, a body
    /// source that yields more or fewer bytes than its length).
    InvalidRequest(String),
    /// The caller's body source failed while the request streamed.
    Source(io::Error),
    /// The caller's sink refused the response body.
    Sink(io::Error),
}

impl UpstreamError {
    /// The upstream's status, for an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Response(response) => Some(response.status),
            _ => None,
        }
    }

    /// The upstream's error code, for an error answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            UpstreamError::Response(response) => Some(&response.code),
            _ => None,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Response(response) => response.fmt(f),
            UpstreamError::Unavailable { attempts, cause } => {
                write!(f, "upstream unavailable after {attempts} attempt(s): {cause}")
            }
            UpstreamError::Interrupted { received_bytes, cause } => {
                write!(f, "upstream response interrupted after {received_bytes} body bytes: {cause}")
            }
            UpstreamError::Protocol(detail) => write!(f, "upstream protocol error: {detail}"),
            UpstreamError::InvalidRequest(detail) => write!(f, "invalid upstream request: {detail}"),
            UpstreamError::Source(error) => write!(f, "request body source failed: {error}"),
            UpstreamError::Sink(error) => write!(f, "response body sink failed: {error}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

//! The keep-alive loop of one connection: read a head, route, handle, answer; repeat.
//! Pipelined requests are served in order from the same buffer. Every failure ends in an S3
//! error answer or a clean close, never a panic.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use http::{Method, StatusCode};
use monoio::net::TcpStream;

use super::access_log::Entry;
use super::context::CoreContext;
use super::drain::Presence;
use super::send_object::{send_response, Delivery, SendError};
use super::stats::{AuthRefusal, Outcome};
use crate::encoding::percent_decode;
use crate::error::{S3Error, S3ErrorCode};
use crate::http::body::BodyReader;
use crate::http::connection::Connection;
use crate::http::request::RequestHead;
use crate::limits::{DRAIN_BYTES_MAX, IDLE_TIMEOUT_MS, READ_TIMEOUT_MS, REFUSED_LINGER_MS, REQUEST_HEAD_BYTES_MAX};
use crate::s3::action_kind::ActionKind;
use crate::s3::auth::{authenticate, SignedRequest};
use crate::s3::router::{parse_path, parse_virtual_hosted_path, route, virtual_host_bucket, Action};
use crate::s3::uri::Query;
use crate::s3::{handle, S3Request};
use crate::s3::{Response, ResponseBody};
use crate::s3_error;

/// How often a GET is retried when the object changed between lookup and read.
const STALE_READ_RETRIES: usize = 3;

thread_local! {
    static REQUEST_COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// A request id unique per process: the core in the top bits, a per-core counter below.
fn request_id(core: usize) -> String {
    let counter = REQUEST_COUNTER.with(|counter| {
        let next = counter.get() + 1;
        counter.set(next);
        next
    });
    format!("{:016X}", (core as u64) << 48 | (counter & 0xFFFF_FFFF_FFFF))
}

/// Serves one connection until it closes, then adds the bytes it moved to the core's counts.
pub(crate) async fn serve(context: &Rc<CoreContext>, stream: TcpStream, peer: SocketAddr) {
    let registration = context.drain.register(stream.as_raw_fd());
    let mut connection = Connection::new(stream);
    serve_requests(context, &mut connection, peer, &registration.presence).await;
    let (received, sent) = connection.take_byte_counts();
    context.stats.add_bytes(received, sent);
}

/// What the loop learns about a request besides its answer (for the metrics and the log).
struct RequestFacts {
    kind: ActionKind,
    auth_refusal: Option<AuthRefusal>,
    /// The S3 error code of an error answer.
    error: Option<S3ErrorCode>,
    /// Copies of the bucket and key, kept only when the access log is on (reused buffers).
    bucket: Option<String>,
    key: Option<String>,
}

impl RequestFacts {
    fn reset(&mut self) {
        self.kind = ActionKind::Unknown;
        self.auth_refusal = None;
        self.error = None;
        if let Some(bucket) = &mut self.bucket {
            bucket.clear();
        }
        if let Some(key) = &mut self.key {
            key.clear();
        }
    }

    /// Notes the action (and, when logging, its names).
    fn routed(&mut self, action: &Action, logging: bool) {
        self.kind = action.kind();
        if logging {
            let (bucket, key) = action.names();
            let copy = |into: &mut Option<String>, from: Option<&str>| {
                let into = into.get_or_insert_with(String::new);
                into.clear();
                into.push_str(from.unwrap_or(""));
            };
            copy(&mut self.bucket, bucket);
            copy(&mut self.key, key);
        }
    }
}

async fn serve_requests(context: &Rc<CoreContext>, connection: &mut Connection, peer: SocketAddr, presence: &Presence) {
    let prefix = context.config.path_prefix.as_str();
    let core = context.services.core;
    let observing = context.observes_requests();
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(4096);
    let mut facts =
        RequestFacts { kind: ActionKind::Unknown, auth_refusal: None, error: None, bucket: None, key: None };
    loop {
        facts.reset();
        let consumed = match read_head(connection, &mut head, presence).await {
            HeadOutcome::Head(consumed) => consumed,
            HeadOutcome::Closed => return,
            HeadOutcome::Refused(error) => {
                let started = observing.then(Instant::now);
                context.stats.request_started();
                let id = request_id(core);
                facts.error = Some(error.code);
                let response = error_response(&error, "", &id, prefix);
                let status = response.status.as_u16();
                if observing {
                    connection.arm_first_byte();
                }
                let _ = send_response(connection, context, response, &id, Delivery::default(), &mut out).await;
                finish_request(context, connection, &facts, status, started, &id, &head, peer);
                return;
            }
        };
        let started = observing.then(Instant::now);
        context.stats.request_started();
        connection.consume(consumed);
        let id = request_id(core);
        let refusing = presence.refuses_requests();
        let (status, keep) = answer_request(context, connection, &head, &id, refusing, &mut facts, &mut out).await;
        finish_request(context, connection, &facts, status, started, &id, &head, peer);
        // A drain that began while this request was served (after its answer announced
        // keep-alive) ends the connection here, between requests, as HTTP allows.
        if !keep || context.drain.is_draining() {
            return;
        }
    }
}

/// Answers one request whose head was read; returns its status and whether the connection
/// serves another.
async fn answer_request(
    context: &Rc<CoreContext>,
    connection: &mut Connection,
    head: &RequestHead,
    id: &str,
    refusing: bool,
    facts: &mut RequestFacts,
    out: &mut Vec<u8>,
) -> (u16, bool) {
    let prefix = context.config.path_prefix.as_str();
    let core = context.services.core;
    let mut body = match BodyReader::from_head(head) {
        Ok(body) => body,
        Err(error) => {
            let error: S3Error = error.into();
            facts.error = Some(error.code);
            let response = error_response(&error, path_of(&head.target), id, prefix);
            let status = response.status.as_u16();
            if context.observes_requests() {
                connection.arm_first_byte();
            }
            let _ = send_response(connection, context, response, id, Delivery::default(), out).await;
            return (status, false);
        }
    };
    let mut attempt = 0;
    loop {
        let response = match answer(context, head, &mut body, connection, refusing, facts).await {
            Ok(response) => response,
            Err(error) => {
                facts.error = Some(error.code);
                error_response(&error, path_of(&head.target), id, prefix)
            }
        };
        if let Some(failure) = body.check_failure() {
            facts.auth_refusal = Some(AuthRefusal::of_body_check(failure));
        }
        // Draining: this answer is the connection's last (a request refused during the drain
        // still has its small body read, so the client sees the 503 rather than a reset).
        let keep_alive = head.wants_keep_alive() && !refusing && !context.drain.is_draining();
        let settled = (keep_alive || refusing) && body_settled(&mut body, connection).await;
        let reusable = keep_alive && settled;
        let head_only = head.method == Method::HEAD;
        let delivery = Delivery {
            keep_alive: reusable,
            head_only,
            interim_continue: body.owes_interim_continue() && attempt == 0,
        };
        let status = response.status.as_u16();
        if context.observes_requests() {
            connection.arm_first_byte();
        }
        match send_response(connection, context, response, id, delivery, out).await {
            Ok(()) if refusing && !settled => {
                connection.linger(REFUSED_LINGER_MS).await;
                return (status, false);
            }
            Ok(()) => return (status, reusable),
            // The object was replaced between lookup and read and nothing was sent yet:
            // look it up again (GET has no body to replay).
            Err(SendError::Stale) if attempt < STALE_READ_RETRIES => attempt += 1,
            Err(SendError::Stale) => {
                let error = s3_error!(InternalError, "object kept changing during the read");
                facts.error = Some(error.code);
                let response = error_response(&error, path_of(&head.target), id, prefix);
                let status = response.status.as_u16();
                let delivery = Delivery { head_only, ..Delivery::default() };
                let _ = send_response(connection, context, response, id, delivery, out).await;
                return (status, false);
            }
            // Nothing of the answer left yet: the client gets the S3 error (503 SlowDown
            // for exhausted descriptors) and may keep the connection.
            Err(SendError::Refused(error)) => {
                facts.error = Some(error.code);
                let response = error_response(&error, path_of(&head.target), id, prefix);
                let status = response.status.as_u16();
                let delivery = Delivery { head_only, keep_alive: reusable, interim_continue: false };
                let sent = send_response(connection, context, response, id, delivery, out).await;
                return (status, sent.is_ok() && reusable);
            }
            Err(SendError::Io(error)) => {
                log::debug!("core {core}: connection ended while answering: {error}");
                return (status, false);
            }
        }
    }
}

/// Counts a finished request and writes its access log line.
#[allow(clippy::too_many_arguments)]
fn finish_request(
    context: &CoreContext,
    connection: &mut Connection,
    facts: &RequestFacts,
    status: u16,
    started: Option<Instant>,
    id: &str,
    head: &RequestHead,
    peer: SocketAddr,
) {
    let Some(started) = started else {
        context.stats.request_finished(None);
        return;
    };
    let now = Instant::now();
    let duration_us = micros(now.saturating_duration_since(started));
    let ttfb_us = connection.first_byte_at().map_or(duration_us, |at| micros(at.saturating_duration_since(started)));
    let error = facts.error.filter(|_| status >= 400);
    let outcome = Outcome { kind: facts.kind, status, error, auth_refusal: facts.auth_refusal, duration_us, ttfb_us };
    context.stats.request_finished(context.stats.enabled.then_some(&outcome));
    let (received, sent) = connection.take_byte_counts();
    context.stats.add_bytes(received, sent);
    if let Some(log) = &context.access_log {
        let time = crate::dates::iso8601_bytes(crate::dates::now_ms());
        log.record(&Entry {
            time: std::str::from_utf8(&time).unwrap_or(""),
            request_id: id,
            remote: peer,
            action: facts.kind.as_str(),
            bucket: non_empty(&facts.bucket),
            key: non_empty(&facts.key),
            status,
            error: error.map(S3ErrorCode::as_str),
            bytes_in: received,
            bytes_out: sent,
            ttfb_ms: ttfb_us as f64 / 1000.0,
            duration_ms: duration_us as f64 / 1000.0,
            user_agent: head.header("user-agent"),
        });
    }
}

fn non_empty(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|text| !text.is_empty())
}

fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

enum HeadOutcome {
    Head(usize),
    Closed,
    Refused(S3Error),
}

/// Reads one request head. The whole head must arrive within `READ_TIMEOUT_MS` of its first
/// byte (not each read): a client dribbling a byte at a time cannot hold the connection.
async fn read_head(connection: &mut Connection, head: &mut RequestHead, presence: &Presence) -> HeadOutcome {
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        match head.parse(connection.unread()) {
            Ok(Some(consumed)) => return HeadOutcome::Head(consumed),
            Ok(None) => {}
            Err(error) => return HeadOutcome::Refused(error.into()),
        }
        let idle = connection.unread().is_empty();
        let timeout_ms = if idle {
            IDLE_TIMEOUT_MS
        } else {
            let deadline = *deadline
                .get_or_insert_with(|| std::time::Instant::now() + std::time::Duration::from_millis(READ_TIMEOUT_MS));
            let left = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as u64;
            if left == 0 {
                return HeadOutcome::Refused(s3_error!(RequestTimeout));
            }
            left
        };
        // Idle (nothing of a next request yet): a drain may end this wait (see `drain`).
        presence.set_idle(idle);
        let read = connection.read_more(timeout_ms, REQUEST_HEAD_BYTES_MAX).await;
        presence.set_idle(false);
        match read {
            Ok(0) if idle => return HeadOutcome::Closed,
            Ok(0) if connection.unread().len() >= REQUEST_HEAD_BYTES_MAX => {
                return HeadOutcome::Refused(s3_error!(RequestHeaderSectionTooLarge));
            }
            Ok(0) => return HeadOutcome::Closed,
            Ok(_) => {}
            Err(_) if idle => return HeadOutcome::Closed,
            Err(_) => return HeadOutcome::Refused(s3_error!(RequestTimeout)),
        }
    }
}

/// Routes and handles one request.
async fn answer(
    context: &CoreContext,
    head: &RequestHead,
    body: &mut BodyReader,
    connection: &mut Connection,
    refusing: bool,
    facts: &mut RequestFacts,
) -> Result<Response, S3Error> {
    let (services, prefix) = (&context.services, context.config.path_prefix.as_str());
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let query = Query::parse(query).ok_or_else(|| s3_error!(InvalidURI, "Couldn't parse the query string"))?;
    let domains = &services.settings.virtual_host_domains;
    let virtual_bucket = match head.header("host") {
        Some(host) if !domains.is_empty() => {
            virtual_host_bucket(&host.to_ascii_lowercase(), domains).map(str::to_string)
        }
        _ => None,
    };
    let resource = match &virtual_bucket {
        Some(bucket) => parse_virtual_hosted_path(bucket, path)?,
        None => parse_path(path, prefix)?,
    };
    let action = route(&head.method, resource, &query, head.header("x-amz-copy-source").is_some())?;
    facts.routed(&action, context.access_log.is_some());
    if refusing {
        return Err(s3_error!(SlowDown, "The server is shutting down; retry the request."));
    }
    let credentials = &services.settings.credentials;
    if !credentials.is_open() {
        let decoded_path = percent_decode(path, false).ok_or_else(|| s3_error!(InvalidURI))?;
        let signed = SignedRequest {
            head,
            raw_path: path,
            decoded_path: &decoded_path,
            prefix,
            virtual_bucket: virtual_bucket.as_deref(),
            query: query.pairs(),
        };
        let verification = authenticate(credentials, &signed).inspect_err(|error| {
            facts.auth_refusal = Some(AuthRefusal::of_signature_error(error));
        })?;
        if let Some(check) = verification.into_check() {
            body.verify(check)?;
        }
    }
    log::debug!("core {}: {action:?}", services.core);
    let mut request = S3Request { head, query: &query, body, connection };
    handle(services, &mut request, action).await
}

/// Whether the connection can serve another request after this one: the body must have been
/// read to its end, or be small enough to drain.
async fn body_settled(body: &mut BodyReader, connection: &mut Connection) -> bool {
    if body.is_finished() {
        return true;
    }
    if body.raw_remaining().is_some_and(|remaining| remaining > DRAIN_BYTES_MAX) {
        return false;
    }
    body.drain(connection, DRAIN_BYTES_MAX).await
}

fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// The one place an `S3Error` becomes a response.
pub(crate) fn error_response(error: &S3Error, resource: &str, request_id: &str, prefix: &str) -> Response {
    if error.code == S3ErrorCode::NotModified {
        return Response::new(StatusCode::NOT_MODIFIED);
    }
    if error.code.status().is_server_error() {
        log::warn!("{resource}: {error}");
    } else {
        log::debug!("{resource}: {error}");
    }
    let names = parse_path(resource, prefix).ok();
    let bucket = names.as_ref().and_then(|names| names.bucket.as_deref());
    let key = names.as_ref().and_then(|names| names.key.as_deref());
    let document = error.to_xml(resource, request_id, bucket, key);
    Response::new(error.code.status()).header("Content-Type", "application/xml").body(ResponseBody::Bytes(document))
}

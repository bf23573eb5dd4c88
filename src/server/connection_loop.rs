//! The keep-alive loop of one connection: read a head, route, handle, answer; repeat.
//! Pipelined requests are served in order from the same buffer. Every failure ends in an S3
//! error answer or a clean close, never a panic.

use std::cell::Cell;
use std::rc::Rc;

use http::{Method, StatusCode};
use monoio::net::TcpStream;

use super::context::CoreContext;
use super::send_object::{send_response, Delivery, SendError};
use crate::encoding::percent_decode;
use crate::error::{S3Error, S3ErrorCode};
use crate::http::body::BodyReader;
use crate::http::connection::Connection;
use crate::http::request::RequestHead;
use crate::limits::{DRAIN_BYTES_MAX, IDLE_TIMEOUT_MS, READ_TIMEOUT_MS, REQUEST_HEAD_BYTES_MAX};
use crate::s3::auth::{authenticate, SignedRequest};
use crate::s3::router::{parse_path, parse_virtual_hosted_path, route, virtual_host_bucket};
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

pub(crate) async fn serve(context: Rc<CoreContext>, stream: TcpStream) {
    let prefix = context.config.path_prefix.as_str();
    let core = context.services.core;
    let mut connection = Connection::new(stream);
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(4096);
    loop {
        let consumed = match read_head(&mut connection, &mut head).await {
            HeadOutcome::Head(consumed) => consumed,
            HeadOutcome::Closed => return,
            HeadOutcome::Refused(error) => {
                let id = request_id(core);
                let response = error_response(&error, "", &id, prefix);
                let _ = send_response(&mut connection, &context, response, &id, Delivery::default(), &mut out).await;
                return;
            }
        };
        connection.consume(consumed);
        let id = request_id(core);
        let keep_alive = head.wants_keep_alive();
        let mut body = match BodyReader::from_head(&head) {
            Ok(body) => body,
            Err(error) => {
                let response = error_response(&error.into(), path_of(&head.target), &id, prefix);
                let _ = send_response(&mut connection, &context, response, &id, Delivery::default(), &mut out).await;
                return;
            }
        };
        let mut attempt = 0;
        let keep = loop {
            let response = match answer(&context, &head, &mut body, &mut connection).await {
                Ok(response) => response,
                Err(error) => error_response(&error, path_of(&head.target), &id, prefix),
            };
            let reusable = keep_alive && body_settled(&mut body, &mut connection).await;
            let head_only = head.method == Method::HEAD;
            let delivery = Delivery {
                keep_alive: reusable,
                head_only,
                interim_continue: body.owes_interim_continue() && attempt == 0,
            };
            match send_response(&mut connection, &context, response, &id, delivery, &mut out).await {
                Ok(()) => break reusable,
                // The object was replaced between lookup and read and nothing was sent yet:
                // look it up again (GET has no body to replay).
                Err(SendError::Stale) if attempt < STALE_READ_RETRIES => attempt += 1,
                Err(SendError::Stale) => {
                    let error = s3_error!(InternalError, "object kept changing during the read");
                    let response = error_response(&error, path_of(&head.target), &id, prefix);
                    let delivery = Delivery { head_only, ..Delivery::default() };
                    let _ = send_response(&mut connection, &context, response, &id, delivery, &mut out).await;
                    return;
                }
                // Nothing of the answer left yet: the client gets the S3 error (503 SlowDown
                // for exhausted descriptors) and may keep the connection.
                Err(SendError::Refused(error)) => {
                    let response = error_response(&error, path_of(&head.target), &id, prefix);
                    let delivery = Delivery { head_only, keep_alive: reusable, interim_continue: false };
                    match send_response(&mut connection, &context, response, &id, delivery, &mut out).await {
                        Ok(()) => break reusable,
                        Err(_) => return,
                    }
                }
                Err(SendError::Io(error)) => {
                    log::debug!("core {core}: connection ended while answering: {error}");
                    return;
                }
            }
        };
        if !keep {
            return;
        }
    }
}

enum HeadOutcome {
    Head(usize),
    Closed,
    Refused(S3Error),
}

/// Reads one request head. The whole head must arrive within `READ_TIMEOUT_MS` of its first
/// byte (not each read): a client dribbling a byte at a time cannot hold the connection.
async fn read_head(connection: &mut Connection, head: &mut RequestHead) -> HeadOutcome {
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
        match connection.read_more(timeout_ms, REQUEST_HEAD_BYTES_MAX).await {
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
        if let Some(check) = authenticate(credentials, &signed)?.into_check() {
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

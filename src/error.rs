//! S3 errors: one enum of codes that knows its HTTP status and default message, and the only
//! place that renders error XML.
//!
//! Handlers return `Result<Response, S3Error>`; internal failures are logged where they happen
//! and become `InternalError` (or a storage code) here, never a panic.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

macro_rules! s3_error_codes {
    ($($code:ident => $status:ident, $message:literal;)*) => {
        /// Every S3 error code the server can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum S3ErrorCode { $($code,)* }

        impl S3ErrorCode {
            /// Every code, in index order (per-code counters are arrays of `COUNT`).
            pub(crate) const ALL: &'static [S3ErrorCode] = &[$(Self::$code,)*];
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// A dense index in `0..COUNT`.
            pub(crate) fn index(self) -> usize {
                self as usize
            }

            /// The code as it appears in `<Code>`.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Self::$code => stringify!($code),)* }
            }
            /// The HTTP status S3 answers with.
            pub(crate) fn status(self) -> StatusCode {
                match self { $(Self::$code => StatusCode::$status,)* }
            }
            /// S3's default message for the code.
            pub(crate) fn default_message(self) -> &'static str {
                match self { $(Self::$code => $message,)* }
            }
            /// The code of a `<Code>` text, when it is one of ours.
            pub(crate) fn from_code(code: &str) -> Option<Self> {
                match code { $(stringify!($code) => Some(Self::$code),)* _ => None }
            }
        }
    };
}

s3_error_codes! {
    AccessDenied => FORBIDDEN, "Access Denied";
    AuthorizationHeaderMalformed => BAD_REQUEST, "The authorization header is malformed.";
    AuthorizationQueryParametersError => BAD_REQUEST, "Error parsing the X-Amz-Credential parameter.";
    BadRequest => BAD_REQUEST, "Bad Request";
    BadDigest => BAD_REQUEST, "The Content-MD5 you specified did not match what we received.";
    BucketAlreadyOwnedByYou => CONFLICT, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => CONFLICT, "The bucket you tried to delete is not empty";
    EntityTooLarge => BAD_REQUEST, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall => BAD_REQUEST, "Your proposed upload is smaller than the minimum allowed object size.";
    IncompleteBody => BAD_REQUEST, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InsufficientStorage => INSUFFICIENT_STORAGE, "There is not enough space left on the storage device to complete the request.";
    InternalError => INTERNAL_SERVER_ERROR, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => FORBIDDEN, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => BAD_REQUEST, "Invalid Argument";
    InvalidBucketName => BAD_REQUEST, "The specified bucket is not valid.";
    InvalidDigest => BAD_REQUEST, "The Content-MD5 you specified is not valid.";
    InvalidPart => BAD_REQUEST, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.";
    InvalidPartOrder => BAD_REQUEST, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    InvalidPartNumber => RANGE_NOT_SATISFIABLE, "The requested partnumber is not satisfiable";
    InvalidRange => RANGE_NOT_SATISFIABLE, "The requested range is not satisfiable";
    InvalidRequest => BAD_REQUEST, "Invalid Request";
    InvalidTag => BAD_REQUEST, "The tag provided was not a valid tag.";
    InvalidURI => BAD_REQUEST, "Couldn't parse the specified URI.";
    KeyTooLongError => BAD_REQUEST, "Your key is too long";
    MalformedXML => BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema";
    MetadataTooLarge => BAD_REQUEST, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "The specified method is not allowed against this resource.";
    MissingContentLength => LENGTH_REQUIRED, "You must provide the Content-Length HTTP header.";
    NoSuchBucket => NOT_FOUND, "The specified bucket does not exist";
    NoSuchKey => NOT_FOUND, "The specified key does not exist.";
    NoSuchTagSet => NOT_FOUND, "The TagSet does not exist";
    NoSuchUpload => NOT_FOUND, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented => NOT_IMPLEMENTED, "A header or action you provided implies functionality that is not implemented.";
    NotModified => NOT_MODIFIED, "Not Modified";
    PreconditionFailed => PRECONDITION_FAILED, "At least one of the preconditions you specified did not hold.";
    RequestHeaderSectionTooLarge => REQUEST_HEADER_FIELDS_TOO_LARGE, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => FORBIDDEN, "The difference between the request time and the current time is too large.";
    RequestTimeout => BAD_REQUEST, "Your socket connection to the server was not read from or written to within the timeout period.";
    ServiceUnavailable => SERVICE_UNAVAILABLE, "The service is unavailable. Please retry.";
    SignatureDoesNotMatch => FORBIDDEN, "The request signature we calculated does not match the signature you provided.";
    SlowDown => SERVICE_UNAVAILABLE, "Please reduce your request rate.";
    XAmzContentSHA256Mismatch => BAD_REQUEST, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

/// An S3 error answer: a code plus an optional specific message.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub(crate) code: S3ErrorCode,
    pub(crate) message: Cow<'static, str>,
}

impl S3Error {
    pub(crate) fn new(code: S3ErrorCode) -> Self {
        S3Error { code, message: Cow::Borrowed(code.default_message()) }
    }

    pub(crate) fn with_message(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error { code, message: message.into() }
    }

    /// Maps a storage I/O failure to the S3 answer a client can act on, logging the cause.
    pub(crate) fn from_io(context: &str, error: &std::io::Error) -> Self {
        let code = match error.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => S3ErrorCode::InsufficientStorage,
            Some(libc::EROFS) | Some(libc::EIO) => S3ErrorCode::ServiceUnavailable,
            // Out of file descriptors: retryable, and a client that backs off lets them free.
            Some(libc::EMFILE) | Some(libc::ENFILE) => S3ErrorCode::SlowDown,
            _ => S3ErrorCode::InternalError,
        };
        log::error!("{context}: {error}");
        S3Error::new(code)
    }

    /// Renders the S3 error document. `bucket` and `key` name the resource, for the codes
    /// where S3 echoes them (`BucketName` for bucket errors, `Key` for NoSuchKey).
    pub(crate) fn to_xml(&self, resource: &str, request_id: &str, bucket: Option<&str>, key: Option<&str>) -> Vec<u8> {
        let mut xml = crate::xml::XmlWriter::with_declaration();
        xml.open("Error");
        xml.element("Code", self.code.as_str());
        xml.element("Message", &self.message);
        match (self.code, bucket, key) {
            (S3ErrorCode::NoSuchKey, _, Some(key)) => xml.element("Key", key),
            (
                S3ErrorCode::NoSuchBucket
                | S3ErrorCode::BucketNotEmpty
                | S3ErrorCode::BucketAlreadyOwnedByYou
                | S3ErrorCode::InvalidBucketName
                | S3ErrorCode::NoSuchTagSet,
                Some(bucket),
                _,
            ) => xml.element("BucketName", bucket),
            _ => {}
        }
        xml.element("Resource", resource);
        xml.element("RequestId", request_id);
        xml.close("Error");
        xml.finish()
    }
}

/// Wire errors of a request head: the answers S3 gives to what cannot be parsed.
impl From<crate::http::request::HeadError> for S3Error {
    fn from(error: crate::http::request::HeadError) -> Self {
        use crate::http::request::HeadError;
        match error {
            HeadError::TooLarge => S3Error::new(S3ErrorCode::RequestHeaderSectionTooLarge),
            HeadError::TargetTooLong => S3Error::with_message(S3ErrorCode::InvalidURI, "The request URI is too long"),
            HeadError::Malformed => S3Error::with_message(S3ErrorCode::InvalidRequest, "Malformed HTTP request"),
        }
    }
}

/// Wire errors of a request body.
impl From<crate::http::body::BodyError> for S3Error {
    fn from(error: crate::http::body::BodyError) -> Self {
        use crate::http::body::{BodyError, CheckFailure};
        let message = error.to_string();
        let code = match error {
            BodyError::InvalidContentLength | BodyError::InvalidDecodedLength => S3ErrorCode::InvalidArgument,
            BodyError::ConflictingContentLengths | BodyError::LengthWithTransferEncoding => S3ErrorCode::InvalidRequest,
            BodyError::UnsupportedTransferEncoding => S3ErrorCode::NotImplemented,
            BodyError::Stalled(_) => S3ErrorCode::RequestTimeout,
            BodyError::Incomplete(_) | BodyError::Framing(_) => S3ErrorCode::IncompleteBody,
            BodyError::Check(CheckFailure::ChunkSignature) => {
                return S3Error::with_message(
                    S3ErrorCode::SignatureDoesNotMatch,
                    "The chunk signature we calculated does not match the signature you provided.",
                )
            }
            BodyError::Check(CheckFailure::PayloadDigest) => {
                return S3Error::new(S3ErrorCode::XAmzContentSHA256Mismatch)
            }
            // Only request documents are read whole; S3 calls an oversized one malformed.
            BodyError::TooLarge { .. } => S3ErrorCode::MalformedXML,
        };
        S3Error::with_message(code, message)
    }
}

impl From<crate::xml::XmlDecodeError> for S3Error {
    fn from(error: crate::xml::XmlDecodeError) -> Self {
        match error {
            crate::xml::XmlDecodeError::Malformed(detail) => {
                log::debug!("malformed XML body: {detail}");
                S3Error::new(S3ErrorCode::MalformedXML)
            }
            crate::xml::XmlDecodeError::TooLarge => S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was larger than the maximum allowed size.",
            ),
        }
    }
}

/// Upstream failures, as s3core's clients see them: an upstream that is down, throttling or
/// failing becomes 503 (`SlowDown` when it asked to slow down, `ServiceUnavailable`
/// otherwise), never a hang or a 500; an upstream answer s3core knows is relayed with its
/// code and message; a refusal of s3core's own upstream credentials is an `InternalError`
/// (the client did nothing wrong), logged for the operator.
impl From<crate::upstream::UpstreamError> for S3Error {
    fn from(error: crate::upstream::UpstreamError) -> Self {
        use crate::upstream::UpstreamError;
        match error {
            UpstreamError::Response(response) => {
                let code = response.code.as_str();
                let detail = |default: &str| {
                    let message = if response.message.is_empty() { default } else { response.message.as_str() };
                    format!("The upstream store answered {} {code}: {message}", response.status)
                };
                let throttled = response.status == 429 || matches!(code, "SlowDown");
                // 501 NotImplemented is an answer, not a failure: the client learns what the
                // upstream cannot do (as it would from s3core).
                let failing = (response.status >= 500 && response.status != 501)
                    || matches!(code, "InternalError" | "ServiceUnavailable");
                if throttled {
                    return S3Error::with_message(S3ErrorCode::SlowDown, detail("Please reduce your request rate."));
                }
                if failing {
                    log::warn!("{response}");
                    return S3Error::with_message(S3ErrorCode::ServiceUnavailable, detail("unavailable"));
                }
                if matches!(
                    code,
                    "SignatureDoesNotMatch"
                        | "InvalidAccessKeyId"
                        | "AuthorizationHeaderMalformed"
                        | "RequestTimeTooSkewed"
                        | "InvalidToken"
                        | "ExpiredToken"
                ) {
                    log::error!("the upstream store refused s3core's upstream credentials: {response}");
                    return S3Error::with_message(
                        S3ErrorCode::InternalError,
                        format!("The upstream store refused this server's credentials ({code})."),
                    );
                }
                let known = S3ErrorCode::from_code(code).or(match response.status {
                    304 => Some(S3ErrorCode::NotModified),
                    403 => Some(S3ErrorCode::AccessDenied),
                    404 => Some(S3ErrorCode::NoSuchKey),
                    412 => Some(S3ErrorCode::PreconditionFailed),
                    416 => Some(S3ErrorCode::InvalidRange),
                    _ => None,
                });
                match known {
                    Some(known) if response.message.is_empty() => S3Error::new(known),
                    Some(known) => S3Error::with_message(known, response.message),
                    None => S3Error::with_message(S3ErrorCode::InvalidRequest, detail("refused")),
                }
            }
            UpstreamError::Unavailable { .. } | UpstreamError::Interrupted { .. } => {
                log::warn!("{error}");
                S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    format!("The upstream store is unavailable: {error}"),
                )
            }
            UpstreamError::Protocol(_) => {
                log::error!("{error}");
                S3Error::with_message(
                    S3ErrorCode::InternalError,
                    "The upstream store sent an answer s3core cannot read.",
                )
            }
            UpstreamError::InvalidRequest(detail) => S3Error::with_message(S3ErrorCode::InvalidRequest, detail),
            UpstreamError::Source(source) => {
                match source.get_ref().and_then(|inner| inner.downcast_ref::<crate::http::body::BodyError>()) {
                    Some(body_error) => S3Error::from(body_error.clone()),
                    None => S3Error::from_io("reading the body sent upstream", &source),
                }
            }
            UpstreamError::Sink(sink) => S3Error::from_io("storing a body read from upstream", &sink),
        }
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code)
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// Builds an `S3Error` at the call site: `s3_error!(NoSuchKey)` or
/// `s3_error!(InvalidArgument, "max-keys must be a number")`.
#[macro_export]
macro_rules! s3_error {
    ($code:ident) => {
        $crate::error::S3Error::new($crate::error::S3ErrorCode::$code)
    };
    ($code:ident, $($message:tt)+) => {
        $crate::error::S3Error::with_message($crate::error::S3ErrorCode::$code, format!($($message)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_know_their_status() {
        assert_eq!(S3ErrorCode::NoSuchBucket.status(), StatusCode::NOT_FOUND);
        assert_eq!(S3ErrorCode::BucketNotEmpty.status(), StatusCode::CONFLICT);
        assert_eq!(S3ErrorCode::InvalidRange.status().as_u16(), 416);
        assert_eq!(S3ErrorCode::NotImplemented.status().as_u16(), 501);
        assert_eq!(S3ErrorCode::InsufficientStorage.status().as_u16(), 507);
    }

    #[test]
    fn error_xml_has_every_field_escaped() {
        let error = S3Error::with_message(S3ErrorCode::NoSuchKey, "no <key>");
        let xml = String::from_utf8(error.to_xml("/b/a&b", "ABC", None, None)).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>no &lt;key&gt;</Message><Resource>/b/a&amp;b</Resource>\
             <RequestId>ABC</RequestId></Error>"
        );
    }

    #[test]
    fn resource_names_are_echoed_where_s3_does() {
        let xml =
            String::from_utf8(S3Error::new(S3ErrorCode::NoSuchKey).to_xml("/b/k", "R", Some("b"), Some("k"))).unwrap();
        assert!(xml.contains("<Key>k</Key>") && !xml.contains("BucketName"));
        let xml = String::from_utf8(S3Error::new(S3ErrorCode::NoSuchBucket).to_xml("/b/k", "R", Some("b"), Some("k")))
            .unwrap();
        assert!(xml.contains("<BucketName>b</BucketName>") && !xml.contains("<Key>"));
    }

    #[test]
    fn wire_errors_map_to_s3_codes() {
        use crate::http::body::{BodyError, CheckFailure};
        use crate::http::request::HeadError;
        let code = |error: BodyError| S3Error::from(error).code;
        assert_eq!(code(BodyError::InvalidContentLength), S3ErrorCode::InvalidArgument);
        assert_eq!(code(BodyError::ConflictingContentLengths), S3ErrorCode::InvalidRequest);
        assert_eq!(code(BodyError::UnsupportedTransferEncoding), S3ErrorCode::NotImplemented);
        assert_eq!(code(BodyError::Stalled("slow".into())), S3ErrorCode::RequestTimeout);
        assert_eq!(code(BodyError::Incomplete("short".into())), S3ErrorCode::IncompleteBody);
        assert_eq!(code(BodyError::Check(CheckFailure::ChunkSignature)), S3ErrorCode::SignatureDoesNotMatch);
        assert_eq!(code(BodyError::Check(CheckFailure::PayloadDigest)), S3ErrorCode::XAmzContentSHA256Mismatch);
        assert_eq!(code(BodyError::TooLarge { limit_bytes: 1 }), S3ErrorCode::MalformedXML);
        assert_eq!(S3Error::from(HeadError::TooLarge).code.status().as_u16(), 431);
        assert_eq!(S3Error::from(HeadError::Malformed).code, S3ErrorCode::InvalidRequest);
    }

    #[test]
    fn upstream_failures_map_to_answers_clients_can_act_on() {
        use crate::upstream::{ErrorResponse, Stage, TransportError, UpstreamError};
        let answer = |status: u16, code: &str, message: &str| {
            S3Error::from(UpstreamError::Response(ErrorResponse {
                status,
                code: code.to_string(),
                message: message.to_string(),
                request_id: None,
                body: Vec::new(),
                attempts: 4,
            }))
        };
        assert_eq!(answer(503, "SlowDown", "").code, S3ErrorCode::SlowDown);
        assert_eq!(answer(429, "TooManyRequests", "").code, S3ErrorCode::SlowDown);
        assert_eq!(answer(500, "InternalError", "boom").code, S3ErrorCode::ServiceUnavailable);
        assert_eq!(answer(502, "UnknownError", "").code, S3ErrorCode::ServiceUnavailable);
        assert_eq!(answer(501, "NotImplemented", "").code, S3ErrorCode::NotImplemented, "what the upstream cannot do");
        assert_eq!(answer(200, "InternalError", "").code, S3ErrorCode::ServiceUnavailable, "an error inside a 200");
        let missing = answer(404, "NoSuchKey", "gone");
        assert_eq!((missing.code, missing.message.as_ref()), (S3ErrorCode::NoSuchKey, "gone"));
        assert_eq!(answer(404, "NotFound", "").code, S3ErrorCode::NoSuchKey, "a HEAD's 404");
        assert_eq!(answer(412, "PreconditionFailed", "").code, S3ErrorCode::PreconditionFailed);
        assert_eq!(answer(304, "NotModified", "").code, S3ErrorCode::NotModified);
        assert_eq!(answer(409, "BucketNotEmpty", "").code, S3ErrorCode::BucketNotEmpty);
        assert_eq!(answer(409, "OperationAborted", "").code, S3ErrorCode::InvalidRequest);
        let refused = answer(403, "SignatureDoesNotMatch", "");
        assert_eq!(refused.code, S3ErrorCode::InternalError, "our credentials, not the client's");
        assert_eq!(answer(403, "AccessDenied", "").code, S3ErrorCode::AccessDenied);
        let down = UpstreamError::Unavailable {
            attempts: 4,
            cause: TransportError::new(Stage::Connect, std::io::ErrorKind::ConnectionRefused, "127.0.0.1:9"),
        };
        let down = S3Error::from(down);
        assert_eq!((down.code, down.code.status().as_u16()), (S3ErrorCode::ServiceUnavailable, 503));
        assert!(down.message.contains("after 4 attempt"), "{}", down.message);
        let body = std::io::Error::other(crate::http::body::BodyError::Incomplete("short".into()));
        assert_eq!(S3Error::from(UpstreamError::Source(body)).code, S3ErrorCode::IncompleteBody);
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(S3Error::from(UpstreamError::Sink(full)).code, S3ErrorCode::InsufficientStorage);
        assert_eq!(S3ErrorCode::from_code("NoSuchUpload"), Some(S3ErrorCode::NoSuchUpload));
        assert_eq!(S3ErrorCode::from_code("nosuchupload"), None);
    }

    #[test]
    fn storage_faults_map_to_retryable_codes() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(S3Error::from_io("test", &full).code, S3ErrorCode::InsufficientStorage);
        let read_only = std::io::Error::from_raw_os_error(libc::EROFS);
        assert_eq!(S3Error::from_io("test", &read_only).code, S3ErrorCode::ServiceUnavailable);
        let no_descriptors = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(S3Error::from_io("test", &no_descriptors).code, S3ErrorCode::SlowDown);
        assert_eq!(S3ErrorCode::SlowDown.status().as_u16(), 503);
    }
}

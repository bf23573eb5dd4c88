//! Streaming request bodies: the handler pulls decoded bytes in bounded pieces; nothing is
//! ever buffered whole.
//!
//! Two layers: the transfer framing (`Content-Length` or `Transfer-Encoding: chunked`) and an
//! optional content framing (`aws-chunked`, which SDKs use for streaming signatures and
//! checksum trailers; its decoded bytes are the object). `Expect: 100-continue` is answered
//! when the handler first asks for body bytes, so a request refused before that never makes
//! the client send its body.

use http::StatusCode;
use sha2::{Digest, Sha256};

use super::chunked::{ChunkDecoder, ChunkError, ChunkEvent};
use super::connection::Connection;
use super::request::RequestHead;
use crate::encoding::hex;
use crate::error::S3Error;
use crate::limits::{CONNECTION_BUFFER_BYTES, READ_TIMEOUT_MS};
use crate::s3::auth::sigv4::{chunk_signature, sha256_hex, trailer_signature, EMPTY_SHA256};
use crate::s3::auth::{constant_time_eq, BodyVerification, ChunkSigning};
use crate::s3_error;

/// The signed payload hash (`x-amz-content-sha256`) a body must match.
#[derive(Debug)]
struct PayloadCheck {
    hasher: Sha256,
    expected: String,
}

/// Verifies the signature chain of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body chunk by chunk,
/// so a tampered chunk is refused before the object is committed.
#[derive(Debug)]
struct ChunkVerifier {
    signing: ChunkSigning,
    /// The chunk being read: its running hash and the signature its size line announced.
    current: Option<(Sha256, String)>,
    failed: bool,
}

impl ChunkVerifier {
    fn start(&mut self, size: u64, extensions: &str) {
        self.finish_current();
        let signature = extensions
            .split(';')
            .find_map(|part| part.trim().strip_prefix("chunk-signature="))
            .unwrap_or("")
            .to_string();
        self.current = Some((Sha256::new(), signature));
        if size == 0 {
            self.finish_current();
        }
    }

    fn data(&mut self, data: &[u8]) {
        if let Some((hasher, _)) = &mut self.current {
            hasher.update(data);
        }
    }

    fn finish_current(&mut self) {
        let Some((hasher, announced)) = self.current.take() else { return };
        let signing = &self.signing;
        let expected = chunk_signature(
            &signing.key,
            &signing.timestamp,
            &signing.scope,
            &signing.previous,
            &hex(&hasher.finalize()),
        );
        if !constant_time_eq(expected.as_bytes(), announced.as_bytes()) {
            self.failed = true;
        }
        self.signing.previous = expected;
    }

    /// Checks `x-amz-trailer-signature` over the other trailer fields.
    fn check_trailer(&mut self, trailers: &[(String, String)]) {
        if !self.signing.signed_trailer {
            return;
        }
        let mut canonical = String::new();
        let mut announced = "";
        for (name, value) in trailers {
            if name == "x-amz-trailer-signature" {
                announced = value;
            } else {
                canonical.push_str(&format!("{name}:{value}\n"));
            }
        }
        let signing = &self.signing;
        let expected = trailer_signature(
            &signing.key,
            &signing.timestamp,
            &signing.scope,
            &signing.previous,
            &sha256_hex(canonical.as_bytes()),
        );
        if !constant_time_eq(expected.as_bytes(), announced.as_bytes()) {
            self.failed = true;
        }
    }
}

fn signature_mismatch() -> S3Error {
    s3_error!(SignatureDoesNotMatch, "The chunk signature we calculated does not match the signature you provided.")
}

#[derive(Debug)]
enum Transfer {
    Length { remaining: u64 },
    Chunked(ChunkDecoder),
}

/// The state of the current request's body.
#[derive(Debug)]
pub struct BodyReader {
    transfer: Transfer,
    /// `aws-chunked` content framing, when the client used it.
    content: Option<ChunkDecoder>,
    /// `x-amz-decoded-content-length` for aws-chunked bodies.
    decoded_length: Option<u64>,
    continue_pending: bool,
    /// The client sent `Expect: 100-continue` (even with an empty body).
    continue_expected: bool,
    finished: bool,
    /// An I/O or framing failure: the connection's byte stream is no longer in step.
    broken: bool,
    continue_sent_flag: bool,
    payload_check: Option<PayloadCheck>,
    chunk_verifier: Option<ChunkVerifier>,
    /// An empty body whose signed payload hash still has to be compared once.
    empty_needs_check: bool,
}

impl BodyReader {
    /// Works out the body framing from the head.
    pub fn from_head(head: &RequestHead) -> Result<BodyReader, S3Error> {
        let mut encodings = head.headers.get_all("transfer-encoding").iter();
        let chunked = match (encodings.next(), encodings.next()) {
            (None, _) => false,
            (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"chunked") => true,
            _ => return Err(s3_error!(NotImplemented, "Transfer-Encoding other than chunked is not supported")),
        };
        // Several Content-Length fields that disagree would let a request hide another in its
        // body (RFC 9112 section 6.3): refuse them.
        let mut length = None;
        for value in head.headers.get_all("content-length") {
            let parsed = std::str::from_utf8(value.as_bytes())
                .ok()
                .map(str::trim)
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| s3_error!(InvalidArgument, "Content-Length is not a number"))?;
            if length.is_some_and(|earlier| earlier != parsed) {
                return Err(s3_error!(InvalidRequest, "conflicting Content-Length headers"));
            }
            length = Some(parsed);
        }
        let transfer = match (chunked, length) {
            (true, Some(_)) => {
                return Err(s3_error!(InvalidRequest, "Content-Length and Transfer-Encoding together"));
            }
            (true, None) => Transfer::Chunked(ChunkDecoder::new()),
            (false, length) => Transfer::Length { remaining: length.unwrap_or(0) },
        };
        let aws_chunked = head
            .header("content-encoding")
            .is_some_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case("aws-chunked")))
            || head.header("x-amz-content-sha256").is_some_and(|value| value.starts_with("STREAMING-"));
        let decoded_length = match head.header("x-amz-decoded-content-length") {
            None => None,
            Some(value) => Some(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| s3_error!(InvalidArgument, "x-amz-decoded-content-length is not a number"))?,
            ),
        };
        let finished = matches!(transfer, Transfer::Length { remaining: 0 });
        Ok(BodyReader {
            transfer,
            content: aws_chunked.then(ChunkDecoder::new),
            decoded_length,
            continue_pending: head.expects_continue() && !finished,
            continue_expected: head.expects_continue(),
            finished,
            broken: false,
            continue_sent_flag: false,
            payload_check: None,
            chunk_verifier: None,
            empty_needs_check: false,
        })
    }

    /// An empty body (for requests whose head was refused before framing was known).
    pub fn empty() -> BodyReader {
        BodyReader {
            transfer: Transfer::Length { remaining: 0 },
            content: None,
            decoded_length: None,
            continue_pending: false,
            continue_expected: false,
            finished: true,
            broken: false,
            continue_sent_flag: false,
            payload_check: None,
            chunk_verifier: None,
            empty_needs_check: false,
        }
    }

    /// Arms the checks authentication asks of the body: the signed payload hash, or the
    /// aws-chunked signature chain. Both are checked as the bytes arrive; a mismatch fails
    /// the read, so nothing unverified is ever committed.
    pub fn verify(&mut self, verification: BodyVerification) {
        if let Some(expected) = verification.payload_sha256 {
            if expected == EMPTY_SHA256 && self.finished {
                return;
            }
            self.payload_check = Some(PayloadCheck { hasher: Sha256::new(), expected });
            if self.finished {
                self.finished = false;
                self.empty_needs_check = true;
            }
        }
        if let Some(signing) = verification.chunk_signing {
            self.chunk_verifier = Some(ChunkVerifier { signing, current: None, failed: false });
        }
    }

    /// The size of the decoded body when the head tells it (`Content-Length`, or
    /// `x-amz-decoded-content-length` for aws-chunked). `None`: chunked, size unknown.
    pub fn declared_length(&self) -> Option<u64> {
        if self.content.is_some() {
            return self.decoded_length;
        }
        match self.transfer {
            Transfer::Length { remaining } => Some(remaining),
            Transfer::Chunked(_) => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether the client still waits for our `100 Continue` (so it has sent no body yet).
    pub fn continue_pending(&self) -> bool {
        self.continue_pending
    }

    /// Whether the final response should be preceded by `100 Continue`: the client asked for
    /// it, the body is complete without one (e.g. `Content-Length: 0`), and none was sent.
    /// Some clients (the botocore bundled with the AWS CLI) misread the next response on a
    /// kept-alive connection when an expected `100 Continue` never came.
    pub fn owes_interim_continue(&self) -> bool {
        self.continue_expected && self.finished && !self.continue_sent()
    }

    fn continue_sent(&self) -> bool {
        self.continue_sent_flag
    }

    /// Raw bytes still expected under Content-Length framing (for draining decisions).
    pub fn raw_remaining(&self) -> Option<u64> {
        match self.transfer {
            Transfer::Length { remaining } => Some(remaining),
            Transfer::Chunked(_) => None,
        }
    }

    /// Trailer fields of an aws-chunked or chunked body, available once it is finished.
    pub fn trailers(&self) -> Vec<(String, String)> {
        let mut trailers = Vec::new();
        if let Transfer::Chunked(decoder) = &self.transfer {
            trailers.extend(decoder.trailers.iter().cloned());
        }
        if let Some(decoder) = &self.content {
            trailers.extend(decoder.trailers.iter().cloned());
        }
        trailers
    }

    /// Appends up to `limit` decoded body bytes to `out`. Returns the number appended; 0 means
    /// the body is complete.
    pub async fn read_into(
        &mut self,
        connection: &mut Connection,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, S3Error> {
        let before = out.len();
        let mut result = self.read_into_inner(connection, out, limit).await;
        if let (Ok(_), Some(check)) = (&result, &mut self.payload_check) {
            check.hasher.update(&out[before..]);
            if self.finished {
                let check = self.payload_check.take().expect("checked above");
                if !constant_time_eq(hex(&check.hasher.finalize()).as_bytes(), check.expected.as_bytes()) {
                    result = Err(s3_error!(XAmzContentSHA256Mismatch));
                }
            }
        }
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn read_into_inner(
        &mut self,
        connection: &mut Connection,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, S3Error> {
        if self.empty_needs_check {
            // An empty body with a signed payload hash: `read_into` compares the hash now.
            self.empty_needs_check = false;
            self.finished = true;
            return Ok(0);
        }
        if self.finished || limit == 0 {
            return Ok(0);
        }
        if self.continue_pending {
            self.continue_pending = false;
            self.continue_sent_flag = true;
            let interim = format!("HTTP/1.1 {} Continue\r\n\r\n", StatusCode::CONTINUE.as_u16());
            connection
                .write_all(interim.into_bytes())
                .await
                .map_err(|error| s3_error!(RequestTimeout, "could not send 100 Continue: {error}"))?;
        }
        let before = out.len();
        if out.capacity() - out.len() < limit {
            out.reserve(limit);
        }
        loop {
            if connection.unread().is_empty() {
                if let (Transfer::Length { remaining }, None) = (&mut self.transfer, &self.content) {
                    // Plain length-framed body: read from the socket straight into `out`.
                    let want = (*remaining).min(limit as u64) as usize;
                    let read = connection
                        .read_direct(out, want, READ_TIMEOUT_MS)
                        .await
                        .map_err(|error| s3_error!(RequestTimeout, "reading the body: {error}"))?;
                    if read == 0 {
                        return Err(s3_error!(IncompleteBody));
                    }
                    *remaining -= read as u64;
                    if *remaining == 0 {
                        self.finished = true;
                    }
                    return Ok(read);
                }
                let read = connection
                    .read_more(READ_TIMEOUT_MS, CONNECTION_BUFFER_BYTES)
                    .await
                    .map_err(|error| s3_error!(RequestTimeout, "reading the body: {error}"))?;
                if read == 0 {
                    return Err(s3_error!(IncompleteBody));
                }
            }
            let produced_limit = limit - (out.len() - before);
            self.decode_buffered(connection, out, produced_limit)?;
            let produced = out.len() - before;
            if self.finished {
                self.check_complete()?;
            }
            if produced > 0 || self.finished {
                return Ok(produced);
            }
        }
    }

    /// Decodes from the connection's unread bytes into `out` (at most `limit` raw bytes, so at
    /// most `limit` decoded bytes).
    fn decode_buffered(&mut self, connection: &mut Connection, out: &mut Vec<u8>, limit: usize) -> Result<(), S3Error> {
        let unread = connection.unread();
        let mut content_error = None;
        let content = &mut self.content;
        let verifier = &mut self.chunk_verifier;
        let mut deliver = |data: &[u8]| match content {
            Some(decoder) if content_error.is_none() => {
                let mut on_event = |event: ChunkEvent<'_>| match event {
                    ChunkEvent::Start { size, extensions } => {
                        if let Some(verifier) = verifier.as_mut() {
                            verifier.start(size, extensions);
                        }
                    }
                    ChunkEvent::Data(decoded) => {
                        if let Some(verifier) = verifier.as_mut() {
                            verifier.data(decoded);
                        }
                        out.extend_from_slice(decoded);
                    }
                };
                match decoder.decode_events(data, &mut on_event) {
                    Ok(used) if used < data.len() => content_error = Some(ChunkError::BadTrailer),
                    Ok(_) => {}
                    Err(error) => content_error = Some(error),
                }
            }
            Some(_) => {}
            None => out.extend_from_slice(data),
        };
        let consumed = match &mut self.transfer {
            Transfer::Length { remaining } => {
                let take = (*remaining).min(unread.len() as u64).min(limit as u64) as usize;
                deliver(&unread[..take]);
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.finished = true;
                }
                take
            }
            Transfer::Chunked(decoder) => {
                let take = unread.len().min(limit);
                let used = decoder.decode(&unread[..take], &mut deliver).map_err(framing_error)?;
                if decoder.is_done() {
                    self.finished = true;
                }
                used
            }
        };
        connection.consume(consumed);
        if let Some(error) = content_error {
            return Err(framing_error(error));
        }
        if self.chunk_verifier.as_ref().is_some_and(|verifier| verifier.failed) {
            return Err(signature_mismatch());
        }
        Ok(())
    }

    fn check_complete(&mut self) -> Result<(), S3Error> {
        if let (Some(verifier), Some(decoder)) = (&mut self.chunk_verifier, &self.content) {
            verifier.check_trailer(&decoder.trailers);
            if verifier.failed {
                return Err(signature_mismatch());
            }
        }
        if let Some(decoder) = &self.content {
            if !decoder.is_done() {
                return Err(s3_error!(IncompleteBody, "the aws-chunked body ended before its final chunk"));
            }
            if let Some(expected) = self.decoded_length {
                if decoder.decoded_bytes != expected {
                    return Err(s3_error!(
                        IncompleteBody,
                        "decoded {} bytes but x-amz-decoded-content-length is {expected}",
                        decoder.decoded_bytes
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads a whole small body (an XML document) of at most `max_bytes`.
    pub async fn read_all(&mut self, connection: &mut Connection, max_bytes: usize) -> Result<Vec<u8>, S3Error> {
        if let Some(length) = self.declared_length() {
            if length > max_bytes as u64 {
                return Err(s3_error!(MalformedXML, "the request body is larger than {max_bytes} bytes"));
            }
        }
        let mut body = Vec::new();
        loop {
            let room = max_bytes + 1 - body.len();
            if self.read_into(connection, &mut body, room).await? == 0 {
                return Ok(body);
            }
            if body.len() > max_bytes {
                return Err(s3_error!(MalformedXML, "the request body is larger than {max_bytes} bytes"));
            }
        }
    }

    /// Reads and discards the rest of the body, up to `max_bytes`. Returns whether the body
    /// is now complete (so the connection can serve the next request).
    pub async fn drain(&mut self, connection: &mut Connection, max_bytes: u64) -> bool {
        if self.finished {
            return true;
        }
        if self.broken || self.continue_pending {
            // The client has not sent the body (it waits for 100 Continue) or the stream is
            // out of step: the connection cannot be reused.
            return false;
        }
        let mut scratch = Vec::with_capacity(CONNECTION_BUFFER_BYTES);
        let mut drained = 0u64;
        while drained <= max_bytes {
            scratch.clear();
            match self.read_into(connection, &mut scratch, CONNECTION_BUFFER_BYTES).await {
                Ok(0) => return true,
                Ok(read) => drained += read as u64,
                Err(_) => return false,
            }
        }
        false
    }
}

fn framing_error(error: ChunkError) -> S3Error {
    s3_error!(IncompleteBody, "malformed chunked body: {error:?}")
}

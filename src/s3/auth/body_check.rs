//! Verifying a signed body as it streams in, as the wire layer's `BodyCheck`: SigV4's payload
//! hash (`x-amz-content-sha256`) over the decoded body, and the signature chain of an
//! aws-chunked `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body, chunk by chunk, so a
//! tampered chunk is refused before the object is committed.

use sha2::{Digest, Sha256};

use super::constant_time_eq;
use crate::encoding::hex;
use crate::http::body::{BodyCheck, CheckFailure};
use crate::sigv4::{chunk_signature, sha256_hex, trailer_signature};

/// What a verified request still owes: a payload hash or chunk signatures to check.
#[derive(Debug, Default)]
pub(crate) struct BodyVerification {
    /// Hex SHA-256 the decoded body must have (`x-amz-content-sha256`).
    pub(crate) payload_sha256: Option<String>,
    /// Chunk signature chain of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
    pub(crate) chunk_signing: Option<ChunkSigning>,
}

/// Everything needed to verify aws-chunked chunk signatures.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSigning {
    pub(crate) key: [u8; 32],
    pub(crate) timestamp: String,
    pub(crate) scope: String,
    /// The previous signature in the chain (the seed: the request's own signature).
    pub(crate) previous: String,
    /// Whether a signed trailer follows the last chunk.
    pub(crate) signed_trailer: bool,
}

impl BodyVerification {
    /// The check to arm on the body, if anything is owed.
    pub(crate) fn into_check(self) -> Option<Box<dyn BodyCheck>> {
        if self.payload_sha256.is_none() && self.chunk_signing.is_none() {
            return None;
        }
        Some(Box::new(BodyVerifier {
            payload: self.payload_sha256.map(|expected| (Sha256::new(), expected)),
            chunks: self.chunk_signing.map(|signing| ChunkVerifier { signing, current: None }),
        }))
    }
}

struct BodyVerifier {
    /// Running hash of the decoded body and the hex digest it must reach.
    payload: Option<(Sha256, String)>,
    chunks: Option<ChunkVerifier>,
}

struct ChunkVerifier {
    signing: ChunkSigning,
    /// The chunk being read: its running hash and the signature its size line announced.
    current: Option<(Sha256, String)>,
}

impl ChunkVerifier {
    fn start(&mut self, size: u64, extensions: &str) -> Result<(), CheckFailure> {
        self.finish_current()?;
        let signature = extensions
            .split(';')
            .find_map(|part| part.trim().strip_prefix("chunk-signature="))
            .unwrap_or("")
            .to_string();
        self.current = Some((Sha256::new(), signature));
        if size == 0 {
            self.finish_current()?;
        }
        Ok(())
    }

    fn finish_current(&mut self) -> Result<(), CheckFailure> {
        let Some((hasher, announced)) = self.current.take() else { return Ok(()) };
        let signing = &self.signing;
        let expected = chunk_signature(
            &signing.key,
            &signing.timestamp,
            &signing.scope,
            &signing.previous,
            &hex(&hasher.finalize()),
        );
        let matches = constant_time_eq(expected.as_bytes(), announced.as_bytes());
        self.signing.previous = expected;
        if matches {
            Ok(())
        } else {
            Err(CheckFailure::ChunkSignature)
        }
    }

    /// Checks `x-amz-trailer-signature` over the other trailer fields.
    fn check_trailer(&self, trailers: &[(String, String)]) -> Result<(), CheckFailure> {
        if !self.signing.signed_trailer {
            return Ok(());
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
        if constant_time_eq(expected.as_bytes(), announced.as_bytes()) {
            Ok(())
        } else {
            Err(CheckFailure::ChunkSignature)
        }
    }
}

impl BodyCheck for BodyVerifier {
    fn chunk_start(&mut self, size: u64, extensions: &str) -> Result<(), CheckFailure> {
        match &mut self.chunks {
            Some(chunks) => chunks.start(size, extensions),
            None => Ok(()),
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if let Some((hasher, _)) = &mut self.payload {
            hasher.update(bytes);
        }
        if let Some((hasher, _)) = self.chunks.as_mut().and_then(|chunks| chunks.current.as_mut()) {
            hasher.update(bytes);
        }
    }

    fn end(&mut self, trailers: &[(String, String)]) -> Result<(), CheckFailure> {
        if let Some(chunks) = &mut self.chunks {
            // A body that ended without its zero-size chunk is refused by the framing first.
            chunks.finish_current()?;
            chunks.check_trailer(trailers)?;
        }
        if let Some((hasher, expected)) = self.payload.take() {
            let digest = hex(&hasher.finalize());
            if !constant_time_eq(digest.as_bytes(), expected.as_bytes()) {
                return Err(CheckFailure::PayloadDigest);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{signing_key, EMPTY_SHA256};

    fn payload(expected: &str) -> Box<dyn BodyCheck> {
        BodyVerification { payload_sha256: Some(expected.to_string()), chunk_signing: None }.into_check().unwrap()
    }

    #[test]
    fn payload_hash_covers_the_whole_body_in_any_pieces() {
        let expected = sha256_hex(b"hello world");
        let mut check = payload(&expected);
        check.data(b"hello ");
        check.data(b"world");
        assert_eq!(check.end(&[]), Ok(()));
        let mut check = payload(&expected);
        check.data(b"hello there");
        assert_eq!(check.end(&[]), Err(CheckFailure::PayloadDigest));
        assert_eq!(payload(EMPTY_SHA256).end(&[]), Ok(()));
        assert!(BodyVerification::default().into_check().is_none(), "nothing owed, nothing armed");
    }

    /// The streaming example of S3's SigV4 documentation: seed signature, then a 64 KiB chunk.
    #[test]
    fn chunk_chain_accepts_the_aws_example_and_refuses_a_changed_byte() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
        let signing = ChunkSigning {
            key,
            timestamp: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
            signed_trailer: false,
        };
        let first = "chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
        let chunk = vec![b'a'; 65536];
        let check =
            || BodyVerification { payload_sha256: None, chunk_signing: Some(signing.clone()) }.into_check().unwrap();
        let mut good = check();
        assert_eq!(good.chunk_start(65536, first), Ok(()));
        good.data(&chunk);
        // The next chunk's start closes the first one: its signature is checked then.
        assert_eq!(
            good.chunk_start(1024, "chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
            Ok(())
        );
        let mut bad = check();
        assert_eq!(bad.chunk_start(65536, first), Ok(()));
        bad.data(&chunk[1..]);
        bad.data(b"b");
        assert_eq!(bad.chunk_start(0, "chunk-signature=00"), Err(CheckFailure::ChunkSignature));
    }
}

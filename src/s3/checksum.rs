//! Additional checksums of uploads (`x-amz-checksum-*`, as a header or an aws-chunked
//! trailer): computed in the same pass as the MD5, verified (BadDigest on mismatch), stored,
//! and returned on GET/HEAD when the client asks with `x-amz-checksum-mode: ENABLED`.

use base64::Engine;
use sha1::Digest as _;

use crate::error::S3Error;
use crate::http::request::RequestHead;
use crate::s3_error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The header (and trailer) name carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3 uses in messages and `x-amz-sdk-checksum-algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    fn digest_bytes(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    pub fn from_header(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL.into_iter().find(|algorithm| algorithm.header().eq_ignore_ascii_case(name.trim()))
    }
}

/// A running checksum.
pub enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Crc32(hasher) => hasher.update(bytes),
            Self::Crc32c(state) => *state = crc32c::crc32c_append(*state, bytes),
            Self::Crc64Nvme(digest) => digest.write(bytes),
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    /// The checksum as S3 transmits it: base64 of the big-endian digest.
    pub fn finish_base64(self) -> String {
        let digest: Vec<u8> = match self {
            Self::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(state) => state.to_be_bytes().to_vec(),
            Self::Crc64Nvme(digest) => digest.sum64().to_be_bytes().to_vec(),
            Self::Sha1(hasher) => hasher.finalize().to_vec(),
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(digest)
    }
}

/// What a request asks to be checked: the algorithm, and the expected value when it came as
/// a header (a trailer's value arrives after the body).
#[derive(Debug, PartialEq, Eq)]
pub struct ChecksumRequest {
    pub algorithm: ChecksumAlgorithm,
    pub expected: Option<String>,
}

fn invalid_value(algorithm: ChecksumAlgorithm) -> S3Error {
    s3_error!(InvalidRequest, "Value for {} header is invalid.", algorithm.header())
}

/// Checks a base64 checksum value's form for `algorithm`.
pub fn validate_value(algorithm: ChecksumAlgorithm, value: &str) -> Result<(), S3Error> {
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| invalid_value(algorithm))?;
    if decoded.len() != algorithm.digest_bytes() {
        return Err(invalid_value(algorithm));
    }
    Ok(())
}

/// Reads the checksum a write request carries (header, or announced trailer).
pub fn requested_checksum(head: &RequestHead) -> Result<Option<ChecksumRequest>, S3Error> {
    let mut found = None;
    for algorithm in ChecksumAlgorithm::ALL {
        if let Some(value) = head.header(algorithm.header()) {
            if found.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            validate_value(algorithm, value)?;
            found = Some(ChecksumRequest { algorithm, expected: Some(value.trim().to_string()) });
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    if let Some(trailer) = head.header("x-amz-trailer") {
        for name in trailer.split(',') {
            if let Some(algorithm) = ChecksumAlgorithm::from_header(name) {
                return Ok(Some(ChecksumRequest { algorithm, expected: None }));
            }
        }
    }
    Ok(None)
}

/// Compares the computed checksum with the expected one (header, else trailer).
pub fn verify(request: &ChecksumRequest, computed: &str, trailers: &[(String, String)]) -> Result<(), S3Error> {
    let expected = match &request.expected {
        Some(expected) => expected.clone(),
        None => {
            let header = request.algorithm.header();
            let value = trailers
                .iter()
                .find(|(name, _)| name == header)
                .map(|(_, value)| value.trim().to_string())
                .ok_or_else(|| s3_error!(InvalidRequest, "The {header} trailer was announced but not sent."))?;
            validate_value(request.algorithm, &value)?;
            value
        }
    };
    if expected != computed {
        return Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            request.algorithm.name()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut hasher = ChecksumHasher::new(algorithm);
        let (first, second) = data.split_at(data.len() / 2);
        hasher.update(first);
        hasher.update(second);
        hasher.finish_base64()
    }

    #[test]
    fn known_vectors() {
        // "123456789" is the standard check input of CRC catalogues.
        let check = b"123456789";
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(checksum(ChecksumAlgorithm::Crc32, check), b64(&0xCBF4_3926u32.to_be_bytes()));
        assert_eq!(checksum(ChecksumAlgorithm::Crc32c, check), b64(&0xE306_9283u32.to_be_bytes()));
        assert_eq!(checksum(ChecksumAlgorithm::Crc64Nvme, check), b64(&0xAE8B_1486_0A79_9888u64.to_be_bytes()));
        assert_eq!(checksum(ChecksumAlgorithm::Sha1, b"abc"), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        assert_eq!(checksum(ChecksumAlgorithm::Sha256, b"abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    }

    #[test]
    fn requests_and_verification() {
        let mut head = RequestHead::default();
        head.parse(b"PUT /b/k HTTP/1.1\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n").unwrap();
        let request = requested_checksum(&head).unwrap().unwrap();
        assert_eq!(request.algorithm, ChecksumAlgorithm::Crc32);
        assert!(verify(&request, "AAAAAA==", &[]).is_ok());
        assert_eq!(verify(&request, "AAAAAB==", &[]).unwrap_err().code, crate::error::S3ErrorCode::BadDigest);

        head.parse(b"PUT /b/k HTTP/1.1\r\nx-amz-trailer: x-amz-checksum-crc32c\r\n\r\n").unwrap();
        let request = requested_checksum(&head).unwrap().unwrap();
        assert_eq!(request, ChecksumRequest { algorithm: ChecksumAlgorithm::Crc32c, expected: None });
        let trailers = vec![("x-amz-checksum-crc32c".to_string(), "4wOSgw==".to_string())];
        assert!(verify(&request, "4wOSgw==", &trailers).is_ok());
        assert!(verify(&request, "4wOSgw==", &[]).is_err());

        head.parse(b"PUT /b/k HTTP/1.1\r\nx-amz-checksum-crc32: nonsense\r\n\r\n").unwrap();
        assert!(requested_checksum(&head).is_err());
        head.parse(b"PUT /b/k HTTP/1.1\r\nx-amz-checksum-crc32: AAAAAA==\r\nx-amz-checksum-sha1: qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\r\n\r\n").unwrap();
        assert!(requested_checksum(&head).is_err());
    }
}

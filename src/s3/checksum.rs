//! Additional checksums of uploads (`x-amz-checksum-*`, as a header or an aws-chunked
//! trailer): computed in the same pass as the MD5, verified (BadDigest on mismatch), stored,
//! and returned on GET/HEAD when the client asks with `x-amz-checksum-mode: ENABLED`.

use base64::Engine;
use sha1::Digest as _;

use crate::error::S3Error;
use crate::http::request::RequestHead;
use crate::s3_error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub(crate) const ALL: [ChecksumAlgorithm; 5] =
        [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The header (and trailer) name carrying this checksum.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3 uses in messages and `x-amz-sdk-checksum-algorithm`.
    pub(crate) fn name(self) -> &'static str {
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

    pub(crate) fn from_header(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL.into_iter().find(|algorithm| algorithm.header().eq_ignore_ascii_case(name.trim()))
    }
}

/// A running checksum.
pub(crate) enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    pub(crate) fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Crc32(hasher) => hasher.update(bytes),
            Self::Crc32c(state) => *state = crc32c::crc32c_append(*state, bytes),
            Self::Crc64Nvme(digest) => digest.write(bytes),
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    /// The checksum as S3 transmits it: base64 of the big-endian digest.
    pub(crate) fn finish_base64(self) -> String {
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
pub(crate) struct ChecksumRequest {
    pub(crate) algorithm: ChecksumAlgorithm,
    pub(crate) expected: Option<String>,
}

fn invalid_value(algorithm: ChecksumAlgorithm) -> S3Error {
    s3_error!(InvalidRequest, "Value for {} header is invalid.", algorithm.header())
}

/// Checks a base64 checksum value's form for `algorithm`.
pub(crate) fn validate_value(algorithm: ChecksumAlgorithm, value: &str) -> Result<(), S3Error> {
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| invalid_value(algorithm))?;
    if decoded.len() != algorithm.digest_bytes() {
        return Err(invalid_value(algorithm));
    }
    Ok(())
}

/// Reads the checksum a write request carries (header, or announced trailer).
pub(crate) fn requested_checksum(head: &RequestHead) -> Result<Option<ChecksumRequest>, S3Error> {
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
pub(crate) fn verify(request: &ChecksumRequest, computed: &str, trailers: &[(String, String)]) -> Result<(), S3Error> {
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

/// The checksum settings of a multipart upload (`x-amz-checksum-algorithm`,
/// `x-amz-checksum-type`) as (checksum header name, full-object?).
pub(crate) fn upload_checksum(head: &RequestHead) -> Result<(Option<String>, bool), S3Error> {
    let algorithm = match head.header("x-amz-checksum-algorithm") {
        None => None,
        Some(name) => Some(
            ChecksumAlgorithm::ALL
                .into_iter()
                .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?,
        ),
    };
    let checksum_type = head.header("x-amz-checksum-type").map(|value| value.trim().to_ascii_uppercase());
    let full_object = match (algorithm, checksum_type.as_deref()) {
        (None, None) => return Ok((None, false)),
        (None, Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            ));
        }
        (Some(algorithm), None) => algorithm == ChecksumAlgorithm::Crc64Nvme,
        (Some(_), Some("COMPOSITE")) => false,
        (Some(algorithm), Some("FULL_OBJECT")) => {
            if matches!(algorithm, ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256) {
                return Err(s3_error!(
                    InvalidRequest,
                    "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
                    algorithm.name().to_ascii_lowercase()
                ));
            }
            true
        }
        (Some(_), Some(_)) => {
            return Err(s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid."))
        }
    };
    Ok((algorithm.map(|algorithm| algorithm.header().to_string()), full_object))
}

fn decode_base64(value: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()
}

/// The checksum of a completed multipart object from its parts' checksums, in S3's forms:
/// COMPOSITE is the checksum of the concatenated part checksums with `-N`; FULL_OBJECT (CRCs
/// only) is the CRC of the whole object, combined from the parts' CRCs without reading data.
/// `parts`: each part's (checksum, size). `None` when some part has no checksum.
pub(crate) fn multipart_checksum(
    header: &str,
    full_object: bool,
    parts: &[(Option<&(String, String)>, u64)],
) -> Option<String> {
    let algorithm = ChecksumAlgorithm::from_header(header)?;
    let mut digests = Vec::with_capacity(parts.len());
    for (checksum, size) in parts {
        let (name, value) = (*checksum)?;
        if name != header {
            return None;
        }
        digests.push((decode_base64(value)?, *size));
    }
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    if !full_object {
        let mut hasher = ChecksumHasher::new(algorithm);
        for (digest, _) in &digests {
            hasher.update(digest);
        }
        return Some(format!("{}-{}", hasher.finish_base64(), parts.len()));
    }
    let mut combined: Option<u64> = None;
    for (digest, size) in digests {
        let value = digest.iter().fold(0u64, |acc, byte| acc << 8 | u64::from(*byte));
        combined = Some(match combined {
            None => value,
            Some(previous) => match algorithm {
                ChecksumAlgorithm::Crc32 => crc_combine(previous, value, size, 0xEDB8_8320, 32),
                ChecksumAlgorithm::Crc32c => {
                    u64::from(crc32c::crc32c_combine(previous as u32, value as u32, size as usize))
                }
                ChecksumAlgorithm::Crc64Nvme => crc_combine(previous, value, size, 0x9A6C_9329_AC4B_C9B5, 64),
                ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
            },
        });
    }
    let combined = combined?;
    Some(match algorithm {
        ChecksumAlgorithm::Crc64Nvme => encode(&combined.to_be_bytes()),
        _ => encode(&(combined as u32).to_be_bytes()),
    })
}

/// zlib's CRC combination for reflected CRCs whose init and final xor are all ones (CRC-32,
/// CRC-64/NVME): the CRC of A‖B from crc(A), crc(B) and |B|, by GF(2) matrix powers.
fn crc_combine(first: u64, second: u64, second_length: u64, reflected_polynomial: u64, width: u32) -> u64 {
    fn times(matrix: &[u64; 64], mut vector: u64) -> u64 {
        let mut sum = 0;
        let mut index = 0;
        while vector != 0 {
            if vector & 1 != 0 {
                sum ^= matrix[index];
            }
            vector >>= 1;
            index += 1;
        }
        sum
    }
    fn square(out: &mut [u64; 64], matrix: &[u64; 64], width: usize) {
        for n in 0..width {
            out[n] = times(matrix, matrix[n]);
        }
    }
    if second_length == 0 {
        return first;
    }
    let width = width as usize;
    let mut odd = [0u64; 64];
    let mut even = [0u64; 64];
    odd[0] = reflected_polynomial;
    for (n, row) in odd.iter_mut().enumerate().take(width).skip(1) {
        *row = 1 << (n - 1);
    }
    square(&mut even, &odd, width);
    square(&mut odd, &even, width);
    let mut crc = first;
    let mut length = second_length;
    loop {
        square(&mut even, &odd, width);
        if length & 1 != 0 {
            crc = times(&even, crc);
        }
        length >>= 1;
        if length == 0 {
            break;
        }
        square(&mut odd, &even, width);
        if length & 1 != 0 {
            crc = times(&odd, crc);
        }
        length >>= 1;
        if length == 0 {
            break;
        }
    }
    crc ^ second
}

#[cfg(test)]
mod multipart_tests {
    use super::*;

    fn raw(algorithm: ChecksumAlgorithm, data: &[u8]) -> u64 {
        let mut hasher = ChecksumHasher::new(algorithm);
        hasher.update(data);
        let bytes = decode_base64(&hasher.finish_base64()).unwrap();
        bytes.iter().fold(0u64, |acc, byte| acc << 8 | u64::from(*byte))
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            for cut in [1usize, 100, 4096, 9_999] {
                let (a, b) = data.split_at(cut);
                let parts = [
                    (algorithm.header().to_string(), checksum_of(algorithm, a)),
                    (algorithm.header().to_string(), checksum_of(algorithm, b)),
                ];
                let combined = multipart_checksum(
                    algorithm.header(),
                    true,
                    &[(Some(&parts[0]), a.len() as u64), (Some(&parts[1]), b.len() as u64)],
                );
                assert_eq!(combined, Some(checksum_of(algorithm, &data)), "{algorithm:?} cut {cut}");
            }
        }
        let _ = raw(ChecksumAlgorithm::Crc32, b"");
    }

    fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut hasher = ChecksumHasher::new(algorithm);
        hasher.update(data);
        hasher.finish_base64()
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let algorithm = ChecksumAlgorithm::Sha256;
        let (a, b) = (checksum_of(algorithm, b"first"), checksum_of(algorithm, b"second"));
        let mut joined = decode_base64(&a).unwrap();
        joined.extend(decode_base64(&b).unwrap());
        let expected = format!("{}-2", checksum_of(algorithm, &joined));
        let parts = [(algorithm.header().to_string(), a), (algorithm.header().to_string(), b)];
        assert_eq!(
            multipart_checksum(algorithm.header(), false, &[(Some(&parts[0]), 5), (Some(&parts[1]), 6)]),
            Some(expected)
        );
        assert_eq!(multipart_checksum(algorithm.header(), false, &[(Some(&parts[0]), 5), (None, 6)]), None);
    }

    #[test]
    fn upload_checksum_settings() {
        let parse = |headers: &str| {
            let mut head = RequestHead::default();
            head.parse(format!("POST /b/k?uploads HTTP/1.1\r\n{headers}\r\n").as_bytes()).unwrap();
            upload_checksum(&head)
        };
        assert_eq!(parse("").unwrap(), (None, false));
        assert_eq!(parse("x-amz-checksum-algorithm: CRC32\r\n").unwrap(), (Some("x-amz-checksum-crc32".into()), false));
        assert_eq!(
            parse("x-amz-checksum-algorithm: CRC64NVME\r\n").unwrap(),
            (Some("x-amz-checksum-crc64nvme".into()), true)
        );
        assert_eq!(
            parse("x-amz-checksum-algorithm: crc32c\r\nx-amz-checksum-type: FULL_OBJECT\r\n").unwrap(),
            (Some("x-amz-checksum-crc32c".into()), true)
        );
        assert!(parse("x-amz-checksum-algorithm: SHA1\r\nx-amz-checksum-type: FULL_OBJECT\r\n").is_err());
        assert!(parse("x-amz-checksum-type: COMPOSITE\r\n").is_err());
        assert!(parse("x-amz-checksum-algorithm: MD4\r\n").is_err());
    }
}

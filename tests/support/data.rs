//! Test data: reproducible pseudo-random bytes and choices, and the digests and encodings S3
//! puts on them (MD5 as hex, quoted ETag and base64 Content-MD5).

use base64::Engine;
use md5::{Digest, Md5};

/// splitmix64: small, fast, and reproducible from a printed seed; no dependency.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// The next `length` bytes of the stream (whole words, little-endian, the last cut short).
    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(length + 8);
        while out.len() < length {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(length);
        out
    }
}

/// Deterministic pseudo-random bytes: reproducible failures.
pub fn random_bytes(length: usize, seed: u64) -> Vec<u8> {
    Rng::new(seed.wrapping_add(0x9E37_79B9_7F4A_7C15)).bytes(length)
}

/// The binary MD5 of `bytes`.
pub fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// Lowercase hex, as S3 writes digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&md5_digest(bytes))
}

/// `"<md5 hex>"`, as S3 sends ETags of single-part objects.
pub fn quoted_md5(bytes: &[u8]) -> String {
    format!("\"{}\"", md5_hex(bytes))
}

/// The `Content-MD5` header value of `bytes`.
pub fn md5_base64(bytes: &[u8]) -> String {
    base64(&md5_digest(bytes))
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

//! Text encodings the wire formats share, in one place: lower-case hex (ETags, SigV4
//! signatures, upload ids) and percent-encoding (SigV4's canonical URI and query, S3's
//! `encoding-type=url`, request paths and queries).
//!
//! Encoders use the `percent-encoding` crate with the one character set S3 defines: every byte
//! but the RFC 3986 unreserved characters is escaped, as `%XX` with upper-case digits. The
//! decoder is our own because it must be strict: a malformed escape is an error (S3 answers
//! InvalidURI), where the crate passes it through.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Bytes S3 and SigV4 escape: all but `A-Z a-z 0-9 - _ . ~`.
const S3_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, keeping `/` (object keys in paths, listings with `encoding-type=url`).
const S3_ESCAPED_KEEP_SLASH: &AsciiSet = &S3_ESCAPED.remove(b'/');

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

/// Decodes exactly `N` bytes of hex (either case); `None` for any other length or a non-hex
/// digit.
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = hex_value(digits[index * 2])? << 4 | hex_value(digits[index * 2 + 1])?;
    }
    Some(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes as S3 and SigV4 do (RFC 3986 unreserved characters kept, the rest `%XX`);
/// `keep_slash` keeps `/` as the path separator.
pub fn percent_encode(input: &[u8], keep_slash: bool) -> String {
    let set = if keep_slash { S3_ESCAPED_KEEP_SLASH } else { S3_ESCAPED };
    percent_encoding::percent_encode(input, set).to_string()
}

/// Decodes `%XX` escapes. `plus_is_space`: query strings use form encoding, paths do not.
/// Returns `None` for a malformed escape.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let high = hex_value(*bytes.get(index + 1)?)?;
                let low = hex_value(*bytes.get(index + 2)?)?;
                out.push(high << 4 | low);
                index += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    Some(out)
}

/// Decodes into UTF-8 text; `None` for bad escapes or invalid UTF-8.
pub fn percent_decode_utf8(input: &str, plus_is_space: bool) -> Option<String> {
    String::from_utf8(percent_decode(input, plus_is_space)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode_hex::<3>("00abFF"), Some([0x00, 0xab, 0xff]));
        assert_eq!(decode_hex::<3>("00abf"), None);
        assert_eq!(decode_hex::<2>("zz00"), None);
    }

    #[test]
    fn encoding_follows_sigv4_and_s3() {
        assert_eq!(percent_encode(b"a b/c~d+e*", true), "a%20b/c~d%2Be%2A");
        assert_eq!(percent_encode(b"a/b", false), "a%2Fb");
        assert_eq!(percent_encode("dt=2026-11-25/é".as_bytes(), true), "dt%3D2026-11-25/%C3%A9");
        assert_eq!(percent_encode(b"\n\x7f", true), "%0A%7F");
    }

    #[test]
    fn decoding_paths_and_queries() {
        assert_eq!(percent_decode_utf8("a%20b+c", false).unwrap(), "a b+c");
        assert_eq!(percent_decode_utf8("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode_utf8("%E2%82%AC", false).unwrap(), "€");
        assert_eq!(percent_decode_utf8("%2", false), None);
        assert_eq!(percent_decode_utf8("%zz", false), None);
        assert_eq!(percent_decode_utf8("%FF", false), None, "not UTF-8");
        assert_eq!(percent_decode("%00", false).unwrap(), [0]);
    }

    #[test]
    fn encoded_keys_round_trip_through_both_decoders() {
        for key in ["a b+c", "dt=2026-11-25/part 0.parquet", "ü/€?*%", "plain/key", "line\nbreak"] {
            let encoded = percent_encode(key.as_bytes(), true);
            assert_eq!(percent_decode_utf8(&encoded, false).unwrap(), key);
            assert_eq!(percent_decode_utf8(&encoded, true).unwrap(), key);
        }
    }
}

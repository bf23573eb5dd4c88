//! Percent-decoding of paths and query strings, and S3's URL encoding for
//! `encoding-type=url` listings.

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

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// S3's `encoding-type=url`: every byte but unreserved characters and `/` is escaped, so
/// clients that decode with either `unquote` or `unquote_plus` get the key back.
pub fn url_encode_key(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(byte >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(byte & 15) as usize]));
        }
    }
    out
}

/// A parsed query string. A parameter may be present without a value (`?uploads`).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, Option<String>)>,
}

impl Query {
    pub fn parse(query: &str) -> Option<Query> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|part| !part.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((name, value)) => (name, Some(percent_decode_utf8(value, true)?)),
                None => (part, None),
            };
            pairs.push((percent_decode_utf8(name, true)?, value));
        }
        Some(Query { pairs })
    }

    /// The first value of `name` (`Some("")` when present without a value).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_deref().unwrap_or(""))
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    /// All parameters, decoded, in request order (for signature canonicalisation).
    pub fn pairs(&self) -> &[(String, Option<String>)] {
        &self.pairs
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn url_encoding_round_trips_through_both_decoders() {
        for key in ["a b+c", "dt=2026-11-25/part 0.parquet", "ü/€?*%", "plain/key"] {
            let encoded = url_encode_key(key);
            assert_eq!(percent_decode_utf8(&encoded, false).unwrap(), key);
            assert_eq!(percent_decode_utf8(&encoded, true).unwrap(), key);
        }
        assert_eq!(url_encode_key("a b/c"), "a%20b/c");
    }

    #[test]
    fn query_parameters_with_and_without_values() {
        let query = Query::parse("uploads&prefix=a%2Fb&max-keys=10&empty=").unwrap();
        assert!(query.has("uploads"));
        assert_eq!(query.get("uploads"), Some(""));
        assert_eq!(query.get("prefix"), Some("a/b"));
        assert_eq!(query.get("max-keys"), Some("10"));
        assert_eq!(query.get("empty"), Some(""));
        assert_eq!(query.get("missing"), None);
        assert!(Query::parse("a=%zz").is_none());
    }
}

//! The query string of a request, decoded into its parameters.

use crate::encoding::percent_decode_utf8;

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
    pub(crate) fn pairs(&self) -> &[(String, Option<String>)] {
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

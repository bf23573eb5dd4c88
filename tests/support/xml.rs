//! Reading S3's XML answers without a parser (the tests check exact element texts) and
//! escaping text for request documents.

/// The texts of every `<tag>` element, in document order, entities decoded. `<tag/>` gives "".
/// Nested elements of the same name are not supported (S3 documents have none).
pub fn xml_values(body: impl AsRef<[u8]>, tag: &str) -> Vec<String> {
    xml_blocks(body, tag).iter().map(|inner| xml_unescape(inner)).collect()
}

/// The raw inner XML of every `<tag>` element, in document order.
pub fn xml_blocks(body: impl AsRef<[u8]>, tag: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(body.as_ref()).into_owned();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(&open) {
        let start = at + found;
        let after = start + open.len();
        let rest = &text[after..];
        // `<tag>`, `<tag attr...>` or `<tag/>`, never `<tagOther>`.
        match rest.chars().next() {
            Some('>') => {
                let content_start = after + 1;
                let Some(end) = text[content_start..].find(&close) else { break };
                out.push(text[content_start..content_start + end].to_string());
                at = content_start + end + close.len();
            }
            Some('/') if rest.starts_with("/>") => {
                out.push(String::new());
                at = after + 2;
            }
            Some(' ') => {
                let Some(gt) = rest.find('>') else { break };
                if rest[..gt].ends_with('/') {
                    out.push(String::new());
                    at = after + gt + 1;
                } else {
                    let content_start = after + gt + 1;
                    let Some(end) = text[content_start..].find(&close) else { break };
                    out.push(text[content_start..content_start + end].to_string());
                    at = content_start + end + close.len();
                }
            }
            _ => at = after,
        }
    }
    out
}

/// The single value of `<tag>`; panics when absent or repeated.
#[track_caller]
pub fn xml_value(body: impl AsRef<[u8]>, tag: &str) -> String {
    let values = xml_values(body.as_ref(), tag);
    assert_eq!(values.len(), 1, "expected exactly one <{tag}> in {}", String::from_utf8_lossy(body.as_ref()));
    values.into_iter().next().unwrap()
}

pub fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

/// XML-escapes text for a request document.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The `<Code>` of an S3 error document.
pub fn error_code(body: &[u8]) -> Option<String> {
    xml_values(body, "Code").into_iter().next()
}

//! A small, bounded element tree read with quick-xml: request documents are tiny, and walking
//! a tree keeps each document's decoder short and obvious. Namespaces are ignored (clients send
//! S3's namespace or none); DTDs and processing instructions are refused or skipped, never
//! expanded.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::XmlDecodeError;

/// Deepest nesting a request document may have.
const DEPTH_MAX: usize = 8;
/// Most elements in one request document unless its decoder allows more (DeleteObjects: 1000
/// objects × 3 elements). CompleteMultipartUpload allows more: see `parse_with_elements_max`.
const ELEMENTS_MAX: usize = 8_192;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|child| child.text.as_str())
    }
}

fn malformed(detail: impl Into<String>) -> XmlDecodeError {
    XmlDecodeError::Malformed(detail.into())
}

fn local_name(raw: &[u8]) -> Result<String, XmlDecodeError> {
    let local = match raw.iter().rposition(|&byte| byte == b':') {
        Some(colon) => &raw[colon + 1..],
        None => raw,
    };
    String::from_utf8(local.to_vec()).map_err(|_| malformed("element name is not UTF-8"))
}

/// Parses a whole document into its root element.
pub(crate) fn parse(document: &[u8], size_max: usize) -> Result<Element, XmlDecodeError> {
    parse_with_elements_max(document, size_max, ELEMENTS_MAX)
}

/// `parse` for a document that may legitimately hold more than `ELEMENTS_MAX` elements (a
/// CompleteMultipartUpload of 10,000 parts has 30,000 and more). The tree costs about 100
/// bytes per element, so the bound is what keeps a hostile document's memory in check.
pub(crate) fn parse_with_elements_max(
    document: &[u8],
    size_max: usize,
    elements_max: usize,
) -> Result<Element, XmlDecodeError> {
    if document.len() > size_max {
        return Err(XmlDecodeError::TooLarge);
    }
    let mut reader = Reader::from_reader(document);
    reader.config_mut().check_end_names = true;
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|error| malformed(error.to_string()))?;
        match event {
            Event::Start(start) => {
                elements += 1;
                if stack.len() >= DEPTH_MAX || elements > elements_max || root.is_some() {
                    return Err(malformed("document too deep, too large, or has several roots"));
                }
                stack.push(Element { name: local_name(start.name().as_ref())?, ..Element::default() });
            }
            Event::Empty(empty) => {
                elements += 1;
                if elements > elements_max {
                    return Err(malformed("too many elements"));
                }
                let element = Element { name: local_name(empty.name().as_ref())?, ..Element::default() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(malformed("several roots")),
                }
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|error| malformed(error.to_string()))?;
                match stack.last_mut() {
                    Some(element) => element.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element")),
                }
            }
            Event::CData(data) => {
                let text = std::str::from_utf8(&data).map_err(|_| malformed("CDATA is not UTF-8"))?;
                match stack.last_mut() {
                    Some(element) => element.text.push_str(text),
                    None => return Err(malformed("CDATA outside the root element")),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::DocType(_) => return Err(malformed("DTDs are not accepted")),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or_else(|| malformed("empty document"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_namespaces() {
        let document = br#"<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a &amp; b</Key></Object><Quiet>true</Quiet></Delete>"#;
        let root = parse(document, 1 << 20).unwrap();
        assert_eq!(root.name, "Delete");
        assert_eq!(root.child("Object").unwrap().child_text("Key"), Some("a & b"));
        assert_eq!(root.child_text("Quiet"), Some("true"));
    }

    #[test]
    fn refuses_malformed_and_hostile_documents() {
        for document in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"just text",
            b"<a></a><b></b>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a>&unknown;</a>",
        ] {
            assert!(parse(document, 1 << 20).is_err(), "{:?}", String::from_utf8_lossy(document));
        }
        let deep = "<a>".repeat(DEPTH_MAX + 1) + &"</a>".repeat(DEPTH_MAX + 1);
        assert!(parse(deep.as_bytes(), 1 << 20).is_err());
        assert_eq!(parse(b"<a/>", 2), Err(XmlDecodeError::TooLarge));
    }

    #[test]
    fn the_element_bound_is_the_callers() {
        let document = format!("<a>{}</a>", "<b/>".repeat(ELEMENTS_MAX));
        assert!(parse(document.as_bytes(), 1 << 20).is_err(), "one element past the default bound");
        let root = parse_with_elements_max(document.as_bytes(), 1 << 20, ELEMENTS_MAX + 1).unwrap();
        assert_eq!(root.children.len(), ELEMENTS_MAX);
    }
}

//! Generic XML: an append-only writer that formats straight into a response buffer, and a
//! bounded element-tree reader for request bodies (`tree`). The S3 documents built with them
//! live in `s3::documents`; nothing here knows S3 or storage.
//!
//! Text is escaped with quick-xml's escaper; element names are the caller's constants, never
//! client input.

pub(crate) mod tree;

use quick_xml::escape::escape;

/// The S3 namespace every response document carries.
pub(crate) const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

thread_local! {
    /// Large document buffers of this core, kept for the next large document.
    static SPARE_DOCUMENTS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare document buffers a core keeps, and the largest kept.
const SPARE_DOCUMENTS_MAX: usize = 8;
const SPARE_DOCUMENT_BYTES_MAX: usize = 1024 * 1024;

/// Takes back a written document's buffer for the next large document on this core.
pub(crate) fn recycle_document(mut buffer: Vec<u8>) {
    if buffer.capacity() > SPARE_DOCUMENT_BYTES_MAX {
        return;
    }
    buffer.clear();
    SPARE_DOCUMENTS.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_DOCUMENTS_MAX {
            spare.push(buffer);
        }
    });
}

/// A minimal append-only XML writer over a byte buffer.
pub(crate) struct XmlWriter {
    buffer: Vec<u8>,
}

impl XmlWriter {
    /// A writer that starts with the XML declaration, as S3's documents do.
    pub(crate) fn with_declaration() -> Self {
        Self::with_declaration_and_capacity(512)
    }

    /// As `with_declaration`, sized for a document of about `capacity` bytes (a listing page
    /// of 1000 keys is ~200 KiB: growing to it by doubling would copy it several times).
    /// The buffer is a recycled one where the core has one (see `recycle_document`): a
    /// fresh allocation this large is mapped and faulted in page by page each time.
    pub(crate) fn with_declaration_and_capacity(capacity: usize) -> Self {
        let mut buffer = SPARE_DOCUMENTS.with(|spare| spare.borrow_mut().pop()).unwrap_or_default();
        buffer.reserve(capacity);
        buffer.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        XmlWriter { buffer }
    }

    /// Opens the root element with the S3 namespace.
    pub(crate) fn open_root(&mut self, name: &str) {
        self.buffer.push(b'<');
        self.buffer.extend_from_slice(name.as_bytes());
        self.buffer.extend_from_slice(b" xmlns=\"");
        self.buffer.extend_from_slice(S3_NAMESPACE.as_bytes());
        self.buffer.extend_from_slice(b"\">");
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.buffer.push(b'<');
        self.buffer.extend_from_slice(name.as_bytes());
        self.buffer.push(b'>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.buffer.extend_from_slice(b"</");
        self.buffer.extend_from_slice(name.as_bytes());
        self.buffer.push(b'>');
    }

    /// `<name>text</name>` with the text escaped.
    /// A carriage return is written as `&#13;`: XML readers turn a literal one into a line
    /// feed, so a key holding one would not come back as it was.
    pub(crate) fn element(&mut self, name: &str, text: &str) {
        self.open(name);
        let escaped = escape(text);
        if escaped.contains('\r') {
            self.buffer.extend_from_slice(escaped.replace('\r', "&#13;").as_bytes());
        } else {
            self.buffer.extend_from_slice(escaped.as_bytes());
        }
        self.close(name);
    }

    /// `<name>value</name>` for a number.
    pub(crate) fn element_u64(&mut self, name: &str, value: u64) {
        self.open(name);
        let mut digits = itoa_buffer();
        self.buffer.extend_from_slice(format_u64(value, &mut digits));
        self.close(name);
    }

    /// Appends markup the caller wrote (a constant; never client input).
    pub(crate) fn raw(&mut self, markup: &[u8]) {
        self.buffer.extend_from_slice(markup);
    }

    pub(crate) fn element_bool(&mut self, name: &str, value: bool) {
        self.element(name, if value { "true" } else { "false" });
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buffer
    }
}

fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// Formats without allocating (listing encoders call this thousands of times per page).
fn format_u64(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buffer[start..]
}

/// Errors of the request-body decoders (`error.rs` maps them to S3's `MalformedXML`).
#[derive(Debug, PartialEq, Eq)]
pub enum XmlDecodeError {
    Malformed(String),
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_without_allocation() {
        let mut buffer = itoa_buffer();
        assert_eq!(format_u64(0, &mut buffer), b"0");
        assert_eq!(format_u64(u64::MAX, &mut buffer), b"18446744073709551615");
        assert_eq!(format_u64(1000, &mut buffer), b"1000");
    }

    #[test]
    fn elements_are_escaped() {
        let mut xml = XmlWriter::with_declaration();
        xml.open_root("R");
        xml.element("K", "a<b>&\"'");
        xml.element("C", "a\r\nb");
        xml.element_u64("N", 42);
        xml.close("R");
        let text = String::from_utf8(xml.finish()).unwrap();
        assert!(text.ends_with(
            "<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><K>a&lt;b&gt;&amp;&quot;&apos;</K><C>a&#13;\nb</C><N>42</N></R>"
        ));
    }
}

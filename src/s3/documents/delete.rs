//! DeleteObjects: the `<Delete>` request document and the `<DeleteResult>` answer.

use crate::error::S3Error;
use crate::limits::{DELETE_OBJECTS_KEYS_MAX, XML_BODY_BYTES_MAX};
use crate::xml::{tree, XmlDecodeError, XmlWriter};

#[derive(Debug, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    pub keys: Vec<String>,
}

pub fn decode_delete(document: &[u8]) -> Result<DeleteRequest, XmlDecodeError> {
    let root = tree::parse(document, XML_BODY_BYTES_MAX)?;
    if root.name != "Delete" {
        return Err(XmlDecodeError::Malformed(format!("root is {}, not Delete", root.name)));
    }
    let quiet = match root.child_text("Quiet").map(str::trim) {
        None => false,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(other) => return Err(XmlDecodeError::Malformed(format!("Quiet is {other}"))),
    };
    let mut keys = Vec::new();
    for object in root.children_named("Object") {
        let key = object.child_text("Key").ok_or_else(|| XmlDecodeError::Malformed("Object without Key".into()))?;
        keys.push(key.to_string());
    }
    if keys.is_empty() || keys.len() > DELETE_OBJECTS_KEYS_MAX {
        return Err(XmlDecodeError::Malformed(format!(
            "{} objects (1 to {DELETE_OBJECTS_KEYS_MAX} allowed)",
            keys.len()
        )));
    }
    Ok(DeleteRequest { quiet, keys })
}

/// The answer: every deleted key (unless quiet) and every failed key.
pub fn encode_delete_result(quiet: bool, outcomes: &[(String, Result<(), S3Error>)]) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("DeleteResult");
    for (key, outcome) in outcomes {
        match outcome {
            Ok(()) if quiet => {}
            Ok(()) => {
                xml.open("Deleted");
                xml.element("Key", key);
                xml.close("Deleted");
            }
            Err(error) => {
                xml.open("Error");
                xml.element("Key", key);
                xml.element("Code", error.code.as_str());
                xml.element("Message", &error.message);
                xml.close("Error");
            }
        }
    }
    xml.close("DeleteResult");
    xml.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    #[test]
    fn decodes_the_documented_request() {
        let document = b"<Delete><Object><Key>a</Key></Object><Object><Key>b/c</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>";
        let request = decode_delete(document).unwrap();
        assert_eq!(request, DeleteRequest { quiet: true, keys: vec!["a".into(), "b/c".into()] });
    }

    #[test]
    fn refuses_bad_requests() {
        assert!(decode_delete(b"<Delete></Delete>").is_err());
        assert!(decode_delete(b"<Other><Object><Key>a</Key></Object></Other>").is_err());
        assert!(decode_delete(b"<Delete><Object></Object></Delete>").is_err());
        assert!(decode_delete(b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>").is_err());
        let many = format!("<Delete>{}</Delete>", "<Object><Key>k</Key></Object>".repeat(DELETE_OBJECTS_KEYS_MAX + 1));
        assert!(decode_delete(many.as_bytes()).is_err());
    }

    #[test]
    fn result_lists_deleted_and_errors() {
        let outcomes =
            vec![("a".to_string(), Ok(())), ("b".to_string(), Err(S3Error::new(S3ErrorCode::KeyTooLongError)))];
        let xml = String::from_utf8(encode_delete_result(false, &outcomes)).unwrap();
        assert!(xml.contains("<Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>KeyTooLongError</Code>"));
        let quiet = String::from_utf8(encode_delete_result(true, &outcomes)).unwrap();
        assert!(!quiet.contains("<Deleted>") && quiet.contains("<Error>"));
    }
}

//! Tags: S3's limits and characters, the `x-amz-tagging` header form and the `<Tagging>`
//! document. Pure functions; the actions are in `tagging`.

use crate::encoding::percent_decode_utf8;
use crate::error::S3Error;
use crate::limits::XML_BODY_BYTES_MAX;
use crate::s3_error;
use crate::store::record::Pair;
use crate::xml::{tree, XmlWriter};

pub const OBJECT_TAGS_MAX: usize = 10;
pub const BUCKET_TAGS_MAX: usize = 50;
pub(crate) const TAG_KEY_CHARS_MAX: usize = 128;
pub(crate) const TAG_VALUE_CHARS_MAX: usize = 256;

fn allowed_character(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c)
}

/// Checks a tag set against S3's rules.
pub fn validate_tags(tags: &[Pair], tags_max: usize) -> Result<(), S3Error> {
    if tags.len() > tags_max {
        // S3 answers a tag count over the limit with the generic BadRequest code.
        let what = if tags_max == BUCKET_TAGS_MAX { "Bucket tag count" } else { "Object tags" };
        return Err(s3_error!(BadRequest, "{what} cannot be greater than {tags_max}"));
    }
    for (index, (key, value)) in tags.iter().enumerate() {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > TAG_KEY_CHARS_MAX {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if !key.chars().all(allowed_character) || !value.chars().all(allowed_character) {
            return Err(s3_error!(InvalidTag, "The TagKey or TagValue you have provided contains invalid characters"));
        }
        if key.starts_with("aws:") {
            return Err(s3_error!(InvalidTag, "Your TagKey cannot be prefixed with aws:"));
        }
        if tags[..index].iter().any(|(earlier, _)| earlier == key) {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

/// Parses the `x-amz-tagging` header (URL query form: `k1=v1&k2=v2`).
pub(crate) fn parse_tagging_header(value: &str) -> Result<Vec<Pair>, S3Error> {
    let mut tags = Vec::new();
    for part in value.split('&').filter(|part| !part.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode_utf8(key, true).ok_or_else(|| s3_error!(InvalidArgument, "bad x-amz-tagging"))?;
        let value = percent_decode_utf8(value, true).ok_or_else(|| s3_error!(InvalidArgument, "bad x-amz-tagging"))?;
        tags.push((key, value));
    }
    validate_tags(&tags, OBJECT_TAGS_MAX)?;
    Ok(tags)
}

/// Decodes a `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>` document.
pub fn decode_tagging(document: &[u8], tags_max: usize) -> Result<Vec<Pair>, S3Error> {
    let root = tree::parse(document, XML_BODY_BYTES_MAX)?;
    let tag_set = (root.name == "Tagging").then(|| root.child("TagSet")).flatten();
    let Some(tag_set) = tag_set else {
        return Err(s3_error!(MalformedXML));
    };
    let mut tags = Vec::new();
    for tag in tag_set.children_named("Tag") {
        match (tag.child_text("Key"), tag.child_text("Value")) {
            (Some(key), Some(value)) => tags.push((key.to_string(), value.to_string())),
            _ => return Err(s3_error!(MalformedXML)),
        }
    }
    validate_tags(&tags, tags_max)?;
    Ok(tags)
}

pub fn encode_tagging(tags: &[Pair]) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("Tagging");
    xml.open("TagSet");
    for (key, value) in tags {
        xml.open("Tag");
        xml.element("Key", key);
        xml.element("Value", value);
        xml.close("Tag");
    }
    xml.close("TagSet");
    xml.close("Tagging");
    xml.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    fn pairs(list: &[(&str, &str)]) -> Vec<Pair> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn limits_and_characters() {
        assert!(validate_tags(&pairs(&[("project", "blue sky"), ("a+b", "c=d:/@._-")]), 10).is_ok());
        assert!(validate_tags(&pairs(&[("ключ", "значение")]), 10).is_ok());
        let eleven: Vec<Pair> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(validate_tags(&eleven, OBJECT_TAGS_MAX).unwrap_err().code, S3ErrorCode::BadRequest);
        assert!(validate_tags(&eleven, BUCKET_TAGS_MAX).is_ok());
        let long_key = "k".repeat(129);
        assert!(validate_tags(&pairs(&[(&long_key, "v")]), 10).is_err());
        assert!(validate_tags(&pairs(&[("k", &"v".repeat(257))]), 10).is_err());
        assert!(validate_tags(&pairs(&[("k", &"v".repeat(256))]), 10).is_ok());
        assert!(validate_tags(&pairs(&[("a", "1"), ("a", "2")]), 10).is_err());
        assert!(validate_tags(&pairs(&[("", "1")]), 10).is_err());
        assert!(validate_tags(&pairs(&[("bad*", "1")]), 10).is_err());
        assert!(validate_tags(&pairs(&[("aws:x", "1")]), 10).is_err());
    }

    #[test]
    fn header_and_document_forms() {
        assert_eq!(parse_tagging_header("a=1&b=two%20words").unwrap(), pairs(&[("a", "1"), ("b", "two words")]));
        assert_eq!(parse_tagging_header("").unwrap(), vec![]);
        let document = encode_tagging(&pairs(&[("k", "v + w")]));
        assert_eq!(decode_tagging(&document, 10).unwrap(), pairs(&[("k", "v + w")]));
        assert_eq!(decode_tagging(b"<Tagging></Tagging>", 10).unwrap_err().code, S3ErrorCode::MalformedXML);
        assert_eq!(
            decode_tagging(b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", 10).unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
    }
}

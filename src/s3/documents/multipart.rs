//! Multipart and copy documents: InitiateMultipartUploadResult, CompleteMultipartUpload (in)
//! and its result, ListPartsResult, ListMultipartUploadsResult, CopyObjectResult and
//! CopyPartResult.

use super::list::{OWNER_DISPLAY_NAME, OWNER_ID};
use crate::dates::iso8601;
use crate::encoding::percent_encode;
use crate::limits::{PART_NUMBER_MAX, XML_BODY_BYTES_MAX};
use crate::store::record::{PartRecord, UploadRecord};
use crate::xml::{tree, XmlDecodeError, XmlWriter};

fn owner_as(xml: &mut XmlWriter, element: &str) {
    xml.open(element);
    xml.element("ID", OWNER_ID);
    xml.element("DisplayName", OWNER_DISPLAY_NAME);
    xml.close(element);
}

pub(crate) fn initiate_result(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("InitiateMultipartUploadResult");
    xml.element("Bucket", bucket);
    xml.element("Key", key);
    xml.element("UploadId", upload_id);
    xml.close("InitiateMultipartUploadResult");
    xml.finish()
}

/// A part as CompleteMultipartUpload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestedPart {
    pub(crate) number: u32,
    /// Without quotes.
    pub(crate) etag: String,
    /// A `<ChecksumCRC32>`-style element: (checksum header name, base64 value).
    pub(crate) checksum: Option<(String, String)>,
}

/// The parts a CompleteMultipartUpload names, in document order.
pub(crate) fn decode_complete_parts(document: &[u8]) -> Result<Vec<RequestedPart>, XmlDecodeError> {
    let root = parse_complete(document)?;
    let parts = decode_complete_root(&root)?;
    Ok(parts
        .into_iter()
        .zip(root.children_named("Part"))
        .map(|((number, etag), element)| {
            let checksum = element.children.iter().find_map(|child| {
                let algorithm = child.name.strip_prefix("Checksum")?;
                Some((format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase()), child.text.trim().to_string()))
            });
            RequestedPart { number, etag, checksum }
        })
        .collect())
}

/// The parts a CompleteMultipartUpload names, in document order: (number, ETag unquoted).
pub fn decode_complete(document: &[u8]) -> Result<Vec<(u32, String)>, XmlDecodeError> {
    decode_complete_root(&parse_complete(document)?)
}

/// Elements a CompleteMultipartUpload may hold: the root, then per part (up to
/// `PART_NUMBER_MAX`) `Part`, `PartNumber`, `ETag` and at most five checksum elements.
const COMPLETE_ELEMENTS_MAX: usize = 1 + PART_NUMBER_MAX as usize * 8;

fn parse_complete(document: &[u8]) -> Result<tree::Element, XmlDecodeError> {
    tree::parse_with_elements_max(document, XML_BODY_BYTES_MAX, COMPLETE_ELEMENTS_MAX)
}

fn decode_complete_root(root: &tree::Element) -> Result<Vec<(u32, String)>, XmlDecodeError> {
    if root.name != "CompleteMultipartUpload" {
        return Err(XmlDecodeError::Malformed(format!("root is {}", root.name)));
    }
    let mut parts = Vec::new();
    for part in root.children_named("Part") {
        let number = part
            .child_text("PartNumber")
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|number| (1..=PART_NUMBER_MAX).contains(number))
            .ok_or_else(|| XmlDecodeError::Malformed("Part without a valid PartNumber".into()))?;
        let etag = part.child_text("ETag").ok_or_else(|| XmlDecodeError::Malformed("Part without ETag".into()))?;
        parts.push((number, etag.trim().trim_matches('"').to_string()));
    }
    if parts.is_empty() || parts.len() > PART_NUMBER_MAX as usize {
        return Err(XmlDecodeError::Malformed(format!("{} parts", parts.len())));
    }
    Ok(parts)
}

pub(crate) fn complete_result(location: &str, bucket: &str, key: &str, etag: &str) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("CompleteMultipartUploadResult");
    xml.element("Location", location);
    xml.element("Bucket", bucket);
    xml.element("Key", key);
    xml.element("ETag", &format!("\"{etag}\""));
    xml.close("CompleteMultipartUploadResult");
    xml.finish()
}

/// One page of ListParts.
pub(crate) struct PartsPage<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) upload_id: &'a str,
    pub(crate) part_number_marker: u32,
    pub(crate) max_parts: usize,
    pub(crate) parts: &'a [(u32, PartRecord)],
    pub(crate) is_truncated: bool,
}

pub(crate) fn list_parts(page: &PartsPage<'_>) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("ListPartsResult");
    xml.element("Bucket", page.bucket);
    xml.element("Key", page.key);
    xml.element("UploadId", page.upload_id);
    owner_as(&mut xml, "Initiator");
    owner_as(&mut xml, "Owner");
    xml.element("StorageClass", "STANDARD");
    xml.element_u64("PartNumberMarker", u64::from(page.part_number_marker));
    if let Some((last, _)) = page.parts.last() {
        xml.element_u64("NextPartNumberMarker", u64::from(*last));
    }
    xml.element_u64("MaxParts", page.max_parts as u64);
    xml.element_bool("IsTruncated", page.is_truncated);
    for (number, part) in page.parts {
        xml.open("Part");
        xml.element_u64("PartNumber", u64::from(*number));
        xml.element("LastModified", &iso8601(part.last_modified_ms));
        xml.element("ETag", &format!("\"{}\"", part.etag));
        xml.element_u64("Size", part.size);
        xml.close("Part");
    }
    xml.close("ListPartsResult");
    xml.finish()
}

/// One page of ListMultipartUploads.
pub(crate) struct UploadsPage<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) key_marker: &'a str,
    pub(crate) upload_id_marker: &'a str,
    /// NextKeyMarker and NextUploadIdMarker of a truncated page (the id is empty when the page
    /// ends with a common prefix).
    pub(crate) next_markers: Option<(&'a str, &'a str)>,
    pub(crate) prefix: &'a str,
    pub(crate) delimiter: Option<&'a str>,
    pub(crate) max_uploads: usize,
    pub(crate) url_encode: bool,
    pub(crate) uploads: &'a [(String, UploadRecord)],
    pub(crate) common_prefixes: &'a [String],
    pub(crate) is_truncated: bool,
}

pub(crate) fn list_uploads(page: &UploadsPage<'_>) -> Vec<u8> {
    let text = |value: &str| if page.url_encode { percent_encode(value.as_bytes(), true) } else { value.to_string() };
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("ListMultipartUploadsResult");
    xml.element("Bucket", page.bucket);
    xml.element("KeyMarker", &text(page.key_marker));
    xml.element("UploadIdMarker", page.upload_id_marker);
    if let Some((key, upload_id)) = page.next_markers {
        xml.element("NextKeyMarker", &text(key));
        xml.element("NextUploadIdMarker", upload_id);
    }
    xml.element("Prefix", &text(page.prefix));
    if let Some(delimiter) = page.delimiter {
        xml.element("Delimiter", &text(delimiter));
    }
    xml.element_u64("MaxUploads", page.max_uploads as u64);
    if page.url_encode {
        xml.element("EncodingType", "url");
    }
    xml.element_bool("IsTruncated", page.is_truncated);
    for (upload_id, upload) in page.uploads {
        xml.open("Upload");
        xml.element("Key", &text(&upload.key));
        xml.element("UploadId", upload_id);
        owner_as(&mut xml, "Initiator");
        owner_as(&mut xml, "Owner");
        xml.element("StorageClass", "STANDARD");
        xml.element("Initiated", &iso8601(upload.initiated_ms));
        xml.close("Upload");
    }
    for prefix in page.common_prefixes {
        xml.open("CommonPrefixes");
        xml.element("Prefix", &text(prefix));
        xml.close("CommonPrefixes");
    }
    xml.close("ListMultipartUploadsResult");
    xml.finish()
}

/// CopyObjectResult or CopyPartResult.
pub(crate) fn copy_result(root: &str, etag: &str, last_modified_ms: u64) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root(root);
    xml.element("LastModified", &iso8601(last_modified_ms));
    xml.element("ETag", &format!("\"{etag}\""));
    xml.close(root);
    xml.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_complete_requests() {
        let document = b"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Part><PartNumber>1</PartNumber><ETag>\"b54357faf0632cce46e942fa68356b38\"</ETag></Part>\
            <Part><ETag>abc</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(
            decode_complete(document).unwrap(),
            vec![(1, "b54357faf0632cce46e942fa68356b38".to_string()), (2, "abc".to_string())]
        );
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<Other/>",
        ] {
            assert!(decode_complete(bad).is_err());
        }
    }

    #[test]
    fn decodes_a_complete_request_of_the_most_parts_with_checksums() {
        let mut document = String::from("<CompleteMultipartUpload>");
        for number in 1..=PART_NUMBER_MAX {
            document.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>\"{number:032x}\"</ETag>\
                 <ChecksumSHA256>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ChecksumSHA256></Part>"
            ));
        }
        document.push_str("</CompleteMultipartUpload>");
        assert!(document.len() <= XML_BODY_BYTES_MAX);
        let parts = decode_complete_parts(document.as_bytes()).unwrap();
        assert_eq!(parts.len(), PART_NUMBER_MAX as usize);
        assert_eq!(parts[9_999].number, 10_000);
        assert_eq!(parts[9_999].etag, format!("{:032x}", 10_000));
    }

    #[test]
    fn complete_parts_carry_their_checksums() {
        let document = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag>\
            <ChecksumCRC32>y/Q5Jg==</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part>\
            </CompleteMultipartUpload>";
        let parts = decode_complete_parts(document).unwrap();
        assert_eq!(parts[0].checksum, Some(("x-amz-checksum-crc32".to_string(), "y/Q5Jg==".to_string())));
        assert_eq!(parts[1], RequestedPart { number: 2, etag: "b".into(), checksum: None });
    }

    #[test]
    fn initiate_and_copy_documents() {
        let xml = String::from_utf8(initiate_result("b", "k&", "u1")).unwrap();
        assert!(xml.contains("<Bucket>b</Bucket><Key>k&amp;</Key><UploadId>u1</UploadId>"));
        let xml = String::from_utf8(copy_result("CopyPartResult", "abc", 0)).unwrap();
        assert!(xml.contains("<CopyPartResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag></CopyPartResult>"));
    }
}

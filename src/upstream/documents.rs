//! The XML documents the client sends (CompleteMultipartUpload, Delete, Tagging,
//! CreateBucketConfiguration) and the few it reads (Error, InitiateMultipartUploadResult,
//! CompleteMultipartUploadResult, CopyObjectResult, Tagging), with `crate::xml`'s writer and
//! bounded reader. Listings and DeleteObjects results are relayed raw, never parsed here.

use super::error::{ErrorResponse, UpstreamError};
use super::response::ResponseHead;
use crate::limits::UPSTREAM_DOCUMENT_BYTES_MAX;
use crate::xml::{tree, XmlWriter};

/// A part of a multipart upload as CompleteMultipartUpload lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// The part's ETag as UploadPart answered it (quoted).
    pub etag: String,
}

/// The `ErrorResponse` of an error answer: its document parsed when it has one, the status's
/// name otherwise.
pub(crate) fn error_response(head: &ResponseHead, body: Vec<u8>, attempts: u32) -> ErrorResponse {
    let parsed = tree::parse(&body, UPSTREAM_DOCUMENT_BYTES_MAX).ok().filter(|root| root.name == "Error");
    let text = |name: &str| parsed.as_ref().and_then(|root| root.child_text(name)).map(str::to_string);
    let code = text("Code").filter(|code| !code.is_empty());
    ErrorResponse {
        status: head.status,
        code: code.unwrap_or_else(|| ErrorResponse::code_for_status(head.status).to_string()),
        message: text("Message").unwrap_or_default(),
        request_id: text("RequestId").or_else(|| head.header("x-amz-request-id").map(str::to_string)),
        body,
        attempts,
    }
}

/// Whether a 2xx body is in fact an `<Error>` document (S3 answers CompleteMultipartUpload
/// and CopyObject with 200 before it knows the outcome, then reports a failure in the body).
pub(crate) fn is_error_document(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let start = text.trim_start().trim_start_matches('\u{feff}');
    let after_declaration = match start.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, rest)| rest).trim_start(),
        None => start,
    };
    after_declaration.starts_with("<Error>") || after_declaration.starts_with("<Error ")
}

/// The root of a document an operation needs, or a protocol error naming it.
fn root_of(body: &[u8], expected: &str) -> Result<tree::Element, UpstreamError> {
    let root = tree::parse(body, UPSTREAM_DOCUMENT_BYTES_MAX)
        .map_err(|error| UpstreamError::Protocol(format!("{expected} does not parse: {error:?}")))?;
    if root.name != expected {
        return Err(UpstreamError::Protocol(format!("expected {expected}, got <{}>", root.name)));
    }
    Ok(root)
}

fn required(root: &tree::Element, name: &str) -> Result<String, UpstreamError> {
    root.child_text(name)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
        .ok_or_else(|| UpstreamError::Protocol(format!("<{}> without <{name}>", root.name)))
}

/// An ETag in S3's quoted form: `"…"` (and weak `W/"…"`) as given, a bare value quoted.
/// SeaweedFS writes `<ETag>` in CopyObjectResult without the quotes Amazon S3 and s3core send;
/// the cache compares ETags and sends them back in `If-Match`, so it gets one form.
pub(crate) fn quoted_etag(etag: &str) -> String {
    let etag = etag.trim();
    if etag.starts_with('"') || etag.starts_with("W/\"") || etag.is_empty() {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

/// `<InitiateMultipartUploadResult>` → the UploadId.
pub(crate) fn upload_id(body: &[u8]) -> Result<String, UpstreamError> {
    required(&root_of(body, "InitiateMultipartUploadResult")?, "UploadId")
}

/// `<CompleteMultipartUploadResult>` → the ETag of the object made.
pub(crate) fn completed_etag(body: &[u8]) -> Result<String, UpstreamError> {
    required(&root_of(body, "CompleteMultipartUploadResult")?, "ETag").map(|etag| quoted_etag(&etag))
}

/// `<CopyObjectResult>` → (ETag, LastModified).
pub(crate) fn copy_result(body: &[u8]) -> Result<(String, Option<String>), UpstreamError> {
    let root = root_of(body, "CopyObjectResult")?;
    Ok((quoted_etag(&required(&root, "ETag")?), root.child_text("LastModified").map(str::to_string)))
}

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` → pairs in document order.
pub(crate) fn tags(body: &[u8]) -> Result<Vec<(String, String)>, UpstreamError> {
    let root = root_of(body, "Tagging")?;
    let Some(set) = root.child("TagSet") else { return Ok(Vec::new()) };
    set.children_named("Tag")
        .map(|tag| Ok((required(tag, "Key")?, tag.child_text("Value").unwrap_or("").to_string())))
        .collect()
}

pub(crate) fn complete_multipart_upload(parts: &[CompletedPart]) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("CompleteMultipartUpload");
    for part in parts {
        xml.open("Part");
        xml.element_u64("PartNumber", u64::from(part.part_number));
        xml.element("ETag", &part.etag);
        xml.close("Part");
    }
    xml.close("CompleteMultipartUpload");
    xml.finish()
}

pub(crate) fn delete(keys: &[&str], quiet: bool) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration_and_capacity(64 + keys.iter().map(|key| key.len() + 32).sum::<usize>());
    xml.open_root("Delete");
    if quiet {
        xml.element_bool("Quiet", true);
    }
    for key in keys {
        xml.open("Object");
        xml.element("Key", key);
        xml.close("Object");
    }
    xml.close("Delete");
    xml.finish()
}

pub(crate) fn tagging(tags: &[(&str, &str)]) -> Vec<u8> {
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

/// The body of CreateBucket outside `us-east-1` (where S3 wants none).
pub(crate) fn create_bucket_configuration(region: &str) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("CreateBucketConfiguration");
    xml.element("LocationConstraint", region);
    xml.close("CreateBucketConfiguration");
    xml.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::response::parse_head;

    fn head(raw: &str) -> ResponseHead {
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn error_documents_parse_and_bodiless_errors_get_the_status_name() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
                     <Message>The specified key does not exist.</Message><Key>a&amp;b</Key>\
                     <RequestId>4442587FB7D0A2F9</RequestId></Error>"
            .to_vec();
        let error = error_response(&head("HTTP/1.1 404 Not Found\r\n\r\n"), body.clone(), 1);
        assert_eq!((error.status, error.code.as_str()), (404, "NoSuchKey"));
        assert_eq!(error.message, "The specified key does not exist.");
        assert_eq!(error.request_id.as_deref(), Some("4442587FB7D0A2F9"));
        assert_eq!(error.body, body, "kept raw, to relay");
        let bodiless = error_response(&head("HTTP/1.1 404 Not Found\r\nx-amz-request-id: R1\r\n\r\n"), Vec::new(), 2);
        assert_eq!((bodiless.code.as_str(), bodiless.request_id.as_deref()), ("NotFound", Some("R1")));
        assert_eq!(bodiless.to_string(), "upstream answered 404 NotFound (after 2 attempts)");
        let html = error_response(&head("HTTP/1.1 502 Bad Gateway\r\n\r\n"), b"<html>proxy</html>".to_vec(), 1);
        assert_eq!(html.code, "UnknownError");
        let slow = error_response(
            &head("HTTP/1.1 503 Slow Down\r\n\r\n"),
            b"<Error><Code>SlowDown</Code></Error>".to_vec(),
            1,
        );
        assert_eq!(slow.code, "SlowDown");
    }

    #[test]
    fn error_documents_inside_success_answers_are_seen() {
        assert!(is_error_document(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>InternalError</Code></Error>"
        ));
        assert!(is_error_document(b"  <Error><Code>SlowDown</Code></Error>"));
        assert!(!is_error_document(b"<?xml version=\"1.0\"?><CompleteMultipartUploadResult/>"));
        assert!(!is_error_document(b"<ErrorDocument/>"));
    }

    #[test]
    fn result_documents_give_what_operations_need() {
        let initiate = b"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                         <Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2Fk</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(upload_id(initiate).unwrap(), "VXBsb2Fk");
        assert!(matches!(upload_id(b"<InitiateMultipartUploadResult/>"), Err(UpstreamError::Protocol(_))));
        assert!(matches!(upload_id(b"<Other><UploadId>x</UploadId></Other>"), Err(UpstreamError::Protocol(_))));
        let complete = b"<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>";
        assert_eq!(completed_etag(complete).unwrap(), "\"abc-2\"");
        let copy = b"<CopyObjectResult><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>\"e\"</ETag></CopyObjectResult>";
        assert_eq!(copy_result(copy).unwrap(), ("\"e\"".to_string(), Some("2026-01-02T03:04:05.000Z".to_string())));
        // SeaweedFS's form: no quotes.
        let bare = b"<CopyObjectResult><ETag>ffdcb480c4b58ba9aca3e422c8e56fc7</ETag></CopyObjectResult>";
        assert_eq!(copy_result(bare).unwrap().0, "\"ffdcb480c4b58ba9aca3e422c8e56fc7\"");
        assert_eq!(quoted_etag("W/\"x\""), "W/\"x\"");
        let tagging = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag></TagSet></Tagging>";
        assert_eq!(tags(tagging).unwrap(), vec![("a".into(), "1".into()), ("b".into(), String::new())]);
    }

    #[test]
    fn request_documents_are_exact() {
        let parts = [
            CompletedPart { part_number: 1, etag: "\"a\"".into() },
            CompletedPart { part_number: 2, etag: "\"b\"".into() },
        ];
        assert_eq!(
            String::from_utf8(complete_multipart_upload(&parts)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"
        );
        let delete = String::from_utf8(delete(&["a<b", "c"], true)).unwrap();
        assert!(
            delete.ends_with(
                "<Quiet>true</Quiet><Object><Key>a&lt;b</Key></Object><Object><Key>c</Key></Object></Delete>"
            ),
            "{delete}"
        );
        let tagging = String::from_utf8(tagging(&[("k", "v&w")])).unwrap();
        assert!(
            tagging.ends_with("<TagSet><Tag><Key>k</Key><Value>v&amp;w</Value></Tag></TagSet></Tagging>"),
            "{tagging}"
        );
        let configuration = String::from_utf8(create_bucket_configuration("eu-west-1")).unwrap();
        assert!(configuration.contains("<LocationConstraint>eu-west-1</LocationConstraint>"), "{configuration}");
    }
}

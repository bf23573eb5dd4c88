//! Listing documents: ListAllMyBucketsResult and ListBucketResult (V1 and V2).

use crate::dates::{iso8601, Iso8601Days};
use crate::encoding::percent_encode;
use crate::store::index::ListPage;
use crate::store::record::ObjectRecord;
use crate::xml::XmlWriter;

/// The single owner every bucket and object reports (no multi-tenancy).
pub(crate) const OWNER_ID: &str = "02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4";
pub(crate) const OWNER_DISPLAY_NAME: &str = "s3core";

fn owner(xml: &mut XmlWriter) {
    xml.open("Owner");
    xml.element("ID", OWNER_ID);
    xml.element("DisplayName", OWNER_DISPLAY_NAME);
    xml.close("Owner");
}

pub(crate) fn list_buckets(buckets: &[(String, u64)]) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("ListAllMyBucketsResult");
    owner(&mut xml);
    xml.open("Buckets");
    for (name, created_ms) in buckets {
        xml.open("Bucket");
        xml.element("Name", name);
        xml.element("CreationDate", &iso8601(*created_ms));
        xml.close("Bucket");
    }
    xml.close("Buckets");
    xml.close("ListAllMyBucketsResult");
    xml.finish()
}

/// About the size of a ListBucketResult for `page`, so the document is built without regrowth.
fn page_capacity(page: &ListPage, with_owner: bool) -> usize {
    // A <Contents> is ~190 bytes of markup, date, ETag and size (~140 more with the owner).
    let per_object = if with_owner { 330 } else { 190 };
    let keys: usize = page.objects.iter().map(|(key, _)| key.len()).sum();
    let prefixes: usize = page.common_prefixes.iter().map(|prefix| prefix.len() + 50).sum();
    1024 + page.objects.len() * per_object + keys + prefixes
}

/// Parameters echoed in a ListBucketResult, already validated.
pub struct ListEcho<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: usize,
    pub url_encode: bool,
}

impl ListEcho<'_> {
    fn text<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if self.url_encode {
            percent_encode(text.as_bytes(), true).into()
        } else {
            text.into()
        }
    }

    /// `encode_prefix`: with `encoding-type=url`, S3 encodes the echoed Prefix in V2 but sends
    /// it as given in V1 (botocore decodes it only in V2).
    fn common_head(&self, xml: &mut XmlWriter, encode_prefix: bool) {
        xml.open_root("ListBucketResult");
        xml.element("Name", self.bucket);
        let prefix = if encode_prefix { self.text(self.prefix) } else { self.prefix.into() };
        xml.element("Prefix", &prefix);
    }

    fn common_tail(&self, xml: &mut XmlWriter, page: &ListPage, with_owner: bool) {
        if let Some(delimiter) = self.delimiter {
            xml.element("Delimiter", &self.text(delimiter));
        }
        if self.url_encode {
            xml.element("EncodingType", "url");
        }
        let mut days = Iso8601Days::default();
        for (key, record) in &page.objects {
            self.contents(xml, key, record, with_owner, &mut days);
        }
        for prefix in &page.common_prefixes {
            xml.open("CommonPrefixes");
            xml.element("Prefix", &self.text(prefix));
            xml.close("CommonPrefixes");
        }
        xml.close("ListBucketResult");
    }

    fn contents(
        &self,
        xml: &mut XmlWriter,
        key: &str,
        record: &ObjectRecord,
        with_owner: bool,
        days: &mut Iso8601Days,
    ) {
        // This runs up to 1000 times per page: the markup goes in as a few constant runs.
        xml.raw(b"<Contents>");
        xml.element("Key", &self.text(key));
        xml.raw(b"<LastModified>");
        xml.raw(&days.format(record.last_modified_ms));
        // ETags are hex digits, a dash and a count: nothing to escape but the quotes.
        xml.raw(b"</LastModified><ETag>&quot;");
        xml.raw(record.etag.as_bytes());
        xml.raw(b"&quot;</ETag>");
        xml.element_u64("Size", record.size);
        if with_owner {
            owner(xml);
        }
        xml.raw(b"<StorageClass>STANDARD</StorageClass></Contents>");
    }
}

/// ListObjects (V1). `NextMarker` is only sent with a delimiter, as S3 does.
/// `next_continuation_token`: Alluxio's REST walkthrough pages a plain `GET /bucket?max-keys=N`
/// with `continuation-token`, so a truncated V1 page also carries one (clients that do not
/// know the element ignore it, as S3's XML contract allows).
pub(crate) fn list_objects_v1(
    echo: &ListEcho<'_>,
    marker: &str,
    page: &ListPage,
    next_continuation_token: Option<&str>,
) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration_and_capacity(page_capacity(page, true));
    echo.common_head(&mut xml, false);
    xml.element("Marker", &echo.text(marker));
    if page.is_truncated && echo.delimiter.is_some() {
        if let Some(last) = &page.last {
            xml.element("NextMarker", &echo.text(last));
        }
    }
    xml.element_u64("MaxKeys", echo.max_keys as u64);
    xml.element_bool("IsTruncated", page.is_truncated);
    if let Some(token) = next_continuation_token {
        xml.element("NextContinuationToken", token);
    }
    echo.common_tail(&mut xml, page, true);
    xml.finish()
}

/// Parameters only ListObjectsV2 echoes.
pub struct V2Echo<'a> {
    pub start_after: Option<&'a str>,
    pub continuation_token: Option<&'a str>,
    pub next_continuation_token: Option<&'a str>,
    pub fetch_owner: bool,
}

pub fn list_objects_v2(echo: &ListEcho<'_>, v2: &V2Echo<'_>, page: &ListPage) -> Vec<u8> {
    let mut xml = XmlWriter::with_declaration_and_capacity(page_capacity(page, v2.fetch_owner));
    echo.common_head(&mut xml, true);
    if let Some(start_after) = v2.start_after {
        xml.element("StartAfter", &echo.text(start_after));
    }
    if let Some(token) = v2.continuation_token {
        xml.element("ContinuationToken", token);
    }
    xml.element_u64("KeyCount", (page.objects.len() + page.common_prefixes.len()) as u64);
    xml.element_u64("MaxKeys", echo.max_keys as u64);
    xml.element_bool("IsTruncated", page.is_truncated);
    if let Some(token) = v2.next_continuation_token {
        xml.element("NextContinuationToken", token);
    }
    echo.common_tail(&mut xml, page, v2.fetch_owner);
    xml.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::record::ObjectData;

    fn page() -> ListPage {
        let record = Arc::new(ObjectRecord {
            size: 26847,
            etag: "9347237b67b0be183499e5893128704e".into(),
            last_modified_ms: 1_504_046_163_613,
            content_type: None,
            stored_headers: vec![],
            user_metadata: vec![],
            tags: vec![],
            checksum: None,
            part_sizes: Vec::new(),
            completed_upload: None,
            data: ObjectData::Inline(Default::default()),
        });
        ListPage {
            objects: vec![("a b&c".into(), record)],
            common_prefixes: vec!["dir/".into()],
            is_truncated: true,
            last: Some("dir/".into()),
        }
    }

    #[test]
    fn v2_document_matches_s3_exactly() {
        let echo = ListEcho { bucket: "bkt", prefix: "", delimiter: Some("/"), max_keys: 2, url_encode: false };
        let v2 = V2Echo {
            start_after: None,
            continuation_token: None,
            next_continuation_token: Some("ZGlyLw=="),
            fetch_owner: false,
        };
        let xml = String::from_utf8(list_objects_v2(&echo, &v2, &page())).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Name>bkt</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>\
             <IsTruncated>true</IsTruncated><NextContinuationToken>ZGlyLw==</NextContinuationToken>\
             <Delimiter>/</Delimiter>\
             <Contents><Key>a b&amp;c</Key><LastModified>2017-08-29T22:36:03.613Z</LastModified>\
             <ETag>&quot;9347237b67b0be183499e5893128704e&quot;</ETag><Size>26847</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>\
             <CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListBucketResult>"
        );
    }

    #[test]
    fn v1_url_encodes_and_sends_next_marker_with_delimiter() {
        let echo = ListEcho { bucket: "bkt", prefix: "a b", delimiter: Some("/"), max_keys: 1000, url_encode: true };
        let xml = String::from_utf8(list_objects_v1(&echo, "", &page(), None)).unwrap();
        assert!(xml.contains("<Prefix>a b</Prefix><Marker></Marker><NextMarker>dir/</NextMarker>"), "{xml}");
        assert!(xml.contains("<Key>a%20b%26c</Key>"));
        assert!(xml.contains("<EncodingType>url</EncodingType>"));
        assert!(xml.contains(&format!("<Owner><ID>{OWNER_ID}</ID>")));
    }
}

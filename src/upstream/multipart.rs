//! Multipart uploads against the upstream: CreateMultipartUpload, UploadPart (streamed),
//! CompleteMultipartUpload and AbortMultipartUpload.

use super::body::{BodySource, InMemoryBody};
use super::client::{Answer, Call, Upstream, Want};
use super::documents::{self, CompletedPart};
use super::error::UpstreamError;
use super::object::{content_md5, document, head_of, ObjectHead, PutOptions};

impl Upstream {
    /// CreateMultipartUpload; the UploadId. Not idempotent (a repeat makes a second upload):
    /// retried only when the request cannot have reached the upstream, or was throttled.
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        options: &PutOptions,
    ) -> Result<String, UpstreamError> {
        let call = options.apply(Call::new("POST", Some(bucket), Some(key)).query("uploads", None));
        let document = document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)?;
        documents::upload_id(&document.body)
    }

    /// UploadPart `part_number` (1 to 10000) of `upload_id`, streamed from `body`; the part's
    /// ETag, for CompleteMultipartUpload.
    pub async fn upload_part<B: BodySource>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        mut body: B,
    ) -> Result<String, UpstreamError> {
        let call = Call::new("PUT", Some(bucket), Some(key))
            .query("partNumber", Some(&part_number.to_string()))
            .query("uploadId", Some(upload_id));
        let head = head_of(self.execute(&call, &mut body, Want::Document).await?)?;
        let object = ObjectHead::from_head(&head);
        object
            .etag
            .filter(|etag| !etag.is_empty())
            .ok_or_else(|| UpstreamError::Protocol("UploadPart answered without an ETag".into()))
    }

    /// CompleteMultipartUpload with `parts` in ascending order. The ETag comes from the
    /// result document; an `<Error>` sent with a 200 is an error (and retried when it says
    /// `InternalError`: completing the same parts again gives the same object).
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<ObjectHead, UpstreamError> {
        let body = documents::complete_multipart_upload(parts);
        let call = Call::new("POST", Some(bucket), Some(key))
            .query("uploadId", Some(upload_id))
            .header("content-md5", &content_md5(&body))
            .header("content-type", "application/xml")
            .idempotent(true);
        let document = document(self.execute(&call, &mut InMemoryBody::new(body), Want::Document).await?)?;
        let etag = documents::completed_etag(&document.body)?;
        let mut object = ObjectHead::from_head(&head_of(Answer::Document(document))?);
        object.etag = Some(etag);
        Ok(object)
    }

    /// AbortMultipartUpload (the parts uploaded so far are discarded).
    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), UpstreamError> {
        let call = Call::new("DELETE", Some(bucket), Some(key)).query("uploadId", Some(upload_id));
        self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?;
        Ok(())
    }
}

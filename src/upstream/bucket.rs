//! Bucket operations and listings against the upstream. Listings are pass-through: the
//! upstream's document and status come back raw (`Document`), for s3core to relay.

use super::body::InMemoryBody;
use super::client::{Call, Document, Upstream, Want};
use super::documents;
use super::error::UpstreamError;
use super::object::{content_md5, document, head_of};
use super::response::ResponseHead;

impl Upstream {
    /// ListBuckets; the `ListAllMyBucketsResult` document.
    pub async fn list_buckets(&self) -> Result<Document, UpstreamError> {
        let call = Call::new("GET", None, None);
        document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)
    }

    /// CreateBucket; outside `us-east-1` with the region as LocationConstraint. A bucket that
    /// exists is `UpstreamError::Response` (409 `BucketAlreadyOwnedByYou` or
    /// `BucketAlreadyExists`), also when a retried attempt finds the bucket its first made.
    pub async fn create_bucket(&self, bucket: &str) -> Result<ResponseHead, UpstreamError> {
        let region = self.settings().region();
        let mut call = Call::new("PUT", Some(bucket), None);
        let mut body = InMemoryBody::empty();
        if region != "us-east-1" {
            let document = documents::create_bucket_configuration(region);
            call = call.header("content-md5", &content_md5(&document)).header("content-type", "application/xml");
            body = InMemoryBody::new(document);
        }
        head_of(self.execute(&call, &mut body, Want::Document).await?)
    }

    /// DeleteBucket (409 `BucketNotEmpty` while it holds objects).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<ResponseHead, UpstreamError> {
        let call = Call::new("DELETE", Some(bucket), None);
        head_of(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)
    }

    /// HeadBucket: 200 when it exists and may be accessed, 404 / 403 (without a document)
    /// otherwise.
    pub async fn head_bucket(&self, bucket: &str) -> Result<ResponseHead, UpstreamError> {
        let call = Call::new("HEAD", Some(bucket), None);
        head_of(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)
    }

    /// ListObjectsV2 with the client's parameters (`prefix`, `delimiter`, `max-keys`,
    /// `continuation-token`, `start-after`, `encoding-type`, `fetch-owner`), decoded;
    /// `list-type=2` is added. The document as the upstream sent it.
    pub async fn list_objects_v2(&self, bucket: &str, parameters: &[(&str, &str)]) -> Result<Document, UpstreamError> {
        let mut call = Call::new("GET", Some(bucket), None).query("list-type", Some("2"));
        for (name, value) in parameters.iter().filter(|(name, _)| *name != "list-type") {
            call = call.query(name, Some(value));
        }
        document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)
    }

    /// ListObjects (version 1) with the client's parameters (`prefix`, `delimiter`,
    /// `max-keys`, `marker`, `encoding-type`), decoded. The document as sent.
    pub async fn list_objects(&self, bucket: &str, parameters: &[(&str, &str)]) -> Result<Document, UpstreamError> {
        let mut call = Call::new("GET", Some(bucket), None);
        for (name, value) in parameters {
            call = call.query(name, Some(value));
        }
        document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)
    }
}

//! The S3 API: the router turns a request into one `Action`, and `handle` dispatches it in one
//! `match` to the handler of its family (one file each).

pub(crate) mod acl;
pub(crate) mod action_kind;
pub(crate) mod auth;
pub(crate) mod bucket;
pub(crate) mod checksum;
pub mod conditional;
pub mod copy;
pub mod delete_objects;
pub mod documents;
pub(crate) mod lake;
pub(crate) mod list;
pub(crate) mod metadata;
pub(crate) mod multipart;
pub(crate) mod names;
pub(crate) mod object;
pub mod range;
pub mod router;
pub mod tagging;
pub mod tags;
pub mod upload;
pub mod uri;

use std::rc::Rc;

use crate::buffer_pool::BufferPool;
use crate::error::S3Error;
use crate::http::body::BodyReader;
use crate::http::connection::Connection;
use crate::http::request::RequestHead;
use crate::s3_error;
use crate::shard::ShardRouter;
use crate::store::blocks::BlockStore;
use router::Action;
use uri::Query;

/// The body of a GET, sent by the connection: a slice of a local object's data (inline bytes
/// or block files), or of an upstream object's version (cache pages).
#[derive(Debug)]
pub(crate) enum StoredObject {
    Local(ObjectSlice),
    Lake(lake::LakeSlice),
}

impl crate::http::response::StoredBody for StoredObject {
    fn length(&self) -> u64 {
        match self {
            StoredObject::Local(slice) => slice.length,
            StoredObject::Lake(slice) => slice.length,
        }
    }
}

/// A slice of a local object's stored data.
#[derive(Debug)]
pub(crate) struct ObjectSlice {
    pub(crate) record: crate::store::record::SharedRecord,
    pub(crate) offset: u64,
    pub(crate) length: u64,
}

/// The answer of an S3 handler.
pub(crate) type Response = crate::http::response::Response<StoredObject>;
pub(crate) type ResponseBody = crate::http::response::ResponseBody<StoredObject>;

/// What the S3 layer takes from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Smallest multipart part other than the last (EntityTooSmall below it).
    pub(crate) multipart_min_part_bytes: u64,
    /// Whether `x-amz-checksum-*` values are verified (and stored).
    pub(crate) verify_checksums: bool,
    /// Empty: every request is accepted (open mode).
    pub(crate) credentials: auth::Credentials,
    /// Domains for virtual-hosted-style addressing (lower-case, no leading dot).
    pub(crate) virtual_host_domains: Vec<String>,
}

/// What a core's handlers need: routing to shards, this core's block files and buffers.
pub(crate) struct CoreServices {
    pub(crate) core: usize,
    pub(crate) shards: ShardRouter,
    pub(crate) blocks: Rc<BlockStore>,
    pub(crate) buffers: BufferPool,
    /// MD5 of this core's uploads, hashed side by side (see `hash::md5_batch`).
    pub(crate) md5: Rc<crate::hash::md5_batch::Md5Batcher>,
    pub(crate) settings: std::sync::Arc<Settings>,
    /// In front of an upstream store (`--upstream`): its client, the objects this core knows
    /// and the cache pages of every core. `None`: a local store only.
    pub(crate) lake: Option<Rc<lake::Lake>>,
}

/// One request as the handlers see it: the head, its query, and the body still on the wire.
pub(crate) struct S3Request<'a> {
    pub(crate) head: &'a RequestHead,
    pub(crate) query: &'a Query,
    pub(crate) body: &'a mut BodyReader,
    pub(crate) connection: &'a mut Connection,
}

impl S3Request<'_> {
    /// Reads a small request document (XML) whole.
    pub(crate) async fn read_document(&mut self, max_bytes: usize) -> Result<Vec<u8>, S3Error> {
        Ok(self.body.read_all(self.connection, max_bytes).await?)
    }
}

pub(crate) async fn handle(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    action: Action,
) -> Result<Response, S3Error> {
    if let Some(lake) = &services.lake {
        return lake::handle(lake, request, action).await;
    }
    match action {
        Action::ListBuckets => bucket::list_buckets(services).await,
        Action::CreateBucket { bucket } => bucket::create_bucket(services, request, bucket).await,
        Action::HeadBucket { bucket } => bucket::head_bucket(services, bucket).await,
        Action::DeleteBucket { bucket } => bucket::delete_bucket(services, bucket).await,
        Action::GetBucketLocation { bucket } => bucket::get_bucket_location(services, bucket).await,
        Action::GetBucketVersioning { bucket } => bucket::get_bucket_versioning(services, bucket).await,
        Action::ListObjects { bucket } => list::list_objects_v1(services, request, bucket).await,
        Action::ListObjectsV2 { bucket } => list::list_objects_v2(services, request, bucket).await,
        Action::DeleteObjects { bucket } => delete_objects::delete_objects(services, request, bucket).await,
        Action::PutObject { bucket, key } => object::put_object(services, request, bucket, key).await,
        Action::GetObject { bucket, key } => object::get_object(services, request, bucket, key, false).await,
        Action::HeadObject { bucket, key } => object::get_object(services, request, bucket, key, true).await,
        Action::DeleteObject { bucket, key } => object::delete_object(services, bucket, key).await,
        Action::GetBucketTagging { bucket } => tagging::get_bucket_tagging(services, bucket).await,
        Action::PutBucketTagging { bucket } => tagging::put_bucket_tagging(services, request, bucket).await,
        Action::DeleteBucketTagging { bucket } => tagging::delete_bucket_tagging(services, bucket).await,
        Action::GetObjectTagging { bucket, key } => tagging::get_object_tagging(services, request, bucket, key).await,
        Action::PutObjectTagging { bucket, key } => tagging::put_object_tagging(services, request, bucket, key).await,
        Action::DeleteObjectTagging { bucket, key } => tagging::delete_object_tagging(services, bucket, key).await,
        Action::CopyObject { bucket, key } => copy::copy_object(services, request, bucket, key).await,
        Action::CreateMultipartUpload { bucket, key } => {
            multipart::create_multipart_upload(services, request, bucket, key).await
        }
        Action::UploadPart { bucket, key } => multipart::upload_part(services, request, bucket, key).await,
        Action::UploadPartCopy { bucket, key } => multipart::upload_part_copy(services, request, bucket, key).await,
        Action::CompleteMultipartUpload { bucket, key } => {
            multipart::complete_multipart_upload(services, request, bucket, key).await
        }
        Action::AbortMultipartUpload { bucket, key } => {
            multipart::abort_multipart_upload(services, request, bucket, key).await
        }
        Action::ListParts { bucket, key } => multipart::list_parts(services, request, bucket, key).await,
        Action::ListMultipartUploads { bucket } => multipart::list_multipart_uploads(services, request, bucket).await,
        Action::GetAcl { bucket, key } => acl::get_acl(services, bucket, key).await,
        Action::PutAcl { bucket, key } => acl::put_acl(services, request, bucket, key).await,
        Action::Unsupported { what } => Err(s3_error!(NotImplemented, "{what} is not implemented")),
    }
}

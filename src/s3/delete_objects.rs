//! DeleteObjects: up to 1000 keys in one request, one journal flush for all of them.

use md5::{Digest, Md5};

use super::documents::delete::{decode_delete, encode_delete_result};
use super::Response;
use super::{CoreServices, S3Request};
use crate::error::S3Error;
use crate::limits::{KEY_BYTES_MAX, XML_BODY_BYTES_MAX};
use crate::s3_error;

pub(crate) async fn delete_objects(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let expected_md5 = super::upload::content_md5(request)?;
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    if let Some(expected) = expected_md5 {
        let actual: [u8; 16] = Md5::digest(&document).into();
        if actual != expected {
            return Err(s3_error!(BadDigest));
        }
    }
    let delete = decode_delete(&document)?;
    let (valid, invalid): (Vec<String>, Vec<String>) =
        delete.keys.iter().cloned().partition(|key| !key.is_empty() && key.len() <= KEY_BYTES_MAX);
    let valid_keys = valid.clone();
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        services
            .shards
            .call(&bucket.clone(), move |shard| async move { shard.delete_objects(bucket, valid_keys).await })
            .await?
    };
    let mut results: Vec<(String, Result<(), S3Error>)> = valid.into_iter().zip(outcomes).collect();
    for key in invalid {
        let error = if key.is_empty() { s3_error!(InvalidArgument, "empty key") } else { s3_error!(KeyTooLongError) };
        results.push((key, Err(error)));
    }
    Ok(Response::xml(encode_delete_result(delete.quiet, &results)))
}

//! Multipart uploads: create, upload a part (or copy one), list parts and uploads, complete,
//! abort.
//!
//! Parts are block files written on the connection's core. Completion writes one journal
//! entry that makes the ordered list of the parts' extents the object: no byte is copied, so
//! completing 10 GiB costs what completing 10 MiB does, and readers see the old object or the
//! new one, never a mix.

use md5::{Digest, Md5};

use super::checksum::{multipart_checksum, upload_checksum, ChecksumAlgorithm};
use super::copy::{copy_source, range_md5, share_data, write_block};
use super::documents::multipart::{self as documents, PartsPage, RequestedPart, UploadsPage};
use super::metadata::attributes_from_head;
use super::upload::{check_upload_length, discard, receive_body};
use super::Response;
use super::{CoreServices, S3Request};
use crate::dates::now_ms;
use crate::encoding::{decode_hex, hex, percent_encode};
use crate::error::{S3Error, S3ErrorCode};
use crate::limits::{LIST_PARTS_MAX, MULTIPART_OBJECT_BYTES_MAX, PART_BYTES_MAX, PART_NUMBER_MAX, XML_BODY_BYTES_MAX};
use crate::s3_error;
use crate::store::record::{Extent, ObjectData, ObjectRecord, PartRecord, UploadRecord};

/// An unguessable upload id: 128 random bits, hex.
fn new_upload_id() -> Result<String, S3Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|error| s3_error!(InternalError, "no randomness: {error}"))?;
    Ok(hex(&bytes))
}

fn upload_id(request: &S3Request<'_>) -> Result<String, S3Error> {
    match request.query.get("uploadId") {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(s3_error!(InvalidArgument, "uploadId is required")),
    }
}

fn part_number(request: &S3Request<'_>) -> Result<u32, S3Error> {
    request
        .query
        .get("partNumber")
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|number| (1..=PART_NUMBER_MAX).contains(number))
        .ok_or_else(|| {
            s3_error!(InvalidArgument, "Part number must be an integer between 1 and {PART_NUMBER_MAX}, inclusive")
        })
}

/// A page-size parameter: default and cap `LIST_PARTS_MAX`.
fn page_size(request: &S3Request<'_>, name: &str) -> Result<usize, S3Error> {
    match request.query.get(name) {
        None => Ok(LIST_PARTS_MAX),
        Some(text) => text
            .parse::<usize>()
            .map(|value| value.min(LIST_PARTS_MAX))
            .map_err(|_| s3_error!(InvalidArgument, "{name} must be a non-negative integer")),
    }
}

pub(crate) async fn create_multipart_upload(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let mut attributes = attributes_from_head(request.head)?;
    (attributes.checksum_algorithm, attributes.full_object_checksum) = upload_checksum(request.head)?;
    let echo = attributes.checksum_algorithm.clone().map(|header| (header, attributes.full_object_checksum));
    let upload_id = new_upload_id()?;
    let document = documents::initiate_result(&bucket, &key, &upload_id);
    services
        .shards
        .call(&bucket.clone(), move |shard| async move {
            shard.create_upload(bucket, key, upload_id, now_ms(), attributes).await
        })
        .await?;
    let mut response = Response::xml(document);
    if let Some((header, full_object)) = echo {
        let name = ChecksumAlgorithm::from_header(&header).map_or("", ChecksumAlgorithm::name);
        response.push_header("x-amz-checksum-algorithm", name);
        response.push_header("x-amz-checksum-type", if full_object { "FULL_OBJECT" } else { "COMPOSITE" });
    }
    Ok(response)
}

/// The part number and upload a part request names, after checking the upload exists (so a
/// large body is not taken for nothing).
async fn part_target(
    services: &CoreServices,
    request: &S3Request<'_>,
    bucket: &str,
    key: &str,
) -> Result<(u32, String), S3Error> {
    let number = part_number(request)?;
    let upload_id = upload_id(request)?;
    check_upload(services, bucket, key, &upload_id).await?;
    Ok((number, upload_id))
}

async fn check_upload(services: &CoreServices, bucket: &str, key: &str, upload_id: &str) -> Result<(), S3Error> {
    let (name, key, upload_id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
    services.shards.call(bucket, move |shard| async move { shard.check_upload(&name, &key, &upload_id) }).await
}

async fn commit_part(
    services: &CoreServices,
    bucket: String,
    key: String,
    upload_id: String,
    number: u32,
    part: PartRecord,
) -> Result<(), S3Error> {
    let extents = part.extents.clone();
    let committed = services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.put_part(bucket, key, upload_id, number, part).await })
        .await;
    if committed.is_err() {
        discard(services, &ObjectData::Blocks(extents)).await;
    }
    committed
}

pub(crate) async fn upload_part(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    check_upload_length(request, PART_BYTES_MAX)?;
    let (number, upload_id) = part_target(services, request, &bucket, &key).await?;
    let body = receive_body(services, request, PART_BYTES_MAX, false).await?;
    let ObjectData::Blocks(extents) = body.data.clone() else {
        return Err(s3_error!(InternalError, "a part was stored inline"));
    };
    let etag = body.md5_hex();
    let checksum = body.checksum.clone();
    let part = PartRecord {
        size: body.size,
        etag: etag.clone(),
        last_modified_ms: now_ms(),
        checksum: checksum.clone(),
        extents,
    };
    commit_part(services, bucket, key, upload_id, number, part).await?;
    let mut response = Response::ok().header("ETag", format_args!("\"{etag}\""));
    if let Some((header, value)) = checksum {
        response.push_header(&header, value);
    }
    Ok(response)
}

/// `x-amz-copy-source-range: bytes=first-last`, within an object of `size` bytes.
fn copy_range(request: &S3Request<'_>, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(value) = request.head.header("x-amz-copy-source-range") else {
        return Ok((0, size));
    };
    let malformed = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) =
        value.trim().strip_prefix("bytes=").and_then(|range| range.split_once('-')).ok_or_else(malformed)?;
    let first: u64 = first.trim().parse().map_err(|_| malformed())?;
    let last: u64 = last.trim().parse().map_err(|_| malformed())?;
    if first > last {
        return Err(malformed());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "Range specified is not valid for source object of size: {size}"));
    }
    Ok((first, last - first + 1))
}

pub(crate) async fn upload_part_copy(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let (number, upload_id) = part_target(services, request, &bucket, &key).await?;
    let (_, _, source) = copy_source(services, request).await?;
    let (offset, length) = copy_range(request, source.size)?;
    if length > PART_BYTES_MAX {
        return Err(s3_error!(EntityTooLarge));
    }
    let etag = range_md5(services, &source, offset, length).await?;
    let extents: Vec<Extent> = match share_data(services, &source.data, offset, length).await? {
        ObjectData::Blocks(extents) => extents,
        ObjectData::Inline(bytes) => vec![write_block(services, bytes).await?],
    };
    let last_modified_ms = now_ms();
    let part = PartRecord { size: length, etag: etag.clone(), last_modified_ms, checksum: None, extents };
    commit_part(services, bucket, key, upload_id, number, part).await?;
    Ok(Response::xml(documents::copy_result("CopyPartResult", &etag, last_modified_ms)))
}

/// S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then `-` and the part
/// count. `None` when a part's ETag is not an MD5.
fn multipart_etag<'a>(part_etags: impl ExactSizeIterator<Item = &'a str>) -> Option<String> {
    let count = part_etags.len();
    let mut digests = Md5::new();
    for etag in part_etags {
        digests.update(decode_hex::<16>(etag)?);
    }
    Some(format!("{}-{count}", hex(&digests.finalize())))
}

/// Checks the requested parts against the upload and builds the object record.
fn build_object(
    upload_id: &str,
    upload: &UploadRecord,
    requested: &[RequestedPart],
    min_part_bytes: u64,
) -> Result<ObjectRecord, S3Error> {
    let mut previous = 0;
    let mut extents = Vec::new();
    let mut size = 0u64;
    let mut part_checksums = Vec::with_capacity(requested.len());
    for (index, RequestedPart { number, etag, checksum }) in requested.iter().enumerate() {
        if *number <= previous {
            return Err(s3_error!(InvalidPartOrder));
        }
        previous = *number;
        let part = upload.parts.get(number).filter(|part| part.etag == *etag).ok_or_else(|| s3_error!(InvalidPart))?;
        // A checksum named in the request must be the one the part was uploaded with.
        if let Some(named) = checksum {
            if part.checksum.as_ref() != Some(named) {
                return Err(s3_error!(InvalidPart, "The checksum of part {number} does not match the uploaded part."));
            }
        }
        part_checksums.push((part.checksum.as_ref(), part.size));
        let last = index + 1 == requested.len();
        if !last && part.size < min_part_bytes {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size: part {number} has {} bytes, the minimum is {min_part_bytes}",
                part.size
            ));
        }
        size += part.size;
        extents.extend(part.extents.iter().copied());
    }
    if size > MULTIPART_OBJECT_BYTES_MAX {
        return Err(s3_error!(EntityTooLarge));
    }
    let attributes = upload.attributes.clone();
    let checksum = attributes.checksum_algorithm.as_ref().and_then(|header| {
        multipart_checksum(header, attributes.full_object_checksum, &part_checksums)
            .map(|value| (header.clone(), value))
    });
    let etag = multipart_etag(requested.iter().map(|part| part.etag.as_str())).ok_or_else(|| s3_error!(InvalidPart))?;
    Ok(ObjectRecord {
        size,
        etag,
        last_modified_ms: now_ms(),
        content_type: attributes.content_type,
        stored_headers: attributes.stored_headers,
        user_metadata: attributes.user_metadata,
        tags: attributes.tags,
        checksum,
        part_sizes: requested.iter().filter_map(|part| upload.parts.get(&part.number).map(|p| p.size)).collect(),
        completed_upload: Some(upload_id.to_string()),
        data: ObjectData::Blocks(extents),
    })
}

pub(crate) async fn complete_multipart_upload(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let upload_id = upload_id(request)?;
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    let requested = documents::decode_complete_parts(&document)?;
    let min_part_bytes = services.settings.multipart_min_part_bytes;
    let location = format!("/{}/{}", bucket, percent_encode(key.as_bytes(), true));
    let repeat_etag = multipart_etag(requested.iter().map(|part| part.etag.as_str()));
    let (name, key_name, id) = (bucket.clone(), key.clone(), upload_id.clone());
    let completed = services
        .shards
        .call(&bucket, move |shard| async move {
            let made_by = id.clone();
            let build = move |upload: &UploadRecord| build_object(&made_by, upload, &requested, min_part_bytes);
            shard.complete_upload(name, key_name, id, build).await
        })
        .await;
    let record = match (completed, repeat_etag) {
        // Completed already (a client retrying after a timeout): S3 answers again with the
        // same ETag as long as the object it made is the key's current one.
        (Err(error), Some(etag)) if error.code == S3ErrorCode::NoSuchUpload => {
            let (name, key_name) = (bucket.clone(), key.clone());
            services
                .shards
                .call(
                    &bucket,
                    move |shard| async move { shard.completed_upload(&name, &key_name, &upload_id, &etag).await },
                )
                .await?
        }
        (completed, _) => completed?,
    };
    Ok(Response::xml(documents::complete_result(&location, &bucket, &key, &record.etag)))
}

pub(crate) async fn abort_multipart_upload(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let upload_id = upload_id(request)?;
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.abort_upload(bucket, key, upload_id).await })
        .await?;
    Ok(Response::no_content())
}

pub(crate) async fn list_parts(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let upload_id = upload_id(request)?;
    let max_parts = page_size(request, "max-parts")?;
    let marker: u32 = match request.query.get("part-number-marker") {
        None | Some("") => 0,
        Some(text) => text.parse().map_err(|_| s3_error!(InvalidArgument, "part-number-marker must be an integer"))?,
    };
    let (name, key_name, id) = (bucket.clone(), key.clone(), upload_id.clone());
    let upload = services.shards.call(&bucket, move |shard| async move { shard.upload(&name, &key_name, &id) }).await?;
    let mut after = upload.parts.range(marker.saturating_add(1)..);
    let parts: Vec<(u32, PartRecord)> = after.by_ref().take(max_parts).map(|(n, p)| (*n, p.clone())).collect();
    let is_truncated = after.next().is_some();
    let page = PartsPage {
        bucket: &bucket,
        key: &key,
        upload_id: &upload_id,
        part_number_marker: marker,
        max_parts,
        parts: &parts,
        is_truncated,
    };
    Ok(Response::xml(documents::list_parts(&page)))
}

pub(crate) async fn list_multipart_uploads(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let max_uploads = page_size(request, "max-uploads")?;
    let prefix = request.query.get("prefix").unwrap_or("");
    let delimiter = request.query.get("delimiter").filter(|d| !d.is_empty());
    let key_marker = request.query.get("key-marker").unwrap_or("");
    let upload_id_marker = request.query.get("upload-id-marker").unwrap_or("");
    let url_encode = match request.query.get("encoding-type") {
        None => false,
        Some(value) if value.eq_ignore_ascii_case("url") => true,
        Some(_) => return Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    };
    let name = bucket.clone();
    let all = services.shards.call(&bucket, move |shard| async move { shard.uploads(&name) }).await?;
    let mut uploads = Vec::new();
    let mut common_prefixes: Vec<String> = Vec::new();
    let mut is_truncated = false;
    // The last entry on the page, key and upload id (a common prefix has no id): the markers
    // a client continues from.
    let mut last: Option<(String, String)> = None;
    for (id, upload) in all {
        let key = upload.key.as_str();
        let after_marker =
            key > key_marker || (key == key_marker && !upload_id_marker.is_empty() && id.as_str() > upload_id_marker);
        if !key.starts_with(prefix) || !after_marker {
            continue;
        }
        let rolled_up = delimiter.and_then(|delimiter| {
            key[prefix.len()..].find(delimiter).map(|at| key[..prefix.len() + at + delimiter.len()].to_string())
        });
        if let Some(common) = &rolled_up {
            // A group already listed, on this page or before the marker, is not listed again.
            if common_prefixes.last() == Some(common) || common.as_str() <= key_marker {
                continue;
            }
        }
        if uploads.len() + common_prefixes.len() == max_uploads {
            is_truncated = true;
            break;
        }
        match rolled_up {
            Some(common) => {
                last = Some((common.clone(), String::new()));
                common_prefixes.push(common);
            }
            None => {
                last = Some((upload.key.clone(), id.clone()));
                uploads.push((id, upload));
            }
        }
    }
    let next_markers = if is_truncated { last } else { None };
    let page = UploadsPage {
        bucket: &bucket,
        key_marker,
        upload_id_marker,
        next_markers: next_markers.as_ref().map(|(key, id)| (key.as_str(), id.as_str())),
        prefix,
        delimiter,
        max_uploads,
        url_encode,
        uploads: &uploads,
        common_prefixes: &common_prefixes,
        is_truncated,
    };
    Ok(Response::xml(documents::list_uploads(&page)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::S3ErrorCode;
    use crate::store::record::BlockId;

    fn upload(parts: &[(u32, u64, &str)]) -> UploadRecord {
        let mut map = BTreeMap::new();
        for (index, (number, size, etag)) in parts.iter().enumerate() {
            let extent = Extent { block: BlockId { core: 0, sequence: index as u64 }, offset: 0, length: *size };
            map.insert(
                *number,
                PartRecord {
                    size: *size,
                    etag: etag.to_string(),
                    last_modified_ms: 0,
                    checksum: None,
                    extents: vec![extent],
                },
            );
        }
        UploadRecord { key: "k".into(), initiated_ms: 0, attributes: Default::default(), parts: map }
    }

    fn part(number: u32, etag: &str) -> RequestedPart {
        RequestedPart { number, etag: etag.to_string(), checksum: None }
    }

    const A: &str = "0cc175b9c0f1b6a831c399e269772661"; // md5("a")
    const B: &str = "92eb5ffee6ae2fec3ad71c777531578f"; // md5("b")

    #[test]
    fn completion_checks_order_etags_and_sizes() {
        let upload = upload(&[(1, 10, A), (2, 5, B)]);
        let ok = build_object("u", &upload, &[part(1, A), part(2, B)], 10).unwrap();
        assert_eq!(ok.size, 15);
        // md5(md5("a") ++ md5("b")) with the part count, as S3 computes it.
        let mut both = decode_hex::<16>(A).unwrap().to_vec();
        both.extend(decode_hex::<16>(B).unwrap());
        assert_eq!(ok.etag, format!("{}-2", hex(&Md5::digest(&both))));
        match &ok.data {
            ObjectData::Blocks(extents) => assert_eq!(extents.len(), 2),
            ObjectData::Inline(_) => panic!("multipart data must be blocks"),
        }
        let code = |requested: &[RequestedPart], min| build_object("u", &upload, requested, min).unwrap_err().code;
        assert_eq!(code(&[part(2, B), part(1, A)], 1), S3ErrorCode::InvalidPartOrder);
        assert_eq!(code(&[part(1, A), part(1, A)], 1), S3ErrorCode::InvalidPartOrder);
        assert_eq!(code(&[part(1, B)], 1), S3ErrorCode::InvalidPart);
        assert_eq!(code(&[part(3, A)], 1), S3ErrorCode::InvalidPart);
        assert_eq!(code(&[part(1, A), part(2, B)], 11), S3ErrorCode::EntityTooSmall);
        // The last part may be small.
        assert!(build_object("u", &upload, &[part(1, A), part(2, B)], 6).is_ok());
    }

    #[test]
    fn upload_ids_are_random_and_hex() {
        let (first, second) = (new_upload_id().unwrap(), new_upload_id().unwrap());
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

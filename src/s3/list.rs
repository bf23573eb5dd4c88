//! ListObjects (V1) and ListObjectsV2: parameters in, one page from the bucket's sorted index,
//! XML out. A page costs O(log n + page) whatever the bucket's size.

use base64::Engine;

use super::documents::list::{list_objects_v1 as encode_v1, list_objects_v2 as encode_v2, ListEcho, V2Echo};
use super::Response;
use super::{CoreServices, S3Request};
use crate::error::S3Error;
use crate::limits::LIST_KEYS_MAX;
use crate::s3_error;
use crate::store::index::{ListPage, ListQuery};

fn max_keys(request: &S3Request<'_>) -> Result<usize, S3Error> {
    match request.query.get("max-keys") {
        None => Ok(LIST_KEYS_MAX),
        Some(text) => {
            let value: i64 = text
                .trim()
                .parse()
                .map_err(|_| s3_error!(InvalidArgument, "Provided max-keys not an integer or within integer range"))?;
            if value < 0 {
                return Err(s3_error!(InvalidArgument, "Argument maxKeys must be an integer between 0 and 2147483647"));
            }
            Ok((value as usize).min(LIST_KEYS_MAX))
        }
    }
}

fn url_encoding(request: &S3Request<'_>) -> Result<bool, S3Error> {
    match request.query.get("encoding-type") {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

/// The parameters both listing versions share, validated.
fn list_echo<'a>(request: &'a S3Request<'_>, bucket: &'a str) -> Result<ListEcho<'a>, S3Error> {
    Ok(ListEcho {
        bucket,
        prefix: request.query.get("prefix").unwrap_or(""),
        delimiter: request.query.get("delimiter").filter(|d| !d.is_empty()),
        max_keys: max_keys(request)?,
        url_encode: url_encoding(request)?,
    })
}

fn index_query(echo: &ListEcho<'_>, start_after: Option<String>) -> ListQuery {
    ListQuery {
        prefix: echo.prefix.to_string(),
        delimiter: echo.delimiter.map(str::to_string),
        start_after,
        max_keys: echo.max_keys,
    }
}

async fn page(services: &CoreServices, bucket: &str, query: ListQuery) -> Result<ListPage, S3Error> {
    let name = bucket.to_string();
    services.shards.call(bucket, move |shard| async move { shard.list_objects(&name, &query) }).await
}

pub(crate) async fn list_objects_v1(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let echo = list_echo(request, &bucket)?;
    let marker = request.query.get("marker").unwrap_or("");
    let query = index_query(&echo, Some(marker.to_string()).filter(|marker| !marker.is_empty()));
    let page = page(services, &bucket, query).await?;
    let next_token = page.is_truncated.then(|| page.last.as_deref().map(encode_token)).flatten();
    Ok(Response::xml(encode_v1(&echo, marker, &page, next_token.as_deref())))
}

/// Continuation tokens are opaque to clients: base64 of the last key or prefix returned.
pub(crate) fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(last.as_bytes())
}

pub(crate) fn decode_token(token: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

pub(crate) async fn list_objects_v2(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let echo = list_echo(request, &bucket)?;
    // An empty token (`continuation-token=`) lists from the start and is echoed, as in S3.
    let continuation_token = request.query.get("continuation-token");
    let start_after = request.query.get("start-after").filter(|after| !after.is_empty());
    let resume_after = match continuation_token {
        Some(token) if !token.is_empty() => Some(decode_token(token)?),
        _ => start_after.map(str::to_string),
    };
    let query = index_query(&echo, resume_after);
    let page = page(services, &bucket, query).await?;
    let next_token = page.is_truncated.then(|| page.last.as_deref().map(encode_token)).flatten();
    let v2 = V2Echo {
        start_after,
        continuation_token,
        next_continuation_token: next_token.as_deref(),
        fetch_owner: request.query.get("fetch-owner") == Some("true"),
    };
    Ok(Response::xml(encode_v2(&echo, &v2, &page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        for key in ["key3", "dir/", "ü b+c"] {
            assert_eq!(decode_token(&encode_token(key)).unwrap(), key);
        }
        assert!(decode_token("***").is_err());
    }
}

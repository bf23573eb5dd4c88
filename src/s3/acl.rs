//! `?acl`: access control lists are not modelled (one owner, everything private). GET answers
//! the owner's FULL_CONTROL grant, as S3 does for a private bucket or object; PUT accepts the
//! `private` canned ACL (or a body granting the owner FULL_CONTROL only) and refuses anything
//! that would grant access to others with NotImplemented, so no one believes data is shared.

use super::documents::list::{OWNER_DISPLAY_NAME, OWNER_ID};
use super::object::lookup;
use super::Response;
use super::{CoreServices, S3Request};
use crate::error::S3Error;
use crate::limits::XML_BODY_BYTES_MAX;
use crate::s3_error;
use crate::xml::{tree, XmlWriter};

async fn check_exists(services: &CoreServices, bucket: &str, key: Option<&str>) -> Result<(), S3Error> {
    match key {
        Some(key) => lookup(services, bucket, key).await.map(|_| ()),
        None => {
            let name = bucket.to_string();
            services.shards.call(bucket, move |shard| async move { shard.bucket_record(&name).map(|_| ()) }).await
        }
    }
}

pub(crate) async fn get_acl(services: &CoreServices, bucket: String, key: Option<String>) -> Result<Response, S3Error> {
    check_exists(services, &bucket, key.as_deref()).await?;
    Ok(owner_policy())
}

/// The owner's FULL_CONTROL grant (also what s3core answers in front of an upstream).
pub(crate) fn owner_policy() -> Response {
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("AccessControlPolicy");
    xml.open("Owner");
    xml.element("ID", OWNER_ID);
    xml.element("DisplayName", OWNER_DISPLAY_NAME);
    xml.close("Owner");
    xml.open("AccessControlList");
    xml.open("Grant");
    xml.raw(b"<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
    xml.element("ID", OWNER_ID);
    xml.element("DisplayName", OWNER_DISPLAY_NAME);
    xml.close("Grantee");
    xml.element("Permission", "FULL_CONTROL");
    xml.close("Grant");
    xml.close("AccessControlList");
    xml.close("AccessControlPolicy");
    Response::xml(xml.finish())
}

pub(crate) async fn put_acl(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: Option<String>,
) -> Result<Response, S3Error> {
    check_exists(services, &bucket, key.as_deref()).await?;
    check_private(request).await?;
    Ok(Response::ok())
}

/// Accepts an ACL that grants the owner alone (the `private` canned ACL, or such a body) and
/// refuses anything sharing the data with NotImplemented.
pub(crate) async fn check_private(request: &mut S3Request<'_>) -> Result<(), S3Error> {
    if let Some(canned) = request.head.header("x-amz-acl") {
        if !canned.trim().eq_ignore_ascii_case("private") {
            return Err(s3_error!(NotImplemented, "only the private canned ACL is supported"));
        }
    }
    if request.head.headers.keys().any(|name| name.as_str().starts_with("x-amz-grant-")) {
        return Err(s3_error!(NotImplemented, "ACL grants are not supported"));
    }
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    if !document.iter().all(u8::is_ascii_whitespace) {
        let policy = tree::parse(&document, XML_BODY_BYTES_MAX)?;
        let grants: Vec<_> =
            policy.child("AccessControlList").map(|list| list.children_named("Grant").collect()).unwrap_or_default();
        let owner_only = grants.iter().all(|grant| {
            grant.child_text("Permission") == Some("FULL_CONTROL")
                && grant.child("Grantee").and_then(|grantee| grantee.child_text("ID")) == Some(OWNER_ID)
        });
        if !owner_only {
            return Err(s3_error!(NotImplemented, "ACL grants are not supported"));
        }
    }
    Ok(())
}

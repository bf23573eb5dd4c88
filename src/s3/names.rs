//! Names and identifiers clients send: S3's bucket naming rules (general purpose buckets) and
//! version ids (there is no versioning: only `null`).

use super::uri::Query;
use crate::error::S3Error;
use crate::s3_error;

pub(crate) fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let invalid = |why: &str| Err(s3_error!(InvalidBucketName, "The specified bucket is not valid: {why}."));
    if !(3..=63).contains(&name.len()) {
        return invalid("names are 3 to 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        return invalid("names hold lowercase letters, digits, dots and hyphens");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return invalid("names begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return invalid("names have no adjacent periods or period-hyphen pairs");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid("names are not IP addresses");
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return invalid("names do not use reserved prefixes or suffixes");
    }
    Ok(())
}

/// `versionId` is accepted as `null` only: there is no versioning.
pub(crate) fn check_version_id(query: &Query) -> Result<(), S3Error> {
    match query.get("versionId") {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_from_the_s3_documentation() {
        for good in ["testbucket", "bucket-for-testing", "my.bucket.1", "abc", &"a".repeat(63)] {
            assert!(validate_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Bucket",
            "bucket_1",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "with space",
            "ünï",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}

//! What a core knows of upstream objects: their current version (ETag and size: what pages are
//! keyed by) and the headers to answer with, checked against the upstream at most once per
//! `--upstream-revalidate` period. A check of a known object is a conditional HEAD
//! (`If-None-Match` with the known ETag): a 304 confirms it cheaply, a 200 is a new version,
//! a 404 a deleted object.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cache::ObjectVersion;
use crate::error::S3Error;
use crate::limits::LAKE_OBJECTS_PER_CORE_MAX;
use crate::s3_error;
use crate::upstream::{GetOptions, ObjectHead, Upstream, UpstreamError};

/// How long a known version is served without asking the upstream (`--upstream-revalidate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revalidate {
    /// Every read asks (a conditional HEAD): nothing is ever served stale.
    Always,
    /// A version confirmed within this long is served as is.
    After(Duration),
    /// Objects never change in place (Iceberg, Delta and Hudi data files): a known version is
    /// served until evicted or overwritten through this server.
    Never,
}

impl Revalidate {
    /// Parses `0`, `500ms`, `60s`, `5m`, `never`.
    pub(crate) fn parse(text: &str) -> Result<Revalidate, String> {
        let text = text.trim();
        let invalid =
            || format!("--upstream-revalidate {text:?}: expected 0, a duration like 500ms, 60s or 5m, or never");
        if text == "never" {
            return Ok(Revalidate::Never);
        }
        if text == "0" {
            return Ok(Revalidate::Always);
        }
        let (number, unit_ms) = if let Some(number) = text.strip_suffix("ms") {
            (number, 1)
        } else if let Some(number) = text.strip_suffix('s') {
            (number, 1000)
        } else if let Some(number) = text.strip_suffix('m') {
            (number, 60_000)
        } else {
            return Err(invalid());
        };
        let count: u64 = number.parse().map_err(|_| invalid())?;
        Ok(match count.checked_mul(unit_ms).ok_or_else(invalid)? {
            0 => Revalidate::Always,
            ms => Revalidate::After(Duration::from_millis(ms)),
        })
    }

    fn is_fresh(self, checked_at: Instant) -> bool {
        match self {
            Revalidate::Always => false,
            Revalidate::After(period) => checked_at.elapsed() < period,
            Revalidate::Never => true,
        }
    }
}

/// One upstream object version and the upstream's answer about it.
#[derive(Debug)]
pub(crate) struct KnownObject {
    pub(crate) version: ObjectVersion,
    pub(crate) head: ObjectHead,
    checked_at: std::cell::Cell<Instant>,
}

/// A core's known objects, bounded in count.
pub(crate) struct KnownObjects {
    entries: RefCell<HashMap<(String, String), Rc<KnownObject>>>,
    revalidate: Revalidate,
}

impl KnownObjects {
    pub(crate) fn new(revalidate: Revalidate) -> Self {
        KnownObjects { entries: RefCell::new(HashMap::new()), revalidate }
    }

    /// The current version of `bucket/key`: the known one while fresh, else as the upstream
    /// says now. NoSuchKey (or the upstream's error) when there is none.
    pub(crate) async fn resolve(
        &self,
        upstream: &Upstream,
        bucket: &str,
        key: &str,
    ) -> Result<Rc<KnownObject>, S3Error> {
        let name = (bucket.to_string(), key.to_string());
        let known = self.entries.borrow().get(&name).cloned();
        if let Some(known) = &known {
            if self.revalidate.is_fresh(known.checked_at.get()) {
                return Ok(known.clone());
            }
        }
        let options = GetOptions {
            if_none_match: known.as_ref().and_then(|known| known.head.etag.clone()),
            ..GetOptions::default()
        };
        let answer = upstream.head_object(bucket, key, &options).await;
        let not_modified = match &answer {
            Ok(head) => head.status == 304,
            Err(UpstreamError::Response(response)) => response.status == 304,
            Err(_) => false,
        };
        match answer {
            _ if not_modified => {
                let known = known.ok_or_else(|| s3_error!(InternalError, "304 to an unconditional HEAD"))?;
                known.checked_at.set(Instant::now());
                Ok(known)
            }
            Ok(head) => {
                let known = Rc::new(known_object(bucket, key, head)?);
                self.remember(name, known.clone());
                Ok(known)
            }
            Err(error) => {
                if matches!(&error, UpstreamError::Response(response) if response.status == 404) {
                    self.entries.borrow_mut().remove(&name);
                }
                Err(error.into())
            }
        }
    }

    /// The current version of `bucket/key` and the span (offset, length) of its part
    /// `part_number`, as the upstream says now (a HEAD with `partNumber`). Not remembered: the
    /// answer describes a part, and such reads are rare (SDKs' parallel downloads).
    pub(crate) async fn resolve_part(
        &self,
        upstream: &Upstream,
        bucket: &str,
        key: &str,
        part_number: u32,
    ) -> Result<(KnownObject, u64, u64), S3Error> {
        let mut head = upstream.head_object_part(bucket, key, part_number).await?;
        let length = head.content_length.unwrap_or(0);
        // An object uploaded in one piece is its own part 1: some stores answer it whole.
        let (offset, total) = match head.content_range {
            Some(range) => (range.first, range.total.unwrap_or(range.last + 1)),
            None => (0, length),
        };
        if offset + length > total {
            return Err(s3_error!(ServiceUnavailable, "the upstream store answered a part beyond its object"));
        }
        head.content_length = Some(total);
        Ok((known_object(bucket, key, head)?, offset, length))
    }

    /// Forgets what is known of `bucket/key` (written or deleted through this server, or a
    /// page fetch found another version upstream): the next read asks the upstream.
    pub(crate) fn forget(&self, bucket: &str, key: &str) {
        self.entries.borrow_mut().remove(&(bucket.to_string(), key.to_string()));
    }

    fn remember(&self, name: (String, String), known: Rc<KnownObject>) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= LAKE_OBJECTS_PER_CORE_MAX && !entries.contains_key(&name) {
            // Bounded: drop some entry (a later read of it costs one HEAD).
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(name, known);
    }
}

fn known_object(bucket: &str, key: &str, head: ObjectHead) -> Result<KnownObject, S3Error> {
    let etag = head.etag.as_deref().map(|etag| etag.trim_matches('"').to_string()).unwrap_or_default();
    let size_bytes = head
        .content_length
        .ok_or_else(|| s3_error!(ServiceUnavailable, "the upstream store answered a HEAD without a length"))?;
    if etag.is_empty() {
        return Err(s3_error!(ServiceUnavailable, "the upstream store answered a HEAD without an ETag"));
    }
    let version = ObjectVersion { bucket: bucket.to_string(), key: key.to_string(), etag, size_bytes };
    Ok(KnownObject { version, head, checked_at: std::cell::Cell::new(Instant::now()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revalidation_periods_parse() {
        assert_eq!(Revalidate::parse("0"), Ok(Revalidate::Always));
        assert_eq!(Revalidate::parse("0s"), Ok(Revalidate::Always));
        assert_eq!(Revalidate::parse("500ms"), Ok(Revalidate::After(Duration::from_millis(500))));
        assert_eq!(Revalidate::parse("60s"), Ok(Revalidate::After(Duration::from_secs(60))));
        assert_eq!(Revalidate::parse("5m"), Ok(Revalidate::After(Duration::from_secs(300))));
        assert_eq!(Revalidate::parse("never"), Ok(Revalidate::Never));
        for bad in ["", "5", "5h", "-1s", "soon", "1.5s"] {
            assert!(Revalidate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn freshness_follows_the_policy() {
        let now = Instant::now();
        assert!(!Revalidate::Always.is_fresh(now));
        assert!(Revalidate::Never.is_fresh(now - Duration::from_secs(3600)));
        assert!(Revalidate::After(Duration::from_secs(60)).is_fresh(now));
        assert!(!Revalidate::After(Duration::from_millis(1)).is_fresh(now - Duration::from_millis(5)));
    }
}

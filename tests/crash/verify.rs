//! After a restart: every key must hold its acknowledged state or, when an operation on it
//! was in flight at the crash, that operation's outcome; and listings must agree with GETs.
//! What is observed becomes the known state for the next cycle.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::model::{KeyModel, Object, State, Violation};
use crate::support::{encode_query, hex, md5_digest, xml_blocks, xml_values, Client, Response};

#[derive(Debug, Default)]
pub struct Verification {
    pub violations: Vec<Violation>,
    /// Keys checked, and those present.
    pub keys: u64,
    pub present: u64,
    /// In-flight operations that recovery showed as done / as never done.
    pub in_flight_applied: u64,
    pub in_flight_dropped: u64,
    /// Objects seen in listings.
    pub listed: u64,
}

fn request(client: &mut Client, method: &str, path: &str) -> Result<Response, String> {
    client.try_request(method, path, &[], b"").map_err(|failure| format!("{method} {path}: {failure}"))
}

/// A problem with what was observed: (violation kind, detail).
type Problem = Option<(&'static str, String)>;

/// What the server shows for one key.
fn observe(client: &mut Client, model: &KeyModel) -> Result<(State, Problem), String> {
    let response = request(client, "GET", &model.path())?;
    match response.status {
        404 => {
            let code = xml_values(&response.body, "Code");
            let odd = (code.first().map(String::as_str) != Some("NoSuchKey"))
                .then(|| ("unreadable after recovery", format!("404 without NoSuchKey: {}", response.summary())));
            Ok((State::Absent, odd))
        }
        200 => {
            let digest = md5_digest(&response.body);
            let etag = response.etag_unquoted().unwrap_or_default();
            let mut odd = None;
            if !etag.contains('-') && etag != hex(&digest) {
                let detail = format!("ETag {etag} but the {} bytes have MD5 {}", response.body.len(), hex(&digest));
                odd = Some(("torn object", detail));
            }
            let declared = response.header("content-length").and_then(|v| v.parse::<u64>().ok());
            if declared != Some(response.body.len() as u64) {
                odd = Some(("torn object", format!("Content-Length {declared:?} for {} bytes", response.body.len())));
            }
            let tagging = request(client, "GET", &format!("{}?tagging", model.path()))?;
            if tagging.status != 200 {
                // Nothing else writes the key between the two requests.
                let detail = format!("GET ?tagging answers {}", tagging.summary());
                return Ok((State::Absent, Some(("unreadable after recovery", detail))));
            }
            let mut tags: Vec<(String, String)> = xml_blocks(&tagging.body, "Tag")
                .iter()
                .map(|tag| {
                    let key = xml_values(tag, "Key").into_iter().next().unwrap_or_default();
                    let value = xml_values(tag, "Value").into_iter().next().unwrap_or_default();
                    (key, value)
                })
                .collect();
            tags.sort();
            let object = Object { size: response.body.len() as u64, md5: digest, etag, tags };
            Ok((State::Present(object), odd))
        }
        // An object recovery lists but cannot serve (e.g. its block is gone): reported as a
        // violation by the caller, which keeps checking the other keys.
        _ => Ok((State::Absent, Some(("unreadable after recovery", format!("GET answers {}", response.summary()))))),
    }
}

/// Checks every key and every bucket listing; updates the models to what was observed.
pub fn verify(
    addr: SocketAddr,
    cycle: usize,
    models: &mut [Vec<KeyModel>],
    buckets: &[String],
) -> Result<Verification, String> {
    let mut client = crate::client(addr);
    let mut result = Verification::default();
    for model in models.iter_mut().flatten() {
        let (observed, odd) = observe(&mut client, model)?;
        if let Some(("unreadable after recovery", detail)) = &odd {
            // Its state is unknown: keep the expectation, report, and go on with the others.
            let history: Vec<&String> = model.history.iter().collect();
            result.violations.push(Violation {
                cycle,
                kind: "unreadable after recovery",
                key: model.name(),
                detail: format!("{detail}; expected {:?}; history (oldest first): {history:?}", model.state),
            });
            model.pending = None;
            result.keys += 1;
            continue;
        }
        result.keys += 1;
        if observed.object().is_some() {
            result.present += 1;
        }
        let history: Vec<String> = model.history.iter().cloned().collect();
        let mut failures: Vec<(&'static str, String)> = Vec::new();
        let mut fail = |kind: &'static str, detail: String| failures.push((kind, detail));
        if let Some((kind, detail)) = odd {
            fail(kind, detail);
        }
        let pending = model.pending.take();
        if observed == model.state {
            if let Some(pending) = &pending {
                if pending.outcome != model.state {
                    result.in_flight_dropped += 1;
                }
            }
            model.note(format!("RESTART {cycle}: acknowledged state"));
        } else if pending.as_ref().is_some_and(|pending| pending.outcome == observed) {
            result.in_flight_applied += 1;
            model.recovered_over = Some(model.state.clone());
            model.note(format!("RESTART {cycle}: in-flight outcome"));
        } else if model.recovered_over.as_ref() == Some(&observed) {
            fail(
                "recovered state reverted",
                format!(
                    "after an earlier restart the server showed {:?} (the outcome of an unacknowledged operation); \
                     this crash took it back to {observed:?}",
                    model.state
                ),
            );
            model.note(format!("RESTART {cycle}: REVERTED"));
        } else {
            let kind = if pending.is_none() { "acknowledged state lost" } else { "neither old nor new state" };
            let candidates = match &pending {
                None => format!("{:?}", model.state),
                Some(pending) => {
                    format!("{:?} or, from in-flight {}, {:?}", model.state, pending.operation, pending.outcome)
                }
            };
            fail(kind, format!("expected {candidates}, found {observed:?}"));
            model.note(format!("RESTART {cycle}: VIOLATION, found {observed:?}"));
        }
        model.state = observed;
        for (kind, detail) in failures {
            let detail = format!("{detail}; history (oldest first): {history:?}");
            result.violations.push(Violation { cycle, kind, key: model.name(), detail });
        }
    }
    for bucket in buckets {
        let listed = match list_bucket(&mut client, bucket) {
            Ok(listed) => listed,
            Err(error) => {
                let detail = error.to_string();
                result.violations.push(Violation { cycle, kind: "listing failed", key: bucket.clone(), detail });
                continue;
            }
        };
        result.listed += listed.len() as u64;
        let mut expected: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for model in models.iter().flatten().filter(|model| &model.bucket == bucket) {
            if let State::Present(object) = &model.state {
                expected.insert(model.key.clone(), (object.etag.clone(), object.size));
            }
        }
        for (key, listed) in &listed {
            match expected.get(key) {
                None => result.violations.push(Violation {
                    cycle,
                    kind: "listing disagrees with GET",
                    key: format!("{bucket}/{key}"),
                    detail: format!("listed ({listed:?}) but GET answers 404"),
                }),
                Some(got) if got != listed => result.violations.push(Violation {
                    cycle,
                    kind: "listing disagrees with GET",
                    key: format!("{bucket}/{key}"),
                    detail: format!("listed as {listed:?}, GET shows {got:?}"),
                }),
                Some(_) => {}
            }
        }
        for (key, got) in &expected {
            if !listed.contains_key(key) {
                result.violations.push(Violation {
                    cycle,
                    kind: "listing disagrees with GET",
                    key: format!("{bucket}/{key}"),
                    detail: format!("GET shows {got:?} but the listing omits it"),
                });
            }
        }
    }
    Ok(result)
}

/// Every object of a bucket through ListObjectsV2 pages: key → (ETag, size).
fn list_bucket(client: &mut Client, bucket: &str) -> Result<BTreeMap<String, (String, u64)>, String> {
    let mut listed = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let mut path = format!("/{bucket}?list-type=2&max-keys=29");
        if let Some(token) = &token {
            path.push_str(&format!("&continuation-token={}", encode_query(token)));
        }
        let response = request(client, "GET", &path)?;
        if response.status != 200 {
            return Err(format!("ListObjectsV2 {path}: {}", response.summary()));
        }
        for contents in xml_blocks(&response.body, "Contents") {
            let key = xml_values(&contents, "Key").into_iter().next().unwrap_or_default();
            let etag = xml_values(&contents, "ETag").into_iter().next().unwrap_or_default();
            let size =
                xml_values(&contents, "Size").into_iter().next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
            if listed.insert(key.clone(), (etag.trim_matches('"').to_string(), size)).is_some() {
                return Err(format!("ListObjectsV2 of {bucket} returned {key} twice"));
            }
        }
        let truncated = xml_values(&response.body, "IsTruncated").first().map(String::as_str) == Some("true");
        if !truncated {
            return Ok(listed);
        }
        token = xml_values(&response.body, "NextContinuationToken").into_iter().next();
        if token.is_none() {
            return Err(format!("ListObjectsV2 of {bucket}: truncated page without NextContinuationToken"));
        }
    }
    Err(format!("ListObjectsV2 of {bucket} never ended"))
}

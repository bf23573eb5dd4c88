//! What one connection sends next: the request for each phase, and the check of its response.
//!
//! A response counts as a success only if it has the expected status and, for GETs, exactly the
//! expected number of body bytes (a server that ignores `Range` and returns the whole object is
//! an error, not a fast range read). Object bytes are never inspected: verifying content would
//! make the generator, not the server, the bottleneck.

use crate::client::{Body, Client, Method, Request};
use crate::config::Config;
use crate::http::Collect;
use crate::phase::{
    write_key, KeyKind, Phase, SizeClass, LIST_PAGE_KEYS, LIST_PREFIX, MIB, MIX_PUT_PERCENT, RANGE_BYTES,
};
use crate::sigv4;

/// Error bodies are kept up to this size for the message.
const ERROR_BODY_BYTES_MAX: usize = 512;
/// A ListObjectsV2 page of 1,000 keys is ~300 KiB; anything past this is ignored (and the
/// continuation token would be lost, so the page is an error).
const LIST_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Characters of an error body quoted in a message.
const ERROR_QUOTE_CHARS_MAX: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A phase; for `Phase::Scan` the request's ticket is the index of the object to read.
    Phase(Phase),
    /// PUT each key of `kind` once, `bytes` long; the request's ticket is the key's index.
    Preload { kind: KeyKind, bytes: u64 },
}

/// splitmix64: tiny, fast, and good enough to pick keys and offsets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Pseudo-random bytes for request bodies (incompressible, so no server can shortcut them).
pub fn make_payload(bytes: u64) -> Vec<u8> {
    let mut rng = Rng::new(0x5eed, 0);
    let mut out = Vec::with_capacity(bytes as usize + 8);
    while (out.len() as u64) < bytes {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(bytes as usize);
    out
}

pub struct Worker<'a> {
    config: &'a Config,
    work: Work,
    /// This connection's index and the number of connections: PUT keys are spread so that
    /// concurrent connections never write the same key at once.
    id: u64,
    connections: u64,
    /// Requests this worker has issued (for PUT key rotation).
    sequence: u64,
    pub client: Client,
    rng: Rng,
    payload: &'a [u8],
    key: String,
    body: Vec<u8>,
    list_token: Option<String>,
}

impl<'a> Worker<'a> {
    pub fn new(config: &'a Config, work: Work, id: usize, connections: usize, payload: &'a [u8]) -> Self {
        let endpoint = match work {
            Work::Preload { .. } => config.setup_endpoint(),
            Work::Phase(_) => &config.endpoint,
        };
        let client = Client::new(endpoint.clone(), &config.bucket, config.io_timeout, config.credentials.clone());
        Worker {
            config,
            work,
            id: id as u64,
            connections: connections as u64,
            sequence: 0,
            client,
            rng: Rng::new(config.seed, id as u64),
            payload,
            key: String::with_capacity(64),
            body: Vec::with_capacity(ERROR_BODY_BYTES_MAX),
            list_token: None,
        }
    }

    /// Sends one request; returns the payload bytes moved (request or response body).
    pub fn step(&mut self, ticket: u64) -> Result<u64, String> {
        match self.work {
            Work::Preload { kind, bytes } => {
                write_key(&mut self.key, kind, ticket);
                self.put(bytes)
            }
            Work::Phase(Phase::Put(class)) => {
                let index = self.next_put_index(class);
                write_key(&mut self.key, KeyKind::Put(class), index);
                self.put(class.bytes())
            }
            Work::Phase(Phase::Get(class)) => self.get_object(class),
            Work::Phase(Phase::Scan(class)) => {
                write_key(&mut self.key, KeyKind::Object(class), ticket);
                self.get(None, 200, class.bytes())
            }
            Work::Phase(Phase::Range8m(class)) => {
                let index = self.rng.below(self.config.objects(class));
                write_key(&mut self.key, KeyKind::Object(class), index);
                let first = self.rng.below(class.bytes() - RANGE_BYTES + 1);
                self.get(Some((first, first + RANGE_BYTES - 1)), 206, RANGE_BYTES)
            }
            Work::Phase(Phase::Head) => {
                let index = self.rng.below(self.config.objects(SizeClass::K4));
                write_key(&mut self.key, KeyKind::Object(SizeClass::K4), index);
                self.head()
            }
            Work::Phase(Phase::List) => self.list_page(),
            Work::Phase(Phase::Mix) => {
                if self.rng.below(100) < MIX_PUT_PERCENT {
                    let index = self.next_put_index(SizeClass::K4);
                    write_key(&mut self.key, KeyKind::Mix, index);
                    self.put(SizeClass::K4.bytes())
                } else {
                    self.get_object(SizeClass::K4)
                }
            }
        }
    }

    fn next_put_index(&mut self, class: SizeClass) -> u64 {
        let index = (self.id + self.sequence * self.connections) % self.config.put_keys(class);
        self.sequence += 1;
        index
    }

    fn get_object(&mut self, class: SizeClass) -> Result<u64, String> {
        let index = self.rng.below(self.config.objects(class));
        write_key(&mut self.key, KeyKind::Object(class), index);
        self.get(None, 200, class.bytes())
    }

    fn put(&mut self, bytes: u64) -> Result<u64, String> {
        // The payload is at least as long as every PUT but the 1 GiB preload, which repeats it.
        let pattern = &self.payload[..self.payload.len().min(usize::try_from(bytes).unwrap_or(usize::MAX))];
        let body = Body::repeat(pattern, bytes);
        let request = Request { method: Method::Put, key: Some(&self.key), query: "", range: None, body };
        exchange(&mut self.client, &mut self.body, &request, 0, |status, _| (200..300).contains(&status))?;
        Ok(bytes)
    }

    fn get(&mut self, range: Option<(u64, u64)>, status: u16, bytes: u64) -> Result<u64, String> {
        let request = Request { method: Method::Get, key: Some(&self.key), query: "", range, body: Body::EMPTY };
        exchange(&mut self.client, &mut self.body, &request, 0, |s, got| s == status && got == bytes)
    }

    fn head(&mut self) -> Result<u64, String> {
        let request = Request { method: Method::Head, key: Some(&self.key), query: "", range: None, body: Body::EMPTY };
        exchange(&mut self.client, &mut self.body, &request, 0, |status, _| (200..300).contains(&status))?;
        Ok(0)
    }

    fn list_page(&mut self) -> Result<u64, String> {
        let max_keys = LIST_PAGE_KEYS.to_string();
        let mut pairs = vec![("list-type", "2"), ("max-keys", max_keys.as_str()), ("prefix", LIST_PREFIX)];
        if let Some(token) = &self.list_token {
            pairs.push(("continuation-token", token));
        }
        let query = sigv4::canonical_query(&pairs);
        let request = Request { method: Method::Get, key: None, query: &query, range: None, body: Body::EMPTY };
        let bytes =
            exchange(&mut self.client, &mut self.body, &request, LIST_BODY_BYTES_MAX, |status, _| status == 200)?;
        let page = parse_list_page(&self.body).map_err(|e| format!("list page: {e}"))?;
        self.list_token = page.next_token;
        Ok(bytes)
    }
}

/// Sends `request`, keeps up to `keep` body bytes in `body` (at least enough to quote an error),
/// and applies `ok` to (status, body bytes). Returns the body bytes received.
fn exchange(
    client: &mut Client,
    body: &mut Vec<u8>,
    request: &Request<'_>,
    keep: usize,
    ok: impl Fn(u16, u64) -> bool,
) -> Result<u64, String> {
    let what = request.key.unwrap_or("(bucket)");
    body.clear();
    let collect = Collect { buf: body, limit: keep.max(ERROR_BODY_BYTES_MAX) };
    let response = client.send(request, Some(collect)).map_err(|e| format!("{what}: {e}"))?;
    if ok(response.status, response.body_bytes) {
        return Ok(response.body_bytes);
    }
    let quote: String = String::from_utf8_lossy(body).chars().take(ERROR_QUOTE_CHARS_MAX).collect();
    Err(format!(
        "{what}: HTTP {} with {} body bytes: {}",
        response.status,
        response.body_bytes,
        quote.replace(['\r', '\n'], " ")
    ))
}

#[derive(Debug, PartialEq, Eq)]
pub struct ListPage {
    pub keys: usize,
    /// The token for the next page; `None` when the listing is complete.
    pub next_token: Option<String>,
}

/// Reads what the walk needs from a ListObjectsV2 result, without an XML parser.
pub fn parse_list_page(body: &[u8]) -> Result<ListPage, String> {
    if body.len() >= LIST_BODY_BYTES_MAX {
        return Err(format!("body longer than {} MiB", LIST_BODY_BYTES_MAX as u64 / MIB));
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    if !text.contains("<ListBucketResult") {
        return Err("no <ListBucketResult>".into());
    }
    let keys = text.matches("<Key>").count();
    let truncated = element(text, "IsTruncated").is_some_and(|v| v.trim() == "true");
    if !truncated {
        return Ok(ListPage { keys, next_token: None });
    }
    let token = element(text, "NextContinuationToken").ok_or("truncated page without NextContinuationToken")?;
    Ok(ListPage { keys, next_token: Some(xml_unescape(token)) })
}

fn element<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    Some(&text[start..start + len])
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#43;", "+")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages() {
        let page = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>list/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>list/key-00000001</Key></Contents><Contents><Key>list/key-00000002</Key></Contents>
<NextContinuationToken>a+b/c=&amp;d</NextContinuationToken></ListBucketResult>"#;
        assert_eq!(parse_list_page(page), Ok(ListPage { keys: 2, next_token: Some("a+b/c=&d".into()) }));
        let last = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(parse_list_page(last), Ok(ListPage { keys: 0, next_token: None }));
        assert!(parse_list_page(b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").is_err());
        assert!(parse_list_page(b"<Error><Code>NoSuchBucket</Code></Error>").is_err());
    }

    #[test]
    fn rng_is_uniform_enough_and_payload_sized() {
        let mut rng = Rng::new(1, 0);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[rng.below(4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        assert_eq!(make_payload(4097).len(), 4097);
    }
}

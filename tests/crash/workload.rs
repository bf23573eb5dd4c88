//! The workload of one worker thread: random S3 writes (and checking reads) on the keys it
//! owns, until the server stops answering. Every acknowledged write updates the key's model;
//! the one request left without an answer at the kill is recorded as in flight.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use md5::Digest;

use crate::model::{body, KeyModel, Object, Rng, State, Violation};
use crate::support::{encode_query, hex, md5_base64, md5_digest, xml_escape, xml_values, Client, Response};

/// Counts of what a worker did, summed over threads and cycles.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Acknowledged operations by name.
    pub acknowledged: BTreeMap<&'static str, u64>,
    /// Operations sent with no answer (one per worker per kill at most).
    pub in_flight: u64,
    /// Operations never sent because the server was already gone.
    pub unsent: u64,
    /// Reads during the workload that returned exactly the acknowledged state.
    pub live_reads: u64,
    pub bytes_written: u64,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        for (name, count) in &other.acknowledged {
            *self.acknowledged.entry(name).or_default() += count;
        }
        self.in_flight += other.in_flight;
        self.unsent += other.unsent;
        self.live_reads += other.live_reads;
        self.bytes_written += other.bytes_written;
    }

    pub fn total_acknowledged(&self) -> u64 {
        self.acknowledged.values().sum()
    }

    fn ack(&mut self, name: &'static str) {
        *self.acknowledged.entry(name).or_default() += 1;
    }
}

/// What a worker hands back when the server stops answering.
pub struct WorkerResult {
    pub keys: Vec<KeyModel>,
    pub stats: Stats,
    pub violations: Vec<Violation>,
}

pub struct Worker {
    pub thread: usize,
    pub cycle: usize,
    pub keys: Vec<KeyModel>,
    pub rng: Rng,
    /// Safety stop: a worker never runs past this even if the server keeps answering.
    pub deadline: Instant,
    client: Client,
    stats: Stats,
    violations: Vec<Violation>,
}

/// The end of a worker's cycle: the server is gone (or the deadline passed).
struct Stop;

impl Worker {
    pub fn new(
        thread: usize,
        cycle: usize,
        addr: SocketAddr,
        keys: Vec<KeyModel>,
        seed: u64,
        run_for: Duration,
    ) -> Self {
        Worker {
            thread,
            cycle,
            keys,
            rng: Rng::new(seed),
            deadline: Instant::now() + run_for + Duration::from_secs(60),
            client: crate::client(addr),
            stats: Stats::default(),
            violations: Vec::new(),
        }
    }

    pub fn run(mut self) -> WorkerResult {
        while Instant::now() < self.deadline {
            if self.step().is_err() {
                break;
            }
        }
        WorkerResult { keys: self.keys, stats: self.stats, violations: self.violations }
    }

    fn violation(&mut self, kind: &'static str, key: usize, detail: String) {
        let model = &self.keys[key];
        let history: Vec<&String> = model.history.iter().collect();
        self.violations.push(Violation {
            cycle: self.cycle,
            kind,
            key: model.name(),
            detail: format!("worker {}: {detail}; history: {history:?}", self.thread),
        });
    }

    /// Sends a request; a missing answer marks `outcomes` in flight and ends the cycle.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
        operation: &str,
        outcomes: &[(usize, State)],
    ) -> Result<Response, Stop> {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        match self.client.try_request(method, path, &headers, body) {
            Ok(response) => Ok(response),
            Err(failure) => {
                if failure.was_sent() {
                    self.stats.in_flight += 1;
                    for (key, outcome) in outcomes {
                        self.keys[*key].in_flight(outcome.clone(), operation);
                    }
                } else {
                    self.stats.unsent += 1;
                }
                Err(Stop)
            }
        }
    }

    /// An answer that is neither the expected success nor a known refusal: reported, and the
    /// key's outcome treated as unknown (in flight) for the rest of the cycle.
    fn unexpected(&mut self, key: usize, operation: &str, response: &Response, outcome: State) -> Stop {
        let summary = response.summary();
        self.violation("unexpected answer", key, format!("{operation}: {summary}"));
        self.keys[key].in_flight(outcome, operation);
        Stop
    }

    fn step(&mut self) -> Result<(), Stop> {
        let key = self.rng.below(self.keys.len() as u64) as usize;
        let present = self.keys[key].state.object().is_some();
        match self.rng.below(100) {
            0..=9 => self.read(key),
            10..=44 => self.put(key),
            45..=52 if present => self.delete(key),
            53..=57 => self.delete_objects(key),
            58..=69 => self.multipart(key),
            70..=84 => self.copy(key),
            85..=99 if present => self.tagging(key),
            _ => self.put(key),
        }
    }

    fn random_tags(&mut self) -> Vec<(String, String)> {
        let count = self.rng.below(4) as usize;
        let mut tags: Vec<(String, String)> =
            (0..count).map(|index| (format!("tag{index}"), format!("v{}", self.rng.below(1_000_000)))).collect();
        tags.sort();
        tags
    }

    fn random_size(&mut self) -> usize {
        match self.rng.below(100) {
            0..=9 => 0,
            10..=49 => self.rng.between(1, 4096) as usize,
            50..=64 => self.rng.between(4097, 64 * 1024) as usize,
            _ => self.rng.between(64 * 1024, 2 * 1024 * 1024) as usize,
        }
    }

    /// GET of an owned key: must show exactly the acknowledged state (no one else writes it).
    fn read(&mut self, key: usize) -> Result<(), Stop> {
        let path = self.keys[key].path();
        let response = match self.client.try_request("GET", &path, &[], b"") {
            Ok(response) => response,
            Err(failure) => {
                if !failure.was_sent() {
                    self.stats.unsent += 1;
                }
                return Err(Stop);
            }
        };
        let expected = self.keys[key].state.clone();
        let matches = match (&expected, response.status) {
            (State::Absent, 404) => true,
            (State::Present(object), 200) => {
                response.body.len() as u64 == object.size
                    && md5_digest(&response.body) == object.md5
                    && response.etag_unquoted().as_deref() == Some(object.etag.as_str())
            }
            _ => false,
        };
        if matches {
            self.stats.live_reads += 1;
        } else {
            let got = format!(
                "status {} size {} md5 {} etag {:?}",
                response.status,
                response.body.len(),
                hex(&md5_digest(&response.body)),
                response.etag_unquoted()
            );
            self.violation("live read", key, format!("expected {expected:?}, got {got}"));
        }
        Ok(())
    }

    fn put(&mut self, key: usize) -> Result<(), Stop> {
        let size = self.random_size();
        let seed = self.rng.next_u64();
        let data = body(seed, size);
        let digest = md5_digest(&data);
        let tags = if self.rng.percent(30) { self.random_tags() } else { Vec::new() };
        let mut headers: Vec<(&str, String)> = Vec::new();
        if !tags.is_empty() {
            let header: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            headers.push(("x-amz-tagging", header.join("&")));
        }
        let absent = self.keys[key].state.object().is_none();
        let conditional = absent && self.rng.percent(30);
        if conditional {
            headers.push(("If-None-Match", "*".into()));
        }
        if self.rng.percent(30) {
            headers.push(("Content-MD5", crate::support::base64(&digest)));
        }
        let new = State::Present(Object { size: size as u64, md5: digest, etag: hex(&digest), tags });
        let operation = format!("PUT {size} B{}", if conditional { " If-None-Match:*" } else { "" });
        let path = self.keys[key].path();
        let response = self.send("PUT", &path, &headers, &data, &operation, &[(key, new.clone())])?;
        if response.status != 200 {
            return Err(self.unexpected(key, &operation, &response, new));
        }
        if response.etag_unquoted().as_deref() != Some(hex(&digest).as_str()) {
            let detail = format!("{operation}: ETag {:?}, expected {}", response.etag_unquoted(), hex(&digest));
            self.violation("wrong ETag in answer", key, detail);
        }
        self.stats.ack("put");
        self.stats.bytes_written += size as u64;
        self.keys[key].acknowledge(new, &operation);
        Ok(())
    }

    fn delete(&mut self, key: usize) -> Result<(), Stop> {
        let path = self.keys[key].path();
        let response = self.send("DELETE", &path, &[], b"", "DELETE", &[(key, State::Absent)])?;
        if response.status != 204 {
            return Err(self.unexpected(key, "DELETE", &response, State::Absent));
        }
        self.stats.ack("delete");
        self.keys[key].acknowledge(State::Absent, "DELETE");
        Ok(())
    }

    /// DeleteObjects of 1–4 owned keys of one bucket (present or not).
    fn delete_objects(&mut self, key: usize) -> Result<(), Stop> {
        let bucket = self.keys[key].bucket.clone();
        let same_bucket: Vec<usize> = (0..self.keys.len()).filter(|&k| self.keys[k].bucket == bucket).collect();
        let mut chosen = vec![key];
        for _ in 0..self.rng.below(4) {
            let other = *self.rng.pick(&same_bucket);
            if !chosen.contains(&other) {
                chosen.push(other);
            }
        }
        let quiet = self.rng.percent(50);
        let mut document = format!("<Delete><Quiet>{quiet}</Quiet>");
        for &k in &chosen {
            document.push_str(&format!("<Object><Key>{}</Key></Object>", xml_escape(&self.keys[k].key)));
        }
        document.push_str("</Delete>");
        let content_md5 = md5_base64(document.as_bytes());
        let operation = format!("DeleteObjects of {} keys", chosen.len());
        let outcomes: Vec<(usize, State)> = chosen.iter().map(|&k| (k, State::Absent)).collect();
        let path = format!("/{bucket}?delete");
        let response =
            self.send("POST", &path, &[("Content-MD5", content_md5)], document.as_bytes(), &operation, &outcomes)?;
        let errors = xml_values(&response.body, "Error");
        if response.status != 200 || !errors.is_empty() {
            let stop = self.unexpected(key, &operation, &response, State::Absent);
            for &k in &chosen {
                self.keys[k].in_flight(State::Absent, &operation);
            }
            return Err(stop);
        }
        if !quiet {
            let mut deleted = xml_values(&response.body, "Key");
            deleted.sort();
            let mut wanted: Vec<String> = chosen.iter().map(|&k| self.keys[k].key.clone()).collect();
            wanted.sort();
            if deleted != wanted {
                self.violation("unexpected answer", key, format!("{operation}: Deleted {deleted:?}, sent {wanted:?}"));
            }
        }
        self.stats.ack("delete_objects");
        for &k in &chosen {
            self.keys[k].acknowledge(State::Absent, &operation);
        }
        Ok(())
    }

    /// Create, 2–3 parts, complete (or sometimes abort).
    fn multipart(&mut self, key: usize) -> Result<(), Stop> {
        let path = self.keys[key].path();
        let tags = if self.rng.percent(30) { self.random_tags() } else { Vec::new() };
        let mut headers: Vec<(&str, String)> = Vec::new();
        if !tags.is_empty() {
            let header: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            headers.push(("x-amz-tagging", header.join("&")));
        }
        let response = self.send("POST", &format!("{path}?uploads"), &headers, b"", "CreateMultipartUpload", &[])?;
        let upload_id = match (response.status, xml_values(&response.body, "UploadId").first()) {
            (200, Some(id)) => id.clone(),
            _ => {
                let detail = format!("CreateMultipartUpload: {}", response.summary());
                self.violation("unexpected answer", key, detail);
                return Err(Stop);
            }
        };
        self.stats.ack("create_multipart_upload");
        let upload = encode_query(&upload_id);
        let parts = self.rng.between(2, 3) as usize;
        let mut whole = md5::Md5::new();
        let mut part_md5s = Vec::new();
        let mut size = 0u64;
        let mut document = String::from("<CompleteMultipartUpload>");
        for number in 1..=parts {
            let part_size = if number < parts {
                self.rng.between(1024, 400 * 1024) as usize
            } else {
                self.rng.between(1, 300 * 1024) as usize
            };
            let data = body(self.rng.next_u64(), part_size);
            let digest = md5_digest(&data);
            let operation = format!("UploadPart {number} ({part_size} B)");
            let part_path = format!("{path}?partNumber={number}&uploadId={upload}");
            let response = self.send("PUT", &part_path, &[], &data, &operation, &[])?;
            if response.status != 200 || response.etag_unquoted().as_deref() != Some(hex(&digest).as_str()) {
                let detail = format!("{operation}: {} ETag {:?}", response.summary(), response.etag_unquoted());
                self.violation("unexpected answer", key, detail);
                return Err(Stop);
            }
            self.stats.ack("upload_part");
            self.stats.bytes_written += part_size as u64;
            whole.update(&data);
            part_md5s.extend_from_slice(&digest);
            size += part_size as u64;
            document
                .push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>\"{}\"</ETag></Part>", hex(&digest)));
        }
        document.push_str("</CompleteMultipartUpload>");
        if self.rng.percent(10) {
            let operation = "AbortMultipartUpload";
            let response = self.send("DELETE", &format!("{path}?uploadId={upload}"), &[], b"", operation, &[])?;
            if response.status != 204 {
                self.violation("unexpected answer", key, format!("{operation}: {}", response.summary()));
                return Err(Stop);
            }
            self.stats.ack("abort_multipart_upload");
            return Ok(());
        }
        let etag = format!("{}-{parts}", hex(&md5_digest(&part_md5s)));
        let whole: [u8; 16] = whole.finalize().into();
        let new = State::Present(Object { size, md5: whole, etag: etag.clone(), tags });
        let operation = format!("CompleteMultipartUpload ({parts} parts, {size} B)");
        let complete_path = format!("{path}?uploadId={upload}");
        let response =
            self.send("POST", &complete_path, &[], document.as_bytes(), &operation, &[(key, new.clone())])?;
        let answered = xml_values(&response.body, "ETag");
        if response.status != 200 || !xml_values(&response.body, "Code").is_empty() {
            return Err(self.unexpected(key, &operation, &response, new));
        }
        if answered.first().map(|tag| tag.trim_matches('"')) != Some(etag.as_str()) {
            self.violation("wrong ETag in answer", key, format!("{operation}: ETag {answered:?}, expected {etag}"));
        }
        self.stats.ack("complete_multipart_upload");
        self.keys[key].acknowledge(new, &operation);
        Ok(())
    }

    /// CopyObject from another owned key (any bucket) that exists.
    fn copy(&mut self, key: usize) -> Result<(), Stop> {
        let sources: Vec<usize> =
            (0..self.keys.len()).filter(|&k| k != key && self.keys[k].state.object().is_some()).collect();
        if sources.is_empty() {
            return self.put(key);
        }
        let source = *self.rng.pick(&sources);
        let object = self.keys[source].state.object().cloned().expect("present source");
        // A copy's ETag is the plain MD5 of the bytes, even from a multipart source.
        let new = State::Present(Object { etag: hex(&object.md5), ..object.clone() });
        let copy_source = self.keys[source].path();
        let operation = format!("CopyObject from {} ({} B)", self.keys[source].name(), object.size);
        let path = self.keys[key].path();
        let response =
            self.send("PUT", &path, &[("x-amz-copy-source", copy_source)], b"", &operation, &[(key, new.clone())])?;
        if response.status != 200 || !xml_values(&response.body, "Code").is_empty() {
            return Err(self.unexpected(key, &operation, &response, new));
        }
        let answered = xml_values(&response.body, "ETag");
        if answered.first().map(|tag| tag.trim_matches('"')) != Some(hex(&object.md5).as_str()) {
            self.violation("wrong ETag in answer", key, format!("{operation}: ETag {answered:?}"));
        }
        self.stats.ack("copy_object");
        self.keys[key].acknowledge(new, &operation);
        Ok(())
    }

    /// PutObjectTagging (or DeleteObjectTagging) of an existing owned key.
    fn tagging(&mut self, key: usize) -> Result<(), Stop> {
        let current = self.keys[key].state.object().cloned().expect("present key");
        let path = format!("{}?tagging", self.keys[key].path());
        if self.rng.percent(15) {
            let new = State::Present(Object { tags: Vec::new(), ..current });
            let operation = "DeleteObjectTagging";
            let response = self.send("DELETE", &path, &[], b"", operation, &[(key, new.clone())])?;
            if response.status != 204 {
                return Err(self.unexpected(key, operation, &response, new));
            }
            self.stats.ack("delete_object_tagging");
            self.keys[key].acknowledge(new, operation);
            return Ok(());
        }
        let tags = self.random_tags();
        let mut document = String::from("<Tagging><TagSet>");
        for (name, value) in &tags {
            document.push_str(&format!("<Tag><Key>{name}</Key><Value>{value}</Value></Tag>"));
        }
        document.push_str("</TagSet></Tagging>");
        let new = State::Present(Object { tags: tags.clone(), ..current });
        let operation = format!("PutObjectTagging {tags:?}");
        let response = self.send("PUT", &path, &[], document.as_bytes(), &operation, &[(key, new.clone())])?;
        if response.status != 200 {
            return Err(self.unexpected(key, &operation, &response, new));
        }
        self.stats.ack("put_object_tagging");
        self.keys[key].acknowledge(new, &operation);
        Ok(())
    }
}

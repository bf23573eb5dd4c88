//! /metrics after known traffic: exact request counts by action and status, error codes,
//! histogram totals, bytes in and out to the byte, shard sizes, journal group commits, auth
//! refusals, the bearer token, the access log.

use std::time::{Duration, Instant};

use super::{exchange, Launch, Metrics, Node};
use crate::support::{error_code, random_bytes};

fn requests(metrics: &Metrics, action: &str, status: u16) -> f64 {
    metrics.value(&format!("s3core_requests_total{{action=\"{action}\",status=\"{status}\"}}"))
}

/// Checks one histogram: cumulative buckets, `+Inf` = `_count` = `count`, and a sum that is
/// positive and at most `count` times the test's wall time.
fn check_histogram(metrics: &Metrics, name: &str, action: &str, count: f64, wall: Duration) -> f64 {
    let labels = format!("action=\"{action}\"");
    let buckets = metrics.buckets(name, &labels);
    assert!(buckets.len() > 10, "{name} {action}: buckets {buckets:?}");
    let mut previous = 0.0;
    let mut bounds: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(le, value)| (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, *value))
        .collect();
    bounds.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for (le, value) in &bounds {
        assert!(*value >= previous, "{name} {action}: bucket le={le} ({value}) below the one before ({previous})");
        previous = *value;
    }
    assert_eq!(bounds.last().map(|b| b.1), Some(count), "{name} {action}: +Inf bucket");
    assert_eq!(metrics.value(&format!("{name}_count{{{labels}}}")), count, "{name} {action}: _count");
    let sum = metrics.value(&format!("{name}_sum{{{labels}}}"));
    assert!(sum > 0.0 && sum <= count * wall.as_secs_f64(), "{name} {action}: sum {sum} for {count} in {wall:?}");
    sum
}

#[test]
fn metrics_count_known_traffic_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let node = Launch::new(&dir.path().join("data")).start();
    let s3 = node.s3();
    let started = Instant::now();
    let (mut sent, mut received) = (0usize, 0usize);
    let mut run = |method: &str, path: &str, body: &[u8], status: u16| {
        let exchange = exchange(s3, method, path, body);
        assert_eq!(exchange.status, status, "{method} {path}: {}", String::from_utf8_lossy(&exchange.reply));
        sent += exchange.request.len();
        received += exchange.reply.len();
        exchange
    };
    run("PUT", "/metered", b"", 200);
    let mut inline_bytes = 0;
    let mut object_bytes = 0;
    for index in 0..5u64 {
        let body = random_bytes(100 + 900 * index as usize, index);
        run("PUT", &format!("/metered/small-{index}"), &body, 200);
        inline_bytes += body.len();
        object_bytes += body.len();
    }
    let large = random_bytes(300_000, 99);
    run("PUT", "/metered/large", &large, 200);
    object_bytes += large.len();
    for index in 0..7u64 {
        let got = run("GET", &format!("/metered/small-{}", index % 5), b"", 200);
        assert_eq!(got.body.len(), 100 + 900 * (index % 5) as usize);
    }
    for _ in 0..3 {
        let missing = run("GET", "/metered/missing", b"", 404);
        assert_eq!(error_code(&missing.body).as_deref(), Some("NoSuchKey"));
    }
    run("GET", "/nowhere/key", b"", 404);
    run("HEAD", "/metered/large", b"", 200);
    run("HEAD", "/metered/large", b"", 200);
    run("DELETE", "/metered/small-0", b"", 204);
    inline_bytes -= 100;
    object_bytes -= 100;
    run("GET", "/metered?list-type=2", b"", 200);
    let wall = started.elapsed();

    let metrics = node.settled_metrics();
    assert_eq!(requests(&metrics, "CreateBucket", 200), 1.0);
    assert_eq!(requests(&metrics, "PutObject", 200), 6.0);
    assert_eq!(requests(&metrics, "GetObject", 200), 7.0);
    assert_eq!(requests(&metrics, "GetObject", 404), 4.0);
    assert_eq!(requests(&metrics, "HeadObject", 200), 2.0);
    assert_eq!(requests(&metrics, "DeleteObject", 204), 1.0);
    assert_eq!(requests(&metrics, "ListObjectsV2", 200), 1.0);
    assert_eq!(metrics.sum("s3core_requests_total"), 22.0, "no other request was counted");
    assert_eq!(metrics.sum("s3core_core_requests_total"), 22.0, "the per-core totals add up");
    assert_eq!(metrics.value("s3core_s3_errors_total{action=\"GetObject\",code=\"NoSuchKey\"}"), 3.0);
    assert_eq!(metrics.value("s3core_s3_errors_total{action=\"GetObject\",code=\"NoSuchBucket\"}"), 1.0);
    assert_eq!(metrics.sum("s3core_s3_errors_total"), 4.0);
    for (action, count) in [("PutObject", 6.0), ("GetObject", 11.0), ("HeadObject", 2.0), ("CreateBucket", 1.0)] {
        let duration = check_histogram(&metrics, "s3core_request_duration_seconds", action, count, wall);
        let ttfb = check_histogram(&metrics, "s3core_request_time_to_first_byte_seconds", action, count, wall);
        assert!(ttfb <= duration, "{action}: time to first byte {ttfb} after the end {duration}");
    }
    // To the byte: everything this test wrote and read on its connections, and nothing else.
    assert_eq!(metrics.sum("s3core_received_bytes_total"), sent as f64, "bytes received");
    assert_eq!(metrics.sum("s3core_sent_bytes_total"), received as f64, "bytes sent");
    assert_eq!(metrics.sum("s3core_connections_accepted_total"), 22.0);
    // The namespace: one bucket, five objects (four small ones inline), their bytes.
    assert_eq!(metrics.sum("s3core_shard_buckets"), 1.0);
    assert_eq!(metrics.sum("s3core_shard_objects"), 5.0);
    assert_eq!(metrics.sum("s3core_shard_object_bytes"), object_bytes as f64);
    assert_eq!(metrics.sum("s3core_shard_inline_bytes"), inline_bytes as f64);
    assert_eq!(metrics.sum("s3core_multipart_uploads_in_progress"), 0.0);
    // Eight changes, each one commit of its own (one at a time): 8 writers in all, and one
    // fsync timed per flush.
    assert_eq!(metrics.value("s3core_journal_batch_writers_sum"), 8.0);
    let flushes = metrics.value("s3core_journal_flushes_total");
    assert!((1.0..=8.0).contains(&flushes), "{flushes} flushes");
    assert_eq!(metrics.value("s3core_journal_batch_writers_count"), flushes);
    assert_eq!(metrics.value("s3core_journal_fsync_duration_seconds_count"), flushes);
    assert_eq!(metrics.value("s3core_journal_fenced_shards"), 0.0);
    let free = metrics.value("s3core_data_filesystem_free_bytes");
    assert!(free > 0.0 && free <= metrics.value("s3core_data_filesystem_size_bytes"));
    assert_eq!(metrics.value("s3core_cores"), 2.0);
    assert_eq!(metrics.value("s3core_cores_answering"), 2.0);
    assert!(metrics.text.contains("s3core_build_info{version=\""), "{}", metrics.text);
    assert!(metrics.text.contains("# TYPE s3core_request_duration_seconds histogram"));
}

/// `yyyymmddThhmmssZ` of a Unix time (SigV4's `x-amz-date`).
fn amz_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

#[test]
fn auth_refusals_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node =
        Launch::new(&dir.path().join("data")).args(&["--access-key", "AKIDOPS", "--secret-key", "opsecret"]).start();
    let s3 = node.s3();
    assert_eq!(exchange(s3, "GET", "/", b"").status, 403, "unsigned");
    let now = amz_date(crate::support::now_seconds());
    let request = |date: &str, authorization: &str| {
        let head = format!("GET / HTTP/1.1\r\nHost: {s3}\r\nAuthorization: {authorization}\r\nx-amz-date: {date}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nConnection: close\r\n\r\n");
        let response = crate::support::send_raw_full(s3, head.as_bytes()).response();
        error_code(&response.body).unwrap_or_default()
    };
    let credential = |key: &str, date: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={key}/{}/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            &date[..8]
        )
    };
    assert_eq!(request(&now, &credential("NOBODY", &now)), "InvalidAccessKeyId");
    assert_eq!(request(&now, &credential("AKIDOPS", &now)), "SignatureDoesNotMatch");
    let old = "20200101T000000Z";
    assert_eq!(request(old, &credential("AKIDOPS", old)), "RequestTimeTooSkewed");
    assert_eq!(request(&now, "AWS4-HMAC-SHA256 Credential=garbage"), "AuthorizationHeaderMalformed");
    let metrics = node.settled_metrics();
    let refusals = |reason: &str| metrics.value(&format!("s3core_auth_refusals_total{{reason=\"{reason}\"}}"));
    assert_eq!(refusals("unsigned"), 1.0, "{}", metrics.text);
    assert_eq!(refusals("unknown_access_key"), 1.0, "{}", metrics.text);
    assert_eq!(refusals("signature_mismatch"), 1.0);
    assert_eq!(refusals("clock_skew"), 1.0);
    assert_eq!(refusals("malformed"), 1.0);
    assert_eq!(metrics.sum("s3core_auth_refusals_total"), 5.0);
    assert_eq!(requests(&metrics, "ListBuckets", 403), 4.0);
}

#[test]
fn a_metrics_token_guards_metrics_and_status_but_not_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Launch::new(&dir.path().join("data")).args(&["--metrics-token", "t0ken"]).start();
    assert_eq!(node.admin_get("/metrics", &[]).0, 401);
    assert_eq!(node.admin_get("/metrics", &[("Authorization", "Bearer wrong")]).0, 401);
    assert_eq!(node.admin_get("/status.json", &[]).0, 401);
    let (status, body) = node.admin_get("/metrics", &[("Authorization", "Bearer t0ken")]);
    assert_eq!(status, 200);
    assert!(body.contains("s3core_requests_total"));
    let (status, body) = node.admin_get("/status.json", &[("Authorization", "Bearer t0ken")]);
    assert_eq!(status, 200);
    let status_document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status_document["core_count"], 2);
    assert_eq!(node.admin_get("/health/live", &[]).0, 200);
    assert_eq!(node.admin_get("/health/ready", &[]).0, 200);
    assert_eq!(node.admin_get("/", &[]).0, 200, "the page holds no data");
    assert_eq!(node.admin_get("/nothing", &[]).0, 404);
}

#[test]
fn the_admin_listener_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = Launch::new(&dir.path().join("data")).args(&["--admin-listen", ""]).start();
    assert!(node.admin.is_none() && node.stdout.iter().all(|line| !line.contains("admin")), "{:?}", node.stdout);
    assert_eq!(exchange(node.s3(), "PUT", "/quiet", b"").status, 200);
}

#[test]
fn the_access_log_has_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut node = Launch::new(&dir.path().join("data")).args(&["--access-log", log.to_str().unwrap()]).start();
    let s3 = node.s3();
    exchange(s3, "PUT", "/logged", b"");
    let put = exchange(s3, "PUT", "/logged/dir/k%20ey", b"twelve bytes");
    exchange(s3, "GET", "/logged/missing", b"");
    // Lines reach the writer within the periodic flush; the counter says when.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.metrics().value("s3core_access_log_lines_total") < 3.0 {
        assert!(Instant::now() < deadline, "access log lines never handed over");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = node.metrics();
    assert_eq!(metrics.value("s3core_access_log_dropped_lines_total"), 0.0);
    // The last lines are written at exit, without waiting for a time-out.
    assert_eq!(node.terminate(Duration::from_secs(5)).code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))).collect();
    assert_eq!(lines.len(), 3, "{text}");
    // Each core hands over its own lines: the file is in time order per core only.
    let find = |action: &str, status: u16| {
        lines
            .iter()
            .find(|line| line["action"] == action && line["status"] == status)
            .unwrap_or_else(|| panic!("{text}"))
    };
    assert_eq!(find("CreateBucket", 200)["key"], serde_json::Value::Null);
    let line = find("PutObject", 200);
    assert_eq!(line["action"], "PutObject");
    assert_eq!(line["bucket"], "logged");
    assert_eq!(line["key"], "dir/k ey");
    assert_eq!(line["status"], 200);
    assert_eq!(line["error"], serde_json::Value::Null);
    assert_eq!(line["bytes_in"], put.request.len(), "{line}");
    assert_eq!(line["bytes_out"], put.reply.len(), "{line}");
    assert_eq!(line["user_agent"], "s3core-ops-test");
    assert!(line["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    let request_id = String::from_utf8_lossy(&put.reply)
        .lines()
        .find_map(|header| header.strip_prefix("x-amz-request-id: ").map(str::to_string))
        .unwrap();
    assert_eq!(line["request_id"], request_id.as_str());
    assert!(line["duration_ms"].as_f64().unwrap() >= line["ttfb_ms"].as_f64().unwrap());
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(find("GetObject", 404)["error"], "NoSuchKey");
}

/// The page the admin listener serves at / is self-contained: no external assets.
#[test]
fn the_status_page_needs_nothing_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let node: Node = Launch::new(&dir.path().join("data")).start();
    let (status, page) = node.admin_get("/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<title>s3core status</title>") && page.contains("status.json"));
    for external in ["http://", "https://", "src=\"//", "<link"] {
        assert!(!page.contains(external), "the page refers to {external}");
    }
}

//! ListObjects (V1) and ListObjectsV2: order, paging, delimiters, prefixes, start-after,
//! URL encoding, parameter validation, and a 2500-key bucket.

use std::collections::HashSet;

use crate::support::*;

/// 30 keys in no particular order: digits, upper case, punctuation, non-ASCII, "directories".
const KEYS: [&str; 30] = [
    "dir/y",
    "Zulu",
    "a b+c",
    "é",
    "0-zero",
    "a/2",
    "dir/sub/1",
    "9-nine",
    "ab/x",
    "~tilde",
    "Alpha",
    "_under",
    "a",
    "a/1",
    "x=y&z",
    "a/b/c",
    "aa",
    "dir/",
    "ab/y",
    "b",
    "dir/sub/2",
    "z",
    "éa/1",
    "€uro",
    "😀",
    "sp ace/x",
    "dir/x",
    "sp ace/y",
    "q?uery",
    "e",
];

const BUCKET: &str = "listing";

/// A server with `KEYS` in `BUCKET` (body of each: the key itself).
fn populated() -> (Server, Client) {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", BUCKET);
    for key in KEYS {
        client.put(&format!("/{BUCKET}/{}", encode_path(key)), key.as_bytes()).expect(200, key);
    }
    (server, client)
}

/// S3's UTF-8 binary order.
fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort();
    keys
}

/// What a listing with `prefix` and `delimiter` holds: keys and common prefixes, and both
/// merged in listing order.
fn expected_view(prefix: &str, delimiter: Option<&str>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    for key in sorted(&KEYS) {
        let Some(rest) = key.strip_prefix(prefix) else { continue };
        match delimiter.and_then(|d| rest.find(d).map(|at| (d, at))) {
            Some((d, at)) => {
                let common = format!("{prefix}{}", &rest[..at + d.len()]);
                if !prefixes.contains(&common) {
                    prefixes.push(common);
                }
            }
            None => keys.push(key.clone()),
        }
    }
    let mut merged: Vec<String> = keys.iter().chain(prefixes.iter()).cloned().collect();
    merged.sort();
    (keys, prefixes, merged)
}

fn common_prefixes(body: &[u8]) -> Vec<String> {
    xml_blocks(body, "CommonPrefixes").iter().map(|block| xml_value(block, "Prefix")).collect()
}

/// The top-level `<Prefix>` (the first one; CommonPrefixes come after it).
fn echoed_prefix(body: &[u8]) -> String {
    xml_values(body, "Prefix").into_iter().next().expect("a <Prefix> element")
}

#[test]
fn v2_lists_every_key_in_utf8_binary_order_with_sizes_and_etags() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        let response = client.get(&format!("{prefix}/{BUCKET}?list-type=2")).expect(200, "ListObjectsV2");
        assert_eq!(response.header("content-type"), Some("application/xml"));
        let body = &response.body;
        assert!(response.text().contains("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"));
        assert_eq!(xml_value(body, "Name"), BUCKET);
        assert_eq!(echoed_prefix(body), "");
        assert_eq!(xml_value(body, "KeyCount"), "30");
        assert_eq!(xml_value(body, "MaxKeys"), "1000");
        assert_eq!(xml_value(body, "IsTruncated"), "false");
        assert!(xml_values(body, "NextContinuationToken").is_empty());
        assert!(xml_values(body, "Owner").is_empty(), "V2 sends Owner only with fetch-owner=true");
        let contents = xml_blocks(body, "Contents");
        let keys: Vec<String> = contents.iter().map(|c| xml_value(c, "Key")).collect();
        assert_eq!(keys, sorted(&KEYS));
        for content in &contents {
            let key = xml_value(content, "Key");
            assert_eq!(xml_value(content, "Size"), key.len().to_string(), "{key}");
            assert_eq!(xml_value(content, "ETag"), quoted_md5(key.as_bytes()), "{key}");
            assert_eq!(xml_value(content, "StorageClass"), "STANDARD");
            assert!(is_iso8601_millis(&xml_value(content, "LastModified")), "{content}");
        }
    }
}

#[test]
fn v1_lists_every_key_in_order_with_owner() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        let response = client.get(&format!("{prefix}/{BUCKET}")).expect(200, "ListObjects");
        let body = &response.body;
        assert_eq!(xml_value(body, "Name"), BUCKET);
        assert_eq!(xml_value(body, "Marker"), "");
        assert_eq!(xml_value(body, "MaxKeys"), "1000");
        assert_eq!(xml_value(body, "IsTruncated"), "false");
        assert!(xml_values(body, "KeyCount").is_empty(), "KeyCount is V2 only");
        assert!(xml_values(body, "NextMarker").is_empty());
        let contents = xml_blocks(body, "Contents");
        let keys: Vec<String> = contents.iter().map(|c| xml_value(c, "Key")).collect();
        assert_eq!(keys, sorted(&KEYS));
        for content in &contents {
            assert_eq!(xml_blocks(content, "Owner").len(), 1, "V1 Contents carry an Owner: {content}");
        }
    }
}

#[test]
fn v2_pages_with_continuation_tokens() {
    let (_server, mut client) = populated();
    let expected = sorted(&KEYS);
    for prefix in PREFIXES {
        for max_keys in [1usize, 7, 29, 30, 31] {
            let mut all = Vec::new();
            let mut token: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut target = format!("{prefix}/{BUCKET}?list-type=2&max-keys={max_keys}");
                if let Some(token) = &token {
                    target.push_str(&format!("&continuation-token={}", encode_query(token)));
                }
                let response = client.get(&target).expect(200, &target);
                let body = &response.body;
                pages += 1;
                let keys = xml_values(body, "Key");
                assert_eq!(xml_value(body, "KeyCount"), keys.len().to_string(), "{target}");
                assert_eq!(xml_value(body, "MaxKeys"), max_keys.to_string());
                match &token {
                    Some(token) => assert_eq!(&xml_value(body, "ContinuationToken"), token, "token echoed"),
                    None => assert!(xml_values(body, "ContinuationToken").is_empty()),
                }
                all.extend(keys.iter().cloned());
                let remaining = expected.len() - all.len();
                if xml_value(body, "IsTruncated") == "true" {
                    assert_eq!(keys.len(), max_keys, "a truncated page is full");
                    assert!(remaining > 0, "truncated with nothing left ({target})");
                    let next = xml_value(body, "NextContinuationToken");
                    assert!(!next.is_empty());
                    token = Some(next);
                } else {
                    assert!(xml_values(body, "NextContinuationToken").is_empty());
                    assert_eq!(remaining, 0, "not truncated but keys are missing ({target})");
                    break;
                }
                assert!(pages <= 40, "too many pages");
            }
            assert_eq!(all, expected, "max-keys={max_keys}");
            assert_eq!(pages, expected.len().div_ceil(max_keys), "max-keys={max_keys}");
        }
    }
}

#[test]
fn v1_pages_with_markers() {
    let (_server, mut client) = populated();
    let expected = sorted(&KEYS);
    for prefix in PREFIXES {
        // Without a delimiter there is no NextMarker: the last key is the next marker.
        let mut all: Vec<String> = Vec::new();
        let mut marker = String::new();
        loop {
            let target = format!("{prefix}/{BUCKET}?max-keys=7&marker={}", encode_query(&marker));
            let response = client.get(&target).expect(200, &target);
            assert_eq!(xml_value(&response.body, "Marker"), marker);
            assert!(xml_values(&response.body, "NextMarker").is_empty(), "NextMarker without delimiter: {response}");
            let keys = xml_values(&response.body, "Key");
            all.extend(keys.iter().cloned());
            if xml_value(&response.body, "IsTruncated") == "true" {
                assert_eq!(keys.len(), 7);
                marker = keys.last().unwrap().clone();
            } else {
                break;
            }
            assert!(all.len() <= 30, "paging does not advance");
        }
        assert_eq!(all, expected);
        // A marker between keys starts after it.
        let response = client.get(&format!("{prefix}/{BUCKET}?marker=b0")).expect(200, "marker b0");
        let after: Vec<String> = expected.iter().filter(|k| k.as_str() > "b0").cloned().collect();
        assert_eq!(xml_values(&response.body, "Key"), after);
    }
}

#[test]
fn delimiter_rolls_up_common_prefixes() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        for (list_prefix, query) in [("", "list-type=2&delimiter=/"), ("", "delimiter=/")] {
            let response = client.get(&format!("{prefix}/{BUCKET}?{query}")).expect(200, query);
            let (keys, prefixes, merged) = expected_view(list_prefix, Some("/"));
            assert_eq!(xml_values(&response.body, "Key"), keys, "{query}");
            assert_eq!(common_prefixes(&response.body), prefixes, "{query}");
            assert_eq!(xml_value(&response.body, "Delimiter"), "/");
            if query.contains("list-type=2") {
                assert_eq!(
                    xml_value(&response.body, "KeyCount"),
                    merged.len().to_string(),
                    "KeyCount counts prefixes too"
                );
            }
        }
        // Inside a "directory".
        let response =
            client.get(&format!("{prefix}/{BUCKET}?list-type=2&delimiter=/&prefix=dir/")).expect(200, "dir/");
        assert_eq!(xml_values(&response.body, "Key"), vec!["dir/", "dir/x", "dir/y"]);
        assert_eq!(common_prefixes(&response.body), vec!["dir/sub/"]);
        assert_eq!(echoed_prefix(&response.body), "dir/");
        // Another delimiter than "/".
        let response = client.get(&format!("{prefix}/{BUCKET}?list-type=2&delimiter=a")).expect(200, "delimiter=a");
        let (keys, prefixes, _) = expected_view("", Some("a"));
        assert_eq!(xml_values(&response.body, "Key"), keys);
        assert_eq!(common_prefixes(&response.body), prefixes);
    }
}

#[test]
fn paging_across_common_prefixes_lists_each_prefix_on_exactly_one_page() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        for (list_prefix, delimiter) in [("", "/"), ("dir/", "/"), ("", "a")] {
            let (_, _, merged) = expected_view(list_prefix, Some(delimiter));
            for max_keys in [1usize, 2, 3, 5] {
                // V2: continuation tokens.
                let mut seen: Vec<String> = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut target = format!(
                        "{prefix}/{BUCKET}?list-type=2&max-keys={max_keys}&delimiter={}&prefix={}",
                        encode_query(delimiter),
                        encode_query(list_prefix)
                    );
                    if let Some(token) = &token {
                        target.push_str(&format!("&continuation-token={}", encode_query(token)));
                    }
                    let response = client.get(&target).expect(200, &target);
                    let mut page: Vec<String> = xml_values(&response.body, "Key");
                    page.extend(common_prefixes(&response.body));
                    assert!(page.len() <= max_keys, "{target}: {} entries", page.len());
                    assert_eq!(xml_value(&response.body, "KeyCount"), page.len().to_string());
                    seen.extend(page);
                    if xml_value(&response.body, "IsTruncated") == "true" {
                        token = Some(xml_value(&response.body, "NextContinuationToken"));
                    } else {
                        break;
                    }
                    assert!(seen.len() <= merged.len(), "{target}: entries repeat across pages: {seen:?}");
                }
                seen.sort();
                assert_eq!(seen, merged, "V2 prefix={list_prefix:?} delimiter={delimiter:?} max-keys={max_keys}");

                // V1: NextMarker (sent because there is a delimiter).
                let mut seen: Vec<String> = Vec::new();
                let mut marker = String::new();
                loop {
                    let target = format!(
                        "{prefix}/{BUCKET}?max-keys={max_keys}&delimiter={}&prefix={}&marker={}",
                        encode_query(delimiter),
                        encode_query(list_prefix),
                        encode_query(&marker)
                    );
                    let response = client.get(&target).expect(200, &target);
                    let mut page: Vec<String> = xml_values(&response.body, "Key");
                    page.extend(common_prefixes(&response.body));
                    assert!(page.len() <= max_keys);
                    seen.extend(page);
                    if xml_value(&response.body, "IsTruncated") == "true" {
                        marker = xml_value(&response.body, "NextMarker");
                        assert!(!marker.is_empty());
                    } else {
                        assert!(xml_values(&response.body, "NextMarker").is_empty());
                        break;
                    }
                    assert!(seen.len() <= merged.len(), "{target}: entries repeat across pages: {seen:?}");
                }
                seen.sort();
                assert_eq!(seen, merged, "V1 prefix={list_prefix:?} delimiter={delimiter:?} max-keys={max_keys}");
            }
        }
    }
}

#[test]
fn prefix_filters_keys() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        for list_prefix in ["a", "a/", "dir/sub/", "é", "sp ace/", "nothing-here", "Z"] {
            let expected: Vec<String> = sorted(&KEYS).into_iter().filter(|k| k.starts_with(list_prefix)).collect();
            for version in ["list-type=2&", ""] {
                let target = format!("{prefix}/{BUCKET}?{version}prefix={}", encode_query(list_prefix));
                let response = client.get(&target).expect(200, &target);
                assert_eq!(xml_values(&response.body, "Key"), expected, "{target}");
                assert_eq!(echoed_prefix(&response.body), list_prefix);
                if !version.is_empty() {
                    assert_eq!(xml_value(&response.body, "KeyCount"), expected.len().to_string());
                }
            }
        }
    }
}

#[test]
fn start_after_lists_strictly_after_the_key() {
    let (_server, mut client) = populated();
    let all = sorted(&KEYS);
    for prefix in PREFIXES {
        for start_after in ["dir/", "a", "Zulu", "zzz", "", "ü"] {
            let target = format!("{prefix}/{BUCKET}?list-type=2&start-after={}", encode_query(start_after));
            let response = client.get(&target).expect(200, &target);
            let expected: Vec<String> = all.iter().filter(|k| k.as_str() > start_after).cloned().collect();
            assert_eq!(xml_values(&response.body, "Key"), expected, "{target}");
            if !start_after.is_empty() {
                assert_eq!(xml_value(&response.body, "StartAfter"), start_after);
            }
        }
        // start-after before the prefix: the whole prefix.
        let response = client.get(&format!("{prefix}/{BUCKET}?list-type=2&prefix=dir/&start-after=a")).expect(200, "");
        assert_eq!(xml_values(&response.body, "Key"), vec!["dir/", "dir/sub/1", "dir/sub/2", "dir/x", "dir/y"]);
        // A continuation token wins over start-after.
        let first = client.get(&format!("{prefix}/{BUCKET}?list-type=2&max-keys=3")).expect(200, "first page");
        let token = xml_value(&first.body, "NextContinuationToken");
        let target = format!(
            "{prefix}/{BUCKET}?list-type=2&max-keys=3&start-after=dir/&continuation-token={}",
            encode_query(&token)
        );
        let second = client.get(&target).expect(200, "token and start-after");
        assert_eq!(xml_values(&second.body, "Key"), all[3..6].to_vec());
    }
}

#[test]
fn encoding_type_url_encodes_keys_prefixes_and_common_prefixes() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        // V2 with a delimiter.
        let response =
            client.get(&format!("{prefix}/{BUCKET}?list-type=2&delimiter=/&encoding-type=url")).expect(200, "V2 url");
        let body = &response.body;
        assert_eq!(xml_value(body, "EncodingType"), "url");
        let keys = xml_values(body, "Key");
        assert!(keys.contains(&"a%20b%2Bc".to_string()), "{keys:?}");
        assert!(keys.contains(&"x%3Dy%26z".to_string()), "{keys:?}");
        assert!(keys.contains(&"q%3Fuery".to_string()), "{keys:?}");
        assert!(keys.contains(&"%C3%A9".to_string()), "{keys:?}");
        assert!(keys.contains(&"Zulu".to_string()), "{keys:?}");
        let prefixes = common_prefixes(body);
        assert!(prefixes.contains(&"sp%20ace/".to_string()), "{prefixes:?}");
        assert!(prefixes.contains(&"%C3%A9a/".to_string()), "{prefixes:?}");
        assert!(prefixes.contains(&"dir/".to_string()), "{prefixes:?}");
        for encoded in keys.iter().chain(prefixes.iter()) {
            assert!(encoded.is_ascii() && !encoded.contains(' '), "not URL-encoded: {encoded:?}");
        }
        // The prefix is encoded too.
        let response = client
            .get(&format!("{prefix}/{BUCKET}?list-type=2&prefix=sp%20ace%2F&encoding-type=url"))
            .expect(200, "V2 url prefix");
        assert_eq!(echoed_prefix(&response.body), "sp%20ace/");
        assert_eq!(xml_values(&response.body, "Key"), vec!["sp%20ace/x", "sp%20ace/y"]);
        // V1: the echoed Prefix is sent as given (botocore decodes it only in V2), keys encoded.
        let response = client.get(&format!("{prefix}/{BUCKET}?encoding-type=url&prefix=a%20")).expect(200, "V1 url");
        assert_eq!(xml_value(&response.body, "EncodingType"), "url");
        assert_eq!(echoed_prefix(&response.body), "a ");
        assert_eq!(xml_values(&response.body, "Key"), vec!["a%20b%2Bc"]);
        // Without encoding-type: raw (XML-escaped) keys and no EncodingType.
        let response = client.get(&format!("{prefix}/{BUCKET}?list-type=2&prefix=x")).expect(200, "raw");
        assert_eq!(xml_values(&response.body, "Key"), vec!["x=y&z"]);
        assert!(response.text().contains("<Key>x=y&amp;z</Key>"), "{response}");
        assert!(xml_values(&response.body, "EncodingType").is_empty());
        // Another encoding type is refused.
        client.get(&format!("{prefix}/{BUCKET}?list-type=2&encoding-type=base64")).expect_error(
            400,
            "InvalidArgument",
            "encoding-type=base64",
        );
    }
}

#[test]
fn list_parameters_are_validated() {
    let (_server, mut client) = populated();
    for prefix in PREFIXES {
        for version in ["list-type=2&", ""] {
            for bad in ["abc", "-1", "1.5", "99999999999999999999"] {
                let target = format!("{prefix}/{BUCKET}?{version}max-keys={bad}");
                client.get(&target).expect_error(400, "InvalidArgument", &target);
            }
            let response =
                client.get(&format!("{prefix}/{BUCKET}?{version}max-keys=5000")).expect(200, "max-keys 5000");
            assert_eq!(xml_value(&response.body, "MaxKeys"), "1000", "max-keys is capped at 1000");
            let response = client.get(&format!("{prefix}/{BUCKET}?{version}max-keys=0")).expect(200, "max-keys 0");
            assert!(xml_values(&response.body, "Key").is_empty());
            assert_eq!(xml_value(&response.body, "MaxKeys"), "0");
        }
        for token in ["***", "not-a-token!", "////"] {
            let target = format!("{prefix}/{BUCKET}?list-type=2&continuation-token={}", encode_query(token));
            client.get(&target).expect_error(400, "InvalidArgument", &format!("continuation-token {token:?}"));
        }
        for version in ["list-type=2&", ""] {
            client.get(&format!("{prefix}/no-such-bucket?{version}prefix=a")).expect_error(
                404,
                "NoSuchBucket",
                "list missing bucket",
            );
        }
    }
}

#[test]
fn empty_bucket_v2_shape_and_fetch_owner() {
    let (_server, mut client) = populated();
    create_bucket(&mut client, "", "empty-bucket");
    for prefix in PREFIXES {
        let response = client.get(&format!("{prefix}/empty-bucket?list-type=2")).expect(200, "empty V2");
        let body = &response.body;
        assert_eq!(xml_value(body, "Name"), "empty-bucket");
        assert_eq!(xml_value(body, "KeyCount"), "0");
        assert_eq!(xml_value(body, "IsTruncated"), "false");
        assert_eq!(xml_value(body, "MaxKeys"), "1000");
        assert!(xml_values(body, "Contents").is_empty());
        assert!(xml_values(body, "CommonPrefixes").is_empty());
        assert!(xml_values(body, "NextContinuationToken").is_empty());
        // fetch-owner adds an Owner to every Contents.
        let response =
            client.get(&format!("{prefix}/{BUCKET}?list-type=2&fetch-owner=true&max-keys=5")).expect(200, "owner");
        let contents = xml_blocks(&response.body, "Contents");
        assert_eq!(contents.len(), 5);
        for content in contents {
            let owner = xml_blocks(&content, "Owner");
            assert_eq!(owner.len(), 1, "{content}");
            assert!(!xml_value(&owner[0], "ID").is_empty());
            assert!(!xml_value(&owner[0], "DisplayName").is_empty());
        }
        let response = client.get(&format!("{prefix}/{BUCKET}?list-type=2&fetch-owner=false")).expect(200, "no owner");
        assert!(xml_values(&response.body, "Owner").is_empty());
    }
}

#[test]
fn listing_2500_keys_in_pages_of_1000() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "many-keys");
    let total = 2500usize;
    let threads = 5;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let addr = server.addr;
            scope.spawn(move || {
                let mut client = Client::new(addr);
                for index in (thread..total).step_by(threads) {
                    let key = format!("/many-keys/key-{index:05}");
                    client.put(&key, index.to_string().as_bytes()).expect(200, &key);
                }
                assert_eq!(client.connections_opened, 1);
            });
        }
    });
    let expected: Vec<String> = (0..total).map(|i| format!("key-{i:05}")).collect();
    for prefix in PREFIXES {
        for max_keys in ["", "&max-keys=1000", "&max-keys=5000"] {
            // V2.
            let mut all: Vec<String> = Vec::new();
            let mut sizes = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut target = format!("{prefix}/many-keys?list-type=2{max_keys}");
                if let Some(token) = &token {
                    target.push_str(&format!("&continuation-token={}", encode_query(token)));
                }
                let response = client.get(&target).expect(200, &target);
                assert_eq!(xml_value(&response.body, "MaxKeys"), "1000");
                let keys = xml_values(&response.body, "Key");
                sizes.push(keys.len());
                all.extend(keys);
                if xml_value(&response.body, "IsTruncated") == "true" {
                    token = Some(xml_value(&response.body, "NextContinuationToken"));
                } else {
                    break;
                }
                assert!(sizes.len() < 10);
            }
            assert_eq!(sizes, vec![1000, 1000, 500], "V2 pages{max_keys}");
            let unique: HashSet<&String> = all.iter().collect();
            assert_eq!(unique.len(), all.len(), "duplicates across pages");
            assert_eq!(all, expected, "V2 lists every key once, in order");
        }
        // V1 with markers.
        let mut all: Vec<String> = Vec::new();
        let mut sizes = Vec::new();
        let mut marker = String::new();
        loop {
            let response =
                client.get(&format!("{prefix}/many-keys?marker={}", encode_query(&marker))).expect(200, "V1");
            let keys = xml_values(&response.body, "Key");
            sizes.push(keys.len());
            if xml_value(&response.body, "IsTruncated") == "true" {
                marker = keys.last().unwrap().clone();
                all.extend(keys);
            } else {
                all.extend(keys);
                break;
            }
            assert!(sizes.len() < 10);
        }
        assert_eq!(sizes, vec![1000, 1000, 500], "V1 pages");
        assert_eq!(all, expected);
    }
    // Sizes are right too (spot check through the listing).
    let response = client.get("/many-keys?list-type=2&prefix=key-0249&max-keys=20").expect(200, "prefix");
    let contents = xml_blocks(&response.body, "Contents");
    assert_eq!(contents.len(), 10);
    for content in contents {
        let key = xml_value(&content, "Key");
        let index: usize = key.strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(xml_value(&content, "Size"), index.to_string().len().to_string());
    }
}

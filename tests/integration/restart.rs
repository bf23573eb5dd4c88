//! Durability across `kill -9`: everything acknowledged before the kill is served after the
//! restart, nothing deleted comes back, and the data dir serves with any `--cores`.

use crate::support::*;

struct Stored {
    path: String,
    data: Vec<u8>,
    content_type: Option<&'static str>,
}

fn verify(client: &mut Client, objects: &[Stored], context: &str) {
    for object in objects {
        let got = client.get(&object.path).expect(200, &format!("{context}: GET {}", object.path));
        assert_eq!(got.body.len(), object.data.len(), "{context}: size of {}", object.path);
        assert!(got.body == object.data, "{context}: bytes of {}", object.path);
        assert_eq!(got.etag(), Some(quoted_md5(&object.data).as_str()), "{context}: ETag of {}", object.path);
        if let Some(content_type) = object.content_type {
            assert_eq!(got.header("content-type"), Some(content_type), "{context}: type of {}", object.path);
        }
    }
}

fn bucket_names(client: &mut Client) -> Vec<String> {
    let response = client.get("/").expect(200, "ListBuckets");
    xml_values(&response.body, "Name")
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::start_with(2, &[]);
    let mut client = server.client();
    let buckets = ["restart-alpha", "restart-bravo", "restart-charlie", "restart-delta"];
    for (index, bucket) in buckets.iter().enumerate() {
        create_bucket(&mut client, PREFIXES[index % 2], bucket);
    }
    let mut objects = Vec::new();
    for (index, bucket) in buckets.iter().enumerate() {
        for (name, size) in [("empty", 0usize), ("inline-3k", 3 * 1024), ("block-2m", 2 * 1024 * 1024)] {
            let data = random_bytes(size, (index * 10 + size) as u64);
            let path = format!("/{bucket}/{name}");
            client
                .request("PUT", &path, &[("Content-Type", "application/x-test"), ("x-amz-meta-origin", bucket)], &data)
                .expect(200, &path);
            objects.push(Stored { path, data, content_type: Some("application/x-test") });
        }
    }
    // Overwrites: the last version is the one that must survive (inline → block, block → inline).
    let data = random_bytes(1024 * 1024 + 5, 999);
    client.put("/restart-alpha/inline-3k", &data).expect(200, "overwrite inline with block");
    objects.retain(|o| o.path != "/restart-alpha/inline-3k");
    objects.push(Stored { path: "/restart-alpha/inline-3k".into(), data, content_type: None });
    let data = b"now small".to_vec();
    client.put("/restart-bravo/block-2m", &data).expect(200, "overwrite block with inline");
    objects.retain(|o| o.path != "/restart-bravo/block-2m");
    objects.push(Stored { path: "/restart-bravo/block-2m".into(), data, content_type: None });
    // Deletions: one object of each kind, and a whole (emptied) bucket.
    client.delete("/restart-charlie/block-2m").expect(204, "delete block object");
    client.delete("/restart-charlie/inline-3k").expect(204, "delete inline object");
    objects.retain(|o| !o.path.starts_with("/restart-charlie/inline") && !o.path.starts_with("/restart-charlie/block"));
    let document = b"<Delete><Object><Key>empty</Key></Object><Object><Key>inline-3k</Key></Object>\
        <Object><Key>block-2m</Key></Object></Delete>";
    client.post("/restart-delta?delete", document).expect(200, "DeleteObjects");
    client.delete("/restart-delta").expect(204, "delete bucket");
    objects.retain(|o| !o.path.starts_with("/restart-delta/"));
    client.put("/restart-alpha/tagged", b"tags").expect(200, "tagged");

    let buckets_before = bucket_names(&mut client);
    assert_eq!(buckets_before, ["restart-alpha", "restart-bravo", "restart-charlie"]);
    let listing_before = list_all_keys_v2(&mut client, "", "restart-alpha", "");
    verify(&mut client, &objects, "before the kill");

    for round in 1..=2 {
        server.kill9_and_restart();
        let mut client = server.client();
        let context = format!("after kill -9 #{round}");
        verify(&mut client, &objects, &context);
        assert_eq!(bucket_names(&mut client), buckets_before, "{context}: ListBuckets");
        assert_eq!(list_all_keys_v2(&mut client, "", "restart-alpha", ""), listing_before, "{context}: listing");
        client.get("/restart-charlie/block-2m").expect_error(404, "NoSuchKey", &format!("{context}: deleted block"));
        client.get("/restart-charlie/inline-3k").expect_error(404, "NoSuchKey", &format!("{context}: deleted inline"));
        client.head("/restart-delta").expect(404, &format!("{context}: deleted bucket"));
        let head = client.head("/restart-alpha/empty").expect(200, &context);
        assert_eq!(head.header("x-amz-meta-origin"), Some("restart-alpha"), "{context}: user metadata");
        assert_eq!(head.content_length(), Some(0));
        // The restarted server accepts writes, which must survive the next round too.
        let path = format!("/restart-bravo/written-after-round-{round}");
        let data = random_bytes(3 * 1024 * 1024 * (round % 2) + 100, round as u64);
        client.put(&path, &data).expect(200, &path);
        objects.push(Stored { path, data, content_type: None });
        // A re-created bucket name starts empty.
        if round == 1 {
            create_bucket(&mut client, "", "restart-delta");
            assert_eq!(list_all_keys_v2(&mut client, "", "restart-delta", ""), Vec::<String>::new());
            client.delete("/restart-delta").expect(204, "delete re-created");
        }
    }
}

#[test]
fn the_data_dir_serves_with_any_number_of_cores() {
    let mut server = Server::start_with(2, &[]);
    let mut objects = Vec::new();
    let mut buckets: Vec<String> = Vec::new();
    let write = |server: &Server, objects: &mut Vec<Stored>, buckets: &mut Vec<String>, round: usize| {
        let mut client = server.client();
        for index in 0..6 {
            let bucket = format!("cores-{round}-{index}");
            create_bucket(&mut client, PREFIXES[index % 2], &bucket);
            buckets.push(bucket.clone());
            for (name, size) in [("small", 500usize), ("large", 300_000)] {
                let data = random_bytes(size, (round * 100 + index) as u64);
                let path = format!("/{bucket}/{name}");
                client.put(&path, &data).expect(200, &path);
                objects.push(Stored { path, data, content_type: None });
            }
        }
    };
    write(&server, &mut objects, &mut buckets, 0);
    for (round, cores) in [(1, 1usize), (2, 3), (3, 2)] {
        server.kill9_and_restart_with_cores(cores);
        let context = format!("restarted with --cores {cores}");
        // Several connections: with SO_REUSEPORT they land on different cores.
        for _ in 0..4 {
            let mut client = server.client();
            verify(&mut client, &objects, &context);
            let mut expected = buckets.clone();
            expected.sort();
            assert_eq!(bucket_names(&mut client), expected, "{context}: ListBuckets");
        }
        write(&server, &mut objects, &mut buckets, round);
        verify(&mut server.client(), &objects, &format!("{context}, after new writes"));
    }
}

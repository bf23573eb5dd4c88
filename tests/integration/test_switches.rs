//! The hidden test switches choose what they say, and the server says what it runs on:
//! `--io-driver auto|uring|legacy` (monoio's driver) and `--md5-kernel auto|lanes|scalar`
//! (how uploads are hashed), each logged at start. test.sh runs the whole suite a second time
//! with `S3CORE_TEST_SERVER_ARGS` (see `support::server`); the first test here proves that
//! run's servers really used what it asked for.

use std::thread;

use crate::support::*;

/// The value of `--name` in `S3CORE_TEST_SERVER_ARGS` (`--name value` or `--name=value`).
fn switch_value(name: &str) -> Option<String> {
    let args = switch_args();
    let flag = format!("--{name}");
    let mut found = None;
    for (index, arg) in args.iter().enumerate() {
        if *arg == flag {
            found = args.get(index + 1).cloned();
        } else if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            found = Some(value.to_string());
        }
    }
    found
}

/// The start log line that says `what` (`I/O driver` or `MD5 kernel`).
fn start_line(server: &Server, what: &str) -> String {
    let log = server.stderr();
    let line = log.lines().find(|line| line.contains(&format!("{what}: ")));
    line.unwrap_or_else(|| panic!("no {what:?} line in the start log:\n{log}")).to_string()
}

#[test]
fn servers_run_with_the_switches_the_suite_was_given() {
    let server = Server::start();
    let driver = start_line(&server, "I/O driver");
    match switch_value("io-driver").as_deref() {
        Some("legacy") => assert!(driver.contains("I/O driver: legacy (epoll) (forced"), "{driver}"),
        Some("uring") => assert!(driver.contains("I/O driver: io_uring (forced"), "{driver}"),
        _ => assert!(!driver.contains("forced"), "{driver}"),
    }
    let kernel = start_line(&server, "MD5 kernel");
    match switch_value("md5-kernel").as_deref() {
        Some("scalar") => assert!(kernel.contains("MD5 kernel: scalar"), "{kernel}"),
        Some("lanes") => assert!(kernel.contains("MD5 kernel: 16 AVX-512 lanes"), "{kernel}"),
        _ => assert!(!kernel.contains("forced"), "{kernel}"),
    }
}

/// Objects inline and in block files, a multipart upload, ranges, and the same after a kill -9
/// (recovery on that driver), through a server on `driver`.
fn serve_and_recover_on(driver: &str, expected_line: &str) {
    let mut server = Server::start_with(2, &["--io-driver", driver]);
    let line = start_line(&server, "I/O driver");
    assert!(line.contains(expected_line), "--io-driver {driver}: {line}");
    let mut client = server.client();
    client.put("/driver", b"").expect(200, "create bucket");
    let mut objects = Vec::new();
    for (index, size) in [0usize, 100, 70_000, 5 * 1024 * 1024 + 3].into_iter().enumerate() {
        let key = format!("/driver/object-{size}");
        let data = random_bytes(size, index as u64);
        let put = client.put(&key, &data).expect(200, driver);
        assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()), "--io-driver {driver}: ETag of {key}");
        objects.push((key, data));
    }
    let key = "/driver/multipart";
    let parts = [random_bytes(1024 * 1024, 21), random_bytes(300_001, 22)];
    let upload_id = initiate_upload(&mut client, key, &[]);
    let first = upload_part(&mut client, key, &upload_id, 1, &parts[0]);
    let second = upload_part(&mut client, key, &upload_id, 2, &parts[1]);
    complete_upload(&mut client, key, &upload_id, &[(1, &first), (2, &second)]).expect(200, driver);
    objects.push((key.to_string(), parts.concat()));
    let check = |server: &Server, round: &str| {
        let mut client = server.client();
        for (key, data) in &objects {
            let got = client.get(key).expect(200, round);
            assert!(got.body == *data, "--io-driver {driver}, {round}: {key} differs");
            if data.len() > 10 {
                let range = client.request("GET", key, &[("Range", "bytes=3-9")], b"").expect(206, round);
                assert_eq!(range.body, data[3..=9], "--io-driver {driver}, {round}: range of {key}");
            }
        }
    };
    check(&server, "before");
    server.kill9_and_restart();
    check(&server, "after kill -9");
    let line = start_line(&server, "I/O driver");
    assert!(line.contains(expected_line), "--io-driver {driver} after the restart: {line}");
}

#[test]
fn the_legacy_driver_serves_and_recovers() {
    serve_and_recover_on("legacy", "I/O driver: legacy (epoll) (forced by --io-driver legacy");
}

#[test]
#[cfg_attr(not(s3core_host_io_uring), ignore = "the build machine has no io_uring")]
fn the_io_uring_driver_serves_and_recovers() {
    serve_and_recover_on("uring", "I/O driver: io_uring (forced by --io-driver uring)");
}

/// Concurrent uploads of several MiB (so that the batcher has streams to hash side by side)
/// through a server hashing with `kernel`: every ETag is the body's MD5.
fn concurrent_uploads_with(kernel: &str, expected_line: &str) {
    let server = Server::start_with(1, &["--md5-kernel", kernel]);
    let line = start_line(&server, "MD5 kernel");
    assert!(line.contains(expected_line), "--md5-kernel {kernel}: {line}");
    server.client().put("/hashing", b"").expect(200, "create bucket");
    let uploaders: Vec<_> = (0..8u64)
        .map(|uploader| {
            let mut client = server.client();
            let kernel = kernel.to_string();
            thread::spawn(move || {
                for round in 0..3u64 {
                    let data =
                        random_bytes(3 * 1024 * 1024 + (uploader * 4099 + round) as usize, uploader * 10 + round);
                    let key = format!("/hashing/u{uploader}-{round}");
                    let put = client.put(&key, &data).expect(200, &kernel);
                    assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()), "--md5-kernel {kernel}: {key}");
                }
            })
        })
        .collect();
    for uploader in uploaders {
        uploader.join().expect("uploader thread");
    }
}

#[test]
fn the_scalar_md5_kernel_gives_every_etag() {
    concurrent_uploads_with("scalar", "MD5 kernel: scalar");
}

#[test]
#[cfg_attr(not(s3core_host_avx512f), ignore = "the build machine's CPU has no AVX-512F: the lane kernel cannot run")]
fn the_lane_md5_kernel_gives_every_etag() {
    concurrent_uploads_with("lanes", "MD5 kernel: 16 AVX-512 lanes");
}

#[test]
fn invalid_switches_stop_the_start() {
    for (flag, value) in [("--md5-kernel", "avx2"), ("--io-driver", "epoll"), ("--io-driver", "")] {
        let (code, stderr) = Server::start_expecting_failure(&[flag, value], &[]);
        assert_eq!(code, Some(2), "{flag} {value:?}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value:?}: {stderr}");
    }
}

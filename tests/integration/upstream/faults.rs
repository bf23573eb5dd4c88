//! The upstream failing under the client, for real: the s3core process killed (SIGKILL) in the
//! middle of a GET and of a PUT and started again on the same port, frozen (SIGSTOP) before
//! answering and in the middle of a body, and answering 503 through its journal fault
//! injection. The client must fail clearly and in bounded time, then work again with no
//! restart of anything on its side.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use s3core::error::S3Error;
use s3core::upstream::{GetOptions, InMemoryBody, PutOptions, RetryPolicy, Stage, Timeouts, UpstreamError};

use super::operations::expect_error;
use super::{client, run, run_legacy, settings, signal, PatternBody, PatternSink, UpstreamServer};

const MIB: u64 = 1 << 20;

/// Reads from a GET body until it fails or ends; the error, if any, and the bytes read.
async fn drain(body: &mut s3core::upstream::ResponseBody, sink: &mut PatternSink) -> Option<UpstreamError> {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        buffer.clear();
        let (read, back) = body.read(buffer).await;
        buffer = back;
        match read {
            Ok(0) => return None,
            Ok(_) => {
                let (_, back) = s3core::upstream::BodySink::write(sink, buffer).await;
                buffer = back;
            }
            Err(error) => return Some(error),
        }
    }
}

/// The 503 s3core's clients would get for `error`.
fn answer(error: UpstreamError) -> String {
    S3Error::from(error).to_string()
}

#[test]
fn upstream_killed_mid_get_and_mid_put_then_restarted() {
    let mut server = UpstreamServer::start(&[]);
    run(async {
        let upstream = client(settings(&server.url()));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let size = 32 * MIB;
        upstream.put_object("lake", "big", PatternBody::new(3, size), &PutOptions::default()).await.expect("PUT");

        // A GET in flight, and an idle pooled connection beside it.
        let mut response = upstream.get_object("lake", "big", &GetOptions::default()).await.expect("GET");
        upstream.head_object("lake", "big", &GetOptions::default()).await.expect("HEAD on a second connection");
        assert_eq!(upstream.idle_connections(), 1);
        let mut sink = PatternSink::new(3, 0);
        let (read, _) = response.body.read(Vec::with_capacity(MIB as usize)).await;
        assert!(read.expect("first MiB") > 0);
        server.kill();
        let killed = Instant::now();
        let error = drain(&mut response.body, &mut sink).await.expect("the body breaks off");
        match &error {
            UpstreamError::Interrupted { received_bytes, cause } => {
                assert!(*received_bytes < size, "{error}");
                assert_eq!(cause.stage, Stage::Body, "{error}");
            }
            other => panic!("mid-GET kill: {other:?}"),
        }
        assert!(killed.elapsed() < Duration::from_secs(5), "the broken body was noticed in {:?}", killed.elapsed());
        assert!(answer(error).starts_with("ServiceUnavailable"));

        // Down: refused at once, retried a bounded number of times, a clear 503.
        let started = Instant::now();
        match upstream.head_object("lake", "big", &GetOptions::default()).await {
            Err(UpstreamError::Unavailable { attempts, cause }) => {
                assert_eq!(attempts, 4, "every attempt was made");
                // The pooled connection died with the process; the rest were refused.
                assert!(matches!(cause.stage, Stage::Connect), "{cause}");
                let error = UpstreamError::Unavailable { attempts, cause };
                let text = answer(error);
                assert!(text.starts_with("ServiceUnavailable") && text.contains("after 4 attempt"), "{text}");
            }
            other => panic!("HEAD while down: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "gave up in {:?}", started.elapsed());

        // Back on the same port: the same client works again.
        server.restart();
        let head = upstream.head_object("lake", "big", &GetOptions::default()).await.expect("HEAD after restart");
        assert_eq!(head.content_length, Some(size));
        let mut sink = PatternSink::new(3, 0);
        upstream.get_object_into("lake", "big", &GetOptions::default(), &mut sink).await.expect("GET after restart");
        assert_eq!((sink.received, sink.mismatch_at), (size, None));

        // A streamed PUT whose upstream dies after 4 MiB: one attempt (the body cannot be
        // replayed), a clear error, no hang.
        let pid = server.pid();
        let killed_at = Rc::new(Cell::new(None));
        let mark = killed_at.clone();
        let body = PatternBody::new(5, size).on_progress(move |position| {
            if position >= 4 * MIB && mark.get().is_none() {
                signal(pid, "-KILL");
                mark.set(Some(Instant::now()));
            }
        });
        let failed = upstream.put_object("lake", "half", body, &PutOptions::default()).await;
        let noticed = killed_at.get().expect("the upstream was killed").elapsed();
        match failed {
            Err(UpstreamError::Unavailable { attempts: 1, cause }) => {
                assert!(matches!(cause.stage, Stage::Send | Stage::Head), "{cause}");
            }
            other => panic!("mid-PUT kill: {other:?}"),
        }
        assert!(noticed < Duration::from_secs(5), "noticed in {noticed:?}");
        server.restart();
        let put = upstream.put_object("lake", "half", PatternBody::new(5, size), &PutOptions::default()).await;
        assert_eq!(put.expect("PUT after restart").etag, Some(PatternBody::etag(5, size)));
        let missing = upstream.head_object("lake", "never", &GetOptions::default()).await;
        expect_error(missing, 404, "NotFound", "a plain miss after all that");

        // A restart behind an idle pooled connection: a one-shot streamed upload finds the
        // connection dead while waiting for 100 Continue, before its source gave a byte, and
        // goes again on a fresh one.
        assert_eq!(upstream.idle_connections(), 1);
        server.restart();
        let opened = upstream.connections_opened();
        let mut body = PatternBody::new(6, 2 * MIB);
        let put = upstream.put_object("lake", "after-restart", &mut body, &PutOptions::default()).await;
        assert_eq!(put.expect("streamed PUT over a stale connection").etag, Some(PatternBody::etag(6, 2 * MIB)));
        assert_eq!(body.given(), 2 * MIB, "the source was read once");
        assert_eq!(upstream.connections_opened(), opened + 1, "the stale connection was replaced");
    });
}

#[test]
fn upstream_frozen_before_answering_and_mid_body_timeouts_hold() {
    let server = UpstreamServer::start(&[]);
    let timeouts = Timeouts { connect_ms: 1_000, head_ms: 700, stall_ms: 700, idle_ms: 15_000 };
    let retry = RetryPolicy { attempts_max: 3, backoff_base_ms: 50, backoff_max_ms: 200, window_ms: 1_500 };
    run(async {
        let upstream = client(settings(&server.url()).with_timeouts(timeouts).with_retry(retry));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let size = 16 * MIB;
        upstream.put_object("lake", "big", PatternBody::new(9, size), &PutOptions::default()).await.expect("PUT");

        server.freeze();
        let started = Instant::now();
        match upstream.head_object("lake", "big", &GetOptions::default()).await {
            Err(UpstreamError::Unavailable { attempts, cause }) => {
                assert!((2..=3).contains(&attempts), "retried within the window: {attempts}");
                assert_eq!((cause.stage, cause.kind), (Stage::Head, std::io::ErrorKind::TimedOut), "{cause}");
            }
            other => panic!("HEAD of a frozen upstream: {other:?}"),
        }
        let took = started.elapsed();
        // Window (1.5 s) plus one attempt (0.7 s) at most, and at least one head timeout; the
        // upper bound leaves room for a loaded CI machine (without timeouts this never ends).
        assert!(took >= Duration::from_millis(700) && took < Duration::from_millis(5_000), "{took:?}");
        server.thaw();
        upstream.head_object("lake", "big", &GetOptions::default()).await.expect("HEAD after thaw");

        // Frozen in the middle of a body: the reader gives up after the stall timeout (once
        // the socket buffers the upstream had filled are drained).
        let mut response = upstream.get_object("lake", "big", &GetOptions::default()).await.expect("GET");
        let (read, _) = response.body.read(Vec::with_capacity(MIB as usize)).await;
        assert!(read.expect("first piece") > 0);
        server.freeze();
        let frozen = Instant::now();
        let mut sink = PatternSink::new(9, 0);
        match drain(&mut response.body, &mut sink).await {
            Some(UpstreamError::Interrupted { cause, .. }) => {
                assert_eq!((cause.stage, cause.kind), (Stage::Body, std::io::ErrorKind::TimedOut), "{cause}");
            }
            other => panic!("GET body of a frozen upstream: {other:?}"),
        }
        assert!(frozen.elapsed() < Duration::from_secs(5), "stall noticed in {:?}", frozen.elapsed());
        server.thaw();
        let mut sink = PatternSink::new(9, 0);
        upstream.get_object_into("lake", "big", &GetOptions::default(), &mut sink).await.expect("GET after thaw");
        assert_eq!((sink.received, sink.mismatch_at), (size, None));
    });
}

/// 503s from a real upstream (its journal fsync made to fail): retried when the body can be
/// sent again, not when it cannot, and a persistent one ends after the bounded attempts.
#[test]
fn upstream_503_is_retried_only_with_a_replayable_body() {
    // The first flush (CreateBucket) passes, the second (the PUT) fails once.
    let once = UpstreamServer::start(&["--fault-injection", "journal-fsync:after=1,count=1,errno=EIO"]);
    run(async {
        let upstream = client(settings(&once.url()));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let body = InMemoryBody::new(vec![b'x'; 10_000]);
        let put = upstream.put_object("lake", "retried", body, &PutOptions::default()).await;
        assert!(put.is_ok(), "the 503 was retried: {put:?}");
    });
    assert!(once.stderr().contains("FAULT INJECTION"), "the fault plan was on");
    let streamed = UpstreamServer::start(&["--fault-injection", "journal-fsync:after=1,count=1,errno=EIO"]);
    run(async {
        let upstream = client(settings(&streamed.url()));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let put = upstream.put_object("lake", "once", PatternBody::new(1, MIB), &PutOptions::default()).await;
        match put {
            Err(UpstreamError::Response(response)) => {
                assert_eq!((response.status, response.attempts), (503, 1), "not replayable, not retried: {response}");
                let text = answer(UpstreamError::Response(response));
                assert!(text.starts_with("ServiceUnavailable"), "{text}");
            }
            other => panic!("a streamed PUT meeting a 503: {other:?}"),
        }
    });
    let always = UpstreamServer::start(&["--fault-injection", "journal-fsync:after=1,count=forever,errno=EIO"]);
    run(async {
        let upstream = client(settings(&always.url()));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let started = Instant::now();
        let put = upstream.put_object("lake", "never", InMemoryBody::new(b"x".to_vec()), &PutOptions::default()).await;
        match put {
            Err(UpstreamError::Response(response)) => assert_eq!((response.status, response.attempts), (503, 4)),
            other => panic!("a PUT meeting 503s: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    });
}

/// The same client on the legacy (epoll) driver: a streamed PUT and GET, a miss, and a head
/// timeout against a frozen upstream followed by recovery.
#[test]
fn upstream_on_the_legacy_driver() {
    let server = UpstreamServer::start(&[]);
    let timeouts = Timeouts { connect_ms: 1_000, head_ms: 500, stall_ms: 500, idle_ms: 15_000 };
    let retry = RetryPolicy { attempts_max: 2, backoff_base_ms: 10, backoff_max_ms: 10, window_ms: 1_000 };
    run_legacy(async {
        let upstream = client(settings(&server.url()).with_timeouts(timeouts).with_retry(retry));
        upstream.create_bucket("lake").await.expect("CreateBucket");
        let size = 8 * MIB;
        let put = upstream.put_object("lake", "k", PatternBody::new(4, size), &PutOptions::default()).await;
        assert_eq!(put.expect("PUT").etag, Some(PatternBody::etag(4, size)));
        let mut sink = PatternSink::new(4, 0);
        upstream.get_object_into("lake", "k", &GetOptions::default(), &mut sink).await.expect("GET");
        assert_eq!((sink.received, sink.mismatch_at), (size, None));
        expect_error(upstream.head_object("lake", "missing", &GetOptions::default()).await, 404, "NotFound", "miss");
        server.freeze();
        let started = Instant::now();
        let frozen = upstream.head_object("lake", "k", &GetOptions::default()).await;
        assert!(matches!(frozen, Err(UpstreamError::Unavailable { attempts: 2, .. })), "{frozen:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        server.thaw();
        upstream.head_object("lake", "k", &GetOptions::default()).await.expect("HEAD after thaw");
    });
}

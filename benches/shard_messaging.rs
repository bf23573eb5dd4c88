//! The cost of reaching a bucket's shard: a direct call on the owning core versus a round trip
//! through the owner's mailbox from another core (two monoio runtimes on two threads, the
//! server's real `ShardRouter`, `Shard` and mailbox loop). Run: `cargo bench --bench shard_messaging`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use monoio::fs::OpenOptions;
use monoio::{FusionDriver, RuntimeBuilder};

use s3core::shard::router::{mailboxes, serve_mailbox};
use s3core::shard::{Shard, ShardRouter};
use s3core::store::blocks::BlockStore;
use s3core::store::group_sync::GroupSync;
use s3core::store::journal::batch_end_frame;
use s3core::store::recovery::{self, RecoveredShard};

/// Opens a recovered shard on the current runtime.
async fn open_shard(root: &std::path::Path, core: u16, recovered: RecoveredShard) -> Rc<Shard> {
    let blocks = Rc::new(BlockStore::open(root, core, 0).await.expect("block store"));
    let file = OpenOptions::new().write(true).open(&recovered.journal_path).await.expect("journal");
    let sync = GroupSync::new_journal(file, recovered.journal_length, batch_end_frame);
    Shard::new(recovered.id, recovered.state, recovered.journal_path, sync, blocks)
}

fn round_trips(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let recovered = recovery::open(&root, 2).expect("data dir");
    let mut shards = recovered.shards.into_iter();
    let (local_shard, remote_shard) = (shards.next().unwrap(), shards.next().unwrap());
    let (senders, mut receivers) = mailboxes(2, 1024);
    let remote_mailbox = receivers.pop().unwrap();
    let remote_root = root.clone();
    // Core 1: owns shard 1 and serves its mailbox until the senders are dropped.
    let owner = std::thread::spawn(move || {
        let mut runtime = RuntimeBuilder::<FusionDriver>::new().enable_timer().build().expect("runtime");
        runtime.block_on(async move {
            let shard = open_shard(&remote_root, 1, remote_shard).await;
            serve_mailbox(remote_mailbox, vec![None, Some(shard)]).await;
        });
    });
    let mut runtime = RuntimeBuilder::<FusionDriver>::new().enable_timer().build().expect("runtime");
    let router = runtime.block_on(async {
        let shard = open_shard(&root, 0, local_shard).await;
        ShardRouter::new(0, 2, vec![Some(shard), None], senders)
    });
    let mut group = c.benchmark_group("shard_call");
    group.bench_function("local_direct", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    router.call_shard(0, |shard| async move { Ok(shard.list_buckets().len()) }).await.unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("remote_mailbox_round_trip", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    router.call_shard(1, |shard| async move { Ok(shard.list_buckets().len()) }).await.unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    drop(router);
    drop(runtime);
    owner.join().expect("owner thread");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = round_trips
}
criterion_main!(benches);

//! The cost of reaching a bucket's shard: a direct call on the owning core versus a round trip
//! through the owner's mailbox from another core (two monoio runtimes on two threads, the
//! server's real `ShardRouter`, `Shard` and mailbox loop), one call at a time and with many
//! calls in flight, as a busy core has. Run: `cargo bench --bench shard_messaging`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use monoio::fs::OpenOptions;
use monoio::{FusionDriver, RuntimeBuilder};

use s3core::limits::JOURNAL_COMPACT_BYTES;
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
    Shard::new(recovered.state, recovered.journal_path, sync, blocks, JOURNAL_COMPACT_BYTES)
}

/// Remote calls kept in flight at once by the concurrent case: a core with many connections
/// whose buckets another core owns. Enough that a mailbox wakeup finds a batch waiting.
const IN_FLIGHT: u64 = 64;

/// Pins this thread to the `index`th CPU, as the server pins each core's thread: every run then
/// measures a wakeup across two CPUs, where unpinned threads sometimes share one and the round
/// trip moves several-fold between runs.
fn pin_to_cpu(index: usize) {
    if let Some(cpu) = core_affinity::get_core_ids().and_then(|cpus| cpus.get(index).copied()) {
        core_affinity::set_for_current(cpu);
    }
}

fn round_trips(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let recovered = recovery::open(&root, 2, JOURNAL_COMPACT_BYTES).expect("data dir");
    let mut shards = recovered.shards.into_iter();
    let (local_shard, remote_shard) = (shards.next().unwrap(), shards.next().unwrap());
    let (senders, mut receivers) = mailboxes(2, 1024);
    let remote_mailbox = receivers.pop().unwrap();
    let remote_root = root.clone();
    // Core 1: owns shard 1 and serves its mailbox until the senders are dropped.
    let owner = std::thread::spawn(move || {
        pin_to_cpu(1);
        let mut runtime = RuntimeBuilder::<FusionDriver>::new().enable_timer().build().expect("runtime");
        runtime.block_on(async move {
            let shard = open_shard(&remote_root, 1, remote_shard).await;
            serve_mailbox(remote_mailbox, vec![None, Some(shard)]).await;
        });
    });
    pin_to_cpu(0);
    let mut runtime = RuntimeBuilder::<FusionDriver>::new().enable_timer().build().expect("runtime");
    // Shared by the tasks of the concurrent case, which `monoio::spawn` needs to be `'static`.
    let router = Rc::new(runtime.block_on(async {
        let shard = open_shard(&root, 0, local_shard).await;
        ShardRouter::new(0, 2, vec![Some(shard), None], senders)
    }));
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
    // Time per call with `IN_FLIGHT` tasks on the caller core each making remote calls back to
    // back: what batching at both ends (mailbox drain, replies woken together) buys.
    group.throughput(Throughput::Elements(1));
    group.bench_function("remote_mailbox_64_in_flight", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|task| {
                        let router = router.clone();
                        // `iterations` calls in all, split as evenly as they go.
                        let calls = iterations / IN_FLIGHT + u64::from(task < iterations % IN_FLIGHT);
                        monoio::spawn(async move {
                            for _ in 0..calls {
                                router
                                    .call_shard(1, |shard| async move { Ok(shard.list_buckets().len()) })
                                    .await
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
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

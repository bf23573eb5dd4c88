//! Per-core access to every shard: a direct call when this core owns the shard, a job in the
//! owner's bounded mailbox otherwise.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_channel::oneshot;

use super::{owner_core, shard_for, Shard};
use crate::error::S3Error;
use crate::s3_error;

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
/// Work for a shard, built on the sending core and run on the owner. The closure is `Send`
/// (it holds only owned, `Send` arguments and the reply sender); the future it makes is not,
/// and never leaves the owner core.
type Job = Box<dyn FnOnce(Rc<Shard>) -> LocalFuture + Send>;

/// A message in a core's mailbox.
pub struct Envelope {
    shard: usize,
    job: Job,
}

/// The receiving end of a core's mailbox.
pub(crate) type Mailbox = flume::Receiver<Envelope>;

/// Creates one bounded mailbox per core.
pub fn mailboxes(cores: usize, capacity: usize) -> (Vec<flume::Sender<Envelope>>, Vec<Mailbox>) {
    (0..cores).map(|_| flume::bounded(capacity)).unzip()
}

/// One core's view of all shards.
pub struct ShardRouter {
    core: usize,
    cores: usize,
    shard_count: usize,
    /// `Some` for the shards this core owns.
    local: Vec<Option<Rc<Shard>>>,
    senders: Vec<flume::Sender<Envelope>>,
}

impl ShardRouter {
    pub fn new(
        core: usize,
        cores: usize,
        local: Vec<Option<Rc<Shard>>>,
        senders: Vec<flume::Sender<Envelope>>,
    ) -> Self {
        ShardRouter { core, cores, shard_count: local.len(), local, senders }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shard_count
    }

    /// Runs `operation` on the shard owning `bucket`.
    pub(crate) async fn call<T, F, Fut>(&self, bucket: &str, operation: F) -> Result<T, S3Error>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, S3Error>> + 'static,
    {
        self.call_shard(shard_for(bucket, self.shard_count), operation).await
    }

    /// Runs `operation` on shard `shard`, locally when this core owns it.
    pub async fn call_shard<T, F, Fut>(&self, shard: usize, operation: F) -> Result<T, S3Error>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, S3Error>> + 'static,
    {
        if let Some(Some(local)) = self.local.get(shard) {
            local.ready().await;
            return operation(local.clone()).await;
        }
        let owner = owner_core(shard, self.cores);
        debug_assert_ne!(owner, self.core, "a shard this core owns must be local");
        // A one-shot, not a flume channel: exactly one reply crosses, and `futures-channel`'s
        // oneshot costs one allocation and a few atomics where flume adds a mutex-guarded queue
        // and a heap-allocated waiter hook. Dropping the sender unanswered (the owner dropped
        // the job) resolves `answer` to `Canceled`, the same signal flume's disconnect gave.
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |shard: Rc<Shard>| {
            Box::pin(async move {
                shard.ready().await;
                let result = operation(shard).await;
                // The requester may have gone (its connection closed): nothing to do then.
                let _ = reply.send(result);
            })
        });
        if self.senders[owner].send_async(Envelope { shard, job }).await.is_err() {
            return Err(s3_error!(ServiceUnavailable, "core {owner} is not serving"));
        }
        match answer.await {
            Ok(result) => result,
            Err(oneshot::Canceled) => Err(s3_error!(InternalError, "core {owner} dropped a request")),
        }
    }
}

/// Most jobs the mailbox loop starts before it makes sure they have had a turn: senders that
/// keep the mailbox from emptying must not keep this core's own connections (and the jobs
/// themselves) from running, nor pile up tasks here faster than they finish.
const MAX_BATCH: usize = 256;

/// Serves a core's mailbox: every job runs as its own task, so jobs that wait on a journal
/// flush join the same group commit instead of queueing behind each other. Each wakeup takes
/// everything already queued (senders on other cores fill the mailbox while this core sleeps),
/// so one cross-core wakeup serves a batch rather than one job. `drain` takes the batch under
/// one lock of the channel; a `try_recv` loop takes that lock once per job, against a sending
/// core pushing under it, and measured no faster than one `recv_async` per job (which already
/// never parks while work is queued); see `remote_mailbox_64_in_flight` in
/// `benches/shard_messaging.rs`.
pub async fn serve_mailbox(mailbox: Mailbox, local: Vec<Option<Rc<Shard>>>) {
    let mut started_since_yield = 0;
    while let Ok(first) = mailbox.recv_async().await {
        dispatch(first, &local);
        started_since_yield += 1;
        for envelope in mailbox.drain() {
            dispatch(envelope, &local);
            started_since_yield += 1;
        }
        // `recv_async` returns at once while the mailbox holds work, so without this the loop
        // would not give way as long as senders keep it from emptying.
        if started_since_yield >= MAX_BATCH {
            after_queued_tasks().await;
            started_since_yield = 0;
        }
    }
}

/// Starts a mailbox job on the shard's owner, here.
fn dispatch(Envelope { shard, job }: Envelope, local: &[Option<Rc<Shard>>]) {
    match local.get(shard) {
        Some(Some(owner)) => {
            monoio::spawn(job(owner.clone()));
        }
        // Dropping the job drops its reply sender: the caller gets InternalError.
        _ => log::error!("mailbox job for shard {shard}, which this core does not own"),
    }
}

/// Returns once every task queued on this core has had a turn. A plain self-wake would not do:
/// monoio reschedules a task that wakes itself at the front of the run queue, ahead of the jobs
/// just spawned; an empty task spawned now goes behind them, and its completion wakes us.
async fn after_queued_tasks() {
    monoio::spawn(async {}).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;
    use monoio::{FusionDriver, RuntimeBuilder};

    /// The error a call to shard 1, owned by core 1, gets from core 0; `mailbox`, when given,
    /// is served by a core 1 that owns no shard and so drops every job it receives.
    fn remote_call_error(mailbox: Option<Mailbox>, senders: Vec<flume::Sender<Envelope>>) -> S3ErrorCode {
        let router = ShardRouter::new(0, 2, vec![None, None], senders);
        let mut runtime = RuntimeBuilder::<FusionDriver>::new().build().expect("runtime");
        runtime.block_on(async move {
            if let Some(mailbox) = mailbox {
                monoio::spawn(serve_mailbox(mailbox, vec![None, None]));
            }
            let result = router.call_shard(1, |shard| async move { Ok(shard.list_buckets().len()) }).await;
            result.expect_err("no reply can come").code
        })
    }

    #[test]
    fn a_dropped_job_is_an_internal_error() {
        let (senders, mut receivers) = mailboxes(2, 4);
        let mailbox = receivers.pop().expect("core 1's mailbox");
        assert_eq!(remote_call_error(Some(mailbox), senders), S3ErrorCode::InternalError);
    }

    #[test]
    fn a_closed_mailbox_is_service_unavailable() {
        let (senders, receivers) = mailboxes(2, 4);
        drop(receivers);
        assert_eq!(remote_call_error(None, senders), S3ErrorCode::ServiceUnavailable);
    }
}

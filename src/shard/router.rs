//! Per-core access to every shard: a direct call when this core owns the shard, a job in the
//! owner's bounded mailbox otherwise.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

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
pub type Mailbox = flume::Receiver<Envelope>;

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

    pub fn shard_count(&self) -> usize {
        self.shard_count
    }

    /// Runs `operation` on the shard owning `bucket`.
    pub async fn call<T, F, Fut>(&self, bucket: &str, operation: F) -> Result<T, S3Error>
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
            return operation(local.clone()).await;
        }
        let owner = owner_core(shard, self.cores);
        debug_assert_ne!(owner, self.core, "a shard this core owns must be local");
        let (reply, answer) = flume::bounded(1);
        let job: Job = Box::new(move |shard: Rc<Shard>| {
            Box::pin(async move {
                let result = operation(shard).await;
                // The requester may have gone (its connection closed): nothing to do then.
                let _ = reply.send(result);
            })
        });
        if self.senders[owner].send_async(Envelope { shard, job }).await.is_err() {
            return Err(s3_error!(ServiceUnavailable, "core {owner} is not serving"));
        }
        match answer.recv_async().await {
            Ok(result) => result,
            Err(_) => Err(s3_error!(InternalError, "core {owner} dropped a request")),
        }
    }
}

/// Serves a core's mailbox: every job runs as its own task, so jobs that wait on a journal
/// flush join the same group commit instead of queueing behind each other.
pub async fn serve_mailbox(mailbox: Mailbox, local: Vec<Option<Rc<Shard>>>) {
    while let Ok(Envelope { shard, job }) = mailbox.recv_async().await {
        match local.get(shard) {
            Some(Some(owner)) => {
                monoio::spawn(job(owner.clone()));
            }
            _ => log::error!("mailbox job for shard {shard}, which this core does not own"),
        }
    }
}

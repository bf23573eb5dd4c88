//! What every connection of a core shares: the S3 layer's services (shards, blocks, buffers),
//! the configuration, and the core's operational state (its counters, its part of a drain,
//! its end of the access log).

use std::rc::Rc;
use std::sync::Arc;

use super::access_log::CoreAccessLog;
use super::drain::Drain;
use super::stats::CoreStats;
use crate::config::Config;
use crate::s3::CoreServices;

pub(crate) struct CoreContext {
    pub(crate) services: CoreServices,
    pub(crate) config: Arc<Config>,
    pub(crate) stats: CoreStats,
    pub(crate) drain: Rc<Drain>,
    /// `Some` when the access log is on.
    pub(crate) access_log: Option<CoreAccessLog>,
}

impl CoreContext {
    /// Whether requests are timed (for the metrics or the access log); otherwise no clock
    /// is read per request.
    pub(crate) fn observes_requests(&self) -> bool {
        self.stats.enabled || self.access_log.is_some()
    }
}

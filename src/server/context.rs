//! What every connection of a core shares: the S3 layer's services (shards, blocks, buffers)
//! and the configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::s3::CoreServices;

pub(crate) struct CoreContext {
    pub(crate) services: CoreServices,
    pub(crate) config: Arc<Config>,
}

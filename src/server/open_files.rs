//! The open-files limit, settled before any core starts: every connection may hold its socket
//! and one block file at a time, so the limit must cover `cores × connections per core × 2`
//! plus the fixed descriptors (journals, directories, io_uring, listeners). The soft limit is
//! raised as far as the hard limit allows; where that is not enough, the connection limit per
//! core is lowered to fit, and the log says why. So an exhausted descriptor table (`EMFILE`)
//! is not the way a busy server finds its limit.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::limits::CONNECTIONS_PER_CORE_MAX;

/// Descriptors one connection may hold at once: its socket and one block file.
const DESCRIPTORS_PER_CONNECTION: u64 = 2;
/// Fewest connections per core worth starting with.
const CONNECTIONS_PER_CORE_MIN: u64 = 16;

/// Descriptors that do not grow with connections: stdio, per core a runtime (io_uring and its
/// eventfds), a listener, a mailbox wakeup, the block directory and a checkpoint in progress,
/// and one journal per shard.
fn fixed_descriptors(cores: u64, shards: u64) -> u64 {
    32 + 8 * cores + 2 * shards
}

/// What the start-up settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFiles {
    /// The soft limit now in force.
    pub(crate) limit: u64,
    pub(crate) connections_per_core: usize,
}

/// The plan for given limits, without touching the process: the soft limit to set and the
/// connections per core it allows. `Err` when not even a minimal server fits.
pub(crate) fn plan(cores: u64, shards: u64, soft: u64, hard: u64) -> Result<OpenFiles, String> {
    let fixed = fixed_descriptors(cores, shards);
    let wanted = fixed + cores * CONNECTIONS_PER_CORE_MAX as u64 * DESCRIPTORS_PER_CONNECTION;
    let limit = soft.max(wanted.min(hard));
    let connections =
        (limit.saturating_sub(fixed) / (cores * DESCRIPTORS_PER_CONNECTION)).min(CONNECTIONS_PER_CORE_MAX as u64);
    if connections < CONNECTIONS_PER_CORE_MIN {
        return Err(format!(
            "the open-files limit (hard {hard}) leaves room for {connections} connections per core on {cores} cores; \
             raise it to at least {} (ulimit -n, or LimitNOFILE= in the systemd unit)",
            fixed + cores * CONNECTIONS_PER_CORE_MIN * DESCRIPTORS_PER_CONNECTION
        ));
    }
    Ok(OpenFiles { limit, connections_per_core: connections as usize })
}

/// Raises the soft limit for `cores` cores and `shards` shards, and returns the connections
/// each core may hold.
pub(crate) fn settle(cores: usize, shards: usize) -> Result<OpenFiles, String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|error| format!("getrlimit: {error}"))?;
    let settled = plan(cores as u64, shards as u64, soft, hard)?;
    if settled.limit != soft {
        setrlimit(Resource::RLIMIT_NOFILE, settled.limit, hard)
            .map_err(|error| format!("cannot raise the open-files limit to {}: {error}", settled.limit))?;
    }
    if settled.connections_per_core < CONNECTIONS_PER_CORE_MAX {
        log::warn!(
            "open-files limit {} (hard {hard}): {} connections per core instead of {CONNECTIONS_PER_CORE_MAX} \
             (raise the hard limit, e.g. LimitNOFILE=, to lift this)",
            settled.limit,
            settled.connections_per_core
        );
    } else {
        log::info!("open-files limit {}: {} connections per core", settled.limit, settled.connections_per_core);
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_the_soft_limit_as_far_as_needed() {
        let plan = plan(2, 2, 1024, 1 << 20).unwrap();
        assert_eq!(plan.connections_per_core, CONNECTIONS_PER_CORE_MAX);
        assert_eq!(plan.limit, fixed_descriptors(2, 2) + 2 * CONNECTIONS_PER_CORE_MAX as u64 * 2);
        // A soft limit already high enough is kept.
        assert_eq!(plan_limit(2, 2, 1 << 20, 1 << 20), 1 << 20);
    }

    fn plan_limit(cores: u64, shards: u64, soft: u64, hard: u64) -> u64 {
        plan(cores, shards, soft, hard).unwrap().limit
    }

    #[test]
    fn a_low_hard_limit_lowers_the_connections() {
        let plan = plan(2, 2, 256, 512).unwrap();
        assert_eq!(plan.limit, 512);
        let fixed = fixed_descriptors(2, 2);
        assert_eq!(plan.connections_per_core as u64, (512 - fixed) / 4);
        assert!(plan.connections_per_core as u64 * 2 * 2 + fixed <= 512);
        assert!(super::plan(8, 8, 64, 100).is_err(), "no room for even a minimal server");
    }
}

//! Test-only fault injection for the journal's group commit: a plan of I/O failures at named
//! points, so tests can drive the failure paths of `group_sync` through the real binary.
//!
//! Off unless the hidden `--fault-injection PLAN` flag (env `S3CORE_FAULT_INJECTION`) is given;
//! the server then logs a warning at start. A journal without a plan pays one `Option` check
//! per point it passes (a few per flush).
//!
//! `PLAN` is one or more rules separated by `;`, each `POINT[:OPTION,...]`:
//! - points: `journal-write` (half of the batch is written, then the error, as a real failing
//!   write may leave it), `journal-fsync` (written, not synced), `checkpoint-write` (the
//!   checkpoint's write + fsync beside the journal), `checkpoint-rename` (the rename over the
//!   journal does not happen), `directory-fsync` (the fsync of the journal's directory that
//!   makes a checkpoint's rename durable);
//! - `after=N`: let the first N occurrences of the point pass (default 0);
//! - `count=N` or `count=forever`: how many occurrences fail after those (default 1);
//! - `errno=NAME`: the error (`EIO` by default; `ENOSPC`, `EDQUOT`, `EROFS`, `EINVAL`).
//!
//! Example: `journal-fsync:after=3,count=1,errno=EIO`. Occurrences are counted per rule and
//! process-wide (cores share the plan), so `--cores 1` makes "the Nth flush" deterministic.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Where in the group commit a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    JournalWrite,
    JournalFsync,
    CheckpointWrite,
    CheckpointRename,
    DirectoryFsync,
}

const POINTS: [(&str, FaultPoint); 5] = [
    ("journal-write", FaultPoint::JournalWrite),
    ("journal-fsync", FaultPoint::JournalFsync),
    ("checkpoint-write", FaultPoint::CheckpointWrite),
    ("checkpoint-rename", FaultPoint::CheckpointRename),
    ("directory-fsync", FaultPoint::DirectoryFsync),
];

const ERRNOS: [(&str, i32); 5] = [
    ("EIO", libc::EIO),
    ("ENOSPC", libc::ENOSPC),
    ("EDQUOT", libc::EDQUOT),
    ("EROFS", libc::EROFS),
    ("EINVAL", libc::EINVAL),
];

/// Most rules in one plan (a plan is written by hand for one test).
const RULES_MAX: usize = 8;

/// One rule: occurrences `after..after + count` of `point` fail with `errno`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub point: FaultPoint,
    pub after: u64,
    /// `None`: every occurrence from `after` on fails.
    pub count: Option<u64>,
    pub(crate) errno: i32,
}

impl FaultRule {
    fn fires_at(&self, occurrence: u64) -> bool {
        occurrence >= self.after && self.count.is_none_or(|count| occurrence - self.after < count)
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let point = POINTS.iter().find(|(_, point)| *point == self.point).map_or("?", |(name, _)| name);
        let errno = ERRNOS.iter().find(|(_, errno)| *errno == self.errno).map_or("?", |(name, _)| name);
        let count = self.count.map_or("forever".to_string(), |count| count.to_string());
        write!(f, "{point}:after={},count={count},errno={errno}", self.after)
    }
}

/// Parses a plan strictly: any unknown point, option, errno or malformed number is an error.
pub(crate) fn parse_rules(text: &str) -> Result<Vec<FaultRule>, String> {
    let rules = text.split(';').map(str::trim).filter(|rule| !rule.is_empty()).map(parse_rule);
    let rules: Vec<FaultRule> = rules.collect::<Result<_, _>>()?;
    if rules.is_empty() || rules.len() > RULES_MAX {
        return Err(format!("a fault plan holds 1 to {RULES_MAX} rules, not {}", rules.len()));
    }
    Ok(rules)
}

fn parse_rule(text: &str) -> Result<FaultRule, String> {
    let (point, options) = text.split_once(':').unwrap_or((text, ""));
    let point = POINTS.iter().find(|(name, _)| *name == point).map(|(_, point)| *point).ok_or_else(|| {
        let names: Vec<&str> = POINTS.iter().map(|(name, _)| *name).collect();
        format!("unknown fault point {point:?} (one of {})", names.join(", "))
    })?;
    let mut rule = FaultRule { point, after: 0, count: Some(1), errno: libc::EIO };
    let mut seen = Vec::new();
    for option in options.split(',').filter(|option| !option.is_empty()) {
        let (name, value) =
            option.split_once('=').ok_or_else(|| format!("fault option {option:?} is not NAME=VALUE"))?;
        if seen.contains(&name) {
            return Err(format!("fault option {name:?} given twice in {text:?}"));
        }
        seen.push(name);
        match name {
            "after" => rule.after = parse_number(name, value)?,
            "count" if value == "forever" => rule.count = None,
            "count" => match parse_number(name, value)? {
                0 => return Err("fault option count=0 would never fire".into()),
                count => rule.count = Some(count),
            },
            "errno" => rule.errno = parse_errno(value)?,
            _ => return Err(format!("unknown fault option {name:?} (after, count, errno)")),
        }
    }
    Ok(rule)
}

fn parse_number(name: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| format!("fault option {name}={value:?} is not a number"))
}

fn parse_errno(value: &str) -> Result<i32, String> {
    ERRNOS.iter().find(|(name, _)| *name == value).map(|(_, errno)| *errno).ok_or_else(|| {
        let names: Vec<&str> = ERRNOS.iter().map(|(name, _)| *name).collect();
        format!("unknown errno {value:?} (one of {})", names.join(", "))
    })
}

/// Rules with their occurrence counters.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    rules: Vec<FaultRule>,
    occurrences: Vec<AtomicU64>,
}

impl FaultPlan {
    pub(crate) fn new(rules: Vec<FaultRule>) -> FaultPlan {
        let occurrences = rules.iter().map(|_| AtomicU64::new(0)).collect();
        FaultPlan { rules, occurrences }
    }

    /// Counts one occurrence of `point` for every rule on it; the error of the first rule
    /// that fires at its count.
    pub(crate) fn check(&self, point: FaultPoint) -> io::Result<()> {
        let mut outcome = Ok(());
        for (rule, occurrences) in self.rules.iter().zip(&self.occurrences) {
            if rule.point != point {
                continue;
            }
            let occurrence = occurrences.fetch_add(1, Ordering::Relaxed);
            if outcome.is_ok() && rule.fires_at(occurrence) {
                log::warn!("fault injection: {rule} fires at occurrence {occurrence}");
                outcome = Err(io::Error::from_raw_os_error(rule.errno));
            }
        }
        outcome
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        f.write_str(&rules.join(";"))
    }
}

static INSTALLED: OnceLock<FaultPlan> = OnceLock::new();

/// Makes `rules` the process's plan (at start, once); later calls keep the first plan.
pub(crate) fn install(rules: Vec<FaultRule>) -> &'static FaultPlan {
    INSTALLED.get_or_init(|| FaultPlan::new(rules))
}

/// The process's plan, if fault injection is on.
pub(crate) fn installed() -> Option<&'static FaultPlan> {
    INSTALLED.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_strictly() {
        let rules = parse_rules("journal-fsync:after=3,count=1,errno=EIO").unwrap();
        assert_eq!(rules, [FaultRule { point: FaultPoint::JournalFsync, after: 3, count: Some(1), errno: libc::EIO }]);
        let rules = parse_rules("journal-write:errno=ENOSPC; directory-fsync:count=forever").unwrap();
        assert_eq!(
            rules[0],
            FaultRule { point: FaultPoint::JournalWrite, after: 0, count: Some(1), errno: libc::ENOSPC }
        );
        assert_eq!(rules[1].count, None);
        assert_eq!(rules[1].to_string(), "directory-fsync:after=0,count=forever,errno=EIO");
        for bad in [
            "",
            ";",
            "journal-sync",
            "journal-fsync:after=x",
            "journal-fsync:after=-1",
            "journal-fsync:count=0",
            "journal-fsync:errno=EWHATEVER",
            "journal-fsync:errno=5",
            "journal-fsync:after=1,after=2",
            "journal-fsync:when=1",
            "journal-fsync:after",
        ] {
            assert!(parse_rules(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn rules_fire_at_their_occurrences_only() {
        let plan = FaultPlan::new(parse_rules("journal-fsync:after=2,count=2;checkpoint-write:count=forever").unwrap());
        let outcomes: Vec<bool> = (0..6).map(|_| plan.check(FaultPoint::JournalFsync).is_err()).collect();
        assert_eq!(outcomes, [false, false, true, true, false, false]);
        assert!(plan.check(FaultPoint::JournalWrite).is_ok());
        assert!((0..3).all(|_| plan.check(FaultPoint::CheckpointWrite).is_err()));
        let error = FaultPlan::new(parse_rules("journal-write:errno=ENOSPC").unwrap())
            .check(FaultPoint::JournalWrite)
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
    }
}

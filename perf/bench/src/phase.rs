//! The phases a run can measure, the object size classes, and the key names each uses.
//!
//! Key names are part of the interface: `--nginx-mode` expects a directory prepared with the same
//! names (`--prepare-dir` writes them), so they must not change between versions.

use std::fmt::{self, Write as _};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
/// Bytes per ranged GET in `range-8m`.
pub const RANGE_BYTES: u64 = 8 * MIB;
/// Keys per ListObjectsV2 page in the `list` phase.
pub const LIST_PAGE_KEYS: u32 = 1000;
/// Prefix of the keys that `--preload-list-keys` creates and `list` walks.
pub const LIST_PREFIX: &str = "list/";
/// Bytes of each key created by `--preload-list-keys`: small, so the phase measures listing.
pub const LIST_OBJECT_BYTES: u64 = 16;
/// Share of PUTs in `mix`, in percent.
pub const MIX_PUT_PERCENT: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SizeClass {
    K4,
    K64,
    M1,
    M64,
    /// Only read by `range-8m-1g` (large lake files read in column-chunk ranges); never PUT by
    /// a phase, and preloaded by streaming a shorter pattern (see `Body`).
    G1,
}

impl SizeClass {
    pub const ALL: [SizeClass; 5] = [SizeClass::K4, SizeClass::K64, SizeClass::M1, SizeClass::M64, SizeClass::G1];

    pub fn bytes(self) -> u64 {
        match self {
            SizeClass::K4 => 4 * KIB,
            SizeClass::K64 => 64 * KIB,
            SizeClass::M1 => MIB,
            SizeClass::M64 => 64 * MIB,
            SizeClass::G1 => GIB,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SizeClass::K4 => "4k",
            SizeClass::K64 => "64k",
            SizeClass::M1 => "1m",
            SizeClass::M64 => "64m",
            SizeClass::G1 => "1g",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Put(SizeClass),
    Get(SizeClass),
    /// One pass over the preloaded objects of a class: each read exactly once, in key order,
    /// handed out to the connections by a shared cursor; ends when all were read. No warm-up,
    /// so the first pass over a cache's cold objects is what is measured.
    Scan(SizeClass),
    /// 8 MiB ranged GETs at random, unaligned offsets inside the objects of a class (64 MiB for
    /// `range-8m`, 1 GiB for `range-8m-1g`).
    Range8m(SizeClass),
    /// HEAD of the 4 KiB objects.
    Head,
    /// ListObjectsV2 pages of 1,000 keys under `list/`, following continuation tokens.
    List,
    /// 90% GET / 10% PUT of 4 KiB objects.
    Mix,
}

impl Phase {
    pub const ALL: [Phase; 17] = [
        Phase::Put(SizeClass::K4),
        Phase::Put(SizeClass::K64),
        Phase::Put(SizeClass::M1),
        Phase::Put(SizeClass::M64),
        Phase::Get(SizeClass::K4),
        Phase::Get(SizeClass::K64),
        Phase::Get(SizeClass::M1),
        Phase::Get(SizeClass::M64),
        Phase::Scan(SizeClass::K4),
        Phase::Scan(SizeClass::K64),
        Phase::Scan(SizeClass::M1),
        Phase::Scan(SizeClass::M64),
        Phase::Range8m(SizeClass::M64),
        Phase::Range8m(SizeClass::G1),
        Phase::Head,
        Phase::List,
        Phase::Mix,
    ];

    pub fn parse(s: &str) -> Result<Phase, String> {
        let s = s.trim();
        Phase::ALL.into_iter().find(|p| p.to_string() == s).ok_or_else(|| {
            let names: Vec<String> = Phase::ALL.iter().map(ToString::to_string).collect();
            format!("unknown phase {s:?}; expected one of {}", names.join(", "))
        })
    }

    /// The preloaded size class this phase reads, if any.
    pub fn reads(self) -> Option<SizeClass> {
        match self {
            Phase::Get(class) | Phase::Scan(class) | Phase::Range8m(class) => Some(class),
            Phase::Head | Phase::Mix => Some(SizeClass::K4),
            Phase::Put(_) | Phase::List => None,
        }
    }

    /// True when the phase only issues GET/HEAD of static names (usable against nginx).
    pub fn is_read_only(self) -> bool {
        matches!(self, Phase::Get(_) | Phase::Scan(_) | Phase::Range8m(_) | Phase::Head)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Put(c) => write!(f, "put-{}", c.name()),
            Phase::Get(c) => write!(f, "get-{}", c.name()),
            Phase::Scan(c) => write!(f, "scan-{}", c.name()),
            // The 64 MiB form keeps its historical name: recorded CSVs and scripts use it.
            Phase::Range8m(SizeClass::M64) => f.write_str("range-8m"),
            Phase::Range8m(c) => write!(f, "range-8m-{}", c.name()),
            Phase::Head => f.write_str("head"),
            Phase::List => f.write_str("list"),
            Phase::Mix => f.write_str("mix"),
        }
    }
}

/// The kinds of key this generator writes; `index` makes each one unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Preloaded objects that GET phases read: `obj-4k-17`.
    Object(SizeClass),
    /// Keys written by `put-*` phases: `put-4k-17`.
    Put(SizeClass),
    /// Keys written by the PUT share of `mix`: `mix-4k-17`.
    Mix,
    /// Keys created by `--preload-list-keys`: `list/key-00000017`.
    List,
}

/// Replaces `out` with the key for (`kind`, `index`).
pub fn write_key(out: &mut String, kind: KeyKind, index: u64) {
    out.clear();
    let _ = match kind {
        KeyKind::Object(c) => write!(out, "obj-{}-{index}", c.name()),
        KeyKind::Put(c) => write!(out, "put-{}-{index}", c.name()),
        KeyKind::Mix => write!(out, "mix-4k-{index}"),
        KeyKind::List => write!(out, "{LIST_PREFIX}key-{index:08}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(&p.to_string()), Ok(p));
        }
        assert!(Phase::parse("get-2k").is_err());
        assert_eq!(Phase::parse("range-8m"), Ok(Phase::Range8m(SizeClass::M64)));
        assert_eq!(Phase::parse("range-8m-1g"), Ok(Phase::Range8m(SizeClass::G1)));
        assert_eq!(Phase::parse("scan-1m"), Ok(Phase::Scan(SizeClass::M1)));
        assert_eq!(Phase::Scan(SizeClass::M1).reads(), Some(SizeClass::M1));
    }

    #[test]
    fn key_names_are_stable() {
        let mut k = String::new();
        write_key(&mut k, KeyKind::Object(SizeClass::M64), 1);
        assert_eq!(k, "obj-64m-1");
        write_key(&mut k, KeyKind::List, 42);
        assert_eq!(k, "list/key-00000042");
        write_key(&mut k, KeyKind::Put(SizeClass::K4), 7);
        assert_eq!(k, "put-4k-7");
        write_key(&mut k, KeyKind::Object(SizeClass::G1), 0);
        assert_eq!(k, "obj-1g-0");
    }
}

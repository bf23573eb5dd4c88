//! Where things live in the data directory, and the format file that identifies it.
//!
//! ```text
//! DATA/s3core.format          identity, format version, shard count
//! DATA/meta/shard-NNN.journal one metadata journal per shard
//! DATA/blocks/NNN/SSSSSSSSSSSSSSSS  block files written by core NNN, sequence S (hex)
//! ```
//! No part of a client's key or bucket name ever becomes a path: block names are numbers.

use std::path::{Path, PathBuf};

use super::record::BlockId;

pub(crate) const FORMAT_FILE: &str = "s3core.format";
pub(crate) const FORMAT_HEADER: &str = "s3core data directory";
pub(crate) const FORMAT_VERSION: u32 = 1;

pub(crate) fn format_path(root: &Path) -> PathBuf {
    root.join(FORMAT_FILE)
}

pub(crate) fn meta_directory(root: &Path) -> PathBuf {
    root.join("meta")
}

pub fn journal_path(root: &Path, shard: usize) -> PathBuf {
    meta_directory(root).join(format!("shard-{shard:03}.journal"))
}

pub(crate) fn blocks_directory(root: &Path) -> PathBuf {
    root.join("blocks")
}

pub(crate) fn core_blocks_directory(root: &Path, core: u16) -> PathBuf {
    blocks_directory(root).join(format!("{core:03}"))
}

pub(crate) fn block_path(root: &Path, block: BlockId) -> PathBuf {
    core_blocks_directory(root, block.core).join(format!("{:016x}", block.sequence))
}

/// Parses a block file name back into its sequence number.
pub(crate) fn parse_block_name(name: &str) -> Option<u64> {
    if name.len() != 16 {
        return None;
    }
    u64::from_str_radix(name, 16).ok()
}

/// The contents of the format file.
pub(crate) fn format_text(shards: usize) -> String {
    format!("{FORMAT_HEADER}\nversion={FORMAT_VERSION}\nshards={shards}\n")
}

/// Reads the shard count out of a format file's text.
pub(crate) fn parse_format(text: &str) -> Result<usize, String> {
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT_HEADER) {
        return Err("not an s3core data directory format file".into());
    }
    let mut version = None;
    let mut shards = None;
    for line in lines {
        match line.split_once('=') {
            Some(("version", value)) => version = value.parse::<u32>().ok(),
            Some(("shards", value)) => shards = value.parse::<usize>().ok(),
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    match (version, shards) {
        (Some(FORMAT_VERSION), Some(shards)) if (1..=1024).contains(&shards) => Ok(shards),
        (Some(other), _) if other != FORMAT_VERSION => {
            Err(format!("format version {other} is not supported (this build reads {FORMAT_VERSION})"))
        }
        _ => Err("missing or invalid version/shards".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_round_trips_and_rejects_garbage() {
        assert_eq!(parse_format(&format_text(4)), Ok(4));
        assert!(parse_format("hello").is_err());
        assert!(parse_format(&format_text(4).replace("version=1", "version=9")).is_err());
        assert!(parse_format(&format_text(0)).is_err());
    }

    #[test]
    fn block_names_round_trip() {
        let block = BlockId { core: 2, sequence: 0xabc };
        let path = block_path(Path::new("/d"), block);
        assert_eq!(path, Path::new("/d/blocks/002/0000000000000abc"));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_block_name(name), Some(0xabc));
        assert_eq!(parse_block_name("../../etc"), None);
    }
}

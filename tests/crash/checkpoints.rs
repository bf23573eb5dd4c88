//! What the server logs say about journal checkpoints: online rotations, checkpoints at start,
//! and unfinished ones a crash left (counted to prove rotations were exercised).

use std::path::Path;

/// Journal checkpoints that server logs report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checkpoints {
    /// Online rotations (`GroupSync::rotate`) that completed.
    pub online: u64,
    /// Checkpoints written by recovery at start.
    pub at_start: u64,
    /// Checkpoint files a crash left unfinished, removed at start: crashes mid-rotation.
    pub unfinished: u64,
}

impl Checkpoints {
    /// Counts the checkpoint lines of one server log.
    pub fn in_log(log: &str) -> Checkpoints {
        let mut counts = Checkpoints::default();
        for line in log.lines() {
            if line.contains("removed an unfinished checkpoint") {
                counts.unfinished += 1;
            } else if line.contains("checkpointed to") {
                if line.contains("s3core::store::recovery") {
                    counts.at_start += 1;
                } else {
                    counts.online += 1;
                }
            }
        }
        counts
    }

    /// Counts over every server log in `log_dir` (`stderr-N.log`).
    pub fn in_logs(log_dir: &Path) -> Checkpoints {
        let mut total = Checkpoints::default();
        let entries = std::fs::read_dir(log_dir).into_iter().flatten().flatten();
        for entry in entries.filter(|entry| entry.file_name().to_string_lossy().starts_with("stderr-")) {
            total.add(Checkpoints::in_log(&std::fs::read_to_string(entry.path()).unwrap_or_default()));
        }
        total
    }

    pub fn add(&mut self, other: Checkpoints) {
        self.online += other.online;
        self.at_start += other.at_start;
        self.unfinished += other.unfinished;
    }
}

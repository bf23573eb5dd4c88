//! The optional JSON access log: one line per request, written without blocking a core.
//!
//! Each core formats its lines into a buffer of its own (`ACCESS_LOG_CHUNK_BYTES`) and hands a
//! full buffer (or, every `ACCESS_LOG_FLUSH_MS`, a partial one) to the writer thread through a
//! bounded queue with `try_send`: a core never waits for the disk. When the writer falls
//! behind and the queue is full, the chunk is dropped and its lines are counted
//! (`s3core_access_log_dropped_lines_total`). Per request the cost is formatting one line
//! into memory the core owns; per chunk, one allocation and one queue operation.
//!
//! A line: `{"time":"2026-12-03T16:02:00.123Z","request_id":"0000000000000001",
//! "remote":"127.0.0.1:50000","action":"GetObject","bucket":"b","key":"k","status":200,
//! "error":null,"bytes_in":120,"bytes_out":4400,"ttfb_ms":0.081,"duration_ms":0.093,
//! "user_agent":"aws-cli/1.46"}`.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;

use crate::config::AccessLogDestination as Destination;
use crate::limits::{ACCESS_LOG_CHUNK_BYTES, ACCESS_LOG_QUEUED_CHUNKS_PER_CORE};

/// What the writer thread receives.
enum Message {
    /// Lines handed over together.
    Lines(Vec<u8>),
    /// Everything sent before was written: flush and stop (at shutdown, once every core has
    /// handed over its last lines; the cores' ends may outlive them, so the writer cannot wait
    /// for every sender to go).
    End,
}

/// The writer thread and what the cores need to reach it.
pub(crate) struct Writer {
    sender: flume::Sender<Message>,
    thread: JoinHandle<()>,
    /// Failed writes (the writer thread alone writes it).
    pub(crate) write_errors: Arc<AtomicU64>,
}

impl Writer {
    /// Opens the destination (a file that cannot be opened stops the start) and starts the
    /// writer thread; `cores` bounds the queue.
    pub(crate) fn start(destination: &Destination, cores: usize) -> Result<Writer, String> {
        let out: Box<dyn Write + Send> = match destination {
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::Stderr => Box::new(std::io::stderr()),
            Destination::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|error| format!("cannot open the access log {}: {error}", path.display()))?,
            ),
        };
        let (sender, receiver) = flume::bounded(cores * ACCESS_LOG_QUEUED_CHUNKS_PER_CORE);
        let write_errors = Arc::new(AtomicU64::new(0));
        let errors = write_errors.clone();
        let thread = std::thread::Builder::new()
            .name("s3core-access-log".into())
            .spawn(move || write_chunks(&receiver, out, &errors))
            .map_err(|error| format!("cannot start the access log writer: {error}"))?;
        Ok(Writer { sender, thread, write_errors })
    }

    /// A core's end of the log.
    pub(crate) fn for_core(&self) -> CoreAccessLog {
        CoreAccessLog {
            sender: self.sender.clone(),
            buffer: RefCell::new(Vec::with_capacity(ACCESS_LOG_CHUNK_BYTES)),
            buffered_lines: Cell::new(0),
            handed_lines: Cell::new(0),
            dropped_lines: Cell::new(0),
        }
    }

    /// Waits (at most `timeout`) until the writer wrote everything handed over so far.
    pub(crate) fn finish(self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        if self.sender.send_timeout(Message::End, timeout).is_err() {
            log::warn!("the access log writer did not take its last message within {timeout:?}");
            return;
        }
        while !self.thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        } else {
            log::warn!("the access log writer did not finish within {timeout:?}");
        }
    }
}

fn write_chunks(receiver: &flume::Receiver<Message>, mut out: Box<dyn Write + Send>, errors: &AtomicU64) {
    for message in receiver.iter() {
        let Message::Lines(bytes) = message else { break };
        if let Err(error) = out.write_all(&bytes).and_then(|()| out.flush()) {
            // Single writer: a plain load and store is enough.
            let failed = errors.load(Ordering::Relaxed) + 1;
            errors.store(failed, Ordering::Relaxed);
            if failed == 1 {
                log::error!("cannot write the access log: {error} (further failures are only counted)");
            }
        }
    }
    let _ = out.flush();
}

/// One request's line.
#[derive(Serialize)]
pub(crate) struct Entry<'a> {
    pub(crate) time: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) remote: SocketAddr,
    pub(crate) action: &'a str,
    pub(crate) bucket: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) error: Option<&'a str>,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) ttfb_ms: f64,
    pub(crate) duration_ms: f64,
    pub(crate) user_agent: Option<&'a str>,
}

/// A core's end of the access log.
pub(crate) struct CoreAccessLog {
    sender: flume::Sender<Message>,
    buffer: RefCell<Vec<u8>>,
    buffered_lines: Cell<u64>,
    /// Lines handed to the writer.
    handed_lines: Cell<u64>,
    /// Lines dropped because the writer's queue was full.
    dropped_lines: Cell<u64>,
}

impl CoreAccessLog {
    /// Formats one line into the core's buffer; hands the buffer over when it is full.
    pub(crate) fn record(&self, entry: &Entry<'_>) {
        let full = {
            let mut buffer = self.buffer.borrow_mut();
            // Serialising borrowed strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buffer, entry);
            buffer.push(b'\n');
            buffer.len() >= ACCESS_LOG_CHUNK_BYTES
        };
        self.buffered_lines.set(self.buffered_lines.get() + 1);
        if full {
            self.flush();
        }
    }

    /// Hands what is buffered to the writer now (the periodic flush, and at shutdown).
    pub(crate) fn flush(&self) {
        let lines = self.buffered_lines.replace(0);
        if lines == 0 {
            return;
        }
        let mut buffer = self.buffer.borrow_mut();
        let bytes = std::mem::replace(&mut *buffer, Vec::with_capacity(ACCESS_LOG_CHUNK_BYTES));
        match self.sender.try_send(Message::Lines(bytes)) {
            Ok(()) => self.handed_lines.set(self.handed_lines.get() + lines),
            Err(refused) => {
                // The writer is behind (or gone): drop these lines, keep the buffer.
                if let Message::Lines(mut bytes) = refused.into_inner() {
                    bytes.clear();
                    *buffer = bytes;
                }
                let dropped = self.dropped_lines.get();
                if dropped == 0 {
                    log::warn!("the access log writer is behind: dropping lines (counted in the metrics)");
                }
                self.dropped_lines.set(dropped + lines);
            }
        }
    }

    /// (lines handed to the writer, lines dropped).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.handed_lines.get(), self.dropped_lines.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(key: &'a str) -> Entry<'a> {
        Entry {
            time: "2026-12-03T16:02:00.123Z",
            request_id: "0000000000000001",
            remote: "127.0.0.1:50000".parse().unwrap(),
            action: "GetObject",
            bucket: Some("b"),
            key: Some(key),
            status: 200,
            error: None,
            bytes_in: 120,
            bytes_out: 4400,
            ttfb_ms: 0.081,
            duration_ms: 0.093,
            user_agent: None,
        }
    }

    #[test]
    fn lines_are_json_and_a_full_queue_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let writer = Writer::start(&Destination::File(path.clone()), 1).unwrap();
        let log = writer.for_core();
        log.record(&entry("a \"quoted\"\nkey"));
        log.flush();
        drop(log);
        writer.finish(std::time::Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["key"], "a \"quoted\"\nkey");
        assert_eq!(line["status"], 200);
        assert_eq!(line["error"], serde_json::Value::Null);
        assert_eq!(line["remote"], "127.0.0.1:50000");

        // A queue nobody drains: once it is full, chunks are dropped and their lines counted.
        let (sender, _receiver) = flume::bounded(1);
        let log = CoreAccessLog {
            sender,
            buffer: RefCell::new(Vec::new()),
            buffered_lines: Cell::new(0),
            handed_lines: Cell::new(0),
            dropped_lines: Cell::new(0),
        };
        for _ in 0..3 {
            log.record(&entry("k"));
            log.record(&entry("k"));
            log.flush();
        }
        assert_eq!(log.counts(), (2, 4));
    }
}

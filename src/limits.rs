//! Every limit of the server as a named constant, units last.
//!
//! A limit that a client can hit maps to a specific S3 error where it is enforced; the
//! constants live here so that the whole envelope of the server can be read in one screen.

/// Largest request head (request line + headers) we buffer before answering 431.
/// S3 documents 8 KiB of headers for most requests; presigned URLs and large user metadata
/// push real clients past that, so we allow 32 KiB.
pub const REQUEST_HEAD_BYTES_MAX: usize = 32 * 1024;
/// Largest number of header fields in one request (httparse needs a fixed array).
pub(crate) const REQUEST_HEADERS_COUNT_MAX: usize = 96;
/// Longest request target (path + query) accepted; longer gets 414-like 400.
pub(crate) const REQUEST_TARGET_BYTES_MAX: usize = 16 * 1024;
/// S3's key length limit, in bytes of UTF-8.
pub const KEY_BYTES_MAX: usize = 1024;
/// S3 limit on user-defined metadata (`x-amz-meta-*` names + values).
pub(crate) const USER_METADATA_BYTES_MAX: usize = 2 * 1024;
/// Largest single PUT, as in S3.
pub(crate) const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Largest part of a multipart upload, as in S3.
pub(crate) const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Largest multipart object, as in S3 (5 TiB).
pub(crate) const MULTIPART_OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Part numbers run from 1 to this, as in S3.
pub const PART_NUMBER_MAX: u32 = 10_000;
/// Largest object CopyObject copies in one request, as in S3.
pub const COPY_SOURCE_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Largest page of ListParts / ListMultipartUploads, as in S3.
pub(crate) const LIST_PARTS_MAX: usize = 1000;
/// Largest XML request body (DeleteObjects with 1000 long keys fits well below this).
pub(crate) const XML_BODY_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Keys per DeleteObjects request, as in S3.
pub const DELETE_OBJECTS_KEYS_MAX: usize = 1000;
/// Largest page of a listing, as in S3.
pub(crate) const LIST_KEYS_MAX: usize = 1000;
/// Objects up to this size are kept inside their metadata record (journal + memory) instead of
/// a block file: one fsync instead of three on PUT, and a GET served from memory.
pub(crate) const INLINE_OBJECT_BYTES_MAX: usize = 4 * 1024;
/// Default memory all inline bodies of the process may hold (`--inline-budget-bytes`);
/// beyond it, small bodies go to block files too (see `store::inline_budget`). Also bounds
/// what a checkpoint serialises.
pub(crate) const INLINE_OBJECTS_BYTES_BUDGET: usize = 32 * 1024 * 1024;
/// Size of one chunk-size line in chunked / aws-chunked bodies (hex size + extensions such as
/// a 64-hex-digit chunk signature).
pub(crate) const CHUNK_LINE_BYTES_MAX: usize = 4 * 1024;
/// Total bytes of trailer fields after the last chunk.
pub(crate) const CHUNK_TRAILER_BYTES_MAX: usize = 16 * 1024;

/// Per-connection read buffer, grown up to the head limit when a head does not fit.
pub(crate) const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;
/// Staging buffer for writing a block file and for reading one back to the socket.
pub(crate) const BLOCK_IO_BUFFER_BYTES: usize = 256 * 1024;
/// Staging buffer of an upload or a cold read beyond a core's buffer leases: memory then
/// grows by this much per such request, not by `BLOCK_IO_BUFFER_BYTES`.
pub(crate) const SMALL_IO_BUFFER_BYTES: usize = 64 * 1024;
/// An idle keep-alive connection is closed after this long.
pub(crate) const IDLE_TIMEOUT_MS: u64 = 60_000;
/// A request head or body that stalls this long is abandoned (slow-loris defence).
pub(crate) const READ_TIMEOUT_MS: u64 = 30_000;
/// Slowest average rate a request body may arrive at, after a first `READ_TIMEOUT_MS` of
/// grace: a body's deadline is `READ_TIMEOUT_MS` plus one second per this many bytes
/// received, so a client dribbling bytes just under the per-read timeout cannot hold a
/// connection (and its buffers) for days. Far below any real client on the node or the LAN.
pub(crate) const BODY_BYTES_PER_S_MIN: u64 = 16 * 1024;
/// A response write that makes no progress this long is abandoned.
pub(crate) const WRITE_TIMEOUT_MS: u64 = 30_000;
/// Request body bytes we drain (rather than close the connection) after an early error.
pub(crate) const DRAIN_BYTES_MAX: u64 = 64 * 1024;
/// Concurrent connections per core; more are accepted and closed at once.
pub(crate) const CONNECTIONS_PER_CORE_MAX: usize = 4096;

/// Threads of the process-wide pool that runs the blocking syscalls and CPU-heavy work that
/// must not stall a core's event loop (hard links of a copy, checkpoint encoding, journal
/// rebuilds); every core's runtime hands such work to it.
pub(crate) const BLOCKING_THREADS: usize = 2;
/// A core asks the filesystem for its free space at most this often; in between, the answer
/// is the last one minus what was admitted since.
pub(crate) const FREE_SPACE_REFRESH_MS: u64 = 100;
/// Size of a cache page of an upstream object (the last page of an object may be shorter).
/// 1 MiB: an unaligned 8 MiB range (a Parquet column chunk) touches at most 9 pages, so it
/// fetches at most 1.125x the bytes it asked for; Alluxio caches Parquet in 1 MiB pages too.
pub(crate) const CACHE_PAGE_BYTES: u64 = 1024 * 1024;
/// Upstream objects one core remembers (version and headers) for `--upstream-revalidate`.
pub(crate) const LAKE_OBJECTS_PER_CORE_MAX: usize = 100_000;
/// Bound of each core's inbound mailbox of page requests (back-pressure, not a queue).
pub(crate) const PAGE_MAILBOX_CAPACITY: usize = 1024;
/// Free space kept back from object data so metadata (deletes above all) can always be
/// journaled: a full disk is left by deleting objects, without a restart.
pub(crate) const STORAGE_RESERVE_BYTES: u64 = 8 * 1024 * 1024;
/// Bound of each core's inbound mailbox of shard requests (back-pressure, not a queue).
pub(crate) const MAILBOX_CAPACITY: usize = 1024;
/// Journal size that triggers a checkpoint (online, and at start); a journal is also
/// checkpointed once it is twice the size of its last checkpoint.
pub const JOURNAL_COMPACT_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest checkpoint threshold `--journal-checkpoint-bytes` (a test knob) accepts.
pub(crate) const JOURNAL_CHECKPOINT_BYTES_MIN: u64 = 4 * 1024;
/// Attempts at the directory fsync that makes a checkpoint's rename over its journal durable
/// before the shard stops acknowledging writes; the first retry waits
/// `CHECKPOINT_DIRECTORY_SYNC_BACKOFF_MS`, each next one twice as long (150 ms in all).
pub(crate) const CHECKPOINT_DIRECTORY_SYNC_ATTEMPTS: u32 = 5;
pub(crate) const CHECKPOINT_DIRECTORY_SYNC_BACKOFF_MS: u64 = 10;
/// Largest journal record accepted on replay; anything larger is a torn or corrupt tail.
pub(crate) const JOURNAL_RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

// The upstream client (src/upstream): defaults of `upstream::Timeouts`, `upstream::RetryPolicy`
// and the pool, and the bounds of what it reads from an upstream store.

/// Idle keep-alive connections one core keeps to one upstream host; a connection released
/// beyond it is closed. Busy connections are not limited here: each belongs to a request.
pub(crate) const UPSTREAM_IDLE_CONNECTIONS_MAX: usize = 16;
/// An idle pooled connection older than this is closed instead of reused: shorter than the
/// keep-alive timeouts of common servers (s3core 60 s, nginx 75 s, Go's net/http in MinIO and
/// SeaweedFS 120 s+), so the upstream rarely closes a connection as we reuse it.
pub(crate) const UPSTREAM_IDLE_TIMEOUT_MS: u64 = 15_000;
/// TCP connect plus TLS handshake, per attempt.
pub(crate) const UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 3_000;
/// From the end of a request to its complete response head, per attempt. Long enough for an
/// upstream that works before it answers (CompleteMultipartUpload, CopyObject send their
/// head early and keep the connection alive with whitespace, so 30 s is plenty).
pub(crate) const UPSTREAM_HEAD_TIMEOUT_MS: u64 = 30_000;
/// How long a streamed upload waits for `100 Continue` before it sends its body anyway (at
/// most the head timeout). Long enough for a loaded upstream to answer (so a dead pooled
/// connection is found before the body's first byte, when a retry is still possible); short,
/// because a store that ignores `Expect` costs this once.
pub(crate) const UPSTREAM_CONTINUE_WAIT_MS: u64 = 1_000;
/// A read or write of a body that makes no progress this long fails the exchange.
pub(crate) const UPSTREAM_STALL_TIMEOUT_MS: u64 = 30_000;
/// Attempts of one retryable operation, the first included.
pub(crate) const UPSTREAM_ATTEMPTS_MAX: u32 = 4;
/// Backoff before retry n (n = 1, 2, ...): a uniformly random time up to
/// `min(UPSTREAM_BACKOFF_MAX_MS, UPSTREAM_BACKOFF_BASE_MS * 2^(n-1))` ("full jitter").
pub(crate) const UPSTREAM_BACKOFF_BASE_MS: u64 = 50;
pub(crate) const UPSTREAM_BACKOFF_MAX_MS: u64 = 2_000;
/// No retry starts later than this after an operation's first attempt began: with the
/// per-attempt timeouts above, an operation ends within this plus one attempt's time.
pub(crate) const UPSTREAM_RETRY_WINDOW_MS: u64 = 10_000;
/// Largest response head accepted from an upstream (S3 heads with much user metadata fit).
pub(crate) const UPSTREAM_RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Header fields of one upstream response (httparse needs a fixed array).
pub(crate) const UPSTREAM_RESPONSE_HEADERS_COUNT_MAX: usize = 128;
/// Largest document read whole from an upstream (a listing page of 1000 keys of 1 KiB is
/// about 1.5 MiB; ListBuckets of many buckets is the other large one).
pub(crate) const UPSTREAM_DOCUMENT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest error document read from an upstream; a longer one closes the connection.
pub(crate) const UPSTREAM_ERROR_BODY_BYTES_MAX: usize = 64 * 1024;
/// Piece of a streamed request body handed to the socket at a time.
pub(crate) const UPSTREAM_BODY_PIECE_BYTES: usize = 256 * 1024;
/// Read buffer of an upstream connection (grown up to the head limit for a large head).
pub(crate) const UPSTREAM_CONNECTION_BUFFER_BYTES: usize = 16 * 1024;
/// A resolved upstream host name is reused this long before it is looked up again.
pub(crate) const UPSTREAM_DNS_TTL_MS: u64 = 30_000;
/// Operations (admin listener, access log, shutdown).
/// Connections the admin listener (metrics, health, status page) holds at once; more are
/// closed at once. Scrapers and probes need a handful.
pub(crate) const ADMIN_CONNECTIONS_MAX: usize = 64;
/// An admin request head must arrive within this long, and an idle admin connection is
/// closed after it.
pub(crate) const ADMIN_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a scrape or a readiness probe waits for each core's answer; a core that does not
/// answer in time is reported (and makes the server not ready).
pub(crate) const CORE_REPLY_TIMEOUT_MS: u64 = 2_000;
/// Bound of each core's control mailbox (scrapes, probes, drain and stop messages).
pub(crate) const CONTROL_MAILBOX_CAPACITY: usize = 64;
/// A request refused during a drain whose body is still coming: after the 503 the server stops
/// sending and reads (and discards) what arrives for at most this long before closing, so the
/// client reads the answer instead of a reset.
pub(crate) const REFUSED_LINGER_MS: u64 = 2_000;
/// Default time in-flight requests get to finish after SIGTERM (`--shutdown-grace-ms`).
pub(crate) const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 20_000;
/// Longest grace period `--shutdown-grace-ms` accepts.
pub(crate) const SHUTDOWN_GRACE_MS_MAX: u64 = 3_600_000;
/// How long the shutdown waits for the cores to flush their journals once the grace period
/// is over, before it exits anyway (nothing unflushed was acknowledged).
pub(crate) const SHUTDOWN_FLUSH_TIMEOUT_MS: u64 = 10_000;
/// Access log lines are formatted into a per-core buffer of this size, handed to the writer
/// thread when full (or every `ACCESS_LOG_FLUSH_MS`).
pub(crate) const ACCESS_LOG_CHUNK_BYTES: usize = 64 * 1024;
pub(crate) const ACCESS_LOG_FLUSH_MS: u64 = 200;
/// Chunks per core that may wait for the writer thread; when the writer falls behind, further
/// chunks are dropped (and counted), so a slow disk never blocks a core.
pub(crate) const ACCESS_LOG_QUEUED_CHUNKS_PER_CORE: usize = 16;

const _: () = assert!(CONNECTION_BUFFER_BYTES <= REQUEST_HEAD_BYTES_MAX);
const _: () = assert!(SHUTDOWN_GRACE_MS_DEFAULT <= SHUTDOWN_GRACE_MS_MAX);
const _: () = assert!(JOURNAL_CHECKPOINT_BYTES_MIN <= JOURNAL_COMPACT_BYTES);
const _: () = assert!(INLINE_OBJECT_BYTES_MAX < BLOCK_IO_BUFFER_BYTES);
const _: () = assert!(DELETE_OBJECTS_KEYS_MAX * KEY_BYTES_MAX * 2 <= XML_BODY_BYTES_MAX * 2);
const _: () = assert!(UPSTREAM_CONNECTION_BUFFER_BYTES <= UPSTREAM_RESPONSE_HEAD_BYTES_MAX);
const _: () = assert!(UPSTREAM_BACKOFF_BASE_MS <= UPSTREAM_BACKOFF_MAX_MS);
const _: () = assert!(UPSTREAM_ATTEMPTS_MAX >= 1);
const _: () = assert!(UPSTREAM_ERROR_BODY_BYTES_MAX <= UPSTREAM_DOCUMENT_BYTES_MAX);

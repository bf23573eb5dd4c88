//! Zero-copy object bodies: `sendfile(2)` from a block file straight to the socket, so large
//! GETs never copy object bytes through user space.
//!
//! Two rules keep this off the blocking path of a core's runtime thread:
//! - `sendfile` runs on the socket switched to non-blocking for the duration of the call
//!   (io_uring ops on the same socket would see `EAGAIN` on a non-blocking socket, so the
//!   switch is scoped: [`NonBlocking`] restores the flags however the send ends). When the
//!   socket is full, the task waits for writability through an io_uring poll.
//! - `sendfile` reads the file synchronously, so it is used only for ranges the page cache
//!   already holds, asked with `cachestat(2)` (Linux 6.5+). Cold ranges, and kernels without
//!   `cachestat`, take the io_uring read path, which also warms the cache for the next reader.
//!
//! Every `unsafe` block in this module is a plain libc call on file descriptors the caller
//! owns for the whole call; no memory is shared with the kernel beyond the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use monoio::net::TcpStream;

use crate::limits::WRITE_TIMEOUT_MS;

/// Largest count handed to one `sendfile` call: bounds how long one response holds the core
/// before other connections get a turn (the socket buffer usually bounds it sooner).
const SENDFILE_CALL_BYTES_MAX: usize = 4 * 1024 * 1024;

/// `cachestat(2)`; the number is the same on every Linux architecture (added after the
/// syscall tables were unified).
const SYS_CACHESTAT: libc::c_long = 451;

/// Cleared the first time the kernel refuses `cachestat` (too old, or filtered by seccomp):
/// from then on every range is treated as cold.
static CACHESTAT_WORKS: AtomicBool = AtomicBool::new(true);

/// Set by the first body range sent with `sendfile`, which is logged once: the log then shows
/// whether this process ever took the zero-copy path (the integration tests read it).
static SENDFILE_USED: AtomicBool = AtomicBool::new(false);

#[repr(C)]
struct CachestatRange {
    offset: u64,
    length: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    cached: u64,
    dirty: u64,
    writeback: u64,
    evicted: u64,
    recently_evicted: u64,
}

fn page_bytes() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Whether every page of `file[offset..offset + length]` is in the page cache, so that a
/// `sendfile` of it cannot wait on the disk. `false` when unknown.
pub(crate) fn page_cache_holds(file: RawFd, offset: u64, length: u64) -> bool {
    if length == 0 {
        return true;
    }
    if !CACHESTAT_WORKS.load(Ordering::Relaxed) {
        return false;
    }
    let page = page_bytes();
    let first_page = offset / page;
    let end_page = (offset + length).div_ceil(page);
    let range = CachestatRange { offset: first_page * page, length: (end_page - first_page) * page };
    let mut stat = Cachestat::default();
    // SAFETY: both pointers refer to live, correctly laid out structs for the whole call.
    let result =
        unsafe { libc::syscall(SYS_CACHESTAT, file, &range as *const CachestatRange, &mut stat as *mut Cachestat, 0) };
    if result != 0 {
        let error = io::Error::last_os_error();
        if matches!(error.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            CACHESTAT_WORKS.store(false, Ordering::Relaxed);
            log::info!("cachestat(2) unavailable ({error}): object bodies are sent through io_uring reads only");
        }
        return false;
    }
    stat.cached >= end_page - first_page
}

/// The socket in non-blocking mode until dropped, when its previous flags come back.
struct NonBlocking {
    socket: RawFd,
    flags: libc::c_int,
}

impl NonBlocking {
    fn set(socket: RawFd) -> io::Result<Self> {
        // SAFETY: fcntl on a descriptor the caller owns.
        let flags = unsafe { libc::fcntl(socket, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(socket, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NonBlocking { socket, flags })
    }
}

impl Drop for NonBlocking {
    fn drop(&mut self) {
        // SAFETY: as above. A failure would leave io_uring ops seeing EAGAIN; they then fail
        // and the connection closes, which is safe.
        unsafe { libc::fcntl(self.socket, libc::F_SETFL, self.flags) };
    }
}

async fn wait_writable(stream: &TcpStream) -> io::Result<()> {
    match monoio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), stream.writable(false)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client too slow")),
    }
}

fn would_block(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR))
}

/// Sends `prefix` (bytes to go first, e.g. the response head; may be empty) and then
/// `length` bytes of `file` from `offset`. The prefix is sent with `MSG_MORE`, so the head
/// and the start of the body share packets.
pub(crate) async fn send_file(
    stream: &TcpStream,
    prefix: &[u8],
    file: RawFd,
    offset: u64,
    length: u64,
) -> io::Result<()> {
    let socket = std::os::fd::AsRawFd::as_raw_fd(stream);
    let _nonblocking = NonBlocking::set(socket)?;
    let mut prefix = prefix;
    while !prefix.is_empty() {
        // SAFETY: `prefix` is a live slice for the whole call.
        let sent =
            unsafe { libc::send(socket, prefix.as_ptr().cast(), prefix.len(), libc::MSG_MORE | libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            prefix = &prefix[sent as usize..];
            continue;
        }
        let error = io::Error::last_os_error();
        if !would_block(&error) {
            return Err(error);
        }
        wait_writable(stream).await?;
    }
    let end = offset + length;
    let mut position = offset;
    while position < end {
        let count = ((end - position) as usize).min(SENDFILE_CALL_BYTES_MAX);
        let mut file_offset = position as libc::off_t;
        // SAFETY: `file_offset` is a live local; sendfile does not move the file position
        // when given an offset, so the descriptor may be shared.
        let sent = unsafe { libc::sendfile(socket, file, &mut file_offset, count) };
        if sent > 0 {
            position += sent as u64;
            continue;
        }
        if sent == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "block shorter than its record"));
        }
        let error = io::Error::last_os_error();
        if !would_block(&error) {
            return Err(error);
        }
        wait_writable(stream).await?;
    }
    if !SENDFILE_USED.load(Ordering::Relaxed) && !SENDFILE_USED.swap(true, Ordering::Relaxed) {
        log::info!("sendfile(2) in use: the first body range sent with it had {length} bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    #[cfg_attr(
        not(s3core_host_cachestat),
        ignore = "the build machine's kernel has no cachestat(2) (Linux 6.5+): every range counts as cold there"
    )]
    fn a_file_just_written_is_in_the_page_cache_and_a_range_past_it_is_not() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&vec![7u8; 64 * 1024]).expect("write");
        let fd = file.as_raw_fd();
        let cached = page_cache_holds(fd, 0, 64 * 1024);
        assert!(cached, "cachestat(2) worked on the build machine but sees nothing cached here");
        assert!(page_cache_holds(fd, 4095, 2));
        assert!(!page_cache_holds(fd, 0, 1024 * 1024), "pages past the end are not cached");
    }

    /// What every kernel answers, cachestat or not: an empty range needs nothing, and a range
    /// that cannot be checked counts as cold (the safe answer: it is read through io_uring).
    #[test]
    fn empty_ranges_need_nothing_and_unknown_ranges_are_cold() {
        let file = tempfile::tempfile().expect("temp file");
        assert!(page_cache_holds(file.as_raw_fd(), 123, 0), "an empty range needs nothing");
        assert!(!page_cache_holds(-1, 0, 4096), "a range of a bad descriptor counts as cold");
    }
}

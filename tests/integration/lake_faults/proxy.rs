//! A loopback TCP proxy between s3core and its upstream that can misbehave on purpose: hold
//! every answer (a stalled upstream), delay the start of each answer (a slow one), cut the
//! connection once a given number of answer or request bytes went through (an upstream that
//! died mid-body), or cut every open connection at once. It forwards real bytes of a real
//! store; it never makes up an answer.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a held forwarder looks whether it may go on.
const HOLD_POLL: Duration = Duration::from_millis(5);
const UNARMED: u64 = u64::MAX;

#[derive(Default)]
struct Faults {
    /// Answers are held (not forwarded) while set.
    stalled: AtomicBool,
    /// Each answer's first bytes wait this long (ms) after the request that asked for them.
    answer_delay_ms: AtomicU64,
    /// Answer bytes forwarded (all connections) and the total at which the connection carrying
    /// that byte is cut (once; `UNARMED` when off).
    answer_bytes: AtomicU64,
    cut_answers_at: AtomicU64,
    /// The same for request bytes (uploads).
    request_bytes: AtomicU64,
    cut_requests_at: AtomicU64,
    /// Every connection's two sockets, to cut them all.
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    faults: Arc<Faults>,
}

impl FaultProxy {
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let faults = Arc::new(Faults::default());
        faults.cut_answers_at.store(UNARMED, Ordering::SeqCst);
        faults.cut_requests_at.store(UNARMED, Ordering::SeqCst);
        let shared = faults.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // An upstream that is down: the connection closes at once, as a refused one.
                let Ok(server) = TcpStream::connect(target) else { continue };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let pair = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                shared.open.lock().unwrap().push(pair);
                let asked = Arc::new(AtomicBool::new(false));
                let (faults, asked_too) = (shared.clone(), asked.clone());
                let (client_read, server_write) =
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                std::thread::spawn(move || forward_requests(client_read, server_write, &faults, &asked_too));
                let faults = shared.clone();
                std::thread::spawn(move || forward_answers(server, client, &faults, &asked));
            }
        });
        FaultProxy { addr, faults }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every answer until `release`.
    pub fn stall(&self) {
        self.faults.stalled.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.faults.stalled.store(false, Ordering::SeqCst);
    }

    /// Delays the start of every answer by `delay` (zero: off).
    pub fn delay_answers(&self, delay: Duration) {
        self.faults.answer_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Cuts the connection that carries the answer byte `bytes` from now on (once).
    pub fn cut_answers_after(&self, bytes: u64) {
        let now = self.faults.answer_bytes.load(Ordering::SeqCst);
        self.faults.cut_answers_at.store(now + bytes, Ordering::SeqCst);
    }

    /// Cuts the connection that carries the request byte `bytes` from now on (once).
    pub fn cut_requests_after(&self, bytes: u64) {
        let now = self.faults.request_bytes.load(Ordering::SeqCst);
        self.faults.cut_requests_at.store(now + bytes, Ordering::SeqCst);
    }

    /// Whether an armed cut happened.
    pub fn has_cut(&self) -> bool {
        self.faults.cut_answers_at.load(Ordering::SeqCst) == UNARMED
            && self.faults.cut_requests_at.load(Ordering::SeqCst) == UNARMED
    }

    /// Request bytes forwarded so far.
    pub fn request_bytes(&self) -> u64 {
        self.faults.request_bytes.load(Ordering::SeqCst)
    }

    /// Cuts every connection open now (an upstream whose process died).
    pub fn cut_all(&self) {
        for (client, server) in self.faults.open.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.release();
        self.cut_all();
    }
}

/// Takes `read` more bytes into `total`; how many of them may pass before an armed cut at
/// `cut_at` (then disarmed), or `None` when all may.
fn passing(total: &AtomicU64, cut_at: &AtomicU64, read: usize) -> Option<usize> {
    let before = total.fetch_add(read as u64, Ordering::SeqCst);
    let at = cut_at.load(Ordering::SeqCst);
    if at == UNARMED || before + read as u64 <= at {
        return None;
    }
    cut_at.store(UNARMED, Ordering::SeqCst);
    Some(at.saturating_sub(before) as usize)
}

fn cut(from: &TcpStream, to: &TcpStream) {
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn forward_requests(mut from: TcpStream, mut to: TcpStream, faults: &Faults, asked: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        asked.store(true, Ordering::SeqCst);
        if let Some(allowed) = passing(&faults.request_bytes, &faults.cut_requests_at, read) {
            let _ = to.write_all(&buffer[..allowed]);
            cut(&from, &to);
            return;
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn forward_answers(mut from: TcpStream, mut to: TcpStream, faults: &Faults, asked: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if asked.swap(false, Ordering::SeqCst) {
            let delay = faults.answer_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
        }
        while faults.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(HOLD_POLL);
        }
        if let Some(allowed) = passing(&faults.answer_bytes, &faults.cut_answers_at, read) {
            let _ = to.write_all(&buffer[..allowed]);
            cut(&from, &to);
            return;
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

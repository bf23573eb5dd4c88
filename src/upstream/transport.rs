//! One connection to the upstream: a plain or TLS stream with a read buffer, every read and
//! write under a deadline, and the connect path (name lookup off the core, TCP_NODELAY, TLS
//! handshake with the endpoint's host name).
//!
//! A connection is used by one exchange at a time and is dropped after any error: an error
//! can leave the byte stream (or the TLS session) at an unknown point.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::ServerName;

use super::error::{Stage, TransportError};
use crate::limits::{UPSTREAM_CONNECTION_BUFFER_BYTES, UPSTREAM_DNS_TTL_MS};

enum Stream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl Stream {
    async fn read<T: IoBufMut>(&mut self, buffer: T) -> monoio::BufResult<usize, T> {
        match self {
            Stream::Plain(stream) => stream.read(buffer).await,
            Stream::Tls(stream) => stream.read(buffer).await,
        }
    }

    async fn write_all<T: IoBuf>(&mut self, buffer: T) -> monoio::BufResult<usize, T> {
        match self {
            Stream::Plain(stream) => stream.write_all(buffer).await,
            Stream::Tls(stream) => stream.write_all(buffer).await,
        }
    }
}

/// Where a connection goes: the host it is for (a pool key, and the TLS server name) and
/// its port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// Host as written (IPv6 in brackets).
    pub(crate) host: Rc<str>,
    pub(crate) port: u16,
}

pub(crate) struct Connection {
    stream: Stream,
    /// Bytes read and not consumed yet: `buffer[start..]`.
    buffer: Vec<u8>,
    start: usize,
    pub(crate) target: Target,
    /// Whether an earlier exchange used this connection (it came from the pool).
    pub(crate) reused: bool,
    /// When it was last put back into the pool.
    pub(crate) idle_since: Instant,
}

impl Connection {
    /// Bytes received and not consumed yet.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    pub(crate) fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.buffer.len());
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes after the unread ones, growing the buffer up to `capacity_max`.
    /// `Ok(0)`: end of stream, or the buffer is full at `capacity_max`.
    pub(crate) async fn read_more(&mut self, timeout: Duration, capacity_max: usize) -> io::Result<usize> {
        if self.start > 0 {
            self.buffer.copy_within(self.start.., 0);
            self.buffer.truncate(self.buffer.len() - self.start);
            self.start = 0;
        }
        if self.buffer.len() == self.buffer.capacity() {
            if self.buffer.len() >= capacity_max {
                return Ok(0);
            }
            let grow = self.buffer.capacity().max(1).min(capacity_max - self.buffer.len());
            self.buffer.reserve_exact(grow);
        }
        let buffer = std::mem::take(&mut self.buffer);
        let (length, capacity) = (buffer.len(), buffer.capacity());
        let read = self.stream.read(SliceMut::new(buffer, length, capacity));
        let (result, slice) = monoio::time::timeout(timeout, read).await.map_err(|_| timed_out())?;
        self.buffer = slice.into_inner();
        result
    }

    /// Reads up to `count` bytes straight into the spare capacity of `out` (nothing may be
    /// buffered unread): length-framed bodies skip the connection buffer.
    pub(crate) async fn read_direct(
        &mut self,
        out: Vec<u8>,
        count: usize,
        timeout: Duration,
    ) -> (io::Result<usize>, Option<Vec<u8>>) {
        debug_assert!(self.unread().is_empty());
        let length = out.len();
        let end = length + count.min(out.capacity() - length);
        let read = self.stream.read(SliceMut::new(out, length, end));
        match monoio::time::timeout(timeout, read).await {
            Ok((result, slice)) => (result, Some(slice.into_inner())),
            // The cancelled read owned the buffer; the caller drops the connection anyway.
            Err(_) => (Err(timed_out()), None),
        }
    }

    /// Writes all of `bytes` and hands the buffer back. On an error or timeout the buffer is
    /// lost with the connection.
    pub(crate) async fn write_all<B: IoBuf + 'static>(&mut self, bytes: B, timeout: Duration) -> io::Result<B> {
        match monoio::time::timeout(timeout, self.stream.write_all(bytes)).await {
            Ok((Ok(_), bytes)) => Ok(bytes),
            Ok((Err(error), _)) => Err(error),
            Err(_) => Err(timed_out()),
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "upstream too slow")
}

/// Opens a connection to `target` within `timeout` (lookup, TCP connect and TLS handshake
/// together), trying each resolved address in turn.
pub(crate) async fn connect(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
    resolver: &Resolver,
    timeout: Duration,
) -> Result<Connection, TransportError> {
    let deadline = Instant::now() + timeout;
    let remaining = |stage| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| TransportError::timed_out(stage, timeout.as_millis() as u64))
    };
    let addresses = resolver.resolve(target, remaining(Stage::Resolve)?).await?;
    let mut last = TransportError::new(Stage::Connect, io::ErrorKind::NotFound, format!("{}: no address", target.host));
    let mut connected = None;
    for address in addresses {
        match monoio::time::timeout(remaining(Stage::Connect)?, TcpStream::connect_addr(address)).await {
            Ok(Ok(stream)) => {
                connected = Some(stream);
                break;
            }
            Ok(Err(error)) => last = TransportError::new(Stage::Connect, error.kind(), format!("{address}: {error}")),
            Err(_) => return Err(TransportError::timed_out(Stage::Connect, timeout.as_millis() as u64)),
        }
    }
    let stream = connected.ok_or(last)?;
    // Request heads and small documents go out at once rather than waiting for an ACK.
    stream.set_nodelay(true).map_err(|error| TransportError::io(Stage::Connect, &error))?;
    let stream = match tls {
        None => Stream::Plain(stream),
        Some(config) => {
            let name = server_name(&target.host)?;
            let connector = TlsConnector::from(config.clone());
            let handshake = connector.connect(name, stream);
            match monoio::time::timeout(remaining(Stage::Tls)?, handshake).await {
                Ok(Ok(stream)) => Stream::Tls(Box::new(stream)),
                Ok(Err(error)) => {
                    let error = io::Error::from(error);
                    return Err(TransportError::new(Stage::Tls, error.kind(), format!("{}: {error}", target.host)));
                }
                Err(_) => return Err(TransportError::timed_out(Stage::Tls, timeout.as_millis() as u64)),
            }
        }
    };
    Ok(Connection {
        stream,
        buffer: Vec::with_capacity(UPSTREAM_CONNECTION_BUFFER_BYTES),
        start: 0,
        target: target.clone(),
        reused: false,
        idle_since: Instant::now(),
    })
}

/// The name TLS verifies the certificate against: the host, or its IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, TransportError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(address.into()));
    }
    ServerName::try_from(bare.to_string())
        .map_err(|_| TransportError::new(Stage::Tls, io::ErrorKind::InvalidInput, format!("{host}: not a host name")))
}

/// Host name lookups of one core, cached for `UPSTREAM_DNS_TTL_MS`. `getaddrinfo` blocks, so
/// a lookup runs on a thread of its own and the core awaits its answer.
#[derive(Default)]
pub(crate) struct Resolver {
    cache: RefCell<HashMap<Target, (Vec<SocketAddr>, Instant)>>,
}

impl Resolver {
    async fn resolve(&self, target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, TransportError> {
        let bare = target.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(address, target.port)]);
        }
        if let Some((addresses, at)) = self.cache.borrow().get(target) {
            if at.elapsed() < Duration::from_millis(UPSTREAM_DNS_TTL_MS) {
                return Ok(addresses.clone());
            }
        }
        let (sender, receiver) = futures_channel::oneshot::channel();
        let (name, port) = (bare.to_string(), target.port);
        std::thread::Builder::new()
            .name("s3core-resolve".into())
            .spawn(move || {
                let _ = sender.send((name.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>));
            })
            .map_err(|error| TransportError::io(Stage::Resolve, &error))?;
        let answer = monoio::time::timeout(timeout, receiver)
            .await
            .map_err(|_| TransportError::timed_out(Stage::Resolve, timeout.as_millis() as u64))?;
        let lost = || TransportError::new(Stage::Resolve, io::ErrorKind::Other, "the lookup thread stopped");
        let addresses = answer
            .map_err(|_| lost())?
            .map_err(|error| TransportError::new(Stage::Resolve, error.kind(), format!("{}: {error}", target.host)))?;
        if addresses.is_empty() {
            return Err(TransportError::new(
                Stage::Resolve,
                io::ErrorKind::NotFound,
                format!("{}: no address", target.host),
            ));
        }
        self.cache.borrow_mut().insert(target.clone(), (addresses.clone(), Instant::now()));
        Ok(addresses)
    }
}

/// The idle keep-alive connections of one core: at most `max`, none older than `idle`.
/// Most recently used first out (the one least likely closed by the upstream).
pub(crate) struct Pool {
    idle: RefCell<Vec<Connection>>,
    max: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: RefCell::new(Vec::new()), max, idle_timeout }
    }

    /// An idle connection to `target`, if one is fresh enough; stale ones are closed.
    pub(crate) fn take(&self, target: &Target) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        let timeout = self.idle_timeout;
        idle.retain(|connection| connection.idle_since.elapsed() < timeout);
        let position = idle.iter().rposition(|connection| connection.target == *target)?;
        let mut connection = idle.remove(position);
        connection.reused = true;
        Some(connection)
    }

    /// Keeps a connection whose last exchange ended cleanly; beyond `max`, the oldest goes.
    pub(crate) fn put(&self, mut connection: Connection) {
        if self.max == 0 || !connection.unread().is_empty() {
            return;
        }
        connection.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= self.max {
            idle.remove(0);
        }
        idle.push(connection);
    }

    /// Idle connections now (tests and logs).
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }
}

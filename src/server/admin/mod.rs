//! The admin listener: a thread of its own with a small runtime, on its own address
//! (`--admin-listen`), so nothing it serves can collide with a bucket name and a slow scrape
//! never takes a request core's time.
//!
//! | path | what | auth |
//! |---|---|---|
//! | `/health/live` | 200 while the process runs | none |
//! | `/health/ready` | 200 once every core serves; 503 while starting or draining, when a shard's journal is fenced, the data directory is read-only, or a core does not answer | none |
//! | `/metrics` | Prometheus text (`metrics`) | bearer token if configured |
//! | `/status.json` | the numbers of the status page (`status`) | bearer token if configured |
//! | `/` | the status page (static HTML polling `/status.json`) | none (it holds no data) |
//!
//! A scrape sends one message to each core's control mailbox and merges the copies they send
//! back (`control::CoreSnapshot`); nothing of a core is read from this thread.

mod lake_metrics;
mod metrics;
mod scrape;
mod status;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use http::Method;
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use monoio::{FusionDriver, RuntimeBuilder};

use super::lifecycle::Lifecycle;
use super::StartError;
use crate::http::connection::Connection;
use crate::http::request::RequestHead;
use crate::limits::{ADMIN_CONNECTIONS_MAX, ADMIN_REQUEST_TIMEOUT_MS, REQUEST_HEAD_BYTES_MAX};

/// What the admin listener needs besides the lifecycle.
pub(crate) struct AdminSettings {
    pub(crate) token: Option<String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) cores: usize,
}

/// Accept backlog of the admin listener (scrapers and probes are few).
const ADMIN_LISTEN_BACKLOG: i32 = 128;

struct Admin {
    lifecycle: Arc<Lifecycle>,
    settings: AdminSettings,
    open_connections: std::cell::Cell<usize>,
}

/// Binds `listen` and serves it on a thread of its own; returns the bound address.
pub(crate) fn start(
    listen: SocketAddr,
    lifecycle: Arc<Lifecycle>,
    settings: AdminSettings,
) -> Result<SocketAddr, StartError> {
    let (ready_sender, ready) = mpsc::channel();
    std::thread::Builder::new()
        .name("s3core-admin".into())
        .spawn(move || {
            let runtime = RuntimeBuilder::<FusionDriver>::new().enable_timer().build();
            let mut runtime = match runtime {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready_sender.send(Err(format!("admin listener: cannot build a runtime: {error}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let options = ListenerOpts::new().reuse_addr(true).backlog(ADMIN_LISTEN_BACKLOG);
                let listener = match TcpListener::bind_with_config(listen, &options) {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = ready_sender.send(Err(format!("cannot listen on {listen} (--admin-listen): {error}")));
                        return;
                    }
                };
                let _ = ready_sender.send(listener.local_addr().map_err(|error| error.to_string()));
                let admin = Rc::new(Admin { lifecycle, settings, open_connections: std::cell::Cell::new(0) });
                accept_loop(listener, admin).await;
            });
        })
        .map_err(|error| StartError(format!("cannot start the admin listener: {error}")))?;
    ready.recv().map_err(|_| StartError("the admin listener stopped while starting".into()))?.map_err(StartError)
}

async fn accept_loop(listener: TcpListener, admin: Rc<Admin>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                log::warn!("admin listener: accept failed: {error}");
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if admin.open_connections.get() >= ADMIN_CONNECTIONS_MAX {
            continue;
        }
        let _ = stream.set_nodelay(true);
        admin.open_connections.set(admin.open_connections.get() + 1);
        let admin = admin.clone();
        monoio::spawn(async move {
            serve(&admin, stream).await;
            admin.open_connections.set(admin.open_connections.get() - 1);
        });
    }
}

/// An answer of the admin listener.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// `WWW-Authenticate` for a missing or wrong token.
    challenge: bool,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, content_type: "text/plain; charset=utf-8", body: body.into().into_bytes(), challenge: false }
    }
}

async fn serve(admin: &Admin, stream: TcpStream) {
    let mut connection = Connection::new(stream);
    let mut head = RequestHead::default();
    loop {
        let consumed = loop {
            match head.parse(connection.unread()) {
                Ok(Some(consumed)) => break consumed,
                Ok(None) => {}
                Err(_) => return,
            }
            match connection.read_more(ADMIN_REQUEST_TIMEOUT_MS, REQUEST_HEAD_BYTES_MAX).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        connection.consume(consumed);
        // The admin endpoints take no bodies: a request with one ends the connection after
        // its answer, so its bytes are never read as a next request.
        let has_body = head.header("transfer-encoding").is_some()
            || head.header("content-length").is_some_and(|length| length.trim() != "0");
        let reply = route(admin, &head).await;
        let keep_alive = head.wants_keep_alive() && !has_body;
        let mut out = Vec::with_capacity(reply.body.len() + 256);
        let reason = http::StatusCode::from_u16(reply.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", reply.status).as_bytes());
        out.extend_from_slice(format!("Content-Type: {}\r\n", reply.content_type).as_bytes());
        out.extend_from_slice(format!("Content-Length: {}\r\n", reply.body.len()).as_bytes());
        out.extend_from_slice(b"Cache-Control: no-store\r\n");
        if reply.challenge {
            out.extend_from_slice(b"WWW-Authenticate: Bearer realm=\"s3core\"\r\n");
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
        if head.method != Method::HEAD {
            out.extend_from_slice(&reply.body);
        }
        if connection.write_all(out).await.is_err() || !keep_alive {
            return;
        }
    }
}

async fn route(admin: &Admin, head: &RequestHead) -> Reply {
    if head.method != Method::GET && head.method != Method::HEAD {
        return Reply::text(405, "only GET and HEAD\n");
    }
    let path = head.target.split_once('?').map_or(head.target.as_str(), |(path, _)| path);
    match path {
        "/health/live" => Reply::text(200, "live\n"),
        "/health/ready" => match scrape::readiness(&admin.lifecycle, &admin.settings.data_dir).await {
            Ok(()) => Reply::text(200, "ready\n"),
            Err(reason) => Reply::text(503, format!("not ready: {reason}\n")),
        },
        "/metrics" | "/status.json" if !authorized(admin, head) => {
            Reply { challenge: true, ..Reply::text(401, "a bearer token is required (--metrics-token)\n") }
        }
        "/metrics" => {
            let scraped = scrape::scrape(&admin.lifecycle, &admin.settings).await;
            Reply {
                status: 200,
                content_type: crate::metrics::Exposition::content_type(),
                body: metrics::render(&scraped).into_bytes(),
                challenge: false,
            }
        }
        "/status.json" => {
            let scraped = scrape::scrape(&admin.lifecycle, &admin.settings).await;
            Reply {
                status: 200,
                content_type: "application/json",
                body: status::json(&scraped, &admin.lifecycle).into_bytes(),
                challenge: false,
            }
        }
        "/" | "/index.html" => Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: status::PAGE.as_bytes().to_vec(),
            challenge: false,
        },
        _ => Reply::text(404, "not found: /metrics, /health/live, /health/ready, /status.json, /\n"),
    }
}

/// Whether the request carries the configured bearer token (compared in constant time).
fn authorized(admin: &Admin, head: &RequestHead) -> bool {
    let Some(token) = &admin.settings.token else { return true };
    let offered = head.header("authorization").and_then(|value| value.strip_prefix("Bearer ")).unwrap_or("");
    crate::s3::auth::constant_time_eq(offered.trim().as_bytes(), token.as_bytes())
}

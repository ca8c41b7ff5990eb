//! Serving connections: what `axum::serve` does, plus the limits that keep one client from
//! taking the server away from everyone else:
//! - a cap on open connections, in all and per client address, with a log line when it is hit;
//! - a deadline for a request's headers (slow headers), a deadline for each request, its body
//!   included (slow bodies, answered 408), and an idle timeout between requests;
//! - a bounded read buffer per connection.
//!
//! A connection over a client's cap gets a short `503` and is closed at once, before any of it
//! is read. At the cap in all, a new connection takes the place of the oldest connection that has
//! not yet been answered a successful request (a slow header or a slow body, most likely): many
//! addresses holding half-sent requests must not lock everyone else out. Only when every open
//! connection has been answered is a new one refused.
//! The per-client cap uses the TCP peer address; behind a reverse proxy every connection comes
//! from the proxy, so raise `max_connections_per_client` there (or set it to 0) and let the proxy
//! bound its clients.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use std::collections::VecDeque;
use std::sync::Weak;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// How much a server lets its clients take.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// 0: no cap per client.
    pub max_connections_per_client: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The reply to a connection over a cap: written without waiting, then the socket is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 67\r\n\r\n{\"error\":\"too many connections; try again in a moment, with fewer\"}";

/// Open connections per client address.
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of a client; leaving frees its place.
struct ClientSlot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Clients {
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<ClientSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(ClientSlot { clients: self.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Counts refusals and logs them at most every ten seconds, so that a flood does not flood the
/// log too.
struct Refusals {
    since_log: AtomicU64,
    last: Mutex<Option<Instant>>,
    total: Counter,
}

impl Refusals {
    fn note(&self, why: &str, client: IpAddr) {
        self.total.inc();
        let n = self.since_log.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            self.since_log.store(0, Ordering::Relaxed);
            tracing::warn!(%client, refused = n, "{why}: new connections are refused with 503 until some close");
        }
    }
}

/// What a connection's watchdog needs to know: when bytes last moved, and whether a request is
/// being answered (then silence is the handler thinking, not an idle client).
#[derive(Default)]
struct Activity {
    started: Option<Instant>,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// A request on it was answered with a success: a real client, never evicted.
    proven: AtomicBool,
    evicted: AtomicBool,
    evict: Notify,
}

/// Every open connection, and the ones that may be evicted, oldest first.
struct Pool {
    max: usize,
    open: AtomicUsize,
    unproven: Mutex<VecDeque<Weak<Activity>>>,
    emptied: Notify,
    evictions: Counter,
    last_log: Mutex<Option<Instant>>,
}

/// One open connection's place in the pool.
struct PoolSlot(Arc<Pool>);

impl Drop for PoolSlot {
    fn drop(&mut self) {
        let was = self.0.open.fetch_sub(1, Ordering::AcqRel);
        if was == 1 || was > self.0.max {
            self.0.emptied.notify_waiters();
        }
    }
}

/// Why a connection found no place.
enum NoPlace {
    /// Every open connection has been answered: the cap is really reached.
    Full,
    /// Evicted connections have not closed yet.
    Closing,
}

impl Pool {
    /// A place for a new connection: a free one, or the place of the oldest connection not yet
    /// proven, which is told to close.
    fn enter(self: &Arc<Self>, activity: &Arc<Activity>) -> Result<PoolSlot, NoPlace> {
        let mut unproven = self.unproven.lock().unwrap_or_else(|e| e.into_inner());
        let open = self.open.load(Ordering::Acquire);
        if open >= self.max {
            // An evicted connection frees its place a moment later; past this margin, wait for it.
            if open >= self.max + EVICTION_MARGIN {
                return Err(NoPlace::Closing);
            }
            let victim = std::iter::from_fn(|| unproven.pop_front())
                .filter_map(|w| w.upgrade())
                .find(|a| !a.proven.load(Ordering::Acquire) && !a.evicted.swap(true, Ordering::AcqRel));
            let victim = victim.ok_or(NoPlace::Full)?;
            victim.evict.notify_one();
            self.evictions.inc();
            let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::warn!(
                    cap = self.max,
                    "the connection cap is reached: connections never answered are closed, oldest first, to make room"
                );
            }
        }
        // Ended and proven connections leave their entries behind; sweep them out now and then.
        if unproven.len() >= 2 * self.max.max(64) {
            unproven.retain(|w| w.upgrade().is_some_and(|a| !a.proven.load(Ordering::Acquire)));
        }
        unproven.push_back(Arc::downgrade(activity));
        // Only the accept loop enters, under the lock: the count read above still holds.
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(PoolSlot(self.clone()))
    }

    /// `enter`, waiting a moment for evicted connections to close rather than refusing.
    async fn enter_soon(self: &Arc<Self>, activity: &Arc<Activity>) -> Result<PoolSlot, NoPlace> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
        loop {
            let freed = self.emptied.notified();
            match self.enter(activity) {
                Err(NoPlace::Closing) => {
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        return Err(NoPlace::Closing);
                    }
                }
                other => return other,
            }
        }
    }

    async fn until_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            emptied.await;
        }
    }
}

/// How far the pool may run over its cap while evicted connections close.
const EVICTION_MARGIN: usize = 64;

impl Activity {
    fn touch(&self) {
        if let Some(s) = self.started {
            self.last_ms.store(s.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
    }

    fn idle_for(&self) -> Duration {
        let now = self.started.map_or(0, |s| s.elapsed().as_millis() as u64);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A socket that records its activity.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Decrements the in-flight count when a request's answer is done (or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets open
/// requests finish for up to `grace`, and returns. `refused` counts connections turned away.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    refused: Counter,
    evicted: Counter,
) {
    let max = limits.max_connections.max(1);
    let pool = Arc::new(Pool {
        max,
        open: AtomicUsize::new(0),
        unproven: Mutex::default(),
        emptied: Notify::new(),
        evictions: evicted,
        last_log: Mutex::default(),
    });
    let clients = Arc::new(Clients::default());
    let refusals = Arc::new(Refusals { since_log: AtomicU64::new(0), last: Mutex::new(None), total: refused });
    let (close_tx, close_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut accept_error_logged: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, most often: wait for connections to close rather
                    // than spin on the error.
                    if accept_error_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "cannot accept connections");
                        accept_error_logged = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = clients.enter(peer.ip(), limits.max_connections_per_client) else {
            let _ = stream.try_write(BUSY);
            refusals.note(&format!("a client is at its cap of {} connections", limits.max_connections_per_client), peer.ip());
            continue;
        };
        let activity = Arc::new(Activity { started: Some(Instant::now()), ..Activity::default() });
        let Ok(permit) = pool.enter_soon(&activity).await else {
            let _ = stream.try_write(BUSY);
            refusals.note(&format!("the connection cap ({max}) is reached and every connection is in use"), peer.ip());
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let limits = limits.clone();
        let close = close_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, activity, router, &limits, close).await;
            drop(slot);
            drop(permit);
        });
    }
    let _ = close_tx.send(true);
    if tokio::time::timeout(grace, pool.until_empty()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {grace:?}; stopping anyway");
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    activity: Arc<Activity>,
    router: Router,
    limits: &Limits,
    mut close: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        on_request.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(on_request.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(req.map(axum::body::Body::new)).await;
            if response.as_ref().is_ok_and(|r| r.status().is_success() || r.status().is_redirection()) {
                guard.0.proven.store(true, Ordering::Release);
            }
            drop(guard);
            response
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(64 * 1024);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(64);
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut closing = false;
    loop {
        let wait = limits.idle_timeout.saturating_sub(activity.idle_for()).max(Duration::from_millis(100));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.evict.notified() => {
                tracing::debug!(client = %peer, "closing a connection that was never answered, to make room");
                return;
            }
            changed = close.changed(), if !closing => {
                closing = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep(wait) => {
                if activity.in_flight.load(Ordering::Relaxed) == 0 && activity.idle_for() >= limits.idle_timeout {
                    tracing::debug!(client = %peer, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

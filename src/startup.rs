//! Building and running the long-lived process: HTTP API, dashboard and (when configured) the
//! Discord bot, sharing one pipeline and one database.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::classify::Classifier;
use crate::config::Config;
use crate::http::{self, metrics::Metrics, AppState, AuthLimiter, Sessions};
use crate::pipeline::Pipeline;
use crate::store::{Store, StoreOptions};

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// Everything `Application::build` needs; tests fill it directly.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `TRIAGE_API_TOKEN`.
    pub api_token: Option<String>,
    /// `DISCORD_TOKEN`.
    pub discord_token: Option<String>,
    pub database: crate::store::DatabaseLocation,
    pub rules: Option<PathBuf>,
    pub config: Config,
    /// Helpdesk connectors; `None`: built from `[helpdesk.*]` and the environment's secrets.
    pub connectors: Option<crate::helpdesk::Connectors>,
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pipeline: Pipeline,
    address: SocketAddr,
    loopback_forced: bool,
    discord: Option<crate::discord::Bot>,
    limits: http::server::Limits,
    metrics: Arc<Metrics>,
    connectors: crate::helpdesk::Connectors,
    outbox: crate::helpdesk::outbox::Outbox,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        crate::redact::check_builtin()
            .map_err(|e| anyhow::anyhow!("the built-in secret rules do not load ({e}); this build must not run"))?;
        let connectors = match settings.connectors.clone() {
            Some(c) => c,
            None => crate::helpdesk::Connectors::from_env(&settings.config.helpdesk)?,
        };
        let outbox = crate::helpdesk::outbox::Outbox::default();
        let classifier = Arc::new(Classifier::load(settings.rules.as_deref())?.with_threshold(settings.config.threshold));
        let store = Store::connect(&settings.database, StoreOptions { max_mb: settings.config.database_max_mb }).await?;
        let pipeline = Pipeline::new(classifier, store, settings.config.policy());
        let api_token = settings.api_token.and_then(|t| api_token(&t));
        // Without a token the API is open, so it must not be reachable from other machines.
        let mut listen = settings.listen;
        let loopback_forced = api_token.is_none() && !listen.ip().is_loopback();
        if loopback_forced {
            listen.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let listener =
            listen_on(listen).with_context(|| format!("cannot listen on {listen}; is another process using it? pass another --listen"))?;
        let address = listener.local_addr().context("cannot read the bound address")?;
        let instance = instance_name(settings.config.http.instance.as_deref(), address.port());
        let metrics = Arc::new(Metrics::for_replica(&instance));
        let http_config = settings.config.http.clone();
        let state = AppState {
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            api_token: api_token.map(Arc::from),
            sessions: Sessions::default(),
            auth_limiter: AuthLimiter::new(http_config.auth_failures_per_minute),
            secure_cookies: http_config.secure_cookies,
            connectors: connectors.clone(),
            outbox: outbox.clone(),
            instance: Arc::from(instance.as_str()),
        };
        let router = http::router(state, &http_config);
        let limits = server_limits(&http_config);
        let discord = match settings.discord_token.filter(|t| !t.trim().is_empty()) {
            Some(token) => {
                Some(crate::discord::Bot::start(token, settings.config.discord.clone(), pipeline.clone(), metrics.clone()).await?)
            }
            None => None,
        };
        Ok(Application { listener, router, pipeline, address, loopback_forced, discord, limits, metrics, connectors, outbox })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish,
    /// stops the bot and closes the database.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        if self.loopback_forced {
            tracing::warn!(
                "TRIAGE_API_TOKEN is not set, so the API is open and listens on loopback only ({}); set a token to listen elsewhere",
                self.address
            );
        }
        tracing::info!("dashboard and API on http://{}/", self.address);
        tracing::info!(
            max_connections = self.limits.max_connections,
            per_client = self.limits.max_connections_per_client,
            "connection limits"
        );
        // Stops accepting on the signal, then gives in-flight requests a bounded grace period: a
        // hung client must not keep the process (and the database) open forever.
        let (stop_outbox, outbox_stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = (!self.connectors.is_empty()).then(|| {
            for c in self.connectors.iter() {
                tracing::info!(helpdesk = c.helpdesk.as_str(), url = %c.config.url, "helpdesk connector on");
            }
            let stopped = async move {
                let _ = outbox_stopped.await;
            };
            tokio::spawn(self.outbox.clone().run(self.pipeline.store().clone(), self.connectors.clone(), self.metrics.clone(), stopped))
        });
        let refused = self.metrics.connections_refused.clone();
        let evicted = self.metrics.connections_evicted.clone();
        http::server::serve(self.listener, self.router, self.limits, shutdown, http::SHUTDOWN_GRACE, refused, evicted).await;
        let _ = stop_outbox.send(());
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(bot) = self.discord {
            bot.shutdown().await;
        }
        self.pipeline.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `TRIAGE_API_TOKEN` as clients will send it. Surrounding whitespace (a trailing newline from
/// `$(cat token.txt)`) would lock every client out without a word, so it is trimmed, with a
/// warning; an empty token means no token.
fn api_token(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() != raw.len() {
        tracing::warn!("TRIAGE_API_TOKEN has spaces or line breaks around it; they were removed (clients send the token without them)");
    }
    Some(trimmed.to_string())
}

/// The connection limits, kept under the file-descriptor limit (raised to its hard maximum
/// first): past it, accepting fails for everyone, `/healthz` included.
fn server_limits(http: &crate::config::HttpConfig) -> http::server::Limits {
    let fds = raise_fd_limit();
    let mut max = http.max_connections;
    if let Some(fds) = fds {
        // Room for the database, the log, the Discord gateway and a margin.
        let room = fds.saturating_sub(128).max(16) as usize;
        if max > room {
            tracing::warn!(
                configured = max,
                fd_limit = fds,
                "http.max_connections is above what the file-descriptor limit allows; using {room}"
            );
            max = room;
        }
    }
    http::server::Limits {
        max_connections: max,
        max_connections_per_client: http.max_connections_per_client,
        header_timeout: http.header_timeout,
        idle_timeout: http.idle_timeout,
    }
}

/// Raises the soft limit on open files to the hard one, and returns it.
fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let wanted = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Binds with a long accept queue. Under a connection flood the kernel drops SYNs once the queue
/// is full, and a dropped SYN costs the client a full second before it retries: a load balancer's
/// health check would read that as an outage. The kernel caps the length at `somaxconn`.
fn listen_on(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

const LISTEN_BACKLOG: u32 = 8192;

/// This process's name among replicas: `[http] instance` (which `TRIAGE_INSTANCE` overrides,
/// in `triage serve`), or the host name and the port it serves on (two processes on one
/// machine differ by port).
fn instance_name(configured: Option<&str>, port: u16) -> String {
    match configured.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_string(),
        None => format!("{}:{port}", host_name()),
    }
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is what gethostname is told; the
    // name is read only up to its first NUL, within the buffer.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "triage".to_string(),
    }
}

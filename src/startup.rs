//! Building and running the long-lived process: HTTP API, dashboard and (when configured) the
//! Discord bot, sharing one pipeline and one database.

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::classify::Classifier;
use crate::config::Config;
use crate::http::{self, metrics::Metrics, AppState, Sessions};
use crate::pipeline::Pipeline;
use crate::store::Store;

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// Everything `Application::build` needs; tests fill it directly.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `TRIAGE_API_TOKEN`.
    pub api_token: Option<String>,
    /// `DISCORD_TOKEN`.
    pub discord_token: Option<String>,
    pub database: PathBuf,
    pub rules: Option<PathBuf>,
    pub config: Config,
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pipeline: Pipeline,
    address: SocketAddr,
    loopback_forced: bool,
    discord: Option<crate::discord::Bot>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let classifier = Arc::new(Classifier::load(settings.rules.as_deref())?.with_threshold(settings.config.threshold));
        let store = Store::open(&settings.database).await?;
        let pipeline = Pipeline::new(classifier, store, settings.config.policy());
        let api_token = settings.api_token.filter(|t| !t.trim().is_empty());
        // Without a token the API is open, so it must not be reachable from other machines.
        let mut listen = settings.listen;
        let loopback_forced = api_token.is_none() && !listen.ip().is_loopback();
        if loopback_forced {
            listen.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}; is another process using it? pass another --listen"))?;
        let address = listener.local_addr().context("cannot read the bound address")?;
        let metrics = Arc::new(Metrics::default());
        let state = AppState {
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            api_token: api_token.map(Arc::from),
            sessions: Sessions::default(),
        };
        let router = http::router(state, settings.config.http.max_body_bytes);
        let discord = match settings.discord_token.filter(|t| !t.trim().is_empty()) {
            Some(token) => Some(crate::discord::Bot::start(token, settings.config.discord.clone(), pipeline.clone(), metrics).await?),
            None => None,
        };
        Ok(Application { listener, router, pipeline, address, loopback_forced, discord })
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
        // Stop accepting on the signal, then give in-flight requests a bounded grace period: a
        // hung client must not keep the process (and the database) open forever.
        let (signalled_tx, mut signalled) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            let _ = signalled_tx.send(true);
        };
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(signal).into_future();
        let grace = async move {
            while !*signalled.borrow() {
                if signalled.changed().await.is_err() {
                    return std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(http::SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            r = server => r.context("the HTTP server failed"),
            () = grace => {
                tracing::warn!("in-flight requests did not finish within {:?}; stopping anyway", http::SHUTDOWN_GRACE);
                Ok(())
            }
        };
        if let Some(bot) = self.discord {
            bot.shutdown().await;
        }
        self.pipeline.store().close().await;
        tracing::info!("stopped");
        result
    }
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

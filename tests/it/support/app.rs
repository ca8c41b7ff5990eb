//! The application on port 0 with a temporary database, for tests that drive it over HTTP.

use std::net::SocketAddr;

use triage::config::Config;
use triage::startup::{Application, Settings};

pub const API_TOKEN: &str = "s3cret-api-token";

pub struct TestApp {
    pub base: String,
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app(api_token: Option<&str>, listen: &str) -> TestApp {
    let mut config = Config::default();
    config.http.max_body_bytes = 8 * 1024;
    spawn_app_with(config, api_token, listen).await
}

pub async fn spawn_app_with(config: Config, api_token: Option<&str>, listen: &str) -> TestApp {
    spawn_app_with_connectors(config, api_token, listen, None).await
}

/// With the API token, on a fresh database of the test's backend.
pub async fn spawn_app_on(db: &super::db::TestDb) -> TestApp {
    let mut config = Config::default();
    config.http.max_body_bytes = 8 * 1024;
    spawn(config, Some(API_TOKEN), "127.0.0.1:0", None, Some(db.location.clone())).await
}

/// With helpdesk connectors made by the test (their secrets are not in the environment).
pub async fn spawn_app_with_connectors(
    config: Config,
    api_token: Option<&str>,
    listen: &str,
    connectors: Option<triage::helpdesk::Connectors>,
) -> TestApp {
    spawn(config, api_token, listen, connectors, None).await
}

async fn spawn(
    config: Config,
    api_token: Option<&str>,
    listen: &str,
    connectors: Option<triage::helpdesk::Connectors>,
    database: Option<triage::store::DatabaseLocation>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        listen: listen.parse().unwrap(),
        api_token: api_token.map(str::to_string),
        discord_token: None,
        database: database.unwrap_or_else(|| dir.path().join("cases.db").into()),
        rules: None,
        config,
        connectors,
    };
    let app = Application::build(settings).await.expect("app builds");
    let address = app.address();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { base: format!("http://{address}"), address, dir, client, stop: Some(stop), handle }
}

impl TestApp {
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(API_TOKEN)
    }
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(API_TOKEN)
    }
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.handle.await;
        self.dir
    }
}

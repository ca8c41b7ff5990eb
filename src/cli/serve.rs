//! `triage serve`: the HTTP API, dashboard and Discord bot in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::startup::{shutdown_signal, Application, Settings, DEFAULT_LISTEN};
use crate::store::DatabaseLocation;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address for the API and dashboard (default 127.0.0.1:8080).
    #[arg(long, env = "TRIAGE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Discord shards this process runs, such as 0-1/4 (shards 0 and 1 of 4); overrides
    /// `[discord] shards`. Every shard when neither is set.
    #[arg(long, value_name = "FIRST-LAST/TOTAL")]
    pub shards: Option<crate::discord::ShardRange>,
}

pub async fn run(mut config: Config, rules: Option<&Path>, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    if args.shards.is_some() {
        config.discord.shards = args.shards;
    }
    if let Some(name) = std::env::var("TRIAGE_INSTANCE").ok().filter(|n| !n.trim().is_empty()) {
        config.http.instance = Some(name);
    }
    let discord_token = std::env::var("DISCORD_TOKEN").ok();
    let settings = Settings {
        listen: args.listen.or(config.http.listen).unwrap_or(DEFAULT_LISTEN),
        api_token: std::env::var("TRIAGE_API_TOKEN").ok(),
        discord_token: discord_token.clone(),
        database: DatabaseLocation::resolve(database, config.database.as_deref()),
        rules: rules.map(Path::to_path_buf),
        config,
        connectors: None,
    };
    let database = settings.database.to_string();
    let app = Application::build(settings).await?;
    eprintln!("triage: dashboard at http://{}/ (database {database})", app.address());
    if discord_token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        eprintln!("triage: Discord is off (DISCORD_TOKEN is not set); tickets and the dashboard work without it");
    }
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

//! The Discord adapter (serenity + poise).

use std::sync::Arc;

use crate::config::DiscordConfig;
use crate::http::metrics::Metrics;
use crate::pipeline::Pipeline;

pub struct Bot {
    shard_manager: Arc<serenity::gateway::ShardManager>,
    task: tokio::task::JoinHandle<()>,
}

impl Bot {
    pub async fn start(_token: String, _config: DiscordConfig, _pipeline: Pipeline, _metrics: Arc<Metrics>) -> anyhow::Result<Bot> {
        anyhow::bail!("the Discord bot is not built yet")
    }

    pub async fn shutdown(self) {
        self.shard_manager.shutdown_all().await;
        let _ = self.task.await;
    }
}

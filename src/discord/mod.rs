//! The Discord adapter: serenity for the gateway and REST, poise for slash commands.
//!
//! Handlers are thin: they turn Discord events into pipeline calls and pipeline decisions into
//! Discord messages. One handler per file in `handlers/`, one command per file in `commands/`.

mod attachments;
pub mod burst;
mod commands;
mod handlers;
mod reply;
pub mod shards;

pub use shards::ShardRange;

use std::sync::Arc;

use anyhow::Context as _;
use poise::serenity_prelude as serenity;

use crate::config::DiscordConfig;
use crate::http::metrics::Metrics;
use crate::pipeline::Pipeline;

pub type Error = anyhow::Error;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// What every handler and command shares.
pub struct Data {
    pub pipeline: Pipeline,
    pub config: DiscordConfig,
    pub metrics: Arc<Metrics>,
    pub bot_id: serenity::UserId,
    pub attachments: attachments::Reader,
    /// Threads we follow (forum posts, and threads in watched text channels), by thread id.
    pub threads: std::sync::Mutex<std::collections::HashMap<u64, Followed>>,
    /// Messages held for the rest of their burst; shared with [`Bot`], which answers them all
    /// on shutdown.
    pub bursts: Arc<burst::Bursts>,
}

/// A followed thread: whose question it is, and whether a person already helps there.
#[derive(Debug, Clone, Copy)]
pub struct Followed {
    pub owner: Option<u64>,
    pub helped: bool,
    /// It carries a `quiet_threads` tag.
    pub quiet: bool,
}

/// Threads remembered at most; past it the oldest knowledge is dropped (a thread then reads as
/// unwatched, which only makes the bot quieter).
const FOLLOWED_MAX: usize = 50_000;

impl Data {
    pub fn follow(&self, thread: u64, owner: Option<u64>, quiet: bool) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if threads.len() >= FOLLOWED_MAX {
            threads.clear();
        }
        threads.entry(thread).or_insert(Followed { owner, helped: false, quiet }).quiet = quiet;
    }

    pub fn followed(&self, thread: u64) -> Option<Followed> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner()).get(&thread).copied()
    }

    pub fn mark_helped(&self, thread: u64) {
        if let Some(f) = self.threads.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&thread) {
            f.helped = true;
        }
    }

    /// The reply channel's facts for a message now: whether its leak was deleted, and whom a
    /// recurring case pings.
    pub fn channel(&self, leak_deleted: Option<bool>) -> crate::respond::Channel {
        crate::respond::Channel {
            now: crate::pipeline::now(),
            leak_deleted,
            staff_mention: self.config.staff_role.map(|r| format!("<@&{r}>")),
            ..crate::respond::Channel::default()
        }
    }

    /// A member with the staff role or a helper role.
    pub fn is_helper(&self, member: Option<&serenity::PartialMember>) -> bool {
        member
            .is_some_and(|m| m.roles.iter().any(|r| self.config.staff_role == Some(r.get()) || self.config.helper_roles.contains(&r.get())))
    }
}

/// A running bot; dropped or shut down with the rest of `triage serve`.
pub struct Bot {
    shard_manager: Arc<serenity::ShardManager>,
    bursts: Arc<burst::Bursts>,
    task: tokio::task::JoinHandle<()>,
}

/// The gateway events the bot needs. Message Content is privileged: enable it for the
/// application in the Developer Portal.
pub fn intents() -> serenity::GatewayIntents {
    serenity::GatewayIntents::GUILDS
        | serenity::GatewayIntents::GUILD_MESSAGES
        | serenity::GatewayIntents::MESSAGE_CONTENT
        | serenity::GatewayIntents::GUILD_MESSAGE_REACTIONS
        | serenity::GatewayIntents::DIRECT_MESSAGES
}

impl Bot {
    /// Connects to Discord (or to `proxy_url`) and starts handling events in the background.
    pub async fn start(token: String, config: DiscordConfig, pipeline: Pipeline, metrics: Arc<Metrics>) -> anyhow::Result<Bot> {
        let mut http = serenity::HttpBuilder::new(&token);
        if let Some(proxy) = &config.proxy_url {
            // The proxy owns rate limiting across processes; serenity ignores the proxy while
            // its own rate limiter is on.
            http = http.proxy(proxy.trim_end_matches('/')).ratelimiter_disabled(true);
        }
        let http = http.build();
        let reader = attachments::Reader::new(&config)?;
        let shards = config.shards;
        let register = shards.is_none_or(|r| r.holds_first_shard());
        let bursts = Arc::new(burst::Bursts::default());
        let held = bursts.clone();
        let framework = poise::Framework::builder()
            .options(poise::FrameworkOptions {
                commands: vec![commands::triage(), commands::wrong_answer()],
                on_error: |error| Box::pin(on_error(error)),
                event_handler: |ctx, event, _framework, data| Box::pin(handlers::dispatch(ctx, event, data)),
                ..Default::default()
            })
            .initialize_owners(false)
            .setup(move |ctx, ready, framework| {
                Box::pin(async move {
                    tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
                    // Global commands belong to the application, not to a shard: one process
                    // registers them, or several processes would each overwrite the set.
                    if register {
                        if let Err(e) = poise::builtins::register_globally(ctx, &framework.options().commands).await {
                            tracing::warn!(error = %e, "could not register slash commands; they may be missing until the next start");
                        }
                    } else {
                        tracing::info!("slash commands are left to the process that runs shard 0");
                    }
                    Ok(Data {
                        pipeline,
                        config,
                        metrics,
                        bot_id: ready.user.id,
                        attachments: reader,
                        threads: Default::default(),
                        bursts: held,
                    })
                })
            })
            .build();
        let mut client = serenity::ClientBuilder::new_with_http(http, intents())
            .framework(framework)
            .await
            .context("cannot create the Discord client")?;
        let shard_manager = client.shard_manager.clone();
        let task = tokio::spawn(async move {
            let run = match shards {
                Some(r) => {
                    tracing::info!(shards = %r, "running Discord shards {} to {} of {}", r.first, r.last, r.total);
                    // serenity reads the range's end as the last shard to run, not one past it.
                    client.start_shard_range(r.first..r.last, r.total).await
                }
                None => client.start_autosharded().await,
            };
            if let Err(e) = run {
                tracing::error!(error = %e, "the Discord client stopped");
            }
        });
        Ok(Bot { shard_manager, bursts, task })
    }

    pub async fn shutdown(self) {
        // Held bursts are answered now rather than lost with the process.
        self.bursts.close(std::time::Duration::from_secs(10)).await;
        self.shard_manager.shutdown_all().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }
}

/// The one error handler: log with context, tell the user briefly, never crash.
async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            tracing::warn!(command = %ctx.command().qualified_name, error = %crate::error::one_line(&error), "command failed");
            let _ = ctx
                .send(
                    poise::CreateReply::default()
                        .content(format!("Sorry, that failed: {}", crate::error::one_line(&error)))
                        .ephemeral(true),
                )
                .await;
        }
        poise::FrameworkError::EventHandler { error, event, .. } => {
            tracing::warn!(event = event.snake_case_name(), error = %crate::error::one_line(&error), "event handler failed");
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "while handling an error");
            }
        }
    }
}

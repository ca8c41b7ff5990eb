//! WAL checkpoints in the background.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so every
//! few hundred kilobytes of writes one unlucky commit also copies the WAL into the database and
//! waits for the disk: that was the whole p99 of the ticket webhook. Here a connection of its
//! own copies the WAL on a timer, without blocking the writer (PASSIVE). The writer keeps a
//! large automatic threshold only to reset the WAL once it has been copied, which is then cheap.

use std::time::Duration;

use sqlx::SqlitePool;

/// How often the background checkpoint runs.
const INTERVAL: Duration = Duration::from_millis(250);

/// WAL pages at which the writer checkpoints itself (and restarts the WAL); 4 KiB each.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 8_000;

/// Runs until `pool` is closed.
pub(super) fn spawn(pool: SqlitePool, path: String) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                Ok(_) => failing = false,
                Err(_) if pool.is_closed() => break,
                // Once per streak: the writer's own checkpoint still bounds the WAL meanwhile.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(database = %path, error = %e, "background checkpoint failed; the writer will checkpoint by itself");
                }
                Err(_) => {}
            }
        }
    });
}

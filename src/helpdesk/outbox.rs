//! The delivery worker: posts each pending reply through its helpdesk's API, with retries.
//!
//! A reply is in the outbox from the moment its webhook is acknowledged (same transaction as the
//! case), so a crash or `kill -9` loses nothing: after a restart every pending row is due again.
//! Failures are retried with exponential backoff and jitter; `429` waits at least its
//! `Retry-After`. A reply not posted within `give_up_after` is marked failed, with its case.
//!
//! The window that remains: a process killed after the helpdesk accepted a post and before the
//! row was marked sent posts that reply again after the restart (none of the three helpdesks
//! offers an idempotency key for comments). The window is the time of one database write.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{CallError, Connectors};
use crate::http::metrics::Metrics;
use crate::store::outbox::{Delivery, Outcome};
use crate::store::Store;

/// Replies posted at once.
const IN_FLIGHT: usize = 16;
/// The longest pause between looks at the outbox, so that a missed wake-up costs at most this.
const POLL: Duration = Duration::from_secs(1);
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(15 * 60);

/// Wakes the worker when a webhook has committed a new reply.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `stop` completes.
    pub async fn run(self, store: Store, connectors: Connectors, metrics: Arc<Metrics>, stop: impl std::future::Future<Output = ()>) {
        let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        // Attempts report here; a recorder writes whatever has come in, in one transaction, and
        // only then lets those rows be picked again.
        let (report, mut reports) = tokio::sync::mpsc::unbounded_channel::<(Outcome, tokio::sync::OwnedSemaphorePermit)>();
        let recorder = {
            let (store, busy, wake) = (store.clone(), busy.clone(), self.wake.clone());
            tokio::spawn(async move {
                let mut batch = Vec::new();
                while reports.recv_many(&mut batch, 256).await > 0 {
                    let (outcomes, permits): (Vec<Outcome>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                    let ids: Vec<i64> = outcomes.iter().map(Outcome::id).collect();
                    if let Err(e) = store.record_deliveries(outcomes).await {
                        // The rows stay pending and are tried again: a reply may then be posted twice,
                        // never lost.
                        tracing::error!(error = %e, "cannot record deliveries; they will be tried again");
                    }
                    let mut busy = busy.lock().unwrap_or_else(|e| e.into_inner());
                    for id in ids {
                        busy.remove(&id);
                    }
                    drop(permits);
                    wake.notify_one();
                }
            })
        };
        let mut stop = std::pin::pin!(stop);
        let mut last_gauges = std::time::Instant::now() - POLL;
        loop {
            let ids: Vec<i64> = busy.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
            let free = slots.available_permits() as i64;
            let due = if free > 0 {
                store.due_deliveries(now_ms(), free, &ids).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the outbox; trying again shortly");
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            let picked = due.len();
            for d in due {
                let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                busy.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id);
                let (store, connectors, metrics, report) = (store.clone(), connectors.clone(), metrics.clone(), report.clone());
                tokio::spawn(async move {
                    let outcome = deliver(&store, &connectors, &metrics, d).await;
                    let _ = report.send((outcome, permit));
                });
            }
            if last_gauges.elapsed() >= POLL {
                last_gauges = std::time::Instant::now();
                if let Ok(depth) = store.outbox_depth().await {
                    metrics.outbox_pending.set(depth.pending);
                    let age = depth.oldest_created_at_ms.map_or(0, |t| (now_ms() - t).max(0) / 1000);
                    metrics.outbox_oldest_pending_seconds.set(age);
                }
            }
            // Nothing was due: sleep until the next retry is (or a webhook wakes us).
            let wait = if picked == 0 {
                match store.next_delivery_due().await {
                    Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(10, POLL.as_millis() as i64) as u64),
                    _ => POLL,
                }
            } else {
                POLL
            };
            tokio::select! {
                () = &mut stop => {
                    // Let posts in flight finish and record what they did, within a bound.
                    let all = IN_FLIGHT as u32;
                    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all)).await;
                    drop(report);
                    let _ = recorder.await;
                    return;
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One attempt at one delivery, and what it came to.
async fn deliver(store: &Store, connectors: &Connectors, metrics: &Metrics, d: Delivery) -> Outcome {
    let helpdesk = d.helpdesk.as_str();
    let outcome = |what: &str| {
        let labels = crate::http::metrics::DeliveryLabels { helpdesk: helpdesk.into(), outcome: what.into() };
        metrics.deliveries.get_or_create(&labels).inc();
    };
    let Some(connector) = connectors.get(d.helpdesk) else {
        // Its section was removed from the config: keep the reply until it comes back.
        let error = format!("[helpdesk.{helpdesk}] is not configured");
        return Outcome::Retry { id: d.id, next_ms: now_ms() + LONGEST_RETRY.as_millis() as i64, error };
    };
    let deadline = d.created_at_ms + connector.config.give_up_after.as_millis() as i64;
    match attempt(store, connector, &d).await {
        Ok(remote_id) => {
            outcome("sent");
            tracing::debug!(case_id = d.case_id, helpdesk, attempts = d.attempts + 1, "reply posted");
            Outcome::Sent { id: d.id, remote_id, at_ms: now_ms() }
        }
        Err(CallError::Retry { after, reason }) => {
            let next = now_ms() + retry_delay(d.attempts, after).as_millis() as i64;
            if next > deadline {
                outcome("failed");
                tracing::warn!(case_id = d.case_id, helpdesk, %reason, "reply given up after {} attempts", d.attempts + 1);
                Outcome::Failed { id: d.id, at_ms: now_ms(), error: format!("gave up: {reason}") }
            } else {
                outcome("retried");
                tracing::info!(case_id = d.case_id, helpdesk, %reason, "reply will be retried");
                Outcome::Retry { id: d.id, next_ms: next, error: reason }
            }
        }
        Err(CallError::Permanent(reason)) => {
            outcome("failed");
            tracing::warn!(case_id = d.case_id, helpdesk, %reason, "reply refused by the helpdesk");
            Outcome::Failed { id: d.id, at_ms: now_ms(), error: reason }
        }
    }
}

/// Posts the reply, then the tags where they are a call of their own; the remote id.
async fn attempt(store: &Store, connector: &super::Connector, d: &Delivery) -> Result<Option<String>, CallError> {
    let mut remote = d.remote_id.clone();
    if d.step == 0 {
        remote = connector.post_reply(d).await?;
        if connector.tags_separately() && !d.tags.is_empty() {
            // From here a retry adds the tags only: the reply is not posted twice.
            store.delivery_step_done(d.id, 1, remote.clone()).await.map_err(|e| CallError::Retry { after: None, reason: e.to_string() })?;
        }
    }
    connector.add_tags(d).await?;
    Ok(remote)
}

/// 2 s, 4 s, 8 s … up to 15 minutes, each with up to a quarter of random jitter so that many
/// replies failed together are not retried together; never sooner than `Retry-After`.
fn retry_delay(attempts: i64, retry_after: Option<Duration>) -> Duration {
    let exp = FIRST_RETRY.saturating_mul(1u32 << attempts.clamp(0, 20) as u32).min(LONGEST_RETRY);
    let jitter = exp.mul_f64(fastrand::f64() * 0.25);
    (exp + jitter).max(retry_after.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_honour_retry_after() {
        let first = retry_delay(0, None);
        assert!(first >= FIRST_RETRY && first <= FIRST_RETRY.mul_f64(1.25), "{first:?}");
        let fifth = retry_delay(4, None);
        assert!(fifth >= FIRST_RETRY * 16, "{fifth:?}");
        assert!(retry_delay(40, None) <= LONGEST_RETRY.mul_f64(1.25));
        assert!(retry_delay(0, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }
}

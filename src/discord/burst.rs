//! Bursts: "hi" / "my key gives 401" / "the new one", sent within seconds, are one question.
//!
//! Each message of a person in one place is held for `debounce`; a newer one from the same
//! person in the same place restarts the wait. When the wait runs out, the burst is answered
//! once, classified over all of its text, as a reply to its last message. Every message is still
//! its own case; the earlier ones are held back (`in_burst`) and name the last one.
//!
//! Nothing waits on a leak: a message with a token is handled the moment it arrives. A helper
//! who replies to a held message, or mentions its author, silences the burst. On shutdown every
//! held burst is answered at once, so that no accepted message is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;

use crate::classify::Classification;
use crate::respond::Suppression;

/// A burst is answered once it has this many messages, without waiting further.
const MAX_PARTS: usize = 10;
/// Bursts held at most; past it a new message is answered at once (no burst, no memory growth).
const MAX_HELD: usize = 10_000;

/// One held message: the facts needed to store and answer it, and its classification (masked
/// text only: the raw text is not kept).
#[derive(Debug, Clone)]
pub struct Part {
    pub message: serenity::MessageId,
    pub channel: serenity::ChannelId,
    pub guild: Option<serenity::GuildId>,
    pub author: serenity::UserId,
    /// The thread it was posted in, when the bot follows that thread.
    pub thread: Option<serenity::ChannelId>,
    /// Why its answer must be held back for people, when it arrived.
    pub quiet: Option<Suppression>,
    pub classification: Classification,
}

#[derive(Debug)]
pub struct Burst {
    pub parts: Vec<Part>,
    /// A helper replied to one of its messages, or mentioned its author.
    pub helped: bool,
    generation: u64,
    started: Instant,
}

/// What [`Bursts::hold`] decided for a new message.
pub enum Held {
    /// No burst: answer the message now.
    AnswerNow(Part),
    /// The burst is complete (full, or old enough): answer it now.
    Complete(Burst),
    /// Held; [`Bursts::wait_and_take`] with this generation, then [`Bursts::done`].
    Wait(u64),
}

#[derive(Default)]
pub struct Bursts {
    held: Mutex<HashMap<(u64, u64), Burst>>,
    next_generation: std::sync::atomic::AtomicU64,
    /// Shutting down: nothing more is held, and every waiting burst is answered at once.
    closing: AtomicBool,
    wake: tokio::sync::Notify,
    /// Handlers between `hold` and the end of their burst's answer.
    in_flight: AtomicUsize,
    drained: tokio::sync::Notify,
}

fn key(p: &Part) -> (u64, u64) {
    (p.channel.get(), p.author.get())
}

impl Bursts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), Burst>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a message to its author's burst in its place. `window` is the debounce.
    pub fn hold(&self, part: Part, window: Duration) -> Held {
        if window.is_zero() || self.closing.load(Ordering::Acquire) {
            return Held::AnswerNow(part);
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let mut held = self.lock();
        let k = key(&part);
        if !held.contains_key(&k) && held.len() >= MAX_HELD {
            return Held::AnswerNow(part);
        }
        let burst = held.entry(k).or_insert_with(|| Burst { parts: Vec::new(), helped: false, generation, started: Instant::now() });
        burst.parts.push(part);
        burst.generation = generation;
        // Someone who keeps typing still gets an answer: a burst ends at its size cap, or once
        // it has lasted four windows.
        if burst.parts.len() >= MAX_PARTS || burst.started.elapsed() >= window * 4 {
            if let Some(b) = held.remove(&k) {
                return Held::Complete(b);
            }
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Held::Wait(generation)
    }

    /// Waits out the window (or less, on shutdown), then takes the burst if no newer message
    /// joined it: the handler of its last message answers it.
    pub async fn wait_and_take(
        &self,
        channel: serenity::ChannelId,
        author: serenity::UserId,
        generation: u64,
        window: Duration,
    ) -> Option<Burst> {
        let woken = self.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if !self.closing.load(Ordering::Acquire) {
            tokio::select! {
                _ = tokio::time::sleep(window) => {}
                _ = woken => {}
            }
        }
        let mut held = self.lock();
        let k = (channel.get(), author.get());
        let taken = match held.get(&k) {
            Some(b) if b.generation == generation => held.remove(&k),
            _ => None,
        };
        drop(held);
        taken
    }

    /// A handler that took part in `hold` is done (its burst answered, or left to a later one).
    pub fn done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// A helper replied to `message`, or mentioned `author`, in `channel`: the burst they are in
    /// is theirs now.
    pub fn mark_helped(&self, channel: serenity::ChannelId, message: Option<serenity::MessageId>, mentioned: &[serenity::UserId]) {
        let mut held = self.lock();
        for ((c, author), burst) in held.iter_mut() {
            let here = *c == channel.get();
            let replied = message.is_some_and(|m| burst.parts.iter().any(|p| p.message == m));
            if replied || (here && mentioned.iter().any(|u| u.get() == *author)) {
                burst.helped = true;
            }
        }
    }

    /// Answers every held burst now and waits (up to `grace`) for those answers to be posted.
    pub async fn close(&self, grace: Duration) {
        self.closing.store(true, Ordering::Release);
        let drained = self.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        self.wake.notify_waiters();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(grace, drained).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(message: u64, author: u64) -> Part {
        Part {
            message: serenity::MessageId::new(message),
            channel: serenity::ChannelId::new(1),
            guild: None,
            author: serenity::UserId::new(author),
            thread: None,
            quiet: None,
            classification: Classification {
                category: None,
                confidence: 0.0,
                language: crate::language::Language::En,
                escalate_to_sponsor: false,
                secrets_found: 0,
                apptokens_found: 0,
                findings: Vec::new(),
                rules: Vec::new(),
                gate: crate::classify::Gate::OffTopic,
                masked_text: format!("message {message}"),
            },
        }
    }

    #[tokio::test]
    async fn the_last_message_of_a_burst_takes_it_whole_and_earlier_handlers_take_nothing() {
        let bursts = Bursts::default();
        let window = Duration::from_millis(30);
        let mut generations = Vec::new();
        for m in 1..=3 {
            match bursts.hold(part(m, 7), window) {
                Held::Wait(g) => generations.push(g),
                _ => panic!("message {m} was not held"),
            }
        }
        let (c, a) = (serenity::ChannelId::new(1), serenity::UserId::new(7));
        assert!(bursts.wait_and_take(c, a, generations[0], window).await.is_none());
        let burst = bursts.wait_and_take(c, a, generations[2], window).await.expect("the last handler answers");
        let ids: Vec<u64> = burst.parts.iter().map(|p| p.message.get()).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn different_authors_are_different_bursts() {
        let bursts = Bursts::default();
        let window = Duration::from_millis(10);
        let (Held::Wait(g1), Held::Wait(g2)) = (bursts.hold(part(1, 7), window), bursts.hold(part(2, 8), window)) else {
            panic!("not held")
        };
        let c = serenity::ChannelId::new(1);
        assert_eq!(bursts.wait_and_take(c, serenity::UserId::new(7), g1, window).await.map(|b| b.parts.len()), Some(1));
        assert_eq!(bursts.wait_and_take(c, serenity::UserId::new(8), g2, window).await.map(|b| b.parts.len()), Some(1));
    }

    #[test]
    fn a_burst_at_its_size_cap_is_answered_without_waiting() {
        let bursts = Bursts::default();
        let window = Duration::from_secs(60);
        for m in 1..MAX_PARTS as u64 {
            assert!(matches!(bursts.hold(part(m, 7), window), Held::Wait(_)));
        }
        match bursts.hold(part(99, 7), window) {
            Held::Complete(b) => assert_eq!(b.parts.len(), MAX_PARTS),
            _ => panic!("a full burst must be answered now"),
        }
    }

    #[test]
    fn a_zero_window_answers_at_once() {
        assert!(matches!(Bursts::default().hold(part(1, 7), Duration::ZERO), Held::AnswerNow(_)));
    }

    #[tokio::test]
    async fn closing_wakes_a_waiting_burst_at_once() {
        let bursts = std::sync::Arc::new(Bursts::default());
        let window = Duration::from_secs(3600);
        let Held::Wait(g) = bursts.hold(part(1, 7), window) else { panic!("not held") };
        let waiter = {
            let b = bursts.clone();
            tokio::spawn(async move {
                let taken = b.wait_and_take(serenity::ChannelId::new(1), serenity::UserId::new(7), g, window).await;
                b.done();
                taken
            })
        };
        tokio::task::yield_now().await;
        bursts.close(Duration::from_secs(5)).await;
        let taken = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken").expect("joined");
        assert!(taken.is_some());
    }

    #[test]
    fn a_helper_reply_to_a_held_message_marks_its_burst() {
        let bursts = Bursts::default();
        let _ = bursts.hold(part(1, 7), Duration::from_secs(60));
        let _ = bursts.hold(part(5, 8), Duration::from_secs(60));
        bursts.mark_helped(serenity::ChannelId::new(1), Some(serenity::MessageId::new(1)), &[]);
        let held = bursts.lock();
        assert!(held[&(1, 7)].helped);
        assert!(!held[&(1, 8)].helped);
    }
}

//! The render path's side of usage: a bounded queue that never blocks, and the background
//! tasks that write it to the store in batches and delete what outlived the retention.
//!
//! A render only reserves a slot in the queue and moves one [`Use`] into it; when the queue
//! is full the use is dropped and counted (`shortcuts_usage_renders_total{outcome="dropped"}`).
//! The writer drains the queue on a timer ([`DRAIN_EVERY`]), never parked on the queue
//! itself: a render that queues a use wakes no task (with a waiting receiver, each use would
//! wake the writer, a thread unpark on an idle server, which cost 7% of a render at 1
//! request in flight). It adds the uses to a [`Rollup`] and writes it every
//! `flush_interval` in one transaction. A write that fails is kept and retried at the next
//! flush; while the kept rows reach `max_pending_rows` the writer stops draining, so memory
//! stays bounded and further uses are dropped (and counted) at the queue. Renders never
//! wait for any of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::rollup::{Rollup, Use};
use super::{UsageStore, day_of_millis, retained_from};
use crate::telemetry;

/// How often the writer moves queued uses into its rollup (at most; a shorter flush
/// interval drains as often). The queue must hold what renders queue meanwhile: at 25,000
/// renders/s, 1,250 of the default 65,536.
pub const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// Rows deleted per statement by the retention; it repeats until fewer go.
const RETENTION_BATCH: u32 = 10_000;
/// How often the retention runs (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(10 * 60);

/// How usage is recorded (the `--usage*` flags).
#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// Off: renders record nothing and the ranking stays per replica.
    pub enabled: bool,
    /// Uses the queue holds before it drops them.
    pub queue: usize,
    /// How often queued uses are written.
    pub flush_interval: Duration,
    /// Rows kept in memory while the store refuses writes.
    pub max_pending_rows: usize,
    /// Days a use is kept; 0 keeps it forever.
    pub retention_days: u32,
    /// How often each replica reloads the shared counts the typeahead ranks by.
    pub refresh_interval: Duration,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            queue: 65_536,
            flush_interval: Duration::from_secs(1),
            max_pending_rows: 100_000,
            retention_days: 400,
            refresh_interval: Duration::from_secs(60),
        }
    }
}

/// Where renders report the stored shortcuts they rendered. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    queue: Option<mpsc::Sender<Use>>,
}

impl Recorder {
    /// Records nothing (usage off, tools, tests).
    pub fn off() -> Self {
        Self::default()
    }

    /// Queues one render; never waits. A full queue drops it (counted), before anything
    /// is allocated for it.
    pub fn record(
        &self,
        workspace_id: &str,
        shortcut_id: &str,
        shortcut_version: u64,
        agent_id: &str,
    ) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_reserve() {
            Ok(slot) => slot.send(Use {
                workspace_id: workspace_id.to_string(),
                shortcut_id: shortcut_id.to_string(),
                shortcut_version,
                agent_id: agent_id.to_string(),
                at_millis: now_millis(),
            }),
            Err(_) => telemetry::record_usage_renders("dropped", 1),
        }
    }
}

/// The background writer; [`UsageWriter::shutdown`] writes what is queued.
pub struct UsageWriter {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl UsageWriter {
    /// Starts the writer and the retention on `store`; the recorder feeds the writer.
    pub fn start(store: Arc<dyn UsageStore>, settings: &UsageSettings) -> (Recorder, UsageWriter) {
        if !settings.enabled {
            return (
                Recorder::off(),
                UsageWriter {
                    stop: None,
                    task: None,
                },
            );
        }
        let (queue, receiver) = mpsc::channel(settings.queue.max(1));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(write(
            store.clone(),
            receiver,
            stopped,
            settings.flush_interval,
            settings.max_pending_rows.max(1),
        ));
        if settings.retention_days > 0 {
            tokio::spawn(expire(store, settings.retention_days));
        }
        (
            Recorder { queue: Some(queue) },
            UsageWriter {
                stop: Some(stop),
                task: Some(task),
            },
        )
    }

    /// Stops taking uses and writes those queued, waiting at most `within`.
    pub async fn shutdown(mut self, within: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && tokio::time::timeout(within, task).await.is_err()
        {
            tracing::warn!(
                ?within,
                "usage not written before shutdown: the store was too slow"
            );
        }
    }
}

/// Drains the queue into a rollup on a timer and writes it every `every`, until told to
/// stop; then writes what is left.
async fn write(
    store: Arc<dyn UsageStore>,
    mut queue: mpsc::Receiver<Use>,
    mut stop: oneshot::Receiver<()>,
    every: Duration,
    max_pending_rows: usize,
) {
    let mut pending = Rollup::default();
    let mut drain = tokio::time::interval(DRAIN_EVERY.min(every));
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flushed = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = drain.tick() => {
                // `try_recv` registers no waker: the senders never wake this task.
                while pending.rows() < max_pending_rows {
                    let Ok(one) = queue.try_recv() else { break };
                    pending.add(one);
                }
                if flushed.elapsed() >= every {
                    flush(&*store, &mut pending, &mut failing).await;
                    flushed = tokio::time::Instant::now();
                }
            }
        }
    }
    queue.close();
    while let Ok(one) = queue.try_recv() {
        pending.add(one);
    }
    flush(&*store, &mut pending, &mut failing).await;
}

/// Writes the pending counts; on failure keeps them for the next flush.
async fn flush(store: &dyn UsageStore, pending: &mut Rollup, failing: &mut bool) {
    if pending.is_empty() {
        return;
    }
    match store.add_usage(pending).await {
        Ok(()) => {
            telemetry::record_usage_renders("written", pending.uses);
            if std::mem::take(failing) {
                tracing::info!(uses = pending.uses, "usage written again after failures");
            }
            *pending = Rollup::default();
        }
        Err(error) => {
            telemetry::record_usage_write_failure();
            if !std::mem::replace(failing, true) {
                tracing::warn!(%error, uses = pending.uses, "cannot write usage; keeping it to retry");
            }
        }
    }
}

/// Deletes rollup rows older than the retention (whole weeks: [`retained_from`]), at start
/// and then periodically, in bounded batches so that no statement holds the tables for long.
async fn expire(store: Arc<dyn UsageStore>, retention_days: u32) {
    let mut tick = tokio::time::interval(RETENTION_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = retained_from(day_of_millis(now_millis()), retention_days);
        loop {
            match store.delete_usage_before(before, RETENTION_BATCH).await {
                Ok(deleted) => {
                    telemetry::record_usage_rows_expired(deleted);
                    if deleted > 0 {
                        tracing::info!(
                            deleted,
                            before_day = before,
                            "usage past its retention deleted"
                        );
                    }
                    if deleted < u64::from(RETENTION_BATCH) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot delete expired usage; retrying later");
                    break;
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_without_waiting() {
        let (queue, mut receiver) = mpsc::channel(2);
        let recorder = Recorder { queue: Some(queue) };
        for _ in 0..5 {
            recorder.record("w", "s", 3, "ann");
        }
        let first = receiver.try_recv().unwrap();
        assert_eq!(
            (first.shortcut_id.as_str(), first.agent_id.as_str()),
            ("s", "ann")
        );
        assert!(receiver.try_recv().is_ok());
        assert!(receiver.try_recv().is_err(), "only two fit");
        Recorder::off().record("w", "s", 3, "ann");
    }
}

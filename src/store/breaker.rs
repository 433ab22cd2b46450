//! Writes fail fast when the store is down: each write is bounded by the caller's deadline
//! (and by `--store-write-timeout`), and after a write found the store unreachable, the
//! following ones are refused at once until a probe reaches it again (a circuit breaker).
//!
//! Reads do not pass through here: they are served from memory and keep working while the
//! store is down. What a caller sees of a refused write is UNAVAILABLE naming the store, with
//! a RetryInfo; the health service reports the write path as NOT_SERVING meanwhile.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::{Error, Result};

/// Default for `--store-write-timeout`: long enough for a busy database, short enough that
/// a write to a store that stopped answering does not hang its caller.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// Default for `--store-probe-interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Part of the time left before the caller's deadline kept back, so that our answer reaches
/// the caller before its own timer fires: a tenth of it, at most this much.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Rows of a transaction that one `--store-write-timeout` is given for.
pub const ROWS_PER_WRITE_TIMEOUT: usize = 1000;

/// How writes are bounded and how often an unreachable store is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub write_timeout: Duration,
    pub probe_interval: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
        }
    }
}

/// The write path's state, shared by every write of one store.
pub struct Breaker {
    /// What the store is, for messages: "PostgreSQL at db:5432/test".
    store: String,
    settings: BreakerSettings,
    /// Since when writes have been refused; `None` while they pass.
    open_since: Mutex<Option<Instant>>,
    /// Whether writes pass, for the health service and the metrics.
    writable: watch::Sender<bool>,
}

impl Breaker {
    pub fn new(store: String, settings: BreakerSettings) -> Self {
        Self {
            store,
            settings,
            open_since: Mutex::new(None),
            writable: watch::Sender::new(true),
        }
    }

    /// Follows whether writes pass (true) or are refused (false).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }

    /// What the store is, as messages name it.
    pub fn store(&self) -> &str {
        &self.store
    }

    pub fn probe_interval(&self) -> Duration {
        self.settings.probe_interval
    }

    /// Runs one write, unless the store is known to be unreachable; bounds it by the
    /// caller's deadline and the write timeout. A result of `StoreUnavailable` means the
    /// store is unreachable: the caller then [`trip`](Self::trip)s the breaker.
    ///
    /// A write cut short by its bound may still have reached the store: its transaction is
    /// rolled back when the connection notices, unless the commit was already sent. The
    /// caller is told UNAVAILABLE either way, and a retry meets the version check.
    ///
    /// A transaction of `rows` rows (an import) is given the write timeout for each
    /// [`ROWS_PER_WRITE_TIMEOUT`] rows begun, so that a large transaction that is
    /// progressing is not taken for an unreachable store.
    pub async fn write_rows<T, F>(&self, rows: usize, work: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        if let Some(since) = self.open_since() {
            return Err(self.refused(since));
        }
        let bound = self.bound(rows);
        // A write waiting on a store that something else just found unreachable (another
        // write, the change feed) is answered at once too.
        let mut writable = self.writable.subscribe();
        let tripped = async move {
            let open = writable.wait_for(|writable| !writable).await.is_ok();
            if !open {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = work => result,
            () = tripped => Err(self.refused(self.open_since().unwrap_or_else(Instant::now))),
            () = tokio::time::sleep(bound) => Err(Error::StoreUnavailable {
                cause: format!(
                    "{} did not answer the write within {} ms{}",
                    self.store,
                    bound.as_millis(),
                    if bound < self.timeout_for(rows) {
                        " (the call's deadline)"
                    } else {
                        " (--store-write-timeout)"
                    }
                )
                .into(),
            }),
        }
    }

    /// The store was found unreachable: refuse writes from now on, and probe it with `ping`
    /// every probe interval until it answers. Nothing more when writes are already refused.
    pub fn trip<P, Fut>(self: &Arc<Self>, ping: P)
    where
        P: Fn(Duration) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        if self.open() {
            tokio::spawn(probe_until_reachable(self.clone(), ping));
        }
    }

    /// Records that a probe reached the store: writes pass again.
    pub fn close(&self) {
        let was_open = self.open_since.lock().expect("not poisoned").take();
        if let Some(since) = was_open {
            tracing::info!(store = %self.store, down_for_ms = since.elapsed().as_millis() as u64, "the store answers again; writes resume");
            self.writable.send_replace(true);
        }
    }

    /// Refuses writes from now on; false when they already were refused.
    fn open(&self) -> bool {
        let mut open_since = self.open_since.lock().expect("not poisoned");
        if open_since.is_some() {
            return false;
        }
        *open_since = Some(Instant::now());
        tracing::warn!(store = %self.store, "the store is unreachable; refusing writes until it answers a probe");
        self.writable.send_replace(false);
        true
    }

    fn open_since(&self) -> Option<Instant> {
        *self.open_since.lock().expect("not poisoned")
    }

    /// How long this write may take: the write timeout, or less when the caller's
    /// deadline comes first.
    /// The write timeout of a transaction of `rows` rows.
    fn timeout_for(&self, rows: usize) -> Duration {
        let times = rows
            .div_ceil(ROWS_PER_WRITE_TIMEOUT)
            .clamp(1, u32::MAX as usize) as u32;
        self.settings.write_timeout.saturating_mul(times)
    }

    fn bound(&self, rows: usize) -> Duration {
        let timeout = self.timeout_for(rows);
        let Some(deadline) = crate::limits::call_deadline() else {
            return timeout;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let margin = (left / 10).min(DEADLINE_MARGIN);
        (left - margin).min(timeout)
    }

    /// A write refused because the store has been unreachable since `since` (counted).
    fn refused(&self, since: Instant) -> Error {
        crate::telemetry::record_store_write_refused();
        Error::StoreUnavailable {
            cause: format!(
                "{} has been unreachable for {} ms; writes are refused until it answers (probed every {} ms); reads keep working",
                self.store,
                since.elapsed().as_millis(),
                self.settings.probe_interval.as_millis()
            )
            .into(),
        }
    }
}

/// Probes an unreachable store every `probe_interval` until `ping` succeeds, then lets
/// writes pass again. Started by [`Breaker::trip`]; ends with the outage.
async fn probe_until_reachable<P, Fut>(breaker: Arc<Breaker>, ping: P)
where
    P: Fn(Duration) -> Fut,
    Fut: Future<Output = bool>,
{
    let interval = breaker.probe_interval();
    loop {
        let started = Instant::now();
        if ping(interval).await {
            breaker.close();
            return;
        }
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    fn breaker(write_timeout_ms: u64) -> Arc<Breaker> {
        Arc::new(Breaker::new(
            "the test store".into(),
            BreakerSettings {
                write_timeout: Duration::from_millis(write_timeout_ms),
                probe_interval: Duration::from_millis(5),
            },
        ))
    }

    #[tokio::test]
    async fn a_tripped_breaker_refuses_writes_at_once_until_a_probe_succeeds() {
        let b = breaker(1000);
        let health = b.subscribe();
        let store_answers = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicU32::new(0));
        let (answers, counted) = (store_answers.clone(), probes.clone());
        b.trip(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            let up = answers.load(Ordering::SeqCst);
            async move { up }
        });
        assert!(!*health.borrow(), "health follows");

        let ran = AtomicBool::new(false);
        let result = b
            .write_rows(1, async {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(!ran.load(Ordering::SeqCst), "a refused write does not run");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("the test store"), "{message}");
        assert!(message.contains("unreachable"), "{message}");

        let mut health = health;
        store_answers.store(true, Ordering::SeqCst);
        health.wait_for(|writable| *writable).await.unwrap();
        assert!(probes.load(Ordering::SeqCst) >= 1);
        assert!(
            b.write_rows(1, async { Ok(()) }).await.is_ok(),
            "writes pass again"
        );
    }

    #[tokio::test]
    async fn tripping_an_open_breaker_starts_no_second_probe() {
        let b = breaker(1000);
        let probes = Arc::new(AtomicU32::new(0));
        for _ in 0..3 {
            let counted = probes.clone();
            b.trip(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<bool>()
            });
        }
        tokio::task::yield_now().await;
        assert_eq!(probes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_write_in_flight_when_the_breaker_trips_is_answered_at_once() {
        let b = breaker(60_000);
        let in_flight = {
            let b = b.clone();
            tokio::spawn(async move { b.write_rows(1, std::future::pending::<Result<()>>()).await })
        };
        // Tripped by something else (the change feed): the hanging write ends now, not
        // after the minute of its timeout.
        tokio::task::yield_now().await;
        b.trip(|_| std::future::pending::<bool>());
        let result = tokio::time::timeout(Duration::from_secs(10), in_flight)
            .await
            .expect("answered long before its own timeout")
            .unwrap();
        let message = result.unwrap_err().to_string();
        assert!(message.contains("unreachable"), "{message}");
    }

    #[tokio::test]
    async fn a_write_that_hangs_ends_at_the_write_timeout() {
        let b = breaker(20);
        let started = Instant::now();
        let result = b.write_rows(1, std::future::pending::<Result<()>>()).await;
        let message = result.unwrap_err().to_string();
        assert!(message.contains("--store-write-timeout"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_transaction_gets_a_write_timeout_per_thousand_rows() {
        let b = breaker(1000);
        let slow = || tokio::time::sleep(Duration::from_millis(2500));
        // Paused time: the sleeps and the bound race on the virtual clock only.
        let one = b
            .write_rows(1, async {
                slow().await;
                Ok(())
            })
            .await;
        assert!(one.unwrap_err().to_string().contains("1000 ms"));
        let fresh = breaker(1000);
        let many = fresh
            .write_rows(2001, async {
                slow().await;
                Ok(())
            })
            .await;
        assert!(many.is_ok(), "{many:?}");
        let too_slow = fresh
            .write_rows(1500, async {
                slow().await;
                Ok(())
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            too_slow.contains("2000 ms (--store-write-timeout)"),
            "{too_slow}"
        );
    }

    #[tokio::test]
    async fn a_write_ends_before_the_callers_deadline() {
        let b = breaker(10_000);
        let deadline = Instant::now() + Duration::from_millis(200);
        let result = crate::limits::with_call_deadline(
            Some(deadline),
            b.write_rows(1, std::future::pending::<Result<()>>()),
        )
        .await;
        assert!(Instant::now() < deadline, "answered before the deadline");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("the call's deadline"), "{message}");
    }
}

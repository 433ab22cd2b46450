//! The request budget of one data source (`requests_per_minute`, `burst` in its table of
//! the `--data-sources` file): every request the service sends to the source — for a
//! render, a batch, a refresh-ahead or a prefetch — takes from it first.
//!
//! The budget is two GCRA limiters (the `governor` crate): a *reserve* (a tenth of the
//! rate and burst) that only renders an agent waits on may use, and which they use first,
//! and a *shared* one that every purpose draws from. So when the budget runs short,
//! refreshes and prefetches (which never wait: they are dropped) and batches (which wait
//! for the shared part only) give way first, and renders still get the reserve. The
//! reserve is small because with prefetch and refresh-ahead at work renders rarely call the
//! source at all, and what the reserve holds back is lost to the background work that keeps
//! them from having to (a quarter of a 1,000/min budget starved the prefetches of a working
//! day: bench/fresh.sh). A 429 from the source pauses the whole
//! source for its `Retry-After`: background work is dropped meanwhile and renders wait if
//! their deadline allows.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Why a data-source request is made; decides its priority in the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// A render an agent (or a caller) is waiting on: may use the reserve, waits until its
    /// deadline.
    #[default]
    Render,
    /// A recipient of `BatchRender`: waits for the shared part, never takes the reserve.
    Batch,
    /// Refresh-ahead of an entry that is being read: never waits, dropped when short.
    Refresh,
    /// A prefetch on a conversation event or the `Prefetch` RPC: never waits, dropped when
    /// short.
    Prefetch,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::Render,
        Purpose::Batch,
        Purpose::Refresh,
        Purpose::Prefetch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Purpose::Render => "render",
            Purpose::Batch => "batch",
            Purpose::Refresh => "refresh",
            Purpose::Prefetch => "prefetch",
        }
    }

    /// Work nobody waits on: dropped rather than queued.
    pub fn is_background(self) -> bool {
        matches!(self, Purpose::Refresh | Purpose::Prefetch)
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The budget had no room (in time for the caller's deadline, for renders and batches).
    Budget,
    /// The source answered 429 and its `Retry-After` has not passed.
    Paused,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Budget => "budget",
            Refusal::Paused => "paused",
        }
    }
}

/// `requests_per_minute` and `burst`, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSpec {
    pub requests_per_minute: u32,
    pub burst: u32,
}

impl BudgetSpec {
    /// The default burst: twelve seconds' worth of requests, at least 2 (a Crisp contact
    /// is two requests). Sized for the opening of a day, when every agent's first
    /// conversation opens in the same second with nothing cached: three requests each (the
    /// conversation's meta, the contact's profile and data), so 1,000/min lets 50 agents
    /// start at once. A rolling minute may then see `requests_per_minute + burst`.
    pub fn default_burst(requests_per_minute: u32) -> u32 {
        (requests_per_minute / 5).max(2)
    }
}

enum Step {
    Sent,
    Refused(Refusal),
    WaitUntil(Instant),
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One GCRA limiter and what it had left after its last request (for the gauge).
struct Part {
    limiter: Limiter,
    burst: u32,
    refill: Duration,
    left: AtomicU32,
    left_at: Mutex<Instant>,
}

impl Part {
    fn new(per_minute: u32, burst: u32, clock: &DefaultClock) -> Option<Part> {
        let (rate, burst) = (NonZeroU32::new(per_minute)?, NonZeroU32::new(burst)?);
        let refill = Duration::from_secs(60) / rate.get();
        let quota = Quota::with_period(refill)?.allow_burst(burst);
        Some(Part {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
            burst: burst.get(),
            refill,
            left: AtomicU32::new(burst.get()),
            left_at: Mutex::new(Instant::now()),
        })
    }

    /// Takes `cost` requests if they fit now; otherwise how long until they would.
    /// `None`: they never fit in this part's burst.
    fn take(&self, cost: NonZeroU32, clock: &DefaultClock) -> Option<Result<(), Duration>> {
        match self.limiter.check_n(cost) {
            Ok(Ok(snapshot)) => {
                self.note(snapshot.remaining_burst_capacity());
                Some(Ok(()))
            }
            Ok(Err(not_until)) => {
                self.note(0);
                Some(Err(not_until.wait_time_from(clock.now())))
            }
            Err(_) => None,
        }
    }

    fn note(&self, left: u32) {
        self.left.store(left, Ordering::Relaxed);
        *self.left_at.lock().expect("budget gauge lock") = Instant::now();
    }

    /// What is left now: the last reading plus what refilled since, up to the burst.
    fn left(&self) -> u32 {
        let since = self.left_at.lock().expect("budget gauge lock").elapsed();
        let refilled = (since.as_nanos() / self.refill.as_nanos().max(1)) as u64;
        (u64::from(self.left.load(Ordering::Relaxed)) + refilled).min(u64::from(self.burst)) as u32
    }
}

/// The request budget of one source; unlimited when not configured.
pub struct Budget {
    /// The source's table in the `--data-sources` file (`default`, `workspaces.acme`): the
    /// metrics label.
    table: String,
    clock: DefaultClock,
    shared: Option<Part>,
    reserve: Option<Part>,
    /// Until when a 429 paused the source.
    paused_until: Mutex<Option<Instant>>,
}

impl Budget {
    pub fn unlimited(table: &str) -> Self {
        Budget {
            table: table.to_owned(),
            clock: DefaultClock::default(),
            shared: None,
            reserve: None,
            paused_until: Mutex::new(None),
        }
    }

    pub fn new(table: &str, spec: Option<BudgetSpec>) -> Self {
        let mut budget = Self::unlimited(table);
        let Some(spec) = spec else {
            return budget;
        };
        // A tenth for renders only; what does not divide goes to the shared part.
        let (reserve_rate, reserve_burst) = (spec.requests_per_minute / 10, spec.burst / 10);
        budget.reserve = Part::new(reserve_rate, reserve_burst, &budget.clock);
        let (shared_rate, shared_burst) = match budget.reserve {
            Some(_) => (
                spec.requests_per_minute - reserve_rate,
                spec.burst - reserve_burst,
            ),
            None => (spec.requests_per_minute, spec.burst),
        };
        budget.shared = Part::new(shared_rate, shared_burst, &budget.clock);
        budget
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn is_limited(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes `cost` requests for `purpose`, waiting (renders and batches only) until
    /// `until`. Counts what was sent or dropped.
    pub async fn acquire(
        &self,
        purpose: Purpose,
        cost: u32,
        until: Instant,
    ) -> Result<(), Refusal> {
        loop {
            match self.step(purpose, cost, until) {
                Step::Sent => return self.count(purpose, cost, Ok(())),
                Step::Refused(refusal) => return self.count(purpose, cost, Err(refusal)),
                Step::WaitUntil(at) => tokio::time::sleep_until(at.into()).await,
            }
        }
    }

    /// Takes `cost` requests for background work now, or refuses: never waits.
    pub fn try_acquire(&self, purpose: Purpose, cost: u32) -> Result<(), Refusal> {
        let outcome = match self.step(purpose, cost, Instant::now()) {
            Step::Sent => Ok(()),
            Step::Refused(refusal) => Err(refusal),
            Step::WaitUntil(_) => Err(Refusal::Budget),
        };
        self.count(purpose, cost, outcome)
    }

    fn count(
        &self,
        purpose: Purpose,
        cost: u32,
        outcome: Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        match outcome {
            Ok(()) => crate::telemetry::record_source_requests(&self.table, purpose.name(), cost),
            Err(refusal) => {
                crate::telemetry::record_source_drop(&self.table, purpose.name(), refusal.name())
            }
        }
        outcome
    }

    /// One try: sent, refused, or when to try again (never past `until`).
    fn step(&self, purpose: Purpose, cost: u32, until: Instant) -> Step {
        if let Some(paused) = self.paused_until() {
            return if purpose.is_background() || paused > until {
                Step::Refused(Refusal::Paused)
            } else {
                Step::WaitUntil(paused)
            };
        }
        let Some(shared) = &self.shared else {
            return Step::Sent;
        };
        let cost = NonZeroU32::new(cost.max(1)).expect("at least one");
        // Renders take from their reserve first, so that the shared part is left to
        // background work and batches as long as renders fit in the reserve.
        let mut wait: Option<Duration> = None;
        let parts: &[&Part] = match (&self.reserve, purpose) {
            (Some(reserve), Purpose::Render) => &[reserve, shared],
            _ => &[shared],
        };
        for part in parts {
            match part.take(cost, &self.clock) {
                Some(Ok(())) => return Step::Sent,
                Some(Err(more)) => wait = Some(wait.map_or(more, |w| w.min(more))),
                None => {}
            }
        }
        let Some(wait) = wait else {
            // More than the whole burst at once: let it through rather than never.
            return Step::Sent;
        };
        let at = Instant::now() + wait;
        if purpose.is_background() || at > until {
            Step::Refused(Refusal::Budget)
        } else {
            Step::WaitUntil(at)
        }
    }

    /// A 429: the whole source waits `retry_after` before its next request.
    pub fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut paused = self.paused_until.lock().expect("pause lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
        tracing::warn!(
            table = %self.table,
            retry_after_ms = retry_after.as_millis() as u64,
            "the source is rate limiting us: pausing its requests"
        );
    }

    fn paused_until(&self) -> Option<Instant> {
        let mut paused = self.paused_until.lock().expect("pause lock");
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            Some(_) => {
                *paused = None;
                None
            }
            None => None,
        }
    }

    /// Requests that could be sent at once now (shared and reserve); `None` when unlimited.
    pub fn left(&self) -> Option<u32> {
        let shared = self.shared.as_ref()?;
        Some(shared.left() + self.reserve.as_ref().map_or(0, Part::left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test]
    async fn background_work_gives_way_before_renders() {
        // 40 per minute, burst 20: 18 shared, 2 reserved for renders (4 a minute).
        let budget = Budget::new(
            "t",
            Some(BudgetSpec {
                requests_per_minute: 40,
                burst: 20,
            }),
        );
        let now = Instant::now();
        for _ in 0..18 {
            assert_eq!(budget.acquire(Purpose::Prefetch, 1, now).await, Ok(()));
        }
        assert_eq!(
            budget.acquire(Purpose::Refresh, 1, now).await,
            Err(Refusal::Budget)
        );
        assert_eq!(
            budget.acquire(Purpose::Batch, 1, now).await,
            Err(Refusal::Budget)
        );
        // The reserve is the renders'.
        assert_eq!(budget.acquire(Purpose::Render, 2, now).await, Ok(()));
        assert_eq!(
            budget.acquire(Purpose::Render, 1, now).await,
            Err(Refusal::Budget)
        );
        // A render with time to wait gets the next refill (the shared part's, 1.7 s per
        // request here).
        let started = Instant::now();
        assert_eq!(budget.acquire(Purpose::Render, 1, far()).await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_429_pauses_the_whole_source() {
        let budget = Budget::unlimited("t");
        assert_eq!(budget.acquire(Purpose::Prefetch, 1, far()).await, Ok(()));
        budget.pause(Duration::from_millis(300));
        assert_eq!(
            budget.acquire(Purpose::Prefetch, 1, far()).await,
            Err(Refusal::Paused)
        );
        assert_eq!(
            budget
                .acquire(
                    Purpose::Render,
                    1,
                    Instant::now() + Duration::from_millis(50)
                )
                .await,
            Err(Refusal::Paused)
        );
        let started = Instant::now();
        assert_eq!(budget.acquire(Purpose::Render, 1, far()).await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn what_is_left_refills() {
        let budget = Budget::new(
            "t",
            Some(BudgetSpec {
                requests_per_minute: 6000,
                burst: 100,
            }),
        );
        assert_eq!(budget.left(), Some(100));
        for _ in 0..10 {
            budget.acquire(Purpose::Render, 5, far()).await.unwrap();
        }
        assert!(budget.left().unwrap() <= 60, "{:?}", budget.left());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(budget.left().unwrap() >= 65, "{:?}", budget.left());
        assert_eq!(Budget::unlimited("t").left(), None);
    }
}

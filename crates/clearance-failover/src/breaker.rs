//! A circuit breaker per model: skip a model that keeps failing, without waiting for it.
//!
//! ```text
//!            N consecutive failures, or error rate ≥ threshold over the window
//!   Closed ─────────────────────────────────────────────────────────────────▶ Open{since}
//!     ▲                                                                        │
//!     │ a probe succeeds                          `open_for` elapsed; admit()  │
//!     └──────────────────────── HalfOpen ◀─────────────────────────────────────┘
//!                                  │ a probe fails
//!                                  └──────────────────────────────────▶ Open{since: now}
//! ```
//!
//! - **Closed** admits everything and counts outcomes: consecutive failures, and failures
//!   and requests over a sliding window of [`BreakerPolicy::window`], kept in ten buckets
//!   (constant memory, no per-request allocation).
//! - **Open** rejects at once with the time left ([`Admission::Rejected`]); the gateway moves
//!   on to the next model without waiting.
//! - **HalfOpen** lets at most [`BreakerPolicy::half_open_probes`] probes be in flight and
//!   rejects everything else; a successful probe closes the breaker, a failed one reopens it.
//!
//! Every admission the gateway got as [`Admission::Probe`] must end in [`Breaker::record`] or
//! [`Breaker::release`] (a drop guard is the way: a request cancelled mid-probe releases it),
//! or the probe's place stays taken and the model is never tried again. Outcomes of requests
//! admitted while Closed that arrive after the breaker opened are ignored: only probes decide
//! whether a model is back.
//!
//! [`Breaker`] is a plain state machine (`&mut self`, time passed in); [`Breakers`] is the
//! thread-safe set the gateway shares, one `Mutex` per model, held for a few nanoseconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// When a breaker opens and for how long. Configured per gateway; the defaults are the
/// usual ones.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// Opens after this many failures in a row. 0 turns this trigger off.
    pub consecutive_failures: u32,
    /// Opens when failures / requests over `window` reach this (0.0–1.0), once `min_requests`
    /// were seen. Above 1.0 (or NaN) turns this trigger off.
    pub error_rate: f64,
    /// The sliding window the error rate is computed over (ten buckets of a tenth each).
    pub window: Duration,
    /// How many requests the window must hold before the error rate counts.
    pub min_requests: u32,
    /// How long an open breaker rejects before it lets a probe through.
    pub open_for: Duration,
    /// How many probes may be in flight while half open (0 is taken as 1: a breaker that
    /// never probes would never close).
    pub half_open_probes: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: Duration::from_secs(30),
            min_requests: 20,
            open_for: Duration::from_secs(10),
            half_open_probes: 1,
        }
    }
}

impl BreakerPolicy {
    fn probes(&self) -> u32 {
        self.half_open_probes.max(1)
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Admitting everything.
    Closed,
    /// Rejecting everything since `since`, until `since + open_for`.
    Open { since: Instant },
    /// Letting probes through; the first outcome of one decides.
    HalfOpen,
}

/// The state's name, for snapshots and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerStateName {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerStateName {
    /// The stable name (a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerStateName::Closed => "closed",
            BreakerStateName::Open => "open",
            BreakerStateName::HalfOpen => "half_open",
        }
    }
}

impl BreakerState {
    pub fn name(self) -> BreakerStateName {
        match self {
            BreakerState::Closed => BreakerStateName::Closed,
            BreakerState::Open { .. } => BreakerStateName::Open,
            BreakerState::HalfOpen => BreakerStateName::HalfOpen,
        }
    }
}

/// The breaker's answer to "may I call this model now?". Hand it back to
/// [`Breaker::record`] or [`Breaker::release`] when the attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Closed,
    /// Half open: go ahead; this attempt decides whether the model is back.
    Probe,
    /// Do not call; try the next model. `retry_in` is when this breaker may admit again (a
    /// hint: while half open with its probes busy it is `open_for`).
    Rejected { retry_in: Duration },
}

impl Admission {
    pub fn is_admitted(self) -> bool {
        !matches!(self, Admission::Rejected { .. })
    }
}

const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    requests: u32,
    failures: u32,
}

/// Requests and failures over the last `window`, in `BUCKETS` slices.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    bucket_nanos: u128,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    fn new(window: Duration, origin: Instant) -> Window {
        Window {
            origin,
            bucket_nanos: (window.as_nanos() / BUCKETS as u128).max(1),
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.bucket_nanos).unwrap_or(u64::MAX)
    }

    fn add(&mut self, now: Instant, failed: bool) {
        let epoch = self.epoch(now);
        let bucket = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        bucket.requests = bucket.requests.saturating_add(1);
        bucket.failures = bucket.failures.saturating_add(u32::from(failed));
    }

    /// (requests, failures) in the window ending at `now`.
    fn totals(&self, now: Instant) -> (u32, u32) {
        let epoch = self.epoch(now);
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| (oldest..=epoch).contains(&b.epoch))
            .fold((0u32, 0u32), |(r, f), b| {
                (r.saturating_add(b.requests), f.saturating_add(b.failures))
            })
    }

    fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}

/// One model's breaker. A pure state machine: every call takes the time.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    consecutive_failures: u32,
    /// Probes admitted and not yet recorded or released, across half-open rounds (so the
    /// limit holds even if an old probe ends after a new round began).
    probes_in_flight: u32,
    window: Window,
}

impl Breaker {
    /// A closed breaker; `now` anchors its window.
    pub fn new(policy: BreakerPolicy, now: Instant) -> Breaker {
        Breaker {
            window: Window::new(policy.window, now),
            policy,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            probes_in_flight: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    pub fn probes_in_flight(&self) -> u32 {
        self.probes_in_flight
    }

    /// May the gateway call this model now? Never waits.
    pub fn admit(&mut self, now: Instant) -> Admission {
        if let BreakerState::Open { since } = self.state {
            let elapsed = now.saturating_duration_since(since);
            if elapsed < self.policy.open_for {
                return Admission::Rejected {
                    retry_in: self.policy.open_for - elapsed,
                };
            }
            self.state = BreakerState::HalfOpen;
        }
        match self.state {
            BreakerState::Closed => Admission::Closed,
            _ if self.probes_in_flight < self.policy.probes() => {
                self.probes_in_flight += 1;
                Admission::Probe
            }
            _ => Admission::Rejected {
                retry_in: self.policy.open_for,
            },
        }
    }

    /// The outcome of an admitted attempt: `success` is whether the model answered (see
    /// `Verdict::breaker_outcome`). A rejected admission records nothing.
    pub fn record(&mut self, now: Instant, admission: Admission, success: bool) {
        match admission {
            Admission::Rejected { .. } => {}
            Admission::Probe => {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                match self.state {
                    BreakerState::HalfOpen if success => self.close(),
                    BreakerState::HalfOpen => self.open(now),
                    // The round this probe belonged to is over; what it says still counts
                    // like any outcome in the current state.
                    BreakerState::Closed => self.count(now, success),
                    BreakerState::Open { .. } => {}
                }
            }
            Admission::Closed => {
                if self.state == BreakerState::Closed {
                    self.count(now, success);
                }
            }
        }
    }

    /// An admitted attempt ended without saying anything about the model (the caller went
    /// away, or a failure that does not count against the breaker): frees a probe's place.
    pub fn release(&mut self, admission: Admission) {
        if admission == Admission::Probe {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
    }

    /// What the admin API, metrics and `clearance status` show.
    pub fn snapshot(&self, model: &str, now: Instant) -> BreakerSnapshot {
        let (requests, failures) = self.window.totals(now);
        let (opened_ms_ago, retry_in_ms) = match self.state {
            BreakerState::Open { since } => {
                let elapsed = now.saturating_duration_since(since);
                (
                    Some(millis(elapsed)),
                    Some(millis(self.policy.open_for.saturating_sub(elapsed))),
                )
            }
            _ => (None, None),
        };
        BreakerSnapshot {
            model: model.to_owned(),
            state: self.state.name(),
            consecutive_failures: self.consecutive_failures,
            failures_in_window: failures,
            requests_in_window: requests,
            error_rate: if requests == 0 {
                0.0
            } else {
                f64::from(failures) / f64::from(requests)
            },
            probes_in_flight: self.probes_in_flight,
            opened_ms_ago,
            retry_in_ms,
        }
    }

    fn count(&mut self, now: Instant, success: bool) {
        self.window.add(now, !success);
        if success {
            self.consecutive_failures = 0;
            return;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let streak = self.policy.consecutive_failures > 0
            && self.consecutive_failures >= self.policy.consecutive_failures;
        let (requests, failures) = self.window.totals(now);
        let rate = requests > 0
            && requests >= self.policy.min_requests
            && f64::from(failures) / f64::from(requests) >= self.policy.error_rate;
        if streak || rate {
            self.open(now);
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open { since: now };
        self.reset_counts();
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.reset_counts();
    }

    fn reset_counts(&mut self) {
        self.consecutive_failures = 0;
        self.window.clear();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One breaker's state for people and dashboards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSnapshot {
    pub model: String,
    pub state: BreakerStateName,
    pub consecutive_failures: u32,
    pub failures_in_window: u32,
    pub requests_in_window: u32,
    /// failures / requests in the window; 0 when there were none.
    pub error_rate: f64,
    pub probes_in_flight: u32,
    /// While open: how long ago it opened.
    pub opened_ms_ago: Option<u64>,
    /// While open: how long until it lets a probe through.
    pub retry_in_ms: Option<u64>,
}

/// The breakers of every configured model, shared by the gateway's threads. Built whole from
/// the config (a config reload builds a new set); a model it does not know is always
/// admitted and never tracked.
#[derive(Debug)]
pub struct Breakers {
    by_model: HashMap<String, Mutex<Breaker>>,
}

impl Breakers {
    pub fn new<I, S>(policy: BreakerPolicy, models: I, now: Instant) -> Breakers
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Breakers {
            by_model: models
                .into_iter()
                .map(|model| (model.into(), Mutex::new(Breaker::new(policy.clone(), now))))
                .collect(),
        }
    }

    /// See [`Breaker::admit`]. An unknown model is admitted as [`Admission::Closed`].
    pub fn admit(&self, model: &str, now: Instant) -> Admission {
        self.with(model, |b| b.admit(now))
            .unwrap_or(Admission::Closed)
    }

    /// See [`Breaker::record`].
    pub fn record(&self, model: &str, now: Instant, admission: Admission, success: bool) {
        self.with(model, |b| b.record(now, admission, success));
    }

    /// See [`Breaker::release`].
    pub fn release(&self, model: &str, admission: Admission) {
        self.with(model, |b| b.release(admission));
    }

    /// Every breaker, sorted by model name.
    pub fn snapshot(&self, now: Instant) -> Vec<BreakerSnapshot> {
        let mut all: Vec<BreakerSnapshot> = self
            .by_model
            .iter()
            .map(|(model, breaker)| lock(breaker).snapshot(model, now))
            .collect();
        all.sort_by(|a, b| a.model.cmp(&b.model));
        all
    }

    fn with<T>(&self, model: &str, f: impl FnOnce(&mut Breaker) -> T) -> Option<T> {
        self.by_model
            .get(model)
            .map(|breaker| f(&mut lock(breaker)))
    }
}

/// A breaker's state stays consistent even if a thread panicked holding it (every update is
/// a few plain assignments), so a poisoned lock is used as is.
fn lock(breaker: &Mutex<Breaker>) -> std::sync::MutexGuard<'_, Breaker> {
    breaker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy() -> BreakerPolicy {
        BreakerPolicy::default()
    }

    fn fail(b: &mut Breaker, now: Instant) {
        let a = b.admit(now);
        b.record(now, a, false);
    }

    fn succeed(b: &mut Breaker, now: Instant) {
        let a = b.admit(now);
        b.record(now, a, true);
    }

    #[test]
    fn opens_after_five_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..4 {
            fail(&mut b, t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Open { since: t0 });
    }

    #[test]
    fn a_success_resets_the_streak() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..4 {
            fail(&mut b, t0);
        }
        succeed(&mut b, t0);
        for _ in 0..4 {
            fail(&mut b, t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn opens_on_error_rate_once_min_requests_were_seen() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        // Alternate: never 5 in a row, but 50 % failures.
        for i in 0..19 {
            if i % 2 == 0 {
                succeed(&mut b, t0);
            } else {
                fail(&mut b, t0);
            }
        }
        assert_eq!(b.state(), BreakerState::Closed, "19 requests: below min");
        fail(&mut b, t0); // 20 requests, 10 failures
        assert!(matches!(b.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..15 {
            succeed(&mut b, t0);
            fail(&mut b, t0);
            succeed(&mut b, t0);
        }
        // 45 requests, 15 failures: 33 %.
        let later = t0 + Duration::from_secs(31);
        for _ in 0..4 {
            fail(&mut b, later);
        }
        let snap = b.snapshot("m", later);
        assert_eq!(snap.requests_in_window, 4);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn open_rejects_with_the_time_left_then_lets_one_probe_through() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..5 {
            fail(&mut b, t0);
        }
        assert_eq!(
            b.admit(t0 + ms(4_000)),
            Admission::Rejected {
                retry_in: ms(6_000)
            }
        );
        let t1 = t0 + ms(10_000);
        assert_eq!(b.admit(t1), Admission::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(matches!(b.admit(t1), Admission::Rejected { .. }));
        b.record(t1, Admission::Probe, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(t1), Admission::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_from_now() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..5 {
            fail(&mut b, t0);
        }
        let t1 = t0 + ms(10_500);
        assert_eq!(b.admit(t1), Admission::Probe);
        b.record(t1, Admission::Probe, false);
        assert_eq!(b.state(), BreakerState::Open { since: t1 });
        assert!(matches!(
            b.admit(t1 + ms(9_999)),
            Admission::Rejected { .. }
        ));
    }

    #[test]
    fn late_outcomes_of_closed_admissions_do_not_close_or_reopen() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        let early = b.admit(t0);
        for _ in 0..5 {
            fail(&mut b, t0);
        }
        b.record(t0, early, true);
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        let t1 = t0 + ms(10_000);
        assert_eq!(b.admit(t1), Admission::Probe);
        b.record(t1, early, true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_released_probe_frees_its_place() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy(), t0);
        for _ in 0..5 {
            fail(&mut b, t0);
        }
        let t1 = t0 + ms(10_000);
        assert_eq!(b.admit(t1), Admission::Probe);
        b.release(Admission::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit(t1), Admission::Probe);
    }

    #[test]
    fn zero_probes_is_taken_as_one() {
        let t0 = Instant::now();
        let mut b = Breaker::new(
            BreakerPolicy {
                half_open_probes: 0,
                ..policy()
            },
            t0,
        );
        for _ in 0..5 {
            fail(&mut b, t0);
        }
        assert_eq!(b.admit(t0 + ms(10_000)), Admission::Probe);
    }

    #[test]
    fn snapshot_reports_state_counts_and_timing() {
        let t0 = Instant::now();
        let breakers = Breakers::new(policy(), ["b-model", "a-model"], t0);
        let a = breakers.admit("a-model", t0);
        breakers.record("a-model", t0, a, false);
        for _ in 0..5 {
            let a = breakers.admit("b-model", t0);
            breakers.record("b-model", t0, a, false);
        }
        let snaps = breakers.snapshot(t0 + ms(3_000));
        assert_eq!(snaps.len(), 2);
        assert_eq!(snaps[0].model, "a-model");
        assert_eq!(snaps[0].state, BreakerStateName::Closed);
        assert_eq!(snaps[0].consecutive_failures, 1);
        assert_eq!(snaps[0].requests_in_window, 1);
        assert_eq!(snaps[0].error_rate, 1.0);
        assert_eq!(snaps[1].state, BreakerStateName::Open);
        assert_eq!(snaps[1].opened_ms_ago, Some(3_000));
        assert_eq!(snaps[1].retry_in_ms, Some(7_000));
        let json = serde_json::to_value(&snaps[1]).expect("a snapshot serializes");
        assert_eq!(json["state"], "open");
        assert_eq!(json["retry_in_ms"], 7_000);
    }

    #[test]
    fn unknown_models_are_admitted_and_not_tracked() {
        let t0 = Instant::now();
        let breakers = Breakers::new(policy(), ["m"], t0);
        for _ in 0..10 {
            let a = breakers.admit("other", t0);
            assert_eq!(a, Admission::Closed);
            breakers.record("other", t0, a, false);
        }
        assert_eq!(breakers.snapshot(t0).len(), 1);
    }

    #[test]
    fn times_before_the_origin_and_huge_windows_do_not_panic() {
        let t0 = Instant::now();
        let earlier = t0.checked_sub(ms(5)).unwrap_or(t0);
        let mut b = Breaker::new(
            BreakerPolicy {
                window: Duration::MAX,
                open_for: Duration::MAX,
                ..policy()
            },
            t0,
        );
        for _ in 0..5 {
            fail(&mut b, earlier);
        }
        assert!(matches!(b.admit(t0), Admission::Rejected { .. }));
        let _ = b.snapshot("m", earlier);
        let mut z = Breaker::new(
            BreakerPolicy {
                window: Duration::ZERO,
                open_for: Duration::ZERO,
                ..policy()
            },
            t0,
        );
        for _ in 0..5 {
            fail(&mut z, t0);
        }
        assert_eq!(z.admit(t0), Admission::Probe);
    }
}

//! The decisions failover makes, as pure functions and small state machines.
//!
//! A request for a model that cannot answer (outage, overload, a provider's legal or region
//! block) is answered by the next model on its route that can. The gateway runs the attempts;
//! this crate tells it, at each step, what to do:
//!
//! - [`plan`]: the ordered [`Candidate`]s of a [`Route`] (each model `1 + retries` times,
//!   primary first), and which of them are same-model retries.
//! - [`classify`]: whether an upstream failure moves on to the next candidate
//!   ([`Verdict::MoveOn`] with a [`FailureClass`]) or goes back to the caller at once.
//! - [`breaker`]: a per-model circuit breaker ([`Breaker`], shared as [`Breakers`]) that skips a
//!   dark model without waiting, lets a probe through after a while, and reports its state
//!   ([`BreakerSnapshot`]) for the admin API, metrics and `clearance status`.
//! - [`budget`]: a per-route [`RetryBudget`] so same-model retries cannot multiply load.
//! - [`backoff`]: full-jitter exponential [`backoff()`] between same-model retries.
//!
//! One attempt, in the gateway's words:
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use clearance_failover::{
//!     Admission, BreakerPolicy, Breakers, BudgetPolicy, ProviderSignal, RetryBudget, Route, Verdict,
//!     classify_status, plan,
//! };
//!
//! let now = Instant::now(); // the gateway reads the clock; this crate never does
//! let route = Route { primary: "gpt".into(), fallbacks: vec!["claude".into()], retries: 1 };
//! let breakers = Breakers::new(BreakerPolicy::default(), ["gpt", "claude"], now);
//! let budget = RetryBudget::new(BudgetPolicy::default());
//! budget.deposit(); // one per client request
//!
//! for candidate in plan(&route) {
//!     if candidate.is_retry() && !budget.try_spend() {
//!         continue; // no budget for another try on the same model: next model
//!     }
//!     let admission = breakers.admit(candidate.model, now);
//!     if let Admission::Rejected { .. } = admission {
//!         continue; // dark: next model, without waiting
//!     }
//!     // ... the gateway calls the provider; say it answered 529 ...
//!     let verdict = classify_status(529, ProviderSignal::Plain);
//!     match verdict.breaker_outcome() {
//!         Some(success) => breakers.record(candidate.model, now, admission, success),
//!         None => breakers.release(candidate.model, admission), // says nothing about health
//!     }
//!     match verdict {
//!         Verdict::MoveOn(_) => continue,
//!         Verdict::ReturnToCaller => break,
//!     }
//! }
//! ```
//!
//! **Invariant:** pure. No IO, no async, no clock reads (every function that needs the time
//! takes `now: Instant`), no randomness of its own (jitter takes a number in `[0, 1)`), no
//! panics on any input. So every rule here is tested deterministically and benchmarked
//! (`benches/failover.rs`).

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod classify;
pub mod plan;

pub use backoff::backoff;
pub use breaker::{
    Admission, Breaker, BreakerPolicy, BreakerSnapshot, BreakerState, BreakerStateName, Breakers,
};
pub use budget::{BudgetPolicy, RetryBudget};
pub use classify::{
    FailureClass, ProviderSignal, TransportFailure, Verdict, classify_status, classify_transport,
};
pub use plan::{Candidate, Route, plan};

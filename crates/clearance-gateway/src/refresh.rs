//! Keeps this replica's policy (keys, principals, kill switches, the directive set) in step
//! with the store, and knows how old it is.
//!
//! One task waits for the store to say something changed (PostgreSQL `LISTEN`; other
//! backends simply wait) or for [`RESYNC`], whichever comes first, then re-reads the change
//! versions and reloads what moved. A missed notification therefore costs at most one resync
//! interval, and every replica is in step within a second of a change.
//!
//! When the store cannot be read the replica keeps enforcing the policy it holds; after
//! `[store] max_policy_age_ms` without a successful read, models any directive covers fail
//! closed (see [`Freshness::stale`]): a directive activated meanwhile elsewhere must not be
//! missed by a replica that cannot see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use clearance_store::Store;

use crate::directives::Directives;
use crate::metrics::{Metrics, PolicyLabels};
use crate::registry::Registry;
use crate::switches::ModelSwitches;

/// How often the store is re-read when no notification comes.
pub const RESYNC: Duration = Duration::from_millis(250);

/// When this replica last read the whole policy from the store.
#[derive(Debug)]
pub struct Freshness {
    refreshed_at_ms: AtomicI64,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness::new()
    }
}

impl Freshness {
    /// Fresh as of now (the policy was just loaded at start).
    pub fn new() -> Freshness {
        Freshness {
            refreshed_at_ms: AtomicI64::new(now_ms()),
        }
    }

    fn mark(&self) {
        self.refreshed_at_ms.store(now_ms(), Ordering::Release);
    }

    /// How long since the policy was last read from the store.
    pub fn age(&self) -> Duration {
        let since = now_ms() - self.refreshed_at_ms.load(Ordering::Acquire);
        Duration::from_millis(u64::try_from(since).unwrap_or(0))
    }

    /// Whether the policy is older than `max_age_ms`.
    pub fn stale(&self, max_age_ms: u64) -> bool {
        self.age() > Duration::from_millis(max_age_ms)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the refresh task keeps current.
pub struct Refresh {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub switches: Arc<ModelSwitches>,
    pub directives: Arc<Directives>,
    pub metrics: Arc<Metrics>,
    pub models: Vec<String>,
    pub freshness: Arc<Freshness>,
    pub validations: Arc<crate::validations::Validations>,
}

/// Runs until aborted.
pub fn spawn(refresh: Refresh) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut published = String::new();
        loop {
            refresh.store.wait_for_change(RESYNC).await;
            match refresh.once().await {
                Ok(()) => refresh.freshness.mark(),
                Err(error) => {
                    tracing::warn!(%error, "policy refresh failed; keeping the policy in force")
                }
            }
            publish_policy(&refresh, &mut published);
        }
    })
}

impl Refresh {
    async fn once(&self) -> Result<(), String> {
        self.registry
            .refresh(self.store.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        if self
            .switches
            .refresh(self.store.as_ref())
            .await
            .map_err(|e| e.to_string())?
        {
            self.switches
                .publish(&self.metrics, self.models.iter().cloned());
        }
        self.directives.refresh().await.map_err(|e| e.to_string())?;
        if self
            .validations
            .refresh(self.store.as_ref())
            .await
            .map_err(|e| e.to_string())?
        {
            self.validations.publish(&self.metrics);
        }
        Ok(())
    }
}

/// `clearance_policy_version{version}` (1 for the set in force) and the policy's age.
fn publish_policy(refresh: &Refresh, published: &mut String) {
    let version = refresh.directives.current().version().to_string();
    if *published != version {
        if !published.is_empty() {
            refresh
                .metrics
                .policy_version
                .get_or_create(&PolicyLabels {
                    version: std::mem::take(published),
                })
                .set(0);
        }
        refresh
            .metrics
            .policy_version
            .get_or_create(&PolicyLabels {
                version: version.clone(),
            })
            .set(1);
        *published = version;
    }
    refresh
        .metrics
        .policy_age_seconds
        .set(refresh.freshness.age().as_secs_f64());
}

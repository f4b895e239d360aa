//! Which fallbacks are validated, held in memory for the request path and the status.
//!
//! `clearance validate` (or `serve`'s scheduled re-runs) stores each candidate's standing for a
//! primary; this set is loaded at start and reloaded whole when the store's `validations`
//! change version moves (the policy refresh task), so a running gateway picks up a new run
//! without a restart. [`Validations::is_validated`] is one lock-free read: a route with
//! `validated_only = true` asks it for every fallback it considers.
//!
//! A validation older than `[validation] max_age` still counts for routing (a stale test is
//! better evidence than none, and skipping the fallback would turn a warning into an outage);
//! it is reported stale by [`route_warnings`], `check-config` and the status instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use clearance_config::Config;
use clearance_store::{FallbackValidation, Store, StoreError};

/// (primary, fallback) → the fallback's current standing.
type Standings = HashMap<(String, String), Arc<FallbackValidation>>;

pub struct Validations {
    standings: ArcSwap<Standings>,
    /// The store's `validations` change version last loaded (-1: never).
    version: AtomicI64,
}

impl Validations {
    pub fn from_rows(rows: impl IntoIterator<Item = FallbackValidation>) -> Validations {
        Validations {
            standings: ArcSwap::from_pointee(index(rows)),
            version: AtomicI64::new(-1),
        }
    }

    pub async fn load(store: &dyn Store) -> Result<Validations, StoreError> {
        let version = store.change_versions().await?.validations;
        let validations = Validations::from_rows(store.fallback_validations().await?);
        validations.version.store(version, Ordering::Release);
        Ok(validations)
    }

    /// Reloads when the store's version moved; returns whether it did.
    pub async fn refresh(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let version = store.change_versions().await?.validations;
        if version == self.version.load(Ordering::Acquire) {
            return Ok(false);
        }
        let rows = store.fallback_validations().await?;
        self.standings.store(Arc::new(index(rows)));
        self.version.store(version, Ordering::Release);
        Ok(true)
    }

    /// Whether `fallback` passed its last validation for `primary`.
    pub fn is_validated(&self, primary: &str, fallback: &str) -> bool {
        self.standing(primary, fallback)
            .is_some_and(|standing| standing.validated)
    }

    pub fn standing(&self, primary: &str, fallback: &str) -> Option<Arc<FallbackValidation>> {
        self.standings
            .load()
            .get(&(primary.to_string(), fallback.to_string()))
            .cloned()
    }

    /// `clearance_fallback_validated{primary, fallback}` for every standing.
    pub fn publish(&self, metrics: &crate::metrics::Metrics) {
        for standing in self.standings.load().values() {
            metrics
                .fallback_validated
                .get_or_create(&crate::metrics::FallbackLabels {
                    primary: standing.primary_model.clone(),
                    fallback: standing.fallback_model.clone(),
                })
                .set(i64::from(standing.validated));
        }
    }

    /// Every standing, as one consistent snapshot.
    pub fn snapshot(&self) -> Arc<Standings> {
        self.standings.load_full()
    }
}

fn index(rows: impl IntoIterator<Item = FallbackValidation>) -> Standings {
    rows.into_iter()
        .map(|row| {
            (
                (row.primary_model.clone(), row.fallback_model.clone()),
                Arc::new(row),
            )
        })
        .collect()
}

/// What a route's fallback looks like to an operator: never validated, failed, stale or
/// validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackState {
    Unvalidated,
    Failed,
    Stale,
    Validated,
}

impl FallbackState {
    pub fn of(standing: Option<&FallbackValidation>, config: &Config, now: DateTime<Utc>) -> Self {
        match standing {
            None => FallbackState::Unvalidated,
            Some(s) if !s.validated => FallbackState::Failed,
            Some(s) if is_stale(s, config, now) => FallbackState::Stale,
            Some(_) => FallbackState::Validated,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FallbackState::Unvalidated => "unvalidated",
            FallbackState::Failed => "failed",
            FallbackState::Stale => "stale",
            FallbackState::Validated => "validated",
        }
    }
}

fn is_stale(standing: &FallbackValidation, config: &Config, now: DateTime<Utc>) -> bool {
    let age = now.signed_duration_since(standing.at);
    age.to_std()
        .is_ok_and(|age| age > config.validation.max_age)
}

/// One line per route fallback that is not validated and fresh: what `check-config` and
/// `serve` warn about.
pub fn route_warnings(config: &Config, standings: &Standings, now: DateTime<Utc>) -> Vec<String> {
    let mut warnings = Vec::new();
    for route in &config.routes {
        for fallback in &route.fallbacks {
            let standing = standings.get(&(route.model.clone(), fallback.clone()));
            let state = FallbackState::of(standing.map(Arc::as_ref), config, now);
            let skipped = if route.validated_only
                && state != FallbackState::Validated
                && state != FallbackState::Stale
            {
                " (validated_only: it is never tried)"
            } else {
                ""
            };
            let line = match (state, standing) {
                (FallbackState::Validated, _) => continue,
                (FallbackState::Unvalidated, _) => format!(
                    "route `{}`: fallback `{fallback}` has never been validated{skipped}; run \
                     `clearance validate --primary {} --candidates {fallback} --suite ...`",
                    route.model, route.model
                ),
                (FallbackState::Failed, Some(s)) => format!(
                    "route `{}`: fallback `{fallback}` failed validation on suite `{}` ({:.2} < \
                     {:.2}, {}){skipped}",
                    route.model,
                    s.suite_name,
                    s.score,
                    s.bar,
                    s.at.format("%Y-%m-%d")
                ),
                (FallbackState::Stale, Some(s)) => format!(
                    "route `{}`: fallback `{fallback}` was last validated {} on suite `{}`, \
                     older than [validation] max_age ({})",
                    route.model,
                    s.at.format("%Y-%m-%d"),
                    s.suite_name,
                    humantime_days(config.validation.max_age)
                ),
                _ => continue,
            };
            warnings.push(line);
        }
    }
    warnings
}

fn humantime_days(age: std::time::Duration) -> String {
    let days = age.as_secs() / 86_400;
    if days > 0 && age.as_secs().is_multiple_of(86_400) {
        format!("{days}d")
    } else {
        format!("{}s", age.as_secs())
    }
}

//! Active health checks: each provider with a `health_interval_ms` is probed with a cheap
//! request (its model list) on that interval, and its models are skipped by failover while the
//! last probe failed. Passive signals (the breakers) react to real traffic; these probes notice
//! an outage before a client pays for it, and notice the recovery of a provider nobody sends to.
//!
//! A provider without health checks is always taken as healthy.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clearance_config::{Config, Provider};
use clearance_upstream::UpstreamClient;
use serde::Serialize;

/// The health of every provider that has checks, shared by the request path (lock-free reads)
/// and the probe tasks.
#[derive(Debug, Default)]
pub struct ProviderHealth {
    by_provider: HashMap<String, ProbeState>,
}

#[derive(Debug)]
struct ProbeState {
    provider: Provider,
    healthy: AtomicBool,
    checks: AtomicU64,
    failures: AtomicU64,
    last: Mutex<LastProbe>,
}

#[derive(Debug, Clone, Default)]
struct LastProbe {
    at: Option<DateTime<Utc>>,
    status: Option<u16>,
    error: Option<String>,
    latency_ms: Option<u64>,
}

/// One provider's health for the admin API, metrics and `clearance status`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthSnapshot {
    pub provider: String,
    /// `false` without health checks: nothing to report but "assumed healthy".
    pub checked: bool,
    pub healthy: bool,
    pub interval_ms: Option<u64>,
    pub checks: u64,
    pub failures: u64,
    pub last_check: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<u64>,
    /// Why the last probe failed (never holds a credential).
    pub last_error: Option<String>,
}

impl ProviderHealth {
    /// One entry per provider with health checks; they start healthy (a gateway must serve
    /// from its first request, before any probe has answered).
    pub fn new(config: &Config) -> ProviderHealth {
        let by_provider = config
            .providers
            .values()
            .filter(|p| p.health.is_some())
            .map(|p| {
                let state = ProbeState {
                    provider: p.clone(),
                    healthy: AtomicBool::new(true),
                    checks: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    last: Mutex::new(LastProbe::default()),
                };
                (p.name.clone(), state)
            })
            .collect();
        ProviderHealth { by_provider }
    }

    /// Whether failover may send to `provider` (always, without health checks).
    pub fn is_healthy(&self, provider: &str) -> bool {
        self.by_provider
            .get(provider)
            .is_none_or(|s| s.healthy.load(Ordering::Relaxed))
    }

    /// Every configured provider, checked or not, in name order.
    pub fn snapshot(&self, config: &Config) -> Vec<HealthSnapshot> {
        config
            .providers
            .keys()
            .map(|name| match self.by_provider.get(name) {
                Some(state) => state.snapshot(name),
                None => HealthSnapshot {
                    provider: name.clone(),
                    checked: false,
                    healthy: true,
                    interval_ms: None,
                    checks: 0,
                    failures: 0,
                    last_check: None,
                    last_status: None,
                    last_latency_ms: None,
                    last_error: None,
                },
            })
            .collect()
    }

    /// Starts one probe loop per checked provider on the current runtime; they run until
    /// aborted.
    pub fn spawn_probes(
        self: &Arc<Self>,
        client: UpstreamClient,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.by_provider
            .keys()
            .map(|name| {
                let health = Arc::clone(self);
                let client = client.clone();
                let name = name.clone();
                tokio::spawn(async move { health.probe_forever(&name, &client).await })
            })
            .collect()
    }

    async fn probe_forever(&self, name: &str, client: &UpstreamClient) {
        let Some(state) = self.by_provider.get(name) else {
            return;
        };
        let Some(check) = state.provider.health else {
            return;
        };
        let mut ticker = tokio::time::interval(check.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            state.probe_once(client, check.timeout).await;
        }
    }
}

impl ProbeState {
    async fn probe_once(&self, client: &UpstreamClient, timeout: Duration) {
        let started = std::time::Instant::now();
        let result = client.probe(&self.provider, timeout).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let (healthy, status, error) = match result {
            Ok(status) if is_up(status) => (true, Some(status), None),
            Ok(status) => (
                false,
                Some(status),
                Some(format!("the model list answered HTTP {status}")),
            ),
            Err(error) => (false, None, Some(error.to_string())),
        };
        self.checks.fetch_add(1, Ordering::Relaxed);
        if !healthy {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            if healthy {
                tracing::info!(provider = %self.provider.name, "provider healthy again");
            } else {
                tracing::warn!(provider = %self.provider.name, error = error.as_deref().unwrap_or(""), "provider unhealthy");
            }
        }
        if let Ok(mut last) = self.last.lock() {
            *last = LastProbe {
                at: Some(Utc::now()),
                status,
                error,
                latency_ms: Some(latency_ms),
            };
        }
    }

    fn snapshot(&self, name: &str) -> HealthSnapshot {
        let last = self.last.lock().map(|l| l.clone()).unwrap_or_default();
        HealthSnapshot {
            provider: name.to_string(),
            checked: true,
            healthy: self.healthy.load(Ordering::Relaxed),
            interval_ms: self.provider.health.map(|h| h.interval.as_millis() as u64),
            checks: self.checks.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_check: last.at,
            last_status: last.status,
            last_latency_ms: last.latency_ms,
            last_error: last.error,
        }
    }
}

/// A probe's answer means the provider is up: it answered, and not with overload or an
/// outage. A 401 or 404 still proves the provider is there (a configuration problem, which
/// the requests themselves report), so it does not take the models out of rotation.
fn is_up(status: u16) -> bool {
    status < 500 && status != 429
}

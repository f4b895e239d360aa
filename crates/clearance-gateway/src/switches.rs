//! Kill switches: the models an operator has switched off, held in memory for the request path.
//!
//! The set is loaded from the store at start and replaced whole (`ArcSwap`) on every change, so
//! [`ModelSwitches::disabled`] is one lock-free read per request and a change takes effect from
//! the next request on. [`ModelSwitches::set`] writes the store *first*: a change the store did
//! not take is never in force, and a change in force survives a restart.
//!
//! Not here: what the request path does with a disabled model (the failover loop skips it like
//! a dark one), the admin API that calls [`ModelSwitches::set`] and audits it (`admin.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use clearance_store::{ModelSwitch, Store, StoreError};
use tokio::sync::Mutex;

use crate::metrics::{Metrics, ModelLabels};

/// Why and since when a model is switched off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledModel {
    pub reason: String,
    pub since: DateTime<Utc>,
    /// Who switched it off (`admin-api`, ...; never a credential).
    pub actor: String,
}

/// The disabled models, by model name.
type DisabledSet = HashMap<String, Arc<DisabledModel>>;

pub struct ModelSwitches {
    disabled: ArcSwap<DisabledSet>,
    /// Serialises changes (and reloads), so the store and the in-memory set apply them in the
    /// same order. Holds the store's `model_switches` change version last loaded.
    changing: Mutex<Option<i64>>,
}

impl ModelSwitches {
    /// Every model the store says is switched off.
    pub async fn load(store: &dyn Store) -> Result<ModelSwitches, StoreError> {
        Ok(ModelSwitches::from_switches(store.model_switches().await?))
    }

    /// The set the given switches describe (the disabled ones; enabled rows are history).
    pub fn from_switches(switches: impl IntoIterator<Item = ModelSwitch>) -> ModelSwitches {
        let disabled = switches
            .into_iter()
            .filter_map(|s| disabled_entry(&s).map(|entry| (s.model, Arc::new(entry))))
            .collect();
        ModelSwitches {
            disabled: ArcSwap::from_pointee(disabled),
            changing: Mutex::new(None),
        }
    }

    /// Whether `model` is switched off, and why. Lock-free: for every request.
    pub fn disabled(&self, model: &str) -> Option<Arc<DisabledModel>> {
        self.disabled.load().get(model).cloned()
    }

    /// Every disabled model, as one consistent snapshot.
    pub fn snapshot(&self) -> Arc<HashMap<String, Arc<DisabledModel>>> {
        self.disabled.load_full()
    }

    /// Stores `switch` (with its history row), then swaps the in-memory set so the next request
    /// sees it. If the store refuses, nothing changes.
    pub async fn set(&self, store: &dyn Store, switch: ModelSwitch) -> Result<(), StoreError> {
        let _changing = self.changing.lock().await;
        store.set_model_switch(&switch).await?;
        let mut next = DisabledSet::clone(&self.disabled.load());
        match disabled_entry(&switch) {
            Some(entry) => next.insert(switch.model, Arc::new(entry)),
            None => next.remove(&switch.model),
        };
        self.disabled.store(Arc::new(next));
        Ok(())
    }

    /// Reloads the set when the store's `model_switches` version moved since the last look: a
    /// change another gateway on the same store took. True when it reloaded.
    pub async fn refresh(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let mut loaded = self.changing.lock().await;
        let version = store.change_versions().await?.model_switches;
        if *loaded == Some(version) {
            return Ok(false);
        }
        let fresh = ModelSwitches::from_switches(store.model_switches().await?);
        self.disabled.store(fresh.disabled.load_full());
        *loaded = Some(version);
        Ok(true)
    }

    /// Keeps the set current with the store (every `interval`) until the task is aborted, and
    /// republishes the gauge for `models` after a reload. A failed look keeps the set in force.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        models: Vec<String>,
        interval: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let switches = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match switches.refresh(store.as_ref()).await {
                    Ok(true) => switches.publish(&metrics, models.iter().cloned()),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, "kill switch refresh failed; keeping the switches in force")
                    }
                }
            }
        })
    }

    /// Sets `clearance_model_disabled{model}` to 1 or 0 for every model in `models`.
    pub fn publish(&self, metrics: &Metrics, models: impl IntoIterator<Item = String>) {
        let disabled = self.disabled.load();
        for model in models {
            let value = i64::from(disabled.contains_key(&model));
            metrics
                .model_disabled
                .get_or_create(&ModelLabels { model })
                .set(value);
        }
    }
}

fn disabled_entry(switch: &ModelSwitch) -> Option<DisabledModel> {
    switch.disabled.then(|| DisabledModel {
        reason: switch.reason.clone().unwrap_or_default(),
        since: switch.changed_at,
        actor: switch.actor.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(model: &str, disabled: bool) -> ModelSwitch {
        ModelSwitch {
            model: model.into(),
            disabled,
            reason: disabled.then(|| "incident".to_string()),
            changed_at: Utc::now(),
            actor: "admin-api".into(),
        }
    }

    #[test]
    fn only_disabled_switches_are_in_the_set() {
        let switches = ModelSwitches::from_switches([switch("a", true), switch("b", false)]);
        assert_eq!(
            switches.disabled("a").map(|d| d.reason.clone()),
            Some("incident".to_string())
        );
        assert!(switches.disabled("b").is_none());
        assert!(switches.disabled("unknown").is_none());
        assert_eq!(switches.snapshot().len(), 1);
    }
}

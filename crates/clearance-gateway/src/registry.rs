//! Keys and principals held in memory, so the hot path never waits on the store.
//!
//! Each table sits behind an `ArcSwap` and is replaced whole: a request sees either the old
//! table or the new one, never a half-loaded one. A background task polls the store's change
//! versions (a cheap single-row read) every 250 ms and reloads only what moved, so a key
//! revoked by the CLI in another process stops working within a second, without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clearance_core::key::{KeyId, SecretHash};
use clearance_core::principal::{Principal, PrincipalId};
use clearance_store::{ChangeVersions, Store, StoreError};
use tokio::sync::Mutex;

/// How often the store's change versions are polled.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// An active (not revoked) key.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    pub id: KeyId,
    pub principal_id: PrincipalId,
    pub name: Option<String>,
    pub hash: SecretHash,
}

pub struct Registry {
    keys: ArcSwap<HashMap<KeyId, ActiveKey>>,
    principals: ArcSwap<HashMap<PrincipalId, Arc<Principal>>>,
    loaded: Mutex<ChangeVersions>,
}

impl Registry {
    /// Loads every active key and every principal.
    pub async fn load(store: &dyn Store) -> Result<Registry, StoreError> {
        let versions = store.change_versions().await?;
        Ok(Registry {
            keys: ArcSwap::from_pointee(load_keys(store).await?),
            principals: ArcSwap::from_pointee(load_principals(store).await?),
            loaded: Mutex::new(versions),
        })
    }

    pub fn key(&self, id: &KeyId) -> Option<ActiveKey> {
        self.keys.load().get(id).cloned()
    }

    pub fn principal(&self, id: &PrincipalId) -> Option<Arc<Principal>> {
        self.principals.load().get(id).cloned()
    }

    /// Reloads whatever changed in the store since the last load.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut loaded = self.loaded.lock().await;
        let now = store.change_versions().await?;
        if now.keys != loaded.keys {
            self.keys.store(Arc::new(load_keys(store).await?));
        }
        if now.principals != loaded.principals {
            self.principals
                .store(Arc::new(load_principals(store).await?));
        }
        *loaded = now;
        Ok(())
    }

    /// Keeps the registry current until the task is aborted. A failed refresh keeps the last
    /// good tables and is retried on the next tick.
    pub fn spawn_refresh(self: &Arc<Self>, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = registry.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "registry refresh failed; keeping the last loaded keys and principals");
                }
            }
        })
    }
}

async fn load_keys(store: &dyn Store) -> Result<HashMap<KeyId, ActiveKey>, StoreError> {
    Ok(store
        .keys()
        .await?
        .into_iter()
        .filter(|k| k.revoked.is_none())
        .map(|k| {
            (
                k.id.clone(),
                ActiveKey {
                    id: k.id,
                    principal_id: k.principal_id,
                    name: k.name,
                    hash: k.hash,
                },
            )
        })
        .collect())
}

async fn load_principals(
    store: &dyn Store,
) -> Result<HashMap<PrincipalId, Arc<Principal>>, StoreError> {
    Ok(store
        .principals()
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), Arc::new(p)))
        .collect())
}

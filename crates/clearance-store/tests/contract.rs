//! The behaviour every Store backend must have. Each backend runs the same checks; the
//! PostgreSQL backend will join this file when it lands.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHead, ChainVerifier, Decision};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::key::{NewKey, StoredKey};
use clearance_store::{SqliteStore, Store};

fn principals(csv: &str) -> Vec<clearance_core::principal::Principal> {
    parse_principals(csv, ImportFormat::Csv).unwrap()
}

async fn principals_upsert_in_place(store: &dyn Store) {
    let first = store
        .upsert_principals(&principals("id,citizenships\nalice,FR\nbob,US\n"))
        .await
        .unwrap();
    assert_eq!((first.inserted, first.updated), (2, 0));
    let before = store.change_versions().await.unwrap();
    let second = store
        .upsert_principals(&principals("id,citizenships\nalice,US;FR\ncarol,DE\n"))
        .await
        .unwrap();
    assert_eq!((second.inserted, second.updated), (1, 1));
    assert!(store.change_versions().await.unwrap().principals > before.principals);
    let alice = store
        .principal(&"alice".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(alice.us_citizen(), "re-import replaced alice's facts");
    assert_eq!(store.principals().await.unwrap().len(), 3);
    assert!(
        store
            .principal(&"nobody".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn keys_are_stored_hashed_and_revocable(store: &dyn Store) {
    let new = NewKey::generate(&mut rand::rng());
    let stored = StoredKey {
        id: new.id.clone(),
        principal_id: "alice".parse().unwrap(),
        name: Some("laptop".into()),
        hash: new.hash.clone(),
        created: Utc::now(),
        revoked: None,
    };
    store.insert_key(&stored).await.unwrap();
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].hash.matches(&new.hash));
    let before = store.change_versions().await.unwrap();
    assert!(store.revoke_key(&new.id, Utc::now()).await.unwrap());
    assert!(
        !store.revoke_key(&new.id, Utc::now()).await.unwrap(),
        "revoking twice reports no change"
    );
    assert!(store.keys().await.unwrap()[0].revoked.is_some());
    assert!(store.change_versions().await.unwrap().keys > before.keys);
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("req-{n}"),
        time: Utc::now(),
        api: ApiSurface::AnthropicMessages,
        key_id: None,
        principal_id: Some("alice".into()),
        requested_model: Some("mythos-5".into()),
        served_model: Some("mythos-5".into()),
        decision: Decision::Allow,
        directive_ids: vec![],
        shadow_hits: vec![],
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: true,
        status: 200,
        upstream_status: Some(200),
        duration_us: 10,
        overhead_us: 1,
        input_tokens: None,
        output_tokens: None,
        error_class: None,
    }
}

async fn audit_chain_round_trips(store: &dyn Store) {
    assert_eq!(store.audit_head().await.unwrap(), ChainHead::EMPTY);
    let mut head = ChainHead::EMPTY;
    let batch: Vec<_> = (1..=250).map(|n| head.seal(&record(n))).collect();
    store.append_audit(&batch[..100]).await.unwrap();
    store.append_audit(&batch[100..]).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap(), head);
    assert_eq!(
        store.audit_recorded_head().await.unwrap(),
        head,
        "the head is recorded with every batch"
    );
    let report = clearance_store::verify_audit_chain(store).await.unwrap();
    assert_eq!((report.verified, report.broken), (head, None));
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 64).await.unwrap();
        if page.is_empty() {
            break;
        }
        for r in &page {
            verifier.check(r).unwrap();
            after = r.seq;
        }
    }
    assert_eq!(verifier.head(), head);
}

async fn whole_contract(store: &dyn Store) {
    principals_upsert_in_place(store).await;
    keys_are_stored_hashed_and_revocable(store).await;
    audit_chain_round_trips(store).await;
}

#[tokio::test]
async fn sqlite_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("c.db")).unwrap();
    whole_contract(&store).await;
}

#[tokio::test]
async fn sqlite_store_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .upsert_principals(&principals("id\nalice\n"))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.principals().await.unwrap().len(), 1);
}

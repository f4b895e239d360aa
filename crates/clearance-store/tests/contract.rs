//! The behaviour every Store backend must have. Each backend runs the same checks; the
//! PostgreSQL backend will join this file when it lands.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHead, ChainVerifier, Decision};
use clearance_core::facts::{Facts, RequestFacts};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::key::{NewKey, StoredKey};
use clearance_core::principal::Principal;
use clearance_store::{FactGroups, ModelSwitch, SqliteStore, Store};

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
        attempts: Vec::new(),
        admin: None,
        phase: clearance_core::audit::Phase::Whole,
        replica: None,
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

fn facts(country: &str, principal: &Principal) -> Facts {
    Facts {
        principal: principal.into(),
        request: RequestFacts {
            country: Some(country.parse().unwrap()),
            capabilities: Default::default(),
            api: ApiSurface::OpenaiChat,
            max_tokens: None,
            app: None,
        },
    }
}

/// Groups records by principal, requested model and recorded facts, within the window, and
/// leaves out records that name no principal or no model.
async fn audit_fact_groups_count_records_by_principal_model_and_facts(store: &dyn Store) {
    let people = principals("id,citizenships\nbjorn,SE\nli,CN\n");
    let (bjorn, li) = (&people[0], &people[1]);
    // After every record the other checks wrote, so the window holds only these.
    let t0 = Utc::now() + Duration::days(1);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let with = |n: u64,
                minutes: i64,
                who: Option<&Principal>,
                model: Option<&str>,
                country: Option<&str>| {
        let mut r = record(n);
        r.id = format!("fg-{n}");
        r.time = at(minutes);
        r.principal_id = who.map(|p| p.id.to_string());
        r.requested_model = model.map(String::from);
        r.facts = who.zip(country).map(|(p, c)| facts(c, p));
        r
    };
    let records = [
        with(1, 0, Some(bjorn), Some("mythos-5"), Some("US")), // before the window
        with(2, 10, Some(bjorn), Some("mythos-5"), Some("US")),
        with(3, 20, Some(bjorn), Some("mythos-5"), Some("US")),
        with(4, 30, Some(bjorn), Some("mythos-5"), Some("SE")),
        with(5, 40, Some(bjorn), Some("fable-5"), Some("US")),
        with(6, 50, Some(li), Some("mythos-5"), Some("US")),
        with(7, 60, Some(li), Some("mythos-5"), None), // no facts
        with(8, 70, None, Some("mythos-5"), None),     // refused before authentication
        with(9, 80, Some(li), None, None),             // refused before the body was read
        with(10, 1, Some(li), Some("mythos-5"), Some("US")), // written late, before the window
    ];
    let mut head = store.audit_head().await.unwrap();
    let sealed: Vec<_> = records.iter().map(|r| head.seal(r)).collect();
    store.append_audit(&sealed).await.unwrap();

    let found = store.audit_fact_groups(at(5), None).await.unwrap();
    assert_eq!(found.records, 6, "records 2 to 7");
    let mut groups = found.groups;
    groups.sort_by(|a, b| {
        (&a.principal_id, &a.requested_model, a.first).cmp(&(
            &b.principal_id,
            &b.requested_model,
            b.first,
        ))
    });
    let summary: Vec<(&str, &str, Option<String>, u64)> = groups
        .iter()
        .map(|g| {
            let country = g.facts_json.as_deref().map(|json| {
                let facts: Facts = serde_json::from_str(json).unwrap();
                facts.request.country.unwrap().to_string()
            });
            (
                g.principal_id.as_str(),
                g.requested_model.as_str(),
                country,
                g.count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("bjorn", "fable-5", Some("US".to_string()), 1),
            ("bjorn", "mythos-5", Some("US".to_string()), 2),
            ("bjorn", "mythos-5", Some("SE".to_string()), 1),
            ("li", "mythos-5", Some("US".to_string()), 1),
            ("li", "mythos-5", None, 1),
        ]
    );
    let us = &groups[1];
    assert_eq!(
        (us.first, us.last),
        (at(10), at(20)),
        "the group's time span"
    );
    let facts: Facts = serde_json::from_str(us.facts_json.as_deref().unwrap()).unwrap();
    assert_eq!(
        facts,
        records[1].facts.clone().unwrap(),
        "the facts as recorded"
    );
    let from_exactly = store.audit_fact_groups(at(40), None).await.unwrap();
    let counted: u64 = from_exactly.groups.iter().map(|g| g.count).sum();
    assert_eq!(
        counted, 3,
        "the window includes its first second: records 5, 6, 7"
    );
    assert_eq!(from_exactly.records, 3);
    let mythos = store
        .audit_fact_groups(at(5), Some(&["mythos-5".to_string()]))
        .await
        .unwrap();
    assert_eq!(mythos.records, 6, "every model is counted");
    let grouped: Vec<(&str, u64)> = mythos
        .groups
        .iter()
        .map(|g| (g.requested_model.as_str(), g.count))
        .collect();
    assert_eq!(grouped.len(), 4, "only mythos-5 is grouped: {grouped:?}");
    assert!(grouped.iter().all(|(m, _)| *m == "mythos-5"));
    assert_eq!(
        store.audit_fact_groups(at(90), None).await.unwrap(),
        FactGroups::default()
    );
}

fn switch(model: &str, disabled: bool, reason: Option<&str>, actor: &str) -> ModelSwitch {
    ModelSwitch {
        model: model.into(),
        disabled,
        reason: reason.map(String::from),
        // Whole seconds: the store keeps RFC 3339 text and must give back the same instant.
        changed_at: chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap(),
        actor: actor.into(),
    }
}

/// A switch is replaced in place (one current state per model) while every change is kept,
/// in order, in the model's history.
async fn model_switches_keep_the_current_state_and_every_change(store: &dyn Store) {
    assert!(store.model_switches().await.unwrap().is_empty());
    let off = switch(
        "mythos-5",
        true,
        Some("incident 42: leaking prompts"),
        "admin-api",
    );
    let before = store.change_versions().await.unwrap();
    store.set_model_switch(&off).await.unwrap();
    let after = store.change_versions().await.unwrap();
    assert!(
        after.model_switches > before.model_switches,
        "a change bumps the version other gateways poll"
    );
    assert_eq!(
        (after.keys, after.principals),
        (before.keys, before.principals)
    );
    store
        .set_model_switch(&switch("gpt-5", true, Some("provider outage"), "cli"))
        .await
        .unwrap();
    assert_eq!(
        store.model_switches().await.unwrap(),
        vec![
            switch("gpt-5", true, Some("provider outage"), "cli"),
            off.clone()
        ],
        "ordered by model"
    );
    let on = switch("mythos-5", false, None, "admin-api");
    store.set_model_switch(&on).await.unwrap();
    let now: Vec<_> = store.model_switches().await.unwrap();
    assert_eq!(now.len(), 2, "re-enabling replaces the row, it adds none");
    assert_eq!(now[1], on);
    assert_eq!(
        store.model_switch_history("mythos-5").await.unwrap(),
        vec![off, on]
    );
    assert_eq!(store.model_switch_history("gpt-5").await.unwrap().len(), 1);
    assert!(
        store
            .model_switch_history("never-switched")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn whole_contract(store: &dyn Store) {
    principals_upsert_in_place(store).await;
    keys_are_stored_hashed_and_revocable(store).await;
    audit_chain_round_trips(store).await;
    audit_fact_groups_count_records_by_principal_model_and_facts(store).await;
    model_switches_keep_the_current_state_and_every_change(store).await;
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

#[tokio::test]
async fn sqlite_store_keeps_a_disabled_model_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let off = switch("mythos-5", true, Some("incident 42"), "admin-api");
    SqliteStore::open(&path)
        .unwrap()
        .set_model_switch(&off)
        .await
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.model_switches().await.unwrap(), vec![off]);
}

/// A store written before the derived `facts` column existed gets it filled from the records.
#[tokio::test]
async fn sqlite_migration_derives_facts_for_records_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let bjorn = principals("id,citizenships\nbjorn,SE\n").remove(0);
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut r = record(1);
        r.principal_id = Some("bjorn".into());
        r.facts = Some(facts("US", &bjorn));
        let mut head = ChainHead::EMPTY;
        store.append_audit(&[head.seal(&r)]).await.unwrap();
    }
    // Back to the schema before the column: as an older version left the file.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE audit DROP COLUMN facts; DROP TABLE model_switch_events; \
         DROP TABLE model_switches; PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let found = store
        .audit_fact_groups(Utc::now() - Duration::hours(1), None)
        .await
        .unwrap();
    let facts: Facts =
        serde_json::from_str(found.groups[0].facts_json.as_deref().unwrap()).unwrap();
    assert_eq!(facts.request.country.unwrap().as_str(), "US");
}

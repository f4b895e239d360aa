//! `clearance migrate` and `clearance store copy`: a store written by an earlier schema keeps
//! its legacy log verifying after the migration, and a copy (SQLite to SQLite, SQLite to
//! PostgreSQL) holds everything the source held, hashes as they were, and verifies.
//!
//! PostgreSQL: a scratch database per test on the server `CLEARANCE_TEST_POSTGRES` names
//! (default `postgres://root@127.0.0.1:5432/test`), dropped after. Without a server the
//! PostgreSQL tests are skipped with a message, except under CI, where they fail.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clearance_core::audit::{AuditRecord, ChainHead, Phase, SealedRecord};
use clearance_store::{ModelSwitch, PgConfig, PgStore, SqliteStore, Store};
use serde_json::Value;

mod common;

use common::{
    ScratchPg, as_str, block_on, config_text, directive, request_record, run_in, write_file,
    write_log,
};

/// The SQLite migrations before audit logs had ids (0006).
const LEGACY_MIGRATIONS: [&str; 5] = [
    include_str!("../../clearance-store/migrations/sqlite/0001_init.sql"),
    include_str!("../../clearance-store/migrations/sqlite/0002_audit_head.sql"),
    include_str!("../../clearance-store/migrations/sqlite/0003_audit_facts.sql"),
    include_str!("../../clearance-store/migrations/sqlite/0004_model_switches.sql"),
    include_str!("../../clearance-store/migrations/sqlite/0005_model_switch_version.sql"),
];

/// A database as a gateway of the previous schema left it: migrations 1-5, and one hash chain
/// of `records` requests with its recorded head.
fn legacy_database(path: &Path, records: u64) -> Vec<SealedRecord> {
    let conn = rusqlite::Connection::open(path).unwrap();
    for sql in LEGACY_MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", LEGACY_MIGRATIONS.len())
        .unwrap();
    let mut head = ChainHead::EMPTY;
    let sealed: Vec<SealedRecord> = (1..=records)
        .map(|n| head.seal(&request_record(n)))
        .collect();
    for r in &sealed {
        conn.execute(
            "INSERT INTO audit (seq, id, prev_hash, hash, record, time, principal_id, requested_model, facts)
             VALUES (?1, ?2, ?3, ?4, ?5, json_extract(?5, '$.time'), json_extract(?5, '$.principal_id'),
                     json_extract(?5, '$.requested_model'), json_extract(?5, '$.facts'))",
            rusqlite::params![r.seq as i64, r.id, r.prev_hash.to_hex(), r.hash.to_hex(), r.record_json],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)",
        rusqlite::params![head.seq as i64, head.hash.to_hex()],
    )
    .unwrap();
    sealed
}

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        run_in(self.dir.path(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        out
    }
}

/// How many SQLite migrations this build has: the files the store embeds.
fn sqlite_migrations() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clearance-store/migrations/sqlite");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}

#[test]
fn migrate_brings_a_previous_schema_up_to_date_and_the_legacy_log_still_verifies() {
    let ws = Workspace::new();
    let config = ws.write("clearance.toml", &config_text("sqlite = \"clearance.db\""));
    let c = as_str(&config);
    legacy_database(&ws.path("clearance.db"), 3);

    let (code, out, _) = ws.run(&["migrate", "--config", c, "--check"]);
    assert_eq!(code, Some(1), "{out}");
    let latest = sqlite_migrations();
    assert!(
        out.contains(&format!(
            "schema at migration 5, this build needs {latest}: behind; run `clearance migrate"
        )),
        "{out}"
    );
    let out = ws.ok(&["migrate", "--config", c]);
    assert!(
        out.contains(&format!("schema at migration {latest} (was 5)")),
        "{out}"
    );
    let out = ws.ok(&["migrate", "--config", c, "--check"]);
    assert!(
        out.contains(&format!(
            "schema at migration {latest} of {latest}: up to date"
        )),
        "{out}"
    );
    let out = ws.ok(&["migrate", "--config", c]);
    assert!(out.contains("already up to date"), "{out}");

    let out = ws.ok(&["audit", "verify", "--config", c]);
    assert!(
        out.contains("log legacy  replica legacy  3 records  closed  OK"),
        "{out}"
    );
    // New changes go to logs of their own beside it.
    let people = ws.write("p.csv", "id\nalice\n");
    ws.ok(&["principals", "import", as_str(&people), "--config", c]);
    let out = ws.ok(&["audit", "verify", "--config", c]);
    assert!(out.contains("audit trail OK: 2 logs, 6 records"), "{out}");

    // A missing database: --check says so without creating it; migrate creates it.
    let fresh = ws.write("fresh.toml", &config_text("sqlite = \"fresh.db\""));
    let (code, out, _) = ws.run(&["migrate", "--config", as_str(&fresh), "--check"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("no database yet"), "{out}");
    assert!(!ws.path("fresh.db").exists());
    let out = ws.ok(&["migrate", "--config", as_str(&fresh)]);
    assert!(
        out.contains(&format!(
            "created, schema at migration {}",
            sqlite_migrations()
        )),
        "{out}"
    );
}

/// A source store holding some of everything: the legacy log (migrated), CLI changes
/// (principals, keys, one revoked, two directive set versions, two versions of the Denied
/// Persons List and a screening review), kill switch history and a gateway's log cut off by a
/// crash (a decision without its completion, never closed).
fn populated_source(ws: &Workspace) -> PathBuf {
    let config = ws.write("source.toml", &config_text("sqlite = \"source.db\""));
    let c = as_str(&config);
    legacy_database(&ws.path("source.db"), 4);
    ws.ok(&["migrate", "--config", c]);
    let people = ws.write(
        "people.csv",
        "id,name,citizenships\nalice,Alice,US\nbob,Bob,SE\naaron,Aaron Abraham Villa,US\n",
    );
    ws.ok(&["principals", "import", as_str(&people), "--config", c]);
    for name in ["laptop", "ci"] {
        ws.ok(&[
            "keys",
            "create",
            "--principal",
            "alice",
            "--name",
            name,
            "--config",
            c,
        ]);
    }
    let listed: Value =
        serde_json::from_str(&ws.ok(&["keys", "list", "--config", c, "--format", "json"])).unwrap();
    let first = listed[0]["id"].as_str().unwrap().to_string();
    ws.ok(&["keys", "revoke", &first, "--config", c]);
    std::fs::create_dir_all(ws.path("drafts")).unwrap();
    let d1 = ws.write("drafts/exd-1.toml", &directive("EXD-1", "mythos-5"));
    let d2 = ws.write("drafts/exd-2.toml", &directive("EXD-2", "gpt-5"));
    ws.ok(&["directives", "activate", as_str(&d1), "--config", c]);
    ws.ok(&["directives", "activate", as_str(&d2), "--config", c]);
    // An older, shorter Denied Persons List, then the full one; Aaron is on both, unchanged.
    let dpl = std::fs::read_to_string(dpl_path()).unwrap();
    let older: String = dpl.split_inclusive('\n').take(301).collect();
    let older = ws.write("dpl-older.txt", &older);
    for list in [older, dpl_path()] {
        ws.ok(&[
            "lists",
            "import",
            "--source",
            "bis-dpl",
            as_str(&list),
            "--config",
            c,
        ]);
    }
    ws.ok(&[
        "screening",
        "review",
        "aaron",
        "--clear",
        "--reason",
        "another Aaron",
        "--by",
        "ana",
        "--config",
        c,
    ]);
    block_on(async {
        let store = SqliteStore::open(&ws.path("source.db")).unwrap();
        let switch = |model: &str, disabled: bool, reason: &str| ModelSwitch {
            model: model.to_string(),
            disabled,
            reason: Some(reason.to_string()),
            changed_at: Utc::now(),
            actor: "admin-api".to_string(),
        };
        for s in [
            switch("mythos-5", true, "incident 42"),
            switch("mythos-5", false, "fixed"),
            switch("gpt-5", true, "provider outage"),
        ] {
            store.set_model_switch(&s).await.unwrap();
        }
        let decided = |n| AuditRecord {
            phase: Phase::Decision,
            ..request_record(n)
        };
        let records = [decided(10), decided(11), decided(10).into_completion()];
        write_log(&store, "crashed-replica-log", &records, false).await;
    });
    config
}

/// The real Denied Persons List (a 2021 snapshot).
fn dpl_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clearance-screening/tests/data/lists/bis-dpl.txt")
}

/// Times as both backends keep them (PostgreSQL: microseconds).
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Everything `source` holds is in `target`, equal; `target` holds one more log: the copy's
/// own record.
async fn assert_copied(source: &dyn Store, target: &dyn Store) {
    assert_eq!(
        source.principals().await.unwrap(),
        target.principals().await.unwrap()
    );
    let keys = |keys: Vec<clearance_core::key::StoredKey>| -> Vec<_> {
        keys.into_iter()
            .map(|k| {
                (
                    k.id.to_string(),
                    k.principal_id.to_string(),
                    k.name,
                    k.hash.to_hex(),
                    micros(k.created),
                    k.revoked.map(micros),
                )
            })
            .collect()
    };
    let source_keys = keys(source.keys().await.unwrap());
    assert_eq!(source_keys.len(), 2);
    assert_eq!(source_keys, keys(target.keys().await.unwrap()));
    let switches = |s: Vec<ModelSwitch>| -> Vec<_> {
        s.into_iter()
            .map(|s| (s.model, s.disabled, s.reason, micros(s.changed_at), s.actor))
            .collect()
    };
    assert_eq!(
        switches(source.model_switches().await.unwrap()),
        switches(target.model_switches().await.unwrap())
    );
    for model in ["mythos-5", "gpt-5"] {
        assert_eq!(
            switches(source.model_switch_history(model).await.unwrap()),
            switches(target.model_switch_history(model).await.unwrap()),
            "{model}"
        );
    }
    let sets = |sets: Vec<clearance_store::DirectiveSet>| -> Vec<_> {
        sets.into_iter()
            .map(|s| {
                (
                    s.version,
                    s.policy_version,
                    s.files,
                    micros(s.activated_at),
                    s.actor,
                )
            })
            .collect()
    };
    let source_sets = sets(source.directive_sets().await.unwrap());
    assert_eq!(source_sets.len(), 2);
    assert_eq!(source_sets, sets(target.directive_sets().await.unwrap()));

    assert_screening_copied(source, target).await;

    let source_logs = source.audit_logs().await.unwrap();
    let target_logs = target.audit_logs().await.unwrap();
    assert_eq!(target_logs.len(), source_logs.len() + 1);
    for log in &source_logs {
        let copy = target_logs
            .iter()
            .find(|t| t.log_id == log.log_id)
            .unwrap_or_else(|| panic!("log {} copied", log.log_id));
        assert_eq!(
            (
                &copy.replica,
                micros(copy.opened_at),
                copy.closed_at.map(micros),
                copy.recorded_head
            ),
            (
                &log.replica,
                micros(log.opened_at),
                log.closed_at.map(micros),
                log.recorded_head
            ),
            "{}",
            log.log_id
        );
        assert_eq!(
            source.audit_page(&log.log_id, 0, 1_000).await.unwrap(),
            target.audit_page(&log.log_id, 0, 1_000).await.unwrap(),
            "the records of {}, byte for byte",
            log.log_id
        );
    }
    let extra = target_logs
        .iter()
        .find(|t| !source_logs.iter().any(|s| s.log_id == t.log_id))
        .unwrap();
    assert_eq!(extra.replica, "cli");
    let records = target.audit_page(&extra.log_id, 0, 10).await.unwrap();
    let copy: AuditRecord = serde_json::from_str(&records[1].record_json).unwrap();
    let action = copy.admin.unwrap();
    assert_eq!(
        (action.action.as_str(), action.actor.as_str()),
        ("store_copy", "cli")
    );
    assert!(
        action.target.starts_with("the SQLite store at "),
        "{}",
        action.target
    );
    let details = action.details.unwrap();
    assert_eq!(details["principals"], 3);
    assert_eq!(details["screening_lists"], 2);
    assert_eq!(details["screening_reviews"], 1);

    let report = clearance_store::verify_audit_trail(target).await.unwrap();
    assert!(report.ok());
    let crashed = report
        .logs
        .iter()
        .find(|l| l.log.log_id == "crashed-replica-log")
        .unwrap();
    assert_eq!(crashed.incomplete, ["req-11"]);
}

/// Every list version (files, metadata, which is current) and every review is in `target`.
async fn assert_screening_copied(source: &dyn Store, target: &dyn Store) {
    let versions = |v: Vec<clearance_store::ScreeningList>| -> Vec<_> {
        v.into_iter()
            .map(|v| {
                (
                    v.version_id,
                    v.source,
                    v.published,
                    v.sha256,
                    v.record_count,
                    v.alias_count,
                    micros(v.imported_at),
                    v.actor,
                )
            })
            .collect()
    };
    let source_versions = versions(source.screening_lists().await.unwrap());
    assert_eq!(source_versions.len(), 2);
    assert_eq!(source_versions[0].4, 581, "the full list is the newest");
    assert_eq!(
        source_versions,
        versions(target.screening_lists().await.unwrap())
    );
    for (version_id, ..) in &source_versions {
        let data = |d: Option<clearance_store::ScreeningListData>| d.unwrap().entries;
        assert_eq!(
            data(source.screening_list(version_id).await.unwrap()),
            data(target.screening_list(version_id).await.unwrap()),
            "{version_id}"
        );
    }
    let current = |c: Vec<clearance_store::ScreeningListData>| -> Vec<_> {
        c.into_iter().map(|d| d.meta.version_id).collect()
    };
    let source_current = current(source.current_screening_lists().await.unwrap());
    assert_eq!(source_current, [source_versions[0].0.clone()]);
    assert_eq!(
        source_current,
        current(target.current_screening_lists().await.unwrap())
    );
    let reviews = |r: Vec<clearance_store::ScreeningReview>| -> Vec<_> {
        r.into_iter()
            .map(|r| {
                (
                    r.id,
                    r.subject,
                    r.list_source,
                    r.entity_id,
                    r.entry_hash,
                    r.subject_hash,
                    r.decision,
                    r.reason,
                    r.actor,
                    micros(r.at),
                )
            })
            .collect()
    };
    let source_reviews = reviews(source.screening_reviews(None).await.unwrap());
    assert_eq!(source_reviews.len(), 1);
    assert_eq!(source_reviews[0].8, "ana");
    assert_eq!(
        source_reviews,
        reviews(target.screening_reviews(None).await.unwrap())
    );
}

/// Copies the populated source into the store `target` names and checks what the command
/// says; then a second copy onto the now used target is refused.
fn copy_and_check_output(ws: &Workspace, source: &Path, target: &Path) {
    let (from, to) = (as_str(source), as_str(target));
    let out = ws.ok(&["store", "copy", "--from-config", from, "--to-config", to]);
    for expected in [
        "principals      3\n",
        "keys            2 (1 revoked)\n",
        "kill switches   2 models, 3 changes\n",
        "directive sets  2\n",
        "SCIM resources  0\n",
        "screening       2 list versions, 1 reviews\n",
        // The legacy log, nine CLI changes and the crashed replica's log.
        "audit logs      11, ",
        "log legacy  replica legacy  4 records  closed  OK",
        "log crashed-replica-log  replica test-replica  4 records  open  OK",
        "1 request has a decision record but no completion (in flight, or cut off by a crash): req-11",
        "audit trail OK: 12 logs",
    ] {
        assert!(out.contains(expected), "`{expected}` in:\n{out}");
    }
    let (code, out, err) = ws.run(&["store", "copy", "--from-config", from, "--to-config", to]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("is not empty (it holds 12 audit log(s), 3 principal(s), 2 key(s), 2 kill switch(es), 2 directive set(s), 2 screening list version(s), 1 screening review(s))"), "{err}");
    assert!(err.contains("nothing was copied"), "{err}");
}

#[test]
fn store_copy_sqlite_to_sqlite_copies_everything_and_the_copy_verifies() {
    let ws = Workspace::new();
    let source = populated_source(&ws);
    let target = ws.write("target.toml", &config_text("sqlite = \"target.db\""));
    copy_and_check_output(&ws, &source, &target);
    block_on(async {
        let source = SqliteStore::open(&ws.path("source.db")).unwrap();
        let target = SqliteStore::open(&ws.path("target.db")).unwrap();
        assert_copied(&source, &target).await;
    });
    let out = ws.ok(&["audit", "verify", "--config", as_str(&target)]);
    assert!(out.contains("audit trail OK: 12 logs"), "{out}");
}

#[test]
fn store_copy_refuses_a_source_whose_trail_is_broken() {
    let ws = Workspace::new();
    let source = populated_source(&ws);
    rusqlite::Connection::open(ws.path("source.db"))
        .unwrap()
        .execute_batch("DELETE FROM audit WHERE log_id = 'legacy' AND seq = 2")
        .unwrap();
    let target = ws.write("target.toml", &config_text("sqlite = \"target.db\""));
    let (code, _, err) = ws.run(&[
        "store",
        "copy",
        "--from-config",
        as_str(&source),
        "--to-config",
        as_str(&target),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("records #2..#2 are missing"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("nothing was copied"), "{err}");
    let out = ws.ok(&["audit", "verify", "--config", as_str(&target)]);
    assert!(out.contains("audit trail OK: 0 logs"), "{out}");
}

#[test]
fn store_copy_sqlite_to_postgres_copies_everything_and_the_copy_verifies() {
    let Some(pg) = ScratchPg::create("store_copy_sqlite_to_postgres") else {
        return;
    };
    let ws = Workspace::new();
    let source = populated_source(&ws);
    let target = ws.write(
        "target.toml",
        &config_text(&format!("postgres = \"{}\"", pg.url)),
    );
    copy_and_check_output(&ws, &source, &target);
    block_on(async {
        let source = SqliteStore::open(&ws.path("source.db")).unwrap();
        let target = PgStore::connect(PgConfig::new(pg.url.clone()))
            .await
            .unwrap();
        assert_copied(&source, &target).await;
    });
    let out = ws.ok(&["audit", "verify", "--config", as_str(&target)]);
    assert!(out.contains("audit trail OK: 12 logs"), "{out}");
}

#[test]
fn migrate_on_postgres_reports_then_applies_the_schema() {
    let Some(pg) = ScratchPg::create("migrate_on_postgres") else {
        return;
    };
    let ws = Workspace::new();
    let config = ws.write(
        "clearance.toml",
        &config_text(&format!("postgres = \"{}\"", pg.url)),
    );
    let c = as_str(&config);
    let (code, out, _) = ws.run(&["migrate", "--config", c, "--check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("the PostgreSQL store at "), "{out}");
    assert!(
        out.contains("schema at migration 0, this build needs"),
        "{out}"
    );
    let out = ws.ok(&["migrate", "--config", c]);
    assert!(out.contains("(was 0)"), "{out}");
    let out = ws.ok(&["migrate", "--config", c, "--check"]);
    assert!(out.contains(": up to date"), "{out}");
}

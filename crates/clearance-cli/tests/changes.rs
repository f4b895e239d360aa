//! Every change the CLI makes to who may do what is in the audit trail: keys created and
//! revoked, principals imported (with each changed field) and deleted, directive sets
//! activated (a new version in the store, with every file's hash). Real processes, a real
//! SQLite store.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use clearance_store::{SqliteStore, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod common;

use common::{as_str, block_on, cli_changes, config_text, directive, export, run_in, write_file};

struct Workspace {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Workspace {
    /// A SQLite store and no directive folder: the store holds the directive set.
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let config = write_file(
            dir.path(),
            "clearance.toml",
            &config_text("sqlite = \"clearance.db\""),
        );
        Workspace { dir, config }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }

    /// Runs the binary with `--config` appended.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let mut all = args.to_vec();
        all.extend(["--config", as_str(&self.config)]);
        run_in(self.dir.path(), &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    }
}

#[test]
fn keys_and_principal_changes_are_recorded_with_actor_cli_and_what_changed() {
    let ws = Workspace::new();
    let people = ws.write(
        "people.csv",
        "id,name,citizenships,residence\nalice,Alice,US,US\nbob,Bob,SE,SE\n",
    );
    ws.ok(&["principals", "import", as_str(&people)]);
    let created: Value = serde_json::from_str(&ws.ok(&[
        "keys",
        "create",
        "--principal",
        "alice",
        "--name",
        "ci",
        "--format",
        "json",
    ]))
    .unwrap();
    let key_id = created["id"].as_str().unwrap();
    ws.ok(&["keys", "revoke", key_id]);
    let update = ws.write(
        "update.csv",
        "id,name,citizenships,residence\nalice,Alice,US,US\nbob,Bob,SE,DE\ncarol,Carol,FR,FR\n",
    );
    let out = ws.ok(&["principals", "import", as_str(&update)]);
    assert!(out.contains("1 new, 1 updated, 1 unchanged"), "{out}");
    let (code, out, err) = ws.run(&["principals", "delete", "carol", "zed"]);
    assert_eq!(code, Some(1), "one of the two is missing");
    assert!(out.contains("deleted 1 principal: carol"), "{out}");
    assert!(err.contains("no principal `zed` in the registry"), "{err}");
    ws.ok(&["principals", "delete", "bob"]);
    let (code, _, err) = ws.run(&["principals", "delete", "nobody"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nothing was deleted"), "{err}");

    let trail = export(ws.dir.path(), &ws.config);
    let changes = cli_changes(&trail);
    let actions: Vec<(&str, &str)> = changes
        .iter()
        .map(|r| {
            (
                r["admin"]["action"].as_str().unwrap(),
                r["admin"]["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("principals_import", "people.csv"),
            ("key_create", "alice"),
            ("key_revoke", key_id),
            ("principals_import", "update.csv"),
            ("principals_delete", "carol"),
            ("principals_delete", "bob"),
        ],
        "nothing is recorded for a change that was not made"
    );
    for change in &changes {
        assert_eq!(change["decision"], "admin");
        assert_eq!(change["status"], 200);
        assert_eq!(change["replica"], "cli");
    }
    let details = |i: usize| &changes[i]["admin"]["details"];
    let ids = |i: usize| -> Vec<Value> {
        details(i)["inserted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect()
    };
    assert_eq!(ids(0), [json!("alice"), json!("bob")]);
    assert_eq!(
        details(0)["inserted"][1]["citizenships"],
        json!(["SE"]),
        "a new principal is recorded with every fact"
    );
    assert_eq!(details(0)["updated"], json!([]));
    assert_eq!(
        details(1),
        &json!({ "key_id": key_id, "principal": "alice", "name": "ci" })
    );
    assert_eq!(changes[2]["admin"].get("details"), None);
    assert_eq!(ids(3), [json!("carol")]);
    assert_eq!(
        details(3)["updated"],
        json!([{ "id": "bob", "changed": { "residence": ["SE", "DE"] } }]),
        "only the changed field, with its old and new value; alice is unchanged and not listed"
    );
    assert_eq!(
        details(3)["counts"],
        json!({ "inserted": 1, "updated": 1, "unchanged": 1 })
    );
    assert_eq!(details(4)["deleted"], json!(["carol"]));
    assert_eq!(details(4)["missing"], json!(["zed"]));
    assert_eq!(details(5)["deleted"], json!(["bob"]));
    assert_eq!(details(5)["missing"], json!([]));
    // The key is never recorded, only its id.
    let key = created["key"].as_str().unwrap();
    assert!(!trail.iter().any(|l| l.to_string().contains(key)));

    // Each change is a short log of its own, opened and closed: the trail verifies.
    let out = ws.ok(&["audit", "verify"]);
    assert!(out.contains("audit trail OK: 6 logs"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("replica cli  3 records  closed  OK"))
            .count(),
        6,
        "{out}"
    );
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn directives_activate_stores_a_version_and_records_every_file_hash() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.dir.path().join("drafts")).unwrap();
    let first_text = directive("EXD-1", "mythos-5");
    let first = ws.write("drafts/exd-1.toml", &first_text);

    let dry = ws.ok(&["directives", "activate", as_str(&first), "--dry-run"]);
    assert!(dry.contains("nothing was written"), "{dry}");
    let out = ws.ok(&["directives", "activate", as_str(&first)]);
    assert!(out.contains("store version 1,"), "{out}");
    let listed: Value =
        serde_json::from_str(&ws.ok(&["directives", "list", "--format", "json"])).unwrap();
    assert_eq!(
        (listed["store_version"].as_i64(), listed["dir"].as_str()),
        (Some(1), None)
    );
    assert_eq!(listed["directives"][0]["id"], "EXD-1");
    let v1 = listed["version"].as_str().unwrap().to_string();
    assert!(out.contains(&format!("policy version {v1}")), "{out}");

    // A second file joins the stored set; the record names both, with their hashes.
    let second_text = directive("EXD-2", "gpt-5");
    let second = ws.write("drafts/exd-2.toml", &second_text);
    let out = ws.ok(&["directives", "activate", as_str(&second)]);
    assert!(out.contains("store version 2,"), "{out}");
    assert!(out.contains(&format!("(was {v1})")), "{out}");
    let checked: Value =
        serde_json::from_str(&ws.ok(&["directives", "check", "--format", "json"])).unwrap();
    assert_eq!(checked["store_version"], 2);
    assert_eq!(checked["directives"].as_array().unwrap().len(), 2);
    let v2 = checked["version"].as_str().unwrap().to_string();

    // An invalid set changes nothing and records nothing; the same set again is no new version.
    let bad = ws.write(
        "drafts/bad.toml",
        &directive("EXD-1", "mythos-5").replace("!principal.us_person", "principal.shoe_size > 3"),
    );
    let (code, _, err) = ws.run(&["directives", "activate", as_str(&bad)]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("nothing was activated; the store is unchanged"),
        "{err}"
    );
    let out = ws.ok(&["directives", "activate", as_str(&second)]);
    assert!(out.contains("is already active"), "{out}");

    let trail = export(ws.dir.path(), &ws.config);
    let activations: Vec<Value> = cli_changes(&trail);
    assert_eq!(activations.len(), 2, "{activations:?}");
    let (a1, a2) = (&activations[0]["admin"], &activations[1]["admin"]);
    assert_eq!(a1["action"], "directives_activate");
    assert_eq!(a1["target"], v1.as_str());
    assert_eq!(a1["details"]["store_version"], 1);
    assert_eq!(
        a1["details"]["files"],
        json!([{ "name": "exd-1.toml", "sha256": sha256(&first_text), "text": first_text }])
    );
    assert_eq!(a2["target"], v2.as_str());
    assert_eq!(a2["details"]["from"], v1.as_str());
    assert_eq!(a2["details"]["store_version"], 2);
    assert_eq!(
        a2["details"]["files"],
        json!([
            { "name": "exd-1.toml", "sha256": sha256(&first_text), "text": first_text },
            { "name": "exd-2.toml", "sha256": sha256(&second_text), "text": second_text },
        ])
    );

    let sets = block_on(async {
        let store = SqliteStore::open(&ws.dir.path().join("clearance.db")).unwrap();
        store.directive_sets().await.unwrap()
    });
    let summary: Vec<(i64, &str, &str, usize)> = sets
        .iter()
        .map(|s| {
            (
                s.version,
                s.policy_version.as_str(),
                s.actor.as_str(),
                s.files.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(1, v1.as_str(), "cli", 1), (2, v2.as_str(), "cli", 2)]
    );
    assert_eq!(sets[1].files[1].content, second_text);

    // Explain reads the stored set too.
    ws.ok(&[
        "principals",
        "import",
        as_str(&ws.write("p.csv", "id,citizenships\nbo,SE\n")),
    ]);
    let explained: Value = serde_json::from_str(&ws.ok(&[
        "explain",
        "--principal",
        "bo",
        "--model",
        "mythos-5",
        "--at",
        "2026-07-01T00:00:00Z",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(explained["decision"], "deny");
}

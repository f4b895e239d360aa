//! `clearance directives check|list|activate|preview|diff|lint` and `clearance explain`, as a
//! compliance officer uses them: the real binary, real files, a real SQLite store, a real cvc5.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, Decision};
use clearance_core::facts::{Facts, RequestFacts};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::principal::Principal;
use clearance_store::{SqliteStore, Store};
use serde_json::Value;

mod common;

use common::{BIN, as_str, stderr, stdout, write_file};

/// The story's registry (demo/principals.csv) plus foreign nationals abroad.
const PEOPLE: &str =
    "id,name,citizenships,permanent_residency,protected_individual,residence,org,employee,roles
alice,Alice Adams,US,,false,FR,acme-labs,true,engineer
bjorn,Björn Berg,SE,,false,US,acme-labs,true,engineer
carla,Carla Cruz,US;MX,,false,US,partner-co,false,analyst
dev,Dev Patel,IN,US,false,US,acme-labs,true,engineer
farah,Farah Haddad,SY,,true,US,acme-labs,true,researcher
ghost,Unknown Contractor,,,false,,,false,
li,Li Wei,CN,,false,CN,partner-co,false,analyst
hans,Hans Weber,DE,,false,DE,acme-labs,true,engineer
";

const HEADER: &str = "title = \"Export control: Fable 5 and Mythos 5\"
authority = \"Export control directive under national security authorities, 2026-06-15\"
effective = \"2026-06-15T00:00:00Z\"
";

fn directive(id: &str, mode: &str, when: &str) -> String {
    format!(
        "id = \"{id}\"\n{HEADER}mode = \"{mode}\"\nmodels = [\"fable-5\", \"mythos-5\"]\nwhen = \"{when}\"\neffect = \"deny\"\n"
    )
}

struct Workspace {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Workspace {
    /// A config with four models (two of them `controlled`), a directive directory and a store
    /// holding the story's principals.
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("directives")).unwrap();
        std::fs::create_dir(dir.path().join("drafts")).unwrap();
        let config = dir.path().join("clearance.toml");
        std::fs::write(
            &config,
            r#"[server]
listen = "127.0.0.1:0"

[store]
sqlite = "clearance.db"

[directives]
dir = "directives"

[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9"

[providers.openlab]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "mythos-5"
provider = "acme"
tags = ["frontier", "controlled"]

[[models]]
name = "fable-5"
provider = "acme"
tags = ["frontier", "controlled"]

[[models]]
name = "gpt-5"
provider = "openlab"
tags = ["frontier"]

[[models]]
name = "open-model"
provider = "openlab"
tags = ["open-weights"]
"#,
        )
        .unwrap();
        let ws = Workspace { dir, config };
        let people = ws.write("people.csv", PEOPLE);
        let import = ws.run(&["principals", "import", as_str(&people)]);
        assert!(import.status.success(), "{}", stderr(&import));
        ws
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }

    /// Runs the binary with `--config` appended.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .args(["--config", as_str(&self.config)])
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let output = self.run(&all);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    }

    /// Every file of the directive directory with its bytes, hidden ones included.
    fn directory(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(self.path("directives"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }
}

#[test]
fn check_reports_every_problem_with_file_and_line_and_exits_1() {
    let ws = Workspace::new();
    ws.write(
        "drafts/a-mode.toml",
        &directive("EXD-A", "enforced", "!principal.us_person"),
    );
    ws.write(
        "drafts/b-model.toml",
        &directive("EXD-B", "enforce", "!principal.us_person").replace("fable-5", "fable-6"),
    );
    let output = ws.run(&["directives", "check", "drafts"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    for expected in [
        "drafts/a-mode.toml:5: unknown mode `enforced`",
        "drafts/b-model.toml:6: `EXD-B` names unknown model `fable-6`; configured models: mythos-5, fable-5, gpt-5, open-model",
        "2 problems in the directive set",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }

    // Cedar's schema check, at the line of the condition.
    std::fs::remove_file(ws.path("drafts/a-mode.toml")).unwrap();
    ws.write(
        "drafts/b-model.toml",
        &directive("EXD-B", "enforce", "principal.shoe_size > 3"),
    );
    let output = ws.run(&["directives", "check", "drafts"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("drafts/b-model.toml:7: `EXD-B`: Cedar schema check"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_defaults_to_the_configured_directory_and_summarises_each_directive() {
    let ws = Workspace::new();
    ws.write(
        "directives/exd.toml",
        &directive("EXD-2026-06", "shadow", "!principal.us_person"),
    );
    ws.write(
        "directives/cit.cedar",
        "@id(\"EXD-CIT\")\n@title(\"Citizens only\")\n@authority(\"Order 2\")\n@mode(\"enforce\")\nforbid (principal, action, resource in ModelTag::\"controlled\")\nwhen { !principal.us_citizen };\n",
    );
    let output = ws.run(&["directives", "check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("2 directives OK (version "), "{out}");
    let row = out.lines().find(|l| l.starts_with("EXD-2026-06")).unwrap();
    for part in [
        "shadow",
        "deny",
        "models fable-5,mythos-5",
        "2026-06-15T00:00:00Z",
        "exd.toml:1",
        "Export control",
    ] {
        assert!(row.contains(part), "{part} in {row}");
    }
    assert!(out.lines().any(|l| l.starts_with("EXD-CIT ")), "{out}");
}

#[test]
fn activate_writes_a_valid_set_and_list_shows_it() {
    let ws = Workspace::new();
    let draft = ws.write(
        "drafts/exd.toml",
        &directive("EXD-2026-06", "shadow", "!principal.us_person"),
    );
    let dry = ws.run(&["directives", "activate", as_str(&draft), "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("nothing was written"));
    assert!(ws.directory().is_empty(), "a dry run writes nothing");

    let output = ws.run(&["directives", "activate", as_str(&draft)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = ws.json(&["directives", "list"]);
    let version = listed["version"].as_str().unwrap();
    assert!(
        stdout(&output).contains(&format!("policy version {version}")),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        ws.directory(),
        [("exd.toml".to_string(), std::fs::read(&draft).unwrap())],
        "the file, and no temp file, is in the directory"
    );
    // The store holds the set too, as a new version: what every gateway on it enforces.
    let stored = common::block_on(async {
        let store = SqliteStore::open(&ws.path("clearance.db")).unwrap();
        store.active_directive_set().await.unwrap().unwrap()
    });
    assert_eq!(
        (
            stored.version,
            stored.policy_version.as_str(),
            stored.actor.as_str()
        ),
        (1, version, "cli")
    );
    assert!(
        stdout(&output).contains("store version 1,"),
        "{}",
        stdout(&output)
    );
    let d = &listed["directives"][0];
    assert_eq!(d["id"], "EXD-2026-06");
    assert_eq!(d["mode"], "shadow");
    assert_eq!(d["effect"], "deny");
    assert_eq!(
        d["scope"]["models"],
        serde_json::json!(["fable-5", "mythos-5"])
    );
    assert_eq!(d["window"]["effective"], "2026-06-15T00:00:00Z");
    assert!(d["file"].as_str().unwrap().ends_with("exd.toml"));

    // Moving from shadow to enforce: the same name replaces the file.
    let enforce = ws.write(
        "drafts/exd.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let output = ws.run(&["directives", "activate", as_str(&enforce)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("(was {version})")));
    assert_eq!(
        ws.json(&["directives", "list"])["directives"][0]["mode"],
        "enforce"
    );
}

#[test]
fn activate_refuses_an_invalid_set_and_changes_nothing() {
    let ws = Workspace::new();
    ws.write(
        "directives/exd.toml",
        &directive("EXD-2026-06", "shadow", "!principal.us_person"),
    );
    let before = ws.directory();
    let good = ws.write(
        "drafts/cit.toml",
        &directive("EXD-CIT", "enforce", "!principal.us_citizen"),
    );
    // Same id as the active directive: the set would hold it twice.
    let clash = ws.write(
        "drafts/again.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let output = ws.run(&["directives", "activate", as_str(&good), as_str(&clash)]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "{}:1: duplicate directive id `EXD-2026-06`; first defined at",
            as_str(&clash)
        )),
        "the error names the draft as given: {err}"
    );
    assert!(err.contains("nothing was activated"), "{err}");
    assert_eq!(ws.directory(), before, "the directory is unchanged");

    let bad = ws.write(
        "drafts/bad.toml",
        &directive("EXD-BAD", "enforce", "principal.shoe_size > 3"),
    );
    let output = ws.run(&["directives", "activate", as_str(&good), as_str(&bad)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!(
            "{}:7: `EXD-BAD`: Cedar schema check",
            as_str(&bad)
        )),
        "the error names the draft as given: {}",
        stderr(&output)
    );
    assert_eq!(ws.directory(), before);

    let text = ws.write("drafts/notes.txt", "hello");
    let output = ws.run(&["directives", "activate", as_str(&text)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("must end in .toml or .cedar"),
        "{}",
        stderr(&output)
    );
    assert_eq!(ws.directory(), before);
}

fn explain(ws: &Workspace, who: &str, model: &str, extra: &[&str]) -> Value {
    let mut args = vec!["explain", "--principal", who, "--model", model];
    args.extend(extra);
    if !extra.contains(&"--at") {
        args.extend(["--at", "2026-07-01T00:00:00Z"]);
    }
    ws.json(&args)
}

#[test]
fn explain_gives_the_story_under_the_not_a_us_person_wording() {
    let ws = Workspace::new();
    ws.write(
        "directives/exd.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let decisions: Vec<(&str, String)> = ["alice", "bjorn", "carla", "dev", "farah", "ghost"]
        .into_iter()
        .map(|who| {
            let e = explain(&ws, who, "mythos-5", &["--country", "US"]);
            (who, e["decision"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("alice", "allow".to_string()), // US citizen abroad
            ("bjorn", "deny".to_string()),  // foreign national inside the US
            ("carla", "allow".to_string()), // dual national
            ("dev", "allow".to_string()),   // green-card holder
            ("farah", "allow".to_string()), // refugee
            ("ghost", "deny".to_string()),  // no facts
        ]
    );
    let bjorn = explain(&ws, "bjorn", "mythos-5", &["--country", "US"]);
    assert_eq!(bjorn["served_model"], Value::Null);
    assert_eq!(bjorn["directives"][0]["id"], "EXD-2026-06");
    assert_eq!(bjorn["directives"][0]["fired"], true);
    assert_eq!(
        bjorn["directives"][0]["facts_read"]["principal.us_person"],
        false
    );
    assert_eq!(bjorn["facts"]["context"]["country"], "US");
    let ghost = explain(&ws, "ghost", "mythos-5", &[]);
    assert_eq!(ghost["missing_facts"], serde_json::json!(["citizenships"]));
    assert_eq!(explain(&ws, "bjorn", "gpt-5", &[])["decision"], "allow");
    let before = explain(&ws, "bjorn", "mythos-5", &["--at", "2026-06-14T23:59:59Z"]);
    assert_eq!(before["decision"], "allow", "not in effect yet");

    let text = ws.run(&[
        "explain",
        "--principal",
        "bjorn",
        "--model",
        "mythos-5",
        "--capability",
        "tools",
        "--api",
        "anthropic",
    ]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        stdout(&text).starts_with("Decision: DENY"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn explain_under_the_not_a_us_citizen_wording_also_denies_the_green_card_holder_and_the_refugee() {
    let ws = Workspace::new();
    ws.write(
        "directives/cit.toml",
        &directive("EXD-CIT", "enforce", "!principal.us_citizen"),
    );
    for (who, decision) in [
        ("alice", "allow"),
        ("bjorn", "deny"),
        ("carla", "allow"),
        ("dev", "deny"),
        ("farah", "deny"),
        ("ghost", "deny"),
    ] {
        assert_eq!(
            explain(&ws, who, "fable-5", &[])["decision"],
            decision,
            "{who}"
        );
    }
}

#[test]
fn explain_names_what_is_wrong_with_its_arguments() {
    let ws = Workspace::new();
    let fails = |args: &[&str], expected: &str| {
        let output = ws.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "missing `{expected}` in {}",
            stderr(&output)
        );
    };
    fails(
        &["explain", "--principal", "zed", "--model", "mythos-5"],
        "no principal `zed` in the registry",
    );
    fails(
        &["explain", "--principal", "bjorn", "--model", "mythos-6"],
        "unknown model `mythos-6`; configured models: mythos-5, fable-5, gpt-5, open-model",
    );
    fails(
        &[
            "explain",
            "--principal",
            "bjorn",
            "--model",
            "mythos-5",
            "--country",
            "XX",
        ],
        "`XX` is not an ISO 3166-1 alpha-2 country code",
    );
    fails(
        &[
            "explain",
            "--principal",
            "bjorn",
            "--model",
            "mythos-5",
            "--at",
            "tomorrow",
        ],
        "--at `tomorrow` is not an RFC 3339 time",
    );
}

/// Writes audit records through the store API, with the facts each request was decided on.
fn seed_audit_log(ws: &Workspace, now: DateTime<Utc>) {
    let people = parse_principals(PEOPLE, ImportFormat::Csv).unwrap();
    let person = |id: &str| -> &Principal { people.iter().find(|p| p.id.as_str() == id).unwrap() };
    let mut records = Vec::new();
    let mut add = |who: Option<&str>,
                   model: &str,
                   country: Option<&str>,
                   facts: bool,
                   count: usize,
                   age: Duration| {
        for _ in 0..count {
            let n = records.len();
            records.push(AuditRecord {
                id: format!("req-{n}"),
                time: now - age,
                api: ApiSurface::OpenaiChat,
                key_id: None,
                token: None,
                principal_id: who.map(String::from),
                requested_model: Some(model.to_string()),
                served_model: Some(model.to_string()),
                decision: if who.is_some() {
                    Decision::Allow
                } else {
                    Decision::Rejected
                },
                directive_ids: vec![],
                shadow_hits: vec![],
                shadow_decision: None,
                policy_version: None,
                facts: who.filter(|_| facts).map(|id| Facts {
                    principal: person(id).into(),
                    request: RequestFacts {
                        country: country.map(|c| c.parse().unwrap()),
                        capabilities: Default::default(),
                        api: ApiSurface::OpenaiChat,
                        max_tokens: Some(512),
                        app: None,
                    },
                }),
                facts_read: vec![],
                stream: false,
                status: 200,
                upstream_status: Some(200),
                duration_us: 1,
                overhead_us: 1,
                input_tokens: None,
                output_tokens: None,
                error_class: None,
                attempts: Vec::new(),
                admin: None,
                phase: clearance_core::audit::Phase::Whole,
                replica: None,
            });
        }
    };
    let hour = Duration::hours(1);
    add(Some("alice"), "mythos-5", Some("FR"), true, 4, hour);
    add(Some("bjorn"), "mythos-5", Some("US"), true, 3, hour);
    add(Some("bjorn"), "fable-5", Some("US"), true, 2, hour);
    add(Some("dev"), "mythos-5", Some("US"), true, 5, hour);
    add(Some("ghost"), "mythos-5", None, true, 1, hour);
    add(Some("li"), "mythos-5", Some("CN"), true, 6, hour);
    add(Some("li"), "gpt-5", Some("CN"), true, 10, hour);
    add(Some("farah"), "mythos-5", Some("US"), false, 2, hour);
    add(
        Some("bjorn"),
        "mythos-5",
        Some("US"),
        true,
        1,
        Duration::days(40),
    );
    add(None, "mythos-5", None, false, 1, hour);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&ws.path("clearance.db")).unwrap();
        common::write_log(&store, "seeded", &records, true).await;
    });
}

#[test]
fn preview_counts_who_and_which_recorded_requests_a_draft_cuts_beside_a_blanket_block() {
    let ws = Workspace::new();
    seed_audit_log(&ws, Utc::now());
    let draft = ws.write(
        "drafts/exd.toml",
        &directive("EXD-2026-06", "shadow", "!principal.us_person"),
    );
    let p = ws.json(&["directives", "preview", as_str(&draft), "--since", "30d"]);
    let tally = |v: &Value| {
        (
            v["denied"].as_u64().unwrap(),
            v["rerouted"].as_u64().unwrap(),
        )
    };

    let (draft_p, blanket_p) = (&p["draft"]["principals"], &p["blanket"]["principals"]);
    assert_eq!(draft_p["registry"], 8);
    assert_eq!(
        draft_p["ids"],
        serde_json::json!(["bjorn", "ghost", "hans", "li"])
    );
    assert_eq!(
        (draft_p["affected"].as_u64(), blanket_p["affected"].as_u64()),
        (Some(4), Some(8))
    );
    assert_eq!(tally(&draft_p["by_model"]["mythos-5"]), (4, 0));
    assert_eq!(tally(&blanket_p["by_model"]["fable-5"]), (8, 0));
    assert_eq!(tally(&draft_p["by_org"]["acme-labs"]), (2, 0));
    assert_eq!(tally(&draft_p["by_org"]["partner-co"]), (1, 0));
    assert_eq!(tally(&draft_p["by_citizenship"]["unknown"]), (1, 0));
    assert_eq!(tally(&blanket_p["by_citizenship"]["US"]), (2, 0));
    assert_eq!(tally(&draft_p["by_residence"]["DE"]), (1, 0));

    let (draft_r, blanket_r) = (&p["draft"]["requests"], &p["blanket"]["requests"]);
    for r in [draft_r, blanket_r] {
        assert_eq!(
            r["in_window"], 33,
            "the 40-day-old and the unauthenticated records are out"
        );
        assert_eq!(r["in_scope"], 23, "li's gpt-5 requests are out of scope");
        assert_eq!(r["without_facts"], 2, "farah's records hold no facts");
    }
    assert_eq!(tally(draft_r), (12, 0));
    assert_eq!(tally(blanket_r), (21, 0));
    assert_eq!(tally(&draft_r["by_model"]["mythos-5"]), (10, 0));
    assert_eq!(tally(&draft_r["by_model"]["fable-5"]), (2, 0));
    assert_eq!(tally(&blanket_r["by_model"]["mythos-5"]), (19, 0));
    assert_eq!(tally(&draft_r["by_country"]["US"]), (5, 0));
    assert_eq!(tally(&draft_r["by_country"]["CN"]), (6, 0));
    assert_eq!(tally(&draft_r["by_country"]["unknown"]), (1, 0));
    assert!(draft_r["by_country"].get("FR").is_none());
    assert_eq!(tally(&blanket_r["by_country"]["FR"]), (4, 0));
    assert_eq!(tally(&draft_r["by_principal"]["bjorn"]), (5, 0));
    assert_eq!(tally(&draft_r["by_principal"]["li"]), (6, 0));
    assert_eq!(tally(&draft_r["by_org"]["acme-labs"]), (5, 0));
    assert_eq!(tally(&blanket_r["by_principal"]["dev"]), (5, 0));
    assert_eq!(p["directive"]["mode"], "shadow");
    // Beside the counts, the proof: a shadow draft changes nobody's access today, and if
    // promoted it would cut non-US persons.
    assert_eq!(p["proof"]["no_new_access"], true, "{}", p["proof"]);
    assert_eq!(
        p["proof"]["shadow_if_promoted"][0]["directive"],
        "EXD-2026-06"
    );

    // A shorter window reads fewer records; the text puts the two side by side.
    let text = ws.run(&["directives", "preview", as_str(&draft), "--since", "1m"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(out.contains("RECORDED REQUESTS (in window: 0;"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("lose access or rerouted"))
        .unwrap();
    assert_eq!(
        row.split_whitespace().rev().take(2).collect::<Vec<_>>(),
        ["8", "4"]
    );
}

#[test]
fn preview_refuses_a_bad_window_and_an_invalid_draft() {
    let ws = Workspace::new();
    let draft = ws.write(
        "drafts/exd.toml",
        &directive("EXD-2026-06", "shadow", "!principal.us_person"),
    );
    let output = ws.run(&[
        "directives",
        "preview",
        as_str(&draft),
        "--since",
        "30 days",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--since `30 days`: give a duration such as 30d"),
        "{}",
        stderr(&output)
    );
    let bad = ws.write(
        "drafts/bad.toml",
        &directive("EXD-BAD", "shadow", "!principal.us_person").replace("mythos-5", "mythos-6"),
    );
    let output = ws.run(&["directives", "preview", as_str(&bad)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!(
            "{}:6: `EXD-BAD` names unknown model `mythos-6`",
            as_str(&bad)
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_directive_file_that_is_not_utf8_is_refused_at_its_line() {
    let ws = Workspace::new();
    let bad = ws.dir.path().join("drafts/bad.toml");
    std::fs::write(
        &bad,
        b"id = \"EXD-BAD\"\ntitle = \"Caf\xe9\"\nauthority = \"\xff\"\n",
    )
    .unwrap();
    let expected = ":2: not UTF-8 (byte 0xe9 at column 13)";
    for args in [
        vec!["directives", "check", "drafts"],
        vec!["directives", "preview", "drafts/bad.toml"],
        vec!["directives", "activate", "drafts/bad.toml"],
    ] {
        let output = ws.run(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("bad.toml{expected}")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn diff_proves_the_story_draft_and_activation_refuses_an_edit_that_widens_access() {
    let ws = Workspace::new();
    let draft = ws.write(
        "drafts/EXD-2026-06.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let diff = ws.run(&["directives", "diff", "--active", as_str(&draft)]);
    assert!(diff.status.success(), "{}", stderr(&diff));
    let out = stdout(&diff);
    assert!(out.starts_with("proved: nobody gains access"), "{out}");
    assert!(
        out.contains(
            "EXD-2026-06 loses access to: citizenships does not contain US and permanent_residency \
             does not contain US and not protected_individual, on fable-5, mythos-5"
        ),
        "{out}"
    );
    assert!(out.contains("[served -> denied (451)]"), "{out}");

    let activate = ws.run(&[
        "directives",
        "activate",
        as_str(&draft),
        "--require-no-new-access",
    ]);
    assert!(activate.status.success(), "{}", stderr(&activate));
    assert!(
        stdout(&activate).contains("proof: proved: nobody gains access"),
        "{}",
        stdout(&activate)
    );
    let active = ws.directory();

    // The same id, narrowed to requests from CN: everyone else outside the US gains access.
    let narrowed = ws.write(
        "drafts/EXD-2026-06.toml",
        &directive(
            "EXD-2026-06",
            "enforce",
            "!principal.us_person && context.country == \\\"CN\\\"",
        ),
    );
    let report = ws.json(&["directives", "diff", "--active", as_str(&narrowed)]);
    assert_eq!(report["no_new_access"], false);
    let gains = &report["models"][0]["gains"];
    assert_eq!(gains["verdict"], "found");
    for example in gains["examples"].as_array().unwrap() {
        assert_ne!(example["caller"]["context"]["country"], "CN");
        assert_eq!(example["caller"]["principal"]["us_person"], false);
        assert_eq!(
            (example["old"].as_str(), example["new"].as_str()),
            (Some("denied (451)"), Some("served"))
        );
    }
    let refused = ws.run(&[
        "directives",
        "activate",
        as_str(&narrowed),
        "--require-no-new-access",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("SOMEONE GAINS ACCESS"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("nothing was activated"));
    assert_eq!(ws.directory(), active, "the refused edit changed nothing");

    // Two folders: old, then new.
    std::fs::create_dir(ws.path("next")).unwrap();
    std::fs::copy(&narrowed, ws.path("next/EXD-2026-06.toml")).unwrap();
    let folders = ws.run(&[
        "directives",
        "diff",
        "directives",
        "next",
        "--require-no-new-access",
    ]);
    assert_eq!(folders.status.code(), Some(1), "{}", stdout(&folders));
    assert!(stdout(&folders).starts_with("REFUTED: someone gains access"));
}

#[test]
fn without_a_solver_diff_says_how_to_get_one_and_preview_still_works() {
    let ws = Workspace::new();
    let draft = ws.write(
        "drafts/exd.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let no_solver = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--config", as_str(&ws.config)])
            .env("CVC5", "/nonexistent/cvc5")
            .current_dir(ws.dir.path())
            .output()
            .unwrap()
    };
    let diff = no_solver(&["directives", "diff", "--active", as_str(&draft)]);
    assert!(!diff.status.success());
    assert!(stderr(&diff).contains("no SMT solver"), "{}", stderr(&diff));
    assert!(
        stderr(&diff).contains("apt-get install cvc5"),
        "{}",
        stderr(&diff)
    );

    let preview = no_solver(&["directives", "preview", as_str(&draft)]);
    assert!(preview.status.success(), "{}", stderr(&preview));
    assert!(
        stdout(&preview).contains("proof: not made: no SMT solver"),
        "{}",
        stdout(&preview)
    );

    // Activation still works, but cannot be required to prove what it cannot.
    let required = no_solver(&[
        "directives",
        "activate",
        as_str(&draft),
        "--require-no-new-access",
    ]);
    assert_eq!(required.status.code(), Some(1));
    let plain = no_solver(&["directives", "activate", as_str(&draft)]);
    assert!(plain.status.success(), "{}", stderr(&plain));
}

#[test]
fn lint_finds_a_dead_and_an_erroring_directive_and_exits_1() {
    let ws = Workspace::new();
    ws.write(
        "directives/impossible.toml",
        &directive(
            "IMPOSSIBLE",
            "enforce",
            "principal.us_citizen && !principal.us_person",
        ),
    );
    ws.write(
        "directives/long.toml",
        &directive("LONG-ANSWERS", "enforce", "context.max_tokens * 2 > 100000"),
    );
    let lint = ws.run(&["directives", "lint"]);
    assert_eq!(lint.status.code(), Some(1), "{}", stderr(&lint));
    let out = stdout(&lint);
    assert!(out.starts_with("2 findings in 2 directives"), "{out}");
    assert!(out.contains("IMPOSSIBLE: dead, it never fires"), "{out}");
    assert!(
        out.contains("LONG-ANSWERS: its condition can error"),
        "{out}"
    );

    std::fs::remove_file(ws.path("directives/impossible.toml")).unwrap();
    std::fs::remove_file(ws.path("directives/long.toml")).unwrap();
    ws.write(
        "directives/exd.toml",
        &directive("EXD-2026-06", "enforce", "!principal.us_person"),
    );
    let clean = ws.json(&["directives", "lint"]);
    assert_eq!(clean["findings"], serde_json::json!([]));
    let bad_window = ws.run(&["directives", "lint", "--from", "yesterday"]);
    assert!(!bad_window.status.success());
    assert!(
        stderr(&bad_window).contains("--from `yesterday`"),
        "{}",
        stderr(&bad_window)
    );
}

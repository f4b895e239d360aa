//! `clearance deps` over 1,000,000 audit records (target: ≤ 5 s), end to end.
//!
//! Builds a SQLite store the way gateways fill it (as `preview.rs` does: sealed records
//! appended in batches through the `Store` API, here by two replicas, each to its own log):
//! 500,000 requests over 30 days, each a decision record (with the facts its decision read)
//! and its completion record (status, served model, attempts, tokens). The callers are 3,000
//! people of 12 countries with their own keys for the per-person apps (`ide`, `chat-ui`,
//! `notebook`), six service apps with keys of their own principals (one a partner abroad),
//! some callers signed in with a token, a few keys no longer in the store and principals no
//! longer in the registry. Six models on four providers, four routes with fallbacks, some
//! validated, one failed, one never tested. An export-control directive denies the two
//! controlled models to non-US persons: those who ask anyway are denied (451). About 4 % of
//! the served requests fall back, under 1 % fail, 0.5 % are refused before authentication
//! (no principal), and an operator's action is recorded now and then.
//!
//! Then, in the same run and interleaved (the order turns every run), 5 times each (medians):
//!
//! - **scan**: `Store::audit_usage` over the same window, in process (the baseline: what the
//!   store alone takes to read the records `deps` reads);
//! - **deps**: the `clearance deps --format json` binary, whole process (open the store,
//!   read the window, join decisions with completions, count, decide who may use each
//!   fallback, render the JSON);
//! - **deps --directive**: the same with a draft directive (every row asked again under it);
//! - **empty window**: `clearance deps` over the last second: start-up, keys, principals,
//!   directives, validations, and nothing to count.
//!
//! ```sh
//! cargo bench -p clearance-cli --bench deps
//! CLEARANCE_BENCH_RECORDS=200000 cargo bench -p clearance-cli --bench deps   # smaller
//! CLEARANCE_BENCH_RUNS=9 cargo bench -p clearance-cli --bench deps            # more runs
//! ```
//!
//! The generated store is kept in `target/tmp/deps-bench/` and reused by the next run with the
//! same record count (delete it to regenerate).
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench reads its knobs from the environment"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{
    AdminAction, Attempt, AttemptOutcome, AuditRecord, Decision, Phase, SealedRecord, TokenCaller,
};
use clearance_core::country::CountryCode;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_store::{
    FallbackValidation, SqliteStore, Store, StoredSuite, ValidationRun, issue_key,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// As in the binary, so the scan is timed with the allocator the command runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PEOPLE: usize = 3_000;
const TARGET: Duration = Duration::from_secs(5);
/// Records per append, per replica.
const BATCH: usize = 2_000;
const REPLICAS: [&str; 2] = ["gw-a", "gw-b"];
const DIRECTIVE_ID: &str = "EXD-2026-06";
const POLICY_VERSION: &str = "74eac3d7fb610280";

/// Countries with weights: where people are citizens of and live.
const COUNTRIES: [(&str, u32); 12] = [
    ("US", 40),
    ("IN", 10),
    ("CN", 8),
    ("DE", 7),
    ("GB", 7),
    ("FR", 6),
    ("CA", 5),
    ("MX", 5),
    ("BR", 4),
    ("JP", 4),
    ("SE", 2),
    ("SY", 2),
];

/// Models: name, provider, tags.
const MODELS: [(&str, &str, &[&str]); 6] = [
    ("mythos-5", "acme", &["frontier", "controlled"]),
    ("fable-5", "acme", &["frontier", "controlled"]),
    ("gpt-5", "openlab", &["frontier"]),
    ("gpt-5-mini", "openlab", &[]),
    ("gemini-flash", "gem", &[]),
    ("open-model", "selfhost", &["open-weights"]),
];

/// Routes: primary, fallbacks, validated only.
const ROUTES: [(&str, &[&str], bool); 4] = [
    ("mythos-5", &["fable-5", "gpt-5"], true),
    ("fable-5", &["gpt-5"], false),
    ("gpt-5", &["gemini-flash", "gpt-5-mini"], false),
    ("gpt-5-mini", &["open-model"], false),
];

/// Stored verdicts: primary, fallback, score (validated at 0.9); `gpt-5` → `gpt-5-mini` is
/// never tested.
const VERDICTS: [(&str, &str, f64); 5] = [
    ("mythos-5", "fable-5", 0.96),
    ("mythos-5", "gpt-5", 0.82),
    ("fable-5", "gpt-5", 0.93),
    ("gpt-5", "gemini-flash", 0.91),
    ("gpt-5-mini", "open-model", 0.71),
];

/// Apps: name, share of the traffic, whose keys (`None`: one key per person who uses it,
/// for this share of the people; `Some`: a service principal's keys), models and weights.
struct App {
    name: &'static str,
    weight: u32,
    people: Option<u32>,
    service: Option<(&'static str, &'static str)>,
    models: &'static [(&'static str, u32)],
}

const APPS: [App; 9] = [
    App {
        name: "ide",
        weight: 35,
        people: Some(60),
        service: None,
        models: &[("mythos-5", 40), ("gpt-5", 40), ("gpt-5-mini", 20)],
    },
    App {
        name: "chat-ui",
        weight: 25,
        people: Some(50),
        service: None,
        models: &[("gpt-5", 50), ("fable-5", 30), ("gemini-flash", 20)],
    },
    App {
        name: "notebook",
        weight: 5,
        people: Some(15),
        service: None,
        models: &[("gpt-5", 50), ("open-model", 50)],
    },
    App {
        name: "support-bot",
        weight: 12,
        people: None,
        service: Some(("svc-support", "US")),
        models: &[("gpt-5-mini", 70), ("open-model", 30)],
    },
    App {
        name: "batch-summarizer",
        weight: 10,
        people: None,
        service: Some(("svc-batch", "US")),
        models: &[("open-model", 60), ("gemini-flash", 40)],
    },
    App {
        name: "search-rerank",
        weight: 6,
        people: None,
        service: Some(("svc-search", "US")),
        models: &[("gpt-5-mini", 100)],
    },
    App {
        name: "code-review",
        weight: 4,
        people: None,
        service: Some(("svc-review", "US")),
        models: &[("mythos-5", 100)],
    },
    App {
        name: "legal-drafts",
        weight: 2,
        people: None,
        service: Some(("svc-legal", "US")),
        models: &[("fable-5", 60), ("gpt-5", 40)],
    },
    App {
        name: "partner-portal",
        weight: 1,
        people: None,
        service: Some(("svc-partner", "DE")),
        models: &[("gpt-5", 70), ("mythos-5", 30)],
    },
];

const ORGS: [&str; 6] = [
    "acme-labs",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
];

/// The directive in force (enforced): the controlled models for US persons only.
const DIRECTIVE: &str = r#"id = "EXD-2026-06"
title = "Export control: Fable 5 and Mythos 5"
authority = "Export control directive under national security authorities, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
tags = ["controlled"]
when = "!principal.us_person"
effect = "deny"
"#;

/// The draft of `deps --directive`: GPT-5 for nobody who holds one of three citizenships.
const DRAFT: &str = r#"id = "EXD-2026-09"
title = "Export control: GPT-5 for listed citizenships"
authority = "Export control directive, 2026-09-01"
effective = "2026-09-01T00:00:00Z"
mode = "enforce"
models = ["gpt-5"]
when = 'principal.citizenships.containsAny(["CN", "RU", "IR", "SY"])'
effect = "deny"
"#;

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, weight) in items {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    &items[0].0
}

fn country(code: &str) -> CountryCode {
    code.parse().unwrap()
}

fn person(rng: &mut StdRng, i: usize) -> Principal {
    let home = *weighted(rng, &COUNTRIES);
    let mut citizenships: BTreeSet<CountryCode> = [country(home)].into();
    let mut permanent_residency = BTreeSet::new();
    let roll = rng.random_range(0..100);
    if home != "US" && roll < 6 {
        citizenships.insert(CountryCode::US); // dual national
    } else if home != "US" && roll < 12 {
        permanent_residency.insert(CountryCode::US); // green card
    }
    let residence = if home == "US" || rng.random_range(0..10) < 4 {
        "US"
    } else {
        home
    };
    Principal {
        id: format!("p{i:05}").parse().unwrap(),
        name: format!("Person {i}"),
        citizenships,
        permanent_residency,
        protected_individual: home == "SY" && rng.random_range(0..3) == 0,
        residence: Some(country(residence)),
        org: Some(ORGS[rng.random_range(0..ORGS.len())].to_string()),
        employee: rng.random_range(0..5) != 0,
        roles: ["engineer".to_string()].into(),
        screening: None,
        active: true,
        facts_confirmed_at: None,
    }
}

/// A service's own principal: a US company's service is a US person, the partner's is not.
fn service(id: &str, home: &str) -> Principal {
    Principal {
        id: id.parse().unwrap(),
        name: format!("Service {id}"),
        citizenships: [country(home)].into(),
        permanent_residency: BTreeSet::new(),
        protected_individual: false,
        residence: Some(country(home)),
        org: Some(
            if home == "US" {
                "acme-labs"
            } else {
                "partner-co"
            }
            .into(),
        ),
        employee: false,
        roles: ["service".to_string()].into(),
        screening: None,
        active: true,
        facts_confirmed_at: None,
    }
}

/// Who can call: a principal's id, recorded facts and whether the directive lets them use the
/// controlled models.
struct Caller {
    id: String,
    facts: PrincipalFacts,
    us_person: bool,
    residence: Option<CountryCode>,
}

impl Caller {
    fn of(p: &Principal) -> Caller {
        Caller {
            id: p.id.to_string(),
            facts: PrincipalFacts::from(p),
            us_person: p.us_person(),
            residence: p.residence,
        }
    }
}

/// The callers and each app's keys: (key id, caller index).
struct World {
    callers: Vec<Caller>,
    keys: Vec<Vec<(String, usize)>>,
}

/// Principals, keys (some of people who have since left the registry) and validations.
async fn populate(store: &SqliteStore, rng: &mut StdRng, now: DateTime<Utc>) -> World {
    let people: Vec<Principal> = (0..PEOPLE).map(|i| person(rng, i)).collect();
    let services: Vec<Principal> = APPS
        .iter()
        .filter_map(|a| a.service.map(|(id, home)| service(id, home)))
        .collect();
    store.upsert_principals(&people).await.unwrap();
    store.upsert_principals(&services).await.unwrap();
    let mut callers: Vec<Caller> = people.iter().map(Caller::of).collect();
    let mut keys = Vec::new();
    for app in &APPS {
        let mut held = Vec::new();
        match (app.people, app.service) {
            (Some(percent), _) => {
                for (i, p) in people.iter().enumerate() {
                    if rng.random_range(0..100) < percent {
                        let key = issue_key(store, &p.id, Some(app.name.into()))
                            .await
                            .unwrap();
                        held.push((key.id.as_str().to_string(), i));
                    }
                }
            }
            (None, Some((id, _))) => {
                let p = services.iter().find(|s| s.id.as_str() == id).unwrap();
                callers.push(Caller::of(p));
                // Two keys: the current one and the one being rotated out.
                for _ in 0..2 {
                    let key = issue_key(store, &p.id, Some(app.name.into()))
                        .await
                        .unwrap();
                    held.push((key.id.as_str().to_string(), callers.len() - 1));
                }
            }
            (None, None) => unreachable!("an app is per person or a service"),
        }
        keys.push(held);
    }
    // Twenty people left after using their keys: their records stay, the registry forgets them.
    let left: Vec<_> = people[..20].iter().map(|p| p.id.clone()).collect();
    store.delete_principals(&left).await.unwrap();

    let text = "name = \"support\"\n# the suite's cases\n";
    let hash = clearance_gateway::validate::suite_hash(text);
    store
        .put_suite(&StoredSuite {
            hash: hash.clone(),
            name: "support".into(),
            file_name: "support.toml".into(),
            text: text.into(),
            stored_at: now,
        })
        .await
        .unwrap();
    for (run, (primary, _, _)) in ROUTES.iter().enumerate() {
        let verdicts: Vec<_> = VERDICTS.iter().filter(|v| v.0 == *primary).collect();
        if verdicts.is_empty() {
            continue;
        }
        let run_id = format!("bench-run-{run}");
        let at = now - chrono::Duration::days(3);
        store
            .start_validation_run(&ValidationRun {
                run_id: run_id.clone(),
                suite_hash: hash.clone(),
                primary_model: primary.to_string(),
                candidates: verdicts.iter().map(|v| v.1.to_string()).collect(),
                bar: 0.9,
                started_at: at,
                finished_at: None,
                actor: "cli".into(),
            })
            .await
            .unwrap();
        let standings: Vec<_> = verdicts
            .iter()
            .map(|(primary, fallback, score)| FallbackValidation {
                primary_model: primary.to_string(),
                fallback_model: fallback.to_string(),
                validated: *score >= 0.9,
                score: *score,
                bar: 0.9,
                suite_name: "support".into(),
                suite_hash: hash.clone(),
                run_id: run_id.clone(),
                at,
                reason: (*score < 0.9).then(|| format!("score {score:.2} is below the bar 0.90")),
            })
            .collect();
        store
            .finish_validation_run(&run_id, at, &standings)
            .await
            .unwrap();
    }
    World { callers, keys }
}

/// Request `n`: its decision record and its completion record (the completion alone may be
/// cut off by the caller, as for a request still in flight).
fn request(
    rng: &mut StdRng,
    world: &World,
    n: usize,
    time: DateTime<Utc>,
    replica: &str,
) -> Vec<AuditRecord> {
    let id = format!("0197a000-0000-7000-8000-{n:012}");
    let roll = rng.random_range(0..1_000);
    let mut api = ApiSurface::OpenaiChat;
    let mut r = AuditRecord::new_request(id, time, api);
    r.replica = Some(replica.into());
    if roll < 5 {
        // Refused before anyone is known: a bad key.
        r.phase = Phase::Decision;
        r.status = 401;
        r.error_class = Some("unauthenticated".into());
        let done = r.clone().into_completion();
        return vec![r, done];
    }
    let app = if roll < 35 {
        None // signed in with a token, through the chat UI
    } else {
        let weights: Vec<(usize, u32)> = APPS
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.weight))
            .collect();
        Some(*weighted(rng, &weights))
    };
    let caller = match app {
        None => {
            let caller = &world.callers[rng.random_range(0..PEOPLE)];
            r.token = Some(TokenCaller {
                issuer: "https://login.acme-labs.example".into(),
                subject: caller.id.clone(),
            });
            caller
        }
        Some(app) => {
            let keys = &world.keys[app];
            let (key, caller) = &keys[rng.random_range(0..keys.len())];
            r.key_id = Some(if roll < 38 {
                format!("{:016x}", rng.random::<u64>()) // a key deleted since
            } else {
                key.clone()
            });
            &world.callers[*caller]
        }
    };
    let models = app.map_or(APPS[1].models, |a| APPS[a].models);
    let mut model = *weighted(rng, models);
    let controlled = |m: &str| {
        MODELS
            .iter()
            .any(|x| x.0 == m && x.2.contains(&"controlled"))
    };
    if controlled(model) && !caller.us_person && rng.random_range(0..100) < 85 {
        model = "gpt-5"; // most people abroad know better than to ask
    }
    if MODELS.iter().any(|x| x.0 == model && x.1 == "acme") && rng.random_bool(0.5) {
        api = ApiSurface::AnthropicMessages;
        r.api = api;
    }
    let mut capabilities = BTreeSet::new();
    if rng.random_bool(0.5) {
        capabilities.insert(Capability::Stream);
    }
    if rng.random_bool(0.2) {
        capabilities.insert(Capability::Tools);
    }
    r.stream = capabilities.contains(&Capability::Stream);
    r.principal_id = Some(caller.id.clone());
    r.requested_model = Some(model.into());
    r.policy_version = Some(POLICY_VERSION.into());
    r.facts = Some(Facts {
        principal: caller.facts.clone(),
        request: RequestFacts {
            country: if rng.random_range(0..100) < 90 {
                caller.residence
            } else {
                Some(country(weighted::<&str>(rng, &COUNTRIES)))
            },
            capabilities,
            api,
            max_tokens: [None, Some(1024), Some(4096)][rng.random_range(0..3)],
            app: app.map(|a| APPS[a].name.to_string()),
        },
    });
    r.phase = Phase::Decision;
    let denied = controlled(model) && !caller.us_person;
    if controlled(model) {
        r.facts_read = vec!["us_person".into()];
    }
    if denied {
        r.decision = Decision::Deny;
        r.directive_ids = vec![DIRECTIVE_ID.into()];
        r.status = 451;
        r.error_class = Some("directive".into());
        let mut done = r.clone().into_completion();
        done.duration_us = rng.random_range(200..900);
        done.overhead_us = done.duration_us;
        return vec![r, done];
    }
    r.decision = Decision::Allow;
    let mut done = r.clone().into_completion();
    let took = rng.random_range(300_000..6_000_000u64);
    done.time = time + chrono::Duration::microseconds(took as i64);
    done.duration_us = took;
    done.overhead_us = rng.random_range(60..400);
    let fallbacks = ROUTES.iter().find(|r| r.0 == model).map(|r| r.1);
    let trouble = rng.random_range(0..1_000);
    let failure = [
        AttemptOutcome::Timeout,
        AttemptOutcome::Overloaded,
        AttemptOutcome::ServerError,
        AttemptOutcome::RateLimited,
    ][rng.random_range(0..4)];
    let fail = |m: &str| Attempt {
        model: m.into(),
        outcome: failure,
        ms: 2_000,
        status: (failure != AttemptOutcome::Timeout).then_some(503),
    };
    match fallbacks {
        Some(fallbacks) if trouble < 40 => {
            done.decision = Decision::Fallback;
            done.served_model = Some(fallbacks[0].into());
            done.attempts = vec![
                fail(model),
                Attempt {
                    model: fallbacks[0].into(),
                    outcome: AttemptOutcome::Served,
                    ms: took / 1_000,
                    status: Some(200),
                },
            ];
        }
        _ if trouble < 47 => {
            done.status = 503;
            done.error_class = Some("upstream_unavailable".into());
            done.attempts = std::iter::once(model)
                .chain(fallbacks.unwrap_or(&[]).iter().copied())
                .map(fail)
                .collect();
        }
        _ => done.served_model = Some(model.into()),
    }
    if done.served_model.is_some() {
        done.status = 200;
        done.upstream_status = Some(200);
        done.input_tokens = Some(rng.random_range(20..6_000));
        done.output_tokens = Some(rng.random_range(10..2_000));
    }
    vec![r, done]
}

fn admin(n: usize, time: DateTime<Utc>) -> AuditRecord {
    let action = if (n / 20_000).is_multiple_of(2) {
        "model_disable"
    } else {
        "model_enable"
    };
    AuditRecord::admin(
        format!("admin-{n}"),
        time,
        AdminAction {
            action: action.into(),
            target: "open-model".into(),
            reason: Some("provider maintenance".into()),
            actor: "admin-api".into(),
            details: None,
        },
        200,
    )
}

/// Fills a fresh store: principals, keys, validations, then `records` sealed records over
/// the 30 days before `now`, appended by two replicas in batches.
async fn generate(path: &Path, records: usize, now: DateTime<Utc>) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(20_261_204);
    let store = SqliteStore::open(path).unwrap();
    let world = populate(&store, &mut rng, now).await;
    let registry = started.elapsed();
    let span = chrono::Duration::days(30);
    let start = now - span;
    let mut heads = Vec::new();
    for replica in REPLICAS {
        heads.push(
            clearance_store::open_log(&store, replica, replica, start)
                .await
                .unwrap(),
        );
    }
    let mut batches: Vec<Vec<SealedRecord>> = vec![Vec::with_capacity(BATCH + 2); REPLICAS.len()];
    let mut written = REPLICAS.len(); // the opening records
    let mut n = 0;
    let requests = records / 2;
    while written < records {
        let time = (start + span * i32::try_from(n).unwrap() / i32::try_from(requests).unwrap())
            .min(now - chrono::Duration::minutes(10));
        let which = n % REPLICAS.len();
        let mut next = if n % 20_000 == 10_000 {
            vec![admin(n, time)]
        } else {
            request(&mut rng, &world, n, time, REPLICAS[which])
        };
        next.truncate(records - written);
        written += next.len();
        n += 1;
        let head = &mut heads[which];
        batches[which].extend(next.iter().map(|r| head.seal(r)));
        for (replica, batch) in REPLICAS.iter().zip(batches.iter_mut()) {
            if batch.len() >= BATCH || (written == records && !batch.is_empty()) {
                store.append_audit(replica, batch).await.unwrap();
                batch.clear();
            }
        }
    }
    println!(
        "generated {records} records ({n} requests and actions) in {:.0} s (registry, keys and validations {:.1} s)",
        started.elapsed().as_secs_f64(),
        registry.as_secs_f64()
    );
}

fn config_text(db: &Path, directives: &Path) -> String {
    let mut text = format!(
        "[store]\nsqlite = \"{}\"\n\n[directives]\ndir = \"{}\"\n\n\
         [providers.acme]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n\n\
         [providers.openlab]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n\
         [providers.gem]\nkind = \"gemini\"\nbase_url = \"http://127.0.0.1:9\"\n\n\
         [providers.selfhost]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        db.display(),
        directives.display()
    );
    for (name, provider, tags) in MODELS {
        let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
        text.push_str(&format!(
            "\n[[models]]\nname = \"{name}\"\nprovider = \"{provider}\"\ntags = [{}]\n",
            tags.join(", ")
        ));
    }
    for (model, fallbacks, validated_only) in ROUTES {
        let fallbacks: Vec<String> = fallbacks.iter().map(|f| format!("\"{f}\"")).collect();
        text.push_str(&format!(
            "\n[[routes]]\nmodel = \"{model}\"\nfallbacks = [{}]\nvalidated_only = {validated_only}\n",
            fallbacks.join(", ")
        ));
    }
    text
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Runs `clearance deps ARGS --format json --config CONFIG`: its wall time and its summary.
fn deps(config: &Path, args: &[&str]) -> (Duration, serde_json::Value) {
    let t = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .arg("deps")
        .args(args)
        .args(["--format", "json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (took, report["summary"].clone())
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only checks
    // that this builds and runs on a tiny store.
    let benching = std::env::args().any(|a| a == "--bench");
    let records: usize = std::env::var("CLEARANCE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if benching { 1_000_000 } else { 2_000 });
    let runs: usize = std::env::var("CLEARANCE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 5 } else { 1 })
        .max(1);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deps-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("audit-{records}.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if !db.exists() {
        let partial = dir.join(format!("audit-{records}.db.partial"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        runtime.block_on(generate(&partial, records, Utc::now()));
        std::fs::rename(&partial, &db).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
    } else {
        println!("reusing {}", db.display());
    }
    let directives = dir.join("directives");
    std::fs::create_dir_all(&directives).unwrap();
    std::fs::write(directives.join("exd-2026-06.toml"), DIRECTIVE).unwrap();
    let draft = dir.join("exd-2026-09.toml");
    std::fs::write(&draft, DRAFT).unwrap();
    let config = dir.join("clearance.toml");
    std::fs::write(&config, config_text(&db, &directives)).unwrap();

    // One window for the scan and the command: everything recorded.
    let since = Utc::now() - chrono::Duration::days(3650);
    let since_arg = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let draft_arg = draft.to_str().unwrap();
    let store = SqliteStore::open(&db).unwrap();
    // Once each before timing, so every timed run finds the file in the page cache.
    let rows = runtime.block_on(store.audit_usage(since)).unwrap().len();
    let (_, summary) = deps(&config, &["--since", &since_arg]);
    let (_, draft_summary) = deps(&config, &["--since", &since_arg, "--directive", draft_arg]);

    let (mut scan, mut whole, mut drafted, mut empty) = (vec![], vec![], vec![], vec![]);
    // The order turns every run, so none of the three always follows another.
    for run in 0..runs {
        for step in 0..3 {
            match (run + step) % 3 {
                0 => {
                    let t = Instant::now();
                    let found = runtime.block_on(store.audit_usage(since)).unwrap();
                    scan.push(t.elapsed());
                    assert_eq!(found.len(), rows);
                }
                1 => whole.push(deps(&config, &["--since", &since_arg]).0),
                _ => drafted
                    .push(deps(&config, &["--since", &since_arg, "--directive", draft_arg]).0),
            }
        }
        empty.push(deps(&config, &["--since", "1s"]).0);
    }
    let (scan_min, scan_max) = (*scan.iter().min().unwrap(), *scan.iter().max().unwrap());
    let (scan, whole_all) = (median(&mut scan), whole.clone());
    let whole = median(&mut whole);
    let drafted = median(&mut drafted);
    let empty = median(&mut empty);
    let ratio = |d: Duration| d.as_secs_f64() / scan.as_secs_f64();
    println!(
        "`clearance deps` over {records} records ({rows} usage rows; {} requests counted, {} apps, {} rows, {} single points of failure; the draft takes the primary from {} rows), medians of {runs}:",
        summary["requests"],
        summary["apps"],
        summary["rows"],
        summary["single_points_of_failure"],
        draft_summary["rows_losing_primary"],
    );
    println!(
        "  store scan alone (Store::audit_usage)    {}   (min {}, max {})   1.00x",
        secs(scan),
        secs(scan_min),
        secs(scan_max)
    );
    println!(
        "  `clearance deps --format json`           {}   {:.2}x the scan   target ≤ {} s: {}",
        secs(whole),
        ratio(whole),
        TARGET.as_secs(),
        if whole <= TARGET { "PASS" } else { "MISS" }
    );
    println!(
        "  ... with --directive DRAFT               {}   {:.2}x",
        secs(drafted),
        ratio(drafted)
    );
    println!("  ... over an empty window (start-up)      {}", secs(empty));
    println!(
        "  deps runs: {}",
        whole_all
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

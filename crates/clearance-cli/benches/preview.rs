//! Impact preview over 1 000 000 recorded requests (target: ≤ 5 s).
//!
//! Builds a SQLite store the way the gateway fills it (sealed records appended in batches
//! through the `Store` API, each with the facts its decision read): 10 000 principals of 12
//! countries, 4 models, requests spread over 30 days. Then times a "not a US person" draft's
//! preview over all of them, split into the store's grouping query and the evaluation, and
//! once more end to end through the `clearance directives preview` binary.
//!
//! ```sh
//! cargo bench -p clearance-cli --bench preview
//! CLEARANCE_BENCH_RECORDS=200000 cargo bench -p clearance-cli --bench preview   # smaller
//! ```
//!
//! The generated store is kept in `target/tmp/preview-bench/` and reused by the next run with
//! the same record count (delete it to regenerate).
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
use clearance_core::audit::{AuditRecord, Decision};
use clearance_core::country::CountryCode;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_policy::preview::{Draft, PreviewInput, RequestGroup};
use clearance_policy::{Catalog, CatalogModel, SourceFile};
use clearance_store::{SqliteStore, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// As in the binary, so the evaluation is timed with the allocator it runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRINCIPALS: usize = 10_000;
const TARGET: Duration = Duration::from_secs(5);
const BATCH: usize = 20_000;

/// Countries with weights: where principals are citizens of and live.
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

/// Models with their provider, tags and share of the traffic.
const MODELS: [(&str, &str, &[&str], u32); 4] = [
    ("mythos-5", "acme", &["frontier", "controlled"], 30),
    ("fable-5", "acme", &["frontier", "controlled"], 20),
    ("gpt-5", "openlab", &["frontier"], 30),
    ("open-model", "openlab", &["open-weights"], 20),
];

const ORGS: [&str; 8] = [
    "acme-labs",
    "partner-co",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
];
const APPS: [Option<&str>; 4] = [None, Some("ide"), Some("chat-ui"), Some("batch")];
const MAX_TOKENS: [Option<u64>; 4] = [None, Some(256), Some(1024), Some(4096)];

const DRAFT: &str = r#"id = "EXD-2026-06"
title = "Export control: Fable 5 and Mythos 5"
authority = "Export control directive under national security authorities, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
mode = "shadow"
models = ["fable-5", "mythos-5"]
when = "!principal.us_person"
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

fn principals(rng: &mut StdRng) -> Vec<Principal> {
    (0..PRINCIPALS)
        .map(|i| {
            let home = *weighted(rng, &COUNTRIES);
            let mut citizenships: BTreeSet<CountryCode> = [country(home)].into();
            let mut permanent_residency = BTreeSet::new();
            let roll = rng.random_range(0..100);
            if home != "US" && roll < 6 {
                citizenships.insert(CountryCode::US); // dual national
            } else if home != "US" && roll < 12 {
                permanent_residency.insert(CountryCode::US); // green card
            }
            let protected_individual = home == "SY" && rng.random_range(0..3) == 0;
            let residence = if home == "US" || rng.random_range(0..10) < 4 {
                "US"
            } else {
                home
            };
            let unknown = rng.random_range(0..100) == 0;
            Principal {
                id: format!("p{i:05}").parse().unwrap(),
                name: format!("Person {i}"),
                citizenships: if unknown {
                    BTreeSet::new()
                } else {
                    citizenships
                },
                permanent_residency,
                protected_individual,
                residence: (!unknown).then(|| country(residence)),
                org: (!unknown).then(|| ORGS[rng.random_range(0..ORGS.len())].to_string()),
                employee: rng.random_range(0..4) != 0,
                roles: ["engineer".to_string()].into(),
                screening: None,
                active: true,
                facts_confirmed_at: None,
            }
        })
        .collect()
}

/// Record `n` of `total`: times rise through the 30 days before `now`, as a gateway writes them.
fn record(
    rng: &mut StdRng,
    (n, total): (usize, usize),
    people: &[(Principal, PrincipalFacts)],
    now: DateTime<Utc>,
) -> AuditRecord {
    let (p, principal_facts) = &people[rng.random_range(0..people.len())];
    let model_weights: Vec<(usize, u32)> =
        MODELS.iter().enumerate().map(|(i, m)| (i, m.3)).collect();
    let (model, provider, _, _) = MODELS[*weighted(rng, &model_weights)];
    let api = if provider == "acme" {
        ApiSurface::AnthropicMessages
    } else {
        ApiSurface::OpenaiChat
    };
    let request_country = if rng.random_range(0..100) < 85 {
        p.residence
    } else {
        Some(country(weighted::<&str>(rng, &COUNTRIES)))
    };
    let mut capabilities = BTreeSet::new();
    if rng.random_bool(0.5) {
        capabilities.insert(Capability::Stream);
    }
    if rng.random_bool(0.2) {
        capabilities.insert(Capability::Tools);
    }
    if rng.random_bool(0.05) {
        capabilities.insert(Capability::Images);
    }
    let stream = capabilities.contains(&Capability::Stream);
    let span_ms: i64 = 30 * 86_400_000;
    let age = chrono::Duration::milliseconds(span_ms - span_ms * n as i64 / total as i64);
    AuditRecord {
        id: format!("0197a000-0000-7000-8000-{n:012}"),
        time: now - age,
        api,
        key_id: Some(format!("{:016x}", rng.random::<u64>())),
        token: None,
        principal_id: Some(p.id.to_string()),
        requested_model: Some(model.to_string()),
        served_model: Some(model.to_string()),
        decision: Decision::Allow,
        directive_ids: vec![],
        shadow_hits: vec![],
        shadow_decision: None,
        policy_version: Some("74eac3d7fb610280".into()),
        facts: Some(Facts {
            principal: principal_facts.clone(),
            request: RequestFacts {
                country: request_country,
                capabilities,
                api,
                max_tokens: MAX_TOKENS[rng.random_range(0..MAX_TOKENS.len())],
                app: APPS[rng.random_range(0..APPS.len())].map(String::from),
            },
        }),
        facts_read: vec![],
        stream,
        status: 200,
        upstream_status: Some(200),
        duration_us: rng.random_range(200_000..4_000_000),
        overhead_us: rng.random_range(50..400),
        input_tokens: Some(rng.random_range(10..4000)),
        output_tokens: Some(rng.random_range(10..2000)),
        error_class: None,
        attempts: Vec::new(),
        admin: None,
        phase: clearance_core::audit::Phase::Whole,
        replica: None,
    }
}

/// Fills a fresh store: principals, then `records` sealed records in batches.
async fn generate(path: &Path, records: usize, now: DateTime<Utc>) {
    let mut rng = StdRng::seed_from_u64(20_260_615);
    let store = SqliteStore::open(path).unwrap();
    let people = principals(&mut rng);
    store.upsert_principals(&people).await.unwrap();
    let people: Vec<(Principal, PrincipalFacts)> = people
        .into_iter()
        .map(|p| {
            let facts = PrincipalFacts::from(&p);
            (p, facts)
        })
        .collect();
    // One log, as one gateway process writes it.
    const LOG: &str = "bench";
    let mut head = clearance_store::open_log(&store, LOG, "bench", now)
        .await
        .unwrap();
    let (mut sealing, mut appending) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut n = 0;
    while n < records {
        let size = BATCH.min(records - n);
        let t = Instant::now();
        let batch: Vec<_> = (n..n + size)
            .map(|i| head.seal(&record(&mut rng, (i, records), &people, now)))
            .collect();
        sealing += t.elapsed();
        let t = Instant::now();
        store.append_audit(LOG, &batch).await.unwrap();
        appending += t.elapsed();
        n += size;
    }
    println!(
        "generated {records} records in {:.1} s (building and sealing {:.1} s, appending through the Store API {:.1} s, {} per batch)",
        started.elapsed().as_secs_f64(),
        sealing.as_secs_f64(),
        appending.as_secs_f64(),
        BATCH
    );
}

fn catalog() -> Catalog {
    Catalog {
        models: MODELS
            .iter()
            .map(|(name, provider, tags, _)| CatalogModel {
                name: name.to_string(),
                provider: provider.to_string(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            })
            .collect(),
    }
}

fn config_text(db: &Path) -> String {
    let mut text = format!(
        "[store]\nsqlite = \"{}\"\n\n[providers.acme]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n\n[providers.openlab]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        db.display()
    );
    for (name, provider, tags, _) in MODELS {
        let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
        text.push_str(&format!(
            "\n[[models]]\nname = \"{name}\"\nprovider = \"{provider}\"\ntags = [{}]\n",
            tags.join(", ")
        ));
    }
    text
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only checks
    // that this builds and runs on a tiny store.
    let benching = std::env::args().any(|a| a == "--bench");
    let records: usize = std::env::var("CLEARANCE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 1_000_000 } else { 2_000 });
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("preview-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("audit-{records}.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = Utc::now();
    if !db.exists() {
        let partial = dir.join(format!("audit-{records}.db.partial"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        runtime.block_on(generate(&partial, records, now));
        std::fs::rename(&partial, &db).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
    } else {
        println!("reusing {}", db.display());
    }
    let since = now - chrono::Duration::days(3650);
    let store = SqliteStore::open(&db).unwrap();
    let draft = SourceFile {
        path: "exd.toml".into(),
        text: DRAFT.to_string(),
    };
    let catalog = catalog();

    let t = Instant::now();
    let principals = runtime.block_on(store.principals()).unwrap();
    let read_principals = t.elapsed();
    let t = Instant::now();
    let draft = Draft::compile(&draft, &catalog).unwrap();
    let compile = t.elapsed();
    let t = Instant::now();
    let found = runtime
        .block_on(store.audit_fact_groups(since, Some(draft.models())))
        .unwrap();
    let query = t.elapsed();
    let t = Instant::now();
    let requests: Vec<RequestGroup> = found
        .groups
        .into_iter()
        .map(|g| RequestGroup {
            principal_id: g.principal_id,
            model: g.requested_model,
            facts_json: g.facts_json,
            count: g.count,
            first: g.first,
            last: g.last,
        })
        .collect();
    let result = draft.preview(&PreviewInput {
        principals: &principals,
        requests: &requests,
        requests_in_window: found.records,
        since,
        now: Utc::now(),
    });
    let evaluation = t.elapsed();
    let total = read_principals + compile + query + evaluation;
    let r = &result.draft.requests;
    println!(
        "preview of a \"not a US person\" draft over {} records ({} groups for the draft's models), {} principals:",
        r.in_window,
        requests.len(),
        principals.len()
    );
    println!("  read principals      {}", secs(read_principals));
    println!("  compile the draft    {}", secs(compile));
    println!("  store grouping query {}", secs(query));
    println!("  evaluation           {}", secs(evaluation));
    println!(
        "  total                {}   target ≤ {} s: {}",
        secs(total),
        TARGET.as_secs(),
        if total <= TARGET { "PASS" } else { "MISS" }
    );
    println!(
        "  draft cuts {} principals and {} requests of {} in scope; a blanket block {} and {}",
        result.draft.principals.affected,
        r.denied + r.rerouted,
        r.in_scope,
        result.blanket.principals.affected,
        result.blanket.requests.denied
    );

    let config = dir.join("clearance.toml");
    std::fs::write(&config, config_text(&db)).unwrap();
    let draft_file = dir.join("exd.toml");
    std::fs::write(&draft_file, DRAFT).unwrap();
    let t = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(["directives", "preview"])
        .arg(&draft_file)
        .args(["--since", "3650d", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let end_to_end = t.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "  `clearance directives preview` end to end {}   target ≤ {} s: {}",
        secs(end_to_end),
        TARGET.as_secs(),
        if end_to_end <= TARGET { "PASS" } else { "MISS" }
    );
}

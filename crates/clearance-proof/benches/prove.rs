//! How long the proofs take: `diff` and `lint` over directive sets of 10, 50 and 200
//! directives (target: 50 directives <= 5 s on the 2-core machine).
//!
//! Each set is generated deterministically against a catalog of 8 models with tags: a mix of
//! model-scoped and tag-scoped TOML directives whose conditions read citizenships, US-person
//! facts, residence, org, employee, roles, screening, missing facts and the request's country,
//! capabilities, `max_tokens` and app; effective and expiry dates; some reroutes; every fifth
//! directive in shadow mode. For each size:
//!
//! - **diff**: the set against an edited copy (one directive added, one condition changed, one
//!   directive removed), proved from 2026-06-15 onwards;
//! - **lint**: the set alone, same window.
//!
//! Each is run 3 times, each time on a freshly started solver (start-up not timed): median,
//! min, max and the solver queries the run asked. The baseline is one trivial query, median of
//! 20: `Prover::example` on `true` (which the symbolic compiler may settle without cvc5) and on
//! `principal.us_person` (one fact: a real round trip through cvc5, which the table's
//! "x baseline" divides by).
//!
//! ```sh
//! cargo bench -p clearance-proof --bench prove          # or: bash bench/proofs.sh
//! CVC5=/path/to/cvc5 cargo bench -p clearance-proof --bench prove
//! BENCH_PROOF_SIZES=10,50 cargo bench -p clearance-proof --bench prove   # only these sizes
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clearance_policy::{Catalog, CatalogModel, PolicyBook, SourceFile};
use clearance_proof::expr::Expr;
use clearance_proof::prover::{DEFAULT_SOLVER, SOLVER_ENV};
use clearance_proof::{Prover, Window, diff, lint};

const SIZES: [usize; 3] = [10, 50, 200];
const RUNS: usize = 3;
const BASELINE_QUERIES: usize = 20;
/// The issue's target, for 50 directives.
const TARGET: Duration = Duration::from_secs(5);

fn catalog() -> Catalog {
    let model = |name: &str, provider: &str, tags: &[&str]| CatalogModel {
        name: name.into(),
        provider: provider.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    Catalog {
        models: vec![
            model("mythos-5", "acme", &["frontier", "controlled"]),
            model("fable-5", "acme", &["frontier", "controlled"]),
            model("vision-x", "acme", &["frontier", "vision"]),
            model("gpt-5", "openlab", &["frontier"]),
            model("gpt-5-mini", "openlab", &["small"]),
            model("coder-3", "codeco", &["code", "small"]),
            model("open-model", "openlab", &["open-weights"]),
            model("llama-open", "meta", &["open-weights", "small"]),
        ],
    }
}

/// Scopes: (TOML lines, a model outside the scope that a reroute may target).
const SCOPES: [(&str, Option<&str>); 10] = [
    ("models = [\"fable-5\", \"mythos-5\"]", Some("open-model")),
    ("tags = [\"controlled\"]", Some("gpt-5-mini")),
    ("models = [\"gpt-5\"]", Some("llama-open")),
    ("tags = [\"frontier\"]", Some("open-model")),
    ("models = [\"vision-x\"]", Some("gpt-5")),
    ("tags = [\"code\"]", Some("open-model")),
    ("models = [\"mythos-5\"]", Some("fable-5")),
    ("tags = [\"small\"]", None),
    ("tags = [\"open-weights\"]", None),
    ("models = [\"coder-3\", \"gpt-5-mini\"]", Some("llama-open")),
];

const COUNTRIES: [&str; 10] = ["CN", "RU", "IR", "KP", "SY", "CU", "BY", "VE", "MM", "AF"];
const ROLES: [&str; 5] = [
    "researcher",
    "export-cleared",
    "power-user",
    "admin",
    "analyst",
];
const APPS: [&str; 4] = ["batch-export", "notebook", "support-bot", "eval-harness"];
const ORGS: [&str; 3] = ["Acme Corp", "Openlab Inc", "Contoso Ltd"];

/// The `i`th condition: templates over every fact a directive reads, literals varied by `i`.
fn condition(i: usize) -> String {
    let c = |k: usize| COUNTRIES[(i / 3 + k) % COUNTRIES.len()];
    let role = ROLES[(i / 2) % ROLES.len()];
    let app = APPS[(i / 4) % APPS.len()];
    let org = ORGS[(i / 5) % ORGS.len()];
    match i % 16 {
        0 => "!principal.us_person".into(),
        1 => "!principal.us_citizen && !principal.protected_individual".into(),
        2 => format!(
            "principal.citizenships.containsAny([\"{}\", \"{}\"])",
            c(0),
            c(1)
        ),
        3 => format!(
            "principal.permanent_residency.contains(\"{}\") && !principal.us_citizen",
            c(0)
        ),
        4 => format!(
            "principal.residence == \"{}\" || context.country == \"{}\"",
            c(0),
            c(0)
        ),
        5 => format!("principal.org != \"{org}\" && !principal.employee"),
        6 => format!("!principal.roles.contains(\"{role}\") && !principal.us_person"),
        7 => "principal.screening != \"clear\"".into(),
        8 => "principal.missing_facts.contains(\"citizenships\")".into(),
        9 => format!("context.country == \"{}\"", c(0)),
        10 => "context.capabilities.contains(\"tools\") && !principal.employee".into(),
        11 => format!(
            "context.max_tokens > {} && !principal.roles.contains(\"{role}\")",
            4000 + 1000 * (i % 5)
        ),
        12 => format!("context.app == \"{app}\" && !principal.us_person"),
        13 => "principal.screening == \"match\"".into(),
        14 => format!(
            "principal.missing_facts.containsAny([\"residence\", \"org\"]) && context.country != \"US\" && !principal.roles.contains(\"{role}\")"
        ),
        _ => format!(
            "principal.citizenships.contains(\"{}\") && !principal.citizenships.contains(\"US\") && context.country != \"US\"",
            c(2)
        ),
    }
}

fn source(id: &str, text: String) -> SourceFile {
    SourceFile {
        path: PathBuf::from(format!("{id}.toml")),
        text,
    }
}

/// The `i`th directive of a generated set, with `when` as its condition.
fn directive(i: usize, when: &str) -> SourceFile {
    let id = format!("DIR-{i:03}");
    let (scope, reroute_target) = SCOPES[(i * 7 + i / SCOPES.len()) % SCOPES.len()];
    // Every fifth in shadow mode; every tenth (of the others) a reroute, where the scope leaves
    // a target outside it.
    let mode = if i % 5 == 4 { "shadow" } else { "enforce" };
    let effect = match reroute_target {
        Some(to) if i % 10 == 3 => format!("reroute = \"{to}\""),
        _ => "effect = \"deny\"".into(),
    };
    // Effective dates from early 2026 to early 2027; a third expire a year later.
    let month = 1 + (i * 5) % 13;
    let (year, month) = if month > 12 {
        (2027, month - 12)
    } else {
        (2026, month)
    };
    let effective = format!("{year}-{month:02}-01T00:00:00Z");
    let expires = if i % 3 == 2 {
        format!("expires = \"{}-{month:02}-01T00:00:00Z\"\n", year + 1)
    } else {
        String::new()
    };
    // Tool use only, now and then.
    let capabilities = if i % 11 == 6 {
        "capabilities = [\"tools\"]\n"
    } else {
        ""
    };
    source(
        &id,
        format!(
            "id = \"{id}\"\ntitle = \"Directive {i}\"\nauthority = \"bench\"\neffective = \"{effective}\"\n{expires}mode = \"{mode}\"\n{scope}\n{capabilities}when = '{when}'\n{effect}\n"
        ),
    )
}

fn set(n: usize) -> Vec<SourceFile> {
    (0..n).map(|i| directive(i, &condition(i))).collect()
}

/// The set, edited: the last directive removed, directive 1's condition changed, one added.
fn edited(n: usize) -> Vec<SourceFile> {
    let mut sources: Vec<SourceFile> = (0..n - 1)
        .map(|i| {
            if i == 1 {
                directive(i, "!principal.us_citizen")
            } else {
                directive(i, &condition(i))
            }
        })
        .collect();
    sources.push(directive(
        n,
        "principal.citizenships.containsAny([\"CN\", \"RO\"]) || context.country == \"RO\"",
    ));
    sources
}

fn book(sources: &[SourceFile]) -> PolicyBook {
    PolicyBook::compile(sources, &catalog()).unwrap_or_else(|e| panic!("{e}"))
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn solver() -> String {
    clearance_config::env_var(SOLVER_ENV).unwrap_or_else(|| DEFAULT_SOLVER.to_string())
}

fn prover() -> Prover {
    Prover::start(&solver()).expect("cvc5 is installed (apt-get install cvc5, or set $CVC5)")
}

/// Times of the runs and the queries each asked.
struct Runs {
    times: Vec<Duration>,
    queries: Vec<usize>,
    note: String,
}

impl Runs {
    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }

    fn min(&self) -> Duration {
        *self.times.iter().min().unwrap()
    }

    fn max(&self) -> Duration {
        *self.times.iter().max().unwrap()
    }

    fn queries(&self) -> String {
        let first = self.queries[0];
        if self.queries.iter().all(|&q| q == first) {
            first.to_string()
        } else {
            format!("{:?}", self.queries)
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// `expr` asked `BASELINE_QUERIES` times on one solver, sorted times.
async fn baseline(expr: &Expr) -> Vec<Duration> {
    let mut prover = prover();
    // One query first, so the solver's start-up is not in the baseline.
    prover
        .example(expr, "warm-up")
        .await
        .expect("the warm-up query");
    let mut times = Vec::new();
    for _ in 0..BASELINE_QUERIES {
        let start = Instant::now();
        let found = prover
            .example(expr, "baseline")
            .await
            .expect("the baseline query");
        times.push(start.elapsed());
        assert!(found.is_some(), "the baseline has an example");
    }
    times.sort();
    times
}

async fn time_diff(old: &PolicyBook, new: &PolicyBook, window: Window) -> Runs {
    let mut runs = Runs {
        times: Vec::new(),
        queries: Vec::new(),
        note: String::new(),
    };
    for _ in 0..RUNS {
        let mut prover = prover();
        let start = Instant::now();
        let report = diff(&mut prover, old, new, window).await.expect("diff");
        runs.times.push(start.elapsed());
        runs.queries.push(report.queries);
        let losses: usize = report.models.iter().map(|m| m.losses.len()).sum();
        runs.note = format!(
            "{} models, {losses} losses, {} reroutes, {} shadow cuts, {} not reproduced; {}",
            report.models.len(),
            report.reroutes.len(),
            report.shadow_if_promoted.len(),
            report.not_reproduced.len(),
            match report.no_new_access() {
                Some(true) => "nobody gains",
                Some(false) => "someone gains",
                None => "not proved",
            }
        );
    }
    runs
}

async fn time_lint(book: &PolicyBook, window: Window) -> Runs {
    let mut runs = Runs {
        times: Vec::new(),
        queries: Vec::new(),
        note: String::new(),
    };
    for _ in 0..RUNS {
        let mut prover = prover();
        let start = Instant::now();
        let report = lint(&mut prover, book, window).await.expect("lint");
        runs.times.push(start.elapsed());
        runs.queries.push(report.queries);
        let count = |kind: &str| {
            report
                .findings
                .iter()
                .filter(|f| serde_json::to_value(f).unwrap()["kind"] == kind)
                .count()
        };
        runs.note = format!(
            "{} findings (dead {}, shadowed {}, duplicate {}, can error {}, denied everything {}), {} pairs separated by the grid, {} not reproduced",
            report.findings.len(),
            count("dead"),
            count("shadowed"),
            count("duplicate"),
            count("can_error"),
            count("denied_everything"),
            report.pairs_separated_by_grid,
            report.not_reproduced.len(),
        );
    }
    runs
}

async fn bench() {
    let window = Window {
        from: at("2026-06-15T00:00:00Z"),
        until: None,
    };
    let truth = baseline(&Expr::truth()).await;
    // `true` may be settled without the solver; one fact cannot be.
    let base = baseline(&Expr::parse("principal.us_person").expect("one fact")).await;
    let base_median = base[base.len() / 2];
    println!(
        "proof benchmark: solver `{}`, {} cores, window {}, {RUNS} runs each (fresh solver per run, start-up not timed)",
        solver(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        window.describe()
    );
    let summary = |t: &[Duration]| {
        format!(
            "median {:.2} ms, min {:.2} ms, max {:.2} ms",
            t[t.len() / 2].as_secs_f64() * 1000.0,
            t[0].as_secs_f64() * 1000.0,
            t[t.len() - 1].as_secs_f64() * 1000.0
        )
    };
    println!(
        "baseline, {BASELINE_QUERIES} queries each: Prover::example on `true`: {}; on `principal.us_person` (the round trip the table divides by): {}",
        summary(&truth),
        summary(&base)
    );
    println!();
    println!(
        "{:>5}  {:<5}  {:>10}  {:>8}  {:>8}  {:>8}  {:>9}  {:>12}",
        "N", "proof", "median ms", "min ms", "max ms", "queries", "ms/query", "x baseline"
    );
    let mut notes = Vec::new();
    let mut over_target = Vec::new();
    // BENCH_PROOF_SIZES=10,50 runs only those sizes.
    let sizes: Vec<usize> =
        clearance_config::env_var("BENCH_PROOF_SIZES").map_or(SIZES.to_vec(), |s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("BENCH_PROOF_SIZES: numbers"))
                .collect()
        });
    for n in sizes {
        let old = book(&set(n));
        let new = book(&edited(n));
        let diffed = time_diff(&old, &new, window).await;
        let linted = time_lint(&old, window).await;
        for (what, runs) in [("diff", &diffed), ("lint", &linted)] {
            let per_query = runs.median().as_secs_f64() * 1000.0 / runs.queries[0].max(1) as f64;
            println!(
                "{n:>5}  {what:<5}  {:>10}  {:>8}  {:>8}  {:>8}  {per_query:>9.1}  {:>12.1}",
                ms(runs.median()),
                ms(runs.min()),
                ms(runs.max()),
                runs.queries(),
                per_query / (base_median.as_secs_f64() * 1000.0),
            );
            notes.push(format!("{n:>5} {what}: {}", runs.note));
            if n == 50 && runs.median() > TARGET {
                over_target.push(format!(
                    "{what} of 50 directives: median {} ms > target {} ms",
                    ms(runs.median()),
                    ms(TARGET)
                ));
            }
        }
    }
    println!();
    println!("what the runs found:");
    for note in notes {
        println!("  {note}");
    }
    println!();
    if over_target.is_empty() {
        println!("target (50 directives <= {} s): met", TARGET.as_secs());
    } else {
        for line in over_target {
            println!(
                "target (50 directives <= {} s) MISSED: {line}",
                TARGET.as_secs()
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing of use: run either way.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(bench());
}

//! Property test: for random small directive sets, every counterexample (of `diff` and of
//! `lint`) reproduces, and the "nobody gains access" verdict agrees with evaluating both sets
//! through `decide` for every caller of a grid of principals, countries, capabilities, models
//! and times.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_policy::{Outcome, PolicyBook, SourceFile};
use clearance_proof::diff::Gains;
use clearance_proof::grid;
use clearance_proof::witness::Caller;
use clearance_proof::{Window, diff};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const ATOMS: &[&str] = &[
    "!principal.us_person",
    "principal.us_citizen",
    "principal.citizenships.contains(\"CN\")",
    "principal.citizenships.contains(\"IN\")",
    "principal.permanent_residency.contains(\"US\")",
    "principal.protected_individual",
    "principal.employee",
    "context.country == \"CN\"",
    "context.country == \"US\"",
    "principal.residence == \"US\"",
    "principal.screening == \"match\"",
    "principal.missing_facts.contains(\"citizenships\")",
    "context.capabilities.contains(\"tools\")",
    "principal.org == \"acme\"",
    "principal.roles.contains(\"admin\")",
];

const MODELS: &[&str] = &["mythos-5", "fable-5", "gpt-5", "open-model"];

fn times() -> [DateTime<Utc>; 4] {
    [
        at("2026-06-15T00:00:00Z"),
        at("2026-09-01T00:00:00Z"),
        at("2027-01-01T00:00:00Z"),
        at("2027-06-01T00:00:00Z"),
    ]
}

/// Reads choices off a tape of random numbers.
struct Tape<'a>(std::slice::Iter<'a, u32>);

impl Tape<'_> {
    fn pick(&mut self, n: usize) -> usize {
        self.0.next().map_or(0, |v| *v as usize % n)
    }

    fn condition(&mut self, depth: usize) -> String {
        match (depth, self.pick(4)) {
            (0, _) | (_, 0) => ATOMS[self.pick(ATOMS.len())].to_string(),
            (_, 1) => format!("!({})", self.condition(depth - 1)),
            (_, 2) => format!(
                "({}) && ({})",
                self.condition(depth - 1),
                self.condition(depth - 1)
            ),
            _ => format!(
                "({}) || ({})",
                self.condition(depth - 1),
                self.condition(depth - 1)
            ),
        }
    }

    fn directive(&mut self, id: &str) -> SourceFile {
        let mut models: Vec<String> = MODELS
            .iter()
            .filter(|_| self.pick(2) == 0)
            .map(|m| format!("\"{m}\""))
            .collect();
        if models.is_empty() {
            models.push(format!("\"{}\"", MODELS[self.pick(MODELS.len())]));
        }
        let mode = if self.pick(5) == 0 {
            "shadow"
        } else {
            "enforce"
        };
        let effect = match self.pick(3) {
            0 => format!("reroute = \"{}\"", MODELS[self.pick(MODELS.len())]),
            _ => "effect = \"deny\"".to_string(),
        };
        let t = times();
        let effective = t[self.pick(2)];
        let expires = match self.pick(3) {
            0 => String::new(),
            k => format!("expires = \"{}\"", t[k + 1].to_rfc3339()),
        };
        let condition = self.condition(2);
        SourceFile {
            path: PathBuf::from(format!("{id}.toml")),
            text: format!(
                "id = \"{id}\"\ntitle = \"t\"\nauthority = \"test\"\neffective = \"{}\"\nmode = \"{mode}\"\nmodels = [{}]\n{expires}\nwhen = '{condition}'\n{effect}\n",
                effective.to_rfc3339(),
                models.join(", ")
            ),
        }
    }

    /// An old set and a new one made from it by edits (change, drop, add).
    fn sets(&mut self) -> (Vec<SourceFile>, Vec<SourceFile>) {
        let old: Vec<SourceFile> = (0..self.pick(3) + 1)
            .map(|i| self.directive(&format!("D{i}")))
            .collect();
        let mut new = Vec::new();
        for (i, d) in old.iter().enumerate() {
            match self.pick(4) {
                0 => {}
                1 => new.push(self.directive(&format!("D{i}"))),
                _ => new.push(d.clone()),
            }
        }
        if self.pick(2) == 0 {
            new.push(self.directive("D9"));
        }
        (old, new)
    }
}

/// Every grid caller: a reduced principal grid (every fact the atoms read still varies), four
/// countries, with and without tools, every model, at every boundary time and after them.
fn grid_callers() -> Vec<Caller> {
    let principals: Vec<_> = grid::principals()
        .into_iter()
        .filter(|p| p.residence.is_none_or(|r| r.as_str() == "US"))
        .filter(|p| {
            p.screening
                .as_ref()
                .is_none_or(|s| s.status.as_str() == "match")
        })
        .collect();
    let mut at: Vec<DateTime<Utc>> = times().to_vec();
    at.push(times()[3] + Duration::days(1));
    let mut callers = Vec::new();
    for p in &principals {
        let facts = PrincipalFacts::from(p);
        for country in [None, Some("US"), Some("CN"), Some("DE")] {
            for tools in [false, true] {
                let request = RequestFacts {
                    country: country.map(|c| c.parse().unwrap()),
                    capabilities: if tools {
                        [Capability::Tools].into()
                    } else {
                        Default::default()
                    },
                    api: ApiSurface::OpenaiChat,
                    max_tokens: None,
                    app: None,
                };
                for model in MODELS {
                    for t in &at {
                        callers.push(Caller {
                            principal_id: p.id.as_str().to_string(),
                            facts: Facts {
                                principal: facts.clone(),
                                request: request.clone(),
                            },
                            model: model.to_string(),
                            at: *t,
                        });
                    }
                }
            }
        }
    }
    callers
}

fn gains_on_grid(grid: &[Caller], old: &PolicyBook, new: &PolicyBook) -> Vec<String> {
    let mut models: Vec<String> = grid
        .iter()
        .filter(|c| c.outcome(old) != Outcome::Allow && c.outcome(new) == Outcome::Allow)
        .map(|c| c.model.clone())
        .collect();
    models.sort();
    models.dedup();
    models
}

#[test]
fn proofs_agree_with_exhaustive_evaluation_and_every_counterexample_reproduces() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let prover = RefCell::new(prover());
    let grid = grid_callers();
    let window = Window {
        from: times()[0],
        until: None,
    };
    // A fixed seed: CI runs the same cases every time, and the counts below prove they are
    // not vacuous.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 16,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let seen = RefCell::new((0usize, 0usize));
    runner
        .run(&proptest::collection::vec(any::<u32>(), 96), |tape| {
            let (old, new) = Tape(tape.iter()).sets();
            let (Ok(old_book), Ok(new_book)) = (
                PolicyBook::compile(&old, &catalog()),
                PolicyBook::compile(&new, &catalog()),
            ) else {
                // A reroute to a model the same directive covers is refused at compile time.
                return Ok(());
            };
            let report = runtime
                .block_on(diff(&mut prover.borrow_mut(), &old_book, &new_book, window))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(report.not_reproduced.is_empty(), "{:?}", report.not_reproduced);
            let linted = runtime
                .block_on(clearance_proof::lint(&mut prover.borrow_mut(), &new_book, window))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(linted.not_reproduced.is_empty(), "{:?}", linted.not_reproduced);
            let on_grid = gains_on_grid(&grid, &old_book, &new_book);
            for m in &report.models {
                let grid_gains = on_grid.contains(&m.model);
                match &m.gains {
                    Gains::Nobody if !m.losses.is_empty() => seen.borrow_mut().0 += 1,
                    Gains::Found { .. } => seen.borrow_mut().1 += 1,
                    _ => {}
                }
                match &m.gains {
                    Gains::Nobody => prop_assert!(
                        !grid_gains,
                        "proved nobody gains {} but a grid caller does\nold: {:?}\nnew: {:?}",
                        m.model, old, new
                    ),
                    Gains::Found { examples } => prop_assert!(!examples.is_empty()),
                    Gains::NotProved { .. } => {}
                }
            }
            for model in &on_grid {
                prop_assert!(
                    report.models.iter().any(|m| &m.model == model && !matches!(m.gains, Gains::Nobody)),
                    "a grid caller gains {model} and the proof missed it\nold: {old:?}\nnew: {new:?}"
                );
            }
            Ok(())
        })
        .unwrap();
    let (proved_with_losses, gains_found) = *seen.borrow();
    assert!(
        proved_with_losses > 0 && gains_found > 0,
        "the cases exercised both verdicts: {proved_with_losses} proved with losses, {gains_found} with gains"
    );
}

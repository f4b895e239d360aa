//! Directives that do not do what their author thinks, each shown with the caller (or the
//! proof) that shows it:
//!
//! - **dead**: fires for no caller on any catalog model in the window (and never errors);
//! - **shadowed**: every caller it fires for, another directive of the same mode and effect
//!   fires for too, so removing it changes nothing; **duplicate** when the two fire for exactly
//!   the same callers;
//! - **can error**: its condition errors for some caller; an error counts as fired, so it
//!   denies (e.g. `context.max_tokens + 1` overflows for a request with no limit);
//! - **denied everything**: some caller is kept off every catalog model.
//!
//! Pairs are first tested on a grid of concrete callers through `decide`: a pair one caller
//! tells apart needs no solver. Only the pairs no grid caller separates are proved.

use std::collections::BTreeSet;

use clearance_policy::{Outcome, PolicyBook};
use serde::Serialize;

use crate::assume::{Assumptions, Window};
use crate::diff::{Example, NotReproduced, outcome_words, plural};
use crate::error::ProofError;
use crate::expr::Expr;
use crate::grid;
use crate::prover::Prover;
use crate::set::{Analysed, AnalysedSet};
use crate::witness::{Caller, caller_of};
use crate::words::words;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    Dead {
        directive: String,
        why: String,
    },
    Shadowed {
        directive: String,
        by: String,
        example: Option<Example>,
    },
    Duplicate {
        directive: String,
        of: String,
        example: Option<Example>,
    },
    CanError {
        directive: String,
        example: Example,
    },
    DeniedEverything {
        example: Example,
    },
}

impl Finding {
    pub fn describe(&self) -> String {
        match self {
            Finding::Dead { directive, why } => {
                format!("{directive}: dead, it never fires ({why})")
            }
            Finding::Shadowed { directive, by, .. } => format!(
                "{directive}: shadowed by {by}, which fires for every caller {directive} fires for, with the same mode and effect"
            ),
            Finding::Duplicate { directive, of, .. } => {
                format!("{directive}: duplicate of {of}, they fire for exactly the same callers")
            }
            Finding::CanError { directive, .. } => format!(
                "{directive}: its condition can error, and an error counts as fired (denies)"
            ),
            Finding::DeniedEverything { .. } => "some caller is denied every model".to_string(),
        }
    }

    pub fn example(&self) -> Option<&Example> {
        match self {
            Finding::Dead { .. } => None,
            Finding::Shadowed { example, .. } | Finding::Duplicate { example, .. } => {
                example.as_ref()
            }
            Finding::CanError { example, .. } | Finding::DeniedEverything { example } => {
                Some(example)
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub window: Window,
    pub version: String,
    pub directives: usize,
    pub findings: Vec<Finding>,
    pub not_reproduced: Vec<NotReproduced>,
    pub queries: usize,
    /// Pairs the grid of concrete callers told apart, so no solver was asked.
    pub pairs_separated_by_grid: usize,
}

impl LintReport {
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} in {} ({})",
            plural(self.findings.len(), "finding", "findings"),
            plural(self.directives, "directive", "directives"),
            self.window.describe()
        );
        text.push_str(&crate::diff::not_reproduced_note(&self.not_reproduced));
        text
    }
}

/// Lints one directive set.
pub async fn lint(
    prover: &mut Prover,
    book: &PolicyBook,
    window: Window,
) -> Result<LintReport, ProofError> {
    let set = AnalysedSet::new(book)?;
    let assumptions = Assumptions::new(&[&set], window)?;
    prover.assume(assumptions.invariants().clone());
    let catalog = book.catalog();
    let mut linter = Linter {
        prover,
        book,
        findings: Vec::new(),
        not_reproduced: Vec::new(),
    };
    let anywhere = assumptions.on_any_model()?;
    let mut grid = GridHits::new(book, &set, &assumptions.window);
    let mut live = Vec::new();
    for (i, a) in set.directives.iter().enumerate() {
        let errors = linter.can_error(a, &anywhere, grid.errored(i)).await?;
        // A grid caller it fires for proves it live; only the others go to the solver.
        let fires = grid.fires_for_some(i)
            || linter
                .prover
                .example(
                    &anywhere.clone().and(a.fires.clone()),
                    &format!("whether {} can fire", a.id()),
                )
                .await?
                .is_some();
        if !fires && !errors {
            linter.findings.push(Finding::Dead {
                directive: a.id().to_string(),
                why: dead_because(a, catalog, &window),
            });
        } else {
            live.push(i);
        }
    }
    let separated = linter
        .overlaps(&set, &live, &mut grid, &assumptions)
        .await?;
    linter.denied_everything(&set, &assumptions).await?;
    Ok(LintReport {
        window,
        version: book.version().to_string(),
        directives: set.directives.len(),
        findings: linter.findings,
        not_reproduced: linter.not_reproduced,
        queries: linter.prover.queries,
        pairs_separated_by_grid: separated,
    })
}

fn dead_because(a: &Analysed, catalog: &clearance_policy::Catalog, window: &Window) -> String {
    if a.directive.expires.is_some_and(|e| e <= window.from) {
        return format!("it expired before {}", window.describe());
    }
    if !catalog.models.iter().any(|m| a.covers(catalog, &m.name)) {
        return "it covers no catalog model".into();
    }
    format!("no caller satisfies {}", words(&a.fires))
}

struct Linter<'p, 'b> {
    prover: &'p mut Prover,
    book: &'b PolicyBook,
    findings: Vec<Finding>,
    not_reproduced: Vec<NotReproduced>,
}

impl Linter<'_, '_> {
    fn example(&self, caller: &Caller) -> Example {
        let outcome = outcome_words(&caller.outcome(self.book));
        Example {
            caller: caller.to_json(),
            described: caller.describe(),
            old: outcome.clone(),
            new: outcome,
        }
    }

    /// Replays a counterexample; `check` must hold for it to stand.
    fn replayed(
        &mut self,
        env: &crate::prover::Answer,
        query: &str,
        check: impl Fn(&Caller, &PolicyBook) -> bool,
    ) -> Option<Caller> {
        match caller_of(env) {
            Ok(caller) if check(&caller, self.book) => Some(caller),
            Ok(caller) => {
                self.not_reproduced.push(NotReproduced {
                    query: query.to_string(),
                    why: format!("decide does not agree for {}", caller.describe()),
                });
                None
            }
            Err(not) => {
                self.not_reproduced.push(NotReproduced {
                    query: query.to_string(),
                    why: not.0,
                });
                None
            }
        }
    }

    /// Whether `a` can error; a grid caller it errors for (`on_grid`) shows it without the
    /// solver.
    async fn can_error(
        &mut self,
        a: &Analysed,
        anywhere: &Expr,
        on_grid: Option<&Caller>,
    ) -> Result<bool, ProofError> {
        if !a.may_error {
            return Ok(false);
        }
        let id = a.id().to_string();
        if let Some(caller) = on_grid {
            let example = self.example(caller);
            self.findings.push(Finding::CanError {
                directive: id,
                example,
            });
            return Ok(true);
        }
        let query = format!("whether {} can error", a.id());
        let Some(env) = self
            .prover
            .error_example(&anywhere.clone().and(a.fires.clone()), &query)
            .await?
        else {
            return Ok(false);
        };
        let errs = |c: &Caller, book: &PolicyBook| {
            let d = book.decide(&c.query());
            d.enforced
                .iter()
                .chain(&d.shadow)
                .any(|h| h.directive.id == id && h.error.is_some())
        };
        if let Some(caller) = self.replayed(&env, &query, errs) {
            let example = self.example(&caller);
            self.findings.push(Finding::CanError {
                directive: a.id().to_string(),
                example,
            });
        }
        Ok(true)
    }

    /// Shadowed and duplicate directives among `live` (indices into `set`); returns how many
    /// pairs the grid separated.
    async fn overlaps(
        &mut self,
        set: &AnalysedSet<'_>,
        live: &[usize],
        grid: &mut GridHits,
        assumptions: &Assumptions,
    ) -> Result<usize, ProofError> {
        let catalog = assumptions.catalog();
        let mut separated = 0;
        let mut reported: BTreeSet<(usize, usize)> = BTreeSet::new();
        for &i in live {
            for &j in live {
                let (a, b) = (&set.directives[i], &set.directives[j]);
                if i == j
                    || a.directive.mode != b.directive.mode
                    || a.directive.effect != b.directive.effect
                    || reported.contains(&(j, i))
                    || !covers_all_of(b, a, catalog)
                {
                    continue;
                }
                if grid.separates(i, j) {
                    separated += 1;
                    continue;
                }
                if !self.implies(a, b, set, grid, assumptions).await? {
                    continue;
                }
                let both_ways = covers_all_of(a, b, catalog)
                    && !grid.separates(j, i)
                    && self.implies(b, a, set, grid, assumptions).await?;
                let example = match grid.both_fire(i, j) {
                    Some(caller) => Some(self.example(caller)),
                    None => self.both_fire(a, b, assumptions).await?,
                };
                reported.insert((i, j));
                self.findings.push(if both_ways {
                    Finding::Duplicate {
                        directive: a.id().max(b.id()).to_string(),
                        of: a.id().min(b.id()).to_string(),
                        example,
                    }
                } else {
                    Finding::Shadowed {
                        directive: a.id().to_string(),
                        by: b.id().to_string(),
                        example,
                    }
                });
            }
        }
        Ok(separated)
    }

    /// Proves that wherever `a` fires, `b` fires (on every model `a` covers), in one query.
    /// A caller that refutes it joins the grid: it may tell other pairs apart too, and then
    /// they need no query.
    async fn implies(
        &mut self,
        a: &Analysed,
        b: &Analysed,
        set: &AnalysedSet<'_>,
        grid: &mut GridHits,
        assumptions: &Assumptions,
    ) -> Result<bool, ProofError> {
        let catalog = assumptions.catalog();
        let what = format!("whether {} fires wherever {} does", b.id(), a.id());
        for model in catalog.models.iter().filter(|m| a.covers(catalog, &m.name)) {
            let query =
                assumptions.pinned_to(&model.name, a.fires.clone().and(b.fires.clone().not()))?;
            if let Some(env) = self.prover.example(&query, &what).await? {
                if let Ok(caller) = caller_of(&env) {
                    grid.add(self.book, set, caller);
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn both_fire(
        &mut self,
        a: &Analysed,
        b: &Analysed,
        assumptions: &Assumptions,
    ) -> Result<Option<Example>, ProofError> {
        let catalog = assumptions.catalog();
        let Some(model) = catalog.models.iter().find(|m| a.covers(catalog, &m.name)) else {
            return Ok(None);
        };
        let what = format!("a caller both {} and {} fire for", a.id(), b.id());
        let query = assumptions.pinned_to(&model.name, a.fires.clone().and(b.fires.clone()))?;
        let Some(env) = self.prover.readable_example(&query, &what).await? else {
            return Ok(None);
        };
        let ids = [a.id().to_string(), b.id().to_string()];
        let both = |c: &Caller, book: &PolicyBook| {
            let d = book.decide(&c.query());
            let hits: Vec<&str> = d
                .enforced
                .iter()
                .chain(&d.shadow)
                .map(|h| h.directive.id.as_str())
                .collect();
            ids.iter().all(|id| hits.contains(&id.as_str()))
        };
        Ok(self.replayed(&env, &what, both).map(|c| self.example(&c)))
    }

    /// A caller kept off every catalog model, if there is one.
    async fn denied_everything(
        &mut self,
        set: &AnalysedSet<'_>,
        assumptions: &Assumptions,
    ) -> Result<(), ProofError> {
        let catalog = assumptions.catalog();
        if catalog.models.is_empty()
            || catalog
                .models
                .iter()
                .any(|m| set.enforced_on(&m.name).is_empty())
        {
            return Ok(());
        }
        let first = &catalog.models[0].name;
        // The request is for the first model; every other model is asked about through its
        // literal in place of `resource`, with its own catalog facts.
        let mut parts = vec![assumptions.on_model(first)?];
        for model in &catalog.models {
            let pinned = assumptions.model_facts(&model.name)?;
            let forbids = set.forbids(&model.name);
            parts.push(pinned.and(forbids).on_model(&model.name));
        }
        let what = "whether some caller is denied every model";
        let Some(env) = self
            .prover
            .readable_example(&Expr::all(parts), what)
            .await?
        else {
            return Ok(());
        };
        let models: Vec<String> = catalog.models.iter().map(|m| m.name.clone()).collect();
        let everywhere = |c: &Caller, book: &PolicyBook| {
            models
                .iter()
                .all(|m| c.on_model(m).outcome(book) != Outcome::Allow)
        };
        if let Some(caller) = self.replayed(&env, what, everywhere) {
            let example = self.example(&caller);
            self.findings.push(Finding::DeniedEverything { example });
        }
        Ok(())
    }
}

/// What `decide` says for every caller of the grid sample: which directives (indices into the
/// set) fire for them on the model they ask for, and which error.
struct GridHits {
    callers: Vec<Caller>,
    fired: Vec<BTreeSet<usize>>,
    errored: Vec<BTreeSet<usize>>,
}

impl GridHits {
    fn new(book: &PolicyBook, set: &AnalysedSet<'_>, window: &Window) -> GridHits {
        let mut hits = GridHits {
            callers: Vec::new(),
            fired: Vec::new(),
            errored: Vec::new(),
        };
        for caller in grid::callers(book.catalog(), window) {
            hits.add(book, set, caller);
        }
        hits
    }

    /// Decides one more caller and remembers what fired and what errored for it.
    fn add(&mut self, book: &PolicyBook, set: &AnalysedSet<'_>, caller: Caller) {
        let index = |id: &str| set.directives.iter().position(|a| a.id() == id);
        let decision = book.decide(&caller.query());
        let hits: Vec<_> = decision
            .enforced
            .iter()
            .chain(&decision.shadow)
            .filter(|h| h.model == caller.model)
            .collect();
        self.fired
            .push(hits.iter().filter_map(|h| index(&h.directive.id)).collect());
        self.errored.push(
            hits.iter()
                .filter(|h| h.error.is_some())
                .filter_map(|h| index(&h.directive.id))
                .collect(),
        );
        self.callers.push(caller);
    }

    fn fires_for_some(&self, i: usize) -> bool {
        self.fired.iter().any(|f| f.contains(&i))
    }

    fn errored(&self, i: usize) -> Option<&Caller> {
        self.errored
            .iter()
            .position(|e| e.contains(&i))
            .map(|k| &self.callers[k])
    }

    /// Some grid caller `i` fires for and `j` does not.
    fn separates(&self, i: usize, j: usize) -> bool {
        self.fired.iter().any(|f| f.contains(&i) && !f.contains(&j))
    }

    fn both_fire(&self, i: usize, j: usize) -> Option<&Caller> {
        self.fired
            .iter()
            .position(|f| f.contains(&i) && f.contains(&j))
            .map(|k| &self.callers[k])
    }
}

/// Whether `b` covers every catalog model `a` covers.
fn covers_all_of(b: &Analysed, a: &Analysed, catalog: &clearance_policy::Catalog) -> bool {
    catalog
        .models
        .iter()
        .filter(|m| a.covers(catalog, &m.name))
        .all(|m| b.covers(catalog, &m.name))
}

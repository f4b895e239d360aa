//! What changing the enforced directive set does to access, proved per model.
//!
//! For each model some enforced directive (old or new) covers:
//! - **nobody gains access**: no request the old set kept off the model (denied or rerouted)
//!   is served by the new set, else a concrete caller who gains;
//! - **who loses access**: for each new or changed directive, callers it keeps off the model
//!   that the old set served, with the region in words;
//! - a directive that can error (an error denies in Clearance, while the symbolic model reads
//!   an erroring policy as not matching) makes the gain proof unsound for that model: the
//!   verdict is then "not proved", with the erroring caller.
//!
//! Reroute targets that changed, and shadow directives "if promoted", are reported apart.
//! Every example is replayed through both books' `decide`; one that does not reproduce goes to
//! `not_reproduced` and is never shown as a finding.

use clearance_policy::{Effect, Outcome, PolicyBook};
use serde::Serialize;
use serde_json::Value;

use crate::assume::{Assumptions, Window};
use crate::error::ProofError;
use crate::expr::Expr;
use crate::grid::Sample;
use crate::prover::Prover;
use crate::set::{Analysed, AnalysedSet};
use crate::witness::{Caller, caller_of};
use crate::words::words;

/// How many different callers a finding shows at most.
pub const EXAMPLES_PER_FINDING: usize = 3;

/// A caller and what each set does with their request.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub caller: Value,
    pub described: String,
    pub old: String,
    pub new: String,
}

/// A counterexample that did not reproduce through `decide`: a bug in the analysis, never a
/// finding.
#[derive(Debug, Clone, Serialize)]
pub struct NotReproduced {
    pub query: String,
    pub why: String,
}

/// Whether the new set gives anyone access the old set did not, on one model.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Gains {
    /// Proved: nobody gains.
    Nobody,
    /// Someone gains: these callers.
    Found { examples: Vec<Example> },
    /// The proof could not be made (a condition can error); no gain was found.
    NotProved { reason: String },
}

/// Callers one new or changed directive keeps off a model that the old set served.
#[derive(Debug, Clone, Serialize)]
pub struct Loss {
    pub directive: String,
    /// The callers who lose access, in words.
    pub condition: String,
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDiff {
    pub model: String,
    pub gains: Gains,
    pub losses: Vec<Loss>,
    /// Directives (old or new) that can error on this model, with a caller.
    pub errors: Vec<Loss>,
}

/// A directive whose reroute changed (target, or deny to reroute and back).
#[derive(Debug, Clone, Serialize)]
pub struct RerouteChange {
    pub directive: String,
    pub old: String,
    pub new: String,
    pub example: Option<Example>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub window: Window,
    pub old_version: String,
    pub new_version: String,
    pub models: Vec<ModelDiff>,
    pub reroutes: Vec<RerouteChange>,
    /// Shadow directives of the new set, "if promoted": the callers each would cut.
    pub shadow_if_promoted: Vec<Loss>,
    pub not_reproduced: Vec<NotReproduced>,
    pub queries: usize,
}

impl DiffReport {
    /// `Some(true)`: proved that nobody gains access on any model; `Some(false)`: someone
    /// does; `None`: not proved on some model.
    pub fn no_new_access(&self) -> Option<bool> {
        if self
            .models
            .iter()
            .any(|m| matches!(m.gains, Gains::Found { .. }))
        {
            return Some(false);
        }
        if self
            .models
            .iter()
            .any(|m| matches!(m.gains, Gains::NotProved { .. }))
        {
            return None;
        }
        Some(true)
    }

    /// The report as JSON, with its verdict (`no_new_access`: true, false or null for not
    /// proved) and summary.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["no_new_access"] = serde_json::json!(self.no_new_access());
        value["summary"] = serde_json::json!(self.summary());
        value
    }

    /// One paragraph: the verdict and the counts.
    pub fn summary(&self) -> String {
        let verdict = match self.no_new_access() {
            Some(true) => "proved: nobody gains access".to_string(),
            Some(false) => {
                let models: Vec<&str> = self
                    .models
                    .iter()
                    .filter(|m| matches!(m.gains, Gains::Found { .. }))
                    .map(|m| m.model.as_str())
                    .collect();
                format!("REFUTED: someone gains access, on {}", models.join(", "))
            }
            None => "not proved that nobody gains access (a condition can error)".to_string(),
        };
        let mut losing: Vec<&str> = self
            .models
            .iter()
            .flat_map(|m| m.losses.iter().map(|l| l.directive.as_str()))
            .collect();
        losing.sort_unstable();
        losing.dedup();
        let takes = match losing.as_slice() {
            [] => "nobody loses access".to_string(),
            ids => format!("access taken away by {}", ids.join(", ")),
        };
        let mut text = format!(
            "{verdict}; {takes}{}; {} model{} analysed {}",
            if self.reroutes.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} changed",
                    plural(self.reroutes.len(), "reroute", "reroutes")
                )
            },
            self.models.len(),
            if self.models.len() == 1 { "" } else { "s" },
            self.window.describe(),
        );
        text.push_str(&not_reproduced_note(&self.not_reproduced));
        text
    }
}

/// The summary's note on counterexamples that did not reproduce (empty when none).
pub(crate) fn not_reproduced_note(found: &[NotReproduced]) -> String {
    if found.is_empty() {
        return String::new();
    }
    format!(
        "; {} did not reproduce (a bug in the analysis, not shown as findings)",
        plural(found.len(), "counterexample", "counterexamples")
    )
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Proves what replacing `old` by `new` does to access in `window`.
pub async fn diff(
    prover: &mut Prover,
    old: &PolicyBook,
    new: &PolicyBook,
    window: Window,
) -> Result<DiffReport, ProofError> {
    let old_set = AnalysedSet::new(old)?;
    let new_set = AnalysedSet::new(new)?;
    let assumptions = Assumptions::new(&[&new_set, &old_set], window)?;
    prover.assume(assumptions.invariants().clone());
    let catalog = new.catalog();
    let mut run = Run {
        prover,
        old,
        new,
        sample: Sample::new(catalog, &window),
        not_reproduced: Vec::new(),
    };
    let mut models = Vec::new();
    for model in &catalog.models {
        let (old_on, new_on) = (
            old_set.enforced_on(&model.name),
            new_set.enforced_on(&model.name),
        );
        if old_on.is_empty() && new_on.is_empty() {
            continue;
        }
        models.push(
            run.model(&model.name, &assumptions, &old_set, &new_set)
                .await?,
        );
    }
    let reroutes = run.reroutes(&old_set, &new_set, &assumptions).await?;
    let shadow_if_promoted = run.shadow(&new_set, &assumptions).await?;
    Ok(DiffReport {
        window,
        old_version: old.version().to_string(),
        new_version: new.version().to_string(),
        models,
        reroutes,
        shadow_if_promoted,
        not_reproduced: run.not_reproduced,
        queries: run.prover.queries,
    })
}

/// Whether `a` is the same directive as `b` (same id, same policy, same mode and effect).
fn unchanged(a: &Analysed, b: Option<&Analysed>) -> bool {
    b.is_some_and(|b| {
        a.cedar == b.cedar
            && a.directive.mode == b.directive.mode
            && a.directive.effect == b.directive.effect
            && a.directive.effective == b.directive.effective
            && a.directive.expires == b.directive.expires
            && a.directive.stale_after_s == b.directive.stale_after_s
    })
}

struct Run<'p, 'b> {
    prover: &'p mut Prover,
    old: &'b PolicyBook,
    new: &'b PolicyBook,
    /// Concrete callers tried before the solver.
    sample: Sample,
    not_reproduced: Vec<NotReproduced>,
}

/// What a replayed caller must show for an example to stand.
type Check<'c> = &'c (dyn Fn(&Caller, &PolicyBook, &PolicyBook) -> bool + Sync);

impl Run<'_, '_> {
    async fn model(
        &mut self,
        model: &str,
        assumptions: &Assumptions,
        old_set: &AnalysedSet<'_>,
        new_set: &AnalysedSet<'_>,
    ) -> Result<ModelDiff, ProofError> {
        let base = &assumptions.on_model(model)?;
        let old_forbids = old_set.forbids(model);
        let new_forbids = new_set.forbids(model);
        let mut errors = Vec::new();
        let mut old_can_error = Vec::new();
        for (set, is_old) in [(old_set, true), (new_set, false)] {
            for a in set.enforced_on(model) {
                let same_in_other = if is_old {
                    new_set.get(a.id())
                } else {
                    old_set.get(a.id())
                };
                if !a.may_error || (!is_old && unchanged(a, same_in_other)) {
                    continue;
                }
                if let Some(loss) = self.erroring(a, model, base, is_old).await? {
                    if is_old {
                        old_can_error.push(a.id().to_string());
                    }
                    errors.push(loss);
                }
            }
        }
        let gains_query =
            assumptions.pinned_to(model, old_forbids.clone().and(new_forbids.not()))?;
        let gained: Check<'_> =
            &|c, old, new| c.outcome(old) != Outcome::Allow && c.outcome(new) == Outcome::Allow;
        let found = self
            .examples(
                &gains_query,
                model,
                EXAMPLES_PER_FINDING,
                &format!("who gains access to {model}"),
                gained,
            )
            .await?;
        let stale_changed = stale_after_changed(model, old_set, new_set);
        let gains = if !found.is_empty() {
            Gains::Found { examples: found }
        } else if !stale_changed.is_empty() {
            Gains::NotProved {
                reason: format!(
                    "{} reads stale facts as unknown (`stale_after`) and changed; the proof covers callers whose facts are fresh",
                    stale_changed.join(", ")
                ),
            }
        } else if !old_can_error.is_empty() {
            Gains::NotProved {
                reason: format!(
                    "{} can error on {model}, and an error denies; the proof reads an erroring condition as not firing",
                    old_can_error.join(", ")
                ),
            }
        } else {
            Gains::Nobody
        };
        let mut losses = Vec::new();
        for a in new_set.enforced_on(model) {
            let before = old_set.get(a.id());
            if unchanged(a, before) && before.is_some_and(|b| b.covers(old_set.catalog(), model)) {
                continue;
            }
            let region = a.fires.clone().and(old_forbids.clone().not());
            let query = assumptions.pinned_to(model, region.clone())?;
            let id = a.id().to_string();
            let lost: Check<'_> = &|c, old, new| {
                c.outcome(old) == Outcome::Allow
                    && new
                        .decide(&c.query())
                        .enforced
                        .iter()
                        .any(|h| h.directive.id == id && h.model == c.model)
            };
            let examples = self
                .examples(
                    &query,
                    model,
                    EXAMPLES_PER_FINDING,
                    &format!("who loses {model} to {id}"),
                    lost,
                )
                .await?;
            if !examples.is_empty() {
                losses.push(Loss {
                    directive: id.clone(),
                    condition: region_words(a, &old_set.enforced_on(model)),
                    examples,
                });
            }
        }
        Ok(ModelDiff {
            model: model.to_string(),
            gains,
            losses,
            errors,
        })
    }

    /// A caller on whom `a`'s condition errors on `model`, if there is one.
    async fn erroring(
        &mut self,
        a: &Analysed,
        model: &str,
        base: &Expr,
        in_old: bool,
    ) -> Result<Option<Loss>, ProofError> {
        let query = format!("whether {} can error on {model}", a.id());
        let book = if in_old { self.old } else { self.new };
        let id = a.id().to_string();
        let errs = |c: &Caller| {
            book.decide(&c.query())
                .enforced
                .iter()
                .any(|h| h.directive.id == id && h.error.is_some())
        };
        let loss = |example: Example| Loss {
            directive: id.clone(),
            condition: format!(
                "{} (its condition errors, and an error denies)",
                words(&a.fires)
            ),
            examples: vec![example],
        };
        if let Some(caller) = self.sample.find(model, 1, errs).first() {
            return Ok(Some(loss(self.example(caller))));
        }
        let Some(env) = self
            .prover
            .error_example(&base.clone().and(a.fires.clone()), &query)
            .await?
        else {
            return Ok(None);
        };
        match caller_of(&env) {
            Ok(caller) if errs(&caller) => Ok(Some(loss(self.example(&caller)))),
            Ok(caller) => {
                self.not_reproduced.push(NotReproduced {
                    query,
                    why: format!("decide does not report an error for {}", caller.describe()),
                });
                Ok(None)
            }
            Err(not) => {
                self.not_reproduced
                    .push(NotReproduced { query, why: not.0 });
                Ok(None)
            }
        }
    }

    fn example(&self, caller: &Caller) -> Example {
        Example {
            caller: caller.to_json(),
            described: caller.describe(),
            old: outcome_words(&caller.outcome(self.old)),
            new: outcome_words(&caller.outcome(self.new)),
        }
    }

    /// Up to `most` callers on `model` for whom `check` holds, each a different kind of
    /// caller: from the grid of concrete callers when it has any (no solver asked), else
    /// from the solver where `query` holds, each replayed and kept only if `check` holds.
    async fn examples(
        &mut self,
        query: &Expr,
        model: &str,
        most: usize,
        what: &str,
        check: Check<'_>,
    ) -> Result<Vec<Example>, ProofError> {
        let (old, new) = (self.old, self.new);
        let from_grid: Vec<Example> = self
            .sample
            .find(model, most, |c| check(c, old, new))
            .into_iter()
            .map(|c| self.example(c))
            .collect();
        if !from_grid.is_empty() {
            return Ok(from_grid);
        }
        let mut found = Vec::new();
        let mut asked = query.clone();
        for _ in 0..most {
            let Some(env) = self.prover.readable_example(&asked, what).await? else {
                break;
            };
            let caller = match caller_of(&env) {
                Ok(caller) => caller,
                Err(not) => {
                    self.not_reproduced.push(NotReproduced {
                        query: what.to_string(),
                        why: not.0,
                    });
                    break;
                }
            };
            if !check(&caller, self.old, self.new) {
                self.not_reproduced.push(NotReproduced {
                    query: what.to_string(),
                    why: format!(
                        "decide does not agree for {}: old {}, new {}",
                        caller.describe(),
                        outcome_words(&caller.outcome(self.old)),
                        outcome_words(&caller.outcome(self.new))
                    ),
                });
                break;
            }
            found.push(self.example(&caller));
            asked = asked.and(profile(&caller)?.not());
        }
        Ok(found)
    }

    async fn reroutes(
        &mut self,
        old_set: &AnalysedSet<'_>,
        new_set: &AnalysedSet<'_>,
        assumptions: &Assumptions,
    ) -> Result<Vec<RerouteChange>, ProofError> {
        let catalog = assumptions.catalog();
        let mut changes = Vec::new();
        for a in new_set.directives.iter().filter(|a| a.enforced()) {
            let before = old_set.get(a.id()).filter(|b| b.enforced());
            let old_effect = before.map(|b| &b.directive.effect);
            let new_effect = &a.directive.effect;
            let changed = match old_effect {
                Some(old) => old != new_effect,
                None => matches!(new_effect, Effect::Reroute(_)),
            };
            if !changed {
                continue;
            }
            let example = match covered_model(a, catalog) {
                Some(model) => {
                    let id = a.id().to_string();
                    let fires: Check<'_> = &|c, _, new| {
                        new.decide(&c.query())
                            .enforced
                            .iter()
                            .any(|h| h.directive.id == id)
                    };
                    self.examples(
                        &assumptions.pinned_to(model, a.fires.clone())?,
                        model,
                        1,
                        &format!("where {id} reroutes"),
                        fires,
                    )
                    .await?
                    .into_iter()
                    .next()
                }
                None => None,
            };
            changes.push(RerouteChange {
                directive: a.id().to_string(),
                old: old_effect.map_or("absent".into(), effect_words),
                new: effect_words(new_effect),
                example,
            });
        }
        Ok(changes)
    }

    async fn shadow(
        &mut self,
        new_set: &AnalysedSet<'_>,
        assumptions: &Assumptions,
    ) -> Result<Vec<Loss>, ProofError> {
        let catalog = assumptions.catalog();
        let mut cut = Vec::new();
        for a in new_set.directives.iter().filter(|a| !a.enforced()) {
            let mut examples = Vec::new();
            let mut conditions = Vec::new();
            for model in catalog.models.iter().filter(|m| a.covers(catalog, &m.name)) {
                let enforced = new_set.forbids(&model.name);
                let id = a.id().to_string();
                let would_cut: Check<'_> = &|c, _, new| {
                    let decision = new.decide(&c.query());
                    decision.outcome == Outcome::Allow
                        && decision.shadow.iter().any(|h| h.directive.id == id)
                };
                let found = self
                    .examples(
                        &assumptions.pinned_to(&model.name, a.fires.clone().and(enforced.not()))?,
                        &model.name,
                        1,
                        &format!("who {id} would cut from {} if promoted", model.name),
                        would_cut,
                    )
                    .await?;
                if !found.is_empty() {
                    conditions.push(model.name.clone());
                    examples.extend(found);
                }
            }
            if !examples.is_empty() {
                cut.push(Loss {
                    directive: a.id().to_string(),
                    condition: format!(
                        "{} (served today on {})",
                        words(&a.fires),
                        conditions.join(", ")
                    ),
                    examples,
                });
            }
        }
        Ok(cut)
    }
}

/// Enforced directives on `model` with `stale_after` that are not the same in both sets. For a
/// principal whose facts are stale they also fire on no facts at all, which the symbolic
/// model does not express; when such directives are the same on both sides, that extra firing
/// is the same on both sides and cannot make anyone gain or lose.
fn stale_after_changed(
    model: &str,
    old_set: &AnalysedSet<'_>,
    new_set: &AnalysedSet<'_>,
) -> Vec<String> {
    let mut changed: Vec<String> = Vec::new();
    for (set, other) in [(old_set, new_set), (new_set, old_set)] {
        for a in set.enforced_on(model) {
            let counterpart = other
                .get(a.id())
                .filter(|b| b.enforced() && b.covers(other.catalog(), model));
            if a.directive.stale_after_s.is_some()
                && !unchanged(a, counterpart)
                && !changed.iter().any(|id| id == a.id())
            {
                changed.push(a.id().to_string());
            }
        }
    }
    changed
}

fn covered_model<'c>(a: &Analysed, catalog: &'c clearance_policy::Catalog) -> Option<&'c str> {
    catalog
        .models
        .iter()
        .find(|m| a.covers(catalog, &m.name))
        .map(|m| m.name.as_str())
}

/// The new directive's region, minus what the old set already kept off the model.
fn region_words(a: &Analysed, old_on_model: &[&Analysed]) -> String {
    let others: Vec<&&Analysed> = old_on_model.iter().filter(|o| o.id() != a.id()).collect();
    let own = words(&a.fires);
    let replaced = old_on_model.iter().find(|o| o.id() == a.id());
    match (replaced, others.is_empty()) {
        (None, true) => own,
        (Some(before), true) => format!(
            "{own}; except those its old version already kept out: {}",
            words(&before.fires)
        ),
        (_, false) => {
            let ids: Vec<&str> = old_on_model.iter().map(|o| o.id()).collect();
            format!(
                "{own}; except those the old set already kept out ({})",
                ids.join(", ")
            )
        }
    }
}

pub(crate) fn outcome_words(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Allow => "served".into(),
        Outcome::Deny => "denied (451)".into(),
        Outcome::Reroute { to } => format!("rerouted to {to}"),
    }
}

fn effect_words(effect: &Effect) -> String {
    match effect {
        Effect::Deny => "deny".into(),
        Effect::Reroute(to) => format!("reroute to {to}"),
    }
}

/// The kind of caller this is, in the terms US-person rules are written in: US citizenship,
/// US permanent residency, protected status, and whether the citizenship is known at all.
/// Excluding it makes the next example a different kind of caller (a green-card holder after
/// a refugee, a person with no facts after a foreign national).
pub(crate) fn profile(caller: &Caller) -> Result<Expr, ProofError> {
    let p = &caller.facts.principal;
    let us = clearance_core::country::CountryCode::US;
    let feature = |test: &str, holds: bool| {
        if holds {
            test.to_string()
        } else {
            format!("!({test})")
        }
    };
    let parts = [
        feature(
            "principal.citizenships.contains(\"US\")",
            p.citizenships.contains(&us),
        ),
        feature(
            "principal.permanent_residency.contains(\"US\")",
            p.permanent_residency.contains(&us),
        ),
        feature("principal.protected_individual", p.protected_individual),
        feature(
            "principal.citizenships.isEmpty()",
            p.citizenships.is_empty(),
        ),
    ];
    Expr::parse(&parts.join(" && "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clearance_policy::Catalog;

    fn prover() -> Prover {
        let program = clearance_config::env_var(crate::prover::SOLVER_ENV)
            .unwrap_or_else(|| crate::prover::DEFAULT_SOLVER.to_string());
        Prover::start(&program).unwrap()
    }

    fn catalog() -> Catalog {
        Catalog {
            models: vec![clearance_policy::CatalogModel {
                name: "fable-5".into(),
                provider: "acme".into(),
                tags: vec![],
            }],
        }
    }

    /// Cedar's symbolic compiler has returned spurious counterexamples before
    /// (cedar-policy/cedar#1799); here the analysis itself is made to produce them.
    #[tokio::test]
    async fn a_counterexample_decide_does_not_reproduce_is_never_a_finding() {
        let book = PolicyBook::empty(&catalog());
        let window = Window::at("2026-06-15T00:00:00Z".parse().unwrap());
        let set = AnalysedSet::new(&book).unwrap();
        let assumptions = Assumptions::new(&[&set], window).unwrap();
        let mut prover = prover();
        let mut run = Run {
            prover: &mut prover,
            old: &book,
            new: &book,
            // No concrete callers: every example comes from the solver.
            sample: Sample {
                callers: Vec::new(),
            },
            not_reproduced: Vec::new(),
        };
        // Without the fact invariants the solver finds a US citizen with no citizenship,
        // whom no registry can hold: the replay refuses to build that caller.
        let impossible = Expr::parse(
            "principal.us_citizen && principal.citizenships.isEmpty() && resource == Model::\"fable-5\"",
        )
        .unwrap();
        let anything: Check<'_> = &|_, _, _| true;
        let shown = run
            .examples(&impossible, "fable-5", 3, "an impossible caller", anything)
            .await
            .unwrap();
        assert!(shown.is_empty());
        assert_eq!(run.not_reproduced.len(), 1, "{:?}", run.not_reproduced);

        // A real caller on whom the books do not behave as the proof claimed (here: the
        // check says the old book must deny, and an empty book never does).
        run.prover.assume(assumptions.invariants().clone());
        let real = assumptions.on_model("fable-5").unwrap();
        let denied_by_old: Check<'_> = &|c, old, _| c.outcome(old) != Outcome::Allow;
        let shown = run
            .examples(
                &real,
                "fable-5",
                3,
                "a caller the old set denies",
                denied_by_old,
            )
            .await
            .unwrap();
        assert!(shown.is_empty());
        assert_eq!(run.not_reproduced.len(), 2);
        assert!(run.not_reproduced[1].why.contains("decide does not agree"));
    }
}

//! The assumptions every proof is made under: without them a counterexample could be a
//! principal who is a US citizen but not a US person, or a request for a model that does not
//! exist, and every finding would be noise.
//!
//! - **Facts**: the derived facts follow from the stored ones exactly as `Principal` computes
//!   them; `missing_facts` lists exactly the tracked facts whose value is empty; country codes
//!   are assigned ISO 3166-1 alpha-2 codes; screening holds one of its statuses.
//! - **Requests**: capabilities, API surface and `stream` take only the values the gateway
//!   sets; `max_tokens` is never negative.
//! - **Catalog**: the requested model is a catalog model with exactly its tags, both as the
//!   `tags` attribute and as `ModelTag` ancestors.
//! - **Time**: `context.now` lies in the window under study.
//!
//! ## Countries: a domain small enough to solve, large enough to be exact
//!
//! All 249 ISO codes as one set constraint is more than cvc5 answers in a minute. It is also
//! more than needed: a Cedar condition can tell strings apart only by comparing them with
//! literals (`==`, `contains`, `like`) or with each other. So the codes a proof ranges over are
//! the codes the directives name, the codes their `like` patterns match, `US` (which the
//! derived facts name), and four codes nobody names: as many as there are country-valued
//! attributes (`citizenships`, `permanent_residency`, `residence`, `context.country`), so any
//! pattern of "equal or different" among them still has an example. Any caller with other
//! unnamed codes behaves exactly as one with these, code for code.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::country::CountryCode;
use clearance_core::fact_table::{FactKind, MISSING_FACTS, PRINCIPAL_FACTS};
use clearance_core::facts::Capability;
use clearance_core::screening::ScreeningStatus;
use clearance_policy::{Catalog, CatalogModel};

use crate::error::ProofError;
use crate::expr::Expr;
use crate::set::AnalysedSet;

/// 9999-12-31T23:59:59Z, the last second a request can carry.
const LAST_SECOND: i64 = 253_402_300_799;

/// The times a proof covers: every second from `from`, up to `until` (exclusive) if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// One instant.
    pub fn at(at: DateTime<Utc>) -> Window {
        Window {
            from: at,
            until: Some(at + chrono::Duration::seconds(1)),
        }
    }

    fn expr_text(&self) -> String {
        // Open-ended windows still end where clocks do: no request is stamped after 9999.
        let until = self.until.map_or(LAST_SECOND + 1, |u| u.timestamp());
        format!(
            "context.now >= {} && context.now < {until}",
            self.from.timestamp()
        )
    }

    pub fn describe(&self) -> String {
        let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self.until {
            Some(until) if until - self.from == chrono::Duration::seconds(1) => {
                format!("at {}", format(self.from))
            }
            Some(until) => format!("from {} until {}", format(self.from), format(until)),
            None => format!("from {} onwards", format(self.from)),
        }
    }
}

fn set_literal<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// How many unnamed codes the domain holds: one per country-valued attribute.
const UNNAMED_CODES: usize = 4;

/// The country codes a proof ranges over (see the module docs).
#[derive(Debug, Clone)]
pub struct Countries {
    /// Every code in the domain.
    all: BTreeSet<String>,
    /// The unnamed codes, in ISO order.
    unnamed: Vec<String>,
}

impl Countries {
    /// The domain for directives whose expressions hold these string literals and `like`
    /// patterns.
    pub fn for_literals<'a>(
        literals: impl IntoIterator<Item = &'a str>,
        patterns: &[Vec<PatternPart>],
    ) -> Countries {
        let all: Vec<CountryCode> = CountryCode::all().collect();
        let mut domain: BTreeSet<String> = literals
            .into_iter()
            .filter(|text| all.iter().any(|c| c.as_str() == *text))
            .map(String::from)
            .collect();
        domain.insert(CountryCode::US.as_str().to_string());
        for pattern in patterns {
            domain.extend(
                all.iter()
                    .filter(|c| glob(pattern, c.as_str()))
                    .map(|c| c.as_str().to_string()),
            );
        }
        let unnamed: Vec<String> = all
            .iter()
            .map(|c| c.as_str().to_string())
            .filter(|c| !domain.contains(c))
            .take(UNNAMED_CODES)
            .collect();
        domain.extend(unnamed.iter().cloned());
        Countries {
            all: domain,
            unnamed,
        }
    }

    fn literal(&self) -> String {
        set_literal(self.all.iter().map(String::as_str))
    }

    /// The domain without all but one of its unnamed codes: what a readable example uses.
    fn with_one_unnamed(&self) -> String {
        set_literal(
            self.all
                .iter()
                .filter(|c| self.unnamed.first() == Some(c) || !self.unnamed.contains(c))
                .map(String::as_str),
        )
    }

    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.all.iter().map(String::as_str)
    }
}

/// A part of a Cedar `like` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternPart {
    Literal(String),
    Wildcard,
}

/// Whether `text` matches a `like` pattern (`*` matches any run of characters).
fn glob(pattern: &[PatternPart], text: &str) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((PatternPart::Literal(lit), rest)) => text
            .strip_prefix(lit.as_str())
            .is_some_and(|t| glob(rest, t)),
        Some((PatternPart::Wildcard, rest)) => (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .any(|i| glob(rest, &text[i..])),
    }
}

/// One group of invariants: they mention only the group's attributes (`adds`), and a query
/// needs them when it reads one of `trigger`.
#[derive(Debug, Clone)]
struct Group {
    trigger: Vec<String>,
    adds: Vec<String>,
    expr: Expr,
}

/// A clause that makes an example read like an ordinary request, used only when the query
/// reads every attribute it names (an attribute the query does not read gets its ordinary
/// value anyway: see [`crate::witness`]).
#[derive(Debug, Clone)]
struct Preference {
    tier: usize,
    reads: Vec<String>,
    expr: Expr,
}

/// What is true of every principal the registry can hold and every request the gateway
/// decides, in groups (see the module docs): a query carries the groups of the attributes it
/// reads, closed over the links between them, and nothing else. Dropping a constraint on an
/// attribute a query does not read cannot change whether the query holds, so a proof stays a
/// proof; the solver's values for such attributes are replaced by ordinary ones before the
/// caller is replayed.
#[derive(Debug, Clone)]
pub struct Invariants {
    groups: Vec<Group>,
    preferences: Vec<Preference>,
    window_from: DateTime<Utc>,
}

fn principal(name: &str) -> String {
    format!("principal.{name}")
}

impl Invariants {
    pub fn new(window: &Window, countries: &Countries) -> Result<Invariants, ProofError> {
        let iso = countries.literal();
        let group = |attributes: &[&str], text: &str| -> Result<Group, ProofError> {
            let names: Vec<String> = attributes.iter().map(|a| a.to_string()).collect();
            Ok(Group {
                trigger: names.clone(),
                adds: names,
                expr: Expr::parse(text)?,
            })
        };
        let mut groups = vec![group(
            &[
                "principal.citizenships",
                "principal.permanent_residency",
                "principal.protected_individual",
                "principal.us_citizen",
                "principal.us_person",
            ],
            &format!(
                "{} && {iso}.containsAll(principal.citizenships) \
                 && {iso}.containsAll(principal.permanent_residency)",
                derived_facts()
            ),
        )?];
        let mut links = Vec::new();
        let tracked: Vec<&str> = PRINCIPAL_FACTS
            .iter()
            .filter(|s| s.tracked)
            .map(|s| s.name)
            .collect();
        links.push(format!(
            "{}.containsAll(principal.{MISSING_FACTS})",
            set_literal(tracked.iter().copied())
        ));
        for spec in PRINCIPAL_FACTS {
            let attribute = principal(spec.name);
            let empty = match spec.kind {
                FactKind::Countries | FactKind::Labels => format!("{attribute}.isEmpty()"),
                FactKind::Country | FactKind::Text | FactKind::Screening => {
                    format!("{attribute} == \"\"")
                }
                FactKind::Flag => String::from("false"),
            };
            if spec.tracked {
                links.push(format!(
                    "principal.{MISSING_FACTS}.contains({:?}) == ({empty})",
                    spec.name
                ));
            }
            let values = match spec.kind {
                FactKind::Country => Some(format!("{empty} || {iso}.contains({attribute})")),
                FactKind::Screening => {
                    let statuses = [
                        ScreeningStatus::Clear,
                        ScreeningStatus::PotentialMatch,
                        ScreeningStatus::Match,
                    ];
                    Some(format!(
                        "{empty} || {}.contains({attribute})",
                        set_literal(statuses.iter().map(|s| s.as_str()))
                    ))
                }
                // Countries are in the first group; text, labels and flags take any value.
                FactKind::Countries | FactKind::Text | FactKind::Labels | FactKind::Flag => None,
            };
            if let Some(values) = values {
                groups.push(group(&[attribute.as_str()], &values)?);
            }
        }
        // Reading `missing_facts` needs its links to every tracked fact, and so those facts.
        let mut adds: Vec<String> = tracked.iter().map(|name| principal(name)).collect();
        adds.push(principal(MISSING_FACTS));
        groups.push(Group {
            trigger: vec![principal(MISSING_FACTS)],
            adds,
            expr: conjunction(&links)?,
        });
        let capabilities = set_literal(Capability::ALL.iter().map(|c| c.as_str()));
        let apis = set_literal(ApiSurface::ALL.iter().map(|a| a.as_str()));
        groups.extend([
            group(
                &["context.country"],
                &format!("context.country == \"\" || {iso}.contains(context.country)"),
            )?,
            group(
                &["context.capabilities", "context.stream"],
                &format!(
                    "{capabilities}.containsAll(context.capabilities) \
                     && context.stream == context.capabilities.contains(\"stream\")"
                ),
            )?,
            group(&["context.api"], &format!("{apis}.contains(context.api)"))?,
            group(&["context.max_tokens"], "context.max_tokens >= 0")?,
            group(&["context.now"], &window.expr_text())?,
        ]);
        Ok(Invariants {
            groups,
            preferences: preferences(window, countries)?,
            window_from: window.from,
        })
    }

    /// The invariants `query` needs, and every attribute they and the query constrain.
    pub fn for_query(&self, query: &Expr) -> (Expr, BTreeSet<String>) {
        let mut reads = reads_of(query);
        let mut included = vec![false; self.groups.len()];
        loop {
            let mut grew = false;
            for (i, group) in self.groups.iter().enumerate() {
                if !included[i] && group.trigger.iter().any(|t| reads.contains(t)) {
                    included[i] = true;
                    reads.extend(group.adds.iter().cloned());
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let parts = self
            .groups
            .iter()
            .zip(included)
            .filter(|(_, on)| *on)
            .map(|(g, _)| g.expr.clone());
        (Expr::all(parts), reads)
    }

    /// The preference tiers (most preferred first) for a query that reads `reads`.
    pub fn preferences(&self, reads: &BTreeSet<String>) -> Vec<Expr> {
        let usable: Vec<&Preference> = self
            .preferences
            .iter()
            .filter(|p| p.reads.iter().all(|r| reads.contains(r)))
            .collect();
        let tier = |most: usize| {
            Expr::all(
                usable
                    .iter()
                    .filter(|p| p.tier <= most)
                    .map(|p| p.expr.clone()),
            )
        };
        let mut tiers: Vec<Expr> = Vec::new();
        for most in (0..=2).rev() {
            let t = tier(most);
            if t != Expr::truth() && !tiers.contains(&t) {
                tiers.push(t);
            }
        }
        tiers
    }

    /// The time a caller is given when the query does not read it.
    pub fn default_now(&self) -> DateTime<Utc> {
        self.window_from
    }
}

/// Every `principal.x` and `context.x` an expression reads.
pub fn reads_of(expr: &Expr) -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, found: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(dot) = map.get(".")
                    && let (Some(var), Some(attr)) =
                        (dot["left"]["Var"].as_str(), dot["attr"].as_str())
                    && (var == "principal" || var == "context")
                {
                    found.insert(format!("{var}.{attr}"));
                }
                map.values().for_each(|v| walk(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk(expr.json(), &mut found);
    found
}

/// The clauses of an ordinary-looking example. Tier 0 always applies (where read): at the
/// window's start, no capabilities or limit, the default API, no app, roles or org, a
/// principal called `caller`. Tier 1: country facts of few codes, the request from where the
/// principal lives. Tier 2: a known citizenship and residence, a clear screening.
fn preferences(window: &Window, countries: &Countries) -> Result<Vec<Preference>, ProofError> {
    let few = countries.with_one_unnamed();
    let clause = |tier: usize, reads: &[&str], text: &str| -> Result<Preference, ProofError> {
        Ok(Preference {
            tier,
            reads: reads.iter().map(|r| r.to_string()).collect(),
            expr: Expr::parse(text)?,
        })
    };
    Ok(vec![
        clause(0, &[], "principal == Principal::\"caller\"")?,
        clause(
            0,
            &["context.now"],
            &format!("context.now == {}", window.from.timestamp()),
        )?,
        clause(
            0,
            &["context.capabilities"],
            "context.capabilities.isEmpty()",
        )?,
        clause(
            0,
            &["context.max_tokens"],
            &format!("context.max_tokens == {}", i64::MAX),
        )?,
        clause(
            0,
            &["context.api"],
            &format!("context.api == {:?}", ApiSurface::OpenaiChat.as_str()),
        )?,
        clause(0, &["context.app"], "context.app == \"\"")?,
        clause(0, &["principal.roles"], "principal.roles.isEmpty()")?,
        clause(0, &["principal.org"], "principal.org == \"\"")?,
        clause(
            1,
            &["principal.citizenships"],
            &format!("{few}.containsAll(principal.citizenships)"),
        )?,
        clause(
            1,
            &["principal.permanent_residency"],
            &format!("{few}.containsAll(principal.permanent_residency)"),
        )?,
        clause(
            1,
            &["principal.residence"],
            &format!("{few}.contains(principal.residence)"),
        )?,
        clause(
            1,
            &["context.country", "principal.residence"],
            "context.country == principal.residence",
        )?,
        clause(
            2,
            &["principal.citizenships"],
            "!principal.citizenships.isEmpty()",
        )?,
        clause(2, &["principal.residence"], "principal.residence != \"\"")?,
        clause(
            2,
            &["principal.screening"],
            "principal.screening == \"clear\"",
        )?,
    ])
}

/// The derived facts, as `Principal::us_citizen` and `Principal::us_person` compute them.
/// `derived_facts_are_the_two_this_module_knows` fails when the table grows a derived fact
/// without its line here.
fn derived_facts() -> String {
    String::from(
        "principal.us_citizen == principal.citizenships.contains(\"US\") \
         && principal.us_person == (principal.us_citizen \
            || principal.permanent_residency.contains(\"US\") \
            || principal.protected_individual)",
    )
}

/// The assumptions of one analysis, built once: the invariants over the country domain of the
/// directive sets analysed, and the catalog with every tag they name.
pub struct Assumptions {
    invariants: Invariants,
    tags: BTreeSet<String>,
    catalog: Catalog,
    pub window: Window,
}

impl Assumptions {
    pub fn new(sets: &[&AnalysedSet<'_>], window: Window) -> Result<Assumptions, ProofError> {
        let mut literals = BTreeSet::new();
        let mut patterns = Vec::new();
        let mut tags = BTreeSet::new();
        for set in sets {
            literals.extend(set.string_literals());
            patterns.extend(set.like_patterns());
            tags.extend(set.tags_named());
        }
        let countries = Countries::for_literals(literals.iter().map(String::as_str), &patterns);
        let catalog = sets
            .first()
            .map(|s| s.catalog().clone())
            .unwrap_or_default();
        Ok(Assumptions {
            invariants: Invariants::new(&window, &countries)?,
            tags,
            catalog,
            window,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The fact and request invariants, for the prover to add to each query.
    pub fn invariants(&self) -> &Invariants {
        &self.invariants
    }

    fn model(&self, model: &str) -> Result<&CatalogModel, ProofError> {
        self.catalog
            .model(model)
            .ok_or_else(|| ProofError::Internal(format!("`{model}` is not in the catalog")))
    }

    /// A request for `model` (the prover adds the fact and request invariants a query
    /// needs, see [`Invariants`]).
    pub fn on_model(&self, model: &str) -> Result<Expr, ProofError> {
        is_model(self.model(model)?, &self.tags)
    }

    /// `expr` asked of a request for `model`, with the model's literal in place of `resource`
    /// inside it: a directive's scope (`resource in [Model::"a", ...]`) then folds to true or
    /// false before the solver sees it, which makes the query much cheaper.
    pub fn pinned_to(&self, model: &str, expr: Expr) -> Result<Expr, ProofError> {
        let pinned = Expr::parse(&format!("resource == Model::{model:?}"))?;
        Ok(pinned.and(self.on_model(model)?.and(expr).on_model(model)))
    }

    /// A request for one of `models`.
    pub fn on_models(&self, models: &[&str]) -> Result<Expr, ProofError> {
        let pinned = models
            .iter()
            .map(|m| is_model(self.model(m)?, &self.tags))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::any(pinned))
    }

    /// A request for any catalog model.
    pub fn on_any_model(&self) -> Result<Expr, ProofError> {
        is_catalog_model(&self.catalog, &self.tags)
    }

    /// What the catalog says of `model` (over `resource`).
    pub fn model_facts(&self, model: &str) -> Result<Expr, ProofError> {
        is_model(self.model(model)?, &self.tags)
    }
}

/// `resource` is this catalog model, with exactly its provider and tags. `tags` lists every
/// tag any directive names, so membership in each is pinned down.
pub fn is_model(model: &CatalogModel, tags: &BTreeSet<String>) -> Result<Expr, ProofError> {
    let mut parts = vec![
        format!("resource == Model::{:?}", model.name),
        format!("resource.provider == {:?}", model.provider),
    ];
    if model.tags.is_empty() {
        parts.push("resource.tags.isEmpty()".into());
    } else {
        let own = set_literal(model.tags.iter().map(String::as_str));
        parts.push(format!(
            "resource.tags.containsAll({own}) && {own}.containsAll(resource.tags)"
        ));
    }
    for tag in tags.iter().chain(&model.tags) {
        let member = format!("resource in ModelTag::{tag:?}");
        parts.push(if model.tags.contains(tag) {
            member
        } else {
            format!("!({member})")
        });
    }
    conjunction(&parts)
}

/// Each part parsed alone and joined as a balanced tree.
fn conjunction(parts: &[String]) -> Result<Expr, ProofError> {
    Ok(Expr::all(
        parts
            .iter()
            .map(|p| Expr::parse(p))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `resource` is some catalog model.
pub fn is_catalog_model(catalog: &Catalog, tags: &BTreeSet<String>) -> Result<Expr, ProofError> {
    let models = catalog
        .models
        .iter()
        .map(|m| is_model(m, tags))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expr::any(models))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clearance_core::fact_table::DERIVED_FACTS;

    #[test]
    fn derived_facts_are_the_two_this_module_knows() {
        let table: Vec<&str> = DERIVED_FACTS.iter().map(|d| d.name).collect();
        assert_eq!(
            table,
            ["us_citizen", "us_person"],
            "write the new derived fact's invariant in derived_facts()"
        );
    }

    #[test]
    fn a_query_carries_the_invariants_of_what_it_reads_and_nothing_else() {
        let countries = Countries::for_literals(["CN"], &[]);
        let invariants = Invariants::new(&Window::at(Utc::now()), &countries).unwrap();
        let reads = |text: &str| invariants.for_query(&Expr::parse(text).unwrap()).1;
        assert_eq!(
            reads("principal.employee"),
            BTreeSet::from(["principal.employee".to_string()])
        );
        let citizen = reads("!principal.us_person");
        assert!(citizen.contains("principal.citizenships"));
        assert!(citizen.contains("principal.protected_individual"));
        assert!(!citizen.contains("principal.missing_facts"));
        // Reading missing_facts pulls in every tracked fact and their own groups.
        let missing = reads("principal.missing_facts.contains(\"org\")");
        for name in ["citizenships", "residence", "org", "screening", "us_person"] {
            assert!(missing.contains(&format!("principal.{name}")), "{name}");
        }
        let (none, _) = invariants.for_query(&Expr::parse("principal.employee").unwrap());
        assert_eq!(none, Expr::truth());
    }

    #[test]
    fn the_country_domain_holds_named_codes_us_pattern_matches_and_four_unnamed() {
        let pattern = vec![PatternPart::Literal("R".into()), PatternPart::Wildcard];
        let domain = Countries::for_literals(["CN", "acme", "XX", "DE"], &[pattern]);
        let codes: Vec<&str> = domain.codes().collect();
        for named in ["CN", "DE", "US", "RU", "RO", "RW"] {
            assert!(codes.contains(&named), "{named} in {codes:?}");
        }
        assert!(!codes.contains(&"acme") && !codes.contains(&"XX"));
        let named = ["CN", "DE", "US"].len() + codes.iter().filter(|c| c.starts_with('R')).count();
        assert_eq!(codes.len(), named + UNNAMED_CODES);
    }
}

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

/// What is true of every principal the registry can hold.
pub fn principal_invariants(countries: &Countries) -> Result<Expr, ProofError> {
    let iso = countries.literal();
    let mut parts = vec![derived_facts()];
    let tracked: Vec<&str> = PRINCIPAL_FACTS
        .iter()
        .filter(|s| s.tracked)
        .map(|s| s.name)
        .collect();
    parts.push(format!(
        "{}.containsAll(principal.{MISSING_FACTS})",
        set_literal(tracked.iter().copied())
    ));
    for spec in PRINCIPAL_FACTS {
        let attribute = format!("principal.{}", spec.name);
        let empty = match spec.kind {
            FactKind::Countries | FactKind::Labels => format!("{attribute}.isEmpty()"),
            FactKind::Country | FactKind::Text | FactKind::Screening => {
                format!("{attribute} == \"\"")
            }
            FactKind::Flag => String::from("false"),
        };
        if spec.tracked {
            parts.push(format!(
                "principal.{MISSING_FACTS}.contains({:?}) == ({empty})",
                spec.name
            ));
        }
        match spec.kind {
            FactKind::Countries => parts.push(format!("{iso}.containsAll({attribute})")),
            FactKind::Country => parts.push(format!("({empty} || {iso}.contains({attribute}))")),
            FactKind::Screening => {
                let statuses = [
                    ScreeningStatus::Clear,
                    ScreeningStatus::PotentialMatch,
                    ScreeningStatus::Match,
                ];
                parts.push(format!(
                    "({empty} || {}.contains({attribute}))",
                    set_literal(statuses.iter().map(|s| s.as_str()))
                ));
            }
            FactKind::Text | FactKind::Labels | FactKind::Flag => {}
        }
    }
    conjunction(&parts)
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

/// What is true of every request the gateway decides, at a time in `window`.
pub fn request_invariants(window: &Window, countries: &Countries) -> Result<Expr, ProofError> {
    let capabilities = set_literal(Capability::ALL.iter().map(|c| c.as_str()));
    let apis = set_literal(ApiSurface::ALL.iter().map(|a| a.as_str()));
    let text = format!(
        "(context.country == \"\" || {iso}.contains(context.country)) \
         && {capabilities}.containsAll(context.capabilities) \
         && context.stream == context.capabilities.contains(\"stream\") \
         && {apis}.contains(context.api) \
         && context.max_tokens >= 0 \
         && {window}",
        iso = countries.literal(),
        window = window.expr_text()
    );
    Expr::parse(&text)
}

/// The assumptions of one analysis, built once: the invariants over the country domain of the
/// directive sets analysed, and the catalog with every tag they name.
pub struct Assumptions {
    principal: Expr,
    request: Expr,
    tags: BTreeSet<String>,
    catalog: Catalog,
    countries: Countries,
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
            principal: principal_invariants(&countries)?,
            request: request_invariants(&window, &countries)?,
            tags,
            catalog,
            countries,
            window,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn model(&self, model: &str) -> Result<&CatalogModel, ProofError> {
        self.catalog
            .model(model)
            .ok_or_else(|| ProofError::Internal(format!("`{model}` is not in the catalog")))
    }

    /// A real caller's request for `model`, in the window.
    pub fn on_model(&self, model: &str) -> Result<Expr, ProofError> {
        Ok(Expr::all([
            self.principal.clone(),
            self.request.clone(),
            is_model(self.model(model)?, &self.tags)?,
        ]))
    }

    /// A real caller's request for one of `models`, in the window.
    pub fn on_models(&self, models: &[&str]) -> Result<Expr, ProofError> {
        let pinned = models
            .iter()
            .map(|m| is_model(self.model(m)?, &self.tags))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::all([
            self.principal.clone(),
            self.request.clone(),
            Expr::any(pinned),
        ]))
    }

    /// A real caller's request for any catalog model, in the window.
    pub fn on_any_model(&self) -> Result<Expr, ProofError> {
        Ok(Expr::all([
            self.principal.clone(),
            self.request.clone(),
            is_catalog_model(&self.catalog, &self.tags)?,
        ]))
    }

    /// What makes an example read like an ordinary request, most preferred first. Always: at
    /// the window's start, no capabilities or limit, a principal called `caller` with no roles
    /// or org. Then, while the query allows: country facts of few codes, the request from the
    /// country the principal lives in; and a known citizenship, residence and clear screening.
    pub fn readable(&self) -> Result<Vec<Expr>, ProofError> {
        let few = self.countries.with_one_unnamed();
        let few_codes = Expr::parse(&format!(
            "{few}.containsAll(principal.citizenships) \
             && {few}.containsAll(principal.permanent_residency) \
             && {few}.contains(principal.residence) \
             && context.country == principal.residence"
        ))?;
        let request = Expr::parse(&format!(
            "context.now == {} && context.capabilities.isEmpty() && context.max_tokens == {} \
             && context.api == {:?} && context.app == \"\"",
            self.window.from.timestamp(),
            i64::MAX,
            ApiSurface::OpenaiChat.as_str(),
        ))?;
        let plain = request.and(Expr::parse(
            "principal == Principal::\"caller\" && principal.roles.isEmpty() && principal.org == \"\"",
        )?);
        let known = Expr::parse(
            "!principal.citizenships.isEmpty() && principal.residence != \"\" \
             && principal.screening == \"clear\"",
        )?;
        Ok(vec![
            plain.clone().and(few_codes.clone()).and(known),
            plain.clone().and(few_codes),
            plain,
        ])
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
    fn the_invariants_parse() {
        let countries = Countries::for_literals(["CN"], &[]);
        principal_invariants(&countries).unwrap();
        request_invariants(&Window::at(Utc::now()), &countries).unwrap();
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

//! A compiled directive set as the proofs read it: each directive's policy as the expression
//! "it fires", which catalog models it covers, and whether its condition could error at all.

use std::collections::BTreeSet;
use std::sync::Arc;

use cedar_policy::{Policy, PolicyId};
use clearance_policy::{Catalog, Directive, Mode, PolicyBook};
use serde_json::Value;

use crate::assume::PatternPart;
use crate::error::ProofError;
use crate::expr::Expr;

/// One directive with what the proofs need of it.
#[derive(Debug, Clone)]
pub struct Analysed {
    pub directive: Arc<Directive>,
    /// The Cedar policy text it compiled to (two directives with the same id and text are the
    /// same directive).
    pub cedar: String,
    /// True exactly where the directive's policy matches (an error aside).
    pub fires: Expr,
    /// Whether evaluating it can error at all; when `false`, no solver is asked.
    pub may_error: bool,
}

impl Analysed {
    pub fn id(&self) -> &str {
        &self.directive.id
    }

    pub fn covers(&self, catalog: &Catalog, model: &str) -> bool {
        catalog
            .model(model)
            .is_some_and(|m| Catalog::covers(&self.directive.scope, m))
    }

    pub fn enforced(&self) -> bool {
        self.directive.mode == Mode::Enforce
    }
}

/// A directive set, ready for proofs.
pub struct AnalysedSet<'b> {
    pub book: &'b PolicyBook,
    pub directives: Vec<Analysed>,
}

impl<'b> AnalysedSet<'b> {
    pub fn new(book: &'b PolicyBook) -> Result<AnalysedSet<'b>, ProofError> {
        let directives = book
            .directives()
            .map(|d| {
                let cedar = book
                    .cedar_of(&d.id)
                    .ok_or_else(|| ProofError::Internal(format!("no policy for `{}`", d.id)))?;
                let policy = Policy::parse(Some(PolicyId::new(&d.id)), &cedar).map_err(|e| {
                    ProofError::Internal(format!("`{}` does not parse again: {e}", d.id))
                })?;
                let fires = Expr::matches(&policy)?;
                Ok(Analysed {
                    directive: Arc::clone(d),
                    may_error: may_error(fires.json()),
                    cedar,
                    fires,
                })
            })
            .collect::<Result<Vec<_>, ProofError>>()?;
        Ok(AnalysedSet { book, directives })
    }

    pub fn catalog(&self) -> &Catalog {
        self.book.catalog()
    }

    pub fn get(&self, id: &str) -> Option<&Analysed> {
        self.directives.iter().find(|a| a.id() == id)
    }

    /// The enforced directives covering `model`.
    pub fn enforced_on(&self, model: &str) -> Vec<&Analysed> {
        self.directives
            .iter()
            .filter(|a| a.enforced() && a.covers(self.catalog(), model))
            .collect()
    }

    /// The shadow directives covering `model`.
    pub fn shadow_on(&self, model: &str) -> Vec<&Analysed> {
        self.directives
            .iter()
            .filter(|a| !a.enforced() && a.covers(self.catalog(), model))
            .collect()
    }

    /// True where some enforced directive covering `model` fires: the caller is not served
    /// `model` as asked (denied, or rerouted).
    pub fn forbids(&self, model: &str) -> Expr {
        Expr::any(self.enforced_on(model).into_iter().map(|a| a.fires.clone()))
    }

    /// Every `ModelTag` a directive names, in its scope or its condition.
    pub fn tags_named(&self) -> BTreeSet<String> {
        let mut tags = BTreeSet::new();
        for a in &self.directives {
            tags.extend(a.directive.scope.tags.iter().cloned());
            collect_tags(a.fires.json(), &mut tags);
        }
        tags
    }
}

impl AnalysedSet<'_> {
    /// Every string literal in the directives' expressions.
    pub fn string_literals(&self) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for a in &self.directives {
            walk(a.fires.json(), &mut |key, v| {
                if key == "Value"
                    && let Some(s) = v.as_str()
                {
                    found.insert(s.to_string());
                }
            });
        }
        found
    }

    /// Every `like` pattern in the directives' expressions that may be matched against a
    /// country code (see [`country_patterns`]).
    pub fn like_patterns(&self) -> Vec<Vec<PatternPart>> {
        self.directives
            .iter()
            .flat_map(|a| country_patterns(a.fires.json()))
            .collect()
    }
}

/// The `like` patterns of an expression applied to `principal.residence`, `context.country`,
/// or anything that is not a plain attribute (a pattern on `org` or `app` says nothing about
/// countries).
fn country_patterns(value: &Value) -> Vec<Vec<PatternPart>> {
    let mut found = Vec::new();
    walk(value, &mut |key, v| {
        let attribute = v["left"]["."]["attr"].as_str();
        if key == "like" && attribute.is_none_or(|name| COUNTRY_ATTRIBUTES.contains(&name)) {
            let parts = v["pattern"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|part| match part["Literal"].as_str() {
                    Some(text) => PatternPart::Literal(text.to_string()),
                    None => PatternPart::Wildcard,
                })
                .collect();
            found.push(parts);
        }
    });
    found
}

/// The single-valued attributes that hold a country code (sets cannot be `like`d).
const COUNTRY_ATTRIBUTES: [&str; 2] = ["residence", "country"];

/// Calls `visit` with every key and value of every object in `value`.
fn walk(value: &Value, visit: &mut impl FnMut(&str, &Value)) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                visit(key, v);
                walk(v, visit);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

fn collect_tags(value: &Value, tags: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(uid) = map.get("__entity")
                && uid["type"].as_str() == Some("ModelTag")
                && let Some(id) = uid["id"].as_str()
            {
                tags.insert(id.to_string());
            }
            map.values().for_each(|v| collect_tags(v, tags));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_tags(v, tags)),
        _ => {}
    }
}

/// The EST keys whose evaluation cannot error on values that passed the schema check: every
/// principal, model and context attribute is always present, so only arithmetic (overflow),
/// extension functions, tags, and attributes of entity literals (which may not exist) can.
const CANNOT_ERROR: &[&str] = &[
    "Value",
    "Var",
    "!",
    "==",
    "!=",
    "in",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "contains",
    "containsAll",
    "containsAny",
    "isEmpty",
    "has",
    "like",
    "is",
    "if-then-else",
    "Set",
    "Record",
    "left",
    "right",
    "arg",
    "attr",
    "pattern",
    "entity_type",
    "if",
    "then",
    "else",
    "__entity",
    "type",
    "id",
    "Literal",
    "Wildcard",
];

/// Whether an expression may error: it uses something outside [`CANNOT_ERROR`], or reads an
/// attribute of anything but a variable.
pub(crate) fn may_error(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, v)| {
            if key == "." {
                return v["left"].get("Var").is_none() || may_error(&v["left"]);
            }
            if key == "Value" {
                return false;
            }
            !CANNOT_ERROR.contains(&key.as_str()) || may_error(v)
        }),
        Value::Array(items) => items.iter().any(may_error),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn may(text: &str) -> bool {
        may_error(Expr::parse(text).unwrap().json())
    }

    #[test]
    fn only_patterns_that_can_meet_a_country_code_widen_the_country_domain() {
        let policy = cedar_policy::Policy::parse(
            Some(PolicyId::new("p")),
            "forbid (principal, action, resource) when { principal.org like \"*\" \
             && principal.residence like \"R*\" && context.app like \"*x*\" };",
        )
        .unwrap();
        let fires = Expr::matches(&policy).unwrap();
        let patterns = country_patterns(fires.json());
        assert_eq!(
            patterns,
            [vec![
                PatternPart::Literal("R".into()),
                PatternPart::Wildcard
            ]]
        );
    }

    #[test]
    fn only_arithmetic_extensions_and_literal_entities_may_error() {
        assert!(!may("!principal.us_person && context.country == \"CN\""));
        assert!(!may(
            "principal.citizenships.containsAny([\"CN\", \"RU\"]) || principal.org like \"*acme*\""
        ));
        assert!(!may(
            "resource in ModelTag::\"frontier\" && context.now >= 1781481600"
        ));
        assert!(may("context.max_tokens + 1 > 100"));
        assert!(may("context.max_tokens * 2 > 100"));
        assert!(may("Model::\"fable-5\".provider == \"x\""));
        assert!(may("decimal(\"1.5\").lessThan(decimal(\"2.0\"))"));
    }
}

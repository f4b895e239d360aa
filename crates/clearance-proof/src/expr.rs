//! Cedar expressions as data: what a directive's policy means as one boolean expression, and
//! the conjunctions, disjunctions and negations the proofs are built from.
//!
//! Expressions are held in Cedar's own JSON form (the EST), so a raw `.cedar` directive with
//! scope constraints in its head (`resource in ModelTag::"frontier"`) turns into an expression
//! exactly as Cedar reads it, with no text surgery on policies.

use cedar_policy::{Policy, PolicyId};
use serde_json::{Value, json};

use crate::error::ProofError;

/// A Cedar expression over `principal`, `resource` and `context`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr(Value);

impl Expr {
    pub fn truth() -> Expr {
        Expr(json!({ "Value": true }))
    }

    pub fn falsity() -> Expr {
        Expr(json!({ "Value": false }))
    }

    /// Parses an expression written in Cedar's syntax.
    pub fn parse(text: &str) -> Result<Expr, ProofError> {
        let policy = format!("permit (principal, action, resource) when {{ {text}\n}};");
        let policy = Policy::parse(None, policy).map_err(|e| {
            ProofError::Internal(format!("`{text}` is not a Cedar expression: {e}"))
        })?;
        let conditions = policy_json(&policy)?;
        conditions["conditions"][0]["body"]
            .as_object()
            .map(|_| Expr(conditions["conditions"][0]["body"].clone()))
            .ok_or_else(|| ProofError::Internal("a parsed condition has no body".into()))
    }

    /// Whether `policy` matches a request: its head constraints and every `when` hold, no
    /// `unless` does. For a directive, whether it fires (errors aside).
    pub fn matches(policy: &Policy) -> Result<Expr, ProofError> {
        let est = policy_json(policy)?;
        let mut parts = vec![
            head("principal", &est["principal"])?,
            head("action", &est["action"])?,
            head("resource", &est["resource"])?,
        ];
        for condition in est["conditions"].as_array().into_iter().flatten() {
            let body = Expr(condition["body"].clone());
            parts.push(match condition["kind"].as_str() {
                Some("when") => body,
                Some("unless") => body.not(),
                other => {
                    return Err(ProofError::Internal(format!(
                        "a policy condition of kind {other:?}"
                    )));
                }
            });
        }
        Ok(Expr::all(parts))
    }

    pub fn and(self, other: Expr) -> Expr {
        if self.is(true) {
            return other;
        }
        if other.is(true) {
            return self;
        }
        Expr(json!({ "&&": { "left": self.0, "right": other.0 } }))
    }

    pub fn or(self, other: Expr) -> Expr {
        if self.is(false) {
            return other;
        }
        if other.is(false) {
            return self;
        }
        Expr(json!({ "||": { "left": self.0, "right": other.0 } }))
    }

    #[allow(
        clippy::should_implement_trait,
        reason = "reads as Cedar's `!`, not Rust's"
    )]
    pub fn not(self) -> Expr {
        if let Some(b) = self.0["Value"].as_bool() {
            return Expr(json!({ "Value": !b }));
        }
        Expr(json!({ "!": { "arg": self.0 } }))
    }

    /// Every part holds (`true` for none).
    pub fn all(parts: impl IntoIterator<Item = Expr>) -> Expr {
        balanced(parts.into_iter().collect(), Expr::truth(), Expr::and)
    }

    /// Some part holds (`false` for none).
    pub fn any(parts: impl IntoIterator<Item = Expr>) -> Expr {
        balanced(parts.into_iter().collect(), Expr::falsity(), Expr::or)
    }

    fn is(&self, value: bool) -> bool {
        self.0["Value"].as_bool() == Some(value)
    }

    /// The expression with `resource` replaced by the model `Model::"name"`: what it says
    /// about a request for that model.
    pub fn on_model(&self, model: &str) -> Expr {
        let literal = json!({ "Value": { "__entity": { "type": "Model", "id": model } } });
        Expr(replace_var(&self.0, "resource", &literal))
    }

    /// A `permit` policy that matches exactly where this expression is true.
    pub fn permit_policy(&self, id: &str) -> Result<Policy, ProofError> {
        let est = json!({
            "effect": "permit",
            "principal": { "op": "All" },
            "action": { "op": "All" },
            "resource": { "op": "All" },
            "conditions": [ { "kind": "when", "body": self.0 } ],
        });
        Policy::from_json(Some(PolicyId::new(id)), est)
            .map_err(|e| ProofError::Internal(format!("building a query policy: {e}")))
    }

    pub fn json(&self) -> &Value {
        &self.0
    }
}

/// Joins parts as a balanced tree: Cedar's parsers and the symbolic compiler recurse on the
/// expression, and a chain of 200 directives must not be 200 frames deep.
fn balanced(mut parts: Vec<Expr>, empty: Expr, join: fn(Expr, Expr) -> Expr) -> Expr {
    match parts.len() {
        0 => empty,
        1 => parts.remove(0),
        n => {
            let right = parts.split_off(n / 2);
            join(
                balanced(parts, empty.clone(), join),
                balanced(right, empty, join),
            )
        }
    }
}

fn policy_json(policy: &Policy) -> Result<Value, ProofError> {
    policy
        .to_json()
        .map_err(|e| ProofError::Internal(format!("a policy as JSON: {e}")))
}

fn entity(uid: &Value) -> Value {
    json!({ "Value": { "__entity": uid } })
}

/// A policy's head constraint on one variable, as an expression.
fn head(var: &str, constraint: &Value) -> Result<Expr, ProofError> {
    let variable = json!({ "Var": var });
    let op = constraint["op"].as_str().unwrap_or("All");
    let expr = match op {
        "All" | "all" => return Ok(Expr::truth()),
        "==" => json!({ "==": { "left": variable, "right": entity(&constraint["entity"]) } }),
        "in" => match constraint.get("entities").and_then(Value::as_array) {
            Some(uids) => {
                let set: Vec<Value> = uids.iter().map(entity).collect();
                json!({ "in": { "left": variable, "right": { "Set": set } } })
            }
            None => json!({ "in": { "left": variable, "right": entity(&constraint["entity"]) } }),
        },
        "is" => {
            let mut is = json!({ "left": variable, "entity_type": constraint["entity_type"] });
            if let Some(inside) = constraint.get("in") {
                is["in"] = entity(&inside["entity"]);
            }
            json!({ "is": is })
        }
        other => {
            return Err(ProofError::Internal(format!(
                "a head constraint `{other}` on {var}"
            )));
        }
    };
    Ok(Expr(expr))
}

fn replace_var(value: &Value, var: &str, with: &Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1 && map.get("Var").and_then(Value::as_str) == Some(var) {
                return with.clone();
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), replace_var(v, var, with)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| replace_var(v, var, with)).collect())
        }
        other => other.clone(),
    }
}

/// A Cedar string literal.
pub fn string(text: &str) -> Value {
    json!({ "Value": text })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_head_becomes_part_of_what_it_matches() {
        let policy = Policy::parse(
            None,
            "forbid (principal, action == Action::\"invoke\", resource in ModelTag::\"frontier\") \
             when { !principal.us_person } unless { principal.employee };",
        )
        .unwrap();
        let expr = Expr::matches(&policy).unwrap();
        let text = expr.json().to_string();
        assert!(text.contains("\"frontier\""), "{text}");
        assert!(text.contains("\"us_person\""), "{text}");
        assert!(text.contains("\"employee\""), "{text}");
        // What it means is a policy again, and it parses.
        expr.permit_policy("q").unwrap();
    }

    #[test]
    fn resource_is_replaced_by_the_model_literal() {
        let expr = Expr::parse("resource in ModelTag::\"x\" && principal.employee").unwrap();
        let on = expr.on_model("fable-5").json().to_string();
        assert!(on.contains("\"fable-5\""), "{on}");
        assert!(!on.contains("\"resource\""), "{on}");
    }
}

//! A condition in words, for a compliance officer rather than a Cedar reader:
//! `citizenships does not contain US and permanent_residency does not contain US and not
//! protected_individual, on mythos-5, from 2026-06-15`.
//!
//! Negations are pushed inwards, the derived facts `us_person` and `us_citizen` are spelt out
//! as the stored facts they stand for, and the model and time parts of a directive are said
//! last. Anything this renderer does not know is printed as Cedar, never dropped.

use chrono::DateTime;
use serde_json::Value;

use crate::expr::Expr;

/// The expression in words.
pub fn words(expr: &Expr) -> String {
    let mut parts = Parts::default();
    collect(expr.json(), false, &mut parts);
    parts.render()
}

/// The conjuncts of an expression, sorted into what is said about the caller, the model, and
/// the time.
#[derive(Default)]
struct Parts {
    /// Each part in words, and whether it is a disjunction (parenthesised beside others).
    about_caller: Vec<(String, bool)>,
    models: Vec<String>,
    times: Vec<String>,
}

impl Parts {
    fn render(self) -> String {
        let mut out = Vec::new();
        match self.about_caller.len() {
            0 => out.push("everyone".to_string()),
            1 => out.push(self.about_caller[0].0.clone()),
            _ => {
                let parts: Vec<String> = self
                    .about_caller
                    .iter()
                    .map(|(text, is_or)| {
                        if *is_or {
                            format!("({text})")
                        } else {
                            text.clone()
                        }
                    })
                    .collect();
                out.push(parts.join(" and "));
            }
        }
        if !self.models.is_empty() {
            out.push(format!("on {}", self.models.join(" and ")));
        }
        out.extend(self.times);
        out.join(", ")
    }
}

/// Splits the top-level conjunction (of a positive expression) into parts.
fn collect(value: &Value, negated: bool, parts: &mut Parts) {
    if !negated && let Some(and) = value.get("&&") {
        collect(&and["left"], false, parts);
        collect(&and["right"], false, parts);
        return;
    }
    if !negated {
        if let Some(models) = models(value) {
            parts.models.push(models);
            return;
        }
        if let Some(time) = time(value) {
            parts.times.push(time);
            return;
        }
        if value["Value"].as_bool() == Some(true) || about_action(value) {
            return;
        }
    }
    let (inner, flipped) = strip_not(value, negated);
    let is_or = if flipped {
        inner.get("&&").is_some()
    } else {
        inner.get("||").is_some()
    };
    parts.about_caller.push((say(value, negated), is_or));
}

/// `action == Action::"invoke"`: every directive's, and nothing a reader needs.
fn about_action(value: &Value) -> bool {
    ["==", "in"]
        .iter()
        .any(|op| value[*op]["left"]["Var"].as_str() == Some("action"))
}

/// `resource in [Model::"a", ...]` or `resource in ModelTag::"t"` (and their disjunctions).
fn models(value: &Value) -> Option<String> {
    if let Some(or) = value.get("||") {
        return Some(format!(
            "{} or {}",
            models(&or["left"])?,
            models(&or["right"])?
        ));
    }
    let inside = value.get("in").or_else(|| value.get("=="))?;
    inside["left"].get("Var").filter(|v| *v == "resource")?;
    let right = &inside["right"];
    let names: Vec<String> = match right.get("Set").and_then(Value::as_array) {
        Some(items) => items.iter().filter_map(entity_words).collect(),
        None => vec![entity_words(right)?],
    };
    Some(names.join(", "))
}

fn entity_words(value: &Value) -> Option<String> {
    let uid = value["Value"].get("__entity")?;
    let id = uid["id"].as_str()?;
    Some(match uid["type"].as_str()? {
        "ModelTag" => format!("models tagged {id}"),
        _ => id.to_string(),
    })
}

/// `context.now >= N` or `context.now < N`.
fn time(value: &Value) -> Option<String> {
    let (op, word) = [(">=", "from"), ("<", "until")]
        .into_iter()
        .find(|(op, _)| value.get(*op).is_some())?;
    let inside = &value[op];
    if attribute(&inside["left"])? != ("context", "now") {
        return None;
    }
    let at = DateTime::from_timestamp(inside["right"]["Value"].as_i64()?, 0)?;
    Some(format!(
        "{word} {}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ))
}

fn attribute(value: &Value) -> Option<(&str, &str)> {
    let dot = value.get(".")?;
    Some((dot["left"]["Var"].as_str()?, dot["attr"].as_str()?))
}

/// One expression in words, negated if asked (negation is pushed inwards).
fn say(value: &Value, negated: bool) -> String {
    if let Some(not) = value.get("!") {
        return say(&not["arg"], !negated);
    }
    for (op, joiner, flipped) in [("&&", " and ", " or "), ("||", " or ", " and ")] {
        if let Some(both) = value.get(op) {
            let joiner = if negated { flipped } else { joiner };
            let left = grouped(&both["left"], negated, joiner);
            let right = grouped(&both["right"], negated, joiner);
            return format!("{left}{joiner}{right}");
        }
    }
    if let Some(flag) = flag(value) {
        return flag_words(flag, negated);
    }
    for (op, yes, no) in [
        ("==", "is", "is not"),
        ("!=", "is not", "is"),
        ("contains", "contains", "does not contain"),
        ("containsAny", "contains any of", "contains none of"),
        ("containsAll", "contains all of", "does not contain all of"),
        ("in", "is in", "is not in"),
        ("like", "is like", "is not like"),
        ("<", "is less than", "is at least"),
        ("<=", "is at most", "is more than"),
        (">", "is more than", "is at most"),
        (">=", "is at least", "is less than"),
    ] {
        if let Some(inside) = value.get(op) {
            let verb = if negated { no } else { yes };
            let right = match op {
                "like" => pattern(&inside["pattern"]),
                _ => operand(&inside["right"]),
            };
            return format!("{} {verb} {right}", operand(&inside["left"]));
        }
    }
    if let Some(empty) = value.get("isEmpty") {
        let verb = if negated { "is not empty" } else { "is empty" };
        return format!("{} {verb}", operand(&empty["arg"]));
    }
    if let Some(b) = value["Value"].as_bool() {
        return if b != negated { "always" } else { "never" }.to_string();
    }
    let cedar = cedar_text(value);
    if negated {
        format!("not ({cedar})")
    } else {
        cedar
    }
}

fn grouped(value: &Value, negated: bool, joiner: &str) -> String {
    let text = say(value, negated);
    let effective_op = |v: &Value| -> Option<&str> {
        let (v, flips) = strip_not(v, negated);
        match (v.get("&&").is_some(), v.get("||").is_some(), flips) {
            (true, _, false) | (_, true, true) => Some(" and "),
            (_, true, false) | (true, _, true) => Some(" or "),
            _ => None,
        }
    };
    match effective_op(value) {
        Some(op) if op != joiner => format!("({text})"),
        _ => text,
    }
}

fn strip_not(value: &Value, negated: bool) -> (&Value, bool) {
    match value.get("!") {
        Some(not) => strip_not(&not["arg"], !negated),
        None => (value, negated),
    }
}

/// A boolean principal attribute read on its own.
fn flag(value: &Value) -> Option<&str> {
    match attribute(value)? {
        ("principal", name) => Some(name),
        _ => None,
    }
}

fn flag_words(name: &str, negated: bool) -> String {
    match (name, negated) {
        ("us_citizen", false) => "citizenships contains US".into(),
        ("us_citizen", true) => "citizenships does not contain US".into(),
        ("us_person", false) => "(citizenships contains US or permanent_residency contains US or protected_individual)".into(),
        ("us_person", true) => "citizenships does not contain US and permanent_residency does not contain US and not protected_individual".into(),
        (name, false) => name.to_string(),
        (name, true) => format!("not {name}"),
    }
}

fn operand(value: &Value) -> String {
    if let Some((var, attr)) = attribute(value) {
        return match var {
            "principal" => attr.to_string(),
            "context" if attr == "country" => "request country".to_string(),
            "resource" => format!("model {attr}"),
            _ => format!("{var}.{attr}"),
        };
    }
    if let Some(s) = value["Value"].as_str() {
        return if s.is_empty() {
            "unknown".into()
        } else {
            s.to_string()
        };
    }
    if let Some(entity) = entity_words(value) {
        return entity;
    }
    if let Some(items) = value.get("Set").and_then(Value::as_array) {
        let items: Vec<String> = items.iter().map(operand).collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(var) = value["Var"].as_str() {
        return var.to_string();
    }
    cedar_text(value)
}

fn pattern(value: &Value) -> String {
    let mut text = String::from("\"");
    for part in value.as_array().into_iter().flatten() {
        match part {
            Value::String(s) if s == "Wildcard" => text.push('*'),
            other => text.push_str(other["Literal"].as_str().unwrap_or("?")),
        }
    }
    text.push('"');
    text
}

/// The Cedar text of an expression this module has no words for.
fn cedar_text(value: &Value) -> String {
    let policy = serde_json::json!({
        "effect": "permit",
        "principal": { "op": "All" },
        "action": { "op": "All" },
        "resource": { "op": "All" },
        "conditions": [ { "kind": "when", "body": value } ],
    });
    cedar_policy::Policy::from_json(None, policy)
        .ok()
        .and_then(|p| p.to_cedar())
        .and_then(|text| {
            let start = text.find("when {")? + "when {".len();
            let end = text.rfind('}')?;
            Some(text[start..end].trim().to_string())
        })
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn said(text: &str) -> String {
        words(&Expr::parse(text).unwrap())
    }

    #[test]
    fn the_story_directive_reads_as_the_order_does() {
        assert_eq!(
            said(
                "resource in [Model::\"fable-5\", Model::\"mythos-5\"] && context.now >= 1781481600 \
                 && !principal.us_person"
            ),
            "citizenships does not contain US and permanent_residency does not contain US and \
             not protected_individual, on fable-5, mythos-5, from 2026-06-15T00:00:00Z"
        );
    }

    #[test]
    fn negations_are_pushed_inwards() {
        assert_eq!(
            said("!(principal.employee || context.country == \"CN\")"),
            "not employee and request country is not CN"
        );
        assert_eq!(
            said("principal.citizenships.containsAny([\"CN\", \"RU\"]) && !principal.us_citizen"),
            "citizenships contains any of [CN, RU] and citizenships does not contain US"
        );
        assert_eq!(
            said(
                "(principal.employee || principal.protected_individual) && principal.org == \"acme\""
            ),
            "(employee or protected_individual) and org is acme"
        );
    }

    #[test]
    fn what_has_no_words_is_shown_as_cedar() {
        let text = said("context.max_tokens + 1 > 100");
        assert!(text.contains("max_tokens") && text.contains('+'), "{text}");
    }
}

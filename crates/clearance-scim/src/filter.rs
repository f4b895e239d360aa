//! SCIM filters (RFC 7644 §3.4.2.2): parsed into a [`Filter`] and evaluated against a resource
//! as JSON. Every operator of the RFC is understood (`eq ne co sw ew gt ge lt le pr`, `and`,
//! `or`, `not`, parentheses and value paths such as `emails[type eq "work"]`), since identity
//! providers send more than the `userName eq` they are documented to send; the same value-path
//! filters select the elements a PATCH path names.
//!
//! Strings compare without regard to case (the schemas' `caseExact: false`) except `id`,
//! `externalId` and `meta.version`; `meta.created` and `meta.lastModified` compare as instants.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::{ScimError, ScimType};
use crate::schema::{ResourceKind, canonical_name, split_extension};

/// An attribute path: an optional extension URN, an attribute and an optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The extension schema the attribute belongs to (`None`: the core schema).
    pub schema: Option<&'static str>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `attr`, `attr.sub` or `urn:...:attr[.sub]`, names canonicalised.
    pub fn parse(text: &str, kind: ResourceKind) -> Result<AttrPath, String> {
        let (schema, rest) = match split_extension(text, kind) {
            Some((urn, rest)) => (Some(urn), rest),
            None if text.to_ascii_lowercase().starts_with("urn:") => {
                // The core schema's URN may prefix a core attribute too.
                let core = kind.core_schema();
                match text.get(..core.len()) {
                    Some(head) if head.eq_ignore_ascii_case(core) => {
                        (None, text[core.len()..].trim_start_matches(':'))
                    }
                    _ => return Err(format!("`{text}` names a schema this server does not know")),
                }
            }
            None => (None, text),
        };
        let mut parts = rest.split('.');
        let attr = parts.next().unwrap_or("");
        let sub = parts.next();
        if parts.next().is_some() || !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
            return Err(format!("`{text}` is not an attribute path"));
        }
        Ok(AttrPath {
            schema,
            attr: canonical_name(attr),
            sub: sub.map(canonical_name),
        })
    }

    /// Whether string values of this attribute compare with case.
    fn case_exact(&self) -> bool {
        self.schema.is_none()
            && matches!(
                (self.attr.as_str(), self.sub.as_deref()),
                ("id", None) | ("externalId", None) | ("meta", Some("version"))
            )
    }

    fn is_instant(&self) -> bool {
        self.schema.is_none()
            && self.attr == "meta"
            && matches!(self.sub.as_deref(), Some("created" | "lastModified"))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b'[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                // A JSON string: find its end (a quote not escaped), then let serde unescape.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(invalid("a string in the filter has no closing quote"));
                }
                i += 1;
                let literal: Value = serde_json::from_str(&text[start..i])
                    .map_err(|e| invalid(format!("a string in the filter is not valid: {e}")))?;
                tokens.push(Token::Literal(literal));
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\n\r()[]\"".contains(&bytes[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(text[start..i].to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    kind: ResourceKind,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.factor()?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Filter, ScimError> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(&Token::Close, "`)`")?;
                Ok(inner)
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => {
                self.expect(&Token::Open, "`(` after `not`")?;
                let inner = self.or()?;
                self.expect(&Token::Close, "`)`")?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Token::Word(path)) => {
                let attr = AttrPath::parse(&path, self.kind).map_err(invalid)?;
                if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
                    self.at += 1;
                    let inner = self.or()?;
                    self.expect(&Token::CloseBracket, "`]`")?;
                    return Ok(Filter::ValuePath(attr, Box::new(inner)));
                }
                let op = self
                    .peek_word()
                    .ok_or_else(|| invalid(format!("`{path}` is not followed by an operator")))?;
                self.at += 1;
                let op = match op.as_str() {
                    "pr" => return Ok(Filter::Present(attr)),
                    "eq" => CompareOp::Eq,
                    "ne" => CompareOp::Ne,
                    "co" => CompareOp::Co,
                    "sw" => CompareOp::Sw,
                    "ew" => CompareOp::Ew,
                    "gt" => CompareOp::Gt,
                    "ge" => CompareOp::Ge,
                    "lt" => CompareOp::Lt,
                    "le" => CompareOp::Le,
                    other => return Err(invalid(format!("`{other}` is not a filter operator"))),
                };
                let value = match self.tokens.get(self.at).cloned() {
                    Some(Token::Literal(v)) => v,
                    Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "null" => Value::Null,
                        _ => serde_json::from_str::<serde_json::Number>(&w)
                            .map(Value::Number)
                            .map_err(|_| {
                                invalid(format!(
                                    "`{w}` is not a value (strings go in double quotes)"
                                ))
                            })?,
                    },
                    _ => return Err(invalid(format!("`{path}` has no value to compare with"))),
                };
                self.at += 1;
                Ok(Filter::Compare(attr, op, value))
            }
            _ => Err(invalid("expected an attribute, `not` or `(`")),
        }
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), ScimError> {
        if self.tokens.get(self.at) == Some(token) {
            self.at += 1;
            Ok(())
        } else {
            Err(invalid(format!("expected {what}")))
        }
    }
}

/// The longest filter read; a longer one is refused, not parsed.
pub const MAX_FILTER_CHARS: usize = 4096;

impl Filter {
    /// Parses a filter for resources of `kind` (400 `invalidFilter` on any problem).
    pub fn parse(text: &str, kind: ResourceKind) -> Result<Filter, ScimError> {
        if text.len() > MAX_FILTER_CHARS {
            return Err(invalid(format!(
                "the filter is longer than {MAX_FILTER_CHARS} bytes"
            )));
        }
        let mut parser = Parser {
            tokens: tokenize(text)?,
            at: 0,
            kind,
        };
        if parser.tokens.is_empty() {
            return Err(invalid("the filter is empty"));
        }
        let filter = parser.or()?;
        if parser.at != parser.tokens.len() {
            return Err(invalid("the filter has more after a complete expression"));
        }
        Ok(filter)
    }

    /// Whether `resource` (a whole resource, or an element of a multi-valued attribute when
    /// evaluating a value path) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
            Filter::Present(path) => values_at(resource, path)
                .iter()
                .any(|v| !v.is_null() && v.as_str() != Some("") && v != &&Value::Array(vec![])),
            Filter::Compare(path, op, expected) => {
                let found = values_at(resource, path);
                if found.is_empty() {
                    return matches!((op, expected), (CompareOp::Eq, Value::Null))
                        || (*op == CompareOp::Ne && !expected.is_null());
                }
                found.iter().any(|v| compare(path, v, *op, expected))
            }
            Filter::ValuePath(path, inner) => {
                let elements = values_at(resource, path);
                elements.iter().any(|e| inner.matches(e))
            }
        }
    }
}

/// The values at `path` in `object`, arrays flattened (`emails.value` of every email).
pub fn values_at<'v>(object: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let scope = match path.schema {
        Some(urn) => match get_ci(object, urn) {
            Some(ext) => ext,
            None => return Vec::new(),
        },
        None => object,
    };
    let Some(top) = get_ci(scope, &path.attr) else {
        return Vec::new();
    };
    let tops: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => tops,
        Some(sub) => tops
            .into_iter()
            .filter_map(|t| get_ci(t, sub))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            })
            .collect(),
    }
}

/// A member of a JSON object by name, regardless of case.
pub fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn compare(path: &AttrPath, found: &Value, op: CompareOp, expected: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (found, expected) {
        (Value::String(a), Value::String(b)) if path.is_instant() => {
            match (instant(a), instant(b)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => None,
            }
        }
        (Value::String(a), Value::String(b)) => {
            if path.case_exact() {
                return compare_text(a, b, op);
            }
            return compare_text(&a.to_lowercase(), &b.to_lowercase(), op);
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => {
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                _ => false,
            };
        }
        // Entra ID may have stored a boolean as "True"; compare it as the boolean.
        (Value::String(a), Value::Bool(b)) => {
            let a = a.eq_ignore_ascii_case("true");
            return match op {
                CompareOp::Eq => a == *b,
                CompareOp::Ne => a != *b,
                _ => false,
            };
        }
        (_, Value::Null) => return op == CompareOp::Ne,
        _ => None,
    };
    match (ordering, op) {
        (Some(o), CompareOp::Eq) => o == Ordering::Equal,
        (Some(o), CompareOp::Ne) => o != Ordering::Equal,
        (Some(o), CompareOp::Gt) => o == Ordering::Greater,
        (Some(o), CompareOp::Ge) => o != Ordering::Less,
        (Some(o), CompareOp::Lt) => o == Ordering::Less,
        (Some(o), CompareOp::Le) => o != Ordering::Greater,
        _ => false,
    }
}

fn compare_text(a: &str, b: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
    }
}

fn instant(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "userName": "Alice@Example.com", "externalId": "00u1", "displayName": "Alice",
            "emails": [{"type": "work", "value": "alice@example.com"}, {"type": "home", "value": "a@home.example"}],
            "meta": {"lastModified": "2026-12-02T10:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701"}
        })
    }

    fn matches(filter: &str) -> bool {
        Filter::parse(filter, ResourceKind::User)
            .unwrap()
            .matches(&user())
    }

    #[test]
    fn user_name_eq_ignores_case_but_external_id_does_not() {
        assert!(matches(r#"userName eq "alice@example.com""#));
        assert!(matches(r#"USERNAME Eq "ALICE@EXAMPLE.COM""#));
        assert!(matches(r#"externalId eq "00u1""#));
        assert!(!matches(r#"externalId eq "00U1""#));
    }

    #[test]
    fn last_modified_compares_as_an_instant() {
        assert!(matches(r#"meta.lastModified gt "2026-12-02T09:59:59Z""#));
        assert!(matches(
            r#"meta.lastModified ge "2026-12-02T11:00:00+01:00""#
        ));
        assert!(!matches(r#"meta.lastModified lt "2026-12-02T10:00:00Z""#));
    }

    #[test]
    fn and_or_not_and_value_paths_combine() {
        assert!(matches(r#"userName eq "x" or displayName eq "alice""#));
        assert!(!matches(r#"userName eq "x" and displayName eq "alice""#));
        assert!(matches(
            r#"emails[type eq "work" and value co "example.com"]"#
        ));
        assert!(!matches(r#"not (emails[type eq "work"])"#));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701""#
        ));
    }

    #[test]
    fn malformed_filters_are_invalid_filter_errors() {
        for bad in [
            "userName eq",
            r#"userName eq "unterminated"#,
            r#"userName equals "x""#,
            r#"(userName eq "x""#,
            "userName eq bare",
            "",
            r#"urn:example:other:attr eq "x""#,
        ] {
            let error = Filter::parse(bad, ResourceKind::User).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{bad}");
            assert_eq!(error.status, 400);
        }
    }
}

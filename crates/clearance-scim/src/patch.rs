//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove`, with and without `path`, applied to
//! a kept resource body, in the forms Okta and Entra ID send:
//!
//! - op names in any case (`"Replace"`, Entra ID) and string booleans (`"False"`);
//! - no `path`, the value an object of attributes (Okta's `{"active": false}`), whose keys may
//!   themselves be paths (`"name.givenName"`) or extension URNs with or without an attribute;
//! - value paths: `emails[type eq "work"].value` (creates the element when none matches, as
//!   Entra ID expects of an `add` or `replace`), `members[value eq "id"]`;
//! - extension attribute paths: `urn:...:enterprise:2.0:User:organization`;
//! - `remove` of `members` with a value listing the members to remove (Entra ID).
//!
//! A `remove` that matches nothing changes nothing (identity providers retry, and a retried
//! removal must not fail). The result is normalised again, so it reads as a POST would.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{CompareOp, Filter, get_ci};
use crate::resource::normalize;
use crate::schema::{ResourceKind, canonical_name, split_extension};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// Where an operation applies.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The extension object the attribute is in (`None`: the core schema).
    pub schema: Option<&'static str>,
    /// `None`: the whole extension object.
    pub attr: Option<String>,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidSyntax, detail)
}

fn bad_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidPath, detail)
}

/// Parses a PatchOp message body.
pub fn parse_request(body: &Value, kind: ResourceKind) -> Result<Vec<PatchOp>, ScimError> {
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs `Operations`: an array of operations"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!("at most {MAX_OPERATIONS} operations per PATCH"),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let which = || format!("Operations[{i}]");
            let name = get_ci(op, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| syntax(format!("{}: `op` is required", which())))?;
            let op_kind = match name.to_ascii_lowercase().as_str() {
                "add" => OpKind::Add,
                "replace" => OpKind::Replace,
                "remove" => OpKind::Remove,
                other => {
                    return Err(syntax(format!(
                        "{}: `{other}` is not an operation (add, replace or remove)",
                        which()
                    )));
                }
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(parse_path(p.trim(), kind)?),
                Some(_) => return Err(bad_path(format!("{}: `path` must be a string", which()))),
            };
            let value = get_ci(op, "value").cloned();
            if op_kind != OpKind::Remove && value.is_none() {
                return Err(syntax(format!("{}: `{name}` needs a `value`", which())));
            }
            if op_kind == OpKind::Remove && path.is_none() {
                return Err(ScimError::bad(
                    ScimType::NoTarget,
                    format!("{}: `remove` needs a `path`", which()),
                ));
            }
            Ok(PatchOp {
                op: op_kind,
                path,
                value,
            })
        })
        .collect()
}

/// Parses `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each optionally prefixed by
/// an extension URN, or a bare extension URN.
pub fn parse_path(text: &str, kind: ResourceKind) -> Result<PatchPath, ScimError> {
    let (schema, rest) = match split_extension(text, kind) {
        Some((urn, rest)) => (Some(urn), rest),
        None => {
            let core = kind.core_schema();
            match text.get(..core.len()) {
                Some(head) if head.eq_ignore_ascii_case(core) => {
                    (None, text[core.len()..].trim_start_matches(':'))
                }
                _ => (None, text),
            }
        }
    };
    if rest.is_empty() {
        return match schema {
            Some(_) => Ok(PatchPath {
                schema,
                attr: None,
                filter: None,
                sub: None,
            }),
            None => Err(bad_path(format!("`{text}` names no attribute"))),
        };
    }
    let (head, filter, tail) = match rest.find('[') {
        Some(open) => {
            let close = rest
                .rfind(']')
                .filter(|c| *c > open)
                .ok_or_else(|| bad_path(format!("`{text}`: `[` without `]`")))?;
            let filter = Filter::parse(&rest[open + 1..close], kind)
                .map_err(|e| bad_path(format!("`{text}`: {}", e.detail)))?;
            let tail = &rest[close + 1..];
            let sub = match tail {
                "" => None,
                t => Some(
                    t.strip_prefix('.')
                        .ok_or_else(|| bad_path(format!("`{text}`: expected `.` after `]`")))?,
                ),
            };
            (&rest[..open], Some(filter), sub)
        }
        None => match rest.split_once('.') {
            Some((attr, sub)) => (attr, None, Some(sub)),
            None => (rest, None, None),
        },
    };
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-$".contains(c))
    };
    if !name_ok(head) || tail.is_some_and(|t| !name_ok(t)) {
        return Err(bad_path(format!("`{text}` is not an attribute path")));
    }
    let attr = canonical_name(head);
    if schema.is_none() && matches!(attr.as_str(), "id" | "meta" | "schemas") {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("`{attr}` is read-only"),
        ));
    }
    if schema.is_none() && kind == ResourceKind::User && attr == "groups" {
        return Err(ScimError::bad(
            ScimType::Mutability,
            "a user's `groups` is read-only: change membership on the Group (members)",
        ));
    }
    Ok(PatchPath {
        schema,
        attr: Some(attr),
        filter,
        sub: tail.map(canonical_name),
    })
}

/// Applies `ops` in order to a kept body; the result is normalised again.
pub fn apply(
    kind: ResourceKind,
    body: &Map<String, Value>,
    ops: &[PatchOp],
) -> Result<Map<String, Value>, ScimError> {
    let mut root = body.clone();
    for op in ops {
        match &op.path {
            Some(path) => apply_at(&mut root, path, op.op, op.value.clone())?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        "an operation without `path` needs an object `value`",
                    ));
                };
                for (key, value) in values {
                    let name = canonical_name(key);
                    if matches!(name.as_str(), "id" | "meta" | "schemas") {
                        // Okta repeats the id in a Group replace; it cannot change it.
                        continue;
                    }
                    let path = parse_path(key, kind)?;
                    apply_at(&mut root, &path, op.op, Some(value.clone()))?;
                }
            }
        }
    }
    normalize(kind, Value::Object(root))
}

fn apply_at(
    root: &mut Map<String, Value>,
    path: &PatchPath,
    op: OpKind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let scope: &mut Map<String, Value> = match path.schema {
        Some(urn) => {
            if op == OpKind::Remove && !root.contains_key(urn) {
                return Ok(());
            }
            if path.attr.is_none() {
                if op == OpKind::Remove {
                    root.remove(urn);
                    return Ok(());
                }
                let slot = root
                    .entry(urn.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                return merge_into(slot, value.unwrap_or(Value::Null), urn);
            }
            let slot = root
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().expect("made an object above")
        }
        None => root,
    };
    let attr = path
        .attr
        .as_deref()
        .expect("a core path always names an attribute");
    let key = existing_key(scope, attr);
    match (&path.filter, &path.sub) {
        (None, None) => match op {
            OpKind::Remove => {
                match (value, scope.get_mut(&key)) {
                    (Some(Value::Array(gone)), Some(Value::Array(items))) => {
                        items.retain(|item| !gone.iter().any(|g| same_member(item, g)));
                    }
                    _ => {
                        scope.remove(&key);
                    }
                }
                Ok(())
            }
            OpKind::Add => {
                let value = value.unwrap_or(Value::Null);
                match scope.get_mut(&key) {
                    Some(Value::Array(items)) => {
                        let new = match value {
                            Value::Array(v) => v,
                            other => vec![other],
                        };
                        for item in new {
                            if !items.iter().any(|i| same_member(i, &item)) {
                                items.push(item);
                            }
                        }
                        Ok(())
                    }
                    Some(existing @ Value::Object(_)) if value.is_object() => {
                        merge_into(existing, value, attr)
                    }
                    _ => {
                        scope.insert(key, value);
                        Ok(())
                    }
                }
            }
            OpKind::Replace => {
                let value = value.unwrap_or(Value::Null);
                match scope.get_mut(&key) {
                    Some(existing @ Value::Object(_)) if value.is_object() => {
                        merge_into(existing, value, attr)
                    }
                    _ => {
                        scope.insert(key, value);
                        Ok(())
                    }
                }
            }
        },
        (None, Some(sub)) => {
            let target = scope
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            let objects: Vec<&mut Map<String, Value>> = match target {
                Value::Object(map) => vec![map],
                Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
                _ => {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("`{attr}` has no sub-attributes"),
                    ));
                }
            };
            for object in objects {
                set_sub(object, sub, op, value.clone());
            }
            Ok(())
        }
        (Some(filter), sub) => {
            let target = scope
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = target else {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!("`{attr}` is not multi-valued; a filter cannot select in it"),
                ));
            };
            let matching: Vec<usize> = (0..items.len())
                .filter(|i| filter.matches(&items[*i]))
                .collect();
            match (op, sub) {
                (OpKind::Remove, None) => {
                    let mut index = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&index);
                        index += 1;
                        keep
                    });
                }
                (_, Some(sub)) if matching.is_empty() && op != OpKind::Remove => {
                    // Entra ID replaces `emails[type eq "work"].value` on a user with no work
                    // email: the element the filter describes is created.
                    let mut element = seed_from(filter).ok_or_else(|| {
                        ScimError::bad(
                            ScimType::NoTarget,
                            format!("no element of `{attr}` matches the filter"),
                        )
                    })?;
                    set_sub(&mut element, sub, op, value);
                    items.push(Value::Object(element));
                }
                (_, Some(sub)) => {
                    for i in matching {
                        if let Some(object) = items[i].as_object_mut() {
                            set_sub(object, sub, op, value.clone());
                        }
                    }
                }
                (OpKind::Add | OpKind::Replace, None) => {
                    let value = value.unwrap_or(Value::Null);
                    if matching.is_empty() {
                        return Err(ScimError::bad(
                            ScimType::NoTarget,
                            format!("no element of `{attr}` matches the filter"),
                        ));
                    }
                    for i in matching {
                        if op == OpKind::Replace {
                            items[i] = value.clone();
                        } else {
                            merge_into(&mut items[i], value.clone(), attr)?;
                        }
                    }
                }
            }
            if items.is_empty() {
                scope.remove(&key);
            }
            Ok(())
        }
    }
}

/// The key of `attr` in `scope` as stored (any case), or its canonical name when absent.
fn existing_key(scope: &Map<String, Value>, attr: &str) -> String {
    scope
        .keys()
        .find(|k| k.eq_ignore_ascii_case(attr))
        .cloned()
        .unwrap_or_else(|| attr.to_string())
}

fn set_sub(object: &mut Map<String, Value>, sub: &str, op: OpKind, value: Option<Value>) {
    let key = existing_key(object, sub);
    match (op, value) {
        (OpKind::Remove, _) | (_, None) => {
            object.remove(&key);
        }
        (_, Some(value)) => {
            object.insert(key, value);
        }
    }
}

fn merge_into(target: &mut Value, value: Value, what: &str) -> Result<(), ScimError> {
    match (target, value) {
        (Value::Object(existing), Value::Object(new)) => {
            for (k, v) in new {
                let key = existing_key(existing, &k);
                existing.insert(key, v);
            }
            Ok(())
        }
        (target, Value::Null) if target.is_object() => Ok(()),
        (_, other) => Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("`{what}` needs an object value, not {other}"),
        )),
    }
}

/// Whether two members of a multi-valued attribute are the same one: equal, or equal `value`.
fn same_member(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The element a filter of `eq` comparisons joined by `and` describes (`type eq "work"` →
/// `{"type": "work"}`), or `None` for any other filter.
fn seed_from(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, value)
            if path.schema.is_none() && path.sub.is_none() =>
        {
            let mut element = Map::new();
            element.insert(path.attr.clone(), value.clone());
            Some(element)
        }
        Filter::And(a, b) => {
            let mut element = seed_from(a)?;
            element.extend(seed_from(b)?);
            Some(element)
        }
        _ => None,
    }
}

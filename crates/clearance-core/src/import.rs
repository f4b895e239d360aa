//! Principal files (CSV with a header row, or JSONL) into principals.
//!
//! A file imports whole or not at all: every bad row is reported with its line number and the
//! caller gets no principals when any row is bad, so a registry is never half-updated. List
//! facts (`citizenships`, `permanent_residency`, `roles`) are `;`-separated in CSV and arrays
//! in JSONL: a JSON string there (`"citizenships": "US"`) is refused, never read as a list. `us_person` is not an accepted column: it is
//! derived, and a file that tries to set it is refused rather than silently ignored.
//!
//! Every fact is capped ([`crate::limits`]): the facts are copied into every audit record, so a
//! row over a cap (a 1 MB `org`, a hundred roles, an id such as `../../q8`) is a bad row like
//! any other. In JSONL a field of the wrong JSON type (a number for `org`, an object for
//! `roles`) is reported by name; `null` means the fact is not given.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::country::CountryCode;
use crate::fact_table::{
    FactKind, FactSlot, FactSpec, not_provided_because, provided_fact, provided_facts,
};
use crate::limits::{
    self, MAX_COUNTRIES, MAX_NAME_CHARS, MAX_ORG_CHARS, MAX_ROLE_CHARS, MAX_ROLES,
};
use crate::principal::{Principal, PrincipalId};

/// The columns a principal file may have besides the provided facts; `id` is the
/// only required one.
const IDENTITY_COLUMNS: [&str; 2] = ["id", "name"];

/// Every column a principal file may have: `id`, `name`, then every provided fact (not
/// `screening`: a file cannot clear anyone).
pub fn columns() -> Vec<&'static str> {
    IDENTITY_COLUMNS
        .into_iter()
        .chain(provided_facts().map(|spec| spec.name))
        .collect()
}

fn is_column(name: &str) -> bool {
    IDENTITY_COLUMNS.contains(&name) || provided_fact(name).is_some()
}

/// What an unknown column or field is told: the names that would do, and why a fact that
/// cannot be imported cannot be.
fn unknown_names_message(what: &str, unknown: &[String]) -> String {
    let mut message = format!(
        "unknown {what}{} {} (expected some of: {})",
        if unknown.len() == 1 { "" } else { "s" },
        shown_list(unknown),
        columns().join(", ")
    );
    for name in unknown {
        if let Some(why) = not_provided_because(name) {
            message.push_str(&format!("; {name} cannot be imported: {why}"));
        }
    }
    message
}

/// One problem in a principal file, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The formats a principal file can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Jsonl,
}

impl ImportFormat {
    /// Picks the format from a file name's extension (`.csv`, `.jsonl`, `.ndjson`).
    pub fn from_file_name(name: &str) -> Option<ImportFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(ImportFormat::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(ImportFormat::Jsonl)
        } else {
            None
        }
    }
}

/// Parses a whole principal file. `Err` holds every problem found, in line order.
pub fn parse_principals(text: &str, format: ImportFormat) -> Result<Vec<Principal>, Vec<RowError>> {
    // Spreadsheet exports often start with a UTF-8 byte-order mark; it is not part of a column.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Rows that cannot be read at all are reported beside the rows whose facts are bad.
    let (rows, mut errors) = match format {
        ImportFormat::Csv => csv_rows(text)?,
        ImportFormat::Jsonl => jsonl_rows(text),
    };
    let mut principals = Vec::with_capacity(rows.len());
    let mut first_line_of: HashMap<PrincipalId, u64> = HashMap::new();
    for (line, raw) in rows {
        match raw.into_principal() {
            Ok(principal) => {
                if let Some(first) = first_line_of.get(&principal.id) {
                    errors.push(RowError {
                        line,
                        message: format!(
                            "duplicate id `{}` (first seen on line {first})",
                            principal.id
                        ),
                    });
                } else {
                    first_line_of.insert(principal.id.clone(), line);
                    principals.push(principal);
                }
            }
            Err(message) => errors.push(RowError { line, message }),
        }
    }
    if errors.is_empty() {
        Ok(principals)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Rows read, each with its line, and the rows that could not be read.
type Rows = (Vec<(u64, RawPrincipal)>, Vec<RowError>);

/// A row as written, before any fact is checked.
#[derive(Debug, Default)]
struct RawPrincipal {
    /// `None` only when the row did not give one (JSONL), already among `problems`.
    id: Option<String>,
    name: Option<String>,
    /// The facts the row gives, in column order.
    facts: Vec<(&'static FactSpec, RawFact)>,
    /// Problems found while reading the row (JSONL: unknown, repeated or mistyped fields).
    problems: Vec<String>,
}

/// One fact's value as written; its kind decides which form it takes.
#[derive(Debug)]
enum RawFact {
    List(ListField),
    Flag(BoolField),
    Text(String),
}

/// A list fact: a JSON array, or a `;`-separated string as HR exports write it.
#[derive(Debug, Default)]
enum ListField {
    #[default]
    Empty,
    List(Vec<String>),
    Joined(String),
}

impl ListField {
    fn items(&self) -> Vec<String> {
        let raw: Vec<&str> = match self {
            ListField::Empty => Vec::new(),
            ListField::List(items) => items.iter().map(String::as_str).collect(),
            ListField::Joined(text) => text.split(';').collect(),
        };
        raw.into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A yes/no fact: a JSON bool or one of the words HR exports use.
#[derive(Debug)]
enum BoolField {
    Bool(bool),
    Text(String),
}

impl BoolField {
    fn value(&self, column: &str) -> Result<bool, String> {
        match self {
            BoolField::Bool(b) => Ok(*b),
            BoolField::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Ok(true),
                "false" | "no" | "n" | "0" | "" => Ok(false),
                other => Err(format!(
                    "{column}: {} is not a yes/no value (use true or false)",
                    shown(other)
                )),
            },
        }
    }
}

impl RawPrincipal {
    /// Checks every fact of the row and reports all of its problems in one message.
    fn into_principal(self) -> Result<Principal, String> {
        let mut problems = self.problems;
        let id = match self.id {
            Some(text) => principal_id(&text, &mut problems),
            None => {
                if problems.is_empty() {
                    problems.push("missing field `id`".into());
                }
                None
            }
        };
        let name = non_empty(self.name);
        if let Some(name) = &name {
            text_fact("name", name, MAX_NAME_CHARS, &mut problems);
        }
        // Facts are checked even when the id is bad, so the row's every problem is reported.
        let mut principal = Principal::new(id.clone().unwrap_or_else(placeholder_id));
        for (spec, raw) in self.facts {
            set_fact(&mut principal, spec, raw, &mut problems);
        }
        match id {
            Some(id) if problems.is_empty() => {
                principal.name = name.unwrap_or_else(|| id.to_string());
                Ok(principal)
            }
            _ => Err(problems.join("; ")),
        }
    }
}

fn placeholder_id() -> PrincipalId {
    PrincipalId::try_from("-".to_string()).expect("a one-character id is valid")
}

/// Checks one fact as its kind requires and sets it; a bad value adds its problems instead.
fn set_fact(principal: &mut Principal, spec: &FactSpec, raw: RawFact, problems: &mut Vec<String>) {
    let column = spec.name;
    let Some(slot) = principal.fact_mut(column) else {
        return;
    };
    match (slot, raw) {
        (FactSlot::Countries(held), RawFact::List(list)) => {
            *held = countries(column, &list.items(), problems);
        }
        (FactSlot::Labels(held), RawFact::List(list)) => {
            *held = roles(column, list.items(), problems)
        }
        (FactSlot::Country(held), RawFact::Text(text)) => {
            *held = non_empty(Some(text)).and_then(|text| country(column, &text, problems));
        }
        (FactSlot::Text(held), RawFact::Text(text)) => {
            let text = non_empty(Some(text));
            if let Some(text) = &text {
                text_fact(
                    column,
                    text,
                    spec.max_chars.unwrap_or(MAX_ORG_CHARS),
                    problems,
                );
            }
            *held = text;
        }
        (FactSlot::Flag(held), RawFact::Flag(field)) => *held = flag(column, Some(field), problems),
        // The readers below build each fact's raw form from its kind, so the forms agree.
        (_, _) => problems.push(format!("{column}: not readable as {:?}", spec.kind)),
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// A value as a message shows it: in backticks, escaped, and cut short when long, so a
/// megabyte-long cell does not become a megabyte-long error.
fn shown(text: &str) -> String {
    const SHOWN_CHARS: usize = 32;
    let count = text.chars().count();
    if count <= SHOWN_CHARS {
        format!("`{}`", text.escape_debug())
    } else {
        let start: String = text.chars().take(SHOWN_CHARS).collect();
        format!("`{}…` ({count} characters)", start.escape_debug())
    }
}

/// Lists names for a message, at most a few of them.
fn shown_list(names: &[String]) -> String {
    const SHOWN_NAMES: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN_NAMES)
        .map(|n| shown(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN_NAMES {
        text.push_str(&format!(" and {} more", names.len() - SHOWN_NAMES));
    }
    text
}

fn principal_id(text: &str, problems: &mut Vec<String>) -> Option<PrincipalId> {
    let trimmed = text.trim();
    if let Some(problem) = limits::principal_id_problem(trimmed) {
        problems.push(format!("id: {problem}"));
        return None;
    }
    PrincipalId::try_from(trimmed.to_string())
        .map_err(|e| problems.push(format!("id: {e}")))
        .ok()
}

/// A text fact's length cap, and no control characters.
fn text_fact(column: &str, text: &str, max_chars: usize, problems: &mut Vec<String>) {
    let len = text.chars().count();
    if len > max_chars {
        problems.push(format!(
            "{column}: {len} characters, more than the {max_chars} allowed"
        ));
    } else if let Some(c) = text.chars().find(|c| c.is_control()) {
        problems.push(format!(
            "{column}: contains {} (control characters are not allowed)",
            limits::describe_char(c)
        ));
    }
}

fn roles(column: &str, items: Vec<String>, problems: &mut Vec<String>) -> BTreeSet<String> {
    let over: Vec<(usize, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, role)| (i + 1, role.chars().count()))
        .filter(|(_, len)| *len > MAX_ROLE_CHARS)
        .collect();
    if let Some((entry, len)) = over.first() {
        let more = match over.len() - 1 {
            0 => String::new(),
            n => format!(" ({n} more over the cap)"),
        };
        problems.push(format!(
            "{column}: entry {entry} is {len} characters, more than the {MAX_ROLE_CHARS} allowed{more}"
        ));
    }
    let control = items
        .iter()
        .enumerate()
        .find_map(|(i, role)| role.chars().find(|c| c.is_control()).map(|c| (i + 1, c)));
    if let Some((entry, c)) = control {
        problems.push(format!(
            "{column}: entry {entry} contains {} (control characters are not allowed)",
            limits::describe_char(c)
        ));
    }
    let roles: BTreeSet<String> = items.into_iter().collect();
    if roles.len() > MAX_ROLES {
        problems.push(format!(
            "{column}: {} entries, more than the {MAX_ROLES} allowed",
            roles.len()
        ));
    }
    roles
}

fn country(column: &str, text: &str, problems: &mut Vec<String>) -> Option<CountryCode> {
    text.parse()
        .map_err(|_| {
            problems.push(format!(
                "{column}: {} is not an ISO 3166-1 alpha-2 country code",
                shown(text)
            ))
        })
        .ok()
}

fn countries(column: &str, items: &[String], problems: &mut Vec<String>) -> BTreeSet<CountryCode> {
    // Counted as stored (a set; codes are case-insensitive) before each is checked, so an
    // over-long list is one problem rather than one per entry.
    let distinct: BTreeSet<String> = items.iter().map(|i| i.to_ascii_uppercase()).collect();
    if distinct.len() > MAX_COUNTRIES {
        problems.push(format!(
            "{column}: {} countries, more than the {MAX_COUNTRIES} allowed",
            distinct.len()
        ));
        return BTreeSet::new();
    }
    items
        .iter()
        .filter_map(|item| country(column, item, problems))
        .collect()
}

fn flag(column: &str, field: Option<BoolField>, problems: &mut Vec<String>) -> bool {
    match field {
        None => false,
        Some(f) => f
            .value(column)
            .map_err(|e| problems.push(e))
            .unwrap_or(false),
    }
}

/// `Err` when the header row is bad: then no row can be read.
fn csv_rows(text: &str) -> Result<Rows, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            vec![RowError {
                line: 1,
                message: format!("cannot read the header row: {e}"),
            }]
        })?
        .clone();
    check_csv_header(&headers)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let raw = csv_record_to_raw(&headers, &record);
                rows.push((line, raw));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    message: csv_error_message(&e),
                });
            }
        }
    }
    Ok((rows, errors))
}

fn check_csv_header(headers: &csv::StringRecord) -> Result<(), Vec<RowError>> {
    let mut errors: Vec<RowError> = headers
        .iter()
        .filter(|h| !is_column(h))
        .map(|h| RowError {
            line: 1,
            message: unknown_names_message("column", &[h.to_string()]),
        })
        .collect();
    if !headers.iter().any(|h| h == "id") {
        errors.push(RowError {
            line: 1,
            message: "the header row has no `id` column".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn csv_record_to_raw(headers: &csv::StringRecord, record: &csv::StringRecord) -> RawPrincipal {
    let mut raw = RawPrincipal::default();
    for (column, value) in headers.iter().zip(record.iter()) {
        let value = value.to_string();
        match column {
            "id" => raw.id = Some(value),
            "name" => raw.name = Some(value),
            _ => {
                if let Some(spec) = provided_fact(column) {
                    let fact = match spec.kind {
                        kind if kind.is_list() => RawFact::List(ListField::Joined(value)),
                        FactKind::Flag => RawFact::Flag(BoolField::Text(value)),
                        _ => RawFact::Text(value),
                    };
                    raw.facts.push((spec, fact));
                }
            }
        }
    }
    raw
}

fn csv_error_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields but the header has {expected_len}")
        }
        _ => error.to_string(),
    }
}

fn jsonl_rows(text: &str) -> Rows {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JsonObject>(line) {
            Ok(object) => rows.push((line_no, json_object_to_raw(object))),
            Err(e) => errors.push(RowError {
                line: line_no,
                message: jsonl_error_message(&e),
            }),
        }
    }
    (rows, errors)
}

fn jsonl_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends "at line 1 column N"; the line is ours to state.
    text.split(" at line ").next().unwrap_or(&text).to_string()
}

/// A JSONL line's object, its fields in order, a repeated one kept so it can be reported.
struct JsonObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = JsonObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of one principal's facts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry::<String, Value>()? {
                    fields.push(field);
                }
                Ok(JsonObject(fields))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// What a message calls a JSON value's type.
/// A JSON value's type as an error message names it (`found a string`).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_object_to_raw(JsonObject(fields): JsonObject) -> RawPrincipal {
    let mut raw = RawPrincipal::default();
    let mut seen = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    let mut problems = Vec::new();
    for (field, value) in fields {
        if !is_column(&field) {
            unknown.push(field);
            continue;
        }
        if !seen.insert(field.clone()) {
            repeated.push(field);
            continue;
        }
        let column = field.as_str();
        match column {
            "id" => match value {
                Value::String(text) => raw.id = Some(text),
                other => problems.push(format!(
                    "id: expected a string, found {}",
                    json_type(&other)
                )),
            },
            "name" => raw.name = json_text(column, value, &mut problems),
            _ => {
                if let Some(spec) = provided_fact(column) {
                    let fact = json_fact(spec, value, &mut problems);
                    raw.facts.extend(fact.map(|fact| (spec, fact)));
                }
            }
        }
    }
    if !seen.contains("id") {
        problems.insert(0, "missing field `id`".into());
    }
    if !unknown.is_empty() {
        problems.insert(0, unknown_names_message("field", &unknown));
    }
    if !repeated.is_empty() {
        problems.insert(0, format!("field given twice: {}", shown_list(&repeated)));
    }
    raw.problems = problems;
    raw
}

/// Sets one fact from a JSON value as identity providers send it (a token's claim, a SCIM
/// attribute), checked exactly as a principal file's fact: a list fact takes an array of
/// strings or one string separated by `;` or `,`; a yes/no fact a boolean or a yes/no word;
/// a country or text fact a string; `null` makes the fact unknown. `Err` says what was wrong,
/// naming the fact.
pub fn set_fact_from_value(
    principal: &mut Principal,
    name: &str,
    value: &Value,
) -> Result<(), String> {
    let spec = provided_fact(name).ok_or_else(|| match not_provided_because(name) {
        Some(why) => format!("`{name}` cannot be set: {why}"),
        None => format!("`{name}` is not a principal fact"),
    })?;
    let raw = match (spec.kind, value) {
        (_, Value::Null) => {
            let blank = Principal::new(principal.id.clone());
            principal.copy_fact_from(&blank, name);
            return Ok(());
        }
        (kind, Value::String(text)) if kind.is_list() => {
            RawFact::List(ListField::Joined(text.replace(',', ";")))
        }
        (kind, Value::Array(_)) if kind.is_list() => {
            let mut problems = Vec::new();
            let list = json_list(spec, value.clone(), &mut problems);
            if !problems.is_empty() {
                return Err(problems.join("; "));
            }
            RawFact::List(list)
        }
        (FactKind::Flag, Value::Bool(b)) => RawFact::Flag(BoolField::Bool(*b)),
        (FactKind::Flag, Value::String(text)) => RawFact::Flag(BoolField::Text(text.clone())),
        (FactKind::Country | FactKind::Text, Value::String(text)) => RawFact::Text(text.clone()),
        (kind, other) => {
            let expected = match kind {
                FactKind::Countries => "an array of country codes or a `;`-separated string",
                FactKind::Labels => "an array of strings or a `;`-separated string",
                FactKind::Flag => "true or false",
                FactKind::Country => "a country code",
                FactKind::Text => "a string",
                FactKind::Screening => "nothing: screening sets it",
            };
            return Err(format!(
                "{name}: expected {expected}, found {}",
                json_type(other)
            ));
        }
    };
    let mut problems = Vec::new();
    set_fact(principal, spec, raw, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// One fact from JSON, read as its kind requires; `None` when not given or mistyped.
fn json_fact(spec: &FactSpec, value: Value, problems: &mut Vec<String>) -> Option<RawFact> {
    let column = spec.name;
    match spec.kind {
        kind if kind.is_list() => Some(RawFact::List(json_list(spec, value, problems))),
        FactKind::Flag => json_flag(column, value, problems).map(RawFact::Flag),
        _ => json_text(column, value, problems).map(RawFact::Text),
    }
}

/// A text fact: a string, or `null` for not given.
fn json_text(column: &str, value: Value, problems: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => {
            problems.push(format!(
                "{column}: expected a string, found {}",
                json_type(&other)
            ));
            None
        }
    }
}

/// A list fact: an array of strings, or `null` for not given. A string is refused, `;` or not:
/// JSON has arrays, and a string read as a one-entry list would be a guess.
fn json_list(spec: &FactSpec, value: Value, problems: &mut Vec<String>) -> ListField {
    let column = spec.name;
    let expected = match spec.kind {
        FactKind::Countries => "an array of country codes (`[\"US\"]`)",
        _ => "an array of strings",
    };
    match value {
        Value::Null => ListField::Empty,
        Value::Array(values) => {
            let mut items = Vec::with_capacity(values.len());
            let mut bad = Vec::new();
            for (i, value) in values.into_iter().enumerate() {
                match value {
                    Value::String(text) => items.push(text),
                    other => bad.push((i + 1, json_type(&other))),
                }
            }
            if let Some((entry, found)) = bad.first() {
                let more = match bad.len() - 1 {
                    0 => String::new(),
                    n => format!(" ({n} more not strings)"),
                };
                problems.push(format!(
                    "{column}: entry {entry} is {found}, expected a string{more}"
                ));
            }
            ListField::List(items)
        }
        other => {
            problems.push(format!(
                "{column}: expected {expected}, found {}",
                json_type(&other)
            ));
            ListField::Empty
        }
    }
}

/// A yes/no fact: a boolean, one of the words [`BoolField`] knows, or `null` for not given.
fn json_flag(column: &str, value: Value, problems: &mut Vec<String>) -> Option<BoolField> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(BoolField::Bool(b)),
        Value::String(text) => Some(BoolField::Text(text)),
        other => {
            problems.push(format!(
                "{column}: expected true or false, found {}",
                json_type(&other)
            ));
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::limits::MAX_PRINCIPAL_ID_CHARS;

    const GOOD_CSV: &str = "id,name,citizenships,permanent_residency,protected_individual,residence,org,employee,roles\n\
        alice,Alice,US,,false,FR,acme,true,engineer\n\
        bob,Bob,DE;US,,no,US,acme,yes,engineer;admin\n\
        chen,Chen,CN,US,false,US,acme,true,\n";

    #[test]
    fn a_byte_order_mark_from_a_spreadsheet_export_is_ignored() {
        let people =
            parse_principals("\u{feff}id,citizenships\nalice,US\n", ImportFormat::Csv).unwrap();
        assert!(people[0].us_citizen());
    }

    #[test]
    fn facts_from_identity_providers_are_checked_as_a_file_would_be() {
        let mut p = Principal::new("p".parse().unwrap());
        set_fact_from_value(&mut p, "citizenships", &serde_json::json!("de, US")).unwrap();
        assert_eq!(p.citizenships.len(), 2);
        set_fact_from_value(&mut p, "roles", &serde_json::json!(["a", "b"])).unwrap();
        set_fact_from_value(&mut p, "employee", &serde_json::json!("yes")).unwrap();
        set_fact_from_value(&mut p, "residence", &serde_json::json!("fr")).unwrap();
        assert!(p.employee && p.roles.len() == 2 && p.residence.unwrap().as_str() == "FR");
        let error = set_fact_from_value(&mut p, "residence", &serde_json::json!("Atlantis"));
        assert!(error.unwrap_err().contains("residence: `Atlantis`"));
        let error = set_fact_from_value(&mut p, "employee", &serde_json::json!(3));
        assert!(
            error
                .unwrap_err()
                .contains("employee: expected true or false")
        );
        assert!(set_fact_from_value(&mut p, "us_person", &serde_json::json!(true)).is_err());
        set_fact_from_value(&mut p, "residence", &serde_json::Value::Null).unwrap();
        assert_eq!(p.residence, None);
        assert_eq!(p.roles.len(), 2, "other facts untouched");
    }

    #[test]
    fn csv_imports_every_fact() {
        let people = parse_principals(GOOD_CSV, ImportFormat::Csv).unwrap();
        assert_eq!(people.len(), 3);
        let bob = &people[1];
        assert_eq!(bob.citizenships.len(), 2);
        assert!(bob.employee);
        assert_eq!(bob.roles.len(), 2);
        assert!(people[2].us_person() && !people[2].us_citizen());
    }

    #[test]
    fn csv_reports_every_bad_row_with_its_line() {
        let text = "id,citizenships,residence,employee\nok,US,US,true\nbad1,XX,US,true\nbad2,US,ZZ,maybe\n";
        let errors = parse_principals(text, ImportFormat::Csv).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(errors[0].message.contains("citizenships: `XX`"));
        assert!(errors[1].message.contains("residence: `ZZ`"));
        assert!(errors[1].message.contains("employee: `maybe`"));
    }

    #[test]
    fn csv_refuses_unknown_columns_such_as_us_person() {
        let errors = parse_principals("id,us_person\nalice,true\n", ImportFormat::Csv).unwrap_err();
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("unknown column `us_person`"));
    }

    #[test]
    fn csv_reports_rows_with_the_wrong_number_of_fields() {
        let errors =
            parse_principals("id,name\nalice,Alice,extra\n", ImportFormat::Csv).unwrap_err();
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("3 fields"));
    }

    #[test]
    fn duplicate_ids_are_reported_with_both_lines() {
        let errors = parse_principals("id\nalice\nalice\n", ImportFormat::Csv).unwrap_err();
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("line 2"));
    }

    #[test]
    fn jsonl_accepts_arrays() {
        let text = "{\"id\":\"a\",\"citizenships\":[\"US\",\"DE\"]}\n\n{\"id\":\"b\",\"citizenships\":[\"FR\",\"IT\"],\"employee\":true}\n";
        let people = parse_principals(text, ImportFormat::Jsonl).unwrap();
        assert_eq!(people.len(), 2);
        assert_eq!(people[1].citizenships.len(), 2);
        assert!(people[1].employee);
    }

    #[test]
    fn jsonl_reports_bad_lines_and_refuses_us_person() {
        let text = "{\"id\":\"a\"}\n{not json}\n{\"id\":\"c\",\"us_person\":true}\n";
        let errors = parse_principals(text, ImportFormat::Jsonl).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(errors[1].message.contains("us_person"));
    }

    // ---- caps (crate::limits): at the cap accepted, one over refused with its line

    /// A CSV file with an `ok` row on line 2 and the row under test on line 3.
    fn csv_with(header: &str, row: &str) -> String {
        let blanks = ",".repeat(header.matches(',').count() + 1);
        format!("id,{header}\nok{blanks}\n{row}\n")
    }

    fn the_error(text: &str, format: ImportFormat) -> RowError {
        let errors = parse_principals(text, format).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    fn assert_over(error: &RowError, line: u64, field: &str, cap: usize, actual: usize) {
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.starts_with(&format!("{field}: ")), "{error}");
        assert!(
            error.message.contains(&format!("{actual} "))
                && error.message.contains(&format!("the {cap} allowed")),
            "{error}"
        );
    }

    #[test]
    fn name_cap() {
        let at = "n".repeat(MAX_NAME_CHARS);
        let people = parse_principals(&csv_with("name", &format!("p,{at}")), ImportFormat::Csv);
        assert_eq!(people.unwrap()[1].name, at);
        let over = format!("p,{at}n");
        let error = the_error(&csv_with("name", &over), ImportFormat::Csv);
        assert_over(&error, 3, "name", MAX_NAME_CHARS, MAX_NAME_CHARS + 1);
    }

    #[test]
    fn caps_count_characters_not_bytes() {
        let at = "é".repeat(MAX_ORG_CHARS);
        let people = parse_principals(&csv_with("org", &format!("p,{at}")), ImportFormat::Csv);
        assert_eq!(people.unwrap()[1].org.as_deref(), Some(at.as_str()));
    }

    #[test]
    fn org_cap() {
        let at = "o".repeat(MAX_ORG_CHARS);
        let people = parse_principals(&csv_with("org", &format!("p,{at}")), ImportFormat::Csv);
        assert_eq!(people.unwrap()[1].org.as_deref(), Some(at.as_str()));
        let error = the_error(&csv_with("org", &format!("p,{at}o")), ImportFormat::Csv);
        assert_over(&error, 3, "org", MAX_ORG_CHARS, MAX_ORG_CHARS + 1);
    }

    #[test]
    fn a_megabyte_org_is_refused_with_its_line_in_csv_and_jsonl_and_not_echoed() {
        let mb = "x".repeat(1 << 20);
        let error = the_error(&csv_with("org", &format!("p,{mb}")), ImportFormat::Csv);
        assert_over(&error, 3, "org", MAX_ORG_CHARS, 1 << 20);
        assert!(error.message.len() < 200, "{} bytes", error.message.len());

        let jsonl = format!("{{\"id\":\"ok\"}}\n\n{{\"id\":\"p\",\"org\":\"{mb}\"}}\n");
        let error = the_error(&jsonl, ImportFormat::Jsonl);
        assert_over(&error, 3, "org", MAX_ORG_CHARS, 1 << 20);
        assert!(error.message.len() < 200, "{} bytes", error.message.len());
    }

    #[test]
    fn surrounding_whitespace_does_not_count() {
        let padded = format!("\"  {}  \"", "o".repeat(MAX_ORG_CHARS));
        assert!(
            parse_principals(&csv_with("org", &format!("p,{padded}")), ImportFormat::Csv).is_ok()
        );
        let blank = " ".repeat(1 << 20);
        let people = parse_principals(&csv_with("org", &format!("p,{blank}")), ImportFormat::Csv);
        assert_eq!(people.unwrap()[1].org, None);
    }

    #[test]
    fn role_length_cap() {
        let at = "r".repeat(MAX_ROLE_CHARS);
        let people = parse_principals(&csv_with("roles", &format!("p,a;{at}")), ImportFormat::Csv);
        assert!(people.unwrap()[1].roles.contains(&at));
        let error = the_error(&csv_with("roles", &format!("p,a;{at}r")), ImportFormat::Csv);
        assert_over(&error, 3, "roles", MAX_ROLE_CHARS, MAX_ROLE_CHARS + 1);
        assert!(error.message.contains("entry 2"), "{error}");
        let jsonl = format!(
            "{{\"id\":\"p\",\"roles\":[\"a\",\"{}\"]}}\n",
            "r".repeat(1 << 20)
        );
        let error = the_error(&jsonl, ImportFormat::Jsonl);
        assert_over(&error, 1, "roles", MAX_ROLE_CHARS, 1 << 20);
    }

    #[test]
    fn role_count_cap() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("r{i}"))
                .collect::<Vec<_>>()
                .join(";")
        };
        let people = parse_principals(
            &csv_with("roles", &format!("p,{}", list(MAX_ROLES))),
            ImportFormat::Csv,
        );
        assert_eq!(people.unwrap()[1].roles.len(), MAX_ROLES);
        let error = the_error(
            &csv_with("roles", &format!("p,{}", list(MAX_ROLES + 1))),
            ImportFormat::Csv,
        );
        assert_over(&error, 3, "roles", MAX_ROLES, MAX_ROLES + 1);
        // Counted as stored: a role given twice is one role.
        let twice = format!("p,{};r0", list(MAX_ROLES));
        assert!(parse_principals(&csv_with("roles", &twice), ImportFormat::Csv).is_ok());
        let array = (0..=MAX_ROLES)
            .map(|i| format!("\"r{i}\""))
            .collect::<Vec<_>>()
            .join(",");
        let error = the_error(
            &format!("{{\"id\":\"p\",\"roles\":[{array}]}}\n"),
            ImportFormat::Jsonl,
        );
        assert_over(&error, 1, "roles", MAX_ROLES, MAX_ROLES + 1);
    }

    const SEVENTEEN: [&str; 17] = [
        "US", "CA", "MX", "GB", "FR", "DE", "IT", "ES", "PT", "NL", "BE", "LU", "CH", "AT", "DK",
        "SE", "NO",
    ];

    #[test]
    fn country_list_caps() {
        for column in ["citizenships", "permanent_residency"] {
            let at = SEVENTEEN[..MAX_COUNTRIES].join(";");
            let people =
                parse_principals(&csv_with(column, &format!("p,{at}")), ImportFormat::Csv).unwrap();
            let held = if column == "citizenships" {
                &people[1].citizenships
            } else {
                &people[1].permanent_residency
            };
            assert_eq!(held.len(), MAX_COUNTRIES);
            let over = SEVENTEEN[..=MAX_COUNTRIES].join(";");
            let error = the_error(&csv_with(column, &format!("p,{over}")), ImportFormat::Csv);
            assert_over(&error, 3, column, MAX_COUNTRIES, MAX_COUNTRIES + 1);
            let array = SEVENTEEN
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(",");
            let error = the_error(
                &format!("{{\"id\":\"p\",\"{column}\":[{array}]}}\n"),
                ImportFormat::Jsonl,
            );
            assert_over(&error, 1, column, MAX_COUNTRIES, MAX_COUNTRIES + 1);
        }
        // A megabyte of bad codes is one short problem, not one per entry.
        let many = vec!["XX"; 300_000].join(";") + ";" + &SEVENTEEN.join(";");
        let error = the_error(
            &csv_with("citizenships", &format!("p,{many}")),
            ImportFormat::Csv,
        );
        assert_over(&error, 3, "citizenships", MAX_COUNTRIES, 18);
    }

    #[test]
    fn a_long_bad_value_is_shown_cut_short() {
        let error = the_error(
            &csv_with("residence", &format!("p,{}", "Z".repeat(1 << 20))),
            ImportFormat::Csv,
        );
        assert!(error.message.starts_with("residence: `ZZZ"), "{error}");
        assert!(error.message.contains("(1048576 characters)"), "{error}");
        assert!(error.message.len() < 200);
    }

    #[test]
    fn id_length_cap() {
        let at = "i".repeat(MAX_PRINCIPAL_ID_CHARS);
        let people = parse_principals(&format!("id\nok\n{at}\n"), ImportFormat::Csv).unwrap();
        assert_eq!(people[1].id.as_str(), at);
        let error = the_error(&format!("id\nok\n{at}i\n"), ImportFormat::Csv);
        assert_over(
            &error,
            3,
            "id",
            MAX_PRINCIPAL_ID_CHARS,
            MAX_PRINCIPAL_ID_CHARS + 1,
        );
        let error = the_error(
            &format!("{{\"id\":\"{}\"}}\n", "i".repeat(1 << 20)),
            ImportFormat::Jsonl,
        );
        assert_over(&error, 1, "id", MAX_PRINCIPAL_ID_CHARS, 1 << 20);
        assert!(error.message.len() < 200);
    }

    #[test]
    fn ids_keep_to_a_safe_character_set() {
        let text =
            "id\nalice@example.com\nfirst.last\nCORP:j_doe-2\n\"q7,evil\"\n../../q8\nbob smith\n";
        let errors = parse_principals(text, ImportFormat::Csv).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        assert!(
            errors[0].message.starts_with("id: `q7,evil` contains `,`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].message.contains("only ASCII letters, digits and"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].message.starts_with("id: `../../q8`"),
            "{}",
            errors[1]
        );
        assert!(errors[2].message.contains("a space"), "{}", errors[2]);
        let jsonl = "{\"id\":\"alice@example.com\"}\n{\"id\":\"../../q8\"}\n";
        let error = the_error(jsonl, ImportFormat::Jsonl);
        assert_eq!(error.line, 2);
        assert!(error.message.contains("`/`"), "{error}");
        let people = parse_principals("id\nalice@example.com\n", ImportFormat::Csv).unwrap();
        assert_eq!(people[0].id.as_str(), "alice@example.com");
    }

    #[test]
    fn control_characters_are_refused_in_text_facts() {
        let text = "{\"id\":\"a\",\"org\":\"acme\\u001b[2J\"}\n{\"id\":\"b\",\"roles\":[\"ok\",\"x\\ny\"]}\n{\"id\":\"c\",\"name\":\"A\\u0000\"}\n";
        let errors = parse_principals(text, ImportFormat::Jsonl).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0]
                .message
                .starts_with("org: contains the character U+001B"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1]
                .message
                .starts_with("roles: entry 2 contains the character U+000A"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2]
                .message
                .starts_with("name: contains the character U+0000"),
            "{}",
            errors[2]
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_all_its_problems() {
        let big = "x".repeat(MAX_ORG_CHARS + 1);
        let text = format!(
            "id,org,roles\nok,a,b\n\"a,b\",{big},r\nok2,{big},{}\nok3,,\n",
            "r".repeat(100)
        );
        let errors = parse_principals(&text, ImportFormat::Csv).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(
            errors[0].message.contains("id: ") && errors[0].message.contains("org: "),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].message.contains("org: ") && errors[1].message.contains("roles: "),
            "{}",
            errors[1]
        );
    }

    // ---- JSONL types

    #[test]
    fn jsonl_names_the_field_of_the_wrong_type() {
        let text = "{\"id\":\"a\",\"org\":5}\n\
            {\"id\":\"b\",\"roles\":{\"x\":1}}\n\
            {\"id\":\"c\",\"citizenships\":[\"US\",7]}\n\
            {\"id\":\"d\",\"employee\":1}\n\
            {\"id\":42}\n\
            {\"id\":\"f\",\"name\":[\"F\"],\"residence\":true}\n\
            {\"id\":\"g\",\"org\":null,\"roles\":null,\"employee\":null}\n";
        let errors = parse_principals(text, ImportFormat::Jsonl).unwrap_err();
        let messages: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (1, "org: expected a string, found a number"),
                (2, "roles: expected an array of strings, found an object"),
                (3, "citizenships: entry 2 is a number, expected a string"),
                (4, "employee: expected true or false, found a number"),
                (5, "id: expected a string, found a number"),
                (
                    6,
                    "name: expected a string, found an array; residence: expected a string, found a boolean"
                ),
            ]
        );
    }

    #[test]
    fn jsonl_list_facts_given_as_a_string_are_refused_with_the_field_named() {
        let text = "{\"id\":\"a\",\"roles\":\"engineer\",\"citizenships\":\"US\"}\n\
            {\"id\":\"b\",\"permanent_residency\":\"US;CA\"}\n\
            {\"id\":\"c\",\"citizenships\":[\"US\"],\"roles\":[\"engineer\"]}\n";
        let errors = parse_principals(text, ImportFormat::Jsonl).unwrap_err();
        let messages: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    1,
                    "roles: expected an array of strings, found a string; citizenships: expected an array of country codes (`[\"US\"]`), found a string"
                ),
                (
                    2,
                    "permanent_residency: expected an array of country codes (`[\"US\"]`), found a string"
                ),
            ]
        );
    }

    #[test]
    fn jsonl_refuses_repeated_unknown_and_missing_fields() {
        let text = "{\"id\":\"a\",\"org\":\"x\",\"org\":\"y\"}\n{\"name\":\"N\"}\n{\"id\":\"c\",\"team\":1,\"us_person\":true}\n[1]\n";
        let errors = parse_principals(text, ImportFormat::Jsonl).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(errors[0].message, "field given twice: `org`");
        assert_eq!(errors[1].message, "missing field `id`");
        assert!(
            errors[2]
                .message
                .starts_with("unknown fields `team`, `us_person`"),
            "{}",
            errors[2]
        );
        assert!(
            errors[2]
                .message
                .contains("us_person cannot be imported: it is derived from other facts"),
            "{}",
            errors[2]
        );
        assert!(errors[3].message.contains("a JSON object"), "{}", errors[3]);
    }

    #[test]
    fn stored_principals_with_ids_from_before_the_charset_rule_still_load() {
        // The store reads principals back with serde; the import-only rules must not refuse them.
        let stored = "{\"id\":\"Bob Smith/HR\",\"name\":\"Bob\",\"citizenships\":[\"US\"],\"permanent_residency\":[],\"protected_individual\":false,\"residence\":null,\"org\":null,\"employee\":true,\"roles\":[]}";
        let principal: Principal = serde_json::from_str(stored).unwrap();
        assert_eq!(principal.id.as_str(), "Bob Smith/HR");
    }
}

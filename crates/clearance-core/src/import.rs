//! Principal files (CSV with a header row, or JSONL) into principals.
//!
//! A file imports whole or not at all: every bad row is reported with its line number and the
//! caller gets no principals when any row is bad, so a registry is never half-updated. List
//! facts (`citizenships`, `permanent_residency`, `roles`) are `;`-separated in CSV and either
//! arrays or `;`-separated strings in JSONL. `us_person` is not an accepted column: it is
//! derived, and a file that tries to set it is refused rather than silently ignored.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;

use crate::country::CountryCode;
use crate::principal::{Principal, PrincipalId};

/// The columns a principal file may have; `id` is the only required one.
pub const COLUMNS: &[&str] = &[
    "id",
    "name",
    "citizenships",
    "permanent_residency",
    "protected_individual",
    "residence",
    "org",
    "employee",
    "roles",
];

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
    let rows = match format {
        ImportFormat::Csv => csv_rows(text),
        ImportFormat::Jsonl => jsonl_rows(text),
    }?;
    let mut errors = Vec::new();
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
        Err(errors)
    }
}

/// A row as written, before any fact is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    citizenships: ListField,
    #[serde(default)]
    permanent_residency: ListField,
    #[serde(default)]
    protected_individual: Option<BoolField>,
    #[serde(default)]
    residence: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    employee: Option<BoolField>,
    #[serde(default)]
    roles: ListField,
}

/// A list fact: a JSON array, or a `;`-separated string as HR exports write it.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
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
#[derive(Debug, Deserialize)]
#[serde(untagged)]
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
                    "{column}: `{other}` is not a yes/no value (use true or false)"
                )),
            },
        }
    }
}

impl RawPrincipal {
    /// Checks every fact of the row and reports all of its problems in one message.
    fn into_principal(self) -> Result<Principal, String> {
        let mut problems = Vec::new();
        let id = PrincipalId::try_from(self.id.clone())
            .map_err(|e| problems.push(format!("id: {e}")))
            .ok();
        let citizenships = countries("citizenships", &self.citizenships.items(), &mut problems);
        let permanent_residency = countries(
            "permanent_residency",
            &self.permanent_residency.items(),
            &mut problems,
        );
        let residence =
            non_empty(self.residence).and_then(|text| country("residence", &text, &mut problems));
        let protected_individual = flag(
            "protected_individual",
            self.protected_individual,
            &mut problems,
        );
        let employee = flag("employee", self.employee, &mut problems);
        match id {
            Some(id) if problems.is_empty() => Ok(Principal {
                name: non_empty(self.name).unwrap_or_else(|| id.to_string()),
                id,
                citizenships,
                permanent_residency,
                protected_individual,
                residence,
                org: non_empty(self.org),
                employee,
                roles: self.roles.items().into_iter().collect(),
            }),
            _ => Err(problems.join("; ")),
        }
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

fn country(column: &str, text: &str, problems: &mut Vec<String>) -> Option<CountryCode> {
    text.parse()
        .map_err(|e| problems.push(format!("{column}: {e}")))
        .ok()
}

fn countries(column: &str, items: &[String], problems: &mut Vec<String>) -> BTreeSet<CountryCode> {
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

fn csv_rows(text: &str) -> Result<Vec<(u64, RawPrincipal)>, Vec<RowError>> {
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
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn check_csv_header(headers: &csv::StringRecord) -> Result<(), Vec<RowError>> {
    let mut errors: Vec<RowError> = headers
        .iter()
        .filter(|h| !COLUMNS.contains(h))
        .map(|h| RowError {
            line: 1,
            message: format!(
                "unknown column `{h}` (expected some of: {})",
                COLUMNS.join(", ")
            ),
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
            "id" => raw.id = value,
            "name" => raw.name = Some(value),
            "citizenships" => raw.citizenships = ListField::Joined(value),
            "permanent_residency" => raw.permanent_residency = ListField::Joined(value),
            "protected_individual" => raw.protected_individual = Some(BoolField::Text(value)),
            "residence" => raw.residence = Some(value),
            "org" => raw.org = Some(value),
            "employee" => raw.employee = Some(BoolField::Text(value)),
            "roles" => raw.roles = ListField::Joined(value),
            _ => {}
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

fn jsonl_rows(text: &str) -> Result<Vec<(u64, RawPrincipal)>, Vec<RowError>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RawPrincipal>(line) {
            Ok(raw) => rows.push((line_no, raw)),
            Err(e) => errors.push(RowError {
                line: line_no,
                message: jsonl_error_message(&e),
            }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn jsonl_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends "at line 1 column N"; the line is ours to state.
    let text = text.split(" at line ").next().unwrap_or(&text).to_string();
    if text.starts_with("unknown field `us_person`") {
        format!(
            "{text}; us_person is derived from citizenships, permanent_residency and protected_individual"
        )
    } else {
        text
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
    fn jsonl_accepts_arrays_and_joined_strings() {
        let text = "{\"id\":\"a\",\"citizenships\":[\"US\",\"DE\"]}\n\n{\"id\":\"b\",\"citizenships\":\"FR;IT\",\"employee\":true}\n";
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
}

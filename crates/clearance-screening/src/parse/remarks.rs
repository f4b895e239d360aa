//! Reading the details OFAC writes into an SDN entry's free-text remarks: dates of birth
//! ("DOB 12 Jan 1960", "DOB Jan 1960", "DOB 1960", "DOB circa 1960", "DOB 1960 to 1962",
//! each maybe "alt. DOB"), identity documents ("Passport A1234567 (Iran)", "National ID No. ...",
//! "Cedula No. ...", "Tax ID No. ...", "NIT # ...") and countries ("nationality Iran",
//! "citizen Mexico"). Remarks are `;`-separated clauses; clauses it does not recognise are left
//! alone (they stay in [`crate::ListEntry::remarks`]).

use crate::country;
use crate::model::{DateOfBirth, Identifier, IdentifierKind};

/// What the remarks say about a party.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemarkFacts {
    pub dates_of_birth: Vec<DateOfBirth>,
    pub identifiers: Vec<Identifier>,
    pub countries: Vec<String>,
}

/// Identity document labels, longest first where one starts another, and what they are.
const ID_LABELS: &[(&str, IdKindTag)] = &[
    ("Passport No.", IdKindTag::Passport),
    ("Passport", IdKindTag::Passport),
    ("Diplomatic Passport", IdKindTag::Passport),
    ("National ID No.", IdKindTag::National),
    ("National Foreign ID Number", IdKindTag::National),
    ("Personal ID Card", IdKindTag::National),
    ("Identification Number", IdKindTag::National),
    ("Cedula No.", IdKindTag::National),
    ("C.U.R.P.", IdKindTag::National),
    ("D.N.I.", IdKindTag::National),
    ("Citizen's Card Number", IdKindTag::National),
    ("Tax ID No.", IdKindTag::Tax),
    ("NIT #", IdKindTag::Tax),
    ("R.F.C.", IdKindTag::Tax),
    ("RFC", IdKindTag::Tax),
    ("SSN", IdKindTag::Tax),
    ("Registration ID", IdKindTag::Registration),
    ("Company Number", IdKindTag::Registration),
];

#[derive(Debug, Clone, Copy)]
enum IdKindTag {
    Passport,
    National,
    Tax,
    Registration,
}

/// Reads one entry's remarks.
pub fn parse_remarks(remarks: &str) -> RemarkFacts {
    let mut facts = RemarkFacts::default();
    for clause in remarks.split(';') {
        let clause = clause.trim().trim_end_matches('.').trim();
        let clause = clause.strip_prefix("alt. ").unwrap_or(clause).trim();
        if let Some(rest) = clause.strip_prefix("DOB ") {
            facts.dates_of_birth.extend(parse_dob(rest));
        } else if let Some(rest) = clause
            .strip_prefix("nationality ")
            .or_else(|| clause.strip_prefix("citizen "))
        {
            let code = country::normalize(rest);
            if !code.is_empty() && !facts.countries.contains(&code) {
                facts.countries.push(code);
            }
        } else if let Some(id) = parse_identifier(clause) {
            facts.identifiers.push(id);
        }
    }
    facts
}

fn parse_identifier(clause: &str) -> Option<Identifier> {
    let (label, tag) = ID_LABELS
        .iter()
        .filter(|(label, _)| clause.starts_with(label))
        .max_by_key(|(label, _)| label.len())?;
    let rest = clause[label.len()..].trim();
    // "A1234567 (Iran) issued 01 Jan 2000 expires 01 Jan 2010": the number is what comes
    // before the country in parentheses, or before "issued"/"expires".
    let (number, country) = match rest.find('(') {
        Some(open) => {
            let country = rest[open + 1..]
                .split(')')
                .next()
                .map(|c| c.trim().to_string());
            (rest[..open].trim(), country.filter(|c| !c.is_empty()))
        }
        None => (rest, None),
    };
    let number = number.split(" issued").next().unwrap_or(number);
    let number = number.split(" expires").next().unwrap_or(number).trim();
    // A label followed by prose, not a number ("Passport issued by ..."), is no identifier.
    if !number.chars().any(|c| c.is_ascii_digit()) || number.len() > 40 {
        return None;
    }
    let kind = match tag {
        IdKindTag::Passport => IdentifierKind::Passport,
        IdKindTag::National => IdentifierKind::NationalId,
        IdKindTag::Tax => IdentifierKind::TaxId,
        IdKindTag::Registration => IdentifierKind::Other(label.to_string()),
    };
    Some(Identifier::new(kind, number, country))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month(word: &str) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    let prefix = lower.get(..3)?;
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn year(word: &str) -> Option<i32> {
    let y: i32 = word.parse().ok()?;
    (1800..=2100).contains(&y).then_some(y)
}

/// One date as OFAC or the CSL writes it: "12 Jan 1960", "Jan 1960", "1960", "1960-01-12",
/// "1960-01".
fn parse_one_date(text: &str) -> Option<DateOfBirth> {
    let text = text.trim();
    if text.contains('-') {
        let mut parts = text.split('-');
        let y = year(parts.next()?)?;
        let m = parts.next().map(str::parse::<u32>);
        let d = parts.next().map(str::parse::<u32>);
        return match (m, d) {
            (None, _) => Some(DateOfBirth::year(y)),
            (Some(Ok(m)), None) if (1..=12).contains(&m) => Some(DateOfBirth {
                month: Some(m),
                ..DateOfBirth::year(y)
            }),
            (Some(Ok(m)), Some(Ok(d))) => DateOfBirth::ymd(y, m, d),
            _ => None,
        };
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [y] => Some(DateOfBirth::year(year(y)?)),
        [m, y] => Some(DateOfBirth {
            month: Some(month(m)?),
            ..DateOfBirth::year(year(y)?)
        }),
        [d, m, y] => DateOfBirth::ymd(year(y)?, month(m)?, d.parse().ok()?),
        _ => None,
    }
}

/// A date of birth after OFAC's "DOB " (also what the CSL's `dates_of_birth` holds, one at a
/// time): a date, "circa" a date, or "a to b" (a range of years).
pub fn parse_dob(text: &str) -> Option<DateOfBirth> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("circa ") {
        return parse_one_date(rest).map(|d| DateOfBirth { circa: true, ..d });
    }
    if let Some((from, to)) = text.split_once(" to ") {
        let (from, to) = (parse_one_date(from)?, parse_one_date(to)?);
        if to.year < from.year {
            return None;
        }
        return Some(DateOfBirth {
            year: from.year,
            year_to: to.year,
            month: None,
            day: None,
            circa: false,
        });
    }
    parse_one_date(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_of_birth_in_every_form() {
        let facts = parse_remarks(
            "DOB 10 Dec 1948; alt. DOB 1950; DOB circa 1960; DOB Jan 1970; DOB 1960 to 1962; DOB 31 Feb 1960; POB Egypt.",
        );
        assert_eq!(
            facts.dates_of_birth,
            vec![
                DateOfBirth::ymd(1948, 12, 10).expect("date"),
                DateOfBirth::year(1950),
                DateOfBirth {
                    circa: true,
                    ..DateOfBirth::year(1960)
                },
                DateOfBirth {
                    month: Some(1),
                    ..DateOfBirth::year(1970)
                },
                DateOfBirth {
                    year: 1960,
                    year_to: 1962,
                    month: None,
                    day: None,
                    circa: false
                },
            ]
        );
    }

    #[test]
    fn reads_identity_documents_and_countries() {
        let facts = parse_remarks(
            "DOB 19 Jun 1951; POB Giza, Egypt; Passport 1084010 (Egypt); alt. Passport 19820215; National ID No. 0012345678 (Iran); nationality Iran; Cedula No. 7.654.321 (Venezuela) issued 01 Jan 2000; Passport issued by Egypt.",
        );
        let ids: Vec<_> = facts
            .identifiers
            .iter()
            .map(|i| (i.kind.clone(), i.normalized.as_str(), i.country.as_deref()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (IdentifierKind::Passport, "1084010", Some("Egypt")),
                (IdentifierKind::Passport, "19820215", None),
                (IdentifierKind::NationalId, "0012345678", Some("Iran")),
                (IdentifierKind::NationalId, "7654321", Some("Venezuela")),
            ]
        );
        assert_eq!(facts.countries, vec!["IR".to_string()]);
    }

    #[test]
    fn dob_compatibility() {
        let full = DateOfBirth::ymd(1960, 1, 12).expect("date");
        assert!(full.compatible(&DateOfBirth::year(1960)));
        assert!(!full.compatible(&DateOfBirth::year(1962)));
        assert!(!full.compatible(&DateOfBirth::ymd(1960, 1, 13).expect("date")));
        assert!(
            DateOfBirth {
                circa: true,
                ..DateOfBirth::year(1961)
            }
            .compatible(&full)
        );
    }
}

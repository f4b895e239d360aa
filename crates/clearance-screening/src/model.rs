//! The neutral model every list is parsed into: [`ListEntry`] (one listed party, whatever the
//! publisher) and [`ListVersion`] (which files it came from, by SHA-256). Nothing here knows a
//! publisher's format; the parsers in [`crate::parse`] do.

use std::fmt;

use chrono::NaiveDate;

/// Which list an entry came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListSource {
    /// OFAC's Specially Designated Nationals list (sdn.csv + alt.csv + add.csv).
    OfacSdn,
    /// BIS's Denied Persons List (tab-separated).
    BisDpl,
    /// A list inside trade.gov's Consolidated Screening List, named by the abbreviation in its
    /// `source` column ("SDN", "EL", "DPL", ...), or the whole column when it has none.
    Csl(String),
}

impl fmt::Display for ListSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListSource::OfacSdn => f.write_str("ofac-sdn"),
            ListSource::BisDpl => f.write_str("bis-dpl"),
            ListSource::Csl(list) => write!(f, "csl:{list}"),
        }
    }
}

/// What kind of party an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Individual,
    /// A company, organisation, or any other non-person, non-craft party.
    Entity,
    Vessel,
    Aircraft,
    /// The list does not say (the DPL mixes people and companies).
    Unknown,
}

/// How an alias relates to the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AliasType {
    /// "also known as".
    Aka,
    /// "formerly known as".
    Fka,
    /// "now known as".
    Nka,
    /// The list gives no type (CSL `alt_names`).
    Unspecified,
}

impl fmt::Display for AliasType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AliasType::Aka => "aka",
            AliasType::Fka => "fka",
            AliasType::Nka => "nka",
            AliasType::Unspecified => "alias",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub alias_type: AliasType,
}

/// A date of birth as lists give them: a full date, a month, a year, or a range of years, some
/// only "circa".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateOfBirth {
    pub year: i32,
    /// Last year of a range ("DOB 1960 to 1962"); equal to `year` when not a range.
    pub year_to: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
    /// "circa 1960": read as 1960 plus or minus one year.
    pub circa: bool,
}

impl DateOfBirth {
    pub fn year(year: i32) -> DateOfBirth {
        DateOfBirth {
            year,
            year_to: year,
            month: None,
            day: None,
            circa: false,
        }
    }

    /// A full date; `None` if it is not a calendar date.
    pub fn ymd(year: i32, month: u32, day: u32) -> Option<DateOfBirth> {
        NaiveDate::from_ymd_opt(year, month, day)?;
        Some(DateOfBirth {
            year,
            year_to: year,
            month: Some(month),
            day: Some(day),
            circa: false,
        })
    }

    /// Whether two dates of birth can be the same person's: the year ranges (widened by one year
    /// on a "circa" side) overlap, and where both sides give a month (or day) they agree.
    pub fn compatible(&self, other: &DateOfBirth) -> bool {
        let (a_lo, a_hi) = self.span();
        let (b_lo, b_hi) = other.span();
        if a_hi < b_lo || b_hi < a_lo {
            return false;
        }
        let exact_year =
            self.year == self.year_to && other.year == other.year_to && !self.circa && !other.circa;
        if !exact_year {
            return true;
        }
        if let (Some(a), Some(b)) = (self.month, other.month) {
            if a != b {
                return false;
            }
            if let (Some(a), Some(b)) = (self.day, other.day) {
                return a == b;
            }
        }
        true
    }

    fn span(&self) -> (i32, i32) {
        let slack = i32::from(self.circa);
        (
            self.year.saturating_sub(slack),
            self.year_to.saturating_add(slack),
        )
    }
}

/// What an identifier is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Passport,
    /// National identity numbers: "National ID No.", "Cedula No.", "D.N.I.", "C.U.R.P." and
    /// the like.
    NationalId,
    /// Tax numbers: "Tax ID No.", "NIT #", "RFC", "SSN" and the like.
    TaxId,
    /// Anything else the list calls an identifier (registration numbers, IMO numbers, ...),
    /// with the list's name for it.
    Other(String),
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentifierKind::Passport => f.write_str("passport"),
            IdentifierKind::NationalId => f.write_str("national ID"),
            IdentifierKind::TaxId => f.write_str("tax ID"),
            IdentifierKind::Other(label) => f.write_str(label),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub kind: IdentifierKind,
    /// As the list writes it.
    pub value: String,
    /// Upper-case letters and digits only: what exact matching compares.
    pub normalized: String,
    /// The issuing country as the list names it, when it does.
    pub country: Option<String>,
}

impl Identifier {
    pub fn new(kind: IdentifierKind, value: &str, country: Option<String>) -> Identifier {
        Identifier {
            kind,
            value: value.trim().to_string(),
            normalized: normalize_identifier(value),
            country,
        }
    }
}

/// Upper-case ASCII letters and digits of an identifier, everything else dropped: "A-123 456"
/// and "a123456" compare equal.
pub fn normalize_identifier(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// One listed party, whatever list it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub source: ListSource,
    /// The list's own id (an SDN `ent_num`, a CSL `entity_number`); for rows without one (the
    /// DPL, parts of the CSL), a stable id derived from the row (see [`crate::parse`]).
    pub entity_id: String,
    pub kind: EntityKind,
    pub name: String,
    pub aliases: Vec<Alias>,
    /// ISO 3166 alpha-2 codes where the country is known to [`crate::country`], otherwise the
    /// name as the list writes it; from addresses, nationalities and citizenships.
    pub countries: Vec<String>,
    pub dates_of_birth: Vec<DateOfBirth>,
    pub identifiers: Vec<Identifier>,
    pub programs: Vec<String>,
    pub remarks: Option<String>,
}

/// The SHA-256 of one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// The name the file was given under (a path, or a label for bytes).
    pub file: String,
    pub sha256: String,
}

/// Which version of a list a set of entries is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersion {
    /// "ofac-sdn", "bis-dpl" or "csl".
    pub source: String,
    /// The publication date when the files say it. None of the three formats does (OFAC's CSV
    /// files, the DPL's text file and the CSL's CSV carry no date of issue), so the parsers leave
    /// it `None`; a caller that knows it (from the download) sets it.
    pub published: Option<NaiveDate>,
    /// Hex SHA-256 over the input files in a fixed order, each file's own SHA-256 in turn: the
    /// version's identity, carried by every [`crate::Evidence`] found in it.
    pub sha256: String,
    pub files: Vec<FileDigest>,
    pub record_count: usize,
    pub alias_count: usize,
}

/// A parsed list: its version and its entries.
#[derive(Debug, Clone)]
pub struct ParsedList {
    pub version: ListVersion,
    pub entries: Vec<ListEntry>,
}

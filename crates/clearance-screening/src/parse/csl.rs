//! trade.gov's Consolidated Screening List as CSV: a header row; columns found by name. `source`
//! names the list each row comes from (the entry's source is `csl:` and the abbreviation in
//! parentheses, e.g. `csl:SDN`); `alt_names`, `citizenships`, `nationalities`, `dates_of_birth`,
//! `programs` and `ids` hold `;`-separated lists; an `ids` item is `[country, ]number, type`;
//! an address's last `, XX` is its country. Rows with no `entity_number` get a derived id
//! (`csl-` + hash of source, name, addresses and start date).

use super::remarks::parse_dob;
use super::{Input, ParseError, columns, derived_id, digests, read_table};
use crate::country;
use crate::model::{
    Alias, AliasType, EntityKind, Identifier, IdentifierKind, ListEntry, ListSource, ListVersion,
    ParsedList,
};

pub fn csl(input: Input<'_>) -> Result<ParsedList, ParseError> {
    let table = read_table(input, b',', true, None)?;
    let header = table.header.unwrap_or_default();
    let [
        source,
        number,
        kind,
        programs,
        name,
        addresses,
        start,
        remarks,
        alt_names,
        citizenships,
        dobs,
        nationalities,
        ids,
    ] = columns(
        input.name,
        &header,
        [
            "source",
            "entity_number",
            "type",
            "programs",
            "name",
            "addresses",
            "start_date",
            "remarks",
            "alt_names",
            "citizenships",
            "dates_of_birth",
            "nationalities",
            "ids",
        ],
    )?;
    let mut entries = Vec::with_capacity(table.rows.len());
    let mut alias_count = 0;
    for (line, row) in table.rows {
        let field = |i: usize| row.get(i).map_or("", |f| f.trim());
        if field(name).is_empty() {
            return Err(ParseError::BadField {
                file: input.name.to_string(),
                line,
                column: "name".into(),
                message: "empty name".into(),
            });
        }
        let list = list_code(field(source));
        let entity_id = if field(number).is_empty() {
            derived_id(
                "csl-",
                &[field(source), field(name), field(addresses), field(start)],
            )
        } else {
            field(number).to_string()
        };
        let kind = match field(kind).to_ascii_lowercase().as_str() {
            "individual" => EntityKind::Individual,
            "entity" => EntityKind::Entity,
            "vessel" => EntityKind::Vessel,
            "aircraft" => EntityKind::Aircraft,
            _ => EntityKind::Unknown,
        };
        let aliases: Vec<Alias> = split_list(field(alt_names))
            .map(|a| Alias {
                name: a.to_string(),
                alias_type: AliasType::Unspecified,
            })
            .collect();
        alias_count += aliases.len();
        let mut countries: Vec<String> = Vec::new();
        let address_countries = split_list(field(addresses))
            .filter_map(|a| a.rsplit(',').next())
            .map(str::trim)
            .filter(|c| c.len() == 2);
        for text in split_list(field(citizenships))
            .chain(split_list(field(nationalities)))
            .chain(address_countries)
        {
            let code = country::normalize(text);
            if !code.is_empty() && !countries.contains(&code) {
                countries.push(code);
            }
        }
        entries.push(ListEntry {
            source: ListSource::Csl(list),
            entity_id,
            kind,
            name: field(name).to_string(),
            aliases,
            countries,
            dates_of_birth: split_list(field(dobs)).filter_map(parse_dob).collect(),
            identifiers: split_list(field(ids)).filter_map(parse_id).collect(),
            programs: split_list(field(programs)).map(str::to_string).collect(),
            remarks: (!field(remarks).is_empty()).then(|| field(remarks).to_string()),
        });
    }
    let (sha256, files) = digests(&[input]);
    Ok(ParsedList {
        version: ListVersion {
            source: "csl".into(),
            published: None,
            sha256,
            files,
            record_count: entries.len(),
            alias_count,
        },
        entries,
    })
}

/// The non-empty items of a `;`-separated column.
fn split_list(field: &str) -> impl Iterator<Item = &str> {
    field.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// "Specially Designated Nationals (SDN) - Treasury Department" -> "SDN".
fn list_code(source: &str) -> String {
    source
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(code, _)| code.trim())
        .filter(|code| !code.is_empty())
        .unwrap_or(source)
        .to_string()
}

/// One `ids` item: "US, 80-0890696, Tax ID No." or "21795618, Passport". Items without a digit
/// in the number (websites, "Subject to Directive 3, ...") are not identifiers.
fn parse_id(item: &str) -> Option<Identifier> {
    let parts: Vec<&str> = item.split(", ").map(str::trim).collect();
    let (country, number, label) = match parts.as_slice() {
        [number, label] => (None, *number, *label),
        [country, number, label] if country.len() == 2 => {
            (Some((*country).to_string()), *number, *label)
        }
        _ => return None,
    };
    if !number.chars().any(|c| c.is_ascii_digit()) || number.contains('@') {
        return None;
    }
    let lower = label.to_ascii_lowercase();
    let kind = if lower.contains("passport") {
        IdentifierKind::Passport
    } else if [
        "national id",
        "cedula",
        "d.n.i.",
        "c.u.r.p.",
        "identification number",
        "personal id",
    ]
    .iter()
    .any(|l| lower.contains(l))
    {
        IdentifierKind::NationalId
    } else if ["tax id", "nit #", "rfc", "ssn"]
        .iter()
        .any(|l| lower.contains(l))
    {
        IdentifierKind::TaxId
    } else {
        IdentifierKind::Other(label.to_string())
    };
    Some(Identifier::new(kind, number, country))
}

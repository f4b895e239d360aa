//! OFAC's SDN list in its CSV form: `sdn.csv` (12 columns: `ent_num, SDN_Name, SDN_Type,
//! Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks`),
//! `alt.csv` (5: `ent_num, alt_num, alt_type, alt_name, alt_remarks`) and `add.csv` (6: `ent_num,
//! add_num, address, city/state/postal code, country, add_remarks`); no header, `-0-` for null.
//! An SDN_Type of `-0-` is an entity. Programs are `;`-separated inside `Program` (OFAC writes
//! e.g. "SDGT] [IRGC" in some snapshots; both separators are read).

use std::collections::HashMap;

use super::remarks::parse_remarks;
use super::{Input, ParseError, digests, non_null, read_table};
use crate::country;
use crate::model::{Alias, AliasType, EntityKind, ListEntry, ListSource, ListVersion, ParsedList};

/// Parses the SDN files. Every `alt.csv` and `add.csv` row must name an `ent_num` of `sdn.csv`.
pub fn ofac_sdn(
    sdn: Input<'_>,
    alt: Input<'_>,
    add: Option<Input<'_>>,
) -> Result<ParsedList, ParseError> {
    let mut entries = Vec::new();
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    for (line, row) in read_table(sdn, b',', false, Some(12))?.rows {
        let ent_num = ent_num(sdn.name, line, &row[0])?;
        let name = non_null(&row[1]).ok_or_else(|| ParseError::BadField {
            file: sdn.name.to_string(),
            line,
            column: "SDN_Name".into(),
            message: "empty name".into(),
        })?;
        let kind = match non_null(&row[2]).map(str::to_ascii_lowercase).as_deref() {
            None => EntityKind::Entity,
            Some("individual") => EntityKind::Individual,
            Some("vessel") => EntityKind::Vessel,
            Some("aircraft") => EntityKind::Aircraft,
            Some(_) => EntityKind::Unknown,
        };
        let programs = non_null(&row[3])
            .map(|p| {
                p.split([';', '[', ']'])
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let remarks = non_null(&row[11]).map(str::to_string);
        let facts = remarks.as_deref().map(parse_remarks).unwrap_or_default();
        let mut countries = facts.countries;
        if let Some(flag) = non_null(&row[9]) {
            push_country(&mut countries, flag);
        }
        if by_id.insert(ent_num, entries.len()).is_some() {
            return Err(ParseError::BadField {
                file: sdn.name.to_string(),
                line,
                column: "ent_num".into(),
                message: format!("{ent_num} listed twice"),
            });
        }
        entries.push(ListEntry {
            source: ListSource::OfacSdn,
            entity_id: ent_num.to_string(),
            kind,
            name: name.to_string(),
            aliases: Vec::new(),
            countries,
            dates_of_birth: facts.dates_of_birth,
            identifiers: facts.identifiers,
            programs,
            remarks,
        });
    }

    let mut alias_count = 0;
    for (line, row) in read_table(alt, b',', false, Some(5))?.rows {
        let index = entry_for(alt.name, line, &row[0], &by_id)?;
        let alias_type = match non_null(&row[2]).map(str::to_ascii_lowercase).as_deref() {
            Some("aka") => AliasType::Aka,
            Some("fka") => AliasType::Fka,
            Some("nka") => AliasType::Nka,
            _ => AliasType::Unspecified,
        };
        let name = non_null(&row[3]).ok_or_else(|| ParseError::BadField {
            file: alt.name.to_string(),
            line,
            column: "alt_name".into(),
            message: "empty name".into(),
        })?;
        if let Some(entry) = entries.get_mut(index) {
            entry.aliases.push(Alias {
                name: name.to_string(),
                alias_type,
            });
            alias_count += 1;
        }
    }

    if let Some(add) = add {
        for (line, row) in read_table(add, b',', false, Some(6))?.rows {
            let index = entry_for(add.name, line, &row[0], &by_id)?;
            if let (Some(entry), Some(country)) = (entries.get_mut(index), non_null(&row[4])) {
                push_country(&mut entry.countries, country);
            }
        }
    }

    let mut inputs = vec![sdn, alt];
    inputs.extend(add);
    let (sha256, files) = digests(&inputs);
    Ok(ParsedList {
        version: ListVersion {
            source: ListSource::OfacSdn.to_string(),
            published: None,
            sha256,
            files,
            record_count: entries.len(),
            alias_count,
        },
        entries,
    })
}

fn push_country(countries: &mut Vec<String>, text: &str) {
    let code = country::normalize(text);
    if !code.is_empty() && !countries.contains(&code) {
        countries.push(code);
    }
}

fn ent_num(file: &str, line: u64, field: &str) -> Result<u64, ParseError> {
    field.trim().parse().map_err(|_| ParseError::BadField {
        file: file.to_string(),
        line,
        column: "ent_num".into(),
        message: format!("{:?} is not a number", field.trim()),
    })
}

fn entry_for(
    file: &str,
    line: u64,
    field: &str,
    by_id: &HashMap<u64, usize>,
) -> Result<usize, ParseError> {
    let id = ent_num(file, line, field)?;
    by_id.get(&id).copied().ok_or_else(|| ParseError::BadField {
        file: file.to_string(),
        line,
        column: "ent_num".into(),
        message: format!("{id} is not in the SDN file"),
    })
}

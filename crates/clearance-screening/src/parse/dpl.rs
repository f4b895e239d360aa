//! BIS's Denied Persons List: tab-separated, a header row, quoted fields. Columns are found by
//! name (`Name`, `Street_Address`, `City`, `State`, `Country`, `Postal_Code`, `Effective_Date`,
//! `Action`, `FR_Citation`); others are ignored. The list mixes people and
//! companies and says not which, so every entry's kind is [`EntityKind::Unknown`]; it has no ids,
//! so each row gets a derived one (`dpl-` + hash of name, street, city and effective date). The
//! file carries no publication date (its `Last_Update` column is per row, and holds typos such
//! as 3017-08-22 in the test snapshot), so [`ListVersion::published`] is left `None` for the
//! caller to fill from where it got the file.

use super::{Input, ParseError, columns, derived_id, digests, read_table};
use crate::country;
use crate::model::{EntityKind, ListEntry, ListSource, ListVersion, ParsedList};

pub fn bis_dpl(input: Input<'_>) -> Result<ParsedList, ParseError> {
    let table = read_table(input, b'\t', true, None)?;
    let header = table.header.unwrap_or_default();
    let [name, street, city, country_col, effective, action, citation] = columns(
        input.name,
        &header,
        [
            "Name",
            "Street_Address",
            "City",
            "Country",
            "Effective_Date",
            "Action",
            "FR_Citation",
        ],
    )?;
    let mut entries = Vec::with_capacity(table.rows.len());
    for (line, row) in table.rows {
        let field = |i: usize| row.get(i).map_or("", |f| f.trim());
        if field(name).is_empty() {
            return Err(ParseError::BadField {
                file: input.name.to_string(),
                line,
                column: "Name".into(),
                message: "empty name".into(),
            });
        }
        let code = country::normalize(field(country_col));
        let remarks: Vec<&str> = [field(action), field(citation)]
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect();
        entries.push(ListEntry {
            source: ListSource::BisDpl,
            entity_id: derived_id(
                "dpl-",
                &[field(name), field(street), field(city), field(effective)],
            ),
            kind: EntityKind::Unknown,
            name: field(name).to_string(),
            aliases: Vec::new(),
            countries: if code.is_empty() {
                Vec::new()
            } else {
                vec![code]
            },
            dates_of_birth: Vec::new(),
            identifiers: Vec::new(),
            programs: Vec::new(),
            remarks: (!remarks.is_empty()).then(|| remarks.join("; ")),
        });
    }
    let (sha256, files) = digests(&[input]);
    Ok(ParsedList {
        version: ListVersion {
            source: ListSource::BisDpl.to_string(),
            published: None,
            sha256,
            files,
            record_count: entries.len(),
            alias_count: 0,
        },
        entries,
    })
}

//! Parsers for the publishers' own file formats, each into the neutral [`crate::ParsedList`]:
//!
//! - [`ofac_sdn`]: OFAC's SDN list as `sdn.csv`, `alt.csv` and (optionally) `add.csv`: CSV with no
//!   header, `-0-` as the null value, dates of birth, passports and national IDs inside the
//!   free-text remarks (read by [`remarks`]).
//! - [`bis_dpl`]: BIS's Denied Persons List, tab-separated with a header row.
//! - [`mod@csl`]: trade.gov's Consolidated Screening List, CSV with a header row and `;`-separated
//!   lists inside some columns.
//!
//! Each takes the files' bytes with a name for error messages ([`Input`]); the `load_*`
//! functions read paths first. A file that is not what its format says (not UTF-8, a row with
//! the wrong number of columns, a missing header column, an id that is not a number) is an
//! error naming the file and line; nothing here panics on bad input. Free-text details that do
//! not parse (an unrecognised date of birth in a remark) are skipped, not errors: they are the
//! publisher's prose, not its format.
//!
//! Rows without an id of their own (the DPL, and CSL rows from lists that give none) get a
//! stable one: the list's prefix and the first 16 hex digits of the SHA-256 of the row's name,
//! address and start date, so the same row keeps its id across versions.

pub mod csl;
pub mod dpl;
pub mod ofac;
pub mod remarks;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::model::FileDigest;
#[doc(inline)]
pub use csl::csl;
#[doc(inline)]
pub use dpl::bis_dpl;
#[doc(inline)]
pub use ofac::ofac_sdn;

/// A file's bytes and the name errors call it by.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(name: &'a str, bytes: &'a [u8]) -> Input<'a> {
        Input { name, bytes }
    }
}

/// Why a list file could not be parsed. Every variant names the file; those about content name
/// the line (1-based, as an editor shows it).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: not valid UTF-8")]
    NotUtf8 { file: String, line: u64 },
    #[error("{file}:{line}: expected {expected} columns, found {found}")]
    ColumnCount {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{file}:{line}: column {column}: {message}")]
    BadField {
        file: String,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{file}: header: {message}")]
    Header { file: String, message: String },
    #[error("{file}:{line}: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
}

/// Reads a file for a parser.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ParseError> {
    std::fs::read(path).map_err(|source| ParseError::Read {
        file: path.display().to_string(),
        source,
    })
}

/// OFAC SDN from its three files on disk.
pub fn load_ofac_sdn(
    sdn: &Path,
    alt: &Path,
    add: Option<&Path>,
) -> Result<crate::ParsedList, ParseError> {
    let (sdn_name, alt_name) = (sdn.display().to_string(), alt.display().to_string());
    let (sdn_bytes, alt_bytes) = (read(sdn)?, read(alt)?);
    let add = match add {
        Some(path) => Some((path.display().to_string(), read(path)?)),
        None => None,
    };
    ofac_sdn(
        Input::new(&sdn_name, &sdn_bytes),
        Input::new(&alt_name, &alt_bytes),
        add.as_ref().map(|(name, bytes)| Input::new(name, bytes)),
    )
}

/// OFAC SDN from a directory holding `sdn.csv`, `alt.csv` and, if present, `add.csv`.
pub fn load_ofac_sdn_dir(dir: &Path) -> Result<crate::ParsedList, ParseError> {
    let add = dir.join("add.csv");
    load_ofac_sdn(
        &dir.join("sdn.csv"),
        &dir.join("alt.csv"),
        add.exists().then_some(add.as_path()),
    )
}

/// The BIS Denied Persons List from disk.
pub fn load_bis_dpl(path: &Path) -> Result<crate::ParsedList, ParseError> {
    let bytes = read(path)?;
    bis_dpl(Input::new(&path.display().to_string(), &bytes))
}

/// The Consolidated Screening List (CSV) from disk.
pub fn load_csl(path: &Path) -> Result<crate::ParsedList, ParseError> {
    let bytes = read(path)?;
    csl(Input::new(&path.display().to_string(), &bytes))
}

/// Each file's SHA-256, and the version hash over them (SHA-256 of the files' digests in order).
pub(crate) fn digests(inputs: &[Input<'_>]) -> (String, Vec<FileDigest>) {
    let mut whole = Sha256::new();
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        let digest = Sha256::digest(input.bytes);
        whole.update(digest);
        files.push(FileDigest {
            file: input.name.to_string(),
            sha256: hex::encode(digest),
        });
    }
    (hex::encode(whole.finalize()), files)
}

/// A stable id for a row that has none: `prefix` and 16 hex digits of the SHA-256 of `parts`.
pub(crate) fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.trim().as_bytes());
        hash.update([0u8]);
    }
    let digest = hex::encode(hash.finalize());
    format!("{prefix}{}", &digest[..16])
}

/// A file's rows as UTF-8 fields, each with its line, checked to have `expected` columns.
/// `delimiter` is `b','` or `b'\t'`; with `header`, the first row is returned separately.
pub(crate) struct Table {
    pub header: Option<Vec<String>>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Every publisher ends its files with a line break, and quotes come in pairs (a quote inside
/// a quoted field is doubled). A file that breaks either rule was cut short, most likely inside
/// a quoted field, where the CSV reader would take the rest as the last field and report
/// nothing: every entry after the cut would be lost, and everyone they matched cleared.
fn check_not_cut_short(file: &str, bytes: &[u8]) -> Result<(), ParseError> {
    let last_line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let cut = |why: &str| ParseError::Csv {
        file: file.to_string(),
        line: last_line,
        message: format!("{why}: the file looks cut short (an interrupted download?)"),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Err(cut("the last line has no line break"));
    }
    if !bytes
        .iter()
        .filter(|&&b| b == b'"')
        .count()
        .is_multiple_of(2)
    {
        return Err(cut("a quoted field is never closed"));
    }
    Ok(())
}

pub(crate) fn read_table(
    input: Input<'_>,
    delimiter: u8,
    header: bool,
    expected: Option<usize>,
) -> Result<Table, ParseError> {
    // OFAC's files end with a DOS end-of-file mark (0x1A) after the last line break.
    let mut bytes = input.bytes;
    while let Some((&last, rest)) = bytes.split_last() {
        if last == 0x1A {
            bytes = rest;
        } else {
            break;
        }
    }
    // A UTF-8 byte order mark is not part of the first column's name.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    check_not_cut_short(input.name, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let file = input.name;
    let mut header_row = None;
    let mut expected = expected;
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter {
        bytes,
        offset: 0,
        line: 1,
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(0, |p| lines.line_at(p.byte()));
                return Err(ParseError::Csv {
                    file: file.to_string(),
                    line,
                    message: err.to_string(),
                });
            }
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        // A blank line (or one holding only spaces) is not a record.
        if record.len() == 1
            && record
                .get(0)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        let mut fields = Vec::with_capacity(record.len());
        for field in record.iter() {
            let text = std::str::from_utf8(field).map_err(|_| ParseError::NotUtf8 {
                file: file.to_string(),
                line,
            })?;
            fields.push(text.to_string());
        }
        if header && header_row.is_none() {
            expected = Some(fields.len());
            header_row = Some(fields);
            continue;
        }
        if let Some(expected) = expected
            && fields.len() != expected
        {
            return Err(ParseError::ColumnCount {
                file: file.to_string(),
                line,
                expected,
                found: fields.len(),
            });
        }
        rows.push((line, fields));
    }
    if header && header_row.is_none() {
        return Err(ParseError::Header {
            file: file.to_string(),
            message: "the file is empty".into(),
        });
    }
    Ok(Table {
        header: header_row,
        rows,
    })
}

/// Line numbers from byte offsets. (The csv crate's own line count, and its byte offset of a
/// record, are off by one per `\r\n` line ending before the record, and OFAC's files end lines
/// with `\r\n`.) Offsets must not go backwards.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl LineCounter<'_> {
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // After a `\r\n`, the csv crate's record starts at the `\n`: the line starts after it.
        while matches!(self.bytes.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target > self.offset {
            let newlines = self.bytes[self.offset..target]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.offset = target;
        }
        self.line
    }
}

/// Finds the columns a parser needs in a header row, by name.
pub(crate) fn columns<const N: usize>(
    file: &str,
    header: &[String],
    names: [&str; N],
) -> Result<[usize; N], ParseError> {
    let mut found = [0usize; N];
    for (slot, name) in found.iter_mut().zip(names) {
        *slot = header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| ParseError::Header {
                file: file.to_string(),
                message: format!("no column {name:?}"),
            })?;
    }
    Ok(found)
}

/// A field with OFAC's null (`-0-`) and surrounding spaces read as absent.
pub(crate) fn non_null(field: &str) -> Option<&str> {
    let field = field.trim();
    (!field.is_empty() && field != "-0-").then_some(field)
}

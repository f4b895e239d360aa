//! Denied-party screening as pure functions: no database, no HTTP; the only IO is reading list
//! files the caller names.
//!
//! - [`parse`] reads the publishers' formats (OFAC SDN CSV, BIS DPL, the Consolidated Screening
//!   List) into one neutral model, [`ListEntry`] and [`ListVersion`] ([`model`]).
//! - [`mod@normalize`] turns a name into comparable words (case, punctuation, diacritics, scripts,
//!   legal forms, "SURNAME, Given" order).
//! - [`score`] compares two names: token-level Jaro-Winkler with the best word alignment.
//! - [`screen`] indexes lists ([`Screener`]) and screens a party ([`Query`]) against them,
//!   giving a [`ScreeningResult`] with [`Evidence`] for each listed party found.
//!
//! ```no_run
//! use std::path::Path;
//! use clearance_screening::{Query, Screener, ScreeningStatus, parse};
//!
//! let sdn = parse::load_ofac_sdn_dir(Path::new("ofac-sdn"))?;
//! let screener = Screener::new(vec![sdn]);
//! let result = screener.screen(&Query::individual("Ayman al-Zawahiri"));
//! assert_eq!(result.status, ScreeningStatus::Match);
//! # Ok::<(), clearance_screening::parse::ParseError>(())
//! ```

pub mod country;
pub mod model;
pub mod normalize;
pub mod parse;
pub mod score;
pub mod screen;

pub use model::{
    Alias, AliasType, DateOfBirth, EntityKind, FileDigest, Identifier, IdentifierKind, ListEntry,
    ListSource, ListVersion, ParsedList, normalize_identifier,
};
pub use normalize::{normalize, normalize_name, normalize_name_joined};
pub use parse::ParseError;
pub use score::name_similarity;
pub use screen::{
    ALGORITHM_VERSION, Evidence, PartyKind, Query, Screener, ScreenerConfig, ScreeningResult,
    ScreeningStatus,
};

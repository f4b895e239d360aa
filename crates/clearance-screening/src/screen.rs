//! Screening a party against parsed lists: the index ([`Screener`]), the query ([`Query`]) and
//! the result ([`ScreeningResult`], [`Evidence`]).
//!
//! # How a name is screened
//!
//! 1. **Identifiers first.** A query identifier (passport, national ID, tax number) equal to a
//!    listed one after [`crate::normalize_identifier`] (letters and digits only, upper case;
//!    at least [`MIN_IDENTIFIER_LEN`] of them) is a [`ScreeningStatus::Match`] with score 1.0,
//!    whatever the names say.
//! 2. **Hyphens.** A name with hyphens inside words ("KIM, Su-gwang", "Abd-al-Salam") is indexed
//!    (and a query screened) twice: with the hyphens as word breaks and with the parts joined
//!    ([`crate::normalize::normalize_name_joined`]), so "Kim Sugwang" finds "KIM Su-gwang". A
//!    query word starting with the Arabic article written together ("ALZAWAHIRI") is also
//!    tried without it.
//! 3. **Blocking.** Every word of every listed name and alias is in a vocabulary, bucketed by its
//!    first two letters and by its last two. A query word is compared (Jaro-Winkler) with the
//!    vocabulary words of its two buckets only; those at or above [`crate::score::TOKEN_FLOOR`]
//!    are its *similar words*, and the listed names holding a similar word are the candidates.
//!    A spelling that changes both the first two and the last two letters of a word is missed
//!    there (and would score low anyway: Jaro-Winkler weighs the start heavily).
//! 4. **Pruning.** A candidate whose best possible score (every query word that hit it matched
//!    perfectly, its own words fully covered) plus the largest bonus is below the potential
//!    threshold is not scored. This drops no candidate that could reach the threshold.
//! 5. **Scoring.** The candidates are scored by [`crate::score`] (token-aligned Jaro-Winkler,
//!    words weighted by length and rarity on the indexed lists).
//! 6. **Date of birth and country.** When both the query and the entry have them: a compatible
//!    date of birth ([`crate::DateOfBirth::compatible`]) adds [`DOB_AGREES`], none compatible
//!    subtracts [`DOB_DISAGREES`] (enough to take an exact name below [`MATCH`]); a shared
//!    country adds [`COUNTRY_AGREES`], none shared subtracts [`COUNTRY_DISAGREES`] (small:
//!    listed countries are addresses and nationalities, people move). Scores stay in 0..=1.
//! 7. **Kinds.** An individual is screened against individuals, an organisation against
//!    entities; unknown-kind entries (the DPL) are screened against both, and a query of unknown
//!    kind against everything, vessels and aircraft included.
//!
//! Each entity appears once in the result, by its best-scoring name; results are sorted by
//! score, at most [`ScreenerConfig::max_matches`] of them.
//!
//! # Thresholds
//!
//! [`MATCH`] = 0.90 and [`POTENTIAL`] = 0.85, chosen on the labelled pairs in
//! `tests/data/labelled_pairs.csv` (the crate README has the measured precision and recall and
//! the sweep over thresholds): from 0.85 to 0.90 precision rises to 1.0 on those pairs, above
//! 0.90 recall falls fast (one-letter typos in short names, listed names with extra given
//! names). Typical scores: a one-letter slip in one word of a two- or three-word name 0.90-0.97,
//! a missing second given name 0.86-0.91, a common given name with a different surname below
//! 0.8. Changing the scorer or a constant changes [`ALGORITHM_VERSION`].

use std::cell::RefCell;
use std::collections::HashMap;

use rayon::prelude::*;

use crate::model::{
    AliasType, DateOfBirth, EntityKind, ListEntry, ListSource, ListVersion, ParsedList,
    normalize_identifier,
};
use crate::normalize::{normalize_name, normalize_name_joined};
use crate::score::{align, rarity, token_similarity, weight};

/// Names the scoring method and its constants; recorded in every [`Evidence`].
pub const ALGORITHM_VERSION: &str = "tjw-3: token Jaro-Winkler (floor 0.84, short words 0.90), squared, greedy alignment, rarity-weighted coverage 0.4 min / 0.6 max, match 0.90, potential 0.85";
/// A score at or above this is a match.
pub const MATCH: f64 = 0.90;
/// A score at or above this (and below [`MATCH`]) is a potential match.
pub const POTENTIAL: f64 = 0.85;
/// Added when a date of birth agrees.
pub const DOB_AGREES: f64 = 0.03;
/// Subtracted when every listed date of birth disagrees with the query's.
pub const DOB_DISAGREES: f64 = 0.15;
/// Added when a country agrees.
pub const COUNTRY_AGREES: f64 = 0.02;
/// Subtracted when no listed country is the query's.
pub const COUNTRY_DISAGREES: f64 = 0.03;
/// Identifiers shorter than this (after normalisation) are not matched exactly: too many
/// collide by chance.
pub const MIN_IDENTIFIER_LEN: usize = 5;
/// A query word "AL..."/"EL..." is also tried without the article when at least this many
/// letters remain ("ALZAWAHIRI" -> "ZAWAHIRI"; "ALEXANDER" -> "EXANDER" finds nothing).
const ARTICLE_STRIP_MIN_REST: usize = 5;
/// Query words past this many are ignored (a name is not a paragraph).
const MAX_QUERY_WORDS: usize = 24;

/// What kind of party is being screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartyKind {
    Individual,
    Organisation,
    Unknown,
}

/// A party to screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub kind: PartyKind,
    pub date_of_birth: Option<DateOfBirth>,
    /// ISO alpha-2 code or country name.
    pub country: Option<String>,
    /// Passport, national ID or tax numbers, in any formatting.
    pub identifiers: Vec<String>,
}

impl Query {
    pub fn new(name: &str, kind: PartyKind) -> Query {
        Query {
            name: name.to_string(),
            kind,
            date_of_birth: None,
            country: None,
            identifiers: Vec::new(),
        }
    }
    pub fn individual(name: &str) -> Query {
        Query::new(name, PartyKind::Individual)
    }
    pub fn organisation(name: &str) -> Query {
        Query::new(name, PartyKind::Organisation)
    }
    pub fn with_date_of_birth(mut self, dob: DateOfBirth) -> Query {
        self.date_of_birth = Some(dob);
        self
    }
    pub fn with_country(mut self, country: &str) -> Query {
        self.country = Some(country.to_string());
        self
    }
    pub fn with_identifier(mut self, id: &str) -> Query {
        self.identifiers.push(id.to_string());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScreeningStatus {
    Clear,
    PotentialMatch,
    Match,
}

/// Why a listed party was reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub source: ListSource,
    /// [`ListVersion::sha256`] of the list the entry came from.
    pub list_version: String,
    pub entity_id: String,
    /// The entry's primary name.
    pub entity_name: String,
    /// The name that matched: the primary name or an alias.
    pub matched_name: String,
    /// `None` when the primary name matched (or an identifier did).
    pub alias_type: Option<AliasType>,
    pub score: f64,
    pub algorithm_version: &'static str,
    /// What contributed to the score, in words.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScreeningResult {
    pub status: ScreeningStatus,
    /// Highest score first.
    pub matches: Vec<Evidence>,
}

/// Tunables of a [`Screener`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenerConfig {
    pub match_threshold: f64,
    pub potential_threshold: f64,
    /// The most matches a result lists.
    pub max_matches: usize,
}

impl Default for ScreenerConfig {
    fn default() -> Self {
        ScreenerConfig {
            match_threshold: MATCH,
            potential_threshold: POTENTIAL,
            max_matches: 10,
        }
    }
}

struct IndexedName {
    entry: u32,
    /// Index into the entry's aliases; `None` for the primary name.
    alias: Option<u32>,
    tokens: Vec<u32>,
    weights: Vec<f64>,
}

/// The index over one or more parsed lists. Build once per list version; screening takes `&self`
/// and may run on many threads.
pub struct Screener {
    config: ScreenerConfig,
    versions: Vec<ListVersion>,
    /// Each entry with the index of its list in `versions`.
    entries: Vec<(usize, ListEntry)>,
    names: Vec<IndexedName>,
    vocab: Vec<String>,
    vocab_ids: HashMap<String, u32>,
    vocab_rarity: Vec<f64>,
    postings: Vec<Vec<u32>>,
    by_prefix: HashMap<[u8; 2], Vec<u32>>,
    by_suffix: HashMap<[u8; 2], Vec<u32>>,
    identifiers: HashMap<String, Vec<u32>>,
}

thread_local! {
    /// Per-thread scratch: for each indexed name, the bit set of query words that hit it.
    static HITS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

fn prefix_key(word: &str) -> [u8; 2] {
    let b = word.as_bytes();
    [
        b.first().copied().unwrap_or(0),
        b.get(1).copied().unwrap_or(0),
    ]
}

fn suffix_key(word: &str) -> [u8; 2] {
    let b = word.as_bytes();
    match b {
        [] => [0, 0],
        [only] => [*only, 0],
        [.., x, y] => [*x, *y],
    }
}

impl Screener {
    pub fn new(lists: Vec<ParsedList>) -> Screener {
        Screener::with_config(lists, ScreenerConfig::default())
    }

    pub fn with_config(lists: Vec<ParsedList>, config: ScreenerConfig) -> Screener {
        let mut versions = Vec::new();
        let mut entries = Vec::new();
        for list in lists {
            let index = versions.len();
            versions.push(list.version);
            entries.extend(list.entries.into_iter().map(|e| (index, e)));
        }
        let mut vocab: Vec<String> = Vec::new();
        let mut vocab_ids: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<u32>> = Vec::new();
        let mut names: Vec<IndexedName> = Vec::new();
        let mut identifiers: HashMap<String, Vec<u32>> = HashMap::new();
        for (entry_index, (_, entry)) in entries.iter().enumerate() {
            let Ok(entry_u32) = u32::try_from(entry_index) else {
                break;
            };
            let mut add = |tokens: Vec<String>, alias: Option<u32>| {
                if tokens.is_empty() {
                    return;
                }
                let Ok(name_id) = u32::try_from(names.len()) else {
                    return;
                };
                let mut ids = Vec::with_capacity(tokens.len());
                for token in tokens {
                    let id = match vocab_ids.get(&token) {
                        Some(id) => *id,
                        None => {
                            let Ok(id) = u32::try_from(vocab.len()) else {
                                return;
                            };
                            vocab_ids.insert(token.clone(), id);
                            vocab.push(token);
                            postings.push(Vec::new());
                            id
                        }
                    };
                    if let Some(list) = postings.get_mut(id as usize)
                        && list.last() != Some(&name_id)
                    {
                        list.push(name_id);
                    }
                    ids.push(id);
                }
                names.push(IndexedName {
                    entry: entry_u32,
                    alias,
                    tokens: ids,
                    weights: Vec::new(),
                });
            };
            let names_of = std::iter::once((entry.name.as_str(), None)).chain(
                entry
                    .aliases
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name.as_str(), u32::try_from(i).ok())),
            );
            for (text, alias) in names_of {
                add(normalize_name(text).tokens, alias);
                if let Some(joined) = normalize_name_joined(text) {
                    add(joined.tokens, alias);
                }
            }
            for id in &entry.identifiers {
                if id.normalized.len() >= MIN_IDENTIFIER_LEN {
                    let list = identifiers.entry(id.normalized.clone()).or_default();
                    if list.last() != Some(&entry_u32) {
                        list.push(entry_u32);
                    }
                }
            }
        }
        let vocab_rarity: Vec<f64> = postings
            .iter()
            .map(|p| rarity(p.len(), names.len()))
            .collect();
        for name in &mut names {
            name.weights = name
                .tokens
                .iter()
                .map(|&t| weight(&vocab[t as usize], vocab_rarity[t as usize]))
                .collect();
        }
        let mut by_prefix: HashMap<[u8; 2], Vec<u32>> = HashMap::new();
        let mut by_suffix: HashMap<[u8; 2], Vec<u32>> = HashMap::new();
        for (id, word) in vocab.iter().enumerate() {
            let Ok(id) = u32::try_from(id) else { break };
            by_prefix.entry(prefix_key(word)).or_default().push(id);
            by_suffix.entry(suffix_key(word)).or_default().push(id);
        }
        Screener {
            config,
            versions,
            entries,
            names,
            vocab,
            vocab_ids,
            vocab_rarity,
            postings,
            by_prefix,
            by_suffix,
            identifiers,
        }
    }

    /// The versions of the indexed lists.
    pub fn versions(&self) -> &[ListVersion] {
        &self.versions
    }

    /// How many entries are indexed.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// How many names (primary names and aliases) are indexed.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// An indexed entry by list and id.
    pub fn entry(&self, source: &ListSource, entity_id: &str) -> Option<&ListEntry> {
        self.entries
            .iter()
            .map(|(_, e)| e)
            .find(|e| &e.source == source && e.entity_id == entity_id)
    }

    /// Screens many parties, in parallel on rayon's pool; results in the queries' order.
    pub fn screen_all(&self, queries: &[Query]) -> Vec<ScreeningResult> {
        queries.par_iter().map(|q| self.screen(q)).collect()
    }

    /// Screens one party.
    pub fn screen(&self, query: &Query) -> ScreeningResult {
        let mut best: HashMap<u32, Evidence> = HashMap::new();
        self.screen_identifiers(query, &mut best);
        self.screen_name(query, &mut best);
        let mut matches: Vec<Evidence> = best.into_values().collect();
        matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.entity_id.cmp(&b.entity_id))
        });
        matches.truncate(self.config.max_matches);
        let top = matches.first().map_or(0.0, |m| m.score);
        let status = if top >= self.config.match_threshold {
            ScreeningStatus::Match
        } else if top >= self.config.potential_threshold {
            ScreeningStatus::PotentialMatch
        } else {
            ScreeningStatus::Clear
        };
        ScreeningResult { status, matches }
    }

    fn screen_identifiers(&self, query: &Query, best: &mut HashMap<u32, Evidence>) {
        for raw in &query.identifiers {
            let normalized = normalize_identifier(raw);
            if normalized.len() < MIN_IDENTIFIER_LEN {
                continue;
            }
            for &entry_index in self.identifiers.get(&normalized).into_iter().flatten() {
                let Some((list, entry)) = self.entries.get(entry_index as usize) else {
                    continue;
                };
                let kind = entry
                    .identifiers
                    .iter()
                    .find(|i| i.normalized == normalized)
                    .map_or_else(|| "identifier".to_string(), |i| i.kind.to_string());
                best.insert(
                    entry_index,
                    Evidence {
                        source: entry.source.clone(),
                        list_version: self.version_hash(*list),
                        entity_id: entry.entity_id.clone(),
                        entity_name: entry.name.clone(),
                        matched_name: entry.name.clone(),
                        alias_type: None,
                        score: 1.0,
                        algorithm_version: ALGORITHM_VERSION,
                        reasons: vec![format!("identifier {normalized} equals the listed {kind}")],
                    },
                );
            }
        }
    }

    fn version_hash(&self, list: usize) -> String {
        self.versions
            .get(list)
            .map(|v| v.sha256.clone())
            .unwrap_or_default()
    }

    fn kind_fits(query: PartyKind, listed: EntityKind) -> bool {
        match (query, listed) {
            (PartyKind::Unknown, _) | (_, EntityKind::Unknown) => true,
            (PartyKind::Individual, kind) => kind == EntityKind::Individual,
            (PartyKind::Organisation, kind) => kind == EntityKind::Entity,
        }
    }

    fn screen_name(&self, query: &Query, best: &mut HashMap<u32, Evidence>) {
        let words = normalize_name(&query.name).tokens;
        // "ALZAWAHIRI": the article written together with the name. Lists write it apart (and
        // normalisation drops it there), so the query is also screened without it.
        let without_article: Vec<String> = words
            .iter()
            .map(
                |w| match w.strip_prefix("AL").or_else(|| w.strip_prefix("EL")) {
                    Some(rest) if rest.len() >= ARTICLE_STRIP_MIN_REST => rest.to_string(),
                    _ => w.clone(),
                },
            )
            .collect();
        if without_article != words {
            self.screen_words(query, without_article, best);
        }
        self.screen_words(query, words, best);
        if let Some(joined) = normalize_name_joined(&query.name) {
            self.screen_words(query, joined.tokens, best);
        }
    }

    fn screen_words(
        &self,
        query: &Query,
        mut words: Vec<String>,
        best: &mut HashMap<u32, Evidence>,
    ) {
        words.truncate(MAX_QUERY_WORDS);
        if words.is_empty() {
            return;
        }
        // Each query word's similar vocabulary words, sorted by id, and its weight.
        let mut similar: Vec<Vec<(u32, f64)>> = Vec::with_capacity(words.len());
        let mut query_weights = Vec::with_capacity(words.len());
        for word in &words {
            let mut found: Vec<(u32, f64)> = Vec::new();
            let buckets = [
                self.by_prefix.get(&prefix_key(word)),
                self.by_suffix.get(&suffix_key(word)),
            ];
            for &id in buckets.into_iter().flatten().flatten() {
                let s = token_similarity(word, &self.vocab[id as usize]);
                if s > 0.0 {
                    found.push((id, s));
                }
            }
            found.sort_by_key(|&(id, _)| id);
            found.dedup_by_key(|&mut (id, _)| id);
            // The word's rarity: its own if listed, else that of its closest listed spelling
            // (a misspelt common name is still common), else 1.
            let rarity = match self.vocab_ids.get(word) {
                Some(&id) => self.vocab_rarity[id as usize],
                None => found
                    .iter()
                    .filter(|(_, s)| *s >= 0.9)
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(1.0, |&(id, _)| self.vocab_rarity[id as usize]),
            };
            query_weights.push(weight(word, rarity));
            similar.push(found);
        }
        let total_weight: f64 = query_weights.iter().sum();
        let max_bonus = if query.date_of_birth.is_some() {
            DOB_AGREES
        } else {
            0.0
        } + if query.country.is_some() {
            COUNTRY_AGREES
        } else {
            0.0
        };
        let floor = self
            .config
            .potential_threshold
            .min(self.config.match_threshold)
            - max_bonus;

        HITS.with(|hits| {
            let mut hits = hits.borrow_mut();
            if hits.len() < self.names.len() {
                hits.resize(self.names.len(), 0);
            }
            let mut touched: Vec<u32> = Vec::new();
            for (i, found) in similar.iter().enumerate() {
                let bit = 1u32 << (i % 32);
                for &(token, _) in found {
                    for &name in &self.postings[token as usize] {
                        let slot = &mut hits[name as usize];
                        if *slot == 0 {
                            touched.push(name);
                        }
                        *slot |= bit;
                    }
                }
            }
            for &name_id in &touched {
                let mask = std::mem::take(&mut hits[name_id as usize]);
                let name = &self.names[name_id as usize];
                let Some((list, entry)) = self.entries.get(name.entry as usize) else {
                    continue;
                };
                if !Self::kind_fits(query.kind, entry.kind) {
                    continue;
                }
                // The best this name could score: every hit query word matched exactly, the
                // listed side fully covered.
                let hit_weight: f64 = query_weights
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1u32 << (i % 32)) != 0)
                    .map(|(_, w)| w)
                    .sum();
                let bound = crate::score::MIN_SIDE_WEIGHT * (hit_weight / total_weight)
                    + (1.0 - crate::score::MIN_SIDE_WEIGHT);
                if bound < floor {
                    continue;
                }
                let name_score = align(
                    &query_weights,
                    &name.weights,
                    crate::score::MIN_EVIDENCE,
                    |i, j| {
                        let token = name.tokens[j];
                        similar[i]
                            .binary_search_by_key(&token, |&(id, _)| id)
                            .map_or(0.0, |at| similar[i][at].1)
                    },
                );
                if name_score + max_bonus < floor {
                    continue;
                }
                let (score, reasons) = adjust(query, entry, name_score);
                if score
                    < self
                        .config
                        .potential_threshold
                        .min(self.config.match_threshold)
                {
                    continue;
                }
                if best.get(&name.entry).is_some_and(|e| e.score >= score) {
                    continue;
                }
                let (matched_name, alias_type) = match name.alias {
                    None => (entry.name.clone(), None),
                    Some(a) => entry.aliases.get(a as usize).map_or_else(
                        || (entry.name.clone(), None),
                        |alias| (alias.name.clone(), Some(alias.alias_type)),
                    ),
                };
                best.insert(
                    name.entry,
                    Evidence {
                        source: entry.source.clone(),
                        list_version: self.version_hash(*list),
                        entity_id: entry.entity_id.clone(),
                        entity_name: entry.name.clone(),
                        matched_name,
                        alias_type,
                        score,
                        algorithm_version: ALGORITHM_VERSION,
                        reasons,
                    },
                );
            }
        });
    }
}

/// Applies the date-of-birth and country adjustments to a name score.
fn adjust(query: &Query, entry: &ListEntry, name_score: f64) -> (f64, Vec<String>) {
    let mut score = name_score;
    let mut reasons = vec![format!("name similarity {name_score:.3}")];
    if let Some(dob) = &query.date_of_birth
        && !entry.dates_of_birth.is_empty()
    {
        if entry.dates_of_birth.iter().any(|d| d.compatible(dob)) {
            score += DOB_AGREES;
            reasons.push(format!("date of birth agrees (+{DOB_AGREES})"));
        } else {
            score -= DOB_DISAGREES;
            reasons.push(format!("date of birth disagrees (-{DOB_DISAGREES})"));
        }
    }
    if let Some(country) = &query.country {
        let code = crate::country::normalize(country);
        if !code.is_empty() && !entry.countries.is_empty() {
            if entry.countries.contains(&code) {
                score += COUNTRY_AGREES;
                reasons.push(format!("country {code} agrees (+{COUNTRY_AGREES})"));
            } else {
                score -= COUNTRY_DISAGREES;
                reasons.push(format!("country {code} not listed (-{COUNTRY_DISAGREES})"));
            }
        }
    }
    (score.clamp(0.0, 1.0), reasons)
}

//! Screening principals against the imported denied-party lists, for the gateway (SCIM writes,
//! the admin API's reviews) and the CLI (list imports, principal imports, `screen`, reviews).
//!
//! A list version is stored as the publisher's own files (so the stored bytes are what the
//! version's SHA-256 names, and a better parser can re-read them), parsed again when loaded,
//! and indexed by [`clearance_screening::Screener`]. [`Lists`] is the current version of each
//! source with its index; [`Lists::screen_principal`] gives a principal's `screening` fact:
//!
//! - the principal's **name** is screened as an individual and its **org** as an organisation;
//!   when the principal has exactly one known country (citizenships and residence together),
//!   the query carries it, so a listed party's country agreeing or disagreeing moves the score;
//! - each match found becomes evidence (list version, entry, matched name, score), `match` at
//!   or above the match threshold, `potential_match` above the potential one;
//! - a reviewer's decision on a match applies while both the list entry and the principal's
//!   screened facts are as they were reviewed (their fingerprints, [`entry_fingerprint`] and
//!   [`subject_fingerprint`]): a cleared false positive stays cleared until one of them changes.
//!
//! With no list imported, nobody is screened: the fact stays unknown (and directives reading it
//! fail closed), never `clear` on the strength of no lists.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use clearance_core::principal::Principal;
use clearance_core::screening::{
    AppliedReview, ReviewDecision, ScreeningFact, ScreeningMatch, ScreeningStatus,
};
use clearance_screening::parse::{self, Input, ParseError};
use clearance_screening::{
    ALGORITHM_VERSION, Evidence, ListEntry, ParsedList, Query, Screener, screen,
};
use clearance_store::{ScreeningList, ScreeningListData, ScreeningReview, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// The lists a deployment can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// OFAC's SDN list: a folder with `sdn.csv`, `alt.csv` and (optionally) `add.csv`.
    OfacSdn,
    /// BIS's Denied Persons List: one tab-separated file.
    BisDpl,
    /// trade.gov's Consolidated Screening List: one CSV file.
    Csl,
}

impl ListKind {
    pub const ALL: [ListKind; 3] = [ListKind::OfacSdn, ListKind::BisDpl, ListKind::Csl];

    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::OfacSdn => "ofac-sdn",
            ListKind::BisDpl => "bis-dpl",
            ListKind::Csl => "csl",
        }
    }

    pub fn parse(text: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Why a list could not be read, parsed or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("the stored list version {version}: {why}")]
    Stored { version: String, why: String },
    #[error("{0} holds no entries: an empty list would clear everyone it used to match")]
    Empty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A list version's files, as published: what is stored and parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFiles {
    pub source: String,
    /// File name (without folders) and bytes, base64 in the stored JSON.
    pub files: Vec<StoredFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub name: String,
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

mod base64_bytes {
    use super::{BASE64, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}

impl ListFiles {
    /// The files a list of this kind is published as, in the order [`ListFiles::parse`]
    /// reads them: `sdn.csv`, `alt.csv` and (optional) `add.csv` in the SDN folder; the one
    /// file for the others. Reading them is the caller's (the CLI's) business.
    pub fn file_names(kind: ListKind) -> &'static [&'static str] {
        match kind {
            ListKind::OfacSdn => &["sdn.csv", "alt.csv", "add.csv"],
            ListKind::BisDpl | ListKind::Csl => &[],
        }
    }

    /// The files parsed: every record, or the first problem with its file and line.
    pub fn parse(&self) -> Result<ParsedList, ListError> {
        let input = |i: usize| self.files.get(i).map(|f| Input::new(&f.name, &f.bytes));
        let missing = || ListError::Stored {
            version: self.source.clone(),
            why: "a file is missing".into(),
        };
        let parsed = match ListKind::parse(&self.source) {
            Some(ListKind::OfacSdn) => parse::ofac_sdn(
                input(0).ok_or_else(missing)?,
                input(1).ok_or_else(missing)?,
                input(2),
            )?,
            Some(ListKind::BisDpl) => parse::bis_dpl(input(0).ok_or_else(missing)?)?,
            Some(ListKind::Csl) => parse::csl(input(0).ok_or_else(missing)?)?,
            None => {
                return Err(ListError::Stored {
                    version: self.source.clone(),
                    why: format!("`{}` is not a list this build reads", self.source),
                });
            }
        };
        if parsed.entries.is_empty() {
            return Err(ListError::Empty(self.source.clone()));
        }
        Ok(parsed)
    }

    /// What the store keeps of this version: its metadata and its files.
    pub fn to_stored(
        &self,
        parsed: &ParsedList,
        actor: &str,
        at: DateTime<Utc>,
    ) -> ScreeningListData {
        let version = &parsed.version;
        ScreeningListData {
            meta: ScreeningList {
                version_id: version_id(&self.source, &version.sha256),
                source: self.source.clone(),
                published: version.published.map(|d| d.to_string()),
                sha256: version.sha256.clone(),
                record_count: i64::try_from(version.record_count).unwrap_or(i64::MAX),
                alias_count: i64::try_from(version.alias_count).unwrap_or(i64::MAX),
                imported_at: at,
                actor: actor.to_string(),
            },
            entries: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    pub fn from_stored(data: &ScreeningListData) -> Result<ListFiles, ListError> {
        serde_json::from_str(&data.entries).map_err(|e| ListError::Stored {
            version: data.meta.version_id.clone(),
            why: e.to_string(),
        })
    }
}

/// A version's id: its source and the first 16 hex digits of its SHA-256.
pub fn version_id(source: &str, sha256: &str) -> String {
    format!("{source}@{}", sha256.get(..16).unwrap_or(sha256))
}

/// The current version of each list, indexed for screening.
pub struct Lists {
    screener: Screener,
    versions: Vec<ScreeningList>,
}

impl Lists {
    /// Indexes parsed lists (with their stored metadata).
    pub fn new(lists: Vec<(ScreeningList, ParsedList)>) -> Lists {
        let (versions, parsed): (Vec<_>, Vec<_>) = lists.into_iter().unzip();
        Lists {
            screener: Screener::new(parsed),
            versions,
        }
    }

    /// The current version of every imported list, from the store; `None` when none is.
    pub async fn load(store: &dyn Store) -> Result<Option<Lists>, ListError> {
        let stored = store.current_screening_lists().await?;
        if stored.is_empty() {
            return Ok(None);
        }
        let mut lists = Vec::with_capacity(stored.len());
        for data in stored {
            let parsed = ListFiles::from_stored(&data)?.parse()?;
            lists.push((data.meta, parsed));
        }
        Ok(Some(Lists::new(lists)))
    }

    /// The versions screened against.
    pub fn versions(&self) -> &[ScreeningList] {
        &self.versions
    }

    pub fn screener(&self) -> &Screener {
        &self.screener
    }

    /// The version id of the list an evidence came from.
    fn version_of(&self, evidence: &Evidence) -> String {
        self.versions
            .iter()
            .find(|v| v.sha256 == evidence.list_version)
            .map_or_else(|| evidence.list_version.clone(), |v| v.version_id.clone())
    }

    /// A principal's screening fact, with the reviews that still apply.
    pub fn screen_principal(
        &self,
        principal: &Principal,
        reviews: &[ScreeningReview],
        now: DateTime<Utc>,
    ) -> ScreeningFact {
        let subject_hash = subject_fingerprint(principal);
        let mut matches = Vec::new();
        for (subject, query) in queries(principal) {
            for evidence in self.screener.screen(&query).matches {
                let entry = self.screener.entry(&evidence.source, &evidence.entity_id);
                let review = entry.and_then(|entry| {
                    applicable_review(reviews, &evidence, entry, &subject_hash, principal)
                });
                matches.push(ScreeningMatch {
                    subject: subject.to_string(),
                    list: self.version_of(&evidence),
                    source: evidence.source.to_string(),
                    entity_id: evidence.entity_id.clone(),
                    matched_name: evidence.matched_name.clone(),
                    score_milli: score_milli(evidence.score),
                    status: status_of(evidence.score),
                    review,
                });
            }
        }
        let lists = self.versions.iter().map(|v| v.version_id.clone()).collect();
        ScreeningFact::from_matches(matches, lists, ALGORITHM_VERSION, now)
    }

    /// The evidence a fresh screening of `principal` finds for the entry `list_source:entity_id`,
    /// with the fingerprints a review of it records; `None` when that entry does not match.
    pub fn reviewable(
        &self,
        principal: &Principal,
        list_source: &str,
        entity_id: &str,
    ) -> Option<(String, String)> {
        for (_, query) in queries(principal) {
            for evidence in self.screener.screen(&query).matches {
                if evidence.source.to_string() == list_source && evidence.entity_id == entity_id {
                    let entry = self.screener.entry(&evidence.source, &evidence.entity_id)?;
                    return Some((entry_fingerprint(entry), subject_fingerprint(principal)));
                }
            }
        }
        None
    }
}

/// What is screened of a principal: its name as an individual, its org as an organisation.
fn queries(principal: &Principal) -> Vec<(&'static str, Query)> {
    let countries: BTreeSet<&str> = principal
        .citizenships
        .iter()
        .chain(principal.residence.iter())
        .map(|c| c.as_str())
        .collect();
    let with_country = |query: Query| match countries.iter().next() {
        Some(only) if countries.len() == 1 => query.with_country(only),
        _ => query,
    };
    let mut queries = vec![("name", with_country(Query::individual(&principal.name)))];
    if let Some(org) = &principal.org {
        queries.push(("org", with_country(Query::organisation(org))));
    }
    queries
}

fn score_milli(score: f64) -> u16 {
    // The score is in [0, 1]; clamped so a rounding above 1 stays 1000.
    (score.clamp(0.0, 1.0) * 1000.0).round() as u16
}

fn status_of(score: f64) -> ScreeningStatus {
    if score >= screen::MATCH {
        ScreeningStatus::Match
    } else {
        ScreeningStatus::PotentialMatch
    }
}

/// The latest review of this subject and entry, if the entry and the subject's screened facts
/// are still as they were reviewed.
fn applicable_review(
    reviews: &[ScreeningReview],
    evidence: &Evidence,
    entry: &ListEntry,
    subject_hash: &str,
    principal: &Principal,
) -> Option<AppliedReview> {
    let source = evidence.source.to_string();
    let latest = reviews.iter().rev().find(|r| {
        r.subject == principal.id.as_str()
            && r.list_source == source
            && r.entity_id == evidence.entity_id
    })?;
    if latest.subject_hash != subject_hash || latest.entry_hash != entry_fingerprint(entry) {
        return None;
    }
    let decision = match latest.decision.as_str() {
        "confirm" => ReviewDecision::Confirm,
        "clear" => ReviewDecision::Clear,
        _ => return None,
    };
    Some(AppliedReview {
        decision,
        actor: latest.actor.clone(),
        at: latest.at,
        reason: latest.reason.clone(),
    })
}

/// A list entry's content, hashed: a review lapses when the publisher changes the entry.
pub fn entry_fingerprint(entry: &ListEntry) -> String {
    let mut hash = Sha256::new();
    let mut field = |text: &str| {
        hash.update((text.len() as u64).to_be_bytes());
        hash.update(text.as_bytes());
    };
    field(&entry.source.to_string());
    field(&entry.entity_id);
    field(&format!("{:?}", entry.kind));
    field(&entry.name);
    for alias in &entry.aliases {
        field(&alias.name);
        field(&format!("{:?}", alias.alias_type));
    }
    for country in &entry.countries {
        field(country);
    }
    for dob in &entry.dates_of_birth {
        field(&format!("{dob:?}"));
    }
    for id in &entry.identifiers {
        field(&format!("{id:?}"));
    }
    for program in &entry.programs {
        field(program);
    }
    field(entry.remarks.as_deref().unwrap_or(""));
    hex::encode(hash.finalize())
}

/// The screened facts of a principal, hashed: a review lapses when they change.
pub fn subject_fingerprint(principal: &Principal) -> String {
    let mut hash = Sha256::new();
    let mut field = |text: &str| {
        hash.update((text.len() as u64).to_be_bytes());
        hash.update(text.as_bytes());
    };
    field(principal.id.as_str());
    field(&principal.name);
    field(principal.org.as_deref().unwrap_or(""));
    for (_, query) in queries(principal) {
        field(query.country.as_deref().unwrap_or(""));
    }
    hex::encode(hash.finalize())
}

/// The lists as last loaded, reloaded when the store's `screening` change version moves.
#[derive(Default)]
pub struct ListCache {
    loaded: Mutex<Option<(i64, Option<Arc<Lists>>)>>,
}

impl ListCache {
    /// The current lists (`None`: none imported).
    pub async fn current(&self, store: &dyn Store) -> Result<Option<Arc<Lists>>, ListError> {
        let version = store.change_versions().await?.screening;
        let mut loaded = self.loaded.lock().await;
        if let Some((at, lists)) = loaded.as_ref()
            && *at == version
        {
            return Ok(lists.clone());
        }
        let lists = Lists::load(store).await?.map(Arc::new);
        *loaded = Some((version, lists.clone()));
        Ok(lists)
    }
}

/// Screens each principal (when lists are imported; otherwise leaves the fact unknown) with
/// the reviews on record: what every path that adds or changes principals runs before storing
/// them, so new facts never take effect unscreened.
pub async fn screen_before_storing(
    store: &dyn Store,
    lists: Option<&Lists>,
    principals: &mut [Principal],
    now: DateTime<Utc>,
) -> Result<(), ListError> {
    let Some(lists) = lists else {
        return Ok(());
    };
    let reviews = store.screening_reviews(None).await?;
    for principal in principals.iter_mut() {
        principal.screening = Some(lists.screen_principal(principal, &reviews, now));
    }
    Ok(())
}

/// A reviewer's decision on one match, as asked for.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub principal: clearance_core::principal::PrincipalId,
    /// `ofac-sdn`, `bis-dpl`, `csl:<list>`: as the evidence names the entry's list.
    pub list_source: String,
    pub entity_id: String,
    pub decision: ReviewDecision,
    pub reason: String,
    pub actor: String,
}

/// Why a review was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no denied-party list is imported: there is nothing to review")]
    NoLists,
    #[error("no principal `{0}`")]
    UnknownPrincipal(String),
    #[error("a review needs a reason (it is kept in the audit trail)")]
    NoReason,
    #[error(
        "`{list}:{entity}` does not match `{principal}` now, so there is nothing to review; its matches: {current}"
    )]
    NoSuchMatch {
        principal: String,
        list: String,
        entity: String,
        current: String,
    },
    #[error(transparent)]
    Lists(#[from] ListError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a stored review changed.
#[derive(Debug, Clone)]
pub struct ReviewOutcome {
    pub review_id: i64,
    pub before: Option<ScreeningStatus>,
    pub after: ScreeningStatus,
    pub principal: Principal,
}

/// Stores a review of one match together with the principal re-screened under it (one
/// transaction); the caller records the change in the audit trail.
pub async fn review(
    store: &dyn Store,
    lists: Option<&Lists>,
    request: &ReviewRequest,
    now: DateTime<Utc>,
) -> Result<ReviewOutcome, ReviewError> {
    let lists = lists.ok_or(ReviewError::NoLists)?;
    if request.reason.trim().is_empty() {
        return Err(ReviewError::NoReason);
    }
    let mut principal = store
        .principal(&request.principal)
        .await?
        .ok_or_else(|| ReviewError::UnknownPrincipal(request.principal.to_string()))?;
    let Some((entry_hash, subject_hash)) =
        lists.reviewable(&principal, &request.list_source, &request.entity_id)
    else {
        let reviews = store.screening_reviews(Some(principal.id.as_str())).await?;
        let fact = lists.screen_principal(&principal, &reviews, now);
        let current: Vec<String> = fact
            .matches
            .iter()
            .map(|m| format!("{} ({})", entry_name(m), m.matched_name))
            .collect();
        return Err(ReviewError::NoSuchMatch {
            principal: principal.id.to_string(),
            list: request.list_source.clone(),
            entity: request.entity_id.clone(),
            current: if current.is_empty() {
                "none".into()
            } else {
                current.join(", ")
            },
        });
    };
    let mut reviews = store.screening_reviews(Some(principal.id.as_str())).await?;
    let stored = ScreeningReview {
        id: 0,
        subject: principal.id.to_string(),
        list_source: request.list_source.clone(),
        entity_id: request.entity_id.clone(),
        entry_hash,
        subject_hash,
        decision: request.decision.as_str().to_string(),
        reason: request.reason.trim().to_string(),
        actor: request.actor.clone(),
        at: now,
    };
    reviews.push(stored.clone());
    let before = principal.screening.as_ref().map(|s| s.status);
    let fact = lists.screen_principal(&principal, &reviews, now);
    let after = fact.status;
    principal.screening = Some(fact);
    let review_id = store
        .add_screening_review(&stored, Some(&principal))
        .await?;
    Ok(ReviewOutcome {
        review_id,
        before,
        after,
        principal,
    })
}

/// How a match's entry is named for a review: `<list source>:<entity id>`.
pub fn entry_name(m: &ScreeningMatch) -> String {
    format!("{}:{}", m.source, m.entity_id)
}

/// Reads `<list source>:<entity id>` (`ofac-sdn:1234`, `csl:EL:5678`).
pub fn parse_entry_name(text: &str) -> Option<(String, String)> {
    let (source, entity) = match text.strip_prefix("csl:") {
        Some(rest) => {
            let (list, entity) = rest.split_once(':')?;
            (format!("csl:{list}"), entity)
        }
        None => {
            let (source, entity) = text.split_once(':')?;
            (source.to_string(), entity)
        }
    };
    (!entity.is_empty()).then(|| (source, entity.to_string()))
}

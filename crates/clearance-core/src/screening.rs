//! The `screening` fact: whether a principal (by name) or its organisation matches a
//! denied-party list, how sure that is, and on what evidence.
//!
//! It is a fact of the table ([`crate::fact_table`]) like any other (a Cedar `String`:
//! `clear`, `potential_match` or `match`; unknown, and listed in `missing_facts`, until the
//! principal has been screened), with one difference: nobody *provides* it. A principal file, a
//! SCIM write or a token cannot set it (the importer, the SCIM extension and the claim mapping
//! skip it: see [`crate::fact_table::FactKind::is_provided`]); only screening against the
//! imported lists does, so a caller cannot clear itself.
//!
//! The value keeps its evidence (list version, entry, matched name, score, any review), so the
//! audit record of a decision that read it can explain that decision exactly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many matches a screening result keeps as evidence (the strongest): enough to explain a
/// decision, small enough to ride in every decision record of the principal.
pub const MAX_SCREENING_MATCHES: usize = 5;
/// The most characters of a matched name kept as evidence (list names can be long; the entry
/// id finds the rest).
pub const MAX_EVIDENCE_CHARS: usize = 128;
/// The most characters of a list version, an entity id or a reviewer kept as evidence.
pub const MAX_EVIDENCE_ID_CHARS: usize = 64;

/// A screening outcome, weakest first (so the worst of several is their maximum).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningStatus {
    /// No list entry matches (or every match was cleared by a reviewer).
    #[default]
    Clear,
    /// A match a person must confirm or clear.
    PotentialMatch,
    /// A match: certain (an identifier, or a score above the match threshold), or confirmed.
    Match,
}

impl ScreeningStatus {
    /// The value directives read.
    pub fn as_str(self) -> &'static str {
        match self {
            ScreeningStatus::Clear => "clear",
            ScreeningStatus::PotentialMatch => "potential_match",
            ScreeningStatus::Match => "match",
        }
    }
}

/// A reviewer's decision on one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The match is the principal: it counts as a `match`.
    Confirm,
    /// A false positive: it no longer counts, until the list entry or the principal changes.
    Clear,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Confirm => "confirm",
            ReviewDecision::Clear => "clear",
        }
    }
}

/// A review applied to a match: who decided what, when and why (the reason cut to
/// [`MAX_EVIDENCE_CHARS`]; the review's record in the audit trail has it whole).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppliedReview {
    pub decision: ReviewDecision,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// Why, as the reviewer wrote it.
    pub reason: String,
}

/// One list entry that matched, with what the match rests on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScreeningMatch {
    /// What was screened: `name` (the principal's name) or `org` (its organisation).
    pub subject: String,
    /// The list version the entry comes from (e.g. `ofac-sdn@3f2a9c1e0b7d4e21`).
    pub list: String,
    /// The entry's list as screening names it (`ofac-sdn`, `bis-dpl`, `csl:EL`): with
    /// `entity_id`, what a review names.
    pub source: String,
    /// The entry's number on its list (OFAC `ent_num`, a CSL id, ...).
    pub entity_id: String,
    /// The entry's name or alias that matched.
    pub matched_name: String,
    /// The scorer's score, in thousandths (1000: exact or an identifier).
    pub score_milli: u16,
    /// What this match counts as before any review.
    pub status: ScreeningStatus,
    /// A reviewer's decision on it, when one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<AppliedReview>,
}

impl ScreeningMatch {
    /// What the match counts as after its review.
    pub fn effective_status(&self) -> ScreeningStatus {
        match self.review.as_ref().map(|r| r.decision) {
            Some(ReviewDecision::Confirm) => ScreeningStatus::Match,
            Some(ReviewDecision::Clear) => ScreeningStatus::Clear,
            None => self.status,
        }
    }
}

/// A principal's screening result: the fact directives read, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScreeningFact {
    pub status: ScreeningStatus,
    pub screened_at: DateTime<Utc>,
    /// Every list version screened against.
    pub lists: Vec<String>,
    /// The scorer and its version.
    pub algorithm: String,
    /// The strongest matches, at most [`MAX_SCREENING_MATCHES`], cleared ones included (they
    /// explain why a once-matched principal is clear).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<ScreeningMatch>,
}

impl ScreeningFact {
    /// A result from its matches: the status is the worst effective status among them.
    pub fn from_matches(
        mut matches: Vec<ScreeningMatch>,
        lists: Vec<String>,
        algorithm: &str,
        screened_at: DateTime<Utc>,
    ) -> ScreeningFact {
        matches.sort_by(|a, b| {
            b.effective_status()
                .cmp(&a.effective_status())
                .then(b.score_milli.cmp(&a.score_milli))
        });
        matches.truncate(MAX_SCREENING_MATCHES);
        for m in &mut matches {
            cap_chars(&mut m.matched_name, MAX_EVIDENCE_CHARS);
            cap_chars(&mut m.entity_id, MAX_EVIDENCE_ID_CHARS);
            cap_chars(&mut m.list, MAX_EVIDENCE_ID_CHARS);
            cap_chars(&mut m.source, MAX_EVIDENCE_ID_CHARS);
            if let Some(review) = &mut m.review {
                cap_chars(&mut review.actor, MAX_EVIDENCE_ID_CHARS);
                cap_chars(&mut review.reason, MAX_EVIDENCE_CHARS);
            }
        }
        let status = matches
            .iter()
            .map(ScreeningMatch::effective_status)
            .max()
            .unwrap_or(ScreeningStatus::Clear);
        ScreeningFact {
            status,
            screened_at,
            lists,
            algorithm: algorithm.to_string(),
            matches,
        }
    }
}

fn cap_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(entity: &str, status: ScreeningStatus, score: u16) -> ScreeningMatch {
        ScreeningMatch {
            subject: "name".into(),
            list: "ofac-sdn@1".into(),
            source: "ofac-sdn".into(),
            entity_id: entity.into(),
            matched_name: "X".into(),
            score_milli: score,
            status,
            review: None,
        }
    }

    #[test]
    fn the_status_is_the_worst_match_after_reviews() {
        let now = Utc::now();
        let fact = ScreeningFact::from_matches(vec![], vec![], "a", now);
        assert_eq!(fact.status, ScreeningStatus::Clear);
        let mut potential = m("1", ScreeningStatus::PotentialMatch, 880);
        let fact = ScreeningFact::from_matches(vec![potential.clone()], vec![], "a", now);
        assert_eq!(fact.status, ScreeningStatus::PotentialMatch);
        potential.review = Some(AppliedReview {
            decision: ReviewDecision::Clear,
            actor: "ana".into(),
            at: now,
            reason: "a different person".into(),
        });
        let fact = ScreeningFact::from_matches(vec![potential.clone()], vec![], "a", now);
        assert_eq!(fact.status, ScreeningStatus::Clear, "cleared");
        assert_eq!(fact.matches.len(), 1, "a cleared match stays as evidence");
        let mut confirmed = m("2", ScreeningStatus::PotentialMatch, 860);
        confirmed.review = Some(AppliedReview {
            decision: ReviewDecision::Confirm,
            actor: "ana".into(),
            at: now,
            reason: "same passport".into(),
        });
        let fact = ScreeningFact::from_matches(vec![potential, confirmed], vec![], "a", now);
        assert_eq!(fact.status, ScreeningStatus::Match);
        assert_eq!(fact.matches[0].entity_id, "2", "the worst first");
    }

    #[test]
    fn evidence_is_capped_keeping_the_strongest() {
        let matches = (0..9)
            .map(|i| m(&i.to_string(), ScreeningStatus::PotentialMatch, 850 + i))
            .collect();
        let fact = ScreeningFact::from_matches(matches, vec![], "a", Utc::now());
        assert_eq!(fact.matches.len(), MAX_SCREENING_MATCHES);
        assert_eq!(fact.matches[0].score_milli, 858);
        let mut long = m("1", ScreeningStatus::Match, 990);
        long.matched_name = "\u{1F600}".repeat(400);
        let fact = ScreeningFact::from_matches(vec![long], vec![], "a", Utc::now());
        assert_eq!(
            fact.matches[0].matched_name.chars().count(),
            MAX_EVIDENCE_CHARS
        );
    }

    #[test]
    fn statuses_read_as_directives_name_them() {
        assert_eq!(ScreeningStatus::PotentialMatch.as_str(), "potential_match");
        let json = serde_json::to_string(&ScreeningStatus::PotentialMatch).unwrap_or_default();
        assert_eq!(json, "\"potential_match\"");
    }
}

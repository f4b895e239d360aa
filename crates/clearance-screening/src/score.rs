//! The name scorer: token-level Jaro-Winkler with the best one-to-one token alignment.
//!
//! Both names are normalised ([`mod@crate::normalize`]) into words. Every pair of words (one from
//! each name) gets a similarity ([`token_similarity`]): `strsim`'s Jaro-Winkler, counted as 0
//! below [`TOKEN_FLOOR`] (0.84: below it two words are different words, not spellings of one);
//! plain Jaro, without Winkler's prefix bonus, when the lengths differ by more than
//! [`MAX_PREFIX_BONUS_LEN_DIFF`] ("WHITE" is not a spelling of "WHITEPIGEON"); and for words of
//! at most [`SHORT_WORD_LEN`] letters, only with the same first letter and at least
//! [`SHORT_WORD_FLOOR`] ("MARY" is not "MARK", "ALI" not "WALI"; "JON" is "JOHN").
//!
//! Pairs are then taken greedily, most similar first, each word used at most once: the
//! alignment does not depend on word order. Each side's *coverage* is the weighted share of its
//! words that found a partner, each counted by its similarity squared (a near spelling at 0.88
//! counts 0.77, a one-letter slip at 0.97 counts 0.94):
//!
//! ```text
//! coverage(side) = Σ similarity(word, partner)² · weight(word) / Σ weight(word)
//! score          = MIN_SIDE_WEIGHT · min(coverage) + (1 - MIN_SIDE_WEIGHT) · max(coverage)
//! ```
//!
//! with `MIN_SIDE_WEIGHT` = 0.4, and then two discounts:
//!
//! - no *anchor*: when no pair reaches [`ANCHOR_SIMILARITY`] (0.95), every word only a near
//!   spelling ("JUAN MARTINEZ" against "JURDAN MARTITEGUI"), the score is multiplied by
//!   [`NO_ANCHOR_FACTOR`] (0.95);
//! - thin evidence: when the matched query words weigh less than [`MIN_EVIDENCE`] in all (about
//!   three letters of a rare word), the score is scaled down towards [`THIN_EVIDENCE_FACTOR`]
//!   (0.85) of itself: "MOHAMMAD" alone, or "INTERNATIONAL TRADING", says too little.
//!
//! A word's weight is its length (capped at [`MAX_WEIGHT_LETTERS`]) times its *rarity* on the
//! indexed lists ([`rarity`]: 1 for a word held by one listed name, about 0.3 for one held by 50
//! of 21,000, about 0.1 for one held by 1,000, never below [`MIN_RARITY`]), times
//! [`PATRONYMIC_SHARE`] (0.3) for a patronymic. So "GOLDEN SUN BAKERY" against "GOLDEN STAR
//! TRADING" scores low, while "Manuel Noriega" against "NORIEGA, Manuel Antonio" (every query
//! word found, one common listed word missing) lands between the two thresholds (see
//! [`crate::screen`]). Blending the two coverages, rather than taking the lower, is what keeps
//! a listed name's extra given name or patronymic from hiding it; the weight on the lower one is
//! what keeps a shared given name alone from matching. [`name_similarity`] is this score with
//! every rarity 1 and no thin-evidence discount (no list at hand).

use strsim::{jaro, jaro_winkler};

use crate::normalize::normalize_name;

/// Word pairs less similar than this count as 0.
pub const TOKEN_FLOOR: f64 = 0.84;
/// Words whose lengths differ by more than this are compared by plain Jaro (no prefix bonus).
pub const MAX_PREFIX_BONUS_LEN_DIFF: usize = 2;
/// The weight of the lower of the two coverages in the score.
pub const MIN_SIDE_WEIGHT: f64 = 0.4;
/// The least a word's rarity can be.
pub const MIN_RARITY: f64 = 0.05;
/// Longer words weigh no more than this many letters.
pub const MAX_WEIGHT_LETTERS: usize = 12;

/// Words this short or shorter are held to [`SHORT_WORD_FLOOR`] and must share their first
/// letter: one letter changed in "ALI" makes "ALY" or "WALI", other names, and Jaro-Winkler
/// still rates them above 0.8 ("JON" and "JOHN" pass: 0.93).
pub const SHORT_WORD_LEN: usize = 4;
/// See [`SHORT_WORD_LEN`].
pub const SHORT_WORD_FLOOR: f64 = 0.9;

/// Jaro-Winkler of two words, 0 below [`TOKEN_FLOOR`] (or, for short words, unless
/// [`SHORT_WORD_LEN`]'s rule is met).
pub fn token_similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    if a.len().min(b.len()) <= SHORT_WORD_LEN {
        if a.as_bytes().first() != b.as_bytes().first() {
            return 0.0;
        }
        let s = jaro_winkler(a, b);
        return if s >= SHORT_WORD_FLOOR { s } else { 0.0 };
    }
    // Winkler's bonus for a shared prefix only between words of about the same length: "WHITE"
    // is not a spelling of "WHITEPIGEON".
    let s = if a.len().abs_diff(b.len()) <= MAX_PREFIX_BONUS_LEN_DIFF {
        jaro_winkler(a, b)
    } else {
        jaro(a, b)
    };
    if s >= TOKEN_FLOOR { s } else { 0.0 }
}

/// How much a word says about who a name is, from how many of `names` listed names hold it:
/// `(1 - ln(holders) / ln(names))²`, so 1 for a word held once, about 0.3 for one held by 50 of
/// 21,000 names ("MANUEL", "TRADING"), about 0.1 for one held by 1,000 ("MOHAMMED"); at least
/// [`MIN_RARITY`]. Squared so that a name made only of common words ("INTERNATIONAL TRADING")
/// weighs little against a listed name's one rare word.
pub fn rarity(holders: usize, names: usize) -> f64 {
    if holders <= 1 || names <= 2 {
        return 1.0;
    }
    let r = 1.0 - ((holders as f64).ln() / (names as f64).ln());
    (r * r).clamp(MIN_RARITY, 1.0)
}

/// A patronymic ("VALENTINOVICH", "IVANOVNA", "OGLU") weighs this share of another word: lists
/// write them, the names people go by often leave them out.
pub const PATRONYMIC_SHARE: f64 = 0.3;

/// Whether a word looks like an East Slavic or Turkic patronymic.
pub fn is_patronymic(word: &str) -> bool {
    (word.len() >= 7
        && (word.ends_with("VICH") || word.ends_with("VNA") || word.ends_with("ICHNA")))
        || matches!(word, "OGLU" | "OGLY" | "KYZY" | "GIZI" | "ULY")
}

/// A word's weight from its length and rarity (and [`PATRONYMIC_SHARE`] for a patronymic).
pub fn weight(word: &str, rarity: f64) -> f64 {
    let w = word.len().clamp(1, MAX_WEIGHT_LETTERS) as f64 * rarity;
    if is_patronymic(word) {
        w * PATRONYMIC_SHARE
    } else {
        w
    }
}

/// A name none of whose words is this similar to a listed word (every pair only a near
/// spelling: "JUAN MARTINEZ" against "JURDAN MARTITEGUI") is scaled by [`NO_ANCHOR_FACTOR`].
pub const ANCHOR_SIMILARITY: f64 = 0.95;
/// See [`ANCHOR_SIMILARITY`].
pub const NO_ANCHOR_FACTOR: f64 = 0.95;

/// Below this much matched weight on the query side (about three letters of a rare word), the
/// score is scaled down, to at most [`THIN_EVIDENCE_FACTOR`] of itself at none: a name made of
/// common words ("MOHAMMAD", "INTERNATIONAL TRADING") says too little to match anyone on its own.
pub const MIN_EVIDENCE: f64 = 3.0;
/// See [`MIN_EVIDENCE`].
pub const THIN_EVIDENCE_FACTOR: f64 = 0.85;

/// The score of two aligned names, given the similarity of each word pair (`sim(i, j)`, query
/// word `i`, listed word `j`) and each word's weight. Order-independent.
pub(crate) fn align(
    query_weights: &[f64],
    listed_weights: &[f64],
    min_evidence: f64,
    mut sim: impl FnMut(usize, usize) -> f64,
) -> f64 {
    let (nq, nl) = (query_weights.len(), listed_weights.len());
    if nq == 0 || nl == 0 {
        return 0.0;
    }
    let mut pairs: Vec<(f64, usize, usize)> = Vec::with_capacity(nq * nl);
    for i in 0..nq {
        for j in 0..nl {
            let s = sim(i, j);
            if s > 0.0 {
                pairs.push((s, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut used_q, mut used_l) = (vec![false; nq], vec![false; nl]);
    let (mut got_q, mut got_l) = (0.0, 0.0);
    let mut best_pair: f64 = 0.0;
    for (s, i, j) in pairs {
        if used_q[i] || used_l[j] {
            continue;
        }
        best_pair = best_pair.max(s);
        used_q[i] = true;
        used_l[j] = true;
        // Squared: a near spelling (0.88) counts much less than a word with one slip (0.97).
        got_q += s * s * query_weights[i];
        got_l += s * s * listed_weights[j];
    }
    let cov_q = got_q / query_weights.iter().sum::<f64>();
    let cov_l = got_l / listed_weights.iter().sum::<f64>();
    let (lo, hi) = if cov_q < cov_l {
        (cov_q, cov_l)
    } else {
        (cov_l, cov_q)
    };
    let score = MIN_SIDE_WEIGHT * lo + (1.0 - MIN_SIDE_WEIGHT) * hi;
    let score = if best_pair < ANCHOR_SIMILARITY {
        score * NO_ANCHOR_FACTOR
    } else {
        score
    };
    let score = if got_q < min_evidence {
        score * (THIN_EVIDENCE_FACTOR + (1.0 - THIN_EVIDENCE_FACTOR) * got_q / min_evidence)
    } else {
        score
    };
    score.clamp(0.0, 1.0)
}

/// The score of two names with no list at hand (every word's rarity 1): 1.0 for names that
/// normalise alike, 0.0 for names with no similar word.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (normalize_name(a).tokens, normalize_name(b).tokens);
    let wa: Vec<f64> = a.iter().map(|w| weight(w, 1.0)).collect();
    let wb: Vec<f64> = b.iter().map(|w| weight(w, 1.0)).collect();
    align(&wa, &wb, 0.0, |i, j| token_similarity(&a[i], &b[j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_spelling() {
        assert_eq!(
            name_similarity("AL-ZAWAHIRI, Dr. Ayman", "Ayman al Zawahiri"),
            1.0
        );
        assert!(name_similarity("Ayman Zawahri", "AL ZAWAHIRI, Ayman") > 0.93);
        assert_eq!(name_similarity("John Smith", "Smith John"), 1.0);
        assert!(name_similarity("John Smith", "Jon Smith") > 0.9);
        // Short words: one letter changed is another name.
        assert!(name_similarity("Mary Taylor", "Mark Taylor") < 0.8);
        assert!(name_similarity("Ali Hassan", "Wali Hassan") < 0.8);
        // A longer word merely starting like another is not a spelling of it.
        assert!(name_similarity("White", "Whitepigeon") < 0.85);
        assert_eq!(name_similarity("Acme", "Zebra"), 0.0);
        assert_eq!(name_similarity("", "Zebra"), 0.0);
    }

    #[test]
    fn rarity_falls_with_holders() {
        assert_eq!(rarity(1, 20_000), 1.0);
        assert!(rarity(10, 20_000) > rarity(1_000, 20_000));
        assert!(rarity(20_000, 20_000) >= MIN_RARITY);
    }
}

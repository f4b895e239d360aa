//! The text similarity `similar_to` uses, with no model: the cosine of the two texts' word
//! counts.
//!
//! Words are runs of letters and digits, compared in lower case; each text becomes a vector of
//! word counts, and the score is their cosine: 1.0 for the same words in the same proportions
//! (order aside), 0.0 for no word in common. It rewards an answer that says what the reference
//! says in its words and is indifferent to order and length; it cannot see paraphrase (use a
//! `rubric` for that). Thresholds of 0.6 to 0.8 suit short factual answers.

use std::collections::HashMap;

fn word_counts(text: &str) -> HashMap<String, f64> {
    let mut counts = HashMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0.0) += 1.0;
    }
    counts
}

/// The cosine of the two texts' word counts, in 0.0..=1.0 (0.0 when either has no words).
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (word_counts(a), word_counts(b));
    let dot: f64 = a
        .iter()
        .filter_map(|(word, n)| b.get(word).map(|m| n * m))
        .sum();
    let norm = |counts: &HashMap<String, f64>| counts.values().map(|n| n * n).sum::<f64>().sqrt();
    let (na, nb) = (norm(&a), norm(&b));
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na * nb)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::similarity;

    #[test]
    fn same_words_score_one_and_no_common_word_scores_zero() {
        assert!((similarity("Refunds take 30 days.", "refunds TAKE 30 days") - 1.0).abs() < 1e-9);
        assert!((similarity("30 days refunds take", "refunds take 30 days") - 1.0).abs() < 1e-9);
        assert_eq!(similarity("apples", "oranges"), 0.0);
        assert_eq!(similarity("", "anything"), 0.0);
    }

    #[test]
    fn a_close_answer_scores_between_a_far_one_and_the_reference() {
        let reference = "Refunds are issued within 30 days of the return.";
        let close = similarity("We issue refunds within 30 days of your return.", reference);
        let far = similarity("Our store opens at nine.", reference);
        assert!(close > 0.6, "{close}");
        assert!(far < 0.2, "{far}");
    }
}

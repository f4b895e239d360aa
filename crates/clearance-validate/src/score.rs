//! A run's score: a case passes when every check passes; the score is the weighted share of
//! passing cases, and failures are counted per check kind for the run's table.

use std::collections::BTreeMap;

use crate::check::Verdict;

/// What the checks of one case said.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case_id: String,
    pub weight: f64,
    /// Each check's kind and verdict (a rubric's after the judge).
    pub verdicts: Vec<(&'static str, Verdict)>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|(_, v)| *v == Verdict::Pass)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Weighted share of passing cases, 0.0..=1.0.
    pub pass_rate: f64,
    pub cases: usize,
    pub passed: usize,
    /// Checks that did not pass, per kind.
    pub failures_per_check: BTreeMap<&'static str, usize>,
}

pub fn score(results: &[CaseResult]) -> Score {
    // Folded from +0.0: an empty `f64` sum is -0.0, which prints as "-0.0%".
    let total: f64 = results.iter().map(|r| r.weight).fold(0.0, |a, b| a + b);
    let passed_weight: f64 = results
        .iter()
        .filter(|r| r.passed())
        .map(|r| r.weight)
        .fold(0.0, |a, b| a + b);
    let mut failures_per_check = BTreeMap::new();
    for (kind, verdict) in results.iter().flat_map(|r| &r.verdicts) {
        if *verdict != Verdict::Pass {
            *failures_per_check.entry(*kind).or_insert(0) += 1;
        }
    }
    Score {
        pass_rate: if total > 0.0 {
            passed_weight / total
        } else {
            0.0
        },
        cases: results.len(),
        passed: results.iter().filter(|r| r.passed()).count(),
        failures_per_check,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_passed_is_a_positive_zero() {
        let failed = CaseResult {
            case_id: "a".into(),
            weight: 1.0,
            verdicts: vec![("contains", Verdict::Fail("no".into()))],
        };
        let score = score(&[failed]);
        assert!(score.pass_rate == 0.0 && score.pass_rate.is_sign_positive());
        assert_eq!(format!("{:.1}", score.pass_rate * 100.0), "0.0");
    }
}

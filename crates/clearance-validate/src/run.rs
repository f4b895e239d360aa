//! A validation run's results, the pure part: what one model's answer to one case is stored
//! as ([`CaseRecord`], so an interrupted run resumes from the store), a model's summary over
//! the suite (score, latency percentiles, tokens, cost, failures per check), whether a
//! candidate clears the bar and why not, and the run's table in text, JSON and JUnit XML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::Verdict;
use crate::score::{CaseResult, Score, score};
use crate::suite::Suite;

/// The most of an answer a stored record keeps: enough to see why a check failed.
pub const ANSWER_KEPT_CHARS: usize = 2_000;

/// What one model answered to one case, and what the checks said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub case_id: String,
    pub model: String,
    pub passed: bool,
    pub verdicts: Vec<CheckRecord>,
    pub latency_ms: u64,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Why the model gave no answer to check (a provider error after every retry); the case
    /// then fails every check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer's text, cut to [`ANSWER_KEPT_CHARS`].
    #[serde(default)]
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub check: String,
    pub pass: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl CaseRecord {
    /// A case checked against an answer; `verdicts` are final (a rubric's from its judge).
    pub fn answered(
        case_id: &str,
        model: &str,
        verdicts: Vec<(&'static str, Verdict)>,
        answer: &str,
        latency_ms: u64,
        tokens: (u64, u64),
    ) -> CaseRecord {
        let verdicts: Vec<CheckRecord> = verdicts
            .into_iter()
            .map(|(check, verdict)| CheckRecord {
                check: check.to_string(),
                pass: verdict == Verdict::Pass,
                why: match verdict {
                    Verdict::Pass => None,
                    Verdict::Fail(why) => Some(why),
                    Verdict::NeedsJudge => Some("no judge graded this rubric".into()),
                },
            })
            .collect();
        CaseRecord {
            case_id: case_id.to_string(),
            model: model.to_string(),
            passed: verdicts.iter().all(|v| v.pass),
            verdicts,
            latency_ms,
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            error: None,
            answer: answer.chars().take(ANSWER_KEPT_CHARS).collect(),
        }
    }

    /// A case the model could not answer: every check fails with the reason.
    pub fn failed(
        case_id: &str,
        model: &str,
        checks: &[&'static str],
        error: String,
        latency_ms: u64,
    ) -> CaseRecord {
        CaseRecord {
            case_id: case_id.to_string(),
            model: model.to_string(),
            passed: false,
            verdicts: checks
                .iter()
                .map(|check| CheckRecord {
                    check: check.to_string(),
                    pass: false,
                    why: Some(format!("no answer: {error}")),
                })
                .collect(),
            latency_ms,
            input_tokens: 0,
            output_tokens: 0,
            error: Some(error),
            answer: String::new(),
        }
    }
}

/// One model over the whole suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub model: String,
    pub score: f64,
    pub cases: usize,
    pub passed: usize,
    /// Cases the model gave no answer to (provider errors after every retry).
    pub errors: usize,
    pub failures_per_check: BTreeMap<String, usize>,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars, when the model's prices are configured.
    pub cost_usd: Option<f64>,
    /// The first few failing cases and why, for the table.
    pub failing: Vec<(String, String)>,
}

/// How many failing cases a summary names.
const FAILING_SHOWN: usize = 5;

impl ModelSummary {
    /// Summarises `records` (this model's) against the suite's weights; a case of the suite
    /// with no record counts as not passed.
    pub fn of(
        model: &str,
        suite: &Suite,
        records: &[&CaseRecord],
        price: Option<&dyn Fn(u64, u64) -> f64>,
    ) -> ModelSummary {
        let by_case: BTreeMap<&str, &CaseRecord> =
            records.iter().map(|r| (r.case_id.as_str(), *r)).collect();
        let results: Vec<CaseResult> = suite
            .cases
            .iter()
            .map(|case| CaseResult {
                case_id: case.id.clone(),
                weight: case.weight,
                verdicts: match by_case.get(case.id.as_str()) {
                    Some(record) => record
                        .verdicts
                        .iter()
                        .map(|v| {
                            let verdict = if v.pass {
                                Verdict::Pass
                            } else {
                                Verdict::Fail(v.why.clone().unwrap_or_default())
                            };
                            (kind_name(&v.check), verdict)
                        })
                        .collect(),
                    None => vec![("not_run", Verdict::Fail("not run".into()))],
                },
            })
            .collect();
        let Score {
            pass_rate,
            cases,
            passed,
            failures_per_check,
        } = score(&results);
        let mut latencies: Vec<u64> = records
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| r.latency_ms)
            .collect();
        latencies.sort_unstable();
        let input_tokens = records.iter().map(|r| r.input_tokens).sum();
        let output_tokens = records.iter().map(|r| r.output_tokens).sum();
        let failing = suite
            .cases
            .iter()
            .filter_map(|case| {
                let why = match by_case.get(case.id.as_str()) {
                    None => "not run".to_string(),
                    Some(r) if r.passed => return None,
                    Some(r) => first_failure(r),
                };
                Some((case.id.clone(), why))
            })
            .take(FAILING_SHOWN)
            .collect();
        ModelSummary {
            model: model.to_string(),
            score: pass_rate,
            cases,
            passed,
            errors: records.iter().filter(|r| r.error.is_some()).count(),
            failures_per_check: failures_per_check
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            latency_p50_ms: percentile(&latencies, 50),
            latency_p95_ms: percentile(&latencies, 95),
            input_tokens,
            output_tokens,
            cost_usd: price.map(|cost| cost(input_tokens, output_tokens)),
            failing,
        }
    }

    /// `None` when the score clears `bar`; otherwise why the candidate is not validated.
    pub fn shortfall(&self, bar: f64) -> Option<String> {
        if self.score >= bar {
            return None;
        }
        let mut why = format!(
            "score {:.2} is below the bar {bar:.2} ({} of {} cases passed)",
            self.score, self.passed, self.cases
        );
        if self.errors > 0 {
            why.push_str(&format!("; {} cases got no answer", self.errors));
        }
        if let Some((case, reason)) = self.failing.first() {
            why.push_str(&format!("; first failure: {case}: {reason}"));
        }
        Some(why)
    }
}

fn first_failure(record: &CaseRecord) -> String {
    if let Some(error) = &record.error {
        return format!("no answer: {error}");
    }
    record
        .verdicts
        .iter()
        .find(|v| !v.pass)
        .map(|v| format!("{}: {}", v.check, v.why.as_deref().unwrap_or("failed")))
        .unwrap_or_else(|| "failed".into())
}

/// Check kinds are `&'static str` in scores; stored records bring them back as strings.
fn kind_name(check: &str) -> &'static str {
    const KINDS: [&str; 10] = [
        "contains",
        "not_contains",
        "regex",
        "equals",
        "json_valid",
        "json_schema",
        "tool_called",
        "max_latency_ms",
        "similar_to",
        "rubric",
    ];
    KINDS.into_iter().find(|k| *k == check).unwrap_or("other")
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// A candidate after the run: its summary and whether it is now a validated fallback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    #[serde(flatten)]
    pub summary: ModelSummary,
    pub validated: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// The run as a whole, for the table and `--format json|junit`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub suite: String,
    pub suite_hash: String,
    pub bar: f64,
    /// Records reused from an interrupted run.
    pub resumed_cases: usize,
    pub primary: ModelSummary,
    pub candidates: Vec<Candidate>,
}

impl RunSummary {
    /// The side-by-side table: one column per model, primary first.
    pub fn render_text(&self) -> String {
        let mut columns: Vec<(&ModelSummary, String)> =
            vec![(&self.primary, "primary".to_string())];
        for candidate in &self.candidates {
            let label = if candidate.validated {
                "VALIDATED"
            } else {
                "FAILED"
            };
            columns.push((&candidate.summary, label.to_string()));
        }
        let mut kinds: Vec<&String> = columns
            .iter()
            .flat_map(|(s, _)| s.failures_per_check.keys())
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut rows: Vec<(String, Vec<String>)> = vec![
            (
                "model".into(),
                columns.iter().map(|(s, _)| s.model.clone()).collect(),
            ),
            (
                "standing".into(),
                columns.iter().map(|(_, l)| l.clone()).collect(),
            ),
            (
                "pass rate".into(),
                columns
                    .iter()
                    .map(|(s, _)| format!("{:.1}% ({}/{})", s.score * 100.0, s.passed, s.cases))
                    .collect(),
            ),
        ];
        for kind in kinds {
            rows.push((
                format!("  {kind} failed"),
                columns
                    .iter()
                    .map(|(s, _)| {
                        s.failures_per_check
                            .get(kind)
                            .copied()
                            .unwrap_or(0)
                            .to_string()
                    })
                    .collect(),
            ));
        }
        rows.push((
            "no answer".into(),
            columns.iter().map(|(s, _)| s.errors.to_string()).collect(),
        ));
        rows.push((
            "latency p50/p95".into(),
            columns
                .iter()
                .map(|(s, _)| format!("{}/{} ms", s.latency_p50_ms, s.latency_p95_ms))
                .collect(),
        ));
        rows.push((
            "tokens in/out".into(),
            columns
                .iter()
                .map(|(s, _)| format!("{}/{}", s.input_tokens, s.output_tokens))
                .collect(),
        ));
        rows.push((
            "cost".into(),
            columns
                .iter()
                .map(|(s, _)| s.cost_usd.map_or("-".into(), |c| format!("${c:.4}")))
                .collect(),
        ));
        let label_width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..columns.len())
            .map(|i| {
                rows.iter()
                    .map(|(_, cells)| cells[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!(
            "suite {} ({}…), bar {:.2}{}\n\n",
            self.suite,
            &self.suite_hash[..self.suite_hash.len().min(12)],
            self.bar,
            if self.resumed_cases > 0 {
                format!(
                    ", {} cases resumed from an interrupted run",
                    self.resumed_cases
                )
            } else {
                String::new()
            }
        );
        for (label, cells) in &rows {
            out.push_str(&format!("{label:<label_width$}"));
            for (cell, width) in cells.iter().zip(&widths) {
                out.push_str(&format!("  {cell:<width$}"));
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        }
        for candidate in &self.candidates {
            if let Some(reason) = &candidate.reason {
                out.push_str(&format!(
                    "\n{} not validated: {reason}",
                    candidate.summary.model
                ));
            }
        }
        out.push('\n');
        out
    }

    /// JUnit XML: one suite per model, one test case per case (what CI systems display).
    pub fn render_junit(&self, records: &[CaseRecord]) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let models =
            std::iter::once(&self.primary).chain(self.candidates.iter().map(|c| &c.summary));
        out.push_str(&format!(
            "<testsuites name=\"{}\">\n",
            xml_escape(&format!("clearance validate {}", self.suite))
        ));
        for summary in models {
            let mine: Vec<&CaseRecord> = records
                .iter()
                .filter(|r| r.model == summary.model)
                .collect();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">\n",
                xml_escape(&summary.model),
                mine.len(),
                mine.iter().filter(|r| !r.passed).count()
            ));
            for record in mine {
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                    xml_escape(&summary.model),
                    xml_escape(&record.case_id),
                    record.latency_ms as f64 / 1000.0
                ));
                if record.passed {
                    out.push_str("/>\n");
                } else {
                    out.push_str(&format!(
                        ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                        xml_escape(&first_failure(record))
                    ));
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 95), 95);
        assert_eq!(percentile(&[7], 95), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
    }

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(
            xml_escape("a<b>&\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}"
        );
    }
}

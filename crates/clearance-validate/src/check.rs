//! The checks a case puts to an answer, and what each says of one.
//!
//! Every check but `rubric` is decided here, from the answer alone. A `rubric` needs a judge
//! model: [`Verdict::NeedsJudge`] says so, [`judge_prompt`] is what the judge is asked and
//! [`judge_verdict`] reads its reply.

use regex::Regex;
use serde_json::Value;

use crate::similarity::similarity;

/// What a model answered to one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer's text (every text block, joined).
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

/// One check of a case.
#[derive(Debug, Clone)]
pub enum Check {
    Contains(String),
    NotContains(String),
    Regex(Regex),
    /// The whole answer, surrounding whitespace aside.
    Equals(String),
    JsonValid,
    JsonSchema(Value),
    /// A call of this tool, whose arguments match the schema when one is given.
    ToolCalled {
        name: String,
        arguments_schema: Option<Value>,
    },
    MaxLatencyMs(u64),
    /// [`similarity`] to the reference is at least the threshold.
    SimilarTo {
        reference: String,
        threshold: f64,
    },
    /// A judge model grades the answer against the rubric and must say pass.
    Rubric {
        rubric: String,
        judge: Option<String>,
    },
}

/// What a check says of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// Failed, and why (shown in the run's table and stored with it).
    Fail(String),
    /// A rubric: only the judge model can say.
    NeedsJudge,
}

impl Check {
    /// The check's name in suites and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Contains(_) => "contains",
            Check::NotContains(_) => "not_contains",
            Check::Regex(_) => "regex",
            Check::Equals(_) => "equals",
            Check::JsonValid => "json_valid",
            Check::JsonSchema(_) => "json_schema",
            Check::ToolCalled { .. } => "tool_called",
            Check::MaxLatencyMs(_) => "max_latency_ms",
            Check::SimilarTo { .. } => "similar_to",
            Check::Rubric { .. } => "rubric",
        }
    }

    pub fn evaluate(&self, answer: &Answer) -> Verdict {
        let text = &answer.text;
        let fail = |why: String| Verdict::Fail(why);
        match self {
            Check::Contains(needle) if text.contains(needle.as_str()) => Verdict::Pass,
            Check::Contains(needle) => fail(format!("the answer does not contain {needle:?}")),
            Check::NotContains(needle) if text.contains(needle.as_str()) => {
                fail(format!("the answer contains {needle:?}"))
            }
            Check::NotContains(_) => Verdict::Pass,
            Check::Regex(pattern) if pattern.is_match(text) => Verdict::Pass,
            Check::Regex(pattern) => fail(format!("the answer does not match /{pattern}/")),
            Check::Equals(expected) if text.trim() == expected.trim() => Verdict::Pass,
            Check::Equals(expected) => fail(format!("the answer is not {expected:?}")),
            Check::JsonValid => match answer_json(text) {
                Ok(_) => Verdict::Pass,
                Err(e) => fail(format!("the answer is not JSON: {e}")),
            },
            Check::JsonSchema(schema) => match answer_json(text) {
                Ok(value) => against_schema(schema, &value, "the answer"),
                Err(e) => fail(format!("the answer is not JSON: {e}")),
            },
            Check::ToolCalled {
                name,
                arguments_schema,
            } => tool_called(answer, name, arguments_schema.as_ref()),
            Check::MaxLatencyMs(most) if answer.latency_ms <= *most => Verdict::Pass,
            Check::MaxLatencyMs(most) => fail(format!(
                "answered in {} ms, more than {most} ms",
                answer.latency_ms
            )),
            Check::SimilarTo {
                reference,
                threshold,
            } => {
                let score = similarity(text, reference);
                if score >= *threshold {
                    Verdict::Pass
                } else {
                    fail(format!(
                        "similarity {score:.2} to the reference is below {threshold:.2}"
                    ))
                }
            }
            Check::Rubric { .. } => Verdict::NeedsJudge,
        }
    }
}

/// The answer as JSON: the text itself, or the one fenced block (```json ... ```) it holds.
fn answer_json(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    let fenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"));
    serde_json::from_str(fenced.unwrap_or(trimmed))
}

fn against_schema(schema: &Value, value: &Value, what: &str) -> Verdict {
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(e) => return Verdict::Fail(format!("the schema itself is invalid: {e}")),
    };
    match validator.iter_errors(value).next() {
        None => Verdict::Pass,
        Some(error) => {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            Verdict::Fail(format!("{what}: schema violation at {at}: {error}"))
        }
    }
}

fn tool_called(answer: &Answer, name: &str, schema: Option<&Value>) -> Verdict {
    let calls: Vec<&ToolCall> = answer
        .tool_calls
        .iter()
        .filter(|c| c.name == name)
        .collect();
    if calls.is_empty() {
        let made: Vec<&str> = answer.tool_calls.iter().map(|c| c.name.as_str()).collect();
        return Verdict::Fail(if made.is_empty() {
            format!("no tool was called, not {name}")
        } else {
            format!("{name} was not called (called: {})", made.join(", "))
        });
    }
    let Some(schema) = schema else {
        return Verdict::Pass;
    };
    let mut last = Verdict::Pass;
    for call in calls {
        last = against_schema(schema, &call.arguments, &format!("{name}'s arguments"));
        if last == Verdict::Pass {
            return last;
        }
    }
    last
}

/// What the judge model is asked about one answer.
pub fn judge_prompt(rubric: &str, question: &str, answer: &str) -> String {
    format!(
        "You grade an AI model's answer against a rubric.\n\n\
         QUESTION:\n{question}\n\nANSWER:\n{answer}\n\nRUBRIC:\n{rubric}\n\n\
         Reply with PASS if the answer meets the rubric, FAIL if it does not, then one sentence \
         saying why."
    )
}

/// The judge's reply read as a verdict: its first word must be PASS or FAIL.
pub fn judge_verdict(reply: &str) -> Verdict {
    let first: String = reply
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match first.to_ascii_uppercase().as_str() {
        "PASS" => Verdict::Pass,
        "FAIL" => Verdict::Fail(format!("the judge said: {}", reply.trim())),
        _ => Verdict::Fail(format!(
            "the judge's reply did not start with PASS or FAIL: {:?}",
            reply.trim()
        )),
    }
}

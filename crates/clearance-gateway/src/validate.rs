//! Validation runs: every case of a suite on a primary and its candidate fallbacks, through the
//! same provider layer and translation as production, each answer checked, every result stored
//! as it lands (so an interrupted run resumes), and each candidate's standing stored at the end.
//!
//! A case is sent to one model at a time, with no failover: [`ModelCaller::ask`] builds the
//! case's request in its client format, reads it with the proxy's own `ClientRequest`, writes
//! the provider's body from the proxy's own `Exchange` (passed through or translated),
//! sends it with the gateway's `UpstreamClient`, and reads the provider's answer in its own
//! format into the neutral model. A Gemini-format case enters as OpenAI Chat (the gateway has
//! no Gemini client surface yet): it is read by the Gemini translator and written as an OpenAI
//! Chat request first.
//!
//! Used by `clearance validate` and by `serve`'s scheduled re-runs (`[validation] every`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clearance_config::Config;
use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::audit::{AdminAction, AuditRecord};
use clearance_core::chat::Part;
use clearance_store::{
    CaseOutcome, FallbackValidation, Store, StoreError, StoredSuite, ValidationRun,
};
use clearance_upstream::{ForwardedHeaders, UpstreamCall, UpstreamClient, UpstreamError};
use clearance_validate::check::{judge_prompt, judge_verdict};
use clearance_validate::run::{Candidate, CaseRecord, ModelSummary, RunSummary};
use clearance_validate::{Answer, Case, ClientFormat, Suite, ToolCall, Verdict};
use clearance_wire::redact::{redact_known, sanitise_message};
use clearance_wire::request::ClientRequest;
use clearance_wire::translate::{self, RenderOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::state::{ModelEntry, model_table};

/// The cap on what a judged or checked answer may hold; a provider sending more fails the case.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Anthropic requires `max_tokens`; a case written in its format that names none gets this.
const DEFAULT_CASE_MAX_TOKENS: u64 = 1_024;
/// The longest a provider's error text is kept in a case record.
const MAX_ERROR_CHARS: usize = 300;

/// Why one call to one model gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("`{0}` is not a model of this config")]
    UnknownModel(String),
    #[error("the case cannot be sent to `{model}`: {why}")]
    Untranslatable { model: String, why: String },
    #[error("the provider answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("{0}")]
    Transport(String),
    #[error("the provider's answer could not be read: {0}")]
    Unreadable(String),
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

impl CallError {
    /// Whether another try may go better: the provider's trouble, not the case's.
    fn retryable(&self) -> bool {
        match self {
            CallError::Status { status, .. } => *status == 429 || *status >= 500,
            CallError::Transport(_) => true,
            _ => false,
        }
    }
}

/// What a model answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Calls configured models one at a time, as the proxy would, without failover.
#[derive(Clone)]
pub struct ModelCaller {
    models: Arc<HashMap<String, ModelEntry>>,
    upstream: UpstreamClient,
}

impl ModelCaller {
    pub fn new(config: &Config) -> Result<ModelCaller, UpstreamError> {
        Ok(ModelCaller {
            models: Arc::new(model_table(config)),
            upstream: UpstreamClient::new()?,
        })
    }

    pub fn knows(&self, model: &str) -> bool {
        self.models.contains_key(model)
    }

    /// One case's request on one model.
    pub async fn ask(
        &self,
        model: &str,
        format: ClientFormat,
        messages: &Value,
        tools: Option<&Value>,
    ) -> Result<Reply, CallError> {
        let entry = self
            .models
            .get(model)
            .ok_or_else(|| CallError::UnknownModel(model.to_string()))?;
        let untranslatable = |why: String| CallError::Untranslatable {
            model: model.to_string(),
            why,
        };
        let (surface, body) =
            client_body(model, format, messages, tools).map_err(untranslatable)?;
        let bytes = serde_json::to_vec(&body).map_err(|e| untranslatable(e.to_string()))?;
        let request =
            ClientRequest::parse(surface, &bytes).map_err(|e| untranslatable(e.to_string()))?;
        let forwarded = clearance_upstream::ForwardedHeaders::default();
        let upstream_body = crate::exchange::Exchange::new(&request, &forwarded, "validation")
            .body_for(entry)
            .map_err(|e| untranslatable(e.to_string()))?;
        let call = UpstreamCall {
            body: upstream_body,
            upstream_model: &entry.model.upstream,
            stream: false,
            operation: clearance_upstream::Operation::Generate,
        };
        let provider = &entry.provider;
        let sent = self
            .upstream
            .send(provider, call, &ForwardedHeaders::default())
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = sent.status;
        let body = sent
            .collect(&provider.name, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(CallError::Status {
                status,
                message: provider_message(entry, &body),
            });
        }
        read_reply(provider.kind.format(), &body).map_err(CallError::Unreadable)
    }
}

/// The case's request as a client of its format would send it.
fn client_body(
    model: &str,
    format: ClientFormat,
    messages: &Value,
    tools: Option<&Value>,
) -> Result<(ApiSurface, Value), String> {
    let mut body = match format {
        ClientFormat::Openai => json!({ "model": model, "messages": messages }),
        ClientFormat::Anthropic => {
            json!({ "model": model, "messages": messages, "max_tokens": DEFAULT_CASE_MAX_TOKENS })
        }
        ClientFormat::Gemini => {
            let mut gemini = json!({ "contents": messages });
            if let Some(tools) = tools {
                gemini["tools"] = tools.clone();
            }
            let neutral =
                translate::parse_request(WireFormat::Gemini, &gemini).map_err(|e| e.to_string())?;
            let options = RenderOptions {
                default_max_tokens: DEFAULT_CASE_MAX_TOKENS,
                legacy_max_tokens: true,
            };
            let openai =
                translate::render_request(WireFormat::OpenaiChat, &neutral, model, &options)
                    .map_err(|e| e.to_string())?;
            return Ok((ApiSurface::OpenaiChat, openai));
        }
    };
    if let Some(tools) = tools {
        body["tools"] = tools.clone();
    }
    let surface = match format {
        ClientFormat::Anthropic => ApiSurface::AnthropicMessages,
        _ => ApiSurface::OpenaiChat,
    };
    Ok((surface, body))
}

/// The provider's error, with its own key and anything credential-shaped taken out.
fn provider_message(entry: &ModelEntry, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let own_key: Vec<&str> = entry.provider.api_key.iter().map(|k| k.expose()).collect();
    sanitise_message(&redact_known(&text, &own_key), MAX_ERROR_CHARS)
}

fn read_reply(format: WireFormat, body: &[u8]) -> Result<Reply, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not valid JSON: {e}"))?;
    let answer = translate::parse_response(format, &value).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for part in answer.content {
        match part {
            Part::Text { text: t } => text.push_str(&t),
            Part::ToolCall {
                name, arguments, ..
            } => tool_calls.push(ToolCall { name, arguments }),
            _ => {}
        }
    }
    Ok(Reply {
        text,
        tool_calls,
        input_tokens: answer.usage.input_tokens.unwrap_or(0),
        output_tokens: answer.usage.output_tokens.unwrap_or(0),
    })
}

/// How a run goes: the suite, the models, and the limits of each case.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub suite: Suite,
    /// The suite file's name and text: stored, so the run names the exact suite and `serve`
    /// can run it again.
    pub suite_file: String,
    pub suite_text: String,
    pub primary: String,
    pub candidates: Vec<String>,
    pub bar: f64,
    pub concurrency: usize,
    pub case_timeout: Duration,
    pub retries: u32,
    /// Who ran it (`cli`, `serve`); never a credential.
    pub actor: String,
    /// Start afresh even when an interrupted run of the same suite and models exists.
    pub fresh: bool,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown model `{0}`: it is not a [[models]] name of this config")]
    UnknownModel(String),
    #[error(
        "a rubric check needs a judge: name `judge = \"MODEL\"` in the suite or beside the rubric"
    )]
    NoJudge,
    #[error("`{0}` is listed more than once among the primary and candidates")]
    Duplicate(String),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("stored result of case `{case}` on `{model}` is unreadable: {why}")]
    Corrupt {
        case: String,
        model: String,
        why: String,
    },
}

/// How far a run has got, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// A finished run: the table's figures, every record, and the standings stored.
pub struct Finished {
    pub summary: RunSummary,
    pub records: Vec<CaseRecord>,
    pub standings: Vec<FallbackValidation>,
}

pub fn suite_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Runs (or resumes) `plan`, storing every case result as it lands and the candidates'
/// standings at the end.
pub async fn run(
    store: &dyn Store,
    caller: &ModelCaller,
    plan: &RunPlan,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Finished, RunError> {
    check_plan(caller, plan)?;
    let hash = suite_hash(&plan.suite_text);
    store
        .put_suite(&StoredSuite {
            hash: hash.clone(),
            name: plan.suite.name.clone(),
            file_name: plan.suite_file.clone(),
            text: plan.suite_text.clone(),
            stored_at: Utc::now(),
        })
        .await?;
    let (run, mut records) = open_run(store, plan, &hash).await?;
    let resumed = records.len();
    let models: Vec<&str> = std::iter::once(plan.primary.as_str())
        .chain(plan.candidates.iter().map(String::as_str))
        .collect();
    let done: HashSet<(String, String)> = records
        .iter()
        .map(|r| (r.model.clone(), r.case_id.clone()))
        .collect();
    let todo: Vec<(&str, &Case)> = models
        .iter()
        .flat_map(|m| plan.suite.cases.iter().map(move |c| (*m, c)))
        .filter(|(m, c)| !done.contains(&(m.to_string(), c.id.clone())))
        .collect();
    let total = models.len() * plan.suite.cases.len();
    progress(Progress {
        done: total - todo.len(),
        total,
    });
    // The futures are made first, then polled: a closure making them inside the stream
    // defeats the compiler's proof that the task is `Send` for every lifetime.
    let cases: Vec<_> = todo
        .into_iter()
        .map(|(model, case)| run_case(caller, plan, model, case))
        .collect();
    let mut results = futures::stream::iter(cases).buffer_unordered(plan.concurrency.max(1));
    while let Some(record) = results.next().await {
        store
            .put_case_outcome(&CaseOutcome {
                run_id: run.run_id.clone(),
                model: record.model.clone(),
                case_id: record.case_id.clone(),
                result: serde_json::to_string(&record).expect("a record always serialises"),
            })
            .await?;
        records.push(record);
        progress(Progress {
            done: total - todo_left(total, &records),
            total,
        });
    }
    drop(results);
    let finished = conclude(caller, plan, &run, &hash, resumed, records);
    store
        .finish_validation_run(&run.run_id, Utc::now(), &finished.standings)
        .await?;
    // A validation changes where requests may go (`validated_only` routes): recorded like
    // every other such change, in a short log of its own.
    let record = AuditRecord::admin(
        uuid::Uuid::now_v7().to_string(),
        Utc::now(),
        validation_action(plan, &finished),
        200,
    );
    clearance_store::record_changes(store, &plan.actor, vec![record]).await?;
    Ok(finished)
}

/// What the audit trail says of a finished run: who ran which suite, and each candidate's
/// standing.
fn validation_action(plan: &RunPlan, finished: &Finished) -> AdminAction {
    let standings: Vec<Value> = finished
        .standings
        .iter()
        .map(|s| {
            json!({
                "fallback": s.fallback_model,
                "validated": s.validated,
                "score": s.score,
                "reason": s.reason,
            })
        })
        .collect();
    AdminAction {
        action: "validation".into(),
        target: plan.primary.clone(),
        reason: None,
        actor: plan.actor.clone(),
        details: Some(json!({
            "run_id": finished.summary.run_id,
            "suite": finished.summary.suite,
            "suite_hash": finished.summary.suite_hash,
            "bar": plan.bar,
            "standings": standings,
        })),
    }
}

fn todo_left(total: usize, records: &[CaseRecord]) -> usize {
    total.saturating_sub(records.len())
}

fn check_plan(caller: &ModelCaller, plan: &RunPlan) -> Result<(), RunError> {
    let mut seen = HashSet::new();
    for model in std::iter::once(&plan.primary).chain(&plan.candidates) {
        if !caller.knows(model) {
            return Err(RunError::UnknownModel(model.clone()));
        }
        if !seen.insert(model) {
            return Err(RunError::Duplicate(model.clone()));
        }
    }
    for case in &plan.suite.cases {
        for check in &case.checks {
            if let clearance_validate::Check::Rubric { judge, .. } = check {
                match judge.as_ref().or(plan.suite.judge.as_ref()) {
                    None => return Err(RunError::NoJudge),
                    Some(judge) if !caller.knows(judge) => {
                        return Err(RunError::UnknownModel(judge.clone()));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// The interrupted run of the same suite and models, with what it already has; or a new one.
async fn open_run(
    store: &dyn Store,
    plan: &RunPlan,
    hash: &str,
) -> Result<(ValidationRun, Vec<CaseRecord>), RunError> {
    if !plan.fresh
        && let Some(run) = store
            .unfinished_validation_run(hash, &plan.primary, &plan.candidates)
            .await?
    {
        let mut records = Vec::new();
        for outcome in store.case_outcomes(&run.run_id).await? {
            let record: CaseRecord =
                serde_json::from_str(&outcome.result).map_err(|e| RunError::Corrupt {
                    case: outcome.case_id.clone(),
                    model: outcome.model.clone(),
                    why: e.to_string(),
                })?;
            // A case the suite no longer has (the same hash says it cannot) is not counted.
            if plan.suite.cases.iter().any(|c| c.id == record.case_id) {
                records.push(record);
            }
        }
        return Ok((run, records));
    }
    let run = ValidationRun {
        run_id: uuid::Uuid::now_v7().to_string(),
        suite_hash: hash.to_string(),
        primary_model: plan.primary.clone(),
        candidates: plan.candidates.clone(),
        bar: plan.bar,
        started_at: Utc::now(),
        finished_at: None,
        actor: plan.actor.clone(),
    };
    store.start_validation_run(&run).await?;
    Ok((run, Vec::new()))
}

/// One case on one model: asked (retried while the provider is at fault), checked, judged.
async fn run_case(caller: &ModelCaller, plan: &RunPlan, model: &str, case: &Case) -> CaseRecord {
    let started = Instant::now();
    let kinds: Vec<&'static str> = case.checks.iter().map(|c| c.kind()).collect();
    let asked = tokio::time::timeout(
        plan.case_timeout,
        ask_with_retries(caller, plan, model, case),
    )
    .await;
    let (reply, latency) = match asked {
        Ok(Ok(answered)) => answered,
        Ok(Err(error)) => {
            return CaseRecord::failed(&case.id, model, &kinds, error.to_string(), ms(started));
        }
        Err(_) => {
            let error = CallError::Timeout(plan.case_timeout);
            return CaseRecord::failed(&case.id, model, &kinds, error.to_string(), ms(started));
        }
    };
    let answer = Answer {
        text: reply.text.clone(),
        tool_calls: reply.tool_calls.clone(),
        latency_ms: latency,
    };
    let mut verdicts = Vec::with_capacity(case.checks.len());
    for check in &case.checks {
        let verdict = match check.evaluate(&answer) {
            Verdict::NeedsJudge => judge(caller, plan, case, check, &reply.text).await,
            verdict => verdict,
        };
        verdicts.push((check.kind(), verdict));
    }
    CaseRecord::answered(
        &case.id,
        model,
        verdicts,
        &reply.text,
        latency,
        (reply.input_tokens, reply.output_tokens),
    )
}

/// The reply and the latency of the try that gave it (a retry's wait is not the model's).
async fn ask_with_retries(
    caller: &ModelCaller,
    plan: &RunPlan,
    model: &str,
    case: &Case,
) -> Result<(Reply, u64), CallError> {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        match caller
            .ask(model, case.format, &case.messages, case.tools.as_ref())
            .await
        {
            Ok(reply) => return Ok((reply, ms(started))),
            Err(error) if error.retryable() && attempt < plan.retries => {
                attempt += 1;
                let wait = clearance_failover::backoff(
                    attempt - 1,
                    Duration::from_millis(100),
                    Duration::from_secs(2),
                    rand::random::<f64>(),
                );
                tokio::time::sleep(wait).await;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn judge(
    caller: &ModelCaller,
    plan: &RunPlan,
    case: &Case,
    check: &clearance_validate::Check,
    answer: &str,
) -> Verdict {
    let clearance_validate::Check::Rubric { rubric, judge } = check else {
        return Verdict::Fail("not a rubric".into());
    };
    let Some(judge) = judge.as_ref().or(plan.suite.judge.as_ref()) else {
        return Verdict::Fail("no judge named".into());
    };
    let question = serde_json::to_string(&case.messages).unwrap_or_default();
    let prompt = judge_prompt(rubric, &question, answer);
    let messages = json!([{ "role": "user", "content": prompt }]);
    let judged = tokio::time::timeout(plan.case_timeout, async {
        let mut attempt = 0;
        loop {
            match caller
                .ask(judge, ClientFormat::Openai, &messages, None)
                .await
            {
                Err(error) if error.retryable() && attempt < plan.retries => attempt += 1,
                other => return other,
            }
        }
    })
    .await;
    match judged {
        Ok(Ok(reply)) => judge_verdict(&reply.text),
        Ok(Err(error)) => Verdict::Fail(format!("the judge `{judge}` gave no verdict: {error}")),
        Err(_) => Verdict::Fail(format!("the judge `{judge}` gave no verdict in time")),
    }
}

fn ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The run's summary and each candidate's standing.
fn conclude(
    caller: &ModelCaller,
    plan: &RunPlan,
    run: &ValidationRun,
    hash: &str,
    resumed: usize,
    mut records: Vec<CaseRecord>,
) -> Finished {
    records.sort_by(|a, b| (&a.model, &a.case_id).cmp(&(&b.model, &b.case_id)));
    let summary_of = |model: &str| {
        let mine: Vec<&CaseRecord> = records.iter().filter(|r| r.model == model).collect();
        let price = caller.models.get(model).and_then(|e| e.model.price);
        let cost = price.map(|p| move |i, o| p.cost(i, o));
        ModelSummary::of(
            model,
            &plan.suite,
            &mine,
            cost.as_ref().map(|c| c as &dyn Fn(u64, u64) -> f64),
        )
    };
    let now = Utc::now();
    let mut candidates = Vec::new();
    let mut standings = Vec::new();
    for model in &plan.candidates {
        let summary = summary_of(model);
        let reason = summary.shortfall(plan.bar);
        standings.push(FallbackValidation {
            primary_model: plan.primary.clone(),
            fallback_model: model.clone(),
            validated: reason.is_none(),
            score: summary.score,
            bar: plan.bar,
            suite_name: plan.suite.name.clone(),
            suite_hash: hash.to_string(),
            run_id: run.run_id.clone(),
            at: now,
            reason: reason.clone(),
        });
        candidates.push(Candidate {
            summary,
            validated: reason.is_none(),
            reason,
        });
    }
    Finished {
        summary: RunSummary {
            run_id: run.run_id.clone(),
            suite: plan.suite.name.clone(),
            suite_hash: hash.to_string(),
            bar: plan.bar,
            resumed_cases: resumed,
            primary: summary_of(&plan.primary),
            candidates,
        },
        records,
        standings,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(key: &str) -> ModelEntry {
        let config = clearance_config::Config::parse(
            "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1\"\napi_key_env = \"K\"\n\
             [[models]]\nname = \"m\"\nprovider = \"p\"\n",
            std::path::Path::new("c.toml"),
            &|_| Some(key.to_string()),
        )
        .unwrap();
        model_table(&config).remove("m").unwrap()
    }

    #[test]
    fn a_provider_error_stored_with_a_case_holds_no_credential() {
        let own = "self-hosted-key-of-any-shape";
        let body = format!(
            r#"{{"error":{{"message":"bad key {own}; also sk-proj-abcdefghijklmnopqrstuvwxyz012345"}}}}"#
        );
        let message = provider_message(&entry(own), body.as_bytes());
        assert!(!message.contains(own), "{message}");
        assert!(
            !message.contains("sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
            "{message}"
        );
        assert!(message.contains("bad key"), "{message}");
    }

    #[test]
    fn a_case_is_sent_as_its_client_format_writes_it() {
        let messages = json!([{ "role": "user", "content": "hi" }]);
        let (surface, body) = client_body("m", ClientFormat::Anthropic, &messages, None).unwrap();
        assert_eq!(surface, ApiSurface::AnthropicMessages);
        assert_eq!(body["max_tokens"], DEFAULT_CASE_MAX_TOKENS);
        let contents = json!([{ "role": "user", "parts": [{ "text": "hi" }] }]);
        let (surface, body) = client_body("m", ClientFormat::Gemini, &contents, None).unwrap();
        assert_eq!(surface, ApiSurface::OpenaiChat);
        assert_eq!(body["messages"][0]["content"], "hi", "{body}");
        let bad = client_body("m", ClientFormat::Gemini, &json!("not a list"), None);
        assert!(bad.is_err());
    }
}

//! Scheduled re-validation (`[validation] every`): `serve` re-runs the suite of each stored run
//! once it is older than `every`, on the same primary and candidates, and reports a fallback
//! that drops below its bar (a warning in the log, `clearance_validation_runs{outcome="dropped"}`,
//! and its standing, which every replica's status shows once the run is stored).
//!
//! The suite comes from the store (a run stores its exact text), so a re-run needs no file.
//! Replicas sharing a store may each start the same re-run; one that finds an unfinished run
//! of the same suite and models started recently leaves it to the replica running it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use clearance_config::Config;
use clearance_store::{Store, ValidationRun};

use crate::metrics::{Metrics, ValidationRunLabels};
use crate::validate::{ModelCaller, RunPlan};

/// How often stored runs are looked at; a re-run is due at most this late.
const CHECK_EVERY: Duration = Duration::from_secs(60);

pub fn spawn(
    config: Arc<Config>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    every: Duration,
) -> Result<tokio::task::JoinHandle<()>, clearance_upstream::UpstreamError> {
    let caller = ModelCaller::new(&config)?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY.min(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = match due_runs(store.as_ref(), every).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "scheduled validation: cannot read stored runs");
                    continue;
                }
            };
            for run in due {
                let outcome = rerun(&config, store.as_ref(), &caller, &run).await;
                metrics
                    .validation_runs
                    .get_or_create(&ValidationRunLabels {
                        outcome: outcome.to_string(),
                    })
                    .inc();
            }
        }
    }))
}

/// The latest finished run of each (primary, candidates) whose finish is older than `every`.
async fn due_runs(
    store: &dyn Store,
    every: Duration,
) -> Result<Vec<ValidationRun>, clearance_store::StoreError> {
    let mut latest: BTreeMap<(String, Vec<String>), ValidationRun> = BTreeMap::new();
    // Newest first: the first seen of each pair is its latest.
    for run in store.finished_validation_runs().await? {
        latest
            .entry((run.primary_model.clone(), run.candidates.clone()))
            .or_insert(run);
    }
    let now = Utc::now();
    Ok(latest
        .into_values()
        .filter(|run| {
            run.finished_at.is_some_and(|at| {
                now.signed_duration_since(at)
                    .to_std()
                    .is_ok_and(|age| age >= every)
            })
        })
        .collect())
}

/// Runs `previous`'s suite again; returns the outcome for the metric.
async fn rerun(
    config: &Config,
    store: &dyn Store,
    caller: &ModelCaller,
    previous: &ValidationRun,
) -> &'static str {
    match store
        .unfinished_validation_run(
            &previous.suite_hash,
            &previous.primary_model,
            &previous.candidates,
        )
        .await
    {
        Ok(Some(running))
            if Utc::now()
                .signed_duration_since(running.started_at)
                .num_hours()
                < 1 =>
        {
            return "ok";
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "scheduled validation: cannot read stored runs");
            return "error";
        }
    }
    let suite = match store.suite(&previous.suite_hash).await {
        Ok(Some(suite)) => suite,
        Ok(None) => {
            tracing::warn!(suite = %previous.suite_hash, "scheduled validation: the run's suite is not stored");
            return "error";
        }
        Err(error) => {
            tracing::warn!(%error, "scheduled validation: cannot read the suite");
            return "error";
        }
    };
    let parsed = match clearance_validate::parse(Path::new(&suite.file_name), &suite.text) {
        Ok(parsed) => parsed,
        Err(errors) => {
            tracing::warn!(%errors, "scheduled validation: the stored suite no longer parses");
            return "error";
        }
    };
    let before = store.fallback_validations().await.unwrap_or_default();
    let plan = RunPlan {
        suite: parsed,
        suite_file: suite.file_name,
        suite_text: suite.text,
        primary: previous.primary_model.clone(),
        candidates: previous.candidates.clone(),
        bar: previous.bar,
        concurrency: config.validation.concurrency,
        case_timeout: config.validation.case_timeout,
        retries: config.validation.retries,
        actor: "serve".into(),
        fresh: false,
    };
    let finished = match crate::validate::run(store, caller, &plan, &|_| {}).await {
        Ok(finished) => finished,
        Err(error) => {
            tracing::warn!(%error, primary = %plan.primary, "scheduled validation failed");
            return "error";
        }
    };
    let mut dropped = false;
    for standing in &finished.standings {
        let was_validated = before.iter().any(|b| {
            b.primary_model == standing.primary_model
                && b.fallback_model == standing.fallback_model
                && b.validated
        });
        if was_validated && !standing.validated {
            dropped = true;
            tracing::warn!(
                primary = %standing.primary_model,
                fallback = %standing.fallback_model,
                score = standing.score,
                bar = standing.bar,
                reason = standing.reason.as_deref().unwrap_or(""),
                "a validated fallback dropped below its bar"
            );
        } else {
            tracing::info!(
                primary = %standing.primary_model,
                fallback = %standing.fallback_model,
                score = standing.score,
                validated = standing.validated,
                "scheduled validation"
            );
        }
    }
    if dropped { "dropped" } else { "ok" }
}

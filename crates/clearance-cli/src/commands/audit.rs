//! `clearance audit verify|export`.
//!
//! The trail is many logs, one per writer (each gateway process, each CLI change). `verify`
//! checks each log's chain on its own; `export` merges every log's records in time order.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clearance_core::audit::{AuditRecord, Phase};
use clearance_gateway::admin::trail_json;
use clearance_store::{LoggedRecord, Store, TimeCursor, TrailReport, verify_audit_trail};
use serde_json::{Value, json};

use super::{audit_log, block_on, open_store_at};
use crate::cli::{AuditCommand, ExportFormat, OutputFormat};

/// Records read from the store at a time: export runs in constant memory.
const PAGE: usize = 10_000;

/// Incomplete request ids listed per log in the text report.
const MAX_INCOMPLETE_SHOWN: usize = 20;

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            config,
            format,
            checkpoints,
            key,
        } => block_on(async {
            let (config, store) = open_store_at(&config.config).await?;
            verify(
                store.as_ref(),
                &config,
                format,
                &checkpoints,
                key.as_deref(),
            )
            .await
        })?,
        AuditCommand::Keygen { name, out } => audit_log::audit_keygen(&name, &out),
        AuditCommand::Checkpoint { config } => block_on(async {
            let (config, store) = open_store_at(&config.config).await?;
            audit_log::checkpoint(&config, store.as_ref()).await
        })?,
        AuditCommand::Prove {
            request_id,
            config,
            output,
        } => {
            let bundle = block_on(async {
                let (_, store) = open_store_at(&config.config).await?;
                audit_log::prove(store.as_ref(), &request_id).await
            })??;
            match output {
                Some(path) => std::fs::write(&path, format!("{bundle}\n"))
                    .with_context(|| format!("writing {}", path.display()))?,
                None => outln!("{bundle}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifyBundle {
            file,
            key,
            witness_keys,
            witnesses_required,
        } => audit_log::verify_bundle(&file, &key, &witness_keys, witnesses_required),
        AuditCommand::VerifyLog {
            url,
            key,
            log,
            checkpoints,
            token,
        } => block_on(audit_log::verify_log(
            &url,
            &key,
            log.as_deref(),
            &checkpoints,
            token.as_deref(),
        ))?,
        AuditCommand::Prune {
            config,
            before,
            older_than_days,
        } => {
            let cutoff = audit_log::prune_cutoff(before.as_deref(), older_than_days)?;
            block_on(async {
                let (config, store) = open_store_at(&config.config).await?;
                audit_log::prune(&config, store.as_ref(), cutoff).await
            })?
        }
        AuditCommand::Export {
            config,
            format,
            output,
        } => {
            let sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            block_on(async {
                let (_, store) = open_store_at(&config.config).await?;
                export(store.as_ref(), format, std::io::BufWriter::new(sink)).await
            })?
        }
    }
}

async fn verify(
    store: &dyn Store,
    config: &clearance_config::Config,
    format: OutputFormat,
    saved: &[std::path::PathBuf],
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let report = verify_audit_trail(store)
        .await
        .context("reading the audit trail")?;
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&trail_json(&report))?),
        OutputFormat::Text => out!("{}", trail_text(&report)),
    }
    let signed_ok = audit_log::verify_checkpoints(store, config, &report, saved, key).await?;
    if !signed_ok {
        outln!("audit trail BROKEN: it disagrees with signed checkpoints");
    }
    Ok(if report.ok() && signed_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line per log, the requests each log left without a completion record, and a verdict.
pub(super) fn trail_text(report: &TrailReport) -> String {
    let mut out = String::new();
    for l in &report.logs {
        let closed = if l.closed || l.log.closed_at.is_some() {
            "closed"
        } else {
            "open"
        };
        let verdict = match &l.broken {
            None => "OK".to_string(),
            Some(b) => format!("BROKEN after {} good records: {b}", l.verified.seq),
        };
        out.push_str(&format!(
            "log {}  replica {}  {} records  {closed}  {verdict}\n",
            l.log.log_id, l.log.replica, l.verified.seq
        ));
        if !l.incomplete.is_empty() {
            let shown: Vec<&str> = l
                .incomplete
                .iter()
                .take(MAX_INCOMPLETE_SHOWN)
                .map(String::as_str)
                .collect();
            let more = l.incomplete.len() - shown.len();
            let more = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  {} request{} a decision record but no completion (in flight, or cut off by a crash): {}{more}\n",
                l.incomplete.len(),
                if l.incomplete.len() == 1 { " has" } else { "s have" },
                shown.join(", ")
            ));
        }
    }
    let logs = report.logs.len();
    let broken = report.logs.iter().filter(|l| l.broken.is_some()).count();
    if report.ok() {
        out.push_str(&format!(
            "audit trail OK: {logs} log{}, {} records\n",
            if logs == 1 { "" } else { "s" },
            report.records()
        ));
    } else {
        out.push_str(&format!("audit trail BROKEN: {broken} of {logs} logs\n"));
    }
    out
}

/// Whether each decision record in the trail had its completion record when the trail was
/// checked: a request cut off by a crash is `completed: false`.
struct Completion {
    /// Per log that verified: the records checked, and the decisions without completion.
    checked: HashMap<String, (u64, HashSet<String>)>,
}

impl Completion {
    fn of(report: &TrailReport) -> Completion {
        let checked = report
            .logs
            .iter()
            .filter(|l| l.broken.is_none())
            .map(|l| {
                let incomplete = l.incomplete.iter().cloned().collect();
                (l.log.log_id.clone(), (l.verified.seq, incomplete))
            })
            .collect();
        Completion { checked }
    }

    /// For a decision record: whether its completion is in its log. `None` when not known:
    /// the log does not verify, or the record was written after the check.
    fn completed(&self, logged: &LoggedRecord) -> Option<bool> {
        let (verified, incomplete) = self.checked.get(&logged.log_id)?;
        (logged.record.seq <= *verified).then(|| !incomplete.contains(&logged.record.id))
    }
}

async fn export(
    store: &dyn Store,
    format: ExportFormat,
    mut out: impl Write,
) -> anyhow::Result<ExitCode> {
    // First pass: which requests have a decision record and no completion.
    let report = verify_audit_trail(store)
        .await
        .context("checking the audit trail before the export")?;
    if !report.ok() {
        eprintln!(
            "warning: the audit trail does not verify (`clearance audit verify` names the break); \
             exporting every record anyway"
        );
    }
    let completion = Completion::of(&report);
    drop(report);
    match format {
        ExportFormat::Jsonl => {
            for_each_record(store, |logged| {
                Ok(writeln!(out, "{}", jsonl_line(logged, &completion))?)
            })
            .await?;
        }
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(CSV_HEADER)?;
            for_each_record(store, |logged| {
                Ok(writer.write_record(csv_row(logged, &completion))?)
            })
            .await?;
            writer.flush()?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Calls `visit` on every stored record of every log, in time order, a page at a time.
async fn for_each_record(
    store: &dyn Store,
    mut visit: impl FnMut(&LoggedRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after: Option<TimeCursor> = None;
    loop {
        let page = store
            .audit_page_by_time(after.as_ref(), PAGE)
            .await
            .context("reading the audit trail")?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(TimeCursor {
            time: last.time.clone(),
            log_id: last.log_id.clone(),
            seq: last.record.seq,
        });
        page.iter().try_for_each(&mut visit)?;
    }
}

/// A record's phase as its JSON says (absent: a whole record).
fn phase_of(record: &Value) -> Phase {
    record
        .get("phase")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

/// One exported record: the exact hashed JSON is kept as a string in `record_json`, so anyone
/// can recompute each log's chain from the export alone (its records in `seq` order).
fn jsonl_line(logged: &LoggedRecord, completion: &Completion) -> Value {
    let sealed = &logged.record;
    let record: Value = serde_json::from_str(&sealed.record_json).unwrap_or(Value::Null);
    let phase = phase_of(&record);
    let mut line = json!({
        "log_id": logged.log_id,
        "seq": sealed.seq,
        "id": sealed.id,
        "phase": phase.as_str(),
    });
    if phase == Phase::Decision {
        line["completed"] = json!(completion.completed(logged));
    }
    line["prev_hash"] = json!(sealed.prev_hash.to_hex());
    line["hash"] = json!(sealed.hash.to_hex());
    line["record"] = record;
    line["record_json"] = json!(sealed.record_json);
    line
}

const CSV_HEADER: [&str; 24] = [
    "log_id",
    "seq",
    "id",
    "time",
    "api",
    "key_id",
    "principal_id",
    "requested_model",
    "served_model",
    "decision",
    "phase",
    "completed",
    "directive_ids",
    "shadow_hits",
    "stream",
    "status",
    "upstream_status",
    "duration_us",
    "overhead_us",
    "input_tokens",
    "output_tokens",
    "error_class",
    "prev_hash",
    "hash",
];

fn csv_row(logged: &LoggedRecord, completion: &Completion) -> Vec<String> {
    let sealed = &logged.record;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let Ok(r) = serde_json::from_str::<AuditRecord>(&sealed.record_json) else {
        let mut row = vec![
            logged.log_id.clone(),
            sealed.seq.to_string(),
            sealed.id.clone(),
        ];
        row.resize(CSV_HEADER.len() - 2, String::new());
        row.push(sealed.prev_hash.to_hex());
        row.push(sealed.hash.to_hex());
        return row;
    };
    let completed = match r.phase {
        Phase::Decision => completion
            .completed(logged)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    vec![
        logged.log_id.clone(),
        sealed.seq.to_string(),
        r.id,
        r.time.to_rfc3339(),
        r.api.as_str().to_string(),
        opt(r.key_id),
        opt(r.principal_id),
        opt(r.requested_model),
        opt(r.served_model),
        r.decision.as_str().to_string(),
        r.phase.as_str().to_string(),
        completed,
        r.directive_ids.join(";"),
        r.shadow_hits.join(";"),
        r.stream.to_string(),
        r.status.to_string(),
        num(r.upstream_status.map(u64::from)),
        r.duration_us.to_string(),
        r.overhead_us.to_string(),
        num(r.input_tokens),
        num(r.output_tokens),
        opt(r.error_class),
        sealed.prev_hash.to_hex(),
        sealed.hash.to_hex(),
    ]
}

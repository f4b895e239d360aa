//! `clearance audit verify|export`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clearance_core::audit::{AuditRecord, SealedRecord};
use clearance_store::{Store, verify_audit_chain};
use serde_json::json;

use super::{block_on, open_store};
use crate::cli::{AuditCommand, ExportFormat, OutputFormat};

/// Records read from the store at a time: verification runs in constant memory.
const PAGE: usize = 10_000;

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { config, format } => {
            let store = open_store(&config.config)?;
            block_on(verify(&store, format))?
        }
        AuditCommand::Export {
            config,
            format,
            output,
        } => {
            let store = open_store(&config.config)?;
            let sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            block_on(export(&store, format, std::io::BufWriter::new(sink)))?
        }
    }
}

async fn verify(store: &dyn Store, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let report = verify_audit_chain(store).await?;
    let problem = report.broken.map(|b| b.to_string());
    let head = report.verified;
    report_result(
        format,
        problem.is_none(),
        head.seq,
        &head.hash.to_hex(),
        problem.as_deref(),
    );
    Ok(if problem.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_result(format: OutputFormat, ok: bool, verified: u64, head: &str, problem: Option<&str>) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            json!({ "ok": ok, "verified_records": verified, "head_hash": head, "problem": problem })
        ),
        OutputFormat::Text if ok => println!("audit log OK: {verified} records, chain head {head}"),
        OutputFormat::Text => {
            println!(
                "audit log BROKEN after {verified} good records: {}",
                problem.unwrap_or_default()
            );
        }
    }
}

async fn export(
    store: &dyn Store,
    format: ExportFormat,
    mut out: impl Write,
) -> anyhow::Result<ExitCode> {
    match format {
        ExportFormat::Jsonl => {
            for_each_record(store, |sealed| Ok(writeln!(out, "{}", jsonl_line(sealed))?)).await?;
        }
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(CSV_HEADER)?;
            for_each_record(store, |sealed| Ok(writer.write_record(csv_row(sealed))?)).await?;
            writer.flush()?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Calls `visit` on every stored record in sequence order, a page at a time.
async fn for_each_record(
    store: &dyn Store,
    mut visit: impl FnMut(&SealedRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        page.iter().try_for_each(&mut visit)?;
    }
}

/// One exported record: the exact hashed JSON is kept as a string in `record_json`, so anyone
/// can recompute the chain from the export alone.
fn jsonl_line(sealed: &SealedRecord) -> serde_json::Value {
    let record: serde_json::Value =
        serde_json::from_str(&sealed.record_json).unwrap_or(serde_json::Value::Null);
    json!({
        "seq": sealed.seq,
        "id": sealed.id,
        "prev_hash": sealed.prev_hash.to_hex(),
        "hash": sealed.hash.to_hex(),
        "record": record,
        "record_json": sealed.record_json,
    })
}

const CSV_HEADER: [&str; 21] = [
    "seq",
    "id",
    "time",
    "api",
    "key_id",
    "principal_id",
    "requested_model",
    "served_model",
    "decision",
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

fn csv_row(sealed: &SealedRecord) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let Ok(r) = serde_json::from_str::<AuditRecord>(&sealed.record_json) else {
        let mut row = vec![sealed.seq.to_string(), sealed.id.clone()];
        row.resize(CSV_HEADER.len() - 2, String::new());
        row.push(sealed.prev_hash.to_hex());
        row.push(sealed.hash.to_hex());
        return row;
    };
    vec![
        sealed.seq.to_string(),
        r.id,
        r.time.to_rfc3339(),
        r.api.as_str().to_string(),
        opt(r.key_id),
        opt(r.principal_id),
        opt(r.requested_model),
        opt(r.served_model),
        r.decision.as_str().to_string(),
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

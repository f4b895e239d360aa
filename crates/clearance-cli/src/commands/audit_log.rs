//! `clearance audit keygen|checkpoint|prove|verify-bundle|verify-log|prune`, and the checks of
//! `audit verify` against signed checkpoints: the verifiable log from the command line.
//!
//! `verify-bundle` and `verify-log` need no database: a receipt verifies with the log's key
//! alone, and a whole log verifies from the tiles a gateway serves over HTTP.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clearance_config::{Config, SigningKeySource};
use clearance_store::Store;
use clearance_store::verifiable::{self, check_saved, check_stored_checkpoints, log_of_origin};
use clearance_tlog::checkpoint::Checkpoint;
use clearance_tlog::merkle::{Frontier, Hash, leaf_hash};
use clearance_tlog::note::{Note, Signer, TYPE_COSIGNATURE, TYPE_ED25519, Verifier};
use clearance_tlog::receipt::{Receipt, open_checkpoint};
use clearance_tlog::tiles::{Tile, decode_entry_bundle, tiles_for};
use clearance_upstream::UpstreamClient;

use super::{cli_action, record_change};

/// Writes a new signer key of `kind` to `out` (never over an existing file; mode 0600) and
/// returns its verifier key.
pub fn keygen(name: &str, out: &Path, kind: u8) -> anyhow::Result<String> {
    let signer = Signer::generate(name, kind).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    use std::io::Write;
    writeln!(file, "{}", signer.to_text()).with_context(|| format!("writing {}", out.display()))?;
    Ok(signer.verifier().to_text())
}

pub fn audit_keygen(name: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let verifier = keygen(name, out, TYPE_ED25519)?;
    eprintln!(
        "wrote the signer key to {} (keep it secret; set [audit] signing_key_file to it)",
        out.display()
    );
    eprintln!("verifier key (give it to auditors and witnesses):");
    outln!("{verifier}");
    Ok(ExitCode::SUCCESS)
}

/// The config's signer key, read from its file or variable.
pub fn signer_of(config: &Config) -> anyhow::Result<Option<Signer>> {
    let text = match &config.audit.log.signing_key {
        None => return Ok(None),
        Some(SigningKeySource::File(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("audit.signing_key_file {}", path.display()))?,
        Some(SigningKeySource::Env { name, key }) => {
            let _ = name;
            key.expose().to_string()
        }
    };
    let signer = Signer::parse(&text).map_err(|e| anyhow::anyhow!("the audit signing key: {e}"))?;
    Ok(Some(signer))
}

fn parse_verifier(text: &str, what: &str) -> anyhow::Result<Verifier> {
    Verifier::parse(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

pub async fn checkpoint(config: &Config, store: &dyn Store) -> anyhow::Result<ExitCode> {
    let Some(signer) = signer_of(config)? else {
        bail!("no audit signing key in the config ([audit] signing_key_file or signing_key_env)");
    };
    let note = verifiable::deployment_note(store, &config.audit.log.origin, &signer).await?;
    out!("{note}");
    Ok(ExitCode::SUCCESS)
}

pub async fn prove(store: &dyn Store, request_id: &str) -> anyhow::Result<String> {
    let receipt = verifiable::receipt(store, request_id).await?;
    Ok(serde_json::to_string_pretty(&receipt)?)
}

pub fn verify_bundle(
    file: &Path,
    key: &str,
    witness_keys: &[String],
    witnesses_required: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let receipt: Receipt = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a receipt bundle", file.display()))?;
    let key = parse_verifier(key, "--key")?;
    let witnesses = witness_keys
        .iter()
        .map(|k| parse_verifier(k, "--witness-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if witnesses.iter().any(|w| w.kind != TYPE_COSIGNATURE) {
        bail!(
            "--witness-key: a witness key is a cosigner key (type 0x04, from `clearance witness keygen`)"
        );
    }
    let required = witnesses_required.unwrap_or(witnesses.len());
    let verified = match receipt.verify(&key, &witnesses, required) {
        Ok(verified) => verified,
        Err(error) => {
            outln!("receipt does NOT verify: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for (index, record) in &verified.records {
        let record: serde_json::Value = serde_json::from_str(record).unwrap_or_default();
        if record.get("id").and_then(|v| v.as_str()) != Some(receipt.request_id.as_str()) {
            outln!(
                "receipt does NOT verify: record #{index} is not request {}",
                receipt.request_id
            );
            return Ok(ExitCode::FAILURE);
        }
        outln!(
            "record #{index}: request {}  phase {}  decision {}  status {}",
            receipt.request_id,
            record
                .get("phase")
                .and_then(|v| v.as_str())
                .unwrap_or("whole"),
            record
                .get("decision")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            record
                .get("status")
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
    }
    for (name, time) in &verified.witnesses {
        let when = DateTime::from_timestamp(*time as i64, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        outln!("cosigned by {name} at {when}");
    }
    outln!(
        "receipt OK: {} record{} in log {} under its signed checkpoint of {} records",
        verified.records.len(),
        if verified.records.len() == 1 { "" } else { "s" },
        receipt.log,
        verified.checkpoint.size
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads the saved notes given with `--checkpoint`.
fn read_saved(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// `audit verify`'s checks beyond the store's own: every stored checkpoint against the tree,
/// and every saved note given. Prints each problem; returns whether all held.
pub async fn verify_checkpoints(
    store: &dyn Store,
    config: &Config,
    report: &clearance_store::TrailReport,
    saved: &[std::path::PathBuf],
    key: Option<&str>,
) -> anyhow::Result<bool> {
    let key = match key {
        Some(text) => Some(parse_verifier(text, "--key")?),
        None => signer_of(config)?.map(|s| s.verifier()),
    };
    let Some(key) = key else {
        if !saved.is_empty() {
            bail!(
                "--checkpoint needs the log's verifier key: --key, or a signing key in the config"
            );
        }
        return Ok(true);
    };
    let origin = &config.audit.log.origin;
    let mut ok = true;
    for log in &report.logs {
        if let Some(problem) = check_stored_checkpoints(store, origin, &key, &log.log).await? {
            outln!("log {}: {problem}", log.log.log_id);
            ok = false;
        }
    }
    for (path, text) in read_saved(saved)? {
        let checks = match check_saved(store, origin, &key, &text).await {
            Ok(checks) => checks,
            Err(error) => {
                outln!("{path}: {error}");
                ok = false;
                continue;
            }
        };
        for check in checks {
            match check.problem {
                None => outln!(
                    "{path}: log {} holds the {} records it signed",
                    check.log_id,
                    check.size
                ),
                Some(problem) => {
                    outln!("{path}: log {}: {problem}", check.log_id);
                    ok = false;
                }
            }
        }
    }
    Ok(ok)
}

pub async fn prune(
    config: &Config,
    store: &dyn Store,
    before: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let pruned = store
        .prune_audit_before(before)
        .await
        .context("pruning the audit trail")?;
    record_change(
        store,
        cli_action(
            "audit_prune",
            before.to_rfc3339(),
            Some(serde_json::json!({ "before": before.to_rfc3339(), "records": pruned })),
        ),
    )
    .await?;
    let _ = config;
    outln!(
        "pruned the bodies of {pruned} records before {}; their leaf hashes, checkpoints and proofs stay",
        before.to_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

/// The time a `prune` flag names.
pub fn prune_cutoff(
    before: Option<&str>,
    older_than_days: Option<u32>,
) -> anyhow::Result<DateTime<Utc>> {
    match (before, older_than_days) {
        (Some(text), _) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                anyhow::anyhow!(
                    "--before `{text}`: not an RFC 3339 time ({e}), e.g. 2026-01-01T00:00:00Z"
                )
            }),
        (None, Some(days)) => Ok(Utc::now() - chrono::Duration::days(i64::from(days))),
        (None, None) => bail!("give --before or --older-than-days"),
    }
}

/// One log fetched and checked from its tiles.
struct TiledLog {
    size: u64,
    /// Roots at the sizes saved checkpoints named.
    roots: BTreeMap<u64, Hash>,
    pruned: u64,
}

async fn fetch(client: &UpstreamClient, url: &str, token: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let answer = client.get(url, token).await?;
    if answer.status != 200 {
        bail!(
            "GET {url}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(answer.body.to_vec())
}

/// Fetches the log's level-0 hash tiles and entry bundles up to `size`, checks every entry
/// against its leaf, and rebuilds the tree.
async fn read_tiles(
    client: &UpstreamClient,
    base: &str,
    log: &str,
    size: u64,
    saved_sizes: &[u64],
    token: Option<&str>,
) -> anyhow::Result<TiledLog> {
    let mut frontier = Frontier::new();
    let mut roots = BTreeMap::new();
    let mut pruned = 0;
    let prefix = format!("{base}/audit/log/{log}");
    for tile in tiles_for(size).into_iter().filter(|t| t.level == Some(0)) {
        let hashes = fetch(client, &format!("{prefix}/{}", tile.path()), token).await?;
        let entries_tile = Tile {
            level: None,
            ..tile
        };
        let bundle = fetch(client, &format!("{prefix}/{}", entries_tile.path()), token).await?;
        let entries = decode_entry_bundle(&bundle)
            .ok_or_else(|| anyhow::anyhow!("{}: not an entry bundle", entries_tile.path()))?;
        if hashes.len() as u64 != tile.width * 32 || entries.len() as u64 != tile.width {
            bail!("tile {} has the wrong width", tile.path());
        }
        for (i, (entry, hash)) in entries.iter().zip(hashes.chunks(32)).enumerate() {
            let index = tile.index * 256 + i as u64;
            let leaf = Hash::from_slice(hash).ok_or_else(|| anyhow::anyhow!("bad hash"))?;
            if entry.is_empty() {
                pruned += 1;
            } else if leaf_hash(entry) != leaf {
                bail!(
                    "record #{} (leaf {index}) does not match its leaf hash: edited",
                    index + 1
                );
            }
            frontier.append(leaf);
            if saved_sizes.contains(&frontier.size()) {
                roots.insert(frontier.size(), frontier.root());
            }
        }
    }
    roots.insert(frontier.size(), frontier.root());
    Ok(TiledLog {
        size: frontier.size(),
        roots,
        pruned,
    })
}

pub async fn verify_log(
    url: &str,
    key: &str,
    log: Option<&str>,
    saved: &[std::path::PathBuf],
    token: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let key = parse_verifier(key, "--key")?;
    let base = url.trim_end_matches('/');
    let client = UpstreamClient::new()?;
    // The saved checkpoints, by log: (size, root).
    let mut saved_by_log: BTreeMap<String, Vec<(u64, Hash)>> = BTreeMap::new();
    for (path, text) in read_saved(saved)? {
        let note = Note::parse(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        note.verify(&key)
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        if let Ok(checkpoint) = Checkpoint::parse(&note.body)
            && let Some(id) = log_of_origin(&key.name, &checkpoint.origin)
        {
            saved_by_log
                .entry(id.to_string())
                .or_default()
                .push((checkpoint.size, checkpoint.root));
            continue;
        }
        for (id, size, root) in deployment_heads(&note.body) {
            saved_by_log.entry(id).or_default().push((size, root));
        }
    }
    let logs: Vec<String> = match log {
        Some(log) => vec![log.to_string()],
        None => {
            let text = String::from_utf8(
                fetch(&client, &format!("{base}/audit/checkpoint"), None).await?,
            )?;
            let note =
                Note::parse(&text).map_err(|e| anyhow::anyhow!("the deployment note: {e}"))?;
            note.verify(&key)
                .map_err(|e| anyhow::anyhow!("the deployment note: {e}"))?;
            // Its heads are signed like checkpoints: a log closed since the last checkpoints
            // were signed (a CLI change) is checked against them.
            let heads = deployment_heads(&note.body);
            for (id, size, root) in &heads {
                let known = saved_by_log.entry(id.clone()).or_default();
                if !known.contains(&(*size, *root)) {
                    known.push((*size, *root));
                }
            }
            heads.into_iter().map(|(id, _, _)| id).collect()
        }
    };
    let mut ok = true;
    for id in logs
        .iter()
        .chain(saved_by_log.keys().filter(|k| !logs.contains(k)))
    {
        match verify_one_log(
            &client,
            base,
            &key,
            id,
            saved_by_log.get(id).map_or(&[][..], Vec::as_slice),
            token,
        )
        .await
        {
            Ok(line) => outln!("{line}"),
            Err(error) => {
                outln!("log {id}: FAILED: {error:#}");
                ok = false;
            }
        }
    }
    outln!(
        "{}",
        if ok {
            "verified from tiles: OK"
        } else {
            "verified from tiles: FAILED"
        }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A deployment note's heads: one `<log id> <size> <root>` line per log after the origin and
/// count lines.
fn deployment_heads(body: &str) -> Vec<(String, u64, Hash)> {
    body.lines()
        .skip(2)
        .filter_map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            let [id, size, root] = parts[..] else {
                return None;
            };
            Some((id.to_string(), size.parse().ok()?, Hash::from_base64(root)?))
        })
        .collect()
}

async fn verify_one_log(
    client: &UpstreamClient,
    base: &str,
    key: &Verifier,
    log: &str,
    saved: &[(u64, Hash)],
    token: Option<&str>,
) -> anyhow::Result<String> {
    // Every signed head of the log: its own latest checkpoint, and what saved notes vouched for.
    let mut heads: Vec<(u64, Hash)> = saved.to_vec();
    match fetch(client, &format!("{base}/audit/log/{log}/checkpoint"), None).await {
        Ok(text) => {
            let (checkpoint, _) = open_checkpoint(&String::from_utf8(text)?, key, &[], 0)?;
            if log_of_origin(&key.name, &checkpoint.origin) != Some(log) {
                bail!(
                    "its checkpoint's origin `{}` names another log",
                    checkpoint.origin
                );
            }
            heads.push((checkpoint.size, checkpoint.root));
        }
        // No checkpoint of its own yet (a change closed since checkpoints were signed): the
        // heads a signed note names stand in.
        Err(error) if heads.is_empty() => return Err(error),
        Err(_) => {}
    }
    let size = heads.iter().map(|(s, _)| *s).max().unwrap_or(0);
    let sizes: Vec<u64> = heads.iter().map(|(s, _)| *s).collect();
    let tiled = read_tiles(client, base, log, size, &sizes, token)
        .await
        .with_context(|| {
            format!("the log does not serve the {size} records a signed head vouched for (deleted from the end?)")
        })?;
    for (at, root) in &heads {
        if tiled.roots.get(at) != Some(root) {
            bail!("the log's first {at} records are not the ones its signed head says: rewritten");
        }
    }
    Ok(format!(
        "log {log}: {} records, every one hashing to its leaf, match {} signed head{}{}",
        tiled.size,
        heads.len(),
        if heads.len() == 1 { "" } else { "s" },
        if tiled.pruned > 0 {
            format!(" ({} pruned bodies)", tiled.pruned)
        } else {
            String::new()
        }
    ))
}

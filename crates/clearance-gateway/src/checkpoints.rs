//! Signed checkpoints of this process's log, and the witnesses that cosign them.
//!
//! The checkpointer signs a C2SP checkpoint of the log's durable records every
//! `audit.checkpoint_every_records` records or `audit.checkpoint_every_ms`, whichever comes
//! first, and a last one when the log closes. Its root is read from the tree the store wrote
//! with the records, so it vouches for exactly what is stored. Each checkpoint goes to every
//! configured witness (C2SP tlog-witness `add-checkpoint`, with a consistency proof from the
//! size that witness last cosigned); their cosignatures are verified and stored with it. None
//! of this is on the request path: a slow witness delays nothing but its own cosignature.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clearance_config::VerifiableLogConfig;
use clearance_store::verifiable::{consistency_proof, sign_checkpoint};
use clearance_store::{Store, StoredCheckpoint};
use clearance_tlog::note::{Note, Signer, TYPE_COSIGNATURE, Verifier};
use clearance_upstream::UpstreamClient;

use crate::audit_writer::DurableSize;
use crate::metrics::Metrics;

/// How often closed logs without a checkpoint (the CLI's changes) are looked for and signed.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The deployment's log key and origin, as loaded at start.
pub struct LogSigning {
    pub origin: String,
    pub signer: Signer,
}

impl LogSigning {
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }
}

/// How many witnesses cosigned the latest checkpoint, against how many are required: what
/// `/readyz` reports.
#[derive(Debug, Default)]
pub struct WitnessStatus {
    pub cosigned: AtomicUsize,
    pub required: usize,
    /// Whether any checkpoint was submitted yet.
    pub submitted: std::sync::atomic::AtomicBool,
}

impl WitnessStatus {
    /// A short account when fewer witnesses than required cosigned the latest checkpoint.
    pub fn shortfall(&self) -> Option<String> {
        let cosigned = self.cosigned.load(Ordering::Acquire);
        (self.required > 0 && self.submitted.load(Ordering::Acquire) && cosigned < self.required)
            .then(|| {
                format!(
                    "{cosigned} of {} required witnesses cosigned the latest audit checkpoint",
                    self.required
                )
            })
    }
}

/// One configured witness and the size it last cosigned for this log.
struct Witness {
    add_checkpoint: String,
    key: Verifier,
    last_size: u64,
}

/// What the checkpointer task needs.
pub struct Checkpointer {
    pub store: Arc<dyn Store>,
    pub signing: Arc<LogSigning>,
    pub log_id: String,
    pub durable: Arc<DurableSize>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<WitnessStatus>,
    pub upstream: UpstreamClient,
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
enum WitnessError {
    #[error("{0}")]
    Call(String),
    #[error("answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("its cosignature does not verify with its configured key")]
    BadCosignature,
}

/// Parses the configured witnesses' keys; a key that is not a cosigner key stops the start.
fn witnesses(config: &VerifiableLogConfig) -> Result<Vec<Witness>, String> {
    config
        .witnesses
        .iter()
        .map(|w| {
            let key = Verifier::parse(&w.key)
                .map_err(|e| format!("audit.witnesses: key of {}: {e}", w.url))?;
            if key.kind != TYPE_COSIGNATURE {
                return Err(format!(
                    "audit.witnesses: the key of {} is not a cosigner key (type 0x04)",
                    w.url
                ));
            }
            let base = w.url.as_str().trim_end_matches('/');
            Ok(Witness {
                add_checkpoint: format!("{base}/add-checkpoint"),
                key,
                last_size: 0,
            })
        })
        .collect()
}

impl Checkpointer {
    /// Runs until the log is closed and its last record is under a signed checkpoint.
    pub fn spawn(
        self,
        config: &VerifiableLogConfig,
    ) -> Result<tokio::task::JoinHandle<()>, String> {
        let mut witnesses = witnesses(config)?;
        let every = Duration::from_millis(config.checkpoint_every_ms);
        Ok(tokio::spawn(async move {
            self.sign_closed_logs().await;
            let mut last_sweep = tokio::time::Instant::now();
            let mut signed = self
                .store
                .latest_checkpoint(&self.log_id)
                .await
                .ok()
                .flatten()
                .map_or(0, |c| c.size);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = self.durable.wake.notified() => {}
                }
                let closed = self.durable.closed();
                let size = self.durable.records();
                if size > signed {
                    match self.checkpoint(size, &mut witnesses).await {
                        Ok(()) => signed = size,
                        Err(error) => {
                            tracing::error!(%error, size, "could not sign an audit checkpoint; retrying")
                        }
                    }
                }
                if closed && signed >= self.durable.records() {
                    return;
                }
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    self.sign_closed_logs().await;
                    last_sweep = tokio::time::Instant::now();
                }
            }
        }))
    }

    /// Signs the closed logs no checkpoint covers whole: the CLI's change logs (each a short
    /// log of its own, closed at once), and logs from before checkpoints. Their trees are what
    /// the store holds now, written with their records.
    async fn sign_closed_logs(&self) {
        let Ok(logs) = self.store.closed_logs_beyond_checkpoints().await else {
            return;
        };
        for log in &logs {
            if let Err(error) = sign_checkpoint(
                self.store.as_ref(),
                &self.signing.origin,
                &self.signing.signer,
                &log.log_id,
                log.recorded_head.seq,
            )
            .await
            {
                tracing::warn!(log = %log.log_id, %error, "could not sign a checkpoint of a closed audit log");
            }
        }
    }

    async fn checkpoint(&self, size: u64, witnesses: &mut [Witness]) -> Result<(), String> {
        let signed = sign_checkpoint(
            self.store.as_ref(),
            &self.signing.origin,
            &self.signing.signer,
            &self.log_id,
            size,
        )
        .await
        .map_err(|e| e.to_string())?;
        self.metrics.audit_checkpoints.inc();
        self.metrics.audit_checkpoint_size.set(size as i64);
        if witnesses.is_empty() {
            return Ok(());
        }
        let cosigned = self.collect_cosignatures(signed, witnesses).await?;
        self.status.cosigned.store(cosigned, Ordering::Release);
        self.status.submitted.store(true, Ordering::Release);
        self.metrics
            .audit_checkpoint_cosignatures
            .set(cosigned as i64);
        if let Some(shortfall) = self.status.shortfall() {
            tracing::warn!(size, "{shortfall}");
        }
        Ok(())
    }

    /// Submits the checkpoint to every witness, stores it with the cosignatures that verify,
    /// and returns how many did.
    async fn collect_cosignatures(
        &self,
        mut checkpoint: StoredCheckpoint,
        witnesses: &mut [Witness],
    ) -> Result<usize, String> {
        let mut note = Note::parse(&checkpoint.note).map_err(|e| e.to_string())?;
        let mut cosigned = 0;
        for witness in witnesses.iter_mut() {
            match self.submit(witness, &checkpoint).await {
                Ok(lines) => {
                    if note.add_signature_lines(&lines).is_ok() {
                        cosigned += 1;
                    }
                }
                Err(error) => {
                    self.metrics.audit_witness_failures.inc();
                    tracing::warn!(witness = %witness.add_checkpoint, %error, size = checkpoint.size, "witness did not cosign the audit checkpoint");
                }
            }
        }
        if cosigned > 0 {
            checkpoint.note = note.to_text();
            self.store
                .put_checkpoint(&checkpoint)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(cosigned)
    }

    /// One `add-checkpoint` exchange; a witness that knows another size for this log says so
    /// (409 with the size) and is asked again once, from that size.
    async fn submit(
        &self,
        witness: &mut Witness,
        checkpoint: &StoredCheckpoint,
    ) -> Result<String, WitnessError> {
        for _ in 0..2 {
            let proof = consistency_proof(
                self.store.as_ref(),
                &self.log_id,
                witness.last_size.min(checkpoint.size),
                checkpoint.size,
            )
            .await
            .map_err(|e| WitnessError::Call(e.to_string()))?;
            let mut body = format!("old {}\n", witness.last_size);
            for hash in &proof {
                body.push_str(&hash.to_base64());
                body.push('\n');
            }
            body.push('\n');
            body.push_str(&checkpoint.note);
            let answer = self
                .upstream
                .post_text(&witness.add_checkpoint, body)
                .await
                .map_err(|e| WitnessError::Call(e.to_string()))?;
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            match answer.status {
                200 => {
                    let mut cosigned =
                        Note::parse(&checkpoint.note).map_err(|_| WitnessError::BadCosignature)?;
                    cosigned
                        .add_signature_lines(&text)
                        .map_err(|_| WitnessError::BadCosignature)?;
                    if cosigned.verified_by(&witness.key).is_empty() {
                        return Err(WitnessError::BadCosignature);
                    }
                    witness.last_size = checkpoint.size;
                    let mine: String = cosigned
                        .signatures
                        .iter()
                        .filter(|s| s.name == witness.key.name && s.id == witness.key.id)
                        .map(|s| s.line.clone())
                        .collect();
                    return Ok(mine);
                }
                409 => match text.trim().parse::<u64>() {
                    Ok(known) if known != witness.last_size && known <= checkpoint.size => {
                        witness.last_size = known;
                    }
                    _ => {
                        return Err(WitnessError::Refused {
                            status: 409,
                            body: text.chars().take(200).collect(),
                        });
                    }
                },
                status => {
                    return Err(WitnessError::Refused {
                        status,
                        body: text.chars().take(200).collect(),
                    });
                }
            }
        }
        Err(WitnessError::Call(
            "the witness's size kept changing".to_string(),
        ))
    }
}

/// Loads the signer key named in the config, if any.
pub async fn load_signing(config: &VerifiableLogConfig) -> Result<Option<LogSigning>, String> {
    let text = match &config.signing_key {
        None => return Ok(None),
        Some(clearance_config::SigningKeySource::File(path)) => tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("audit.signing_key_file {}: {e}", path.display()))?,
        Some(clearance_config::SigningKeySource::Env { key, .. }) => key.expose().to_string(),
    };
    let signer = Signer::parse(&text).map_err(|e| match &config.signing_key {
        Some(clearance_config::SigningKeySource::File(path)) => {
            format!("audit.signing_key_file {}: {e}", path.display())
        }
        _ => format!("audit.signing_key_env: {e}"),
    })?;
    if signer.name != config.origin {
        return Err(format!(
            "the audit signing key is named `{}` but audit.origin is `{}`: make the key with `clearance audit keygen --name {}`",
            signer.name, config.origin, config.origin
        ));
    }
    if signer.kind != clearance_tlog::note::TYPE_ED25519 {
        return Err("the audit signing key is not a note signer key (type 0x01)".to_string());
    }
    Ok(Some(LogSigning {
        origin: config.origin.clone(),
        signer,
    }))
}

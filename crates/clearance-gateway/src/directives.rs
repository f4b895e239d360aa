//! The active directive set. The store is its source of truth: every activation is a new
//! versioned row there (with its files), recorded in the audit log with who activated it and
//! the hash of every file, and every replica on the store swaps it in within a second.
//!
//! The set in force is held in an `ArcSwap` and replaced whole. A request reads one
//! `PolicyBook` and keeps it for its whole decision, so it sees the old set or the new one,
//! never a mix. A set with any problem never replaces a valid one.
//!
//! Sets arrive from:
//! - the store: another replica or the CLI activated a set ([`Directives::refresh`], run by
//!   the gateway's refresh loop when the store's `directives` change version moves);
//! - `[directives] dir`, where one is configured: the folder is compiled at start and polled
//!   (`watch`, every `poll_ms`); a folder whose set differs from the store's active one is
//!   activated in the store, so the folder and the record agree;
//! - the admin API (`PUT /admin/directives/{file}`, `POST /admin/directives/reload`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::Utc;
use clearance_config::Config;
use clearance_core::audit::{AdminAction, AuditRecord};
use clearance_policy::dir::read_dir;
use clearance_policy::{
    Catalog, CatalogModel, DirectiveError, DirectiveErrors, PolicyBook, SourceFile,
};
use clearance_store::{DirectiveFile, DirectiveSet, Store, StoreError};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::audit_writer::AuditSink;

/// The model catalog directives are checked against: every configured model with its tags.
pub fn catalog(config: &Config) -> Catalog {
    Catalog {
        models: config
            .models
            .iter()
            .map(|m| CatalogModel {
                name: m.name.clone(),
                provider: m.provider.clone(),
                tags: m.tags.clone(),
            })
            .collect(),
    }
}

/// Reads and compiles the configured directive directory (an empty set without one).
pub fn load_book(config: &Config) -> Result<PolicyBook, DirectiveErrors> {
    let catalog = catalog(config);
    match config.directives.as_ref().and_then(|d| d.dir.as_ref()) {
        Some(dir) => PolicyBook::compile(&read_dir(dir)?, &catalog),
        None => Ok(PolicyBook::empty(&catalog)),
    }
}

/// `sources` with `drafts` added (replacing files of the same name).
pub fn with_drafts(
    mut sources: Vec<SourceFile>,
    dir: &Path,
    drafts: &[SourceFile],
) -> Vec<SourceFile> {
    for draft in drafts {
        let name = draft.path.file_name();
        sources.retain(|s| s.path.file_name() != name);
        sources.push(SourceFile {
            path: dir.join(name.unwrap_or_default()),
            text: draft.text.clone(),
        });
    }
    sources
}

/// Compiles the directory's files with `drafts` added (replacing files of the same name):
/// what the directory would hold after activating them.
pub fn book_with(
    config: &Config,
    dir: &Path,
    drafts: &[SourceFile],
) -> Result<PolicyBook, DirectiveErrors> {
    let sources = with_drafts(read_dir(dir)?, dir, drafts);
    PolicyBook::compile(&sources, &catalog(config))
}

/// A stored set's files as sources (named by file name only).
pub fn sources_of(set: &DirectiveSet) -> Vec<SourceFile> {
    set.files
        .iter()
        .map(|f| SourceFile {
            path: PathBuf::from(&f.name),
            text: f.content.clone(),
        })
        .collect()
}

/// Sources as a set to store, and the audit record's account of it: each file's SHA-256.
pub fn stored_set(book: &PolicyBook, sources: &[SourceFile], actor: &str) -> DirectiveSet {
    let mut files: Vec<DirectiveFile> = sources
        .iter()
        .map(|s| DirectiveFile {
            name: s
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            content: s.text.clone(),
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    DirectiveSet {
        version: 0,
        policy_version: book.version().to_string(),
        files,
        activated_at: Utc::now(),
        actor: actor.to_string(),
    }
}

/// Directive file texts are copied into the activation's audit record, in file order, while
/// their JSON fits in this many bytes, so the trail alone tells what was enforced; a file past
/// it is named by its SHA-256 only (its text is in the store's directive set). Bounded so the
/// record fits an entry of the verifiable log (`clearance_core::limits::MAX_RECORD_BYTES`).
pub const MAX_RECORDED_DIRECTIVE_BYTES: usize = 40 * 1024;

/// The audit log's account of an activation: version in the store, policy versions before
/// and after, and every file with its SHA-256 and (up to [`MAX_RECORDED_DIRECTIVE_BYTES`]) its
/// text.
pub fn activation_action(set: &DirectiveSet, from: &str, actor: &str) -> AdminAction {
    let mut room = MAX_RECORDED_DIRECTIVE_BYTES;
    let files: Vec<serde_json::Value> = set
        .files
        .iter()
        .map(|f| {
            let sha256 = hex::encode(Sha256::digest(f.content.as_bytes()));
            let json_len = serde_json::to_string(&f.content).map_or(usize::MAX, |t| t.len());
            let text = (json_len <= room).then_some(&f.content);
            if text.is_some() {
                room -= json_len;
            }
            serde_json::json!({ "name": f.name, "sha256": sha256, "text": text })
        })
        .collect();
    AdminAction {
        action: "directives_activate".to_string(),
        target: set.policy_version.clone(),
        reason: None,
        actor: actor.to_string(),
        details: Some(serde_json::json!({
            "store_version": set.version,
            "from": from,
            "files": files,
        })),
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The set is the one already active.
    Unchanged {
        version: String,
    },
    Activated {
        from: String,
        to: String,
    },
}

/// Why a set could not be activated.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("{0}")]
    Invalid(DirectiveErrors),
    /// `require_no_new_access` was asked and the proof did not prove it.
    #[error("{0}")]
    NotProved(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Unrecorded(String),
}

impl From<DirectiveErrors> for ActivateError {
    fn from(errors: DirectiveErrors) -> Self {
        ActivateError::Invalid(errors)
    }
}

/// What an activation through the admin API asks of the proof.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProofRequest {
    /// Refuse the activation unless it is proved that nobody gains access.
    pub require_no_new_access: bool,
}

/// The proof of an activation, or why none was made (no solver, a solver failure).
pub type Proved = Result<clearance_proof::DiffReport, String>;

/// Why a change was refused: the verdict and the first caller who gains.
fn refusal(report: &clearance_proof::DiffReport) -> String {
    let first_gain = report.models.iter().find_map(|m| match &m.gains {
        clearance_proof::Gains::Found { examples } => examples.first().map(|e| {
            format!(
                "; e.g. on {}: {} ({} -> {})",
                m.model, e.described, e.old, e.new
            )
        }),
        _ => None,
    });
    format!("{}{}", report.summary(), first_gain.unwrap_or_default())
}

/// The active set and how to replace it.
pub struct Directives {
    active: ArcSwap<PolicyBook>,
    /// The store's version number of the active set (0: none activated in the store yet).
    store_version: AtomicI64,
    config: Arc<Config>,
    store: Arc<dyn Store>,
    audit: AuditSink,
    /// One activation at a time, so two cannot race to swap in an older set.
    reloading: Mutex<()>,
}

/// The least time an activation waits for its audit record to be durable.
const ACTIVATION_RECORD_WAIT: Duration = Duration::from_secs(30);

/// Who the audit log names for a set taken from the configured folder.
const FOLDER_ACTOR: &str = "directive-folder";

impl Directives {
    /// The set this replica starts with: the configured folder's (activated in the store if
    /// the store's differs), else the store's active set, else an empty set. An invalid
    /// folder, or an invalid stored set, stops the start.
    pub async fn start(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        audit: AuditSink,
    ) -> Result<Arc<Directives>, ActivateError> {
        let directives = Arc::new(Directives {
            active: ArcSwap::from_pointee(PolicyBook::empty(&catalog(&config))),
            store_version: AtomicI64::new(0),
            config,
            store,
            audit,
            reloading: Mutex::new(()),
        });
        directives.refresh().await?;
        if directives.dir().is_some() {
            directives.reload(FOLDER_ACTOR).await?;
        }
        Ok(directives)
    }

    /// The set in force now; hold the `Arc` for the whole decision.
    pub fn current(&self) -> Arc<PolicyBook> {
        self.active.load_full()
    }

    /// The store's version number of the set in force (0 before any activation).
    pub fn store_version(&self) -> i64 {
        self.store_version.load(Ordering::Acquire)
    }

    pub fn dir(&self) -> Option<&PathBuf> {
        self.config.directives.as_ref().and_then(|d| d.dir.as_ref())
    }

    /// Swaps in the store's active set if it is not the one in force. A stored set that does
    /// not compile against this replica's models (a replica with an older config) is refused
    /// and the set in force stays.
    pub async fn refresh(&self) -> Result<bool, ActivateError> {
        let Some(set) = self.store.active_directive_set().await? else {
            return Ok(false);
        };
        if set.version == self.store_version() {
            return Ok(false);
        }
        let _one_at_a_time = self.reloading.lock().await;
        let config = Arc::clone(&self.config);
        let sources = sources_of(&set);
        let book =
            compile_blocking(move || PolicyBook::compile(&sources, &catalog(&config))).await?;
        let from = self.active.load().version().to_string();
        self.store_version.store(set.version, Ordering::Release);
        if book.version() != from {
            tracing::info!(%from, to = book.version(), store_version = set.version, "directive set activated from the store");
            self.active.store(Arc::new(book));
        }
        Ok(true)
    }

    /// Re-reads the configured folder and activates its set if it differs from the active one.
    pub async fn reload(&self, actor: &str) -> Result<Reloaded, ActivateError> {
        // Held from reading the folder to swapping the set in: a folder read before another
        // activation (a `PUT` writing its file) must not be activated after it.
        let _one_at_a_time = self.reloading.lock().await;
        let Some(dir) = self.dir().cloned() else {
            let version = self.active.load().version().to_string();
            return Ok(Reloaded::Unchanged { version });
        };
        let sources = tokio::task::spawn_blocking(move || read_dir(&dir))
            .await
            .map_err(|e| ActivateError::Unrecorded(e.to_string()))??;
        Ok(self.activate(sources, actor, None).await?.0)
    }

    /// Activates the active set with `drafts` added (replacing files of the same name), only
    /// if the whole set stays valid; writes the drafts into the folder too, where there is one.
    pub async fn put(
        &self,
        drafts: Vec<SourceFile>,
        actor: &str,
        proof: ProofRequest,
    ) -> Result<(Reloaded, Option<Proved>), ActivateError> {
        // Held until the files are in the folder, so the folder watcher never reads the
        // folder without them after this set is active (and activates the old set again).
        let _one_at_a_time = self.reloading.lock().await;
        let base = match self.dir().cloned() {
            Some(dir) => {
                let read = dir.clone();
                let sources = tokio::task::spawn_blocking(move || read_dir(&read))
                    .await
                    .map_err(|e| ActivateError::Unrecorded(e.to_string()))??;
                with_drafts(sources, &dir, &drafts)
            }
            None => {
                let stored = self.store.active_directive_set().await?;
                let sources = stored.as_ref().map(sources_of).unwrap_or_default();
                with_drafts(sources, Path::new(""), &drafts)
            }
        };
        let reloaded = self.activate(base, actor, Some(proof)).await?;
        if let Some(dir) = self.dir().cloned() {
            let written = tokio::task::spawn_blocking(move || {
                let drafts: Vec<SourceFile> = drafts
                    .into_iter()
                    .map(|d| SourceFile {
                        path: dir.join(d.path.file_name().unwrap_or_default()),
                        text: d.text,
                    })
                    .collect();
                clearance_policy::dir::write_atomically(&dir, &drafts)
            })
            .await
            .map_err(|e| ActivateError::Unrecorded(e.to_string()))?;
            written.map_err(|e| {
                ActivateError::Invalid(DirectiveErrors(vec![DirectiveError::new(
                    "<folder>",
                    None,
                    format!(
                        "the set is active, but its files could not be written to the folder: {e}"
                    ),
                )]))
            })?;
        }
        Ok(reloaded)
    }

    /// Compiles `sources`; if valid and not the active set, proves the change when asked
    /// (refusing it if `require_no_new_access` is not proved), stores it as the new active
    /// set, records the activation (durably) and swaps it in. The caller holds `reloading`.
    async fn activate(
        &self,
        sources: Vec<SourceFile>,
        actor: &str,
        proof: Option<ProofRequest>,
    ) -> Result<(Reloaded, Option<Proved>), ActivateError> {
        let from = self.active.load().version().to_string();
        if clearance_policy::book::version_of(&sources) == from && self.store_version() > 0 {
            return Ok((Reloaded::Unchanged { version: from }, None));
        }
        let config = Arc::clone(&self.config);
        let compile_from = sources.clone();
        let book =
            compile_blocking(move || PolicyBook::compile(&compile_from, &catalog(&config))).await?;
        let proved = match proof {
            Some(request) => Some(self.prove(&book, request).await?),
            None => None,
        };
        let mut set = stored_set(&book, &sources, actor);
        set.version = self.store.activate_directive_set(&set).await?;
        self.record(activation_action(&set, &from, actor)).await?;
        self.store_version.store(set.version, Ordering::Release);
        let to = book.version().to_string();
        self.active.store(Arc::new(book));
        tracing::info!(%from, %to, store_version = set.version, actor, "directive set activated");
        let reloaded = if to == from {
            Reloaded::Unchanged { version: to }
        } else {
            Reloaded::Activated { from, to }
        };
        Ok((reloaded, proved))
    }

    /// Proves what replacing the active set by `book` does from now on; refuses the change
    /// when `require_no_new_access` is asked and not proved (a missing solver proves nothing).
    async fn prove(
        &self,
        book: &PolicyBook,
        request: ProofRequest,
    ) -> Result<Proved, ActivateError> {
        let program = clearance_proof::prover::solver_program(clearance_config::env_var);
        let window = clearance_proof::Window {
            from: Utc::now(),
            until: None,
        };
        let active = self.active.load_full();
        let proved = clearance_proof::prove_change(&program, &active, book, window)
            .await
            .map_err(|e| e.to_string());
        if request.require_no_new_access {
            match &proved {
                Ok(report) if report.no_new_access() == Some(true) => {}
                Ok(report) => return Err(ActivateError::NotProved(refusal(report))),
                Err(why) => {
                    return Err(ActivateError::NotProved(format!(
                        "the proof could not be made: {why}"
                    )));
                }
            }
        }
        Ok(proved)
    }

    /// Records an activation durably. It is already stored, so it waits for its record longer
    /// than a request would ([`ACTIVATION_RECORD_WAIT`]): an operator (or a starting gateway)
    /// can wait out a slow commit on a loaded machine, where a request would rather get 503.
    async fn record(&self, action: AdminAction) -> Result<(), ActivateError> {
        let unrecorded =
            |e: crate::audit_writer::AuditUnavailable| ActivateError::Unrecorded(e.to_string());
        let mut slot = self.audit.reserve().await.map_err(unrecorded)?;
        let record = AuditRecord::admin(uuid::Uuid::now_v7().to_string(), Utc::now(), action, 200);
        let wait = slot.max_wait().max(ACTIVATION_RECORD_WAIT);
        let durable = slot.submit_durable(record);
        drop(slot);
        durable.wait(wait).await.map(drop).map_err(unrecorded)
    }

    /// Polls the folder every `poll_ms` while `[directives] watch` is on. An invalid set is
    /// logged once per version of the files and never activated.
    pub fn spawn_watch(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let settings = self
            .config
            .directives
            .as_ref()
            .filter(|d| d.watch && d.dir.is_some())?;
        let every = Duration::from_millis(settings.poll_ms);
        let directives = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                tokio::time::sleep(every).await;
                match directives.reload(FOLDER_ACTOR).await {
                    Ok(_) => last_error.clear(),
                    Err(error) => {
                        let text = error.to_string();
                        if text != last_error {
                            tracing::error!(
                                "the directive directory's set cannot be activated; the active set stays in force:\n{text}"
                            );
                            last_error = text;
                        }
                    }
                }
            }
        }))
    }
}

async fn compile_blocking(
    compile: impl FnOnce() -> Result<PolicyBook, DirectiveErrors> + Send + 'static,
) -> Result<PolicyBook, ActivateError> {
    tokio::task::spawn_blocking(compile)
        .await
        .map_err(|e| ActivateError::Unrecorded(format!("compile task failed: {e}")))?
        .map_err(ActivateError::Invalid)
}

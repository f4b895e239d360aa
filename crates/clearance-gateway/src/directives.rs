//! The active directive set: loaded from `[directives] dir`, held in an `ArcSwap`, replaced
//! whole. A request reads one `PolicyBook` and keeps it for its whole decision, so it sees the
//! old set or the new one, never a mix. A set with any problem never replaces a valid one.
//!
//! Changes arrive three ways, all through [`Directives::reload`]: the directory is polled
//! (`[directives] watch`, every `poll_ms`; polling is cheap and works on every file system,
//! including network mounts and container volumes where file events are not delivered),
//! `clearance directives activate` writes files there, and the admin API asks for a reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clearance_config::Config;
use clearance_policy::dir::read_dir;
use clearance_policy::{Catalog, CatalogModel, DirectiveErrors, PolicyBook, SourceFile};
use tokio::sync::Mutex;

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
    match &config.directives {
        Some(d) => PolicyBook::compile(&read_dir(&d.dir)?, &catalog),
        None => Ok(PolicyBook::empty(&catalog)),
    }
}

/// Reads the directory and compiles it, unless its files still have version `active` (then
/// `None`: polling an unchanged folder compiles nothing).
fn compile_if_changed(
    config: &Config,
    active: &str,
) -> Result<Option<PolicyBook>, DirectiveErrors> {
    let Some(settings) = &config.directives else {
        return Ok(None);
    };
    let sources = read_dir(&settings.dir)?;
    if clearance_policy::book::version_of(&sources) == active {
        return Ok(None);
    }
    PolicyBook::compile(&sources, &catalog(config)).map(Some)
}

/// Compiles the directory's files with `drafts` added (replacing files of the same name):
/// what the directory would hold after activating them.
pub fn book_with(
    config: &Config,
    dir: &Path,
    drafts: &[SourceFile],
) -> Result<PolicyBook, DirectiveErrors> {
    let mut sources = read_dir(dir)?;
    for draft in drafts {
        let name = draft.path.file_name();
        sources.retain(|s| s.path.file_name() != name);
        sources.push(SourceFile {
            path: dir.join(name.unwrap_or_default()),
            text: draft.text.clone(),
        });
    }
    PolicyBook::compile(&sources, &catalog(config))
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The files have not changed since the active set was compiled.
    Unchanged {
        version: String,
    },
    Activated {
        from: String,
        to: String,
    },
}

/// The active set and how to replace it.
pub struct Directives {
    active: ArcSwap<PolicyBook>,
    config: Arc<Config>,
    /// One reload at a time, so two reloads cannot race to swap in an older set.
    reloading: Mutex<()>,
}

impl Directives {
    pub fn new(config: Arc<Config>, book: PolicyBook) -> Directives {
        Directives {
            active: ArcSwap::from_pointee(book),
            config,
            reloading: Mutex::new(()),
        }
    }

    /// The set in force now; hold the `Arc` for the whole decision.
    pub fn current(&self) -> Arc<PolicyBook> {
        self.active.load_full()
    }

    pub fn dir(&self) -> Option<&PathBuf> {
        self.config.directives.as_ref().map(|d| &d.dir)
    }

    /// Re-reads the directory; swaps in the new set only if all of it is valid.
    pub async fn reload(&self) -> Result<Reloaded, DirectiveErrors> {
        let _one_at_a_time = self.reloading.lock().await;
        let config = Arc::clone(&self.config);
        let active = self.active.load().version().to_string();
        let compiled = tokio::task::spawn_blocking(move || compile_if_changed(&config, &active))
            .await
            .map_err(|e| {
                DirectiveErrors(vec![clearance_policy::DirectiveError::new(
                    "<reload>",
                    None,
                    format!("reload task failed: {e}"),
                )])
            })??;
        let from = self.active.load().version().to_string();
        let Some(book) = compiled.filter(|book| book.version() != from) else {
            return Ok(Reloaded::Unchanged { version: from });
        };
        let to = book.version().to_string();
        self.active.store(Arc::new(book));
        tracing::info!(%from, %to, "directive set activated");
        Ok(Reloaded::Activated { from, to })
    }

    /// Polls the directory every `poll_ms` while `[directives] watch` is on. An invalid set
    /// is logged once per version of the files and never activated.
    pub fn spawn_watch(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let settings = self.config.directives.as_ref().filter(|d| d.watch)?;
        let every = Duration::from_millis(settings.poll_ms);
        let directives = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                tokio::time::sleep(every).await;
                match directives.reload().await {
                    Ok(_) => last_error.clear(),
                    Err(errors) => {
                        let text = errors.to_string();
                        if text != last_error {
                            tracing::error!(
                                "the directive directory holds an invalid set; the active set stays in force:\n{text}"
                            );
                            last_error = text;
                        }
                    }
                }
            }
        }))
    }
}

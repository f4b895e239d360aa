//! `clearance check-config`: every problem in a config file, with file and line.

use std::path::Path;
use std::process::ExitCode;

use clearance_config::Config;

pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    match Config::load(path) {
        Ok(config) => {
            outln!(
                "{}: OK ({} provider{}, {} model{})",
                path.display(),
                config.providers.len(),
                plural(config.providers.len()),
                config.models.len(),
                plural(config.models.len())
            );
            validation_warnings(&config);
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Routes whose fallbacks are unvalidated, failed or stale, read from the config's store:
/// warnings (the config itself is valid). A store that cannot be opened is said, not failed on.
fn validation_warnings(config: &Config) {
    if config.routes.iter().all(|r| r.fallbacks.is_empty()) {
        return;
    }
    // check-config creates nothing: a store not made yet holds no validation.
    let no_store = matches!(&config.store.backend,
        clearance_config::StoreBackend::Sqlite(path) if !path.exists());
    let standings = super::block_on(async {
        if no_store {
            return Ok(Vec::new());
        }
        let store = super::open_store(config).await?;
        Ok::<_, anyhow::Error>(store.fallback_validations().await?)
    });
    match standings {
        Ok(Ok(rows)) => {
            let validations = clearance_gateway::validations::Validations::from_rows(rows);
            let warnings = clearance_gateway::validations::route_warnings(
                config,
                &validations.snapshot(),
                chrono::Utc::now(),
            );
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
        Ok(Err(error)) | Err(error) => {
            eprintln!("warning: fallback validation not checked: {error:#}");
        }
    }
}

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

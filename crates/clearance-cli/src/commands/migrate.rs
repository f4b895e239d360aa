//! `clearance migrate [--check]`: bring the store's schema up to date, or only say whether it
//! is. Every command that opens a store migrates it too; this is for doing it on purpose (before
//! rolling out a new version to several replicas) and for checking in a deploy script.

use std::process::ExitCode;

use anyhow::Context;
use clearance_config::StoreBackend;
use clearance_store::{PgStore, SqliteStore};

use clearance_gateway::server::pg_config;

use super::{block_on, load_config, store_name};
use crate::cli::MigrateArgs;

pub fn run(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config.config)?;
    let name = store_name(&config);
    let fix = format!(
        "run `clearance migrate --config {}`",
        args.config.config.display()
    );
    match &config.store.backend {
        StoreBackend::Sqlite(path) => {
            if !path.exists() {
                if args.check {
                    outln!(
                        "{name}: no database yet (it is created at the current schema when first opened); {fix}"
                    );
                    return Ok(ExitCode::FAILURE);
                }
                SqliteStore::open(path).with_context(|| format!("creating {name}"))?;
                let (now, _) = SqliteStore::schema_version(path)?;
                outln!("{name}: created, schema at migration {now} (was none)");
                return Ok(ExitCode::SUCCESS);
            }
            let (was, known) = SqliteStore::schema_version(path)
                .with_context(|| format!("reading the schema version of {name}"))?;
            if args.check {
                return Ok(report(&name, was, known, &fix));
            }
            SqliteStore::open(path).with_context(|| format!("migrating {name}"))?;
            let (now, _) = SqliteStore::schema_version(path)?;
            outln!("{}", migrated(&name, was, now));
            Ok(ExitCode::SUCCESS)
        }
        StoreBackend::Postgres(pg) => block_on(async {
            let store = PgStore::connect_without_migrating(pg_config(pg))
                .await
                .with_context(|| format!("connecting to {name}"))?;
            let (was, known) = store
                .schema_version()
                .await
                .with_context(|| format!("reading the schema version of {name}"))?;
            if args.check {
                return Ok(report(&name, was, known, &fix));
            }
            store
                .migrate()
                .await
                .with_context(|| format!("migrating {name}"))?;
            let (now, _) = store.schema_version().await?;
            outln!("{}", migrated(&name, was, now));
            Ok(ExitCode::SUCCESS)
        })?,
    }
}

fn migrated(name: &str, was: usize, now: usize) -> String {
    if was == now {
        format!("{name}: schema at migration {now} (was {was}): already up to date")
    } else {
        format!("{name}: schema at migration {now} (was {was})")
    }
}

/// `--check`: what the schema is at, and whether this build can use it as it is.
fn report(name: &str, applied: usize, known: usize, fix: &str) -> ExitCode {
    if applied == known {
        outln!("{name}: schema at migration {applied} of {known}: up to date");
        ExitCode::SUCCESS
    } else if applied < known {
        outln!("{name}: schema at migration {applied}, this build needs {known}: behind; {fix}");
        ExitCode::FAILURE
    } else {
        outln!(
            "{name}: schema at migration {applied}, newer than this build knows ({known}); upgrade Clearance"
        );
        ExitCode::FAILURE
    }
}

//! `clearance witness serve|keygen`: a transparency log witness (c2sp.org/tlog-witness) over
//! the logs named on the command line, and its cosigner key.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clearance_tlog::note::TYPE_COSIGNATURE;
use clearance_tlog::{Signer, Verifier};
use clearance_witness::{Witness, WitnessState};

use crate::cli::WitnessCommand;

pub fn run(command: WitnessCommand) -> anyhow::Result<ExitCode> {
    match command {
        WitnessCommand::Serve {
            listen,
            name,
            key,
            logs,
            state,
        } => serve(&listen, &name, &key, &logs, &state),
        WitnessCommand::Keygen { name, out } => keygen(&name, &out),
    }
}

/// `ORIGIN=VERIFIERKEY` flags, grouped by origin (origins hold no `=`).
fn parse_logs(flags: &[String]) -> anyhow::Result<BTreeMap<String, Vec<Verifier>>> {
    let mut logs: BTreeMap<String, Vec<Verifier>> = BTreeMap::new();
    for flag in flags {
        let Some((origin, key)) = flag.split_once('=') else {
            bail!("--log {flag}: expected ORIGIN=VERIFIERKEY");
        };
        if origin.is_empty() {
            bail!("--log {flag}: the origin is empty");
        }
        let verifier =
            Verifier::parse(key).with_context(|| format!("--log {flag}: the verifier key"))?;
        logs.entry(origin.to_string()).or_default().push(verifier);
    }
    Ok(logs)
}

fn serve(
    listen: &str,
    name: &str,
    key_path: &Path,
    log_flags: &[String],
    state_path: &Path,
) -> anyhow::Result<ExitCode> {
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("reading the witness key {}", key_path.display()))?;
    let signer = Signer::parse(&key_text)
        .with_context(|| format!("the witness key in {}", key_path.display()))?;
    if signer.name != name {
        bail!(
            "the key in {} is named `{}`, not `{name}`",
            key_path.display(),
            signer.name
        );
    }
    let logs = parse_logs(log_flags)?;
    let state = WitnessState::open(state_path)?;
    let witness = Arc::new(Witness::new(signer, logs, state)?);
    super::serve::init_tracing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        // Scripts and tests wait for the second line; best effort, like `serve`'s.
        {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(
                stdout,
                "witness cosigner key: {}",
                witness.verifier().to_text()
            );
            let _ = writeln!(stdout, "witness listening on {addr}");
            let _ = stdout.flush();
        }
        tracing::info!(%addr, name = witness.name(), "witness started");
        clearance_witness::serve(listener, witness, super::serve::shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

fn keygen(name: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let signer = Signer::generate(name, TYPE_COSIGNATURE).context("the witness name")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(out).with_context(|| {
        format!(
            "creating {} (an existing key is never overwritten)",
            out.display()
        )
    })?;
    file.write_all(format!("{}\n", signer.to_text()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", out.display()))?;
    outln!("{}", signer.verifier().to_text());
    Ok(ExitCode::SUCCESS)
}

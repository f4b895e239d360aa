//! `clearance serve`: run the gateway until SIGTERM or ctrl-c, then drain.

use std::path::Path;
use std::process::ExitCode;

use clearance_config::Config;
use clearance_gateway::Gateway;

pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            eprintln!("clearance serve: refusing to start with an invalid config");
            return Ok(ExitCode::FAILURE);
        }
    };
    // The acceptor, the audit writer and the registry refresh share this one thread; requests
    // are served on the gateway's own worker threads (one per core, or `CLEARANCE_WORKERS`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let gateway = Gateway::bind(config).await?;
        let addr = gateway.local_addr()?;
        // Scripts and tests wait for this line. A gateway whose stdout was closed keeps
        // serving: the line is best effort, unlike a listing's output.
        {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "clearance listening on http://{addr}");
            let _ = stdout.flush();
        }
        tracing::info!(%addr, "gateway started");
        gateway.run(shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLEARANCE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!(
        "shutdown signal received; finishing in-flight requests and draining the audit log"
    );
}

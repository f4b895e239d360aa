//! The `clearance-fake` binary: serves the fake providers on one port for scripts, the demo and
//! the benchmark, driven through the `/_fake/` control endpoints.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clearance_fake::{AwsSigningKey, FakeServer};

/// Fake OpenAI, Anthropic, Gemini, Azure OpenAI and Amazon Bedrock providers speaking the real wire
/// formats.
#[derive(Debug, Parser)]
#[command(name = "clearance-fake", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the line printed says which).
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: String,
    /// Demand this key (OpenAI: `Authorization: Bearer KEY`; Anthropic: `x-api-key: KEY`;
    /// Gemini: `x-goog-api-key: KEY` or `?key=KEY`; Azure OpenAI: `api-key: KEY` or
    /// `Authorization: Bearer KEY`).
    #[arg(long, env = "CLEARANCE_FAKE_REQUIRE_KEY")]
    require_key: Option<String>,
    /// Bedrock: demand AWS Signature Version 4 (service `bedrock`) by this access key id, checked
    /// by signing each request again with --aws-secret-access-key. Without it, any request is
    /// accepted.
    #[arg(
        long,
        env = "CLEARANCE_FAKE_AWS_ACCESS_KEY_ID",
        requires = "aws_secret_access_key"
    )]
    aws_access_key_id: Option<String>,
    /// Bedrock: the secret access key of --aws-access-key-id.
    #[arg(
        long,
        env = "CLEARANCE_FAKE_AWS_SECRET_ACCESS_KEY",
        requires = "aws_access_key_id",
        hide_env_values = true
    )]
    aws_secret_access_key: Option<String>,
    /// Bedrock: the region signatures must be scoped to (default: whichever the request names).
    #[arg(
        long,
        env = "CLEARANCE_FAKE_AWS_REGION",
        requires = "aws_access_key_id"
    )]
    aws_region: Option<String>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Serve a fake OpenID Connect identity provider instead (TEST-ONLY: it signs any claims
    /// with private keys that are public in this repository): discovery, `/jwks.json`, and
    /// `POST /token` with JSON claims answered with a signed RS256 JWT. Its issuer is
    /// `http://LISTEN`.
    Idp {
        /// Address to listen on (port 0 picks a free port; the line printed says which).
        #[arg(long, default_value = "127.0.0.1:9102")]
        listen: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Idp { listen }) = args.mode {
        return serve_idp(&listen).await;
    }
    let server = match FakeServer::start(&args.listen).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("clearance-fake: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    server.require_key(args.require_key);
    if let (Some(access_key_id), Some(secret_access_key)) =
        (args.aws_access_key_id, args.aws_secret_access_key)
    {
        server.require_aws_signature(Some(AwsSigningKey {
            access_key_id,
            secret_access_key,
            region: args.aws_region,
        }));
    }
    // Scripts wait for this exact line before sending traffic.
    println!("clearance-fake listening on {}", server.addr());
    let _ = std::io::stdout().flush();
    wait_for_stop_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn serve_idp(listen: &str) -> ExitCode {
    let idp = match clearance_fake::idp::FakeIdp::start(listen).await {
        Ok(idp) => idp,
        Err(e) => {
            eprintln!("clearance-fake idp: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line before asking for tokens.
    println!(
        "clearance-fake idp listening on {} (issuer {})",
        idp.addr(),
        idp.issuer()
    );
    let _ = std::io::stdout().flush();
    wait_for_stop_signal().await;
    idp.shutdown();
    ExitCode::SUCCESS
}

/// Returns on ctrl-c or SIGTERM.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

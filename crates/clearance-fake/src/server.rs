//! [`FakeServer`]: binds a real TCP port, serves the fake providers on it, and exposes the
//! behavior and recording controls to in-process tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::bedrock::AwsSigningKey;
use crate::behavior::{Behavior, BehaviorSnapshot};
use crate::connection::serve_connection;
use crate::routes::router;
use crate::state::{FakeState, RecordedRequest};

/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A running fake provider serving the OpenAI, Anthropic, Gemini, Azure OpenAI and Bedrock APIs on
/// one port.
///
/// Dropping it stops the server too; [`FakeServer::shutdown`] also waits until it has stopped.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    state: Arc<FakeState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FakeServer {
    /// Binds `addr` (`"127.0.0.1:0"` picks a free port) and starts serving.
    pub async fn start(addr: &str) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(FakeState::default());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router(state.clone()), stopped));
        Ok(FakeServer {
            addr,
            state,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/v1`: OpenAI SDKs take the version path in the base URL.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR`: Anthropic SDKs take the host root.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR`: Google's SDKs take the host root and add `/v1beta/models/...`.
    pub fn gemini_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR`: the Azure OpenAI endpoint (`https://RESOURCE.openai.azure.com` on the real
    /// service); clients add `/openai/deployments/DEPLOYMENT/chat/completions?api-version=...`.
    pub fn azure_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR`: the Bedrock runtime endpoint (`https://bedrock-runtime.REGION.amazonaws.com`
    /// on the real service); clients add `/model/MODEL/converse` and the like.
    pub fn bedrock_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the behavior for one upstream model id, or with `None` the default for all models.
    pub fn set_behavior(&self, model: Option<&str>, behavior: Behavior) {
        self.state.set_behavior(model, behavior);
    }

    /// The behaviors in force.
    pub fn behaviors(&self) -> BehaviorSnapshot {
        self.state.behaviors()
    }

    /// Back to a fresh server: normal behavior for every model, nothing recorded, no models
    /// seen. The required key is configuration and stays.
    pub fn reset(&self) {
        self.state.clear_behaviors();
        self.state.clear_requests();
        self.state.forget_models();
    }

    /// The model calls received so far (the latest 2,000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// With `Some(key)`, requests without that credential are refused in their API's error
    /// shape (OpenAI: `Authorization: Bearer KEY`, else 401; Anthropic: `x-api-key: KEY`, else
    /// 401; Gemini: `x-goog-api-key: KEY` or `?key=KEY`, else 403 when missing and 400 when
    /// wrong, as Google answers; Azure OpenAI: `api-key: KEY` or `Authorization: Bearer KEY`,
    /// else 401). `None` accepts all. Bedrock checks AWS signatures instead:
    /// [`FakeServer::require_aws_signature`].
    pub fn require_key(&self, key: Option<String>) {
        self.state.set_required_key(key);
    }

    /// With `Some(key)`, Bedrock requests must be signed with AWS Signature Version 4 for that
    /// access key, secret and (if given) region, service `bedrock`; the fake signs each again
    /// and refuses a mismatch with 403 `InvalidSignatureException` (an unknown access key:
    /// `UnrecognizedClientException`; none: `MissingAuthenticationTokenException`), as AWS
    /// does. `None` (the default) accepts any request. The other APIs are unaffected.
    pub fn require_aws_signature(&self, key: Option<AwsSigningKey>) {
        self.state.set_aws_key(key);
    }

    /// Stops accepting, cuts open connections, and waits for the server task to end.
    pub async fn shutdown(self) {
        // An error means the loop already ended, which is what we want.
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::debug!("fake server task ended abnormally: {e}");
        }
    }
}

/// Accepts connections until told to stop (or until the [`FakeServer`] is dropped, which drops
/// the sender). Dropping the set of connection tasks aborts the ones still open: a fake has no
/// in-flight work worth draining.
async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    tracing::warn!("clearance-fake: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            },
        }
    }
}

//! Start-up and shutdown: open the store, load the registry, start the audit writer, serve,
//! and on a shutdown signal stop taking requests, finish the ones in flight and drain every
//! accepted audit record before returning.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use clearance_config::Config;
use clearance_store::{SqliteStore, Store, StoreError};
use clearance_upstream::{UpstreamClient, UpstreamError};
use tokio::net::TcpListener;

use crate::audit_writer::spawn_writer;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::router::router;
use crate::state::{AppState, model_table};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(
        "the audit log does not end where the gateway last left it (last record #{last}, recorded head #{recorded}); \
         refusing to continue the chain: run `clearance audit verify` and investigate"
    )]
    AuditLogTampered { last: u64, recorded: u64 },
    #[error("the audit writer stopped unexpectedly: {0}")]
    AuditWriter(String),
}

/// A gateway bound to its port, ready to run.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    writer: tokio::task::JoinHandle<clearance_core::audit::ChainHead>,
    refresher: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Opens the SQLite store named in the config and binds the listen address.
    pub async fn bind(config: Config) -> Result<Gateway, GatewayError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.store.sqlite)?);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| GatewayError::Bind {
                addr: config.server.listen,
                source,
            })?;
        Gateway::with_store(config, store, listener).await
    }

    /// Builds the gateway over a given store and listener (tests pick port 0).
    pub async fn with_store(
        config: Config,
        store: Arc<dyn Store>,
        listener: TcpListener,
    ) -> Result<Gateway, GatewayError> {
        let registry = Arc::new(Registry::load(store.as_ref()).await?);
        let refresher = registry.spawn_refresh(Arc::clone(&store));
        let metrics = Arc::new(Metrics::new());
        let head = continue_audit_chain(store.as_ref()).await?;
        let (audit, writer) = spawn_writer(
            Arc::clone(&store),
            head,
            &config.audit,
            Arc::clone(&metrics),
        );
        let state = AppState {
            models: Arc::new(model_table(&config)),
            config: Arc::new(config),
            registry,
            store,
            upstream: UpstreamClient::new()?,
            audit,
            metrics,
        };
        Ok(Gateway {
            listener,
            state,
            writer,
            refresher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains: in-flight requests finish (an upstream that
    /// stops sending is cut off by the upstream read timeout), and every accepted audit record
    /// is stored before this returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let Gateway {
            listener,
            state,
            writer,
            refresher,
        } = self;
        let app = router(state);
        // Graceful: stop accepting, let in-flight requests (streams included) finish. Their
        // audit places are reserved, so their records reach the writer however they end.
        // Small answers and SSE events go out at once rather than waiting on Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        // The router, and with it every audit sink, is gone once `serve` returns and its
        // connection tasks end; the writer then drains the queue and stops.
        refresher.abort();
        let head = writer
            .await
            .map_err(|e| GatewayError::AuditWriter(e.to_string()))?;
        tracing::info!(last_seq = head.seq, "audit log drained");
        served.map_err(GatewayError::Serve)
    }
}

/// Where the writer continues the chain. Refuses when the log's end and the recorded head
/// disagree: continuing would write over the evidence of records deleted from the end.
async fn continue_audit_chain(
    store: &dyn Store,
) -> Result<clearance_core::audit::ChainHead, GatewayError> {
    let last = store.audit_head().await?;
    let recorded = store.audit_recorded_head().await?;
    if last == recorded {
        Ok(last)
    } else {
        Err(GatewayError::AuditLogTampered {
            last: last.seq,
            recorded: recorded.seq,
        })
    }
}

//! Start-up and shutdown: open the store, load the registry, start the audit writer, serve,
//! and on a shutdown signal stop taking requests, finish the ones in flight and drain every
//! accepted audit record before returning.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use clearance_config::{Config, StoreBackend, StoreConfig};
use clearance_store::{PgConfig, PgStore, SqliteStore, Store, StoreError};
use clearance_upstream::{UpstreamClient, UpstreamError};
use tokio::net::TcpListener;

use clearance_geoip::{GeoIp, TrustedProxies};

use crate::access::Origin;
use crate::audit_writer::start_writer;
use crate::directives::{ActivateError, Directives};
use crate::failover::Failover;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::router::router;
use crate::state::{AppState, model_table};
use crate::switches::ModelSwitches;
use crate::validations::{Validations, route_warnings};
use crate::workers::{Accepted, ConnectionSlot, hand_off_channel, run_worker, worker_count};

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
    #[error("the audit writer stopped unexpectedly: {0}")]
    AuditWriter(String),
    #[error("the directive set cannot be activated, so the gateway does not start:\n{0}")]
    Directives(#[from] ActivateError),
    #[error(transparent)]
    GeoIp(#[from] clearance_geoip::GeoIpError),
    #[error("the audit log's verifiable settings: {0}")]
    VerifiableLog(String),
    #[error(
        "the audit trail does not verify, so the gateway does not start (run `clearance audit verify` for the whole report):\n{0}"
    )]
    TrailBroken(String),
}

/// A gateway bound to its port, ready to run.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    writer: tokio::task::JoinHandle<clearance_core::audit::ChainHead>,
    /// Signs checkpoints of this process's log; ends after the last one, once the log closed.
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    /// Background reloads (registry, kill switches, directive set), aborted at shutdown.
    refreshers: Vec<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Opens the store named in the config (running its migrations) and binds the listen
    /// address.
    pub async fn bind(config: Config) -> Result<Gateway, GatewayError> {
        let store = open_store(&config.store).await?;
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
        let origin = Origin {
            geoip: open_geoip(&config)?,
            trusted: Arc::new(TrustedProxies::new(
                config.server.trusted_proxies.iter().copied(),
            )),
        };
        let metrics = Arc::new(Metrics::new());
        let signing = crate::checkpoints::load_signing(&config.audit.log)
            .await
            .map_err(GatewayError::VerifiableLog)?
            .map(Arc::new);
        if config.audit.log.verify_at_start {
            verify_trail_at_start(store.as_ref(), signing.as_deref()).await?;
        }
        // The log first: every change this replica makes from here on (a directive folder
        // activated at start included) is recorded in it.
        let writer = start_writer(
            Arc::clone(&store),
            &config.store.replica,
            &config.audit,
            Arc::clone(&metrics),
        )
        .await?;
        let audit = writer.sink;
        let witnesses = Arc::new(crate::checkpoints::WitnessStatus {
            required: config.audit.log.witnesses_required,
            ..Default::default()
        });
        let checkpointer = match &signing {
            Some(signing) => Some(
                crate::checkpoints::Checkpointer {
                    store: Arc::clone(&store),
                    signing: Arc::clone(signing),
                    log_id: audit.writer().log_id.clone(),
                    durable: Arc::clone(&writer.durable),
                    metrics: Arc::clone(&metrics),
                    status: Arc::clone(&witnesses),
                    upstream: UpstreamClient::new()?,
                }
                .spawn(&config.audit.log)
                .map_err(GatewayError::VerifiableLog)?,
            ),
            None => None,
        };
        let registry = Arc::new(Registry::load(store.as_ref()).await?);
        let switches = Arc::new(ModelSwitches::load(store.as_ref()).await?);
        switches.publish(&metrics, config.models.iter().map(|m| m.name.clone()));
        for (model, off) in switches.snapshot().iter() {
            tracing::warn!(%model, reason = %off.reason, since = %off.since, "model disabled by an operator");
        }
        let validations = Arc::new(Validations::load(store.as_ref()).await?);
        for warning in route_warnings(&config, &validations.snapshot(), chrono::Utc::now()) {
            tracing::warn!("{warning}");
        }
        validations.publish(&metrics);
        let config = Arc::new(config);
        let directives =
            Directives::start(Arc::clone(&config), Arc::clone(&store), audit.clone()).await?;
        let book = directives.current();
        tracing::info!(
            version = book.version(),
            directives = book.directives().count(),
            store_version = directives.store_version(),
            "directive set active"
        );
        let freshness = Arc::new(crate::refresh::Freshness::new());
        let refresher = crate::refresh::spawn(crate::refresh::Refresh {
            store: Arc::clone(&store),
            registry: Arc::clone(&registry),
            switches: Arc::clone(&switches),
            directives: Arc::clone(&directives),
            metrics: Arc::clone(&metrics),
            models: config.models.iter().map(|m| m.name.clone()).collect(),
            freshness: Arc::clone(&freshness),
            validations: Arc::clone(&validations),
        });
        let oidc = Arc::new(crate::oidc::Oidc::new(&config.identity));
        let mut refreshers = vec![refresher];
        // Fetched in the background: an identity provider that is down at start delays its
        // callers, not the gateway (key callers are served at once).
        refreshers.extend(oidc.spawn_refresh(&UpstreamClient::new()?));
        let watcher = directives.spawn_watch();
        let failover = Arc::new(Failover::new(&config));
        let max_model_name_bytes = config
            .models
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(0)
            .max(clearance_core::limits::MAX_REQUESTED_MODEL_BYTES);
        let state = AppState {
            failover,
            switches,
            models: Arc::new(model_table(&config)),
            config,
            registry,
            store,
            upstream: UpstreamClient::new()?,
            audit,
            metrics,
            directives,
            origin,
            freshness,
            auth_failures: Arc::default(),
            in_flight: Arc::default(),
            max_model_name_bytes,
            log: signing,
            witnesses,
            deployment_note: Arc::default(),
            oidc,
            screening: Arc::default(),
            validations,
        };
        if let Some(every) = state.config.validation.every {
            refreshers.push(crate::revalidate::spawn(
                Arc::clone(&state.config),
                Arc::clone(&state.store),
                Arc::clone(&state.metrics),
                every,
            )?);
        }
        let writer = writer.task;
        Ok(Gateway {
            listener,
            state,
            writer,
            checkpointer,
            refreshers,
            watcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains: in-flight requests get
    /// `server.drain_timeout_ms` to finish, the connections still open after it are closed
    /// (their requests recorded with error class `shutdown`), and every accepted audit record
    /// is stored before this returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let Gateway {
            listener,
            state,
            writer,
            checkpointer,
            refreshers,
            watcher,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut hand_offs = Vec::new();
        let mut threads = Vec::new();
        for index in 0..worker_count() {
            let (tx, handed_off) = hand_off_channel();
            // Each worker has its own upstream client, so pooled upstream connections (and the
            // tasks that drive them) live on the worker's own thread.
            let worker_state = AppState {
                upstream: UpstreamClient::new()?,
                ..state.clone()
            };
            let app = router(worker_state);
            let stop = stop_rx.clone();
            let limits = state.config.server.limits;
            let thread = std::thread::Builder::new()
                .name(format!("clearance-worker-{index}"))
                .spawn(move || run_worker(handed_off, app, limits, stop))
                .map_err(GatewayError::Serve)?;
            hand_offs.push(tx);
            threads.push(thread);
        }
        let probes = state.failover.health.spawn_probes(UpstreamClient::new()?);
        let connections = Connections {
            open: Arc::new(tokio::sync::Semaphore::new(
                state.config.server.limits.max_connections,
            )),
            metrics: Arc::clone(&state.metrics),
        };
        // Only the workers' routers hold audit sinks from here on.
        drop(state);
        accept_until(&listener, &hand_offs, &connections, shutdown).await;
        for probe in probes {
            probe.abort();
        }
        // Graceful: stop accepting, let in-flight requests (streams included) finish within
        // `server.drain_timeout_ms`; the workers close what is still open after it. Their
        // audit places are reserved, so their records reach the writer however they end.
        drop(listener);
        let _ = stop_tx.send(true);
        drop(hand_offs);
        let mut served = Ok(());
        for thread in threads {
            let joined = tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| GatewayError::AuditWriter(e.to_string()))?;
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => served = Err(error),
                Err(_) => served = Err(std::io::Error::other("a worker thread panicked")),
            }
        }
        // Every router, and with it every audit sink, is gone once the workers have finished;
        // the writer then drains the queue and stops.
        for refresher in refreshers {
            refresher.abort();
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        let head = writer
            .await
            .map_err(|e| GatewayError::AuditWriter(e.to_string()))?;
        tracing::info!(last_seq = head.seq, "audit log drained");
        if let Some(checkpointer) = checkpointer {
            // The last checkpoint covers the closing record; a witness that does not answer
            // is given up on after its call's timeout, the checkpoint itself is stored first.
            let _ = checkpointer.await;
            tracing::info!(
                size = head.seq,
                "audit log under its last signed checkpoint"
            );
        }
        served.map_err(GatewayError::Serve)
    }
}

/// Verifies every log before serving: each record's chain and leaf, the stored tree, the query
/// columns, and (with a signing key) every checkpoint the deployment signed against the tree
/// the store holds now. A trail that disagrees with itself or with its own signatures stops
/// the start.
async fn verify_trail_at_start(
    store: &dyn Store,
    signing: Option<&crate::checkpoints::LogSigning>,
) -> Result<(), GatewayError> {
    let started = std::time::Instant::now();
    let report = clearance_store::verify_audit_trail(store).await?;
    let mut problems: Vec<String> = report
        .logs
        .iter()
        .filter_map(|l| {
            l.broken
                .as_ref()
                .map(|b| format!("log {}: {b}", l.log.log_id))
        })
        .collect();
    if let Some(signing) = signing {
        let key = signing.verifier();
        for log in report.logs.iter().filter(|l| l.broken.is_none()) {
            let checked = clearance_store::verifiable::check_stored_checkpoints(
                store,
                &signing.origin,
                &key,
                &log.log,
            )
            .await
            .map_err(|e| GatewayError::TrailBroken(e.to_string()))?;
            if let Some(problem) = checked {
                problems.push(format!("log {}: {problem}", log.log.log_id));
            }
        }
    }
    if !problems.is_empty() {
        return Err(GatewayError::TrailBroken(problems.join("\n")));
    }
    tracing::info!(
        logs = report.logs.len(),
        records = report.records(),
        ms = started.elapsed().as_millis() as u64,
        "audit trail verified"
    );
    Ok(())
}

/// Opens the configured geo-IP database, if any; a configured database that cannot be read
/// stops the start (directives reading `context.country` would silently see no country).
fn open_geoip(config: &Config) -> Result<Option<Arc<GeoIp>>, GatewayError> {
    let Some(geoip) = &config.geoip else {
        return Ok(None);
    };
    let db = GeoIp::open(&geoip.mmdb)?;
    tracing::info!(database = db.database_type(), path = %geoip.mmdb.display(), "geo-IP database loaded");
    Ok(Some(Arc::new(db)))
}

/// Opens the configured store and brings its schema up to date (SQLite: the file; PostgreSQL:
/// a connection pool, with migrations guarded against replicas starting at once).
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &config.backend {
        StoreBackend::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        StoreBackend::Postgres(pg) => Arc::new(PgStore::connect(pg_config(pg)).await?),
    })
}

/// The PostgreSQL backend's settings from the config's.
pub fn pg_config(pg: &clearance_config::PostgresConfig) -> PgConfig {
    PgConfig {
        password: pg.password.as_ref().map(|p| p.expose().to_string()),
        max_connections: pg.max_connections,
        // A request waits at most `audit.max_wait_ms` for its record anyway; a connection
        // that takes longer than this to come is a store that is not there.
        acquire_timeout: std::time::Duration::from_secs(2),
        ..PgConfig::new(pg.url.clone())
    }
}

/// The cap on open client connections (`server.max_connections`).
struct Connections {
    open: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
}

/// Accepts connections and deals them out round robin until `shutdown` resolves. Past
/// `server.max_connections` open, a new connection is accepted and closed at once (rather than
/// left in the kernel's backlog, where a client cannot tell a full gateway from a slow one).
async fn accept_until(
    listener: &TcpListener,
    hand_offs: &[tokio::sync::mpsc::UnboundedSender<Accepted>],
    connections: &Connections,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut next = 0;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted.and_then(|(stream, peer)| Ok((stream.into_std()?, peer))) {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&connections.open).try_acquire_owned() else {
                        connections.metrics.connections_refused.inc();
                        tracing::debug!(%peer, "connection cap reached; closed a new connection");
                        drop(stream);
                        continue;
                    };
                    let slot = ConnectionSlot::new(permit, Arc::clone(&connections.metrics));
                    let _ = hand_offs[next].send(Accepted { stream, peer, slot });
                    next = (next + 1) % hand_offs.len();
                }
                Err(error) => {
                    // Typically too many open files: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
        }
    }
}

//! The roles as library functions, each `run(..., shutdown)`: reachable from tests, wired to clap by
//! `main.rs`.

use std::sync::Arc;

use anyhow::Context as _;
use deadpool_postgres::Pool;
use nsplane_command::{zone::ZoneServices, EventStore, ZoneExecutor, ZoneNames};
use tokio::sync::watch;
use tracing::info;

use crate::config::Connections;

/// Connections a process's roles share.
#[derive(Clone)]
pub struct Shared {
    /// NATS.
    pub client: async_nats::Client,
    /// The event store (streams created if missing).
    pub store: EventStore,
    /// PostgreSQL pool (migrations applied).
    pub pool: Pool,
    /// The resolved settings.
    pub connections: Connections,
}

/// Connects to NATS (refusing servers older than 2.11) and PostgreSQL, creates the streams and applies
/// the migrations.
pub async fn connect(connections: &Connections, client_name: &str) -> anyhow::Result<Shared> {
    let client = nsplane_command::connect(&connections.nats, client_name).await?;
    let store = EventStore::open(client.clone(), connections.store.clone()).await?;
    let pool = nsplane_projection::connect_pool(&connections.pg)?;
    nsplane_projection::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    Ok(Shared {
        client,
        store,
        pool,
        connections: connections.clone(),
    })
}

/// Runs the API on `listener` until shutdown.
pub async fn run_api(
    shared: &Shared,
    config: nsplane_api::ApiConfig,
    zone_cache: usize,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let names = ZoneNames::open(shared.store.clone()).await?;
    let services = ZoneServices {
        directory: Arc::new(names.clone()),
    };
    let executor = Arc::new(ZoneExecutor::new(shared.store.clone(), services, zone_cache));
    let consistency = Arc::new(nsplane_api::Consistency::default());
    let listener_task = tokio::spawn(
        consistency
            .clone()
            .listen(shared.client.clone(), shared.connections.store.prefix.clone()),
    );
    let state = nsplane_api::AppState::new(executor, names, shared.pool.clone(), consistency, config);
    let result = nsplane_api::run(state, listener, shutdown).await;
    listener_task.abort();
    result
}

/// Runs central until shutdown.
pub async fn run_central(shared: &Shared, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let store = &shared.connections.store;
    let config = nsplane_projection::CentralConfig {
        prefix: store.prefix.clone(),
        stream_name: store.stream_name.clone(),
        zone_changes_stream: store.zone_changes_stream(),
        durable_name: format!("{}_central", store.prefix.replace(['.', '-'], "_")),
        batch_max: 256,
    };
    nsplane_projection::central::run(config, shared.client.clone(), shared.pool.clone(), shutdown).await
}

/// A shutdown signal that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                signal.recv().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// Runs mdns on `udp` and `tcp` (bound to the same address) until shutdown.
pub async fn run_mdns(
    shared: &Shared,
    pools: Arc<nsplane_dataplane::Pools>,
    tsig: MdnsTsig,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let source = nsplane_dataplane::ZoneSource::new(shared.pool.clone());
    let mdns = nsplane_dataplane::Mdns::new(source, pools, tsig.keys, tsig.required);
    nsplane_dataplane::mdns::run(mdns, udp, tcp, shutdown).await
}

/// mdns's TSIG settings.
#[derive(Debug, Clone, Default)]
pub struct MdnsTsig {
    /// The keys.
    pub keys: nsplane_dataplane::tsig::Keys,
    /// Refuse unsigned transfers.
    pub required: bool,
}

/// Binds mdns's UDP socket and TCP listener on one address (port 0: the same free port for both).
pub async fn bind_mdns(addr: std::net::SocketAddr) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    for _ in 0..20 {
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("failed to bind mdns to tcp {addr}"))?;
        let bound = tcp.local_addr()?;
        match tokio::net::UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => tracing::debug!(error = %e, "udp port taken; trying another"),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("failed to bind mdns to udp {addr}"))),
        }
    }
    anyhow::bail!("found no port free for both udp and tcp")
}

/// Runs the worker until shutdown.
pub async fn run_worker(
    shared: &Shared,
    pools: Arc<nsplane_dataplane::Pools>,
    config: nsplane_dataplane::WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let names = ZoneNames::open(shared.store.clone()).await?;
    let services = ZoneServices {
        directory: Arc::new(names.clone()),
    };
    let executor = Arc::new(ZoneExecutor::new(shared.store.clone(), services, 1000));
    let worker = Arc::new(nsplane_dataplane::Worker::new(
        config,
        pools,
        shared.pool.clone(),
        executor,
        names,
    ));
    worker.run(shared.client.clone(), shutdown).await
}

/// The worker's settings for these connections.
pub fn worker_config(shared: &Shared) -> nsplane_dataplane::WorkerConfig {
    let store = &shared.connections.store;
    nsplane_dataplane::WorkerConfig::for_prefix(&store.prefix, store.zone_changes_stream())
}

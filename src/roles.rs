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
    mut config: nsplane_api::ApiConfig,
    pools: nsplane_dataplane::PoolsHandle,
    zone_cache: usize,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    config.default_pool = default_pool(&pools.current());
    let names = ZoneNames::open(shared.store.clone()).await?;
    let quotas =
        nsplane_command::quotas::QuotaStore::open(shared.store.clone(), shared.connections.quotas.clone()).await?;
    let naming = nsplane_command::naming::Naming::open(&shared.store).await?;
    let services = ZoneServices {
        directory: Arc::new(names.clone()),
        quotas: Arc::new(nsplane_command::quotas::CachedQuotas::new(quotas.clone())),
    };
    let executor = Arc::new(ZoneExecutor::new(shared.store.clone(), services, zone_cache));
    let consistency = Arc::new(nsplane_api::Consistency::default());
    let listener_task = tokio::spawn(
        consistency
            .clone()
            .listen(shared.client.clone(), shared.connections.store.prefix.clone()),
    );
    let state = nsplane_api::AppState::new(
        executor,
        names,
        quotas,
        naming,
        shared.pool.clone(),
        consistency,
        config,
    )?;
    // Follow pool-configuration changes: new zones go to the current default pool.
    let api_pool = state.default_pool_handle();
    let follower = tokio::spawn(async move {
        let mut seen = pools.version();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if pools.version() != seen {
                seen = pools.version();
                *api_pool.write().unwrap_or_else(|p| p.into_inner()) = default_pool(&pools.current());
            }
        }
    });
    let result = nsplane_api::run(state, listener, shutdown).await;
    listener_task.abort();
    follower.abort();
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
    pools: nsplane_dataplane::PoolsHandle,
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
    pools: nsplane_dataplane::PoolsHandle,
    config: nsplane_dataplane::WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let names = ZoneNames::open(shared.store.clone()).await?;
    let quotas =
        nsplane_command::quotas::QuotaStore::open(shared.store.clone(), shared.connections.quotas.clone()).await?;
    // The worker only reports sync results; it never adds records, so quotas do not bind it.
    let services = ZoneServices {
        directory: Arc::new(names.clone()),
        quotas: Arc::new(nsplane_command::zone::ZoneQuotas::UNLIMITED),
    };
    let executor = Arc::new(ZoneExecutor::new(shared.store.clone(), services, 1000));
    let worker = Arc::new(nsplane_dataplane::Worker::new(
        config,
        pools,
        shared.pool.clone(),
        executor,
        names,
        quotas,
    ));
    worker.run(shared.client.clone(), shutdown).await
}

/// The worker's settings for these connections.
pub fn worker_config(shared: &Shared) -> nsplane_dataplane::WorkerConfig {
    let store = &shared.connections.store;
    nsplane_dataplane::WorkerConfig::for_prefix(&store.prefix, store.zone_changes_stream())
}

/// The pools every role uses: the configuration committed to the event stream. A `file` given to a role
/// is validated and committed first (a no-op when unchanged); dev mode commits its own pool when none
/// exists. The returned handle follows later commits (see [`watch_pools`]).
pub async fn pools(
    shared: &Shared,
    file: Option<&std::path::Path>,
    dev_mdns: Option<std::net::SocketAddr>,
) -> anyhow::Result<nsplane_dataplane::PoolsHandle> {
    let store = &shared.store;
    let yaml = match (file, nsplane_command::pools::current(store).await?) {
        (Some(path), _) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?)
        }
        // Dev mode's own pool follows its mdns address (a restart may pick another port).
        (None, Some((_, committed))) => match dev_mdns {
            Some(mdns) if committed.contains(nsplane_dataplane::pools::DEV_POOL_MARK) => {
                Some(nsplane_dataplane::Pools::dev_yaml(mdns))
            }
            _ => None,
        },
        (None, None) => match dev_mdns {
            Some(mdns) => Some(nsplane_dataplane::Pools::dev_yaml(mdns)),
            None => {
                anyhow::bail!("no pools configured yet: run `nsplane pool update --file pools.yaml`, or pass --pools")
            }
        },
    };
    if let Some(yaml) = yaml {
        nsplane_dataplane::Pools::parse(&yaml)?;
        let version = nsplane_command::pools::update(store, &yaml, tool_metadata("config")).await?;
        info!(version, "pool configuration committed");
    }
    let (version, yaml) = nsplane_command::pools::current(store)
        .await?
        .context("the pool configuration vanished")?;
    Ok(nsplane_dataplane::PoolsHandle::new(
        version,
        nsplane_dataplane::Pools::parse(&yaml)?,
    ))
}

/// Metadata of a command issued by a tool or a role rather than a user.
pub fn tool_metadata(source_role: &str) -> nsplane_schema::event::Metadata {
    nsplane_schema::event::Metadata {
        project_id: nsplane_schema::ProjectId("nsplane".into()),
        user_id: format!("nsplane-{source_role}"),
        roles: vec!["admin".into()],
        request_id: nsplane_schema::RequestId::generate(),
        source_role: source_role.to_owned(),
        command: String::new(),
        time: chrono::Utc::now(),
    }
}

/// Follows pool-configuration commits until shutdown (checks every two seconds).
pub fn watch_pools(shared: &Shared, handle: nsplane_dataplane::PoolsHandle, mut shutdown: watch::Receiver<bool>) {
    let store = shared.store.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
            match nsplane_command::pools::current(&store).await {
                Ok(Some((version, yaml))) if version > handle.version() => match nsplane_dataplane::Pools::parse(&yaml)
                {
                    Ok(pools) => {
                        handle.replace(version, pools);
                        info!(version, "pool configuration updated");
                    }
                    Err(e) => tracing::error!(
                        version,
                        error = format!("{e:#}"),
                        "committed pool configuration does not parse"
                    ),
                },
                Ok(_) => {}
                Err(e) => tracing::debug!(error = format!("{e:#}"), "could not read the pool configuration"),
            }
        }
    });
}

/// The API's view of the default pool.
pub fn default_pool(pools: &nsplane_dataplane::Pools) -> nsplane_api::DefaultPool {
    let (id, pool) = pools.default_pool();
    nsplane_api::DefaultPool {
        id,
        ns_records: pool.ns_records(),
    }
}

//! What a process does before its roles run: opening the event store for tools, and committing the pool
//! configuration a role was started with (`--pools`, or dev mode's own pool) so every role of every
//! process uses the same pools.

use anyhow::Context as _;
use nsplane_command::{EventStore, PoolsStore};
use nsplane_schema::pools::{Pools, DEV_POOL_MARK};
use nsplane_schema::Metadata;
use tracing::info;

use crate::config::Connections;

/// Connects to NATS (refusing servers older than 2.11) and opens the event store, creating the streams.
pub async fn open_store(connections: &Connections, client_name: &str) -> anyhow::Result<EventStore> {
    let client = nsplane_runtime::connect(&connections.nats, client_name).await?;
    EventStore::open(client, connections.store.clone()).await
}

/// Commits the pools a process was started with: the validated `file` if given; else, with `dev_mdns`,
/// dev mode's pool served by that mdns (kept following the mdns's address across restarts, and never
/// replacing an operator's configuration). Without either nothing is committed and roles use what is.
pub async fn commit_pools(
    connections: &Connections,
    file: Option<String>,
    dev_mdns: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    if file.is_none() && dev_mdns.is_none() {
        return Ok(());
    }
    let pools = PoolsStore::new(open_store(connections, "nsplane-startup").await?);
    let yaml = match (file, pools.current().await?) {
        (Some(yaml), _) => Some(yaml),
        (None, Some((_, committed))) => match dev_mdns {
            Some(mdns) if committed.contains(DEV_POOL_MARK) => Some(Pools::dev_yaml(mdns)),
            _ => None,
        },
        (None, None) => dev_mdns.map(Pools::dev_yaml),
    };
    if let Some(yaml) = yaml {
        let version = pools
            .update(&yaml, Metadata::service("config"))
            .await
            .context("failed to commit the pool configuration")?;
        info!(version, "pool configuration committed");
    }
    Ok(())
}

/// Starts the process's health checks (NATS and PostgreSQL; central's consumer when `central` runs
/// here, unhealthy after 30 s without progress; the worker's queue when `worker` runs here, measured
/// only) and its metrics recorder, and returns the routes that answer them.
pub async fn ops(
    connections: &Connections,
    roles: &[&str],
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<axum::Router> {
    use nsplane_runtime::ops;
    let metrics = ops::metrics_handle()?;
    let layout = &connections.store.layout;
    let (events, central) = (layout.events_stream(), layout.central_consumer());
    let (changes, worker) = (layout.zone_changes_stream(), layout.worker_consumer());
    let mut consumers: Vec<ops::Watched<'_>> = Vec::new();
    if roles.contains(&"central") {
        consumers.push((&events, &central, Some(std::time::Duration::from_secs(30))));
    }
    if roles.contains(&"worker") {
        consumers.push((&changes, &worker, None));
    }
    let probes = ops::standard_probes(&connections.nats.url, Some(&connections.pg.url), &consumers).await?;
    Ok(ops::router(ops::Health::start(probes, shutdown), metrics))
}

/// The ops listener as a role, when `--ops-listen` asks for one.
pub async fn ops_role(
    listen: Option<std::net::SocketAddr>,
    routes: axum::Router,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<nsplane_runtime::Role>> {
    let Some(addr) = listen else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr} for /healthcheck and /metrics"))?;
    info!(kind = %"ops", addr = %listener.local_addr()?, "listening");
    Ok(Some(nsplane_runtime::Role::new(
        "ops",
        nsplane_runtime::ops::serve(listener, routes, shutdown),
    )))
}

/// The heartbeats of the roles this process runs (`/v2/service_statuses`), as one role that ends
/// when the process stops (each instance then reads STOPPED).
pub async fn heartbeats(
    connections: &Connections,
    services: &[&str],
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<nsplane_runtime::Role> {
    let store = open_store(connections, "nsplane-heartbeat").await?;
    let beats: Vec<_> = services
        .iter()
        .map(|service| nsplane_command::services::heartbeat(store.clone(), (*service).to_owned(), shutdown.clone()))
        .collect();
    Ok(nsplane_runtime::Role::new("heartbeat", async move {
        futures::future::try_join_all(beats).await.map(|_| ())
    }))
}

/// How every single-role process runs once its configuration is checked: health and metrics (on
/// `--ops-listen`), `ready` logged and told to systemd (with its watchdog), the role's tasks from
/// `tasks`, its heartbeat, all supervised until a signal stops them (`drain` to finish).
pub async fn serve_role(
    connections: &Connections,
    service: &str,
    ops_listen: Option<std::net::SocketAddr>,
    drain: std::time::Duration,
    tasks: impl FnOnce(tokio::sync::watch::Receiver<bool>) -> Vec<nsplane_runtime::Role>,
) -> anyhow::Result<()> {
    let shutdown = nsplane_runtime::Shutdown::on_signals();
    let routes = ops(connections, &[service], shutdown.receiver()).await?;
    let mut roles: Vec<nsplane_runtime::Role> = ops_role(ops_listen, routes, shutdown.receiver())
        .await?
        .into_iter()
        .collect();
    // The line operators and the simulation wait for, as `nsplane all` and the API log it.
    info!(target: "nsplane", "ready");
    tokio::spawn(nsplane_runtime::systemd::ready_and_watch(shutdown.receiver()));
    roles.extend(tasks(shutdown.receiver()));
    roles.push(heartbeats(connections, &[service], shutdown.receiver()).await?);
    nsplane_runtime::supervise(roles, &shutdown, drain).await
}

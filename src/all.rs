//! `nsplane all`: every role in one process, supervised. With no NATS or PostgreSQL URL it starts its
//! own under `--data-dir` (the zero-config dev mode) and stops them when it stops.

use std::time::Duration;

use nsplane_runtime::{supervise, Role, Shutdown};
use tracing::info;

use crate::config::AllArgs;
use crate::startup;

/// The roles `nsplane all` can run.
const ROLES: [&str; 5] = ["api", "central", "mdns", "worker", "producer"];

/// Runs the roles `args` names until a signal stops them or one fails for good (then the process exits
/// non-zero with its error); roles get `drain` to finish what they have in flight.
pub async fn run(args: AllArgs, drain: Duration) -> anyhow::Result<()> {
    let common = &args.api.common;
    for role in &args.roles {
        anyhow::ensure!(
            ROLES.contains(&role.as_str()),
            "--roles: {role:?} is not a role of nsplane all (api, central, mdns, worker, producer)"
        );
    }
    let runs = |role: &str| args.roles.iter().any(|r| r == role);
    anyhow::ensure!(runs("api"), "--roles must include api");
    let pools = common.check_pools()?;
    let tsig = crate::config::mdns_tsig(args.tsig_keys.as_deref(), args.require_tsig)?;
    // Bind first, so dev mode's pool can name the real mdns address (port 0 allowed).
    let (udp, tcp) = nsplane_dataplane::mdns::bind(args.mdns_listen).await?;
    let mdns_addr = udp.local_addr()?;
    // Zero-config: with no URLs, start our own servers under the data dir.
    let mut dev = None;
    let connections = match (&common.nats_url, &common.database_url) {
        (Some(nats), Some(db)) => common.connections_to(nats.clone(), db.clone())?,
        (None, None) => {
            if common.check_config {
                args.api.api_config()?;
                info!(data_dir = %args.data_dir.display(), "configuration is valid (dev mode would start nats and postgres)");
                return Ok(());
            }
            let servers = nsplane_runtime::devmode::start(&args.data_dir).await?;
            let connections = common.connections_to(servers.nats.url.clone(), servers.database_url.clone())?;
            dev = Some(servers);
            connections
        }
        _ => anyhow::bail!("give both --nats-url and --database-url, or neither (dev mode)"),
    };
    let api_config = args.api.api_role(&connections)?;
    let producer_config = args.producer.producer(&connections)?;
    let notifier = args.producer.notifier(&connections)?;
    if common.check_config {
        info!(?connections, "configuration is valid");
        return Ok(());
    }
    startup::commit_pools(&connections, pools, Some(mdns_addr)).await?;
    let listener = tokio::net::TcpListener::bind(args.api.api_listen).await?;
    info!(kind = %"http", addr = %listener.local_addr()?, "listening");
    let shutdown = Shutdown::on_signals();
    let running: Vec<&str> = ROLES.iter().copied().filter(|role| runs(role)).collect();
    let ops = startup::ops(&connections, &running, shutdown.receiver()).await?;
    let mut roles: Vec<Role> = startup::ops_role(common.ops_listen, ops.clone(), shutdown.receiver())
        .await?
        .into_iter()
        .collect();
    roles.push(Role::new(
        "api",
        nsplane_api::run_with(api_config, listener, shutdown.receiver(), Some(ops)),
    ));
    if runs("central") {
        roles.push(Role::new(
            "central",
            nsplane_projection::central::run(connections.central(), shutdown.receiver()),
        ));
    }
    if runs("mdns") {
        roles.push(Role::new(
            "mdns",
            nsplane_dataplane::mdns::run(connections.mdns(tsig), udp, tcp, shutdown.receiver()),
        ));
    }
    if runs("worker") {
        roles.push(Role::new(
            "worker",
            nsplane_dataplane::worker::run(connections.worker(), shutdown.receiver()),
        ));
    }
    if runs("producer") {
        roles.push(Role::new(
            "producer",
            nsplane_producer::run(producer_config, shutdown.receiver()),
        ));
        if let Some(notifier) = notifier {
            roles.push(Role::new(
                "notifier",
                nsplane_notify::run(notifier, shutdown.receiver()),
            ));
        }
    }
    roles.push(startup::heartbeats(&connections, &running, shutdown.receiver()).await?);
    info!("ready");
    tokio::spawn(nsplane_runtime::systemd::ready_and_watch(shutdown.receiver()));
    let result = supervise(roles, &shutdown, drain).await;
    if let Some(mut servers) = dev {
        servers.nats.stop();
        servers.postgres.stop();
        info!("dev mode stopped its nats-server and postgresql");
    }
    result
}

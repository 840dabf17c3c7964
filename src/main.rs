//! The `nsplane` binary: parses the command line and starts the chosen role or tool.

use clap::Parser as _;
use nsplane::config::{Cli, Command, LogFormat, PoolAction};
use nsplane::roles;
use tracing::info;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Api(args) => {
            let connections = args.common.connections()?;
            args.common.check_pools()?;
            let api_config = args.api_config()?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            let shared = roles::connect(&connections, "nsplane-api").await?;
            let shutdown = roles::shutdown_on_signals();
            let pools = roles::pools(&shared, args.common.pools.as_deref(), None).await?;
            roles::watch_pools(&shared, pools.clone(), shutdown.clone());
            let listener = tokio::net::TcpListener::bind(args.api_listen).await?;
            info!(kind = %"http", addr = %listener.local_addr()?, "listening");
            info!("ready");
            roles::run_api(&shared, api_config, pools, args.zone_cache, listener, shutdown).await
        }
        Command::Central(args) => {
            let connections = args.connections()?;
            if args.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            let shared = roles::connect(&connections, "nsplane-central").await?;
            info!("ready");
            roles::run_central(&shared, roles::shutdown_on_signals()).await
        }
        Command::Mdns(args) => {
            let connections = args.common.connections()?;
            args.common.check_pools()?;
            let tsig = nsplane::config::mdns_tsig(args.tsig_keys.as_deref(), args.require_tsig)?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            let shared = roles::connect(&connections, "nsplane-mdns").await?;
            let shutdown = roles::shutdown_on_signals();
            let pools = roles::pools(&shared, args.common.pools.as_deref(), None).await?;
            roles::watch_pools(&shared, pools.clone(), shutdown.clone());
            let (udp, tcp) = roles::bind_mdns(args.mdns_listen).await?;
            info!("ready");
            roles::run_mdns(&shared, pools, tsig, udp, tcp, shutdown).await
        }
        Command::Worker(args) => {
            let connections = args.connections()?;
            args.check_pools()?;
            if args.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            let shared = roles::connect(&connections, "nsplane-worker").await?;
            let shutdown = roles::shutdown_on_signals();
            let pools = roles::pools(&shared, args.pools.as_deref(), None).await?;
            roles::watch_pools(&shared, pools.clone(), shutdown.clone());
            info!("ready");
            let config = roles::worker_config(&shared);
            roles::run_worker(&shared, pools, config, shutdown).await
        }
        Command::Pool(args) => {
            let connections = args.common.connections()?;
            let shared = roles::connect(&connections, "nsplane-pool").await?;
            match args.action {
                PoolAction::Update { file } => {
                    let yaml = std::fs::read_to_string(&file)?;
                    nsplane_dataplane::Pools::parse(&yaml)?;
                    let version =
                        nsplane_command::pools::update(&shared.store, &yaml, roles::tool_metadata("pool-update"))
                            .await?;
                    info!(version, file = %file.display(), "pool configuration committed; running roles pick it up within seconds");
                }
                PoolAction::Show => match nsplane_command::pools::current(&shared.store).await? {
                    Some((version, yaml)) => {
                        // The configuration is the tool's output.
                        #[allow(clippy::print_stdout)]
                        {
                            println!("# version {version}\n{yaml}");
                        }
                    }
                    None => info!("no pool configuration committed yet"),
                },
            }
            Ok(())
        }
        Command::All(args) => run_all(args).await,
        Command::Bench(args) => nsplane::bench::run(args).await,
        Command::BenchDataplane(args) => nsplane::bench_dataplane::run(args).await,
    }
}

async fn run_all(args: nsplane::config::AllArgs) -> anyhow::Result<()> {
    let common = &args.api.common;
    for role in &args.roles {
        anyhow::ensure!(
            matches!(role.as_str(), "api" | "central" | "mdns" | "worker"),
            "--roles: {role:?} is not a role of nsplane all (api, central, mdns, worker)"
        );
    }
    let runs = |role: &str| args.roles.iter().any(|r| r == role);
    anyhow::ensure!(runs("api"), "--roles must include api");
    common.check_pools()?;
    // Bind first, so dev mode's pool can name the real mdns address (port 0 allowed).
    let (udp, tcp) = roles::bind_mdns(args.mdns_listen).await?;
    let mdns_addr = udp.local_addr()?;
    let api_config = args.api.api_config()?;
    let tsig = nsplane::config::mdns_tsig(args.tsig_keys.as_deref(), args.require_tsig)?;
    // Zero-config: with no URLs, start our own servers under the data dir.
    let mut dev = None;
    let connections = match (&common.nats_url, &common.database_url) {
        (Some(nats), Some(db)) => common.connections_to(nats.clone(), db.clone())?,
        (None, None) => {
            if common.check_config {
                info!(data_dir = %args.data_dir.display(), "configuration is valid (dev mode would start nats and postgres)");
                return Ok(());
            }
            let servers = nsplane::devmode::start(&args.data_dir).await?;
            let connections = common.connections_to(servers.nats.url.clone(), servers.database_url.clone())?;
            dev = Some(servers);
            connections
        }
        _ => anyhow::bail!("give both --nats-url and --database-url, or neither (dev mode)"),
    };
    if common.check_config {
        info!(?connections, "configuration is valid");
        return Ok(());
    }
    let shared = roles::connect(&connections, "nsplane-all").await?;
    let shutdown = roles::shutdown_on_signals();
    let pools = roles::pools(&shared, common.pools.as_deref(), Some(mdns_addr)).await?;
    roles::watch_pools(&shared, pools.clone(), shutdown.clone());
    let listener = tokio::net::TcpListener::bind(args.api.api_listen).await?;
    info!(kind = %"http", addr = %listener.local_addr()?, "listening");
    let mut tasks = Vec::new();
    if runs("central") {
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move { roles::run_central(&shared, shutdown).await }));
    }
    if runs("mdns") {
        let (shared, shutdown, pools) = (shared.clone(), shutdown.clone(), pools.clone());
        tasks.push(tokio::spawn(async move {
            roles::run_mdns(&shared, pools, tsig, udp, tcp, shutdown).await
        }));
    }
    if runs("worker") {
        let (shared, shutdown, pools) = (shared.clone(), shutdown.clone(), pools.clone());
        let config = roles::worker_config(&shared);
        tasks.push(tokio::spawn(async move {
            roles::run_worker(&shared, pools, config, shutdown).await
        }));
    }
    info!("ready");
    let api_result = roles::run_api(&shared, api_config, pools, args.api.zone_cache, listener, shutdown).await;
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await);
    }
    drop(shared);
    if let Some(mut servers) = dev {
        servers.nats.stop();
        servers.postgres.stop();
        info!("dev mode stopped its nats-server and postgresql");
    }
    api_result?;
    for result in results {
        result??;
    }
    Ok(())
}

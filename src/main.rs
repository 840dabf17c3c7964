//! The `nsplane` binary: parses the command line, builds each role's configuration, and runs the chosen
//! role (or every role, supervised) or tool.

use std::time::Duration;

use clap::Parser as _;
use nsplane::config::{ClaimsAction, Cli, Command, EventsAction, LogFormat, PoolAction, ZoneAction};
use nsplane::{all, audit, events, replay, startup, zone};
use nsplane_command::log::LogFilter;
use nsplane_runtime::{supervise, Role, Shutdown};
use tracing::info;

/// How long roles get to finish their work in flight once the process stops.
const DRAIN: Duration = Duration::from_secs(30);

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(nsplane::DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = with_config_file()?;
    init_logging(cli.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_logged(cli))
}

/// The command line, with `--config FILE`'s keys as the variables of their flags (those not set
/// already): read before any thread starts, since it sets the process's environment.
fn with_config_file() -> anyhow::Result<Cli> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let (Some(path), Some(subcommand)) = (&cli.config, matches.subcommand_name()) else {
        return Ok(cli);
    };
    for (variable, value) in nsplane::config_file::settings(path, subcommand, |v| std::env::var_os(v).is_some())? {
        std::env::set_var(variable, value);
    }
    Ok(Cli::parse())
}

async fn run_logged(cli: Cli) -> anyhow::Result<()> {
    match run(cli).await {
        // A tool's reader went away (`nsplane events tail | head`): that ends the output, not in error.
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        result => result,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Api(args) => {
            let connections = args.common.connections()?;
            let pools = args.common.check_pools()?;
            let config = args.api_role(&connections)?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::commit_pools(&connections, pools, None).await?;
            let listener = tokio::net::TcpListener::bind(args.api_listen).await?;
            info!(kind = %"http", addr = %listener.local_addr()?, "listening");
            let shutdown = Shutdown::on_signals();
            let ops = startup::ops(&connections, &["api"], shutdown.receiver()).await?;
            let mut roles: Vec<Role> = startup::ops_role(args.common.ops_listen, ops.clone(), shutdown.receiver())
                .await?
                .into_iter()
                .collect();
            info!("ready");
            tokio::spawn(nsplane_runtime::systemd::ready_and_watch(shutdown.receiver()));
            let api = nsplane_api::run_with(config, listener, shutdown.receiver(), Some(ops));
            roles.push(Role::new("api", api));
            roles.push(startup::heartbeats(&connections, &["api"], shutdown.receiver()).await?);
            supervise(roles, &shutdown, DRAIN).await
        }
        Command::Central(args) => {
            let connections = args.connections()?;
            if args.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::serve_role(&connections, "central", args.ops_listen, DRAIN, |stop| {
                vec![Role::new(
                    "central",
                    nsplane_projection::central::run(connections.central(), stop),
                )]
            })
            .await
        }
        Command::Mdns(args) => {
            let connections = args.common.connections()?;
            let pools = args.common.check_pools()?;
            let tsig = nsplane::config::mdns_tsig(args.tsig_keys.as_deref(), args.require_tsig)?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::commit_pools(&connections, pools, None).await?;
            let (udp, tcp) = nsplane_dataplane::mdns::bind(args.mdns_listen).await?;
            startup::serve_role(&connections, "mdns", args.common.ops_listen, DRAIN, |stop| {
                vec![Role::new(
                    "mdns",
                    nsplane_dataplane::mdns::run(connections.mdns(tsig), udp, tcp, stop),
                )]
            })
            .await
        }
        Command::Worker(args) => {
            let connections = args.connections()?;
            let pools = args.check_pools()?;
            if args.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::commit_pools(&connections, pools, None).await?;
            startup::serve_role(&connections, "worker", args.ops_listen, DRAIN, |stop| {
                vec![Role::new(
                    "worker",
                    nsplane_dataplane::worker::run(connections.worker(), stop),
                )]
            })
            .await
        }
        Command::Producer(args) => {
            let connections = args.common.connections()?;
            let config = args.producer.producer(&connections)?;
            let notifier = args.producer.notifier(&connections)?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::serve_role(&connections, "producer", args.common.ops_listen, DRAIN, |stop| {
                let mut roles = vec![Role::new("producer", nsplane_producer::run(config, stop.clone()))];
                if let Some(notifier) = notifier {
                    roles.push(Role::new("notifier", nsplane_notify::run(notifier, stop)));
                }
                roles
            })
            .await
        }
        Command::Sink(args) => {
            let connections = args.common.connections()?;
            let config = args.sink(&connections)?;
            if args.common.check_config {
                info!(?connections, "configuration is valid");
                return Ok(());
            }
            startup::serve_role(&connections, "sink", args.common.ops_listen, DRAIN, |stop| {
                vec![Role::new("sink", nsplane_sink::run(config, stop))]
            })
            .await
        }
        Command::Pool(args) => {
            let connections = args.common.connections()?;
            let store = startup::open_store(&connections, "nsplane-pool").await?;
            let pools = nsplane_command::PoolsStore::new(store);
            match args.action {
                PoolAction::Update { file } => {
                    let yaml = nsplane::config::read_pools(&file)?;
                    let version = pools
                        .update(&yaml, nsplane_schema::Metadata::service("pool-update"))
                        .await?;
                    info!(version, file = %file.display(), "pool configuration committed; running roles pick it up within seconds");
                }
                PoolAction::Show => match pools.current().await? {
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
        Command::Claims(args) => {
            let connections = args.common.tool_connections(args.data_dir.as_deref())?;
            let store = startup::open_store(&connections, "nsplane-claims").await?;
            let commands =
                nsplane_command::Commands::open(store, connections.quotas.clone(), Default::default(), 1_000, true)
                    .await?;
            match args.action {
                ClaimsAction::Rebuild { json } => {
                    let report = nsplane_command::claims::rebuild(&commands, |step, done, total| {
                        info!(step, done, total, "rebuilding claims");
                    })
                    .await?;
                    print_claims_report(&report, json)?;
                    anyhow::ensure!(
                        report.name_conflicts.is_empty(),
                        "{} live zones share a name with another; delete one of each pair",
                        report.name_conflicts.len()
                    );
                }
            }
            Ok(())
        }
        Command::Events(args) => {
            let connections = args.common.tool_connections(args.data_dir.as_deref())?;
            let store = startup::open_store(&connections, "nsplane-events").await?;
            match args.action {
                EventsAction::Tail {
                    zone,
                    kind,
                    last,
                    from,
                    follow,
                    json,
                } => {
                    let filter = match (zone, kind) {
                        (Some(zone), _) => LogFilter::Aggregate {
                            kind: nsplane_schema::zone::ZONE_AGGREGATE.into(),
                            id: zone.to_string(),
                        },
                        (None, Some(kind)) => LogFilter::Kind(kind),
                        (None, None) => LogFilter::All,
                    };
                    let tail = events::Tail {
                        filter,
                        last,
                        from,
                        follow,
                        json,
                    };
                    events::tail(&store, tail).await
                }
                EventsAction::Show { seq, request_id, json } => {
                    let read = nsplane_projection::ReadModels::new(nsplane_projection::connect_pool(&connections.pg)?);
                    let which = match (seq, request_id) {
                        (Some(seq), _) => events::Show::Seq(seq),
                        (None, Some(id)) => events::Show::Request(id),
                        (None, None) => anyhow::bail!("name a commit: a stream sequence or --request-id"),
                    };
                    events::show(&store, &read, which, json).await
                }
            }
        }
        Command::Audit(args) => {
            let connections = args.common.tool_connections(args.data_dir.as_deref())?;
            let read = nsplane_projection::ReadModels::new(nsplane_projection::connect_pool(&connections.pg)?);
            let format = match (args.json, args.csv) {
                (true, _) => audit::Format::Json,
                (_, true) => audit::Format::Csv,
                _ => audit::Format::Table,
            };
            audit::print(&read, args.query(), args.limit, format).await
        }
        Command::Replay(args) => {
            let connections = args.common.tool_connections(args.data_dir.as_deref())?;
            let config = args.config(&connections);
            let outcome = replay::run(&config, args.fresh, args.verify, args.swap).await?;
            replay::print(&outcome, args.json)?;
            if outcome.verification.as_ref().is_some_and(|v| !v.equal()) {
                std::process::exit(replay::DIFFERENT);
            }
            Ok(())
        }
        Command::Zone(args) => {
            let connections = args.common.tool_connections(args.data_dir.as_deref())?;
            let read = nsplane_projection::ReadModels::new(nsplane_projection::connect_pool(&connections.pg)?);
            use nsplane_projection::read::history::At;
            let (zone, show) = match args.action {
                ZoneAction::History { zone } => (zone, zone::Show::History),
                ZoneAction::At {
                    zone,
                    serial,
                    time,
                    zone_file,
                } => {
                    let at = match (serial, time) {
                        (Some(serial), _) => At::Serial(serial),
                        (None, Some(time)) => At::Time(time),
                        (None, None) => anyhow::bail!("give --serial or --time"),
                    };
                    (zone, zone::Show::At { at, zone_file })
                }
                ZoneAction::Diff { zone, from, to, ixfr } => (zone, zone::Show::Diff { from, to, ixfr }),
                ZoneAction::Revert { zone, serial, dry_run } => {
                    let store = startup::open_store(&connections, "nsplane-zone").await?;
                    let commands = nsplane_command::Commands::open(
                        store,
                        connections.quotas.clone(),
                        Default::default(),
                        16,
                        true,
                    )
                    .await?;
                    return zone::revert(&read, &commands, zone, serial, dry_run, args.json).await;
                }
            };
            zone::print(&read, &zone.to_string(), show, args.json).await
        }
        Command::All(args) => all::run(args, DRAIN).await,
    }
}

/// The rebuild's report: a table, or JSON for scripts.
// The report is the tool's output.
#[allow(clippy::print_stdout)]
fn print_claims_report(report: &nsplane_command::claims::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let rows = [
        ("zones in the stream", report.zones),
        ("deleted", report.deleted),
        ("names present", report.names_present),
        ("names restored", report.names_restored),
        ("name conflicts", report.name_conflicts.len()),
        ("slots present", report.slots_present),
        ("slots restored", report.slots_restored),
        ("slots not needed", report.slots_not_needed),
        ("zones over quota", report.over_quota.len()),
    ];
    for (what, count) in rows {
        println!("{what:<22}{count:>10}");
    }
    for conflict in &report.name_conflicts {
        println!(
            "conflict: {} is held by zone {}, also claimed by zone {}",
            conflict.name, conflict.held_by, conflict.zone_id
        );
    }
    for over in &report.over_quota {
        println!("over quota: zone {} of project {}", over.zone_id, over.project_id.0);
    }
    Ok(())
}

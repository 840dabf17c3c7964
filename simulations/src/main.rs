//! `nsplane-sim`: `list` the scenarios, or `run` some of them on one freshly built cluster and print
//! the report (a table, or JSON with `--json`). Exits non-zero when a scenario's outcome is not the
//! expected one (a fault scenario failed its checks, or a checker self-test was not caught).
//! `bench` and `bench-dataplane` measure an nsplane binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nsplane_sim::{cluster::Cluster, report, scenario};
use tracing::{error, info};

/// Simulations of nsplane: real processes, real faults, checked invariants.
#[derive(Debug, Parser)]
#[command(name = "nsplane-sim")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the scenarios.
    List,
    /// Runs scenarios on one cluster: a name, a comma-separated list, or `all`.
    Run {
        /// The scenario(s).
        scenario: String,
        /// Seed of the fault schedule and the load (default: random, printed).
        #[arg(long, env = "SIM_SEED")]
        seed: Option<u64>,
        /// Seconds of load per scenario.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Record-set operations per second over all zones.
        #[arg(long, default_value_t = 8.0)]
        rate: f64,
        /// Projects.
        #[arg(long, default_value_t = 3)]
        projects: usize,
        /// Zones per project.
        #[arg(long, default_value_t = 2)]
        zones_per_project: usize,
        /// Seconds the secondaries get to converge after each fault and at the end.
        #[arg(long, default_value_t = 30)]
        deadline: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Keep the run's directory (logs, data) even when every scenario went as expected.
        #[arg(long)]
        keep: bool,
        /// Where the run's directory goes (default: a new one under the temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Starts `nsplane all` with its own NATS and PostgreSQL and measures the write path.
    Bench(nsplane_sim::bench::BenchArgs),
    /// Adds a BIND secondary and measures how fast changes are served and turn ACTIVE.
    BenchDataplane(nsplane_sim::bench_dataplane::BenchDataplaneArgs),
    /// Writes record sets, then measures replay (with verification), audit queries and zone history.
    BenchReplay(nsplane_sim::bench_replay::BenchReplayArgs),
    /// Kills (and pauses) producers and measures how fast their shard ranges are taken over; checks
    /// that no stale lease token was ever committed.
    BenchFailover(nsplane_sim::bench_failover::BenchFailoverArgs),
    /// Writes a backlog of events, then measures how fast a notifier turns them into notifications on
    /// NATS (and NATS plus a throwaway RabbitMQ).
    BenchNotify(nsplane_sim::bench_notify::BenchNotifyArgs),
    /// Starts the production topology (three NATS nodes, PostgreSQL, two of every role, HAProxy, BIND
    /// and Knot) and holds it until SIGTERM or Ctrl-C (`scripts/cluster.sh up|down`).
    Cluster(nsplane_sim::hold::HoldArgs),
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => nsplane_sim::bench::run(args).await,
        Command::BenchDataplane(args) => nsplane_sim::bench_dataplane::run(args).await,
        Command::BenchFailover(args) => nsplane_sim::bench_failover::run(args).await,
        Command::BenchNotify(args) => nsplane_sim::bench_notify::run(args).await,
        Command::BenchReplay(args) => nsplane_sim::bench_replay::run(args).await,
        Command::Cluster(args) => nsplane_sim::hold::run(args).await,
        Command::List => {
            let mut out = String::new();
            for s in scenario::scenarios() {
                out.push_str(&format!("{:<24} {}\n", s.name, s.about));
            }
            print(&out);
            Ok(())
        }
        Command::Run {
            scenario: names,
            seed,
            duration,
            rate,
            projects,
            zones_per_project,
            deadline,
            json,
            keep,
            dir,
        } => {
            let scenarios = scenario::select(&names)?;
            let seed = seed.unwrap_or_else(rand::random);
            let settings = scenario::RunSettings {
                seed,
                duration_s: duration,
                ops_per_sec: rate,
                projects,
                zones_per_project,
                deadline: Duration::from_secs(deadline),
            };
            let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("nsplane-sim-{}", uuid::Uuid::new_v4())));
            info!(seed, dir = %dir.display(), "starting the cluster (replay with --seed {seed})");
            let mut cluster = Cluster::start(&dir).await?;
            info!("cluster ready");
            let mut reports = Vec::new();
            for s in &scenarios {
                info!(scenario = s.name, seed, "scenario starts");
                let r = match scenario::run(&mut cluster, s, &settings).await {
                    Ok(r) => r,
                    Err(e) => report::failed(s.name, seed, duration, s.corruption.is_some(), &e),
                };
                if !r.as_expected {
                    error!(scenario = s.name, seed, failures = ?r.check.failures, "scenario not as expected");
                }
                reports.push(r);
            }
            cluster.stop();
            let all_as_expected = reports.iter().all(|r| r.as_expected);
            std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&reports)?)?;
            if json {
                print(&format!("{}\n", serde_json::to_string_pretty(&reports)?));
            } else {
                print(&report::table(&reports));
            }
            if all_as_expected && !keep {
                drop(cluster);
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                info!(dir = %dir.display(), "logs and data kept");
            }
            anyhow::ensure!(all_as_expected, "a scenario did not go as expected (seed {seed})");
            Ok(())
        }
    }
}

/// The report is the tool's output.
#[allow(clippy::print_stdout)]
fn print(text: &str) {
    print!("{text}");
}

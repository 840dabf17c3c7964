//! `nsplane-sim bench-failover`: how fast the producers' shard ranges move to a survivor when one
//! producer is killed (`kill -9`), and what a producer paused (SIGSTOP) past its leases does when it
//! resumes. Two `nsplane producer` processes share the ranges over `nsplane all` (api, central, worker)
//! whose pool's only name server never answers, so every zone waits in ERROR and the producers keep
//! asking for recoveries: there are always fenced commands in flight. At the end the whole event log
//! is checked: per lease, no commit carries an older token after a newer one (invariant 5).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use nsplane_command::leases::{self, LeaseConfig};
use nsplane_command::{EventStore, StoreConfig};
use nsplane_runtime::devmode::free_port;
use nsplane_schema::layout::Layout;
use nsplane_testkit::Latencies;
use rand::Rng as _;
use serde_json::json;

use crate::bench::Running;
use crate::process::Process;

/// Settings of the failover benchmark.
#[derive(Debug, Args)]
pub struct BenchFailoverArgs {
    /// Producers killed with `kill -9` (one at a time; each is restarted before the next).
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Producers paused with SIGSTOP past their lease TTL, then resumed.
    #[arg(long, default_value_t = 5)]
    pub pauses: usize,
    /// The lease TTL the producers run with (seconds).
    #[arg(long, default_value_t = 3)]
    pub lease_ttl_secs: u64,
    /// Lease ranges.
    #[arg(long, default_value_t = 16)]
    pub lease_ranges: u16,
    /// Zones waiting in ERROR, for the producers to recover.
    #[arg(long, default_value_t = 64)]
    pub zones: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// The nsplane binary to start (default: the one next to this tool, or `NSPLANE_BIN`).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchFailoverArgs) -> anyhow::Result<()> {
    // A name server nobody answers on: every zone ends in ERROR, and stays there.
    let silent = free_port()?;
    let dir = std::env::temp_dir().join(format!("nsplane-failover-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let pools = dir.join("pools.yaml");
    std::fs::write(
        &pools,
        format!(
            "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {silent}\n"
        ),
    )?;
    let extra = vec!["--pools".to_owned(), pools.display().to_string()];
    let running = Running::start_with(args.binary.as_ref(), "api,central,worker", 0, &extra, "warn").await?;
    for i in 0..args.zones {
        crate::bench::create_zone(&running.http, &running.base, &format!("failover-{i}.example.org.")).await?;
    }
    let config = LeaseConfig {
        ranges: args.lease_ranges,
        ttl: Duration::from_secs(args.lease_ttl_secs),
        renew_every: (Duration::from_secs(args.lease_ttl_secs) / 6).max(Duration::from_millis(100)),
    };
    config.validate()?;
    let nats = nsplane_runtime::NatsConfig {
        url: running.nats_url.clone(),
    };
    let client = nsplane_runtime::connect(&nats, "nsplane-sim-failover").await?;
    let store = EventStore::open(client, StoreConfig::new(Layout::new("nsplane")?)).await?;

    let mut producers = Vec::new();
    let mut ops_ports = Vec::new();
    for i in 0..2 {
        let ops = free_port()?;
        ops_ports.push(ops);
        let mut process = Process::new(
            &format!("producer-{i}"),
            &running.binary,
            vec![
                "producer".into(),
                "--nats-url".into(),
                running.nats_url.clone(),
                "--database-url".into(),
                running.database_url.clone(),
                "--lease-ranges".into(),
                args.lease_ranges.to_string(),
                "--lease-ttl-secs".into(),
                args.lease_ttl_secs.to_string(),
                "--recover-after-secs".into(),
                "1".into(),
                "--ops-listen".into(),
                format!("127.0.0.1:{ops}"),
            ],
            vec![("RUST_LOG".into(), "info".into())],
            dir.join(format!("producer-{i}.log")),
        );
        process.start()?;
        producers.push(process);
    }

    let mut takeovers = Latencies::new();
    for kill in 0..args.kills {
        let before = shared(&store, &config, Duration::from_secs(60)).await?;
        let victim = rand::rng().random_range(0..producers.len());
        producers[victim].kill9();
        let killed = Instant::now();
        let survivor = sole_holder(&store, &config, Duration::from_secs(60)).await?;
        let took = killed.elapsed();
        takeovers.record(took);
        anyhow::ensure!(
            before.contains(&survivor),
            "the ranges went to {survivor}, who held none before the kill"
        );
        tracing::info!(kill, took_ms = took.as_millis() as u64, "ranges taken over");
        producers[victim].start()?;
    }

    let mut paused_for = Latencies::new();
    for pause in 0..args.pauses {
        shared(&store, &config, Duration::from_secs(60)).await?;
        let victim = pause % producers.len();
        producers[victim].pause()?;
        let paused = Instant::now();
        // Its leases expire and the other producer takes every range; then two seconds more.
        let survivor = sole_holder(&store, &config, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        producers[victim].resume()?;
        paused_for.record(paused.elapsed());
        survivor?;
    }
    shared(&store, &config, Duration::from_secs(60)).await?;

    let http = reqwest::Client::new();
    let mut fenced = 0.0;
    let mut recoveries = 0.0;
    let mut lost = 0.0;
    for port in &ops_ports {
        let text = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        fenced += metric(&text, "nsplane_fenced_commands_total");
        recoveries += metric(&text, "nsplane_producer_recoveries_total");
        lost += metric(&text, "nsplane_lease_changes_total{change=\"lost\"");
    }
    let (producer_commits, violations) = crate::checker::stale_fences(&store).await?;
    for mut process in producers {
        process.kill9();
    }
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let report = json!({
        "kills": args.kills,
        "lease_ttl_s": args.lease_ttl_secs,
        "lease_ranges": args.lease_ranges,
        "takeover_p50_ms": takeovers.p50_ms(),
        "takeover_p99_ms": takeovers.p99_ms(),
        "takeover_max_ms": takeovers.max_ms(),
        "pauses": args.pauses,
        "pause_p50_ms": paused_for.p50_ms(),
        "leases_lost_by_resumed_producers": lost,
        "stale_commands_refused": fenced,
        "recoveries_committed_by_surviving_processes": recoveries,
        "producer_commits_in_log": producer_commits,
        "stale_token_commits_in_log": violations,
    });
    crate::bench::print_report(&report, args.json_out.as_deref())?;
    anyhow::ensure!(
        violations == 0,
        "{violations} commits carried a lease token older than one already committed"
    );
    Ok(())
}

/// Waits until every range is held, half by each of two producers (the steady state a kill strikes);
/// returns their ids.
async fn shared(store: &EventStore, config: &LeaseConfig, limit: Duration) -> anyhow::Result<HashSet<String>> {
    let deadline = Instant::now() + limit;
    loop {
        let holders = wait_holders(store, config, deadline.saturating_duration_since(Instant::now()), 2).await?;
        let held = leases::holders(store, config).await?;
        let balanced = holders
            .iter()
            .all(|h| held.iter().filter(|l| &l.holder == h).count() == usize::from(config.ranges) / 2);
        if balanced {
            return Ok(holders);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the ranges were not balanced within {limit:?}: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every range is held by one producer; returns it.
async fn sole_holder(store: &EventStore, config: &LeaseConfig, limit: Duration) -> anyhow::Result<String> {
    let holders = wait_holders(store, config, limit, 1).await?;
    holders.into_iter().next().context("no holder")
}

async fn wait_holders(
    store: &EventStore,
    config: &LeaseConfig,
    limit: Duration,
    distinct: usize,
) -> anyhow::Result<HashSet<String>> {
    let deadline = Instant::now() + limit;
    loop {
        let held = leases::holders(store, config).await?;
        let holders: HashSet<String> = held.iter().map(|h| h.holder.clone()).collect();
        if held.len() == usize::from(config.ranges) && holders.len() == distinct {
            return Ok(holders);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the ranges did not settle on {distinct} producer(s) within {limit:?}: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A counter's value summed over its series whose name (with labels) starts with `prefix`.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

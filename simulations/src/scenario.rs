//! The scenarios (one per fault kind, `mixed`, a fault-free `baseline`, and two checker self-tests) and
//! how one runs on a cluster: create its zones, wait until the secondaries serve them, run the load with
//! the seeded faults, stop, heal, check, report.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::info;

use crate::cluster::Cluster;
use crate::faults::{self, FaultKind};
use crate::load::{self, History, LoadConfig};
use crate::monitor;
use crate::report::{self, ScenarioReport};
use crate::sink_load::{self, SinkLoadConfig};

/// Nova notifications per second the sink load publishes.
const SINK_RATE: f64 = 3.0;

/// What a checker self-test breaks before the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Deletes one acknowledged record set from the read model behind nsplane's back.
    ReadModel,
    /// Cuts BIND off for the last seconds of load and leaves it cut: it keeps stale data.
    StaleSecondary,
}

/// A scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it does.
    pub about: &'static str,
    /// The fault kinds its schedule draws from.
    pub kinds: Vec<FaultKind>,
    /// A checker self-test's corruption.
    pub corruption: Option<Corruption>,
}

/// Every scenario, in the order `all` runs them.
pub fn scenarios() -> Vec<Scenario> {
    let one = |name, about, kind| Scenario {
        name,
        about,
        kinds: vec![kind],
        corruption: None,
    };
    vec![
        Scenario {
            name: "baseline",
            about: "load only, no fault",
            kinds: Vec::new(),
            corruption: None,
        },
        one(
            "kill9",
            "SIGKILL of a random api/central/mdns/worker/producer/sink instance, restarted 0.5-2 s later",
            FaultKind::Kill9,
        ),
        one(
            "pause",
            "SIGSTOP of a random role instance for 3-8 s, then SIGCONT",
            FaultKind::Pause,
        ),
        one(
            "nats-node",
            "SIGKILL of a random NATS node for 3-8 s, then restart",
            FaultKind::NatsNode,
        ),
        one(
            "nats-leader",
            "SIGKILL of the NATS node leading the event stream for 3-8 s, then restart",
            FaultKind::NatsLeader,
        ),
        one(
            "postgres",
            "PostgreSQL stopped with -m immediate for 2-5 s, then started",
            FaultKind::Postgres,
        ),
        one(
            "partition",
            "BIND or Knot cut off (proxies drop its traffic to and from mdns and workers) for 3-8 s",
            FaultKind::Partition,
        ),
        one(
            "worker-push",
            "SIGKILL of a worker right after it sent a NOTIFY (push in flight), restarted 0.5-2 s later",
            FaultKind::WorkerPush,
        ),
        one(
            "rabbitmq",
            "SIGKILL of the RabbitMQ broker (sink input, notification output) for 2-5 s, then restart with its data",
            FaultKind::Rabbitmq,
        ),
        Scenario {
            name: "mixed",
            about: "every fault kind above, drawn at random",
            kinds: FaultKind::ALL.to_vec(),
            corruption: None,
        },
        Scenario {
            name: "corrupt-read-model",
            about: "checker self-test: one acknowledged record set deleted from PostgreSQL after the load; must FAIL",
            kinds: Vec::new(),
            corruption: Some(Corruption::ReadModel),
        },
        Scenario {
            name: "corrupt-stale-secondary",
            about: "checker self-test: BIND cut off for good before the load ends, so it keeps stale data; must FAIL",
            kinds: Vec::new(),
            corruption: Some(Corruption::StaleSecondary),
        },
    ]
}

/// The scenarios a name stands for: one, a comma-separated list, or `all` (every one, self-tests last).
pub fn select(names: &str) -> anyhow::Result<Vec<Scenario>> {
    let all = scenarios();
    if names == "all" {
        return Ok(all);
    }
    names
        .split(',')
        .map(|n| {
            all.iter()
                .find(|s| s.name == n.trim())
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no scenario {n:?} (see nsplane-sim list)"))
        })
        .collect()
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Seed of the schedule and the load.
    pub seed: u64,
    /// Seconds of load per scenario.
    pub duration_s: f64,
    /// Record-set operations per second.
    pub ops_per_sec: f64,
    /// Projects.
    pub projects: usize,
    /// Zones per project.
    pub zones_per_project: usize,
    /// How long the secondaries get to converge (after each fault, and at the end).
    pub deadline: Duration,
}

/// Runs one scenario on a running cluster.
pub async fn run(cluster: &mut Cluster, scenario: &Scenario, settings: &RunSettings) -> anyhow::Result<ScenarioReport> {
    let topology = cluster.topology();
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut log_offsets: Vec<(String, std::path::PathBuf, u64)> = cluster
        .instances
        .iter()
        .map(|i| (i.process.name.clone(), i.process.log.clone(), i.process.log_len()))
        .collect();
    log_offsets.extend(
        cluster
            .nats
            .iter()
            .map(|n| (n.process.name.clone(), n.process.log.clone(), n.process.log_len())),
    );
    let history = History::new(Instant::now());
    let config = LoadConfig {
        apis: topology.apis.clone(),
        projects: settings.projects,
        zones_per_project: settings.zones_per_project,
        ops_per_sec: settings.ops_per_sec,
        zone_suffix: format!("{}-{}.sim.test.", scenario.name, settings.seed),
        seed: settings.seed,
    };
    let zones = load::create_zones(&config, &history).await?;
    let zone_names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
    let ready = monitor::convergence_after(
        history.now_s(),
        topology.database_url.clone(),
        topology.secondaries.clone(),
        zone_names.clone(),
        history.clone(),
        Duration::from_secs(60),
    )
    .await;
    anyhow::ensure!(
        ready.is_some(),
        "{}: the secondaries did not serve the new zones within 60 s",
        scenario.name
    );
    info!(
        scenario = scenario.name,
        zones = zones.len(),
        "zones served by both secondaries; load starts"
    );

    let (stop_sampler, sampler_rx) = watch::channel(false);
    let sampler = tokio::spawn(monitor::sample(
        monitor::servers(&topology.mdns, &topology.secondaries),
        zone_names.clone(),
        history.clone(),
        sampler_rx,
    ));
    let (stop_load, load_rx) = watch::channel(false);
    let load_task = {
        let (config, history) = (config.clone(), history.clone());
        tokio::spawn(async move { load::run(&config, zones, &history, load_rx).await })
    };
    // Nova's notifications for the sinks, through RabbitMQ, beside the API load.
    let sink_label = format!("{}-{}", scenario.name, settings.seed);
    let sink_task = tokio::spawn(sink_load::run(
        SinkLoadConfig {
            amqp_url: topology.amqp_url.clone(),
            label: sink_label.clone(),
            rate: SINK_RATE,
            seed: settings.seed,
        },
        stop_load.subscribe(),
    ));
    let load_start_s = history.now_s();
    let plan = faults::schedule(settings.seed, &scenario.kinds, settings.duration_s);
    info!(
        scenario = scenario.name,
        seed = settings.seed,
        faults = plan.len(),
        "fault schedule: {:?}",
        plan.iter()
            .map(|f| format!("{:.1}s {} {:.1}s", f.at_s, f.kind.name(), f.hold_s))
            .collect::<Vec<_>>()
    );
    let mut records = Vec::new();
    let mut convergence_tasks = Vec::new();
    for fault in &plan {
        let wait = load_start_s + fault.at_s - history.now_s();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let record = faults::apply(cluster, fault, &history).await?;
        info!(scenario = scenario.name, kind = record.kind.name(), target = %record.target,
            start_s = format!("{:.1}", record.start_s), end_s = format!("{:.1}", record.end_s), note = %record.note, "fault healed");
        convergence_tasks.push(tokio::spawn(monitor::convergence_after(
            record.end_s,
            topology.database_url.clone(),
            topology.secondaries.clone(),
            zone_names.clone(),
            history.clone(),
            settings.deadline,
        )));
        records.push(record);
    }
    let stale_from = settings.duration_s - 3.0;
    if scenario.corruption == Some(Corruption::StaleSecondary) {
        let wait = load_start_s + stale_from - history.now_s();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let (_, up, front) = cluster.proxies[0].clone();
        up.cut();
        front.cut();
        info!("BIND cut off for good (checker self-test)");
    }
    let wait = load_start_s + settings.duration_s - history.now_s();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
    let _ = stop_load.send(true);
    let zones = load_task.await?;
    let sink_model = sink_task.await?;
    info!(scenario = scenario.name, "load stopped; checking");
    let mut convergence = Vec::new();
    for task in convergence_tasks {
        convergence.push(task.await?);
    }
    if scenario.corruption == Some(Corruption::ReadModel) {
        corrupt_read_model(&topology.database_url, &zones).await?;
    }
    let ops = history.ops();
    // The history, one operation per line (Jepsen-style), next to the logs.
    let lines: Vec<String> = ops.iter().filter_map(|o| serde_json::to_string(o).ok()).collect();
    let _ = std::fs::write(
        topology.dir.join(format!("history-{}.jsonl", scenario.name)),
        lines.join("\n") + "\n",
    );
    // The sampler keeps watching serials while the checker waits for convergence.
    let samples_stop = stop_sampler.clone();
    // A self-test must fail; it need not wait out the whole deadline to do so.
    let deadline = match scenario.corruption {
        Some(_) => settings.deadline.min(Duration::from_secs(8)),
        None => settings.deadline,
    };
    let check_result = crate::checker::check(&topology, &zones, &ops, &log_offsets, deadline).await;
    let _ = samples_stop.send(true);
    let samples = sampler.await?;
    let mut check = check_result;
    // Every instance's records, and only those, served by mdns and BIND in the sinks' zone.
    let sink_servers = [("mdns-0".to_owned(), topology.mdns[0]), topology.secondaries[0].clone()];
    let sink_wrong = sink_load::check(&sink_servers, &topology.sink_zone.1, &sink_model, &sink_label, deadline).await;
    check.sink_published = sink_model.published;
    check.sink_duplicates = sink_model.duplicates;
    check.sink_reordered = sink_model.reordered;
    check.sink_records_expected = sink_load::expected(&sink_model, &topology.sink_zone.1).len();
    check.sink_mismatches = sink_wrong.len();
    if sink_model.indefinite > 0 {
        info!(
            scenario = scenario.name,
            indefinite = sink_model.indefinite,
            "Nova notifications never confirmed by RabbitMQ"
        );
    }
    check.failures.extend(sink_wrong);
    check.serial_regressions = samples.regressions.len();
    for r in samples.regressions.iter().take(10) {
        check.failures.push(format!(
            "serial of {} went backwards on {}: {} then {} at {:.1} s",
            r.zone, r.server, r.before, r.after, r.at_s
        ));
    }
    if scenario.corruption == Some(Corruption::StaleSecondary) {
        let (_, up, front) = cluster.proxies[0].clone();
        up.heal();
        front.heal();
    }
    Ok(report::build(
        scenario.name,
        settings.seed,
        settings.duration_s,
        started_at,
        scenario.corruption.is_some(),
        &ops,
        records,
        convergence,
        check,
    ))
}

/// Deletes one acknowledged record set from the read model, as a bug or an operator might.
async fn corrupt_read_model(database_url: &str, zones: &[load::ZoneModel]) -> anyhow::Result<()> {
    let (pg, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    let victim = zones
        .iter()
        .flat_map(|z| z.recordsets.values())
        .next()
        .map(|rs| rs.id.clone())
        .ok_or_else(|| anyhow::anyhow!("no acknowledged record set to corrupt"))?;
    let n = pg
        .execute("DELETE FROM recordsets WHERE id = $1::text::uuid", &[&victim])
        .await?;
    anyhow::ensure!(n == 1, "the record set to corrupt was not in the read model");
    info!(recordset = %victim, "deleted an acknowledged record set from the read model (checker self-test)");
    task.abort();
    Ok(())
}

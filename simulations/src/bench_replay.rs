//! `nsplane-sim bench-replay`: writes record sets through the REST API (8 clients, one zone each),
//! then measures, in the same run: the creates per second, `nsplane replay --fresh --verify` over the
//! whole stream (events per second, and as a multiple of the creates per second), audit queries with
//! one and with three filters, and a zone's state as of a serial and a diff between two serials. Prints
//! JSON and a table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Value};

use crate::bench::{create_recordset, create_zone, print_report, Running};
use nsplane_testkit::Latencies;

/// Benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct BenchReplayArgs {
    /// Record sets to create (each one commit, one event).
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// Concurrent clients, one zone each.
    #[arg(long, default_value_t = 8)]
    pub clients: u64,
    /// Samples of each query.
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// The nsplane binary to start (default: the one next to this tool, or `NSPLANE_BIN`).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

const ALL_PROJECTS: [(&str, &str); 2] = [("x-roles", "admin"), ("x-auth-all-projects", "true")];

/// `samples` timed GETs of the URLs `url(i)` gives; each must answer 200 with JSON.
async fn time_gets(running: &Running, samples: usize, url: impl Fn(usize) -> String) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::new();
    for i in 0..samples {
        let mut request = running.http.get(url(i));
        for (name, value) in ALL_PROJECTS {
            request = request.header(name, value);
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        latencies.record(started.elapsed());
        anyhow::ensure!(status.is_success(), "{}: {status} {body}", url(i));
    }
    Ok(latencies)
}

/// Runs the benchmark.
pub async fn run(args: BenchReplayArgs) -> anyhow::Result<()> {
    let running = Running::start(args.binary.as_ref(), "api,central").await?;
    let (http, base) = (running.http.clone(), running.base.clone());
    let clients = args.clients.max(1);
    let mut zones = Vec::new();
    for c in 0..clients {
        let name = format!("c{c}.replay.bench.test.");
        zones.push((create_zone(&http, &base, &name).await?, name));
    }
    // The load.
    let started = Instant::now();
    let per_client = args.records / clients;
    let mut tasks = Vec::new();
    for (zone_id, name) in zones.clone() {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                create_recordset(&http, &base, &zone_id, &name, n).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let load_s = started.elapsed().as_secs_f64();
    let created = per_client * clients;
    // Central catches up.
    let (db, connection) = tokio_postgres::connect(&running.database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let projected: i64 = db
            .query_one("SELECT count(*) FROM recordsets WHERE NOT managed", &[])
            .await?
            .get(0);
        if u64::try_from(projected).unwrap_or(0) >= created {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "central did not catch up in 600 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit_rows: i64 = db.query_one("SELECT count(*) FROM audit_events", &[]).await?.get(0);

    // Replay and verify, through the binary as an operator runs it.
    let replay_started = Instant::now();
    let report =
        crate::checker::replay_report(&running.binary, &running.nats_url, &running.database_url, "nsplane").await?;
    let replay_wall_s = replay_started.elapsed().as_secs_f64();
    let replay = &report["replay"];
    let events = replay["events"].as_f64().unwrap_or(0.0);
    let replay_s = replay["seconds"].as_f64().unwrap_or(0.0);
    let creates_per_s = created as f64 / load_s;
    let events_per_s = if replay_s > 0.0 { events / replay_s } else { 0.0 };

    // Audit queries over every row: one filter, three filters, a record set's history.
    let pick = |i: usize| &zones[i % zones.len()];
    let one = time_gets(&running, args.samples, |i| {
        format!("{base}/v2/audit_events?zone_id={}", pick(i).0)
    })
    .await?;
    let three = time_gets(&running, args.samples, |i| {
        format!(
            "{base}/v2/audit_events?zone_id={}&event_type=RecordsetCreated&user_id=noauth-user&limit=50",
            pick(i).0
        )
    })
    .await?;
    let by_name = time_gets(&running, args.samples, |i| {
        let n = (i as u64 * 7919) % per_client.max(1);
        format!("{base}/v2/audit_events?recordset_name=h{n}.{}", pick(i).1)
    })
    .await?;
    // A zone as of a serial and a diff, on the first zone (per_client serials of history).
    let (zone_id, _) = &zones[0];
    let history: Value = http
        .get(format!("{base}/v2/zones/{zone_id}/history"))
        .send()
        .await?
        .json()
        .await?;
    let serials: Vec<u64> = history["history"]
        .as_array()
        .context("history")?
        .iter()
        .filter_map(|h| h["serial"].as_u64())
        .collect();
    anyhow::ensure!(serials.len() > 2, "a history of {} serials", serials.len());
    let serial = |i: usize| serials[(i * 7919) % serials.len()];
    let as_of = time_gets(&running, args.samples, |i| {
        format!("{base}/v2/zones/{zone_id}/history/as_of?serial={}", serial(i))
    })
    .await?;
    let diff = time_gets(&running, args.samples, |i| {
        let (a, b) = (serial(i), serial(i + 1));
        format!(
            "{base}/v2/zones/{zone_id}/history/diff?from={}&to={}",
            a.min(b),
            a.max(b)
        )
    })
    .await?;
    running.stop().await;

    let report = json!({
        "benchmark": "replay_and_audit",
        "records_created": created,
        "creates_per_second": creates_per_s,
        "audit_rows": audit_rows,
        "replay_commits": replay["commits"],
        "replay_events": events,
        "replay_seconds": replay_s,
        "replay_events_per_second": events_per_s,
        "replay_events_per_second_over_creates_per_second": if creates_per_s > 0.0 { events_per_s / creates_per_s } else { 0.0 },
        "replay_and_verify_wall_seconds": replay_wall_s,
        "verify_groups_compared": report["verification"]["groups_compared"],
        "verify_differences": report["verification"]["differences"].as_array().map(Vec::len),
        "audit_one_filter_p50_ms": one.p50_ms(),
        "audit_one_filter_p99_ms": one.p99_ms(),
        "audit_three_filters_p50_ms": three.p50_ms(),
        "audit_three_filters_p99_ms": three.p99_ms(),
        "audit_by_recordset_name_p50_ms": by_name.p50_ms(),
        "audit_by_recordset_name_p99_ms": by_name.p99_ms(),
        "history_zone_serials": serials.len(),
        "zone_as_of_p50_ms": as_of.p50_ms(),
        "zone_as_of_p99_ms": as_of.p99_ms(),
        "zone_diff_p50_ms": diff.p50_ms(),
        "zone_diff_p99_ms": diff.p99_ms(),
    });
    print_report(&report, args.json_out.as_deref())
}

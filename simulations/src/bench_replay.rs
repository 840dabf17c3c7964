//! `nsplane-sim bench-replay`: writes record sets through the REST API (8 clients, one zone each),
//! then measures, in the same run: the creates per second, `nsplane replay --fresh --verify` over the
//! whole stream (events per second, and as a multiple of the creates per second), audit queries with
//! one and with three filters, and a zone's state as of a serial and a diff between two serials (on a
//! zone of 10,000 records and 1,000 serials, and on a load zone). It also times PostgreSQL copying the
//! rebuilt rows by itself, the most a replay could reach on the machine. Prints JSON and a table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Value};

use crate::bench::{create_recordset, create_zone, post_recordset, print_report, Running};
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

/// Record sets of the history zone, each with [`HISTORY_RECORDS_EACH`] records: the zone history goal's
/// shape (10,000 records, 1,000 serials).
const HISTORY_RECORDSETS: u64 = 1_000;
const HISTORY_RECORDS_EACH: u64 = 10;

/// Builds the history zone (four clients) and returns its id.
async fn history_zone(running: &Running) -> anyhow::Result<String> {
    let (http, base) = (&running.http, &running.base);
    let name = "history.replay.bench.test.";
    let zone_id = create_zone(http, base, name).await?;
    let mut tasks = Vec::new();
    for client in 0..4 {
        let (http, base, zone_id) = (http.clone(), base.clone(), zone_id.clone());
        tasks.push(tokio::spawn(async move {
            for n in (client..HISTORY_RECORDSETS).step_by(4) {
                let records: Vec<String> = (0..HISTORY_RECORDS_EACH)
                    .map(|r| format!("10.{}.{}.{r}", n >> 8, n & 255))
                    .collect();
                let body = json!({"name": format!("h{n}.{name}"), "type": "A", "records": records});
                post_recordset(&http, &base, &zone_id, &body).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(zone_id)
}

/// A zone's serials, from its history.
async fn serials_of(running: &Running, zone_id: &str) -> anyhow::Result<Vec<u64>> {
    let history: Value = running
        .http
        .get(format!("{}/v2/zones/{zone_id}/history", running.base))
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
    Ok(serials)
}

/// `samples` as-of and diff queries on a zone: `(as of, diff)`.
async fn time_history(
    running: &Running,
    zone_id: &str,
    samples: usize,
) -> anyhow::Result<(Latencies, Latencies, usize)> {
    let base = &running.base;
    let serials = serials_of(running, zone_id).await?;
    let serial = |i: usize| serials[(i * 7919) % serials.len()];
    let as_of = time_gets(running, samples, |i| {
        format!("{base}/v2/zones/{zone_id}/history/as_of?serial={}", serial(i))
    })
    .await?;
    let diff = time_gets(running, samples, |i| {
        let (a, b) = (serial(i), serial(i + 1));
        format!(
            "{base}/v2/zones/{zone_id}/history/diff?from={}&to={}",
            a.min(b),
            a.max(b)
        )
    })
    .await?;
    Ok((as_of, diff, serials.len()))
}

/// PostgreSQL writing the read models' rows by itself: the live tables copied into an empty schema
/// with the same indexes, one statement per table, no client, no decoding. Returns the seconds; a
/// replay cannot be faster than this on the same machine.
async fn postgres_alone(db: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let tables = [
        "zones",
        "recordsets",
        "audit_events",
        "zone_journal",
        "projection_versions",
    ];
    let mut setup = String::from("DROP SCHEMA IF EXISTS bench_ceiling CASCADE; CREATE SCHEMA bench_ceiling;");
    for table in tables {
        setup.push_str(&format!(
            "CREATE TABLE bench_ceiling.{table} (LIKE public.{table} INCLUDING ALL);"
        ));
    }
    db.batch_execute(&setup).await.context("failed to prepare the copy")?;
    let started = Instant::now();
    let mut copy = String::from("BEGIN;");
    for table in tables {
        copy.push_str(&format!(
            "INSERT INTO bench_ceiling.{table} SELECT * FROM public.{table};"
        ));
    }
    copy.push_str("COMMIT;");
    db.batch_execute(&copy).await.context("failed to copy the rows")?;
    let seconds = started.elapsed().as_secs_f64();
    db.batch_execute("DROP SCHEMA bench_ceiling CASCADE")
        .await
        .context("failed to drop the copy")?;
    Ok(seconds)
}

/// Runs the benchmark.
pub async fn run(args: BenchReplayArgs) -> anyhow::Result<()> {
    let running = Running::start(args.binary.as_ref(), "api,central").await?;
    let (http, base) = (running.http.clone(), running.base.clone());
    let clients = args.clients.max(1);
    let history_zone = history_zone(&running).await?;
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
    let alone_s = postgres_alone(&db).await?;
    let alone_per_s = if alone_s > 0.0 { events / alone_s } else { 0.0 };

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
    // A zone as of a serial and a diff: the goal's shape, and the first load zone (one serial per record set).
    let (as_of, diff, history_serials) = time_history(&running, &history_zone, args.samples).await?;
    let (big_as_of, big_diff, big_serials) = time_history(&running, &zones[0].0, args.samples).await?;
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
        "postgres_alone_events_per_second": alone_per_s,
        "replay_over_postgres_alone": if alone_per_s > 0.0 { events_per_s / alone_per_s } else { 0.0 },
        "verify_groups_compared": report["verification"]["groups_compared"],
        "verify_differences": report["verification"]["differences"].as_array().map(Vec::len),
        "audit_one_filter_p50_ms": one.p50_ms(),
        "audit_one_filter_p99_ms": one.p99_ms(),
        "audit_three_filters_p50_ms": three.p50_ms(),
        "audit_three_filters_p99_ms": three.p99_ms(),
        "audit_by_recordset_name_p50_ms": by_name.p50_ms(),
        "audit_by_recordset_name_p99_ms": by_name.p99_ms(),
        "history_zone_records": HISTORY_RECORDSETS * HISTORY_RECORDS_EACH,
        "history_zone_serials": history_serials,
        "zone_as_of_p50_ms": as_of.p50_ms(),
        "zone_as_of_p99_ms": as_of.p99_ms(),
        "zone_diff_p50_ms": diff.p50_ms(),
        "zone_diff_p99_ms": diff.p99_ms(),
        "load_zone_serials": big_serials,
        "load_zone_as_of_p50_ms": big_as_of.p50_ms(),
        "load_zone_as_of_p99_ms": big_as_of.p99_ms(),
        "load_zone_diff_p50_ms": big_diff.p50_ms(),
        "load_zone_diff_p99_ms": big_diff.p99_ms(),
    });
    print_report(&report, args.json_out.as_deref())
}

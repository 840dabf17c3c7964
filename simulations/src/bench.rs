//! `nsplane-sim bench`: starts its own NATS and PostgreSQL, runs `nsplane all` against them as a child
//! process (any nsplane binary: `--binary` compares builds), and measures the write path through the
//! REST API. Prints JSON and a table.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use nsplane_runtime::devmode::{free_port, LocalNats, LocalPostgres};
use nsplane_testkit::Latencies;

/// Benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Sequential record-set creates for the latency figures.
    #[arg(long, default_value_t = 2000)]
    pub sequential: usize,
    /// Concurrent clients for the throughput figure (each in its own zone).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Offered load of the throughput run, creates per second over all clients (0: as fast as they
    /// can). Projection lag is only comparable between builds at the same offered load: flat out, a
    /// faster API queues more work for central.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Also run mdns and the worker in `nsplane all` (every change is then pushed and reported too).
    #[arg(long)]
    pub with_dataplane: bool,
    /// The nsplane binary to start (default: the one next to this tool, or `NSPLANE_BIN`).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

pub(crate) async fn create_zone(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/v2/zones"))
        .json(&json!({"name": name, "email": "hostmaster@example.org", "ttl": 3600}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().as_u16() == 202,
        "zone create answered {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .context("zone create answered no id")
}

/// Creates the A record set `h<n>.<zone>` with one record (TTL 300).
pub(crate) async fn create_recordset(
    http: &reqwest::Client,
    base: &str,
    zone_id: &str,
    zone: &str,
    n: u64,
) -> anyhow::Result<()> {
    let record = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let body = json!({"name": format!("h{n}.{zone}"), "type": "A", "records": [record], "ttl": 300});
    post_recordset(http, base, zone_id, &body).await
}

/// Posts a record set; anything but 202 is an error.
pub(crate) async fn post_recordset(
    http: &reqwest::Client,
    base: &str,
    zone_id: &str,
    body: &serde_json::Value,
) -> anyhow::Result<()> {
    let response = http
        .post(format!("{base}/v2/zones/{zone_id}/recordsets"))
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().as_u16() == 202,
        "record set create answered {}",
        response.status()
    );
    Ok(())
}

/// `nsplane all` running as a child process on its own NATS and PostgreSQL (unlimited quotas), and
/// what a benchmark needs to talk to it. Dropping it stops everything and removes its data.
pub(crate) struct Running {
    /// The API's base URL.
    pub base: String,
    /// An HTTP client for it.
    pub http: reqwest::Client,
    /// Its read models.
    pub database_url: String,
    /// Its NATS.
    pub nats_url: String,
    /// The binary it runs.
    pub binary: PathBuf,
    /// Its data and logs (removed when it stops).
    dir: PathBuf,
    child: tokio::process::Child,
    postgres: Option<LocalPostgres>,
    nats: Option<LocalNats>,
}

impl Running {
    /// Starts `binary` (default: the one next to this tool) with `roles`.
    pub(crate) async fn start(binary: Option<&PathBuf>, roles: &str) -> anyhow::Result<Running> {
        Self::start_with(binary, roles, 0, &[], "warn").await
    }

    /// [`Running::start`] with mdns on `mdns_port` (0: any), `extra` flags, and its log at `log`.
    pub(crate) async fn start_with(
        binary: Option<&PathBuf>,
        roles: &str,
        mdns_port: u16,
        extra: &[String],
        log: &str,
    ) -> anyhow::Result<Running> {
        let dir = tempfile_dir()?;
        let nats_dir = dir.join("nats");
        let pg_dir = dir.join("postgres");
        let nats = tokio::task::spawn_blocking(move || LocalNats::start(&nats_dir, 0)).await??;
        let postgres = tokio::task::spawn_blocking(move || LocalPostgres::start(&pg_dir, 0)).await??;
        let database_url = postgres.ensure_database("nsplane").await?;
        let port = free_port()?;
        let binary = match binary {
            Some(b) => b.clone(),
            None => crate::cluster::find_nsplane()?,
        };
        let child = tokio::process::Command::new(&binary)
            .args([
                "all",
                "--quota-zones",
                "-1",
                "--quota-zone-recordsets",
                "-1",
                "--quota-zone-records",
                "-1",
                "--nats-url",
                &nats.url,
                "--database-url",
                &database_url,
                "--api-listen",
                &format!("127.0.0.1:{port}"),
                "--mdns-listen",
                &format!("127.0.0.1:{mdns_port}"),
                "--roles",
                roles,
            ])
            .args(extra)
            .env("RUST_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start nsplane all")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.get(format!("{base}/")).send().await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nsplane all did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let nats_url = nats.url.clone();
        Ok(Running {
            base,
            http,
            database_url,
            nats_url,
            binary,
            child,
            postgres: Some(postgres),
            nats: Some(nats),
            dir,
        })
    }

    /// Stops nsplane, PostgreSQL and NATS, and removes their data.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
        drop(self.postgres.take());
        drop(self.nats.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let running = Running::start(
        args.binary.as_ref(),
        if args.with_dataplane {
            "api,central,mdns,worker"
        } else {
            "api,central"
        },
    )
    .await?;
    let (http, base, database_url) = (running.http.clone(), running.base.clone(), running.database_url.clone());

    // Sequential latency.
    let zone = "seq.bench.test.";
    let zone_id = create_zone(&http, &base, zone).await?;
    for n in 0..50 {
        create_recordset(&http, &base, &zone_id, zone, 1_000_000 + n).await?;
    }
    let mut latencies = Latencies::new();
    for n in 0..args.sequential as u64 {
        let started = Instant::now();
        create_recordset(&http, &base, &zone_id, zone, n).await?;
        latencies.record(started.elapsed());
    }

    // Throughput with concurrent clients, one zone each.
    let mut zones = Vec::new();
    for c in 0..args.clients {
        let name = format!("c{c}.bench.test.");
        zones.push((create_zone(&http, &base, &name).await?, name));
    }
    let (client, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    // The sequential phase is projected before the throughput run starts, so the run's projection
    // rate counts only the run's own changes.
    let sequential_total = args.sequential as u64 + 50;
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    while projected(&client).await? < sequential_total && Instant::now() < settle_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let projected_before = projected(&client).await?;
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(args.seconds);
    // Each client's pace at the offered load (a late client catches up, never skips).
    let every = (args.rate > 0).then(|| Duration::from_secs_f64(args.clients as f64 / args.rate as f64));
    let mut tasks = Vec::new();
    for (zone_id, name) in zones.clone() {
        let (http, base, acked, failed) = (http.clone(), base.clone(), acked.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut pace = every.map(pacer);
            while Instant::now() < stop_at {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                match create_recordset(&http, &base, &zone_id, &name, n).await {
                    Ok(()) => acked.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                n += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let projected_during = projected(&client).await?.saturating_sub(projected_before);
    let acked = acked.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);

    // Read-model visibility and projection lag, from the read models themselves.
    let expected = acked + args.sequential as u64 + 50;
    let visible_deadline = Instant::now() + Duration::from_secs(120);
    let mut visible;
    let mut caught_up_after = 0.0;
    loop {
        visible = projected(&client).await?;
        if visible >= expected || Instant::now() > visible_deadline {
            break;
        }
        caught_up_after = started.elapsed().as_secs_f64() - elapsed;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Over the throughput run's changes (the sequential ones never queue).
    let lag = client
        .query_one(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) \
             FROM (SELECT extract(epoch FROM projected_at - occurred_at) * 1000 AS ms FROM audit_events \
             WHERE event_type = 'RecordsetCreated' AND aggregate_id <> $1) x",
            &[&zone_id],
        )
        .await?;
    let (lag_p50, lag_p99): (Option<f64>, Option<f64>) = (lag.get(0), lag.get(1));
    running.stop().await;

    let report = json!({
        "benchmark": if args.with_dataplane { "write_path_with_dataplane" } else { "write_path" },
        "sequential_creates": args.sequential,
        "post_recordset_p50_ms": latencies.p50_ms(),
        "post_recordset_p99_ms": latencies.p99_ms(),
        "concurrent_clients": args.clients,
        "concurrent_seconds": elapsed,
        "creates_acked": acked,
        "creates_failed": failed,
        "offered_creates_per_second": if args.rate > 0 { json!(args.rate) } else { json!("unlimited") },
        "creates_per_second": acked as f64 / elapsed,
        "projected_per_second_during_run": projected_during as f64 / elapsed,
        "recordsets_expected_in_read_model": expected,
        "recordsets_visible_in_read_model": visible,
        "read_model_caught_up_after_s": caught_up_after,
        "projection_lag_p50_ms": lag_p50,
        "projection_lag_p99_ms": lag_p99,
    });
    print_report(&report, args.json_out.as_deref())
}

/// A client's pace: a tick every `every`; a client that falls behind catches up (ticks burst), so the
/// offered load over the run is what was asked for.
pub(crate) fn pacer(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    interval
}

/// Record sets in the read models (not the managed SOA and NS).
async fn projected(client: &tokio_postgres::Client) -> anyhow::Result<u64> {
    let count: i64 = client
        .query_one("SELECT count(*) FROM recordsets WHERE NOT managed", &[])
        .await?
        .get(0);
    Ok(u64::try_from(count).unwrap_or_default())
}

/// Prints a report as JSON and as a table, and writes the JSON to `json_out` if given.
pub fn print_report(report: &serde_json::Value, json_out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    if let Some(path) = json_out {
        std::fs::write(path, &text)?;
    }
    let mut table = String::from("\n| figure | value |\n| --- | --- |\n");
    if let Some(map) = report.as_object() {
        for (key, value) in map {
            let shown = match value.as_f64() {
                Some(f) if value.is_f64() => format!("{f:.3}"),
                _ => value.to_string(),
            };
            table.push_str(&format!("| {key} | {shown} |\n"));
        }
    }
    // The report is the tool's output.
    #[allow(clippy::print_stdout)]
    {
        println!("{text}{table}");
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nsplane-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

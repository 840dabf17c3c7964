//! `nsplane-sim bench-notify`: how many notifications per second the notifier sustains. A backlog of
//! committed events is written first (record-set creates through the API, no notifier running); then
//! one `nsplane producer --notify-nats` (and, in a second round, one that also publishes to a throwaway
//! RabbitMQ broker) is started and the time until every event is on the notifications stream is
//! measured. Each round starts from a fresh deployment.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use nsplane_runtime::devmode::free_port;
use serde_json::json;

use crate::bench::Running;
use crate::process::Process;

/// Settings of the notification benchmark.
#[derive(Debug, Args)]
pub struct BenchNotifyArgs {
    /// Record sets created before the notifier starts (one event each, plus the zones').
    #[arg(long, default_value_t = 5000)]
    pub events: usize,
    /// Concurrent clients writing the backlog.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Skip the round with RabbitMQ (no broker on this machine).
    #[arg(long)]
    pub nats_only: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// The nsplane binary to start (default: the one next to this tool, or `NSPLANE_BIN`).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchNotifyArgs) -> anyhow::Result<()> {
    let mut report = serde_json::Map::new();
    report.insert("events".into(), json!(args.events));
    let (rate, total) = round(&args, None).await?;
    report.insert("nats_notifications".into(), json!(total));
    report.insert("nats_per_s".into(), json!(rate));
    if !args.nats_only {
        let broker = tokio::task::spawn_blocking(nsplane_testkit::rabbitmq::LocalRabbit::start).await??;
        let (rate, total) = round(&args, Some(broker.url())).await?;
        report.insert("nats_and_rabbitmq_notifications".into(), json!(total));
        report.insert("nats_and_rabbitmq_per_s".into(), json!(rate));
        drop(broker);
    }
    crate::bench::print_report(&serde_json::Value::Object(report), args.json_out.as_deref())
}

/// One deployment: the backlog, then a notifier; `(notifications per second, notifications)`.
async fn round(args: &BenchNotifyArgs, amqp: Option<String>) -> anyhow::Result<(f64, u64)> {
    let running = Running::start(args.binary.as_ref(), "api,central").await?;
    let per_client = args.events.div_ceil(args.clients.max(1));
    let mut writers = Vec::new();
    for c in 0..args.clients.max(1) {
        let (http, base) = (running.http.clone(), running.base.clone());
        writers.push(tokio::spawn(async move {
            let zone = format!("notify-{c}.example.org.");
            let zone_id = crate::bench::create_zone(&http, &base, &zone).await?;
            for n in 0..per_client {
                crate::bench::create_recordset(&http, &base, &zone_id, &zone, n as u64).await?;
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let expected = (per_client * args.clients.max(1) + args.clients.max(1)) as u64;
    let dir = std::env::temp_dir().join(format!("nsplane-bench-notify-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let mut flags = vec![
        "producer".to_owned(),
        "--nats-url".into(),
        running.nats_url.clone(),
        "--database-url".into(),
        running.database_url.clone(),
        "--notify-nats".into(),
        "--exists-every-secs".into(),
        "0".into(),
        "--ops-listen".into(),
        format!("127.0.0.1:{}", free_port()?),
    ];
    if let Some(url) = &amqp {
        flags.extend(["--notify-amqp-url".into(), url.clone()]);
    }
    let mut notifier = Process::new(
        "notifier",
        &running.binary,
        flags,
        vec![("RUST_LOG".into(), "warn".into())],
        dir.join("notifier.log"),
    );
    let nats = nsplane_runtime::NatsConfig {
        url: running.nats_url.clone(),
    };
    let client = nsplane_runtime::connect(&nats, "nsplane-sim-bench-notify").await?;
    let layout = nsplane_schema::layout::Layout::new("nsplane")?;
    let store = nsplane_command::EventStore::open(client, nsplane_command::StoreConfig::new(layout.clone())).await?;
    let js = store.context();
    let started = Instant::now();
    notifier.start()?;
    let deadline = started + Duration::from_secs(600);
    let stream_name = layout.notifications_stream();
    let mut stored = 0;
    while stored < expected {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {stored} of {expected} notifications after 600 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(mut stream) = js.get_stream(&stream_name).await {
            stored = stream.info().await.map(|i| i.state.messages).unwrap_or(0);
        }
    }
    let took = started.elapsed().as_secs_f64();
    notifier.kill9();
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(stored == expected, "{stored} notifications for {expected} events");
    Ok((expected as f64 / took, stored))
}

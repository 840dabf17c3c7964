//! `nsplane-sim bench-dataplane`: starts NATS, PostgreSQL, a BIND 9 secondary (catalog consumer) and
//! `nsplane all --pools` as a child (any nsplane binary: `--binary` compares builds), then measures how fast changes reach BIND and turn ACTIVE, the
//! sustained rate with everything served, and a large zone's transfers. Prints JSON and a table.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use nsplane_dataplane::client::{self, SoaAnswer};
use serde_json::{json, Value};

use nsplane_runtime::devmode::free_port;
use nsplane_schema::serial::serial_reached;
use nsplane_testkit::secondaries::LocalBind;
use nsplane_testkit::Latencies;

use crate::bench::Running;

/// Benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct BenchDataplaneArgs {
    /// Sequential creates timed until BIND answers and until ACTIVE.
    #[arg(long, default_value_t = 200)]
    pub latency_samples: usize,
    /// Seconds of the sustained-rate run (8 clients, 20 zones).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Offered load of the sustained run, changes per second over all 8 clients (0: as fast as they
    /// can). Compare builds at the same offered load: flat out, a faster API gives the data plane more
    /// changes to serve.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Records in the large zone (0 skips the transfer figures).
    #[arg(long, default_value_t = 100_000)]
    pub big_zone_records: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// The nsplane binary to start (default: the one next to this tool, or `NSPLANE_BIN`).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

const CATALOG: &str = "catalog.bench.test.";

async fn post(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).json(&body).send().await?;
    anyhow::ensure!(
        response.status().as_u16() == 202,
        "{url} answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

async fn zone_serial(http: &reqwest::Client, base: &str, zone_id: &str) -> anyhow::Result<(u32, String)> {
    let zone: Value = http
        .get(format!("{base}/v2/zones/{zone_id}"))
        .send()
        .await?
        .json()
        .await?;
    let serial = zone["serial"].as_u64().context("no serial")? as u32;
    Ok((serial, zone["status"].as_str().unwrap_or("").to_owned()))
}

async fn wait_served(bind: std::net::SocketAddr, zone: &str, serial: u32, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(SoaAnswer::Serial(s)) = client::soa(bind, zone, Duration::from_millis(200)).await {
            if serial_reached(s, serial) {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "BIND did not serve {zone} serial {serial} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs the benchmark.
pub async fn run(args: BenchDataplaneArgs) -> anyhow::Result<()> {
    let mdns_port = free_port()?;
    let bind = LocalBind::start(mdns_port, CATALOG)?;
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.bench.test.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {bp}\n  \
         targets:\n    - type: catalog\n      masters:\n        - host: 127.0.0.1\n          port: {mdns_port}\n      options:\n        host: 127.0.0.1\n        port: {bp}\n  \
         catalog_zone:\n    catalog_zone_fqdn: {CATALOG}\n",
        bp = bind.port
    );
    let pools_file = std::env::temp_dir().join(format!("nsplane-bench-dp-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&pools_file, pools)?;
    let extra = ["--pools".to_owned(), pools_file.display().to_string()];
    let running = Running::start_with(
        args.binary.as_ref(),
        "api,central,mdns,worker",
        mdns_port,
        &extra,
        "error",
    )
    .await;
    let _ = std::fs::remove_file(&pools_file);
    let running = running?;
    let (http, base) = (running.http.clone(), running.base.clone());
    let mdns = std::net::SocketAddr::from(([127, 0, 0, 1], mdns_port));
    let bind_addr = bind.addr();

    // 1. Latency of one change: 2xx → BIND answers, 2xx → ACTIVE.
    let zone = "lat.bench.test.";
    let zone_id = post(
        &http,
        &format!("{base}/v2/zones"),
        json!({"name": zone, "email": "h@bench.test"}),
    )
    .await?["id"]
        .as_str()
        .context("id")?
        .to_owned();
    let (serial, _) = zone_serial(&http, &base, &zone_id).await?;
    wait_served(bind_addr, zone, serial, Duration::from_secs(30)).await?;
    let (mut served_ms, mut active_ms) = (Latencies::new(), Latencies::new());
    for i in 0..args.latency_samples {
        let name = format!("l{i}.{zone}");
        let started = Instant::now();
        let created = post(
            &http,
            &format!("{base}/v2/zones/{zone_id}/recordsets"),
            json!({"name": name, "type": "A", "records": ["192.0.2.1"]}),
        )
        .await?;
        let rs_url = format!(
            "{base}/v2/zones/{zone_id}/recordsets/{}",
            created["id"].as_str().context("id")?
        );
        let served = async {
            loop {
                if let Ok(reply) = client::query(bind_addr, &name, RecordType::A, Duration::from_millis(200)).await {
                    if reply.metadata.response_code == ResponseCode::NoError && !reply.answers.is_empty() {
                        return started.elapsed();
                    }
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        };
        let active = async {
            loop {
                if let Ok(response) = http.get(&rs_url).send().await {
                    if let Ok(body) = response.json::<Value>().await {
                        if body["status"] == "ACTIVE" {
                            return started.elapsed();
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let (served, active) = tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(served, active) })
            .await
            .context("a change was not served and ACTIVE within 30 s")?;
        served_ms.record(served);
        active_ms.record(active);
    }

    // 2. Sustained changes per second, counted until BIND serves every zone's last serial.
    let mut zones = Vec::new();
    for z in 0..20 {
        let name = format!("s{z}.bench.test.");
        let id = post(
            &http,
            &format!("{base}/v2/zones"),
            json!({"name": name, "email": "h@bench.test"}),
        )
        .await?["id"]
            .as_str()
            .context("id")?
            .to_owned();
        zones.push((id, name));
    }
    for (id, name) in &zones {
        let (serial, _) = zone_serial(&http, &base, id).await?;
        wait_served(bind_addr, name, serial, Duration::from_secs(30)).await?;
    }
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(args.seconds);
    // Each client's pace at the offered load (a late client catches up, never skips).
    let every = (args.rate > 0).then(|| Duration::from_secs_f64(8.0 / args.rate as f64));
    let mut tasks = Vec::new();
    for c in 0..8usize {
        let (http, base, zones, acked) = (http.clone(), base.clone(), zones.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            let mut pace = every.map(crate::bench::pacer);
            while Instant::now() < stop_at {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let (id, name) = &zones[(c + n) % zones.len()];
                let body = json!({"name": format!("c{c}n{n}.{name}"), "type": "A", "records": ["198.51.100.1"]});
                if post(&http, &format!("{base}/v2/zones/{id}/recordsets"), body)
                    .await
                    .is_ok()
                {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let load_s = started.elapsed().as_secs_f64();
    for (id, name) in &zones {
        let (serial, _) = zone_serial(&http, &base, id).await?;
        wait_served(bind_addr, name, serial, Duration::from_secs(120)).await?;
    }
    let served_s = started.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);

    // 3. A large zone: AXFR time from mdns and from BIND, and the bytes of a one-record change.
    let mut big = json!({});
    if args.big_zone_records > 0 {
        let zone = "big.bench.test.";
        let id = post(
            &http,
            &format!("{base}/v2/zones"),
            json!({"name": zone, "email": "h@bench.test"}),
        )
        .await?["id"]
            .as_str()
            .context("id")?
            .to_owned();
        let next = Arc::new(AtomicU64::new(0));
        let total = args.big_zone_records as u64;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (http, base, id, next) = (http.clone(), base.clone(), id.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                    post(
                        &http,
                        &format!("{base}/v2/zones/{id}/recordsets"),
                        json!({"name": format!("h{n}.{zone}"), "type": "A", "records": [ip]}),
                    )
                    .await?;
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
        let (serial, _) = zone_serial(&http, &base, &id).await?;
        wait_served(bind_addr, zone, serial, Duration::from_secs(300)).await?;
        let timed = |addr| async move {
            let started = Instant::now();
            let records = client::axfr(addr, zone, Duration::from_secs(120)).await?;
            Ok::<_, anyhow::Error>((started.elapsed().as_secs_f64() * 1000.0, records.len()))
        };
        let (mdns_ms, mdns_records) = timed(mdns).await?;
        let (bind_ms, bind_records) = timed(bind_addr).await?;
        // One more record: BIND fetches the difference; its log says how many bytes that cost.
        post(
            &http,
            &format!("{base}/v2/zones/{id}/recordsets"),
            json!({"name": format!("one.{zone}"), "type": "A", "records": ["192.0.2.99"]}),
        )
        .await?;
        let (serial, _) = zone_serial(&http, &base, &id).await?;
        wait_served(bind_addr, zone, serial, Duration::from_secs(60)).await?;
        let log = bind.log();
        let bytes: Option<u64> = log
            .lines()
            .filter(|l| {
                l.contains("'big.bench.test/IN'")
                    && l.contains("Transfer completed")
                    && l.contains(&format!("(serial {serial})"))
            })
            .find_map(|l| l.split(" bytes").next()?.rsplit(' ').next()?.parse().ok());
        big = json!({
            "big_zone_records": mdns_records.saturating_sub(2),
            "axfr_from_mdns_ms": mdns_ms,
            "axfr_from_bind_ms": bind_ms,
            "axfr_mdns_over_bind_time_ratio": mdns_ms / bind_ms,
            "axfr_records_equal": mdns_records == bind_records,
            "one_record_change_transfer_bytes": bytes,
        });
    }
    running.stop().await;
    drop(bind);

    let mut report = json!({
        "benchmark": "data_plane",
        "latency_samples": args.latency_samples,
        "create_to_bind_serves_p50_ms": served_ms.p50_ms(),
        "create_to_bind_serves_p99_ms": served_ms.p99_ms(),
        "create_to_active_p50_ms": active_ms.p50_ms(),
        "create_to_active_p99_ms": active_ms.p99_ms(),
        "sustained_offered_per_s": if args.rate > 0 { json!(args.rate) } else { json!("unlimited") },
        "sustained_changes_acked": acked,
        "sustained_load_s": load_s,
        "sustained_all_served_after_s": served_s,
        "sustained_changes_per_s_all_served": acked as f64 / served_s,
    });
    if let (Some(report), Some(big)) = (report.as_object_mut(), big.as_object()) {
        report.extend(big.clone());
    }
    crate::bench::print_report(&report, args.json_out.as_deref())
}

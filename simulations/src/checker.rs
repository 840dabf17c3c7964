//! The checker, run after the load stops and every fault is healed: every acknowledged change is in the
//! event stream and the read model exactly once and nothing refused took effect; no zone's history forks;
//! every secondary converges to mdns's serial and content (AXFR compared) within a deadline; and ERROR
//! lines of every instance are collected. (Serial regressions come from the sampler in `monitor`.)

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nsplane_dataplane::client::{self, SoaAnswer};
use nsplane_schema::ZoneEvent;

use crate::cluster::layout;
use serde::Serialize;

use crate::cluster::Topology;
use crate::load::{Op, OpKind, Outcome, ZoneModel};

/// What the checker found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckResult {
    /// Operations answered 2xx (zone creates included).
    pub acknowledged: usize,
    /// Acknowledged operations whose effect is missing from the stream, the read model, or the final state.
    pub lost: usize,
    /// Acknowledged operations that took effect more than once (commits, audit versions or rows).
    pub duplicated: usize,
    /// Refused operations that took effect anyway, and rows no operation explains.
    pub unexpected: usize,
    /// Operations with no answer before the retry deadline.
    pub indefinite: usize,
    /// Indefinite operations found committed afterwards.
    pub recovered: usize,
    /// Zone histories with a gap, a repeated version or sequences out of order.
    pub forks: usize,
    /// Reads of a zone's history from the stream that stopped short and were repeated.
    pub short_reads: usize,
    /// Serials that went backwards on some server.
    pub serial_regressions: usize,
    /// Whether every server served the read model's serial and mdns's content within the deadline.
    pub converged: bool,
    /// Seconds from the end of load and faults until everything converged.
    pub final_convergence_s: Option<f64>,
    /// ERROR lines logged by any instance during the scenario (`instance: line`).
    pub error_lines: Vec<String>,
    /// Commits the producers issued under a lease (their metadata carries its fence).
    pub producer_commits: u64,
    /// Of those, commits whose lease token is older than one already committed for the same lease: a
    /// producer acted on shards after another had taken them over (invariant 5; must be 0).
    pub stale_fences: u64,
    /// Events in the log that make a notification (every zone and naming event but bookkeeping).
    pub notifications_expected: usize,
    /// Of those, events with no notification on the NATS stream by the deadline.
    pub notifications_missing: usize,
    /// Notifications stored more than once (the same message id twice).
    pub notifications_duplicated: usize,
    /// Events with no notification delivered from RabbitMQ by the deadline (must be 0).
    pub amqp_notifications_missing: usize,
    /// Notifications delivered from RabbitMQ more than once (at least once is RabbitMQ's promise: a
    /// notifier killed between the broker's confirm and its own acknowledgement sends again, with the
    /// same message id). Reported, not a failure.
    pub amqp_notifications_duplicated: usize,
    /// Nova notifications the sink load published (duplicates included).
    pub sink_published: usize,
    /// Of those, published twice verbatim.
    pub sink_duplicates: usize,
    /// Instances whose delete was published before their create.
    pub sink_reordered: usize,
    /// Records the sinks had to make (A and AAAA of every instance created and not deleted).
    pub sink_records_expected: usize,
    /// Servers (mdns, BIND) that did not serve exactly those records in the sink zone by the deadline.
    pub sink_mismatches: usize,
    /// Groups of the read models that a replay of the whole stream (`nsplane replay --fresh --verify`)
    /// rebuilt differently from the live ones (`None`: the replay could not run).
    pub replay_differences: Option<usize>,
    /// Why the check failed, one line per finding (empty: passed).
    pub failures: Vec<String>,
}

/// Runs every check. `log_offsets` are `(instance name, log path, offset at the scenario's start)`.
/// A check that cannot finish (NATS or PostgreSQL unreachable past the deadline) is a failed check.
pub async fn check(
    topology: &Topology,
    zones: &[ZoneModel],
    ops: &[Op],
    log_offsets: &[(String, std::path::PathBuf, u64)],
    deadline: Duration,
) -> CheckResult {
    match check_inner(topology, zones, ops, log_offsets, deadline).await {
        Ok(result) => result,
        Err(e) => CheckResult {
            acknowledged: ops.iter().filter(|o| o.outcome == Outcome::Ok).count(),
            failures: vec![format!("the checker could not finish: {e:#}")],
            ..Default::default()
        },
    }
}

async fn check_inner(
    topology: &Topology,
    zones: &[ZoneModel],
    ops: &[Op],
    log_offsets: &[(String, std::path::PathBuf, u64)],
    deadline: Duration,
) -> anyhow::Result<CheckResult> {
    let mut result = CheckResult {
        acknowledged: ops.iter().filter(|o| o.outcome == Outcome::Ok).count(),
        indefinite: ops.iter().filter(|o| o.outcome == Outcome::Indefinite).count(),
        ..Default::default()
    };
    let started = Instant::now();
    // Right after a NATS fault the stream's configuration request can time out: try until the deadline.
    let store = loop {
        match open_store(topology).await {
            Ok(store) => break store,
            Err(e) if started.elapsed() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let (pg, connection) = connect_pg(&topology.database_url, deadline).await?;
    let pg_task = tokio::spawn(connection);

    // The projection catches up with the stream (bounded), then every server converges (bounded).
    let limit = started + deadline;
    loop {
        let mut lagging = Vec::new();
        for zone in zones {
            // Right after a NATS fault a read may fail or lag; it counts as "not yet" until the deadline.
            let stream_version = match store.last::<ZoneEvent>(&zone.id).await {
                Ok(last) => last.map(|c| c.envelope.version).unwrap_or(0),
                Err(e) => {
                    lagging.push(format!("{}: {e:#}", zone.name));
                    continue;
                }
            };
            let row = pg
                .query_opt(
                    "SELECT version FROM projection_versions WHERE aggregate_type = 'zone' AND aggregate_id = $1",
                    &[&zone.id],
                )
                .await?;
            let projected = row.map(|r| r.get::<_, i64>(0) as u64).unwrap_or(0);
            if projected != stream_version {
                lagging.push(format!(
                    "{}: stream v{stream_version}, read model v{projected}",
                    zone.name
                ));
            }
        }
        if lagging.is_empty() {
            break;
        }
        if Instant::now() > limit {
            result
                .failures
                .push(format!("projection did not catch up: {}", lagging.join("; ")));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let servers = crate::monitor::servers(&topology.mdns, &topology.secondaries);
    let mut last_mismatch;
    loop {
        last_mismatch = converged(&pg, &servers, zones)
            .await
            .unwrap_or_else(|e| vec![format!("{e:#}")]);
        if last_mismatch.is_empty() {
            result.converged = true;
            result.final_convergence_s = Some(started.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !result.converged {
        result.failures.push(format!(
            "not converged within {deadline:?}: {}",
            last_mismatch.iter().take(10).cloned().collect::<Vec<_>>().join("; ")
        ));
    }

    // Each zone's history: versions 1, 2, 3, ... at increasing stream sequences, one commit per request.
    let mut commits_by_request: HashMap<String, usize> = HashMap::new();
    for zone in zones {
        let Some(last) = retry(|| store.last::<ZoneEvent>(&zone.id)).await? else {
            result.failures.push(format!("{}: no history in the stream", zone.name));
            continue;
        };
        // A read can stop short when a replica that is still catching up serves it (seen after a NATS
        // node restart; nsplane's executor refuses such a read too). A short read is not a fork: read again.
        let mut commits = retry(|| store.commits_between::<ZoneEvent>(&zone.id, 0, last.stream_seq)).await?;
        for _ in 0..40 {
            if commits.last().map(|c| c.stream_seq) == Some(last.stream_seq) {
                break;
            }
            result.short_reads += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
            commits = retry(|| store.commits_between::<ZoneEvent>(&zone.id, 0, last.stream_seq)).await?;
        }
        let mut fork = None;
        for (i, commit) in commits.iter().enumerate() {
            if commit.envelope.version != i as u64 + 1 {
                fork = Some(format!(
                    "commit at seq {} has version {}, expected {}",
                    commit.stream_seq,
                    commit.envelope.version,
                    i + 1
                ));
                break;
            }
            if i > 0 && commit.stream_seq <= commits[i - 1].stream_seq {
                fork = Some(format!(
                    "sequence {} after {}",
                    commit.stream_seq,
                    commits[i - 1].stream_seq
                ));
                break;
            }
            *commits_by_request
                .entry(commit.envelope.metadata.request_id.0.clone())
                .or_default() += 1;
        }
        if commits.len() as u64 != last.envelope.version {
            fork.get_or_insert(format!(
                "{} commits read, last version {}",
                commits.len(),
                last.envelope.version
            ));
        }
        if let Some(why) = fork {
            result.forks += 1;
            result.failures.push(format!("{}: history forks: {why}", zone.name));
        }
    }

    // The read model's audit trail: each acknowledged request applied at exactly one version.
    let request_ids: Vec<String> = ops.iter().map(|o| o.request_id.clone()).collect();
    let rows = pg
        .query(
            "SELECT request_id, count(DISTINCT (aggregate_id, version)) FROM audit_events \
             WHERE request_id = ANY($1) GROUP BY request_id",
            &[&request_ids],
        )
        .await?;
    let audited: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut lost_ids = BTreeSet::new();
    let mut dup_ids = BTreeSet::new();
    for op in ops {
        let commits = commits_by_request.get(&op.request_id).copied().unwrap_or(0);
        let versions = audited.get(&op.request_id).copied().unwrap_or(0);
        match op.outcome {
            Outcome::Ok => {
                if commits == 0 || versions == 0 {
                    lost_ids.insert(format!(
                        "{:?} {} ({}): {commits} commits, {versions} audited",
                        op.kind, op.name, op.request_id
                    ));
                } else if commits > 1 || versions > 1 {
                    dup_ids.insert(format!(
                        "{:?} {} ({}): {commits} commits, {versions} audited",
                        op.kind, op.name, op.request_id
                    ));
                }
            }
            Outcome::Refused(status) => {
                if commits > 0 || versions > 0 {
                    result.unexpected += 1;
                    result.failures.push(format!(
                        "{:?} {} was refused ({status}) but committed",
                        op.kind, op.name
                    ));
                }
            }
            Outcome::Indefinite => {
                if commits == 1 {
                    result.recovered += 1;
                } else if commits > 1 || versions > 1 {
                    dup_ids.insert(format!(
                        "{:?} {} ({}): indefinite, {commits} commits",
                        op.kind, op.name, op.request_id
                    ));
                }
            }
        }
    }

    // The final state: every record set the acknowledged history implies, exactly once, nothing else.
    let acked_names: HashSet<(usize, &str)> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && o.kind != OpKind::CreateZone)
        .map(|o| (o.zone, o.name.as_str()))
        .collect();
    for (idx, zone) in zones.iter().enumerate() {
        let rows = pg
            .query(
                "SELECT name, id::text, records FROM recordsets WHERE zone_id = $1::text::uuid AND NOT managed",
                &[&zone.id],
            )
            .await?;
        let mut by_name: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
        for row in rows {
            let mut records: Vec<String> = row.get(2);
            records.sort();
            by_name.entry(row.get(0)).or_default().push((row.get(1), records));
        }
        for (name, expected) in &zone.recordsets {
            if zone.uncertain.contains(name) {
                continue;
            }
            match by_name.get(name).map(Vec::as_slice) {
                None | Some([]) => {
                    lost_ids.insert(format!("{name}: missing from the read model"));
                }
                Some([(id, records)]) => {
                    if *id != expected.id || *records != expected.records {
                        lost_ids.insert(format!(
                            "{name}: read model has {id} {records:?}, acknowledged {} {:?}",
                            expected.id, expected.records
                        ));
                    }
                }
                Some(many) => {
                    dup_ids.insert(format!("{name}: {} rows", many.len()));
                }
            }
        }
        for name in by_name.keys() {
            if zone.recordsets.contains_key(name) || zone.uncertain.contains(name) {
                continue;
            }
            if acked_names.contains(&(idx, name.as_str())) {
                lost_ids.insert(format!("{name}: deleted (acknowledged) but still in the read model"));
            } else {
                result.unexpected += 1;
                result
                    .failures
                    .push(format!("{name}: in the read model, never acknowledged"));
            }
        }
    }
    result.lost = lost_ids.len();
    result.duplicated = dup_ids.len();
    for why in lost_ids.iter().take(20) {
        result.failures.push(format!("lost: {why}"));
    }
    for why in dup_ids.iter().take(20) {
        result.failures.push(format!("duplicated: {why}"));
    }

    for (name, path, offset) in log_offsets {
        for line in crate::process::log_since(path, *offset).lines() {
            if line.contains(" ERROR ") {
                result.error_lines.push(format!("{name}: {line}"));
            }
        }
    }
    pg_task.abort();

    // At most one producer acts on a shard: no commit carries an older token of its lease than one
    // already committed.
    let (producer_commits, stale) = stale_fences(&store).await?;
    result.producer_commits = producer_commits;
    result.stale_fences = stale;
    if stale > 0 {
        result.failures.push(format!(
            "{stale} producer commits carry a lease token older than one already committed"
        ));
    }

    // Every event makes exactly one notification on NATS and at least one on RabbitMQ (the producers
    // run the notifier).
    match notifications(topology, &store, Instant::now() + deadline).await {
        Ok(found) => {
            let expected = found.expected;
            result.notifications_expected = expected;
            result.notifications_missing = found.missing;
            result.notifications_duplicated = found.duplicated;
            result.amqp_notifications_missing = found.amqp_missing;
            result.amqp_notifications_duplicated = found.amqp_duplicated;
            if found.missing > 0 || found.duplicated > 0 {
                result.failures.push(format!(
                    "notifications: {} of {expected} events have none, {} stored twice",
                    found.missing, found.duplicated
                ));
            }
            if found.amqp_missing > 0 {
                result.failures.push(format!(
                    "notifications: {} of {expected} events have none delivered from RabbitMQ",
                    found.amqp_missing
                ));
            }
        }
        Err(e) => result
            .failures
            .push(format!("notifications could not be checked: {e:#}")),
    }

    // Replaying the whole stream must rebuild exactly the live read models.
    match replay_differences(topology).await {
        Ok((0, _)) => result.replay_differences = Some(0),
        Ok((n, report)) => {
            result.replay_differences = Some(n);
            result.failures.push(format!(
                "replay: {n} groups of the rebuilt read models differ from the live ones: {report}"
            ));
        }
        Err(e) => result.failures.push(format!("replay could not run: {e:#}")),
    }
    Ok(result)
}

/// Runs `nsplane replay --fresh --verify --json` (the binary at `binary`) against the deployment of
/// `prefix` and returns its report (it exits 3 when the models differ; the report says so too).
pub(crate) async fn replay_report(
    binary: &std::path::Path,
    nats_url: &str,
    database_url: &str,
    prefix: &str,
) -> anyhow::Result<serde_json::Value> {
    let output = tokio::process::Command::new(binary)
        .args([
            "replay",
            "--nats-url",
            nats_url,
            "--database-url",
            database_url,
            "--prefix",
            prefix,
            "--fresh",
            "--verify",
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .context("failed to run nsplane replay")?;
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "nsplane replay printed no report ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `nsplane replay --fresh --verify` against the simulation: how many groups differ, and the
/// verification's report.
async fn replay_differences(topology: &Topology) -> anyhow::Result<(usize, String)> {
    let nats = topology.nats_urls.first().context("no NATS")?;
    let binary = crate::cluster::find_nsplane()?;
    let report = replay_report(&binary, nats, &topology.database_url, crate::cluster::PREFIX).await?;
    let verification = &report["verification"];
    anyhow::ensure!(
        verification["moving"].as_array().is_some_and(Vec::is_empty),
        "the read models kept changing during the replay: {verification}"
    );
    let differences = verification["differences"].as_array().context("no verification")?;
    Ok((differences.len(), verification["differences"].to_string()))
}

/// Calls `f` until it succeeds, at most 20 times, 250 ms apart (NATS reads right after a fault).
async fn retry<T, F, Fut>(mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut last_error = None;
    for _ in 0..20 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
}

async fn open_store(topology: &Topology) -> anyhow::Result<nsplane_command::EventStore> {
    let mut last_error = None;
    for url in &topology.nats_urls {
        let config = nsplane_runtime::NatsConfig { url: url.clone() };
        match nsplane_runtime::connect(&config, "nsplane-sim-checker").await {
            Ok(client) => {
                let mut store = nsplane_command::StoreConfig::new(layout());
                store.replicas = 3;
                return nsplane_command::EventStore::open(client, store).await;
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no NATS URL")))
}

type PgConnection = tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

async fn connect_pg(url: &str, limit: Duration) -> anyhow::Result<(tokio_postgres::Client, PgConnection)> {
    let deadline = Instant::now() + limit;
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok(pair) => return Ok(pair),
            Err(e) if Instant::now() > deadline => return Err(e).context("failed to connect to the read models"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// What differs between the read model's serials, mdns and the secondaries (empty: converged).
async fn converged(
    pg: &tokio_postgres::Client,
    servers: &[(String, SocketAddr)],
    zones: &[ZoneModel],
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let timeout = Duration::from_secs(2);
    for zone in zones {
        let row = pg
            .query_one("SELECT serial FROM zones WHERE id = $1::text::uuid", &[&zone.id])
            .await?;
        let serial = row.get::<_, i64>(0) as u32;
        for (name, addr) in servers {
            match client::soa(*addr, &zone.name, timeout).await {
                Ok(SoaAnswer::Serial(s)) if s == serial => {}
                other => out.push(format!("{} on {name}: {other:?}, read model {serial}", zone.name)),
            }
        }
        if !out.is_empty() {
            continue;
        }
        let reference = axfr_set(servers[0].1, &zone.name).await?;
        for (name, addr) in &servers[1..] {
            let content = axfr_set(*addr, &zone.name).await?;
            if content != reference {
                let missing: Vec<&String> = reference.difference(&content).take(3).collect();
                let extra: Vec<&String> = content.difference(&reference).take(3).collect();
                out.push(format!(
                    "{} on {name}: content differs from {} (missing {missing:?}, extra {extra:?})",
                    zone.name, servers[0].0
                ));
            }
        }
    }
    Ok(out)
}

/// A zone's AXFR as a set of `name ttl type rdata` lines (the closing SOA folds into the opening one).
pub async fn axfr_set(addr: SocketAddr, zone: &str) -> anyhow::Result<BTreeSet<String>> {
    let records = client::axfr(addr, zone, Duration::from_secs(5))
        .await
        .with_context(|| format!("AXFR of {zone} from {addr}"))?;
    Ok(records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data).to_lowercase())
        .collect())
}

/// Reads every zone commit in stream order: how many carry a producer's lease fence, and how many of
/// those carry a token older than one already committed for the same lease.
pub async fn stale_fences(store: &nsplane_command::EventStore) -> anyhow::Result<(u64, u64)> {
    use futures::StreamExt as _;
    let mut reader = store
        .read_log(&nsplane_command::log::LogFilter::Kind("zone".into()), 1)
        .await?;
    let mut newest: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let (mut commits, mut stale) = (0, 0);
    for _ in 0..reader.matching {
        let logged = reader.commits.next().await.context("the log ended early")??;
        let Some(fence) = &logged.commit.metadata.fence else {
            continue;
        };
        commits += 1;
        let seen = newest.entry(fence.lease.clone()).or_insert(0);
        if fence.token < *seen {
            stale += 1;
            tracing::error!(
                seq = logged.stream_seq,
                lease = %fence.lease,
                token = fence.token,
                newest = *seen,
                "a producer's commit carries a stale lease token"
            );
        }
        *seen = (*seen).max(fence.token);
    }
    Ok((commits, stale))
}

/// The message ids every zone and naming event of the log makes (bookkeeping events make none), as
/// the notifier derives them from stream position and event index.
async fn expected_notifications(store: &nsplane_command::EventStore) -> anyhow::Result<BTreeSet<String>> {
    use futures::StreamExt as _;
    let mut reader = store.read_log(&nsplane_command::log::LogFilter::All, 1).await?;
    let mut out = BTreeSet::new();
    for _ in 0..reader.matching {
        let logged = reader.commits.next().await.context("the log ended early")??;
        if !matches!(logged.commit.aggregate_type.as_str(), "zone" | "naming" | "tsigkey") {
            continue;
        }
        for (index, event) in logged.commit.events.iter().enumerate() {
            let raw = event.get();
            let bookkeeping = [
                "ZoneRecoveryRequested",
                "ManagedRecordsClaimed",
                "ManagedResourceReleased",
            ]
            .iter()
            .any(|tag| raw.contains(&format!("\"{tag}.v")));
            if !bookkeeping {
                out.insert(nsplane_notify::payload::message_id(logged.stream_seq, index).to_string());
            }
        }
    }
    Ok(out)
}

/// The message ids on the notifications stream `name`, and how many were stored twice.
async fn notification_ids(
    store: &nsplane_command::EventStore,
    name: &str,
) -> anyhow::Result<(BTreeSet<String>, usize)> {
    use futures::StreamExt as _;
    let stream = store
        .context()
        .get_stream(name)
        .await
        .map_err(|e| anyhow::anyhow!("no notifications stream: {e}"))?;
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut duplicated = 0;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .map_err(|e| anyhow::anyhow!("failed to read the notifications: {e}"))?;
    let (pending, consumer_name) = (consumer.cached_info().num_pending, consumer.cached_info().name.clone());
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("failed to read the notifications: {e}"))?;
    for _ in 0..pending {
        let message = messages
            .next()
            .await
            .context("the notifications ended early")?
            .map_err(|e| anyhow::anyhow!("failed to read a notification: {e}"))?;
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        if !ids.insert(id) {
            duplicated += 1;
        }
    }
    let _ = stream.delete_consumer(&consumer_name).await;
    Ok((ids, duplicated))
}

/// Notifications found against the events of the log.
struct Notifications {
    expected: usize,
    missing: usize,
    duplicated: usize,
    amqp_missing: usize,
    amqp_duplicated: usize,
}

/// Waits (until `limit`) for the notifications stream to hold one notification per event of the log,
/// and for RabbitMQ to have delivered each, then compares.
async fn notifications(
    topology: &Topology,
    store: &nsplane_command::EventStore,
    limit: Instant,
) -> anyhow::Result<Notifications> {
    let expected = expected_notifications(store).await?;
    let name = store.layout().notifications_stream();
    // Wait for every expected id, not for a count: notifications of events committed after the log was
    // read (sync reports still arriving) would fill a count while earlier ones are still in flight.
    let (ids, duplicated) = loop {
        let (ids, duplicated) = match notification_ids(store, &name).await {
            Ok(read) => read,
            Err(e) if Instant::now() > limit => return Err(e),
            Err(_) => (BTreeSet::new(), 0),
        };
        if expected.is_subset(&ids) || Instant::now() > limit {
            break (ids, duplicated);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let missing = expected.difference(&ids).count();
    let amqp = loop {
        let seen = topology.amqp_notifications.snapshot();
        if expected.iter().all(|id| seen.contains_key(id)) || Instant::now() > limit {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Ok(Notifications {
        expected: expected.len(),
        missing,
        duplicated,
        amqp_missing: expected.iter().filter(|id| !amqp.contains_key(*id)).count(),
        amqp_duplicated: expected
            .iter()
            .filter_map(|id| amqp.get(id))
            .map(|n| n.saturating_sub(1) as usize)
            .sum(),
    })
}

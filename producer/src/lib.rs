//! `nsplane producer`: periodic tasks over the zone space, run by any number of instances. The shards
//! are split into ranges held through fenced leases in JetStream KV (`nsplane_command::leases`); an
//! instance acts only on the zones of the ranges it holds, and every command it issues carries the
//! range's fencing token, so one that lost its lease (paused past it, cut off) cannot act any more.
//!
//! Tasks:
//! - recovery of zones waiting for the data plane (PENDING or ERROR with no commit for
//!   `recover_after`): a `RequestRecovery` command, after which central publishes the zone change
//!   again and a worker pushes it. A zone that keeps waiting is asked for again with a doubling delay.
//! - the pools' NS records: when a pool's `ns_records` change (`nsplane pool update`), every existing
//!   zone of the pool gets them as its apex NS record set (Designate's `update_pool`), at a bounded
//!   rate so the secondaries are not flooded with NOTIFYs (Designate's `delayed_notify`); checked
//!   again every `ns_sync_every` and whenever the pools or the held ranges change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use nsplane_command::leases::{LeaseConfig, Leaseholder};
use nsplane_command::service::Actor;
use nsplane_command::zone::ZoneCommand;
use nsplane_command::{Commands, EventStore, ExecuteError, PoolsHandle, StoreConfig, ZoneError};
use nsplane_projection::read::ReadModels;
use nsplane_projection::PgConfig;
use nsplane_runtime::ops::Outage;
use nsplane_runtime::NatsConfig;
use nsplane_schema::envelope::Fence;
use nsplane_schema::{RecordType, Records, RecordsetId, ZoneId};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Zones the producer's write side keeps per process.
const PRODUCER_ZONE_CACHE: usize = 1000;
/// The longest delay between two recoveries of a zone that keeps waiting.
const RECOVERY_BACKOFF_MAX: Duration = Duration::from_secs(600);

/// Everything a producer needs, validated.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// NATS.
    pub nats: NatsConfig,
    /// The event stream's layout.
    pub store: StoreConfig,
    /// The read models.
    pub pg: PgConfig,
    /// How the shard ranges are held.
    pub leases: LeaseConfig,
    /// A zone PENDING or ERROR with no commit for this long is pushed again.
    pub recover_after: Duration,
    /// How often the waiting zones of the held ranges are looked at.
    pub scan_every: Duration,
    /// How often zones' NS records are compared with their pool's (also at every pools change).
    pub ns_sync_every: Duration,
    /// At most this many zones' NS records are rewritten per second.
    pub ns_rewrites_per_sec: u32,
    /// `dns.zone.exists` for every zone of the held ranges once per period (Designate's
    /// periodic_exists, for billing), sent where these notifications go.
    pub exists: Option<(nsplane_notify::NotifyConfig, Duration)>,
}

impl ProducerConfig {
    /// Defaults for a deployment.
    pub fn new(nats: NatsConfig, store: StoreConfig, pg: PgConfig) -> Self {
        Self {
            nats,
            store,
            pg,
            leases: LeaseConfig::default(),
            recover_after: Duration::from_secs(10),
            scan_every: Duration::from_secs(1),
            ns_sync_every: Duration::from_secs(60),
            ns_rewrites_per_sec: 100,
            exists: None,
        }
    }
}

/// A held range as the tasks see it.
#[derive(Debug, Clone)]
struct HeldRange {
    range: u16,
    shards: std::ops::Range<u16>,
    fence: Fence,
}

/// `nsplane producer`: holds leases and runs the periodic tasks on the held ranges until `shutdown`
/// turns true; then gives its leases back so other instances take them at once.
pub async fn run(config: ProducerConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-producer").await?;
    let store = EventStore::open(client.clone(), config.store.clone()).await?;
    let exists = match &config.exists {
        Some((notify, every)) => Some(Exists {
            outputs: nsplane_notify::Outputs::open(notify.clone(), client).await?,
            every: *every,
            sent: HashMap::new(),
        }),
        None => None,
    };
    let pool = nsplane_projection::connect_pool(&config.pg)?;
    nsplane_projection::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    let commands = Arc::new(
        Commands::open(
            store.clone(),
            Default::default(),
            Default::default(),
            PRODUCER_ZONE_CACHE,
            false,
        )
        .await?,
    );
    let instance = Uuid::new_v4().to_string();
    let leases = Leaseholder::new(&store, config.leases, instance.clone()).await?;
    info!(%instance, ranges = config.leases.ranges, ttl_s = config.leases.ttl.as_secs(), "producer holding leases");
    let (held_tx, held_rx) = watch::channel(Vec::new());
    let holder = tokio::spawn(hold(leases, held_tx, shutdown.clone()));
    let tasks = Tasks {
        config: config.clone(),
        commands,
        read: ReadModels::new(pool),
        recovery: HashMap::new(),
        pools: None,
        ns_synced: None,
        exists,
    };
    tasks.run(held_rx, shutdown).await;
    holder.await.context("the lease holder panicked")?;
    info!("producer stopped");
    Ok(())
}

/// Keeps the leases: a round every `renew_every`, the held ranges published after each. Gives them
/// back when `shutdown` turns true.
async fn hold(mut leases: Leaseholder, held: watch::Sender<Vec<HeldRange>>, mut shutdown: watch::Receiver<bool>) {
    let config = *leases.config();
    let mut outage = Outage::new("producer leases");
    let mut ticker = tokio::time::interval(config.renew_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = ticker.tick() => {}
        }
        match tokio::time::timeout(config.ttl / 2, leases.round()).await {
            Ok(Ok(round)) => {
                outage.worked();
                for range in &round.acquired {
                    metrics::counter!("nsplane_lease_changes_total", "change" => "acquired").increment(1);
                    info!(range, members = round.members, "lease acquired");
                }
                for range in &round.lost {
                    metrics::counter!("nsplane_lease_changes_total", "change" => "lost").increment(1);
                    warn!(range, "lease lost");
                }
                for range in &round.released {
                    metrics::counter!("nsplane_lease_changes_total", "change" => "released").increment(1);
                    info!(range, members = round.members, "lease released for another producer");
                }
            }
            Ok(Err(e)) => outage.failed(&format!("{e:#}")),
            Err(_) => outage.failed("a lease round timed out"),
        }
        let now: Vec<HeldRange> = leases
            .holding()
            .into_iter()
            .map(|(range, fence)| HeldRange {
                range,
                shards: config.shards_of(range),
                fence,
            })
            .collect();
        metrics::gauge!("nsplane_leases_held").set(now.len() as f64);
        held.send_replace(now);
    }
    held.send_replace(Vec::new());
    leases.release_all().await;
    info!("leases given back");
}

/// What the recovery task remembers of a waiting zone.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// The version last seen.
    version: i64,
    /// Since when it has been at that version (or since the last recovery asked for).
    since: Instant,
    /// Recoveries asked for in a row without other progress.
    attempts: u32,
    /// The version our last recovery committed.
    ours: Option<i64>,
}

struct Tasks {
    config: ProducerConfig,
    commands: Arc<Commands>,
    read: ReadModels,
    recovery: HashMap<Uuid, Tracked>,
    /// `dns.zone.exists`, when configured.
    exists: Option<Exists>,
    /// The committed pools, followed once there are any (with the task that follows them).
    pools: Option<(PoolsHandle, tokio::task::JoinHandle<()>)>,
    /// The last complete NS sync: when, at which pools version, over which leases.
    ns_synced: Option<(Instant, u64, Vec<Fence>)>,
}

/// The `dns.zone.exists` task: where they go, how often, and the last period sent per range.
struct Exists {
    outputs: nsplane_notify::Outputs,
    every: Duration,
    sent: HashMap<u16, i64>,
}

/// Zones read per page by the exists task.
const EXISTS_PAGE: i64 = 500;

/// Zones whose NS records one round of the NS sync rewrites per range, at most.
const NS_SYNC_BATCH: i64 = 500;

impl Tasks {
    async fn run(mut self, mut held: watch::Receiver<Vec<HeldRange>>, mut shutdown: watch::Receiver<bool>) {
        let mut outage = Outage::new("producer tasks");
        let mut ticker = tokio::time::interval(self.config.scan_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = ticker.tick() => {}
            }
            let ranges = held.borrow_and_update().clone();
            if self.pools.is_none() {
                // None committed yet (the NS sync waits for them; recovery does not need them).
                if let Ok(handle) = self.commands.pools().handle().await {
                    let follower = tokio::spawn(nsplane_command::pools::follow(
                        self.commands.pools().clone(),
                        handle.clone(),
                        shutdown.clone(),
                    ));
                    self.pools = Some((handle, follower));
                }
            }
            let mut result = self.recover(&ranges, &held).await;
            if result.is_ok() && self.ns_sync_due(&ranges) {
                result = self.sync_ns(&ranges, &held).await;
            }
            if result.is_ok() {
                result = self.zone_exists(&ranges, &held).await;
            }
            if result.is_ok() {
                result = self.finish_imports(&ranges).await;
            }
            match result {
                Ok(()) => outage.worked(),
                Err(e) => outage.failed(&format!("{e:#}")),
            }
        }
        self.stop();
    }

    fn stop(self) {
        if let Some((_, follower)) = self.pools {
            follower.abort();
        }
    }

    /// Whether the NS sync should run: there are pools, and it never ran, the pools or the held leases
    /// changed, or it is time.
    fn ns_sync_due(&self, ranges: &[HeldRange]) -> bool {
        let Some((pools, _)) = &self.pools else {
            return false;
        };
        let fences: Vec<Fence> = ranges.iter().map(|r| r.fence.clone()).collect();
        match &self.ns_synced {
            None => !ranges.is_empty(),
            Some((at, version, synced)) => {
                *version != pools.version() || *synced != fences || at.elapsed() >= self.config.ns_sync_every
            }
        }
    }

    /// Rewrites the apex NS record set of the held ranges' zones whose records are not their pool's.
    async fn sync_ns(&mut self, ranges: &[HeldRange], held: &watch::Receiver<Vec<HeldRange>>) -> anyhow::Result<()> {
        let Some((handle, _)) = &self.pools else {
            return Ok(());
        };
        let (version, pools) = (handle.version(), handle.current());
        let pace = Duration::from_secs(1) / self.config.ns_rewrites_per_sec.max(1);
        let mut complete = true;
        for range in ranges {
            for (pool_id, pool) in pools.iter() {
                let mut ns = pool.ns_records();
                if ns.is_empty() {
                    continue;
                }
                ns.sort_by_key(|ns| ns.priority);
                let expected: Vec<String> = ns.iter().map(|ns| ns.hostname.to_string()).collect();
                let records = Records::validate(RecordType::NS, &expected)
                    .with_context(|| format!("pool {pool_id} has NS records that are not valid NS data"))?;
                let zones = self
                    .read
                    .zones_with_other_ns(pool_id.0, &expected, range.shards.clone(), NS_SYNC_BATCH)
                    .await?;
                if zones.len() as i64 >= NS_SYNC_BATCH {
                    complete = false;
                }
                for zone in zones {
                    if !held
                        .borrow()
                        .iter()
                        .any(|h| h.range == range.range && h.fence == range.fence)
                    {
                        return Ok(());
                    }
                    let zone_id = ZoneId(zone);
                    let mut actor = Actor::service("producer");
                    actor.metadata.fence = Some(range.fence.clone());
                    let command = ZoneCommand::UpdateRecordset {
                        recordset_id: RecordsetId::managed(zone_id, "NS"),
                        records: Some(records.clone()),
                        ttl: None,
                        description: None,
                        edit_managed: true,
                    };
                    match self.commands.zone(zone_id, command, &actor).await {
                        Ok(_) => {
                            metrics::counter!("nsplane_producer_ns_rewrites_total").increment(1);
                            info!(%zone_id, pool_id = %pool_id, ns = ?expected, "zone given its pool's NS records");
                        }
                        Err(ExecuteError::Rejected(
                            ZoneError::NotFound | ZoneError::Deleting | ZoneError::RecordsetNotFound,
                        )) => {}
                        Err(ExecuteError::Fenced(lease)) => {
                            warn!(%lease, range = range.range, "the lease moved on; this range's NS sync stops");
                            return Ok(());
                        }
                        Err(e) => {
                            warn!(%zone_id, error = %e, "NS records not rewritten; tried again next round");
                            complete = false;
                        }
                    }
                    tokio::time::sleep(pace).await;
                }
            }
        }
        if complete {
            let fences = ranges.iter().map(|r| r.fence.clone()).collect();
            self.ns_synced = Some((Instant::now(), version, fences));
        }
        Ok(())
    }

    /// Sends `dns.zone.exists` for every zone of each held range, once per period: the period that
    /// ended last, `[start, end)`. Its message id comes from the zone and the period, so a range taken
    /// over mid-way is sent again with the same ids (NATS drops the repeats).
    async fn zone_exists(
        &mut self,
        ranges: &[HeldRange],
        held: &watch::Receiver<Vec<HeldRange>>,
    ) -> anyhow::Result<()> {
        let Some(exists) = &mut self.exists else {
            return Ok(());
        };
        let every = i64::try_from(exists.every.as_secs().max(1)).unwrap_or(i64::MAX);
        let now = chrono::Utc::now();
        let end = now.timestamp() - now.timestamp().rem_euclid(every);
        let start = end - every;
        let stamp = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        for range in ranges {
            if exists.sent.get(&range.range) == Some(&start) {
                continue;
            }
            let mut after = None;
            loop {
                if !held
                    .borrow()
                    .iter()
                    .any(|h| h.range == range.range && h.fence == range.fence)
                {
                    return Ok(());
                }
                let zones = self
                    .read
                    .zones_in_shards(range.shards.clone(), after, EXISTS_PAGE)
                    .await?;
                let Some(last) = zones.last() else {
                    break;
                };
                after = Some(last.id);
                let mut metadata = nsplane_schema::Metadata::service("producer");
                metadata.time = now;
                let notifications: Vec<nsplane_notify::Notification> = zones
                    .iter()
                    .map(|zone| nsplane_notify::Notification {
                        message_id: nsplane_notify::payload::exists_message_id(zone.id, start),
                        event_type: "dns.zone.exists",
                        payload: serde_json::json!({
                            "id": zone.id.to_string(),
                            "pool_id": zone.pool_id.to_string(),
                            "project_id": zone.project_id,
                            "tenant_id": zone.project_id,
                            "name": zone.name,
                            "email": zone.email,
                            "ttl": zone.ttl,
                            "serial": zone.serial,
                            "status": zone.status.to_string(),
                            "action": zone.action.to_string(),
                            "type": zone.zone_type,
                            "description": zone.description,
                            "attributes": zone.attributes,
                            "version": zone.version,
                            "shard": ZoneId(zone.id).shard(),
                            "created_at": zone.created_at.format("%Y-%m-%dT%H:%M:%S.%6f").to_string(),
                            "updated_at": zone.updated_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S.%6f").to_string()),
                            "audit_period_beginning": stamp(start),
                            "audit_period_ending": stamp(end),
                        }),
                        metadata: metadata.clone(),
                    })
                    .collect();
                exists.outputs.publish(&notifications).await?;
                metrics::counter!("nsplane_zone_exists_total").increment(notifications.len() as u64);
                if (zones.len() as i64) < EXISTS_PAGE {
                    break;
                }
            }
            exists.sent.insert(range.range, start);
            debug!(range = range.range, period_start = start, "dns.zone.exists sent");
        }
        Ok(())
    }

    /// Asks for zones waiting too long in the held ranges to be pushed again.
    /// Finishes zone imports of the held ranges still pending `recover_after` after they were accepted
    /// (the API that took them died before finishing). Running an import is idempotent, so a second
    /// producer or the API finishing it too changes nothing; no fence is needed.
    async fn finish_imports(&mut self, ranges: &[HeldRange]) -> anyhow::Result<()> {
        let Some((pools, _)) = &self.pools else {
            return Ok(());
        };
        let before = (chrono::Utc::now() - chrono::Duration::from_std(self.config.recover_after).unwrap_or_default())
            .naive_utc();
        for range in ranges {
            for id in self.read.pending_imports(range.shards.clone(), before, 20).await? {
                match self.commands.run_import(id, pools, "producer").await {
                    Ok(status) => {
                        metrics::counter!("nsplane_producer_imports_finished_total").increment(1);
                        info!(import = %id, status = status.as_str(), "finished a zone import its API left pending");
                    }
                    Err(e) => {
                        warn!(import = %id, error = %format!("{e:#}"), "zone import still pending; tried again next round")
                    }
                }
            }
        }
        Ok(())
    }

    async fn recover(&mut self, ranges: &[HeldRange], held: &watch::Receiver<Vec<HeldRange>>) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for range in ranges {
            let waiting = self.read.waiting_zones(range.shards.clone()).await?;
            for zone in waiting {
                seen.insert(zone.id);
                let now = Instant::now();
                let tracked = self.recovery.entry(zone.id).or_insert(Tracked {
                    version: zone.version,
                    since: now,
                    attempts: 0,
                    ours: None,
                });
                if tracked.version != zone.version {
                    if tracked.ours != Some(zone.version) {
                        // Progress by someone else: start over.
                        tracked.attempts = 0;
                    }
                    tracked.version = zone.version;
                    tracked.since = now;
                }
                let wait = self
                    .config
                    .recover_after
                    .saturating_mul(1 << tracked.attempts.min(10))
                    .min(RECOVERY_BACKOFF_MAX);
                let waited = now.duration_since(tracked.since);
                if waited < wait {
                    continue;
                }
                // The lease must still be ours (the executor checks it again before committing).
                if !held
                    .borrow()
                    .iter()
                    .any(|h| h.range == range.range && h.fence == range.fence)
                {
                    debug!(range = range.range, "lease gone; the next holder recovers its zones");
                    break;
                }
                let mut actor = Actor::service("producer");
                actor.metadata.fence = Some(range.fence.clone());
                let reason = format!("{} for {} s", zone.status, waited.as_secs());
                let zone_id = ZoneId(zone.id);
                match self
                    .commands
                    .zone(zone_id, ZoneCommand::RequestRecovery { reason: reason.clone() }, &actor)
                    .await
                {
                    Ok(committed) => {
                        metrics::counter!("nsplane_producer_recoveries_total").increment(1);
                        info!(%zone_id, %reason, attempt = tracked.attempts + 1, "asked for the zone to be pushed again");
                        tracked.ours = i64::try_from(committed.version).ok();
                        tracked.attempts += 1;
                        tracked.since = now;
                    }
                    Err(ExecuteError::Rejected(ZoneError::Superseded | ZoneError::NotFound)) => {}
                    Err(ExecuteError::Fenced(lease)) => {
                        warn!(%lease, range = range.range, "the lease moved on; this range's recovery stops");
                        break;
                    }
                    Err(e) => warn!(%zone_id, error = %e, "recovery not committed; tried again next round"),
                }
            }
        }
        self.recovery.retain(|id, _| seen.contains(id));
        Ok(())
    }
}

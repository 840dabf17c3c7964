//! `nsplane worker`: consumes the ZONE_CHANGES work queue and makes every target of the zone's pool
//! serve the zone's current serial: makes sure the zone exists there (catalog membership, `rndc
//! addzone`), sends NOTIFY, polls the pool's name servers for the serial (starting at once, with a
//! short exponential backoff), and reports the outcome as a command. A message is acknowledged only
//! once the outcome is reported; failures are retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt as _;
use nsplane_command::service::Actor;
use nsplane_command::zone::ZoneCommand;
use nsplane_command::{Commands, EventStore, ExecuteError, PoolsHandle, StoreConfig, ZoneError};
use nsplane_projection::read::{ReadModels, ZoneRow};
use nsplane_projection::PgConfig;
use nsplane_runtime::NatsConfig;
use nsplane_schema::messages::ZoneChange;
use nsplane_schema::pools::Pool;
use nsplane_schema::serial::serial_reached;
use nsplane_schema::zone::NameserverSync;
use nsplane_schema::{Action, Metadata, NameserverStatus, ProjectId, RequestId, ZoneId};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn, Instrument as _};

use crate::backends;
use crate::client::{self, SoaAnswer};
use crate::zonedata::{SourceError, ZoneSource};

/// Everything the worker needs, validated.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// NATS.
    pub nats: NatsConfig,
    /// The event stream's layout (the zone-change stream, the durable consumer every worker shares).
    pub store: StoreConfig,
    /// The read models.
    pub pg: PgConfig,
    /// Zones pushed at once by one worker.
    pub in_flight_max: usize,
    /// How long name servers get to serve a serial before the zone is reported ERROR.
    pub sync_timeout: Duration,
    /// Timeout of one NOTIFY or SOA query.
    pub query_timeout: Duration,
}

impl WorkerConfig {
    /// Defaults for a deployment.
    pub fn new(nats: NatsConfig, store: StoreConfig, pg: PgConfig) -> Self {
        Self {
            nats,
            store,
            pg,
            in_flight_max: 64,
            sync_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_millis(500),
        }
    }
}

/// `nsplane worker`: connects to NATS and PostgreSQL, opens the write side (for its reports), follows the
/// committed pools, and pushes zone changes until `shutdown` turns true.
pub async fn run(config: WorkerConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-worker").await?;
    let store = EventStore::open(client.clone(), config.store.clone()).await?;
    let pool = nsplane_projection::connect_pool(&config.pg)?;
    nsplane_projection::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    // The worker only reports sync results; it never adds records, so quotas do not bind it.
    let commands =
        Arc::new(Commands::open(store, Default::default(), Default::default(), WORKER_ZONE_CACHE, false).await?);
    let pools = commands.pools().handle().await?;
    let follower = tokio::spawn(nsplane_command::pools::follow(
        commands.pools().clone(),
        pools.clone(),
        shutdown.clone(),
    ));
    let read = ReadModels::new(pool);
    let worker = Arc::new(Worker::new(config, pools, read.clone(), commands));
    // The keys a target's or name server's `tsigkey_id` names, as they are registered.
    let keys = worker.keys.clone();
    let key_follower = tokio::spawn(crate::tsig::follow_registered(
        read,
        shutdown.clone(),
        move |registered| {
            info!(keys = registered.len(), "TSIG keys for NOTIFY and SOA polls");
            *keys.write().unwrap_or_else(|p| p.into_inner()) = registered;
        },
    ));
    let result = worker.consume(client, shutdown).await;
    follower.abort();
    key_follower.abort();
    result
}

/// Zones the worker's write side keeps per process.
const WORKER_ZONE_CACHE: usize = 1000;

/// Delays before a failed push is retried: the n-th retry waits `RETRY_DELAYS[min(n, len-1)]`.
const RETRY_DELAYS: [Duration; 6] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// Everything a push needs.
pub struct Worker {
    config: WorkerConfig,
    pools: PoolsHandle,
    read: ReadModels,
    commands: Arc<Commands>,
    /// Builds a zone's snapshot as mdns does, to say why a zone that was not served cannot be.
    source: ZoneSource,
    /// The registered TSIG keys, by id.
    keys: Arc<std::sync::RwLock<std::collections::HashMap<uuid::Uuid, crate::tsig::Key>>>,
}

/// How a push ended.
enum Pushed {
    /// Reported (synced, deleted, or moot): acknowledge.
    Done,
    /// Reported as failed, or could not report: retry later.
    Retry(String),
}

impl Worker {
    /// A worker.
    pub fn new(config: WorkerConfig, pools: PoolsHandle, read: ReadModels, commands: Arc<Commands>) -> Self {
        Self {
            config,
            pools,
            source: ZoneSource::new(read.clone()),
            read,
            commands,
            keys: Arc::default(),
        }
    }

    /// The key a `tsigkey_id` names: `Ok(None)` for none, an error when it names no usable key (the
    /// request is then not sent unsigned).
    fn key(&self, tsigkey_id: Option<&str>) -> Result<Option<crate::tsig::Key>, String> {
        let Some(id) = tsigkey_id else { return Ok(None) };
        let parsed = uuid::Uuid::parse_str(id).map_err(|_| format!("tsigkey_id {id:?} is not a UUID"))?;
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&parsed)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("TSIG key {id} is not registered (or mdns's algorithms cannot use it)"))
    }

    /// Consumes zone changes until `shutdown` turns true; pushes in flight finish first.
    pub async fn consume(
        self: Arc<Self>,
        client: async_nats::Client,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let js = jetstream::new(client);
        let layout = &self.config.store.layout;
        let stream = js
            .get_stream(layout.zone_changes_stream())
            .await
            .context("failed to open the zone-change queue")?;
        let durable = layout.worker_consumer();
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.config.sync_timeout * 3,
                    max_ack_pending: i64::try_from(self.config.in_flight_max * 4).unwrap_or(256),
                    ..Default::default()
                },
            )
            .await
            .context("failed to open the worker consumer")?;
        let start_pull = || async {
            consumer
                .stream()
                .max_messages_per_batch(self.config.in_flight_max)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(10))
                .messages()
                .await
                .context("failed to start consuming zone changes")
        };
        let mut messages = start_pull().await?;
        let permits = Arc::new(Semaphore::new(self.config.in_flight_max));
        info!(consumer = %durable, "worker consuming");
        loop {
            let next = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                next = messages.next() => next,
            };
            let Some(message) = next else {
                anyhow::bail!("the zone-change stream ended")
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, "error from the zone-change consumer; continuing");
                    // The node that held our pull request may be gone (a NATS node died): ask again
                    // at once instead of waiting for the request to expire.
                    if matches!(e.kind(), pull::MessagesErrorKind::MissingHeartbeat) {
                        match start_pull().await {
                            Ok(fresh) => messages = fresh,
                            Err(e) => warn!(
                                error = format!("{e:#}"),
                                "cannot pull again yet; keeping the old request"
                            ),
                        }
                    }
                    continue;
                }
            };
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .context("worker semaphore closed")?;
            let worker = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                worker.handle(message).await;
            });
        }
        // Let pushes in flight finish (bounded by their own timeouts).
        let _ = permits
            .acquire_many(u32::try_from(self.config.in_flight_max).unwrap_or(u32::MAX))
            .await;
        info!("worker stopped");
        Ok(())
    }

    async fn handle(&self, message: jetstream::Message) {
        let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
        let change: ZoneChange = match serde_json::from_slice(&message.payload) {
            Ok(change) => change,
            Err(e) => {
                warn!(error = %e, "undecodable zone change; dropping it");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let outcome = self.push(change.zone_id, deliveries > 1).await;
        let ack = match outcome {
            Ok(Pushed::Done) => AckKind::Ack,
            Ok(Pushed::Retry(reason)) | Err(PushError(reason)) => {
                let idx = usize::try_from(deliveries.saturating_sub(1))
                    .unwrap_or(usize::MAX)
                    .min(RETRY_DELAYS.len() - 1);
                debug!(zone_id = %change.zone_id, deliveries, %reason, "push will be retried");
                AckKind::Nak(Some(RETRY_DELAYS[idx]))
            }
        };
        if let Err(e) = message.ack_with(ack).await {
            debug!(error = %e, "ack failed; the change will be redelivered");
        }
    }

    /// Makes the pool serve the zone's current state and reports the outcome. `again` says an earlier
    /// push of this change failed.
    async fn push(&self, zone_id: ZoneId, again: bool) -> Result<Pushed, PushError> {
        let Some(zone) = self
            .read
            .zone(zone_id.0)
            .await
            .map_err(|e| PushError(format!("{e:#}")))?
        else {
            // Deleted already (the change outlived the zone), or not projected yet: either way nothing to push
            // now; a change for a zone that is projected later comes with its own message.
            return Ok(Pushed::Done);
        };
        let pools = self.pools.current();
        let Some(pool) = pools.get(nsplane_schema::PoolId(zone.pool_id)) else {
            warn!(%zone_id, pool_id = %zone.pool_id, "the zone's pool is not in the pool configuration");
            return Ok(Pushed::Retry("unknown pool".into()));
        };
        let deleting = zone.action == Action::Delete;
        let span = tracing::info_span!("push", %zone_id, zone = %zone.name, serial = zone.serial, deleting);
        let started = std::time::Instant::now();
        let pushed = self.push_to(pool, &zone, deleting, again).instrument(span).await;
        let outcome = match &pushed {
            Ok(Pushed::Done) => "served",
            Ok(Pushed::Retry(_)) => "not_served",
            Err(_) => "failed",
        };
        metrics::counter!("nsplane_pushes_total", "outcome" => outcome).increment(1);
        metrics::histogram!("nsplane_push_seconds", "outcome" => outcome).record(started.elapsed().as_secs_f64());
        pushed
    }

    async fn push_to(&self, pool: &Pool, zone: &ZoneRow, deleting: bool, again: bool) -> Result<Pushed, PushError> {
        let zone_id = ZoneId(zone.id);
        // 1. Make sure the targets know the zone exists (or no longer exists): when it is new, or when an
        // earlier push failed (a target may have lost it); a change to a zone they hold needs only NOTIFY.
        if deleting || zone.action == Action::Create || again {
            backends::ensure(pool, zone, deleting, self.config.query_timeout).await;
        }
        // 2. NOTIFY the zone's targets and also_notifies.
        self.notify_all(pool, zone, deleting).await;
        // 3. Poll the name servers.
        let (met, mut nameservers) = self.poll(pool, zone, deleting).await;
        for ns in &nameservers {
            // Whether each name server took the last zone it was asked to: 0 while one lags behind.
            let synced = if ns.status == NameserverStatus::Synced {
                1.0
            } else {
                0.0
            };
            metrics::gauge!("nsplane_nameserver_synced", "nameserver" => ns.nameserver.clone()).set(synced);
        }
        if !met && !deleting {
            self.explain(zone_id, &mut nameservers).await;
        }
        // 4. Report.
        let actor = Actor {
            metadata: Metadata {
                project_id: ProjectId(zone.project_id.clone()),
                user_id: "nsplane-worker".into(),
                roles: vec!["admin".into()],
                request_id: RequestId::generate(),
                source_role: "worker".into(),
                command: String::new(),
                time: chrono::Utc::now(),
                fence: None,
            },
            admin: true,
            scope: None,
        };
        let reported = if deleting && met {
            self.commands.confirm_zone_deleted(zone_id, nameservers, &actor).await
        } else {
            let command = ZoneCommand::ReportSync {
                serial: u32::try_from(zone.serial).unwrap_or(0),
                synced: met,
                nameservers,
            };
            self.commands.zone(zone_id, command, &actor).await
        };
        match reported {
            Ok(_) if deleting && met => {}
            Ok(_) if met => info!(zone = %zone.name, serial = zone.serial, "zone served by the pool"),
            Ok(_) => warn!(zone = %zone.name, serial = zone.serial, "name servers did not serve the serial in time"),
            Err(ExecuteError::Rejected(ZoneError::Superseded | ZoneError::NotFound)) => {
                debug!("report superseded by a newer change");
                return Ok(Pushed::Done);
            }
            Err(e) => return Err(PushError(format!("failed to report: {e}"))),
        }
        Ok(if met {
            Pushed::Done
        } else {
            Pushed::Retry("threshold not met".into())
        })
    }

    /// When the name servers did not take a serial, says so if the reason is that mdns cannot serve the
    /// zone at it (a stored value the wire cannot carry): each name server still behind gets the reason.
    async fn explain(&self, zone_id: ZoneId, nameservers: &mut [NameserverSync]) {
        if let Err(SourceError::Unservable { reason, .. }) = self.source.snapshot(zone_id.0).await {
            for ns in nameservers
                .iter_mut()
                .filter(|ns| ns.status != NameserverStatus::Synced)
            {
                ns.error = Some(format!("mdns cannot serve this zone: {reason}"));
            }
        }
    }

    async fn notify_all(&self, pool: &Pool, zone: &ZoneRow, deleting: bool) {
        let membership_changed = deleting || zone.action == Action::Create;
        let mut sends = Vec::new();
        for target in &pool.targets {
            let Ok(addr) = target.notify_addr() else { continue };
            let key = match self.key(target.tsigkey_id.as_deref()) {
                Ok(key) => key,
                Err(why) => {
                    warn!(%addr, zone = %zone.name, %why, "NOTIFY not sent");
                    continue;
                }
            };
            if target.kind == "catalog" {
                if let Some(catalog) = &pool.catalog_zone {
                    if membership_changed {
                        sends.push((addr, catalog.catalog_zone_fqdn.clone(), key.clone()));
                    }
                }
            }
            if !deleting {
                sends.push((addr, zone.name.clone(), key));
            }
        }
        if !deleting {
            for also in &pool.also_notifies {
                if let Ok(addr) = also.addr() {
                    match self.key(also.tsigkey_id.as_deref()) {
                        Ok(key) => sends.push((addr, zone.name.clone(), key)),
                        Err(why) => warn!(%addr, zone = %zone.name, %why, "NOTIFY not sent"),
                    }
                }
            }
        }
        let timeout = self.config.query_timeout;
        let results = futures::future::join_all(sends.iter().map(|(addr, name, key)| {
            client::notify_signed(*addr, name, key.as_ref().map(crate::tsig::Key::signer), timeout)
        }))
        .await;
        for ((addr, name, _), result) in sends.iter().zip(results) {
            match result {
                Ok(()) => debug!(%addr, zone = %name, "NOTIFY acknowledged"),
                Err(e) => debug!(%addr, zone = %name, error = %e, "NOTIFY not acknowledged; polling anyway"),
            }
        }
    }

    /// Polls every name server until the threshold is met or the sync timeout passes.
    async fn poll(&self, pool: &Pool, zone: &ZoneRow, deleting: bool) -> (bool, Vec<NameserverSync>) {
        let serial = u32::try_from(zone.serial).unwrap_or(0);
        let (addrs, key_ids): (Vec<_>, Vec<_>) = pool
            .nameservers
            .iter()
            .filter_map(|ns| ns.addr().ok().map(|a| (a, ns.tsigkey_id.clone())))
            .unzip();
        let mut states: Vec<NameserverSync> = addrs
            .iter()
            .map(|a| NameserverSync {
                nameserver: a.to_string(),
                serial: None,
                status: NameserverStatus::Pending,
                error: None,
            })
            .collect();
        let needed = (addrs.len() * usize::from(pool.threshold_percentage)).div_ceil(100);
        let deadline = tokio::time::Instant::now() + self.config.sync_timeout;
        let mut delay = Duration::from_millis(2);
        loop {
            let pending: Vec<usize> = (0..addrs.len())
                .filter(|i| states[*i].status != NameserverStatus::Synced)
                .collect();
            // Each round looks the keys up again: a key registered or changed meanwhile counts at once.
            let keys: Vec<_> = key_ids.iter().map(|id| self.key(id.as_deref())).collect();
            let answers = futures::future::join_all(pending.iter().map(|i| async {
                match &keys[*i] {
                    Ok(key) => {
                        let signer = key.as_ref().map(crate::tsig::Key::signer);
                        client::soa_signed(addrs[*i], &zone.name, signer, self.config.query_timeout).await
                    }
                    Err(why) => Err(anyhow::anyhow!("{why}")),
                }
            }))
            .await;
            for (i, answer) in pending.iter().zip(answers) {
                let state = &mut states[*i];
                match answer {
                    Ok(SoaAnswer::Serial(served)) => {
                        state.serial = Some(served);
                        state.error = None;
                        state.status = if !deleting && serial_reached(served, serial) {
                            NameserverStatus::Synced
                        } else {
                            NameserverStatus::Behind
                        };
                    }
                    Ok(SoaAnswer::NotServed(code)) => {
                        state.serial = None;
                        state.error = if deleting {
                            None
                        } else {
                            Some(format!("answered {code}"))
                        };
                        state.status = if deleting {
                            NameserverStatus::Synced
                        } else {
                            NameserverStatus::Behind
                        };
                    }
                    Err(e) => {
                        state.status = NameserverStatus::Error;
                        state.error = Some(format!("{e:#}"));
                    }
                }
            }
            let synced = states.iter().filter(|s| s.status == NameserverStatus::Synced).count();
            if synced >= needed {
                return (true, states);
            }
            if tokio::time::Instant::now() >= deadline {
                return (synced >= needed, states);
            }
            tokio::time::sleep(delay.min(deadline.saturating_duration_since(tokio::time::Instant::now()))).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
}

/// A push failed before it could report.
struct PushError(String);

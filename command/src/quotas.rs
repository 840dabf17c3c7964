//! Project quotas (Designate's `zones`, `zone_recordsets`, `zone_records`, `recordset_records`,
//! `api_export_size`): deployment-wide defaults (configuration), per-project overrides as an aggregate
//! on the event stream (one per project, so every change is in the audit trail), and the `zones` quota
//! held race-free as numbered slots in JetStream KV (a KV `create` per slot, so two racing creates cannot
//! both take the last one; the slots can be rebuilt from the zones' history).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use futures::future::BoxFuture;
use nsplane_schema::layout::Bucket;
use nsplane_schema::quotas::{check_quotas, QuotaEvent, QuotaValueError, Quotas, QUOTAS_AGGREGATE};
use nsplane_schema::{ProjectId, ZoneId};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Decider, Domain};
use crate::executor::{ExecuteError, Executor};
use crate::kv::{claim_for_zone, create_or_read, read, Claim, Claimed, Held, ZoneClaim};
use crate::store::EventStore;
use crate::zone::ZoneQuotas;

/// Why a quota operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// 413 `over_quota`.
    #[error("Quota exceeded for {0}.")]
    Over(&'static str),
    /// 400 `invalid_object`: an unknown resource or a value out of range.
    #[error(transparent)]
    Invalid(#[from] QuotaValueError),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A project's quota overrides: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProjectQuotas {
    /// The project (set by the first event).
    pub project_id: Option<ProjectId>,
    /// The overrides; resources not named use the deployment's defaults.
    pub overrides: Quotas,
}

/// Commands on a project's quotas.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaCommand {
    /// Sets some resources (checked: known resources, -1..=2147483647).
    Set {
        /// The project.
        project_id: ProjectId,
        /// The new values.
        changes: Quotas,
    },
    /// Removes every override.
    Reset {
        /// The project.
        project_id: ProjectId,
    },
}

/// Why a quota command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaCommandError {
    /// 400: a bad resource or value.
    #[error(transparent)]
    Invalid(#[from] QuotaValueError),
    /// 404: never answered today (every project has quotas, and quota commands carry no owner check).
    #[error("Could not find the project's quotas")]
    NotFound,
}

impl Aggregate for ProjectQuotas {
    const TYPE: &'static str = QUOTAS_AGGREGATE;
    type Command = QuotaCommand;
    type Event = Domain<QuotaEvent>;
    type Error = QuotaCommandError;
    type Services = ();

    async fn handle(&mut self, command: QuotaCommand, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        match event {
            QuotaEvent::QuotasSet { project_id, changes } => {
                self.project_id = Some(project_id);
                self.overrides.extend(changes);
            }
            QuotaEvent::QuotasReset { project_id } => {
                self.project_id = Some(project_id);
                self.overrides.clear();
            }
        }
    }
}

impl Decider for ProjectQuotas {
    type Contract = QuotaEvent;

    fn command_name(command: &QuotaCommand) -> &'static str {
        match command {
            QuotaCommand::Set { .. } => "SetQuotas",
            QuotaCommand::Reset { .. } => "ResetQuotas",
        }
    }

    async fn decide(
        &self,
        command: QuotaCommand,
        _: &(),
        _now: DateTime<Utc>,
    ) -> Result<Vec<QuotaEvent>, QuotaCommandError> {
        Ok(match command {
            QuotaCommand::Set { project_id, changes } => {
                check_quotas(&changes)?;
                let unchanged = changes.iter().all(|(k, v)| self.overrides.get(k) == Some(v));
                if unchanged {
                    Vec::new()
                } else {
                    vec![QuotaEvent::QuotasSet { project_id, changes }]
                }
            }
            QuotaCommand::Reset { project_id } if !self.overrides.is_empty() => {
                vec![QuotaEvent::QuotasReset { project_id }]
            }
            QuotaCommand::Reset { .. } => Vec::new(),
        })
    }

    fn evolve(&mut self, event: &QuotaEvent, _time: DateTime<Utc>) {
        self.apply(Domain(event.clone()));
    }

    fn not_found() -> QuotaCommandError {
        QuotaCommandError::NotFound
    }
}

/// A zone's claim on a `zones` slot.
#[derive(Serialize, Deserialize)]
struct Slot {
    zone_id: ZoneId,
}

impl ZoneClaim for Slot {
    fn zone(&self) -> ZoneId {
        self.zone_id
    }
}

/// At most this many slot keys of one project are examined.
const SLOT_SCAN_MAX: usize = 100_000;

/// What restoring a project's slots found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SlotsRestored {
    /// Zones that need no slot (an unlimited `zones` quota).
    pub not_needed: usize,
    /// Zones that held a slot already.
    pub present: usize,
    /// Zones that took one now.
    pub restored: usize,
    /// Zones that found none: live zones hold every slot.
    pub over: Vec<ZoneId>,
}

/// The quotas of every project: defaults, overrides through the aggregate, and zone slots.
#[derive(Clone)]
pub struct QuotaStore {
    slots: kv::Store,
    events: EventStore,
    executor: std::sync::Arc<Executor<ProjectQuotas>>,
    defaults: Quotas,
}

fn project_key(project: &ProjectId) -> String {
    // Project ids are opaque strings; hex keeps them within KV's key alphabet.
    project.0.bytes().map(|b| format!("{b:02x}")).collect()
}

impl QuotaStore {
    /// Opens the slots bucket; `defaults` apply where a project has no override.
    pub async fn open(events: EventStore, defaults: Quotas) -> anyhow::Result<Self> {
        let slots = events.open_bucket(Bucket::Quotas).await?;
        let executor = std::sync::Arc::new(Executor::new(events.clone(), (), 10_000));
        Ok(Self {
            slots,
            events,
            executor,
            defaults,
        })
    }

    /// The deployment's defaults.
    pub fn defaults(&self) -> &Quotas {
        &self.defaults
    }

    /// A project's quotas: the defaults with its overrides applied.
    pub async fn effective(&self, project: &ProjectId) -> anyhow::Result<Quotas> {
        let (state, _) = self
            .executor
            .load(&project.0)
            .await
            .map_err(|e| anyhow::anyhow!("failed to read quotas: {e}"))?;
        let mut quotas = self.defaults.clone();
        quotas.extend(state.overrides);
        Ok(quotas)
    }

    /// The per-zone quotas of a project.
    pub async fn zone_quotas(&self, project: &ProjectId) -> anyhow::Result<ZoneQuotas> {
        let quotas = self.effective(project).await?;
        let get = |k: &str| quotas.get(k).copied().unwrap_or(-1);
        Ok(ZoneQuotas {
            zone_recordsets: get("zone_recordsets"),
            zone_records: get("zone_records"),
            recordset_records: get("recordset_records"),
        })
    }

    /// Takes one of the project's `zones` slots for `zone_id` (again, for a retry of the same zone).
    pub async fn take_zone_slot(&self, project: &ProjectId, zone_id: ZoneId) -> Result<(), QuotaError> {
        let limit = self.zones_limit(project).await?;
        if limit < 0 {
            return Ok(());
        }
        match self.take_slot_from(project, zone_id, limit, 0).await? {
            Some(_) => Ok(()),
            None => Err(QuotaError::Over("zones")),
        }
    }

    /// Takes a slot for `zone_id`: the first free one from slot `from` on, else any below `limit` whose
    /// zone is gone (deleted, or never committed), by revision. Its number, or `None` if live zones hold
    /// every slot.
    async fn take_slot_from(
        &self,
        project: &ProjectId,
        zone_id: ZoneId,
        limit: i64,
        from: i64,
    ) -> anyhow::Result<Option<i64>> {
        let mine = Slot { zone_id };
        let key = |n: i64| format!("zones.{}.{n}", project_key(project));
        for n in from..limit {
            match create_or_read(&self.slots, &key(n), &mine).await? {
                Claim::Created => return Ok(Some(n)),
                Claim::Held(slot) if slot.holder.zone_id == zone_id => return Ok(Some(n)),
                Claim::Held(_) => {}
            }
        }
        for n in 0..limit {
            if !matches!(
                claim_for_zone(&self.slots, &self.events, &key(n), &mine).await?,
                Claimed::HeldBy(_)
            ) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// A project's `zones` quota (negative: unlimited, no slots are kept).
    async fn zones_limit(&self, project: &ProjectId) -> anyhow::Result<i64> {
        Ok(self.effective(project).await?.get("zones").copied().unwrap_or(-1))
    }

    /// Gives back the slot `zone_id` holds, if any.
    pub async fn release_zone_slot(&self, project: &ProjectId, zone_id: ZoneId) -> anyhow::Result<()> {
        let held = self.held_slots(project).await?;
        if let Some((key, slot)) = held.into_iter().find(|(_, slot)| slot.holder.zone_id == zone_id) {
            crate::kv::release(&self.slots, &key, slot.revision).await?;
        }
        Ok(())
    }

    /// Makes sure each of a project's live `zones` holds one of its slots (rebuilding the slots from the
    /// stream). Zones earlier in `zones` get slots first; with a quota lowered below the zones the
    /// project has, the last ones find none.
    pub async fn restore_zone_slots(&self, project: &ProjectId, zones: &[ZoneId]) -> anyhow::Result<SlotsRestored> {
        let mut out = SlotsRestored::default();
        let limit = self.zones_limit(project).await?;
        if limit < 0 {
            out.not_needed = zones.len();
            return Ok(out);
        }
        let holders: HashSet<ZoneId> = self
            .held_slots(project)
            .await?
            .into_iter()
            .map(|(_, slot)| slot.holder.zone_id)
            .collect();
        // Slots below `from` were found held, so the next zone starts looking above them.
        let mut from = 0;
        for &zone_id in zones {
            if holders.contains(&zone_id) {
                out.present += 1;
                continue;
            }
            match self.take_slot_from(project, zone_id, limit, from).await? {
                Some(n) => {
                    out.restored += 1;
                    from = from.max(n + 1);
                }
                None => out.over.push(zone_id),
            }
        }
        Ok(out)
    }

    /// Every slot of the project that is held, with its key.
    async fn held_slots(&self, project: &ProjectId) -> anyhow::Result<Vec<(String, Held<Slot>)>> {
        let stream = self
            .events
            .jetstream()
            .get_stream(&self.slots.stream_name)
            .await
            .context("failed to open the quota bucket")?;
        let prefix = format!("$KV.{}.", self.slots.name);
        let filter = format!("{prefix}zones.{}.>", project_key(project));
        let mut held = Vec::new();
        let mut next_seq = 1u64;
        for _ in 0..SLOT_SCAN_MAX {
            let message = match stream.direct_get_next_for_subject(filter.clone(), Some(next_seq)).await {
                Ok(m) => m,
                Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(anyhow::Error::new(e).context("failed to scan zone slots")),
            };
            next_seq = message.sequence + 1;
            let key = message.subject.trim_start_matches(&prefix).to_owned();
            if let Some(slot) = read::<Slot>(&self.slots, &key).await? {
                held.push((key, slot));
            }
        }
        Ok(held)
    }

    /// Sets some of a project's quotas (admin). Returns the quotas now in effect and the version of the
    /// project's quota aggregate.
    pub async fn set(
        &self,
        project: &ProjectId,
        changes: Quotas,
        metadata: nsplane_schema::Metadata,
    ) -> Result<(Quotas, u64), QuotaError> {
        let command = QuotaCommand::Set {
            project_id: project.clone(),
            changes,
        };
        let version = self.execute(project, command, metadata).await?;
        Ok((self.effective(project).await?, version))
    }

    /// Back to the defaults (admin). Returns the version of the project's quota aggregate.
    pub async fn reset(&self, project: &ProjectId, metadata: nsplane_schema::Metadata) -> Result<u64, QuotaError> {
        let command = QuotaCommand::Reset {
            project_id: project.clone(),
        };
        self.execute(project, command, metadata).await
    }

    async fn execute(
        &self,
        project: &ProjectId,
        command: QuotaCommand,
        metadata: nsplane_schema::Metadata,
    ) -> Result<u64, QuotaError> {
        match self.executor.execute(&project.0, command, metadata, None).await {
            Ok(committed) => Ok(committed.version),
            Err(ExecuteError::Rejected(QuotaCommandError::Invalid(e))) => Err(QuotaError::Invalid(e)),
            Err(other) => Err(QuotaError::Internal(anyhow::anyhow!(
                "failed to change quotas: {other}"
            ))),
        }
    }
}

/// Per-zone quotas looked up per project (cached briefly by the caller if it wants).
pub trait ZoneQuotaLookup: Send + Sync {
    /// The zone quotas of a project.
    fn zone_quotas<'a>(&'a self, project: &'a ProjectId) -> BoxFuture<'a, anyhow::Result<ZoneQuotas>>;
}

impl ZoneQuotaLookup for ZoneQuotas {
    fn zone_quotas<'a>(&'a self, _project: &'a ProjectId) -> BoxFuture<'a, anyhow::Result<ZoneQuotas>> {
        Box::pin(async move { Ok(*self) })
    }
}

/// Quotas read through a short in-process cache: a change is seen by every instance within
/// `CACHE_FOR`, and a record-set command costs no extra round trip.
pub struct CachedQuotas {
    store: QuotaStore,
    cache: std::sync::Mutex<std::collections::HashMap<ProjectId, (Instant, ZoneQuotas)>>,
}

const CACHE_FOR: Duration = Duration::from_secs(2);
/// Projects whose quotas are cached at most.
const CACHE_MAX: usize = 100_000;

impl CachedQuotas {
    /// A cache over the store.
    pub fn new(store: QuotaStore) -> Self {
        Self {
            store,
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl ZoneQuotaLookup for CachedQuotas {
    fn zone_quotas<'a>(&'a self, project: &'a ProjectId) -> BoxFuture<'a, anyhow::Result<ZoneQuotas>> {
        Box::pin(async move {
            if let Some((at, quotas)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(project) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(*quotas);
                }
            }
            let quotas = self.store.zone_quotas(project).await?;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > CACHE_MAX {
                cache.clear();
            }
            cache.insert(project.clone(), (Instant::now(), quotas));
            Ok(quotas)
        })
    }
}

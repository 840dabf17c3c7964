//! Project quotas (Designate's `zones`, `zone_recordsets`, `zone_records`, `recordset_records`,
//! `api_export_size`): deployment-wide defaults, per-project overrides in a JetStream KV bucket, and
//! the `zones` quota held race-free as numbered slots (a KV `create` per slot, so two racing creates
//! cannot both take the last one).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use futures::future::BoxFuture;
use nsplane_schema::{ProjectId, ZoneId};
use serde::{Deserialize, Serialize};

use crate::store::EventStore;
use crate::zone::ZoneQuotas;

/// Every quota resource, in Designate's spelling.
pub const RESOURCES: [&str; 5] = [
    "api_export_size",
    "recordset_records",
    "zone_records",
    "zone_recordsets",
    "zones",
];

/// A slot whose zone never committed is free again after this long (a crashed create).
const ORPHAN_AFTER: Duration = Duration::from_secs(60);

/// A project's quotas; negative means unlimited.
pub type Quotas = BTreeMap<String, i64>;

/// Designate's defaults.
pub fn designate_defaults() -> Quotas {
    [
        ("api_export_size", 1000),
        ("recordset_records", 20),
        ("zone_records", 500),
        ("zone_recordsets", 500),
        ("zones", 10),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Why a quota operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// 413 `over_quota`.
    #[error("Quota exceeded for {0}.")]
    Over(&'static str),
    /// 400 `invalid_object`: an unknown resource or a value out of range.
    #[error("{0}")]
    Invalid(String),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize, Deserialize)]
struct Slot {
    zone_id: ZoneId,
}

/// The quota store.
#[derive(Clone)]
pub struct QuotaStore {
    kv: kv::Store,
    events: EventStore,
    defaults: Quotas,
}

fn project_key(project: &ProjectId) -> String {
    // Project ids are opaque strings; hex keeps them within KV's key alphabet.
    project.0.bytes().map(|b| format!("{b:02x}")).collect()
}

impl QuotaStore {
    /// Opens (creating if needed) the bucket `<prefix>_quotas`.
    pub async fn open(events: EventStore, defaults: Quotas) -> anyhow::Result<Self> {
        let (kv, _) = events.open_bucket("quotas").await?;
        Ok(Self { kv, events, defaults })
    }

    /// The deployment's defaults.
    pub fn defaults(&self) -> &Quotas {
        &self.defaults
    }

    /// A project's quotas: the defaults with its overrides applied.
    pub async fn effective(&self, project: &ProjectId) -> anyhow::Result<Quotas> {
        let mut quotas = self.defaults.clone();
        if let Some(value) = self
            .kv
            .get(format!("overrides.{}", project_key(project)))
            .await
            .context("failed to read quotas")?
        {
            let overrides: Quotas = serde_json::from_slice(&value).context("undecodable quota overrides")?;
            quotas.extend(overrides);
        }
        Ok(quotas)
    }

    /// Sets some of a project's quotas (admin). Unknown resources and values outside -1..=2147483647 are refused.
    pub async fn set(&self, project: &ProjectId, changes: &Quotas) -> Result<Quotas, QuotaError> {
        for (resource, value) in changes {
            if !RESOURCES.contains(&resource.as_str()) {
                return Err(QuotaError::Invalid(format!("{resource} is not a valid quota resource")));
            }
            if !(-1..=2_147_483_647).contains(value) {
                return Err(QuotaError::Invalid(format!(
                    "{resource}: {value} is out of range (-1 to 2147483647)"
                )));
            }
        }
        let key = format!("overrides.{}", project_key(project));
        for _ in 0..16 {
            let entry = self.kv.entry(key.clone()).await.context("failed to read quotas")?;
            let (mut overrides, revision): (Quotas, u64) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => (
                    serde_json::from_slice(&e.value).context("undecodable quota overrides")?,
                    e.revision,
                ),
                Some(e) => (Quotas::new(), e.revision),
                None => (Quotas::new(), 0),
            };
            overrides.extend(changes.clone());
            let value = serde_json::to_vec(&overrides).context("failed to encode quotas")?;
            if self.kv.update(&key, value.into(), revision).await.is_ok() {
                return Ok(self.effective(project).await?);
            }
        }
        Err(QuotaError::Internal(anyhow::anyhow!(
            "quotas kept changing concurrently"
        )))
    }

    /// Back to the defaults (admin).
    pub async fn reset(&self, project: &ProjectId) -> anyhow::Result<()> {
        self.kv
            .purge(format!("overrides.{}", project_key(project)))
            .await
            .context("failed to reset quotas")?;
        Ok(())
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

    async fn slot_is_free(&self, holder: ZoneId, created: chrono::DateTime<chrono::Utc>) -> anyhow::Result<bool> {
        let subject = nsplane_schema::subjects::zone_events(&self.events.config().prefix, holder);
        Ok(match self.events.last_on_subject(&subject).await? {
            Some(last) => last
                .envelope
                .events
                .iter()
                .any(|e| matches!(e, nsplane_schema::ZoneEvent::ZoneDeleted { .. })),
            None => (chrono::Utc::now() - created).to_std().unwrap_or_default() > ORPHAN_AFTER,
        })
    }

    /// Takes one of the project's `zones` slots for `zone_id` (again, for a retry of the same zone).
    pub async fn take_zone_slot(&self, project: &ProjectId, zone_id: ZoneId) -> Result<(), QuotaError> {
        let limit = self.effective(project).await?.get("zones").copied().unwrap_or(-1);
        if limit < 0 {
            return Ok(());
        }
        let value = serde_json::to_vec(&Slot { zone_id }).context("failed to encode a slot")?;
        let mut held = Vec::new();
        for n in 0..limit {
            let key = format!("zones.{}.{n}", project_key(project));
            match self.kv.create(&key, value.clone().into()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    if let Some(entry) = self.kv.entry(key.clone()).await.context("failed to read a slot")? {
                        let holder: Slot = serde_json::from_slice(&entry.value).context("undecodable slot")?;
                        if holder.zone_id == zone_id {
                            return Ok(());
                        }
                        let created =
                            chrono::DateTime::from_timestamp(entry.created.unix_timestamp(), 0).unwrap_or_default();
                        held.push((key, entry.revision, holder.zone_id, created));
                    }
                }
                Err(e) => {
                    return Err(QuotaError::Internal(
                        anyhow::Error::new(e).context("failed to take a zone slot"),
                    ))
                }
            }
        }
        // Every slot is taken: reuse one whose zone is gone (deleted, or never committed), by revision.
        for (key, revision, holder, created) in held {
            if self.slot_is_free(holder, created).await?
                && self.kv.update(&key, value.clone().into(), revision).await.is_ok()
            {
                return Ok(());
            }
        }
        Err(QuotaError::Over("zones"))
    }

    /// Gives back the slot `zone_id` holds, if any.
    pub async fn release_zone_slot(&self, project: &ProjectId, zone_id: ZoneId) -> anyhow::Result<()> {
        let stream = self.kv.stream_name.clone();
        let js = self.events.jetstream();
        let stream = js
            .get_stream(&stream)
            .await
            .context("failed to open the quota bucket")?;
        let filter = format!("$KV.{}.zones.{}.>", self.kv.name, project_key(project));
        let mut next_seq = 1u64;
        for _ in 0..100_000 {
            let message = match stream.direct_get_next_for_subject(filter.clone(), Some(next_seq)).await {
                Ok(m) => m,
                Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(anyhow::Error::new(e).context("failed to scan zone slots")),
            };
            next_seq = message.sequence + 1;
            let key = message
                .subject
                .trim_start_matches(&format!("$KV.{}.", self.kv.name))
                .to_owned();
            if let Some(entry) = self.kv.entry(key.clone()).await? {
                if entry.operation == kv::Operation::Put {
                    if let Ok(slot) = serde_json::from_slice::<Slot>(&entry.value) {
                        if slot.zone_id == zone_id {
                            self.kv
                                .delete_expect_revision(&key, Some(entry.revision))
                                .await
                                .context("failed to free a slot")?;
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
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
    cache: std::sync::Mutex<std::collections::HashMap<ProjectId, (std::time::Instant, ZoneQuotas)>>,
}

const CACHE_FOR: Duration = Duration::from_secs(2);

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
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(project.clone(), (std::time::Instant::now(), quotas));
            Ok(quotas)
        })
    }
}

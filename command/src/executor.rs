//! Command execution: decide a command against the cached aggregate, append the commit with
//! optimistic concurrency, and on conflict catch up and decide again (bounded).
//!
//! Each process keeps zone states in a bounded cache and catches up from the last stream sequence it
//! has seen, so a command never replays a zone's whole history. Commands on the same zone in one
//! process queue on the zone's lock instead of conflicting in JetStream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_es::Aggregate;
use nsplane_schema::event::{CommitEnvelope, Metadata, ENVELOPE_VERSION};
use nsplane_schema::{subjects, ProjectId, ZoneEvent, ZoneId};
use rand::Rng as _;
use tracing::{debug, warn};

use crate::store::{AppendError, EventStore, StoredCommit};
use crate::zone::{Zone, ZoneCommand, ZoneError, ZoneServices};

/// How many request ids per zone are remembered for idempotency checks beyond the duplicate window.
const RECENT_REQUESTS_MAX: usize = 4096;
/// Attempts after optimistic-concurrency conflicts before answering 409.
const CONFLICT_ATTEMPTS_MAX: u32 = 64;
/// Attempts while the store's answer is unknown or it is unavailable, before answering 503.
const INDEFINITE_ATTEMPTS_MAX: u32 = 12;

/// The result of a command that committed (now or in an earlier attempt of the same request).
#[derive(Debug, Clone)]
pub struct Committed {
    /// The zone's state after the commit (or now, for a replayed request).
    pub zone: Zone,
    /// The aggregate version the request's commit has.
    pub version: u64,
    /// Its stream sequence.
    pub stream_seq: u64,
    /// The events it committed (empty for a replayed request).
    pub events: Vec<ZoneEvent>,
    /// True when this request id had already committed: nothing new was appended.
    pub replayed: bool,
}

/// Why a command did not commit. Each variant says how the API answers.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The rules refused it: 4xx per [`ZoneError`].
    #[error(transparent)]
    Rejected(#[from] ZoneError),
    /// 409: still conflicting after the bounded retries.
    #[error("the zone is changing too fast; retry the request")]
    Conflict,
    /// 503: the event store did not answer in time.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

struct Entry {
    zone: Zone,
    version: u64,
    last_stream_seq: u64,
    /// Request ids of the latest commits, oldest first (bounds `committed`).
    recent_requests: VecDeque<String>,
    /// `request id -> (version, stream seq)` of the latest commits.
    committed: HashMap<String, (u64, u64)>,
    loaded: bool,
}

impl Entry {
    fn empty() -> Self {
        Self {
            zone: Zone::default(),
            version: 0,
            last_stream_seq: 0,
            recent_requests: VecDeque::new(),
            committed: HashMap::new(),
            loaded: false,
        }
    }

    fn apply_commit(&mut self, commit: StoredCommit) -> anyhow::Result<()> {
        let envelope = commit.envelope;
        // Invariant: an aggregate's history has no gaps and no forks.
        anyhow::ensure!(
            envelope.version == self.version + 1,
            "zone {} history is broken: commit at stream seq {} has version {}, expected {}",
            envelope.aggregate_id,
            commit.stream_seq,
            envelope.version,
            self.version + 1
        );
        self.zone.commit_time = envelope.metadata.time;
        for event in envelope.events {
            self.zone.apply(crate::zone::Event(event));
        }
        self.remember(envelope.metadata.request_id.0, envelope.version, commit.stream_seq);
        self.version = envelope.version;
        self.last_stream_seq = commit.stream_seq;
        Ok(())
    }

    fn remember(&mut self, request_id: String, version: u64, stream_seq: u64) {
        if self.recent_requests.len() >= RECENT_REQUESTS_MAX {
            if let Some(oldest) = self.recent_requests.pop_front() {
                self.committed.remove(&oldest);
            }
        }
        self.recent_requests.push_back(request_id.clone());
        self.committed.insert(request_id, (version, stream_seq));
    }

    fn committed_request(&self, request_id: &str) -> Option<(u64, u64)> {
        self.committed.get(request_id).copied()
    }
}

/// Executes zone commands.
pub struct ZoneExecutor {
    store: EventStore,
    services: ZoneServices,
    cache: Mutex<HashMap<ZoneId, Arc<tokio::sync::Mutex<Entry>>>>,
    cache_capacity: usize,
}

impl ZoneExecutor {
    /// An executor with a cache of at most `cache_capacity` zones.
    pub fn new(store: EventStore, services: ZoneServices, cache_capacity: usize) -> Self {
        Self {
            store,
            services,
            cache: Mutex::new(HashMap::new()),
            cache_capacity: cache_capacity.max(16),
        }
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    fn entry(&self, zone_id: ZoneId) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= self.cache_capacity && !cache.contains_key(&zone_id) {
            // Evict zones nobody is using; a later command reloads them from the stream.
            let idle: Vec<ZoneId> = cache
                .iter()
                .filter(|(_, e)| Arc::strong_count(e) == 1)
                .map(|(id, _)| *id)
                .take(cache.len() / 4 + 1)
                .collect();
            for id in idle {
                cache.remove(&id);
            }
        }
        cache
            .entry(zone_id)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Entry::empty())))
            .clone()
    }

    /// The zone's current state as this process knows it after catching up with the stream.
    pub async fn load(&self, zone_id: ZoneId) -> Result<Zone, ExecuteError> {
        let entry = self.entry(zone_id);
        let mut entry = entry.lock().await;
        self.catch_up(zone_id, &mut entry).await?;
        Ok(entry.zone.clone())
    }

    async fn catch_up(&self, zone_id: ZoneId, entry: &mut Entry) -> anyhow::Result<()> {
        let subject = subjects::zone_events(&self.store.config().prefix, zone_id);
        let Some(last) = self.store.last_on_subject(&subject).await? else {
            anyhow::ensure!(
                entry.last_stream_seq == 0,
                "zone {zone_id} lost its history in the stream"
            );
            entry.loaded = true;
            return Ok(());
        };
        if last.stream_seq == entry.last_stream_seq {
            entry.loaded = true;
            return Ok(());
        }
        if last.envelope.version == entry.version + 1 {
            entry.apply_commit(last)?;
        } else {
            debug!(%zone_id, from_seq = entry.last_stream_seq, to_seq = last.stream_seq, "catching up");
            for commit in self
                .store
                .commits_between(&subject, entry.last_stream_seq, last.stream_seq)
                .await?
            {
                entry.apply_commit(commit)?;
            }
            anyhow::ensure!(
                entry.last_stream_seq == last.stream_seq,
                "zone {zone_id}: catch-up stopped short"
            );
        }
        entry.loaded = true;
        Ok(())
    }

    /// Decides and commits `command` on the zone. `metadata.command` and `metadata.time` are filled in here.
    /// With `owner` set, a zone of another project is reported as not found (its existence does not leak).
    pub async fn execute(
        &self,
        zone_id: ZoneId,
        command: ZoneCommand,
        mut metadata: Metadata,
        owner: Option<&ProjectId>,
    ) -> Result<Committed, ExecuteError> {
        let subject = subjects::zone_events(&self.store.config().prefix, zone_id);
        let message_id = format!("zone.{zone_id}.{}", metadata.request_id);
        metadata.command = command.name().to_owned();
        let entry = self.entry(zone_id);
        let mut entry = entry.lock().await;
        // A rejection decided on a cached state is confirmed against the stream before it is returned.
        let mut fresh = false;
        if !entry.loaded {
            self.catch_up(zone_id, &mut entry).await?;
            fresh = true;
        }
        let mut conflicts = 0u32;
        let mut indefinite = 0u32;
        loop {
            if let Some((version, stream_seq)) = entry.committed_request(&metadata.request_id.0) {
                return Ok(Committed {
                    zone: entry.zone.clone(),
                    version,
                    stream_seq,
                    events: Vec::new(),
                    replayed: true,
                });
            }
            metadata.time = chrono::Utc::now();
            // Decide in place: the state changes only once the commit is stored.
            entry.zone.commit_time = metadata.time;
            let foreign = owner.is_some_and(|caller| !entry.zone.permits(caller, &command));
            let decided = if foreign {
                Err(ZoneError::NotFound)
            } else {
                entry.zone.decide(command.clone(), &self.services).await
            };
            let event = match decided {
                Ok(event) => event,
                Err(rejection) if fresh => return Err(rejection.into()),
                Err(_) => {
                    self.catch_up(zone_id, &mut entry).await?;
                    fresh = true;
                    continue;
                }
            };
            let events = vec![event];
            let envelope = CommitEnvelope {
                envelope_version: ENVELOPE_VERSION,
                aggregate_type: nsplane_schema::subjects::ZONE_AGGREGATE.to_owned(),
                aggregate_id: zone_id.to_string(),
                version: entry.version + 1,
                events: events.clone(),
                metadata: metadata.clone(),
            };
            match self
                .store
                .append(&subject, &envelope, entry.last_stream_seq, &message_id)
                .await
            {
                Ok(appended) if !appended.duplicate => {
                    for event in &events {
                        entry.zone.apply(crate::zone::Event(event.clone()));
                    }
                    entry.remember(metadata.request_id.0.clone(), envelope.version, appended.stream_seq);
                    entry.version = envelope.version;
                    entry.last_stream_seq = appended.stream_seq;
                    return Ok(Committed {
                        zone: entry.zone.clone(),
                        version: envelope.version,
                        stream_seq: appended.stream_seq,
                        events,
                        replayed: false,
                    });
                }
                Ok(_duplicate) => {
                    // An earlier attempt of this request committed; learn what it did.
                    self.catch_up(zone_id, &mut entry).await?;
                    if entry.committed_request(&metadata.request_id.0).is_none() {
                        return Err(anyhow::anyhow!(
                            "zone {zone_id}: JetStream reported {message_id} as a duplicate but the history lacks it"
                        )
                        .into());
                    }
                }
                Err(AppendError::Conflict) => {
                    conflicts += 1;
                    if conflicts >= CONFLICT_ATTEMPTS_MAX {
                        warn!(%zone_id, conflicts, "giving up after optimistic-concurrency conflicts");
                        return Err(ExecuteError::Conflict);
                    }
                    let jitter_us = rand::rng().random_range(0..=200 * u64::from(conflicts.min(10)));
                    tokio::time::sleep(Duration::from_micros(jitter_us)).await;
                    self.catch_up(zone_id, &mut entry).await?;
                    fresh = true;
                }
                Err(AppendError::Indefinite(reason)) => {
                    indefinite += 1;
                    if indefinite >= INDEFINITE_ATTEMPTS_MAX {
                        return Err(ExecuteError::Unavailable(reason));
                    }
                    warn!(%zone_id, attempt = indefinite, %reason, "append outcome unknown; retrying with the same message id");
                    tokio::time::sleep(Duration::from_millis(25 << indefinite.min(5))).await;
                    // Our earlier attempt may have landed: catching up finds it by request id.
                    if let Err(e) = self.catch_up(zone_id, &mut entry).await {
                        debug!(%zone_id, error = %e, "catch-up failed while the store is unavailable");
                    }
                }
                Err(AppendError::Other(e)) => return Err(ExecuteError::Internal(e)),
            }
        }
    }
}

//! Command execution for every aggregate kind: decide a command against the cached aggregate, append
//! the commit with optimistic concurrency, and on conflict catch up and decide again (bounded).
//!
//! Each process keeps aggregate states in a bounded cache and catches up from the last stream sequence
//! it has seen, so a command never replays an aggregate's whole history. Commands on the same aggregate
//! in one process queue on its lock instead of conflicting in JetStream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nsplane_schema::envelope::{CommitEnvelope, Metadata};
use nsplane_schema::ProjectId;
use rand::Rng as _;
use tracing::{debug, warn};

use crate::aggregate::Decider;
use crate::store::{AppendError, EventStore, StoredCommit};

/// How many request ids per aggregate are remembered for idempotency checks beyond the duplicate window.
const RECENT_REQUESTS_MAX: usize = 4096;
/// Attempts after optimistic-concurrency conflicts before answering 409.
const CONFLICT_ATTEMPTS_MAX: u32 = 64;
/// Attempts while the store's answer is unknown or it is unavailable, before answering 503.
const INDEFINITE_ATTEMPTS_MAX: u32 = 12;

/// The result of a command that committed (now or in an earlier attempt of the same request).
#[derive(Debug, Clone)]
pub struct Committed<A: Decider> {
    /// The aggregate's state after the commit (or now, for a replayed request).
    pub state: A,
    /// The aggregate version the request's commit has (the current version when nothing was appended).
    pub version: u64,
    /// Its stream sequence.
    pub stream_seq: u64,
    /// The events it committed (empty for a replayed request, or when there was nothing to do).
    pub events: Vec<A::Contract>,
    /// True when this request id had already committed: nothing new was appended.
    pub replayed: bool,
}

/// Why a command did not commit. Each variant says how the API answers.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E> {
    /// The rules refused it: 4xx per the aggregate's error.
    #[error(transparent)]
    Rejected(E),
    /// 409: still conflicting after the bounded retries.
    #[error("the aggregate is changing too fast; retry the request")]
    Conflict,
    /// 503: the event store did not answer in time.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The producer's lease the command was issued under has moved on (expired, taken by another
    /// instance, or older than one the aggregate has accepted): the command must not take effect.
    #[error("the lease {0} has moved on; the command was refused")]
    Fenced(String),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

struct Entry<A: Decider> {
    state: A,
    version: u64,
    last_stream_seq: u64,
    /// Request ids of the latest commits, oldest first (bounds `committed`).
    recent_requests: VecDeque<String>,
    /// `request id -> (version, stream seq)` of the latest commits.
    committed: HashMap<String, (u64, u64)>,
    /// The newest fencing token per lease among the aggregate's commits.
    fences: HashMap<String, u64>,
    loaded: bool,
}

impl<A: Decider> Entry<A> {
    fn empty() -> Self {
        Self {
            state: A::default(),
            version: 0,
            last_stream_seq: 0,
            recent_requests: VecDeque::new(),
            committed: HashMap::new(),
            fences: HashMap::new(),
            loaded: false,
        }
    }

    fn apply_commit(&mut self, commit: StoredCommit<A::Contract>) -> anyhow::Result<()> {
        let envelope = commit.envelope;
        // Invariant: an aggregate's history has no gaps and no forks.
        anyhow::ensure!(
            envelope.version == self.version + 1,
            "{} {} history is broken: commit at stream seq {} has version {}, expected {}",
            envelope.aggregate_type,
            envelope.aggregate_id,
            commit.stream_seq,
            envelope.version,
            self.version + 1
        );
        for event in &envelope.events {
            self.state.evolve(event, envelope.metadata.time);
        }
        if let Some(fence) = &envelope.metadata.fence {
            self.fenced(fence);
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

    fn fenced(&mut self, fence: &nsplane_schema::envelope::Fence) {
        let newest = self.fences.entry(fence.lease.clone()).or_insert(0);
        *newest = (*newest).max(fence.token);
    }

    fn committed_request(&self, request_id: &str) -> Option<(u64, u64)> {
        self.committed.get(request_id).copied()
    }
}

/// Executes the commands of one aggregate kind.
pub struct Executor<A: Decider> {
    store: EventStore,
    services: A::Services,
    cache: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry<A>>>>>,
    cache_capacity: usize,
}

impl<A: Decider> Executor<A> {
    /// An executor with a cache of at most `cache_capacity` aggregates (at least 16).
    pub fn new(store: EventStore, services: A::Services, cache_capacity: usize) -> Self {
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

    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<Entry<A>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= self.cache_capacity && !cache.contains_key(id) {
            // Evict aggregates nobody is using; a later command reloads them from the stream.
            let idle: Vec<String> = cache
                .iter()
                .filter(|(_, e)| Arc::strong_count(e) == 1)
                .map(|(id, _)| id.clone())
                .take(cache.len() / 4 + 1)
                .collect();
            for id in idle {
                cache.remove(&id);
            }
        }
        cache
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Entry::empty())))
            .clone()
    }

    /// The aggregate's current state as this process knows it after catching up with the stream, and
    /// its version.
    pub async fn load(&self, id: &str) -> Result<(A, u64), ExecuteError<A::Error>> {
        let entry = self.entry(id);
        // Where the stream is, read before taking the lock: readers of an aggregate that many requests
        // consult (the naming rules at every zone create) then hold it only to copy the state.
        let head = self.store.last_seq::<A::Contract>(id).await?;
        {
            let current = entry.lock().await;
            if current.loaded && current.last_stream_seq == head {
                return Ok((current.state.clone(), current.version));
            }
        }
        let mut entry = entry.lock().await;
        self.catch_up(id, &mut entry).await?;
        Ok((entry.state.clone(), entry.version))
    }

    async fn catch_up(&self, id: &str, entry: &mut Entry<A>) -> anyhow::Result<()> {
        let Some(last) = self.store.last::<A::Contract>(id).await? else {
            anyhow::ensure!(
                entry.last_stream_seq == 0,
                "{} {id} lost its history in the stream",
                A::TYPE
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
            debug!(
                aggregate = A::TYPE,
                id,
                from_seq = entry.last_stream_seq,
                to_seq = last.stream_seq,
                "catching up"
            );
            let target = last.stream_seq;
            for commit in self
                .store
                .commits_between::<A::Contract>(id, entry.last_stream_seq, target)
                .await?
            {
                entry.apply_commit(commit)?;
            }
            anyhow::ensure!(
                entry.last_stream_seq == target,
                "{} {id}: catch-up stopped short",
                A::TYPE
            );
        }
        entry.loaded = true;
        Ok(())
    }

    /// Decides and commits `command` on the aggregate `id`. `metadata.command` and `metadata.time` are
    /// filled in here. With `owner` set, an aggregate the caller may not act on is reported as not found.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        mut metadata: Metadata,
        owner: Option<&ProjectId>,
    ) -> Result<Committed<A>, ExecuteError<A::Error>>
    where
        A::Command: Clone,
    {
        let message_id = format!("{}.{id}.{}", A::TYPE, metadata.request_id);
        metadata.command = A::command_name(&command).to_owned();
        let entry = self.entry(id);
        let mut entry = entry.lock().await;
        // A rejection decided on a cached state is confirmed against the stream before it is returned.
        let mut fresh = false;
        if !entry.loaded {
            self.catch_up(id, &mut entry).await?;
            fresh = true;
        }
        let mut conflicts = 0u32;
        let mut indefinite = 0u32;
        loop {
            if let Some((version, stream_seq)) = entry.committed_request(&metadata.request_id.0) {
                return Ok(Committed {
                    state: entry.state.clone(),
                    version,
                    stream_seq,
                    events: Vec::new(),
                    replayed: true,
                });
            }
            if let Some(fence) = &metadata.fence {
                // Kleppmann's rule: the store refuses a token older than one it has seen, and a
                // token whose lease has moved on. Checked at every attempt, right before appending.
                let superseded = entry
                    .fences
                    .get(&fence.lease)
                    .is_some_and(|newest| *newest > fence.token);
                if superseded || !crate::leases::fence_is_current(&self.store, fence).await? {
                    metrics::counter!("nsplane_fenced_commands_total", "aggregate" => A::TYPE).increment(1);
                    return Err(ExecuteError::Fenced(fence.lease.clone()));
                }
            }
            metadata.time = chrono::Utc::now();
            let foreign = owner.is_some_and(|caller| !entry.state.permits(caller, &command));
            let decided = if foreign {
                Err(A::not_found())
            } else {
                entry.state.decide(command.clone(), &self.services, metadata.time).await
            };
            let events = match decided {
                Ok(events) if events.is_empty() => {
                    return Ok(Committed {
                        state: entry.state.clone(),
                        version: entry.version,
                        stream_seq: entry.last_stream_seq,
                        events,
                        replayed: false,
                    })
                }
                Ok(events) => events,
                Err(rejection) if fresh => return Err(ExecuteError::Rejected(rejection)),
                Err(_) => {
                    self.catch_up(id, &mut entry).await?;
                    fresh = true;
                    continue;
                }
            };
            let envelope = CommitEnvelope::new(id.to_owned(), entry.version + 1, events, metadata.clone());
            match self.store.append(&envelope, entry.last_stream_seq, &message_id).await {
                Ok(appended) if !appended.duplicate => {
                    for event in &envelope.events {
                        entry.state.evolve(event, metadata.time);
                    }
                    if let Some(fence) = &metadata.fence {
                        entry.fenced(fence);
                    }
                    entry.remember(metadata.request_id.0.clone(), envelope.version, appended.stream_seq);
                    entry.version = envelope.version;
                    entry.last_stream_seq = appended.stream_seq;
                    return Ok(Committed {
                        state: entry.state.clone(),
                        version: envelope.version,
                        stream_seq: appended.stream_seq,
                        events: envelope.events,
                        replayed: false,
                    });
                }
                Ok(_duplicate) => {
                    // An earlier attempt of this request committed; learn what it did.
                    self.catch_up(id, &mut entry).await?;
                    if entry.committed_request(&metadata.request_id.0).is_none() {
                        return Err(anyhow::anyhow!(
                            "{} {id}: JetStream reported {message_id} as a duplicate but the history lacks it",
                            A::TYPE
                        )
                        .into());
                    }
                }
                Err(AppendError::Conflict) => {
                    conflicts += 1;
                    metrics::counter!("nsplane_commit_conflicts_total", "aggregate" => A::TYPE).increment(1);
                    if conflicts >= CONFLICT_ATTEMPTS_MAX {
                        warn!(
                            aggregate = A::TYPE,
                            id, conflicts, "giving up after optimistic-concurrency conflicts"
                        );
                        return Err(ExecuteError::Conflict);
                    }
                    let jitter_us = rand::rng().random_range(0..=200 * u64::from(conflicts.min(10)));
                    tokio::time::sleep(Duration::from_micros(jitter_us)).await;
                    self.catch_up(id, &mut entry).await?;
                    fresh = true;
                }
                Err(AppendError::Indefinite(reason)) => {
                    indefinite += 1;
                    if indefinite >= INDEFINITE_ATTEMPTS_MAX {
                        return Err(ExecuteError::Unavailable(reason));
                    }
                    warn!(aggregate = A::TYPE, id, attempt = indefinite, %reason, "append outcome unknown; retrying with the same message id");
                    tokio::time::sleep(Duration::from_millis(25 << indefinite.min(5))).await;
                    // Our earlier attempt may have landed: catching up finds it by request id.
                    if let Err(e) = self.catch_up(id, &mut entry).await {
                        debug!(aggregate = A::TYPE, id, error = %e, "catch-up failed while the store is unavailable");
                    }
                }
                Err(AppendError::Other(e)) => return Err(ExecuteError::Internal(e)),
            }
        }
    }
}

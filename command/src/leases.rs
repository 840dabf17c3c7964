//! Producers' leases. The zone space's [`SHARDS`] shards are split into ranges; a producer instance
//! acts on a zone only while it holds the lease on the zone's range. A lease is a KV entry
//! (`range.<n>`) created with an expected revision of 0 (exactly one creator wins), renewed by revision
//! and carrying a per-message TTL (nats-server ≥ 2.11), so a holder that stops renewing (killed,
//! paused, cut off) loses it when the TTL runs out and another instance takes the range over.
//!
//! The revision that created a lease is its **fencing token**: every command a producer issues carries
//! it ([`Fence`] in the commit's metadata), and the executor refuses the commit when the lease has moved
//! on, or when the aggregate already accepted a newer token of the same lease (see `executor.rs`).
//!
//! Instances also keep a membership entry (`member.<instance>`, same TTL), so each knows how many share
//! the ranges and holds about its share: ranges beyond it are released one per round for newcomers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::header::{self, HeaderMap, HeaderValue};
use async_nats::jetstream::{self, context::PublishErrorKind, kv};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use nsplane_schema::envelope::Fence;
use nsplane_schema::ids::SHARDS;
use nsplane_schema::layout::Bucket;
use rand::seq::SliceRandom as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::store::EventStore;

/// How a producer holds its leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How many ranges the shards are split into (each lease covers `SHARDS / ranges` shards).
    pub ranges: u16,
    /// A lease not renewed for this long expires (whole seconds, at least 1: the TTL header's unit).
    pub ttl: Duration,
    /// How often leases are renewed and free ranges looked for.
    pub renew_every: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            ranges: 16,
            ttl: Duration::from_secs(3),
            renew_every: Duration::from_millis(500),
        }
    }
}

impl LeaseConfig {
    /// Checks the settings against each other.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.ranges >= 1 && self.ranges <= SHARDS && SHARDS.is_multiple_of(self.ranges),
            "lease ranges must divide {SHARDS} (got {})",
            self.ranges
        );
        anyhow::ensure!(
            self.ttl >= Duration::from_secs(1) && self.ttl.subsec_nanos() == 0,
            "the lease TTL must be whole seconds, at least 1"
        );
        anyhow::ensure!(
            self.renew_every * 2 < self.ttl,
            "leases must be renewed more than twice per TTL"
        );
        Ok(())
    }

    /// The range a shard belongs to.
    pub fn range_of(&self, shard: u16) -> u16 {
        shard / (SHARDS / self.ranges)
    }

    /// The shards of a range.
    pub fn shards_of(&self, range: u16) -> std::ops::Range<u16> {
        let width = SHARDS / self.ranges;
        range * width..(range + 1) * width
    }
}

/// A lease's key.
pub fn lease_key(range: u16) -> String {
    format!("range.{range:04}")
}

const MEMBER_PREFIX: &str = "member.";
/// How much later than its TTL (by the server's clock, read against ours) a lease that was not renewed
/// is taken over by revision. Its holder stops acting on it a margin before its TTL by its own clock, so
/// the two never act at once unless the clocks disagree by more than both; the fencing token covers that.
const EXPIRY_SKEW: Duration = Duration::from_millis(250);

/// Rounds a released range is left for others before its releaser may take it back.
const RELEASE_COOLDOWN_ROUNDS: u32 = 2;

/// What a lease entry holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseValue {
    /// The holding instance.
    holder: String,
    /// Its host.
    hostname: String,
    /// The fencing token: absent in the entry that created the lease (whose own revision it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<u64>,
    /// When the holder took it.
    acquired_at: DateTime<Utc>,
}

/// Who holds a lease now, as any process can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseHolder {
    /// The lease's key.
    pub lease: String,
    /// The holding instance.
    pub holder: String,
    /// Its host.
    pub hostname: String,
    /// The holder's fencing token.
    pub token: u64,
    /// When the holder took it.
    pub acquired_at: DateTime<Utc>,
}

/// Opens the leases bucket (creating it, with per-message TTLs, if needed).
pub async fn bucket(store: &EventStore) -> anyhow::Result<kv::Store> {
    store
        .open_bucket_with(Bucket::Leases, |config| {
            // Allows per-message TTLs; an expired lease leaves a marker for this long.
            config.limit_markers = Some(Duration::from_secs(5));
        })
        .await
}

/// The current holder of `lease`, if it is held.
pub async fn holder(kv: &kv::Store, lease: &str) -> anyhow::Result<Option<LeaseHolder>> {
    let Some(entry) = kv
        .entry(lease)
        .await
        .with_context(|| format!("failed to read lease {lease}"))?
    else {
        return Ok(None);
    };
    if entry.operation != kv::Operation::Put {
        return Ok(None);
    }
    let value: LeaseValue =
        serde_json::from_slice(&entry.value).with_context(|| format!("undecodable lease {lease}"))?;
    Ok(Some(LeaseHolder {
        lease: lease.to_owned(),
        holder: value.holder,
        hostname: value.hostname,
        token: value.token.unwrap_or(entry.revision),
        acquired_at: value.acquired_at,
    }))
}

/// Whether `fence` is still its lease's current token (the bucket handle is kept in the store).
pub async fn fence_is_current(store: &EventStore, fence: &Fence) -> anyhow::Result<bool> {
    let kv = store.leases_cell().get_or_try_init(|| bucket(store)).await?;
    is_current(kv, fence).await
}

/// Whether `fence` is still its lease's current token.
pub async fn is_current(kv: &kv::Store, fence: &Fence) -> anyhow::Result<bool> {
    Ok(holder(kv, &fence.lease).await?.is_some_and(|h| h.token == fence.token))
}

/// Every lease held now, in range order.
pub async fn holders(store: &EventStore, config: &LeaseConfig) -> anyhow::Result<Vec<LeaseHolder>> {
    let kv = bucket(store).await?;
    let mut out = Vec::new();
    for range in 0..config.ranges {
        if let Some(h) = holder(&kv, &lease_key(range)).await? {
            out.push(h);
        }
    }
    Ok(out)
}

/// Why a conditional write did not happen.
enum Refused {
    /// The entry was not at the expected revision.
    Moved,
    /// Anything else (NATS unreachable, timeout).
    Failed(anyhow::Error),
}

/// A lease this instance holds.
#[derive(Debug, Clone)]
struct Held {
    fence: Fence,
    /// The entry's latest revision (the next renewal expects it).
    revision: u64,
    acquired_at: DateTime<Utc>,
    /// Until when it is safe to act on it: the last renewal's send time plus the TTL, less a margin
    /// for the server's and this process's clocks to disagree.
    valid_until: Instant,
}

/// What one round changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Ranges taken this round.
    pub acquired: Vec<u16>,
    /// Ranges lost this round (a renewal was refused or came too late).
    pub lost: Vec<u16>,
    /// Ranges given up for other members.
    pub released: Vec<u16>,
    /// Members seen (this instance included).
    pub members: usize,
}

/// One producer instance's leases.
pub struct Leaseholder {
    js: jetstream::Context,
    kv: kv::Store,
    bucket: String,
    config: LeaseConfig,
    instance: String,
    hostname: String,
    held: BTreeMap<u16, Held>,
    /// Ranges released recently, not taken back for a few rounds (so a newcomer gets them; not for
    /// longer, or a newcomer that dies at once would leave them unheld past its own leases' TTL).
    released: HashMap<u16, Instant>,
    /// Free ranges seen in the previous round: taken even beyond this instance's share.
    free_before: HashSet<u16>,
}

impl Leaseholder {
    /// The leases of instance `instance` (none held yet).
    pub async fn new(store: &EventStore, config: LeaseConfig, instance: String) -> anyhow::Result<Self> {
        config.validate()?;
        let kv = bucket(store).await?;
        Ok(Self {
            js: store.context().clone(),
            bucket: store.layout().bucket(Bucket::Leases),
            kv,
            config,
            instance,
            hostname: crate::services::hostname(),
            held: BTreeMap::new(),
            released: HashMap::new(),
            free_before: HashSet::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// The instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The leases held now and safe to act on: `(range, fence)`.
    pub fn holding(&self) -> Vec<(u16, Fence)> {
        let now = Instant::now();
        self.held
            .iter()
            .filter(|(_, h)| h.valid_until > now)
            .map(|(range, h)| (*range, h.fence.clone()))
            .collect()
    }

    /// The fence of `range`, if it is held and safe to act on now.
    pub fn fence(&self, range: u16) -> Option<Fence> {
        self.held
            .get(&range)
            .filter(|h| h.valid_until > Instant::now())
            .map(|h| h.fence.clone())
    }

    fn margin(&self) -> Duration {
        (self.config.ttl / 4).min(Duration::from_secs(1))
    }

    /// Writes `value` at `key` if its last revision is `expected` (0: the key has no live entry), with
    /// the lease TTL.
    async fn put_expecting(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<u64, Refused> {
        let mut headers = HeaderMap::new();
        if let Some(expected) = expected {
            headers.insert(header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(expected));
        }
        headers.insert(header::NATS_MESSAGE_TTL, HeaderValue::from(self.config.ttl.as_secs()));
        let subject = format!("$KV.{}.{key}", self.bucket);
        let ack = match self
            .js
            .publish_with_headers(subject, headers, value.to_vec().into())
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => return Err(Refused::Failed(anyhow::Error::new(e))),
        };
        match ack {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(Refused::Moved),
            Err(e) => Err(Refused::Failed(
                anyhow::Error::new(e).context(format!("failed to write {key}")),
            )),
        }
    }

    /// Takes `range` if its entry is still at revision `expected` (0: none): nothing, the marker an
    /// expired or released lease left, or a lease whose holder stopped renewing it.
    async fn try_acquire(&mut self, range: u16, expected: u64) -> anyhow::Result<bool> {
        let key = lease_key(range);
        let acquired_at = Utc::now();
        let value = serde_json::to_vec(&LeaseValue {
            holder: self.instance.clone(),
            hostname: self.hostname.clone(),
            token: None,
            acquired_at,
        })?;
        let sent = Instant::now();
        match self.put_expecting(&key, &value, Some(expected)).await {
            Ok(revision) => {
                let fence = Fence {
                    lease: key,
                    token: revision,
                };
                self.held.insert(
                    range,
                    Held {
                        fence,
                        revision,
                        acquired_at,
                        valid_until: sent + self.config.ttl - self.margin(),
                    },
                );
                Ok(true)
            }
            Err(Refused::Moved) => Ok(false),
            Err(Refused::Failed(e)) => Err(e),
        }
    }

    /// Renews `range`; false when the lease has moved on (expired and maybe taken).
    async fn renew(&mut self, range: u16) -> anyhow::Result<bool> {
        let Some(held) = self.held.get(&range).cloned() else {
            return Ok(false);
        };
        if held.valid_until <= Instant::now() {
            // Too late to trust: the lease may have expired on the server already.
            return Ok(false);
        }
        let value = serde_json::to_vec(&LeaseValue {
            holder: self.instance.clone(),
            hostname: self.hostname.clone(),
            token: Some(held.fence.token),
            acquired_at: held.acquired_at,
        })?;
        let sent = Instant::now();
        match self.put_expecting(&held.fence.lease, &value, Some(held.revision)).await {
            Ok(revision) => {
                let margin = self.margin();
                if let Some(h) = self.held.get_mut(&range) {
                    h.revision = revision;
                    h.valid_until = sent + self.config.ttl - margin;
                }
                Ok(true)
            }
            Err(Refused::Moved) => Ok(false),
            Err(Refused::Failed(e)) => Err(e),
        }
    }

    /// Refreshes this instance's membership entry and counts the members.
    async fn members(&self) -> anyhow::Result<usize> {
        let key = format!("{MEMBER_PREFIX}{}", self.instance);
        let value = serde_json::to_vec(&serde_json::json!({"hostname": self.hostname}))?;
        match self.put_expecting(&key, &value, None).await {
            Ok(_) => {}
            Err(Refused::Moved) => {}
            Err(Refused::Failed(e)) => return Err(e),
        }
        let filter = format!("$KV.{}.{MEMBER_PREFIX}>", self.bucket);
        let mut subjects = self
            .kv
            .stream
            .info_with_subjects(&filter)
            .await
            .context("failed to list the producers")?;
        let mut members = 0;
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.context("failed to list the producers")?;
            let key = subject.trim_start_matches(&format!("$KV.{}.", self.bucket)).to_owned();
            // A member that stopped renewing no longer counts, even before the server removes it.
            let fresh = |e: &kv::Entry| {
                let age_ns =
                    i128::from(Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)) - e.created.unix_timestamp_nanos();
                age_ns <= i128::try_from((self.config.ttl + EXPIRY_SKEW).as_nanos()).unwrap_or(i128::MAX)
            };
            if matches!(self.kv.entry(&key).await, Ok(Some(e)) if e.operation == kv::Operation::Put && fresh(&e)) {
                members += 1;
            }
        }
        Ok(members.max(1))
    }

    /// One round: renew what is held (a lease whose renewal is refused or late is dropped), refresh the
    /// membership, give up a range beyond this instance's share, take free ranges up to the share (and
    /// any range seen free two rounds running).
    pub async fn round(&mut self) -> anyhow::Result<Round> {
        let mut round = Round::default();
        let ranges: Vec<u16> = self.held.keys().copied().collect();
        let mut failure = None;
        for range in ranges {
            match self.renew(range).await {
                Ok(true) => {}
                Ok(false) => {
                    self.held.remove(&range);
                    round.lost.push(range);
                }
                Err(e) => {
                    // Kept while still valid: the next round tries again.
                    if self.held.get(&range).is_some_and(|h| h.valid_until <= Instant::now()) {
                        self.held.remove(&range);
                        round.lost.push(range);
                    }
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        round.members = self.members().await?;
        let ranges = usize::from(self.config.ranges);
        let share = ranges.div_ceil(round.members);
        let now = Instant::now();
        self.released
            .retain(|_, at| now.duration_since(*at) < self.config.renew_every * RELEASE_COOLDOWN_ROUNDS);
        if self.held.len() > share {
            if let Some((&range, held)) = self.held.iter().next_back() {
                let revision = held.revision;
                let key = held.fence.lease.clone();
                self.held.remove(&range);
                self.released.insert(range, now);
                round.released.push(range);
                // If the delete fails the lease simply expires.
                let _ = self.kv.delete_expect_revision(&key, Some(revision)).await;
            }
        }
        // Free ranges (with the revision to take them over at), and whether each expired (its holder
        // stopped renewing: dead, paused or cut off) rather than being released or never held. A lease
        // not renewed for longer than its TTL (by the server's clock) counts as expired even before the
        // server has removed it: the server works through expired messages in its own time, up to a
        // couple of seconds late.
        let now_ns = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let overdue_ns = i128::try_from((self.config.ttl + EXPIRY_SKEW).as_nanos()).unwrap_or(i128::MAX);
        let mut free = Vec::new();
        for range in 0..self.config.ranges {
            if self.held.contains_key(&range) {
                continue;
            }
            let key = lease_key(range);
            match self
                .kv
                .entry(&key)
                .await
                .with_context(|| format!("failed to read {key}"))?
            {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let renewed_ns = entry.created.unix_timestamp_nanos();
                    if i128::from(now_ns) - renewed_ns > overdue_ns {
                        free.push((range, true, entry.revision));
                    }
                }
                Some(entry) => free.push((range, entry.operation == kv::Operation::Purge, entry.revision)),
                None => free.push((range, false, 0)),
            }
        }
        free.shuffle(&mut rand::rng());
        let seen_free: HashSet<u16> = free.iter().map(|(range, _, _)| *range).collect();
        for (range, expired, revision) in free {
            // An expired range is taken at once whatever the share (the members count still includes
            // its dead holder until that one's entry expires too); one free two rounds running as well.
            let orphaned = (expired || self.free_before.contains(&range)) && !self.released.contains_key(&range);
            let wanted = (self.held.len() < share && !self.released.contains_key(&range)) || orphaned;
            if wanted && self.try_acquire(range, revision).await? {
                round.acquired.push(range);
            }
        }
        self.free_before = seen_free;
        Ok(round)
    }

    /// Gives every lease back (a clean stop), so others take the ranges at once.
    pub async fn release_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        for held in held.values() {
            let _ = self
                .kv
                .delete_expect_revision(&held.fence.lease, Some(held.revision))
                .await;
        }
        let _ = self.kv.delete(format!("{MEMBER_PREFIX}{}", self.instance)).await;
    }
}

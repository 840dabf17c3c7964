//! Race-free claims on JetStream KV keys held by zones (zone-name reservations and `zones` quota
//! slots): a KV `create` gives a key to exactly one claimant; a key whose zone is gone (deleted, or
//! never committed by a create that crashed) is taken over by revision, so of two racing takers one wins.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use nsplane_schema::{ZoneEvent, ZoneId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::EventStore;

/// A claim whose zone never committed is taken to be left by a crash after this long.
pub(crate) const ORPHAN_AFTER: Duration = Duration::from_secs(60);

/// A key that someone else holds.
pub(crate) struct Held<H> {
    /// What it holds.
    pub(crate) holder: H,
    /// The entry's revision (to take it over).
    pub(crate) revision: u64,
    /// When the holder claimed it.
    pub(crate) created: DateTime<Utc>,
}

/// What claiming a key found.
pub(crate) enum Claim<H> {
    /// The key is ours now.
    Created,
    /// The key is held (possibly by ourselves, on a retry).
    Held(Held<H>),
}

/// Claims `key` with a KV `create`; if it exists, reads who holds it. A key deleted between the two is
/// claimed again once.
pub(crate) async fn create_or_read<H: Serialize + DeserializeOwned>(
    kv: &kv::Store,
    key: &str,
    value: &H,
) -> anyhow::Result<Claim<H>> {
    let bytes = serde_json::to_vec(value).context("failed to encode a claim")?;
    for _ in 0..2 {
        match kv.create(key, bytes.clone().into()).await {
            Ok(_) => return Ok(Claim::Created),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                if let Some(held) = read(kv, key).await? {
                    return Ok(Claim::Held(held));
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("failed to claim {key}"))),
        }
    }
    anyhow::bail!("{key} kept changing while it was claimed")
}

/// The live holder of `key`, if any.
pub(crate) async fn read<H: DeserializeOwned>(kv: &kv::Store, key: &str) -> anyhow::Result<Option<Held<H>>> {
    let Some(entry) = kv.entry(key).await.with_context(|| format!("failed to read {key}"))? else {
        return Ok(None);
    };
    if entry.operation != kv::Operation::Put {
        return Ok(None);
    }
    let holder = serde_json::from_slice(&entry.value).with_context(|| format!("undecodable claim at {key}"))?;
    Ok(Some(Held {
        holder,
        revision: entry.revision,
        created: DateTime::from_timestamp(entry.created.unix_timestamp(), 0).unwrap_or_default(),
    }))
}

/// Replaces the holder of `key`, if it is still at `revision`. False when someone else changed it first.
pub(crate) async fn take_over<H: Serialize>(
    kv: &kv::Store,
    key: &str,
    value: &H,
    revision: u64,
) -> anyhow::Result<bool> {
    let bytes = serde_json::to_vec(value).context("failed to encode a claim")?;
    Ok(kv.update(key, bytes.into(), revision).await.is_ok())
}

/// Gives `key` up, if it is still at `revision`.
pub(crate) async fn release(kv: &kv::Store, key: &str, revision: u64) -> anyhow::Result<()> {
    kv.delete_expect_revision(key, Some(revision))
        .await
        .with_context(|| format!("failed to release {key}"))
}

/// Whether the zone holding a claim made at `claimed` is gone: its last commit deleted it, or it never
/// committed and the claim is older than [`ORPHAN_AFTER`].
pub(crate) async fn zone_is_gone(store: &EventStore, zone: ZoneId, claimed: DateTime<Utc>) -> anyhow::Result<bool> {
    Ok(match store.last::<ZoneEvent>(&zone.to_string()).await? {
        Some(last) => last
            .envelope
            .events
            .iter()
            .any(|e| matches!(e, ZoneEvent::ZoneDeleted { .. })),
        None => (Utc::now() - claimed).to_std().unwrap_or_default() > ORPHAN_AFTER,
    })
}

/// A claim held for a zone.
pub(crate) trait ZoneClaim {
    /// The zone holding it.
    fn zone(&self) -> ZoneId;
}

/// What claiming a key for a zone came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// The key was free and is the zone's now.
    Created,
    /// The zone held it already (a retry, or a rebuild finding it in place).
    Already,
    /// Its holder's zone was gone; the key is the zone's now.
    TakenOver,
    /// A live zone holds it.
    HeldBy(ZoneId),
}

/// Claims `key` for `mine`'s zone: created if free, kept if the zone holds it already, taken over (by
/// revision, so of two racing takers one wins) if its holder's zone is gone.
pub(crate) async fn claim_for_zone<H: Serialize + DeserializeOwned + ZoneClaim>(
    kv: &kv::Store,
    events: &EventStore,
    key: &str,
    mine: &H,
) -> anyhow::Result<Claimed> {
    let held = match create_or_read(kv, key, mine).await? {
        Claim::Created => return Ok(Claimed::Created),
        Claim::Held(held) if held.holder.zone() == mine.zone() => return Ok(Claimed::Already),
        Claim::Held(held) => held,
    };
    if !zone_is_gone(events, held.holder.zone(), held.created).await? {
        return Ok(Claimed::HeldBy(held.holder.zone()));
    }
    if take_over(kv, key, mine, held.revision).await? {
        return Ok(Claimed::TakenOver);
    }
    // Another taker won: report who holds the key now.
    Ok(match read::<H>(kv, key).await? {
        Some(now) if now.holder.zone() == mine.zone() => Claimed::Already,
        Some(now) => Claimed::HeldBy(now.holder.zone()),
        None => Claimed::HeldBy(held.holder.zone()),
    })
}

//! Zone-name reservations in a JetStream KV bucket: a zone name is unique, and no project may create a
//! zone inside, or around, another project's zone. A KV `create` fails if the key exists, so two racing
//! creates of one name cannot both win, whatever instance runs them.
//!
//! Keys are the name's labels in reverse order (`org.example` for `example.org.`), so every zone
//! below a name shares its key prefix and one wildcard read finds them.

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use futures::future::BoxFuture;
use nsplane_schema::layout::Bucket;
use nsplane_schema::{DnsName, ProjectId, ZoneId, ZoneName};
use serde::{Deserialize, Serialize};

use crate::kv::{claim_for_zone, read, Claimed, ZoneClaim};
use crate::store::EventStore;
use crate::zone::ZoneDirectory;

/// At most this many zones below a name are examined (a bound on the super-zone check).
const DESCENDANTS_SCAN_MAX: usize = 10_000;

/// What a reservation holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The zone that holds the name.
    pub zone_id: ZoneId,
    /// Its project.
    pub project_id: ProjectId,
}

impl ZoneClaim for Reservation {
    fn zone(&self) -> ZoneId {
        self.zone_id
    }
}

/// Why a name could not be reserved. Each variant says how the API answers.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// 409 `duplicate_zone`.
    #[error("Duplicate Zone")]
    Duplicate,
    /// 403 `illegal_child`: the name is inside another project's zone.
    #[error("Unable to create zone because another tenant owns a parent zone")]
    IllegalChild,
    /// 403 `illegal_parent`: another project owns a zone inside this name.
    #[error("Unable to create zone because another tenant owns a subzone of the zone")]
    IllegalParent,
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What restoring a live zone's reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The zone held its name already.
    Already,
    /// The name was missing (or held by a zone that is gone) and is the zone's now.
    Now,
    /// Another live zone holds the name: two zones have one name (made while the reservations were
    /// missing); an operator must delete one.
    HeldBy(ZoneId),
}

/// The zone-name reservations.
#[derive(Clone)]
pub struct ZoneNames {
    kv: kv::Store,
    stream: jetstream::stream::Stream,
    bucket: String,
    events: EventStore,
}

/// The KV key of a name.
pub fn key_of(name: &DnsName) -> String {
    let mut labels = name.labels();
    labels.reverse();
    labels.join(".")
}

impl ZoneNames {
    /// Opens (creating if needed) the reservations bucket.
    pub async fn open(events: EventStore) -> anyhow::Result<Self> {
        let kv = events.open_bucket(Bucket::ZoneNames).await?;
        let bucket = events.layout().bucket(Bucket::ZoneNames);
        // Right after another instance created the bucket on a replicated cluster, a server that has
        // not learnt of its stream yet answers 10059 "stream not found": ask again, for a while.
        let mut attempt = 0;
        let stream = loop {
            match events.jetstream().get_stream(format!("KV_{bucket}")).await {
                Ok(stream) => break stream,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(%bucket, error = %e, attempt, "the bucket's stream is not known yet; asking again");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("failed to open the stream of KV bucket {bucket}"))
                    )
                }
            }
        };
        Ok(Self {
            kv,
            stream,
            bucket,
            events,
        })
    }

    /// The live reservation of a name, if any.
    pub async fn get(&self, name: &DnsName) -> anyhow::Result<Option<Reservation>> {
        Ok(read::<Reservation>(&self.kv, &key_of(name))
            .await?
            .map(|held| held.holder))
    }

    /// Reserves `name` for the zone, then checks that no other project owns a zone above or below it.
    /// Retrying with the same zone id succeeds again.
    pub async fn reserve(&self, name: &ZoneName, zone_id: ZoneId, project_id: &ProjectId) -> Result<(), ReserveError> {
        let dns = name.as_dns_name();
        let key = key_of(dns);
        let mine = Reservation {
            zone_id,
            project_id: project_id.clone(),
        };
        // A name whose zone was deleted, or never committed (a crashed create), is free.
        if let Claimed::HeldBy(_) = claim_for_zone(&self.kv, &self.events, &key, &mine).await? {
            return Err(ReserveError::Duplicate);
        }
        if let Err(refusal) = self.check_neighbours(name, project_id, &key).await {
            self.release(dns, zone_id).await?;
            return Err(refusal);
        }
        Ok(())
    }

    async fn check_neighbours(&self, name: &ZoneName, project_id: &ProjectId, key: &str) -> Result<(), ReserveError> {
        // Parents: every ancestor with at least two labels.
        let mut ancestor = name.as_dns_name().parent();
        while let Some(current) = ancestor {
            if current.labels().len() < 2 {
                break;
            }
            if let Some(holder) = self.get(&current).await? {
                if &holder.project_id != project_id {
                    return Err(ReserveError::IllegalChild);
                }
            }
            ancestor = current.parent();
        }
        // Children: every key below ours.
        let filter = format!("$KV.{}.{key}.>", self.bucket);
        let mut next_seq = 1u64;
        for _ in 0..DESCENDANTS_SCAN_MAX {
            let message = match self
                .stream
                .direct_get_next_for_subject(filter.clone(), Some(next_seq))
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(anyhow::Error::new(e).context("failed to scan zone names").into()),
            };
            next_seq = message.sequence + 1;
            let child_key = message
                .subject
                .trim_start_matches(&format!("$KV.{}.", self.bucket))
                .to_owned();
            let labels: Vec<&str> = child_key.split('.').rev().collect();
            let child = DnsName::parse(&format!("{}.", labels.join("."))).context("bad key in zone names")?;
            if let Some(holder) = self.get(&child).await? {
                if &holder.project_id != project_id {
                    return Err(ReserveError::IllegalParent);
                }
            }
        }
        Ok(())
    }

    /// Makes sure a live zone holds its name (rebuilding the reservations from the stream). Unlike
    /// [`Self::reserve`] it checks no neighbours: the zone exists, its name was checked when it was made.
    pub async fn restore(&self, name: &DnsName, zone_id: ZoneId, project_id: &ProjectId) -> anyhow::Result<Restored> {
        let mine = Reservation {
            zone_id,
            project_id: project_id.clone(),
        };
        Ok(
            match claim_for_zone(&self.kv, &self.events, &key_of(name), &mine).await? {
                Claimed::Created | Claimed::TakenOver => Restored::Now,
                Claimed::Already => Restored::Already,
                Claimed::HeldBy(other) => Restored::HeldBy(other),
            },
        )
    }

    /// Gives the name up, if `zone_id` still holds it.
    pub async fn release(&self, name: &DnsName, zone_id: ZoneId) -> anyhow::Result<()> {
        let key = key_of(name);
        if let Some(held) = read::<Reservation>(&self.kv, &key).await? {
            if held.holder.zone_id == zone_id {
                crate::kv::release(&self.kv, &key, held.revision).await?;
            }
        }
        Ok(())
    }
}

impl ZoneDirectory for ZoneNames {
    fn zone_exists<'a>(&'a self, name: &'a DnsName) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move { Ok(self.get(name).await?.is_some()) })
    }
}

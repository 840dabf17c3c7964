//! What the producer's periodic tasks read, by shard: zones waiting for the data plane, and zones whose
//! apex NS records are not their pool's any more.

use std::ops::Range;

use anyhow::Context as _;
use nsplane_schema::ids::SHARDS;
use nsplane_schema::Status;
use uuid::Uuid;

use super::{ReadError, ReadModels};

/// A zone PENDING or ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingZone {
    /// The zone.
    pub id: Uuid,
    /// PENDING or ERROR.
    pub status: Status,
    /// The aggregate version the read models hold (it moves with every commit, a sync report's too).
    pub version: i64,
}

/// The ids of a range of shards, as an inclusive range of uuids (a shard is the id's first 12 bits).
fn id_bounds(shards: &Range<u16>) -> (Uuid, Uuid) {
    let low = u128::from(shards.start) << 116;
    let high = if shards.end >= SHARDS {
        u128::MAX
    } else {
        (u128::from(shards.end) << 116) - 1
    };
    (Uuid::from_u128(low), Uuid::from_u128(high))
}

impl ReadModels {
    /// The zones waiting for the data plane whose shard is in `shards`, by id.
    pub async fn waiting_zones(&self, shards: Range<u16>) -> Result<Vec<WaitingZone>, ReadError> {
        let (low, high) = id_bounds(&shards);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT z.id, z.status, COALESCE(v.version, z.version) FROM zones z \
                 LEFT JOIN projection_versions v ON v.aggregate_type = 'zone' AND v.aggregate_id = z.id::text \
                 WHERE z.status IN ('PENDING', 'ERROR') AND z.id BETWEEN $1 AND $2 ORDER BY z.id",
                &[&low, &high],
            )
            .await
            .context("failed to list the zones waiting for the data plane")?;
        rows.iter()
            .map(|row| {
                Ok(WaitingZone {
                    id: row.get(0),
                    status: super::status(row, 1)?,
                    version: row.get(2),
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(ReadError::from)
    }

    /// Zone imports still pending in `shards` (by id) that were asked for before `before`, at most
    /// `limit`: the ones whose API instance did not finish them.
    pub async fn pending_imports(
        &self,
        shards: Range<u16>,
        before: chrono::NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<uuid::Uuid>, ReadError> {
        let (low, high) = id_bounds(&shards);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM zone_imports WHERE status = 'PENDING' AND id BETWEEN $1 AND $2 \
                 AND created_at < $3 ORDER BY id LIMIT $4",
                &[&low, &high, &before, &limit],
            )
            .await
            .context("failed to find pending imports")?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl ReadModels {
    /// Zones of `pool_id` whose shard is in `shards`, not being deleted, whose managed apex NS record set
    /// holds other records than `expected` (in order): at most `limit`, by id.
    pub async fn zones_with_other_ns(
        &self,
        pool_id: Uuid,
        expected: &[String],
        shards: Range<u16>,
        limit: i64,
    ) -> Result<Vec<Uuid>, ReadError> {
        let (low, high) = id_bounds(&shards);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT z.id FROM zones z JOIN recordsets r ON r.zone_id = z.id AND r.managed AND r.type = 'NS' \
                 WHERE z.pool_id = $1 AND z.id BETWEEN $2 AND $3 AND z.action <> 'DELETE' AND r.records <> $4 \
                 ORDER BY z.id LIMIT $5",
                &[&pool_id, &low, &high, &expected, &limit],
            )
            .await
            .context("failed to find zones with other NS records than their pool's")?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

impl ReadModels {
    /// A page of the zones whose shard is in `shards`, by id, after `after`: at most `limit`.
    pub async fn zones_in_shards(
        &self,
        shards: Range<u16>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<super::ZoneRow>, ReadError> {
        let (low, high) = id_bounds(&shards);
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM zones z WHERE z.id BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR z.id > $3) \
             ORDER BY z.id LIMIT $4",
            super::ZONE_COLUMNS
        );
        let rows = client
            .query(&sql, &[&low, &high, &after, &limit])
            .await
            .context("failed to list the zones of a shard range")?;
        rows.iter()
            .map(super::zone_row)
            .collect::<anyhow::Result<_>>()
            .map_err(ReadError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsplane_schema::ZoneId;

    #[test]
    fn a_shard_range_covers_exactly_its_zones_ids() {
        let (low, high) = id_bounds(&(256..512));
        let inside = [Uuid::from_u128(low.as_u128()), Uuid::from_u128(high.as_u128())];
        for id in inside {
            assert!((256..512).contains(&ZoneId(id).shard()), "{id}");
        }
        assert_eq!(ZoneId(Uuid::from_u128(low.as_u128() - 1)).shard(), 255);
        assert_eq!(ZoneId(Uuid::from_u128(high.as_u128() + 1)).shard(), 512);
        let (low, high) = id_bounds(&(4032..SHARDS));
        assert_eq!(ZoneId(low).shard(), 4032);
        assert_eq!(high, Uuid::max());
        let id: Uuid = "abc12345-0000-4000-8000-000000000000".parse().expect("uuid");
        assert_eq!(
            ZoneId(id).shard(),
            0xabc,
            "the first three hex digits, as Designate's shard"
        );
    }
}

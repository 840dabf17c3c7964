//! What the data plane reads: the zone that encloses a query name, a zone's records at one serial (one
//! REPEATABLE READ snapshot, so a transfer never mixes two versions), the journal between two serials,
//! and the members of a pool's catalog zone. The values come back typed; turning them into DNS wire
//! records is the data plane's business.

use anyhow::Context as _;
use nsplane_schema::zone::SoaTimers;
use nsplane_schema::RecordType;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{ReadError, ReadModels};
use crate::projectors::zone::JournalOp;

/// What the data plane needs of a zone to render its SOA and find its pool.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneHead {
    /// Zone id.
    pub id: Uuid,
    /// Name, with its final dot.
    pub name: String,
    /// Current serial.
    pub serial: u32,
    /// Default TTL.
    pub ttl: u32,
    /// The pool that serves it.
    pub pool_id: Uuid,
    /// The SOA MNAME.
    pub mname: String,
    /// The hostmaster address (the SOA RNAME is made of it).
    pub email: String,
    /// SOA timers.
    pub timers: SoaTimers,
}

/// A record set as the data plane serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedRecordset {
    /// Owner name.
    pub name: String,
    /// Type.
    pub rtype: RecordType,
    /// TTL, or the zone's when absent.
    pub ttl: Option<u32>,
    /// Record data in its canonical presentation form, as validation stored it.
    pub records: Vec<String>,
}

/// One record of a journal step.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRecord {
    /// Owner name.
    pub name: String,
    /// Type.
    pub rtype: RecordType,
    /// TTL.
    pub ttl: u32,
    /// Record data in its canonical presentation form.
    pub data: String,
}

/// One serial step of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalStep {
    /// Serial before.
    pub prev_serial: u32,
    /// Serial after.
    pub serial: u32,
    /// Records removed.
    pub removed: Vec<JournalRecord>,
    /// Records added.
    pub added: Vec<JournalRecord>,
}

const HEAD_COLUMNS: &str = "id, name, serial, ttl, mname, email, refresh, retry, expire, minimum, pool_id";

fn u32_column(row: &Row, idx: usize) -> anyhow::Result<u32> {
    let value: i64 = match row.columns()[idx].type_() {
        &tokio_postgres::types::Type::INT8 => row.try_get(idx)?,
        _ => i64::from(row.try_get::<_, i32>(idx)?),
    };
    u32::try_from(value).with_context(|| format!("column {idx} holds {value}, outside 0..2^32"))
}

fn head(row: &Row) -> anyhow::Result<ZoneHead> {
    Ok(ZoneHead {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        serial: u32_column(row, 2)?,
        ttl: u32_column(row, 3)?,
        mname: row.try_get(4)?,
        email: row.try_get(5)?,
        timers: SoaTimers {
            refresh: u32_column(row, 6)?,
            retry: u32_column(row, 7)?,
            expire: u32_column(row, 8)?,
            minimum: u32_column(row, 9)?,
        },
        pool_id: row.try_get(10)?,
    })
}

fn rtype(text: &str) -> anyhow::Result<RecordType> {
    RecordType::parse(text).map_err(|e| anyhow::anyhow!("stored record type: {e}"))
}

impl ReadModels {
    /// The served zone that is the closest enclosing zone of a name, given as its candidate zone names
    /// (lower-case, with final dots), longest first. Zones being deleted are not served.
    pub async fn enclosing_zone(&self, candidates: &[String]) -> Result<Option<ZoneHead>, ReadError> {
        if candidates.is_empty() {
            return Ok(None);
        }
        let client = self.client().await?;
        let sql = format!(
            "SELECT {HEAD_COLUMNS} FROM zones WHERE name = ANY($1) AND action <> 'DELETE' ORDER BY length(name) DESC LIMIT 1"
        );
        let row = client
            .query_opt(&sql, &[&candidates])
            .await
            .context("failed to find a zone")?;
        Ok(row.as_ref().map(head).transpose()?)
    }

    /// A served zone's head, and its record sets unless `cached` says the caller has this serial already:
    /// one consistent snapshot.
    pub async fn zone_snapshot(
        &self,
        zone_id: Uuid,
        cached: impl FnOnce(&ZoneHead) -> bool,
    ) -> Result<Option<(ZoneHead, Option<Vec<ServedRecordset>>)>, ReadError> {
        let mut client = self.client().await?;
        let txn = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .context("failed to begin a snapshot")?;
        let sql = format!("SELECT {HEAD_COLUMNS} FROM zones WHERE id = $1 AND action <> 'DELETE'");
        let Some(row) = txn
            .query_opt(&sql, &[&zone_id])
            .await
            .context("failed to read a zone")?
        else {
            return Ok(None);
        };
        let zone = head(&row)?;
        if cached(&zone) {
            return Ok(Some((zone, None)));
        }
        let rows = txn
            .query(
                "SELECT name, type, ttl, records FROM recordsets WHERE zone_id = $1 AND type <> 'SOA'",
                &[&zone_id],
            )
            .await
            .context("failed to read the zone's record sets")?;
        txn.commit().await.context("failed to end a snapshot")?;
        let recordsets = rows
            .iter()
            .map(|row| {
                Ok(ServedRecordset {
                    name: row.try_get(0)?,
                    rtype: rtype(row.try_get(1)?)?,
                    ttl: row.try_get::<_, Option<i32>>(2)?.map(|t| u32::try_from(t).unwrap_or(0)),
                    records: row.try_get(3)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some((zone, Some(recordsets))))
    }

    /// The journal from `from_serial` to the zone's current serial, or `None` if it does not reach back
    /// to `from_serial` without a gap (then only a full transfer is right).
    pub async fn journal_since(
        &self,
        zone: &ZoneHead,
        from_serial: u32,
    ) -> Result<Option<Vec<JournalStep>>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT serial, prev_serial, op, name, type, ttl, data FROM zone_journal \
                 WHERE zone_id = $1 AND serial > $2 ORDER BY serial, seq",
                &[&zone.id, &i64::from(from_serial)],
            )
            .await
            .context("failed to read the zone journal")?;
        let mut steps: Vec<JournalStep> = Vec::new();
        for row in &rows {
            let serial = u32_column(row, 0)?;
            if steps.last().is_none_or(|s| s.serial != serial) {
                steps.push(JournalStep {
                    prev_serial: u32_column(row, 1)?,
                    serial,
                    removed: Vec::new(),
                    added: Vec::new(),
                });
            }
            let op: &str = row.try_get(2)?;
            let op = JournalOp::parse(op).with_context(|| format!("unknown journal op {op:?}"))?;
            if op == JournalOp::Step {
                continue;
            }
            let record = JournalRecord {
                name: row.try_get(3)?,
                rtype: rtype(row.try_get(4)?)?,
                ttl: u32_column(row, 5)?,
                data: row.try_get(6)?,
            };
            if let Some(step) = steps.last_mut() {
                if op == JournalOp::Remove {
                    step.removed.push(record);
                } else {
                    step.added.push(record);
                }
            }
        }
        // The steps must chain from the client's serial to the current one without a gap.
        let mut at = from_serial;
        for step in &steps {
            if step.prev_serial != at {
                return Ok(None);
            }
            at = step.serial;
        }
        Ok((at == zone.serial).then_some(steps))
    }

    /// Zones of a pool that its catalog lists (`(id, name)`), and the catalog's serial.
    pub async fn catalog_members(&self, pool_id: Uuid) -> Result<(u32, Vec<(Uuid, String)>), ReadError> {
        let mut client = self.client().await?;
        let txn = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .context("failed to begin a snapshot")?;
        let serial = match txn
            .query_opt("SELECT serial FROM pool_catalogs WHERE pool_id = $1", &[&pool_id])
            .await
            .context("failed to read the catalog serial")?
        {
            Some(row) => u32_column(&row, 0)?,
            None => 1,
        };
        let rows = txn
            .query(
                "SELECT id, name FROM zones WHERE pool_id = $1 AND action <> 'DELETE' ORDER BY id",
                &[&pool_id],
            )
            .await
            .context("failed to read the catalog's members")?;
        txn.commit().await.context("failed to end a snapshot")?;
        Ok((serial, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }
}

//! The SQL of the projection, prepared once per connection and cached by deadpool.

use anyhow::Context as _;
use tokio_postgres::Statement;

/// A batch's record-set changes to one zone, at once: the last serial, one version per change.
const ZONE_TOUCH: &str = "UPDATE zones z SET serial = $2, version = z.version + $3, status = 'PENDING', \
     action = CASE WHEN z.action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END, updated_at = $4 WHERE z.id = $1";

/// The same for the zone's SOA record set.
const SOA_TOUCH_N: &str =
    "UPDATE recordsets SET serial = $2, version = version + $3, updated_at = $4, status = 'PENDING', \
     action = CASE WHEN action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END WHERE id = $1";

/// The serial and TTL of the batch's zones as it starts.
const ZONES_HEAD: &str = "SELECT id, serial, ttl FROM zones WHERE id = ANY($1)";

const SOA_TOUCH: &str =
    "UPDATE recordsets SET serial = $2, version = version + 1, updated_at = $3, status = 'PENDING', \
     action = CASE WHEN action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END WHERE id = $1";

const ZONE_INSERT: &str =
    "INSERT INTO zones (id, project_id, pool_id, name, email, mname, ttl, serial, refresh, retry, expire, \
     minimum, description, type, status, action, version, created_at, attributes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'PRIMARY', 'PENDING', 'CREATE', 1, $14, $15)";

const MANAGED_INSERT: &str =
    "INSERT INTO recordsets (id, zone_id, project_id, name, type, records, ttl, description, managed, \
     status, action, serial, version, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, true, 'PENDING', 'CREATE', $7, 1, $8)";

const ZONE_UPDATE: &str =
    "UPDATE zones z SET email = $2, ttl = $3, description = $4, serial = $5, version = z.version + 1, \
     status = 'PENDING', action = CASE WHEN z.action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END, updated_at = $6 \
     FROM (SELECT serial, ttl FROM zones WHERE id = $1) old WHERE z.id = $1 RETURNING old.serial, old.ttl";

const ZONE_INHERITING: &str =
    "SELECT name, type, records FROM recordsets WHERE zone_id = $1 AND ttl IS NULL AND type <> 'SOA'";

const ZONE_DELETE_REQUESTED: &str =
    "UPDATE zones SET status = 'PENDING', action = 'DELETE', version = version + 1, updated_at = $2 WHERE id = $1";

/// Record sets created in a row, in one statement (each one's records as a JSON array: `unnest` cannot
/// take an array of arrays of different lengths).
const RECORDSETS_INSERT: &str =
    "INSERT INTO recordsets (id, zone_id, project_id, name, type, records, ttl, description, managed, \
     status, action, serial, version, created_at) \
     SELECT i, z, p, n, t, ARRAY(SELECT jsonb_array_elements_text(r)), l, d, m, 'PENDING', 'CREATE', s, 1, c \
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::int[], \
     $8::text[], $9::bigint[], $10::timestamp[], $11::bool[]) AS x(i, z, p, n, t, r, l, d, s, c, m)";

const RECORDSET_UPDATE: &str = "UPDATE recordsets r SET records = $2, ttl = $3, description = $4, status = 'PENDING', \
     action = CASE WHEN r.action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END, version = r.version + 1, \
     serial = $5, updated_at = $6 FROM (SELECT records, ttl FROM recordsets WHERE id = $1) old \
     WHERE r.id = $1 RETURNING r.name, r.type, old.records, old.ttl";

const CATALOG_BUMP: &str = "INSERT INTO pool_catalogs (pool_id, serial) SELECT pool_id, 2 FROM zones WHERE id = $1 \
     ON CONFLICT (pool_id) DO UPDATE SET serial = pool_catalogs.serial + 1";

const ZONE_SYNC: &str = "UPDATE zones SET sync = $2, \
     status = CASE WHEN serial = $3 THEN (CASE WHEN $4 THEN 'ACTIVE' ELSE 'ERROR' END) ELSE status END, \
     action = CASE WHEN serial = $3 AND $4 THEN 'NONE' ELSE action END WHERE id = $1";

const RECORDSETS_SERVED: &str = "UPDATE recordsets r SET status = 'ACTIVE', action = 'NONE' FROM zones z \
     WHERE r.zone_id = $1 AND z.id = $1 AND z.serial = $2 AND r.status = 'PENDING' AND r.serial <= $2";

const ZONE_REMOVE: &str = "DELETE FROM zones WHERE id = $1";

const JOURNAL_REMOVE: &str = "DELETE FROM zone_journal WHERE zone_id = $1";

const RECORDSET_DELETE: &str = "DELETE FROM recordsets WHERE id = $1 RETURNING name, type, records, ttl";

pub(super) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) fn ttl_i32(ttl: nsplane_schema::Ttl) -> i32 {
    i32::try_from(ttl.secs()).unwrap_or(i32::MAX)
}

/// The statements of a projection, prepared once per connection.
pub(super) struct Statements {
    pub(super) zones_head: Statement,
    pub(super) zone_touch: Statement,
    pub(super) soa_touch_n: Statement,
    pub(super) soa_touch: Statement,
    pub(super) zone_insert: Statement,
    pub(super) managed_insert: Statement,
    pub(super) zone_update: Statement,
    pub(super) zone_inheriting: Statement,
    pub(super) zone_delete_requested: Statement,
    pub(super) recordsets_insert: Statement,
    pub(super) recordset_update: Statement,
    pub(super) recordset_delete: Statement,
    pub(super) catalog_bump: Statement,
    pub(super) zone_sync: Statement,
    pub(super) recordsets_served: Statement,
    pub(super) zone_remove: Statement,
    pub(super) journal_remove: Statement,
}

impl Statements {
    pub(super) async fn prepare(txn: &deadpool_postgres::Transaction<'_>) -> anyhow::Result<Self> {
        let sqls = [
            ZONES_HEAD,
            ZONE_TOUCH,
            SOA_TOUCH_N,
            SOA_TOUCH,
            ZONE_INSERT,
            MANAGED_INSERT,
            ZONE_UPDATE,
            ZONE_INHERITING,
            ZONE_DELETE_REQUESTED,
            RECORDSETS_INSERT,
            RECORDSET_UPDATE,
            RECORDSET_DELETE,
            CATALOG_BUMP,
            ZONE_SYNC,
            RECORDSETS_SERVED,
            ZONE_REMOVE,
            JOURNAL_REMOVE,
        ];
        let prepared = futures::future::try_join_all(sqls.iter().map(|sql| txn.prepare_cached(sql)))
            .await
            .context("failed to prepare the projection statements")?;
        let mut it = prepared.into_iter();
        let mut next = || it.next().context("missing prepared statement");
        Ok(Self {
            zones_head: next()?,
            zone_touch: next()?,
            soa_touch_n: next()?,
            soa_touch: next()?,
            zone_insert: next()?,
            managed_insert: next()?,
            zone_update: next()?,
            zone_inheriting: next()?,
            zone_delete_requested: next()?,
            recordsets_insert: next()?,
            recordset_update: next()?,
            recordset_delete: next()?,
            catalog_bump: next()?,
            zone_sync: next()?,
            recordsets_served: next()?,
            zone_remove: next()?,
            journal_remove: next()?,
        })
    }
}

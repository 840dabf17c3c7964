//! Every read-model query, behind [`ReadModels`]: zones and record sets with Designate's paging
//! (`limit`, `marker`), one sort key and filters with `*` wildcards; the operator's rules and quotas;
//! projected versions for read-your-writes; the audit rows; and what the data plane reads (`dataplane`).

use anyhow::Context as _;
use chrono::NaiveDateTime;
use deadpool_postgres::Pool;
use nsplane_schema::zone::{soa_rdata, NameserverSync, SoaTimers};
use nsplane_schema::{Action, DnsName, Status};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

pub mod audit;
pub mod dataplane;
pub mod history;
pub mod operator;
pub mod producer;

/// The read models, for every reader (API, data plane, tools). Each query takes a pooled connection.
#[derive(Clone)]
pub struct ReadModels {
    pool: Pool,
}

/// Why a read failed: PostgreSQL is unreachable, or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No connection could be had (the API answers 503).
    #[error("the read models are unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(error: tokio_postgres::Error) -> Self {
        ReadError::Query(error.into())
    }
}

impl ReadModels {
    /// Over a connection pool.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, ReadError> {
        self.pool.get().await.map_err(|e| ReadError::Unavailable(e.to_string()))
    }

    /// One zone by id (any project; the caller checks who may see it).
    pub async fn zone(&self, id: Uuid) -> Result<Option<ZoneRow>, ReadError> {
        Ok(zone(&**self.client().await?, id).await?)
    }

    /// One record set of a zone.
    pub async fn recordset(&self, zone_id: Uuid, id: Uuid) -> Result<Option<RecordsetRow>, ReadError> {
        Ok(recordset(&**self.client().await?, zone_id, id).await?)
    }

    /// One record set by id, whatever its zone.
    pub async fn recordset_by_id(&self, id: Uuid) -> Result<Option<RecordsetRow>, ReadError> {
        Ok(recordset_by_id(&**self.client().await?, id).await?)
    }

    /// A page of zones.
    pub async fn zones(&self, query: &ListQuery) -> Result<Page<ZoneRow>, ListError> {
        let client = self.client().await?;
        zones(&**client, query).await
    }

    /// A page of record sets (of one zone, or across zones).
    pub async fn recordsets(&self, query: &ListQuery) -> Result<Page<RecordsetRow>, ListError> {
        let client = self.client().await?;
        recordsets(&**client, query).await
    }

    /// The version of an aggregate the read models hold (0 if none).
    pub async fn projected_version(&self, aggregate_type: &str, aggregate_id: &str) -> Result<u64, ReadError> {
        Ok(crate::apply::projected_version(&**self.client().await?, aggregate_type, aggregate_id).await?)
    }
}

/// A zone row.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRow {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub project_id: String,
    /// Pool.
    pub pool_id: Uuid,
    /// Name.
    pub name: String,
    /// Hostmaster.
    pub email: String,
    /// Default TTL.
    pub ttl: i32,
    /// Serial.
    pub serial: i64,
    /// Free text.
    pub description: Option<String>,
    /// PRIMARY.
    pub zone_type: String,
    /// Status.
    pub status: Status,
    /// Action.
    pub action: Action,
    /// Object version.
    pub version: i64,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Updated.
    pub updated_at: Option<NaiveDateTime>,
    /// What each name server of the pool last served (from the worker's reports).
    pub sync: Vec<NameserverSync>,
    /// Operator key/values (a JSON object of strings).
    pub attributes: serde_json::Value,
    /// Projects the zone is shared with.
    pub shared_with: Vec<String>,
}

/// A record set row.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsetRow {
    /// Id.
    pub id: Uuid,
    /// Zone.
    pub zone_id: Uuid,
    /// Zone name.
    pub zone_name: String,
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Type.
    pub rtype: String,
    /// Records (SOA rendered from the zone).
    pub records: Vec<String>,
    /// TTL or inherit.
    pub ttl: Option<i32>,
    /// Free text.
    pub description: Option<String>,
    /// Managed by nsplane.
    pub managed: bool,
    /// Status.
    pub status: Status,
    /// Action.
    pub action: Action,
    /// Object version.
    pub version: i64,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Updated.
    pub updated_at: Option<NaiveDateTime>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items matching the filters on all pages (`None` when counts are hidden).
    pub total_count: Option<i64>,
}

/// A list request, already validated against the resource's whitelists by the caller.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only this project's rows (`None`: every project).
    pub project_id: Option<String>,
    /// Only this zone's record sets.
    pub zone_id: Option<Uuid>,
    /// `(column, value)`; `*` in a value is a wildcard. Columns come from the caller's whitelist.
    pub filters: Vec<(&'static str, String)>,
    /// Id of the last item of the previous page.
    pub marker: Option<Uuid>,
    /// Page size.
    pub limit: i64,
    /// Sort column, from the caller's whitelist.
    pub sort_key: &'static str,
    /// Descending order.
    pub sort_desc: bool,
    /// Skip the count query.
    pub hide_count: bool,
}

/// Why a list failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// 400 `marker_not_found`.
    #[error("Marker {0} could not be found")]
    MarkerNotFound(Uuid),
    /// 503: no connection could be had.
    #[error("the read models are unavailable: {0}")]
    Unavailable(String),
    /// 500.
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

impl From<ReadError> for ListError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Unavailable(reason) => ListError::Unavailable(reason),
            ReadError::Query(e) => ListError::Db(e),
        }
    }
}

const ZONE_COLUMNS: &str = "z.id, z.project_id, z.pool_id, z.name, z.email, z.ttl, z.serial, z.description, z.type, \
     z.status, z.action, z.version, z.created_at, z.updated_at, z.sync, z.attributes, \
     ARRAY(SELECT s.target_project_id FROM zone_shares s WHERE s.zone_id = z.id ORDER BY 1)";

const RECORDSET_COLUMNS: &str = "r.id, r.zone_id, z.name, r.project_id, r.name, r.type, r.records, r.ttl, \
     r.description, r.managed, r.status, r.action, r.version, r.created_at, r.updated_at, \
     z.mname, z.email, z.serial, z.refresh, z.retry, z.expire, z.minimum";

/// A status column: the projection only writes valid spellings, so anything else is a bug.
fn status(row: &Row, idx: usize) -> anyhow::Result<Status> {
    Ok(row.try_get::<_, &str>(idx)?.parse()?)
}

fn action(row: &Row, idx: usize) -> anyhow::Result<Action> {
    Ok(row.try_get::<_, &str>(idx)?.parse()?)
}

fn zone_row(row: &Row) -> anyhow::Result<ZoneRow> {
    Ok(ZoneRow {
        id: row.get(0),
        project_id: row.get(1),
        pool_id: row.get(2),
        name: row.get(3),
        email: row.get(4),
        ttl: row.get(5),
        serial: row.get(6),
        description: row.get(7),
        zone_type: row.get(8),
        status: status(row, 9)?,
        action: action(row, 10)?,
        version: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
        sync: serde_json::from_value(row.get(14)).context("undecodable sync status")?,
        attributes: row.get(15),
        shared_with: row.get(16),
    })
}

fn recordset_row(row: &Row) -> anyhow::Result<RecordsetRow> {
    let rtype: String = row.get(5);
    let mut records: Vec<String> = row.get(6);
    if rtype == "SOA" {
        let mname: String = row.get(15);
        let timers = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
        if let Ok(mname) = DnsName::parse(&mname) {
            let soa = SoaTimers {
                refresh: timers(18),
                retry: timers(19),
                expire: timers(20),
                minimum: timers(21),
            };
            let serial = u32::try_from(row.get::<_, i64>(17)).unwrap_or(0);
            records = vec![soa_rdata(&mname, &row.get::<_, String>(16), serial, soa)];
        }
    }
    Ok(RecordsetRow {
        id: row.get(0),
        zone_id: row.get(1),
        zone_name: row.get(2),
        project_id: row.get(3),
        name: row.get(4),
        rtype,
        records,
        ttl: row.get(7),
        description: row.get(8),
        managed: row.get(9),
        status: status(row, 10)?,
        action: action(row, 11)?,
        version: row.get(12),
        created_at: row.get(13),
        updated_at: row.get(14),
    })
}

/// One zone by id (any project; the caller checks ownership).
async fn zone(client: &impl GenericClient, id: Uuid) -> anyhow::Result<Option<ZoneRow>> {
    let sql = format!("SELECT {ZONE_COLUMNS} FROM zones z WHERE z.id = $1");
    let row = client.query_opt(&sql, &[&id]).await.context("failed to read a zone")?;
    row.as_ref().map(zone_row).transpose()
}

/// One record set of a zone.
async fn recordset(client: &impl GenericClient, zone_id: Uuid, id: Uuid) -> anyhow::Result<Option<RecordsetRow>> {
    let sql = format!("SELECT {RECORDSET_COLUMNS} FROM recordsets r JOIN zones z ON z.id = r.zone_id WHERE r.id = $1 AND r.zone_id = $2");
    let row = client
        .query_opt(&sql, &[&id, &zone_id])
        .await
        .context("failed to read a record set")?;
    row.as_ref().map(recordset_row).transpose()
}

/// One record set by id, whatever its zone.
async fn recordset_by_id(client: &impl GenericClient, id: Uuid) -> anyhow::Result<Option<RecordsetRow>> {
    let sql = format!("SELECT {RECORDSET_COLUMNS} FROM recordsets r JOIN zones z ON z.id = r.zone_id WHERE r.id = $1");
    let row = client
        .query_opt(&sql, &[&id])
        .await
        .context("failed to read a record set")?;
    row.as_ref().map(recordset_row).transpose()
}

/// Builds `WHERE ...` and the parameters shared by a page query and its count.
fn conditions(query: &ListQuery, table: &str, params: &mut Vec<Box<dyn ToSql + Sync + Send>>) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(project) = &query.project_id {
        params.push(Box::new(project.clone()));
        let n = params.len();
        // Own zones and record sets, and those of zones shared with the project.
        let zone_column = if table == "z" { "z.id" } else { "r.zone_id" };
        let owner_of_zone = if table == "z" {
            String::new()
        } else {
            format!("z.project_id = ${n} OR ")
        };
        conds.push(format!(
            "({table}.project_id = ${n} OR {owner_of_zone}EXISTS (SELECT 1 FROM zone_shares s \
             WHERE s.zone_id = {zone_column} AND s.target_project_id = ${n}))"
        ));
    }
    if let Some(zone_id) = query.zone_id {
        params.push(Box::new(zone_id));
        conds.push(format!("{table}.zone_id = ${}", params.len()));
    }
    for (column, value) in &query.filters {
        let (op, value) = if value.contains('*') {
            let escaped = value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            ("LIKE", escaped.replace('*', "%"))
        } else {
            ("=", value.clone())
        };
        params.push(Box::new(value));
        let n = params.len();
        if *column == "data" {
            conds.push(format!(
                "EXISTS (SELECT 1 FROM unnest({table}.records) d WHERE d {op} ${n})"
            ));
        } else {
            conds.push(format!("{table}.{column}::text {op} ${n}"));
        }
    }
    conds
}

async fn page(
    client: &impl GenericClient,
    query: &ListQuery,
    table: &str,
    from: &str,
    columns: &str,
) -> Result<(Vec<Row>, Option<i64>), ListError> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut conds = conditions(query, table, &mut params);
    let count_params = params.len();
    let key = format!("{table}.{}", query.sort_key);
    if let Some(marker) = query.marker {
        let marker_table = if table == "z" { "zones" } else { "recordsets" };
        let exists = client
            .query_opt(&format!("SELECT 1 FROM {marker_table} WHERE id = $1"), &[&marker])
            .await
            .context("failed to look up the marker")?;
        if exists.is_none() {
            return Err(ListError::MarkerNotFound(marker));
        }
        params.push(Box::new(marker));
        let n = params.len();
        let cmp = if query.sort_desc { "<" } else { ">" };
        conds.push(format!(
            "({key}, {table}.id) {cmp} (SELECT m.{sort}, m.id FROM {marker_table} m WHERE m.id = ${n})",
            sort = query.sort_key
        ));
    }
    let where_clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let dir = if query.sort_desc { "DESC" } else { "ASC" };
    params.push(Box::new(query.limit));
    let sql = format!(
        "SELECT {columns} FROM {from} {where_clause} ORDER BY {key} {dir}, {table}.id {dir} LIMIT ${}",
        params.len()
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&sql, &refs).await.context("failed to list")?;
    let total = if query.hide_count {
        None
    } else {
        let count_conds = &conds[..conds.len() - usize::from(query.marker.is_some())];
        let where_count = if count_conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", count_conds.join(" AND "))
        };
        let sql = format!("SELECT count(*) FROM {from} {where_count}");
        let row = client
            .query_one(&sql, &refs[..count_params])
            .await
            .context("failed to count")?;
        Some(row.get::<_, i64>(0))
    };
    Ok((rows, total))
}

/// A page of zones.
async fn zones(client: &impl GenericClient, query: &ListQuery) -> Result<Page<ZoneRow>, ListError> {
    let (rows, total_count) = page(client, query, "z", "zones z", ZONE_COLUMNS).await?;
    Ok(Page {
        items: rows.iter().map(zone_row).collect::<anyhow::Result<_>>()?,
        total_count,
    })
}

/// A page of record sets (of one zone, or across zones).
async fn recordsets(client: &impl GenericClient, query: &ListQuery) -> Result<Page<RecordsetRow>, ListError> {
    let (rows, total_count) = page(
        client,
        query,
        "r",
        "recordsets r JOIN zones z ON z.id = r.zone_id",
        RECORDSET_COLUMNS,
    )
    .await?;
    Ok(Page {
        items: rows.iter().map(recordset_row).collect::<anyhow::Result<_>>()?,
        total_count,
    })
}

//! The audit rows: one per projected event, with its commit's who/why/when. Queries combine filters on
//! the zone (id or name), the record set (name, type), who (project, user), the request, the event
//! type, the source role and a time range, page by stream position, and give each record-set change its
//! values before and after (the previous change of the same record set is the row before it).

use anyhow::Context as _;
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;

use super::{ListError, ReadError, ReadModels};

/// Where an audit entry is: its commit's stream sequence and its index in the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditPosition {
    /// The commit's stream sequence.
    pub stream_seq: i64,
    /// The event's index in the commit.
    pub event_idx: i32,
}

impl AuditPosition {
    /// `<stream_seq>.<event_idx>`, the entry's id.
    pub fn id(&self) -> String {
        format!("{}.{}", self.stream_seq, self.event_idx)
    }

    /// Reads an entry id back.
    pub fn parse(id: &str) -> Option<Self> {
        let (seq, idx) = id.split_once('.')?;
        Some(Self {
            stream_seq: seq.parse().ok().filter(|s| *s > 0)?,
            event_idx: idx.parse().ok().filter(|i| *i >= 0)?,
        })
    }
}

/// An audit query; every filter that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only the history of zones this project owns or that are shared with it (`None`: everything).
    pub visible_to: Option<String>,
    /// The zone's id.
    pub zone_id: Option<String>,
    /// The zone's name, as created (lowercase, trailing dot).
    pub zone_name: Option<String>,
    /// The record set's name (lowercase, trailing dot).
    pub recordset_name: Option<String>,
    /// The record set's type (`A`, `TXT`, …).
    pub recordset_type: Option<String>,
    /// The project the command was made in.
    pub project_id: Option<String>,
    /// The user who made it.
    pub user_id: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// The event type, without its version (`RecordsetUpdated`).
    pub event_type: Option<String>,
    /// The role that issued the command (`api`, `worker`, …).
    pub source: Option<String>,
    /// At or after (UTC).
    pub since: Option<NaiveDateTime>,
    /// Before (UTC).
    pub until: Option<NaiveDateTime>,
    /// Entries after this one.
    pub marker: Option<AuditPosition>,
    /// Page size.
    pub limit: i64,
}

/// A record set's values at one point of its history.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsetValues {
    /// Record data.
    pub records: Value,
    /// TTL (`null`: the zone's).
    pub ttl: Value,
    /// Free text.
    pub description: Value,
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Its position (and id).
    pub position: AuditPosition,
    /// The aggregate kind.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The aggregate's version after the commit.
    pub version: i64,
    /// The event's type, without its version.
    pub event_type: String,
    /// The event's schema version.
    pub event_version: i32,
    /// The event as stored.
    pub payload: Value,
    /// The zone's name, for zone events.
    pub zone_name: Option<String>,
    /// The record set's name, for record-set events.
    pub recordset_name: Option<String>,
    /// The record set's type, for record-set events.
    pub recordset_type: Option<String>,
    /// For record-set events: the values before (`None` for a creation).
    pub before: Option<RecordsetValues>,
    /// For record-set events: the values after (`None` for a deletion).
    pub after: Option<RecordsetValues>,
    /// Who: the project.
    pub project_id: String,
    /// Who: the user.
    pub user_id: String,
    /// Who: the roles.
    pub roles: Vec<String>,
    /// Why: the request.
    pub request_id: String,
    /// Why: the issuing role.
    pub source: String,
    /// Why: the command.
    pub command: String,
    /// When the command was decided (UTC).
    pub occurred_at: NaiveDateTime,
}

const SELECT: &str = "SELECT a.stream_seq, a.event_idx, a.aggregate_type, a.aggregate_id, a.version, a.event_type, \
     a.event_version, a.payload, a.project_id, a.user_id, a.roles, a.request_id, a.source_role, a.command, \
     a.occurred_at, zc.payload->>'name', rc.payload->>'name', rc.payload->>'rtype', prev.payload \
     FROM audit_events a \
     LEFT JOIN LATERAL (SELECT o.payload FROM audit_events o WHERE a.aggregate_type = 'zone' \
        AND o.aggregate_type = 'zone' AND o.aggregate_id = a.aggregate_id AND o.version = 1 AND o.event_idx = 0) zc ON true \
     LEFT JOIN LATERAL (SELECT c.payload FROM audit_events c WHERE a.payload ? 'recordset_id' AND c.payload ? 'recordset_id' \
        AND c.payload->>'recordset_id' = a.payload->>'recordset_id' AND c.event_type = 'RecordsetCreated' LIMIT 1) rc ON true \
     LEFT JOIN LATERAL (SELECT p.payload FROM audit_events p WHERE a.event_type IN ('RecordsetUpdated', 'RecordsetDeleted') \
        AND p.payload ? 'recordset_id' AND p.payload->>'recordset_id' = a.payload->>'recordset_id' \
        AND p.event_type IN ('RecordsetCreated', 'RecordsetUpdated') \
        AND (p.stream_seq, p.event_idx) < (a.stream_seq, a.event_idx) \
        ORDER BY p.stream_seq DESC, p.event_idx DESC LIMIT 1) prev ON true";

impl ReadModels {
    /// The stream sequences of the commits a request caused (a retried request has one; a workflow
    /// such as a zone create and its confirmation can have several), in stream order.
    pub async fn commits_of_request(&self, request_id: &str) -> Result<Vec<u64>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT stream_seq FROM audit_events WHERE request_id = $1 ORDER BY 1",
                &[&request_id],
            )
            .await
            .context("failed to look up a request's commits")?;
        Ok(rows
            .iter()
            .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
            .collect())
    }

    /// One page of audit entries, oldest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, ListError> {
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut conds: Vec<String> = Vec::new();
        let mut bind = |value: Box<dyn ToSql + Sync + Send>| {
            params.push(value);
            format!("${}", params.len())
        };
        if let Some(project) = &query.visible_to {
            let p = bind(Box::new(project.clone()));
            conds.push(format!(
                "a.aggregate_type = 'zone' AND (zc.payload->>'project_id' = {p} OR EXISTS (SELECT 1 FROM zone_shares s \
                 WHERE s.zone_id::text = a.aggregate_id AND s.target_project_id = {p}))"
            ));
        }
        if let Some(zone) = &query.zone_id {
            let p = bind(Box::new(zone.clone()));
            conds.push(format!("a.aggregate_type = 'zone' AND a.aggregate_id = {p}"));
        }
        // Names become ids first, through the creation events' name index: filtering every row by a
        // name would read the whole table in stream order.
        let client = self.client().await.map_err(ListError::from)?;
        if let Some(name) = &query.zone_name {
            let ids = created_ids(&client, "ZoneCreated", "aggregate_id", name).await?;
            let p = bind(Box::new(ids));
            conds.push(format!("a.aggregate_type = 'zone' AND a.aggregate_id = ANY({p})"));
        }
        if let Some(name) = &query.recordset_name {
            let ids = created_ids(&client, "RecordsetCreated", "payload->>'recordset_id'", name).await?;
            // Their events' positions too, through the record-set index: the planner cannot tell how
            // few rows match a JSON field and would rather walk the whole table in stream order.
            let seqs: Vec<i64> = client
                .query(
                    "SELECT DISTINCT stream_seq FROM audit_events WHERE payload ? 'recordset_id' \
                     AND payload->>'recordset_id' = ANY($1)",
                    &[&ids],
                )
                .await
                .context("failed to find the record sets' events")
                .map_err(|e| ListError::from(ReadError::Query(e)))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let (p, s) = (bind(Box::new(ids)), bind(Box::new(seqs)));
            conds.push(format!(
                "a.stream_seq = ANY({s}) AND a.payload ? 'recordset_id' AND a.payload->>'recordset_id' = ANY({p})"
            ));
        }
        let text_filters = [
            ("rc.payload->>'rtype'", &query.recordset_type),
            ("a.project_id", &query.project_id),
            ("a.user_id", &query.user_id),
            ("a.request_id", &query.request_id),
            ("a.event_type", &query.event_type),
            ("a.source_role", &query.source),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                let p = bind(Box::new(value.clone()));
                conds.push(format!("{column} = {p}"));
            }
        }
        if let Some(since) = query.since {
            let p = bind(Box::new(since));
            conds.push(format!("a.occurred_at >= {p}"));
        }
        if let Some(until) = query.until {
            let p = bind(Box::new(until));
            conds.push(format!("a.occurred_at < {p}"));
        }
        if let Some(marker) = query.marker {
            let (s, i) = (bind(Box::new(marker.stream_seq)), bind(Box::new(marker.event_idx)));
            conds.push(format!("(a.stream_seq, a.event_idx) > ({s}, {i})"));
        }
        let limit = bind(Box::new(query.limit));
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!("{SELECT}{filter} ORDER BY a.stream_seq, a.event_idx LIMIT {limit}");
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = client
            .query(&sql, &refs)
            .await
            .context("failed to query the audit rows")
            .map_err(|e| ListError::from(ReadError::Query(e)))?;
        Ok(rows.iter().map(entry).collect())
    }
}

/// The ids (`id_column`) of what `event_type` created under `name`.
async fn created_ids(
    client: &deadpool_postgres::Object,
    event_type: &str,
    id_column: &str,
    name: &str,
) -> Result<Vec<String>, ListError> {
    let sql = format!("SELECT DISTINCT {id_column} FROM audit_events WHERE event_type = $1 AND payload->>'name' = $2");
    let rows = client
        .query(&sql, &[&event_type, &name])
        .await
        .context("failed to look names up in the audit rows")
        .map_err(|e| ListError::from(ReadError::Query(e)))?;
    Ok(rows.iter().filter_map(|r| r.get::<_, Option<String>>(0)).collect())
}

/// A name as events store it: lowercase, with the root's dot.
pub fn fqdn(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// An event type without its version: `RecordsetUpdated.v1` is `RecordsetUpdated`.
pub fn event_name(event_type: &str) -> String {
    event_type
        .split_once(".v")
        .map_or(event_type, |(name, _)| name)
        .to_owned()
}

/// A time as filters take it: RFC 3339 (any offset), a UTC time without offset, or a date (its
/// midnight, UTC).
pub fn parse_time(value: &str) -> Option<NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
        .ok()
}

/// The columns of an audit export, in order.
pub const CSV_COLUMNS: [&str; 18] = [
    "id",
    "occurred_at",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "zone_name",
    "recordset_id",
    "recordset_name",
    "recordset_type",
    "before_records",
    "before_ttl",
    "after_records",
    "after_ttl",
    "project_id",
    "user_id",
    "request_id",
    "source",
    "command",
];

impl AuditEntry {
    /// The entry as the API and the tools show it (times as Designate writes them, UTC).
    pub fn to_json(&self) -> Value {
        let zone = self.aggregate_type == "zone";
        let values = |v: &Option<RecordsetValues>| match v {
            Some(v) => json!({"records": v.records, "ttl": v.ttl, "description": v.description}),
            None => Value::Null,
        };
        json!({
            "id": self.position.id(),
            "stream_seq": self.position.stream_seq,
            "event_index": self.position.event_idx,
            "event_type": self.event_type,
            "event_version": self.event_version,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "zone_id": if zone { json!(self.aggregate_id) } else { Value::Null },
            "zone_name": self.zone_name,
            "recordset_id": self.payload.get("recordset_id").cloned().unwrap_or(Value::Null),
            "recordset_name": self.recordset_name,
            "recordset_type": self.recordset_type,
            "before": values(&self.before),
            "after": values(&self.after),
            "project_id": self.project_id,
            "user_id": self.user_id,
            "roles": self.roles,
            "request_id": self.request_id,
            "source": self.source,
            "command": self.command,
            "occurred_at": self.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            "data": self.payload,
        })
    }

    /// The entry as one CSV line (RFC 4180 quoting, `\r\n` at the end), in [`CSV_COLUMNS`]' order;
    /// record data is joined with spaces.
    pub fn to_csv(&self) -> String {
        let records = |v: &Option<RecordsetValues>| match v {
            Some(v) => v
                .records
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            None => String::new(),
        };
        let ttl = |v: &Option<RecordsetValues>| {
            v.as_ref()
                .and_then(|v| v.ttl.as_u64())
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        let fields = [
            self.position.id(),
            self.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            self.event_type.clone(),
            self.aggregate_type.clone(),
            self.aggregate_id.clone(),
            self.zone_name.clone().unwrap_or_default(),
            self.payload
                .get("recordset_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            self.recordset_name.clone().unwrap_or_default(),
            self.recordset_type.clone().unwrap_or_default(),
            records(&self.before),
            ttl(&self.before),
            records(&self.after),
            ttl(&self.after),
            self.project_id.clone(),
            self.user_id.clone(),
            self.request_id.clone(),
            self.source.clone(),
            self.command.clone(),
        ];
        let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
        line.push_str("\r\n");
        line
    }
}

/// The header line of an audit export.
pub fn csv_header() -> String {
    format!("{}\r\n", CSV_COLUMNS.join(","))
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn entry(row: &tokio_postgres::Row) -> AuditEntry {
    let event_type: String = row.get(5);
    let payload: Value = row.get(7);
    let previous: Option<Value> = row.get(18);
    let values = |p: &Value| RecordsetValues {
        records: p["records"].clone(),
        ttl: p["ttl"].clone(),
        description: p["description"].clone(),
    };
    let (before, after) = match event_type.as_str() {
        "RecordsetCreated" => (None, Some(values(&payload))),
        "RecordsetUpdated" => (previous.as_ref().map(values), Some(values(&payload))),
        "RecordsetDeleted" => (previous.as_ref().map(values), None),
        _ => (None, None),
    };
    AuditEntry {
        position: AuditPosition {
            stream_seq: row.get(0),
            event_idx: row.get(1),
        },
        aggregate_type: row.get(2),
        aggregate_id: row.get(3),
        version: row.get(4),
        event_type,
        event_version: row.get(6),
        payload,
        zone_name: row.get(15),
        recordset_name: row.get(16),
        recordset_type: row.get(17),
        before,
        after,
        project_id: row.get(8),
        user_id: row.get(9),
        roles: row.get(10),
        request_id: row.get(11),
        source: row.get(12),
        command: row.get(13),
        occurred_at: row.get(14),
    }
}

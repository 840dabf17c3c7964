//! Applying commits to the read models: one PostgreSQL transaction per batch of commits, each commit
//! checked against and bumping its aggregate's projected version, so redelivery is harmless and a
//! commit that arrives before its predecessor waits for it.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use nsplane_schema::event::{CommitEnvelope, ZoneEvent};
use nsplane_schema::RecordsetId;
use tokio_postgres::{GenericClient, Statement, Transaction};
use uuid::Uuid;

/// A commit as delivered from the stream.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Its stream sequence.
    pub stream_seq: u64,
    /// The commit.
    pub envelope: CommitEnvelope,
}

/// What happened to one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written to the read models now.
    Applied,
    /// Its version was already projected; nothing changed.
    AlreadyApplied,
    /// Its predecessor is not projected yet (the read models hold `projected`); retry later.
    Gap {
        /// The version the read models hold.
        projected: u64,
    },
}

#[derive(Default)]
struct Rows {
    audit: Vec<AuditRow>,
    journal: Vec<JournalRow>,
}

struct AuditRow {
    stream_seq: i64,
    event_idx: i32,
    aggregate_type: String,
    aggregate_id: String,
    version: i64,
    event_type: String,
    event_version: i32,
    payload: serde_json::Value,
    project_id: String,
    user_id: String,
    roles: String,
    request_id: String,
    source_role: String,
    command: String,
    occurred_at: NaiveDateTime,
}

struct JournalRow {
    zone_id: Uuid,
    serial: i64,
    prev_serial: i64,
    seq: i32,
    op: &'static str,
    name: String,
    rtype: String,
    ttl: i32,
    data: String,
}

/// Journal rows of one serial change, numbered as they are added.
struct JournalWriter<'a> {
    rows: &'a mut Vec<JournalRow>,
    zone_id: Uuid,
    serial: i64,
    prev_serial: i64,
    next_seq: i32,
}

impl JournalWriter<'_> {
    fn push(&mut self, op: &'static str, name: &str, rtype: &str, ttl: i32, records: &[String]) {
        for data in records {
            self.rows.push(JournalRow {
                zone_id: self.zone_id,
                serial: self.serial,
                prev_serial: self.prev_serial,
                seq: self.next_seq,
                op,
                name: name.to_owned(),
                rtype: rtype.to_owned(),
                ttl,
                data: data.clone(),
            });
            self.next_seq += 1;
        }
    }
}

const ZONE_TOUCH: &str = "UPDATE zones z SET serial = $2, version = z.version + 1, status = 'PENDING', \
     action = CASE WHEN z.action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END, updated_at = $3 \
     FROM (SELECT serial FROM zones WHERE id = $1) old WHERE z.id = $1 RETURNING old.serial, z.ttl";

const SOA_TOUCH: &str =
    "UPDATE recordsets SET serial = $2, version = version + 1, updated_at = $3, status = 'PENDING', \
     action = CASE WHEN action = 'CREATE' THEN 'CREATE' ELSE 'UPDATE' END WHERE id = $1";

const ZONE_INSERT: &str =
    "INSERT INTO zones (id, project_id, pool_id, name, email, mname, ttl, serial, refresh, retry, expire, \
     minimum, description, type, status, action, version, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'PRIMARY', 'PENDING', 'CREATE', 1, $14)";

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

const RECORDSET_INSERT: &str =
    "INSERT INTO recordsets (id, zone_id, project_id, name, type, records, ttl, description, managed, \
     status, action, serial, version, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, 'PENDING', 'CREATE', $9, 1, $10)";

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

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn ttl_i32(ttl: nsplane_schema::Ttl) -> i32 {
    i32::try_from(ttl.secs()).unwrap_or(i32::MAX)
}

/// The statements of a projection, prepared once per connection.
struct Statements {
    zone_touch: Statement,
    soa_touch: Statement,
    zone_insert: Statement,
    managed_insert: Statement,
    zone_update: Statement,
    zone_inheriting: Statement,
    zone_delete_requested: Statement,
    recordset_insert: Statement,
    recordset_update: Statement,
    recordset_delete: Statement,
    catalog_bump: Statement,
    zone_sync: Statement,
    recordsets_served: Statement,
    zone_remove: Statement,
    journal_remove: Statement,
}

impl Statements {
    async fn prepare(txn: &deadpool_postgres::Transaction<'_>) -> anyhow::Result<Self> {
        let sqls = [
            ZONE_TOUCH,
            SOA_TOUCH,
            ZONE_INSERT,
            MANAGED_INSERT,
            ZONE_UPDATE,
            ZONE_INHERITING,
            ZONE_DELETE_REQUESTED,
            RECORDSET_INSERT,
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
            zone_touch: next()?,
            soa_touch: next()?,
            zone_insert: next()?,
            managed_insert: next()?,
            zone_update: next()?,
            zone_inheriting: next()?,
            zone_delete_requested: next()?,
            recordset_insert: next()?,
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

/// One journal change: `(op, name, type, ttl or inherit the zone's, records)`.
type Change = (&'static str, String, String, Option<i32>, Vec<String>);

/// What an event changed in the zone's content, for the journal.
struct Effect {
    zone_id: Uuid,
    serial: i64,
    prev_serial: i64,
    zone_ttl: i32,
    changes: Vec<Change>,
}

impl Effect {
    fn write(self, rows: &mut Vec<JournalRow>) {
        let mut journal = JournalWriter {
            rows,
            zone_id: self.zone_id,
            serial: self.serial,
            prev_serial: self.prev_serial,
            next_seq: 0,
        };
        // The step itself, so the journal's chain of serials has no gaps.
        journal.push("=", "", "", 0, &[String::new()]);
        for (op, name, rtype, ttl, records) in self.changes {
            journal.push(op, &name, &rtype, ttl.unwrap_or(self.zone_ttl), &records);
        }
    }
}

/// Applies a batch of commits (in stream order) in one transaction and returns each one's outcome.
/// On error nothing is written; the caller may retry commits one by one.
///
/// The statements of all commits are pipelined: they are sent in order without waiting for each
/// other's answers, so a batch costs about one round trip plus PostgreSQL's work.
pub async fn apply_batch(
    client: &mut deadpool_postgres::Object,
    commits: &[Delivered],
) -> anyhow::Result<Vec<Outcome>> {
    let txn = client.transaction().await.context("failed to begin")?;
    let statements = Statements::prepare(&txn).await?;
    // Lock the version rows of every aggregate in the batch, in a fixed order (no deadlocks between instances).
    let mut keys: Vec<(String, String)> = commits
        .iter()
        .map(|c| (c.envelope.aggregate_type.clone(), c.envelope.aggregate_id.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    let types: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let mut versions: HashMap<(String, String), u64> = HashMap::new();
    for row in txn
        .query(
            "SELECT aggregate_type, aggregate_id, version FROM projection_versions \
             WHERE (aggregate_type, aggregate_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
             ORDER BY aggregate_type, aggregate_id FOR UPDATE",
            &[&types, &ids],
        )
        .await
        .context("failed to lock projection versions")?
    {
        let version: i64 = row.get(2);
        versions.insert((row.get(0), row.get(1)), u64::try_from(version).unwrap_or(0));
    }
    let mut outcomes = Vec::with_capacity(commits.len());
    let mut rows = Rows::default();
    let mut advanced: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let mut pending: Vec<BoxFuture<'_, anyhow::Result<Option<Effect>>>> = Vec::new();
    let mut effects = Vec::new();
    for commit in commits {
        let envelope = &commit.envelope;
        let key = (envelope.aggregate_type.clone(), envelope.aggregate_id.clone());
        let projected = versions.get(&key).copied().unwrap_or(0);
        if envelope.version <= projected {
            outcomes.push(Outcome::AlreadyApplied);
            continue;
        }
        if envelope.version != projected + 1 {
            outcomes.push(Outcome::Gap { projected });
            continue;
        }
        let zone_id = Uuid::try_parse(&envelope.aggregate_id).context("zone aggregate id is not a uuid")?;
        let time = envelope.metadata.time.naive_utc();
        audit(commit, &mut rows)?;
        for event in &envelope.events {
            if matches!(event, ZoneEvent::ZoneUpdated { .. }) {
                // It reads record sets: let everything before it land first.
                effects.extend(futures::future::try_join_all(pending.drain(..)).await?);
                effects.push(apply_event(&txn, &statements, zone_id, event, time).await?);
            } else {
                pending.push(Box::pin(apply_event(&txn, &statements, zone_id, event, time)));
            }
        }
        versions.insert(key.clone(), envelope.version);
        advanced.insert(key, (envelope.version, commit.stream_seq));
        outcomes.push(Outcome::Applied);
    }
    effects.extend(
        futures::future::try_join_all(pending)
            .await
            .context("failed to apply the batch")?,
    );
    for effect in effects.into_iter().flatten() {
        effect.write(&mut rows.journal);
    }
    write_rows(&txn, rows).await?;
    if !advanced.is_empty() {
        let mut types = Vec::new();
        let mut ids = Vec::new();
        let mut vers = Vec::new();
        let mut seqs = Vec::new();
        for ((t, i), (v, s)) in advanced {
            types.push(t);
            ids.push(i);
            vers.push(i64::try_from(v).unwrap_or(i64::MAX));
            seqs.push(i64::try_from(s).unwrap_or(i64::MAX));
        }
        txn.execute(
            "INSERT INTO projection_versions (aggregate_type, aggregate_id, version, stream_seq) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version, stream_seq = EXCLUDED.stream_seq",
            &[&types, &ids, &vers, &seqs],
        )
        .await
        .context("failed to record projection versions")?;
    }
    txn.commit().await.context("failed to commit")?;
    Ok(outcomes)
}

async fn write_rows(txn: &Transaction<'_>, rows: Rows) -> anyhow::Result<()> {
    if !rows.audit.is_empty() {
        let a = &rows.audit;
        let col = |f: fn(&AuditRow) -> String| a.iter().map(f).collect::<Vec<String>>();
        let seqs: Vec<i64> = a.iter().map(|r| r.stream_seq).collect();
        let idxs: Vec<i32> = a.iter().map(|r| r.event_idx).collect();
        let vers: Vec<i64> = a.iter().map(|r| r.version).collect();
        let evers: Vec<i32> = a.iter().map(|r| r.event_version).collect();
        let payloads: Vec<serde_json::Value> = a.iter().map(|r| r.payload.clone()).collect();
        let times: Vec<NaiveDateTime> = a.iter().map(|r| r.occurred_at).collect();
        txn.execute(
            "INSERT INTO audit_events (stream_seq, event_idx, aggregate_type, aggregate_id, version, event_type, \
             event_version, payload, project_id, user_id, roles, request_id, source_role, command, occurred_at) \
             SELECT s, i, t, a, v, et, ev, p, pr, u, string_to_array(r, ','), rq, sr, c, o FROM unnest(\
             $1::bigint[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::jsonb[], \
             $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamp[]) \
             AS x(s, i, t, a, v, et, ev, p, pr, u, r, rq, sr, c, o) ON CONFLICT DO NOTHING",
            &[
                &seqs,
                &idxs,
                &col(|r| r.aggregate_type.clone()),
                &col(|r| r.aggregate_id.clone()),
                &vers,
                &col(|r| r.event_type.clone()),
                &evers,
                &payloads,
                &col(|r| r.project_id.clone()),
                &col(|r| r.user_id.clone()),
                &col(|r| r.roles.clone()),
                &col(|r| r.request_id.clone()),
                &col(|r| r.source_role.clone()),
                &col(|r| r.command.clone()),
                &times,
            ],
        )
        .await
        .context("failed to write audit rows")?;
    }
    if !rows.journal.is_empty() {
        let j = &rows.journal;
        let zone_ids: Vec<Uuid> = j.iter().map(|r| r.zone_id).collect();
        let serials: Vec<i64> = j.iter().map(|r| r.serial).collect();
        let prevs: Vec<i64> = j.iter().map(|r| r.prev_serial).collect();
        let seqs: Vec<i32> = j.iter().map(|r| r.seq).collect();
        let ops: Vec<&str> = j.iter().map(|r| r.op).collect();
        let names: Vec<&str> = j.iter().map(|r| r.name.as_str()).collect();
        let types: Vec<&str> = j.iter().map(|r| r.rtype.as_str()).collect();
        let ttls: Vec<i32> = j.iter().map(|r| r.ttl).collect();
        let datas: Vec<&str> = j.iter().map(|r| r.data.as_str()).collect();
        txn.execute(
            "INSERT INTO zone_journal (zone_id, serial, prev_serial, seq, op, name, type, ttl, data) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::text[], \
             $7::text[], $8::int[], $9::text[])",
            &[&zone_ids, &serials, &prevs, &seqs, &ops, &names, &types, &ttls, &datas],
        )
        .await
        .context("failed to write the zone journal")?;
    }
    Ok(())
}

fn audit(commit: &Delivered, rows: &mut Rows) -> anyhow::Result<()> {
    let envelope = &commit.envelope;
    let meta = &envelope.metadata;
    for (idx, event) in envelope.events.iter().enumerate() {
        rows.audit.push(AuditRow {
            stream_seq: i64::try_from(commit.stream_seq).unwrap_or(i64::MAX),
            event_idx: i32::try_from(idx).unwrap_or(i32::MAX),
            aggregate_type: envelope.aggregate_type.clone(),
            aggregate_id: envelope.aggregate_id.clone(),
            version: i64::try_from(envelope.version).unwrap_or(i64::MAX),
            event_type: event.event_type().to_owned(),
            event_version: i32::try_from(event.event_version()).unwrap_or(i32::MAX),
            payload: serde_json::to_value(event).context("failed to encode an event")?,
            project_id: meta.project_id.0.clone(),
            user_id: meta.user_id.clone(),
            roles: meta.roles.join(","),
            request_id: meta.request_id.0.clone(),
            source_role: meta.source_role.clone(),
            command: meta.command.clone(),
            occurred_at: meta.time.naive_utc(),
        });
    }
    Ok(())
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// Sends the statements of one event (all at once: their order on the connection is the event's
/// place in the batch) and turns the answers into its journal effect.
async fn apply_event(
    txn: &Transaction<'_>,
    st: &Statements,
    zone_id: Uuid,
    event: &ZoneEvent,
    time: NaiveDateTime,
) -> anyhow::Result<Option<Effect>> {
    let soa_id = RecordsetId::managed(nsplane_schema::ZoneId(zone_id), "SOA").0;
    match event {
        ZoneEvent::ZoneCreated {
            project_id,
            name,
            email,
            ttl,
            description,
            pool_id,
            serial,
            soa,
            ns_records,
            ..
        } => {
            let mut ns_sorted = ns_records.clone();
            ns_sorted.sort_by_key(|ns| ns.priority);
            let mname = ns_sorted
                .first()
                .map(|ns| ns.hostname.to_string())
                .unwrap_or_else(|| "ns.invalid.".to_owned());
            let ns_data: Vec<String> = ns_sorted.iter().map(|ns| ns.hostname.to_string()).collect();
            let ttl_i = ttl_i32(*ttl);
            let serial_i = i64::from(*serial);
            let (refresh, retry, expire, minimum) = (
                to_i32(soa.refresh),
                to_i32(soa.retry),
                to_i32(soa.expire),
                to_i32(soa.minimum),
            );
            let zid = nsplane_schema::ZoneId(zone_id);
            let ns_id = RecordsetId::managed(zid, "NS").0;
            let empty: Vec<String> = Vec::new();
            let zone_params: [Param<'_>; 14] = [
                &zone_id,
                &project_id.0,
                &pool_id.0,
                &name.as_str(),
                email,
                &mname,
                &ttl_i,
                &serial_i,
                &refresh,
                &retry,
                &expire,
                &minimum,
                description,
                &time,
            ];
            let soa_params: [Param<'_>; 8] = [
                &soa_id,
                &zone_id,
                &project_id.0,
                &name.as_str(),
                &"SOA",
                &empty,
                &serial_i,
                &time,
            ];
            let ns_params: [Param<'_>; 8] = [
                &ns_id,
                &zone_id,
                &project_id.0,
                &name.as_str(),
                &"NS",
                &ns_data,
                &serial_i,
                &time,
            ];
            let zone = txn.execute(&st.zone_insert, &zone_params);
            let soa_rs = txn.execute(&st.managed_insert, &soa_params);
            let catalog_params: [Param<'_>; 1] = [&zone_id];
            if ns_data.is_empty() {
                let catalog = txn.execute(&st.catalog_bump, &catalog_params);
                tokio::try_join!(zone, soa_rs, catalog).context("failed to insert the zone")?;
            } else {
                let ns_rs = txn.execute(&st.managed_insert, &ns_params);
                let catalog = txn.execute(&st.catalog_bump, &catalog_params);
                tokio::try_join!(zone, soa_rs, ns_rs, catalog).context("failed to insert the zone")?;
            }
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: 0,
                zone_ttl: ttl_i,
                changes: vec![("+", name.to_string(), "NS".to_owned(), None, ns_data)],
            }))
        }
        ZoneEvent::ZoneUpdated {
            email,
            ttl,
            description,
            serial,
        } => {
            let ttl_i = ttl_i32(*ttl);
            let serial_i = i64::from(*serial);
            let zone_params: [Param<'_>; 6] = [&zone_id, email, &ttl_i, description, &serial_i, &time];
            let soa_params: [Param<'_>; 3] = [&soa_id, &serial_i, &time];
            let (row, _) = tokio::try_join!(
                txn.query_one(&st.zone_update, &zone_params),
                txn.execute(&st.soa_touch, &soa_params)
            )
            .context("failed to update the zone")?;
            let (prev_serial, old_ttl): (i64, i32) = (row.get(0), row.get(1));
            let mut changes = Vec::new();
            if old_ttl != ttl_i {
                // Record sets without their own TTL change with the zone's.
                for rs in txn.query(&st.zone_inheriting, &[&zone_id]).await? {
                    let (name, rtype, records): (String, String, Vec<String>) = (rs.get(0), rs.get(1), rs.get(2));
                    changes.push(("-", name.clone(), rtype.clone(), Some(old_ttl), records.clone()));
                    changes.push(("+", name, rtype, Some(ttl_i), records));
                }
            }
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial,
                zone_ttl: ttl_i,
                changes,
            }))
        }
        ZoneEvent::ZoneDeleteRequested {} => {
            // The zone leaves its pool's catalog as soon as its deletion is asked for.
            let params: [Param<'_>; 2] = [&zone_id, &time];
            let catalog_params: [Param<'_>; 1] = [&zone_id];
            tokio::try_join!(
                txn.execute(&st.zone_delete_requested, &params),
                txn.execute(&st.catalog_bump, &catalog_params)
            )
            .context("failed to mark the zone deleting")?;
            Ok(None)
        }
        ZoneEvent::ZoneSyncReported {
            serial,
            synced,
            nameservers,
        } => {
            let sync = serde_json::to_value(nameservers).context("failed to encode the sync status")?;
            let serial_i = i64::from(*serial);
            let sync_params: [Param<'_>; 4] = [&zone_id, &sync, &serial_i, synced];
            let served_params: [Param<'_>; 2] = [&zone_id, &serial_i];
            if *synced {
                // Record sets first: they check the zone's serial, which the sync does not change.
                tokio::try_join!(
                    txn.execute(&st.recordsets_served, &served_params),
                    txn.execute(&st.zone_sync, &sync_params)
                )
                .context("failed to record the sync report")?;
            } else {
                txn.execute(&st.zone_sync, &sync_params)
                    .await
                    .context("failed to record the sync report")?;
            }
            Ok(None)
        }
        ZoneEvent::ZoneDeleted { .. } => {
            let params: [Param<'_>; 1] = [&zone_id];
            tokio::try_join!(
                txn.execute(&st.zone_remove, &params),
                txn.execute(&st.journal_remove, &params)
            )
            .context("failed to remove the zone")?;
            Ok(None)
        }
        ZoneEvent::RecordsetCreated {
            recordset_id,
            project_id,
            name,
            rtype,
            records,
            ttl,
            description,
            serial,
        } => {
            let serial_i = i64::from(*serial);
            let ttl_i: Option<i32> = ttl.map(ttl_i32);
            let touch_params: [Param<'_>; 3] = [&zone_id, &serial_i, &time];
            let soa_params: [Param<'_>; 3] = [&soa_id, &serial_i, &time];
            let insert_params: [Param<'_>; 10] = [
                &recordset_id.0,
                &zone_id,
                &project_id.0,
                &name.as_str(),
                &rtype.as_str(),
                records,
                &ttl_i,
                description,
                &serial_i,
                &time,
            ];
            let (zone, _, _) = tokio::try_join!(
                txn.query_one(&st.zone_touch, &touch_params),
                txn.execute(&st.soa_touch, &soa_params),
                txn.execute(&st.recordset_insert, &insert_params),
            )
            .context("failed to insert the record set")?;
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: zone.get(0),
                zone_ttl: zone.get(1),
                changes: vec![("+", name.to_string(), rtype.as_str().to_owned(), ttl_i, records.clone())],
            }))
        }
        ZoneEvent::RecordsetUpdated {
            recordset_id,
            records,
            ttl,
            description,
            serial,
        } => {
            let serial_i = i64::from(*serial);
            let ttl_i: Option<i32> = ttl.map(ttl_i32);
            let touch_params: [Param<'_>; 3] = [&zone_id, &serial_i, &time];
            let soa_params: [Param<'_>; 3] = [&soa_id, &serial_i, &time];
            let update_params: [Param<'_>; 6] = [&recordset_id.0, records, &ttl_i, description, &serial_i, &time];
            let (zone, _, row) = tokio::try_join!(
                txn.query_one(&st.zone_touch, &touch_params),
                txn.execute(&st.soa_touch, &soa_params),
                txn.query_one(&st.recordset_update, &update_params),
            )
            .context("failed to update the record set")?;
            let zone_ttl: i32 = zone.get(1);
            let (name, rtype, old_records, old_ttl): (String, String, Vec<String>, Option<i32>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let (old_eff, new_eff) = (old_ttl.unwrap_or(zone_ttl), ttl_i.unwrap_or(zone_ttl));
            let changes = if old_eff == new_eff {
                let removed: Vec<String> = old_records.iter().filter(|r| !records.contains(r)).cloned().collect();
                let added: Vec<String> = records.iter().filter(|r| !old_records.contains(r)).cloned().collect();
                vec![
                    ("-", name.clone(), rtype.clone(), Some(old_eff), removed),
                    ("+", name, rtype, Some(new_eff), added),
                ]
            } else {
                vec![
                    ("-", name.clone(), rtype.clone(), Some(old_eff), old_records),
                    ("+", name, rtype, Some(new_eff), records.clone()),
                ]
            };
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: zone.get(0),
                zone_ttl,
                changes,
            }))
        }
        ZoneEvent::RecordsetDeleted { recordset_id, serial } => {
            let serial_i = i64::from(*serial);
            let touch_params: [Param<'_>; 3] = [&zone_id, &serial_i, &time];
            let soa_params: [Param<'_>; 3] = [&soa_id, &serial_i, &time];
            let delete_params: [Param<'_>; 1] = [&recordset_id.0];
            let (zone, _, row) = tokio::try_join!(
                txn.query_one(&st.zone_touch, &touch_params),
                txn.execute(&st.soa_touch, &soa_params),
                txn.query_opt(&st.recordset_delete, &delete_params),
            )
            .context("failed to delete the record set")?;
            let changes = match row {
                Some(row) => {
                    let (name, rtype, records, ttl): (String, String, Vec<String>, Option<i32>) =
                        (row.get(0), row.get(1), row.get(2), row.get(3));
                    vec![("-", name, rtype, ttl, records)]
                }
                None => Vec::new(),
            };
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: zone.get(0),
                zone_ttl: zone.get(1),
                changes,
            }))
        }
    }
}

/// The version of an aggregate the read models hold (0 if none).
pub async fn projected_version(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
) -> anyhow::Result<u64> {
    let row = client
        .query_opt(
            "SELECT version FROM projection_versions WHERE aggregate_type = $1 AND aggregate_id = $2",
            &[&aggregate_type, &aggregate_id],
        )
        .await
        .context("failed to read a projected version")?;
    Ok(row
        .map(|r| r.get::<_, i64>(0))
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0))
}

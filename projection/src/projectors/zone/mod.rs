//! The zones' read models: `zones`, `recordsets`, `zone_shares`, the pools' catalog serials, and the
//! zone journal (record-level changes per serial, for IXFR). A batch's statements are pipelined: sent
//! in order without waiting for each other's answers, so a batch costs about one round trip plus
//! PostgreSQL's work.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use nsplane_schema::messages::ZoneChange;
use nsplane_schema::zone::ZONE_AGGREGATE;
use nsplane_schema::{RecordsetId, ZoneEvent, ZoneId};
use tokio_postgres::Transaction;
use uuid::Uuid;

mod journal;
mod statements;

pub use journal::JournalOp;
use journal::{write_journal, JournalRow, JournalWriter};
use statements::{to_i32, ttl_i32, Statements};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects zones.
pub struct ZoneProjector;

impl Projector for ZoneProjector {
    fn aggregate_type(&self) -> &'static str {
        ZONE_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(apply_commits(txn, commits))
    }

    fn after_commit(&self, commit: &Delivered) -> Option<ZoneChange> {
        Some(ZoneChange {
            zone_id: ZoneId::parse(&commit.commit.aggregate_id).ok()?,
            version: commit.commit.version,
            stream_seq: commit.stream_seq,
        })
    }
}

/// A zone as the batch sees it while its events are applied in order: its serial and TTL, and the
/// record-set changes not yet written to its row.
struct Cursor {
    serial: i64,
    ttl: i32,
    /// Changes since the zone's row was last written: `(count, the last change's time)`.
    touched: Option<(i64, NaiveDateTime)>,
}

/// Sends the zone's pending row changes (serial, version, status, SOA) as two statements, however many
/// record-set changes the batch made: the per-change updates of one row were most of a batch's work.
fn flush<'a>(
    txn: &'a Txn<'a>,
    st: &'a Statements,
    zone_id: Uuid,
    cursor: &mut Cursor,
) -> Option<BoxFuture<'a, anyhow::Result<Option<Effect>>>> {
    let (count, time) = cursor.touched.take()?;
    let serial = cursor.serial;
    Some(Box::pin(async move {
        let soa_id = RecordsetId::managed(ZoneId(zone_id), "SOA").0;
        let zone_params: [Param<'_>; 4] = [&zone_id, &serial, &count, &time];
        let soa_params: [Param<'_>; 4] = [&soa_id, &serial, &count, &time];
        tokio::try_join!(
            txn.execute(&st.zone_touch, &zone_params),
            txn.execute(&st.soa_touch_n, &soa_params)
        )
        .context("failed to record the zone's changes")?;
        Ok(None)
    }))
}

async fn apply_commits(txn: &Txn<'_>, commits: &[&Delivered]) -> anyhow::Result<()> {
    let statements = Statements::prepare(txn).await?;
    let mut typed = Vec::with_capacity(commits.len());
    for commit in commits {
        typed.push(commit.commit.typed::<ZoneEvent>()?);
    }
    // Each zone's serial and TTL as the batch starts (zones created in the batch come with their event).
    let mut ids: Vec<Uuid> = typed
        .iter()
        .map(|c| Uuid::try_parse(&c.aggregate_id).context("zone aggregate id is not a uuid"))
        .collect::<anyhow::Result<_>>()?;
    ids.sort_unstable();
    ids.dedup();
    let mut cursors: HashMap<Uuid, Cursor> = txn
        .query(&statements.zones_head, &[&ids])
        .await
        .context("failed to read the batch's zones")?
        .iter()
        .map(|row| {
            let cursor = Cursor {
                serial: row.get(1),
                ttl: row.get(2),
                touched: None,
            };
            (row.get(0), cursor)
        })
        .collect();
    let mut pending: Vec<BoxFuture<'_, anyhow::Result<Option<Effect>>>> = Vec::new();
    let mut effects = Vec::new();
    let mut creates = Creates::default();
    // Zones this batch removes: their journal goes with them, so none of the batch's steps are written.
    let mut removed = HashSet::new();
    for envelope in &typed {
        let zone_id = Uuid::try_parse(&envelope.aggregate_id).context("zone aggregate id is not a uuid")?;
        let time = envelope.metadata.time.naive_utc();
        for event in &envelope.events {
            match event {
                ZoneEvent::RecordsetCreated { serial, .. }
                | ZoneEvent::RecordsetUpdated { serial, .. }
                | ZoneEvent::RecordsetDeleted { serial, .. } => {
                    let cursor = cursors
                        .get_mut(&zone_id)
                        .with_context(|| format!("a record-set change for zone {zone_id}, which has no row"))?;
                    let step = Step {
                        prev_serial: cursor.serial,
                        zone_ttl: cursor.ttl,
                    };
                    cursor.serial = i64::from(*serial);
                    let count = cursor.touched.map_or(0, |(n, _)| n);
                    cursor.touched = Some((count + 1, time));
                    if let ZoneEvent::RecordsetCreated { .. } = event {
                        // Creates need no answer: they are gathered and sent as one statement.
                        effects.push(creates.push(zone_id, event, time, step)?);
                        continue;
                    }
                    pending.extend(creates.send(txn, &statements));
                    pending.push(Box::pin(apply_recordset_event(
                        txn,
                        &statements,
                        zone_id,
                        event,
                        time,
                        step,
                    )));
                }
                _ => {
                    // Anything else may read or check the zone's row or its record sets: write what is
                    // pending first.
                    pending.extend(creates.send(txn, &statements));
                    if let Some(cursor) = cursors.get_mut(&zone_id) {
                        pending.extend(flush(txn, &statements, zone_id, cursor));
                    }
                    match event {
                        ZoneEvent::ZoneCreated { serial, ttl, .. } | ZoneEvent::ZoneUpdated { serial, ttl, .. } => {
                            cursors.insert(
                                zone_id,
                                Cursor {
                                    serial: i64::from(*serial),
                                    ttl: ttl_i32(*ttl),
                                    touched: None,
                                },
                            );
                        }
                        ZoneEvent::ZoneDeleted { .. } => {
                            cursors.remove(&zone_id);
                            removed.insert(zone_id);
                        }
                        _ => {}
                    }
                    if matches!(event, ZoneEvent::ZoneUpdated { .. }) {
                        // It reads record sets: let everything before it land first.
                        effects.extend(futures::future::try_join_all(pending.drain(..)).await?);
                        effects.push(apply_event(txn, &statements, zone_id, event, time).await?);
                    } else {
                        pending.push(Box::pin(apply_event(txn, &statements, zone_id, event, time)));
                    }
                }
            }
        }
    }
    pending.extend(creates.send(txn, &statements));
    for (zone_id, cursor) in &mut cursors {
        pending.extend(flush(txn, &statements, *zone_id, cursor));
    }
    effects.extend(
        futures::future::try_join_all(pending)
            .await
            .context("failed to apply the batch")?,
    );
    let mut rows = Vec::new();
    for effect in effects.into_iter().flatten() {
        if !removed.contains(&effect.zone_id) {
            effect.write(&mut rows);
        }
    }
    write_journal(txn, rows).await
}

/// Where a record-set change sits in its zone's chain of serials.
#[derive(Clone, Copy)]
struct Step {
    /// The zone's serial before the change.
    prev_serial: i64,
    /// The zone's TTL at the change (record sets without their own inherit it).
    zone_ttl: i32,
}

/// One journal change: `(op, name, type, ttl or inherit the zone's, records)`.
type Change = (JournalOp, String, String, Option<i32>, Vec<String>);

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
        journal.push(JournalOp::Step, "", "", 0, &[String::new()]);
        for (op, name, rtype, ttl, records) in self.changes {
            journal.push(op, &name, &rtype, ttl.unwrap_or(self.zone_ttl), &records);
        }
    }
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
            attributes,
            ..
        } => {
            let attributes = serde_json::to_value(attributes).context("failed to encode attributes")?;
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
            let zone_params: [Param<'_>; 15] = [
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
                &attributes,
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
                changes: vec![(JournalOp::Add, name.to_string(), "NS".to_owned(), None, ns_data)],
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
                    changes.push((
                        JournalOp::Remove,
                        name.clone(),
                        rtype.clone(),
                        Some(old_ttl),
                        records.clone(),
                    ));
                    changes.push((JournalOp::Add, name, rtype, Some(ttl_i), records));
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
        ZoneEvent::ZoneShared {
            share_id,
            target_project_id,
        } => {
            // Rare: not worth a prepared statement per connection.
            txn.execute(
                "INSERT INTO zone_shares (id, zone_id, project_id, target_project_id, created_at) \
                 SELECT $1, id, project_id, $2, $3 FROM zones WHERE id = $4 ON CONFLICT DO NOTHING",
                &[share_id, &target_project_id.0, &time, &zone_id],
            )
            .await
            .context("failed to record the share")?;
            Ok(None)
        }
        ZoneEvent::ZoneUnshared { share_id } => {
            txn.execute("DELETE FROM zone_shares WHERE id = $1", &[share_id])
                .await
                .context("failed to remove the share")?;
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
        // The read models stay as they are; central publishes the zone change after the batch.
        ZoneEvent::ZoneRecoveryRequested { .. } => Ok(None),
        // Bookkeeping of the sink's records: the record-set events beside them changed the rows.
        ZoneEvent::ManagedRecordsClaimed { .. } | ZoneEvent::ManagedResourceReleased { .. } => Ok(None),
        ZoneEvent::ZoneDeleted { .. } => {
            let params: [Param<'_>; 1] = [&zone_id];
            tokio::try_join!(
                txn.execute(&st.zone_remove, &params),
                txn.execute(&st.journal_remove, &params)
            )
            .context("failed to remove the zone")?;
            Ok(None)
        }
        ZoneEvent::RecordsetCreated { .. }
        | ZoneEvent::RecordsetUpdated { .. }
        | ZoneEvent::RecordsetDeleted { .. } => {
            anyhow::bail!("record-set changes are applied with their zone's step")
        }
    }
}

/// Record sets created by consecutive events of a batch, gathered to be inserted with one statement
/// (one statement per create was most of a replay's time).
#[derive(Default)]
struct Creates {
    ids: Vec<Uuid>,
    zone_ids: Vec<Uuid>,
    project_ids: Vec<String>,
    names: Vec<String>,
    types: Vec<String>,
    records: Vec<tokio_postgres::types::Json<Vec<String>>>,
    ttls: Vec<Option<i32>>,
    descriptions: Vec<Option<String>>,
    serials: Vec<i64>,
    times: Vec<NaiveDateTime>,
    managed: Vec<bool>,
}

impl Creates {
    /// Adds a `RecordsetCreated` event and returns its journal effect.
    fn push(
        &mut self,
        zone_id: Uuid,
        event: &ZoneEvent,
        time: NaiveDateTime,
        step: Step,
    ) -> anyhow::Result<Option<Effect>> {
        let ZoneEvent::RecordsetCreated {
            recordset_id,
            project_id,
            name,
            rtype,
            records,
            ttl,
            description,
            serial,
            managed,
        } = event
        else {
            anyhow::bail!("not a record-set creation");
        };
        let serial_i = i64::from(*serial);
        let ttl_i: Option<i32> = ttl.map(ttl_i32);
        self.ids.push(recordset_id.0);
        self.zone_ids.push(zone_id);
        self.project_ids.push(project_id.0.clone());
        self.names.push(name.to_string());
        self.types.push(rtype.as_str().to_owned());
        self.records.push(tokio_postgres::types::Json(records.clone()));
        self.ttls.push(ttl_i);
        self.descriptions.push(description.clone());
        self.serials.push(serial_i);
        self.times.push(time);
        self.managed.push(*managed);
        Ok(Some(Effect {
            zone_id,
            serial: serial_i,
            prev_serial: step.prev_serial,
            zone_ttl: step.zone_ttl,
            changes: vec![(
                JournalOp::Add,
                name.to_string(),
                rtype.as_str().to_owned(),
                ttl_i,
                records.clone(),
            )],
        }))
    }

    /// The statement inserting the gathered record sets, if any (and empties the gathering).
    fn send<'a>(
        &mut self,
        txn: &'a Txn<'a>,
        st: &'a Statements,
    ) -> Option<BoxFuture<'a, anyhow::Result<Option<Effect>>>> {
        if self.ids.is_empty() {
            return None;
        }
        let gathered = std::mem::take(self);
        Some(Box::pin(async move {
            let params: [Param<'_>; 11] = [
                &gathered.ids,
                &gathered.zone_ids,
                &gathered.project_ids,
                &gathered.names,
                &gathered.types,
                &gathered.records,
                &gathered.ttls,
                &gathered.descriptions,
                &gathered.serials,
                &gathered.times,
                &gathered.managed,
            ];
            txn.execute(&st.recordsets_insert, &params)
                .await
                .context("failed to insert the record sets")?;
            Ok(None)
        }))
    }
}

/// Sends the statement of one record-set change (its zone's row is written by [`flush`]) and turns the
/// answer into its journal effect.
async fn apply_recordset_event(
    txn: &Transaction<'_>,
    st: &Statements,
    zone_id: Uuid,
    event: &ZoneEvent,
    time: NaiveDateTime,
    step: Step,
) -> anyhow::Result<Option<Effect>> {
    match event {
        ZoneEvent::RecordsetUpdated {
            recordset_id,
            records,
            ttl,
            description,
            serial,
        } => {
            let serial_i = i64::from(*serial);
            let ttl_i: Option<i32> = ttl.map(ttl_i32);
            let update_params: [Param<'_>; 6] = [&recordset_id.0, records, &ttl_i, description, &serial_i, &time];
            let row = txn
                .query_one(&st.recordset_update, &update_params)
                .await
                .context("failed to update the record set")?;
            let zone_ttl = step.zone_ttl;
            let (name, rtype, old_records, old_ttl): (String, String, Vec<String>, Option<i32>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let (old_eff, new_eff) = (old_ttl.unwrap_or(zone_ttl), ttl_i.unwrap_or(zone_ttl));
            let changes = if old_eff == new_eff {
                let removed: Vec<String> = old_records.iter().filter(|r| !records.contains(r)).cloned().collect();
                let added: Vec<String> = records.iter().filter(|r| !old_records.contains(r)).cloned().collect();
                vec![
                    (JournalOp::Remove, name.clone(), rtype.clone(), Some(old_eff), removed),
                    (JournalOp::Add, name, rtype, Some(new_eff), added),
                ]
            } else {
                vec![
                    (
                        JournalOp::Remove,
                        name.clone(),
                        rtype.clone(),
                        Some(old_eff),
                        old_records,
                    ),
                    (JournalOp::Add, name, rtype, Some(new_eff), records.clone()),
                ]
            };
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: step.prev_serial,
                zone_ttl,
                changes,
            }))
        }
        ZoneEvent::RecordsetDeleted { recordset_id, serial } => {
            let serial_i = i64::from(*serial);
            let delete_params: [Param<'_>; 1] = [&recordset_id.0];
            let row = txn
                .query_opt(&st.recordset_delete, &delete_params)
                .await
                .context("failed to delete the record set")?;
            let changes = match row {
                Some(row) => {
                    let (name, rtype, records, ttl): (String, String, Vec<String>, Option<i32>) =
                        (row.get(0), row.get(1), row.get(2), row.get(3));
                    vec![(JournalOp::Remove, name, rtype, ttl, records)]
                }
                None => Vec::new(),
            };
            Ok(Some(Effect {
                zone_id,
                serial: serial_i,
                prev_serial: step.prev_serial,
                zone_ttl: step.zone_ttl,
                changes,
            }))
        }
        _ => anyhow::bail!("not a record-set change"),
    }
}

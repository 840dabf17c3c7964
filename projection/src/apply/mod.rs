//! Applying commits to the read models: one PostgreSQL transaction per batch of commits, each commit
//! checked against and bumping its aggregate's projected version, so redelivery is harmless and a
//! commit that arrives before its predecessor waits for it.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use nsplane_schema::event::{CommitEnvelope, ZoneEvent};
use nsplane_schema::RecordsetId;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

mod rows;
mod statements;

use rows::{audit, write_rows, JournalRow, JournalWriter, Rows};
use statements::{to_i32, ttl_i32, Statements};

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

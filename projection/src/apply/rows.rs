//! The rows a batch writes besides the read models themselves: audit rows (one per event, with the
//! commit's metadata) and the zone journal (record-level changes per serial, for IXFR), each written
//! with one multi-row statement per batch.

use anyhow::Context as _;
use chrono::NaiveDateTime;
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::Delivered;

#[derive(Default)]
pub(super) struct Rows {
    pub(super) audit: Vec<AuditRow>,
    pub(super) journal: Vec<JournalRow>,
}

pub(super) struct AuditRow {
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

pub(super) struct JournalRow {
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
pub(super) struct JournalWriter<'a> {
    pub(super) rows: &'a mut Vec<JournalRow>,
    pub(super) zone_id: Uuid,
    pub(super) serial: i64,
    pub(super) prev_serial: i64,
    pub(super) next_seq: i32,
}

impl JournalWriter<'_> {
    pub(super) fn push(&mut self, op: &'static str, name: &str, rtype: &str, ttl: i32, records: &[String]) {
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

pub(super) async fn write_rows(txn: &Transaction<'_>, rows: Rows) -> anyhow::Result<()> {
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

pub(super) fn audit(commit: &Delivered, rows: &mut Rows) -> anyhow::Result<()> {
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

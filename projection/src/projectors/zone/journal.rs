//! The zone journal: record-level changes per serial (what IXFR sends to go from one serial to the
//! next), written with one multi-row statement per batch.

use anyhow::Context as _;
use tokio_postgres::Transaction;
use uuid::Uuid;

/// What a journal row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalOp {
    /// The serial step itself (one per step, seq 0), so the chain of serials has no gaps even for steps
    /// that changed no record (an SOA-only change).
    Step,
    /// A record added at this serial.
    Add,
    /// A record removed at this serial.
    Remove,
}

impl JournalOp {
    /// The `op` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalOp::Step => "=",
            JournalOp::Add => "+",
            JournalOp::Remove => "-",
        }
    }

    /// Reads the `op` column.
    pub fn parse(text: &str) -> Option<JournalOp> {
        match text {
            "=" => Some(JournalOp::Step),
            "+" => Some(JournalOp::Add),
            "-" => Some(JournalOp::Remove),
            _ => None,
        }
    }
}

pub(super) struct JournalRow {
    zone_id: Uuid,
    serial: i64,
    prev_serial: i64,
    seq: i32,
    op: JournalOp,
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
    pub(super) fn push(&mut self, op: JournalOp, name: &str, rtype: &str, ttl: i32, records: &[String]) {
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

pub(super) async fn write_journal(txn: &Transaction<'_>, rows: Vec<JournalRow>) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let j = &rows;
    let zone_ids: Vec<Uuid> = j.iter().map(|r| r.zone_id).collect();
    let serials: Vec<i64> = j.iter().map(|r| r.serial).collect();
    let prevs: Vec<i64> = j.iter().map(|r| r.prev_serial).collect();
    let seqs: Vec<i32> = j.iter().map(|r| r.seq).collect();
    let ops: Vec<&str> = j.iter().map(|r| r.op.as_str()).collect();
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
    Ok(())
}

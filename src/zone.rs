//! `nsplane zone history|at|diff`: a zone's history for operators (every project, deleted zones too),
//! as `GET /v2/zones/{id}/history…` answers it: a table by default, JSON with `--json`.

use std::io::Write as _;

use anyhow::Context as _;
use nsplane_projection::read::history::{At, PastRecordset, ZoneAt};
use nsplane_projection::ReadModels;

/// What to show.
#[derive(Debug, Clone)]
pub enum Show {
    /// Every serial.
    History,
    /// The record sets at a serial or a time.
    At(At),
    /// The difference between two serials.
    Diff(u32, u32),
}

/// Prints what `show` asks for about `zone_id`, to stdout.
pub async fn print(read: &ReadModels, zone_id: &str, show: Show, json: bool) -> anyhow::Result<()> {
    let origin = read
        .zone_origin(zone_id)
        .await?
        .with_context(|| format!("no zone {zone_id} in the history"))?;
    let mut out = std::io::stdout().lock();
    match show {
        Show::History => {
            let history = read.zone_history(zone_id).await?;
            if json {
                for h in &history {
                    let line = serde_json::json!({
                        "serial": h.serial, "version": h.version, "stream_seq": h.stream_seq,
                        "occurred_at": h.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                        "project_id": h.project_id, "user_id": h.user_id, "request_id": h.request_id,
                        "source": h.source, "command": h.command,
                        "recordsets_created": h.counts[0], "recordsets_updated": h.counts[1], "recordsets_deleted": h.counts[2],
                    });
                    writeln!(out, "{line}")?;
                }
                return Ok(());
            }
            writeln!(out, "{} ({})", origin.name, zone_id)?;
            writeln!(
                out,
                "{:>10}  {:<23}  {:<18}  {:<16}  {:<8}  {:>7} {:>7} {:>7}  REQUEST",
                "SERIAL", "OCCURRED (UTC)", "COMMAND", "USER", "SOURCE", "CREATED", "UPDATED", "DELETED"
            )?;
            for h in &history {
                writeln!(
                    out,
                    "{:>10}  {:<23}  {:<18}  {:<16}  {:<8}  {:>7} {:>7} {:>7}  {}",
                    h.serial,
                    h.occurred_at.format("%Y-%m-%d %H:%M:%S%.3f"),
                    h.command,
                    h.user_id,
                    h.source,
                    h.counts[0],
                    h.counts[1],
                    h.counts[2],
                    h.request_id
                )?;
            }
        }
        Show::At(at) => {
            let zone = state(read, zone_id, at).await?;
            if json {
                let sets: Vec<_> = zone.recordsets.iter().map(PastRecordset::to_json).collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"zone_id": zone_id, "serial": zone.serial, "recordsets": sets})
                )?;
                return Ok(());
            }
            writeln!(
                out,
                "; {} at serial {} ({} UTC)",
                origin.name, zone.serial, zone.occurred_at
            )?;
            for set in &zone.recordsets {
                for line in lines(set) {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Show::Diff(from, to) => {
            let before = state(read, zone_id, At::Serial(from)).await?;
            let after = state(read, zone_id, At::Serial(to)).await?;
            let diff = before.diff(&after);
            if json {
                writeln!(out, "{diff}")?;
                return Ok(());
            }
            writeln!(out, "; {} from serial {from} to {to}", origin.name)?;
            let old: Vec<&PastRecordset> = before.recordsets.iter().collect();
            let new: Vec<&PastRecordset> = after.recordsets.iter().collect();
            for set in &old {
                if !new.contains(set) {
                    for line in lines(set) {
                        writeln!(out, "- {line}")?;
                    }
                }
            }
            for set in &new {
                if !old.contains(set) {
                    for line in lines(set) {
                        writeln!(out, "+ {line}")?;
                    }
                }
            }
        }
    }
    Ok(())
}

async fn state(read: &ReadModels, zone_id: &str, at: At) -> anyhow::Result<ZoneAt> {
    read.zone_at(zone_id, at)
        .await?
        .with_context(|| format!("the zone's history has no {at:?}"))
}

/// A record set as zone-file lines (`name TTL IN TYPE data`; no TTL when it is the zone's).
fn lines(set: &PastRecordset) -> Vec<String> {
    let ttl = set.ttl.as_u64().map(|t| format!(" {t}")).unwrap_or_default();
    set.records
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter_map(|r| r.as_str())
                .map(|data| format!("{}{ttl} IN {} {data}", set.name, set.rtype))
                .collect()
        })
        .unwrap_or_default()
}

//! `nsplane zone history|at|diff|revert`: a zone's history for operators (every project, deleted zones
//! too), as `GET /v2/zones/{id}/history…` answers it: a table by default, JSON with `--json`; and a
//! revert, as `POST /v2/zones/{id}/tasks/revert` does it.

use std::io::Write as _;

use anyhow::Context as _;
use nsplane_projection::read::history::{At, PastRecordset, ZoneAt};
use nsplane_projection::ReadModels;

/// What to show.
#[derive(Debug, Clone)]
pub enum Show {
    /// Every serial.
    History,
    /// The record sets at a serial or a time (or the whole zone file).
    At {
        /// When.
        at: At,
        /// As a zone file.
        zone_file: bool,
    },
    /// The difference between two serials (or as an IXFR).
    Diff {
        /// The earlier serial.
        from: u32,
        /// The later serial.
        to: u32,
        /// As an IXFR.
        ixfr: bool,
    },
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
        Show::At { at, zone_file } => {
            let zone = state(read, zone_id, at).await?;
            if zone_file {
                let text = zone.to_zone_file().context("the zone's history has no creation")?;
                write!(out, "{text}")?;
                return Ok(());
            }
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
        Show::Diff { from, to, ixfr } => {
            let before = state(read, zone_id, At::Serial(from)).await?;
            let after = state(read, zone_id, At::Serial(to)).await?;
            if ixfr {
                let text = before.ixfr_to(&after).context("the zone's history has no creation")?;
                write!(out, "{text}")?;
                return Ok(());
            }
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

/// Reverts `zone_id` to the record sets of `serial` (or, with `dry_run`, only says what would change)
/// and prints what changed: the serials and `+`/`-`/`~` lines per record set, or the JSON the API
/// answers.
pub async fn revert(
    read: &ReadModels,
    commands: &nsplane_command::Commands,
    zone_id: uuid::Uuid,
    serial: u32,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut actor = nsplane_command::Actor::service("cli");
    // Who: the operator's login, when there is one.
    if let Ok(user) = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")) {
        actor.metadata.user_id = user;
    }
    let reverted =
        nsplane_api::history::revert_zone(read, commands, nsplane_schema::ZoneId(zone_id), serial, dry_run, &actor)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let answer = &reverted.answer;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{answer}")?;
        return Ok(());
    }
    let changes = &answer["changes"];
    let count = |key: &str| changes[key].as_array().map_or(0, Vec::len);
    match answer["serial"].as_u64() {
        Some(new) => writeln!(
            out,
            "reverted {zone_id} from serial {} to the record sets of serial {serial}: now serial {new}",
            answer["from_serial"]
        )?,
        None => writeln!(
            out,
            "dry run: reverting {zone_id} from serial {} to serial {serial} would change this",
            answer["from_serial"]
        )?,
    }
    for (key, mark) in [("added", '+'), ("removed", '-'), ("changed", '~')] {
        for set in changes[key].as_array().into_iter().flatten() {
            let records = if key == "changed" {
                &set["after"]["records"]
            } else {
                &set["records"]
            };
            writeln!(
                out,
                "{mark} {} {} {records}",
                set["name"].as_str().unwrap_or_default(),
                set["type"].as_str().unwrap_or_default(),
            )?;
        }
    }
    writeln!(
        out,
        "{} added, {} removed, {} changed",
        count("added"),
        count("removed"),
        count("changed")
    )?;
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

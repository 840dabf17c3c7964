//! `nsplane audit`: the audit queries of `GET /v2/audit_events` for operators (every project), with the
//! same filters: a table by default, one JSON object per entry with `--json`, CSV with `--csv`.

use std::io::Write as _;

use nsplane_projection::read::audit::{self, AuditEntry, AuditQuery, RecordsetValues};
use nsplane_projection::ReadModels;

/// How `nsplane audit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Columns for people.
    Table,
    /// One JSON object per line, as the API shows entries.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// Entries read per query.
const CHUNK: i64 = 1000;

/// Prints the entries `query` matches, up to `max` (0: every one), oldest first, to stdout.
pub async fn print(read: &ReadModels, mut query: AuditQuery, max: u64, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => writeln!(
            out,
            "{:<12}  {:<26}  {:<18}  {:<28}  {:<30}  {:<6}  {:<16}  {:<8}  CHANGE",
            "ID", "OCCURRED (UTC)", "EVENT", "ZONE", "RECORD SET", "TYPE", "USER", "SOURCE"
        )?,
        Format::Csv => write!(out, "{}", audit::csv_header())?,
        Format::Json => {}
    }
    let mut printed = 0u64;
    loop {
        let left = if max == 0 {
            CHUNK
        } else {
            CHUNK.min(i64::try_from(max - printed).unwrap_or(CHUNK))
        };
        query.limit = left;
        let entries = read.audit_events(&query).await?;
        for entry in &entries {
            match format {
                Format::Table => writeln!(out, "{}", row(entry))?,
                Format::Json => writeln!(out, "{}", entry.to_json())?,
                Format::Csv => write!(out, "{}", entry.to_csv())?,
            }
        }
        printed += entries.len() as u64;
        if i64::try_from(entries.len()).unwrap_or(0) < left || (max > 0 && printed >= max) {
            break;
        }
        query.marker = entries.last().map(|e| e.position);
    }
    out.flush()?;
    Ok(())
}

fn row(entry: &AuditEntry) -> String {
    let records = |v: &Option<RecordsetValues>| match v {
        Some(v) => v
            .records
            .as_array()
            .map(|r| r.iter().filter_map(|d| d.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        None => "-".to_owned(),
    };
    let change = match (&entry.before, &entry.after) {
        (None, None) => String::new(),
        (before, after) => format!("{} → {}", records(before), records(after)),
    };
    format!(
        "{:<12}  {:<26}  {:<18}  {:<28}  {:<30}  {:<6}  {:<16}  {:<8}  {}",
        entry.position.id(),
        entry.occurred_at.format("%Y-%m-%d %H:%M:%S%.3f"),
        entry.event_type,
        entry.zone_name.as_deref().unwrap_or(&entry.aggregate_type),
        entry.recordset_name.as_deref().unwrap_or(""),
        entry.recordset_type.as_deref().unwrap_or(""),
        entry.user_id,
        entry.source,
        change
    )
}

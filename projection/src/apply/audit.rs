//! Audit rows: one per event of every applied commit, with the commit's metadata (who, why, when) and
//! the event as stored, written with one multi-row statement per batch. Generic over aggregate kinds:
//! the event's type and version come from its tag, its payload is its stored JSON.

use anyhow::Context as _;
use chrono::NaiveDateTime;
use nsplane_schema::envelope::event_tag;
use tokio_postgres::types::Json;
use tokio_postgres::Transaction;

use super::Delivered;

/// The event as people may read it (a TSIG key's secret redacted): the stored JSON as it is for every
/// other kind.
fn readable<'a>(
    aggregate_type: &str,
    event: &'a serde_json::value::RawValue,
) -> anyhow::Result<std::borrow::Cow<'a, serde_json::value::RawValue>> {
    if aggregate_type != nsplane_schema::tsigkeys::TSIGKEY_AGGREGATE {
        return Ok(std::borrow::Cow::Borrowed(event));
    }
    let value: serde_json::Value = serde_json::from_str(event.get()).context("an unreadable TSIG key event")?;
    let redacted = nsplane_schema::tsigkeys::redact(aggregate_type, &value);
    Ok(std::borrow::Cow::Owned(serde_json::value::to_raw_value(&redacted)?))
}

pub(super) async fn write(txn: &Transaction<'_>, commits: &[&Delivered]) -> anyhow::Result<()> {
    let n: usize = commits.iter().map(|c| c.commit.events.len()).sum();
    if n == 0 {
        return Ok(());
    }
    let mut seqs = Vec::with_capacity(n);
    let mut idxs = Vec::with_capacity(n);
    let mut agg_types = Vec::with_capacity(n);
    let mut agg_ids = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut event_types = Vec::with_capacity(n);
    let mut event_versions = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut projects = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut roles = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut command_names = Vec::with_capacity(n);
    let mut times: Vec<NaiveDateTime> = Vec::with_capacity(n);
    for delivered in commits {
        let commit = &delivered.commit;
        let meta = &commit.metadata;
        for (idx, event) in commit.events.iter().enumerate() {
            let tag = event_tag(event)
                .with_context(|| format!("an event without a type tag at stream seq {}", delivered.stream_seq))?;
            seqs.push(i64::try_from(delivered.stream_seq).unwrap_or(i64::MAX));
            idxs.push(i32::try_from(idx).unwrap_or(i32::MAX));
            agg_types.push(commit.aggregate_type.as_str());
            agg_ids.push(commit.aggregate_id.as_str());
            versions.push(i64::try_from(commit.version).unwrap_or(i64::MAX));
            event_types.push(tag.name);
            event_versions.push(i32::try_from(tag.version).unwrap_or(i32::MAX));
            payloads.push(Json(readable(&commit.aggregate_type, event)?));
            projects.push(meta.project_id.0.as_str());
            users.push(meta.user_id.as_str());
            roles.push(meta.roles.join(","));
            requests.push(meta.request_id.0.as_str());
            sources.push(meta.source_role.as_str());
            command_names.push(meta.command.as_str());
            times.push(meta.time.naive_utc());
        }
    }
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
            &agg_types,
            &agg_ids,
            &versions,
            &event_types,
            &event_versions,
            &payloads,
            &projects,
            &users,
            &roles,
            &requests,
            &sources,
            &command_names,
            &times,
        ],
    )
    .await
    .context("failed to write audit rows")?;
    Ok(())
}

//! Applying commits to the read models, for every aggregate kind: one PostgreSQL transaction per batch
//! of commits, each commit checked against and bumping its aggregate's projected version (so redelivery
//! is harmless and a commit that arrives before its predecessor waits for it), its audit rows written,
//! and its events handed to its kind's projector.

use std::collections::HashMap;

use anyhow::Context as _;
use nsplane_schema::RawCommit;
use tokio_postgres::GenericClient;

mod audit;

use crate::projectors::Projectors;

/// A commit as delivered from the stream.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Its stream sequence.
    pub stream_seq: u64,
    /// The commit, its events not decoded yet (its kind's projector decodes them).
    pub commit: RawCommit,
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
    /// No projector knows its kind (a newer writer than this central); retry later.
    UnknownKind,
}

/// Applies a batch of commits (in stream order) in one transaction and returns each one's outcome.
/// On error nothing is written; the caller may retry commits one by one.
pub async fn apply_batch(
    client: &mut deadpool_postgres::Object,
    projectors: &Projectors,
    commits: &[Delivered],
) -> anyhow::Result<Vec<Outcome>> {
    let txn = client.transaction().await.context("failed to begin")?;
    // Lock the version rows of every aggregate in the batch, in a fixed order (no deadlocks between instances).
    let mut keys: Vec<(&str, &str)> = commits
        .iter()
        .map(|c| (c.commit.aggregate_type.as_str(), c.commit.aggregate_id.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    let types: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
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
    let mut advanced: HashMap<(String, String), (u64, u64)> = HashMap::new();
    // The commits to apply, by kind, each kind's in stream order.
    let mut by_kind: Vec<(&str, Vec<&Delivered>)> = Vec::new();
    let mut audited = Vec::new();
    for delivered in commits {
        let commit = &delivered.commit;
        let key = (commit.aggregate_type.clone(), commit.aggregate_id.clone());
        let projected = versions.get(&key).copied().unwrap_or(0);
        if commit.version <= projected {
            outcomes.push(Outcome::AlreadyApplied);
            continue;
        }
        if commit.version != projected + 1 {
            outcomes.push(Outcome::Gap { projected });
            continue;
        }
        if projectors.get(&commit.aggregate_type).is_none() {
            outcomes.push(Outcome::UnknownKind);
            continue;
        }
        match by_kind.iter_mut().find(|(kind, _)| *kind == commit.aggregate_type) {
            Some((_, list)) => list.push(delivered),
            None => by_kind.push((commit.aggregate_type.as_str(), vec![delivered])),
        }
        audited.push(delivered);
        versions.insert(key.clone(), commit.version);
        advanced.insert(key, (commit.version, delivered.stream_seq));
        outcomes.push(Outcome::Applied);
    }
    for (kind, list) in &by_kind {
        if let Some(projector) = projectors.get(kind) {
            projector
                .apply(&txn, list)
                .await
                .with_context(|| format!("failed to project {} {kind} commits", list.len()))?;
        }
    }
    audit::write(&txn, &audited).await?;
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

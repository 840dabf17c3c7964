//! The one-time migration of a data dir written before every change was an event: TLDs and blacklists
//! kept in the KV bucket `<prefix>_naming`, and quota overrides kept as `overrides.<project>` in
//! `<prefix>_quotas`, become commits on the event stream (source role `migration`), then leave KV.
//! Safe to run from every instance at once: each import has a fixed request id, so the racing copies of
//! one import commit once, and a key is removed only after its import committed.

use anyhow::Context as _;
use async_nats::jetstream::kv;
use futures::TryStreamExt as _;
use nsplane_schema::layout::Bucket;
use nsplane_schema::quotas::Quotas;
use nsplane_schema::{Metadata, ProjectId, RequestId};
use serde::Deserialize;
use tracing::info;
use uuid::Uuid;

use crate::naming::{Kind, NamingCommand};
use crate::service::{Actor, Commands};

/// A TLD or blacklist as the KV bucket held it.
#[derive(Deserialize)]
struct LegacyRule {
    id: Uuid,
    value: String,
    description: Option<String>,
}

/// What the migration moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// TLDs and blacklists imported.
    pub naming_rules: usize,
    /// Projects whose quota overrides were imported.
    pub quota_projects: usize,
}

/// A fixed request id for one import, so every instance's attempt is the same request.
fn import_request(what: &str) -> RequestId {
    let id = nsplane_schema::ids::derived_uuid("legacy-import", &RequestId(what.to_owned()));
    RequestId(format!("req-{id}"))
}

fn migration_actor(what: &str) -> Actor {
    let mut actor = Actor::service("migration");
    actor.metadata = Metadata {
        request_id: import_request(what),
        ..actor.metadata
    };
    actor
}

/// Moves what older versions kept in KV into the event stream. A no-op once done.
pub async fn migrate(commands: &Commands) -> anyhow::Result<Migrated> {
    let mut migrated = Migrated::default();
    let store = commands.store();
    let js = store.jetstream();
    let naming_bucket = store.layout().bucket(Bucket::LegacyNaming);
    if let Ok(bucket) = js.get_key_value(&naming_bucket).await {
        let rules = read_naming(&bucket).await?;
        if !rules.is_empty() {
            let committed = commands
                .naming(NamingCommand::Import { rules }, &migration_actor(&naming_bucket))
                .await
                .map_err(|e| anyhow::anyhow!("failed to import the naming rules: {e}"))?;
            migrated.naming_rules = committed.events.len();
        }
        js.delete_key_value(&naming_bucket)
            .await
            .with_context(|| format!("failed to remove the migrated bucket {naming_bucket}"))?;
        info!(bucket = %naming_bucket, rules = migrated.naming_rules, "migrated TLDs and blacklists into the event stream");
    }
    let quotas_bucket = store.open_bucket(Bucket::Quotas).await?;
    let keys: Vec<String> = quotas_bucket
        .keys()
        .await
        .context("failed to list the quota bucket")?
        .try_collect()
        .await
        .context("failed to list the quota bucket")?;
    for key in keys.into_iter().filter(|k| k.starts_with("overrides.")) {
        let Some(entry) = quotas_bucket
            .entry(&key)
            .await
            .context("failed to read quota overrides")?
        else {
            continue;
        };
        if entry.operation == kv::Operation::Put {
            let overrides: Quotas = serde_json::from_slice(&entry.value).context("undecodable quota overrides")?;
            let project = project_of(&key)?;
            let actor = migration_actor(&format!("{}.{key}", quotas_bucket.name));
            commands
                .quotas()
                .set(&project, overrides, actor.metadata)
                .await
                .with_context(|| format!("failed to import the quotas of {}", project.0))?;
            migrated.quota_projects += 1;
        }
        quotas_bucket
            .purge(&key)
            .await
            .with_context(|| format!("failed to remove the migrated key {key}"))?;
    }
    if migrated.quota_projects > 0 {
        info!(
            projects = migrated.quota_projects,
            "migrated quota overrides into the event stream"
        );
    }
    Ok(migrated)
}

async fn read_naming(bucket: &kv::Store) -> anyhow::Result<Vec<(Kind, Uuid, String, Option<String>)>> {
    let keys: Vec<String> = bucket
        .keys()
        .await
        .context("failed to list the naming bucket")?
        .try_collect()
        .await
        .context("failed to list the naming bucket")?;
    let mut rules = Vec::new();
    for key in keys {
        let kind = if key.starts_with("tld.") {
            Kind::Tld
        } else if key.starts_with("blacklist.") {
            Kind::Blacklist
        } else {
            continue;
        };
        if let Some(value) = bucket.get(&key).await.context("failed to read a naming rule")? {
            let rule: LegacyRule = serde_json::from_slice(&value).context("undecodable naming rule")?;
            rules.push((kind, rule.id, rule.value, rule.description));
        }
    }
    // The old listing order, so the import is the same whichever instance runs it.
    rules.sort_by(|a, b| (a.2.as_str(), a.1).cmp(&(b.2.as_str(), b.1)));
    Ok(rules)
}

/// The project of an `overrides.<hex>` key.
fn project_of(key: &str) -> anyhow::Result<ProjectId> {
    let hex = key.trim_start_matches("overrides.");
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .with_context(|| format!("bad quota key {key}"))?;
    Ok(ProjectId(
        String::from_utf8(bytes).with_context(|| format!("bad quota key {key}"))?,
    ))
}

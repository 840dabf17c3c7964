//! The pool configuration as an aggregate: one commit per `nsplane pool update`, holding the whole
//! validated `pools.yaml`, appended with optimistic concurrency like any other command.

use nsplane_schema::event::{Metadata, PoolsCommit, ENVELOPE_VERSION};
use nsplane_schema::subjects;

use crate::store::{AppendError, EventStore};

/// The current configuration: `(version, yaml)`, if pools were ever committed.
pub async fn current(store: &EventStore) -> anyhow::Result<Option<(u64, String)>> {
    let subject = subjects::pools_events(&store.config().prefix);
    let Some((_, payload)) = store.last_raw(&subject).await? else {
        return Ok(None);
    };
    let commit: PoolsCommit = serde_json::from_slice(&payload)?;
    Ok(Some((commit.version, commit.pools_yaml)))
}

/// Commits a new configuration (already validated by the caller). Returns its version, or the current
/// one when the configuration is unchanged.
pub async fn update(store: &EventStore, pools_yaml: &str, mut metadata: Metadata) -> anyhow::Result<u64> {
    let subject = subjects::pools_events(&store.config().prefix);
    metadata.command = "UpdatePools".into();
    for _ in 0..16 {
        let last = store.last_raw(&subject).await?;
        let (expected, version) = match &last {
            Some((seq, payload)) => {
                let commit: PoolsCommit = serde_json::from_slice(payload)?;
                if commit.pools_yaml == pools_yaml {
                    return Ok(commit.version);
                }
                (*seq, commit.version)
            }
            None => (0, 0),
        };
        let commit = PoolsCommit {
            envelope_version: ENVELOPE_VERSION,
            version: version + 1,
            pools_yaml: pools_yaml.to_owned(),
            metadata: metadata.clone(),
        };
        let message_id = format!("pools.{}", metadata.request_id);
        match store
            .append_bytes(&subject, serde_json::to_vec(&commit)?, expected, &message_id)
            .await
        {
            Ok(_) => return Ok(commit.version),
            Err(AppendError::Conflict) | Err(AppendError::Indefinite(_)) => continue,
            Err(AppendError::Other(e)) => return Err(e),
        }
    }
    anyhow::bail!("the pool configuration kept changing concurrently; try again")
}

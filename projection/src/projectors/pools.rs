//! The pool configuration's read model: `pools`, one row per pool of the current configuration.

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::pools::{Pools, PoolsEvent, POOLS_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects the pools.
pub struct PoolsProjector;

impl Projector for PoolsProjector {
    fn aggregate_type(&self) -> &'static str {
        POOLS_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<PoolsEvent>()?;
                let time = typed.metadata.time.naive_utc();
                for event in typed.events {
                    let PoolsEvent::PoolsConfigured { pools_yaml } = event;
                    // Validated before it was committed; a document that no longer parses is a bug.
                    let pools = Pools::parse(&pools_yaml).context("a committed pool configuration does not parse")?;
                    txn.execute("DELETE FROM pools", &[])
                        .await
                        .context("failed to replace the pools")?;
                    for (id, pool) in pools.iter() {
                        let attributes =
                            serde_json::to_value(&pool.attributes).context("failed to encode attributes")?;
                        let ns_records =
                            serde_json::to_value(pool.ns_records()).context("failed to encode ns records")?;
                        txn.execute(
                            "INSERT INTO pools (id, name, description, attributes, ns_records, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                            &[&id.0, &pool.name, &pool.description, &attributes, &ns_records, &time],
                        )
                        .await
                        .context("failed to project a pool")?;
                    }
                }
            }
            Ok(())
        })
    }
}

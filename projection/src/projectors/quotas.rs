//! Quota overrides' read model: `quota_overrides`, one row per project and resource set.

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::quotas::{QuotaEvent, QUOTAS_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects quota overrides.
pub struct QuotaProjector;

impl Projector for QuotaProjector {
    fn aggregate_type(&self) -> &'static str {
        QUOTAS_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                for event in commit.commit.typed::<QuotaEvent>()?.events {
                    match event {
                        QuotaEvent::QuotasSet { project_id, changes } => {
                            let resources: Vec<&str> = changes.keys().map(String::as_str).collect();
                            let limits: Vec<i64> = changes.values().copied().collect();
                            txn.execute(
                                "INSERT INTO quota_overrides (project_id, resource, hard_limit) \
                                 SELECT $1, r, l FROM unnest($2::text[], $3::bigint[]) AS x(r, l) \
                                 ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit",
                                &[&project_id.0, &resources, &limits],
                            )
                            .await
                            .context("failed to project QuotasSet")?;
                        }
                        QuotaEvent::QuotasReset { project_id } => {
                            txn.execute("DELETE FROM quota_overrides WHERE project_id = $1", &[&project_id.0])
                                .await
                                .context("failed to project QuotasReset")?;
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

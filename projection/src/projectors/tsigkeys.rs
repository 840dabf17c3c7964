//! The TSIG keys' read model: `tsigkeys`, one row per key (the secret included: mdns signs and verifies
//! with it).

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::tsigkeys::{TsigKeyEvent, TSIGKEY_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects TSIG keys.
pub struct TsigKeyProjector;

impl Projector for TsigKeyProjector {
    fn aggregate_type(&self) -> &'static str {
        TSIGKEY_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<TsigKeyEvent>()?;
                let time = typed.metadata.time.naive_utc();
                for event in &typed.events {
                    match event {
                        TsigKeyEvent::TsigKeyCreated {
                            tsigkey_id,
                            name,
                            algorithm,
                            secret,
                            scope,
                            resource_id,
                        } => {
                            txn.execute(
                                "INSERT INTO tsigkeys (id, name, algorithm, secret, scope, resource_id, created_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                &[tsigkey_id, name, algorithm, secret, &scope.as_str(), resource_id, &time],
                            )
                            .await
                        }
                        TsigKeyEvent::TsigKeyUpdated {
                            tsigkey_id,
                            name,
                            algorithm,
                            secret,
                            scope,
                            resource_id,
                        } => {
                            txn.execute(
                                "UPDATE tsigkeys SET name = $2, algorithm = $3, secret = $4, scope = $5, \
                                 resource_id = $6, updated_at = $7 WHERE id = $1",
                                &[tsigkey_id, name, algorithm, secret, &scope.as_str(), resource_id, &time],
                            )
                            .await
                        }
                        TsigKeyEvent::TsigKeyDeleted { tsigkey_id } => {
                            txn.execute("DELETE FROM tsigkeys WHERE id = $1", &[tsigkey_id]).await
                        }
                    }
                    .with_context(|| format!("failed to project {}", nsplane_schema::Event::event_type(event)))?;
                }
            }
            Ok(())
        })
    }
}

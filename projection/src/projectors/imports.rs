//! The zone imports' read model: `zone_imports`, one row per import that was not deleted, with its
//! status (the file stays in the event stream).

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::imports::{ImportEvent, IMPORT_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects zone imports.
pub struct ImportProjector;

impl Projector for ImportProjector {
    fn aggregate_type(&self) -> &'static str {
        IMPORT_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<ImportEvent>()?;
                let time = typed.metadata.time.naive_utc();
                for event in &typed.events {
                    match event {
                        ImportEvent::ZoneImportRequested {
                            import_id, project_id, ..
                        } => {
                            txn.execute(
                                "INSERT INTO zone_imports (id, project_id, status, created_at) \
                                 VALUES ($1, $2, 'PENDING', $3)",
                                &[import_id, &project_id.0, &time],
                            )
                            .await
                        }
                        ImportEvent::ZoneImportCompleted { import_id, zone_id } => {
                            txn.execute(
                                "UPDATE zone_imports SET status = 'COMPLETE', zone_id = $2, updated_at = $3 \
                                 WHERE id = $1",
                                &[import_id, zone_id, &time],
                            )
                            .await
                        }
                        ImportEvent::ZoneImportFailed {
                            import_id,
                            message,
                            zone_id,
                        } => {
                            txn.execute(
                                "UPDATE zone_imports SET status = 'ERROR', message = $2, zone_id = $3, \
                                 updated_at = $4 WHERE id = $1",
                                &[import_id, message, zone_id, &time],
                            )
                            .await
                        }
                        ImportEvent::ZoneImportDeleted { import_id } => {
                            txn.execute("DELETE FROM zone_imports WHERE id = $1", &[import_id])
                                .await
                        }
                    }
                    .with_context(|| format!("failed to project {}", nsplane_schema::Event::event_type(event)))?;
                }
            }
            Ok(())
        })
    }
}

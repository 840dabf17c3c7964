//! The zone exports' read model: `zone_exports`, one row per export that was not deleted.

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::exports::{ExportEvent, EXPORT_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects zone exports.
pub struct ExportProjector;

impl Projector for ExportProjector {
    fn aggregate_type(&self) -> &'static str {
        EXPORT_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<ExportEvent>()?;
                let time = typed.metadata.time.naive_utc();
                for event in &typed.events {
                    match event {
                        ExportEvent::ZoneExportCreated {
                            export_id,
                            zone_id,
                            project_id,
                            serial,
                        } => {
                            txn.execute(
                                "INSERT INTO zone_exports (id, zone_id, project_id, serial, created_at) \
                                 VALUES ($1, $2, $3, $4, $5)",
                                &[export_id, zone_id, &project_id.0, &i64::from(*serial), &time],
                            )
                            .await
                        }
                        ExportEvent::ZoneExportDeleted { export_id } => {
                            txn.execute("DELETE FROM zone_exports WHERE id = $1", &[export_id])
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

//! The zone-export aggregate (one per export): created once for a zone at a serial, deleted once. What
//! may be exported (the zone exists, the caller sees it, its size is within `api_export_size`) is
//! checked by [`crate::Commands::export_zone`] before deciding.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use nsplane_schema::exports::{ExportEvent, EXPORT_AGGREGATE};
use nsplane_schema::ProjectId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Decider, Domain};

/// An export as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Id.
    pub id: Uuid,
    /// The zone.
    pub zone_id: Uuid,
    /// The project that asked.
    pub project_id: ProjectId,
    /// The zone's serial then.
    pub serial: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One export: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ZoneExport {
    /// The export, while it exists.
    pub export: Option<Export>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// Commands on an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportCommand {
    /// Records an export of `zone_id` at `serial`.
    Create {
        /// The export's id (derived from the request, so a retry names the same export).
        id: Uuid,
        /// The zone.
        zone_id: Uuid,
        /// The project that asks.
        project_id: ProjectId,
        /// The zone's serial now.
        serial: u32,
    },
    /// Deletes the export.
    Delete,
}

/// Why an export command was refused. Each variant says how the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// 404 `zone_export_not_found`.
    #[error("Could not find ZoneExport")]
    NotFound,
    /// 409 `duplicate_zone_export`.
    #[error("Duplicate ZoneExport")]
    Duplicate,
    /// 404 `zone_not_found`: no zone the caller owns.
    #[error("Could not find Zone")]
    ZoneNotFound,
    /// 413 `over_quota`: more record sets than the project's `api_export_size`.
    #[error("{0}")]
    OverQuota(String),
}

impl Aggregate for ZoneExport {
    const TYPE: &'static str = EXPORT_AGGREGATE;
    type Command = ExportCommand;
    type Event = Domain<ExportEvent>;
    type Error = ExportError;
    type Services = ();

    async fn handle(&mut self, command: ExportCommand, _: &(), sink: &EventSink<Self>) -> Result<(), ExportError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        self.evolve(&event, DateTime::<Utc>::default());
    }
}

impl Decider for ZoneExport {
    type Contract = ExportEvent;

    fn command_name(command: &ExportCommand) -> &'static str {
        match command {
            ExportCommand::Create { .. } => "ExportZone",
            ExportCommand::Delete => "DeleteZoneExport",
        }
    }

    async fn decide(
        &self,
        command: ExportCommand,
        _: &(),
        _now: DateTime<Utc>,
    ) -> Result<Vec<ExportEvent>, ExportError> {
        match command {
            ExportCommand::Create {
                id,
                zone_id,
                project_id,
                serial,
            } => {
                if self.export.is_some() || self.deleted {
                    return Err(ExportError::Duplicate);
                }
                Ok(vec![ExportEvent::ZoneExportCreated {
                    export_id: id,
                    zone_id,
                    project_id,
                    serial,
                }])
            }
            ExportCommand::Delete => {
                let export = self.export.as_ref().ok_or(ExportError::NotFound)?;
                Ok(vec![ExportEvent::ZoneExportDeleted { export_id: export.id }])
            }
        }
    }

    fn evolve(&mut self, event: &ExportEvent, time: DateTime<Utc>) {
        match event {
            ExportEvent::ZoneExportCreated {
                export_id,
                zone_id,
                project_id,
                serial,
            } => {
                self.export = Some(Export {
                    id: *export_id,
                    zone_id: *zone_id,
                    project_id: project_id.clone(),
                    serial: *serial,
                    created_at: time,
                });
            }
            ExportEvent::ZoneExportDeleted { .. } => {
                self.export = None;
                self.deleted = true;
            }
        }
    }

    fn not_found() -> ExportError {
        ExportError::NotFound
    }

    fn permits(&self, caller: &ProjectId, _: &ExportCommand) -> bool {
        self.export.as_ref().is_none_or(|e| &e.project_id == caller)
    }
}

//! The zone-import aggregate (one per import): requested with its zone file, then completed or failed
//! once. The work between (parse the file, create the zone, create its record sets in one commit) is
//! [`crate::Commands::run_import`]'s, idempotent, so the API that took the import and a producer that
//! finds it still pending can both run it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use nsplane_schema::imports::{ImportEvent, IMPORT_AGGREGATE};
use nsplane_schema::ProjectId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Decider, Domain};

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportStatus {
    /// Accepted, not finished.
    Pending,
    /// The zone and its record sets exist.
    Complete,
    /// Refused; `message` says why.
    Error,
}

impl ImportStatus {
    /// Designate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Pending => "PENDING",
            ImportStatus::Complete => "COMPLETE",
            ImportStatus::Error => "ERROR",
        }
    }
}

/// An import as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// Id.
    pub id: Uuid,
    /// The project the zone goes to.
    pub project_id: ProjectId,
    /// Who asked.
    pub user_id: String,
    /// The file.
    pub zone_file: String,
    /// Attributes the zone gets.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Where it stands.
    pub status: ImportStatus,
    /// Why it failed.
    pub message: Option<String>,
    /// The zone made.
    pub zone_id: Option<Uuid>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One import: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ZoneImport {
    /// The import, while it exists.
    pub import: Option<Import>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// Commands on an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportCommand {
    /// Accepts a zone file.
    Request {
        /// The import's id (derived from the request).
        id: Uuid,
        /// The project the zone goes to.
        project_id: ProjectId,
        /// Who asks.
        user_id: String,
        /// The file.
        zone_file: String,
        /// Attributes the zone gets.
        attributes: std::collections::BTreeMap<String, String>,
    },
    /// Records that the zone was made.
    Complete {
        /// The zone.
        zone_id: Uuid,
    },
    /// Records why the import failed.
    Fail {
        /// Why.
        message: String,
        /// The zone, if it was made before the failure.
        zone_id: Option<Uuid>,
    },
    /// Deletes the import's record.
    Delete,
}

/// Why an import command was refused. Each variant says how the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// 404 `zone_import_not_found`.
    #[error("Could not find ZoneImport")]
    NotFound,
    /// 409 `duplicate_zone_import`.
    #[error("Duplicate ZoneImport")]
    Duplicate,
}

impl Aggregate for ZoneImport {
    const TYPE: &'static str = IMPORT_AGGREGATE;
    type Command = ImportCommand;
    type Event = Domain<ImportEvent>;
    type Error = ImportError;
    type Services = ();

    async fn handle(&mut self, command: ImportCommand, _: &(), sink: &EventSink<Self>) -> Result<(), ImportError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        self.evolve(&event, DateTime::<Utc>::default());
    }
}

impl Decider for ZoneImport {
    type Contract = ImportEvent;

    fn command_name(command: &ImportCommand) -> &'static str {
        match command {
            ImportCommand::Request { .. } => "ImportZone",
            ImportCommand::Complete { .. } => "CompleteZoneImport",
            ImportCommand::Fail { .. } => "FailZoneImport",
            ImportCommand::Delete => "DeleteZoneImport",
        }
    }

    async fn decide(
        &self,
        command: ImportCommand,
        _: &(),
        _now: DateTime<Utc>,
    ) -> Result<Vec<ImportEvent>, ImportError> {
        match command {
            ImportCommand::Request {
                id,
                project_id,
                user_id,
                zone_file,
                attributes,
            } => {
                if self.import.is_some() || self.deleted {
                    return Err(ImportError::Duplicate);
                }
                Ok(vec![ImportEvent::ZoneImportRequested {
                    import_id: id,
                    project_id,
                    user_id,
                    zone_file,
                    attributes,
                }])
            }
            // Finishing an import that is no longer pending (finished by another instance, or
            // deleted) is moot: nothing to append.
            ImportCommand::Complete { zone_id } => Ok(self
                .pending()
                .map(|id| vec![ImportEvent::ZoneImportCompleted { import_id: id, zone_id }])
                .unwrap_or_default()),
            ImportCommand::Fail { message, zone_id } => Ok(self
                .pending()
                .map(|id| {
                    vec![ImportEvent::ZoneImportFailed {
                        import_id: id,
                        message,
                        zone_id,
                    }]
                })
                .unwrap_or_default()),
            ImportCommand::Delete => {
                let import = self.import.as_ref().ok_or(ImportError::NotFound)?;
                Ok(vec![ImportEvent::ZoneImportDeleted { import_id: import.id }])
            }
        }
    }

    fn evolve(&mut self, event: &ImportEvent, time: DateTime<Utc>) {
        match event {
            ImportEvent::ZoneImportRequested {
                import_id,
                project_id,
                user_id,
                zone_file,
                attributes,
            } => {
                self.import = Some(Import {
                    id: *import_id,
                    project_id: project_id.clone(),
                    user_id: user_id.clone(),
                    zone_file: zone_file.clone(),
                    attributes: attributes.clone(),
                    status: ImportStatus::Pending,
                    message: None,
                    zone_id: None,
                    created_at: time,
                    updated_at: None,
                });
            }
            ImportEvent::ZoneImportCompleted { zone_id, .. } => {
                if let Some(import) = &mut self.import {
                    import.status = ImportStatus::Complete;
                    import.zone_id = Some(*zone_id);
                    import.updated_at = Some(time);
                }
            }
            ImportEvent::ZoneImportFailed { message, zone_id, .. } => {
                if let Some(import) = &mut self.import {
                    import.status = ImportStatus::Error;
                    import.message = Some(message.clone());
                    import.zone_id = *zone_id;
                    import.updated_at = Some(time);
                }
            }
            ImportEvent::ZoneImportDeleted { .. } => {
                self.import = None;
                self.deleted = true;
            }
        }
    }

    fn not_found() -> ImportError {
        ImportError::NotFound
    }

    fn permits(&self, caller: &ProjectId, _: &ImportCommand) -> bool {
        self.import.as_ref().is_none_or(|i| &i.project_id == caller)
    }
}

impl ZoneImport {
    /// The import's id while it is pending.
    fn pending(&self) -> Option<Uuid> {
        self.import
            .as_ref()
            .filter(|i| i.status == ImportStatus::Pending)
            .map(|i| i.id)
    }
}

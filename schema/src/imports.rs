//! Zone imports: the contract of the aggregate recording each `POST /v2/zones/tasks/imports`. The zone
//! file is in the request event, so an import accepted is finished by whichever instance gets to it (the
//! API right away, a producer if that API died): the zone and its record sets are created under request
//! ids derived from the import, so finishing twice changes nothing.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::ProjectId;

/// The aggregate type of zone imports (one aggregate per import).
pub const IMPORT_AGGREGATE: &str = "zoneimport";

/// The largest zone file an import takes (the request event must fit in one NATS message).
pub const MAX_ZONE_FILE: usize = 512 * 1024;

/// Everything that can happen to an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ImportEvent {
    /// A zone file was accepted for import.
    #[serde(rename = "ZoneImportRequested.v1")]
    ZoneImportRequested {
        /// Its id.
        import_id: Uuid,
        /// The project the zone goes to.
        project_id: ProjectId,
        /// Who asked.
        user_id: String,
        /// The file.
        zone_file: String,
        /// Attributes the zone gets (the v2.4 JSON form of the request); none for a plain file.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        attributes: std::collections::BTreeMap<String, String>,
    },
    /// The zone and its record sets were created.
    #[serde(rename = "ZoneImportCompleted.v1")]
    ZoneImportCompleted {
        /// Its id.
        import_id: Uuid,
        /// The zone made.
        zone_id: Uuid,
    },
    /// The file could not be imported (nothing was created, or the zone alone when its record sets were
    /// refused).
    #[serde(rename = "ZoneImportFailed.v1")]
    ZoneImportFailed {
        /// Its id.
        import_id: Uuid,
        /// Why.
        message: String,
        /// The zone, if it was created before the failure.
        zone_id: Option<Uuid>,
    },
    /// The import's record was deleted (its zone is untouched).
    #[serde(rename = "ZoneImportDeleted.v1")]
    ZoneImportDeleted {
        /// Its id.
        import_id: Uuid,
    },
}

impl Event for ImportEvent {
    const AGGREGATE_TYPE: &'static str = IMPORT_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            ImportEvent::ZoneImportRequested { .. } => "ZoneImportRequested",
            ImportEvent::ZoneImportCompleted { .. } => "ZoneImportCompleted",
            ImportEvent::ZoneImportFailed { .. } => "ZoneImportFailed",
            ImportEvent::ZoneImportDeleted { .. } => "ZoneImportDeleted",
        }
    }
}

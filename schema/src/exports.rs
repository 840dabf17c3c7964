//! Zone exports: the contract of the aggregate recording each `POST /v2/zones/{id}/tasks/export`. An
//! export names the zone and the serial it had when the export was asked for; the zone file is rendered
//! from the zone's history at that serial, so it reads the same however long after it is fetched, even
//! once the zone changed or was deleted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::ProjectId;

/// The aggregate type of zone exports (one aggregate per export).
pub const EXPORT_AGGREGATE: &str = "zoneexport";

/// Everything that can happen to an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExportEvent {
    /// An export was asked for (and is complete: its content is the zone at `serial`).
    #[serde(rename = "ZoneExportCreated.v1")]
    ZoneExportCreated {
        /// Its id.
        export_id: Uuid,
        /// The zone.
        zone_id: Uuid,
        /// The project that asked (the zone's owner).
        project_id: ProjectId,
        /// The zone's serial when it was asked for.
        serial: u32,
    },
    /// An export was deleted (the zone is untouched).
    #[serde(rename = "ZoneExportDeleted.v1")]
    ZoneExportDeleted {
        /// Its id.
        export_id: Uuid,
    },
}

impl Event for ExportEvent {
    const AGGREGATE_TYPE: &'static str = EXPORT_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            ExportEvent::ZoneExportCreated { .. } => "ZoneExportCreated",
            ExportEvent::ZoneExportDeleted { .. } => "ZoneExportDeleted",
        }
    }
}

//! The commands a zone accepts.

use nsplane_schema::email::Email;
use nsplane_schema::zone::{NameserverSync, NsRecord, SoaTimers};
use nsplane_schema::{PoolId, ProjectId, Records, RecordsetId, RecordsetName, Ttl, ZoneId, ZoneName};

/// Commands on a zone.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneCommand {
    /// Create a primary zone.
    CreateZone {
        /// Id (derived from the request, so retries name the same zone).
        zone_id: ZoneId,
        /// Owner.
        project_id: ProjectId,
        /// Name (already reserved).
        name: ZoneName,
        /// Hostmaster address.
        email: Email,
        /// Default TTL.
        ttl: Ttl,
        /// Free text.
        description: Option<String>,
        /// The pool chosen for it.
        pool_id: PoolId,
        /// Operator key/values.
        attributes: std::collections::BTreeMap<String, String>,
        /// The pool's name servers.
        ns_records: Vec<NsRecord>,
        /// SOA timers.
        soa: SoaTimers,
    },
    /// Change e-mail, TTL or description (`None` = unchanged).
    UpdateZone {
        /// New hostmaster address.
        email: Option<Email>,
        /// New default TTL.
        ttl: Option<Ttl>,
        /// New description (`Some(None)` clears it).
        description: Option<Option<String>>,
    },
    /// Ask for deletion.
    DeleteZone {
        /// Delete even if the zone is shared (Designate's `X-Designate-Hard-Delete` / `delete_shares`).
        hard: bool,
    },
    /// Shares the zone with another project.
    ShareZone {
        /// Id of the new share (derived from the request, so a retry names the same share).
        share_id: uuid::Uuid,
        /// The project to share with.
        target_project_id: ProjectId,
    },
    /// Removes a share.
    UnshareZone {
        /// The share.
        share_id: uuid::Uuid,
    },
    /// Create a record set.
    CreateRecordset {
        /// Id (derived from the request).
        recordset_id: RecordsetId,
        /// Owner.
        project_id: ProjectId,
        /// Owner name.
        name: RecordsetName,
        /// The records, validated for their type (which they carry).
        records: Records,
        /// TTL or inherit.
        ttl: Option<Ttl>,
        /// Free text.
        description: Option<String>,
    },
    /// Change a record set (`None` = unchanged).
    UpdateRecordset {
        /// Which.
        recordset_id: RecordsetId,
        /// New data, validated for the record set's type.
        records: Option<Records>,
        /// New TTL (`Some(None)` = inherit the zone's).
        ttl: Option<Option<Ttl>>,
        /// New description.
        description: Option<Option<String>>,
        /// The caller may change managed record sets.
        edit_managed: bool,
    },
    /// Remove a record set.
    DeleteRecordset {
        /// Which.
        recordset_id: RecordsetId,
        /// The caller may change managed record sets.
        edit_managed: bool,
    },
    /// The worker reports what the pool's name servers serve at `serial`.
    ReportSync {
        /// The serial it pushed.
        serial: u32,
        /// Whether the pool's threshold was met.
        synced: bool,
        /// Each name server's answer.
        nameservers: Vec<NameserverSync>,
    },
    /// An admin abandons the zone (Designate's `tasks/abandon`): it is gone from nsplane at once, and
    /// nothing is pushed to the pool's servers to remove it.
    Abandon,
    /// The worker reports that the pool no longer serves a zone being deleted.
    ConfirmDeleted {
        /// Each name server's answer.
        nameservers: Vec<NameserverSync>,
    },
    /// The sink adds records for a compute or network resource: to the managed record set of that name
    /// and type, created (as `recordset_id`) if there is none. Nothing happens for a resource already
    /// released (its delete came first) or records it already owns.
    AddManagedRecords {
        /// `instance` or `floatingip`.
        resource_type: String,
        /// The instance's or floating IP's id.
        resource_id: String,
        /// The id a new record set gets (derived from the notification, so a retry names the same).
        recordset_id: RecordsetId,
        /// Owner name.
        name: RecordsetName,
        /// The records, validated for their type.
        records: Records,
    },
    /// The sink removes every record a resource owns (a record set left empty is deleted) and remembers
    /// the resource is gone.
    RemoveManagedRecords {
        /// `instance` or `floatingip`.
        resource_type: String,
        /// The instance's or floating IP's id.
        resource_id: String,
    },
    /// The producer asks for the zone to be pushed again: it has waited (PENDING or ERROR) with no
    /// progress. Moot (superseded) once the zone is ACTIVE or gone.
    RequestRecovery {
        /// What the producer saw.
        reason: String,
    },
    /// Restore the record sets the zone had at `to_serial`, in one commit: tenant record sets not in
    /// `target` are deleted, changed ones updated, missing ones created again under their old ids.
    /// Managed SOA and NS record sets stay as they are.
    Revert {
        /// The serial whose record sets come back.
        to_serial: u32,
        /// Those record sets, validated.
        target: Vec<RevertTarget>,
    },
    /// An import's record sets, created in one commit (every rule of a create applies to each; one
    /// refused refuses them all).
    ImportRecordsets {
        /// The record sets, validated.
        target: Vec<RevertTarget>,
    },
}

/// A record set a revert brings back.
#[derive(Debug, Clone, PartialEq)]
pub struct RevertTarget {
    /// Its id then.
    pub recordset_id: RecordsetId,
    /// Its owner then.
    pub project_id: ProjectId,
    /// Its name.
    pub name: RecordsetName,
    /// Its records, validated for their type.
    pub records: Records,
    /// Its TTL (`None`: the zone's).
    pub ttl: Option<Ttl>,
    /// Its description.
    pub description: Option<String>,
}

impl ZoneCommand {
    /// The command's name, stored in the commit metadata.
    pub fn name(&self) -> &'static str {
        match self {
            ZoneCommand::CreateZone { .. } => "CreateZone",
            ZoneCommand::UpdateZone { .. } => "UpdateZone",
            ZoneCommand::DeleteZone { .. } => "DeleteZone",
            ZoneCommand::ShareZone { .. } => "ShareZone",
            ZoneCommand::UnshareZone { .. } => "UnshareZone",
            ZoneCommand::CreateRecordset { .. } => "CreateRecordset",
            ZoneCommand::UpdateRecordset { .. } => "UpdateRecordset",
            ZoneCommand::DeleteRecordset { .. } => "DeleteRecordset",
            ZoneCommand::ReportSync { .. } => "ReportSync",
            ZoneCommand::ConfirmDeleted { .. } => "ConfirmDeleted",
            ZoneCommand::Abandon => "AbandonZone",
            ZoneCommand::Revert { .. } => "RevertZone",
            ZoneCommand::ImportRecordsets { .. } => "ImportRecordsets",
            ZoneCommand::RequestRecovery { .. } => "RequestRecovery",
            ZoneCommand::AddManagedRecords { .. } => "AddManagedRecords",
            ZoneCommand::RemoveManagedRecords { .. } => "RemoveManagedRecords",
        }
    }
}

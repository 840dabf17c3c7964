//! Why a zone command was refused.

/// Why a zone command was refused. Each variant says how the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// 409 `duplicate_zone`: the aggregate already holds a zone.
    #[error("Duplicate Zone")]
    AlreadyExists,
    /// 404 `zone_not_found`.
    #[error("Could not find Zone")]
    NotFound,
    /// 400 `bad_request`: the zone is being deleted.
    #[error("Can not update a deleting zone")]
    Deleting,
    /// 404 `recordset_not_found`.
    #[error("Could not find RecordSet")]
    RecordsetNotFound,
    /// 409 `duplicate_recordset`.
    #[error("Duplicate RecordSet")]
    DuplicateRecordset,
    /// 400 `invalid_recordset_location`: the name is not inside the zone.
    #[error("RecordSet is not contained within it's parent zone")]
    OutsideZone,
    /// 400 `invalid_recordset_location`: the name is inside a child zone.
    #[error("RecordSet belongs in a child zone: {child}")]
    InChildZone {
        /// The child zone.
        child: String,
    },
    /// 400 `invalid_recordset_location`.
    #[error("CNAME recordsets may not be created at the zone apex")]
    CnameAtApex,
    /// 400 `invalid_recordset_location`.
    #[error("CNAME recordsets may not share a name with any other records")]
    CnameNotAlone,
    /// 400 `bad_request`.
    #[error("CNAME recordsets may not have more than 1 record")]
    CnameTooManyRecords,
    /// 400 `bad_request`: SOA record sets are managed by nsplane.
    #[error("Creating a SOA recordset is not allowed")]
    SoaNotAllowed,
    /// 400 `bad_request`: the apex NS record set is managed by nsplane.
    #[error("Creating or changing the zone apex NS recordset is not allowed")]
    ApexNsManaged,
    /// 400 `bad_request`: managed record sets need edit-managed.
    #[error("Managed records may not be updated")]
    Managed,
    /// 400 `invalid_object`: records of another type than the record set's.
    #[error("records must be of the record set's type")]
    TypeChanged,
    /// 500: a lookup the rules needed failed.
    #[error("zone directory lookup failed: {0}")]
    Lookup(String),
    /// 413 `over_quota`.
    #[error("Quota exceeded for {resource}.")]
    OverQuota {
        /// The quota's name, e.g. `zone_recordsets`.
        resource: &'static str,
    },
    /// 400 `zone_has_shares`: delete the shares first, or hard-delete.
    #[error("Zone is shared with other projects; unshare it first or ask for a hard delete")]
    Shared,
    /// 400 `bad_request`: a zone cannot be shared with its owner.
    #[error("Cannot share the zone with the project that owns it")]
    ShareWithOwner,
    /// 409 `duplicate_zone_share`.
    #[error("Duplicate Zone Share")]
    DuplicateShare,
    /// 404 `zone_share_not_found`.
    #[error("Could not find ZoneShare")]
    ShareNotFound,
    /// Not an error for the reporter: a newer change (or an identical report) made the report moot.
    #[error("the report is superseded by a newer change")]
    Superseded,
    /// 400 `nothing_to_revert`: the zone already holds the record sets of that serial.
    #[error("The zone already holds the record sets of serial {0}")]
    NothingToRevert(u32),
    /// 400 `bad_request`: a revert is decided as a whole, never one event at a time.
    #[error("a revert is decided as a whole")]
    RevertPiecemeal,
}

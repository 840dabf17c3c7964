//! The zone aggregate's contract: its events (a zone, its record sets, its shares and its sync status)
//! and the values they carry.
//!
//! Changing a serialized shape here changes the contract: add a new `.vN` variant, never edit an
//! existing one. The golden files under `tests/golden/` hold one example per type and version.

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::ids::{PoolId, ProjectId, RecordsetId, ZoneId};
use crate::name::{DnsName, RecordsetName, ZoneName};
use crate::rdata::RecordType;
use crate::status::NameserverStatus;
use crate::ttl::Ttl;

/// The aggregate type of zones, as it appears in subjects and in the envelope.
pub const ZONE_AGGREGATE: &str = "zone";

/// A name server record of a pool: the zone's apex NS data and SOA MNAME come from these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRecord {
    /// The name server's host name.
    pub hostname: DnsName,
    /// Lower sorts first; the lowest becomes the SOA MNAME.
    pub priority: u32,
}

/// SOA timer values of a zone (the serial lives in the zone itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoaTimers {
    /// Seconds between secondaries' refresh checks.
    pub refresh: u32,
    /// Seconds between retries of a failed refresh.
    pub retry: u32,
    /// Seconds after which a secondary stops answering without a refresh.
    pub expire: u32,
    /// Negative-caching TTL.
    pub minimum: u32,
}

/// Everything that can happen to a zone and its record sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ZoneEvent {
    /// A primary zone was created, with its managed SOA and apex NS record sets.
    #[serde(rename = "ZoneCreated.v1")]
    ZoneCreated {
        /// The new zone.
        zone_id: ZoneId,
        /// Its owner.
        project_id: ProjectId,
        /// Its name.
        name: ZoneName,
        /// The hostmaster address.
        email: String,
        /// Default TTL of its record sets.
        ttl: Ttl,
        /// Free text.
        description: Option<String>,
        /// The pool that serves it.
        pool_id: PoolId,
        /// The first serial.
        serial: u32,
        /// SOA timers.
        soa: SoaTimers,
        /// The pool's name servers at creation (apex NS data, SOA MNAME).
        ns_records: Vec<NsRecord>,
        /// Operator key/values (Designate's zone `attributes`, e.g. for pool scheduling). Absent when
        /// empty, so v1 events without it read the same.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        attributes: std::collections::BTreeMap<String, String>,
    },
    /// Zone attributes changed; the serial was bumped.
    #[serde(rename = "ZoneUpdated.v1")]
    ZoneUpdated {
        /// New hostmaster address.
        email: String,
        /// New default TTL.
        ttl: Ttl,
        /// New description.
        description: Option<String>,
        /// The new serial.
        serial: u32,
    },
    /// The zone was shared with another project, which may then see it and manage record sets in it.
    #[serde(rename = "ZoneShared.v1")]
    ZoneShared {
        /// Id of the share.
        share_id: uuid::Uuid,
        /// The project it is shared with.
        target_project_id: ProjectId,
    },
    /// A share was removed.
    #[serde(rename = "ZoneUnshared.v1")]
    ZoneUnshared {
        /// Id of the share.
        share_id: uuid::Uuid,
    },
    /// Deletion was asked for: the zone is PENDING/DELETE until the data plane confirms.
    #[serde(rename = "ZoneDeleteRequested.v1")]
    ZoneDeleteRequested {},
    /// A record set was created; the serial was bumped.
    #[serde(rename = "RecordsetCreated.v1")]
    RecordsetCreated {
        /// The new record set.
        recordset_id: RecordsetId,
        /// The project that owns it (the zone's, or a shared zone's guest).
        project_id: ProjectId,
        /// Owner name.
        name: RecordsetName,
        /// Record type.
        rtype: RecordType,
        /// Record data, canonical presentation form, no duplicates.
        records: Vec<String>,
        /// TTL, or `None` to inherit the zone's.
        ttl: Option<Ttl>,
        /// Free text.
        description: Option<String>,
        /// The new serial.
        serial: u32,
        /// Maintained by nsplane (the sink's records for instances and floating IPs): changed only with
        /// Designate's edit-managed permission. Absent (false) in every record set a tenant creates.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        managed: bool,
    },
    /// A record set's records, TTL or description changed; the serial was bumped.
    #[serde(rename = "RecordsetUpdated.v1")]
    RecordsetUpdated {
        /// The record set.
        recordset_id: RecordsetId,
        /// New record data.
        records: Vec<String>,
        /// New TTL.
        ttl: Option<Ttl>,
        /// New description.
        description: Option<String>,
        /// The new serial.
        serial: u32,
    },
    /// A record set was removed; the serial was bumped.
    #[serde(rename = "RecordsetDeleted.v1")]
    RecordsetDeleted {
        /// The record set.
        recordset_id: RecordsetId,
        /// The new serial.
        serial: u32,
    },
    /// The data plane reports which name servers serve the zone at `serial`. `synced` says whether the
    /// pool's threshold was met: the zone (and its record sets up to `serial`) turn ACTIVE, else ERROR.
    #[serde(rename = "ZoneSyncReported.v1")]
    ZoneSyncReported {
        /// The serial the worker pushed.
        serial: u32,
        /// Whether the pool's threshold of name servers serve it.
        synced: bool,
        /// What each name server answered.
        nameservers: Vec<NameserverSync>,
    },
    /// The producer found the zone waiting (PENDING or ERROR) with no push under way and asks the data
    /// plane to push it again: its status and serial stay, a new zone change goes out.
    #[serde(rename = "ZoneRecoveryRequested.v1")]
    ZoneRecoveryRequested {
        /// What the producer saw, e.g. `PENDING for 12 s`.
        reason: String,
    },
    /// The sink added `records` to `recordset_id` for a compute or network resource (its
    /// `managed_resource_type` and `managed_resource_id`): bookkeeping of who owns which records; the
    /// record set itself changed by the events before it in the same commit.
    #[serde(rename = "ManagedRecordsClaimed.v1")]
    ManagedRecordsClaimed {
        /// `instance` or `floatingip`.
        resource_type: String,
        /// The instance's or floating IP's id.
        resource_id: String,
        /// The record set holding them.
        recordset_id: RecordsetId,
        /// The records the resource owns there.
        records: Vec<String>,
    },
    /// A compute or network resource is gone: its records were removed by the events before this one
    /// in the same commit, and a later notification that would add records for it adds none.
    #[serde(rename = "ManagedResourceReleased.v1")]
    ManagedResourceReleased {
        /// `instance` or `floatingip`.
        resource_type: String,
        /// The instance's or floating IP's id.
        resource_id: String,
    },
    /// The pool no longer serves the zone: it is DELETED.
    #[serde(rename = "ZoneDeleted.v1")]
    ZoneDeleted {
        /// What each name server answered.
        nameservers: Vec<NameserverSync>,
    },
}

/// One name server's answer for a zone, as the worker saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameserverSync {
    /// `host:port` of the name server.
    pub nameserver: String,
    /// The serial it served, if it answered with one.
    pub serial: Option<u32>,
    /// Whether it serves the pushed serial (or, for a zone being deleted, no longer serves the zone).
    pub status: NameserverStatus,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl Event for ZoneEvent {
    const AGGREGATE_TYPE: &'static str = ZONE_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            ZoneEvent::ZoneCreated { .. } => "ZoneCreated",
            ZoneEvent::ZoneUpdated { .. } => "ZoneUpdated",
            ZoneEvent::ZoneDeleteRequested { .. } => "ZoneDeleteRequested",
            ZoneEvent::RecordsetCreated { .. } => "RecordsetCreated",
            ZoneEvent::RecordsetUpdated { .. } => "RecordsetUpdated",
            ZoneEvent::RecordsetDeleted { .. } => "RecordsetDeleted",
            ZoneEvent::ZoneSyncReported { .. } => "ZoneSyncReported",
            ZoneEvent::ZoneDeleted { .. } => "ZoneDeleted",
            ZoneEvent::ZoneRecoveryRequested { .. } => "ZoneRecoveryRequested",
            ZoneEvent::ManagedRecordsClaimed { .. } => "ManagedRecordsClaimed",
            ZoneEvent::ManagedResourceReleased { .. } => "ManagedResourceReleased",
            ZoneEvent::ZoneShared { .. } => "ZoneShared",
            ZoneEvent::ZoneUnshared { .. } => "ZoneUnshared",
        }
    }
}

impl ZoneEvent {
    /// The serial this event moved the zone to, if it changed zone content.
    pub fn serial(&self) -> Option<u32> {
        match self {
            ZoneEvent::ZoneCreated { serial, .. }
            | ZoneEvent::ZoneUpdated { serial, .. }
            | ZoneEvent::RecordsetCreated { serial, .. }
            | ZoneEvent::RecordsetUpdated { serial, .. }
            | ZoneEvent::RecordsetDeleted { serial, .. } => Some(*serial),
            ZoneEvent::ZoneDeleteRequested {}
            | ZoneEvent::ZoneSyncReported { .. }
            | ZoneEvent::ZoneDeleted { .. }
            | ZoneEvent::ZoneRecoveryRequested { .. }
            | ZoneEvent::ManagedRecordsClaimed { .. }
            | ZoneEvent::ManagedResourceReleased { .. }
            | ZoneEvent::ZoneShared { .. }
            | ZoneEvent::ZoneUnshared { .. } => None,
        }
    }
}

/// Renders the SOA RNAME from an e-mail address: `hostmaster@example.org` → `hostmaster.example.org.`,
/// with dots in the local part escaped.
pub fn email_to_rname(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let domain = domain.trim_end_matches('.');
            format!("{}.{}.", local.replace('.', "\\."), domain.to_lowercase())
        }
        None => format!("{}.", email.trim_end_matches('.')),
    }
}

/// The SOA record data of a zone at a serial.
pub fn soa_rdata(mname: &DnsName, email: &str, serial: u32, soa: SoaTimers) -> String {
    format!(
        "{mname} {} {serial} {} {} {} {}",
        email_to_rname(email),
        soa.refresh,
        soa.retry,
        soa.expire,
        soa.minimum
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rname_escapes_dots_in_the_local_part() {
        assert_eq!(email_to_rname("host.master@Example.org"), "host\\.master.example.org.");
    }
}

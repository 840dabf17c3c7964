//! The versioned event envelope (one per command, one JetStream message) and the zone events.
//!
//! Changing a serialized shape here changes the contract: add a new `.vN` variant and upcast, never
//! edit an existing one. The golden files under `tests/golden/` hold one example per type and version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{PoolId, ProjectId, RecordsetId, RequestId, ZoneId};
use crate::name::{DnsName, RecordsetName, ZoneName};
use crate::rdata::RecordType;
use crate::ttl::Ttl;

/// Version of the envelope layout itself.
pub const ENVELOPE_VERSION: u32 = 1;

/// Who asked for a command, why and when. Stored with every commit; the audit trail is made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The caller's project (after sudo, the effective project).
    pub project_id: ProjectId,
    /// The caller's user id.
    pub user_id: String,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// The request that caused the command; retries carry the same id.
    pub request_id: RequestId,
    /// The role that issued the command: `api`, `worker`, `producer`, `sink`, or a tool.
    pub source_role: String,
    /// The command's name, e.g. `CreateRecordset`.
    pub command: String,
    /// When the command was decided.
    pub time: DateTime<Utc>,
}

/// One command's commit: every event it produced, atomically, as one message on the aggregate's subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitEnvelope {
    /// Layout version of this envelope ([`ENVELOPE_VERSION`]).
    pub envelope_version: u32,
    /// The aggregate type, e.g. `zone`.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The aggregate's version after this commit: 1 for the first commit, then +1 per commit.
    pub version: u64,
    /// The events, in the order they were decided.
    pub events: Vec<ZoneEvent>,
    /// Who, why, when.
    pub metadata: Metadata,
}

/// A commit of the pool configuration: the whole `pools.yaml` document that every role now uses.
/// Pools are changed by commands (`nsplane pool update --file`), so every instance sees the same pools
/// and the change is in the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolsCommit {
    /// Layout version of this envelope ([`ENVELOPE_VERSION`]).
    pub envelope_version: u32,
    /// 1 for the first configuration, then +1 per change.
    pub version: u64,
    /// The configuration, in Designate's `pools.yaml` format.
    pub pools_yaml: String,
    /// Who, why, when.
    pub metadata: Metadata,
}

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
    /// `SYNCED` (serves the pushed serial, or for a deleted zone no longer serves it), `BEHIND`, `ERROR`.
    pub status: String,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl ZoneEvent {
    /// The event's type name without its version, e.g. `RecordsetCreated`.
    pub fn event_type(&self) -> &'static str {
        match self {
            ZoneEvent::ZoneCreated { .. } => "ZoneCreated",
            ZoneEvent::ZoneUpdated { .. } => "ZoneUpdated",
            ZoneEvent::ZoneDeleteRequested { .. } => "ZoneDeleteRequested",
            ZoneEvent::RecordsetCreated { .. } => "RecordsetCreated",
            ZoneEvent::RecordsetUpdated { .. } => "RecordsetUpdated",
            ZoneEvent::RecordsetDeleted { .. } => "RecordsetDeleted",
            ZoneEvent::ZoneSyncReported { .. } => "ZoneSyncReported",
            ZoneEvent::ZoneDeleted { .. } => "ZoneDeleted",
            ZoneEvent::ZoneShared { .. } => "ZoneShared",
            ZoneEvent::ZoneUnshared { .. } => "ZoneUnshared",
        }
    }

    /// The event's schema version.
    pub fn event_version(&self) -> u32 {
        1
    }

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
            | ZoneEvent::ZoneShared { .. }
            | ZoneEvent::ZoneUnshared { .. } => None,
        }
    }
}

/// The next zone serial by RFC 1982 arithmetic: `max(now, serial + 1)`, where "greater" is
/// sequence-space comparison, so the serial never goes backwards even if the clock does, and wraps
/// correctly past 2^32.
pub fn next_serial(current: u32, now_unix_secs: u32) -> u32 {
    let plus_one = current.wrapping_add(1);
    // `now` wins only if it is strictly ahead of `current + 1` in sequence space.
    let diff = now_unix_secs.wrapping_sub(plus_one);
    if diff != 0 && diff < (1 << 31) {
        now_unix_secs
    } else {
        plus_one
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
    fn serial_takes_the_clock_when_it_is_ahead() {
        assert_eq!(next_serial(100, 5000), 5000);
    }

    #[test]
    fn serial_grows_by_one_when_the_clock_is_behind_or_equal() {
        assert_eq!(next_serial(5000, 5000), 5001);
        assert_eq!(next_serial(5000, 10), 5001);
        assert_eq!(next_serial(5000, 5001), 5001);
    }

    #[test]
    fn serial_wraps_in_sequence_space() {
        assert_eq!(next_serial(u32::MAX, 3), 3);
        assert_eq!(next_serial(u32::MAX, u32::MAX - 10), 0);
    }

    #[test]
    fn rname_escapes_dots_in_the_local_part() {
        assert_eq!(email_to_rname("host.master@Example.org"), "host\\.master.example.org.");
    }
}
